// SPDX-License-Identifier: MIT
/*
 * fuzz_oci_manifest: arbitrary bytes as the documents a registry or an
 * image file serves (oci/manifest.c), and as a reference a user types
 * (oci/ref.c).
 *
 * Input layout:
 *   byte 0      the platform asked of an index: bits 0-1 pick the
 *               architecture (amd64, arm64, arm, s390x), bits 2-3 the
 *               variant (none, "v1", "v8", "v7")
 *   the rest    the document, given to oci_doc_kind, oci_index_select,
 *               oci_manifest_parse and oci_config_parse; and, when short
 *               enough, as a string to oci_ref_parse
 *
 * Checks beyond ASan/UBSan: every failure returns a negative errno with a
 * one-line message; every success holds only what the header promises
 * (valid digests, a known kind, at most OCI_MAX_LAYERS layers, vectors
 * NULL-terminated); a registry reference's canonical name parses back to
 * the same reference.
 */
#include "oci/oci_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_err: a failure's rc and message as the header says. */
static void check_err(int rc, const char *err)
{
	if (rc >= 0 || rc < -4095)
		abort();
	/* ENOMEM comes without a message; nothing else does. */
	if (rc != -ENOMEM && (!*err || strchr(err, '\n')))
		abort();
}

static void check_vec(char **v)
{
	for (size_t i = 0; v && i <= 4096; i++) {
		if (!v[i])
			return;
		if (i == 4096)
			abort();
	}
}

static void check_ref(const uint8_t *data, size_t size)
{
	char s[600], name[8192], err[OCI_ERR_MAX] = "";
	struct oci_ref r, again;
	int rc;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = oci_ref_parse(s, &r, err, sizeof(err));
	if (rc) {
		check_err(rc, err);
		return;
	}
	if (oci_ref_name(&r, name, sizeof(name)))
		abort();
	if (r.digest[0] && !oci_digest_valid(r.digest))
		abort();
	if (r.kind != OCI_REF_REGISTRY && r.path[0] != '/')
		abort();
	if (r.kind != OCI_REF_REGISTRY)
		return;
	if (!r.registry[0] || !r.repository[0] || (!r.tag[0] && !r.digest[0]))
		abort();
	if (oci_ref_parse(name, &again, err, sizeof(err)) || memcmp(&r, &again, sizeof(r)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const archs[] = { "amd64", "arm64", "arm", "s390x" };
	static const char *const variants[] = { NULL, "v1", "v8", "v7" };
	char err[OCI_ERR_MAX] = "";
	const char *json;
	struct oci_descriptor d;
	struct oci_manifest m;
	struct oci_config c;
	enum oci_media k;
	int rc;

	if (size < 1)
		return 0;
	json = (const char *)data + 1;
	size--;
	check_ref(data + 1, size);

	k = oci_doc_kind(json, size, NULL);
	if (k != OCI_MEDIA_UNKNOWN && k != OCI_MEDIA_INDEX && k != OCI_MEDIA_MANIFEST)
		abort();

	rc = oci_index_select(json, size, "linux", archs[data[0] & 3], variants[(data[0] >> 2) & 3],
	                      &d, err, sizeof(err));
	if (rc)
		check_err(rc, err);
	else if (!oci_digest_valid(d.digest) || d.size > OCI_MAX_MANIFEST ||
	         (oci_media_kind(d.media_type) != OCI_MEDIA_MANIFEST &&
	          oci_media_kind(d.media_type) != OCI_MEDIA_INDEX))
		abort();

	err[0] = '\0';
	rc = oci_manifest_parse(json, size, &m, err, sizeof(err));
	if (rc) {
		check_err(rc, err);
		if (m.layers || m.nr_layers)
			abort();
	} else {
		if (m.nr_layers > OCI_MAX_LAYERS || !oci_digest_valid(m.config.digest) ||
		    oci_media_kind(m.config.media_type) != OCI_MEDIA_CONFIG)
			abort();
		for (size_t i = 0; i < m.nr_layers; i++)
			if (!oci_digest_valid(m.layers[i].digest) ||
			    m.layers[i].size > (uint64_t)INT64_MAX ||
			    oci_media_kind(m.layers[i].media_type) < OCI_MEDIA_LAYER_TAR ||
			    oci_media_kind(m.layers[i].media_type) == OCI_MEDIA_LAYER_FOREIGN)
				abort();
		oci_manifest_free(&m);
	}

	err[0] = '\0';
	rc = oci_config_parse(json, size, &c, err, sizeof(err));
	if (rc) {
		check_err(rc, err);
		if (c.env || c.cmd || c.entrypoint || c.diff_ids)
			abort();
	} else {
		check_vec(c.entrypoint);
		check_vec(c.cmd);
		check_vec(c.env);
		if (c.nr_diff_ids > OCI_MAX_LAYERS || c.created < 0)
			abort();
		for (size_t i = 0; i < c.nr_diff_ids; i++)
			if (!oci_digest_valid(c.diff_ids[i]))
				abort();
		oci_config_free(&c);
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * oci_registry_fetch: test_oci_registry.sh's client. Opens a registry
 * source (oci_registry_open) and walks what REF names: the manifest (an
 * index's first manifest, too), then the config and every layer, each
 * blob into a temporary file after a few bytes already there (blob()
 * writes from the fd's offset), checking sizes and SHA-256 digests and
 * the manifest again by its digest.
 *
 *   oci_registry_fetch [--auth-file F] [--insecure H]... [--repeat N]
 *                      [--blob DIGEST:SIZE] [--expect ERRNO [--msg TEXT]]
 *                      REGISTRY REPO REF
 *
 * --expect: the walk must fail with -ERRNO (EACCES, ENOENT, EIO, EFBIG,
 * EPERM, EPROTO) and, with --msg, a message holding TEXT. --blob: fetch
 * only that blob (as if the manifest said SIZE). Exit 0 when all is as
 * expected.
 */
#include "oci/oci_int.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const errnames[] = {
	[EACCES] = "EACCES", [ENOENT] = "ENOENT", [EIO] = "EIO",
	[EFBIG] = "EFBIG",   [EPERM] = "EPERM",   [EPROTO] = "EPROTO",
};

struct walk {
	struct oci_source *src;
	const char *ref;
	uint64_t bytes, last_done;
	int blobs, finals;
	char err[OCI_ERR_MAX];
};

static void sha256_hex(const void *p, size_t n, char out[OCI_DIGEST_MAX])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (unsigned int i = 0; i < len; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static void on_progress(void *arg, const char *digest, uint64_t done, uint64_t total)
{
	struct walk *w = arg;

	(void)digest;
	if (done < w->last_done || done > total)
		fprintf(stderr, "progress went wrong: %llu of %llu\n", (unsigned long long)done,
		        (unsigned long long)total);
	w->last_done = done;
	w->finals += done == total;
}

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "oci_registry_fetch: %s: %s\n", what, why);
	return -EBADMSG;
}

/* fetch_blob: d into a temporary file after a 4-byte prefix; checks. */
static int fetch_blob(struct walk *w, const struct oci_descriptor *d)
{
	struct oci_progress p = { .fn = on_progress, .arg = w };
	char tmpl[] = "/tmp/oci_registry_fetch.XXXXXX", got[OCI_DIGEST_MAX];
	int fd = mkstemp(tmpl), rc;
	char *buf = malloc(d->size + 5);
	ssize_t n;

	if (fd < 0 || !buf || write(fd, "HEAD", 4) != 4)
		return -errno;
	unlink(tmpl);
	w->last_done = 0;
	rc = w->src->ops->blob(w->src, d, fd, &p, w->err, sizeof(w->err));
	if (!rc) {
		n = pread(fd, buf, d->size + 5, 0);
		if (n != (ssize_t)d->size + 4 || memcmp(buf, "HEAD", 4))
			rc = fail(d->digest, "the file does not hold prefix + size bytes");
		sha256_hex(buf + 4, d->size, got);
		if (!rc && strcmp(got, d->digest))
			rc = fail(d->digest, "digest mismatch");
		w->blobs++;
		w->bytes += d->size;
	}
	free(buf);
	close(fd);
	return rc;
}

static int descriptor(json_t *j, struct oci_descriptor *d)
{
	const char *digest = json_string_value(json_object_get(j, "digest"));
	json_t *size = json_object_get(j, "size");

	if (!digest || !json_is_integer(size) || strlen(digest) >= sizeof(d->digest))
		return fail("manifest", "a descriptor without digest or size");
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	snprintf(d->media_type, sizeof(d->media_type), "%s",
	         json_string_value(json_object_get(j, "mediaType")) ?: "");
	d->size = (uint64_t)json_integer_value(size);
	return 0;
}

/* get_manifest: reference's document, its digest checked when it is one;
 * then the same bytes again by their digest. */
static int get_manifest(struct walk *w, const char *reference, json_t **doc, char type[128])
{
	char digest[OCI_DIGEST_MAX], type2[128], *buf, *buf2;
	size_t len, len2;
	int rc;

	rc = w->src->ops->manifest(w->src, reference, &buf, &len, type, w->err, sizeof(w->err));
	if (rc)
		return rc;
	sha256_hex(buf, len, digest);
	if (!type[0] || strchr(type, ';') || strchr(type, ' '))
		rc = fail(reference, "a Content-Type missing, or with its parameters");
	if (!rc && !strncmp(reference, "sha256:", 7) && strcmp(digest, reference))
		rc = fail(reference, "manifest digest mismatch");
	if (!rc)
		rc = w->src->ops->manifest(w->src, digest, &buf2, &len2, type2, w->err,
		                           sizeof(w->err));
	if (!rc) {
		if (len2 != len || memcmp(buf, buf2, len) || strcmp(type, type2))
			rc = fail(digest, "the manifest by digest differs from the one by tag");
		free(buf2);
	}
	*doc = rc ? NULL : json_loadb(buf, len, 0, NULL);
	if (!rc && !*doc)
		rc = fail(reference, "the manifest is not JSON");
	printf("manifest %s: %zu bytes, %s, %s\n", reference, len, type, digest);
	free(buf);
	return rc;
}

static int walk(struct walk *w)
{
	struct oci_descriptor d;
	char type[128];
	json_t *doc, *layers, *m;
	size_t i;
	int rc;

	rc = get_manifest(w, w->src->reference, &doc, type);
	if (!rc && json_object_get(doc, "manifests")) { /* an index: its first manifest */
		rc = descriptor(json_array_get(json_object_get(doc, "manifests"), 0), &d);
		json_decref(doc);
		doc = NULL;
		if (!rc)
			rc = get_manifest(w, d.digest, &doc, type);
	}
	if (rc)
		return rc;
	rc = descriptor(json_object_get(doc, "config"), &d);
	if (!rc)
		rc = fetch_blob(w, &d);
	layers = json_object_get(doc, "layers");
	json_array_foreach(layers, i, m)
	{
		if (!rc)
			rc = descriptor(m, &d);
		if (!rc)
			rc = fetch_blob(w, &d);
	}
	json_decref(doc);
	if (!rc && w->finals != w->blobs)
		rc = fail("progress", "not every blob reported done == total");
	return rc;
}

static const char *errname(int rc)
{
	size_t e = (size_t)-rc;

	return e < sizeof(errnames) / sizeof(errnames[0]) && errnames[e] ? errnames[e] : "?";
}

static int expect_name(const char *s)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++) {
		if (errnames[i] && !strcmp(errnames[i], s))
			return (int)i;
	}
	fprintf(stderr, "unknown errno name %s\n", s);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *insecure[8] = { NULL }, *expect_msg = NULL, *blob = NULL;
	struct oci_pull_opts o = { .insecure = insecure, .progress_fd = -1 };
	struct oci_ref ref = { .kind = OCI_REF_REGISTRY };
	struct walk w = { 0 };
	int ninsecure = 0, expect = 0, repeat = 1, rc, i;

	for (i = 1; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--auth-file"))
			o.auth_file = argv[i + 1];
		else if (!strcmp(argv[i], "--insecure") && ninsecure < 7)
			insecure[ninsecure++] = argv[i + 1];
		else if (!strcmp(argv[i], "--expect"))
			expect = expect_name(argv[i + 1]);
		else if (!strcmp(argv[i], "--msg"))
			expect_msg = argv[i + 1];
		else if (!strcmp(argv[i], "--repeat"))
			repeat = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--blob"))
			blob = argv[i + 1];
		else
			break;
	}
	if (argc - i != 3) {
		fprintf(stderr, "usage: oci_registry_fetch [options] REGISTRY REPO REF\n");
		return 2;
	}
	snprintf(ref.registry, sizeof(ref.registry), "%s", argv[i]);
	snprintf(ref.repository, sizeof(ref.repository), "%s", argv[i + 1]);
	if (!strncmp(argv[i + 2], "sha256:", 7))
		snprintf(ref.digest, sizeof(ref.digest), "%s", argv[i + 2]);
	else
		snprintf(ref.tag, sizeof(ref.tag), "%s", argv[i + 2]);
	rc = oci_registry_open(&ref, &o, &w.src, w.err, sizeof(w.err));
	for (int n = 0; !rc && n < repeat; n++) {
		if (blob) {
			struct oci_descriptor d = { 0 };
			const char *colon = strrchr(blob, ':');

			if (!colon)
				return 2;

			snprintf(d.digest, sizeof(d.digest), "%.*s", (int)(colon - blob), blob);
			d.size = strtoull(colon + 1, NULL, 10);
			rc = fetch_blob(&w, &d);
		} else {
			rc = walk(&w);
		}
	}
	if (w.src)
		w.src->ops->close(w.src);
	if (rc == -EBADMSG)
		return 1;
	if (rc)
		printf("error %d (%s): %s\n", rc, errname(rc), w.err);
	if (expect)
		return rc == -expect && (!expect_msg || strstr(w.err, expect_msg)) ? 0 : 1;
	if (!rc)
		printf("ok: %d blobs, %llu bytes\n", w.blobs, (unsigned long long)w.bytes);
	return rc ? 1 : 0;
}

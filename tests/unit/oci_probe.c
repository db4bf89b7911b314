// SPDX-License-Identifier: MIT
/*
 * oci_probe REF: reads the image an oci: or docker-archive: reference names
 * through its source (oci/source_layout.c, oci/source_archive.c) as a pull
 * would: the first manifest (an index: the linux/amd64 entry, then its
 * manifest), the config, every layer into a memfd, each checked by sha256
 * and size. Prints "manifest D", "config D", "diff_id D" and "layer D MEDIA"
 * lines; exit 0 when all of it checks out, else 1 with the error on stderr.
 * For oci_tools.sh, which runs it on what umoci and skopeo write.
 */
#define _GNU_SOURCE /* memfd_create */
#include "oci/oci_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* fetch: d's blob into a new memfd, checked; the fd, or -1 (err says why). */
static int fetch(struct oci_source *src, const struct oci_descriptor *d, char *err)
{
	char got[OCI_DIGEST_MAX];
	uint64_t size;
	int fd = memfd_create("blob", MFD_CLOEXEC);

	if (fd < 0 || src->ops->blob(src, d, fd, NULL, err, OCI_ERR_MAX) ||
	    oci_sha256_fd(fd, got, &size) || strcmp(got, d->digest) || size != d->size) {
		if (!*err)
			snprintf(err, OCI_ERR_MAX, "blob %s: digest or size mismatch", d->digest);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* manifest: the document ref names, checked against ref when a digest. */
static int manifest(struct oci_source *src, const char *ref, char **buf, size_t *len, char mt[128],
                    char *err)
{
	char got[OCI_DIGEST_MAX];

	if (src->ops->manifest(src, ref, buf, len, mt, err, OCI_ERR_MAX))
		return -1;
	printf("manifest %s\n", ref);
	if (oci_digest_valid(ref) && (oci_sha256_buf(*buf, *len, got) || strcmp(got, ref))) {
		snprintf(err, OCI_ERR_MAX, "manifest %s: digest mismatch", ref);
		return -1;
	}
	return 0;
}

static int probe(struct oci_source *src, char *err)
{
	struct oci_manifest m = { 0 };
	struct oci_config c = { 0 };
	struct oci_descriptor d;
	char mt[128], *buf = NULL, *cfg = NULL;
	size_t len;
	int fd, rc = -1;

	if (manifest(src, src->reference, &buf, &len, mt, err))
		goto out;
	if (oci_doc_kind(buf, len, mt) == OCI_MEDIA_INDEX) {
		if (oci_index_select(buf, len, "linux", "amd64", NULL, &d, err, OCI_ERR_MAX))
			goto out;
		free(buf);
		buf = NULL;
		if (manifest(src, d.digest, &buf, &len, mt, err))
			goto out;
	}
	if (oci_manifest_parse(buf, len, &m, err, OCI_ERR_MAX))
		goto out;
	fd = fetch(src, &m.config, err);
	if (fd < 0)
		goto out;
	cfg = malloc(m.config.size + 1);
	if (!cfg || pread(fd, cfg, m.config.size, 0) != (ssize_t)m.config.size) {
		close(fd);
		goto out;
	}
	close(fd);
	if (oci_config_parse(cfg, m.config.size, &c, err, OCI_ERR_MAX))
		goto out;
	printf("config %s %s/%s\n", m.config.digest, c.os ? c.os : "?", c.arch ? c.arch : "?");
	for (size_t i = 0; i < c.nr_diff_ids; i++)
		printf("diff_id %s\n", c.diff_ids[i]);
	for (size_t i = 0; i < m.nr_layers; i++) {
		fd = fetch(src, &m.layers[i], err);
		if (fd < 0)
			goto out;
		close(fd);
		printf("layer %s %s\n", m.layers[i].digest, m.layers[i].media_type);
	}
	rc = 0;
out:
	oci_config_free(&c);
	oci_manifest_free(&m);
	free(cfg);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_source *src = NULL;
	struct oci_ref r;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: oci_probe oci:DIR[:tag] | docker-archive:FILE[:name]\n");
		return 2;
	}
	rc = oci_ref_parse(argv[1], &r, err, sizeof(err));
	if (!rc && r.kind == OCI_REF_LAYOUT)
		rc = oci_layout_open(&r, &src, err, sizeof(err));
	else if (!rc && r.kind == OCI_REF_ARCHIVE)
		rc = oci_archive_open(&r, &src, err, sizeof(err));
	else if (!rc)
		rc = oci_err(err, sizeof(err), -1, "%s: not a local reference", argv[1]);
	if (!rc)
		rc = probe(src, err);
	if (src)
		src->ops->close(src);
	if (rc) {
		fprintf(stderr, "oci_probe: %s\n", *err ? err : "failed");
		return 1;
	}
	return 0;
}

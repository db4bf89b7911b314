/* SPDX-License-Identifier: MIT */
/*
 * oci_rig.h: what the oci/ source tests build their inputs with: tars made
 * with libarchive's writer, files in a temporary folder, and a source's
 * blobs fetched into memfds and checked by their digest.
 */
#ifndef KVMBOX_TESTS_OCI_RIG_H
#define KVMBOX_TESTS_OCI_RIG_H

#include "oci/oci_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A tar member: data (len bytes), or a symlink to link. */
struct rig_ent {
	const char *name;
	const void *data;
	size_t len;
	const char *link;
};

/*
 * rig_tar: the members as a tar (gzip-compressed when gz) into buf, at
 * most cap bytes; its length, or 0 on failure.
 */
static inline size_t rig_tar(const struct rig_ent *e, size_t n, bool gz, void *buf, size_t cap)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae;
	size_t used = 0;
	int ok = a != NULL;

	ok = ok && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK;
	ok = ok && (!gz || archive_write_add_filter_gzip(a) == ARCHIVE_OK);
	ok = ok && archive_write_open_memory(a, buf, cap, &used) == ARCHIVE_OK;
	for (size_t i = 0; ok && i < n; i++) {
		ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_mtime(ae, 1700000000, 0);
		if (e[i].link) {
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_perm(ae, 0777);
			archive_entry_set_symlink(ae, e[i].link);
		} else {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, 0644);
			archive_entry_set_size(ae, (la_int64_t)e[i].len);
		}
		ok = archive_write_header(a, ae) == ARCHIVE_OK;
		if (ok && !e[i].link && e[i].len)
			ok = archive_write_data(a, e[i].data, e[i].len) == (la_ssize_t)e[i].len;
		archive_entry_free(ae);
	}
	ok = ok && archive_write_close(a) == ARCHIVE_OK;
	archive_write_free(a);
	return ok ? used : 0;
}

/* rig_write: a file at dir/name (folders made as needed) with len bytes. */
static inline int rig_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* rig_blob: data as dir/blobs/sha256/<hex>; its digest into digest. */
static inline int rig_blob(const char *dir, const void *data, size_t len,
                           char digest[OCI_DIGEST_MAX])
{
	char name[128];

	if (oci_sha256_buf(data, len, digest))
		return -1;
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	return rig_write(dir, name, data, len);
}

struct rig_progress {
	uint64_t calls, last_done, last_total;
};

static inline void rig_progress_fn(void *arg, const char *digest, uint64_t done, uint64_t total)
{
	struct rig_progress *p = arg;

	(void)digest;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

/*
 * rig_fetch: d's blob from src into a memfd; 0 when it came whole and its
 * sha256 and size are d's, else the source's error or -EBADMSG.
 */
static inline int rig_fetch(struct oci_source *src, const struct oci_descriptor *d, char *err,
                            size_t errcap)
{
	struct rig_progress pr = { 0 };
	struct oci_progress p = { rig_progress_fn, &pr };
	char got[OCI_DIGEST_MAX];
	uint64_t size = 0;
	int fd = memfd_create("blob", MFD_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = src->ops->blob(src, d, fd, &p, err, errcap);
	if (!rc)
		rc = oci_sha256_fd(fd, got, &size);
	if (!rc && (strcmp(got, d->digest) || size != d->size))
		rc = -EBADMSG;
	/* Progress ends at done == total, an empty blob's too. */
	if (!rc && (!pr.calls || pr.last_done != d->size || pr.last_total != d->size))
		rc = -EPROTO;
	close(fd);
	return rc;
}

/* rig_rm: the temporary folder and what the tests made in it. */
static inline void rig_rm(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif

// SPDX-License-Identifier: MIT
/*
 * oci/pull: a reference's image into the store (oci.h): the manifest
 * (through an index for linux/amd64), the config, and each layer: its
 * blob fetched and verified, then unpacked, each under tmp/ and renamed
 * into place (store.c says why that is safe against a second pull).
 *
 * Trust flows from the reference down (image-spec descriptor.md): a
 * digest in the reference pins the manifest, the manifest's descriptors
 * pin the config and the layers by digest and size, and nothing is used
 * before its bytes match. A tag is trusted to name whatever the source
 * says it names.
 */
#define _GNU_SOURCE
#include "oci/oci_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PULL_OS   "linux"
#define PULL_ARCH "amd64"

struct pull {
	struct oci_store *st;
	struct oci_source *src;
	const struct oci_pull_opts *o;
	char *err;
	size_t errcap;
	/* progress of the blob being fetched */
	struct timespec start, last;
	uint64_t total_bytes;
};

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* progress: a live line per blob on a terminal, at most 10 times a second. */
static void progress(void *arg, const char *digest, uint64_t done, uint64_t total)
{
	struct pull *p = arg;
	double t = since(&p->start);

	if (p->o->progress_fd < 0 || !p->o->progress_tty || (done < total && since(&p->last) < 0.1))
		return;
	clock_gettime(CLOCK_MONOTONIC, &p->last);
	dprintf(p->o->progress_fd, "\r%.19s  %5.1f / %.1f MB  %.1f MB/s\033[K", digest,
	        (double)done / 1e6, (double)total / 1e6, t > 0 ? (double)done / 1e6 / t : 0.0);
}

/* progress_done: the blob's final line: the whole of it, and how fast. */
static void progress_done(struct pull *p, const char *what, const char *digest, uint64_t size,
                          bool fetched)
{
	double t = since(&p->start);

	if (p->o->progress_fd < 0)
		return;
	dprintf(p->o->progress_fd, "%s%s %.19s  %.1f MB  %s%.2f s (%.1f MB/s)\033[K\n",
	        p->o->progress_tty ? "\r" : "", what, digest, (double)size / 1e6,
	        fetched ? "" : "already here, ", t, t > 0 ? (double)size / 1e6 / t : 0.0);
}

/*
 * fetch_blob: d's blob into blobs/ unless it is there: written under tmp/,
 * its size and digest checked, then renamed into place. The fd of the
 * blob (read-only) in *fd_out when asked for.
 */
static int fetch_blob(struct pull *p, const struct oci_descriptor *d, int *fd_out, bool *fetched)
{
	struct oci_progress pr = { progress, p };
	char rel[128], tmp[128], got[OCI_DIGEST_MAX];
	uint64_t size = 0;
	int fd, rc = oci_store_rel("blobs", d->digest, rel, sizeof(rel));

	*fetched = false;
	if (rc)
		return oci_err(p->err, p->errcap, -EINVAL, "bad digest %.80s", d->digest);
	fd = openat(p->st->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fd_out)
			*fd_out = fd;
		else
			close(fd);
		return 0;
	}
	rc = oci_store_tmp(p->st, "blob", tmp, sizeof(tmp));
	if (rc)
		return rc;
	fd = openat(p->st->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return oci_err(p->err, p->errcap, -errno, "%s/%s: %s", p->st->path, tmp,
		               strerror(errno));
	rc = p->src->ops->blob(p->src, d, fd, &pr, p->err, p->errcap);
	if (!rc)
		rc = oci_sha256_fd(fd, got, &size);
	if (!rc && size != d->size)
		rc = oci_err(p->err, p->errcap, -EIO,
		             "blob %s: %llu bytes, where the manifest says %llu (truncated or "
		             "padded: refused)",
		             d->digest, (unsigned long long)size, (unsigned long long)d->size);
	else if (!rc && strcmp(got, d->digest) != 0)
		rc = oci_err(p->err, p->errcap, -EIO, "blob %s: digest mismatch (got %s): refused",
		             d->digest, got);
	if (!rc && fdatasync(fd) < 0)
		rc = oci_err(p->err, p->errcap, -errno, "blob %s: %s", d->digest, strerror(errno));
	if (!rc && renameat(p->st->dirfd, tmp, p->st->dirfd, rel) < 0)
		rc = oci_err(p->err, p->errcap, -errno, "blob %s: %s", d->digest, strerror(errno));
	if (rc) {
		unlinkat(p->st->dirfd, tmp, 0);
		close(fd);
		return rc;
	}
	*fetched = true;
	p->total_bytes += size;
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

/* unpack_layer: d's blob (in fd) into layers/ unless it is there. */
static int unpack_layer(struct pull *p, const struct oci_descriptor *d, int fd)
{
	struct oci_layer_limits lim = { 0 };
	struct oci_layer_stats ls = { 0 };
	char rel[128], tmp[128];
	struct stat sb;
	int dfd, rc = oci_store_rel("layers", d->digest, rel, sizeof(rel));

	if (rc)
		return rc;
	if (fstatat(p->st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	rc = oci_store_tmp(p->st, "layer", tmp, sizeof(tmp));
	if (rc)
		return rc;
	if (mkdirat(p->st->dirfd, tmp, 0755) < 0)
		return oci_err(p->err, p->errcap, -errno, "%s/%s: %s", p->st->path, tmp,
		               strerror(errno));
	dfd = openat(p->st->dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		rc = -errno;
	else
		rc = oci_layer_apply(fd, oci_media_kind(d->media_type), dfd, &lim, &ls, p->err,
		                     p->errcap);
	if (dfd >= 0)
		close(dfd);
	if (!rc && renameat(p->st->dirfd, tmp, p->st->dirfd, rel) < 0) {
		/* Another pull unpacked it first: theirs is as good as ours. */
		if (errno != EEXIST && errno != ENOTEMPTY)
			rc = oci_err(p->err, p->errcap, -errno, "layer %s: %s", d->digest,
			             strerror(errno));
	} else if (!rc) {
		return 0;
	}
	oci_rm_tree(p->st->dirfd, tmp);
	return rc;
}

/*
 * get_manifest: the image manifest the reference names, through an index
 * to linux/amd64 when it names one, checked against every digest known
 * for it; its bytes (malloc'd) and digest.
 */
static int get_manifest(struct pull *p, const char *reference, const char *pinned, char **buf,
                        size_t *len, char digest[OCI_DIGEST_MAX])
{
	char type[128] = "";
	struct oci_descriptor d;
	int rc;

	for (int hops = 0;; hops++) {
		rc = p->src->ops->manifest(p->src, reference, buf, len, type, p->err, p->errcap);
		if (rc)
			return rc;
		rc = oci_sha256_buf(*buf, *len, digest);
		if (!rc && pinned && strcmp(digest, pinned) != 0)
			rc = oci_err(p->err, p->errcap, -EIO,
			             "manifest %s: digest mismatch (got %s): refused", pinned,
			             digest);
		if (rc)
			break;
		switch (oci_doc_kind(*buf, *len, type)) {
		case OCI_MEDIA_MANIFEST:
			return 0;
		case OCI_MEDIA_INDEX:
			/* An index may name another index: two hops at most. */
			if (hops == 2) {
				rc = oci_err(p->err, p->errcap, -ELOOP, "nested indexes: refused");
				break;
			}
			rc = oci_index_select(*buf, *len, PULL_OS, PULL_ARCH, NULL, &d, p->err,
			                      p->errcap);
			if (rc)
				break;
			free(*buf);
			*buf = NULL;
			snprintf(p->src->reference, sizeof(p->src->reference), "%s", d.digest);
			reference = p->src->reference;
			pinned = reference;
			continue;
		default:
			rc = oci_err(p->err, p->errcap, -EINVAL,
			             "%s: not an image manifest or index (type %s)", reference,
			             type[0] ? type : "unknown");
		}
		break;
	}
	free(*buf);
	*buf = NULL;
	return rc;
}

/* check_config: a linux/amd64 image whose layers the config agrees with. */
static int check_config(struct pull *p, const struct oci_manifest *m, const struct oci_config *c)
{
	if ((c->os && strcmp(c->os, PULL_OS)) || (c->arch && strcmp(c->arch, PULL_ARCH)))
		return oci_err(p->err, p->errcap, -ENOEXEC,
		               "the image is for %s/%s; kvmbox runs " PULL_OS "/" PULL_ARCH,
		               c->os ? c->os : "?", c->arch ? c->arch : "?");
	if (c->nr_diff_ids && c->nr_diff_ids != m->nr_layers)
		return oci_err(p->err, p->errcap, -EINVAL,
		               "the config lists %zu layers, the manifest %zu: refused",
		               c->nr_diff_ids, m->nr_layers);
	return 0;
}

/* pull_image: the manifest, config and layers; the record last. */
static int pull_image(struct pull *p, const char *name, const struct oci_ref *ref)
{
	struct oci_manifest m = { 0 };
	struct oci_config c = { 0 };
	char mdigest[OCI_DIGEST_MAX], *buf = NULL, *cbuf = NULL;
	size_t len, clen;
	bool fetched;
	int fd, rc;

	rc = get_manifest(p, p->src->reference, ref->digest[0] ? ref->digest : NULL, &buf, &len,
	                  mdigest);
	if (!rc)
		rc = oci_manifest_parse(buf, len, &m, p->err, p->errcap);
	if (rc)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	rc = fetch_blob(p, &m.config, NULL, &fetched);
	if (!rc)
		rc = oci_store_read_blob(p->st, m.config.digest, OCI_MAX_MANIFEST, &cbuf, &clen,
		                         p->err, p->errcap);
	if (!rc)
		rc = oci_config_parse(cbuf, clen, &c, p->err, p->errcap);
	if (!rc)
		rc = check_config(p, &m, &c);
	for (size_t i = 0; !rc && i < m.nr_layers; i++) {
		uint64_t before = p->total_bytes;

		clock_gettime(CLOCK_MONOTONIC, &p->start);
		fd = -1;
		rc = fetch_blob(p, &m.layers[i], &fd, &fetched);
		if (!rc)
			rc = unpack_layer(p, &m.layers[i], fd);
		if (fd >= 0)
			close(fd);
		if (!rc)
			progress_done(p, "layer", m.layers[i].digest + strlen("sha256:"),
			              fetched ? p->total_bytes - before : m.layers[i].size,
			              fetched);
	}
	/* The manifest is stored last of the blobs, and the name after it. */
	if (!rc) {
		struct oci_descriptor md = { .size = len };
		char rel[128], tmp[128];

		snprintf(md.digest, sizeof(md.digest), "%s", mdigest);
		rc = oci_store_rel("blobs", mdigest, rel, sizeof(rel));
		if (!rc)
			rc = oci_store_tmp(p->st, "manifest", tmp, sizeof(tmp));
		fd = rc ? -1
		        : openat(p->st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (!rc && (fd < 0 || write(fd, buf, len) != (ssize_t)len || fdatasync(fd) < 0 ||
		            renameat(p->st->dirfd, tmp, p->st->dirfd, rel) < 0))
			rc = oci_err(p->err, p->errcap, -EIO, "store the manifest: %s",
			             strerror(errno));
		if (fd >= 0)
			close(fd);
		if (rc)
			unlinkat(p->st->dirfd, tmp, 0);
	}
	if (!rc)
		rc = oci_store_put_ref(p->st, name, mdigest, p->err, p->errcap);
out:
	oci_manifest_free(&m);
	oci_config_free(&c);
	free(buf);
	free(cbuf);
	return rc;
}

int oci_pull(struct oci_store *st, const struct oci_ref *ref, const struct oci_pull_opts *o,
             char *err, size_t errcap)
{
	struct oci_pull_opts none = { .progress_fd = -1 };
	struct pull p = { .st = st, .o = o ? o : &none, .err = err, .errcap = errcap };
	char name[1024];
	int rc = oci_ref_name(ref, name, sizeof(name));

	if (rc)
		return oci_err(err, errcap, rc, "image name too long");
	switch (ref->kind) {
	case OCI_REF_REGISTRY:
		rc = oci_registry_open(ref, p.o, &p.src, err, errcap);
		break;
	case OCI_REF_LAYOUT:
		rc = oci_layout_open(ref, &p.src, err, errcap);
		break;
	case OCI_REF_ARCHIVE:
		rc = oci_archive_open(ref, &p.src, err, errcap);
		break;
	default:
		rc = oci_err(err, errcap, -EINVAL, "unknown reference kind");
	}
	if (rc)
		return rc;
	/* Shared: other pulls may run beside this one, a sweep may not. */
	if (!st->held && flock(st->lockfd, LOCK_SH) < 0)
		rc = oci_err(err, errcap, -errno, "lock the store: %s", strerror(errno));
	if (!rc)
		rc = pull_image(&p, name, ref);
	if (!st->held)
		flock(st->lockfd, LOCK_UN);
	p.src->ops->close(p.src);
	return rc;
}

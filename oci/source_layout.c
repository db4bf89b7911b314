// SPDX-License-Identifier: MIT
/*
 * oci/source_layout: an OCI image layout folder as a source (image-spec
 * image-layout.md): an "oci-layout" file whose imageLayoutVersion is
 * "1.0.0", "index.json" (an image index) and the blobs, each at
 * blobs/<alg>/<encoded digest>.
 *
 * The folder is not trusted more than a registry: every file is opened
 * beneath it with no symlink followed (a blob that is a symlink to
 * /etc/shadow is refused, not copied into the store), must be a regular
 * file, and is read within the size its descriptor gives.
 */
#define _GNU_SOURCE
#include "oci/oci_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COPY_CHUNK     (1u << 20)
#define MAX_OCI_LAYOUT 4096                                /* bytes of the oci-layout file */
#define MAX_ENTRIES    4096                                /* manifests in index.json */
#define REF_NAME       "org.opencontainers.image.ref.name" /* annotations.md */

struct layout_source {
	struct oci_source src; /* first: the ops get it back by a cast */
	int dirfd;
	char path[4096];
};

/*
 * open_beneath: rel (fixed names we build, no "..") under dirfd, read-only,
 * with no symlink followed at any step (openat2 RESOLVE_NO_SYMLINKS, or one
 * O_NOFOLLOW openat per component where openat2 is missing), O_NONBLOCK so
 * that a FIFO planted there cannot stall us; then it must be a regular file.
 * Returns the fd or -errno (-ELOOP for a symlink, -EINVAL for not a file).
 */
static int open_beneath(int dirfd, const char *rel, struct stat *st)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* No openat2 (an old kernel, a seccomp filter): walk it. */
		char buf[256], *save = NULL, *c;
		int cur = dirfd;

		if (strlen(rel) >= sizeof(buf))
			return -ENAMETOOLONG;
		strcpy(buf, rel);
		fd = -1;
		for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
			int e;

			fd = openat(cur, c, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
			e = errno;
			if (cur != dirfd)
				close(cur);
			errno = e;
			if (fd < 0)
				break;
			cur = fd;
		}
	}
	if (fd < 0)
		return errno == EXDEV ? -ELOOP : -errno;
	if (fstat(fd, st) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* read_small: the whole of file rel under dirfd, at most max bytes
 * (-EFBIG past that), malloc'd into *buf. */
static int read_small(int dirfd, const char *rel, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *p;
	int fd = open_beneath(dirfd, rel, &st);

	*buf = NULL;
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	/* The size may change under us: read up to one byte past it. */
	while (got <= (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > (size_t)st.st_size) {
		free(p);
		return -EFBIG;
	}
	*buf = p;
	*len = got;
	return 0;
}

/* blob_path: "blobs/sha256/<hex>" for a valid digest. */
static void blob_path(const char *digest, char out[96])
{
	snprintf(out, 96, "blobs/sha256/%s", digest + 7);
}

/* why: a user's words for a failure to open a file of the layout. */
static const char *why(int rc)
{
	if (rc == -ELOOP)
		return "a symlink (refused: a layout's files must be its own)";
	if (rc == -EINVAL)
		return "not a regular file";
	if (rc == -EFBIG)
		return "too large";
	return strerror(-rc);
}

/*
 * load_index: index.json, parsed, with its "manifests" array checked to
 * be one of at most MAX_ENTRIES.
 */
static json_t *load_index(struct layout_source *ls, int *rc, char *err, size_t errcap)
{
	json_error_t je;
	json_t *root = NULL;
	char *buf;
	size_t len;
	const json_t *ms;

	*rc = read_small(ls->dirfd, "index.json", OCI_MAX_MANIFEST, &buf, &len);
	if (*rc) {
		*rc = oci_err(err, errcap, *rc, "%s/index.json: %s", ls->path, why(*rc));
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	ms = json_object_get(root, "manifests");
	if (!root || !json_is_array(ms) || json_array_size(ms) > MAX_ENTRIES) {
		json_decref(root);
		*rc = oci_err(err, errcap, -EINVAL,
		              "%s/index.json: not an image index (no manifests array of at most "
		              "%d entries)",
		              ls->path, MAX_ENTRIES);
		return NULL;
	}
	return root;
}

/* entry_digest: a manifests[] entry's digest, NULL unless valid. */
static const char *entry_digest(const json_t *e)
{
	const char *d = json_string_value(json_object_get(e, "digest"));

	return oci_digest_valid(d) ? d : NULL;
}

/*
 * resolve: the digest and media type the reference stands for: a tag is
 * looked up in index.json by its org.opencontainers.image.ref.name
 * annotation (image-layout.md's index.json, annotations.md); a digest
 * stands for itself, with the media type index.json gives it, if any.
 */
static int resolve(struct layout_source *ls, const char *reference, char digest[OCI_DIGEST_MAX],
                   char media_type[128], char *err, size_t errcap)
{
	const json_t *ms, *e, *found = NULL;
	bool by_digest = oci_digest_valid(reference);
	json_t *root;
	size_t i;
	int rc;

	root = load_index(ls, &rc, err, errcap);
	if (!root)
		return rc;
	ms = json_object_get(root, "manifests");
	json_array_foreach(ms, i, e)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(e, "annotations"), REF_NAME));
		const char *d = entry_digest(e);

		if (by_digest ? !d || strcmp(d, reference) : !name || strcmp(name, reference))
			continue;
		if (found && !by_digest) {
			json_decref(root);
			return oci_err(err, errcap, -EINVAL,
			               "%s/index.json: more than one manifest is tagged \"%s\"",
			               ls->path, reference);
		}
		if (!found)
			found = e;
	}
	media_type[0] = '\0';
	if (found) {
		const char *mt = json_string_value(json_object_get(found, "mediaType"));

		if (mt && strlen(mt) < 128)
			strcpy(media_type, mt);
		if (!by_digest && !entry_digest(found))
			rc = oci_err(
			    err, errcap, -EINVAL,
			    "%s/index.json: the entry tagged \"%s\" has no valid sha256 digest",
			    ls->path, reference);
		else
			strcpy(digest, by_digest ? reference : entry_digest(found));
	} else if (by_digest) {
		strcpy(digest, reference); /* a nested manifest: not in index.json */
	} else {
		rc = oci_err(err, errcap, -ENOENT, "%s: no image tagged \"%s\" in index.json",
		             ls->path, reference);
	}
	json_decref(root);
	return rc;
}

/*
 * layout_manifest: the document reference names (a tag of index.json, or a
 * digest). The bytes are checked against the digest here, since for a tag
 * the caller has no digest to check them against.
 */
static int layout_manifest(struct oci_source *src, const char *reference, char **buf, size_t *len,
                           char media_type[128], char *err, size_t errcap)
{
	struct layout_source *ls = (struct layout_source *)src;
	char digest[OCI_DIGEST_MAX], got[OCI_DIGEST_MAX], rel[96];
	int rc = resolve(ls, reference, digest, media_type, err, errcap);

	*buf = NULL;
	if (rc)
		return rc;
	blob_path(digest, rel);
	rc = read_small(ls->dirfd, rel, OCI_MAX_MANIFEST, buf, len);
	if (rc)
		return oci_err(err, errcap, rc, "%s/%s: %s", ls->path, rel, why(rc));
	rc = oci_sha256_buf(*buf, *len, got);
	if (!rc && strcmp(got, digest))
		rc = oci_err(err, errcap, -EBADMSG, "manifest %s in %s: digest mismatch", digest,
		             ls->path);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* layout_blob: blobs/sha256/<hex> into fd, in chunks, at most d->size bytes. */
static int layout_blob(struct oci_source *src, const struct oci_descriptor *d, int fd,
                       const struct oci_progress *p, char *err, size_t errcap)
{
	struct layout_source *ls = (struct layout_source *)src;
	uint64_t done = 0;
	struct stat st;
	char rel[96], *buf;
	int in, rc = 0;

	if (!oci_digest_valid(d->digest))
		return oci_err(err, errcap, -EINVAL, "blob: invalid digest");
	blob_path(d->digest, rel);
	in = open_beneath(ls->dirfd, rel, &st);
	if (in < 0)
		return oci_err(err, errcap, in, "blob %s in %s: %s", d->digest, ls->path, why(in));
	if ((uint64_t)st.st_size > d->size) {
		close(in);
		return oci_err(err, errcap, -EFBIG,
		               "blob %s in %s: %lld bytes, more than the %llu its descriptor gives",
		               d->digest, ls->path, (long long)st.st_size,
		               (unsigned long long)d->size);
	}
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		close(in);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		/* The file may grow after the fstat. */
		if ((uint64_t)n > d->size - done) {
			rc = oci_err(err, errcap, -EFBIG,
			             "blob %s in %s: larger than its descriptor", d->digest,
			             ls->path);
			break;
		}
		rc = oci_write_all(fd, buf, (size_t)n);
		if (rc)
			break;
		done += (uint64_t)n;
		if (p && p->fn)
			p->fn(p->arg, d->digest, done, d->size);
	}
	free(buf);
	close(in);
	/* An empty blob still gets its final report (done == total). */
	if (!rc && !done && p && p->fn)
		p->fn(p->arg, d->digest, 0, d->size);
	if (rc && !(err && errcap && *err))
		oci_err(err, errcap, rc, "blob %s in %s: %s", d->digest, ls->path, strerror(-rc));
	return rc;
}

static void layout_close(struct oci_source *src)
{
	struct layout_source *ls = (struct layout_source *)src;

	if (!ls)
		return;
	if (ls->dirfd >= 0)
		close(ls->dirfd);
	free(ls);
}

static const struct oci_source_ops layout_ops = {
	.manifest = layout_manifest,
	.blob = layout_blob,
	.close = layout_close,
};

/* check_layout_file: "oci-layout" with imageLayoutVersion 1.x (image-layout.md). */
static int check_layout_file(struct layout_source *ls, char *err, size_t errcap)
{
	const char *v;
	json_t *root;
	char *buf;
	size_t len;
	int rc = read_small(ls->dirfd, "oci-layout", MAX_OCI_LAYOUT, &buf, &len);

	if (rc == -ENOENT)
		return oci_err(err, errcap, -ENOENT,
		               "%s: not an OCI image layout (no oci-layout file)", ls->path);
	if (rc)
		return oci_err(err, errcap, rc, "%s/oci-layout: %s", ls->path, why(rc));
	root = json_loadb(buf, len, 0, NULL);
	free(buf);
	v = json_string_value(json_object_get(root, "imageLayoutVersion"));
	if (!v || strncmp(v, "1.", 2))
		rc = oci_err(err, errcap, -ENOTSUP,
		             "%s/oci-layout: imageLayoutVersion %.32s is not 1.x", ls->path,
		             v ? v : "missing");
	json_decref(root);
	return rc;
}

/*
 * default_reference: with no tag, the only manifest of index.json, by its
 * digest (what skopeo does); several: the user must choose (err lists the
 * tags there are).
 */
static int default_reference(struct layout_source *ls, char *err, size_t errcap)
{
	const json_t *ms, *e;
	char tags[256] = "";
	json_t *root;
	size_t i;
	int rc;

	root = load_index(ls, &rc, err, errcap);
	if (!root)
		return rc;
	ms = json_object_get(root, "manifests");
	if (json_array_size(ms) == 1 && entry_digest(json_array_get(ms, 0))) {
		strcpy(ls->src.reference, entry_digest(json_array_get(ms, 0)));
	} else if (json_array_size(ms) == 0) {
		rc = oci_err(err, errcap, -ENOENT, "%s: index.json lists no image", ls->path);
	} else if (json_array_size(ms) == 1) {
		rc = oci_err(err, errcap, -EINVAL,
		             "%s/index.json: its one entry has no valid sha256 digest", ls->path);
	} else {
		json_array_foreach(ms, i, e)
		{
			const char *t = json_string_value(
			    json_object_get(json_object_get(e, "annotations"), REF_NAME));
			size_t n = strlen(tags);

			if (t && n + 4 < sizeof(tags))
				snprintf(tags + n, sizeof(tags) - n, "%s%.64s", n ? ", " : "", t);
		}
		rc = oci_err(err, errcap, -EINVAL,
		             "%s holds %zu manifests: name one as oci:%s:TAG (tags: %s)", ls->path,
		             json_array_size(ms), ls->path, *tags ? tags : "none");
	}
	json_decref(root);
	return rc;
}

int oci_layout_open(const struct oci_ref *ref, struct oci_source **out, char *err, size_t errcap)
{
	struct layout_source *ls;
	int rc;

	*out = NULL;
	if (ref->kind != OCI_REF_LAYOUT)
		return oci_err(err, errcap, -EINVAL, "not an oci: reference");
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->src.ops = &layout_ops;
	snprintf(ls->path, sizeof(ls->path), "%s", ref->path);
	/* The folder itself is what the user named: a symlink to it is fine. */
	ls->dirfd = open(ref->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ls->dirfd < 0) {
		rc = oci_err(err, errcap, -errno, "%s: %s", ref->path, strerror(errno));
		layout_close(&ls->src);
		return rc;
	}
	rc = check_layout_file(ls, err, errcap);
	if (!rc && ref->tag[0])
		snprintf(ls->src.reference, sizeof(ls->src.reference), "%s", ref->tag);
	else if (!rc)
		rc = default_reference(ls, err, errcap);
	if (rc) {
		layout_close(&ls->src);
		return rc;
	}
	*out = &ls->src;
	return 0;
}

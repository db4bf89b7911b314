// SPDX-License-Identifier: MIT
/*
 * oci/store: the content-addressed store (oci_int.h has its layout): open,
 * references, reading images back, and removing them with what no other
 * image uses. Writing blobs and layers is pull.c's.
 *
 * Safety against a second process: every file and folder is written under
 * tmp/ and renamed into place when whole, so a name under blobs/, layers/
 * or refs/ always means complete, verified content; two pulls of the same
 * blob both write it and the second rename replaces identical bytes (a
 * layer folder: the second finds the name taken and drops its own). Only
 * collecting unused blobs deletes, and it needs the exclusive lock, which
 * no pull and no running sandbox leaves to it.
 */
#define _GNU_SOURCE
#include "oci/oci_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *const store_dirs[] = { "blobs", "blobs/sha256", "layers", "layers/sha256",
	                                  "refs",  "tmp",          "empty" };

/* store_default: $KVMBOX_HOME, $XDG_DATA_HOME/kvmbox, ~/.local/share/kvmbox. */
static char *store_default(void)
{
	const char *home = getenv("KVMBOX_HOME"), *xdg = getenv("XDG_DATA_HOME");
	char *p = NULL;

	if (home && *home)
		return strdup(home);
	if (xdg && *xdg)
		return asprintf(&p, "%s/kvmbox", xdg) < 0 ? NULL : p;
	home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	return asprintf(&p, "%s/.local/share/kvmbox", home) < 0 ? NULL : p;
}

/* mkdir_p: path and its missing parents, 0700 (a user's own store). */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/*
 * store_probe_xattrs: whether the store's file system keeps user xattrs,
 * where a layer keeps its entries' owners, modes and whiteouts
 * (oci_int.h): asked once here, so that the first pull does not fail
 * half way with a less clear error.
 */
static int store_probe_xattrs(struct oci_store *st)
{
	int fd = openat(st->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsetxattr(fd, "user.kvmbox.probe", "1", 1, 0) < 0)
		rc = -errno;
	else
		fremovexattr(fd, "user.kvmbox.probe");
	close(fd);
	return rc;
}

int oci_store_open(const char *dir, struct oci_store **out, char *err, size_t errcap)
{
	struct oci_store *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	st->dirfd = st->lockfd = -1;
	st->path = dir ? strdup(dir) : store_default();
	if (!st->path) {
		rc = oci_err(err, errcap, -ENOENT, "no store folder: set KVMBOX_HOME or HOME");
		goto fail;
	}
	rc = mkdir_p(st->path);
	if (rc) {
		oci_err(err, errcap, rc, "store %s: %s", st->path, strerror(-rc));
		goto fail;
	}
	st->dirfd = open(st->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = oci_err(err, errcap, -errno, "store %s: %s", st->path, strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++)
		if (mkdirat(st->dirfd, store_dirs[i], 0700) < 0 && errno != EEXIST) {
			rc = oci_err(err, errcap, -errno, "store %s/%s: %s", st->path,
			             store_dirs[i], strerror(errno));
			goto fail;
		}
	rc = store_probe_xattrs(st);
	if (rc) {
		oci_err(err, errcap, rc,
		        "store %s: %s: its file system must keep user xattrs (ext4, xfs, btrfs, "
		        "tmpfs from Linux 6.6): set KVMBOX_HOME to a folder on one",
		        st->path, strerror(-rc));
		goto fail;
	}
	st->lockfd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->lockfd < 0) {
		rc = oci_err(err, errcap, -errno, "store %s/lock: %s", st->path, strerror(errno));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	oci_store_close(st);
	return rc;
}

void oci_store_close(struct oci_store *st)
{
	if (!st)
		return;
	if (st->lockfd >= 0)
		close(st->lockfd); /* and with it any lock */
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->path);
	free(st);
}

int oci_store_hold(struct oci_store *st)
{
	if (flock(st->lockfd, LOCK_SH) < 0)
		return -errno;
	st->held = true;
	return 0;
}

int oci_store_rel(const char *kind, const char *digest, char *buf, size_t cap)
{
	int n;

	if (!oci_digest_valid(digest))
		return -EINVAL;
	n = snprintf(buf, cap, "%s/sha256/%s", kind, digest + strlen("sha256:"));
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int oci_store_tmp(struct oci_store *st, const char *prefix, char *buf, size_t cap)
{
	struct timespec ts;
	int n;

	/* Unique enough with the pid and the clock; O_EXCL or mkdir catch the rest. */
	clock_gettime(CLOCK_REALTIME, &ts);
	(void)st;
	n = snprintf(buf, cap, "tmp/%s-%d-%lx%lx", prefix, (int)getpid(), (long)ts.tv_sec,
	             ts.tv_nsec);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int oci_store_read_blob(struct oci_store *st, const char *digest, size_t max, char **buf,
                        size_t *len, char *err, size_t errcap)
{
	char rel[128];
	struct stat sb;
	char *p;
	ssize_t n;
	int fd, rc = oci_store_rel("blobs", digest, rel, sizeof(rel));

	if (rc)
		return oci_err(err, errcap, rc, "bad digest %.80s", digest);
	fd = openat(st->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return oci_err(err, errcap, -errno, "blob %s: %s", digest, strerror(errno));
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size > max) {
		close(fd);
		return oci_err(err, errcap, -EFBIG, "blob %s: larger than %zu bytes", digest, max);
	}
	p = malloc((size_t)sb.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, p, (size_t)sb.st_size, 0);
	close(fd);
	if (n != sb.st_size) {
		free(p);
		return oci_err(err, errcap, -EIO, "blob %s: short read", digest);
	}
	p[n] = '\0';
	*buf = p;
	*len = (size_t)n;
	return 0;
}

/* ref_file: "refs/HEX" for an image name. */
static int ref_file(const char *name, char *buf, size_t cap)
{
	char d[OCI_DIGEST_MAX];
	int rc = oci_sha256_buf(name, strlen(name), d);
	int n;

	if (rc)
		return rc;
	n = snprintf(buf, cap, "refs/%s", d + strlen("sha256:"));
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int oci_store_put_ref(struct oci_store *st, const char *name, const char *manifest, char *err,
                      size_t errcap)
{
	char rel[128], tmp[128];
	json_t *j = json_pack("{s:s, s:s, s:I}", "name", name, "manifest", manifest, "pulled",
	                      (json_int_t)time(NULL));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int fd = -1, rc;

	json_decref(j);
	rc = !text ? -ENOMEM : ref_file(name, rel, sizeof(rel));
	if (!rc)
		rc = oci_store_tmp(st, "ref", tmp, sizeof(tmp));
	if (!rc) {
		fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = -errno;
	}
	if (!rc && (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0))
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (!rc && renameat(st->dirfd, tmp, st->dirfd, rel) < 0)
		rc = -errno;
	if (rc && fd >= 0)
		unlinkat(st->dirfd, tmp, 0);
	free(text);
	return rc ? oci_err(err, errcap, rc, "record %s: %s", name, strerror(-rc)) : 0;
}

/* ref_read: the name and manifest digest a refs/ file holds. */
static int ref_read(struct oci_store *st, const char *rel, char *name, size_t namecap,
                    char manifest[OCI_DIGEST_MAX])
{
	json_error_t je;
	const char *n = NULL, *m = NULL;
	json_t *j;
	int fd = openat(st->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -EINVAL;

	if (fd < 0)
		return -errno;
	j = json_loadfd(fd, 0, &je);
	close(fd);
	if (j && !json_unpack(j, "{s:s, s:s}", "name", &n, "manifest", &m) && oci_digest_valid(m) &&
	    strlen(n) < namecap) {
		strcpy(name, n);
		strcpy(manifest, m);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* strv_dup: a copy of a NULL-terminated vector (NULL stays NULL). */
static char **strv_dup(char *const *v)
{
	size_t n = 0;
	char **out;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	return out;
}

/* image_fill: img from its manifest and config, both in the store. */
static int image_fill(struct oci_store *st, const char *manifest, struct oci_image *img, char *err,
                      size_t errcap)
{
	struct oci_manifest m = { 0 };
	struct oci_config c = { 0 };
	char *buf = NULL, rel[128];
	size_t len;
	int rc;

	snprintf(img->manifest, sizeof(img->manifest), "%s", manifest);
	rc = oci_store_read_blob(st, manifest, OCI_MAX_MANIFEST, &buf, &len, err, errcap);
	if (!rc)
		rc = oci_manifest_parse(buf, len, &m, err, errcap);
	free(buf);
	buf = NULL;
	if (!rc)
		rc = oci_store_read_blob(st, m.config.digest, OCI_MAX_MANIFEST, &buf, &len, err,
		                         errcap);
	if (!rc)
		rc = oci_config_parse(buf, len, &c, err, errcap);
	free(buf);
	if (rc)
		goto out;
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", m.config.digest);
	rc = -ENOMEM;
	img->layer_dirs = calloc(m.nr_layers + 1, sizeof(char *));
	if (!img->layer_dirs || asprintf(&img->share_root, "%s/empty", st->path) < 0)
		goto out;
	for (size_t i = 0; i < m.nr_layers; i++) {
		struct stat sb;

		if (oci_store_rel("layers", m.layers[i].digest, rel, sizeof(rel)) ||
		    fstatat(st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode)) {
			rc = oci_err(err, errcap, -ENOENT,
			             "image %s: layer %s is missing from the store (pull it again)",
			             img->name, m.layers[i].digest);
			goto out;
		}
		if (asprintf(&img->layer_dirs[i], "%s/%s", st->path, rel) < 0)
			goto out;
		img->nr_layers++;
		img->size += m.layers[i].size;
	}
	img->entrypoint = strv_dup(c.entrypoint);
	img->cmd = strv_dup(c.cmd);
	img->env = strv_dup(c.env);
	img->workdir = c.workdir ? strdup(c.workdir) : NULL;
	img->user = c.user ? strdup(c.user) : NULL;
	img->created = c.created;
	rc = 0;
out:
	oci_manifest_free(&m);
	oci_config_free(&c);
	return rc;
}

int oci_image_get(struct oci_store *st, const struct oci_ref *ref, struct oci_image *img, char *err,
                  size_t errcap)
{
	char rel[128], name[1024], manifest[OCI_DIGEST_MAX];
	int rc;

	memset(img, 0, sizeof(*img));
	rc = oci_ref_name(ref, img->name, sizeof(img->name));
	if (!rc)
		rc = ref_file(img->name, rel, sizeof(rel));
	if (rc)
		return oci_err(err, errcap, rc, "image name too long");
	rc = ref_read(st, rel, name, sizeof(name), manifest);
	if (rc == -ENOENT)
		return oci_err(err, errcap, rc, "image %s is not in the store", img->name);
	if (rc)
		return oci_err(err, errcap, rc, "image %s: unreadable record %s/%s", img->name,
		               st->path, rel);
	rc = image_fill(st, manifest, img, err, errcap);
	if (rc)
		oci_image_free(img);
	return rc;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void oci_image_free(struct oci_image *img)
{
	strv_free(img->layer_dirs);
	strv_free(img->entrypoint);
	strv_free(img->cmd);
	strv_free(img->env);
	free(img->share_root);
	free(img->workdir);
	free(img->user);
	memset(img, 0, sizeof(*img));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct oci_image *)a)->name, ((const struct oci_image *)b)->name);
}

/*
 * store_images: every image the store keeps, sorted by name (malloc'd
 * array; the caller frees each with oci_image_free). Records that no
 * longer read are skipped: a pull that failed half way leaves none.
 */
static int store_images(struct oci_store *st, struct oci_image **out, size_t *count)
{
	int fd = openat(st->dirfd, "refs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct oci_image *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		char rel[300], manifest[OCI_DIGEST_MAX];
		struct oci_image img = { 0 };

		if (e->d_name[0] == '.' || strlen(e->d_name) != 64)
			continue;
		snprintf(rel, sizeof(rel), "refs/%s", e->d_name);
		if (ref_read(st, rel, img.name, sizeof(img.name), manifest) ||
		    image_fill(st, manifest, &img, NULL, 0)) {
			oci_image_free(&img);
			continue;
		}
		if (n == cap) {
			struct oci_image *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv) {
				oci_image_free(&img);
				break;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[n++] = img;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	*count = n;
	return 0;
}

int oci_image_list(struct oci_store *st, int (*fn)(void *arg, const struct oci_image *img),
                   void *arg, char *err, size_t errcap)
{
	struct oci_image *v = NULL;
	size_t n = 0;
	int rc = store_images(st, &v, &n);

	if (rc)
		return oci_err(err, errcap, rc, "store %s/refs: %s", st->path, strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = fn(arg, &v[i]);
		oci_image_free(&v[i]);
	}
	free(v);
	return rc;
}

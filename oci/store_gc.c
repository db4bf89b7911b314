// SPDX-License-Identifier: MIT
/*
 * oci/store_gc: `kvmbox rmi`: forget a name, then delete the blobs and
 * layers that no name still reaches (oci.h). The sweep needs the store's
 * exclusive lock: a pull in progress (whose blobs no name reaches yet)
 * and a running sandbox (whose layers the guest reads) each hold it
 * shared, and then the sweep waits for a later call.
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
#include <unistd.h>

#define HEX_LEN 64

struct live {
	char (*hex)[HEX_LEN + 1];
	size_t n, cap;
};

static int live_add(struct live *l, const char *digest)
{
	if (!oci_digest_valid(digest))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->hex, cap * sizeof(*l->hex));

		if (!p)
			return -ENOMEM;
		l->hex = p;
		l->cap = cap;
	}
	memcpy(l->hex[l->n++], digest + strlen("sha256:"), HEX_LEN + 1);
	return 0;
}

static int hex_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool live_has(const struct live *l, const char *hex)
{
	return l->n && bsearch(hex, l->hex, l->n, sizeof(*l->hex), hex_cmp) != NULL;
}

/* live_manifest: a manifest's own digest, its config's and its layers'. */
static int live_manifest(struct oci_store *st, struct live *l, const char *manifest)
{
	struct oci_manifest m = { 0 };
	char *buf = NULL;
	size_t len;
	int rc = live_add(l, manifest);

	if (rc || oci_store_read_blob(st, manifest, OCI_MAX_MANIFEST, &buf, &len, NULL, 0))
		return rc;
	if (oci_manifest_parse(buf, len, &m, NULL, 0) == 0) {
		rc = live_add(l, m.config.digest);
		for (size_t i = 0; !rc && i < m.nr_layers; i++)
			rc = live_add(l, m.layers[i].digest);
	}
	oci_manifest_free(&m);
	free(buf);
	return rc;
}

/* live_collect: what every record in refs/ reaches. */
static int live_collect(struct oci_store *st, struct live *l)
{
	int fd = openat(st->dirfd, "refs", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while (!rc && (e = readdir(d)) != NULL) {
		char rel[300], *text;
		const char *m = NULL;
		json_t *j;
		int rfd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "refs/%s", e->d_name);
		rfd = openat(st->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (rfd < 0)
			continue;
		j = json_loadfd(rfd, 0, NULL);
		close(rfd);
		if (j && !json_unpack(j, "{s:s}", "manifest", &m) && (text = strdup(m))) {
			rc = live_manifest(st, l, text);
			free(text);
		}
		json_decref(j);
	}
	closedir(d);
	if (!rc && l->n)
		qsort(l->hex, l->n, sizeof(*l->hex), hex_cmp);
	return rc;
}

/* sweep: every entry of dir (a store folder) that l does not hold; all when l is NULL. */
static void sweep(struct oci_store *st, const char *dir, const struct live *l, size_t *removed)
{
	int fd = openat(st->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (l && live_has(l, e->d_name))
			continue;
		if (oci_rm_tree(dirfd(d), e->d_name) == 0)
			(*removed)++;
	}
	closedir(d);
}

int oci_image_remove(struct oci_store *st, const struct oci_ref *ref, char *err, size_t errcap)
{
	char name[1024], rel[128], d[OCI_DIGEST_MAX];
	struct live l = { 0 };
	size_t removed = 0;
	int rc = oci_ref_name(ref, name, sizeof(name));

	if (!rc)
		rc = oci_sha256_buf(name, strlen(name), d);
	if (rc)
		return oci_err(err, errcap, rc, "image name too long");
	snprintf(rel, sizeof(rel), "refs/%s", d + strlen("sha256:"));
	if (unlinkat(st->dirfd, rel, 0) < 0)
		return oci_err(err, errcap, -errno, "image %s: %s", name,
		               errno == ENOENT ? "not in the store" : strerror(errno));
	/* The sweep runs only alone; else the next rmi (or pull) does it. */
	if (st->held || flock(st->lockfd, LOCK_EX | LOCK_NB) < 0)
		return 0;
	rc = live_collect(st, &l);
	if (!rc) {
		sweep(st, "blobs/sha256", &l, &removed);
		sweep(st, "layers/sha256", &l, &removed);
		sweep(st, "tmp", NULL, &removed);
	}
	flock(st->lockfd, LOCK_UN);
	free(l.hex);
	return rc ? oci_err(err, errcap, rc, "collecting unused blobs: %s", strerror(-rc)) : 0;
}

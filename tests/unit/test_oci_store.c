// SPDX-License-Identifier: MIT
/*
 * Unit tests of the store and pull (oci/store.c, store_gc.c, pull.c) from
 * an OCI layout made here: two images sharing their bottom layer, pulled,
 * read back, listed and removed with the sweep; a tampered blob and a
 * missing one refused with the store left as it was; pulls of the same
 * image by several processes at once; and a held store that the sweep
 * leaves alone.
 */
#define _GNU_SOURCE
#include "check.h"
#include "oci_rig.h"

#include <dirent.h>
#include <sys/wait.h>

#define OCI_MAN  "application/vnd.oci.image.manifest.v1+json"
#define OCI_CFG  "application/vnd.oci.image.config.v1+json"
#define OCI_GZ   "application/vnd.oci.image.layer.v1.tar+gzip"
#define REF_NAME "org.opencontainers.image.ref.name"

struct layer {
	char d[OCI_DIGEST_MAX];
	size_t len;
};

/* put_layer: a gzip layer holding name (with text) as a blob of dir. */
static int put_layer(const char *dir, const char *name, const char *text, struct layer *l)
{
	struct rig_ent e = { name, text, strlen(text), NULL };
	static char buf[8192];

	l->len = rig_tar(&e, 1, true, buf, sizeof(buf));
	return l->len ? rig_blob(dir, buf, l->len, l->d) : -1;
}

/* put_image: config and manifest of the two layers; the manifest's
 * digest and length into md, mlen. */
static int put_image(const char *dir, const struct layer *l, const char *env,
                     char md[OCI_DIGEST_MAX], size_t *mlen)
{
	char cfg[1024], man[2048], cd[OCI_DIGEST_MAX];
	size_t clen = (size_t)snprintf(
	    cfg, sizeof(cfg),
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2026-01-02T03:04:05Z\","
	    "\"config\":{\"Entrypoint\":[\"/bin/sh\"],\"Cmd\":[\"-c\",\"true\"],\"Env\":[\"%s\"],"
	    "\"WorkingDir\":\"/w\",\"User\":\"7:8\"},"
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
	    env, l[0].d, l[1].d);

	if (rig_blob(dir, cfg, clen, cd))
		return -1;
	*mlen = (size_t)snprintf(man, sizeof(man),
	                         "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MAN "\","
	                         "\"config\":{\"mediaType\":\"" OCI_CFG "\",\"digest\":\"%s\","
	                         "\"size\":%zu},\"layers\":["
	                         "{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"%s\",\"size\":%zu},"
	                         "{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"%s\",\"size\":%zu}]}",
	                         cd, clen, l[0].d, l[0].len, l[1].d, l[1].len);
	return rig_blob(dir, man, *mlen, md);
}

struct world {
	char base[64], layout[96], store[96];
	struct layer bottom, a, b;
};

/* world_init: a layout with images "a" (bottom + a) and "b" (bottom + b). */
static int world_init(struct world *w)
{
	char ma[OCI_DIGEST_MAX], mb[OCI_DIGEST_MAX], idx[2048];
	size_t la, lb;
	int n;

	snprintf(w->base, sizeof(w->base), "/tmp/kvmbox-store-XXXXXX");
	if (!mkdtemp(w->base))
		return -1;
	snprintf(w->layout, sizeof(w->layout), "%s/layout", w->base);
	snprintf(w->store, sizeof(w->store), "%s/store", w->base);
	if (mkdir(w->layout, 0755) ||
	    rig_write(w->layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30) ||
	    put_layer(w->layout, "etc/base", "bottom\n", &w->bottom) ||
	    put_layer(w->layout, "etc/a", "layer a\n", &w->a) ||
	    put_layer(w->layout, "etc/b", "layer b\n", &w->b))
		return -1;
	if (put_image(w->layout, (struct layer[]){ w->bottom, w->a }, "A=1", ma, &la) ||
	    put_image(w->layout, (struct layer[]){ w->bottom, w->b }, "B=2", mb, &lb))
		return -1;
	n = snprintf(idx, sizeof(idx),
	             "{\"schemaVersion\":2,\"manifests\":["
	             "{\"mediaType\":\"" OCI_MAN "\",\"digest\":\"%s\",\"size\":%zu,"
	             "\"annotations\":{\"" REF_NAME "\":\"a\"}},"
	             "{\"mediaType\":\"" OCI_MAN "\",\"digest\":\"%s\",\"size\":%zu,"
	             "\"annotations\":{\"" REF_NAME "\":\"b\"}}]}",
	             ma, la, mb, lb);
	return rig_write(w->layout, "index.json", idx, (size_t)n);
}

static int ref_of(const struct world *w, const char *tag, struct oci_ref *r)
{
	char s[160], err[OCI_ERR_MAX];

	snprintf(s, sizeof(s), "oci:%s:%s", w->layout, tag);
	return oci_ref_parse(s, r, err, sizeof(err));
}

static int pull(const struct world *w, struct oci_store *st, const char *tag, char *err)
{
	struct oci_ref r;

	return ref_of(w, tag, &r) ? -EINVAL : oci_pull(st, &r, NULL, err, OCI_ERR_MAX);
}

/* count: entries of the store's folder sub (no dot files). */
static int count(const struct world *w, const char *sub)
{
	char path[160];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", w->store, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool file_is(const char *dir, const char *name, const char *want)
{
	char path[4200], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strcmp(buf, want) == 0;
}

static int list_count(void *arg, const struct oci_image *img)
{
	(void)img;
	(*(int *)arg)++;
	return 0;
}

TEST(pull_get_list_remove)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_image ia, ib;
	struct oci_store *st;
	struct oci_ref ra, rb;
	struct world w;
	int n = 0;

	CHECK_EQ(world_init(&w), 0);
	CHECK_EQ(oci_store_open(w.store, &st, err, sizeof(err)), 0);
	CHECK_EQ(pull(&w, st, "a", err), 0);
	CHECK_EQ(pull(&w, st, "b", err), 0);
	CHECK_EQ(ref_of(&w, "a", &ra), 0);
	CHECK_EQ(ref_of(&w, "b", &rb), 0);
	CHECK_EQ(oci_image_get(st, &ra, &ia, err, sizeof(err)), 0);
	CHECK_EQ(oci_image_get(st, &rb, &ib, err, sizeof(err)), 0);
	CHECK_EQ(ia.nr_layers, 2);
	/* The bottom layer is unpacked once, for both. */
	CHECK(!strcmp(ia.layer_dirs[0], ib.layer_dirs[0]));
	CHECK(file_is(ia.layer_dirs[0], "etc/base", "bottom\n"));
	CHECK(file_is(ia.layer_dirs[1], "etc/a", "layer a\n"));
	CHECK(file_is(ib.layer_dirs[1], "etc/b", "layer b\n"));
	CHECK(ia.entrypoint && !strcmp(ia.entrypoint[0], "/bin/sh") && !ia.entrypoint[1]);
	CHECK(ia.cmd && !strcmp(ia.cmd[1], "true"));
	CHECK(ia.env && !strcmp(ia.env[0], "A=1"));
	CHECK(ia.workdir && !strcmp(ia.workdir, "/w"));
	CHECK(ia.user && !strcmp(ia.user, "7:8"));
	CHECK(ia.created > 0);
	CHECK_EQ(count(&w, "layers/sha256"), 3);
	CHECK_EQ(count(&w, "blobs/sha256"), 7); /* 3 layers, 2 configs, 2 manifests */
	CHECK_EQ(count(&w, "tmp"), 0);
	CHECK_EQ(oci_image_list(st, list_count, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 2);
	/* Pulled again: nothing new. */
	CHECK_EQ(pull(&w, st, "a", err), 0);
	CHECK_EQ(count(&w, "blobs/sha256"), 7);
	/* rmi a: its own layer, config and manifest go; the shared layer stays. */
	CHECK_EQ(oci_image_remove(st, &ra, err, sizeof(err)), 0);
	CHECK_EQ(count(&w, "layers/sha256"), 2);
	CHECK_EQ(count(&w, "blobs/sha256"), 4);
	oci_image_free(&ia);
	CHECK_EQ(oci_image_get(st, &ra, &ia, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "not in the store") != NULL);
	oci_image_free(&ib);
	CHECK_EQ(oci_image_get(st, &rb, &ib, err, sizeof(err)), 0);
	CHECK(file_is(ib.layer_dirs[0], "etc/base", "bottom\n"));
	oci_image_free(&ib);
	CHECK_EQ(oci_image_remove(st, &ra, err, sizeof(err)), -ENOENT);
	CHECK_EQ(oci_image_remove(st, &rb, err, sizeof(err)), 0);
	CHECK_EQ(count(&w, "layers/sha256"), 0);
	CHECK_EQ(count(&w, "blobs/sha256"), 0);
	oci_store_close(st);
	rig_rm(w.base);
}

/* A held store (a running sandbox): rmi forgets the name, sweeps nothing. */
TEST(held_store_is_not_swept)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_store *st, *sandbox;
	struct oci_ref ra;
	struct world w;

	CHECK_EQ(world_init(&w), 0);
	CHECK_EQ(oci_store_open(w.store, &st, err, sizeof(err)), 0);
	CHECK_EQ(oci_store_open(w.store, &sandbox, err, sizeof(err)), 0);
	CHECK_EQ(pull(&w, st, "a", err), 0);
	CHECK_EQ(oci_store_hold(sandbox), 0);
	CHECK_EQ(ref_of(&w, "a", &ra), 0);
	CHECK_EQ(oci_image_remove(st, &ra, err, sizeof(err)), 0);
	CHECK_EQ(count(&w, "refs"), 0);
	CHECK_EQ(count(&w, "layers/sha256"), 2);
	oci_store_close(sandbox);
	/* The next rmi, of anything, sweeps. */
	CHECK_EQ(pull(&w, st, "b", err), 0);
	CHECK_EQ(ref_of(&w, "b", &ra), 0);
	CHECK_EQ(oci_image_remove(st, &ra, err, sizeof(err)), 0);
	CHECK_EQ(count(&w, "layers/sha256"), 0);
	oci_store_close(st);
	rig_rm(w.base);
}

/* corrupt: one byte of the blob digest d in the layout changed, in place. */
static void corrupt(const struct world *w, const char *d)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", w->layout, d + 7);
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, "X", 1, 20) != 1)
		abort();
	close(fd);
}

TEST(tampered_and_missing_blobs)
{
	char err[OCI_ERR_MAX] = "", path[300];
	struct oci_store *st;
	struct world w;

	CHECK_EQ(world_init(&w), 0);
	CHECK_EQ(oci_store_open(w.store, &st, err, sizeof(err)), 0);
	corrupt(&w, w.a.d);
	CHECK_EQ(pull(&w, st, "a", err), -EIO);
	CHECK(strstr(err, "digest mismatch") != NULL);
	CHECK_EQ(count(&w, "refs"), 0);
	CHECK_EQ(count(&w, "tmp"), 0);
	CHECK_EQ(count(&w, "layers/sha256"), 1); /* the bottom one, sound */
	/* A manifest naming a blob the layout lacks. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", w.layout, w.b.d + 7);
	CHECK_EQ(unlink(path), 0);
	CHECK(pull(&w, st, "b", err) < 0);
	CHECK(strstr(err, w.b.d + 7) != NULL || strstr(err, "No such file") != NULL);
	CHECK_EQ(count(&w, "refs"), 0);
	CHECK_EQ(count(&w, "tmp"), 0);
	oci_store_close(st);
	rig_rm(w.base);
}

/* Four processes pull the same image into one new store at once. */
TEST(concurrent_pulls)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_store *st;
	struct oci_image img;
	struct oci_ref r;
	struct world w;
	pid_t pids[4];
	int ok = 0, status;

	CHECK_EQ(world_init(&w), 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			if (oci_store_open(w.store, &st, err, sizeof(err)) ||
			    pull(&w, st, "a", err)) {
				fprintf(stderr, "child %d: %s\n", i, err);
				_exit(1);
			}
			oci_store_close(st);
			_exit(0);
		}
	}
	for (int i = 0; i < 4; i++)
		ok += waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0;
	CHECK_EQ(ok, 4);
	CHECK_EQ(oci_store_open(w.store, &st, err, sizeof(err)), 0);
	CHECK_EQ(ref_of(&w, "a", &r), 0);
	CHECK_EQ(oci_image_get(st, &r, &img, err, sizeof(err)), 0);
	CHECK(file_is(img.layer_dirs[1], "etc/a", "layer a\n"));
	oci_image_free(&img);
	CHECK_EQ(count(&w, "layers/sha256"), 2);
	CHECK_EQ(count(&w, "refs"), 1);
	CHECK_EQ(count(&w, "tmp"), 0);
	oci_store_close(st);
	rig_rm(w.base);
}

CHECK_MAIN(CASE(pull_get_list_remove), CASE(held_store_is_not_swept),
           CASE(tampered_and_missing_blobs), CASE(concurrent_pulls))

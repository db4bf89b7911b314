// SPDX-License-Identifier: MIT
/*
 * Unit tests of the local sources (oci/source_layout.c,
 * oci/source_archive.c): an OCI layout and a docker save archive made here
 * with libarchive's writer, opened, their manifests parsed and their blobs
 * fetched and checked by digest; and the hostile ones: a blob that is a
 * symlink out of the layout, one larger than its descriptor, a FIFO.
 */
#define _GNU_SOURCE /* memfd_create */
#include "check.h"
#include "oci_rig.h"

#include <errno.h>

#define OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MAN   "application/vnd.oci.image.manifest.v1+json"
#define OCI_CFG   "application/vnd.oci.image.config.v1+json"
#define OCI_GZ    "application/vnd.oci.image.layer.v1.tar+gzip"
#define REF_NAME  "org.opencontainers.image.ref.name"
#define HEX_ZERO  "0000000000000000000000000000000000000000000000000000000000000000"

/* A one-layer image's parts, as written into a layout. */
struct img {
	char layer[4096], config[512], manifest[1024];
	size_t layer_len, config_len, manifest_len;
	char layer_d[OCI_DIGEST_MAX], config_d[OCI_DIGEST_MAX], manifest_d[OCI_DIGEST_MAX];
};

/* make_img: a gzip layer holding file name, its config and manifest, as
 * blobs of the layout at dir. */
static int make_img(const char *dir, const char *name, struct img *im)
{
	struct rig_ent e = { name, "hello\n", 6, NULL };

	im->layer_len = rig_tar(&e, 1, true, im->layer, sizeof(im->layer));
	if (!im->layer_len || rig_blob(dir, im->layer, im->layer_len, im->layer_d))
		return -1;
	im->config_len = (size_t)snprintf(
	    im->config, sizeof(im->config),
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
	    im->layer_d);
	if (rig_blob(dir, im->config, im->config_len, im->config_d))
		return -1;
	im->manifest_len = (size_t)snprintf(
	    im->manifest, sizeof(im->manifest),
	    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MAN "\",\"config\":{\"mediaType\":"
	    "\"" OCI_CFG "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	    "\"" OCI_GZ "\",\"digest\":\"%s\",\"size\":%zu}]}",
	    im->config_d, im->config_len, im->layer_d, im->layer_len);
	return rig_blob(dir, im->manifest, im->manifest_len, im->manifest_d);
}

/* index_json: dir/index.json listing the manifest of each im under tags[i]
 * (NULL: no annotation), with media type mt. */
static int index_json(const char *dir, const struct img *im, const char *const *tags, int n,
                      const char *mt)
{
	char buf[4096];
	size_t len = (size_t)sprintf(buf, "{\"schemaVersion\":2,\"manifests\":[");

	for (int i = 0; i < n; i++) {
		len += (size_t)sprintf(buf + len,
		                       "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu",
		                       i ? "," : "", mt, im[i].manifest_d, im[i].manifest_len);
		if (tags[i])
			len += (size_t)sprintf(
			    buf + len, ",\"annotations\":{\"" REF_NAME "\":\"%s\"}", tags[i]);
		buf[len++] = '}';
	}
	len += (size_t)sprintf(buf + len, "]}");
	return rig_write(dir, "index.json", buf, len);
}

/* open_ref: a source for the reference s. */
static int open_ref(const char *s, struct oci_source **src, char *err)
{
	struct oci_ref r;
	int rc = oci_ref_parse(s, &r, err, OCI_ERR_MAX);

	if (rc)
		return rc;
	return r.kind == OCI_REF_LAYOUT ? oci_layout_open(&r, src, err, OCI_ERR_MAX)
	                                : oci_archive_open(&r, src, err, OCI_ERR_MAX);
}

/*
 * check_image: src's first manifest is an image manifest whose config and
 * layers all fetch whole and match their digests; want_layers of them.
 */
static void check_image(int *failed, struct oci_source *src, size_t want_layers)
{
	char err[OCI_ERR_MAX] = "", mt[128] = "x";
	struct oci_manifest m;
	size_t len = 0;
	char *buf = NULL;
	int rc;

	CHECK_EQ(src->ops->manifest(src, src->reference, &buf, &len, mt, err, sizeof(err)), 0);
	CHECK(buf != NULL && len <= OCI_MAX_MANIFEST);
	CHECK_EQ(oci_doc_kind(buf, len, mt), OCI_MEDIA_MANIFEST);
	rc = oci_manifest_parse(buf, len, &m, err, sizeof(err));
	if (rc)
		fprintf(stderr, "manifest: %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(m.nr_layers, want_layers);
	rc = rig_fetch(src, &m.config, err, sizeof(err));
	if (rc)
		fprintf(stderr, "config: %d %s\n", rc, err);
	CHECK_EQ(rc, 0);
	for (size_t i = 0; i < m.nr_layers; i++) {
		rc = rig_fetch(src, &m.layers[i], err, sizeof(err));
		if (rc)
			fprintf(stderr, "layer %zu: %d %s\n", i, rc, err);
		CHECK_EQ(rc, 0);
	}
	oci_manifest_free(&m);
	free(buf);
}

/* A layout folder under /tmp, made by the test that uses it. */
static char *layout_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/kvmbox-oci-XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	if (rig_write(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30))
		return NULL;
	return dir;
}

TEST(layout_tag)
{
	static const char *const tags[] = { "v1", "v2" };
	char dir[64], ref[128], err[OCI_ERR_MAX] = "", mt[128], *buf;
	struct oci_source *src = NULL;
	struct img im[2];
	size_t len;

	CHECK(layout_dir(dir, sizeof(dir)) != NULL);
	CHECK_EQ(make_img(dir, "a.txt", &im[0]), 0);
	CHECK_EQ(make_img(dir, "b.txt", &im[1]), 0);
	CHECK_EQ(index_json(dir, im, tags, 2, OCI_MAN), 0);

	snprintf(ref, sizeof(ref), "oci:%s:v2", dir);
	CHECK_EQ(open_ref(ref, &src, err), 0);
	CHECK(src && !strcmp(src->reference, "v2"));
	if (src) {
		check_image(failed, src, 1);
		/* By tag: the v2 manifest, its type from index.json. */
		CHECK_EQ(src->ops->manifest(src, "v2", &buf, &len, mt, err, sizeof(err)), 0);
		CHECK(len == im[1].manifest_len && !memcmp(buf, im[1].manifest, len));
		CHECK(!strcmp(mt, OCI_MAN));
		free(buf);
		/* By digest, and a digest not there, and a tag not there. */
		CHECK_EQ(
		    src->ops->manifest(src, im[0].manifest_d, &buf, &len, mt, err, sizeof(err)), 0);
		CHECK(len == im[0].manifest_len && !memcmp(buf, im[0].manifest, len));
		free(buf);
		CHECK_ERR(src->ops->manifest(src,
		                             "sha256:"
		                             "0000000000000000000000000000000000000000"
		                             "000000000000000000000000",
		                             &buf, &len, mt, err, sizeof(err)),
		          -ENOENT);
		CHECK_ERR(src->ops->manifest(src, "v3", &buf, &len, mt, err, sizeof(err)), -ENOENT);
		CHECK(strstr(err, "no image tagged \"v3\"") != NULL);
		CHECK(buf == NULL);
		src->ops->close(src);
	}
	/* No tag, two images: the user must choose, and is told the tags. */
	snprintf(ref, sizeof(ref), "oci:%s", dir);
	CHECK_ERR(open_ref(ref, &src, err), -EINVAL);
	CHECK(strstr(err, "v1, v2") != NULL);
	/* No tag, one image: that one, by its digest. */
	CHECK_EQ(index_json(dir, im, (const char *const[]){ NULL }, 1, OCI_MAN), 0);
	CHECK_EQ(open_ref(ref, &src, err), 0);
	CHECK(src && !strcmp(src->reference, im[0].manifest_d));
	if (src) {
		check_image(failed, src, 1);
		src->ops->close(src);
	}
	rig_rm(dir);
}

TEST(layout_nested_index)
{
	char dir[64], ref[128], err[OCI_ERR_MAX] = "", mt[128], *buf = NULL, idx[1024];
	struct oci_source *src = NULL;
	struct oci_descriptor d;
	struct img im[2];
	size_t len = 0;

	CHECK(layout_dir(dir, sizeof(dir)) != NULL);
	CHECK_EQ(make_img(dir, "a.txt", &im[0]), 0);
	/* im[1] plays the nested index: its "manifest" is an index of im[0]. */
	im[1].manifest_len = (size_t)snprintf(
	    idx, sizeof(idx),
	    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_INDEX "\",\"manifests\":[{\"mediaType\":"
	    "\"" OCI_MAN "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
	    "\"architecture\":\"amd64\"}}]}",
	    im[0].manifest_d, im[0].manifest_len);
	CHECK_EQ(rig_blob(dir, idx, im[1].manifest_len, im[1].manifest_d), 0);
	CHECK_EQ(index_json(dir, &im[1], (const char *const[]){ "latest" }, 1, OCI_INDEX), 0);

	snprintf(ref, sizeof(ref), "oci:%s:latest", dir);
	CHECK_EQ(open_ref(ref, &src, err), 0);
	if (!src)
		return;
	CHECK_EQ(src->ops->manifest(src, src->reference, &buf, &len, mt, err, sizeof(err)), 0);
	CHECK_EQ(oci_doc_kind(buf, len, mt), OCI_MEDIA_INDEX);
	CHECK_EQ(oci_index_select(buf, len, "linux", "amd64", NULL, &d, err, sizeof(err)), 0);
	free(buf);
	CHECK(!strcmp(d.digest, im[0].manifest_d));
	CHECK_EQ(src->ops->manifest(src, d.digest, &buf, &len, mt, err, sizeof(err)), 0);
	CHECK_EQ(oci_doc_kind(buf, len, mt), OCI_MEDIA_MANIFEST);
	free(buf);
	src->ops->close(src);
	rig_rm(dir);
}

TEST(layout_hostile)
{
	char dir[64], ref[128], path[512], out[128], err[OCI_ERR_MAX] = "", mt[128], *buf;
	struct oci_source *src = NULL;
	struct oci_descriptor d;
	struct img im;
	size_t len;

	CHECK(layout_dir(dir, sizeof(dir)) != NULL);
	CHECK_EQ(make_img(dir, "a.txt", &im), 0);
	CHECK_EQ(index_json(dir, &im, (const char *const[]){ "t" }, 1, OCI_MAN), 0);
	snprintf(ref, sizeof(ref), "oci:%s:t", dir);
	CHECK_EQ(open_ref(ref, &src, err), 0);
	if (!src)
		return;

	/* An empty blob. */
	d = (struct oci_descriptor){ OCI_GZ, "", 0 };
	CHECK_EQ(rig_blob(dir, "", 0, d.digest), 0);
	CHECK_EQ(rig_fetch(src, &d, err, sizeof(err)), 0);
	/* A blob larger than its descriptor says: refused before a byte. */
	d = (struct oci_descriptor){ OCI_GZ, "", im.layer_len - 1 };
	strcpy(d.digest, im.layer_d);
	CHECK_ERR(rig_fetch(src, &d, err, sizeof(err)), -EFBIG);
	CHECK(strstr(err, "more than") != NULL);
	/* A blob that is a symlink to a file outside: refused, not copied. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, im.layer_d + 7);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(symlink("/etc/passwd", path), 0);
	d.size = 1u << 20;
	CHECK_ERR(rig_fetch(src, &d, err, sizeof(err)), -ELOOP);
	CHECK(strstr(err, "symlink") != NULL);
	/* A symlink within the layout is refused as well, and for manifests. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(symlink(im.config_d + 7, path), 0);
	CHECK_ERR(rig_fetch(src, &d, err, sizeof(err)), -ELOOP);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, im.manifest_d + 7);
	snprintf(out, sizeof(out), "%s.moved", dir); /* beside the layout, not in it */
	CHECK_EQ(rename(path, out), 0);
	CHECK_EQ(symlink(out, path), 0);
	CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -ELOOP);
	unlink(out);
	/* A FIFO: refused without blocking on its open. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(mkfifo(path, 0644), 0);
	CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a regular file") != NULL);
	/* Bytes that are not what the tag's digest says. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(rig_write(dir, path + strlen(dir) + 1, "{}", 2), 0);
	CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -EBADMSG);
	/* A blob that is missing; an invalid digest. */
	strcpy(d.digest, im.manifest_d);
	CHECK_EQ(unlink(path), 0);
	CHECK_ERR(rig_fetch(src, &d, err, sizeof(err)), -ENOENT);
	strcpy(d.digest, "sha256:../../../../etc/passwd");
	CHECK_ERR(rig_fetch(src, &d, err, sizeof(err)), -EINVAL);
	src->ops->close(src);

	/* index.json: two entries with one tag; not an index; missing. */
	CHECK_EQ(index_json(dir, (struct img[]){ im, im }, (const char *const[]){ "t", "t" }, 2,
	                    OCI_MAN),
	         0);
	CHECK_EQ(open_ref(ref, &src, err), 0);
	if (src) {
		CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "more than one") != NULL);
		CHECK_EQ(rig_write(dir, "index.json", "[]", 2), 0);
		CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -EINVAL);
		src->ops->close(src);
	}
	snprintf(path, sizeof(path), "oci:%s", dir);
	CHECK_ERR(open_ref(path, &src, err), -EINVAL);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	unlink(path);
	CHECK_EQ(open_ref(ref, &src, err), 0); /* a tag: index.json is read at manifest() */
	if (src)
		src->ops->close(src);
	snprintf(path, sizeof(path), "oci:%s", dir);
	CHECK_ERR(open_ref(path, &src, err), -ENOENT);

	/* oci-layout: a version we do not know; none; not a folder at all. */
	CHECK_EQ(rig_write(dir, "oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}", 30), 0);
	CHECK_ERR(open_ref(ref, &src, err), -ENOTSUP);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	unlink(path);
	CHECK_ERR(open_ref(ref, &src, err), -ENOENT);
	CHECK(strstr(err, "not an OCI image layout") != NULL);
	CHECK_ERR(open_ref("oci:/nonexistent/kvmbox:t", &src, err), -ENOENT);
	CHECK(src == NULL);
	rig_rm(dir);
}

/* ---- docker-archive ----------------------------------------------------- */

/* A docker save archive's parts. */
struct arc {
	char plain[4096], gz[4096], config[256];
	size_t plain_len, gz_len, config_len;
	char plain_d[OCI_DIGEST_MAX], gz_d[OCI_DIGEST_MAX], config_d[OCI_DIGEST_MAX];
};

/*
 * make_archive: at path, a tar of two images: the first with a plain
 * layer (legacy <dir>/layer.tar), a gzip one (newer docker's blobs/sha256)
 * and the plain one again through a symlink (the legacy format's repeat),
 * the second with the plain layer alone; manifest.json last, as docker
 * writes it. gz: the whole archive gzip-compressed. Layers as given, or
 * manifest_json instead of the usual one.
 */
static int make_archive(const char *path, struct arc *a, bool gz, const char *manifest_json)
{
	struct rig_ent e1 = { "etc/hostname", "box\n", 4, NULL }, e2 = { "bin/x", "x", 1, NULL };
	char mj[1024], gzname[128], cfgname[128], *tar;
	size_t n;
	int rc;

	a->plain_len = rig_tar(&e1, 1, false, a->plain, sizeof(a->plain));
	a->gz_len = rig_tar(&e2, 1, true, a->gz, sizeof(a->gz));
	a->config_len = (size_t)snprintf(a->config, sizeof(a->config),
	                                 "{\"os\":\"linux\",\"architecture\":\"amd64\"}");
	if (!a->plain_len || !a->gz_len || oci_sha256_buf(a->plain, a->plain_len, a->plain_d) ||
	    oci_sha256_buf(a->gz, a->gz_len, a->gz_d) ||
	    oci_sha256_buf(a->config, a->config_len, a->config_d))
		return -1;
	snprintf(gzname, sizeof(gzname), "blobs/sha256/%s", a->gz_d + 7);
	snprintf(cfgname, sizeof(cfgname), "./%s.json", a->config_d + 7);
	snprintf(mj, sizeof(mj),
	         "[{\"Config\":\"%s\",\"RepoTags\":[\"x/y:t\"],\"Layers\":[\"abc/layer.tar\","
	         "\"%s\",\"def/layer.tar\"]},{\"Config\":\"%s\",\"RepoTags\":[\"other:1\","
	         "\"quay.io/q/r:2\"],\"Layers\":[\"abc/layer.tar\"]}]",
	         cfgname + 2, gzname, cfgname + 2);
	if (!manifest_json)
		manifest_json = mj;
	{
		const struct rig_ent ents[] = {
			{ "abc/layer.tar", a->plain, a->plain_len, NULL },
			{ "abc/json", "{}", 2, NULL },
			{ "def/layer.tar", NULL, 0, "../abc/layer.tar" },
			{ gzname, a->gz, a->gz_len, NULL },
			{ cfgname, a->config, a->config_len, NULL },
			{ "repositories", "{}", 2, NULL },
			{ "manifest.json", manifest_json, strlen(manifest_json), NULL },
		};

		tar = malloc(1u << 16);
		n = tar ? rig_tar(ents, 7, gz, tar, 1u << 16) : 0;
	}
	rc = n ? rig_write("/", path + 1, tar, n) : -1;
	free(tar);
	return rc;
}

/* archive_ref: "docker-archive:<path>[:name]". */
static const char *archive_ref(char *buf, size_t cap, const char *path, const char *name)
{
	snprintf(buf, cap, "docker-archive:%s%s%s", path, name ? ":" : "", name ? name : "");
	return buf;
}

TEST(archive_images)
{
	char dir[64], path[128], ref[256], err[OCI_ERR_MAX] = "", mt[128], *buf = NULL;
	char first[sizeof(((struct oci_source *)0)->reference)];
	struct oci_source *src = NULL;
	struct oci_manifest m;
	struct arc a;
	size_t len;

	CHECK(layout_dir(dir, sizeof(dir)) != NULL);
	snprintf(path, sizeof(path), "%s/img.tar", dir);
	CHECK_EQ(make_archive(path, &a, false, NULL), 0);

	/* No name: the first image, its three layers (one twice). */
	CHECK_EQ(open_ref(archive_ref(ref, sizeof(ref), path, NULL), &src, err), 0);
	if (!src)
		return;
	check_image(failed, src, 3);
	strcpy(first, src->reference);
	CHECK(oci_digest_valid(first));
	CHECK_EQ(src->ops->manifest(src, first, &buf, &len, mt, err, sizeof(err)), 0);
	CHECK(!strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json"));
	CHECK_EQ(oci_manifest_parse(buf, len, &m, err, sizeof(err)), 0);
	free(buf);
	CHECK(!strcmp(m.config.digest, a.config_d) && m.config.size == a.config_len);
	CHECK(m.nr_layers == 3 && !strcmp(m.layers[0].digest, a.plain_d));
	CHECK(m.nr_layers == 3 && !strcmp(m.layers[1].digest, a.gz_d));
	CHECK(m.nr_layers == 3 && !strcmp(m.layers[2].digest, a.plain_d));
	CHECK(m.nr_layers == 3 && oci_media_kind(m.layers[0].media_type) == OCI_MEDIA_LAYER_TAR);
	CHECK(m.nr_layers == 3 && oci_media_kind(m.layers[1].media_type) == OCI_MEDIA_LAYER_GZIP);
	CHECK(m.nr_layers == 3 && m.layers[1].size == a.gz_len);
	/* A descriptor smaller than the member; a digest not there; a manifest not there. */
	if (m.nr_layers == 3) {
		m.layers[1].size--;
		CHECK_ERR(rig_fetch(src, &m.layers[1], err, sizeof(err)), -EFBIG);
		strcpy(m.layers[1].digest, "sha256:" HEX_ZERO);
		CHECK_ERR(rig_fetch(src, &m.layers[1], err, sizeof(err)), -ENOENT);
	}
	oci_manifest_free(&m);
	CHECK_ERR(src->ops->manifest(src, "t", &buf, &len, mt, err, sizeof(err)), -ENOENT);
	src->ops->close(src);

	/* The same archive, the same manifest; by RepoTags, the second image. */
	CHECK_EQ(open_ref(archive_ref(ref, sizeof(ref), path, "x/y:t"), &src, err), 0);
	CHECK(src && !strcmp(src->reference, first));
	if (src)
		src->ops->close(src);
	CHECK_EQ(open_ref(archive_ref(ref, sizeof(ref), path, "quay.io/q/r:2"), &src, err), 0);
	CHECK(src && strcmp(src->reference, first));
	if (src) {
		check_image(failed, src, 1);
		src->ops->close(src);
	}
	CHECK_ERR(open_ref(archive_ref(ref, sizeof(ref), path, "nope:1"), &src, err), -ENOENT);
	CHECK(strstr(err, "x/y:t, other:1, quay.io/q/r:2") != NULL);

	/* The whole archive gzip-compressed reads the same. */
	CHECK_EQ(make_archive(path, &a, true, NULL), 0);
	CHECK_EQ(open_ref(archive_ref(ref, sizeof(ref), path, "other:1"), &src, err), 0);
	if (src) {
		check_image(failed, src, 1);
		src->ops->close(src);
	}
	rig_rm(dir);
}

/* archive_rc: open's rc for an archive with manifest_json (NULL: the usual one). */
static int archive_rc(const char *path, const char *manifest_json, char *err)
{
	struct oci_source *src = NULL;
	char ref[256];
	struct arc a;
	int rc;

	if (make_archive(path, &a, false, manifest_json))
		return 1;
	rc = open_ref(archive_ref(ref, sizeof(ref), path, NULL), &src, err);
	if (src)
		src->ops->close(src);
	return rc;
}

TEST(archive_hostile)
{
	char dir[64], path[128], err[OCI_ERR_MAX] = "", tar[8192];
	const struct rig_ent oci[] = { { "oci-layout", "{}", 2, NULL },
		                       { "index.json", "{}", 2, NULL } };
	struct oci_source *src = NULL;
	size_t n;

	CHECK(layout_dir(dir, sizeof(dir)) != NULL);
	snprintf(path, sizeof(path), "%s/img.tar", dir);
	CHECK_ERR(archive_rc(path, "{}", err), -EINVAL);
	CHECK_ERR(archive_rc(path, "[]", err), -EINVAL);
	CHECK_ERR(archive_rc(path, "[{\"Config\":7,\"Layers\":[]}]", err), -EINVAL);
	CHECK_ERR(archive_rc(path, "[{\"Config\":\"repositories\",\"Layers\":{}}]", err), -EINVAL);
	CHECK_ERR(archive_rc(path, "[{\"Config\":\"repositories\",\"Layers\":[3]}]", err), -EINVAL);
	CHECK_ERR(
	    archive_rc(path, "[{\"Config\":\"repositories\",\"Layers\":[\"../../etc/x\"]}]", err),
	    -EINVAL);
	CHECK_ERR(
	    archive_rc(path, "[{\"Config\":\"repositories\",\"Layers\":[\"abc/none\"]}]", err),
	    -ENOENT);
	CHECK(strstr(err, "abc/none, not in the tar") != NULL);
	/* A config that is a symlink's target is fine; an empty image is too. */
	CHECK_EQ(archive_rc(path, "[{\"Config\":\"abc/json\",\"Layers\":[]}]", err), 0);
	CHECK_ERR(archive_rc(path, "[{\"Config\":\"repositories\",\"Layers\":[\"x\"]}]", err),
	          -ENOENT);

	/* An OCI layout in a tar; not a tar at all; a FIFO; nothing. */
	n = rig_tar(oci, 2, false, tar, sizeof(tar));
	CHECK_EQ(rig_write("/", path + 1, tar, n), 0);
	CHECK_ERR(open_ref(archive_ref(tar, sizeof(tar), path, NULL), &src, err), -ENOTSUP);
	CHECK(strstr(err, "OCI image layout") != NULL);
	memset(tar, 'x', 4096);
	CHECK_EQ(rig_write("/", path + 1, tar, 4096), 0);
	CHECK_ERR(open_ref(archive_ref(tar, sizeof(tar), path, NULL), &src, err), -EINVAL);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(mkfifo(path, 0644), 0);
	CHECK_ERR(open_ref(archive_ref(tar, sizeof(tar), path, NULL), &src, err), -EINVAL);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK_EQ(unlink(path), 0);
	CHECK_ERR(open_ref(archive_ref(tar, sizeof(tar), path, NULL), &src, err), -ENOENT);
	CHECK(src == NULL);
	rig_rm(dir);
}

CHECK_MAIN(CASE(layout_tag), CASE(layout_nested_index), CASE(layout_hostile), CASE(archive_images),
           CASE(archive_hostile))

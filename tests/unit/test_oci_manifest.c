// SPDX-License-Identifier: MIT
/* Unit tests of digests and the image documents (oci/digest.c, oci/manifest.c). */
#define _GNU_SOURCE /* memfd_create */
#include "check.h"
#include "oci/oci_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DA    "sha256:" HEX_A
#define DB    "sha256:" HEX_B
#define DC    "sha256:" HEX_C

#define OCI_INDEX  "application/vnd.oci.image.index.v1+json"
#define OCI_MAN    "application/vnd.oci.image.manifest.v1+json"
#define OCI_CFG    "application/vnd.oci.image.config.v1+json"
#define OCI_GZ     "application/vnd.oci.image.layer.v1.tar+gzip"
#define DOCKER_MAN "application/vnd.docker.distribution.manifest.v2+json"

TEST(media_kinds)
{
	CHECK_EQ(oci_media_kind(OCI_INDEX), OCI_MEDIA_INDEX);
	CHECK_EQ(oci_media_kind("application/vnd.docker.distribution.manifest.list.v2+json"),
	         OCI_MEDIA_INDEX);
	CHECK_EQ(oci_media_kind(OCI_MAN), OCI_MEDIA_MANIFEST);
	CHECK_EQ(oci_media_kind(DOCKER_MAN "; charset=utf-8"), OCI_MEDIA_MANIFEST);
	CHECK_EQ(oci_media_kind(OCI_CFG), OCI_MEDIA_CONFIG);
	CHECK_EQ(oci_media_kind("application/vnd.docker.container.image.v1+json"),
	         OCI_MEDIA_CONFIG);
	CHECK_EQ(oci_media_kind("application/vnd.oci.image.layer.v1.tar"), OCI_MEDIA_LAYER_TAR);
	CHECK_EQ(oci_media_kind(OCI_GZ), OCI_MEDIA_LAYER_GZIP);
	CHECK_EQ(oci_media_kind("application/vnd.oci.image.layer.v1.tar+zstd"),
	         OCI_MEDIA_LAYER_ZSTD);
	CHECK_EQ(oci_media_kind("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
	         OCI_MEDIA_LAYER_FOREIGN);
	CHECK_EQ(oci_media_kind("application/vnd.docker.image.rootfs.diff.tar.gzip"),
	         OCI_MEDIA_LAYER_GZIP);
	CHECK_EQ(oci_media_kind("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
	         OCI_MEDIA_LAYER_FOREIGN);
	CHECK_EQ(oci_media_kind("application/vnd.oci.image.layer.v1.tar+gzipx"), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_media_kind("application/json"), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_media_kind(""), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_media_kind(NULL), OCI_MEDIA_UNKNOWN);
	/* One header value, comma-separated (RFC 9110 12.5.1). */
	CHECK(!strcmp(oci_manifest_accept, OCI_INDEX
	              ", " OCI_MAN
	              ", application/vnd.docker.distribution.manifest.list.v2+json, " DOCKER_MAN));
}

TEST(digests)
{
	char out[OCI_DIGEST_MAX];
	struct oci_sha256 *h;
	uint64_t size = 0;
	char *big;
	int fd;

	CHECK(oci_digest_valid(DA));
	CHECK(!oci_digest_valid(NULL));
	CHECK(!oci_digest_valid("sha256:" HEX_A "a"));
	strcpy(out, DA);
	out[7 + 63] = '\0';
	CHECK(!oci_digest_valid(out)); /* 63 digits */
	CHECK(!oci_digest_valid(
	    "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(!oci_digest_valid("sha512:" HEX_A));

	CHECK_EQ(oci_sha256_buf("", 0, out), 0);
	CHECK(!strcmp(out,
	              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	CHECK_EQ(oci_sha256_buf("abc", 3, out), 0);
	CHECK(!strcmp(out,
	              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	/* A context is reusable after final. */
	CHECK_EQ(oci_sha256_new(&h), 0);
	CHECK_EQ(oci_sha256_update(h, "a", 1), 0);
	CHECK_EQ(oci_sha256_update(h, "bc", 2), 0);
	CHECK_EQ(oci_sha256_final(h, out), 0);
	CHECK(!strcmp(out,
	              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	CHECK_EQ(oci_sha256_final(h, out), 0);
	CHECK(!strcmp(out,
	              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	oci_sha256_free(h);
	oci_sha256_free(NULL);

	/* A file over several 1 MiB chunks, from offset 0 whatever the fd's offset. */
	big = malloc(3u << 20 | 5);
	CHECK(big != NULL);
	for (size_t i = 0; big && i < (3u << 20 | 5); i++)
		big[i] = (char)(i * 7 + (i >> 12));
	fd = memfd_create("t", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, big, 3u << 20 | 5), 3u << 20 | 5);
	CHECK_EQ(oci_sha256_fd(fd, out, &size), 0);
	CHECK_EQ(size, 3u << 20 | 5);
	{
		char want[OCI_DIGEST_MAX];

		CHECK_EQ(oci_sha256_buf(big, 3u << 20 | 5, want), 0);
		CHECK(!strcmp(out, want));
	}
	CHECK_ERR(oci_sha256_fd(-1, out, NULL), -EBADF);
	close(fd);
	free(big);
}

static enum oci_media kind(const char *json, const char *header)
{
	return oci_doc_kind(json, strlen(json), header);
}

TEST(doc_kind)
{
	const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
	const char *man = "{\"schemaVersion\":2,\"layers\":[]}";
	const char *s1 = "{\"schemaVersion\":1,\"fsLayers\":[]}";

	CHECK_EQ(oci_doc_kind(idx, strlen(idx), NULL), OCI_MEDIA_INDEX);
	CHECK_EQ(oci_doc_kind(man, strlen(man), NULL), OCI_MEDIA_MANIFEST);
	CHECK_EQ(oci_doc_kind(s1, strlen(s1), NULL), OCI_MEDIA_MANIFEST);
	/* The header beats the guess; the document's own field beats both. */
	CHECK_EQ(oci_doc_kind(man, strlen(man), OCI_INDEX), OCI_MEDIA_INDEX);
	CHECK_EQ(oci_doc_kind("{}", 2, OCI_MAN "; charset=utf-8"), OCI_MEDIA_MANIFEST);
	CHECK_EQ(kind("{\"mediaType\":\"" OCI_MAN "\",\"manifests\":[]}", OCI_INDEX),
	         OCI_MEDIA_MANIFEST);
	CHECK_EQ(kind("{\"mediaType\":\"" OCI_CFG "\"}", NULL), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(kind("{\"mediaType\":7,\"layers\":[]}", NULL), OCI_MEDIA_MANIFEST);
	CHECK_EQ(oci_doc_kind("{}", 2, NULL), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_doc_kind("[]", 2, OCI_MAN), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_doc_kind("{", 1, OCI_MAN), OCI_MEDIA_UNKNOWN);
	CHECK_EQ(oci_doc_kind(NULL, 0, NULL), OCI_MEDIA_UNKNOWN);
	/* len bounds the read: a prefix of a longer buffer. */
	CHECK_EQ(oci_doc_kind("{}garbage", 2, NULL), OCI_MEDIA_UNKNOWN);
}

/* An index entry. */
#define ENTRY(dg, os, arch, var)                                                                   \
	"{\"mediaType\":\"" OCI_MAN "\",\"digest\":\"" dg "\",\"size\":100,"                       \
	"\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" var "}}"

/* One entry a line: clang-format would pack them unreadably. */
// clang-format off
static const char multi[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_INDEX "\",\"manifests\":["
	ENTRY(DA, "linux", "amd64", ",\"variant\":\"v3\"") ","
	ENTRY(DB, "linux", "amd64", "") ","
	ENTRY(DC, "linux", "arm64", ",\"variant\":\"v8\"") ","
	ENTRY(DA, "linux", "arm", ",\"variant\":\"v6\"") ","
	ENTRY(DB, "linux", "arm", ",\"variant\":\"v7\"") ","
	ENTRY(DC, "unknown", "unknown", "") "]}";
// clang-format on

TEST(index_select)
{
	struct oci_descriptor d;
	char err[OCI_ERR_MAX] = "";

	/* amd64: the entry without a variant, not the v3 one listed first. */
	CHECK_EQ(
	    oci_index_select(multi, strlen(multi), "linux", "amd64", NULL, &d, err, sizeof(err)),
	    0);
	CHECK(!strcmp(d.digest, DB));
	CHECK(!strcmp(d.media_type, OCI_MAN));
	CHECK_EQ(d.size, 100);
	CHECK_EQ(
	    oci_index_select(multi, strlen(multi), "linux", "amd64", "v3", &d, err, sizeof(err)),
	    0);
	CHECK(!strcmp(d.digest, DA));
	CHECK_EQ(
	    oci_index_select(multi, strlen(multi), "linux", "amd64", "v1", &d, err, sizeof(err)),
	    0);
	CHECK(!strcmp(d.digest, DB));
	CHECK_EQ(
	    oci_index_select(multi, strlen(multi), "linux", "arm64", NULL, &d, err, sizeof(err)),
	    0);
	CHECK(!strcmp(d.digest, DC));
	CHECK_EQ(oci_index_select(multi, strlen(multi), "linux", "arm", NULL, &d, err, sizeof(err)),
	         0);
	CHECK(!strcmp(d.digest, DB)); /* v7, arm's default */
	CHECK_EQ(oci_index_select(multi, strlen(multi), "linux", "arm", "v6", &d, err, sizeof(err)),
	         0);
	CHECK(!strcmp(d.digest, DA));

	/* No match: the platforms there are, without the attestation. */
	CHECK_ERR(
	    oci_index_select(multi, strlen(multi), "linux", "s390x", NULL, &d, err, sizeof(err)),
	    -ENOENT);
	CHECK(strstr(err, "linux/s390x") && strstr(err, "linux/amd64/v3"));
	CHECK(strstr(err, "linux/arm64/v8") && !strstr(err, "unknown"));
	CHECK_ERR(
	    oci_index_select(multi, strlen(multi), "linux", "arm64", "v9", &d, err, sizeof(err)),
	    -ENOENT);
	CHECK_ERR(
	    oci_index_select(multi, strlen(multi), "windows", "amd64", NULL, &d, err, sizeof(err)),
	    -ENOENT);
	CHECK_ERR(oci_index_select(multi, strlen(multi), NULL, "amd64", NULL, &d, err, sizeof(err)),
	          -EINVAL);
}

/* sel: oci_index_select of json for linux/amd64; its rc, err in err. */
static int sel(const char *json, char *err)
{
	struct oci_descriptor d;

	return oci_index_select(json, strlen(json), "linux", "amd64", NULL, &d, err, OCI_ERR_MAX);
}

TEST(index_hostile)
{
	char err[OCI_ERR_MAX], *big;
	size_t n;

	/* A Docker manifest list, an attestation by annotation only. */
	CHECK_EQ(sel("{\"schemaVersion\":2,\"mediaType\":"
	             "\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":"
	             "[{\"mediaType\":\"" DOCKER_MAN "\",\"digest\":\"" DA "\",\"size\":9,"
	             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},\"annotations\":"
	             "{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
	             "{\"mediaType\":\"" DOCKER_MAN "\",\"digest\":\"" DB "\",\"size\":9,"
	             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
	             err),
	         0);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":{}}", err), -EINVAL);
	CHECK_ERR(sel("{\"manifests\":[]}", err), -EINVAL);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[]}", err), -ENOENT);
	CHECK(strstr(err, "no platforms") != NULL);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[1,\"x\",null,{\"platform\":7},"
	              "{\"platform\":{\"os\":5,\"architecture\":[]}}]}",
	              err),
	          -ENOENT);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[" ENTRY("sha256:abc", "linux", "amd64",
	                                                           "") "]}",
	              err),
	          -EINVAL);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_CFG "\","
	              "\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"linux\","
	              "\"architecture\":\"amd64\"}}]}",
	              err),
	          -ENOTSUP);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MAN "\","
	              "\"digest\":\"" DA "\",\"size\":-1,\"platform\":{\"os\":\"linux\","
	              "\"architecture\":\"amd64\"}}]}",
	              err),
	          -EINVAL);
	CHECK_ERR(sel("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MAN "\","
	              "\"digest\":\"" DA "\",\"size\":99999999,\"platform\":{\"os\":\"linux\","
	              "\"architecture\":\"amd64\"}}]}",
	              err),
	          -EFBIG);
	CHECK_ERR(sel("[]", err), -EINVAL);
	CHECK_ERR(sel("{\"a\":1,\"a\":2}", err), -EINVAL);

	/* More entries than we read. */
	big = malloc(5000 * 3 + 64);
	CHECK(big != NULL);
	n = (size_t)sprintf(big, "{\"schemaVersion\":2,\"manifests\":[");
	for (int i = 0; big && i < 5000; i++)
		n += (size_t)sprintf(big + n, "%s{}", i ? "," : "");
	strcpy(big + n, "]}");
	CHECK_ERR(sel(big, err), -E2BIG);
	free(big);
}

/* A manifest around a config descriptor and a layers array (JSON text). */
#define MANIFEST(cfg, layers)                                                                      \
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MAN "\",\"config\":" cfg ",\"layers\":" layers \
	"}"
#define CFG   "{\"mediaType\":\"" OCI_CFG "\",\"digest\":\"" DA "\",\"size\":1234}"
#define LAYER "{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"" DB "\",\"size\":5678}"

/* parse: oci_manifest_parse of json; its rc; m freed unless keep. */
static int parse(const char *json, struct oci_manifest *m, char *err)
{
	return oci_manifest_parse(json, strlen(json), m, err, OCI_ERR_MAX);
}

TEST(manifest_parse)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_manifest m;

	CHECK_EQ(
	    parse(MANIFEST(CFG, "[" LAYER ",{\"mediaType\":"
	                        "\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" DC
	                        "\",\"size\":0,\"annotations\":{\"a\":\"b\"}}]"),
	          &m, err),
	    0);
	CHECK(!strcmp(m.config.digest, DA));
	CHECK_EQ(m.config.size, 1234);
	CHECK_EQ(m.nr_layers, 2);
	CHECK(!strcmp(m.layers[0].digest, DB));
	CHECK_EQ(m.layers[0].size, 5678);
	CHECK(!strcmp(m.layers[1].digest, DC));
	CHECK_EQ(oci_media_kind(m.layers[1].media_type), OCI_MEDIA_LAYER_ZSTD);
	oci_manifest_free(&m);
	oci_manifest_free(&m);
	CHECK(m.layers == NULL);

	/* Docker's, without mediaType at the top (it is optional there). */
	CHECK_EQ(parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":"
	               "\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" DA
	               "\",\"size\":7},\"layers\":[{\"mediaType\":"
	               "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" DB
	               "\",\"size\":9007199254740993}]}",
	               &m, err),
	         0);
	CHECK_EQ(m.nr_layers, 1);
	CHECK_EQ(m.layers[0].size, 9007199254740993ull);
	oci_manifest_free(&m);
	CHECK_EQ(parse(MANIFEST(CFG, "[]"), &m, err), 0);
	CHECK_EQ(m.nr_layers, 0);
	oci_manifest_free(&m);
}

TEST(manifest_hostile)
{
	char err[OCI_ERR_MAX] = "", *big;
	struct oci_manifest m;
	size_t n;

	CHECK_ERR(parse("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", &m, err), -ENOTSUP);
	CHECK(strstr(err, "schema 1") != NULL);
	CHECK_ERR(parse("{\"config\":" CFG ",\"layers\":[]}", &m, err), -EINVAL);
	CHECK_ERR(parse("{\"schemaVersion\":\"2\",\"config\":" CFG ",\"layers\":[]}", &m, err),
	          -EINVAL);
	CHECK_ERR(parse("{\"schemaVersion\":2,\"mediaType\":\"" OCI_INDEX "\",\"manifests\":[]}",
	                &m, err),
	          -EINVAL);
	CHECK_ERR(parse("{\"schemaVersion\":2,\"mediaType\":[],\"config\":" CFG ",\"layers\":[]}",
	                &m, err),
	          -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "{}"), &m, err), -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "\"x\""), &m, err), -EINVAL);
	CHECK_ERR(parse(MANIFEST("[]", "[]"), &m, err), -EINVAL);
	CHECK_ERR(parse(MANIFEST("null", "[]"), &m, err), -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "[" LAYER ",7]"), &m, err), -EINVAL);
	CHECK(strstr(err, "layer 2") != NULL);
	/* Sizes: a string, negative, a real, past int64 (a JSON error). */
	CHECK_ERR(
	    parse(MANIFEST("{\"mediaType\":\"" OCI_CFG "\",\"digest\":\"" DA "\",\"size\":\"1\"}",
	                   "[]"),
	          &m, err),
	    -EINVAL);
	CHECK_ERR(
	    parse(
	        MANIFEST("{\"mediaType\":\"" OCI_CFG "\",\"digest\":\"" DA "\",\"size\":-1}", "[]"),
	        &m, err),
	    -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"" DB
	                              "\",\"size\":1e30}]"),
	                &m, err),
	          -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"" DB
	                              "\",\"size\":99999999999999999999}]"),
	                &m, err),
	          -EINVAL);
	CHECK_ERR(
	    parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"" DB "\"}]"), &m, err),
	    -EINVAL);
	/* Digests: malformed, upper case, another algorithm, missing. */
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"sha256:12\","
	                              "\"size\":1}]"),
	                &m, err),
	          -EINVAL);
	CHECK_ERR(
	    parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"digest\":\"sha256:"
	                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	                        "\",\"size\":1}]"),
	          &m, err),
	    -EINVAL);
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ
	                              "\",\"digest\":\"sha512:" HEX_A HEX_A "\",\"size\":1}]"),
	                &m, err),
	          -ENOTSUP);
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"" OCI_GZ "\",\"size\":1}]"), &m, err),
	          -EINVAL);
	/* Media types: unknown, foreign, a config that is no image's, too long. */
	CHECK_ERR(parse(MANIFEST(CFG, "[{\"mediaType\":\"text/plain\",\"digest\":\"" DB
	                              "\",\"size\":1}]"),
	                &m, err),
	          -ENOTSUP);
	CHECK_ERR(
	    parse(MANIFEST(CFG, "[{\"mediaType\":"
	                        "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
	                        "\"digest\":\"" DB "\",\"size\":1}]"),
	          &m, err),
	    -ENOTSUP);
	CHECK(strstr(err, "foreign") != NULL);
	CHECK_ERR(parse(MANIFEST("{\"mediaType\":\"application/vnd.example.sbom\",\"digest\":\"" DA
	                         "\",\"size\":1}",
	                         "[]"),
	                &m, err),
	          -ENOTSUP);
	CHECK_ERR(
	    parse(MANIFEST(CFG, "[{\"mediaType\":7,\"digest\":\"" DB "\",\"size\":1}]"), &m, err),
	    -EINVAL);
	CHECK_ERR(parse("{\"schemaVersion\":2,\"schemaVersion\":2}", &m, err), -EINVAL);
	CHECK_ERR(parse("[1]", &m, err), -EINVAL);
	CHECK_ERR(parse("", &m, err), -EINVAL);
	CHECK_ERR(oci_manifest_parse("{}", OCI_MAX_MANIFEST + 1u, &m, err, sizeof(err)), -EFBIG);
	CHECK_ERR(oci_manifest_parse(NULL, 0, &m, err, sizeof(err)), -EINVAL);
	CHECK(m.layers == NULL && m.nr_layers == 0);

	/* OCI_MAX_LAYERS layers pass; one more does not. */
	big = malloc(300 * sizeof(LAYER) + 1024);
	CHECK(big != NULL);
	for (int count = OCI_MAX_LAYERS; big && count <= OCI_MAX_LAYERS + 1; count++) {
		n = (size_t)sprintf(big, "%s", MANIFEST(CFG, "["));
		n -= 1; /* the "}" the macro closes with */
		for (int i = 0; i < count; i++)
			n += (size_t)sprintf(big + n, "%s" LAYER, i ? "," : "");
		strcpy(big + n, "]}");
		CHECK_ERR(parse(big, &m, err), count > OCI_MAX_LAYERS ? -E2BIG : 0);
		CHECK_EQ(m.nr_layers, count > OCI_MAX_LAYERS ? 0 : OCI_MAX_LAYERS);
		oci_manifest_free(&m);
	}
	free(big);
}

static int cparse(const char *json, struct oci_config *c, char *err)
{
	return oci_config_parse(json, strlen(json), c, err, OCI_ERR_MAX);
}

TEST(config_parse)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_config c;

	CHECK_EQ(
	    cparse("{\"created\":\"2024-01-02T03:04:05.123456789Z\",\"architecture\":"
	           "\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],"
	           "\"Cmd\":[\"echo hi\"],\"Env\":[\"PATH=/bin\",\"A=b\"],\"WorkingDir\":"
	           "\"/w\",\"User\":\"1000:1000\",\"Labels\":{\"x\":\"y\"}},\"rootfs\":{"
	           "\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\"]},\"history\":[]}",
	           &c, err),
	    0);
	CHECK(c.entrypoint && !strcmp(c.entrypoint[0], "/bin/sh") &&
	      !strcmp(c.entrypoint[1], "-c"));
	CHECK(c.entrypoint && c.entrypoint[2] == NULL);
	CHECK(c.cmd && !strcmp(c.cmd[0], "echo hi") && !c.cmd[1]);
	CHECK(c.env && !strcmp(c.env[1], "A=b") && !c.env[2]);
	CHECK(c.workdir && !strcmp(c.workdir, "/w"));
	CHECK(c.user && !strcmp(c.user, "1000:1000"));
	CHECK(c.os && !strcmp(c.os, "linux") && c.arch && !strcmp(c.arch, "amd64"));
	CHECK_EQ(c.created, 1704164645);
	CHECK_EQ(c.nr_diff_ids, 2);
	CHECK(c.diff_ids && !strcmp(c.diff_ids[1], DB));
	oci_config_free(&c);
	oci_config_free(&c);

	/* Everything optional absent or null. */
	CHECK_EQ(cparse("{\"config\":null,\"rootfs\":{\"diff_ids\":[]}}", &c, err), 0);
	CHECK(!c.entrypoint && !c.cmd && !c.env && !c.workdir && !c.user && !c.os);
	CHECK_EQ(c.created, 0);
	CHECK_EQ(c.nr_diff_ids, 0);
	oci_config_free(&c);
	CHECK_EQ(cparse("{\"config\":{\"Cmd\":null,\"Env\":[]}}", &c, err), 0);
	CHECK(!c.cmd && c.env && !c.env[0]);
	oci_config_free(&c);
	/* moby's strslice: one string for Entrypoint or Cmd is a vector of one. */
	CHECK_EQ(cparse("{\"config\":{\"Entrypoint\":\"/init\",\"Cmd\":\"a b\"}}", &c, err), 0);
	CHECK(c.entrypoint && !strcmp(c.entrypoint[0], "/init") && !c.entrypoint[1]);
	CHECK(c.cmd && !strcmp(c.cmd[0], "a b") && !c.cmd[1]);
	oci_config_free(&c);
}

/* created: the epoch seconds of a config's "created". */
static int64_t created(const char *when)
{
	char json[256];
	struct oci_config c;
	int64_t t = -1;

	snprintf(json, sizeof(json), "{\"created\":\"%s\"}", when);
	if (cparse(json, &c, NULL) == 0)
		t = c.created;
	oci_config_free(&c);
	return t;
}

TEST(config_created)
{
	CHECK_EQ(created("2024-01-02T03:04:05Z"), 1704164645);
	CHECK_EQ(created("2024-01-02t03:04:05z"), 1704164645);
	CHECK_EQ(created("2024-01-02T04:04:05+01:00"), 1704164645);
	CHECK_EQ(created("2024-01-02T02:34:05-00:30"), 1704164645);
	CHECK_EQ(created("2000-02-29T23:59:59.5Z"), 951868799);
	CHECK_EQ(created("1970-01-01T00:00:01Z"), 1);
	CHECK_EQ(created("0001-01-01T00:00:00Z"), 0); /* Go's zero time */
	CHECK_EQ(created("0000-01-01T00:00:00Z"), 0);
	CHECK_EQ(created("2024-13-02T03:04:05Z"), 0);
	CHECK_EQ(created("2024-01-02T03:04:05"), 0);
	CHECK_EQ(created("2024-01-02T03:04:05.Z"), 0);
	CHECK_EQ(created("2024-01-02T03:04:05+0100"), 0);
	CHECK_EQ(created("yesterday"), 0);
	CHECK_EQ(created(""), 0);
}

TEST(config_hostile)
{
	char err[OCI_ERR_MAX] = "", *big;
	struct oci_config c;
	size_t n;

	CHECK_ERR(cparse("{\"config\":[]}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"Env\":\"PATH=/bin\"}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"Env\":[\"A=b\",7]}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"Env\":[\"A=b\",null]}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"Cmd\":{}}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"WorkingDir\":5}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"config\":{\"User\":[]}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"os\":1}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"rootfs\":[]}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"rootfs\":{\"diff_ids\":{}}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"rootfs\":{\"diff_ids\":[\"" DA "\",\"sha256:x\"]}}", &c, err),
	          -EINVAL);
	CHECK(strstr(err, "diff_ids[1]") != NULL);
	CHECK_ERR(cparse("{\"rootfs\":{\"diff_ids\":[1]}}", &c, err), -EINVAL);
	CHECK_ERR(cparse("[]", &c, err), -EINVAL);
	CHECK_ERR(cparse("{\"created\":1}", &c, err), 0); /* unknown, not an error */
	oci_config_free(&c);
	CHECK(c.env == NULL && c.diff_ids == NULL);

	/* 4097 Env entries; a string over 64 KiB; 257 diff_ids. */
	big = malloc(1u << 20);
	CHECK(big != NULL);
	n = (size_t)sprintf(big, "{\"config\":{\"Env\":[");
	for (int i = 0; big && i < 4097; i++)
		n += (size_t)sprintf(big + n, "%s\"A=%d\"", i ? "," : "", i);
	strcpy(big + n, "]}}");
	CHECK_ERR(cparse(big, &c, err), -E2BIG);
	n = (size_t)sprintf(big, "{\"config\":{\"Cmd\":[\"");
	memset(big + n, 'x', 65537);
	strcpy(big + n + 65537, "\"]}}");
	CHECK_ERR(cparse(big, &c, err), -E2BIG);
	n = (size_t)sprintf(big, "{\"rootfs\":{\"diff_ids\":[");
	for (int i = 0; i < OCI_MAX_LAYERS + 1; i++)
		n += (size_t)sprintf(big + n, "%s\"" DA "\"", i ? "," : "");
	strcpy(big + n, "]}}");
	CHECK_ERR(cparse(big, &c, err), -E2BIG);
	free(big);
	CHECK(c.env == NULL && c.cmd == NULL);
}

CHECK_MAIN(CASE(media_kinds), CASE(digests), CASE(doc_kind), CASE(index_select),
           CASE(index_hostile), CASE(manifest_parse), CASE(manifest_hostile), CASE(config_parse),
           CASE(config_created), CASE(config_hostile))

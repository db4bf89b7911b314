// SPDX-License-Identifier: MIT
/* Unit tests of image references (oci/ref.c). */
#include "check.h"
#include "oci/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ok: s parses; its canonical name is name. */
static void ok(int *failed, const char *s, const char *name)
{
	char err[OCI_ERR_MAX] = "", buf[8192];
	struct oci_ref r;
	int rc = oci_ref_parse(s, &r, err, sizeof(err));

	if (rc)
		fprintf(stderr, "%s: %s\n", s, err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(oci_ref_name(&r, buf, sizeof(buf)), 0);
	if (strcmp(buf, name))
		fprintf(stderr, "%s: name %s, want %s\n", s, buf, name);
	CHECK(!strcmp(buf, name));
}

/* bad: s is refused with rc, and err contains why. */
static void bad(int *failed, const char *s, int want, const char *why)
{
	char err[OCI_ERR_MAX] = "";
	struct oci_ref r;
	int rc = oci_ref_parse(s, &r, err, sizeof(err));

	if (rc != want || !strstr(err, why))
		fprintf(stderr, "\"%.60s\": rc %d, err \"%s\"; want %d, \"%s\"\n", s, rc, err, want,
		        why);
	CHECK_EQ(rc, want);
	CHECK(strstr(err, why) != NULL);
}

TEST(docker_hub)
{
	struct oci_ref r;

	CHECK_EQ(oci_ref_parse("busybox", &r, NULL, 0), 0);
	CHECK_EQ(r.kind, OCI_REF_REGISTRY);
	CHECK(!strcmp(r.registry, "docker.io"));
	CHECK(!strcmp(r.repository, "library/busybox"));
	CHECK(!strcmp(r.tag, "latest"));
	CHECK(!strcmp(r.digest, ""));
	ok(failed, "busybox", "docker.io/library/busybox:latest");
	ok(failed, "user/img", "docker.io/user/img:latest");
	ok(failed, "docker.io/library/x", "docker.io/library/x:latest");
	ok(failed, "docker.io/x:1.0", "docker.io/library/x:1.0");
	ok(failed, "index.docker.io/x", "docker.io/library/x:latest");
	ok(failed, "docker://alpine:3.19", "docker.io/library/alpine:3.19");
	ok(failed, "a/b/c/d", "docker.io/a/b/c/d:latest");
}

TEST(registries)
{
	struct oci_ref r;

	CHECK_EQ(oci_ref_parse("localhost:5000/a/b:tag@sha256:" HEX64, &r, NULL, 0), 0);
	CHECK(!strcmp(r.registry, "localhost:5000"));
	CHECK(!strcmp(r.repository, "a/b"));
	CHECK(!strcmp(r.tag, "tag"));
	CHECK(!strcmp(r.digest, "sha256:" HEX64));
	ok(failed, "localhost:5000/a/b:tag@sha256:" HEX64, "localhost:5000/a/b:tag@sha256:" HEX64);
	ok(failed, "localhost/a", "localhost/a:latest");
	ok(failed, "quay.io/org/img@sha256:" HEX64, "quay.io/org/img@sha256:" HEX64);
	ok(failed, "ghcr.io/a/b-c__d.e---f:v1.2-rc_3", "ghcr.io/a/b-c__d.e---f:v1.2-rc_3");
	ok(failed, "[::1]:5000/x:y", "[::1]:5000/x:y");
	ok(failed, "10.0.0.1:443/x", "10.0.0.1:443/x:latest");
	ok(failed, "Registry.Example.COM/x", "Registry.Example.COM/x:latest");
	ok(failed, "my-host.example/x", "my-host.example/x:latest");
	ok(failed,
	   "x:"
	   "Aa_9.-",
	   "docker.io/library/x:Aa_9.-");
}

TEST(invalid)
{
	char tag[140], name[300];

	bad(failed, "", -EINVAL, "empty");
	bad(failed, NULL, -EINVAL, "no reference");
	bad(failed, "Busybox", -EINVAL, "repository name must be lowercase");
	bad(failed, "docker.io/User/img", -EINVAL, "must be lowercase");
	bad(failed, "busybox:", -EINVAL, "invalid tag");
	bad(failed, "busybox:-x", -EINVAL, "invalid tag \"-x\"");
	bad(failed, "busybox:.x", -EINVAL, "invalid tag");
	bad(failed, "busybox:a+b", -EINVAL, "invalid tag");
	bad(failed, "busybox@sha256:abc", -EINVAL, "digest");
	bad(failed, "busybox@sha256:" HEX64 "0", -EINVAL, "digest");
	bad(failed, "busybox@SHA256:" HEX64, -EINVAL, "digest");
	bad(failed, "busybox@sha512:abcd", -ENOTSUP, "only sha256");
	bad(failed, "busybox@", -EINVAL, "digest");
	bad(failed, "a//b", -EINVAL, "invalid repository name");
	bad(failed, "a/", -EINVAL, "ends with '/'");
	bad(failed, "/a", -EINVAL, "invalid");
	bad(failed, "a..b", -EINVAL, "invalid repository name");
	bad(failed, "a_.b", -EINVAL, "invalid repository name");
	bad(failed, "a___b", -EINVAL, "invalid repository name");
	bad(failed, "a-", -EINVAL, "invalid repository name");
	bad(failed, "-a", -EINVAL, "invalid repository name");
	bad(failed, "a b", -EINVAL, "invalid");
	/* A message is one line whatever was typed. */
	bad(failed, "a\nb\x1b[2J", -EINVAL, "\"a?b?[2J\"");
	bad(failed, ":tag", -EINVAL, "no name");
	bad(failed, "@sha256:" HEX64, -EINVAL, "no name");
	bad(failed, HEX64, -EINVAL, "64-digit hex");
	ok(failed, HEX64 ":t", "docker.io/library/" HEX64 ":t");
	bad(failed, "host:port/x", -EINVAL, "invalid registry");
	bad(failed, "host:123456/x", -EINVAL, "invalid registry");
	bad(failed, "-host.io/x", -EINVAL, "invalid registry");
	bad(failed, "host..io/x", -EINVAL, "invalid registry");
	bad(failed, "[zz]:5/x", -EINVAL, "invalid registry");
	bad(failed, "localhost:5000/", -EINVAL, "no repository name");
	bad(failed, "localhost:5000/:t", -EINVAL, "no repository name");

	memset(tag, 'a', 128);
	tag[128] = '\0';
	snprintf(name, sizeof(name), "x:%s", tag);
	CHECK_EQ(oci_ref_parse(name, &(struct oci_ref){ 0 }, NULL, 0), 0);
	strcat(name, "a");
	bad(failed, name, -EINVAL, "invalid tag");

	memset(name, 'a', 256);
	name[256] = '\0';
	bad(failed, name, -EINVAL, "name");
	memset(name, 'a', 255);
	name[3] = '/';
	name[255] = '\0';
	bad(failed, name, -EINVAL, "longer than 255");
	/* The bound is on the normalized name: docker.io/library/ counts. */
	memset(name, 'a', 238);
	name[238] = '\0';
	bad(failed, name, -EINVAL, "longer than 255");
	name[237] = '\0';
	CHECK_EQ(oci_ref_parse(name, &(struct oci_ref){ 0 }, NULL, 0), 0);
}

TEST(layout)
{
	char cwd[4096], want[8192], err[OCI_ERR_MAX];
	struct oci_ref r;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_EQ(oci_ref_parse("oci:relative:tag", &r, err, sizeof(err)), 0);
	CHECK_EQ(r.kind, OCI_REF_LAYOUT);
	snprintf(want, sizeof(want), "%s/relative", strcmp(cwd, "/") ? cwd : "");
	CHECK(!strcmp(r.path, want));
	CHECK(!strcmp(r.tag, "tag"));
	snprintf(want, sizeof(want), "oci:%s/relative:tag", strcmp(cwd, "/") ? cwd : "");
	ok(failed, "oci:relative:tag", want);

	CHECK_EQ(oci_ref_parse("oci:/abs/dir", &r, NULL, 0), 0);
	CHECK(!strcmp(r.path, "/abs/dir"));
	CHECK(!strcmp(r.tag, ""));
	ok(failed, "oci:/abs/dir", "oci:/abs/dir");
	ok(failed, "oci:/abs/dir/:v1", "oci:/abs/dir:v1");
	ok(failed, "oci://a/./b/../c//", "oci:/a/c");
	ok(failed, "oci:/../..", "oci:/");
	/* After the last ':' comes a path, not a tag: all of it is the folder. */
	ok(failed, "oci:/x:a/b", "oci:/x:a/b");
	ok(failed, "oci:/x:a:b", "oci:/x:a:b");
	bad(failed, "oci:", -EINVAL, "no folder");
	bad(failed, "oci::tag", -EINVAL, "no folder");
}

TEST(archive)
{
	char cwd[4096], want[8192];
	struct oci_ref r;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_EQ(oci_ref_parse("docker-archive:img.tar", &r, NULL, 0), 0);
	CHECK_EQ(r.kind, OCI_REF_ARCHIVE);
	CHECK(!strcmp(r.repository, ""));
	snprintf(want, sizeof(want), "docker-archive:%s/img.tar", strcmp(cwd, "/") ? cwd : "");
	ok(failed, "docker-archive:img.tar", want);

	CHECK_EQ(oci_ref_parse("docker-archive:/t/f.tar:x/y:t", &r, NULL, 0), 0);
	CHECK(!strcmp(r.path, "/t/f.tar"));
	CHECK(!strcmp(r.registry, "docker.io"));
	CHECK(!strcmp(r.repository, "x/y"));
	CHECK(!strcmp(r.tag, "t"));
	ok(failed, "docker-archive:/t/f.tar:x/y:t", "docker-archive:/t/f.tar:docker.io/x/y:t");
	ok(failed, "docker-archive:/f:busybox",
	   "docker-archive:/f:docker.io/library/busybox:latest");
	bad(failed, "docker-archive:", -EINVAL, "no file");
	bad(failed, "docker-archive:/f:@0", -EINVAL, "@index");
	bad(failed, "docker-archive:/f:x@sha256:" HEX64, -EINVAL, "by tag");
	bad(failed, "docker-archive:/f:X", -EINVAL, "lowercase");
}

TEST(name_cap)
{
	struct oci_ref r;
	char buf[64];

	CHECK_EQ(oci_ref_parse("busybox", &r, NULL, 0), 0);
	CHECK_ERR(oci_ref_name(&r, buf, 10), -ENAMETOOLONG);
	/* "docker.io/library/busybox:latest" is 32 characters and a NUL. */
	CHECK_ERR(oci_ref_name(&r, buf, 32), -ENAMETOOLONG);
	CHECK_EQ(oci_ref_name(&r, buf, 33), 0);
	r.kind = (enum oci_ref_kind)7;
	CHECK_ERR(oci_ref_name(&r, buf, sizeof(buf)), -EINVAL);
}

CHECK_MAIN(CASE(docker_hub), CASE(registries), CASE(invalid), CASE(layout), CASE(archive),
           CASE(name_cap))

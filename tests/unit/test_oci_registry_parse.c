// SPDX-License-Identifier: MIT
/*
 * test_oci_registry_parse: the registry source's pure parts
 * (oci/source_registry_parse.c): which hosts may be plain HTTP, base URLs,
 * WWW-Authenticate challenges, config.json credentials, token answers and
 * error bodies. No network.
 */
#include "check.h"
#include "oci/oci_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(plain_http_only_loopback_or_insecure)
{
	static const char *const insecure[] = { "reg.lan:5000", "other.lan", NULL };

	CHECK(oci_registry_plain_http("localhost", NULL));
	CHECK(oci_registry_plain_http("localhost:5000", NULL));
	CHECK(oci_registry_plain_http("LOCALHOST:5000", NULL));
	CHECK(oci_registry_plain_http("127.0.0.1:5000", NULL));
	CHECK(oci_registry_plain_http("127.5.6.7", NULL));
	CHECK(oci_registry_plain_http("[::1]:5000", NULL));
	CHECK(oci_registry_plain_http("[::1]", NULL));
	CHECK(!oci_registry_plain_http("registry.example.com", NULL));
	CHECK(!oci_registry_plain_http("example.com:5000", NULL));
	CHECK(!oci_registry_plain_http("128.0.0.1", NULL));
	CHECK(!oci_registry_plain_http("localhost.evil.com", NULL));
	CHECK(!oci_registry_plain_http("127.0.0.1.nip.io:80", NULL));
	CHECK(!oci_registry_plain_http("[::2]:5000", NULL));
	CHECK(!oci_registry_plain_http("[::1", NULL));
	CHECK(!oci_registry_plain_http("", NULL));
	CHECK(!oci_registry_plain_http("docker.io", insecure));
	CHECK(oci_registry_plain_http("reg.lan:5000", insecure));
	CHECK(!oci_registry_plain_http("reg.lan:5001", insecure));
	CHECK(!oci_registry_plain_http("reg.lan", insecure));
	CHECK(oci_registry_plain_http("other.lan:1234", insecure));
	CHECK(oci_registry_plain_http("other.lan", insecure));
}

TEST(base_url)
{
	static const char *const insecure[] = { "reg.lan:5000", NULL };
	char buf[128];

	CHECK_ERR(oci_registry_base_url("docker.io", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "https://registry-1.docker.io/v2/"));
	CHECK_ERR(oci_registry_base_url("quay.io", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "https://quay.io/v2/"));
	CHECK_ERR(oci_registry_base_url("ghcr.io:443", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "https://ghcr.io:443/v2/"));
	CHECK_ERR(oci_registry_base_url("localhost:5000", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "http://localhost:5000/v2/"));
	CHECK_ERR(oci_registry_base_url("[::1]:5000", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "http://[::1]:5000/v2/"));
	CHECK_ERR(oci_registry_base_url("reg.lan:5000", NULL, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "https://reg.lan:5000/v2/"));
	CHECK_ERR(oci_registry_base_url("reg.lan:5000", insecure, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "http://reg.lan:5000/v2/"));
	CHECK_ERR(oci_registry_base_url("", NULL, buf, sizeof(buf)), -EINVAL);
	CHECK_ERR(oci_registry_base_url("a/b", NULL, buf, sizeof(buf)), -EINVAL);
	CHECK_ERR(oci_registry_base_url("a@b", NULL, buf, sizeof(buf)), -EINVAL);
	CHECK_ERR(oci_registry_base_url("quay.io", NULL, buf, 10), -ENAMETOOLONG);
}

TEST(url_ok)
{
	static const char *const insecure[] = { "auth.lan", NULL };

	CHECK_ERR(oci_registry_url_ok("https://auth.docker.io/token", NULL), 0);
	CHECK_ERR(oci_registry_url_ok("http://auth.docker.io/token", NULL), -EPERM);
	CHECK_ERR(oci_registry_url_ok("http://127.0.0.1:5000/token", NULL), 0);
	CHECK_ERR(oci_registry_url_ok("http://localhost/token?a=b", NULL), 0);
	CHECK_ERR(oci_registry_url_ok("http://[::1]:99/t", NULL), 0);
	CHECK_ERR(oci_registry_url_ok("http://auth.lan:8080/t", insecure), 0);
	CHECK_ERR(oci_registry_url_ok("http://auth.lan.evil/t", insecure), -EPERM);
	CHECK_ERR(oci_registry_url_ok("ftp://auth.docker.io/", NULL), -EINVAL);
	CHECK_ERR(oci_registry_url_ok("file:///etc/passwd", NULL), -EINVAL);
	CHECK_ERR(oci_registry_url_ok("auth.docker.io/token", NULL), -EINVAL);
	CHECK_ERR(oci_registry_url_ok("", NULL), -EINVAL);
}

TEST(names_in_urls)
{
	CHECK(oci_registry_repo_ok("library/busybox"));
	CHECK(oci_registry_repo_ok("a/b-c/d__e.f"));
	CHECK(oci_registry_repo_ok("x"));
	CHECK(!oci_registry_repo_ok(""));
	CHECK(!oci_registry_repo_ok("a/../b"));
	CHECK(!oci_registry_repo_ok("a/./b"));
	CHECK(!oci_registry_repo_ok("/a"));
	CHECK(!oci_registry_repo_ok("a/"));
	CHECK(!oci_registry_repo_ok("a//b"));
	CHECK(!oci_registry_repo_ok("A/b"));
	CHECK(!oci_registry_repo_ok("a?b"));
	CHECK(!oci_registry_repo_ok("a/-b"));
	CHECK(oci_registry_reference_ok("latest"));
	CHECK(oci_registry_reference_ok("v1.2_3-rc"));
	CHECK(oci_registry_reference_ok("sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
	                                "0123456789abcdef"));
	CHECK(!oci_registry_reference_ok(""));
	CHECK(!oci_registry_reference_ok(".."));
	CHECK(!oci_registry_reference_ok("-x"));
	CHECK(!oci_registry_reference_ok("a/b"));
	CHECK(!oci_registry_reference_ok("a?b"));
	CHECK(!oci_registry_reference_ok("a#b"));
	CHECK(!oci_registry_reference_ok("a b"));
}

TEST(token_url)
{
	struct oci_challenge c = { .scheme = OCI_AUTH_BEARER };
	char *url;

	snprintf(c.realm, sizeof(c.realm), "https://auth.docker.io/token");
	snprintf(c.service, sizeof(c.service), "registry.docker.io");
	snprintf(c.scope, sizeof(c.scope), "repository:other:push");
	url = oci_token_url(&c, "library/busybox");
	CHECK(url && !strcmp(url, "https://auth.docker.io/token?service=registry.docker.io&scope="
	                          "repository%3Alibrary%2Fbusybox%3Apull"));
	free(url);
	snprintf(c.realm, sizeof(c.realm), "https://a/t?x=1");
	snprintf(c.service, sizeof(c.service), "a b&c");
	url = oci_token_url(&c, "x");
	CHECK(url && !strcmp(url, "https://a/t?x=1&service=a%20b%26c&scope=repository%3Ax%3Apull"));
	free(url);
	c.service[0] = '\0';
	url = oci_token_url(&c, "x");
	CHECK(url && !strcmp(url, "https://a/t?x=1&scope=repository%3Ax%3Apull"));
	free(url);
}

TEST(challenge_bearer_and_basic)
{
	struct oci_challenge c;

	CHECK_ERR(oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	                              "service=\"registry.docker.io\","
	                              "scope=\"repository:library/busybox:pull\"",
	                              &c),
	          0);
	CHECK_EQ(c.scheme, OCI_AUTH_BEARER);
	CHECK(!strcmp(c.realm, "https://auth.docker.io/token"));
	CHECK(!strcmp(c.service, "registry.docker.io"));
	CHECK(!strcmp(c.scope, "repository:library/busybox:pull"));

	CHECK_ERR(oci_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_BASIC);
	CHECK(!strcmp(c.realm, "Registry Realm"));

	/* several challenges: Bearer wins wherever it is */
	CHECK_ERR(oci_challenge_parse(
	              "Basic realm=\"x\", Bearer realm=\"https://a/t\",service=\"s\"", &c),
	          0);
	CHECK_EQ(c.scheme, OCI_AUTH_BEARER);
	CHECK(!strcmp(c.realm, "https://a/t") && !strcmp(c.service, "s"));
	CHECK_ERR(oci_challenge_parse("Bearer realm=\"https://a/t\", Basic realm=\"x\"", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_BEARER);
	CHECK(!strcmp(c.realm, "https://a/t"));

	/* case, spaces around '=', unquoted values */
	CHECK_ERR(oci_challenge_parse("bearer REALM = https://a/t , Service=svc", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_BEARER);
	CHECK(!strcmp(c.realm, "https://a/t") && !strcmp(c.service, "svc"));
}

TEST(challenge_quoting_and_unknown)
{
	struct oci_challenge c;

	/* commas and escapes inside quotes */
	CHECK_ERR(
	    oci_challenge_parse("Bearer realm=\"https://a/t?x=1,2\",service=\"s\\\"q\\\\\"", &c),
	    0);
	CHECK(!strcmp(c.realm, "https://a/t?x=1,2"));
	CHECK(!strcmp(c.service, "s\"q\\"));

	/* unknown schemes (with a token68 or params) are skipped */
	CHECK_ERR(oci_challenge_parse("Negotiate abc==, Basic realm=x", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_BASIC);
	CHECK_ERR(oci_challenge_parse(
	              "Digest realm=\"r\", nonce=\"n,n\", Bearer realm=\"https://t\"", &c),
	          0);
	CHECK_EQ(c.scheme, OCI_AUTH_BEARER);
	CHECK(!strcmp(c.realm, "https://t"));
	CHECK_ERR(oci_challenge_parse("Negotiate", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_NONE);
	CHECK_ERR(oci_challenge_parse("", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_NONE);
	CHECK_ERR(oci_challenge_parse("Basic", &c), 0);
	CHECK_EQ(c.scheme, OCI_AUTH_BASIC);
}

TEST(challenge_malformed)
{
	struct oci_challenge c;
	char big[3000];

	CHECK_ERR(oci_challenge_parse("Bearer realm=\"https://a/t", &c), -EINVAL);
	CHECK_ERR(oci_challenge_parse("Bearer service=\"s\"", &c), -EINVAL); /* no realm */
	CHECK_ERR(oci_challenge_parse("Bearer realm=\"https://a/t\r\nX: y\"", &c), -EINVAL);
	CHECK_ERR(oci_challenge_parse("Bearer realm=\"x\" junk", &c), -EINVAL);
	CHECK_ERR(oci_challenge_parse("Bearer realm=\"x\", =y", &c), -EINVAL);
	CHECK_ERR(oci_challenge_parse("Bearer \"x\"", &c), -EINVAL);
	snprintf(big, sizeof(big), "Bearer realm=\"https://a/%02000d\"", 0);
	CHECK_ERR(oci_challenge_parse(big, &c), -ENAMETOOLONG);
	/* a long parameter we do not keep is fine */
	snprintf(big, sizeof(big), "Bearer realm=\"https://a/t\", error=\"%02000d\"", 0);
	CHECK_ERR(oci_challenge_parse(big, &c), 0);
	CHECK(!strcmp(c.realm, "https://a/t"));
}

static int lookup(const char *json, const char *registry, struct oci_cred *c)
{
	char err[OCI_ERR_MAX] = "";
	int rc = oci_cred_lookup(json, strlen(json), registry, c, err, sizeof(err));

	if (rc == -EINVAL && !err[0])
		return -1000; /* -EINVAL must say why */
	return rc;
}

TEST(cred_lookup_keys)
{
	struct oci_cred c;
	const char *cfg = "{\"auths\": {"
	                  "\"localhost:5000\": {\"auth\": \"dXNlcjpwYXNz\"},"
	                  "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOnNlY3JldA==\"},"
	                  "\"https://quay.io\": {\"auth\": \"cXVheTph\"},"
	                  "\"quay.io\": {\"auth\": \"cXVheTpi\"},"
	                  "\"http://reg.lan:5000/v2/\": {\"auth\": \"dTpwYTpzcw\"},"
	                  "\"ghcr.io\": {\"username\": \"gu\", \"password\": \"gp\"},"
	                  "\"helper.io\": {}"
	                  "}, \"credsStore\": \"desktop\"}";

	CHECK_ERR(lookup(cfg, "localhost:5000", &c), 0);
	CHECK(!strcmp(c.user, "user") && !strcmp(c.pass, "pass"));
	CHECK_ERR(lookup(cfg, "docker.io", &c), 0);
	CHECK(!strcmp(c.user, "hub") && !strcmp(c.pass, "secret"));
	CHECK_ERR(lookup(cfg, "quay.io", &c), 0); /* the exact key wins */
	CHECK(!strcmp(c.user, "quay") && !strcmp(c.pass, "b"));
	CHECK_ERR(lookup(cfg, "reg.lan:5000", &c), 0); /* no padding, ':' in the password */
	CHECK(!strcmp(c.user, "u") && !strcmp(c.pass, "pa:ss"));
	CHECK_ERR(lookup(cfg, "ghcr.io", &c), 0);
	CHECK(!strcmp(c.user, "gu") && !strcmp(c.pass, "gp"));
	CHECK_ERR(lookup(cfg, "helper.io", &c), -ENOENT);
	CHECK_ERR(lookup(cfg, "localhost:5001", &c), -ENOENT);
	CHECK_ERR(lookup(cfg, "reg.lan", &c), -ENOENT);
	CHECK(!c.user[0] && !c.pass[0]);
	CHECK_ERR(lookup("{\"auths\": {\"x\": {\"auth\": \"dXNlcjpwYXNz\"}}}", "docker.io", &c),
	          -ENOENT);
	/* docker.io's other spellings */
	CHECK_ERR(lookup("{\"auths\": {\"registry-1.docker.io\": {\"auth\": \"dTpwMQ==\"}}}",
	                 "docker.io", &c),
	          0);
	CHECK(!strcmp(c.user, "u") && !strcmp(c.pass, "p1"));
}

TEST(cred_lookup_malformed)
{
	struct oci_cred c;

	CHECK_ERR(lookup("{}", "x", &c), -ENOENT);
	CHECK_ERR(lookup("{\"auths\": {}}", "x", &c), -ENOENT);
	CHECK_ERR(lookup("not json", "x", &c), -EINVAL);
	CHECK_ERR(lookup("[]", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": []}", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": {\"x\": \"dXNlcjpwYXNz\"}}", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": {\"x\": {\"auth\": \"bm9jb2xvbg==\"}}}", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": {\"x\": {\"auth\": \"!!!!\"}}}", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": {\"x\": {\"auth\": \"dXNl=cjpw\"}}}", "x", &c), -EINVAL);
	CHECK_ERR(lookup("{\"auths\": {\"x\": {\"auth\": \"AHU6cA==\"}}}", "x", &c),
	          -EINVAL); /* NUL */
}

TEST(cred_lookup_long)
{
	size_t n = 12000;
	char *json = malloc(n + 100), *p;
	struct oci_cred c;

	/* a base64 password that decodes past the field */
	p = json + sprintf(json, "{\"auths\": {\"x\": {\"auth\": \"dTpw");
	memset(p, 'A', n);
	strcpy(p + n, "\"}}}");
	CHECK_ERR(lookup(json, "x", &c), -EINVAL);
	free(json);
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

TEST(cred_load_files)
{
	char dir[] = "/tmp/test_oci_cred.XXXXXX", path[128], err[OCI_ERR_MAX];
	struct oci_cred c;
	bool found = true;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	setenv("DOCKER_CONFIG", dir, 1);
	/* the default file missing: no credential, no error */
	CHECK_ERR(oci_cred_load(NULL, "localhost:5000", &c, &found, err, sizeof(err)), 0);
	CHECK(!found);
	/* a named file missing: an error */
	CHECK_ERR(oci_cred_load(path, "localhost:5000", &c, &found, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, path) != NULL);
	write_file(path, "{\"auths\": {\"localhost:5000\": {\"auth\": \"dXNlcjpwYXNz\"}}}");
	CHECK_ERR(oci_cred_load(NULL, "localhost:5000", &c, &found, err, sizeof(err)), 0);
	CHECK(found && !strcmp(c.user, "user") && !strcmp(c.pass, "pass"));
	CHECK_ERR(oci_cred_load(path, "localhost:5001", &c, &found, err, sizeof(err)), 0);
	CHECK(!found);
	write_file(path, "{\"auths\": {\"localhost:5000\": {\"auth\": \"!\"}}}");
	CHECK_ERR(oci_cred_load(NULL, "localhost:5000", &c, &found, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, path) && strstr(err, "localhost:5000") && !strstr(err, "!"));
	/* a folder is not a config file */
	CHECK(oci_cred_load(dir, "x", &c, &found, err, sizeof(err)) < 0);
	unsetenv("DOCKER_CONFIG");
	unlink(path);
	rmdir(dir);
}

TEST(token_parse)
{
	const char *ok[][2] = {
		{ "{\"token\": \"abc.def-ghi\"}", "abc.def-ghi" },
		{ "{\"access_token\": \"xyz\"}", "xyz" },
		{ "{\"token\": \"\", \"access_token\": \"xyz\"}", "xyz" },
		{ "{\"token\": \"t\", \"access_token\": \"a\", \"expires_in\": 300}", "t" },
	};
	const char *bad[] = { "{}",
		              "not json",
		              "{\"token\": 5}",
		              "{\"token\": \"a b\"}",
		              "{\"token\": \"a\\r\\nX: y\"}",
		              "{\"token\": \"\"}" };
	char *t;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_ERR(oci_token_parse(ok[i][0], strlen(ok[i][0]), &t), 0);
		CHECK(t && !strcmp(t, ok[i][1]));
		free(t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ERR(oci_token_parse(bad[i], strlen(bad[i]), &t), -EINVAL);
		CHECK(t == NULL);
	}
}

TEST(registry_error)
{
	const char *body = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
	                   "unknown\",\"detail\":{\"Tag\":\"x\"}},{\"code\":\"OTHER\"}]}";
	char out[64];

	oci_registry_error(body, strlen(body), out, sizeof(out));
	CHECK(!strcmp(out, "MANIFEST_UNKNOWN: manifest unknown"));
	body = "{\"errors\":[{\"message\":\"boom\\n\\u001b[31m\"}]}";
	oci_registry_error(body, strlen(body), out, sizeof(out));
	CHECK(!strcmp(out, "boom??[31m"));
	body =
	    "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"You have reached your pull "
	    "rate limit. You may increase the limit by authenticating\"}]}";
	oci_registry_error(body, strlen(body), out, 20);
	CHECK(!strcmp(out, "TOOMANYREQUESTS: Yo"));
	oci_registry_error("<html>502</html>", 16, out, sizeof(out));
	CHECK(!strcmp(out, ""));
	oci_registry_error("", 0, out, sizeof(out));
	CHECK(!strcmp(out, ""));
}

CHECK_MAIN(CASE(plain_http_only_loopback_or_insecure), CASE(base_url), CASE(url_ok),
           CASE(names_in_urls), CASE(token_url), CASE(challenge_bearer_and_basic),
           CASE(challenge_quoting_and_unknown), CASE(challenge_malformed), CASE(cred_lookup_keys),
           CASE(cred_lookup_malformed), CASE(cred_lookup_long), CASE(cred_load_files),
           CASE(token_parse), CASE(registry_error))

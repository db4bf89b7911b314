// SPDX-License-Identifier: MIT
/*
 * oci/source_registry_parse: the registry source's pure parts (oci_int.h):
 * which scheme a host gets, WWW-Authenticate challenges, docker
 * config.json credentials, token answers and error bodies. No network
 * here: source_registry.c does the talking.
 */
#include "oci/curl_dl.h"
#include "oci/oci_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX (1u << 20) /* a config.json bigger than 1 MiB is not one */
#define TOKEN_MAX  (64u << 10)

/* host_of: the host part of host[:port] or [v6][:port] into buf (brackets
 * kept); NULL if malformed or too long. */
static const char *host_of(const char *hostport, char *buf, size_t cap)
{
	const char *end;

	if (hostport[0] == '[') {
		end = strchr(hostport, ']');
		if (!end)
			return NULL;
		end++;
		if (*end && *end != ':')
			return NULL;
	} else {
		end = strchr(hostport, ':');
		if (!end)
			end = hostport + strlen(hostport);
	}
	if ((size_t)(end - hostport) >= cap || end == hostport)
		return NULL;
	memcpy(buf, hostport, end - hostport);
	buf[end - hostport] = '\0';
	return buf;
}

static bool host_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char v6[64];
	size_t n = strlen(host);

	if (!strcasecmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (host[0] != '[' || n < 3 || n - 2 >= sizeof(v6) || host[n - 1] != ']')
		return false;
	memcpy(v6, host + 1, n - 2);
	v6[n - 2] = '\0';
	return inet_pton(AF_INET6, v6, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

bool oci_registry_plain_http(const char *hostport, const char *const *insecure)
{
	char host[256];

	if (!host_of(hostport, host, sizeof(host)))
		return false;
	if (host_loopback(host))
		return true;
	for (size_t i = 0; insecure && insecure[i]; i++) {
		if (!strcasecmp(insecure[i], hostport) || !strcasecmp(insecure[i], host))
			return true;
	}
	return false;
}

int oci_registry_base_url(const char *registry, const char *const *insecure, char *buf, size_t cap)
{
	const char *host = registry;
	int n;

	if (!*registry || strlen(registry) > 255 ||
	    strspn(registry,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
	        strlen(registry))
		return -EINVAL;
	if (!strcmp(registry, "docker.io") || !strcmp(registry, "index.docker.io"))
		host = "registry-1.docker.io";
	n = snprintf(buf, cap, "%s://%s/v2/",
	             oci_registry_plain_http(registry, insecure) ? "http" : "https", host);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int oci_registry_url_ok(const char *url, const char *const *insecure)
{
	char *scheme = NULL, *host = NULL, *port = NULL, hostport[300];
	const struct oci_curl *cu = oci_curl(NULL, 0);
	CURLU *u = cu ? cu->url() : NULL;
	int rc = -EINVAL;

	if (!cu)
		return -ENOSYS;
	if (!u)
		return -ENOMEM;
	if (cu->url_set(u, CURLUPART_URL, url, 0) || cu->url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    cu->url_get(u, CURLUPART_HOST, &host, 0))
		goto out;
	if (!strcasecmp(scheme, "https")) {
		rc = 0;
	} else if (!strcasecmp(scheme, "http")) {
		rc = -EPERM;
		if (!cu->url_get(u, CURLUPART_PORT, &port, 0))
			snprintf(hostport, sizeof(hostport), "%s:%s", host, port);
		else
			snprintf(hostport, sizeof(hostport), "%s", host);
		if (oci_registry_plain_http(hostport, insecure))
			rc = 0;
	}
out:
	cu->free(scheme);
	cu->free(host);
	cu->free(port);
	cu->url_cleanup(u);
	return rc;
}

/* A tag ([A-Za-z0-9_][A-Za-z0-9_.-]*) or a digest (ALG:HEX): nothing that
 * could change the URL's path. */
bool oci_registry_reference_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < 200 && s[0] != '.' && s[0] != '-' && s[0] != ':' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") == n;
}

bool oci_registry_repo_ok(const char *s)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = strlen(s);

	if (!n || n >= 256 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != n)
		return false;
	for (const char *c = s; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
		size_t len = strcspn(c, "/");

		if (!len || !strchr(alnum, c[0]) || !strchr(alnum, c[len - 1]))
			return false;
	}
	return true;
}

char *oci_token_url(const struct oci_challenge *ch, const char *repo)
{
	const struct oci_curl *cu = oci_curl(NULL, 0);
	char scope[300], *esc_service, *esc_scope, *url = NULL;
	size_t n;

	if (!cu)
		return NULL;
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	/* the handle argument has been unused since libcurl 7.82 */
	esc_service = cu->easy_escape(NULL, ch->service, 0);
	esc_scope = cu->easy_escape(NULL, scope, 0);
	if (esc_service && esc_scope) {
		n = strlen(ch->realm) + strlen(esc_service) + strlen(esc_scope) + 32;
		url = malloc(n);
	}
	if (url)
		snprintf(url, n, "%s%c%s%s%sscope=%s", ch->realm,
		         strchr(ch->realm, '?') ? '&' : '?', ch->service[0] ? "service=" : "",
		         ch->service[0] ? esc_service : "", ch->service[0] ? "&" : "", esc_scope);
	cu->free(esc_service);
	cu->free(esc_scope);
	return url;
}

/* ---- challenges -------------------------------------------------------- */

static bool tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* param_value: a token or quoted-string at *pp into out (cap bytes), *pp
 * moved past it. */
static int param_value(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	size_t n = 0;
	int rc = 0;

	if (*p != '"') {
		/* a token; taken leniently: up to a comma or a space (an
		 * unquoted URL seen in the wild has ':' and '/') */
		while ((unsigned char)*p > 0x20 && *p != 0x7f && *p != ',' && *p != '"') {
			if (n + 1 < cap)
				out[n++] = *p;
			else
				rc = -ENAMETOOLONG;
			p++;
		}
		goto done;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\\')
			p++;
		if (!*p || (unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL; /* unterminated, or a control character */
		if (n + 1 < cap)
			out[n++] = *p;
		else
			rc = -ENAMETOOLONG;
	}
	p++;
done:
	out[n] = '\0';
	*pp = p;
	return rc;
}

static int take_param(struct oci_challenge *c, const char *name, const char **pp)
{
	char scratch[64];
	char *dst = scratch;
	size_t cap = sizeof(scratch);
	int rc;

	if (!strcasecmp(name, "realm"))
		dst = c->realm, cap = sizeof(c->realm);
	else if (!strcasecmp(name, "service"))
		dst = c->service, cap = sizeof(c->service);
	else if (!strcasecmp(name, "scope"))
		dst = c->scope, cap = sizeof(c->scope);
	rc = param_value(pp, dst, cap);
	if (rc == -ENAMETOOLONG && dst == scratch)
		rc = 0; /* a long parameter we do not use */
	return c->scheme == OCI_AUTH_NONE ? (rc == -EINVAL ? rc : 0) : rc;
}

/* A challenge is done: keep it if it beats what we have. */
static bool challenge_done(struct oci_challenge *best, const struct oci_challenge *cur)
{
	if (cur->scheme == OCI_AUTH_BEARER || (cur->scheme == OCI_AUTH_BASIC && !best->scheme))
		*best = *cur;
	return best->scheme == OCI_AUTH_BEARER;
}

int oci_challenge_parse(const char *hdr, struct oci_challenge *c)
{
	struct oci_challenge cur = { 0 };
	const char *p = hdr;
	char tok[64];
	int rc;

	memset(c, 0, sizeof(*c));
	for (;;) {
		size_t n = 0;

		p = skip_ws(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		while (tchar(*p)) {
			if (n + 1 >= sizeof(tok))
				return -ENAMETOOLONG;
			tok[n++] = *p++;
		}
		tok[n] = '\0';
		if (!n)
			return -EINVAL;
		p = skip_ws(p);
		if (*p == '=' && p[1] != '=') { /* an auth-param of the current challenge */
			p = skip_ws(p + 1);
			rc = take_param(&cur, tok, &p);
			if (rc)
				return rc;
		} else if (*p == '=') { /* token68 ("abc=="): skip */
			while (*p == '=')
				p++;
		} else { /* a new challenge: its scheme */
			if (challenge_done(c, &cur))
				break;
			memset(&cur, 0, sizeof(cur));
			if (!strcasecmp(tok, "bearer"))
				cur.scheme = OCI_AUTH_BEARER;
			else if (!strcasecmp(tok, "basic"))
				cur.scheme = OCI_AUTH_BASIC;
			continue;
		}
		p = skip_ws(p);
		if (*p && *p != ',')
			return -EINVAL;
	}
	challenge_done(c, &cur);
	if (c->scheme == OCI_AUTH_BEARER && !c->realm[0])
		return -EINVAL;
	return 0;
}

/* ---- credentials ------------------------------------------------------- */

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* b64_decode: standard base64 (padding optional) into out, NUL-terminated;
 * the length, or -1 when malformed or over cap - 1. */
static ssize_t b64_decode(const char *s, char *out, size_t cap)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, len = strlen(s);

	while (len && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	return (ssize_t)n;
}

/* key_host: the host[:port] a config.json key names: the key itself, or a
 * URL's host ("https://index.docker.io/v1/" -> "index.docker.io"). */
static void key_host(const char *key, char *out, size_t cap)
{
	const char *p = key, *end;

	if (!strncasecmp(p, "https://", 8))
		p += 8;
	else if (!strncasecmp(p, "http://", 7))
		p += 7;
	end = strchr(p, '/');
	if (!end)
		end = p + strlen(p);
	snprintf(out, cap, "%.*s", (int)(end - p), p);
}

static bool docker_hub(const char *host)
{
	return !strcasecmp(host, "docker.io") || !strcasecmp(host, "index.docker.io") ||
	       !strcasecmp(host, "registry-1.docker.io");
}

static bool key_matches(const char *key, const char *registry, bool exact)
{
	char host[300];

	if (exact)
		return !strcmp(key, registry) ||
		       (docker_hub(registry) && !strcmp(key, "https://index.docker.io/v1/"));
	key_host(key, host, sizeof(host));
	return !strcasecmp(host, registry) || (docker_hub(registry) && docker_hub(host));
}

/* cred_entry: an auths entry into *c; -ENOENT when it holds nothing. */
static int cred_entry(json_t *e, struct oci_cred *c)
{
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *user = json_string_value(json_object_get(e, "username"));
	const char *pass = json_string_value(json_object_get(e, "password"));
	char buf[sizeof(c->user) + sizeof(c->pass)];
	char *colon;
	ssize_t n;
	int rc = 0;

	if (!json_is_object(e))
		return -EINVAL;
	if (auth && *auth) {
		n = b64_decode(auth, buf, sizeof(buf));
		colon = n > 0 ? strchr(buf, ':') : NULL;
		if (!colon || strlen(buf) != (size_t)n) {
			rc = -EINVAL; /* not base64 of "user:pass" (or a NUL inside) */
			goto out;
		}
		*colon = '\0';
		user = buf, pass = colon + 1;
	}
	if (!user || !pass || !*user)
		rc = -ENOENT;
	else if (strlen(user) >= sizeof(c->user) || strlen(pass) >= sizeof(c->pass))
		rc = -EINVAL;
	else
		strcpy(c->user, user), strcpy(c->pass, pass);
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int oci_cred_lookup(const char *json, size_t len, const char *registry, struct oci_cred *c,
                    char *err, size_t errcap)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	json_t *auths = json_object_get(root, "auths"), *e;
	const char *key;
	int rc = -ENOENT;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(root) || (auths && !json_is_object(auths))) {
		json_decref(root);
		return oci_err(err, errcap, -EINVAL, "not a docker config.json");
	}
	for (int exact = 1; exact >= 0 && rc == -ENOENT; exact--) {
		json_object_foreach(auths, key, e)
		{
			if (!key_matches(key, registry, exact))
				continue;
			rc = cred_entry(e, c);
			if (rc == -EINVAL) {
				oci_err(err, errcap, rc, "auths entry \"%.200s\": malformed", key);
				break;
			}
			if (!rc)
				break;
		}
	}
	json_decref(root);
	if (rc)
		explicit_bzero(c, sizeof(*c));
	return rc;
}

static int read_small(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	ssize_t n = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (*len = 0; *len < (size_t)st.st_size; *len += (size_t)n) {
		n = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			break;
	}
	if (n < 0) {
		rc = -errno;
		free(*buf);
		*buf = NULL;
	}
out:
	close(fd);
	return rc;
}

int oci_cred_load(const char *path, const char *registry, struct oci_cred *c, bool *found,
                  char *err, size_t errcap)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	char def[4096], msg[OCI_ERR_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*found = false;
	if (!path) {
		if (dir && *dir)
			snprintf(def, sizeof(def), "%s/config.json", dir);
		else if (home && *home)
			snprintf(def, sizeof(def), "%s/.docker/config.json", home);
		else
			return 0;
	}
	rc = read_small(path ? path : def, &buf, &len);
	if (rc == -ENOENT && !path)
		return 0;
	if (rc)
		return oci_err(err, errcap, rc, "%s: %s", path ? path : def, strerror(-rc));
	rc = oci_cred_lookup(buf, len, registry, c, msg, sizeof(msg));
	explicit_bzero(buf, len);
	free(buf);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return oci_err(err, errcap, rc, "%s: %s", path ? path : def, msg);
	*found = true;
	return 0;
}

/* ---- token answers and error bodies ------------------------------------ */

int oci_token_parse(const char *json, size_t len, char **token)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const char *t = json_string_value(json_object_get(root, "token"));
	int rc = 0;

	if (!t || !*t)
		t = json_string_value(json_object_get(root, "access_token"));
	*token = NULL;
	if (!t || !*t || strlen(t) > TOKEN_MAX)
		rc = -EINVAL;
	for (const char *p = t; !rc && *p; p++) {
		if (*p < 0x21 || *p > 0x7e)
			rc = -EINVAL;
	}
	if (!rc) {
		*token = strdup(t);
		rc = *token ? 0 : -ENOMEM;
	}
	json_decref(root);
	return rc;
}

void oci_registry_error(const char *body, size_t len, char *out, size_t cap)
{
	json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(root, "errors"), 0);
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (!cap)
		goto out;
	out[0] = '\0';
	if (code || msg)
		snprintf(out, cap, "%s%s%s", code ? code : "", code && msg ? ": " : "",
		         msg ? msg : "");
	for (char *p = out; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
out:
	json_decref(root);
}

// SPDX-License-Identifier: MIT
/*
 * oci/source_registry: an image in a Distribution registry (the OCI
 * distribution spec, "Registry HTTP API v2") as an oci_source, over libcurl.
 *
 * Scheme: HTTPS, verified against the system's CAs (libcurl's default,
 * never turned off). Plain HTTP only to a loopback registry or one the user
 * named insecure, and then HTTP directly, without trying HTTPS first: a
 * registry on localhost is plain HTTP nearly always (docker, too, lets
 * localhost be insecure), and an HTTPS attempt to a plain port only adds a
 * confusing error. A redirect from an HTTPS registry stays on HTTPS.
 *
 * Auth (distribution's token auth, docs/spec/auth/token.md): a request goes
 * out with what the last 401 taught us (nothing at first). On a 401 its
 * WWW-Authenticate says how: Bearer (a token from the realm, asked for with
 * config.json's credential when there is one, else anonymously) or Basic
 * (the credential itself); then the request is retried once, and a second
 * 401 is -EACCES. A token that expires mid-pull is renewed the same way.
 * Credentials reach curl as CURLOPT_USERNAME/PASSWORD or
 * CURLOPT_XOAUTH2_BEARER, never as a raw Authorization header, so that
 * libcurl (CURLOPT_UNRESTRICTED_AUTH stays 0) does not send them on a
 * redirect to another host, port or scheme: registries redirect blobs to
 * storage (S3, a CDN) that must not see them, and that refuses requests
 * carrying them. (A raw header in CURLOPT_HTTPHEADER is also dropped on a
 * cross-host redirect since libcurl 7.58, but the auth options say so by
 * contract.) tests/unit/fake_registry.py checks it.
 */
#include "oci/curl_dl.h"
#include "oci/oci_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The manifest kinds we take, best first. manifest.c's oci_manifest_accept
 * says the same; this file keeps its own so that it stands alone. */
static const char reg_accept[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                 "application/vnd.oci.image.manifest.v1+json, "
                                 "application/vnd.docker.distribution.manifest.list.v2+json, "
                                 "application/vnd.docker.distribution.manifest.v2+json";

#define TOKEN_ANSWER_MAX (256u << 10)
#define PROGRESS_STEP    (256u << 10)

struct reg {
	struct oci_source src;
	const struct oci_curl *cu; /* libcurl (curl_dl.h) */
	CURL *curl;
	char registry[256]; /* as the reference has it: messages, config.json */
	char repo[256];
	char base[320];  /* "https://HOST/v2/" */
	bool plain;      /* base is http:// */
	char **insecure; /* a copy of the options' list */
	char *auth_file;
	char *token; /* Bearer: sent while set */
	bool basic;  /* Basic: the credential is sent */
	bool cred_loaded, have_cred;
	struct oci_cred cred;
	char curl_err[CURL_ERROR_SIZE];
};

/* One request's response, and where a 2xx body goes. */
struct xfer {
	long status; /* of the response being received */
	char content_type[128];
	char challenge[4096];
	bool challenge_long;
	char errbody[4096]; /* a non-2xx body, cut */
	size_t errlen;
	int fd; /* -1: the body goes to buf */
	char *buf;
	size_t len, cap;
	uint64_t limit, done, reported;
	const struct oci_progress *progress;
	const char *digest;
	int sink_err;
};

/* header_value: line is "NAME: value"; the value, trimmed, in *v, *vlen. */
static bool header_value(const char *line, size_t len, const char *name, const char **v,
                         size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return false;
	line += n + 1, len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	*v = line, *vlen = len;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, vlen, have;
	const char *v;

	if (len > 5 && !strncmp(data, "HTTP/", 5)) { /* a new response starts */
		const char *sp = memchr(data, ' ', len);

		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->content_type[0] = x->challenge[0] = '\0';
		x->challenge_long = false;
		x->errlen = 0;
	} else if (header_value(data, len, "content-type", &v, &vlen)) {
		const char *semi = memchr(v, ';', vlen);

		if (semi)
			vlen = (size_t)(semi - v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen < sizeof(x->content_type))
			snprintf(x->content_type, sizeof(x->content_type), "%.*s", (int)vlen, v);
	} else if (header_value(data, len, "www-authenticate", &v, &vlen)) {
		/* several header lines are one comma-separated list (RFC 9110 5.3) */
		have = strlen(x->challenge);
		if (have + vlen + 3 > sizeof(x->challenge))
			x->challenge_long = true;
		else
			snprintf(x->challenge + have, sizeof(x->challenge) - have, "%s%.*s",
			         have ? ", " : "", (int)vlen, v);
	}
	return len;
}

static int buf_append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n > x->cap) {
		size_t cap = x->cap ? x->cap : 64u << 10;
		char *nb;

		while (cap < x->len + n)
			cap *= 2;
		nb = realloc(x->buf, cap);
		if (!nb)
			return -ENOMEM;
		x->buf = nb, x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	return 0;
}

/* on_body: a 2xx body to the sink, at most x->limit bytes; anything else
 * (a 401's, a 404's) into errbody, cut. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, room = sizeof(x->errbody) - x->errlen;

	if (x->status < 200 || x->status > 299) {
		memcpy(x->errbody + x->errlen, data, len < room ? len : room);
		x->errlen += len < room ? len : room;
		return len;
	}
	if (len > x->limit - x->done) {
		x->sink_err = -EFBIG;
		return 0;
	}
	x->sink_err = x->fd < 0 ? buf_append(x, data, len) : oci_write_all(x->fd, data, len);
	if (x->sink_err)
		return 0;
	x->done += len;
	if (x->progress && x->progress->fn && x->done - x->reported >= PROGRESS_STEP) {
		x->reported = x->done;
		x->progress->fn(x->progress->arg, x->digest, x->done, x->limit);
	}
	return len;
}

/* xfer_restart: ready for a (re)try; a sink that got nothing stays as it is. */
static void xfer_restart(struct xfer *x)
{
	x->status = 0;
	x->content_type[0] = x->challenge[0] = '\0';
	x->challenge_long = false;
	x->errlen = 0;
	x->len = 0;
	x->done = x->reported = 0;
	x->sink_err = 0;
}

/* reg_setup: the easy handle for one GET of url; to_token: a request to
 * the token service (Basic credential if any) rather than the registry. */
static int reg_setup(struct reg *r, const char *url, struct xfer *x, struct curl_slist *hdrs,
                     bool allow_http, bool to_token)
{
	const char *protos = allow_http ? "http,https" : "https";
	CURL *c = r->curl;
	int bad = 0;

	r->cu->easy_reset(c); /* the connections and the DNS cache stay */
	bad |= r->cu->easy_setopt(c, CURLOPT_URL, url);
	bad |= r->cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	bad |= r->cu->easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_err);
	bad |= r->cu->easy_setopt(c, CURLOPT_USERAGENT, "kvmbox");
	bad |= r->cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	bad |= r->cu->easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
	bad |= r->cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	bad |= r->cu->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
#else
	long mask = CURLPROTO_HTTPS | (allow_http ? CURLPROTO_HTTP : 0);

	(void)protos;
	bad |= r->cu->easy_setopt(c, CURLOPT_PROTOCOLS, mask);
	bad |= r->cu->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, mask);
#endif
	bad |= r->cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	bad |= r->cu->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stall: */
	bad |= r->cu->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L); /* <1 B/s for 60 s */
	bad |= r->cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	bad |= r->cu->easy_setopt(c, CURLOPT_HEADERDATA, x);
	bad |= r->cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	bad |= r->cu->easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (hdrs)
		bad |= r->cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (!to_token && r->token) {
		bad |= r->cu->easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		bad |= r->cu->easy_setopt(c, CURLOPT_XOAUTH2_BEARER, r->token);
	} else if (r->have_cred && (to_token || r->basic)) {
		bad |= r->cu->easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		bad |= r->cu->easy_setopt(c, CURLOPT_USERNAME, r->cred.user);
		bad |= r->cu->easy_setopt(c, CURLOPT_PASSWORD, r->cred.pass);
	}
	return bad ? -ENOTSUP : 0;
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* reg_perform: one GET (redirects followed); 0 with x->status set once a
 * response came, whatever its status; -errno for a transport failure or
 * a sink's. what names the request in messages. */
static int reg_perform(struct reg *r, const char *url, const char *accept, struct xfer *x,
                       bool allow_http, bool to_token, const char *what, char *err, size_t errcap)
{
	struct curl_slist *hdrs = NULL;
	CURLcode cc;
	int rc;

	if (accept && !(hdrs = r->cu->slist_append(NULL, accept)))
		return oci_err(err, errcap, -ENOMEM, "registry %s: out of memory", r->registry);
	rc = reg_setup(r, url, x, hdrs, allow_http, to_token);
	if (rc) {
		r->cu->slist_free_all(hdrs);
		return oci_err(err, errcap, rc, "libcurl lacks an option kvmbox needs");
	}
	r->curl_err[0] = '\0';
	cc = r->cu->easy_perform(r->curl);
	r->cu->slist_free_all(hdrs);
	r->cu->easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
	if (x->sink_err == -EFBIG)
		return oci_err(err, errcap, -EFBIG, "registry %s: %s: more than %llu bytes",
		               r->registry, what, (unsigned long long)x->limit);
	if (x->sink_err)
		return oci_err(err, errcap, x->sink_err, "registry %s: %s: %s", r->registry, what,
		               strerror(-x->sink_err));
	if (cc != CURLE_OK)
		return oci_err(err, errcap, curl_errno(cc), "registry %s: %s: %s", r->registry,
		               what, r->curl_err[0] ? r->curl_err : r->cu->easy_strerror(cc));
	r->cu->easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &x->status);
	return 0;
}

/* reg_status_err: a response that is not what we wanted, as -errno. */
static int reg_status_err(struct reg *r, const struct xfer *x, const char *what, char *err,
                          size_t errcap)
{
	char msg[256];

	oci_registry_error(x->errbody, x->errlen, msg, sizeof(msg));
	return oci_err(err, errcap, x->status == 403 ? -EACCES : -EIO,
	               "registry %s: %s: HTTP %ld%s%s", r->registry, what, x->status,
	               msg[0] ? ": " : "", msg);
}

static int reg_load_cred(struct reg *r, char *err, size_t errcap)
{
	int rc;

	if (r->cred_loaded)
		return 0;
	rc = oci_cred_load(r->auth_file, r->registry, &r->cred, &r->have_cred, err, errcap);
	r->cred_loaded = !rc;
	return rc;
}

/* reg_token: a Bearer token for pulling r->repo from the challenge's realm. */
static int reg_token(struct reg *r, const struct oci_challenge *ch, char *err, size_t errcap)
{
	struct xfer x = { .fd = -1, .limit = TOKEN_ANSWER_MAX };
	char *url, *token = NULL;
	int rc = oci_registry_url_ok(ch->realm, (const char *const *)r->insecure);

	if (rc == -EPERM)
		return oci_err(err, errcap, -EPERM,
		               "registry %s: the token service %.300s is plain http (only loopback "
		               "and insecure registries may be)",
		               r->registry, ch->realm);
	if (rc)
		return oci_err(err, errcap, rc, "registry %s: a token realm that is no https URL",
		               r->registry);
	url = oci_token_url(ch, r->repo);
	if (!url)
		return oci_err(err, errcap, -ENOMEM, "registry %s: out of memory", r->registry);
	rc = reg_perform(r, url, NULL, &x, !strncasecmp(ch->realm, "http:", 5), true,
	                 "token service", err, errcap);
	if (rc)
		goto out;
	if ((x.status == 401 || x.status == 403) && r->have_cred)
		rc = oci_err(
		    err, errcap, -EACCES,
		    "registry %s: the token service refused the credential from config.json",
		    r->registry);
	else if (x.status == 401 || x.status == 403)
		rc = oci_err(
		    err, errcap, -EACCES,
		    "registry %s: authentication required (docker login, or a credential in "
		    "config.json): the token service refused an anonymous token",
		    r->registry);
	else if (x.status != 200)
		rc = reg_status_err(r, &x, "token service", err, errcap);
	else if (oci_token_parse(x.buf, x.len, &token))
		rc = oci_err(err, errcap, -EPROTO,
		             "registry %s: the token service's answer has no token", r->registry);
	if (!rc) {
		free(r->token);
		r->token = token;
		r->basic = false;
	}
out:
	free(url);
	if (x.buf)
		explicit_bzero(x.buf, x.len);
	free(x.buf);
	return rc;
}

/* reg_auth: learn from a 401's challenge how to ask again. */
static int reg_auth(struct reg *r, const struct xfer *x, char *err, size_t errcap)
{
	struct oci_challenge ch;
	int rc;

	if (x->challenge_long || oci_challenge_parse(x->challenge, &ch))
		return oci_err(err, errcap, -EPROTO, "registry %s: a malformed WWW-Authenticate",
		               r->registry);
	if (ch.scheme == OCI_AUTH_NONE)
		return oci_err(err, errcap, -EACCES,
		               "registry %s: HTTP 401 without a Basic or Bearer challenge",
		               r->registry);
	rc = reg_load_cred(r, err, errcap);
	if (rc)
		return rc;
	if (ch.scheme == OCI_AUTH_BEARER)
		return reg_token(r, &ch, err, errcap);
	if (!r->have_cred)
		return oci_err(
		    err, errcap, -EACCES,
		    "registry %s: authentication required (docker login, or a credential "
		    "in config.json)",
		    r->registry);
	free(r->token);
	r->token = NULL;
	r->basic = true;
	return 0;
}

/* reg_get: GET url into x, authenticating on a 401 and asking once more. */
static int reg_get(struct reg *r, const char *url, const char *accept, struct xfer *x,
                   const char *what, char *err, size_t errcap)
{
	char msg[256];
	int rc;

	for (int tries = 0;; tries++) {
		xfer_restart(x);
		rc = reg_perform(r, url, accept, x, r->plain, false, what, err, errcap);
		if (rc || x->status != 401)
			return rc;
		if (tries)
			break;
		rc = reg_auth(r, x, err, errcap);
		if (rc)
			return rc;
	}
	oci_registry_error(x->errbody, x->errlen, msg, sizeof(msg));
	if (r->have_cred)
		return oci_err(
		    err, errcap, -EACCES,
		    "registry %s: %s: access denied with the credential from config.json%s%s",
		    r->registry, what, msg[0] ? ": " : "", msg);
	return oci_err(err, errcap, -EACCES,
	               "registry %s: authentication required (docker login, or a credential in "
	               "config.json)%s%s",
	               r->registry, msg[0] ? ": " : "", msg);
}

static int reg_manifest(struct oci_source *src, const char *reference, char **buf, size_t *len,
                        char media_type[128], char *err, size_t errcap)
{
	struct reg *r = (struct reg *)src;
	struct xfer x = { .fd = -1, .limit = OCI_MAX_MANIFEST };
	char url[1024], what[512];
	int rc;

	*buf = NULL, *len = 0;
	if (!oci_registry_reference_ok(reference))
		return oci_err(err, errcap, -EINVAL, "manifest reference \"%.200s\": malformed",
		               reference);
	snprintf(what, sizeof(what), "manifest %s%c%s", r->repo, strchr(reference, ':') ? '@' : ':',
	         reference);
	snprintf(url, sizeof(url), "%s%s/manifests/%s", r->base, r->repo, reference);
	rc = reg_get(r, url, reg_accept, &x, what, err, errcap);
	if (!rc && x.status == 404)
		rc = oci_err(err, errcap, -ENOENT, "registry %s: manifest unknown: %s%c%s",
		             r->registry, r->repo, strchr(reference, ':') ? '@' : ':', reference);
	else if (!rc && x.status != 200)
		rc = reg_status_err(r, &x, what, err, errcap);
	if (!rc && !x.buf && !(x.buf = malloc(1)))
		rc = oci_err(err, errcap, -ENOMEM, "out of memory");
	if (rc) {
		free(x.buf);
		return rc;
	}
	*buf = x.buf, *len = x.len;
	snprintf(media_type, 128, "%s", x.content_type);
	return 0;
}

static bool sha256_digest(const char *d)
{
	return !strncmp(d, "sha256:", 7) && strlen(d + 7) == 64 &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

static int reg_blob(struct oci_source *src, const struct oci_descriptor *d, int fd,
                    const struct oci_progress *p, char *err, size_t errcap)
{
	struct reg *r = (struct reg *)src;
	struct xfer x = { .fd = fd, .limit = d->size, .progress = p, .digest = d->digest };
	char url[1024], what[128];
	int rc;

	if (!sha256_digest(d->digest))
		return oci_err(err, errcap, strchr(d->digest, ':') ? -ENOTSUP : -EINVAL,
		               "blob %.100s: not a sha256 digest", d->digest);
	snprintf(what, sizeof(what), "blob %s", d->digest);
	snprintf(url, sizeof(url), "%s%s/blobs/%s", r->base, r->repo, d->digest);
	rc = reg_get(r, url, NULL, &x, what, err, errcap);
	if (!rc && x.status == 404)
		rc = oci_err(err, errcap, -ENOENT, "registry %s: blob unknown: %s@%s", r->registry,
		             r->repo, d->digest);
	else if (!rc && x.status != 200)
		rc = reg_status_err(r, &x, what, err, errcap);
	if (!rc && p && p->fn && (x.reported != x.done || !x.done))
		p->fn(p->arg, d->digest, x.done, d->size); /* the last word */
	return rc;
}

static void reg_close(struct oci_source *src)
{
	struct reg *r = (struct reg *)src;

	if (!r)
		return;
	if (r->curl)
		r->cu->easy_cleanup(r->curl);
	for (size_t i = 0; r->insecure && r->insecure[i]; i++)
		free(r->insecure[i]);
	free(r->insecure);
	free(r->auth_file);
	if (r->token)
		explicit_bzero(r->token, strlen(r->token));
	free(r->token);
	explicit_bzero(&r->cred, sizeof(r->cred));
	free(r);
}

static const struct oci_source_ops reg_ops = {
	.manifest = reg_manifest,
	.blob = reg_blob,
	.close = reg_close,
};

static int copy_insecure(struct reg *r, const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	r->insecure = calloc(n + 1, sizeof(char *));
	if (!r->insecure)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r->insecure[i] = strdup(list[i]);
		if (!r->insecure[i])
			return -ENOMEM;
	}
	return 0;
}

int oci_registry_open(const struct oci_ref *ref, const struct oci_pull_opts *o,
                      struct oci_source **out, char *err, size_t errcap)
{
	const char *const *insecure = o ? o->insecure : NULL;
	const struct oci_curl *cu;
	struct reg *r;
	int rc;

	*out = NULL;
	if (ref->kind != OCI_REF_REGISTRY)
		return oci_err(err, errcap, -EINVAL, "not a registry reference");
	if (!oci_registry_repo_ok(ref->repository))
		return oci_err(err, errcap, -EINVAL, "repository \"%.256s\": malformed",
		               ref->repository);
	if (!(cu = oci_curl(err, errcap)))
		return -ENOSYS;
	r = calloc(1, sizeof(*r));
	if (!r)
		return oci_err(err, errcap, -ENOMEM, "out of memory");
	r->cu = cu;
	r->src.ops = &reg_ops;
	snprintf(r->registry, sizeof(r->registry), "%s", ref->registry);
	snprintf(r->repo, sizeof(r->repo), "%s", ref->repository);
	snprintf(r->src.reference, sizeof(r->src.reference), "%s",
	         ref->digest[0] ? ref->digest
	         : ref->tag[0]  ? ref->tag
	                        : "latest");
	rc = oci_registry_base_url(ref->registry, insecure, r->base, sizeof(r->base));
	if (rc) {
		reg_close(&r->src);
		return oci_err(err, errcap, rc, "registry \"%.256s\": malformed", ref->registry);
	}
	r->plain = !strncmp(r->base, "http:", 5);
	r->curl = r->cu->easy_init();
	if (!r->curl || copy_insecure(r, insecure) ||
	    (o && o->auth_file && !(r->auth_file = strdup(o->auth_file)))) {
		reg_close(&r->src);
		return oci_err(err, errcap, -ENOMEM, "out of memory");
	}
	*out = &r->src;
	return 0;
}

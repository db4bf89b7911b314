// SPDX-License-Identifier: MIT
/*
 * oci/ref: image references as users type them (oci.h), after the grammar
 * of distribution/reference (reference.go, normalize.go):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain     := host [ ":" port ]     (a bracketed IPv6 host too)
 *   path-component := [a-z0-9]+ ( ( [._] | "__" | "-"* ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := "sha256:" 64 lower-case hex (the only algorithm we take)
 *
 * As docker does, the first component is a domain only when it holds a '.'
 * or a ':', is "localhost", or has upper case (host names are not case
 * sensitive, repository names are); otherwise the name is on Docker Hub,
 * where a one-component name lives under "library/".
 *
 * Besides, "oci:DIR[:tag]" (an image-spec image layout) and
 * "docker-archive:FILE[:name:tag]" (skopeo's syntax for `docker save`).
 */
#define _GNU_SOURCE /* memrchr */
#include "oci/oci_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* distribution/reference: NameTotalLengthMax. */
#define NAME_TOTAL_MAX 255
#define TAG_MAX        128

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* tag_valid: [\w][\w.-]{0,127} over s[0..n). */
static bool tag_valid(const char *s, size_t n)
{
	if (n == 0 || n > TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* component_valid: one path component, s[0..n) (see the grammar above). */
static bool component_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run;

		if (!is_lower_alnum(s[i]))
			return false;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		run = i;
		while (i < n && (s[i] == '.' || s[i] == '_' || s[i] == '-'))
			i++;
		/* The separators: ".", "_", "__", or any number of '-'. */
		if (i - run == 1 || (i - run == 2 && s[run] == '_' && s[run + 1] == '_'))
			continue;
		for (size_t k = run; k < i; k++)
			if (s[k] != '-')
				return false;
	}
	return false; /* empty, or a trailing separator */
}

/* domain_valid: domain-name, IPv4 or [IPv6], with an optional :port, s[0..n). */
static bool domain_valid(const char *s, size_t n)
{
	size_t i = 0, port;

	if (n && s[0] == '[') {
		/* [IPv6address]: hex digits, ':' and '.' for an embedded IPv4. */
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!strchr("0123456789abcdefABCDEF:.", s[i]))
				return false;
		if (i == n || i < 3)
			return false;
		i++;
	} else {
		/* Components [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9],
		 * separated by '.'. */
		for (;;) {
			size_t start = i;

			while (i < n && (is_lower_alnum(s[i]) || is_upper(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i == n || s[i] != '.')
				break;
			i++;
		}
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	port = ++i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i == n && i - port >= 1 && i - port <= 5;
}

/* abs_path: DIR made absolute and cleaned lexically (as Go's filepath.Abs),
 * so that one folder is one name in the store. */
static int abs_path(const char *in, size_t n, char out[4096], char *err, size_t errcap)
{
	char tmp[4096];
	size_t len = 0, o = 0;

	if (n == 0)
		return oci_err(err, errcap, -EINVAL, "no path given");
	if (in[0] != '/') {
		if (!getcwd(tmp, sizeof(tmp)))
			return oci_err(err, errcap, -errno, "cannot read the current folder: %s",
			               strerror(errno));
		len = strlen(tmp);
		tmp[len++] = '/';
	}
	if (len + n >= sizeof(tmp))
		return oci_err(err, errcap, -ENAMETOOLONG, "path too long");
	memcpy(tmp + len, in, n);
	len += n;
	tmp[len] = '\0';

	/* Components one at a time: skip "" and ".", drop one for "..". */
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && tmp[j] != '/')
			j++;
		if (j - i == 2 && tmp[i] == '.' && tmp[i + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (j > i && !(j - i == 1 && tmp[i] == '.')) {
			out[o++] = '/';
			memcpy(out + o, tmp + i, j - i);
			o += j - i;
		}
		i = j + 1;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

/* parse_name: "name[:tag][@digest]" (a registry reference) into r. */
static int parse_name(const char *s, struct oci_ref *r, char *err, size_t errcap)
{
	const char *at = strchr(s, '@'), *end, *slash, *colon, *path;
	size_t n, dlen;
	bool lib;

	if (!*s)
		return oci_err(err, errcap, -EINVAL, "empty reference");
	end = at ? at : s + strlen(s);
	if (at) {
		const char *d = at + 1;

		if (!oci_digest_valid(d)) {
			size_t alg = strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789+._-");

			if (alg > 0 && d[alg] == ':' && strncmp(d, "sha256:", 7) != 0)
				return oci_err(err, errcap, -ENOTSUP,
				               "invalid reference \"%s\": only sha256 digests are "
				               "supported",
				               s);
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": the digest after '@' must be "
			               "sha256: and 64 lower-case hex digits",
			               s);
		}
		memcpy(r->digest, d, strlen(d) + 1);
	}
	/* A ':' after the last '/' starts the tag (a ':' before it is a port). */
	slash = memrchr(s, '/', (size_t)(end - s));
	colon = memrchr(slash ? slash : s, ':', (size_t)(end - (slash ? slash : s)));
	if (colon) {
		n = (size_t)(end - colon - 1);
		if (!tag_valid(colon + 1, n))
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": invalid tag \"%.*s\" (letters, "
			               "digits, '_', '.', '-', at most 128, not starting with '.' "
			               "or '-')",
			               s, (int)(n > 200 ? 200 : n), colon + 1);
		memcpy(r->tag, colon + 1, n);
		r->tag[n] = '\0';
		end = colon;
	}
	if (end == s)
		return oci_err(err, errcap, -EINVAL, "invalid reference \"%s\": no name", s);

	/* The domain, when the first component looks like one. */
	slash = memchr(s, '/', (size_t)(end - s));
	path = s;
	dlen = slash ? (size_t)(slash - s) : 0;
	if (slash && (memchr(s, '.', dlen) || memchr(s, ':', dlen) ||
	              (dlen == 9 && !memcmp(s, "localhost", 9)))) {
		path = slash + 1;
	} else if (slash) {
		for (size_t i = 0; i < dlen; i++)
			if (is_upper(s[i]))
				path = slash + 1;
	}
	if (path != s) {
		if (!domain_valid(s, dlen))
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": invalid registry \"%.*s\"", s,
			               (int)dlen, s);
		if (dlen >= sizeof(r->registry))
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": name too long", s);
		memcpy(r->registry, s, dlen);
		r->registry[dlen] = '\0';
		/* normalize.go: the old name of Docker Hub. The whole field is
		 * rewritten, so that two parses of one name compare equal. */
		if (!strcmp(r->registry, "index.docker.io")) {
			memset(r->registry, 0, sizeof(r->registry));
			strcpy(r->registry, "docker.io");
		}
	} else {
		strcpy(r->registry, "docker.io");
	}

	n = (size_t)(end - path);
	if (n == 0)
		return oci_err(err, errcap, -EINVAL,
		               "invalid reference \"%s\": no repository name after the registry",
		               s);
	for (size_t i = 0; i < n; i++)
		if (is_upper(path[i]))
			return oci_err(
			    err, errcap, -EINVAL,
			    "invalid reference \"%s\": repository name must be lowercase", s);
	for (const char *c = path; c < end;) {
		const char *e = memchr(c, '/', (size_t)(end - c));

		if (!e)
			e = end;
		if (!component_valid(c, (size_t)(e - c)))
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": invalid repository name \"%.*s\" "
			               "(lower-case letters and digits, separated by '.', '_', "
			               "'__', '-' or '/')",
			               s, (int)(n > 256 ? 256 : n), path);
		if (e == end)
			break;
		c = e + 1;
		if (c == end)
			return oci_err(err, errcap, -EINVAL,
			               "invalid reference \"%s\": name ends with '/'", s);
	}
	/* normalize.go: 64 hex digits alone would read as an image ID. */
	if (path == s && n == 64 && !r->tag[0] && !r->digest[0] &&
	    strspn(path, "0123456789abcdef") >= 64)
		return oci_err(err, errcap, -EINVAL,
		               "invalid reference \"%s\": a 64-digit hex string is not a name", s);

	/* The whole name, as normalized ("docker.io/library/x"), is bounded. */
	lib = !strcmp(r->registry, "docker.io") && !memchr(path, '/', n);
	if (strlen(r->registry) + 1 + (lib ? 8 : 0) + n > NAME_TOTAL_MAX)
		return oci_err(err, errcap, -EINVAL,
		               "invalid reference \"%s\": name longer than %d characters", s,
		               NAME_TOTAL_MAX);
	snprintf(r->repository, sizeof(r->repository), "%s%.*s", lib ? "library/" : "", (int)n,
	         path);
	/* reference.go's TagNameOnly: "latest" when neither was given. */
	if (!r->tag[0] && !r->digest[0])
		strcpy(r->tag, "latest");
	return 0;
}

/* parse_layout: "DIR[:tag]" after "oci:"; the tag is what follows the last
 * ':' when it is a valid tag (which has no '/'), else it is all DIR. */
static int parse_layout(const char *s, struct oci_ref *r, char *err, size_t errcap)
{
	const char *colon = strrchr(s, ':');
	size_t n = strlen(s);
	int rc;

	if (colon && tag_valid(colon + 1, strlen(colon + 1))) {
		strcpy(r->tag, colon + 1);
		n = (size_t)(colon - s);
	}
	rc = abs_path(s, n, r->path, err, errcap);
	if (rc)
		return oci_err(err, errcap, rc, "invalid reference \"oci:%s\": %s", s,
		               rc == -EINVAL ? "no folder given" : "path too long");
	return 0;
}

/* parse_archive: "FILE[:name[:tag]]" after "docker-archive:" (skopeo's
 * docker-archive transport: FILE ends at the first ':'; the name picks the
 * image by its RepoTags; skopeo's "@N" index form is refused). */
static int parse_archive(const char *s, struct oci_ref *r, char *err, size_t errcap)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	int rc = abs_path(s, n, r->path, err, errcap);

	if (rc)
		return oci_err(err, errcap, rc, "invalid reference \"docker-archive:%s\": %s", s,
		               rc == -EINVAL ? "no file given" : "path too long");
	if (!colon)
		return 0;
	if (colon[1] == '@')
		return oci_err(err, errcap, -EINVAL,
		               "invalid reference \"docker-archive:%s\": the @index form is not "
		               "supported; name the image by its tag",
		               s);
	rc = parse_name(colon + 1, r, err, errcap);
	if (rc)
		return rc;
	if (r->digest[0])
		return oci_err(err, errcap, -EINVAL,
		               "invalid reference \"docker-archive:%s\": an archive's image is "
		               "named by tag, not by digest",
		               s);
	return 0;
}

int oci_ref_parse(const char *s, struct oci_ref *r, char *err, size_t errcap)
{
	memset(r, 0, sizeof(*r));
	if (!s)
		return oci_err(err, errcap, -EINVAL, "no reference given");
	if (strlen(s) >= 8192)
		return oci_err(err, errcap, -EINVAL, "reference too long");
	if (!strncmp(s, "oci:", 4)) {
		r->kind = OCI_REF_LAYOUT;
		return parse_layout(s + 4, r, err, errcap);
	}
	if (!strncmp(s, "docker-archive:", 15)) {
		r->kind = OCI_REF_ARCHIVE;
		return parse_archive(s + 15, r, err, errcap);
	}
	/* skopeo's "docker://name": the same as the bare name. */
	if (!strncmp(s, "docker://", 9))
		s += 9;
	r->kind = OCI_REF_REGISTRY;
	return parse_name(s, r, err, errcap);
}

int oci_ref_name(const struct oci_ref *r, char *buf, size_t cap)
{
	int n;

	switch (r->kind) {
	case OCI_REF_LAYOUT:
		n = snprintf(buf, cap, "oci:%s%s%s", r->path, r->tag[0] ? ":" : "", r->tag);
		break;
	case OCI_REF_ARCHIVE:
		if (r->repository[0])
			n = snprintf(buf, cap, "docker-archive:%s:%s/%s:%s", r->path, r->registry,
			             r->repository, r->tag);
		else
			n = snprintf(buf, cap, "docker-archive:%s", r->path);
		break;
	case OCI_REF_REGISTRY:
		n = snprintf(buf, cap, "%s/%s%s%s%s%s", r->registry, r->repository,
		             r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "", r->digest);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

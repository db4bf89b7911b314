// SPDX-License-Identifier: MIT
/*
 * fuzz_oci_registry: what a registry (or a token service, or the user's
 * config.json) hands the registry source's parsers
 * (oci/source_registry_parse.c).
 *
 * Input layout: byte 0 picks the parser (% 4), the rest is its input:
 *   0  a WWW-Authenticate value (oci_challenge_parse, then oci_token_url)
 *   1  a token service's answer (oci_token_parse)
 *   2  an error body (oci_registry_error)
 *   3  a config.json (oci_cred_lookup for "localhost:5000" and "docker.io")
 *
 * Checks beyond ASan/UBSan: every string a parser fills is NUL-terminated
 * within its field; a Bearer challenge has a realm; a token is printable
 * and has no space; an error message is printable; a credential has a
 * user; a token URL starts with the realm.
 */
#include "oci/oci_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
	if (!memchr(s, '\0', cap))
		abort();
}

static void fuzz_challenge(const char *s)
{
	struct oci_challenge c;
	char *url;

	if (oci_challenge_parse(s, &c))
		return;
	check_str(c.realm, sizeof(c.realm));
	check_str(c.service, sizeof(c.service));
	check_str(c.scope, sizeof(c.scope));
	if (c.scheme == OCI_AUTH_BEARER && !c.realm[0])
		abort();
	for (const char *p = c.realm; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	}
	url = oci_token_url(&c, "library/busybox");
	if (url && strncmp(url, c.realm, strlen(c.realm)))
		abort();
	free(url);
}

static void fuzz_token(const char *p, size_t n)
{
	char *t = NULL;

	if (oci_token_parse(p, n, &t)) {
		if (t)
			abort();
		return;
	}
	for (const char *q = t; *q; q++) {
		if (*q < 0x21 || *q > 0x7e)
			abort();
	}
	free(t);
}

static void fuzz_error(const char *p, size_t n)
{
	char out[64];

	oci_registry_error(p, n, out, sizeof(out));
	check_str(out, sizeof(out));
	for (const char *q = out; *q; q++) {
		if (*q < 0x20 || *q > 0x7e)
			abort();
	}
}

static void fuzz_cred(const char *p, size_t n)
{
	static const char *const registries[] = { "localhost:5000", "docker.io" };
	struct oci_cred c;
	char err[OCI_ERR_MAX];

	for (size_t i = 0; i < 2; i++) {
		int rc = oci_cred_lookup(p, n, registries[i], &c, err, sizeof(err));

		check_str(c.user, sizeof(c.user));
		check_str(c.pass, sizeof(c.pass));
		if ((!rc && !c.user[0]) || (rc && (c.user[0] || c.pass[0])))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 65536)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		fuzz_challenge(s);
		break;
	case 1:
		fuzz_token(s, size - 1);
		break;
	case 2:
		fuzz_error(s, size - 1);
		break;
	case 3:
		fuzz_cred(s, size - 1);
		break;
	}
	free(s);
	return 0;
}

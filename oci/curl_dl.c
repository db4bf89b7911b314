// SPDX-License-Identifier: MIT
/*
 * curl_dl: libcurl, opened when a registry is first spoken to (oci_int.h).
 *
 * Linked at build time, libcurl and the thirty libraries it pulls in (TLS,
 * Kerberos, LDAP, IDN, HTTP/2...) were loaded and relocated by every kvmbox
 * process, pulls or not: about 8,900 of the binary's 12,000 symbol
 * relocations and most of the dynamic loader's start-up (LD_DEBUG=
 * statistics), paid by every boot. Opened here with dlopen on first use,
 * only a pull pays for it. The table is filled once (pthread_once) and
 * never changed after: a process-wide constant, not state.
 */
#define _GNU_SOURCE
#include "oci/curl_dl.h"

#include <stdbool.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Debian's libcurl4 (OpenSSL), then libcurl3-gnutls: the same ABI 4. */
static const char *const curl_sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };

struct curl_dl {
	struct oci_curl fns;
	bool ok;
	char why[256];
};

static pthread_once_t curl_dl_once = PTHREAD_ONCE_INIT;
static struct curl_dl curl_dl; /* written once, under curl_dl_once */

/* curl_dl_sym: *slot = the symbol name of h; false (why said) when missing. */
static bool curl_dl_sym(void *h, const char *name, void **slot, struct curl_dl *d)
{
	*slot = dlsym(h, name);
	if (!*slot)
		snprintf(d->why, sizeof(d->why), "libcurl lacks %s", name);
	return *slot != NULL;
}

#define CURL_DL_SYM(h, d, field, name) curl_dl_sym(h, name, (void **)&(d)->fns.field, d)

static void curl_dl_open(void)
{
	struct curl_dl *d = &curl_dl;
	void *h = NULL;
	CURLcode cc;

	for (size_t i = 0; !h && i < sizeof(curl_sonames) / sizeof(curl_sonames[0]); i++)
		h = dlopen(curl_sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(d->why, sizeof(d->why),
		         "registry pulls need libcurl (libcurl.so.4: apt install libcurl4): %s",
		         dlerror());
		return;
	}
	if (!CURL_DL_SYM(h, d, global_init, "curl_global_init") ||
	    !CURL_DL_SYM(h, d, easy_init, "curl_easy_init") ||
	    !CURL_DL_SYM(h, d, easy_reset, "curl_easy_reset") ||
	    !CURL_DL_SYM(h, d, easy_cleanup, "curl_easy_cleanup") ||
	    !CURL_DL_SYM(h, d, easy_setopt, "curl_easy_setopt") ||
	    !CURL_DL_SYM(h, d, easy_perform, "curl_easy_perform") ||
	    !CURL_DL_SYM(h, d, easy_getinfo, "curl_easy_getinfo") ||
	    !CURL_DL_SYM(h, d, easy_strerror, "curl_easy_strerror") ||
	    !CURL_DL_SYM(h, d, easy_escape, "curl_easy_escape") ||
	    !CURL_DL_SYM(h, d, slist_append, "curl_slist_append") ||
	    !CURL_DL_SYM(h, d, slist_free_all, "curl_slist_free_all") ||
	    !CURL_DL_SYM(h, d, free, "curl_free") || !CURL_DL_SYM(h, d, url, "curl_url") ||
	    !CURL_DL_SYM(h, d, url_cleanup, "curl_url_cleanup") ||
	    !CURL_DL_SYM(h, d, url_set, "curl_url_set") ||
	    !CURL_DL_SYM(h, d, url_get, "curl_url_get"))
		return; /* the handle stays open: the process may try nothing else */
	cc = d->fns.global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		snprintf(d->why, sizeof(d->why), "libcurl: %s", d->fns.easy_strerror(cc));
		return;
	}
	d->ok = true;
}

const struct oci_curl *oci_curl(char *err, size_t errcap)
{
	pthread_once(&curl_dl_once, curl_dl_open);
	if (curl_dl.ok)
		return &curl_dl.fns;
	if (err && errcap)
		snprintf(err, errcap, "%s", curl_dl.why);
	return NULL;
}

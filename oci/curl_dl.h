/* SPDX-License-Identifier: MIT */
/*
 * curl_dl: the libcurl functions the registry source uses, through a table
 * filled by dlopen on first use (curl_dl.c says why). Private to the
 * registry source (source_registry.c, source_registry_parse.c).
 */
#ifndef KVMBOX_OCI_CURL_DL_H
#define KVMBOX_OCI_CURL_DL_H

#include <curl/curl.h>
#include <stddef.h>

struct oci_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_reset)(CURL *c);
	void (*easy_cleanup)(CURL *c);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode cc);
	char *(*easy_escape)(CURL *c, const char *s, int len);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	void (*free)(void *p);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *u);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **s, unsigned int flags);
};

/*
 * oci_curl: libcurl, opened and initialised (curl_global_init) once per
 * process; NULL when it cannot be, with why in err (errcap bytes; err may
 * be NULL).
 */
const struct oci_curl *oci_curl(char *err, size_t errcap);

#endif

// SPDX-License-Identifier: MIT
/*
 * proto/bytes: byte strings as JSON strings or base64 objects, and errno
 * names (bytes.h).
 */
#define _GNU_SOURCE
#include "proto/bytes.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* b64_encode: n bytes of p as padded base64 (RFC 4648 section 4), malloc'd. */
static char *b64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/*
 * b64_decode: padded base64 text of length n into out (room for n / 4 * 3
 * bytes), *len its length; -EINVAL for anything not canonical.
 */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t *len)
{
	size_t o = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(s[i + k]);
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (v[k] < 0 || pad) {
				return -EINVAL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*len = o;
	return 0;
}

json_t *proto_bytes_json(const void *s, size_t n)
{
	/* json_stringn refuses what is not UTF-8; a NUL would be refused by
	 * every receiver (docs/protocol.md), so it goes as base64 too. */
	json_t *v = memchr(s, '\0', n) ? NULL : json_stringn((const char *)s, n);
	char *enc;

	if (v)
		return v;
	enc = b64_encode(s, n);
	if (!enc)
		return NULL;
	v = json_pack("{ss}", "base64", enc);
	free(enc);
	return v;
}

int proto_bytes_get(const json_t *v, const char *key, char **out, size_t *len, size_t max,
                    struct proto_why *why)
{
	const char *s;
	size_t n, got;
	char *buf;

	if (json_is_object(v) && json_object_size(v) == 1 &&
	    json_is_string(json_object_get(v, "base64"))) {
		const json_t *b = json_object_get(v, "base64");

		s = json_string_value(b);
		n = json_string_length(b);
		if (n / 4 * 3 > max + 2) {
			proto_why_set(why, "field \"%s\" is over %zu bytes", key, max);
			return -EINVAL;
		}
		buf = malloc(n / 4 * 3 + 1);
		if (!buf)
			return -ENOMEM;
		if (b64_decode(s, n, (uint8_t *)buf, &got) != 0) {
			free(buf);
			proto_why_set(why, "field \"%s\": bad base64", key);
			return -EINVAL;
		}
	} else if (json_is_string(v)) {
		got = json_string_length(v);
		buf = got <= max ? malloc(got + 1) : NULL;
		if (buf)
			memcpy(buf, json_string_value(v), got);
		else if (got <= max)
			return -ENOMEM;
	} else {
		proto_why_set(why, "field \"%s\" must be a string or {\"base64\": string}", key);
		return -EINVAL;
	}
	if (got > max) {
		free(buf);
		proto_why_set(why, "field \"%s\" is over %zu bytes", key, max);
		return -EINVAL;
	}
	if (memchr(buf, '\0', got)) {
		/* No Unix path, argument or variable can hold one: refused,
		 * never cut short (docs/protocol.md, "Byte strings"). */
		free(buf);
		proto_why_set(why, "field \"%s\" holds a NUL byte, which no Unix string can carry",
		              key);
		return -EINVAL;
	}
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	return 0;
}

int proto_msg_get_path(const json_t *obj, const char *key, char **out, unsigned int flags,
                       struct proto_why *why)
{
	const json_t *v = json_object_get(obj, key);
	size_t len;
	char *p;
	int err;

	if (!v || json_is_null(v)) {
		if (flags & PROTO_OPTIONAL)
			return 0;
		proto_why_set(why, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	err = proto_bytes_get(v, key, &p, &len, PROTO_PATH_MAX, why);
	if (err)
		return err;
	if (!len) {
		free(p);
		proto_why_set(why, "field \"%s\" is empty", key);
		return -EINVAL;
	}
	*out = p;
	return 0;
}

int proto_msg_set_path(json_t *obj, const char *key, const char *path)
{
	json_t *v = proto_bytes_json(path, strlen(path));

	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

int proto_msg_get_bytes(const json_t *obj, const char *key, char **out, size_t max,
                        unsigned int flags, struct proto_why *why)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (flags & PROTO_OPTIONAL)
			return 0;
		proto_why_set(why, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	return proto_bytes_get(v, key, out, NULL, max, why);
}

json_t *proto_bytes_array(const char *const *v)
{
	json_t *a = json_array();

	for (; a && *v; v++) {
		if (json_array_append_new(a, proto_bytes_json(*v, strlen(*v)))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/*
 * bytesv_pack: the n byte strings s[i] (len[i] bytes each, total in all)
 * as one block: n + 1 pointers, then the strings with their NULs, so that
 * one free() releases everything. NULL: ENOMEM.
 */
static char **bytesv_pack(char *const *s, const size_t *len, size_t n, size_t total)
{
	char **a = malloc((n + 1) * sizeof(*a) + total + n);
	char *p;

	if (!a)
		return NULL;
	p = (char *)(a + n + 1);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, s[i], len[i] + 1);
		a[i] = p;
		p += len[i] + 1;
	}
	a[n] = NULL;
	return a;
}

int proto_msg_get_bytesv(const json_t *obj, const char *key, char ***out, size_t *count, size_t max,
                         unsigned int flags, struct proto_why *why)
{
	const json_t *v = json_object_get(obj, key);
	char **s = NULL, name[96];
	size_t n, *len = NULL, total = 0, i;
	int err = 0;

	if (!v || json_is_null(v)) {
		if (flags & PROTO_OPTIONAL)
			return 0;
		proto_why_set(why, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_is_array(v) || json_array_size(v) > max) {
		proto_why_set(why, "field \"%s\" must be an array of at most %zu strings", key,
		              max);
		return -EINVAL;
	}
	n = json_array_size(v);
	s = calloc(n + 1, sizeof(*s));
	len = calloc(n + 1, sizeof(*len));
	if (!s || !len)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		snprintf(name, sizeof(name), "%.60s[%zu]", key, i);
		/* Each element fits the frame's JSON limit; the sum is bounded by it too. */
		err = proto_bytes_get(json_array_get(v, i), name, &s[i], &len[i], PROTO_MAX_JSON,
		                      why);
		total += err ? 0 : len[i];
	}
	if (!err) {
		*out = bytesv_pack(s, len, n, total);
		err = *out ? 0 : -ENOMEM;
	}
	if (!err && count)
		*count = n;
	for (i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
	free(len);
	return err;
}

const char *proto_errno_name(int err)
{
	/* glibc 2.32's strerrorname_np: no table of our own to keep. */
	return strerrorname_np(err < 0 ? -err : err);
}

int proto_errno_value(const char *name)
{
	/* Linux's errno values are below 4096 (MAX_ERRNO); a few hundred used. */
	for (int e = 1; name && e < 4096; e++) {
		const char *n = strerrorname_np(e);

		if (n && strcmp(n, name) == 0)
			return e;
	}
	return 0;
}

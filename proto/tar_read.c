// SPDX-License-Identifier: MIT
/*
 * proto/tar_read: an incremental tar reader (tar.h). Bytes come in any
 * pieces; headers are collected a 512-byte block at a time, extended
 * headers up to PROTO_TAR_EXT_MAX, and a regular file's data is handed out
 * as slices of the caller's bytes, never copied. Everything is untrusted:
 * checksums are checked, numbers parsed strictly, names bounded.
 *
 * Layout: POSIX.1-2017 XCU pax, "ustar Interchange Format" (the field
 * offsets are in tar_write.c) and "pax Interchange Format" (extended
 * header records); GNU's 'L'/'K' long names and base-256 numbers as GNU
 * tar writes them.
 */
#include "proto/bytes.h"
#include "proto/tar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HEADER, ST_EXT, ST_DATA, ST_PAD, ST_END };

/* field_str: a text field of up to n bytes, NUL-terminated or full. */
static size_t field_len(const uint8_t *f, size_t n)
{
	const uint8_t *z = memchr(f, '\0', n);

	return z ? (size_t)(z - f) : n;
}

/*
 * number: a numeric field: octal digits after optional spaces, ended by
 * a space or NUL (ustar), or GNU's base-256 (first byte 0x80, the rest a
 * big-endian number). -EINVAL for anything else, or a negative number.
 */
static int number(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] == 0x80) {
		for (i = 1; i < n; i++) {
			if (v >> 56)
				return -EINVAL;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -EINVAL;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -EINVAL;
	*out = v;
	return 0;
}

/* sum_ok: the block's checksum, as unsigned bytes (POSIX) or signed (old tars). */
static bool sum_ok(const uint8_t *b)
{
	unsigned long sum = 0;
	long ssum = 0;
	uint64_t want;

	if (number(b + 148, 8, &want))
		return false;
	for (size_t i = 0; i < PROTO_TAR_BLOCK; i++) {
		uint8_t c = i >= 148 && i < 156 ? ' ' : b[i];

		sum += c;
		ssum += (signed char)c;
	}
	return want == sum || (int64_t)want == ssum;
}

static bool all_zero(const uint8_t *b)
{
	for (size_t i = 0; i < PROTO_TAR_BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static int fail(struct proto_tar_reader *r, struct proto_why *why, const char *what)
{
	proto_why_set(why, "tar: %s", what);
	r->state = -1;
	return -EINVAL;
}

/* set_str: *dst = a malloc'd copy of n bytes of s; no NUL, at most PROTO_PATH_MAX. */
static int set_str(char **dst, const char *s, size_t n)
{
	char *c;

	if (n > PROTO_PATH_MAX || memchr(s, '\0', n))
		return -EINVAL;
	c = malloc(n + 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, s, n);
	c[n] = '\0';
	free(*dst);
	*dst = c;
	return 0;
}

/* pax_num: a decimal record value: [-]digits[.digits] (mtime may be negative or fractional). */
static int pax_num(const char *v, size_t n, bool frac, int64_t *out, uint32_t *nsec)
{
	size_t i = 0;
	bool neg = false;
	uint64_t x = 0;
	uint32_t ns = 0;

	if (frac && n && v[0] == '-')
		neg = true, i++;
	if (i == n)
		return -EINVAL;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > (UINT64_MAX >> 1) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (frac && i < n && v[i] == '.') {
		uint32_t scale = 100000000;

		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, scale /= 10)
			ns += (uint32_t)(v[i] - '0') * scale;
	}
	if (i != n)
		return -EINVAL;
	*out = neg ? -(int64_t)x : (int64_t)x;
	if (nsec)
		*nsec = neg ? 0 : ns;
	return 0;
}

/* pax_record: one "key=value" of an 'x' header into the overrides; others ignored. */
static int pax_record(struct proto_tar_reader *r, const char *k, size_t klen, const char *v,
                      size_t vlen)
{
	int64_t x;

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)
	if (KEY("path"))
		return set_str(&r->ov_path, v, vlen);
	if (KEY("linkpath"))
		return set_str(&r->ov_link, v, vlen);
	if (KEY("mtime"))
		return pax_num(v, vlen, true, &r->ov.mtime, &r->ov.mtime_nsec)
		           ?: (r->ov_mtime = true, 0);
	if (!KEY("size") && !KEY("uid") && !KEY("gid"))
		return 0;
	if (pax_num(v, vlen, false, &x, NULL))
		return -EINVAL;
	if (KEY("size"))
		r->ov.size = (uint64_t)x, r->ov_size = true;
	else if (KEY("uid"))
		r->ov.uid = (uint64_t)x, r->ov_uid = true;
	else
		r->ov.gid = (uint64_t)x, r->ov_gid = true;
	return 0;
#undef KEY
}

/* pax_parse: the records "LEN KEY=VALUE\n" of an 'x' header (pax Interchange Format). */
static int pax_parse(struct proto_tar_reader *r)
{
	const char *p = r->ext, *end = r->ext + r->ext_len;

	while (p < end) {
		size_t len = 0, i = 0, avail = (size_t)(end - p);
		const char *eq;

		for (; i < avail && p[i] >= '0' && p[i] <= '9' && i < 8; i++)
			len = len * 10 + (size_t)(p[i] - '0');
		if (!i || i >= avail || p[i] != ' ' || len <= i + 1 || len > avail ||
		    p[len - 1] != '\n')
			return -EINVAL;
		eq = memchr(p + i + 1, '=', len - i - 2);
		if (!eq || eq == p + i + 1)
			return -EINVAL;
		if (pax_record(r, p + i + 1, (size_t)(eq - p - i - 1), eq + 1,
		               (size_t)(p + len - 1 - eq - 1)))
			return -EINVAL;
		p += len;
	}
	return 0;
}

static void overrides_clear(struct proto_tar_reader *r)
{
	free(r->ov_path);
	free(r->ov_link);
	r->ov_path = r->ov_link = NULL;
	r->ov_size = r->ov_uid = r->ov_gid = r->ov_mtime = false;
	r->ov = (struct proto_tar_entry){ 0 };
}

/* ext_done: an 'x', 'L' or 'K' header's data is complete. */
static int ext_done(struct proto_tar_reader *r)
{
	size_t n = r->ext_len;
	int err;

	if (r->ext_type == 'x') {
		err = pax_parse(r);
	} else {
		/* GNU long names are NUL-terminated in their data. */
		n = field_len((const uint8_t *)r->ext, n);
		err = set_str(r->ext_type == 'L' ? &r->ov_path : &r->ov_link, r->ext, n);
	}
	free(r->ext);
	r->ext = NULL;
	r->ext_type = 0;
	return err;
}

/* entry_names: the entry's path and link target: overrides, else the ustar fields. */
static int entry_names(struct proto_tar_reader *r, const uint8_t *b)
{
	char buf[PROTO_TAR_BLOCK];
	size_t n = 0, pre = field_len(b + 345, 155);
	int err;

	if (r->ov_path) {
		free(r->path);
		r->path = r->ov_path;
		r->ov_path = NULL;
	} else {
		/* POSIX ustar only: GNU's magic ("ustar  ") keeps times there. */
		if (memcmp(b + 257, "ustar\0", 6) == 0 && pre) {
			memcpy(buf, b + 345, pre);
			buf[pre] = '/';
			n = pre + 1;
		}
		memcpy(buf + n, b, field_len(b, 100));
		n += field_len(b, 100);
		err = set_str(&r->path, buf, n);
		if (err)
			return err;
	}
	if (r->ov_link) {
		free(r->link);
		r->link = r->ov_link;
		r->ov_link = NULL;
		return 0;
	}
	return set_str(&r->link, (const char *)b + 157, field_len(b + 157, 100));
}

/* padding: the bytes after size bytes of data up to the next block. */
static size_t padding(uint64_t size)
{
	return (size_t)((PROTO_TAR_BLOCK - size % PROTO_TAR_BLOCK) % PROTO_TAR_BLOCK);
}

/* header: a complete header block; 1 for an entry event, 0 to go on, -EINVAL. */
static int header(struct proto_tar_reader *r, struct proto_why *why)
{
	const uint8_t *b = r->block;
	struct proto_tar_entry *e = &r->entry;
	uint64_t v[5];
	char type = (char)b[156];

	if (all_zero(b)) {
		if (++r->zeros == 2)
			r->state = ST_END;
		return r->zeros == 2 ? 1 : 0;
	}
	r->zeros = 0;
	if (!sum_ok(b))
		return fail(r, why, "a header's checksum is wrong");
	if (number(b + 100, 8, &v[0]) || number(b + 108, 8, &v[1]) || number(b + 116, 8, &v[2]) ||
	    number(b + 124, 12, &v[3]) || number(b + 136, 12, &v[4]))
		return fail(r, why, "a header has a bad number");
	r->left = v[3];
	if (type == 'x' || type == 'L' || type == 'K') {
		if (r->ext_type || v[3] > PROTO_TAR_EXT_MAX)
			return fail(r, why, "an extended header is over 64 KiB or repeated");
		r->ext = malloc(v[3] + 1);
		if (!r->ext)
			return fail(r, why, "out of memory");
		r->ext_type = type;
		r->ext_len = 0;
		r->pad = padding(v[3]);
		r->state = ST_EXT;
		return 0;
	}
	if (type == 'g') { /* global pax records: ignored (docs/protocol.md) */
		r->deliver = false;
		r->pad = padding(v[3]);
		r->state = ST_DATA;
		return 0;
	}
	if (entry_names(r, b))
		return fail(r, why, "a name is over 4095 bytes or holds a NUL");
	*e = (struct proto_tar_entry){
		.type = type == '\0' || type == '7' ? PROTO_TAR_FILE : type,
		.path = r->path,
		.linkpath = r->link,
		.mode = (uint32_t)(v[0] & 07777),
		.uid = r->ov_uid ? r->ov.uid : v[1],
		.gid = r->ov_gid ? r->ov.gid : v[2],
		.size = r->ov_size ? r->ov.size : v[3],
		.mtime = r->ov_mtime ? r->ov.mtime : (int64_t)v[4],
		.mtime_nsec = r->ov_mtime ? r->ov.mtime_nsec : 0,
	};
	overrides_clear(r);
	r->left = e->size;
	r->pad = padding(e->size);
	r->deliver = e->type == PROTO_TAR_FILE;
	r->state = ST_DATA;
	return 1;
}

/* data_done: the entry's data (or an extension's) ended: its padding next. */
static void data_done(struct proto_tar_reader *r)
{
	r->state = r->pad ? ST_PAD : ST_HEADER;
}

int proto_tar_feed(struct proto_tar_reader *r, const uint8_t *p, size_t n, size_t *used,
                   struct proto_tar_ev *ev, struct proto_why *why)
{
	size_t off = 0, take;
	int err = 0;

	while (off < n && !err) {
		switch (r->state) {
		case ST_HEADER:
			take = PROTO_TAR_BLOCK - r->have < n - off ? PROTO_TAR_BLOCK - r->have
			                                           : n - off;
			memcpy(r->block + r->have, p + off, take);
			r->have += take;
			off += take;
			if (r->have < PROTO_TAR_BLOCK)
				break;
			r->have = 0;
			err = header(r, why);
			if (err == 1) {
				ev->kind =
				    r->state == ST_END ? PROTO_TAR_EV_END : PROTO_TAR_EV_ENTRY;
				if (ev->kind == PROTO_TAR_EV_ENTRY && !r->left)
					data_done(r);
			}
			break;
		case ST_EXT:
			take = r->left < n - off ? (size_t)r->left : n - off;
			memcpy(r->ext + r->ext_len, p + off, take);
			r->ext_len += take;
			r->left -= take;
			off += take;
			if (!r->left) {
				data_done(r);
				if (ext_done(r))
					err = fail(r, why, "a bad pax record or long name");
			}
			break;
		case ST_DATA:
			take = r->left < n - off ? (size_t)r->left : n - off;
			r->left -= take;
			if (r->deliver && take) {
				*ev = (struct proto_tar_ev){ PROTO_TAR_EV_DATA, p + off, take };
				err = 1;
			}
			off += take;
			if (!r->left)
				data_done(r);
			break;
		case ST_PAD:
			take = r->pad < n - off ? r->pad : n - off;
			r->pad -= take;
			off += take;
			if (!r->pad)
				r->state = ST_HEADER;
			break;
		case ST_END:
			off = n; /* what follows the trailer is ignored */
			break;
		default:
			err = -EINVAL;
			proto_why_set(why, "tar: the stream was refused before");
		}
	}
	*used = off;
	return err;
}

bool proto_tar_at_end(const struct proto_tar_reader *r)
{
	return r->state == ST_END || (r->state == ST_HEADER && !r->have && !r->ext_type);
}

void proto_tar_reader_destroy(struct proto_tar_reader *r)
{
	overrides_clear(r);
	free(r->ext);
	free(r->path);
	free(r->link);
	*r = (struct proto_tar_reader){ 0 };
}

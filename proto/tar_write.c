// SPDX-License-Identifier: MIT
/*
 * proto/tar_write: the header blocks of one tar entry (tar.h). The layout
 * is POSIX.1-2017 XCU pax, "ustar Interchange Format": a 512-byte block
 * of fixed fields (name 0/100, mode 100/8, uid 108/8, gid 116/8, size
 * 124/12, mtime 136/12, chksum 148/8, typeflag 156, linkname 157/100,
 * magic 257/6 "ustar\0", version 263/2 "00", uname, gname, devmajor,
 * devminor, prefix 345/155). A value that does not fit its field goes in
 * a pax extended header ('x') just before ("pax Interchange Format":
 * records "LEN KEY=VALUE\n", LEN counting the whole record).
 */
#include "proto/bytes.h"
#include "proto/tar.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define USTAR_MAX_SIZE 077777777777ull /* 11 octal digits */
#define USTAR_MAX_ID   07777777ull     /* 7 octal digits */

/* octal: v as a zero-filled octal number of n - 1 digits and a NUL. */
static void octal(uint8_t *field, size_t n, uint64_t v)
{
	field[n - 1] = '\0';
	for (size_t i = n - 1; i-- > 0; v >>= 3)
		field[i] = (uint8_t)('0' + (v & 7));
}

/* checksum: the ustar chksum of block b: its bytes summed as unsigned,
 * with the chksum field counted as eight spaces; written as six octal
 * digits, a NUL and a space (as every tar does). */
static void checksum(uint8_t *b)
{
	unsigned int sum = 0;

	memset(b + 148, ' ', 8);
	for (size_t i = 0; i < PROTO_TAR_BLOCK; i++)
		sum += b[i];
	octal(b + 148, 7, sum);
	b[155] = ' ';
}

/*
 * split: where path fits ustar's prefix (155) and name (100), split at a
 * '/' so that both fit and the name is not empty; the index of that '/',
 * or 0 when it does not fit (path itself must be over 100 bytes).
 */
static size_t split(const char *path, size_t len)
{
	for (size_t i = len - 1; i > 0; i--) {
		if (path[i] != '/')
			continue;
		if (len - i - 1 > 100)
			return 0; /* the name part only grows leftwards */
		if (i <= 155 && len - i - 1 > 0)
			return i;
	}
	return 0;
}

/* record: append "LEN key=value\n" to the pax data at d[*n] (room checked). */
static int record(uint8_t *d, size_t cap, size_t *n, const char *key, const char *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, len = body, digits;

	/* LEN counts its own digits: find the fixed point. */
	for (;;) {
		char tmp[24];

		digits = (size_t)snprintf(tmp, sizeof(tmp), "%zu", len);
		if (body + digits == len)
			break;
		len = body + digits;
	}
	if (*n + len > cap)
		return -ENAMETOOLONG;
	*n += (size_t)snprintf((char *)d + *n, cap - *n, "%zu %s=", len, key);
	memcpy(d + *n, val, vlen);
	*n += vlen;
	d[(*n)++] = '\n';
	return 0;
}

static int record_num(uint8_t *d, size_t cap, size_t *n, const char *key, int64_t v, bool sign)
{
	char num[24];
	int len = sign ? snprintf(num, sizeof(num), "%lld", (long long)v)
	               : snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	return record(d, cap, n, key, num, (size_t)len);
}

/* pax_data: the pax records e needs into d; *n their length (0: none). */
static int pax_data(const struct proto_tar_entry *e, const char *path, size_t plen, uint8_t *d,
                    size_t cap, size_t *n)
{
	size_t llen = strlen(e->linkpath);
	int err = 0;

	*n = 0;
	if (plen > 100 && !split(path, plen))
		err = record(d, cap, n, "path", path, plen);
	if (!err && llen > 100)
		err = record(d, cap, n, "linkpath", e->linkpath, llen);
	if (!err && e->size > USTAR_MAX_SIZE)
		err = record_num(d, cap, n, "size", (int64_t)e->size, false);
	if (!err && e->uid > USTAR_MAX_ID)
		err = record_num(d, cap, n, "uid", (int64_t)e->uid, false);
	if (!err && e->gid > USTAR_MAX_ID)
		err = record_num(d, cap, n, "gid", (int64_t)e->gid, false);
	if (!err && (e->mtime < 0 || (uint64_t)e->mtime > USTAR_MAX_SIZE))
		err = record_num(d, cap, n, "mtime", e->mtime, true);
	return err;
}

/* ustar: the fixed block of e at b (zeroed), its fields cut where pax carries them. */
static void ustar(uint8_t *b, const struct proto_tar_entry *e, char type, const char *path,
                  size_t plen)
{
	size_t cut = plen > 100 ? split(path, plen) : 0, llen = strlen(e->linkpath);

	if (cut) {
		memcpy(b + 345, path, cut);
		memcpy(b, path + cut + 1, plen - cut - 1);
	} else {
		memcpy(b, path, plen > 100 ? 100 : plen);
	}
	octal(b + 100, 8, e->mode & 07777);
	octal(b + 108, 8, e->uid > USTAR_MAX_ID ? 0 : e->uid);
	octal(b + 116, 8, e->gid > USTAR_MAX_ID ? 0 : e->gid);
	octal(b + 124, 12, e->size > USTAR_MAX_SIZE ? 0 : e->size);
	octal(b + 136, 12,
	      e->mtime < 0 || (uint64_t)e->mtime > USTAR_MAX_SIZE ? 0 : (uint64_t)e->mtime);
	b[156] = (uint8_t)type;
	memcpy(b + 157, e->linkpath, llen > 100 ? 100 : llen);
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	octal(b + 329, 8, 0);
	octal(b + 337, 8, 0);
	checksum(b);
}

int proto_tar_header(const struct proto_tar_entry *e, uint8_t *out, size_t cap, size_t *len)
{
	char path[PROTO_PATH_MAX + 2];
	size_t plen = strlen(e->path), n, off = 0;
	struct proto_tar_entry x = { .mode = 0644, .linkpath = "" };
	int err;

	/* A folder's name ends in '/', as tar writes it. */
	if (plen > PROTO_PATH_MAX || strlen(e->linkpath) > PROTO_PATH_MAX ||
	    cap < PROTO_TAR_HEADER_MAX)
		return -ENAMETOOLONG;
	memcpy(path, e->path, plen + 1);
	if (e->type == PROTO_TAR_DIR && plen && path[plen - 1] != '/') {
		path[plen++] = '/';
		path[plen] = '\0';
	}
	memset(out, 0, PROTO_TAR_BLOCK);
	err = pax_data(e, path, plen, out + PROTO_TAR_BLOCK, cap - 2 * PROTO_TAR_BLOCK, &n);
	if (err)
		return err;
	if (n) {
		size_t padded = (n + PROTO_TAR_BLOCK - 1) / PROTO_TAR_BLOCK * PROTO_TAR_BLOCK;

		memset(out + PROTO_TAR_BLOCK + n, 0, padded - n);
		x.size = n;
		x.mtime = e->mtime < 0 ? 0 : e->mtime;
		ustar(out, &x, 'x', "././@PaxHeader", 14);
		off = PROTO_TAR_BLOCK + padded;
	}
	memset(out + off, 0, PROTO_TAR_BLOCK);
	ustar(out + off, e, e->type, path, plen);
	*len = off + PROTO_TAR_BLOCK;
	return 0;
}

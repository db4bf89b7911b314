// SPDX-License-Identifier: MIT
/*
 * layer: a layer's tar stream applied to a folder (oci_int.h,
 * oci_layer_apply). This file owns the stream: libarchive reading tar
 * (ustar, pax, GNU) through at most one of gzip and zstd, the check that
 * the compression is the one the media type names (image-spec layer.md
 * "+gzip Media Types", "+zstd Media Types"), the limits, the loop over the
 * entries (layer_entry.c) and the folders' mtimes at the end.
 *
 * libarchive's archive_write_disk is not used: it resolves names itself,
 * follows symlinks a previous entry made, sets owners and modes for real.
 * Each entry is made by layer_entry.c with *at calls beneath the folder.
 */
#define _GNU_SOURCE
#include "oci/layer_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libarchive's read block: what one read(2) of the stream asks for. */
#define LAYER_READ_BLOCK (64u << 10)

static int layer_media_ok(enum oci_media media, char *err, size_t errcap)
{
	switch (media) {
	case OCI_MEDIA_UNKNOWN:
	case OCI_MEDIA_LAYER_TAR:
	case OCI_MEDIA_LAYER_GZIP:
	case OCI_MEDIA_LAYER_ZSTD:
		return 0;
	case OCI_MEDIA_LAYER_FOREIGN:
		return oci_err(err, errcap, -ENOTSUP,
		               "layer: non-distributable (foreign) layers are not supported");
	default:
		return oci_err(err, errcap, -EINVAL, "layer: the media type is not a layer's");
	}
}

/*
 * layer_open: libarchive on fd from its start, reading only tar through
 * gzip, zstd or nothing, all built into libarchive: a filter that would run
 * an external program (ARCHIVE_WARN from its support call) is refused.
 */
static int layer_open(struct layer_ctx *c, int fd)
{
	struct archive *a = archive_read_new();

	if (!a)
		return oci_err(c->err, c->errcap, -ENOMEM, "layer: out of memory");
	c->a = a;
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK)
		return oci_err(c->err, c->errcap, -ENOTSUP,
		               "layer: libarchive was built without gzip or zstd");
	if (archive_read_support_format_tar(a) != ARCHIVE_OK)
		return oci_err(c->err, c->errcap, -ENOTSUP, "layer: libarchive without tar");
	/* The blob is the whole file, wherever writing it left the offset
	 * (pull.c hands over the descriptor it wrote through); a pipe is read
	 * from where it is. */
	if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
		return oci_err(c->err, c->errcap, -errno, "layer: %s", strerror(errno));
	if (archive_read_open_fd(a, fd, LAYER_READ_BLOCK) != ARCHIVE_OK)
		return oci_err(c->err, c->errcap, -EINVAL, "layer: not a tar stream: %s",
		               archive_error_string(a));
	return 0;
}

/* layer_filter_name: what compression the stream has, in words. */
static const char *layer_filter_name(int code)
{
	switch (code) {
	case ARCHIVE_FILTER_NONE:
		return "uncompressed";
	case ARCHIVE_FILTER_GZIP:
		return "gzip";
	case ARCHIVE_FILTER_ZSTD:
		return "zstd";
	default:
		return "something else";
	}
}

/*
 * layer_filter: the compression libarchive found (from the bytes) against
 * the one media names. libarchive stacks filters as it finds them (a gzip
 * of a gzip); a layer has at most one (layer.md), so more is refused.
 */
static int layer_filter(struct layer_ctx *c, enum oci_media media)
{
	int n = archive_filter_count(c->a), want;
	int code = n > 1 ? archive_filter_code(c->a, 0) : ARCHIVE_FILTER_NONE;

	if (n > 2)
		return oci_err(c->err, c->errcap, -EINVAL, "layer: compressed more than once");
	switch (media) {
	case OCI_MEDIA_LAYER_TAR:
		want = ARCHIVE_FILTER_NONE;
		break;
	case OCI_MEDIA_LAYER_GZIP:
		want = ARCHIVE_FILTER_GZIP;
		break;
	case OCI_MEDIA_LAYER_ZSTD:
		want = ARCHIVE_FILTER_ZSTD;
		break;
	default:
		want = code;
	}
	if (code != want)
		return oci_err(c->err, c->errcap, -EINVAL,
		               "layer: the media type says %s, the stream is %s",
		               layer_filter_name(want), layer_filter_name(code));
	return 0;
}

/* layer_stream_cap: the most the uncompressed stream may hold: file data,
 * and LAYER_META_PER_ENTRY of headers per entry (saturating). */
static uint64_t layer_stream_cap(const struct layer_ctx *c)
{
	uint64_t meta = c->max_entries > UINT64_MAX / LAYER_META_PER_ENTRY
	                    ? UINT64_MAX
	                    : c->max_entries * LAYER_META_PER_ENTRY;

	return meta > UINT64_MAX - c->max_bytes ? UINT64_MAX : meta + c->max_bytes;
}

/*
 * layer_loop: every entry. A header libarchive warns about is taken (a pax
 * name not in the C locale's charset comes with its bytes as they are);
 * layer_entry checks what it uses. Anything worse is a corrupt stream.
 */
static int layer_loop(struct layer_ctx *c)
{
	uint64_t cap = layer_stream_cap(c);
	struct archive_entry *e;
	int r;

	for (;;) {
		r = archive_read_next_header(c->a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return oci_err(c->err, c->errcap, -EINVAL, "layer: corrupt tar stream: %s",
			               archive_error_string(c->a));
		if ((uint64_t)archive_filter_bytes(c->a, 0) > cap)
			return oci_err(c->err, c->errcap, -EFBIG,
			               "layer: more than %llu bytes of tar stream",
			               (unsigned long long)cap);
		r = layer_entry(c, e);
		if (r)
			return r;
	}
}

int oci_layer_apply(int fd, enum oci_media media, int dirfd, const struct oci_layer_limits *lim,
                    struct oci_layer_stats *st, char *err, size_t errcap)
{
	struct oci_layer_stats scratch;
	struct layer_ctx *c;
	int r;

	if (!st)
		st = &scratch;
	memset(st, 0, sizeof(*st));
	r = layer_media_ok(media, err, errcap);
	if (r)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return oci_err(err, errcap, -ENOMEM, "layer: out of memory");
	c->st = st;
	c->err = err;
	c->errcap = errcap;
	c->max_bytes = lim && lim->max_bytes ? lim->max_bytes : OCI_LAYER_MAX_BYTES;
	c->max_entries = lim && lim->max_entries ? lim->max_entries : OCI_LAYER_MAX_ENTRIES;
	c->devices = geteuid() == 0;
	c->root = layer_beneath(dirfd, "", O_RDONLY | O_DIRECTORY);
	if (c->root < 0)
		r = oci_err(err, errcap, c->root, "layer: the destination: %s", strerror(-c->root));
	else
		r = layer_open(c, fd);
	if (!r)
		r = layer_filter(c, media);
	if (!r)
		r = layer_loop(c);
	if (!r) {
		r = layer_dirs_apply(&c->dirs, c->root);
		if (r)
			oci_err(err, errcap, r, "layer: folder mtimes: %s", strerror(-r));
	}
	if (c->a)
		archive_read_free(c->a);
	layer_dirs_free(&c->dirs);
	if (c->root >= 0)
		close(c->root);
	free(c);
	return r;
}

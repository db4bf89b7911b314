/* SPDX-License-Identifier: MIT */
/*
 * proto/tar: the tar streams of fs.tar_out and fs.tar_in (docs/protocol.md):
 * the POSIX.1-2001 pax interchange format, read and written here in
 * bounded memory, so that the static guest agent and the client library
 * share one implementation (no libarchive in PID 1: docs/architecture.md,
 * "Files").
 *
 *   proto_tar_header   one entry's header blocks (ustar, with a pax 'x'
 *                      header first when a field does not fit)
 *   proto_tar_reader   an incremental reader: bytes in, entries and their
 *                      data out, every header checked and bounded
 *   proto_untar        extraction of a stream beneath a folder, refusing
 *                      every entry that would leave it (tar_extract.c)
 *   proto_mktar        a file or folder as a stream, read a chunk at a
 *                      time (tar_create.c)
 *
 * Layout facts cite POSIX.1-2017 XCU pax, "ustar Interchange Format" and
 * "pax Interchange Format"; GNU's long names ('L', 'K') are read too,
 * since GNU tar writes them by default.
 */
#ifndef KVMBOX_PROTO_TAR_H
#define KVMBOX_PROTO_TAR_H

#include "proto/frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_TAR_BLOCK 512
/* A pax or GNU long-name header's data at most (docs/protocol.md). */
#define PROTO_TAR_EXT_MAX (64u << 10)
/* What proto_tar_header writes at most: a pax header with path and
 * linkpath of PROTO_PATH_MAX bytes and four numbers, and the ustar block. */
#define PROTO_TAR_HEADER_MAX (20 * PROTO_TAR_BLOCK)

/* Type flags (ustar typeflag). */
#define PROTO_TAR_FILE     '0'
#define PROTO_TAR_HARDLINK '1'
#define PROTO_TAR_SYMLINK  '2'
#define PROTO_TAR_CHAR     '3'
#define PROTO_TAR_BLOCKDEV '4'
#define PROTO_TAR_DIR      '5'
#define PROTO_TAR_FIFO     '6'

struct proto_tar_entry {
	char type;            /* one of the above; '0' also for the old '\0' and '7' */
	const char *path;     /* as in the stream (a folder's may end in '/') */
	const char *linkpath; /* hard links and symlinks; else "" */
	uint32_t mode;        /* & 07777 */
	uint64_t uid, gid;
	uint64_t size; /* data bytes that follow the header */
	int64_t mtime;
	uint32_t mtime_nsec;
};

/*
 * proto_tar_header: the header blocks of e into out (cap bytes, at least
 * PROTO_TAR_HEADER_MAX), *len their length, a multiple of 512. A path
 * or link target over PROTO_PATH_MAX bytes is -ENAMETOOLONG.
 */
__attribute__((warn_unused_result)) int proto_tar_header(const struct proto_tar_entry *e,
                                                         uint8_t *out, size_t cap, size_t *len);

/* The end of an archive: two zero blocks (ustar Interchange Format). */
#define PROTO_TAR_TRAILER (2 * PROTO_TAR_BLOCK)

enum proto_tar_ev_kind {
	PROTO_TAR_EV_ENTRY, /* r->entry holds a new entry's header */
	PROTO_TAR_EV_DATA,  /* data, len: the next bytes of a regular file's data */
	PROTO_TAR_EV_END,   /* the two zero blocks: what follows is ignored */
};

struct proto_tar_ev {
	enum proto_tar_ev_kind kind;
	const uint8_t *data; /* a slice of the bytes fed */
	size_t len;
};

/* An incremental reader; zero it (or PROTO_TAR_READER_INIT), free with _destroy. */
struct proto_tar_reader {
	int state;
	uint8_t block[PROTO_TAR_BLOCK];
	size_t have;             /* bytes in block */
	uint64_t left;           /* data bytes of the entry (or extension) still to come */
	size_t pad;              /* padding to the next block */
	bool deliver;            /* the entry's data goes out as events (regular files) */
	int ext_type;            /* 'x', 'L' or 'K' being collected; 0: none */
	char *ext;               /* that header's data */
	size_t ext_len;          /* collected so far */
	char *ov_path, *ov_link; /* overrides for the next entry (pax, GNU) */
	bool ov_size, ov_uid, ov_gid, ov_mtime;
	struct proto_tar_entry ov; /* the overriding numbers */
	unsigned int zeros;        /* consecutive zero blocks */
	char *path, *link;         /* the current entry's, owned */
	struct proto_tar_entry entry;
};

/*
 * proto_tar_feed: read n bytes of p (untrusted), stopping at the first
 * event. Returns 1 with an event in *ev, 0 when all was taken without
 * one, or -EINVAL with why (a bad checksum, number, name or record; the
 * reader is then unusable). *used: bytes of p taken either way.
 */
__attribute__((warn_unused_result)) int proto_tar_feed(struct proto_tar_reader *r, const uint8_t *p,
                                                       size_t n, size_t *used,
                                                       struct proto_tar_ev *ev,
                                                       struct proto_why *why);

/*
 * proto_tar_at_end: whether the stream may end here: after the trailer,
 * or between entries (a stream cut after its last entry is accepted).
 */
bool proto_tar_at_end(const struct proto_tar_reader *r);

void proto_tar_reader_destroy(struct proto_tar_reader *r);

/*
 * proto_untar: a stream extracted beneath the folder dir_fd (the caller's;
 * it stays open while the extraction runs). Entries are created as
 * docs/protocol.md's fs.tar_in says; an entry that would leave the folder
 * (absolute, "..", a symlink or non-folder on its way, a hard link to
 * outside) fails with -EXDEV.
 */
struct proto_untar;

__attribute__((warn_unused_result)) int proto_untar_new(struct proto_untar **out, int dir_fd,
                                                        bool owner);
/*
 * proto_untar_feed: n more bytes of the stream. 0, or -errno with why
 * and the entry's name in *path (borrowed until the next call or _free;
 * NULL when no entry is concerned); the extraction is over then.
 */
__attribute__((warn_unused_result)) int proto_untar_feed(struct proto_untar *u, const void *p,
                                                         size_t n, const char **path,
                                                         struct proto_why *why);
/* proto_untar_finish: the stream ended: 0 if it may end here, else -EINVAL. */
__attribute__((warn_unused_result)) int proto_untar_finish(struct proto_untar *u,
                                                           struct proto_why *why);
/* The entries extracted and skipped (devices, unknown types) so far. */
void proto_untar_counts(const struct proto_untar *u, uint64_t *entries, uint64_t *skipped);
void proto_untar_free(struct proto_untar *u);

/*
 * proto_mktar: the file or folder name in the folder dir_fd (O_PATH is
 * enough; dup'd), never followed, as a stream whose entries are named
 * as docs/protocol.md's fs.tar_out says (top: the top entry's name, ""
 * for a folder's contents alone).
 */
struct proto_mktar;

__attribute__((warn_unused_result)) int proto_mktar_new(struct proto_mktar **out, int dir_fd,
                                                        const char *name, const char *top,
                                                        struct proto_why *why);
/*
 * proto_mktar_read: the next bytes of the stream into buf (cap >=
 * PROTO_TAR_HEADER_MAX), *len of them; *len 0 when the stream is complete.
 * 0, or -errno with why and the path concerned in *path (borrowed,
 * relative to name: "" for name itself).
 */
__attribute__((warn_unused_result)) int proto_mktar_read(struct proto_mktar *t, uint8_t *buf,
                                                         size_t cap, size_t *len, const char **path,
                                                         struct proto_why *why);
/* The entries written, skipped (sockets, devices) and changed while read. */
void proto_mktar_counts(const struct proto_mktar *t, uint64_t *entries, uint64_t *skipped,
                        uint64_t *changed);
void proto_mktar_free(struct proto_mktar *t);

#endif

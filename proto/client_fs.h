/* SPDX-License-Identifier: MIT */
/*
 * client_fs: the file operations of docs/protocol.md from the host side,
 * on a struct proto_client (client.h): one-shot ops, a guest file read
 * into a local fd or written from one, a folder listing, and a tree
 * copied out (extracted here with proto_untar, confined to a local
 * folder: the guest's stream is untrusted) or in (made here with
 * proto_mktar). Transfers stream in chunks; nothing is held whole.
 *
 * Every call returns 0 or -errno. A file error from the agent is the
 * errno it named (-ENOENT, -EACCES...), with why "PATH: reason" for the
 * guest's path; other errors from the agent are -EHOSTUNREACH
 * (unavailable: the VMM cannot reach it) or -EIO (why has the code and
 * message); a failure on this side (the local fd, a local file of a tree)
 * is its -errno with why saying what failed, and st->remote false. After
 * a failure in the middle of a transfer, close the connection: the agent
 * may still be sending what was asked.
 */
#ifndef KVMBOX_PROTO_CLIENT_FS_H
#define KVMBOX_PROTO_CLIENT_FS_H

#include "proto/bytes.h"
#include "proto/client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What a call ended with; pass NULL when it does not matter. */
struct proto_fs_status {
	bool remote; /* a failure came from the guest (else from this side) */
	/* The path a failure concerns: the guest's (remote), or a local one
	 * inside a tree, relative to its top; "" when none is known. */
	char path[PROTO_PATH_MAX + 1];
	uint64_t bytes;   /* read, write: bytes moved */
	uint64_t entries; /* list: entries seen; tar: entries written or extracted */
	uint64_t skipped; /* tar: entries left out (devices, sockets) */
	uint64_t changed; /* tar_out: files whose size changed while read */
	bool truncated;   /* list: the limit stopped it */
};

/* fs.stat's reply. */
struct proto_fs_stat {
	char kind[8]; /* "file", "dir", "symlink", "fifo", "socket", "char", "block" */
	uint64_t size, nlink;
	uint32_t mode, uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
};

/*
 * proto_client_fs_call: send req (consumed; its id is set here) with body
 * and wait for its answer, the reply object in *reply (may be NULL;
 * json_decref it). For the one-shot ops (fs.mkdir, fs.rename, fs.chmod,
 * fs.chown...) built by the caller.
 */
__attribute__((warn_unused_result)) int
proto_client_fs_call(struct proto_client *c, json_t *req, const void *body, size_t len,
                     json_t **reply, struct proto_fs_status *st, struct proto_why *why);

__attribute__((warn_unused_result)) int proto_client_fs_stat(struct proto_client *c,
                                                             const char *path, bool follow,
                                                             struct proto_fs_stat *out,
                                                             struct proto_why *why);
__attribute__((warn_unused_result)) int proto_client_fs_mkdir(struct proto_client *c,
                                                              const char *path, uint32_t mode,
                                                              bool parents, struct proto_why *why);
__attribute__((warn_unused_result)) int proto_client_fs_remove(struct proto_client *c,
                                                               const char *path, bool recursive,
                                                               struct proto_why *why);

/* proto_client_fs_rename: from moved to to (atomic, on one file system); overwrite false: -EEXIST.
 */
__attribute__((warn_unused_result)) int proto_client_fs_rename(struct proto_client *c,
                                                               const char *from, const char *to,
                                                               bool overwrite,
                                                               struct proto_why *why);
/* proto_client_fs_chmod: path's mode (0..07777; a symlink has none: -EOPNOTSUPP). */
__attribute__((warn_unused_result)) int proto_client_fs_chmod(struct proto_client *c,
                                                              const char *path, uint32_t mode,
                                                              struct proto_why *why);
/*
 * proto_client_fs_chown: path's owner; uid or gid (uint32_t)-1 leaves it
 * as it is (as chown(2)), not both. follow: through a symlink at path.
 */
__attribute__((warn_unused_result)) int proto_client_fs_chown(struct proto_client *c,
                                                              const char *path, uint32_t uid,
                                                              uint32_t gid, bool follow,
                                                              struct proto_why *why);

/* proto_client_fs_read: the guest file path copied to out_fd as it comes. */
__attribute__((warn_unused_result)) int proto_client_fs_read(struct proto_client *c,
                                                             const char *path, int out_fd,
                                                             struct proto_fs_status *st,
                                                             struct proto_why *why);

/*
 * proto_client_fs_write: in_fd's bytes until its end written to the guest
 * file path (created with mode, or emptied), in chunks sent as the
 * socket takes them.
 */
__attribute__((warn_unused_result)) int proto_client_fs_write(struct proto_client *c,
                                                              const char *path, uint32_t mode,
                                                              int in_fd, struct proto_fs_status *st,
                                                              struct proto_why *why);

/*
 * proto_client_fs_list: each entry of the guest folder path (recursive: the
 * whole tree) given to fn as the protocol's entry object (borrowed); fn
 * returning non-zero stops the call with that value (then close c).
 */
typedef int proto_fs_entry_fn(const json_t *entry, void *opaque);
__attribute__((warn_unused_result)) int
proto_client_fs_list(struct proto_client *c, const char *path, bool recursive, uint64_t limit,
                     proto_fs_entry_fn *fn, void *opaque, struct proto_fs_status *st,
                     struct proto_why *why);

/*
 * proto_client_fs_tar_out: the guest's path (a file or a folder with all
 * it holds) extracted beneath the local folder dir_fd, its top entry
 * named name (NULL: path's last component; "": a folder's contents alone).
 */
__attribute__((warn_unused_result)) int
proto_client_fs_tar_out(struct proto_client *c, const char *path, const char *name, int dir_fd,
                        struct proto_fs_status *st, struct proto_why *why);

/*
 * proto_client_fs_tar_in: the local src_name in the folder src_dir_fd (a
 * file or a folder with all it holds; never followed) extracted beneath
 * the guest folder path, its top entry named top ("": a folder's
 * contents alone).
 */
__attribute__((warn_unused_result)) int
proto_client_fs_tar_in(struct proto_client *c, const char *path, int src_dir_fd,
                       const char *src_name, const char *top, struct proto_fs_status *st,
                       struct proto_why *why);

#endif

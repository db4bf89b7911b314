/* SPDX-License-Identifier: MIT */
/*
 * proto/walk: a depth-first walk of a folder tree on file descriptors,
 * for the file operations that cover a tree (fs.list, fs.remove,
 * fs.tar_out; the client's tar of a host folder). It never follows a
 * symlink below its top, holds one fd and one DIR per level, and goes at
 * most PROTO_WALK_MAX_DEPTH levels down, so that a tree of any shape costs
 * bounded memory and descriptors. It is resumable one entry at a time: a
 * caller serves a budget of entries per pass of its event loop.
 */
#ifndef KVMBOX_PROTO_WALK_H
#define KVMBOX_PROTO_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define PROTO_WALK_MAX_DEPTH 128

#define PROTO_WALK_POST   1u /* a folder again after its contents (e->post) */
#define PROTO_WALK_XDEV   2u /* do not enter folders on another file system */
#define PROTO_WALK_NOTOP  4u /* do not yield the top itself (only what it holds) */
#define PROTO_WALK_FOLLOW 8u /* follow the top if it is a symlink (never below it) */

struct proto_walk;

struct proto_walk_ent {
	const char *path; /* relative to the top: "" for the top, "a", "a/b" */
	const char *name; /* the last component (the top's name for the top) */
	int dir_fd;       /* the folder that holds it: for openat(dir_fd, name) */
	struct stat st;   /* lstat of it (stat for a followed top) */
	bool post;        /* a folder after its contents (PROTO_WALK_POST) */
	bool deep;        /* a folder too deep to enter: its contents are left out */
	unsigned int depth;
};

/*
 * proto_walk_new: a walk of name in the folder dir_fd (dup'd; O_PATH is
 * enough). 0, or -errno (of the top's lstat or the first open).
 */
__attribute__((warn_unused_result)) int proto_walk_new(struct proto_walk **out, int dir_fd,
                                                       const char *name, unsigned int flags);

/*
 * proto_walk_next: the next entry into *e (valid until the next call): 1,
 * 0 at the end, or -errno with the path concerned in proto_walk_path.
 * A folder yielded in pre-order is entered at the next call unless
 * proto_walk_skip was called. Entries that vanish while walked are left
 * out.
 */
__attribute__((warn_unused_result)) int proto_walk_next(struct proto_walk *w,
                                                        struct proto_walk_ent *e);

/* proto_walk_skip: do not enter the folder just yielded. */
void proto_walk_skip(struct proto_walk *w);

/* proto_walk_path: the path the last error concerns, relative to the top ("": the top). */
const char *proto_walk_path(const struct proto_walk *w);

void proto_walk_free(struct proto_walk *w);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * layer_int: the parts of oci_layer_apply (oci_int.h); private to
 * oci/layer*.c, their unit test and fuzz target.
 *
 *   layer.c        the stream: libarchive, the media type's check, the
 *                  limits, the loop over entries, folder mtimes at the end
 *   layer_entry.c  one entry: whiteouts, hard links, the host object,
 *                  its override xattr, xattrs, data
 *   layer_name.c   names: made relative, split, shown in messages
 *   layer_fs.c     the host side, confined beneath the layer's folder
 *                  (openat2), knowing nothing of tar: finding and making
 *                  folders, the override xattr, the folders' mtimes,
 *                  oci_rm_tree
 *
 * Calls go one way: layer.c -> layer_entry.c -> layer_name.c, layer_fs.c.
 */
#ifndef KVMBOX_OCI_LAYER_INT_H
#define KVMBOX_OCI_LAYER_INT_H

#include "oci/oci_int.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct archive;
struct archive_entry;

/* The defaults of struct oci_layer_limits (oci_int.h). */
#define OCI_LAYER_MAX_BYTES   (64ull << 30)
#define OCI_LAYER_MAX_ENTRIES 1000000ull

/*
 * What the tar stream may hold besides file data, per entry on average:
 * headers, pax records, long names. libarchive caps one entry's special
 * headers (32 of at most 1 MiB each); this caps the stream as a whole, so
 * that a compressed stream of nothing but metadata stops too.
 */
#define LAYER_META_PER_ENTRY (64u << 10)

/* The folders' mtimes kept for the end: at most this many bytes of names
 * and records (about 500,000 folders), past which the layer is -EFBIG. */
#define LAYER_DIR_TIMES_MAX (32u << 20)

/* ---- layer_fs.c -------------------------------------------------------- */

/*
 * layer_beneath: openat2(dirfd, path, flags | O_CLOEXEC) resolved beneath
 * dirfd with no symlink and no magic link (RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS); path "" is dirfd itself.
 * Returns the descriptor or -errno: -ELOOP for a symlink on the way, -EXDEV
 * for a way out, -ENOSYS before Linux 5.6.
 */
__attribute__((warn_unused_result)) int layer_beneath(int dirfd, const char *path, int flags);

/*
 * The override xattr (oci_int.h; the format virtio/fuse_owner.c reads and
 * writes: "uid:gid:0MODE:type", mode in octal with setuid, setgid and
 * sticky). type: "file", "dir", "pipe", "socket", "char-MAJ-MIN",
 * "block-MAJ-MIN".
 */
__attribute__((warn_unused_result)) int layer_override(int fd, uint32_t uid, uint32_t gid,
                                                       uint32_t mode, const char *type);

/* The folders' mtimes, set once every entry is in (creating a child changes
 * its folder's mtime). */
struct layer_dirs {
	struct layer_dir_time *v;
	size_t n, cap;
	char *names; /* the folders' names, NUL-separated; v[i].name an offset */
	size_t names_len, names_cap;
	size_t bytes; /* of v and names: at most LAYER_DIR_TIMES_MAX */
};

struct layer_dir_time {
	size_t name;
	ino_t ino; /* the folder the time was for: one replaced since is skipped */
	struct timespec mtime;
};

/* layer_dirs_add: folder path (normalised, "" the root), inode ino, gets
 * mtime at the end. -EFBIG past LAYER_DIR_TIMES_MAX, -ENOMEM. */
__attribute__((warn_unused_result)) int layer_dirs_add(struct layer_dirs *d, const char *path,
                                                       ino_t ino, struct timespec mtime);

/* layer_dirs_apply: each folder's mtime, in the order added (the last entry
 * for a folder wins, as in tar); a folder gone or replaced is skipped. */
__attribute__((warn_unused_result)) int layer_dirs_apply(struct layer_dirs *d, int root);
void layer_dirs_free(struct layer_dirs *d);

/*
 * layer_mkdirs: a descriptor (O_RDONLY | O_DIRECTORY) on the folder path
 * beneath root, making the missing ones (0755 on the host, root:root 0755
 * in their override xattr: tar streams often leave out their folders).
 * *made counts the folders made; none is made once *made reaches max
 * (-EFBIG). Returns the descriptor or -errno (-ELOOP, -EXDEV: a symlink on
 * the way; -ENOTDIR: a non-folder on the way).
 */
__attribute__((warn_unused_result)) int layer_mkdirs(int root, const char *path, uint64_t *made,
                                                     uint64_t max);

/* ---- layer_name.c ------------------------------------------------------ */

/* Whiteout names (image-spec layer.md "Whiteouts"). */
#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_META   ".wh..wh." /* aufs' own files (.wh..wh.plnk, ...) */
#define LAYER_WH_OPAQUE ".wh..wh..opq"

/*
 * layer_norm: a tar name made relative to the layer's root: no leading "./"
 * or "/", no "/"-runs inside, no trailing "/", no "." component; "" is the
 * root itself ("/", "./"). -EPERM for a ".." component, -EINVAL for an
 * empty name, -ENAMETOOLONG past cap (PATH_MAX).
 */
__attribute__((warn_unused_result)) int layer_norm(const char *in, char *out, size_t cap);

/* layer_split: a normalised name's folder into parent ("" the root) and
 * its last component into *base (a pointer into name); -EPERM when a
 * folder on the way is named as a whiteout (layer.md: "it is not possible
 * to create a filesystem which has a file or directory with a name
 * beginning with .wh."). */
__attribute__((warn_unused_result)) int layer_split(const char *name, char parent[PATH_MAX],
                                                    const char **base);

/* layer_show: name as it may go in a message: printable ASCII, shortened. */
void layer_show(const char *name, char *out, size_t cap);

/* ---- layer_entry.c ----------------------------------------------------- */

/* What applying one layer carries from entry to entry. */
struct layer_ctx {
	struct archive *a;
	int root; /* the layer's folder, O_RDONLY | O_DIRECTORY */
	uint64_t max_bytes, max_entries;
	struct oci_layer_stats *st;
	uint64_t inodes; /* entries and the folders made for them: <= max_entries */
	uint64_t data;   /* bytes of entry data read, any kind: <= max_bytes */
	bool devices;    /* whether device nodes are kept (the process is root) */
	struct layer_dirs dirs;
	char *err;
	size_t errcap;
	char name[PATH_MAX];   /* the entry's name, normalised */
	char parent[PATH_MAX]; /* its folder's ("" the root) */
	char target[PATH_MAX]; /* a hard link's target, normalised */
};

/* layer_entry: the entry just read (its data not yet) applied under c->root. */
__attribute__((warn_unused_result)) int layer_entry(struct layer_ctx *c, struct archive_entry *e);

#endif

// SPDX-License-Identifier: MIT
/*
 * fuse_ops_dir: SYMLINK MKNOD MKDIR UNLINK RMDIR RENAME RENAME2 LINK
 * (fuse_int.h): requests that change a directory. Every name is one
 * checked component (fuse_name_ok) under a directory the guest holds a
 * node id for, used with an *at call on that directory's descriptor: no
 * request can name anything outside the share, and none follows a
 * symlink (symlinkat writes one, never reads it; renameat2, unlinkat and
 * linkat act on the link itself).
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * fuse_reply_made: the entry of name, just made beneath dir by the
 * guest's request (mode: the type and permissions it asked for; rdev for
 * a device), after giving it the guest's ownership (fuse_owner_created,
 * best effort: the node exists either way).
 */
static int fuse_reply_made(struct fuse_req *r, struct fuse_inode *dir, const char *name,
                           mode_t mode, dev_t rdev)
{
	struct fuse_entry_out e;
	struct fuse_inode *ino;
	struct stat st;
	int fd = -1, err;

	err = fuse_lookup_fd(r->s, dir, name, &fd);
	if (err)
		return err;
	(void)fuse_owner_created(r->s, dir, fd, &r->h, mode, rdev);
	err = fuse_inode_from_fd(r->s, fd, &ino, &st);
	if (err)
		return err;
	(void)fuse_owner_stat(r->s, ino, &st);
	fuse_fill_entry(r->s, ino, &st, &e);
	return fuse_reply(r, &e, sizeof(e));
}

/* fuse_dir_name: the parent directory (node id of the request) and the
 * name at off of the arguments. */
static int fuse_dir_name(struct fuse_req *r, uint32_t off, struct fuse_inode **dir,
                         const char **name, uint32_t *next)
{
	*dir = fuse_inode_get(r->s, r->h.nodeid);
	*name = fuse_arg_name(r, off, next);
	if (!*dir)
		return -ESTALE;
	if (!*name)
		return -EINVAL;
	return S_ISDIR((*dir)->type) ? 0 : -ENOTDIR;
}

/* SYMLINK: the new entry's name, then the link's target. */
int fuse_op_symlink(struct fuse_req *r)
{
	struct fuse_inode *dir;
	const char *name, *target;
	uint32_t off;
	int err = fuse_dir_name(r, 0, &dir, &name, &off);

	if (err)
		return err;
	target = fuse_arg_str(r, off, PATH_MAX - 1, NULL);
	if (!target || !target[0])
		return -EINVAL;
	if (symlinkat(target, dir->fd, name) < 0)
		return -errno;
	return fuse_reply_made(r, dir, name, S_IFLNK | 0777, 0);
}

int fuse_op_mknod(struct fuse_req *r)
{
	struct fuse_mknod_in in;
	struct fuse_inode *dir;
	const char *name;
	mode_t type, host_mode;
	int err;

	memcpy(&in, r->arg, sizeof(in));
	err = fuse_dir_name(r, sizeof(in), &dir, &name, NULL);
	if (err)
		return err;
	type = in.mode & S_IFMT;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
	    type != S_IFBLK)
		return -EINVAL;
	host_mode = in.mode & (S_IFMT | 07777);
	/* Without privileges a device node is a regular file whose
	 * override_stat says what it is (fuse_owner.c). */
	if (r->s->xattr_owner && (type == S_IFCHR || type == S_IFBLK))
		host_mode = S_IFREG | 0600;
	if (mknodat(dir->fd, name, host_mode, S_ISREG(host_mode) ? 0 : in.rdev) < 0)
		return -errno;
	return fuse_reply_made(r, dir, name, in.mode, in.rdev);
}

int fuse_op_mkdir(struct fuse_req *r)
{
	struct fuse_mkdir_in in;
	struct fuse_inode *dir;
	const char *name;
	int err;

	memcpy(&in, r->arg, sizeof(in));
	err = fuse_dir_name(r, sizeof(in), &dir, &name, NULL);
	if (err)
		return err;
	if (mkdirat(dir->fd, name, in.mode & 07777) < 0)
		return -errno;
	return fuse_reply_made(r, dir, name, S_IFDIR | (in.mode & 07777), 0);
}

static int fuse_remove(struct fuse_req *r, int flags)
{
	struct fuse_inode *dir;
	const char *name;
	int err = fuse_dir_name(r, 0, &dir, &name, NULL);

	if (err)
		return err;
	return fuse_reply_ok(r, unlinkat(dir->fd, name, flags) < 0 ? -errno : 0);
}

int fuse_op_unlink(struct fuse_req *r)
{
	return fuse_remove(r, 0);
}

int fuse_op_rmdir(struct fuse_req *r)
{
	return fuse_remove(r, AT_REMOVEDIR);
}

/* fuse_rename: old name at off, new name after it, into newdir. */
static int fuse_rename(struct fuse_req *r, uint32_t off, uint64_t newdir_id, uint32_t flags)
{
	struct fuse_inode *dir, *newdir = fuse_inode_get(r->s, newdir_id);
	const char *name, *newname;
	uint32_t next;
	int err = fuse_dir_name(r, off, &dir, &name, &next);

	if (err)
		return err;
	newname = fuse_arg_name(r, next, NULL);
	if (!newdir)
		return -ESTALE;
	if (!newname)
		return -EINVAL;
	if (!S_ISDIR(newdir->type))
		return -ENOTDIR;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if (renameat2(dir->fd, name, newdir->fd, newname, flags) < 0)
		return -errno;
	return fuse_reply(r, NULL, 0);
}

int fuse_op_rename(struct fuse_req *r)
{
	struct fuse_rename_in in;

	memcpy(&in, r->arg, sizeof(in));
	return fuse_rename(r, sizeof(in), in.newdir, 0);
}

int fuse_op_rename2(struct fuse_req *r)
{
	struct fuse_rename2_in in;

	memcpy(&in, r->arg, sizeof(in));
	return fuse_rename(r, sizeof(in), in.newdir, in.flags);
}

/*
 * LINK: a new name for an inode the guest holds. linkat with AT_EMPTY_PATH
 * on its O_PATH descriptor needs CAP_DAC_READ_SEARCH before Linux 6.10
 * (since then, a descriptor the caller opened will do); failing that
 * (ENOENT), the magic link (fuse_inode.c): AT_SYMLINK_FOLLOW there follows
 * only that link, to the inode itself, even when the inode is a symlink.
 */
int fuse_op_link(struct fuse_req *r)
{
	struct fuse_link_in in;
	struct fuse_entry_out e;
	struct fuse_inode *dir, *old;
	const char *name;
	char proc[16];
	int err;

	memcpy(&in, r->arg, sizeof(in));
	err = fuse_dir_name(r, sizeof(in), &dir, &name, NULL);
	if (err)
		return err;
	old = fuse_inode_get(r->s, in.oldnodeid);
	if (!old)
		return -ESTALE;
	if (S_ISDIR(old->type))
		return -EPERM;
	if (linkat(old->fd, "", dir->fd, name, AT_EMPTY_PATH) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (fuse_proc_name(old, proc, sizeof(proc)))
			return -EINVAL;
		if (linkat(r->s->proc_fd, proc, dir->fd, name, AT_SYMLINK_FOLLOW) < 0)
			return -errno;
	}
	/* The entry names an inode we have: its lookup count goes up. */
	err = fuse_lookup_entry(r->s, dir, name, &e);
	return err ? err : fuse_reply(r, &e, sizeof(e));
}

// SPDX-License-Identifier: MIT
/*
 * fuse_ops_xattr: SETXATTR GETXATTR LISTXATTR REMOVEXATTR, and SYNCFS
 * (fuse_int.h). Layout facts: <linux/fuse.h>.
 *
 * An O_PATH descriptor carries no xattr calls (f*xattr, and the *xattrat
 * calls of Linux 6.13 with AT_EMPTY_PATH, refuse it: EBADF). So the inode
 * is named through its magic link, /proc/self/fd/N (fuse_inode.c): with
 * getxattrat(proc_fd, "N", 0, ...) where the host kernel has it (6.13+;
 * the /proc/self/fd descriptor taken at setup, so a later chroot keeps
 * it), else the path "/proc/self/fd/N" (/proc must be mounted there). The
 * magic link leads to the inode itself; nothing is opened, so a device
 * node or FIFO is safe too. A symlink is not: following its magic link
 * would go on to its target, so symlinks have no xattrs here
 * (EOPNOTSUPP; Linux allows only trusted.* and security.* on them anyway).
 *
 * The override_stat xattr (fuse_owner.c) is the server's, not the
 * guest's: it is left out of lists, reads as absent and cannot be set or
 * removed.
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/xattr.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Linux 6.13's *xattrat syscalls (x86-64 numbers, include/uapi/asm-generic
 * unistd.h); struct xattr_args as in <linux/xattr.h> of 6.13. */
#ifndef SYS_setxattrat
#define SYS_setxattrat    463
#define SYS_getxattrat    464
#define SYS_listxattrat   465
#define SYS_removexattrat 466
#endif

struct fuse_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* fuse_xattr_where: the inode's name under /proc/self/fd and its path. */
static int fuse_xattr_where(const struct fuse_inode *ino, char *name, size_t name_size, char *path,
                            size_t path_size)
{
	int n;

	if (S_ISLNK(ino->type))
		return -EOPNOTSUPP;
	if (fuse_proc_name(ino, name, name_size))
		return -EINVAL;
	n = snprintf(path, path_size, "/proc/self/fd/%s", name);
	return n > 0 && (size_t)n < path_size ? 0 : -EINVAL;
}

/* fuse_xattr_at: true when the *xattrat call returned (*out: its result
 * or -errno), false to fall back to the path. */
static bool fuse_xattr_at(struct fuse_srv *s, long ret, long *out)
{
	if (ret < 0 && errno == ENOSYS) {
		s->no_xattrat = true;
		return false;
	}
	*out = ret < 0 ? -errno : ret;
	return true;
}

ssize_t fuse_xattr_get(struct fuse_srv *s, const struct fuse_inode *ino, const char *attr,
                       void *buf, size_t size)
{
	struct fuse_xattr_args a = { .value = (uintptr_t)buf, .size = (uint32_t)size };
	char name[16], path[40];
	long ret;
	int err = fuse_xattr_where(ino, name, sizeof(name), path, sizeof(path));

	if (err)
		return err;
	if (!s->no_xattrat &&
	    fuse_xattr_at(s, syscall(SYS_getxattrat, s->proc_fd, name, 0, attr, &a, sizeof(a)),
	                  &ret))
		return ret;
	ret = getxattr(path, attr, buf, size);
	return ret < 0 ? -errno : ret;
}

static ssize_t fuse_xattr_list(struct fuse_srv *s, const struct fuse_inode *ino, char *buf,
                               size_t size)
{
	char name[16], path[40];
	long ret;
	int err = fuse_xattr_where(ino, name, sizeof(name), path, sizeof(path));

	if (err)
		return err;
	if (!s->no_xattrat &&
	    fuse_xattr_at(s, syscall(SYS_listxattrat, s->proc_fd, name, 0, buf, size), &ret))
		return ret;
	ret = listxattr(path, buf, size);
	return ret < 0 ? -errno : ret;
}

int fuse_xattr_set(struct fuse_srv *s, const struct fuse_inode *ino, const char *attr,
                   const void *val, size_t size, int flags)
{
	struct fuse_xattr_args a = {
		.value = (uintptr_t)val,
		.size = (uint32_t)size,
		.flags = (uint32_t)flags,
	};
	char name[16], path[40];
	long ret;
	int err = fuse_xattr_where(ino, name, sizeof(name), path, sizeof(path));

	if (err)
		return err;
	if (!s->no_xattrat &&
	    fuse_xattr_at(s, syscall(SYS_setxattrat, s->proc_fd, name, 0, attr, &a, sizeof(a)),
	                  &ret))
		return (int)ret;
	return setxattr(path, attr, val, size, flags) < 0 ? -errno : 0;
}

static int fuse_xattr_remove(struct fuse_srv *s, const struct fuse_inode *ino, const char *attr)
{
	char name[16], path[40];
	long ret;
	int err = fuse_xattr_where(ino, name, sizeof(name), path, sizeof(path));

	if (err)
		return err;
	if (!s->no_xattrat &&
	    fuse_xattr_at(s, syscall(SYS_removexattrat, s->proc_fd, name, 0, attr), &ret))
		return (int)ret;
	return removexattr(path, attr) < 0 ? -errno : 0;
}

#define OVL_GUEST "trusted.overlay."
#define OVL_HOST  "user.overlay."

/*
 * fuse_xattr_host: the host's name for the guest's xattr name (in buf, of
 * XATTR_NAME_MAX + 1 bytes, when it differs), or NULL when the guest may
 * not name it: the override xattr, and user.overlay.* on a share with
 * overlay_xattrs, whose trusted.overlay.* they are (fuse.h).
 */
static const char *fuse_xattr_host(const struct fuse_srv *s, const char *name, char *buf)
{
	if (fuse_owner_xattr_name(name))
		return NULL;
	if (!s->p.overlay_xattrs)
		return name;
	if (strncmp(name, OVL_HOST, strlen(OVL_HOST)) == 0)
		return NULL;
	if (strncmp(name, OVL_GUEST, strlen(OVL_GUEST)) != 0)
		return name;
	/* Shorter than the guest's name: it fits. */
	snprintf(buf, XATTR_NAME_MAX + 1, OVL_HOST "%s", name + strlen(OVL_GUEST));
	return buf;
}

/* fuse_xattr_hidden: whether a host xattr is left out of the guest's lists. */
static bool fuse_xattr_hidden(const struct fuse_srv *s, const char *name)
{
	return fuse_owner_xattr_name(name) ||
	       (s->p.overlay_xattrs && strncmp(name, OVL_HOST, strlen(OVL_HOST)) == 0);
}

/* fuse_xattr_name: an xattr name at off: 1..XATTR_NAME_MAX bytes. */
static const char *fuse_xattr_name(const struct fuse_req *r, uint32_t off, uint32_t *next)
{
	const char *name = fuse_arg_str(r, off, XATTR_NAME_MAX, next);

	return name && name[0] ? name : NULL;
}

int fuse_op_setxattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_setxattr_in in = { 0 };
	char buf[XATTR_NAME_MAX + 1];
	const char *name;
	uint32_t off;

	memcpy(&in, r->arg, FUSE_COMPAT_SETXATTR_IN_SIZE);
	name = fuse_xattr_name(r, FUSE_COMPAT_SETXATTR_IN_SIZE, &off);
	if (!ino)
		return -ESTALE;
	if (!name || in.size > XATTR_SIZE_MAX || in.size != r->arg_len - off)
		return -EINVAL;
	if (in.flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	/* Read before the name is mapped: it lies after the name. */
	const void *val = r->arg + off;

	name = fuse_xattr_host(r->s, name, buf);
	if (!name)
		return -EPERM;
	return fuse_reply_ok(r, fuse_xattr_set(r->s, ino, name, val, in.size, (int)in.flags));
}

int fuse_op_getxattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_getxattr_in in;
	char buf[XATTR_NAME_MAX + 1];
	const char *name;
	ssize_t n;

	memcpy(&in, r->arg, sizeof(in));
	name = fuse_xattr_name(r, sizeof(in), NULL);
	if (!ino)
		return -ESTALE;
	if (!name)
		return -EINVAL;
	name = fuse_xattr_host(r->s, name, buf);
	if (!name)
		return -ENODATA;
	n = fuse_xattr_get(r->s, ino, name, r->s->reply, XATTR_SIZE_MAX);
	if (n < 0)
		return (int)n;
	if (in.size == 0) {
		struct fuse_getxattr_out o = { .size = (uint32_t)n };

		return fuse_reply(r, &o, sizeof(o));
	}
	if ((size_t)n > in.size)
		return -ERANGE;
	return fuse_reply(r, r->s->reply, (uint32_t)n);
}

/* fuse_xattr_filter: drop the hidden xattrs from a list of n bytes. */
static size_t fuse_xattr_filter(const struct fuse_srv *s, char *list, size_t n)
{
	size_t in = 0, out = 0;

	while (in < n) {
		size_t len = strnlen(list + in, n - in) + 1;

		if (in + len > n)
			break; /* no NUL at the end: the kernel's, not ours */
		if (!fuse_xattr_hidden(s, list + in)) {
			memmove(list + out, list + in, len);
			out += len;
		}
		in += len;
	}
	return out;
}

int fuse_op_listxattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_getxattr_in in;
	ssize_t n;

	memcpy(&in, r->arg, sizeof(in));
	if (!ino)
		return -ESTALE;
	n = fuse_xattr_list(r->s, ino, (char *)r->s->reply, XATTR_LIST_MAX);
	if (n < 0)
		return (int)n;
	n = (ssize_t)fuse_xattr_filter(r->s, (char *)r->s->reply, (size_t)n);
	if (in.size == 0) {
		struct fuse_getxattr_out o = { .size = (uint32_t)n };

		return fuse_reply(r, &o, sizeof(o));
	}
	if ((size_t)n > in.size)
		return -ERANGE;
	return fuse_reply(r, r->s->reply, (uint32_t)n);
}

int fuse_op_removexattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	char buf[XATTR_NAME_MAX + 1];
	const char *name = fuse_xattr_name(r, 0, NULL);

	if (!ino)
		return -ESTALE;
	if (!name)
		return -EINVAL;
	name = fuse_xattr_host(r->s, name, buf);
	if (!name)
		return -EPERM;
	return fuse_reply_ok(r, fuse_xattr_remove(r->s, ino, name));
}

int fuse_op_syncfs(struct fuse_req *r)
{
	return fuse_reply_ok(r, syncfs(r->s->root_dir_fd) < 0 ? -errno : 0);
}

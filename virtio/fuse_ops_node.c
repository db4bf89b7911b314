// SPDX-License-Identifier: MIT
/*
 * fuse_ops_node: LOOKUP FORGET BATCH_FORGET GETATTR SETATTR STATFS ACCESS
 * READLINK (fuse_int.h): requests about one inode. Layout facts:
 * <linux/fuse.h>.
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

int fuse_op_lookup(struct fuse_req *r)
{
	struct fuse_inode *dir = fuse_inode_get(r->s, r->h.nodeid);
	const char *name = fuse_arg_name(r, 0, NULL);
	struct fuse_entry_out e;
	int err;

	if (!dir)
		return -ESTALE;
	if (!name)
		return -EINVAL;
	err = fuse_lookup_entry(r->s, dir, name, &e);
	return err ? err : fuse_reply(r, &e, sizeof(e));
}

int fuse_op_forget(struct fuse_req *r)
{
	struct fuse_forget_in in;

	memcpy(&in, r->arg, sizeof(in));
	fuse_inode_forget(r->s, r->h.nodeid, in.nlookup);
	return FUSE_NO_REPLY;
}

/* BATCH_FORGET: count entries follow; only those wholly present count. */
int fuse_op_batch_forget(struct fuse_req *r)
{
	struct fuse_batch_forget_in in;
	uint32_t avail = (r->arg_len - (uint32_t)sizeof(in)) / sizeof(struct fuse_forget_one);

	memcpy(&in, r->arg, sizeof(in));
	if (in.count < avail)
		avail = in.count;
	for (uint32_t i = 0; i < avail; i++) {
		struct fuse_forget_one one;

		memcpy(&one, r->arg + sizeof(in) + i * sizeof(one), sizeof(one));
		fuse_inode_forget(r->s, one.nodeid, one.nlookup);
	}
	return FUSE_NO_REPLY;
}

static int fuse_reply_attr(struct fuse_req *r, struct fuse_inode *ino)
{
	struct fuse_attr_out o = { .attr_valid = r->s->ttl };
	int err = fuse_inode_attr(r->s, ino, &o.attr);

	return err ? err : fuse_reply(r, &o, sizeof(o));
}

int fuse_op_getattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);

	/* fuse_getattr_in's fh (FUSE_GETATTR_FH) names the same inode: the
	 * inode's own descriptor answers. */
	return ino ? fuse_reply_attr(r, ino) : -ESTALE;
}

/* fuse_truncate: SETATTR size, through the open handle when given one. */
static int fuse_truncate(struct fuse_req *r, struct fuse_inode *ino,
                         const struct fuse_setattr_in *in)
{
	struct fuse_handle *h = NULL;
	int fd, err = 0;

	if (in->size > INT64_MAX)
		return -EINVAL;
	if (in->valid & FATTR_FH)
		h = fuse_handle_get(r->s, in->fh, false);
	if (h && h->writable)
		return ftruncate(h->fd, (off_t)in->size) < 0 ? -errno : 0;
	if (S_ISDIR(ino->type))
		return -EISDIR;
	fd = fuse_inode_reopen(r->s, ino, O_WRONLY);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)in->size) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* fuse_time: one utimensat time from SETATTR's fields. */
static int fuse_time(uint32_t valid, uint32_t set, uint32_t now, uint64_t sec, uint32_t nsec,
                     struct timespec *ts)
{
	ts->tv_sec = 0;
	ts->tv_nsec = UTIME_OMIT;
	if (valid & now) {
		ts->tv_nsec = UTIME_NOW;
	} else if (valid & set) {
		if (nsec >= 1000000000u || sec > INT64_MAX)
			return -EINVAL;
		ts->tv_sec = (time_t)sec;
		ts->tv_nsec = nsec;
	}
	return 0;
}

static int fuse_utimes(struct fuse_inode *ino, const struct fuse_setattr_in *in)
{
	struct timespec ts[2];

	if (fuse_time(in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atime, in->atimensec, &ts[0]) ||
	    fuse_time(in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime, in->mtimensec, &ts[1]))
		return -EINVAL;
	if (utimensat(ino->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* SETATTR: mode, owner, size, times, in that order (as virtiofsd). */
int fuse_op_setattr(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_setattr_in in;
	int err = 0;

	memcpy(&in, r->arg, sizeof(in));
	if (!ino)
		return -ESTALE;
	if (in.valid & FATTR_MODE)
		err = fuse_owner_chmod(r->s, ino, in.mode);
	if (!err && in.valid & (FATTR_UID | FATTR_GID))
		err = fuse_owner_chown(r->s, ino, in.valid & FATTR_UID ? in.uid : (uid_t)-1,
		                       in.valid & FATTR_GID ? in.gid : (gid_t)-1);
	if (!err && in.valid & FATTR_SIZE)
		err = fuse_truncate(r, ino, &in);
	if (!err && in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW))
		err = fuse_utimes(ino, &in);
	return err ? err : fuse_reply_attr(r, ino);
}

int fuse_op_statfs(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_statfs_out o = { 0 };
	struct statfs sf;

	if (!ino)
		return -ESTALE;
	if (fstatfs(ino->fd, &sf) < 0)
		return -errno;
	o.st.blocks = (uint64_t)sf.f_blocks;
	o.st.bfree = (uint64_t)sf.f_bfree;
	o.st.bavail = (uint64_t)sf.f_bavail;
	o.st.files = (uint64_t)sf.f_files;
	o.st.ffree = (uint64_t)sf.f_ffree;
	o.st.bsize = (uint32_t)sf.f_bsize;
	o.st.namelen = (uint32_t)sf.f_namelen;
	o.st.frsize = (uint32_t)sf.f_frsize;
	return fuse_reply(r, &o, sizeof(o));
}

/*
 * ACCESS: the classic owner/group/other check against the attributes the
 * guest sees, for the caller in the request header (the guest kernel does
 * the real checks itself: virtio-fs mounts with default_permissions, so
 * this is only asked for by access(2) paths that skip them). Only the
 * caller's primary group is known.
 */
int fuse_op_access(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_access_in in;
	struct stat st;
	unsigned int want, have;
	int err;

	memcpy(&in, r->arg, sizeof(in));
	if (!ino)
		return -ESTALE;
	err = fuse_inode_stat(r->s, ino, &st);
	if (err)
		return err;
	want = in.mask & (R_OK | W_OK | X_OK);
	if ((want & W_OK) && r->s->p.read_only)
		return -EROFS;
	if (r->h.uid == 0) {
		/* root: anything but executing what nobody may execute. */
		have = R_OK | W_OK | ((st.st_mode & 0111) || S_ISDIR(st.st_mode) ? X_OK : 0);
	} else if (st.st_uid == r->h.uid) {
		have = (st.st_mode >> 6) & 7;
	} else if (st.st_gid == r->h.gid) {
		have = (st.st_mode >> 3) & 7;
	} else {
		have = st.st_mode & 7;
	}
	return fuse_reply_ok(r, (want & ~have) ? -EACCES : 0);
}

int fuse_op_readlink(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	ssize_t n;

	if (!ino)
		return -ESTALE;
	if (!S_ISLNK(ino->type))
		return -EINVAL;
	n = readlinkat(ino->fd, "", (char *)r->s->reply, PATH_MAX);
	if (n < 0)
		return -errno;
	return fuse_reply(r, r->s->reply, (uint32_t)n);
}

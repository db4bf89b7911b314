// SPDX-License-Identifier: MIT
/*
 * fuse_ops_readdir: OPENDIR READDIR READDIRPLUS RELEASEDIR FSYNCDIR
 * (fuse_int.h). Layout facts: <linux/fuse.h> (struct fuse_dirent,
 * fuse_direntplus, FUSE_DIRENT_ALIGN).
 *
 * A directory handle is a plain descriptor; the guest's offset is the
 * host's d_off cookie, so each READDIR seeks there and reads with
 * getdents64: no state is kept between requests, and an entry that did
 * not fit is simply read again next time.
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* getdents64's record (getdents(2)). */
struct fuse_linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int fuse_op_opendir(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_open_out o = { 0 };
	int fd, err;

	if (!ino)
		return -ESTALE;
	if (!S_ISDIR(ino->type))
		return -ENOTDIR;
	fd = fuse_inode_reopen(r->s, ino, O_RDONLY);
	if (fd < 0)
		return fd;
	err = fuse_handle_new(r->s, fd, true, false, &o.fh);
	return err ? err : fuse_reply(r, &o, sizeof(o));
}

static bool fuse_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/*
 * fuse_dirent_add: one entry into s->reply at *pos if it fits in size.
 * READDIRPLUS looks each name up (the kernel takes a lookup count for each
 * entry with a node id); "." and ".." and names that fail to look up go
 * out with node id 0, which the kernel lists without linking. Returns 1
 * when added, 0 when full.
 */
static int fuse_dirent_add(struct fuse_req *r, struct fuse_inode *dir, bool plus,
                           const struct fuse_linux_dirent64 *d, size_t namelen, uint32_t size,
                           uint32_t *pos)
{
	size_t base = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t len = FUSE_DIRENT_ALIGN(base + namelen);
	uint8_t *p = r->s->reply + *pos;
	struct fuse_dirent de = {
		.ino = d->d_ino,
		.off = (uint64_t)d->d_off,
		.namelen = (uint32_t)namelen,
		.type = d->d_type,
	};

	if (len > size - *pos)
		return 0;
	memset(p, 0, len);
	if (plus) {
		struct fuse_entry_out e = { 0 };

		if (!fuse_dot(d->d_name) && fuse_lookup_entry(r->s, dir, d->d_name, &e) == 0) {
			de.ino = e.attr.ino;
			de.type = (e.attr.mode & S_IFMT) >> 12;
		}
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	memcpy(p, &de, sizeof(de));
	memcpy(p + sizeof(de), d->d_name, namelen);
	*pos += (uint32_t)len;
	return 1;
}

/* fuse_readdir_fill: entries from the handle's position into s->reply. */
static int fuse_readdir_fill(struct fuse_req *r, struct fuse_inode *dir, int fd, bool plus,
                             uint32_t size, uint32_t *pos)
{
	/* Host records are about the size of fuse_dirents (smaller than
	 * direntplus): reading size bytes of them fills the reply without
	 * reading far past it (what is read and not sent is read again next
	 * time). 1 KiB at least: room for one record of any name. */
	size_t want = size < 1024 ? 1024 : size;

	if (want > sizeof(r->s->dents))
		want = sizeof(r->s->dents);
	for (;;) {
		long n = syscall(SYS_getdents64, fd, r->s->dents, want);

		if (n < 0)
			return *pos ? 0 : -errno;
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			const struct fuse_linux_dirent64 *d = (const void *)(r->s->dents + off);
			size_t max = d->d_reclen - offsetof(struct fuse_linux_dirent64, d_name);

			if (d->d_reclen < offsetof(struct fuse_linux_dirent64, d_name) + 2 ||
			    d->d_reclen > n - off)
				return -EIO; /* the host kernel's records: cannot happen */
			if (!fuse_dirent_add(r, dir, plus, d, strnlen(d->d_name, max), size, pos))
				return 0;
			off += d->d_reclen;
		}
	}
}

static int fuse_readdir(struct fuse_req *r, bool plus)
{
	struct fuse_inode *dir = fuse_inode_get(r->s, r->h.nodeid);
	uint32_t room = r->out_len - (uint32_t)sizeof(struct fuse_out_header), size, pos = 0;
	struct fuse_read_in in;
	struct fuse_handle *h;
	int err;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, true);
	if (!h)
		return -EBADF;
	if (!dir || !S_ISDIR(dir->type))
		return -ESTALE;
	if (in.offset > INT64_MAX)
		return -EINVAL;
	size = in.size < room ? in.size : room;
	if (size > FUSE_REPLY_MAX)
		size = FUSE_REPLY_MAX;
	if (lseek(h->fd, (off_t)in.offset, SEEK_SET) < 0)
		return -errno;
	err = fuse_readdir_fill(r, dir, h->fd, plus, size, &pos);
	if (err)
		return err;
	return fuse_reply(r, r->s->reply, pos);
}

int fuse_op_readdir(struct fuse_req *r)
{
	return fuse_readdir(r, false);
}

int fuse_op_readdirplus(struct fuse_req *r)
{
	return fuse_readdir(r, true);
}

int fuse_op_releasedir(struct fuse_req *r)
{
	struct fuse_release_in in;

	memcpy(&in, r->arg, sizeof(in));
	return fuse_reply_ok(r, fuse_handle_release(r->s, in.fh, true));
}

int fuse_op_fsyncdir(struct fuse_req *r)
{
	return fuse_fsync_fh(r, true);
}

// SPDX-License-Identifier: MIT
/*
 * fuse_ops_file: OPEN CREATE READ WRITE FLUSH RELEASE FSYNC FALLOCATE
 * LSEEK COPY_FILE_RANGE (fuse_int.h): open files. Layout facts:
 * <linux/fuse.h>.
 *
 * READ and WRITE move data straight between the host file and the
 * request's own buffers (guest memory): preadv into the reply's iovecs
 * after the out header, pwritev from the request's iovecs after
 * fuse_write_in. No bounce copy; synchronous for now (virtio/fs.h).
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* COPY_FILE_RANGE copies at most this much per request, so that one
 * request blocks for a bounded time; the guest's caller loops. */
#define FUSE_COPY_MAX (64u << 20)

/*
 * fuse_open_flags: the guest's open flags, made safe for the host: the
 * access mode and the status flags that mean something here. O_DIRECT is
 * dropped (not every host file system has it, and the guest's page cache
 * is the one to bypass), O_NOATIME needs ownership, creation flags are
 * CREATE's business. -EROFS for writing on a read-only share.
 */
static int fuse_open_flags(const struct fuse_srv *s, uint32_t in, int *flags)
{
	int acc = (int)in & O_ACCMODE;

	if (acc == O_ACCMODE)
		return -EINVAL;
	if (s->p.read_only && (acc != O_RDONLY || (in & O_TRUNC)))
		return -EROFS;
	*flags = acc | ((int)in & (O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NONBLOCK));
	return 0;
}

int fuse_op_open(struct fuse_req *r)
{
	struct fuse_inode *ino = fuse_inode_get(r->s, r->h.nodeid);
	struct fuse_open_out o = { 0 };
	struct fuse_open_in in;
	int flags, fd, err;

	memcpy(&in, r->arg, sizeof(in));
	if (!ino)
		return -ESTALE;
	if (S_ISDIR(ino->type))
		return -EISDIR;
	err = fuse_open_flags(r->s, in.flags, &flags);
	if (err)
		return err;
	fd = fuse_inode_reopen(r->s, ino, flags);
	if (fd < 0)
		return fd;
	o.open_flags = r->s->fopen;
	err = fuse_handle_new(r->s, fd, false, (flags & O_ACCMODE) != O_RDONLY, &o.fh);
	return err ? err : fuse_reply(r, &o, sizeof(o));
}

/* fuse_create_at: openat2 of one checked name beneath dir, never through a
 * symlink; plain openat with O_NOFOLLOW before Linux 5.6. -1 and errno. */
static int fuse_create_at(const struct fuse_inode *dir, const char *name, struct open_how *how,
                          int flags)
{
	int fd;

	how->flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
	fd = (int)syscall(SYS_openat2, dir->fd, name, how, sizeof(*how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dir->fd, name, (int)how->flags, (mode_t)how->mode);
	return fd;
}

/*
 * fuse_open_existing: CREATE without O_EXCL of a name that exists: opened
 * as OPEN would, through its O_PATH descriptor, so that only a regular
 * file is ever opened (a FIFO would block the VMM; a device node the guest
 * made would be a host device).
 */
static int fuse_open_existing(struct fuse_srv *s, struct fuse_inode *dir, const char *name,
                              int flags, int *out)
{
	struct fuse_inode tmp = { .fd = -1 };
	struct stat st;
	int fd, err = fuse_lookup_fd(s, dir, name, &tmp.fd);

	if (err)
		return err;
	if (fstatat(tmp.fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		close(tmp.fd);
		return err;
	}
	tmp.type = st.st_mode & S_IFMT;
	fd = S_ISDIR(tmp.type) ? -EISDIR : fuse_inode_reopen(s, &tmp, flags);
	close(tmp.fd);
	if (fd < 0)
		return fd;
	*out = fd;
	return 0;
}

/*
 * CREATE: open(O_CREAT) of name beneath the parent, never through a
 * symlink (O_NOFOLLOW, RESOLVE_NO_SYMLINKS); the reply is the new entry
 * then the open handle.
 */
int fuse_op_create(struct fuse_req *r)
{
	struct fuse_inode *dir = fuse_inode_get(r->s, r->h.nodeid), *ino;
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out = { 0 };
	struct fuse_create_in in;
	struct open_how how = { .resolve =
		                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	const char *name = fuse_arg_name(r, sizeof(in), NULL);
	struct stat st;
	int flags, fd, pfd = -1, err;
	bool created;

	memcpy(&in, r->arg, sizeof(in));
	if (!dir)
		return -ESTALE;
	if (!name || (in.mode & S_IFMT && (in.mode & S_IFMT) != S_IFREG))
		return -EINVAL;
	if (!S_ISDIR(dir->type))
		return -ENOTDIR;
	err = fuse_open_flags(r->s, in.flags, &flags);
	if (err)
		return err;
	how.mode = in.mode & 07777;
	/* O_EXCL first, so that we know whether the file is new: only a new
	 * file takes the caller's ownership. Without O_EXCL from the guest, an
	 * existing file is then opened as it is (never through a symlink). */
	fd = fuse_create_at(dir, name, &how, flags | O_CREAT | O_EXCL);
	created = fd >= 0;
	if (fd < 0 && errno == EEXIST && !(in.flags & O_EXCL)) {
		err = fuse_open_existing(r->s, dir, name, flags, &fd);
		if (err)
			return err;
	}
	if (fd < 0)
		return -errno;
	out.o.open_flags = r->s->fopen;
	err = fuse_handle_new(r->s, fd, false, (flags & O_ACCMODE) != O_RDONLY, &out.o.fh);
	if (err)
		return err;
	err = fuse_lookup_fd(r->s, dir, name, &pfd);
	if (!err) {
		if (created)
			(void)fuse_owner_created(r->s, dir, pfd, &r->h, S_IFREG | (in.mode & 07777),
			                         0);
		err = fuse_inode_from_fd(r->s, pfd, &ino, &st);
	}
	if (err) {
		fuse_handle_release(r->s, out.o.fh, false);
		return err;
	}
	(void)fuse_owner_stat(r->s, ino, &st);
	fuse_fill_entry(r->s, ino, &st, &out.e);
	return fuse_reply(r, &out, sizeof(out));
}

/*
 * fuse_read_span: the bytes a READ transfers: what it asks, no more than
 * the reply's room and FUSE_SRV_MAX_WRITE (the max_read we offer). 0 or
 * -EINVAL for an offset beyond off_t.
 */
int fuse_read_span(const struct fuse_read_in *in, uint32_t room, uint32_t *len)
{
	if (in->offset > INT64_MAX)
		return -EINVAL;
	*len = in->size < room ? in->size : room;
	if (*len > FUSE_SRV_MAX_WRITE)
		*len = FUSE_SRV_MAX_WRITE;
	return 0;
}

/*
 * fuse_write_span: a WRITE's data is the rest of the request, exactly
 * (fuse_dev_do_read's layout: header, fuse_write_in, data), at most
 * FUSE_SRV_MAX_WRITE, and must end within off_t. 0 or -errno.
 */
int fuse_write_span(const struct fuse_write_in *in, uint32_t data_len)
{
	if (in->size != data_len || in->size > FUSE_SRV_MAX_WRITE)
		return -EINVAL;
	if (in->offset > INT64_MAX || in->size > INT64_MAX - in->offset)
		return -EFBIG;
	return 0;
}

/* READ and WRITE as the server's own thread serves them: the cases the
 * data path (fuse_io.c) leaves to it, or all of them without a ring. */
int fuse_op_read(struct fuse_req *r)
{
	struct fuse_read_in in;
	struct fuse_handle *h;
	uint32_t room = r->out_len - (uint32_t)sizeof(struct fuse_out_header);
	uint32_t len;
	ssize_t n;
	int cnt;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, false);
	if (!h)
		return -EBADF;
	cnt = fuse_read_span(&in, room, &len);
	if (cnt < 0)
		return cnt;
	if (len == 0)
		return fuse_reply_hdr(r, 0);
	cnt = fuse_iov_slice(r->out, r->out_n, sizeof(struct fuse_out_header), len, r->s->iov,
	                     FUSE_IOV_MAX);
	if (cnt < 0)
		return cnt;
	n = preadv(h->fd, r->s->iov, cnt, (off_t)in.offset);
	if (n < 0)
		return -errno;
	return fuse_reply_hdr(r, (uint32_t)n);
}

int fuse_op_write(struct fuse_req *r)
{
	const size_t data_off = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);
	struct fuse_write_out o = { 0 };
	struct fuse_write_in in;
	struct fuse_handle *h;
	ssize_t n;
	int cnt;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, false);
	if (!h || !h->writable)
		return -EBADF;
	cnt = fuse_write_span(&in, (uint32_t)(r->h.len - data_off));
	if (cnt < 0)
		return cnt;
	if (in.size) {
		cnt = fuse_iov_slice(r->in, r->in_n, data_off, in.size, r->s->iov, FUSE_IOV_MAX);
		if (cnt < 0)
			return cnt;
		n = pwritev(h->fd, r->s->iov, cnt, (off_t)in.offset);
		if (n < 0)
			return -errno;
		o.size = (uint32_t)n;
	}
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_flush(struct fuse_req *r)
{
	struct fuse_flush_in in;

	memcpy(&in, r->arg, sizeof(in));
	/* Nothing is buffered here and no POSIX locks are held for the guest. */
	return fuse_reply_ok(r, fuse_handle_get(r->s, in.fh, false) ? 0 : -EBADF);
}

int fuse_op_release(struct fuse_req *r)
{
	struct fuse_release_in in;

	memcpy(&in, r->arg, sizeof(in));
	return fuse_reply_ok(r, fuse_handle_release(r->s, in.fh, false));
}

/* fuse_fsync_fh: FSYNC and FSYNCDIR; bit 0 of fsync_flags: data only. */
int fuse_fsync_fh(struct fuse_req *r, bool dir)
{
	struct fuse_fsync_in in;
	struct fuse_handle *h;
	int ret;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, dir);
	if (!h)
		return -EBADF;
	ret = in.fsync_flags & 1 ? fdatasync(h->fd) : fsync(h->fd);
	return fuse_reply_ok(r, ret < 0 ? -errno : 0);
}

int fuse_op_fsync(struct fuse_req *r)
{
	return fuse_fsync_fh(r, false);
}

int fuse_op_fallocate(struct fuse_req *r)
{
	struct fuse_fallocate_in in;
	struct fuse_handle *h;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, false);
	if (!h || !h->writable)
		return -EBADF;
	if (in.offset > INT64_MAX || in.length > INT64_MAX)
		return -EINVAL;
	if (fallocate(h->fd, (int)in.mode, (off_t)in.offset, (off_t)in.length) < 0)
		return -errno;
	return fuse_reply(r, NULL, 0);
}

int fuse_op_lseek(struct fuse_req *r)
{
	struct fuse_lseek_out o = { 0 };
	struct fuse_lseek_in in;
	struct fuse_handle *h;
	off_t off;

	memcpy(&in, r->arg, sizeof(in));
	h = fuse_handle_get(r->s, in.fh, false);
	if (!h)
		return -EBADF;
	/* The kernel answers SEEK_SET/CUR/END itself; only these come. */
	if ((in.whence != SEEK_DATA && in.whence != SEEK_HOLE) || in.offset > INT64_MAX)
		return -EINVAL;
	off = lseek(h->fd, (off_t)in.offset, (int)in.whence);
	if (off < 0)
		return -errno;
	o.offset = (uint64_t)off;
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_copy_file_range(struct fuse_req *r)
{
	struct fuse_copy_file_range_in in;
	struct fuse_write_out o = { 0 };
	struct fuse_handle *hi, *ho;
	loff_t off_in, off_out;
	ssize_t n;

	memcpy(&in, r->arg, sizeof(in));
	hi = fuse_handle_get(r->s, in.fh_in, false);
	ho = fuse_handle_get(r->s, in.fh_out, false);
	if (!hi || !ho || !ho->writable || !fuse_inode_get(r->s, in.nodeid_out))
		return -EBADF;
	if (in.flags || in.off_in > INT64_MAX || in.off_out > INT64_MAX)
		return -EINVAL;
	off_in = (loff_t)in.off_in;
	off_out = (loff_t)in.off_out;
	n = copy_file_range(hi->fd, &off_in, ho->fd, &off_out,
	                    in.len < FUSE_COPY_MAX ? in.len : FUSE_COPY_MAX, 0);
	if (n < 0)
		return -errno;
	o.size = (uint32_t)n;
	return fuse_reply(r, &o, sizeof(o));
}

// SPDX-License-Identifier: MIT
/*
 * fuse_io: the data path, READ and WRITE split into prepare and complete
 * (fuse.h, "The data path"), so that virtio/fs.c can move the bytes on the
 * main loop's io_uring, straight between the host file and the request's
 * guest buffers, while metadata requests keep the worker thread.
 *
 * Only plain transfers take this path. Whatever would end in an error, or
 * in an empty reply, is left to fuse_srv_handle (prep returns false and
 * holds nothing), so that every error reply comes from one place and this
 * file needs none of the server's scratch buffers: it may run on a second
 * thread while the first serves another request. What the two share is
 * the handle table, under handles_lock, and the INIT flag (atomic).
 *
 * Ordering: the FUSE client does not depend on the order in which
 * replies come (each carries its unique), and it waits for the replies
 * of the writes it depends on before FSYNC, FLUSH or RELEASE (fs/fuse/
 * file.c: fuse_sync_writes, fuse_flush), so a transfer on the ring and a
 * metadata request on the worker may finish in either order, as they may
 * with virtiofsd's thread pool.
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

/* The arguments READ and WRITE take: one struct either way (40 bytes). */
union fuse_io_arg {
	struct fuse_read_in rd;
	struct fuse_write_in wr;
};

/* fuse_io_span: the checks of fuse_op_read / fuse_op_write, on the copied
 * arguments: the bytes to move (0: leave it to fuse_srv_handle). */
static uint32_t fuse_io_span(const struct fuse_in_header *h, const union fuse_io_arg *a,
                             size_t out_len)
{
	const size_t hdr = sizeof(struct fuse_out_header);
	uint32_t len;

	if (h->opcode == FUSE_READ) {
		uint32_t room = out_len - hdr > UINT32_MAX ? UINT32_MAX : (uint32_t)(out_len - hdr);

		return fuse_read_span(&a->rd, room, &len) ? 0 : len;
	}
	if (out_len < hdr + sizeof(struct fuse_write_out))
		return 0;
	if (fuse_write_span(&a->wr, h->len - (uint32_t)(sizeof(*h) + sizeof(a->wr))))
		return 0;
	return a->wr.size;
}

bool fuse_srv_io_prep(struct fuse_srv *s, const struct iovec *in, unsigned int in_n,
                      const struct iovec *out, unsigned int out_n, struct fuse_io *io)
{
	size_t in_len = fuse_iov_len(in, in_n), out_len = fuse_iov_len(out, out_n);
	struct fuse_in_header h;
	union fuse_io_arg a;
	uint32_t len;
	int fd, cnt;

	/* Header and arguments copied once: guest memory may change. */
	if (fuse_iov_copy_in(in, in_n, 0, &h, sizeof(h)) || h.len != in_len)
		return false;
	if (h.opcode != FUSE_READ && h.opcode != FUSE_WRITE)
		return false;
	if (in_len < sizeof(h) + sizeof(a) || out_len < sizeof(struct fuse_out_header))
		return false;
	if (h.opcode == FUSE_READ && in_len != sizeof(h) + sizeof(a.rd))
		return false; /* odd-sized: fuse_srv_handle knows what to say */
	if (fuse_iov_copy_in(in, in_n, sizeof(h), &a, sizeof(a)))
		return false;
	if (!__atomic_load_n(&s->initialized, __ATOMIC_ACQUIRE))
		return false;
	io->write = h.opcode == FUSE_WRITE;
	if (io->write && s->p.read_only)
		return false;
	len = fuse_io_span(&h, &a, out_len);
	if (len == 0)
		return false;
	if (io->write)
		cnt = fuse_iov_slice(in, in_n, sizeof(h) + sizeof(a.wr), len, io->iov, io->iov_max);
	else
		cnt = fuse_iov_slice(out, out_n, sizeof(struct fuse_out_header), len, io->iov,
		                     io->iov_max);
	if (cnt <= 0)
		return false;
	fd = fuse_handle_io_get(s, io->write ? a.wr.fh : a.rd.fh, io->write, &io->slot);
	if (fd < 0)
		return false;
	io->iov_n = (unsigned int)cnt;
	io->fd = fd;
	io->offset = io->write ? a.wr.offset : a.rd.offset;
	io->unique = h.unique;
	io->out = out;
	io->out_n = out_n;
	return true;
}

uint32_t fuse_srv_io_done(struct fuse_srv *s, struct fuse_io *io, int res)
{
	struct {
		struct fuse_out_header h;
		struct fuse_write_out w;
	} reply = { .h = { .len = sizeof(reply.h), .unique = io->unique } };

	fuse_handle_io_put(s, io->slot, res < 0);
	if (res < 0) {
		reply.h.error = fuse_wire_errno(res);
	} else if (io->write) {
		/* One transfer moves at most FUSE_SRV_MAX_WRITE bytes. */
		reply.w.size = (uint32_t)res;
		reply.h.len += sizeof(reply.w);
	} else {
		/* The data is in place already, after the header's room. */
		reply.h.len += (uint32_t)res;
	}
	fuse_iov_copy_out(io->out, io->out_n, 0, &reply,
	                  res >= 0 && io->write ? sizeof(reply) : sizeof(reply.h));
	return reply.h.len;
}

int fuse_srv_io_sync(const struct fuse_io *io)
{
	ssize_t n = io->write ? pwritev(io->fd, io->iov, (int)io->iov_n, (off_t)io->offset)
	                      : preadv(io->fd, io->iov, (int)io->iov_n, (off_t)io->offset);

	return n < 0 ? -errno : (int)n;
}

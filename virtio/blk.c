// SPDX-License-Identifier: MIT
/*
 * blk: virtio-blk on io_uring (blk.h). Layout facts: virtio 1.2 §5.2.
 */
#define _GNU_SOURCE
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* §5.2.6: the request header the driver puts first. */
struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* §5.2.6: one discard / write-zeroes range. */
struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

_Static_assert(sizeof(struct blk_req_hdr) == 16, "virtio 1.2 §5.2.6");
_Static_assert(sizeof(struct blk_range) == 16, "virtio 1.2 §5.2.6");

/* blk_range_ok: [sector, sector + n) lies within the disk, no overflow. */
static bool blk_range_ok(const struct blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->capacity && n <= b->capacity - sector;
}

static struct blk_req *blk_req_get(struct blk *b)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++) {
		if (!b->reqs[i].in_use) {
			b->reqs[i].in_use = true;
			b->reqs[i].generation = b->generation;
			return &b->reqs[i];
		}
	}
	return NULL;
}

/* blk_finish: status byte, used element, interrupt later (lock held). */
static void blk_finish(struct blk *b, struct blk_req *r, uint8_t status)
{
	struct virtq *q = virtio_mmio_queue(&b->transport, 0);

	if (status == VIRTIO_BLK_S_IOERR)
		b->stats.io_errors++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupported++;
	*r->status = status;
	if (virtq_push(q, r->head, status == VIRTIO_BLK_S_OK ? r->used_len : 1) < 0)
		virtio_mmio_set_needs_reset(&b->transport);
	b->notify_pending = true;
	r->in_use = false;
}

static void blk_process(struct blk *b);

/* blk_complete: an io_uring completion for r, on the main thread. */
static void blk_complete(void *opaque, int res, bool more)
{
	struct blk_req *r = opaque;
	struct blk *b = r->blk;

	(void)more;
	virtio_mmio_lock(&b->transport);
	if (r->generation != b->generation) {
		/* The driver reset the device meanwhile: the chain is no longer
		 * ours to write to. */
		r->in_use = false;
	} else if (res == -EOPNOTSUPP) {
		/* A fallocate mode the image's file system lacks (tmpfs has no
		 * ZERO_RANGE, 9p no fallocate at all): "unsupported", so that
		 * the guest falls back to writing zeroes itself rather than
		 * seeing a media error. */
		blk_finish(b, r, VIRTIO_BLK_S_UNSUPP);
	} else if (res < 0 || (r->expect && (uint32_t)res != r->expect)) {
		blk_finish(b, r, VIRTIO_BLK_S_IOERR);
	} else {
		blk_finish(b, r, VIRTIO_BLK_S_OK);
	}
	if (b->starved) {
		b->starved = false;
		blk_process(b);
	}
	virtio_mmio_unlock(&b->transport);
}

/* blk_rw: a read or write of the data part; returns a status or -1 if queued. */
static int blk_rw(struct blk *b, struct blk_req *r, const struct blk_req_hdr *h)
{
	const struct virtq_chain *c = &b->chain;
	bool is_read = h->type == VIRTIO_BLK_T_IN;
	/* Reads: the data is all writable bytes but the status byte. Writes:
	 * all readable bytes after the header. */
	uint32_t len = is_read ? c->writable_len - 1 : c->readable_len - sizeof(*h);
	struct io_uring_sqe *sqe;
	int niov;

	if (!is_read && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len % 512 || !blk_range_ok(b, h->sector, len >> BLK_SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	niov = virtq_chain_iov(c, is_read, is_read ? 0 : sizeof(*h), len, r->iov, BLK_SEG_MAX);
	if (niov < 0)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0) {
		r->used_len = 1;
		return VIRTIO_BLK_S_OK;
	}
	sqe = loop_sqe(b->loop, &r->op);
	if (!sqe)
		return VIRTIO_BLK_S_IOERR;
	if (is_read) {
		io_uring_prep_readv(sqe, b->fd, r->iov, (unsigned int)niov,
		                    h->sector << BLK_SECTOR_SHIFT);
		b->stats.reads++;
		b->stats.bytes_read += len;
	} else {
		io_uring_prep_writev(sqe, b->fd, r->iov, (unsigned int)niov,
		                     h->sector << BLK_SECTOR_SHIFT);
		b->stats.writes++;
		b->stats.bytes_written += len;
	}
	r->expect = len;
	r->used_len = is_read ? len + 1 : 1;
	return -1;
}

/*
 * blk_zeroes: discard or write-zeroes of one range (we offer one segment,
 * §5.2.5 max_discard_seg / max_write_zeroes_seg). Discard punches a hole;
 * write-zeroes punches one when the driver allows unmapping, else zeroes
 * the range in place.
 */
static int blk_zeroes(struct blk *b, struct blk_req *r, const struct blk_req_hdr *h)
{
	struct blk_range range;
	struct io_uring_sqe *sqe;
	bool discard = h->type == VIRTIO_BLK_T_DISCARD;
	int mode;

	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (b->chain.readable_len != sizeof(*h) + sizeof(range) ||
	    virtq_chain_read(&b->chain, sizeof(*h), &range, sizeof(range)))
		return VIRTIO_BLK_S_UNSUPP;
	/* §5.2.6.2: unknown flags, and unmap on a discard, are unsupported. */
	if (range.flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP || (discard && range.flags))
		return VIRTIO_BLK_S_UNSUPP;
	if (range.num_sectors > BLK_MAX_RANGE_SECTORS ||
	    !blk_range_ok(b, range.sector, range.num_sectors))
		return VIRTIO_BLK_S_IOERR;
	r->used_len = 1;
	if (range.num_sectors == 0)
		return VIRTIO_BLK_S_OK;
	mode = discard || range.flags ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	                              : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	sqe = loop_sqe(b->loop, &r->op);
	if (!sqe)
		return VIRTIO_BLK_S_IOERR;
	io_uring_prep_fallocate(sqe, b->fd, mode, range.sector << BLK_SECTOR_SHIFT,
	                        (uint64_t)range.num_sectors << BLK_SECTOR_SHIFT);
	if (discard)
		b->stats.discards++;
	else
		b->stats.write_zeroes++;
	r->expect = 0;
	return -1;
}

/* blk_get_id: the serial, up to 20 bytes, into the data part (§5.2.6). */
static int blk_get_id(struct blk *b, struct blk_req *r)
{
	uint32_t room = b->chain.writable_len - 1, n = room < sizeof(b->id) ? room : sizeof(b->id);

	/* Fits: n is at most the writable bytes before the status byte. */
	(void)virtq_chain_write(&b->chain, 0, b->id, n);
	b->stats.get_ids++;
	r->used_len = n + 1;
	return VIRTIO_BLK_S_OK;
}

/*
 * blk_start: parse the chain in b->chain into r and start it. Returns a
 * final status, or -1 when an io_uring submission will finish it.
 */
static int blk_start(struct blk *b, struct blk_req *r)
{
	struct blk_req_hdr h;
	struct io_uring_sqe *sqe;

	if (virtq_chain_read(&b->chain, 0, &h, sizeof(h)))
		return VIRTIO_BLK_S_IOERR;
	r->used_len = 1;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return blk_rw(b, r, &h);
	case VIRTIO_BLK_T_FLUSH:
		sqe = loop_sqe(b->loop, &r->op);
		if (!sqe)
			return VIRTIO_BLK_S_IOERR;
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		b->stats.flushes++;
		r->expect = 0;
		return -1;
	case VIRTIO_BLK_T_GET_ID:
		return blk_get_id(b, r);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_zeroes(b, r, &h);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* blk_defer: come back for the rest of the ring on a later pass of the loop. */
static void blk_defer(struct blk *b)
{
	b->stats.deferred++;
	if (b->resume_armed)
		return;
	b->resume_wanted = loop_defer(b->loop, &b->resume_op) < 0;
	b->resume_armed = !b->resume_wanted;
}

/*
 * blk_process: pop and start up to BLK_BUDGET available requests (main
 * thread, lock held). Stops when the ring is empty, when no blk_req is
 * free (the rest waits for a completion), on a queue violation (device
 * reset needed), or at the budget (the rest on a later pass: blk_defer).
 */
static void blk_process(struct blk *b)
{
	struct virtq *q = virtio_mmio_queue(&b->transport, 0);

	for (unsigned int n = 0;; n++) {
		struct blk_req *r;
		int err, status;

		if (n == BLK_BUDGET) {
			blk_defer(b);
			return;
		}
		r = blk_req_get(b);
		if (!r) {
			b->starved = true;
			return;
		}
		err = virtq_pop(q, &b->chain);
		if (err) {
			r->in_use = false;
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&b->transport);
			return;
		}
		r->head = b->chain.head;
		if (b->chain.writable_len == 0) {
			/* No status byte: nothing can tell the driver. §5.2.6.1 makes
			 * it the driver's duty, so this is a broken driver. */
			r->in_use = false;
			virtio_mmio_set_needs_reset(&b->transport);
			return;
		}
		/* The status byte is the last writable byte (§5.2.6). */
		{
			const struct virtq_seg *last = &b->chain.segs[b->chain.nr_segs - 1];

			r->status = (uint8_t *)last->host + last->len - 1;
		}
		status = blk_start(b, r);
		if (status >= 0)
			blk_finish(b, r, (uint8_t)status);
	}
}

static void blk_queue_notify(void *dev, unsigned int q)
{
	(void)q; /* one queue */
	blk_process(dev);
}

/* blk_resume: the later pass blk_defer asked for (main thread). */
static void blk_resume(void *opaque, int res, bool more)
{
	struct blk *b = opaque;

	(void)res;
	(void)more;
	virtio_mmio_lock(&b->transport);
	b->resume_armed = false;
	/* After a reset the queue is not ready: the pop finds nothing. */
	blk_process(b);
	virtio_mmio_unlock(&b->transport);
}

/* blk_idle: after a batch of completions, one interrupt for all of them. */
static void blk_idle(void *opaque)
{
	struct blk *b = opaque;

	virtio_mmio_lock(&b->transport);
	if (b->resume_wanted && !b->resume_armed) {
		b->resume_wanted = loop_defer(b->loop, &b->resume_op) < 0;
		b->resume_armed = !b->resume_wanted;
	}
	if (b->notify_pending) {
		b->notify_pending = false;
		b->stats.batches++;
		virtio_mmio_notify_used(&b->transport, 0);
	}
	virtio_mmio_unlock(&b->transport);
}

static void blk_config_read(void *dev, uint32_t offset, void *data, uint32_t len)
{
	struct blk *b = dev;
	struct virtio_blk_config cfg = {
		.capacity = b->capacity,
		.seg_max = BLK_SEG_MAX,
		.blk_size = 512,
		.num_queues = 1,
		.max_discard_sectors = BLK_MAX_RANGE_SECTORS,
		.max_discard_seg = 1,
		.discard_sector_alignment = 1,
		.max_write_zeroes_sectors = BLK_MAX_RANGE_SECTORS,
		.max_write_zeroes_seg = 1,
		.write_zeroes_may_unmap = 1,
	};

	/* The transport checked offset + len <= config_size; x86 is
	 * little-endian, as virtio 1.x config fields are. */
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static int blk_activate(void *dev)
{
	struct blk *b = dev;
	uint64_t one = 1;

	/* Buffers made available before DRIVER_OK: have the main thread look
	 * at the queue, through the queue's own notify eventfd. */
	if (b->transport.notify_fd[0] >= 0 && write(b->transport.notify_fd[0], &one, 8) < 0)
		return -errno;
	return 0;
}

static void blk_reset(void *dev)
{
	struct blk *b = dev;

	b->generation++;
	b->notify_pending = false;
	b->starved = false;
}

/* Features of every disk; read-write disks add discard and write-zeroes,
 * read-only ones VIRTIO_BLK_F_RO (§5.2.3). */
#define BLK_FEATURES                                                                               \
	(1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH)

/* The two tables differ only in their features. Device ID 2: §5.2. */
#define BLK_OPS(feats)                                                                             \
	{                                                                                          \
		.name = "blk", .device_id = 2, .features = (feats), .num_queues = 1,               \
		.queue_max_size = BLK_QUEUE_SIZE, .config_size = sizeof(struct virtio_blk_config), \
		.config_read = blk_config_read, .activate = blk_activate,                          \
		.queue_notify = blk_queue_notify, .reset = blk_reset,                              \
	}

static const struct virtio_dev_ops blk_ops_rw =
    BLK_OPS(BLK_FEATURES | 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES);
static const struct virtio_dev_ops blk_ops_ro = BLK_OPS(BLK_FEATURES | 1ull << VIRTIO_BLK_F_RO);

/* blk_open: the image, its size in sectors. */
static int blk_open(struct blk *b, const struct blk_params *bp)
{
	struct stat st;
	uint64_t bytes;

	b->fd = open(bp->path, (bp->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	/* A partial last sector is not offered: the guest could not use it. */
	b->capacity = bytes >> BLK_SECTOR_SHIFT;
	return b->capacity ? 0 : -EINVAL;
}

static void blk_free_iovs(struct blk *b)
{
	if (b->iovs)
		munmap(b->iovs, BLK_QUEUE_SIZE * sizeof(*b->iovs));
	b->iovs = NULL;
}

int blk_init(struct blk *b, const struct blk_params *bp, struct loop *loop, const struct gmem *mem,
             const struct virtio_mmio_params *mp)
{
	const char *base = bp->id ? bp->id : strrchr(bp->path, '/');
	int err;

	memset(b, 0, offsetof(struct blk, chain)); /* not the scratch (blk.h) */
	b->loop = loop;
	b->read_only = bp->read_only;
	b->resume_op = (struct loop_op){ .cb = blk_resume, .opaque = b };
	err = blk_open(b, bp);
	if (err)
		goto fail;
	base = bp->id ? bp->id : base ? base + 1 : bp->path;
	/* §5.2.6: the ID is up to 20 bytes, NUL-terminated only if shorter. */
	memcpy(b->id, base, strnlen(base, sizeof(b->id)));
	/* mmap, not calloc: malloc may hand out used heap, which calloc
	 * would then zero, touching it all. */
	b->iovs = mmap(NULL, BLK_QUEUE_SIZE * sizeof(*b->iovs), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->iovs == MAP_FAILED) {
		b->iovs = NULL;
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		b->reqs[i] = (struct blk_req){
			.blk = b,
			.op = { .cb = blk_complete, .opaque = &b->reqs[i] },
			.iov = b->iovs[i],
		};
	err =
	    virtio_mmio_init(&b->transport, bp->read_only ? &blk_ops_ro : &blk_ops_rw, b, mem, mp);
	if (err)
		goto fail;
	err = loop_add_idle(loop, blk_idle, b);
	if (err) {
		virtio_mmio_destroy(&b->transport);
		goto fail;
	}
	return 0;
fail:
	blk_free_iovs(b);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	return err;
}

void blk_destroy(struct blk *b)
{
	virtio_mmio_destroy(&b->transport);
	blk_free_iovs(b);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* SPDX-License-Identifier: MIT */
/*
 * blk: virtio-blk (virtio 1.2 §5.2) over a raw image file, its I/O on the
 * main thread's io_uring.
 *
 * Requests: read, write, flush (fdatasync, so data the guest flushed
 * survives a VMM kill), get-id, discard and write-zeroes (fallocate);
 * VIRTIO_BLK_F_RO for read-only disks. One queue. Each chain popped from the
 * queue becomes at most one io_uring submission; all submissions of one
 * notification go to the kernel in one io_uring_enter, and completions are
 * turned into used entries with one interrupt per batch (loop_add_idle).
 *
 * Everything in a request comes from the guest: the header and the
 * discard/write-zeroes ranges are copied out once and checked (type, sector
 * range against the capacity without overflow, length a multiple of 512,
 * segment count), and a bad request gets VIRTIO_BLK_S_IOERR or _UNSUPP
 * without touching the image. A failed host I/O fails that request only.
 *
 * Known limit: a device reset drops the used entries of requests still in
 * flight (their chains are no longer ours), but cannot stop the host I/O
 * itself: a read submitted before the reset may still land in the guest
 * pages it named. The host stays safe (the pages are guest RAM); Linux
 * resets a virtio-blk device only once its queue is idle.
 * A chain with no room for the status byte is a protocol violation: the
 * device asks for a reset.
 */
#ifndef KVMBOX_VIRTIO_BLK_H
#define KVMBOX_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/mmio.h"
#include "vmm/loop.h"

#define BLK_QUEUE_SIZE 256
/* seg_max: data segments a request may carry (header and status aside). */
#define BLK_SEG_MAX      (BLK_QUEUE_SIZE - 2)
#define BLK_SECTOR_SHIFT 9
/* One discard or write-zeroes request covers at most this many sectors. */
#define BLK_MAX_RANGE_SECTORS (1u << 22) /* 2 GiB */
/*
 * Chains popped per pass of the main loop: past it, blk_process comes back
 * through the loop (loop_defer), so that a guest which re-posts requests
 * that complete at once cannot keep the main thread to itself (STYLE.md
 * item 14). A quarter of the ring: a full ring costs four passes.
 */
#define BLK_BUDGET 64u

struct blk;

/* One request in flight on the io_uring. */
struct blk_req {
	struct blk *blk;
	struct loop_op op;
	uint32_t generation; /* the device's generation when started */
	uint16_t head;
	uint32_t used_len; /* what the used element reports when it succeeds */
	uint32_t expect;   /* bytes the I/O must transfer; 0: any result >= 0 */
	uint8_t *status;   /* host pointer to the status byte (in guest RAM) */
	uint64_t range[2]; /* fallocate: offset, length */
	bool in_use;
	struct iovec *iov; /* BLK_SEG_MAX of them, in blk's iovs */
};

struct blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t bytes_read, bytes_written;
	uint64_t io_errors, unsupported;
	uint64_t batches;  /* completion batches that ended with used entries */
	uint64_t deferred; /* passes that stopped at BLK_BUDGET */
};

struct blk {
	struct virtio_mmio transport;
	struct loop *loop;
	int fd;
	bool read_only;
	uint64_t capacity;   /* in 512-byte sectors */
	char id[20];         /* VIRTIO_BLK_ID_BYTES, not NUL-terminated when full */
	uint32_t generation; /* bumped at each reset: late completions are dropped */
	bool notify_pending;
	bool starved;             /* the blk_req pool ran out: look at the ring again
	                           * when one is freed */
	struct loop_op resume_op; /* loop_defer: the rest after BLK_BUDGET */
	bool resume_armed;        /* resume_op is in the ring */
	bool resume_wanted;       /* loop_defer found the ring full: the idle hook retries */
	struct blk_stats stats;
	struct blk_req reqs[BLK_QUEUE_SIZE];
	/* The requests' segments, apart from them: 1 MiB (4 KiB a request)
	 * of untouched anonymous memory, which only a request that uses its
	 * segments touches (the lowest free request is taken first). Inside
	 * the requests, starting them all touched every page: 1 MiB of RSS
	 * per disk for nothing. */
	struct iovec (*iovs)[BLK_SEG_MAX];
	/* Scratch, last: written before each use, so blk_init zeroes what
	 * comes before it only and leaves its pages untouched (24 KiB). */
	struct virtq_chain chain; /* for virtq_pop (main thread) */
};

struct blk_params {
	const char *path;
	bool read_only;
	const char *id; /* NULL: the file's base name */
};

/*
 * blk_init: open the image and set up the device; the transport is ready to
 * be registered (blk->transport) with the given params. Returns 0 or
 * -errno: -ENOENT etc. from open, -EINVAL for an image smaller than one
 * sector or not a regular file or block device.
 */
__attribute__((warn_unused_result)) int blk_init(struct blk *b, const struct blk_params *bp,
                                                 struct loop *loop, const struct gmem *mem,
                                                 const struct virtio_mmio_params *mp);

void blk_destroy(struct blk *b);

#endif

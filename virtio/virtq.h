/* SPDX-License-Identifier: MIT */
/*
 * virtq: the device side of a split virtqueue (virtio 1.2 §2.7).
 *
 * The three rings live in guest RAM and are written by a running, untrusted
 * guest: every index, flag, address and length read from them is checked
 * before use, read once into a local (no double fetch), and an error never
 * touches host memory outside guest RAM. A broken rule makes the queue
 * "broken": virtq_pop returns the same error until virtq_reset, and the
 * caller marks the device DEVICE_NEEDS_RESET (virtio_mmio_set_needs_reset).
 *
 * Layout (§2.7, table "Virtqueue Part Sizes"), for a queue of size N:
 *   descriptor table  16 * N bytes, 16-byte aligned (§2.7.5)
 *   available ring    6 + 2 * N bytes, 2-byte aligned (§2.7.6):
 *                     le16 flags, le16 idx, le16 ring[N], le16 used_event
 *   used ring         6 + 8 * N bytes, 4-byte aligned (§2.7.8):
 *                     le16 flags, le16 idx, {le32 id, le32 len}[N],
 *                     le16 avail_event
 *
 * Threading: a virtq is used by one thread at a time. The transport
 * (virtio/mmio.c) sets it up from vCPU threads while it is not ready; once
 * ready, only the main thread pops and pushes, under the transport lock.
 */
#ifndef KVMBOX_VIRTIO_VIRTQ_H
#define KVMBOX_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/gmem.h"

/* §2.7: a split queue holds at most 32768 descriptors. */
#define VIRTQ_MAX_SIZE 32768

/*
 * The most segments one chain may have, direct and indirect together.
 * A longer chain is refused (-E2BIG) although the spec allows it for big
 * queues: 1024 covers Linux's largest users (virtio-fs with 256 pages plus
 * headers, virtio-blk's seg_max) with room to spare, as QEMU's
 * VIRTQUEUE_MAX_SIZE does.
 */
#define VIRTQ_MAX_SEGS 1024

/* The largest indirect table accepted, in descriptors (§2.7.5.3). */
#define VIRTQ_INDIRECT_MAX VIRTQ_MAX_SEGS

/* One buffer of a chain: a whole descriptor, wholly inside one RAM slot. */
struct virtq_seg {
	uint64_t gpa;
	void *host;    /* gmem_ptr(gpa, len): never NULL, valid for len bytes */
	uint32_t len;  /* never 0: zero-length descriptors are skipped */
	bool writable; /* VIRTQ_DESC_F_WRITE: the device may write it */
};

/*
 * A popped descriptor chain. The device-readable segments come first
 * (segs[0 .. nr_readable)), then the device-writable ones (§2.7.4.2).
 * readable_len + writable_len <= UINT32_MAX.
 */
struct virtq_chain {
	uint16_t head; /* give it back to virtq_push */
	uint16_t nr_segs;
	uint16_t nr_readable;
	uint32_t readable_len;
	uint32_t writable_len;
	struct virtq_seg segs[VIRTQ_MAX_SEGS];
};

struct virtq {
	const struct gmem *mem;
	uint16_t max_size; /* the device's limit: QueueNumMax */
	uint16_t size;     /* negotiated: a power of two, 1..max_size */
	bool ready;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated (§2.7.10) */
	bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated (§2.7.5.3) */
	int error;      /* 0, or the error that broke the queue (sticky) */

	/* Ring GPAs, written by the transport while the queue is not ready. */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* Host addresses of the rings, from gmem_ptr at virtq_enable. */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;

	uint16_t last_avail_idx; /* next avail ring entry to take */
	uint16_t used_idx;       /* our shadow of used->idx */
	uint16_t signalled_used; /* used_idx when virtq_needs_interrupt last ran */
};

/*
 * virtq_init: an empty, not-ready queue over mem with the device limit
 * max_size, a power of two <= VIRTQ_MAX_SIZE. Returns 0 or -EINVAL.
 */
__attribute__((warn_unused_result)) int virtq_init(struct virtq *q, const struct gmem *mem,
                                                   uint16_t max_size);

/* virtq_reset: back to the state virtq_init left (not ready, size 0). */
void virtq_reset(struct virtq *q);

/*
 * virtq_set_size: the driver's queue size (QueueNum, guest value).
 * Returns 0, -EBUSY when the queue is ready, or -EINVAL unless size is a
 * power of two in 1..max_size (§2.7: "Queue Size value is always a power
 * of 2"; §4.2.2.2 bounds it by QueueNumMax).
 */
__attribute__((warn_unused_result)) int virtq_set_size(struct virtq *q, uint32_t size);

/*
 * virtq_enable: the driver wrote QueueReady = 1. Checks the size and the
 * three ring GPAs (guest values): each ring wholly inside one RAM slot
 * (-EFAULT otherwise) and aligned as §2.7 requires, desc 16, avail 2,
 * used 4 (-EINVAL otherwise, and for a missing size). features are the
 * negotiated ones: they pick EVENT_IDX and INDIRECT_DESC. Indices start at
 * 0. Returns 0, -EBUSY when already ready, -EINVAL or -EFAULT.
 */
__attribute__((warn_unused_result)) int virtq_enable(struct virtq *q, uint64_t features);

/*
 * virtq_pop: take the next available chain into *chain.
 * Returns:
 *   0        a chain: give chain->head back through virtq_push
 *   -ENOENT  nothing available, or the queue is not ready
 *   -EPROTO  the guest broke a ring rule: more entries made available than
 *            the ring holds, a head or next index >= size, a chain longer
 *            than the queue (a loop), indirect misuse (not negotiated,
 *            nested, with NEXT, a bad table length, a loop in the table),
 *            a device-readable descriptor after a device-writable one, a
 *            total length over 4 GiB - 1
 *   -EFAULT  a buffer or an indirect table not wholly inside one RAM slot
 *   -E2BIG   more than VIRTQ_MAX_SEGS non-empty segments
 * Any error but -ENOENT breaks the queue: later calls return it again until
 * virtq_reset, and the caller must mark the device DEVICE_NEEDS_RESET.
 * A zero-length descriptor names no memory: it is checked (flags, order,
 * next) and then left out of the chain. A chain may thus have no segment.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);

/*
 * virtq_push: hand the chain with head index head back to the driver, len
 * bytes written into its device-writable segments (§2.7.8), and publish
 * the new used->idx. Returns 0, or -EINVAL when the queue is not ready or
 * head >= size (a device bug, not the guest's).
 */
int virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/*
 * virtq_push_batch: virtq_push for n chains at once (n <= size): the used
 * elements are written, then used->idx moves once, so the driver sees all
 * of them or none (virtio-net's merged receive buffers, §5.1.6.4: a packet
 * spread over several buffers). Returns 0 or -EINVAL (a head >= size, the
 * queue not ready: nothing is pushed).
 */
int virtq_push_batch(struct virtq *q, const uint16_t *heads, const uint32_t *lens, unsigned int n);

/*
 * virtq_unpop: give back the last n chains popped and not pushed, to be
 * popped again later (when a packet does not fit in what is available,
 * the device waits for more buffers rather than using part of them).
 * n must not exceed what was popped since the last push. 0 or -EINVAL.
 */
int virtq_unpop(struct virtq *q, uint16_t n);

/*
 * virtq_needs_interrupt: whether the driver wants an interrupt for what
 * was pushed since the last call (§2.7.7 VIRTQ_AVAIL_F_NO_INTERRUPT, or
 * with EVENT_IDX the used_event rule of §2.7.10). Batching contract: push
 * every completion at hand, then call this once and interrupt if it says
 * so; each call consumes the pushes it judged.
 */
bool virtq_needs_interrupt(struct virtq *q);

/*
 * virtq_chain_read: copy len bytes at offset off of the chain's readable
 * part (its readable segments, in order) into dst. 0, or -EINVAL when the
 * readable part is shorter than off + len (nothing is guaranteed of dst).
 */
int virtq_chain_read(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len);

/*
 * virtq_chain_write: copy len bytes of src into the chain's writable part
 * at offset off. 0, or -EINVAL when it is shorter (what fits is written).
 */
int virtq_chain_write(const struct virtq_chain *c, uint32_t off, const void *src, uint32_t len);

/*
 * virtq_chain_iov: iovecs into iov (room for max) for len bytes at offset
 * off of the chain's readable (writable false) or writable part. Returns
 * the count, or -E2BIG when more than max would be needed. Fewer bytes than
 * len are covered when the part is shorter: callers check lengths first.
 */
int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint32_t off, uint32_t len,
                    struct iovec *iov, unsigned int max);

#endif

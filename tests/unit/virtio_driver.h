/* SPDX-License-Identifier: MIT */
/*
 * virtio_driver.h: a small simulated guest driver for unit tests.
 *
 * It plays the guest's part of virtio 1.2 over fake guest RAM (a buffer
 * given to gmem_init_buffer, or a lazily mapped gmem_init): it lays out one
 * split virtqueue's rings (§2.7), writes descriptor chains, direct and
 * indirect (§2.7.5.3), makes them available (§2.7.13), reads the used ring
 * (§2.7.14), and drives a virtio-mmio device through its registers on a bus
 * (§4.2.3 device initialization, §3.1.1), as the Linux driver does.
 *
 * Everything is static inline: include it from any test. It trusts itself
 * (tests build hostile rings on purpose with vdrv_desc and vdrv_publish).
 */
#ifndef KVMBOX_TESTS_VIRTIO_DRIVER_H
#define KVMBOX_TESTS_VIRTIO_DRIVER_H

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bus.h"
#include "vmm/gmem.h"

/* One buffer of a chain to add. */
struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* The driver's view of one queue. */
struct vdrv {
	const struct gmem *mem;
	uint16_t size;
	uint64_t desc, avail, used; /* ring GPAs */
	uint16_t avail_idx;         /* next avail idx to publish */
	uint16_t used_seen;         /* used entries consumed */
	uint16_t next_desc;         /* next descriptor to fill (round robin) */
	uint64_t heap, heap_end;    /* bump allocator for buffers and tables */
};

/* vdrv_host: the host address of [gpa, gpa + len); aborts outside RAM. */
static inline void *vdrv_host(const struct vdrv *d, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(d->mem, gpa, len);

	if (!p)
		abort(); /* a test bug, not a device one */
	return p;
}

static inline uint64_t vdrv_align(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * vdrv_init: lay out a queue of size entries from base (4 KiB aligned):
 * descriptor table, available ring, used ring (each page aligned, §2.7),
 * then a heap for buffers up to heap_end. The rings are zeroed.
 */
static inline void vdrv_init(struct vdrv *d, const struct gmem *mem, uint16_t size, uint64_t base,
                             uint64_t heap_end)
{
	memset(d, 0, sizeof(*d));
	d->mem = mem;
	d->size = size;
	d->desc = base;
	d->avail = vdrv_align(d->desc + 16ull * size, 4096);
	d->used = vdrv_align(d->avail + 6 + 2ull * size, 4096);
	d->heap = vdrv_align(d->used + 6 + 8ull * size, 4096);
	d->heap_end = heap_end;
	memset(vdrv_host(d, d->desc, d->heap - d->desc), 0, d->heap - d->desc);
}

/* vdrv_alloc: len bytes (16-aligned) from the heap, zeroed. */
static inline uint64_t vdrv_alloc(struct vdrv *d, uint64_t len)
{
	uint64_t gpa = d->heap;

	if (len == 0 || len > d->heap_end - d->heap)
		abort();
	d->heap = vdrv_align(d->heap + len, 16);
	memset(vdrv_host(d, gpa, len), 0, len);
	return gpa;
}

/* vdrv_desc: write descriptor idx of the table at table_gpa (§2.7.5). */
static inline void vdrv_desc(struct vdrv *d, uint64_t table_gpa, uint32_t idx, uint64_t addr,
                             uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = vdrv_host(d, table_gpa + 16ull * idx, 16);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static inline uint16_t vdrv_load16(const struct vdrv *d, uint64_t gpa)
{
	return __atomic_load_n((uint16_t *)vdrv_host(d, gpa, 2), __ATOMIC_ACQUIRE);
}

static inline void vdrv_store16(const struct vdrv *d, uint64_t gpa, uint16_t v)
{
	__atomic_store_n((uint16_t *)vdrv_host(d, gpa, 2), v, __ATOMIC_RELEASE);
}

/* vdrv_publish: put head in the available ring, then bump avail->idx (§2.7.13). */
static inline void vdrv_publish(struct vdrv *d, uint16_t head)
{
	vdrv_store16(d, d->avail + 4 + 2ull * (d->avail_idx % d->size), head);
	d->avail_idx++;
	vdrv_store16(d, d->avail + 2, d->avail_idx);
}

/* vdrv_set_avail_idx: write avail->idx directly (hostile tests). */
static inline void vdrv_set_avail_idx(struct vdrv *d, uint16_t idx)
{
	d->avail_idx = idx;
	vdrv_store16(d, d->avail + 2, idx);
}

/* vdrv_fill_table: n descriptors from bufs, linked 0 -> 1 -> ... -> n - 1. */
static inline void vdrv_fill_table(struct vdrv *d, uint64_t table, const struct vdrv_buf *b,
                                   unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t flags =
		    (b[i].writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);

		vdrv_desc(d, table, i, b[i].gpa, b[i].len, flags, (uint16_t)(i + 1));
	}
}

/*
 * vdrv_add_chain: n (>= 1) direct descriptors taken round robin from the
 * table, linked and published. Returns the head index.
 */
static inline uint16_t vdrv_add_chain(struct vdrv *d, const struct vdrv_buf *b, unsigned int n)
{
	uint16_t head = d->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % d->size);
		uint16_t next = (uint16_t)((head + i + 1) % d->size);
		uint16_t flags =
		    (b[i].writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);

		vdrv_desc(d, d->desc, idx, b[i].gpa, b[i].len, flags, next);
	}
	d->next_desc = (uint16_t)((head + n) % d->size);
	vdrv_publish(d, head);
	return head;
}

/*
 * vdrv_add_indirect: an indirect table of n descriptors from the heap and
 * one direct descriptor pointing at it, published. Returns the head.
 */
static inline uint16_t vdrv_add_indirect(struct vdrv *d, const struct vdrv_buf *b, unsigned int n)
{
	uint64_t table = vdrv_alloc(d, 16ull * n);
	uint16_t head = d->next_desc;

	vdrv_fill_table(d, table, b, n);
	vdrv_desc(d, d->desc, head, table, 16 * n, VRING_DESC_F_INDIRECT, 0);
	d->next_desc = (uint16_t)((head + 1) % d->size);
	vdrv_publish(d, head);
	return head;
}

/* vdrv_used_idx: the device's used->idx. */
static inline uint16_t vdrv_used_idx(const struct vdrv *d)
{
	return vdrv_load16(d, d->used + 2);
}

/* vdrv_get_used: the next used element, if any (§2.7.14). */
static inline bool vdrv_get_used(struct vdrv *d, uint32_t *id, uint32_t *len)
{
	const uint8_t *e;

	if (vdrv_used_idx(d) == d->used_seen)
		return false;
	e = vdrv_host(d, d->used + 4 + 8ull * (d->used_seen % d->size), 8);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	d->used_seen++;
	return true;
}

/* §2.7.7/§2.7.10 suppression fields. */
static inline void vdrv_set_avail_flags(struct vdrv *d, uint16_t flags)
{
	vdrv_store16(d, d->avail, flags);
}

static inline void vdrv_set_used_event(struct vdrv *d, uint16_t v)
{
	vdrv_store16(d, d->avail + 4 + 2ull * d->size, v);
}

static inline uint16_t vdrv_avail_event(const struct vdrv *d)
{
	return vdrv_load16(d, d->used + 4 + 8ull * d->size);
}

/* MMIO register access as the guest does it: 32 bits through the bus. */
static inline uint32_t vdrv_mmio_read(const struct bus *b, uint64_t base, uint64_t off)
{
	uint32_t v = 0;

	bus_dispatch(b, base + off, false, &v, 4);
	return v;
}

static inline void vdrv_mmio_write(const struct bus *b, uint64_t base, uint64_t off, uint32_t v)
{
	bus_dispatch(b, base + off, true, &v, 4);
}

/*
 * vdrv_mmio_negotiate: §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, read
 * the device features, write features & want, FEATURES_OK, re-read.
 * Returns the status read back (FEATURES_OK set when accepted).
 */
static inline uint32_t vdrv_mmio_negotiate(const struct bus *b, uint64_t base, uint64_t want)
{
	uint64_t dev;

	vdrv_mmio_write(b, base, VIRTIO_MMIO_STATUS, 0);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_STATUS,
	                VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	dev = (uint64_t)vdrv_mmio_read(b, base, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	dev |= vdrv_mmio_read(b, base, VIRTIO_MMIO_DEVICE_FEATURES);
	want &= dev;
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_STATUS,
	                VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	                    VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_mmio_read(b, base, VIRTIO_MMIO_STATUS);
}

/*
 * vdrv_mmio_setup_queue: §4.2.3.2: select queue q, give it d's size and
 * ring addresses, set QueueReady. Returns QueueReady read back.
 */
static inline uint32_t vdrv_mmio_setup_queue(const struct bus *b, uint64_t base, uint32_t q,
                                             const struct vdrv *d)
{
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_SEL, q);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_NUM, d->size);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->desc >> 32));
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)d->avail);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(d->avail >> 32));
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)d->used);
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(d->used >> 32));
	vdrv_mmio_write(b, base, VIRTIO_MMIO_QUEUE_READY, 1);
	return vdrv_mmio_read(b, base, VIRTIO_MMIO_QUEUE_READY);
}

/* vdrv_mmio_driver_ok: §3.1.1 step 8. Returns the status read back. */
static inline uint32_t vdrv_mmio_driver_ok(const struct bus *b, uint64_t base)
{
	uint32_t s = vdrv_mmio_read(b, base, VIRTIO_MMIO_STATUS);

	vdrv_mmio_write(b, base, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_DRIVER_OK);
	return vdrv_mmio_read(b, base, VIRTIO_MMIO_STATUS);
}

#endif

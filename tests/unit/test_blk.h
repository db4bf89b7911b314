/* SPDX-License-Identifier: MIT */
/*
 * test_blk.h: the rig of virtio-blk's unit tests (test_blk.c,
 * test_blk_hostile.c): a guest driver (virtio_driver.h) over a plain
 * buffer as RAM, the device on a real io_uring loop over a temporary image
 * filled with a known pattern, and the helpers that build and check
 * requests. Static inline: each test program uses part of it.
 */
#ifndef KVMBOX_TESTS_TEST_BLK_H
#define KVMBOX_TESTS_TEST_BLK_H

#include "check.h"
#include "rig.h"
#include "virtio/blk.h"
#include "virtio_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_SIZE     (4u << 20)
#define HALF         (RAM_SIZE / 2) /* a second set of rings after a reset lives here */
#define BASE         0xd0000000ull
#define IMG_SECTORS  2048u
#define IMG_BYTES    (IMG_SECTORS * 512u)
#define LOOP_ENTRIES 64 /* below the queue size: loop_sqe must flush mid-batch */
#define MAX_RUNS     10000
#define ST_UNSET     0xee /* a status byte the device has not written */
#define NO_STATUS    (-1)

#define F_VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT  (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_BLK_RW                                                                                   \
	((1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |                        \
	 (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |                           \
	 (1ull << VIRTIO_BLK_F_WRITE_ZEROES))
#define F_ALL (F_VERSION_1 | F_BLK_RW | (1ull << VIRTIO_BLK_F_RO))

struct rig {
	struct test_rig t;
	struct blk *blk;
	struct vdrv d;
	uint8_t *shadow; /* what the image must hold */
	char path[32];
	unsigned int runs; /* loop_run_once calls, to bound the batch count */
};

/* pat: the image's initial content; differs between sectors. */
static inline uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9) * 7 + 1);
}

static inline void no_irq(void *opaque)
{
	(void)opaque;
}

static inline void nop_cb(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

/*
 * rig_init: RAM, bus, loop, a 1 MiB image filled with pat(), the device at
 * BASE. id NULL: the file's base name. Aborts on failure: the environment,
 * not the device, is broken then.
 */
static inline void rig_init(struct rig *r, bool read_only, const char *id)
{
	struct virtio_mmio_params mp;
	struct blk_params bp = { .read_only = read_only, .id = id };
	int fd;

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r->t, BASE);
	r->shadow = malloc(IMG_BYTES);
	r->blk = test_pages_new(sizeof(*r->blk)); /* untouched, as calloc gives it */
	if (!r->shadow)
		abort();
	for (uint32_t i = 0; i < IMG_BYTES; i++)
		r->shadow[i] = pat(i);
	strcpy(r->path, "/tmp/test_blk.XXXXXX");
	fd = mkstemp(r->path);
	if (fd < 0 || pwrite(fd, r->shadow, IMG_BYTES, 0) != IMG_BYTES)
		abort();
	close(fd);
	bp.path = r->path;
	if (blk_init(r->blk, &bp, &r->t.loop, &r->t.m, &mp) ||
	    virtio_mmio_register(&r->blk->transport, &r->t.bus))
		abort();
}

static inline void rig_fini(struct rig *r)
{
	blk_destroy(r->blk);
	test_rig_fini(&r->t);
	unlink(r->path);
	test_pages_free(r->blk, sizeof(*r->blk));
	free(r->shadow);
}

static inline uint32_t rd(struct rig *r, uint64_t off)
{
	return vdrv_mmio_read(&r->t.bus, BASE, off);
}

static inline void wr(struct rig *r, uint64_t off, uint32_t v)
{
	vdrv_mmio_write(&r->t.bus, BASE, off, v);
}

/* rig_up_at: handshake with features, queue 0 of qsize entries at base. */
static inline int rig_up_at(struct rig *r, uint64_t features, uint16_t qsize, uint64_t base,
                            uint64_t heap_end)
{
	if (!(vdrv_mmio_negotiate(&r->t.bus, BASE, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -1;
	vdrv_init(&r->d, &r->t.m, qsize, base, heap_end);
	if (vdrv_mmio_setup_queue(&r->t.bus, BASE, 0, &r->d) != 1 ||
	    !(vdrv_mmio_driver_ok(&r->t.bus, BASE) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	return 0;
}

static inline int rig_up(struct rig *r, uint64_t features, uint16_t qsize)
{
	return rig_up_at(r, features, qsize, 0, HALF);
}

static inline uint8_t *host(struct rig *r, uint64_t gpa, uint64_t len)
{
	return vdrv_host(&r->d, gpa, len);
}

/* hdr: a request header (§5.2.6) in guest RAM. */
static inline uint64_t hdr(struct rig *r, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint64_t gpa = vdrv_alloc(&r->d, sizeof(h));

	memcpy(host(r, gpa, sizeof(h)), &h, sizeof(h));
	return gpa;
}

/* buf: len bytes of guest RAM, each set to fill. */
static inline uint64_t buf(struct rig *r, uint32_t len, uint8_t fill)
{
	uint64_t gpa = vdrv_alloc(&r->d, len);

	memset(host(r, gpa, len), fill, len);
	return gpa;
}

static inline bool inflight(const struct blk *b)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->reqs[i].in_use)
			return true;
	return false;
}

static inline void kick(struct rig *r)
{
	virtio_mmio_queue_notify(&r->blk->transport, 0);
}

/*
 * settle: run the loop until no request is in flight, then once more with
 * a no-op, so that the idle hook (the interrupt) also runs for requests
 * that finished without I/O; in the VMM the ioeventfd's own completion
 * plays that part. Never blocks with nothing to wait for. -1: the device
 * never finished.
 */
static inline int settle(struct rig *r)
{
	static struct loop_op nop = { .cb = nop_cb };
	int err;

	for (unsigned int i = 0; i < MAX_RUNS; i++) {
		bool last = !inflight(r->blk);

		if (last) {
			struct io_uring_sqe *sqe = loop_sqe(&r->t.loop, &nop);

			if (!sqe)
				return -1;
			io_uring_prep_nop(sqe);
		}
		r->runs++;
		err = loop_run_once(&r->t.loop);
		if (err == -EINTR)
			continue; /* a signal, not a completion: wait again */
		if (err)
			return -1;
		if (last)
			return 0;
	}
	return -1;
}

/*
 * finish: notify, wait, and take the used element of head. Returns the
 * status byte (the chain's last byte: status_gpa) and *used_len, or
 * NO_STATUS when no used element for head came back.
 */
static inline int finish(struct rig *r, uint16_t head, uint64_t status_gpa, uint32_t *used_len)
{
	uint32_t id, len;

	kick(r);
	if (settle(r) || !vdrv_get_used(&r->d, &id, &len) || id != head)
		return NO_STATUS;
	if (used_len)
		*used_len = len;
	return *host(r, status_gpa, 1);
}

/* one: chain b[0..n) (direct or indirect) and run it; see finish. */
static inline int one(struct rig *r, const struct vdrv_buf *b, unsigned int n, bool indirect,
                      uint32_t *used_len)
{
	uint16_t head = indirect ? vdrv_add_indirect(&r->d, b, n) : vdrv_add_chain(&r->d, b, n);

	return finish(r, head, b[n - 1].gpa + b[n - 1].len - 1, used_len);
}

/* rw: header, one data buffer at gpa (len may be 0: none), status. */
static inline int rw(struct rig *r, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
                     uint32_t *used_len)
{
	struct vdrv_buf b[3];
	unsigned int n = 0;

	b[n++] = (struct vdrv_buf){ hdr(r, type, sector), 16, false };
	if (len)
		b[n++] = (struct vdrv_buf){ gpa, len, type != VIRTIO_BLK_T_OUT };
	b[n++] = (struct vdrv_buf){ buf(r, 1, ST_UNSET), 1, true };
	return one(r, b, n, false, used_len);
}

/* zeroes: a discard or write-zeroes request with nr ranges. */
static inline int zeroes(struct rig *r, uint32_t type,
                         const struct virtio_blk_discard_write_zeroes *rg, unsigned int nr)
{
	struct vdrv_buf b[3];
	uint64_t gpa = vdrv_alloc(&r->d, sizeof(*rg) * nr);

	memcpy(host(r, gpa, sizeof(*rg) * nr), rg, sizeof(*rg) * nr);
	b[0] = (struct vdrv_buf){ hdr(r, type, 0), 16, false };
	b[1] = (struct vdrv_buf){ gpa, (uint32_t)(sizeof(*rg) * nr), false };
	b[2] = (struct vdrv_buf){ buf(r, 1, ST_UNSET), 1, true };
	return one(r, b, 3, false, NULL);
}

static inline bool all(const uint8_t *p, uint32_t len, uint8_t v)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* file_ok: the image holds exactly the shadow. */
static inline bool file_ok(struct rig *r)
{
	uint8_t *now = malloc(IMG_BYTES);
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok;

	if (!now || fd < 0)
		abort();
	ok = fstat(fd, &st) == 0 && st.st_size == IMG_BYTES &&
	     pread(fd, now, IMG_BYTES, 0) == IMG_BYTES && memcmp(now, r->shadow, IMG_BYTES) == 0;
	close(fd);
	free(now);
	return ok;
}

static inline bool needs_reset(struct rig *r)
{
	return rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* cfg: a config space field read through the bus, len bytes. */
static inline uint64_t cfg(struct rig *r, size_t off, uint32_t len)
{
	uint64_t v = 0;

	bus_dispatch(&r->t.bus, BASE + VIRTIO_MMIO_CONFIG_OFFSET + off, false, &v, len);
	return v;
}

#define CFG(r, field)                                                                              \
	cfg(r, offsetof(struct virtio_blk_config, field),                                          \
	    sizeof(((struct virtio_blk_config *)0)->field))

static inline uint64_t dev_features(struct rig *r)
{
	uint64_t f;

	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(r, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
}

#endif

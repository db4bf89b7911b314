// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-blk (virtio/blk.c): a guest driver (virtio_driver.h)
 * over a plain buffer as RAM, every register access through the MMIO bus,
 * and the device's I/O on a real io_uring loop against a temporary image
 * whose every byte is known, so that a refused request can be shown not to
 * have touched it.
 */
#define _GNU_SOURCE
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
static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9) * 7 + 1);
}

static void no_irq(void *opaque)
{
	(void)opaque;
}

static void nop_cb(void *opaque, int res, bool more)
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
static void rig_init(struct rig *r, bool read_only, const char *id)
{
	struct virtio_mmio_params mp;
	struct blk_params bp = { .read_only = read_only, .id = id };
	int fd;

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r->t, BASE);
	r->shadow = malloc(IMG_BYTES);
	r->blk = calloc(1, sizeof(*r->blk));
	if (!r->shadow || !r->blk)
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

static void rig_fini(struct rig *r)
{
	blk_destroy(r->blk);
	test_rig_fini(&r->t);
	unlink(r->path);
	free(r->blk);
	free(r->shadow);
}

static uint32_t rd(struct rig *r, uint64_t off)
{
	return vdrv_mmio_read(&r->t.bus, BASE, off);
}

static void wr(struct rig *r, uint64_t off, uint32_t v)
{
	vdrv_mmio_write(&r->t.bus, BASE, off, v);
}

/* rig_up_at: handshake with features, queue 0 of qsize entries at base. */
static int rig_up_at(struct rig *r, uint64_t features, uint16_t qsize, uint64_t base,
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

static int rig_up(struct rig *r, uint64_t features, uint16_t qsize)
{
	return rig_up_at(r, features, qsize, 0, HALF);
}

static uint8_t *host(struct rig *r, uint64_t gpa, uint64_t len)
{
	return vdrv_host(&r->d, gpa, len);
}

/* hdr: a request header (§5.2.6) in guest RAM. */
static uint64_t hdr(struct rig *r, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint64_t gpa = vdrv_alloc(&r->d, sizeof(h));

	memcpy(host(r, gpa, sizeof(h)), &h, sizeof(h));
	return gpa;
}

/* buf: len bytes of guest RAM, each set to fill. */
static uint64_t buf(struct rig *r, uint32_t len, uint8_t fill)
{
	uint64_t gpa = vdrv_alloc(&r->d, len);

	memset(host(r, gpa, len), fill, len);
	return gpa;
}

static bool inflight(const struct blk *b)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->reqs[i].in_use)
			return true;
	return false;
}

static void kick(struct rig *r)
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
static int settle(struct rig *r)
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
static int finish(struct rig *r, uint16_t head, uint64_t status_gpa, uint32_t *used_len)
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
static int one(struct rig *r, const struct vdrv_buf *b, unsigned int n, bool indirect,
               uint32_t *used_len)
{
	uint16_t head = indirect ? vdrv_add_indirect(&r->d, b, n) : vdrv_add_chain(&r->d, b, n);

	return finish(r, head, b[n - 1].gpa + b[n - 1].len - 1, used_len);
}

/* rw: header, one data buffer at gpa (len may be 0: none), status. */
static int rw(struct rig *r, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
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
static int zeroes(struct rig *r, uint32_t type, const struct virtio_blk_discard_write_zeroes *rg,
                  unsigned int nr)
{
	struct vdrv_buf b[3];
	uint64_t gpa = vdrv_alloc(&r->d, sizeof(*rg) * nr);

	memcpy(host(r, gpa, sizeof(*rg) * nr), rg, sizeof(*rg) * nr);
	b[0] = (struct vdrv_buf){ hdr(r, type, 0), 16, false };
	b[1] = (struct vdrv_buf){ gpa, (uint32_t)(sizeof(*rg) * nr), false };
	b[2] = (struct vdrv_buf){ buf(r, 1, ST_UNSET), 1, true };
	return one(r, b, 3, false, NULL);
}

static bool all(const uint8_t *p, uint32_t len, uint8_t v)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* file_ok: the image holds exactly the shadow. */
static bool file_ok(struct rig *r)
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

static bool needs_reset(struct rig *r)
{
	return rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* cfg: a config space field read through the bus, len bytes. */
static uint64_t cfg(struct rig *r, size_t off, uint32_t len)
{
	uint64_t v = 0;

	bus_dispatch(&r->t.bus, BASE + VIRTIO_MMIO_CONFIG_OFFSET + off, false, &v, len);
	return v;
}

#define CFG(r, field)                                                                              \
	cfg(r, offsetof(struct virtio_blk_config, field),                                          \
	    sizeof(((struct virtio_blk_config *)0)->field))

static uint64_t dev_features(struct rig *r)
{
	uint64_t f;

	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(r, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
}

TEST(config_space)
{
	struct rig r;

	rig_init(&r, false, NULL);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), BLK_QUEUE_SIZE);
	CHECK_EQ(CFG(&r, capacity), IMG_SECTORS);
	CHECK_EQ(CFG(&r, seg_max), BLK_SEG_MAX);
	CHECK_EQ(CFG(&r, blk_size), 512);
	CHECK_EQ(CFG(&r, max_discard_sectors), BLK_MAX_RANGE_SECTORS);
	CHECK_EQ(CFG(&r, max_discard_seg), 1);
	CHECK_EQ(CFG(&r, discard_sector_alignment), 1);
	CHECK_EQ(CFG(&r, max_write_zeroes_sectors), BLK_MAX_RANGE_SECTORS);
	CHECK_EQ(CFG(&r, max_write_zeroes_seg), 1);
	CHECK_EQ(CFG(&r, write_zeroes_may_unmap), 1);
	/* The capacity as two 32-bit halves, as some drivers read it. */
	CHECK_EQ(cfg(&r, 0, 4), IMG_SECTORS);
	CHECK_EQ(cfg(&r, 4, 4), 0);
	rig_fini(&r);
}

TEST(features_offered)
{
	struct rig r;
	uint64_t f;

	rig_init(&r, false, NULL);
	f = dev_features(&r);
	CHECK_EQ(f & F_ALL, F_VERSION_1 | F_BLK_RW);
	CHECK(f & F_EVENT_IDX && f & F_INDIRECT);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(virtio_mmio_features(&r.blk->transport), F_VERSION_1 | F_BLK_RW);
	rig_fini(&r);

	/* Read-only: RO offered, nothing that changes the image but writes. */
	rig_init(&r, true, NULL);
	f = dev_features(&r);
	CHECK_EQ(f & F_ALL, F_VERSION_1 | (1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_FLUSH) |
	                        (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE));
	CHECK_EQ(CFG(&r, capacity), IMG_SECTORS);
	rig_fini(&r);
}

TEST(read_write_round_trip)
{
	static const uint64_t sectors[] = { 0, 1, 7, 100, 1000, IMG_SECTORS - 8 };
	struct rig r;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);
	for (unsigned int i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
		uint64_t s = sectors[i];
		uint32_t len = (i % 3 + 1) * 1024; /* 2, 4, 6 sectors */
		uint64_t in = buf(&r, len, 0), out = buf(&r, len, (uint8_t)(0x40 + i));

		/* Read what is there. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, s, in, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, len + 1);
		CHECK_EQ(memcmp(host(&r, in, len), r.shadow + s * 512, len), 0);
		/* Write, check the file, read back. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, s, out, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, 1);
		memset(r.shadow + s * 512, 0x40 + i, len);
		CHECK(file_ok(&r));
		memset(host(&r, in, len), 0, len);
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, s, in, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(memcmp(host(&r, in, len), host(&r, out, len), len), 0);
	}
	/* The last sector exactly; a request with no data is a no-op. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, buf(&r, 512, 0), 512, &used),
	         VIRTIO_BLK_S_OK);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 3, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	CHECK(file_ok(&r));
	CHECK_EQ(r.blk->stats.writes, 6);
	CHECK_EQ(r.blk->stats.bytes_written, (1 + 2 + 3 + 1 + 2 + 3) * 1024);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* §2.6.4: no framing may be assumed: header, data and status split anyhow. */
TEST(split_descriptors)
{
	struct rig r;
	struct vdrv_buf b[8];
	uint64_t h, data, st;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);

	/* Read of 3 sectors: header 7 + 9 bytes, data 100 + 412 + 1024, status. */
	h = hdr(&r, VIRTIO_BLK_T_IN, 20);
	data = buf(&r, 1536, 0);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ h, 7, false };
	b[1] = (struct vdrv_buf){ h + 7, 9, false };
	b[2] = (struct vdrv_buf){ data, 100, true };
	b[3] = (struct vdrv_buf){ data + 100, 412, true };
	b[4] = (struct vdrv_buf){ data + 512, 1024, true };
	b[5] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 6, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1537);
	CHECK_EQ(memcmp(host(&r, data, 1536), r.shadow + 20 * 512, 1536), 0);

	/* Read with the status byte in the data's own descriptor (513 bytes). */
	data = buf(&r, 513, ST_UNSET);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 30), 16, false };
	b[1] = (struct vdrv_buf){ data, 513, true };
	CHECK_EQ(one(&r, b, 2, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 513);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 30 * 512, 512), 0);

	/* Write: header and first data bytes in one descriptor, then pieces. */
	h = vdrv_alloc(&r.d, 16 + 1024);
	memcpy(host(&r, h, 16),
	       &(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 40 }, 16);
	memset(host(&r, h + 16, 1024), 0x5a, 1024);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ h, 16 + 300, false };
	b[1] = (struct vdrv_buf){ h + 316, 1, false };
	b[2] = (struct vdrv_buf){ h + 317, 723, false };
	b[3] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 4, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	memset(r.shadow + 40 * 512, 0x5a, 1024);
	CHECK(file_ok(&r));

	/* Zero-length descriptors in the middle are skipped. */
	data = buf(&r, 512, 0);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 41), 16, false };
	b[1] = (struct vdrv_buf){ data, 0, true };
	b[2] = (struct vdrv_buf){ data, 512, true };
	b[3] = (struct vdrv_buf){ st, 0, true };
	b[4] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 5, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 513);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 41 * 512, 512), 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* §2.7.5.3 indirect tables, and the seg_max limit on data segments. */
TEST(indirect_and_seg_max)
{
	struct rig r;
	struct vdrv_buf *b = calloc(BLK_SEG_MAX + 3, sizeof(*b));
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, 16), 0);
	CHECK(r.blk->transport.queues[0].indirect);

	/* A write and a read through indirect tables. */
	data = buf(&r, 2048, 0x77);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 500), 16, false };
	b[1] = (struct vdrv_buf){ data, 1024, false };
	b[2] = (struct vdrv_buf){ data + 1024, 1024, false };
	b[3] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 4, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	memset(r.shadow + 500 * 512, 0x77, 2048);
	CHECK(file_ok(&r));
	data = buf(&r, 2048, 0);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 499), 16, false };
	b[1] = (struct vdrv_buf){ data, 2048, true };
	b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 3, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 2049);
	CHECK_EQ(memcmp(host(&r, data, 2048), r.shadow + 499 * 512, 2048), 0);

	/* seg_max data segments pass; one more is IOERR, the file untouched. */
	for (unsigned int extra = 0; extra <= 1; extra++) {
		unsigned int nseg = BLK_SEG_MAX + extra;
		uint32_t type = extra ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;

		data = buf(&r, nseg * 512, 0x33);
		b[0] = (struct vdrv_buf){ hdr(&r, type, 0), 16, false };
		for (unsigned int i = 0; i < nseg; i++)
			b[1 + i] = (struct vdrv_buf){ data + 512ull * i, 512, !extra };
		b[1 + nseg] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
		CHECK_EQ(one(&r, b, nseg + 2, true, &used),
		         extra ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
		CHECK_EQ(used, extra ? 1 : nseg * 512 + 1);
		if (!extra)
			CHECK_EQ(memcmp(host(&r, data, nseg * 512), r.shadow, nseg * 512), 0);
	}
	/* The same limit on a read. */
	data = buf(&r, (BLK_SEG_MAX + 1) * 512, 0x33);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 0), 16, false };
	for (unsigned int i = 0; i < BLK_SEG_MAX + 1; i++)
		b[1 + i] = (struct vdrv_buf){ data + 512ull * i, 512, true };
	b[BLK_SEG_MAX + 2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, BLK_SEG_MAX + 3, true, &used), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	free(b);
	rig_fini(&r);
}

TEST(flush)
{
	struct rig r;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	/* The sector field of a flush is meaningless: any value passes. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, ~0ull, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(r.blk->stats.flushes, 2);
	rig_fini(&r);

	rig_init(&r, true, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

/* get_id_of: the GET_ID answer into a room-byte buffer, in *out. */
static int get_id_of(struct rig *r, uint32_t room, uint8_t *out, uint32_t *used)
{
	uint64_t data = buf(r, room, 0xcc);
	int st = rw(r, VIRTIO_BLK_T_GET_ID, 0, data, room, used);

	memcpy(out, host(r, data, room), room);
	return st;
}

TEST(get_id)
{
	static const char id20[] = "ABCDEFGHIJKLMNOPQRST";
	struct rig r;
	uint8_t out[32], want[32];
	uint32_t used = 0;

	/* Short id: NUL-padded to 20 bytes; bytes past 20 not written. */
	rig_init(&r, false, "disk0");
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(get_id_of(&r, 32, out, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 21);
	memset(want, 0, 20);
	memcpy(want, "disk0", 5);
	memset(want + 20, 0xcc, 12);
	CHECK_EQ(memcmp(out, want, 32), 0);
	/* A buffer of 8 bytes gets the first 8. */
	CHECK_EQ(get_id_of(&r, 8, out, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 9);
	CHECK_EQ(memcmp(out, want, 8), 0);
	/* No data buffer at all: just the status. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_GET_ID, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	CHECK_EQ(r.blk->stats.get_ids, 3);
	rig_fini(&r);

	/* 20 bytes exactly: no terminator; a longer id is cut at 20. */
	for (int longer = 0; longer <= 1; longer++) {
		rig_init(&r, false, longer ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ" : id20);
		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		CHECK_EQ(get_id_of(&r, 21, out, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, 21);
		CHECK_EQ(memcmp(out, id20, 20), 0);
		CHECK_EQ(out[20], 0xcc);
		rig_fini(&r);
	}

	/* No id given: the image's base name. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(get_id_of(&r, 20, out, &used), VIRTIO_BLK_S_OK);
	memset(want, 0, 20);
	memcpy(want, r.path + 5, strlen(r.path + 5));
	CHECK_EQ(memcmp(out, want, 20), 0);
	rig_fini(&r);
}

TEST(discard_and_write_zeroes)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg = { 0 };
	struct stat st;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);

	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 16 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + 8 * 512, 0, 16 * 512);
	CHECK(file_ok(&r)); /* also: the size is kept */

	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 101, .num_sectors = 3 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + 101 * 512, 0, 3 * 512);
	CHECK(file_ok(&r));

	rg = (struct virtio_blk_discard_write_zeroes){
		.sector = IMG_SECTORS - 64,
		.num_sectors = 64,
		.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
	};
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + (IMG_SECTORS - 64) * 512, 0, 64 * 512);
	CHECK(file_ok(&r));
	CHECK(stat(r.path, &st) == 0 && st.st_size == IMG_BYTES);

	/* Zero sectors: nothing to do, OK. */
	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 5, .num_sectors = 0 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(r.blk->stats.discards, 1);
	CHECK_EQ(r.blk->stats.write_zeroes, 2);
	CHECK(file_ok(&r));
	rig_fini(&r);
}

TEST(zeroes_refused)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg[2] = {
		{ .sector = 8, .num_sectors = 1 },
		{ .sector = 16, .num_sectors = 1 },
	};
	struct vdrv_buf b[2];

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	/* §5.2.6.2: unmap on a discard, unknown flags: UNSUPP. */
	rg[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 2;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 0x80000000u;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 0;
	/* Two ranges: more than max_discard_seg. */
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 2), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 2), VIRTIO_BLK_S_UNSUPP);
	/* No range at all. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_DISCARD, 0), 16, false };
	b[1] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 2, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Out of the disk, overflowing, or beyond max_*_sectors: IOERR. */
	rg[0] =
	    (struct virtio_blk_discard_write_zeroes){ .sector = IMG_SECTORS - 1, .num_sectors = 2 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct virtio_blk_discard_write_zeroes){ .sector = ~0ull - 1, .num_sectors = 4 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 0xffffffffu };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	CHECK_EQ(r.blk->stats.discards + r.blk->stats.write_zeroes, 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

TEST(read_only_disk)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg = { .sector = 0, .num_sectors = 8 };
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, true, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(virtio_mmio_features(&r.blk->transport) & (1ull << VIRTIO_BLK_F_RO),
	         1ull << VIRTIO_BLK_F_RO);
	data = buf(&r, 1024, 0x99);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 2, data, 1024, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, &rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_IOERR);
	rg.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	/* Reads still work. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 2, data, 1024, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 1024), r.shadow + 1024, 1024), 0);
	CHECK_EQ(r.blk->stats.writes, 0);
	rig_fini(&r);
}

TEST(bad_requests)
{
	struct rig r;
	struct vdrv_buf b[3];
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);
	data = buf(&r, 1024, 0x11);
	/* Beyond the capacity, across its end, overflowing sector + length. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS, data, 512, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, ~0ull, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, ~0ull - 1, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	/* sector << 9 would wrap to a small offset. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 1ull << 55, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	/* A length that is not whole sectors. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 513, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 100, NULL), VIRTIO_BLK_S_IOERR);
	/* Unknown types, and types we do not implement. */
	CHECK_EQ(rw(&r, 0xdead, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(rw(&r, 10 /* GET_LIFETIME */, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(rw(&r, 14 /* SECURE_ERASE */, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes, and one the device may not read. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 15, false };
	b[1] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 2, false, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 0), 16, true };
	b[1] = (struct vdrv_buf){ buf(&r, 513, ST_UNSET), 513, true };
	CHECK_EQ(one(&r, b, 2, false, NULL), VIRTIO_BLK_S_IOERR);
	/* Data on the wrong side: a write with writable data is a write of 0 bytes. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 16, false };
	b[1] = (struct vdrv_buf){ data, 512, true };
	b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 3, false, NULL), VIRTIO_BLK_S_OK);
	CHECK(all(host(&r, data, 512), 512, 0x11));
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	CHECK_EQ(r.blk->stats.writes, 0);
	CHECK(r.blk->stats.io_errors >= 10);
	CHECK_EQ(r.blk->stats.unsupported, 3);
	/* Still alive. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 512, NULL), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

/* Chains the device cannot answer: DEVICE_NEEDS_RESET, a config interrupt. */
TEST(broken_chains_need_reset)
{
	struct rig r;
	struct vdrv_buf b[3];
	uint64_t data;

	rig_init(&r, false, NULL);
	for (int kind = 0; kind < 4; kind++) {
		int irqs;

		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		irqs = r.t.irqs;
		data = buf(&r, 512, 0x22);
		b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 16, false };
		b[1] = (struct vdrv_buf){ data, 512, false };
		b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
		if (kind == 1)
			b[2].len = 0; /* a status descriptor of zero length */
		if (kind == 2)
			b[1].gpa = RAM_SIZE - 256; /* data beyond RAM */
		if (kind == 3)
			b[2].gpa = 1ull << 40; /* status far outside RAM */
		vdrv_add_chain(&r.d, b, kind == 0 ? 2 : 3);
		kick(&r);
		CHECK_EQ(settle(&r), 0);
		CHECK(needs_reset(&r));
		CHECK_EQ(r.t.irqs, irqs + 1);
		CHECK(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
		CHECK_EQ(vdrv_used_idx(&r.d), 0);
		/* Notifications no longer reach it. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 512, NULL), NO_STATUS);
		CHECK(!inflight(r.blk));
		CHECK(file_ok(&r));
		wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	}
	/* A reset and a new handshake bring it back. */
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK(!needs_reset(&r));
	data = buf(&r, 512, 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 1, data, 512, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 512, 512), 0);
	rig_fini(&r);
}

/* A host I/O error fails that request, and only that one. */
TEST(host_io_error)
{
	struct rig r;
	uint64_t data;
	int good, wfd, rfd;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	data = buf(&r, 1024, 0x44);
	good = dup(r.blk->fd);
	/* Reads through a write-only fd, writes through a read-only one: EBADF. */
	wfd = open(r.path, O_WRONLY | O_CLOEXEC);
	rfd = open(r.path, O_RDONLY | O_CLOEXEC);
	CHECK(good >= 0 && wfd >= 0 && rfd >= 0);
	CHECK_EQ(dup2(wfd, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dup2(rfd, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(r.blk->stats.io_errors, 2);
	CHECK(file_ok(&r));
	CHECK_EQ(dup2(good, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 2, data, 1024, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 1024), r.shadow + 1024, 1024), 0);

	/* Short read: the image shrank under the device. */
	CHECK_EQ(truncate(r.path, IMG_BYTES / 2), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 2, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(truncate(r.path, IMG_BYTES), 0);
	memset(r.shadow + IMG_BYTES / 2, 0, IMG_BYTES / 2);
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	close(good);
	close(wfd);
	close(rfd);
	rig_fini(&r);
}

/* submit_reads: n indirect reads of one sector each, at first + i * 3. */
static void submit_reads(struct rig *r, unsigned int n, uint32_t first, uint64_t *data,
                         uint64_t *st)
{
	for (unsigned int i = 0; i < n; i++) {
		struct vdrv_buf b[3];

		data[i] = buf(r, 512, 0);
		st[i] = buf(r, 1, ST_UNSET);
		b[0] = (struct vdrv_buf){ hdr(r, VIRTIO_BLK_T_IN, first + i * 3), 16, false };
		b[1] = (struct vdrv_buf){ data[i], 512, true };
		b[2] = (struct vdrv_buf){ st[i], 1, true };
		vdrv_add_indirect(&r->d, b, 3);
	}
}

/* reads_ok: n used elements, each OK with the right data. */
static bool reads_ok(struct rig *r, unsigned int n, uint32_t first, const uint64_t *data,
                     const uint64_t *st)
{
	bool *seen = calloc(n, sizeof(*seen));
	bool ok = seen != NULL;
	uint32_t id, len;

	for (unsigned int i = 0; ok && i < n; i++)
		ok = vdrv_get_used(&r->d, &id, &len) && id < n && !seen[id] && len == 513;
	for (unsigned int i = 0; ok && i < n; i++)
		ok = *host(r, st[i], 1) == VIRTIO_BLK_S_OK &&
		     memcmp(host(r, data[i], 512), r->shadow + (first + i * 3) * 512, 512) == 0;
	ok = ok && vdrv_used_idx(&r->d) == r->d.used_seen;
	free(seen);
	return ok;
}

TEST(batching)
{
	enum { N = 32 };
	struct rig r;
	uint64_t data[N], st[N];
	unsigned int runs;

	/* Without EVENT_IDX: at most one interrupt per loop batch. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, 64), 0);
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	CHECK_EQ(settle(&r), 0);
	CHECK(reads_ok(&r, N, 0, data, st));
	CHECK_EQ(r.blk->stats.reads, N);
	CHECK(r.t.irqs >= 1);
	CHECK_EQ((uint64_t)r.t.irqs, r.blk->stats.batches);
	CHECK(r.blk->stats.batches <= r.runs);

	/* VRING_AVAIL_F_NO_INTERRUPT: none. */
	vdrv_set_avail_flags(&r.d, VRING_AVAIL_F_NO_INTERRUPT);
	r.t.irqs = 0;
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	CHECK_EQ(settle(&r), 0);
	CHECK_EQ(r.t.irqs, 0);
	rig_fini(&r);

	/* EVENT_IDX, used_event at the last one: one interrupt for all. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT | F_EVENT_IDX, 64), 0);
	CHECK(r.blk->transport.queues[0].event_idx);
	vdrv_set_used_event(&r.d, N - 1);
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	runs = r.runs;
	CHECK_EQ(settle(&r), 0);
	CHECK(reads_ok(&r, N, 0, data, st));
	CHECK_EQ(r.t.irqs, 1);
	CHECK(r.blk->stats.batches <= r.runs - runs);
	rig_fini(&r);
}

/* A full queue of requests in one notification, all completed. */
TEST(many_requests)
{
	enum { N = BLK_QUEUE_SIZE };
	struct rig r;
	uint64_t *data = calloc(N, sizeof(*data)), *st = calloc(N, sizeof(*st));

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, N), 0);
	for (int round = 0; round < 2; round++) {
		r.d.used_seen = vdrv_used_idx(&r.d);
		submit_reads(&r, N, 0, data, st);
		kick(&r);
		CHECK_EQ(settle(&r), 0);
		CHECK(reads_ok(&r, N, 0, data, st));
	}
	CHECK(!r.blk->starved);
	CHECK(!needs_reset(&r));
	free(data);
	free(st);
	rig_fini(&r);
}

/*
 * Reset with requests in flight: their completions come after the reset and
 * must not reach the old rings; the device works again at once, with new
 * rings elsewhere, even while the old requests still hold its blk_reqs.
 */
TEST(reset_in_flight)
{
	enum { N = BLK_QUEUE_SIZE, M = 16 };
	struct rig r;
	uint64_t *wst = calloc(N, sizeof(*wst)), data[M], st[M], old_used;
	int irqs;
	bool untouched = true;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, N), 0);
	for (unsigned int i = 0; i < N; i++) {
		struct vdrv_buf b[3];

		wst[i] = buf(&r, 1, ST_UNSET);
		b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, i), 16, false };
		b[1] = (struct vdrv_buf){ buf(&r, 512, (uint8_t)i), 512, false };
		b[2] = (struct vdrv_buf){ wst[i], 1, true };
		vdrv_add_indirect(&r.d, b, 3);
	}
	kick(&r);
	/* Every blk_req is taken, none has completed. */
	CHECK_EQ(vdrv_used_idx(&r.d), 0);
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		CHECK(r.blk->reqs[i].in_use);
	old_used = r.d.used;
	irqs = r.t.irqs;

	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	/* Up again on rings in the other half of RAM; new reads must wait. */
	CHECK_EQ(rig_up_at(&r, F_ALL | F_INDIRECT, M, HALF, RAM_SIZE), 0);
	submit_reads(&r, M, 1024, data, st);
	kick(&r);
	CHECK(r.blk->starved);
	CHECK_EQ(vdrv_used_idx(&r.d), 0);
	CHECK_EQ(settle(&r), 0);

	/* The old rings and status bytes are as the reset left them. */
	CHECK_EQ(vdrv_load16(&r.d, old_used + 2), 0);
	for (unsigned int i = 0; i < N; i++)
		untouched = untouched && *host(&r, wst[i], 1) == ST_UNSET;
	CHECK(untouched);
	/* The new requests all completed once the old ones let go. */
	for (unsigned int i = 0; i < N; i++)
		memset(r.shadow + i * 512, (int)i, 512); /* the late writes did land */
	CHECK(reads_ok(&r, M, 1024, data, st));
	CHECK(r.t.irqs > irqs);
	CHECK(!r.blk->starved);
	CHECK(!inflight(r.blk));
	CHECK(!needs_reset(&r));
	CHECK(file_ok(&r));
	free(wst);
	rig_fini(&r);
}

/* A reset with nothing in flight, then the same rings again. */
TEST(reset_and_reuse)
{
	struct rig r;
	uint64_t data;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_EVENT_IDX, 16), 0);
	data = buf(&r, 512, 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 9, data, 512, NULL), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		data = buf(&r, 512, 0);
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 9 + i, data, 512, NULL), VIRTIO_BLK_S_OK);
		CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + (9 + i) * 512, 512), 0);
	}
	rig_fini(&r);
}

TEST(init_errors)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct loop l;
	struct gmem m;
	uint8_t ram[4096];
	struct virtio_mmio_params mp = { .base = BASE, .irq = no_irq };
	struct blk_params bp = { .path = "/nonexistent/blk.img" };
	char path[] = "/tmp/test_blk.XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0 && b);
	CHECK_EQ(gmem_init_buffer(&m, ram, sizeof(ram)), 0);
	CHECK_EQ(loop_init(&l, 8), 0);
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -ENOENT);
	/* Empty, and smaller than a sector. */
	bp.path = path;
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	CHECK_EQ(ftruncate(fd, 511), 0);
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	/* Neither a regular file nor a block device. */
	bp.path = "/dev/null";
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	bp.path = "/tmp";
	CHECK(blk_init(b, &bp, &l, &m, &mp) < 0);
	/* A partial last sector is not offered. */
	CHECK_EQ(ftruncate(fd, 4096 + 100), 0);
	bp.path = path;
	CHECK_EQ(blk_init(b, &bp, &l, &m, &mp), 0);
	CHECK_EQ(b->capacity, 8);
	blk_destroy(b);
	/* The loop has no idle slot left: refused, and the image closed. */
	while (loop_add_idle(&l, no_irq, NULL) == 0)
		;
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -ENOSPC);
	CHECK_EQ(b->fd, -1);
	close(fd);
	unlink(path);
	loop_destroy(&l);
	free(b);
}

CHECK_MAIN(CASE(config_space), CASE(features_offered), CASE(read_write_round_trip),
           CASE(split_descriptors), CASE(indirect_and_seg_max), CASE(flush), CASE(get_id),
           CASE(discard_and_write_zeroes), CASE(zeroes_refused), CASE(read_only_disk),
           CASE(bad_requests), CASE(broken_chains_need_reset), CASE(host_io_error), CASE(batching),
           CASE(many_requests), CASE(reset_in_flight), CASE(reset_and_reuse), CASE(init_errors))

// SPDX-License-Identifier: MIT
/*
 * fuzz_blk: virtio-blk (virtio/blk.c) under a hostile guest, its I/O on a
 * real io_uring against a small temporary image.
 *
 * Input layout (little-endian):
 *   byte 0        bit 0 EVENT_IDX, bit 1 INDIRECT_DESC negotiated,
 *                 bit 2 use the read-only disk, bit 3 reset the device
 *                 while its requests are in flight, bit 4 "tame" direct
 *                 descriptors: address folded into the buffer area, length
 *                 below 8 KiB, so that the fuzzer reaches the parser soon
 *   byte 1        avail entries published: low nibble before the first
 *                 notification, high nibble before a second one (more than
 *                 QSIZE in all is a ring violation on purpose)
 *   bytes 2..257  the descriptor table, QSIZE x {addr, len, flags, next}
 *   bytes 258..289 the avail ring entries (heads), QSIZE x le16
 *   bytes 290..291 used_event
 *   the rest      guest RAM from BUF_GPA: headers, data, indirect tables
 *
 * Each input starts from zeroed RAM and a fresh handshake (the driver's
 * reset bumps the device's generation), and ends only when no request is
 * in flight, so inputs do not leak into each other. ASan and UBSan catch a
 * host access outside RAM; the checks below catch protocol breakage: every
 * chain popped gets exactly one used element unless the device asked for a
 * reset, the image never changes size, the read-only disk never writes,
 * and no completion reaches the queue or raises an interrupt after a reset.
 */
#define _GNU_SOURCE
#include "../unit/rig.h"
#include "../unit/virtio_driver.h"
#include "virtio/blk.h"

#include <endian.h>
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE  0x40000u /* 256 KiB */
#define BUF_GPA   0x3000u  /* after the rings vdrv_init lays out */
#define QSIZE     16u
#define IMG_BYTES 0x40000u /* 512 sectors: fallocate and writes stay cheap */
#define BASE_RW   0xd0000000ull
#define BASE_RO   0xd0001000ull
#define DESC_OFF  2u
#define AVAIL_OFF (DESC_OFF + 16u * QSIZE)
#define EVENT_OFF (AVAIL_OFF + 2u * QSIZE)
#define RAM_OFF   (EVENT_OFF + 2u)
#define MAX_RUNS  100000u
#define F_BASE                                                                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_SEG_MAX) |                           \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                          \
	 (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |                    \
	 (1ull << VIRTIO_BLK_F_RO))

struct fuzz {
	struct test_rig t;
	struct blk *rw, *ro;
	struct vdrv d;
};

static struct fuzz fz;

static void nop_cb(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

/* image: a temporary image of IMG_BYTES, unlinked once the device has it open. */
static struct blk *image(bool read_only, uint64_t base)
{
	struct virtio_mmio_params mp = test_rig_params(&fz.t, base);
	char path[] = "/tmp/fuzz_blk.XXXXXX";
	struct blk_params bp = { .path = path, .read_only = read_only, .id = "fuzz" };
	struct blk *b = calloc(1, sizeof(*b));
	int fd = mkstemp(path);

	if (!b || fd < 0 || ftruncate(fd, IMG_BYTES) < 0)
		abort();
	close(fd);
	if (blk_init(b, &bp, &fz.t.loop, &fz.t.m, &mp) ||
	    virtio_mmio_register(&b->transport, &fz.t.bus))
		abort();
	unlink(path);
	return b;
}

/* setup: once per process (a fuzzer may keep state: it is reset per input). */
static void setup(void)
{
	test_rig_init(&fz.t, RAM_SIZE, 32);
	fz.rw = image(false, BASE_RW);
	fz.ro = image(true, BASE_RO);
}

static bool inflight(const struct blk *b)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->reqs[i].in_use)
			return true;
	return false;
}

/* settle: run the loop until nothing is in flight, then once more for the idle hook. */
static void settle(const struct blk *b)
{
	static struct loop_op nop = { .cb = nop_cb };
	int err;

	for (unsigned int i = 0; i < MAX_RUNS; i++) {
		bool last = !inflight(b);

		if (last) {
			struct io_uring_sqe *sqe = loop_sqe(&fz.t.loop, &nop);

			if (!sqe)
				abort();
			io_uring_prep_nop(sqe);
		}
		/* -EINTR: libFuzzer's -timeout alarm hit the wait; just go on. */
		err = loop_run_once(&fz.t.loop);
		if (err == -EINTR)
			continue;
		if (err < 0)
			abort();
		if (last)
			return;
	}
	abort(); /* a request that never completes */
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

/* load_rings: the descriptor table, avail entries and used_event from the input. */
static void load_rings(const uint8_t *in, bool tame)
{
	for (unsigned int i = 0; i < QSIZE; i++) {
		const uint8_t *e = in + DESC_OFF + 16 * i;
		uint64_t addr;
		uint32_t len;

		memcpy(&addr, e, 8);
		memcpy(&len, e + 8, 4);
		addr = le64toh(addr);
		len = le32toh(len);
		if (tame) {
			addr = BUF_GPA + addr % (RAM_SIZE - BUF_GPA);
			len %= 0x2000;
		}
		vdrv_desc(&fz.d, fz.d.desc, i, addr, len, get16(e + 12), get16(e + 14));
		vdrv_store16(&fz.d, fz.d.avail + 4 + 2 * i, get16(in + AVAIL_OFF + 2 * i));
	}
	vdrv_set_used_event(&fz.d, get16(in + EVENT_OFF));
}

/*
 * check_done: nothing in flight, and unless the device asked for a reset,
 * every chain it popped got exactly one used element. The device's own
 * indices are used, not the rings in RAM: a chain's writable buffers may
 * cover the rings, and the device then rightly writes data over them.
 */
static void check_done(const struct blk *b)
{
	const struct virtq *q = &b->transport.queues[0];
	bool broken = b->transport.status & VIRTIO_CONFIG_S_NEEDS_RESET;

	if (inflight(b) || (!broken && q->used_idx != q->last_avail_idx))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk *b;
	uint64_t base, features;
	uint16_t n1, n2;
	struct stat st;

	if (!fz.t.ram)
		setup();
	if (size < RAM_OFF)
		return 0;
	b = data[0] & 4 ? fz.ro : fz.rw;
	base = b->transport.p.base;
	features = F_BASE | (data[0] & 1 ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
	           (data[0] & 2 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0);
	n1 = data[1] & 15;
	n2 = data[1] >> 4;

	memset(fz.t.ram, 0, RAM_SIZE);
	if (!(vdrv_mmio_negotiate(&fz.t.bus, base, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		abort();
	vdrv_init(&fz.d, &fz.t.m, QSIZE, 0, RAM_SIZE);
	if (fz.d.heap != BUF_GPA)
		abort(); /* the input's RAM part would overlap the rings */
	load_rings(data, data[0] & 16);
	memcpy(fz.t.ram + BUF_GPA, data + RAM_OFF,
	       size - RAM_OFF < RAM_SIZE - BUF_GPA ? size - RAM_OFF : RAM_SIZE - BUF_GPA);
	if (vdrv_mmio_setup_queue(&fz.t.bus, base, 0, &fz.d) != 1 ||
	    !(vdrv_mmio_driver_ok(&fz.t.bus, base) & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();

	vdrv_set_avail_idx(&fz.d, n1);
	virtio_mmio_queue_notify(&b->transport, 0);
	if (data[0] & 8) {
		/* Reset with requests in flight: their completions must not land. */
		vdrv_mmio_write(&fz.t.bus, base, VIRTIO_MMIO_STATUS, 0);
		settle(b);
		/* A late push would have found the queue not ready and set
		 * DEVICE_NEEDS_RESET. */
		if (b->transport.status || b->transport.queues[0].used_idx ||
		    b->transport.interrupt_status)
			abort();
		check_done(b);
	} else {
		settle(b);
		vdrv_set_avail_idx(&fz.d, (uint16_t)(n1 + n2));
		virtio_mmio_queue_notify(&b->transport, 0);
		settle(b);
		check_done(b);
	}
	if (fstat(b->fd, &st) < 0 || st.st_size != IMG_BYTES)
		abort();
	if (fz.ro->stats.writes || fz.ro->stats.discards || fz.ro->stats.write_zeroes ||
	    fz.ro->stats.bytes_written)
		abort();
	return 0;
}

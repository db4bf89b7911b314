// SPDX-License-Identifier: MIT
/*
 * fuzz_fs: virtio-fs (virtio/fs.c, its inline mode: no loop, so each
 * chain is answered before queue_notify returns) under a hostile guest: descriptor
 * chains from the input on both queues, their buffers holding FUSE
 * requests from the input, over a temporary read-only share (a file, a
 * folder, a symlink to "/"). fuzz_fuse covers the server's parsing in depth; this
 * target covers the device around it: chains of any shape, requests split
 * anyhow across descriptors, the hiprio queue, a reset in the middle.
 *
 * Input layout (little-endian):
 *   byte 0        bit 0 EVENT_IDX, bit 1 INDIRECT_DESC negotiated, bit 2
 *                 "tame" descriptors (address folded into the buffer area,
 *                 length below 4 KiB), bit 3 reset the device between the
 *                 two queues, bit 4 no INIT before the chains, bit 5 the
 *                 worker path (a second device, given a loop: requests
 *                 run on its worker thread, used entries come back when
 *                 the loop runs; a reset may find them in flight)
 *   byte 1        avail entries published: low nibble on the request
 *                 queue, high nibble on the hiprio queue
 *   then for the request queue, then the hiprio queue:
 *     QSIZE x {le64 addr, le32 len, le16 flags, le16 next}, QSIZE x le16 heads
 *   the rest      guest RAM from BUF_GPA
 *
 * Checked: unless the device asked for a reset, every chain popped got
 * exactly one used element (on the worker path once the loop has brought
 * every job back, within a deadline); after the driver's reset, the
 * server holds no descriptor but its root's.
 */
#define _GNU_SOURCE
#include "../unit/rig.h"
#include "../unit/virtio_driver.h"
#include "virtio/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x40000u
#define QSIZE    16u
#define Q1_BASE  0x3000u /* the hiprio queue's rings are below */
#define BUF_GPA  0x6000u
#define BASE     0xd0000000ull /* the inline device; the worker one above */
#define WBASE    (BASE + 0x1000ull)
#define QBYTES   (QSIZE * 16u + QSIZE * 2u)
#define RAM_OFF  (2u + 2u * QBYTES)

struct fuzz {
	uint8_t *ram;
	struct gmem m;
	struct bus bus;
	struct loop loop;
	struct vfs *dev[2]; /* inline, worker */
	struct vfs *fs;     /* the one this input drives */
	uint64_t base;
	struct loop_op tick;
	struct vdrv q[2];
	char dir[64];
	int base_fds;
};

static struct fuzz fz;

static void nop_irq(void *opaque)
{
	(void)opaque;
}

/* server_fds: descriptors on anything under the share. */
static int server_fds(void)
{
	return test_fds_under(fz.dir);
}

static void nop_op(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

/*
 * drain: on the worker path, run the loop until every job came back and
 * was reaped; a worker that never finishes is a bug (abort after ~10 s).
 */
static void drain(void)
{
	static struct __kernel_timespec ts = { .tv_nsec = 1000 * 1000 };

	for (int i = 0; fz.fs->loop && fz.fs->stats.inflight; i++) {
		struct io_uring_sqe *sqe = loop_sqe(&fz.loop, &fz.tick);

		if (i == 10000 || !sqe)
			abort();
		io_uring_prep_timeout(sqe, &ts, 1, 0);
		if (loop_run_once(&fz.loop) < 0)
			abort();
	}
}

static void setup(void)
{
	struct virtio_mmio_params mp = { .base = BASE, .gsi = 5, .irq = nop_irq };
	/* Read-only: the share stays as made, and no chain can allocate the
	 * disk away (fuzz_fuse covers the write paths, with clamped lengths). */
	struct vfs_params vp = { .tag = "fuzz",
		                 .read_only = true,
		                 .owner = FUSE_OWNER_PASSTHROUGH,
		                 .max_inodes = 64, /* a reset walks the whole table */
		                 .max_handles = 16 };
	char path[128];
	int fd;

	strcpy(fz.dir, "/tmp/fuzz_fs.XXXXXX");
	fz.ram = aligned_alloc(4096, RAM_SIZE);
	fz.dev[0] = calloc(1, sizeof(*fz.dev[0]));
	fz.dev[1] = calloc(1, sizeof(*fz.dev[1]));
	if (!mkdtemp(fz.dir) || !fz.ram || !fz.dev[0] || !fz.dev[1])
		abort();
	snprintf(path, sizeof(path), "%s/f", fz.dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "contents", 8) != 8)
		abort();
	close(fd);
	snprintf(path, sizeof(path), "%s/d", fz.dir);
	if (mkdir(path, 0755))
		abort();
	snprintf(path, sizeof(path), "%s/root", fz.dir);
	if (symlink("/", path))
		abort();
	vp.path = fz.dir;
	if (gmem_init_buffer(&fz.m, fz.ram, RAM_SIZE) || loop_init(&fz.loop, 16))
		abort();
	bus_init(&fz.bus);
	fz.tick = (struct loop_op){ .cb = nop_op };
	if (vfs_init(fz.dev[0], &vp, NULL, &fz.m, &mp) ||
	    virtio_mmio_register(&fz.dev[0]->transport, &fz.bus))
		abort();
	mp.base = WBASE;
	mp.gsi = 6;
	if (vfs_init(fz.dev[1], &vp, &fz.loop, &fz.m, &mp) ||
	    virtio_mmio_register(&fz.dev[1]->transport, &fz.bus))
		abort();
	fz.base_fds = server_fds();
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* load_queue: queue qi's descriptor table and avail heads from in. */
static void load_queue(unsigned int qi, const uint8_t *in, bool tame)
{
	struct vdrv *d = &fz.q[qi];

	for (unsigned int i = 0; i < QSIZE; i++) {
		const uint8_t *e = in + 16 * i;
		uint64_t addr;
		uint32_t len;

		memcpy(&addr, e, 8);
		memcpy(&len, e + 8, 4);
		if (tame) {
			addr = BUF_GPA + addr % (RAM_SIZE - BUF_GPA);
			len %= 0x1000;
		}
		vdrv_desc(d, d->desc, i, addr, len, get16(e + 12), get16(e + 14));
		vdrv_store16(d, d->avail + 4 + 2 * i, get16(in + 16 * QSIZE + 2 * i));
	}
}

/* init_session: FUSE INIT straight through the server (the device's own
 * path is what the chains exercise). */
static void init_session(void)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} req = { .h = { .len = sizeof(req), .opcode = FUSE_INIT, .unique = 1 },
		  .in = { .major = 7, .minor = 36, .flags = 0xffffffffu } };
	uint8_t reply[128];
	struct iovec iv = { &req, sizeof(req) }, ov = { reply, sizeof(reply) };

	uint32_t len;

	pthread_mutex_lock(&fz.fs->srv_lock); /* the worker may be idle, never absent */
	len = fuse_srv_handle(fz.fs->srv, &iv, 1, &ov, 1);
	pthread_mutex_unlock(&fz.fs->srv_lock);
	if (len < sizeof(struct fuse_out_header))
		abort();
}

/* check_done: every popped chain answered, unless a reset was asked for. */
static void check_done(unsigned int qi)
{
	const struct virtq *q = &fz.fs->transport.queues[qi];
	bool broken = fz.fs->transport.status & VIRTIO_CONFIG_S_NEEDS_RESET;

	if (q->ready && !broken && q->used_idx != q->last_avail_idx)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t features;

	if (!fz.ram)
		setup();
	if (size < RAM_OFF)
		return 0;
	features = (1ull << VIRTIO_F_VERSION_1) |
	           (data[0] & 1 ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
	           (data[0] & 2 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0);
	fz.fs = fz.dev[data[0] & 32 ? 1 : 0];
	fz.base = data[0] & 32 ? WBASE : BASE;
	memset(fz.ram, 0, RAM_SIZE);
	if (!(vdrv_mmio_negotiate(&fz.bus, fz.base, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		abort();
	vdrv_init(&fz.q[0], &fz.m, QSIZE, 0, Q1_BASE);
	vdrv_init(&fz.q[1], &fz.m, QSIZE, Q1_BASE, RAM_SIZE);
	if (fz.q[1].heap != BUF_GPA)
		abort(); /* the input's RAM part would overlap the rings */
	load_queue(1, data + 2, data[0] & 4);
	load_queue(0, data + 2 + QBYTES, data[0] & 4);
	memcpy(fz.ram + BUF_GPA, data + RAM_OFF,
	       size - RAM_OFF < RAM_SIZE - BUF_GPA ? size - RAM_OFF : RAM_SIZE - BUF_GPA);
	if (vdrv_mmio_setup_queue(&fz.bus, fz.base, 0, &fz.q[0]) != 1 ||
	    vdrv_mmio_setup_queue(&fz.bus, fz.base, 1, &fz.q[1]) != 1 ||
	    !(vdrv_mmio_driver_ok(&fz.bus, fz.base) & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();
	if (!(data[0] & 16))
		init_session();

	vdrv_set_avail_idx(&fz.q[1], data[1] & 15);
	virtio_mmio_queue_notify(&fz.fs->transport, 1);
	if (data[0] & 8) {
		/* On the worker path, with the chains maybe still in flight. */
		vdrv_mmio_write(&fz.bus, fz.base, VIRTIO_MMIO_STATUS, 0);
		if (server_fds() != fz.base_fds)
			abort();
	} else {
		drain();
		check_done(1);
		vdrv_set_avail_idx(&fz.q[0], data[1] >> 4);
		virtio_mmio_queue_notify(&fz.fs->transport, 0);
		drain();
		check_done(0);
	}
	/* The driver goes away: the session ends, every descriptor but the
	 * root's is closed. */
	vdrv_mmio_write(&fz.bus, fz.base, VIRTIO_MMIO_STATUS, 0);
	if (server_fds() != fz.base_fds)
		abort();
	drain(); /* jobs of the old generation: reaped, no used entry */
	return 0;
}

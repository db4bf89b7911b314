/* SPDX-License-Identifier: MIT */
/*
 * fs_rig.h: the virtio-fs device (virtio/fs.c) under a simulated guest
 * driver (virtio_driver.h), over a plain buffer as RAM, every register
 * access through the MMIO bus: the transport of fuse_rig.h for the
 * request cases of fuse_cases.h (rig_send: one request as one chain, the
 * way Linux's virtio-fs driver builds it), and struct drig for the
 * device-only tests.
 *
 * The includer defines FS_RIG_WORKER: 0 for the inline mode (vfs_init
 * without a loop: each used entry is there when queue_notify returns), 1
 * for the worker path (rig_send runs the loop until the used entry comes
 * back, fs_rig_wait). RIG_OWN_FDS follows: the loop's ring, and in the
 * worker path the device's done eventfd.
 */
#ifndef KVMBOX_TESTS_FS_RIG_H
#define KVMBOX_TESTS_FS_RIG_H

#define RIG_OWN_FDS (1 + FS_RIG_WORKER)
#include "fuse_cases.h"
#include "virtio/fs.h"
#include "virtio_driver.h"

#include <linux/virtio_fs.h>
#include <sys/eventfd.h>

static void fs_rig_tick(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

#define RAM_SIZE (16u << 20)
#define BASE     0xd0000000ull
#define HQ_SIZE  16
#define RQ_SIZE  128
#define RQ_BASE  (4ull << 20) /* the hiprio queue and its buffers below */
#define MAX_BUFS 1100
#define F_WANT                                                                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))

struct dev {
	uint8_t *ram;
	struct gmem m;
	struct bus bus;
	struct loop loop;
	struct vfs fs;
	struct vdrv hq, rq;
	int irqs;
	unsigned int sends;
	struct vdrv_buf bufs[MAX_BUFS];
	struct loop_op tick; /* fs_rig_wait's timeouts */
};

static void count_irq(void *opaque)
{
	((struct dev *)opaque)->irqs++;
}

/* dev_up: §3.1.1 handshake, both queues, DRIVER_OK. */
static int dev_up(struct dev *d)
{
	if (!(vdrv_mmio_negotiate(&d->bus, BASE, F_WANT) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -1;
	vdrv_init(&d->hq, &d->m, HQ_SIZE, 0, RQ_BASE);
	vdrv_init(&d->rq, &d->m, RQ_SIZE, RQ_BASE, RAM_SIZE);
	if (vdrv_mmio_setup_queue(&d->bus, BASE, 0, &d->hq) != 1 ||
	    vdrv_mmio_setup_queue(&d->bus, BASE, 1, &d->rq) != 1 ||
	    !(vdrv_mmio_driver_ok(&d->bus, BASE) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	return 0;
}

static struct dev *dev_new(const struct vfs_params *vp)
{
	struct virtio_mmio_params mp = { .base = BASE, .gsi = 5, .irq = count_irq };
	struct dev *d = calloc(1, sizeof(*d));

	if (!d)
		abort();
	mp.irq_opaque = d;
	d->ram = aligned_alloc(4096, RAM_SIZE);
	if (!d->ram || gmem_init_buffer(&d->m, d->ram, RAM_SIZE) || loop_init(&d->loop, 8))
		abort();
	memset(d->ram, 0, RAM_SIZE);
	bus_init(&d->bus);
	d->tick = (struct loop_op){ .cb = fs_rig_tick };
	if (vfs_init(&d->fs, vp, FS_RIG_WORKER ? &d->loop : NULL, &d->m, &mp) ||
	    virtio_mmio_register(&d->fs.transport, &d->bus) || dev_up(d))
		abort();
	return d;
}

/*
 * fs_rig_wait: run d's loop (the device's completions) until done(d, arg)
 * holds, in rounds of at most 10 ms; false after about 10 s without.
 */
static bool fs_rig_wait(struct dev *d, bool (*done)(struct dev *d, void *arg), void *arg)
{
	for (int i = 0; i < 1000 && !done(d, arg); i++) {
		static struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		struct io_uring_sqe *sqe = loop_sqe(&d->loop, &d->tick);

		if (!sqe)
			abort();
		io_uring_prep_timeout(sqe, &ts, 1, 0);
		if (loop_run_once(&d->loop) < 0)
			abort();
	}
	return done(d, arg);
}

/* fs_rig_has_used: the driver's queue arg has a used entry not yet seen. */
static bool fs_rig_has_used(struct dev *d, void *arg)
{
	struct vdrv *q = arg;

	(void)d;
	return vdrv_used_idx(q) != q->used_seen;
}

static void dev_free(struct dev *d)
{
	vfs_destroy(&d->fs);
	loop_destroy(&d->loop);
	free(d->ram);
	free(d);
}

static int rig_attach(struct rig *r, const struct fuse_srv_params *p)
{
	struct vfs_params vp = {
		.path = p->root,
		.tag = "share",
		.read_only = p->read_only,
		.owner = p->owner,
		.max_inodes = p->max_inodes,
		.max_handles = p->max_handles,
	};
	struct dev *d = dev_new(&vp);

	r->dev = d;
	r->s = d->fs.srv;
	return 0;
}

static void rig_detach(struct rig *r)
{
	dev_free(r->dev);
}

/* add_bufs: len bytes at gpa as buffers of at most chunk bytes. */
static unsigned int add_bufs(struct vdrv_buf *b, unsigned int n, uint64_t gpa, uint32_t len,
                             uint32_t chunk, bool writable)
{
	while (len) {
		uint32_t l = len < chunk ? len : chunk;

		if (n == MAX_BUFS)
			abort();
		b[n++] = (struct vdrv_buf){ gpa, l, writable };
		gpa += l;
		len -= l;
	}
	return n;
}

/*
 * rig_send: one request as a chain: readable header, readable rest (in
 * pieces), writable out header, writable rest; direct and indirect in
 * turn, on the hiprio queue for FORGETs. Returns the used length, the
 * reply copied out of guest RAM. Aborts when no used element comes back:
 * every chain must get one.
 */
static uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room)
{
	struct dev *d = ((struct rig *)c->opaque)->dev;
	uint32_t op = 0, id, len, hl, ol;
	bool indirect = d->sends++ & 1;
	struct vdrv *q;
	uint64_t mark, gin = 0, gout = 0;
	unsigned int n = 0, qi;
	uint16_t head;

	if (in_len >= 8)
		memcpy(&op, in + 4, 4);
	qi = op == FUSE_FORGET || op == FUSE_BATCH_FORGET ? 0 : 1;
	q = qi ? &d->rq : &d->hq;
	mark = q->heap;
	if (in_len) {
		gin = vdrv_alloc(q, in_len);
		memcpy(vdrv_host(q, gin, in_len), in, in_len);
	}
	if (room) {
		gout = vdrv_alloc(q, room);
		memset(vdrv_host(q, gout, room), 0xee, room);
	}
	hl = in_len < 40 ? in_len : 40;
	n = add_bufs(d->bufs, n, gin, hl, hl ? hl : 1, false);
	n = add_bufs(d->bufs, n, gin + hl, in_len - hl, indirect ? 4096 : 65536, false);
	ol = room < 16 ? room : 16;
	n = add_bufs(d->bufs, n, gout, ol, ol ? ol : 1, true);
	n = add_bufs(d->bufs, n, gout + ol, room - ol, indirect ? 4096 : 65536, true);
	if (n == 0)
		abort(); /* a chain needs a buffer */
	if (n > q->size)
		indirect = true; /* a direct chain must fit the table */
	head = indirect ? vdrv_add_indirect(q, d->bufs, n) : vdrv_add_chain(q, d->bufs, n);
	virtio_mmio_queue_notify(&d->fs.transport, qi);
	if (FS_RIG_WORKER && !fs_rig_wait(d, fs_rig_has_used, q))
		abort();
	if (!vdrv_get_used(q, &id, &len) || id != head || len > room)
		abort();
	if (len)
		memcpy(out, vdrv_host(q, gout, len), len);
	q->heap = mark;
	return len;
}

/* The device-only tests use a share of their own. */
struct drig {
	char dir[64];
	struct dev *d;
	struct fc c;
	struct rig r; /* for rig_send's opaque */
};

static uint32_t drig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room)
{
	return rig_send(c, in, in_len, out, room);
}

static void drig_init(struct drig *t)
{
	struct vfs_params vp = { .tag = "share", .owner = FUSE_OWNER_PASSTHROUGH };

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/test_fs.XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	vp.path = t->dir;
	t->d = dev_new(&vp);
	t->r.dev = t->d;
	t->r.s = t->d->fs.srv;
	fc_init(&t->c, drig_send, &t->r);
}

static void drig_fini(struct drig *t)
{
	dev_free(t->d);
	fc_fini(&t->c);
	rmdir(t->dir);
}

#endif

// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-fs (virtio/fs.c): a guest driver (virtio_driver.h)
 * over a plain buffer as RAM, every register access through the MMIO bus.
 * First every case of fuse_cases.h, each request sent as a descriptor
 * chain the way Linux's virtio-fs driver builds one (header, arguments and
 * data in readable buffers, out header and reply in writable ones), direct
 * and indirect in turn, FORGETs on the hiprio queue; then what only the
 * device does: config space, chains with no room, ring violations, reset,
 * and the per-notification budget.
 */
#define _GNU_SOURCE
#define RIG_OWN_FDS 1 /* the loop's io_uring */
#include "fuse_cases.h"
#include "virtio/fs.h"
#include "virtio_driver.h"

#include <linux/virtio_fs.h>
#include <sys/eventfd.h>

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
	if (vfs_init(&d->fs, vp, &d->loop, &d->m, &mp) ||
	    virtio_mmio_register(&d->fs.transport, &d->bus) || dev_up(d))
		abort();
	return d;
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

static bool needs_reset(struct dev *d)
{
	return vdrv_mmio_read(&d->bus, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

TEST(test_dev_config)
{
	struct drig t;
	struct virtio_fs_config cfg;
	uint8_t *p = (uint8_t *)&cfg;
	struct vfs *fs = calloc(1, sizeof(*fs));
	struct virtio_mmio_params mp = { .base = BASE, .irq = count_irq };
	struct vfs_params vp = { .path = "/tmp", .tag = "" };
	char longtag[40];

	drig_init(&t);
	CHECK_EQ(vdrv_mmio_read(&t.d->bus, BASE, VIRTIO_MMIO_DEVICE_ID), 26);
	for (uint32_t i = 0; i < sizeof(cfg); i++) {
		uint8_t v = 0;

		bus_dispatch(&t.d->bus, BASE + 0x100 + i, false, &v, 1);
		p[i] = v;
	}
	CHECK(!memcmp(cfg.tag, "share\0\0\0", 8));
	CHECK_EQ(cfg.num_request_queues, 1);
	/* The driver cannot write it. */
	vdrv_mmio_write(&t.d->bus, BASE, 0x100, 0x41414141);
	CHECK_EQ(vdrv_mmio_read(&t.d->bus, BASE, 0x100), 0x72616873); /* "shar" */
	/* Bad tags and folders are refused at init. */
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), -EINVAL);
	vp.tag = NULL;
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), -EINVAL);
	memset(longtag, 'x', 37);
	longtag[37] = 0;
	vp.tag = longtag;
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), -EINVAL);
	longtag[36] = 0; /* exactly 36: fits, no NUL in config space */
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), 0);
	vfs_destroy(fs);
	vp.path = "/nonexistent/dir";
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), -ENOENT);
	vp.path = "/etc/hostname";
	CHECK_ERR(vfs_init(fs, &vp, &t.d->loop, &t.d->m, &mp), -ENOTDIR);
	free(fs);
	drig_fini(&t);
}

/* Chains the device cannot answer in: no writable part, or too little. */
TEST(test_dev_no_room)
{
	struct drig t;
	struct fuse_getattr_in ga = { 0 };

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	for (uint32_t room = 0; room < 16; room += 5) {
		t.c.room = room;
		fc_start(&t.c, FUSE_GETATTR, FUSE_ROOT_ID);
		fc_add(&t.c, &ga, sizeof(ga));
		CHECK_ERR(fc_send(&t.c), FC_NO_REPLY); /* used length 0 */
	}
	/* Only a writable part: no request at all. */
	CHECK_EQ(rig_send(&t.c, NULL, 0, t.c.reply, 100), 16);
	CHECK(!needs_reset(t.d));
	CHECK_ERR(fc_getattr(&t.c, FUSE_ROOT_ID, NULL), 0);
	drig_fini(&t);
}

/* A ring violation asks for a reset; the reset ends the FUSE session. */
TEST(test_dev_violation_reset)
{
	struct drig t;
	struct fuse_srv_stats st;
	struct fuse_entry_out e;

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_mkdir(&t.c, FUSE_ROOT_ID, "d", 0755, &e), 0);
	vdrv_publish(&t.d->rq, RQ_SIZE + 3); /* a head index past the table */
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	CHECK(needs_reset(t.d));
	vdrv_mmio_write(&t.d->bus, BASE, VIRTIO_MMIO_STATUS, 0);
	fuse_srv_get_stats(t.d->fs.srv, &st);
	CHECK_EQ(st.inodes, 1);
	CHECK(dev_up(t.d) == 0);
	CHECK_ERR(fc_getattr(&t.c, e.nodeid, NULL), -EIO); /* no INIT yet */
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_getattr(&t.c, e.nodeid, NULL), -ESTALE);
	CHECK_ERR(fc_name_op(&t.c, FUSE_RMDIR, FUSE_ROOT_ID, "d"), 0);
	drig_fini(&t);
}

/* With a notify eventfd, one notification serves VFS_BUDGET chains and
 * signals the eventfd to come back for the rest. */
TEST(test_dev_budget)
{
	struct drig t;
	struct fuse_getattr_in ga = { 0 };
	struct vdrv *q;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t v = 0;
	uint32_t id, len;
	unsigned int used = 0;

	drig_init(&t);
	q = &t.d->rq;
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(virtio_mmio_set_notify_fd(&t.d->fs.transport, 1, efd), 0);
	for (unsigned int i = 0; i < 100; i++) {
		struct fuse_in_header h = { .len = sizeof(h) + sizeof(ga),
			                    .opcode = FUSE_GETATTR,
			                    .unique = 1000 + i,
			                    .nodeid = FUSE_ROOT_ID };
		uint64_t g = vdrv_alloc(q, h.len), o = vdrv_alloc(q, 256);
		struct vdrv_buf b[2] = { { g, h.len, false }, { o, 256, true } };

		memcpy(vdrv_host(q, g, sizeof(h)), &h, sizeof(h));
		memset(vdrv_host(q, g + sizeof(h), sizeof(ga)), 0, sizeof(ga));
		vdrv_add_chain(q, b, 2);
	}
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	while (vdrv_get_used(q, &id, &len))
		used++;
	CHECK_EQ(used, VFS_BUDGET);
	CHECK(read(efd, &v, sizeof(v)) == sizeof(v) && v == 1);
	CHECK_EQ(t.d->fs.stats.yields, 1);
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	while (vdrv_get_used(q, &id, &len))
		used++;
	CHECK_EQ(used, 100);
	CHECK(t.d->irqs > 0);
	close(efd);
	drig_fini(&t);
}

CHECK_MAIN(FUSE_CASES, CASE(test_dev_config), CASE(test_dev_no_room),
           CASE(test_dev_violation_reset), CASE(test_dev_budget))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-fs (virtio/fs.c) in its inline mode (fs.h): a guest
 * driver (virtio_driver.h) over a plain buffer as RAM, every register
 * access through the MMIO bus (fs_rig.h).
 * First every case of fuse_cases.h, each request sent as a descriptor
 * chain the way Linux's virtio-fs driver builds one (header, arguments and
 * data in readable buffers, out header and reply in writable ones), direct
 * and indirect in turn, FORGETs on the hiprio queue; then what only the
 * device does: config space, chains with no room, ring violations, reset,
 * and the per-notification budget.
 */
#define _GNU_SOURCE
#define FS_RIG_WORKER 0 /* inline: test_fs_worker.c runs the worker path */
#include "fs_rig.h"

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
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), -EINVAL);
	vp.tag = NULL;
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), -EINVAL);
	memset(longtag, 'x', 37);
	longtag[37] = 0;
	vp.tag = longtag;
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), -EINVAL);
	longtag[36] = 0; /* exactly 36: fits, no NUL in config space */
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), 0);
	vfs_destroy(fs);
	vp.path = "/nonexistent/dir";
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), -ENOENT);
	vp.path = "/etc/hostname";
	CHECK_ERR(vfs_init(fs, &vp, NULL, &t.d->m, &mp), -ENOTDIR);
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

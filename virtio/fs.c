// SPDX-License-Identifier: MIT
/*
 * fs: virtio-fs, the device model (fs.h). Layout facts: virtio 1.2 §5.11.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <linux/virtio_fs.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio 1.2 §5.11.4");

/*
 * vfs_serve: one popped chain, fs->chain, through the FUSE server.
 * Returns the used length. The chain's segments are at most
 * VIRTQ_MAX_SEGS per part, so the iovec arrays always suffice.
 */
static uint32_t vfs_serve(struct vfs *fs)
{
	const struct virtq_chain *c = &fs->chain;
	int in_n, out_n;

	in_n = virtq_chain_iov(c, false, 0, c->readable_len, fs->in_iov, VIRTQ_MAX_SEGS);
	out_n = virtq_chain_iov(c, true, 0, c->writable_len, fs->out_iov, VIRTQ_MAX_SEGS);
	if (in_n < 0 || out_n < 0)
		return 0; /* cannot happen: see above */
	fs->stats.chains++;
	return fuse_srv_handle(fs->srv, fs->in_iov, (unsigned int)in_n, fs->out_iov,
	                       (unsigned int)out_n);
}

/*
 * vfs_process: serve queue qi's available chains (main thread, lock held),
 * at most VFS_BUDGET when the queue has a notify eventfd to come back
 * through; one interrupt for the batch. A ring violation asks for a reset.
 */
static void vfs_process(struct vfs *fs, unsigned int qi)
{
	struct virtq *q = virtio_mmio_queue(&fs->transport, qi);
	int notify_fd = fs->transport.notify_fd[qi];
	bool pushed = false;

	for (unsigned int n = 0;; n++) {
		uint64_t one = 1;
		int err;

		if (n == VFS_BUDGET && notify_fd >= 0) {
			/* Yield: the eventfd brings the main loop back here after the
			 * other devices had their turn. */
			fs->stats.yields++;
			if (write(notify_fd, &one, sizeof(one)) < 0)
				continue; /* cannot signal: keep going instead */
			break;
		}
		err = virtq_pop(q, &fs->chain);
		if (err) {
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&fs->transport);
			break;
		}
		if (virtq_push(q, fs->chain.head, vfs_serve(fs)) < 0) {
			virtio_mmio_set_needs_reset(&fs->transport);
			break;
		}
		pushed = true;
	}
	if (pushed) {
		fs->stats.batches++;
		virtio_mmio_notify_used(&fs->transport, qi);
	}
}

static void vfs_queue_notify(void *dev, unsigned int q)
{
	vfs_process(dev, q);
}

/* §5.11.4: tag and num_request_queues; read-only for the driver (no
 * config_write: the transport drops its writes). */
static void vfs_config_read(void *dev, uint32_t offset, void *data, uint32_t len)
{
	struct vfs *fs = dev;
	struct virtio_fs_config cfg = { .num_request_queues = VFS_NUM_QUEUES - 1 };

	memcpy(cfg.tag, fs->tag, sizeof(cfg.tag));
	/* The transport checked offset + len <= config_size; x86 is
	 * little-endian, as virtio 1.x config fields are. */
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static int vfs_activate(void *dev)
{
	struct vfs *fs = dev;
	uint64_t one = 1;

	/* Buffers made available before DRIVER_OK: have the main thread look
	 * at the queues through their own notify eventfds. */
	for (unsigned int q = 0; q < VFS_NUM_QUEUES; q++)
		if (fs->transport.notify_fd[q] >= 0 &&
		    write(fs->transport.notify_fd[q], &one, sizeof(one)) < 0)
			return -errno;
	return 0;
}

/* The driver reset the device: the FUSE session ends with it (the next
 * driver starts with INIT). Nothing is in flight: requests are served
 * inline under the same lock. */
static void vfs_reset(void *dev)
{
	struct vfs *fs = dev;

	fuse_srv_reset(fs->srv);
}

static const struct virtio_dev_ops vfs_ops = {
	.name = "fs",
	.device_id = VFS_DEVICE_ID,
	.features = 0,
	.num_queues = VFS_NUM_QUEUES,
	.queue_max_size = VFS_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_fs_config),
	.config_read = vfs_config_read,
	.activate = vfs_activate,
	.queue_notify = vfs_queue_notify,
	.reset = vfs_reset,
};

int vfs_init(struct vfs *fs, const struct vfs_params *p, struct loop *loop, const struct gmem *mem,
             const struct virtio_mmio_params *mp)
{
	struct fuse_srv_params sp = {
		.root = p->path,
		.read_only = p->read_only,
		.owner = p->owner,
		.max_inodes = p->max_inodes,
		.max_handles = p->max_handles,
	};
	size_t tag_len = p->tag ? strnlen(p->tag, VFS_TAG_MAX + 1) : 0;
	int err;

	memset(fs, 0, sizeof(*fs));
	fs->loop = loop;
	if (tag_len == 0 || tag_len > VFS_TAG_MAX || !p->path)
		return -EINVAL;
	memcpy(fs->tag, p->tag, tag_len);
	err = fuse_srv_create(&fs->srv, &sp);
	if (err)
		return err;
	err = virtio_mmio_init(&fs->transport, &vfs_ops, fs, mem, mp);
	if (err) {
		fuse_srv_destroy(fs->srv);
		fs->srv = NULL;
	}
	return err;
}

void vfs_destroy(struct vfs *fs)
{
	virtio_mmio_destroy(&fs->transport);
	fuse_srv_destroy(fs->srv);
	fs->srv = NULL;
}

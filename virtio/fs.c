// SPDX-License-Identifier: MIT
/*
 * fs: virtio-fs, the device model (fs.h): config space, popping chains into
 * jobs, device reset, set-up and tear-down. Where the jobs then run is
 * fs_job.c's. Layout facts: virtio 1.2 §5.11.
 */
#define _GNU_SOURCE
#include "fs_int.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_fs.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio 1.2 §5.11.4");

/*
 * vfs_job_fill: the popped chain fs->chain into job: its head, its queue
 * and iovecs over its readable and writable parts (main thread).
 */
static void vfs_job_fill(struct vfs *fs, struct vfs_job *job, unsigned int qi)
{
	const struct virtq_chain *c = &fs->chain;
	int in_n, out_n;

	in_n = virtq_chain_iov(c, false, 0, c->readable_len, job->in_iov, VIRTQ_MAX_SEGS);
	out_n = virtq_chain_iov(c, true, 0, c->writable_len, job->out_iov, VIRTQ_MAX_SEGS);
	/* Cannot fail: a chain has at most VIRTQ_MAX_SEGS segments. Were it
	 * to, an empty request gets an EINVAL reply, no crash. */
	job->in_n = in_n < 0 ? 0 : (unsigned int)in_n;
	job->out_n = out_n < 0 ? 0 : (unsigned int)out_n;
	job->head = c->head;
	job->qi = (uint8_t)qi;
	job->generation = vfs_generation(fs);
	job->served = false;
	job->io = false;
	job->used_len = 0;
	fs->stats.chains++;
}

/* vfs_can_pop: DRIVER_OK and not DEVICE_NEEDS_RESET (lock held), as
 * virtio_mmio_queue_notify checks before a notification. */
static bool vfs_can_pop(const struct vfs *fs)
{
	uint32_t live = VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET;

	return (fs->transport.status & live) == VIRTIO_CONFIG_S_DRIVER_OK;
}

/* vfs_push: a used entry for head on queue qi (lock held); false when the
 * device broke (then it asked for a reset). */
bool vfs_push(struct vfs *fs, unsigned int qi, uint16_t head, uint32_t len)
{
	if (virtq_push(virtio_mmio_queue(&fs->transport, qi), head, len) < 0) {
		virtio_mmio_set_needs_reset(&fs->transport);
		return false;
	}
	return true;
}

/* vfs_yield: inline mode, budget spent: have the loop come back through
 * the queue's eventfd after the other devices had their turn. */
static bool vfs_yield(struct vfs *fs, int notify_fd)
{
	uint64_t one = 1;

	fs->stats.yields++;
	return write(notify_fd, &one, sizeof(one)) == sizeof(one);
}

/* vfs_take_job: a free job for queue qi, or NULL. The last
 * VFS_HIPRIO_JOBS are the hiprio queue's, so that FORGETs still flow
 * when the request queue has every other job in flight. */
static struct vfs_job *vfs_take_job(struct vfs *fs, unsigned int qi)
{
	struct vfs_job *job = fs->free_job;

	if (!job || (fs->loop && qi != 0 && fs->nr_free <= VFS_HIPRIO_JOBS))
		return NULL;
	return job;
}

/*
 * vfs_process: take queue qi's available chains (main thread, lock held).
 * Worker path: each becomes a job, until no job is free (starved: the
 * next completion resumes here); READ and WRITE go to the ring at once
 * (vfs_io_start), the others to the worker, handed over together at the
 * end. Inline mode: each is served and pushed here, at most VFS_BUDGET
 * when the queue has a notify eventfd to come back through; one interrupt
 * for the batch. A ring violation asks for a reset.
 */
static void vfs_process(struct vfs *fs, unsigned int qi)
{
	struct virtq *q = virtio_mmio_queue(&fs->transport, qi);
	int notify_fd = fs->transport.notify_fd[qi];
	struct vfs_job *first = NULL, **last_next = &first;
	bool pushed = false;

	fs->starved[qi] = false;
	for (unsigned int n = 0;; n++) {
		struct vfs_job *job = vfs_take_job(fs, qi);
		int err;

		if (!fs->loop && n == VFS_BUDGET && notify_fd >= 0 && vfs_yield(fs, notify_fd))
			break;
		if (!job) {
			fs->starved[qi] = true;
			fs->stats.starved++;
			break;
		}
		err = virtq_pop(q, &fs->chain);
		if (err) {
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&fs->transport);
			break;
		}
		vfs_job_fill(fs, job, qi);
		if (!fs->loop) {
			vfs_job_run(fs, job);
			if (!vfs_push(fs, qi, job->head, job->used_len))
				break;
			pushed = true;
			continue;
		}
		fs->free_job = job->next;
		fs->nr_free--;
		job->next = NULL;
		if (++fs->stats.inflight > fs->stats.max_inflight)
			fs->stats.max_inflight = fs->stats.inflight;
		if (qi != 0 && vfs_io_start(fs, job))
			continue;
		*last_next = job;
		last_next = &job->next;
	}
	if (first)
		vfs_hand_over(fs, first, last_next);
	if (pushed) {
		fs->stats.batches++;
		virtio_mmio_notify_used(&fs->transport, qi);
	}
}

/* vfs_resume: pop again on the queues that had stopped for lack of jobs
 * (main thread, lock held). */
void vfs_resume(struct vfs *fs)
{
	for (unsigned int qi = 0; qi < VFS_NUM_QUEUES; qi++)
		if (fs->starved[qi] && fs->free_job && vfs_can_pop(fs))
			vfs_process(fs, qi);
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

/*
 * vfs_reset: the driver reset the device (vCPU thread, transport lock
 * held). Jobs in flight belong to the old generation: the worker skips
 * those it has not started, and vfs_reap drops every completion of them.
 * Then the FUSE session ends (the next driver starts with INIT): srv_lock
 * waits for the one request the worker may be serving, at most.
 */
static void vfs_reset(void *dev)
{
	struct vfs *fs = dev;

	__atomic_fetch_add(&fs->generation, 1, __ATOMIC_ACQ_REL);
	for (unsigned int qi = 0; qi < VFS_NUM_QUEUES; qi++)
		fs->starved[qi] = false;
	fs->notify_pending = 0;
	pthread_mutex_lock(&fs->srv_lock);
	fuse_srv_reset(fs->srv);
	pthread_mutex_unlock(&fs->srv_lock);
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

/* vfs_init_locks: the mutexes and the condition variable. */
static int vfs_init_locks(struct vfs *fs)
{
	int err = -pthread_mutex_init(&fs->srv_lock, NULL);

	if (err)
		return err;
	err = -pthread_mutex_init(&fs->jobs_lock, NULL);
	if (err) {
		pthread_mutex_destroy(&fs->srv_lock);
		return err;
	}
	err = -pthread_cond_init(&fs->jobs_cv, NULL);
	if (err) {
		pthread_mutex_destroy(&fs->jobs_lock);
		pthread_mutex_destroy(&fs->srv_lock);
		return err;
	}
	fs->locks_ready = true;
	return 0;
}

int vfs_init(struct vfs *fs, const struct vfs_params *p, struct loop *loop, const struct gmem *mem,
             const struct virtio_mmio_params *mp)
{
	struct fuse_srv_params sp = {
		.root = p->path,
		.read_only = p->read_only,
		.cache = p->cache,
		.owner = p->owner,
		.max_inodes = p->max_inodes,
		.max_handles = p->max_handles,
		.grafts = p->grafts,
		.nr_grafts = p->nr_grafts,
		.overlay_xattrs = p->overlay_xattrs,
	};
	size_t tag_len = p->tag ? strnlen(p->tag, VFS_TAG_MAX + 1) : 0;
	int err;

	memset(fs, 0, offsetof(struct vfs, chain)); /* not the scratch (fs.h) */
	fs->loop = loop;
	fs->done_fd = -1;
	fs->pending_tail = &fs->pending;
	fs->done_tail = &fs->done;
	if (tag_len == 0 || tag_len > VFS_TAG_MAX || !p->path)
		return -EINVAL;
	memcpy(fs->tag, p->tag, tag_len);
	err = fuse_srv_create(&fs->srv, &sp);
	if (err)
		return err;
	err = vfs_init_locks(fs);
	if (!err) {
		err = virtio_mmio_init(&fs->transport, &vfs_ops, fs, mem, mp);
		fs->transport_ready = !err;
	}
	if (!err)
		err = vfs_init_jobs(fs);
	/* Last: once polled, done_op must outlive the loop's running. */
	if (!err && loop)
		err = vfs_attach_loop(fs);
	if (err)
		vfs_destroy(fs);
	return err;
}

void vfs_destroy(struct vfs *fs)
{
	vfs_stop_workers(fs);
	if (fs->transport_ready)
		virtio_mmio_destroy(&fs->transport);
	fs->transport_ready = false;
	if (fs->done_fd >= 0)
		close(fs->done_fd);
	fs->done_fd = -1;
	free(fs->jobs);
	fs->jobs = NULL;
	fs->free_job = fs->pending = fs->done = NULL;
	if (fs->locks_ready) {
		pthread_cond_destroy(&fs->jobs_cv);
		pthread_mutex_destroy(&fs->jobs_lock);
		pthread_mutex_destroy(&fs->srv_lock);
	}
	fs->locks_ready = false;
	fuse_srv_destroy(fs->srv);
	fs->srv = NULL;
}

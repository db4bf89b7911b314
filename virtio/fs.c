// SPDX-License-Identifier: MIT
/*
 * fs: virtio-fs, the device model (fs.h). Layout facts: virtio 1.2 §5.11.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_fs.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio 1.2 §5.11.4");

/* vfs_generation: the current generation (any thread). */
static uint32_t vfs_generation(struct vfs *fs)
{
	return __atomic_load_n(&fs->generation, __ATOMIC_ACQUIRE);
}

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
	job->used_len = 0;
	fs->stats.chains++;
}

/*
 * vfs_job_run: serve job through the server, unless a device reset came
 * since it was popped (then the driver owns its buffers again: not one
 * byte may be written there). Under srv_lock, so that a reset, which bumps
 * the generation before it takes srv_lock, either waits for this request
 * or is seen by it. Any thread.
 */
static void vfs_job_run(struct vfs *fs, struct vfs_job *job)
{
	pthread_mutex_lock(&fs->srv_lock);
	if (job->generation == vfs_generation(fs)) {
		job->used_len =
		    fuse_srv_handle(fs->srv, job->in_iov, job->in_n, job->out_iov, job->out_n);
		job->served = true;
	}
	pthread_mutex_unlock(&fs->srv_lock);
}

/*
 * vfs_worker: the worker thread. Takes pending jobs in order, serves them,
 * puts them on the done list and wakes the main loop through done_fd when
 * the list was empty (a non-empty list has a wake-up pending already: the
 * main thread reads done_fd before it takes the list). Ends at stop,
 * leaving queued jobs unserved.
 */
static void *vfs_worker(void *opaque)
{
	struct vfs *fs = opaque;
	uint64_t one = 1;

	pthread_mutex_lock(&fs->jobs_lock);
	for (;;) {
		struct vfs_job *job;
		bool wake;

		while (!fs->stop && !fs->pending)
			pthread_cond_wait(&fs->jobs_cv, &fs->jobs_lock);
		if (fs->stop)
			break;
		job = fs->pending;
		fs->pending = job->next;
		if (!fs->pending)
			fs->pending_tail = &fs->pending;
		pthread_mutex_unlock(&fs->jobs_lock);

		vfs_job_run(fs, job);

		pthread_mutex_lock(&fs->jobs_lock);
		job->next = NULL;
		wake = !fs->done;
		*fs->done_tail = job;
		fs->done_tail = &job->next;
		if (wake && write(fs->done_fd, &one, sizeof(one)) < 0) {
			/* Only at the counter's maximum: a wake-up is pending. */
		}
	}
	pthread_mutex_unlock(&fs->jobs_lock);
	return NULL;
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
static bool vfs_push(struct vfs *fs, unsigned int qi, uint16_t head, uint32_t len)
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

/* vfs_hand_over: the jobs popped by one notification to the worker. */
static void vfs_hand_over(struct vfs *fs, struct vfs_job *first, struct vfs_job **last_next)
{
	pthread_mutex_lock(&fs->jobs_lock);
	*fs->pending_tail = first;
	fs->pending_tail = last_next;
	pthread_cond_signal(&fs->jobs_cv);
	pthread_mutex_unlock(&fs->jobs_lock);
}

/*
 * vfs_process: take queue qi's available chains (main thread, lock held).
 * Worker path: each becomes a job, until no job is free (starved: the
 * next completion resumes here), all handed over at the end. Inline mode:
 * each is served and pushed here, at most VFS_BUDGET when the queue has a
 * notify eventfd to come back through; one interrupt for the batch. A ring
 * violation asks for a reset.
 */
static void vfs_process(struct vfs *fs, unsigned int qi)
{
	struct virtq *q = virtio_mmio_queue(&fs->transport, qi);
	int notify_fd = fs->transport.notify_fd[qi];
	struct vfs_job *first = NULL, **last_next = &first;
	bool pushed = false;

	fs->starved[qi] = false;
	for (unsigned int n = 0;; n++) {
		struct vfs_job *job = fs->free_job;
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
		job->next = NULL;
		*last_next = job;
		last_next = &job->next;
		if (++fs->stats.inflight > fs->stats.max_inflight)
			fs->stats.max_inflight = fs->stats.inflight;
	}
	if (first)
		vfs_hand_over(fs, first, last_next);
	if (pushed) {
		fs->stats.batches++;
		virtio_mmio_notify_used(&fs->transport, qi);
	}
}

/*
 * vfs_reap: the worker's finished jobs (main thread, lock held): a used
 * entry for each of the current generation, none for older ones (the
 * driver reset the device since: the chain is not ours to complete);
 * every job back on the free list. Returns the queues that got entries, as
 * bits.
 */
static unsigned int vfs_reap(struct vfs *fs, struct vfs_job *list)
{
	uint32_t gen = vfs_generation(fs);
	unsigned int pushed = 0;

	while (list) {
		struct vfs_job *job = list;

		list = job->next;
		if (!job->served)
			fs->stats.skipped++;
		if (job->served && job->generation == gen) {
			if (vfs_push(fs, job->qi, job->head, job->used_len))
				pushed |= 1u << job->qi;
		} else {
			fs->stats.dropped++;
		}
		job->next = fs->free_job;
		fs->free_job = job;
		fs->stats.inflight--;
	}
	return pushed;
}

/*
 * vfs_done: done_fd fired (main thread): reap the done list under the
 * transport lock, one interrupt per queue for the batch, then pop again on
 * the queues that had stopped for lack of jobs.
 */
static void vfs_done(void *opaque, int res, bool more)
{
	struct vfs *fs = opaque;
	struct vfs_job *list;
	unsigned int pushed;
	uint64_t v;

	(void)more;
	if (res < 0)
		return;
	if (read(fs->done_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing counted; the list is looked at anyway. */
	}
	virtio_mmio_lock(&fs->transport);
	pthread_mutex_lock(&fs->jobs_lock);
	list = fs->done;
	fs->done = NULL;
	fs->done_tail = &fs->done;
	pthread_mutex_unlock(&fs->jobs_lock);
	pushed = vfs_reap(fs, list);
	for (unsigned int qi = 0; qi < VFS_NUM_QUEUES; qi++) {
		if (pushed & (1u << qi)) {
			fs->stats.batches++;
			virtio_mmio_notify_used(&fs->transport, qi);
		}
	}
	for (unsigned int qi = 0; qi < VFS_NUM_QUEUES; qi++)
		if (fs->starved[qi] && fs->free_job && vfs_can_pop(fs))
			vfs_process(fs, qi);
	virtio_mmio_unlock(&fs->transport);
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

/* vfs_start_worker: the worker threads, every signal blocked in them. */
static int vfs_start_worker(struct vfs *fs)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (fs->nr_workers < VFS_WORKERS) {
		err = -pthread_create(&fs->workers[fs->nr_workers], NULL, vfs_worker, fs);
		if (err)
			break;
		fs->nr_workers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

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

/* vfs_init_jobs: the job pool, all free; the worker path's eventfd,
 * thread and poll. */
static int vfs_init_jobs(struct vfs *fs)
{
	unsigned int n = fs->loop ? VFS_JOBS : 1;

	/* calloc: only the pages a job's iovecs use are ever touched. */
	fs->jobs = calloc(n, sizeof(*fs->jobs));
	if (!fs->jobs)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		fs->jobs[i].next = fs->free_job;
		fs->free_job = &fs->jobs[i];
	}
	if (!fs->loop)
		return 0;
	fs->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->done_fd < 0)
		return -errno;
	fs->done_op = (struct loop_op){ .cb = vfs_done, .opaque = fs };
	return vfs_start_worker(fs);
}

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
		err = loop_poll(loop, fs->done_fd, POLLIN, &fs->done_op);
	if (err)
		vfs_destroy(fs);
	return err;
}

/* vfs_stop_workers: stop and join them; queued jobs stay unserved. */
static void vfs_stop_workers(struct vfs *fs)
{
	if (!fs->nr_workers)
		return;
	pthread_mutex_lock(&fs->jobs_lock);
	fs->stop = true;
	pthread_cond_broadcast(&fs->jobs_cv);
	pthread_mutex_unlock(&fs->jobs_lock);
	while (fs->nr_workers)
		pthread_join(fs->workers[--fs->nr_workers], NULL);
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

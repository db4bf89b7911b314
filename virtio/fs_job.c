// SPDX-License-Identifier: MIT
/*
 * fs_job: where virtio-fs requests run (fs.h, "Where requests run"): the
 * worker thread for metadata, the main loop's io_uring for READ and WRITE
 * (straight between the host file and the chain's guest buffers), and the
 * completions of both, which come back to the main thread.
 */
#define _GNU_SOURCE
#include "fs_int.h"
#include "vmm/thread.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/*
 * vfs_job_run: serve job through the server, unless a device reset came
 * since it was popped (then the driver owns its buffers again: not one
 * byte may be written there). Under srv_lock, so that a reset, which bumps
 * the generation before it takes srv_lock, either waits for this request
 * or is seen by it. Any thread.
 */
void vfs_job_run(struct vfs *fs, struct vfs_job *job)
{
	if (job->io) {
		/* Prepared for the ring, which had no SQE free: the handle's
		 * reference is held, so the reply must come whatever the
		 * generation; vfs_reap drops it if a reset came. */
		int res =
		    job->generation == vfs_generation(fs) ? fuse_srv_io_sync(&job->xfer) : -EIO;

		job->used_len = fuse_srv_io_done(fs->srv, &job->xfer, res);
		job->served = true;
		return;
	}
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
	bool entered = false;

	pthread_mutex_lock(&fs->jobs_lock);
	for (;;) {
		struct vfs_job *job;
		bool wake;

		while (!fs->stop && !fs->pending)
			pthread_cond_wait(&fs->jobs_cv, &fs->jobs_lock);
		if (fs->stop)
			break;
		/* Confined before the first request the guest sent is served. */
		if (!entered && fs->thread_enter && fs->thread_enter(fs->thread_enter_opaque) < 0)
			break;
		entered = true;
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

/* vfs_hand_over: the jobs popped by one notification to the worker. */
void vfs_hand_over(struct vfs *fs, struct vfs_job *first, struct vfs_job **last_next)
{
	pthread_mutex_lock(&fs->jobs_lock);
	*fs->pending_tail = first;
	fs->pending_tail = last_next;
	pthread_cond_signal(&fs->jobs_cv);
	pthread_mutex_unlock(&fs->jobs_lock);
}

/*
 * vfs_io_start: a READ or WRITE of a plain kind goes to the loop's ring,
 * straight between the host file and the chain's guest buffers (main
 * thread, lock held). True when it went; false when it is the worker's
 * (any other request, or an odd one: fuse_srv_io_prep says). With no SQE
 * free, the prepared transfer is the worker's too (job->io: it runs it with
 * preadv/pwritev).
 */
bool vfs_io_start(struct vfs *fs, struct vfs_job *job)
{
	struct io_uring_sqe *sqe;
	struct fuse_io *x = &job->xfer;

	x->iov = job->data_iov;
	x->iov_max = VIRTQ_MAX_SEGS;
	if (!fuse_srv_io_prep(fs->srv, job->in_iov, job->in_n, job->out_iov, job->out_n, x))
		return false;
	job->io = true;
	sqe = loop_sqe(fs->loop, &job->op);
	if (!sqe) {
		fs->stats.sync_io++;
		return false;
	}
	if (x->write)
		io_uring_prep_writev(sqe, x->fd, x->iov, x->iov_n, x->offset);
	else
		io_uring_prep_readv(sqe, x->fd, x->iov, x->iov_n, x->offset);
	fs->stats.ring_io++;
	return true;
}

/* vfs_free_job: job back on the free list (main thread, lock held). */
static void vfs_free_job(struct vfs *fs, struct vfs_job *job)
{
	job->next = fs->free_job;
	fs->free_job = job;
	fs->nr_free++;
	fs->stats.inflight--;
}

/*
 * vfs_io_complete: a transfer on the ring finished (main thread): its
 * reply, and a used entry unless a device reset came since it was popped
 * (the reference on the handle is dropped either way). The interrupt
 * waits for vfs_idle: one per batch of completions.
 */
static void vfs_io_complete(void *opaque, int res, bool more)
{
	struct vfs_job *job = opaque;
	struct vfs *fs = job->fs;
	uint32_t len;

	(void)more;
	virtio_mmio_lock(&fs->transport);
	len = fuse_srv_io_done(fs->srv, &job->xfer, res);
	if (job->generation == vfs_generation(fs)) {
		if (vfs_push(fs, job->qi, job->head, len))
			fs->notify_pending |= 1u << job->qi;
	} else {
		fs->stats.dropped++;
	}
	vfs_free_job(fs, job);
	vfs_resume(fs);
	virtio_mmio_unlock(&fs->transport);
}

/* vfs_idle: after each batch of loop completions, one interrupt per queue
 * that got used entries from the ring. */
static void vfs_idle(void *opaque)
{
	struct vfs *fs = opaque;

	virtio_mmio_lock(&fs->transport);
	for (unsigned int qi = 0; qi < VFS_NUM_QUEUES; qi++) {
		if (fs->notify_pending & (1u << qi)) {
			fs->stats.batches++;
			virtio_mmio_notify_used(&fs->transport, qi);
		}
	}
	fs->notify_pending = 0;
	virtio_mmio_unlock(&fs->transport);
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
		vfs_free_job(fs, job);
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
	vfs_resume(fs);
	virtio_mmio_unlock(&fs->transport);
}

/* vfs_start_worker: the worker threads, every signal blocked in them. */
static int vfs_start_worker(struct vfs *fs)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (fs->nr_workers < VFS_WORKERS) {
		err = thread_start(&fs->workers[fs->nr_workers], vfs_worker, fs);
		if (err)
			break;
		fs->nr_workers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* vfs_init_jobs: the job pool, all free; the worker path's eventfd,
 * thread and poll. */
int vfs_init_jobs(struct vfs *fs)
{
	unsigned int n = fs->loop ? VFS_JOBS : 1;

	/* calloc: only the pages a job's iovecs use are ever touched. */
	fs->jobs = calloc(n, sizeof(*fs->jobs));
	if (!fs->jobs)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		fs->jobs[i].fs = fs;
		fs->jobs[i].op = (struct loop_op){ .cb = vfs_io_complete, .opaque = &fs->jobs[i] };
		fs->jobs[i].next = fs->free_job;
		fs->free_job = &fs->jobs[i];
	}
	fs->nr_free = n;
	if (!fs->loop)
		return 0;
	fs->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->done_fd < 0)
		return -errno;
	fs->done_op = (struct loop_op){ .cb = vfs_done, .opaque = fs };
	return vfs_start_worker(fs);
}

void vfs_set_thread_enter(struct vfs *fs, int (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&fs->jobs_lock);
	fs->thread_enter = fn;
	fs->thread_enter_opaque = opaque;
	pthread_mutex_unlock(&fs->jobs_lock);
}

/* vfs_stop_workers: stop and join them; queued jobs stay unserved. */
void vfs_stop_workers(struct vfs *fs)
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

/* vfs_attach_loop: the loop's calls into the worker path: vfs_idle after
 * each batch, vfs_done when done_fd fires. 0 or -errno. */
int vfs_attach_loop(struct vfs *fs)
{
	int err = loop_add_idle(fs->loop, vfs_idle, fs);

	return err ? err : loop_poll(fs->loop, fs->done_fd, POLLIN, &fs->done_op);
}

/* SPDX-License-Identifier: MIT */
/*
 * fs: virtio-fs (virtio 1.2 §5.11), a shared host directory served by the
 * in-VMM FUSE passthrough server of virtio/fuse.h.
 *
 * Device ID 26. Config space (§5.11.4): the tag the guest mounts by
 * (`mount -t virtiofs TAG /mnt`, 36 bytes, NUL-padded, not NUL-terminated
 * when full) and num_request_queues, here 1. Queues (§5.11.2): 0 is the
 * hiprio queue (FORGET, BATCH_FORGET, INTERRUPT), 1 the one request queue.
 * No feature bits: VIRTIO_FS_F_NOTIFICATION is not offered, and there is
 * no DAX window (§5.11.6) yet.
 *
 * Each chain is one FUSE request (§5.11.6.1): its device-readable part is
 * struct fuse_in_header, the op's arguments and any write data; its
 * device-writable part receives struct fuse_out_header and the reply. The
 * used length is the reply's length; FORGET, BATCH_FORGET and INTERRUPT
 * get a used entry of length 0 (no reply). A chain whose request is
 * truncated or whose header length disagrees with the chain gets an
 * EINVAL reply (or length 0 when there is no room for a reply); only a
 * ring violation (virtq_pop's errors) sets DEVICE_NEEDS_RESET.
 *
 * Where requests run (vfs_init's loop decides):
 *  - the worker path (a loop given; the VM's case): the main thread, in
 *    queue_notify with the transport lock held, only pops chains and turns
 *    them into jobs (the chain's head and its readable and writable parts
 *    as iovecs), at most VFS_JOBS in flight per device, of which the
 *    request queue may take all but VFS_HIPRIO_JOBS (so that FORGETs flow
 *    when requests pile up behind a slow host); when none is free it
 *    stops popping and resumes when one completes. Then (fs_job.c):
 *     - READ and WRITE of the plain kind (fuse_srv_io_prep decides) go to
 *       the loop's io_uring at once, as READV/WRITEV straight between the
 *       host file and the chain's guest buffers: no copy, no thread
 *       hand-off; the completion writes the reply on the main thread and
 *       vfs_idle raises one interrupt per queue per batch. Should the ring
 *       have no SQE free, the worker moves the bytes instead.
 *     - Every other request goes, in one batch per notification, to
 *       VFS_WORKERS worker thread(s) (jobs_lock, jobs_cv), which run
 *       fuse_srv_handle. Finished jobs come back on a list, signalled
 *       through done_fd, an eventfd the main loop polls; the main thread
 *       then takes the transport lock, pushes their used entries, raises
 *       one interrupt per queue per batch, and resumes popping where it
 *       had stopped for lack of jobs.
 *    A slow host call thus stalls the worker and its device's metadata,
 *    never the main loop, and never the data already on the ring. No
 *    worker ever touches a virtqueue: only the main thread pops and
 *    pushes (virtio/virtq.h).
 *  - the inline mode (loop NULL: unit tests and the fuzz target, which want
 *    each used entry before queue_notify returns): every request is served
 *    in queue_notify itself, at most VFS_BUDGET chains per notification
 *    (then the queue's notify eventfd, if any, brings the loop back).
 *
 * One worker, on purpose: the server is single-threaded (virtio/fuse.h: its
 * tables and scratch buffers are not thread-safe), so every use of it runs
 * under srv_lock, and a second worker would only wait on that lock. A pool
 * needs a server with per-thread scratch and locked tables first. The data
 * path shares only the handle table with it, under the table's own lock.
 *
 * Device reset (vCPU thread, transport lock held): bumps the generation;
 * jobs popped before it are never served (the worker skips them) and their
 * completions are dropped (the driver owns those chains again), then takes
 * srv_lock and resets the server. Bound: a reset waits for at most the one
 * request the worker is serving at that moment, and with it whoever waits
 * for the transport lock (the main thread, on a completion or notify).
 * Transfers already on the ring cannot be called back: like virtio-blk's,
 * they finish into guest memory (never outside it) and their completions
 * are dropped; the handle they use stays open until then (fuse.h).
 *
 * What is still synchronous: each metadata request itself on the worker;
 * the server reset on the resetting vCPU (see above); and in vfs_destroy,
 * the join of the worker, which waits for the request in progress (queued
 * jobs are never served after the stop).
 *
 * Threading: as every device (virtio/mmio.h): queue processing on the main
 * thread under the transport lock; reset on a vCPU thread under the same
 * lock (it closes every inode and handle descriptor: up to
 * FUSE_SRV_MAX_INODES + FUSE_SRV_MAX_HANDLES close calls). Lock order:
 * transport lock, then srv_lock, then jobs_lock. The worker is created in
 * vfs_init, before any vCPU runs and before seccomp filters are installed,
 * so a failure is a setup error, not a device error at run time, and it
 * starts with every signal blocked (the main thread's signalfd and the
 * vCPUs' kick signal are not its business).
 *
 * Host descriptors: the server holds up to FUSE_SRV_MAX_INODES +
 * FUSE_SRV_MAX_HANDLES + 3 descriptors; the VMM's RLIMIT_NOFILE must
 * allow that (beyond it, lookups fail with ENFILE in the guest, which is
 * safe but unhelpful).
 *
 * Sandboxing (for the jail and seccomp steps): the server reopens inodes
 * through a descriptor of /proc/self/fd taken at vfs_init, so /proc must be
 * mounted when vfs_init runs (not afterwards: a chroot is fine). A uid
 * change afterwards is fine too (a process may always use its own
 * /proc/self/fd, dumpable or not; test_rootless checks it). Syscalls the
 * server uses (on the worker thread, which adds futex and write for its
 * eventfd; in inline mode, on the caller's; READ and WRITE on the main
 * thread's io_uring): openat, openat2,
 * fstatat, fstatfs, readlinkat, symlinkat, mknodat, mkdirat, unlinkat,
 * renameat2, linkat, fchownat, fchmodat, utimensat, ftruncate, preadv,
 * pwritev, fsync, fdatasync, fallocate, lseek, copy_file_range,
 * getdents64, syncfs, close, and the xattr calls (getxattrat & co, or
 * getxattr & co on a /proc/self/fd path).
 */
#ifndef KVMBOX_VIRTIO_FS_H
#define KVMBOX_VIRTIO_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/fuse.h"
#include "virtio/mmio.h"
#include "vmm/loop.h"

#define VFS_DEVICE_ID  26u /* §5.11.1 */
#define VFS_NUM_QUEUES 2u  /* hiprio + one request queue (§5.11.2) */
#define VFS_QUEUE_SIZE 1024u
#define VFS_TAG_MAX    36u /* §5.11.4: u8 tag[36] */
/* Inline mode: chains served per notification before yielding to the loop. */
#define VFS_BUDGET 64u
/* Worker path: chains in flight per device, popped and not yet pushed. */
#define VFS_JOBS 64u
/* Of those, kept for the hiprio queue (FORGET): the request queue stops
 * short of them. */
#define VFS_HIPRIO_JOBS 4u
/* Worker threads per device: one, while the server is single-threaded. */
#define VFS_WORKERS 1u

struct vfs_params {
	const char *path; /* the shared host directory */
	const char *tag;  /* 1..VFS_TAG_MAX bytes */
	bool read_only;
	enum fuse_cache cache;      /* 0: FUSE_CACHE_AUTO */
	enum fuse_owner_mode owner; /* 0: FUSE_OWNER_AUTO */
	uint32_t max_inodes;        /* 0: FUSE_SRV_MAX_INODES */
	uint32_t max_handles;       /* 0: FUSE_SRV_MAX_HANDLES */
	const char *const *grafts;  /* an image's layers (fuse.h) */
	uint32_t nr_grafts;
	bool overlay_xattrs; /* trusted.overlay.* is the host's user.overlay.* */
};

/* Counters, main thread only (under the transport lock). */
struct vfs_stats {
	uint64_t chains;       /* chains popped */
	uint64_t yields;       /* inline: notifications cut short by VFS_BUDGET */
	uint64_t batches;      /* notifications or completion batches that pushed */
	uint64_t starved;      /* worker: popping stopped, every job in flight */
	uint64_t dropped;      /* worker: completions of an older generation */
	uint64_t skipped;      /* worker: jobs it did not serve (older generation) */
	uint64_t ring_io;      /* READ and WRITE moved on the loop's ring */
	uint64_t sync_io;      /* ... and by the worker, for want of an SQE */
	uint32_t inflight;     /* worker: jobs popped and not yet reaped */
	uint32_t max_inflight; /* worker: the most at once (<= VFS_JOBS) */
};

/*
 * vfs_job: one popped chain on its way through the worker. Owned by the
 * main thread while free or being filled, by whoever holds jobs_lock while
 * on the pending or done list, by the worker while it serves it.
 */
struct vfs_job {
	struct vfs_job *next;
	struct vfs *fs;
	uint32_t generation; /* fs->generation when popped */
	uint16_t head;       /* for virtq_push */
	uint8_t qi;          /* the queue it came from */
	bool served;         /* the worker ran it (not skipped) */
	bool io;             /* a READ or WRITE prepared for the data path */
	uint32_t used_len;   /* the reply's length */
	unsigned int in_n, out_n;
	struct loop_op op;   /* the data path's transfer on the ring */
	struct fuse_io xfer; /* when io */
	/* The chain has at most VIRTQ_MAX_SEGS segments per part, so these
	 * always suffice. Only the pages a chain uses are ever touched. */
	struct iovec in_iov[VIRTQ_MAX_SEGS];
	struct iovec out_iov[VIRTQ_MAX_SEGS];
	struct iovec data_iov[VIRTQ_MAX_SEGS]; /* xfer's: the data part */
};

struct vfs {
	struct virtio_mmio transport;
	struct loop *loop; /* NULL: inline mode */
	struct fuse_srv *srv;
	uint8_t tag[VFS_TAG_MAX];
	struct vfs_stats stats;

	/* The server is used by one thread at a time: the worker's requests,
	 * the inline mode's, a device reset. */
	pthread_mutex_t srv_lock;
	uint32_t generation; /* __atomic; bumped by each device reset */

	struct vfs_job *jobs;         /* VFS_JOBS of them (one in inline mode) */
	struct vfs_job *free_job;     /* free list; main thread, transport lock */
	unsigned int nr_free;         /* jobs on it */
	bool starved[VFS_NUM_QUEUES]; /* stopped popping for lack of jobs */
	unsigned int notify_pending;  /* queues with used entries, as bits */

	pthread_mutex_t jobs_lock; /* guards the two lists and stop */
	pthread_cond_t jobs_cv;    /* pending work, or stop */
	struct vfs_job *pending, **pending_tail;
	struct vfs_job *done, **done_tail;
	bool stop;

	int done_fd; /* eventfd: the done list is not empty; -1 inline */
	struct loop_op done_op;
	pthread_t workers[VFS_WORKERS];
	unsigned int nr_workers;
	/* Called by each worker before its first request (under jobs_lock):
	 * the VMM's confinement of the thread (vmm/confine/confine.h). A
	 * failure stops the worker before it serves anything. NULL: none. */
	int (*thread_enter)(void *opaque);
	void *thread_enter_opaque;
	bool locks_ready, transport_ready;
	/* Scratch, last: written before each use, so vfs_init zeroes what
	 * comes before it only and leaves its pages untouched (24 KiB). */
	struct virtq_chain chain; /* for virtq_pop (main thread) */
};

/*
 * vfs_set_thread_enter: fn(opaque) runs on each worker thread before its
 * first request (its seccomp filter and capabilities). Before the guest
 * runs: the workers exist already, and they take their first request
 * from the guest.
 */
void vfs_set_thread_enter(struct vfs *fs, int (*fn)(void *opaque), void *opaque);

/*
 * vfs_init: the FUSE server over p->path and the device; the transport is
 * ready to be registered (fs->transport) at mp. loop: where completions
 * come back (the worker path: its thread is started here and done_fd is
 * polled on loop, which must not run after vfs_destroy); NULL for the
 * inline mode. Returns 0 or -errno: -EINVAL for a missing, empty or too
 * long tag, errors of fuse_srv_create (-ENOENT, -ENOTDIR ... for the
 * directory), of virtio_mmio_init, eventfd, pthread_create, loop_poll.
 */
__attribute__((warn_unused_result)) int vfs_init(struct vfs *fs, const struct vfs_params *p,
                                                 struct loop *loop, const struct gmem *mem,
                                                 const struct virtio_mmio_params *mp);

/*
 * vfs_destroy: stops and joins the worker (it finishes the request in
 * progress, if any, and serves no other), then frees the jobs, the device
 * and the server. Jobs still queued or done get no used entry: the VM is
 * going away. Main thread, with the loop no longer running. Calling it
 * again is harmless (it finds nothing left to free).
 */
void vfs_destroy(struct vfs *fs);

#endif

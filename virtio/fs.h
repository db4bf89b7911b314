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
 * What is synchronous today, and why: every request is served inline on
 * the main thread, in queue_notify, with the transport lock held: the
 * metadata calls (openat2, fstatat, renameat2, getdents64 ...) and the data
 * path alike. READ and WRITE already avoid a bounce copy (preadv/pwritev
 * straight into and out of the chain's guest buffers). This is the simple
 * first step: the server is a pure function of (request bytes, reply
 * iovecs) -> reply length (fuse_srv_handle), with no state tied to the
 * thread but its scratch buffers, so the next step can hand popped chains
 * to DESIGN.md's worker pool (one fuse scratch per worker, the tables
 * behind a lock) and READ/WRITE to io_uring, pushing used entries from the
 * completions, without changing the server's request handling. Until
 * then, a slow host file system stalls the main loop (and with it the
 * other devices) for the length of one request; each notification serves
 * at most VFS_BUDGET chains before coming back through the loop.
 *
 * Threading: as every device (virtio/mmio.h): queue processing on the main
 * thread under the transport lock; reset on a vCPU thread under the same
 * lock (it closes every inode and handle descriptor: up to
 * FUSE_SRV_MAX_INODES + FUSE_SRV_MAX_HANDLES close calls).
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
 * server uses: openat, openat2,
 * fstatat, fstatfs, readlinkat, symlinkat, mknodat, mkdirat, unlinkat,
 * renameat2, linkat, fchownat, fchmodat, utimensat, ftruncate, preadv,
 * pwritev, fsync, fdatasync, fallocate, lseek, copy_file_range,
 * getdents64, syncfs, close, and the xattr calls (getxattrat & co, or
 * getxattr & co on a /proc/self/fd path).
 */
#ifndef KVMBOX_VIRTIO_FS_H
#define KVMBOX_VIRTIO_FS_H

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
/* Chains served per notification before yielding to the loop. */
#define VFS_BUDGET 64u

struct vfs_params {
	const char *path; /* the shared host directory */
	const char *tag;  /* 1..VFS_TAG_MAX bytes */
	bool read_only;
	enum fuse_owner_mode owner; /* 0: FUSE_OWNER_AUTO */
	uint32_t max_inodes;        /* 0: FUSE_SRV_MAX_INODES */
	uint32_t max_handles;       /* 0: FUSE_SRV_MAX_HANDLES */
};

struct vfs_stats {
	uint64_t chains;  /* chains served */
	uint64_t yields;  /* notifications cut short by VFS_BUDGET */
	uint64_t batches; /* notifications that ended with used entries */
};

struct vfs {
	struct virtio_mmio transport;
	struct loop *loop; /* for the asynchronous step to come */
	struct fuse_srv *srv;
	uint8_t tag[VFS_TAG_MAX];
	struct vfs_stats stats;
	struct virtq_chain chain; /* scratch for virtq_pop (main thread) */
	struct iovec in_iov[VIRTQ_MAX_SEGS];
	struct iovec out_iov[VIRTQ_MAX_SEGS];
};

/*
 * vfs_init: the FUSE server over p->path and the device; the transport is
 * ready to be registered (fs->transport) at mp. Returns 0 or -errno:
 * -EINVAL for a missing, empty or too long tag, errors of fuse_srv_create
 * (-ENOENT, -ENOTDIR ... for the directory), of virtio_mmio_init.
 */
__attribute__((warn_unused_result)) int vfs_init(struct vfs *fs, const struct vfs_params *p,
                                                 struct loop *loop, const struct gmem *mem,
                                                 const struct virtio_mmio_params *mp);

void vfs_destroy(struct vfs *fs);

#endif

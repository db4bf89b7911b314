/* SPDX-License-Identifier: MIT */
/*
 * fs_int.h: private to virtio/fs*.c. Nothing outside includes it.
 *
 * fs.c      the device model: config, queues and popping, reset, set-up
 * fs_job.c  where requests run: the worker thread (metadata), the loop's
 *           ring (READ and WRITE), and their completions
 */
#ifndef KVMBOX_VIRTIO_FS_INT_H
#define KVMBOX_VIRTIO_FS_INT_H

#include "virtio/fs.h"

/* vfs_generation: the current generation (any thread). */
static inline uint32_t vfs_generation(struct vfs *fs)
{
	return __atomic_load_n(&fs->generation, __ATOMIC_ACQUIRE);
}

/* fs.c: under the transport lock, main thread. */
bool vfs_push(struct vfs *fs, unsigned int qi, uint16_t head, uint32_t len);
void vfs_resume(struct vfs *fs);

/* fs_job.c */
void vfs_job_run(struct vfs *fs, struct vfs_job *job);
void vfs_hand_over(struct vfs *fs, struct vfs_job *first, struct vfs_job **last_next);
bool vfs_io_start(struct vfs *fs, struct vfs_job *job);
int vfs_init_jobs(struct vfs *fs);
int vfs_attach_loop(struct vfs *fs);
void vfs_stop_workers(struct vfs *fs);

#endif

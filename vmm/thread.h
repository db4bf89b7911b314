/* SPDX-License-Identifier: MIT */
/*
 * thread: how the VMM starts its own threads (the vCPUs, the command's
 * client, virtio-fs's workers): with a stack of THREAD_STACK bytes, not
 * glibc's default of RLIMIT_STACK (8 MiB).
 *
 * Why: where transparent huge pages are "always" (RHEL's default, and
 * tools/kvm-env's L1), an 8 MiB stack mapping holds 2 MiB-aligned ranges,
 * and the first touch of its top makes a whole 2 MiB huge page resident
 * for the few KiB a thread uses: 2 MiB of RSS per vCPU (seen in L1 by
 * tools/bench-boot's "anonymous" row: 2,332 KiB, 2,048 of them one
 * vCPU's stack). A mapping smaller than 2 MiB never holds a huge page.
 * The deepest frames these threads run are a few KiB (gcc -fstack-usage:
 * the largest in the VMM's threads is 70 KiB, a CLI command's buffer).
 */
#ifndef KVMBOX_VMM_THREAD_H
#define KVMBOX_VMM_THREAD_H

#include <pthread.h>

#define THREAD_STACK (512u * 1024)

/* thread_start: pthread_create with a THREAD_STACK stack. 0 or -errno. */
__attribute__((warn_unused_result)) int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * loop: the main thread's event loop, on io_uring.
 *
 * Everything the main thread waits for is a completion on one ring: file
 * descriptors becoming readable (multishot polls: ioeventfds, the signalfd,
 * the stop eventfd, console input) and I/O the devices submit (block reads
 * and writes). Each submission carries a struct loop_op, whose callback runs
 * on the main thread when its completion arrives. Nothing in the loop blocks
 * except the wait for the next completion.
 */
#ifndef KVMBOX_VMM_LOOP_H
#define KVMBOX_VMM_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * loop_op: one outstanding operation. res is the CQE's result (a poll's
 * revents, or bytes transferred, or -errno); more is true when a multishot
 * poll stays armed. The op must stay valid until its last completion.
 */
struct loop_op {
	void (*cb)(void *opaque, int res, bool more);
	void *opaque;
	int fd;            /* polls: the fd, for re-arming */
	unsigned int mask; /* polls: the poll mask */
	bool multishot;
};

#define LOOP_MAX_IDLE 32 /* control, and up to 8 disks and 8 shares */

/* loop_idle: called after each batch of completions (devices batch their
 * interrupts there: one per batch rather than one per request). */
struct loop_idle {
	void (*fn)(void *opaque);
	void *opaque;
};

struct loop {
	struct io_uring ring;
	bool ready;
	unsigned int pending; /* SQEs prepared but not yet submitted */
	struct loop_idle idle[LOOP_MAX_IDLE];
	unsigned int nr_idle;
};

/* loop_init: a ring of `entries` submissions; 0 or -errno. */
__attribute__((warn_unused_result)) int loop_init(struct loop *l, unsigned int entries);
void loop_destroy(struct loop *l);

/*
 * loop_poll: call op->cb each time fd has an event in mask (POLLIN ...),
 * until the loop is destroyed; re-arms by itself when the kernel ends a
 * multishot poll. 0 or -errno.
 */
__attribute__((warn_unused_result)) int loop_poll(struct loop *l, int fd, unsigned int mask,
                                                  struct loop_op *op);

/*
 * loop_sqe: an SQE whose completion goes to op, or NULL when the ring is
 * full even after submitting what was pending. Prepared SQEs are submitted
 * together by the next loop_run_once (one io_uring_enter per batch).
 */
struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op);

/* loop_add_idle: run fn(opaque) after every batch; 0 or -ENOSPC. */
__attribute__((warn_unused_result)) int loop_add_idle(struct loop *l, void (*fn)(void *opaque),
                                                      void *opaque);

/* loop_submit: submit what is pending now; 0 or -errno. */
int loop_submit(struct loop *l);

/*
 * loop_run_once: submit what is pending, wait for at least one completion,
 * then run the callbacks of all that are there. 0, or -errno on a ring error
 * (-EINTR is returned to let the caller look at its stop condition).
 */
int loop_run_once(struct loop *l);

#endif

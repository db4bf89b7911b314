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

#include <errno.h>
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
	/* loop_poll's bookkeeping: errors in a row, and the list of polls
	 * whose re-arm found the ring full (retried before the next wait). */
	unsigned int errors;
	bool rearm_queued;
	struct loop_op *rearm_next;
};

/*
 * A poll that ended with an error is re-armed this many times in a row;
 * one more error and the loop gives up on it and reports it (loop.report),
 * since a descriptor that fails each time would otherwise spin the loop.
 */
#define LOOP_POLL_RETRIES 3

#define LOOP_MAX_IDLE 32 /* control, up to 8 disks and 8 shares, net and its slirp */

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
	struct loop_op *rearm; /* polls waiting for room in the ring */
	/*
	 * report: a poll of loop_poll's that the loop gave up on (err: its
	 * last error); set by the owner, who knows what the fd was for. The
	 * op's callback then also gets (err, more false). NULL: only that.
	 */
	void (*report)(void *opaque, const struct loop_op *op, int err);
	void *report_opaque;
	uint64_t enter_retries; /* io_uring_enter failures retried (loop_transient) */
};

/* loop_init: a ring of `entries` submissions; 0 or -errno. */
__attribute__((warn_unused_result)) int loop_init(struct loop *l, unsigned int entries);
void loop_destroy(struct loop *l);

/*
 * loop_poll: call op->cb each time fd has an event in mask (POLLIN ...),
 * until the loop is destroyed; re-arms by itself when the kernel ends a
 * multishot poll, also after an error (up to LOOP_POLL_RETRIES in a row,
 * then loop.report), and retries a re-arm that found the ring full before
 * the next wait. 0 or -errno.
 */
__attribute__((warn_unused_result)) int loop_poll(struct loop *l, int fd, unsigned int mask,
                                                  struct loop_op *op);

/*
 * loop_sqe: an SQE whose completion goes to op, or NULL when the ring is
 * full even after submitting what was pending, or the loop is destroyed.
 * Prepared SQEs are submitted together by the next loop_run_once (one
 * io_uring_enter per batch).
 */
struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op);

/*
 * loop_defer: run op->cb(op->opaque, 0, false) once on a later pass, after
 * the ring was entered again (a no-op submission). A handler that used up
 * its budget comes back this way, so that whatever became ready meanwhile
 * (signals, the control socket, other devices) is served in between.
 * op must stay valid until then. 0, or -EBUSY when the ring is full.
 */
__attribute__((warn_unused_result)) int loop_defer(struct loop *l, struct loop_op *op);

/*
 * loop_transient: whether io_uring_enter's err is a shortage that passes
 * (EAGAIN, ENOMEM: kernel memory for requests; ETIME: a wait timed out;
 * EBUSY: completions overflowed until we reap; EINTR: a signal) rather
 * than a broken ring; loop_run_once retries those.
 */
static inline bool loop_transient(int err)
{
	return err == -EAGAIN || err == -ENOMEM || err == -ETIME || err == -EBUSY || err == -EINTR;
}

/* loop_add_idle: run fn(opaque) after every batch; 0 or -ENOSPC. */
__attribute__((warn_unused_result)) int loop_add_idle(struct loop *l, void (*fn)(void *opaque),
                                                      void *opaque);

/* loop_submit: submit what is pending now; 0 or -errno. */
int loop_submit(struct loop *l);

/*
 * loop_run_once: re-arm the polls that waited for room, submit what is
 * pending, wait for at least one completion, then run the callbacks of all
 * that are there. 0, or -errno on a ring error: -EINTR is returned to let
 * the caller look at its stop condition; the other transient errors
 * (loop_transient) count in enter_retries and return 0 after reaping what
 * is there; anything else means the ring is broken and the caller must
 * say so.
 */
int loop_run_once(struct loop *l);

#endif

// SPDX-License-Identifier: MIT
/*
 * loop: the io_uring event loop (loop.h).
 */
#include "vmm/loop.h"

#include <errno.h>
#include <string.h>

/*
 * The operations any user of the loop submits (grep io_uring_prep_ in vmm/
 * and virtio/): polls, timeouts, block and virtio-fs transfers, and the
 * NOP that wakes the loop. An io_uring operation is no system call, so no
 * seccomp filter sees it (docs/security.md): the ring itself refuses
 * every other opcode, and every io_uring_register(2) call, once enabled
 * (io_uring_register(2), IORING_REGISTER_RESTRICTIONS). A new prep call
 * needs its opcode here.
 */
static const unsigned char loop_opcodes[] = {
	IORING_OP_NOP,     IORING_OP_READV,          IORING_OP_WRITEV,
	IORING_OP_FSYNC,   IORING_OP_POLL_ADD,       IORING_OP_POLL_REMOVE,
	IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE, IORING_OP_FALLOCATE,
};

/* loop_restrict: the ring, made disabled, limited to loop_opcodes, then
 * enabled. 0 or -errno. */
static int loop_restrict(struct loop *l)
{
	struct io_uring_restriction res[sizeof(loop_opcodes)];
	int err;

	memset(res, 0, sizeof(res));
	for (unsigned int i = 0; i < sizeof(loop_opcodes); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = loop_opcodes[i];
	}
	/* io_uring_register, not its helpers for these two: Debian's
	 * liburing 2.3 leaves those out of its shared library. */
	err = io_uring_register(l->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res,
	                        sizeof(loop_opcodes));
	return err < 0 ? err
	               : io_uring_register(l->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int loop_init(struct loop *l, unsigned int entries)
{
	int err;

	memset(l, 0, sizeof(*l));
	/* Linux 5.10+; an older kernel gets a ring without restrictions. */
	err = io_uring_queue_init(entries, &l->ring, IORING_SETUP_R_DISABLED);
	if (err == -EINVAL)
		err = io_uring_queue_init(entries, &l->ring, 0);
	else if (err == 0) {
		err = loop_restrict(l);
		if (err < 0)
			io_uring_queue_exit(&l->ring);
	}
	if (err < 0)
		return err;
	l->ready = true;
	return 0;
}

void loop_destroy(struct loop *l)
{
	if (l->ready)
		io_uring_queue_exit(&l->ring);
	l->ready = false;
}

struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe;

	/* Teardown: devices and the control socket go after the ring. */
	if (!l->ready)
		return NULL;
	sqe = io_uring_get_sqe(&l->ring);
	if (!sqe) {
		/* Full: push the batch to the kernel to make room. */
		if (loop_submit(l) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	l->pending++;
	return sqe;
}

int loop_add_idle(struct loop *l, void (*fn)(void *opaque), void *opaque)
{
	if (l->nr_idle == LOOP_MAX_IDLE)
		return -ENOSPC;
	l->idle[l->nr_idle++] = (struct loop_idle){ .fn = fn, .opaque = opaque };
	return 0;
}

int loop_submit(struct loop *l)
{
	int n;

	if (!l->pending)
		return 0;
	n = io_uring_submit(&l->ring);
	if (n < 0)
		return n;
	l->pending = 0;
	return 0;
}

/* loop_arm: (re)arm a poll; multishot where the kernel has it (5.13+). */
static int loop_arm(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l, op);

	if (!sqe)
		return -EBUSY;
	if (op->multishot)
		io_uring_prep_poll_multishot(sqe, op->fd, op->mask);
	else
		io_uring_prep_poll_add(sqe, op->fd, op->mask);
	return 0;
}

int loop_poll(struct loop *l, int fd, unsigned int mask, struct loop_op *op)
{
	op->fd = fd;
	op->mask = mask;
	op->multishot = true;
	op->errors = 0;
	op->rearm_queued = false;
	return loop_arm(l, op);
}

int loop_defer(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l, op);

	if (!sqe)
		return -EBUSY;
	op->mask = 0; /* not a poll: nothing to re-arm */
	io_uring_prep_nop(sqe);
	return 0;
}

/*
 * loop_rearm: arm op's poll again; when the ring has no room even after a
 * submit, keep op on l->rearm for the next loop_run_once rather than let
 * its fd go unwatched without a word.
 */
static void loop_rearm(struct loop *l, struct loop_op *op)
{
	if (loop_arm(l, op) == 0 || op->rearm_queued)
		return;
	op->rearm_queued = true;
	op->rearm_next = l->rearm;
	l->rearm = op;
}

/* loop_rearm_queued: the re-arms that found the ring full, while it has room. */
static void loop_rearm_queued(struct loop *l)
{
	while (l->rearm) {
		struct loop_op *op = l->rearm;

		if (loop_arm(l, op) < 0)
			return; /* still full: next pass */
		l->rearm = op->rearm_next;
		op->rearm_queued = false;
	}
}

/*
 * loop_poll_ended: the kernel ended one of loop_poll's polls with res.
 * Returns true when the callback is to hear of res (an event, or an error
 * the loop gave up on), false when a re-arm covers it.
 */
static bool loop_poll_ended(struct loop *l, struct loop_op *op, int res)
{
	/* No multishot polls in this kernel (before 5.13): one-shot ones. */
	if (res == -EINVAL && op->multishot) {
		op->multishot = false;
		loop_rearm(l, op);
		return false;
	}
	if (res >= 0) {
		op->errors = 0;
		loop_rearm(l, op);
		return true;
	}
	/*
	 * An error ended it (the kernel cancelled it, ran short of memory,
	 * or the fd went bad). Re-arm: a queue, the signalfd or the stop
	 * eventfd must not go quiet. An fd that fails every time is given up
	 * after LOOP_POLL_RETRIES and reported, rather than spun on.
	 */
	if (++op->errors <= LOOP_POLL_RETRIES) {
		loop_rearm(l, op);
		return false;
	}
	if (l->report)
		l->report(l->report_opaque, op, res);
	return true;
}

/* loop_complete: hand one CQE to its op; re-arm a poll the kernel ended. */
static void loop_complete(struct loop *l, struct io_uring_cqe *cqe)
{
	struct loop_op *op = io_uring_cqe_get_data(cqe);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (!op)
		return;
	if (op->mask && !more) {
		if (!loop_poll_ended(l, op, res))
			return;
		more = res >= 0;
	} else if (op->mask && res >= 0) {
		op->errors = 0;
	}
	op->cb(op->opaque, res, more);
}

int loop_run_once(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	int err;

	loop_rearm_queued(l);
	l->pending = 0;
	err = io_uring_submit_and_wait(&l->ring, 1);
	/*
	 * -EINTR: a signal; the caller looks at its stop condition.
	 * -EBUSY: completions overflowed the CQ ring and the kernel holds
	 * them back until we reap; reaping below is the cure. -EAGAIN and
	 * -ENOMEM (no memory for a request now), -ETIME: shortages that pass;
	 * what was not submitted stays in the SQ ring for the next enter.
	 * Anything else is a broken ring: the caller reports it and stops.
	 */
	if (err == -EINTR)
		return err;
	if (err < 0 && !loop_transient(err))
		return err;
	if (err < 0 && err != -EBUSY)
		l->enter_retries++;
	/* Callbacks may prepare new SQEs; they go out with the next batch. */
	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		loop_complete(l, cqe);
		n++;
	}
	io_uring_cq_advance(&l->ring, n);
	for (unsigned int i = 0; i < l->nr_idle; i++)
		l->idle[i].fn(l->idle[i].opaque);
	return 0;
}

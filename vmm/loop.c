// SPDX-License-Identifier: MIT
/*
 * loop: the io_uring event loop (loop.h).
 */
#include "vmm/loop.h"

#include <errno.h>
#include <string.h>

int loop_init(struct loop *l, unsigned int entries)
{
	int err;

	memset(l, 0, sizeof(*l));
	err = io_uring_queue_init(entries, &l->ring, 0);
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
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

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
	return loop_arm(l, op);
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
		/*
		 * A poll ended: a one-shot poll fired, or the kernel ended a
		 * multishot one (overflow, or -EINVAL where it has no multishot
		 * polls; fall back to one-shot polls then).
		 */
		if (res == -EINVAL && op->multishot) {
			op->multishot = false;
			loop_arm(l, op);
			return;
		}
		if (res >= 0)
			loop_arm(l, op);
		more = res >= 0;
	}
	op->cb(op->opaque, res, more);
}

int loop_run_once(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	int err;

	l->pending = 0;
	err = io_uring_submit_and_wait(&l->ring, 1);
	/* -EBUSY: completions overflowed the CQ ring and the kernel holds
	 * them back until we reap; reaping below is the cure, not an error. */
	if (err < 0 && err != -EBUSY)
		return err;
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

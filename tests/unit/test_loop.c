// SPDX-License-Identifier: MIT
/*
 * Unit tests of the event loop (vmm/loop.c): polls that the kernel ends
 * with an error are re-armed, a poll that fails every time is given up
 * and reported rather than spun on or dropped without a word, deferred
 * callbacks run on a later pass, and which io_uring_enter errors are
 * retried.
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct counter {
	int events, errors, last_res;
	bool last_more;
};

static void count_cb(void *opaque, int res, bool more)
{
	struct counter *c = opaque;

	if (res < 0)
		c->errors++;
	else
		c->events++;
	c->last_res = res;
	c->last_more = more;
}

struct reported {
	int calls, err;
	const struct loop_op *op;
};

static void report_cb(void *opaque, const struct loop_op *op, int err)
{
	struct reported *r = opaque;

	r->calls++;
	r->err = err;
	r->op = op;
}

static void nop_cb(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

/* pump: n passes that cannot block (a no-op each). */
static void pump(struct loop *l, int n)
{
	static struct loop_op nop = { .cb = nop_cb };

	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = loop_sqe(l, &nop);

		if (!sqe || (io_uring_prep_nop(sqe), loop_run_once(l)) < 0)
			abort();
	}
}

/* cancel: end op's poll from outside, as the kernel may (-ECANCELED, no F_MORE). */
static void cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l, NULL);

	if (!sqe)
		abort();
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)op);
}

static void kick(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, 8) != 8)
		abort();
}

static void drain(int efd)
{
	uint64_t v;

	if (read(efd, &v, 8) != 8)
		abort();
}

/* A multishot poll the kernel ended with an error keeps watching its fd. */
TEST(poll_rearmed_after_error)
{
	struct loop l;
	struct counter c = { 0 };
	struct loop_op op = { .cb = count_cb, .opaque = &c };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	CHECK(efd >= 0);
	CHECK_EQ(loop_init(&l, 16), 0);
	CHECK_EQ(loop_poll(&l, efd, POLLIN, &op), 0);
	kick(efd);
	pump(&l, 2);
	CHECK_EQ(c.events, 1);
	drain(efd);
	/* The poll ends with -ECANCELED: re-armed, and not the owner's business. */
	cancel(&l, &op);
	pump(&l, 2);
	CHECK_EQ(c.errors, 0);
	kick(efd);
	pump(&l, 2);
	CHECK_EQ(c.events, 2);
	CHECK(c.last_more);
	drain(efd);
	/* Again and again: each error is cured by a re-arm, so it never adds up. */
	for (int i = 0; i < 2 * LOOP_POLL_RETRIES; i++) {
		cancel(&l, &op);
		pump(&l, 2);
		kick(efd);
		pump(&l, 2);
		drain(efd);
	}
	CHECK_EQ(c.errors, 0);
	CHECK_EQ(c.events, 2 + 2 * LOOP_POLL_RETRIES);
	loop_destroy(&l);
	close(efd);
}

/* A poll that fails every time it is armed is reported once, then left. */
TEST(poll_failing_for_good_is_reported)
{
	struct loop l;
	struct counter c = { 0 };
	struct reported rep = { 0 };
	struct loop_op op = { .cb = count_cb, .opaque = &c };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	CHECK(efd >= 0);
	CHECK_EQ(loop_init(&l, 16), 0);
	l.report = report_cb;
	l.report_opaque = &rep;
	CHECK_EQ(loop_poll(&l, efd, POLLIN, &op), 0);
	pump(&l, 1);
	/* The fd goes away under the armed poll, which then ends: every
	 * re-arm now fails with EBADF. */
	close(efd);
	cancel(&l, &op);
	pump(&l, 4 * LOOP_POLL_RETRIES);
	CHECK_EQ(rep.calls, 1);
	CHECK_ERR(rep.err, -EBADF);
	CHECK(rep.op == &op);
	/* The owner hears of it too, once, and nothing spins afterwards. */
	CHECK_EQ(c.errors, 1);
	CHECK_ERR(c.last_res, -EBADF);
	CHECK(!c.last_more);
	pump(&l, 8);
	CHECK_EQ(c.errors, 1);
	CHECK_EQ(rep.calls, 1);
	loop_destroy(&l);
}

/* Without a report hook, the owner's callback still hears of the loss. */
TEST(poll_loss_reaches_callback_without_report)
{
	struct loop l;
	struct counter c = { 0 };
	struct loop_op op = { .cb = count_cb, .opaque = &c };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	CHECK(efd >= 0);
	CHECK_EQ(loop_init(&l, 16), 0);
	CHECK_EQ(loop_poll(&l, efd, POLLIN, &op), 0);
	pump(&l, 1);
	close(efd);
	cancel(&l, &op);
	pump(&l, 4 * LOOP_POLL_RETRIES);
	CHECK_EQ(c.errors, 1);
	CHECK(!c.last_more);
	loop_destroy(&l);
}

/* loop_defer: once, on a later pass, not within the current one. */
TEST(defer_runs_on_a_later_pass)
{
	struct loop l;
	struct counter c = { 0 };
	struct loop_op op = { .cb = count_cb, .opaque = &c };

	CHECK_EQ(loop_init(&l, 4), 0);
	CHECK_EQ(loop_defer(&l, &op), 0);
	CHECK_EQ(c.events, 0);
	CHECK_EQ(loop_run_once(&l), 0);
	CHECK_EQ(c.events, 1);
	CHECK_EQ(c.last_res, 0);
	pump(&l, 3);
	CHECK_EQ(c.events, 1);
	/* More defers than the ring has entries: loop_sqe submits to make room. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(loop_defer(&l, &op), 0);
	pump(&l, 2);
	CHECK_EQ(c.events, 11);
	loop_destroy(&l);
}

/* Which io_uring_enter errors pass (retried) and which mean a broken ring. */
TEST(enter_errors_classified)
{
	CHECK(loop_transient(-EAGAIN));
	CHECK(loop_transient(-ENOMEM));
	CHECK(loop_transient(-ETIME));
	CHECK(loop_transient(-EBUSY));
	CHECK(loop_transient(-EINTR));
	CHECK(!loop_transient(-EBADF));
	CHECK(!loop_transient(-EFAULT));
	CHECK(!loop_transient(-EINVAL));
	CHECK(!loop_transient(-EOPNOTSUPP));
}

CHECK_MAIN(CASE(poll_rearmed_after_error), CASE(poll_failing_for_good_is_reported),
           CASE(poll_loss_reaches_callback_without_report), CASE(defer_runs_on_a_later_pass),
           CASE(enter_errors_classified))

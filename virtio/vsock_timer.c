// SPDX-License-Identifier: MIT
/*
 * vsock_timer: the virtio-vsock device's timers (vsock.h), io_uring
 * timeouts on the main loop: the deadline of connections waiting for a
 * host client's CONNECT line or the guest's answer to a REQUEST, and the
 * listener's rest after it ran out of descriptors. The connections
 * themselves: vsock_uds.c.
 *
 * One timeout at a time serves every deadline: it is armed for the
 * earliest, and re-armed for the next when it fires. All deadlines are
 * the same distance from their start, so a new one is never earlier than
 * one already armed.
 */
#define _GNU_SOURCE
#include "virtio/vsock_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t vsock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool vsock_waiting(const struct vsock_conn *c)
{
	return c->state == VSOCK_S_LINE || c->state == VSOCK_S_REQUEST;
}

/* vsock_deadline_arm: a timeout for the earliest deadline, unless one runs. */
static void vsock_deadline_arm(struct vsock *v)
{
	uint64_t first = UINT64_MAX, now, wait;
	struct io_uring_sqe *sqe;

	if (v->deadline_armed)
		return;
	for (unsigned int i = 0; i < v->nr_conns; i++)
		if (vsock_waiting(v->conns[i]) && v->conns[i]->deadline_ns < first)
			first = v->conns[i]->deadline_ns;
	if (first == UINT64_MAX)
		return;
	now = vsock_now_ns();
	wait = first > now ? first - now : 0;
	if (wait < 1000000)
		wait = 1000000; /* 1 ms: late is fine, a busy loop is not */
	v->deadline_ts = (struct __kernel_timespec){ .tv_sec = (long long)(wait / 1000000000u),
		                                     .tv_nsec = (long long)(wait % 1000000000u) };
	sqe = loop_sqe(v->loop, &v->deadline_op);
	v->deadline_wanted = !sqe; /* the ring is full: vsock_timer_idle tries again */
	if (!sqe)
		return;
	io_uring_prep_timeout(sqe, &v->deadline_ts, 0, 0);
	v->deadline_armed = true;
}

void vsock_timer_idle(struct vsock *v)
{
	if (v->deadline_wanted)
		vsock_deadline_arm(v);
}

void vsock_deadline_start(struct vsock_conn *c)
{
	c->deadline_ns = vsock_now_ns() + (uint64_t)c->v->connect_timeout_ms * 1000000u;
	vsock_deadline_arm(c->v);
}

/*
 * vsock_deadline_cb: reset every connection past its deadline: a client
 * that never wrote its line is closed; a REQUEST the guest never answered
 * gets an RST (it may answer late: the RST tells it the port is gone) and
 * the client sees end-of-file.
 */
static void vsock_deadline_cb(void *opaque, int res, bool more)
{
	struct vsock *v = opaque;
	uint64_t now = vsock_now_ns();

	(void)res;
	(void)more;
	virtio_mmio_lock(&v->transport);
	v->deadline_armed = false;
	for (unsigned int i = 0; i < v->nr_conns; i++) {
		struct vsock_conn *c = v->conns[i];

		if (!vsock_waiting(c) || c->deadline_ns > now)
			continue;
		v->stats.timeouts++;
		/* An RST only for a REQUEST the guest was told of. */
		vsock_conn_close(c, !(c->pending & VSOCK_P_REQUEST));
	}
	vsock_deadline_arm(v);
	vsock_rx_process(v);
	virtio_mmio_unlock(&v->transport);
}

/* vsock_backoff_cb: the rest is over: poll the listener again. */
static void vsock_backoff_cb(void *opaque, int res, bool more)
{
	struct vsock *v = opaque;

	(void)res; /* -ETIME: the timeout expired, as meant */
	(void)more;
	virtio_mmio_lock(&v->transport);
	v->backoff_armed = false;
	(void)vsock_uds_listen_arm(v);
	virtio_mmio_unlock(&v->transport);
}

void vsock_accept_backoff(struct vsock *v, int err)
{
	struct io_uring_sqe *sqe;

	v->stats.accept_errors++;
	/*
	 * The pending connection stays in the backlog, so polling the
	 * listener again would report it at once and accept would fail
	 * again: the loop would spin. Rest instead; the clients wait in the
	 * backlog (or see ECONNREFUSED once it is full).
	 */
	if (!v->accept_warned)
		fprintf(stderr,
		        "kvmbox: vsock: cannot accept host connections (%s); "
		        "retrying every %d ms\n",
		        strerror(err), VSOCK_ACCEPT_BACKOFF_MS);
	v->accept_warned = true;
	if (v->backoff_armed)
		return;
	v->backoff_ts =
	    (struct __kernel_timespec){ .tv_nsec = VSOCK_ACCEPT_BACKOFF_MS * 1000000ll };
	sqe = loop_sqe(v->loop, &v->backoff_op);
	if (!sqe) {
		/* No room for the timer: polling again is better than never. */
		(void)vsock_uds_listen_arm(v);
		return;
	}
	io_uring_prep_timeout(sqe, &v->backoff_ts, 0, 0);
	v->backoff_armed = true;
}

void vsock_timer_init(struct vsock *v)
{
	v->backoff_op = (struct loop_op){ .cb = vsock_backoff_cb, .opaque = v, .fd = -1 };
	v->deadline_op = (struct loop_op){ .cb = vsock_deadline_cb, .opaque = v, .fd = -1 };
}

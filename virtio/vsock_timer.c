// SPDX-License-Identifier: MIT
/*
 * vsock_timer: the virtio-vsock device's timers (vsock.h), io_uring
 * timeouts on the main loop: the listener's rest after it ran out of
 * descriptors. The connections themselves: vsock_uds.c.
 */
#define _GNU_SOURCE
#include "virtio/vsock_int.h"

#include <stdio.h>
#include <string.h>

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
}

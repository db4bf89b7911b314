// SPDX-License-Identifier: MIT
/*
 * control_guest: the VMM's own stream to the guest agent, on which it asks
 * for the guest's metrics (docs/protocol.md, "status", "metrics"). Not a
 * client's stream: a client's ids are its own, so the VMM cannot put a
 * request of its own among them.
 *
 * One stream, opened when a request first needs the guest's part and kept;
 * at most one "metrics" request in flight on it, and every request that
 * waits meanwhile takes the answer it brings (control_metrics_guest). A
 * guest that refuses the stream or closes it answers "unavailable" at
 * once; the next request tries again. A guest that takes the request and
 * never answers costs each waiting request its own deadline (control_
 * metrics.c), never the loop; after CONTROL_GUEST_STALE_MS the stream is
 * dropped and the next request opens a new one.
 *
 * A stream's polls may still be in the ring when it is dropped: each
 * stream is its own allocation, freed once its last poll has come back
 * (or at control_destroy, after the loop).
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/client.h"
#include "proto/msg.h"
#include "vmm/timeline.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum control_glink_state {
	CONTROL_GLINK_OPENING, /* asked the guest; waiting for "OK <n>\n" */
	CONTROL_GLINK_OPEN,
	CONTROL_GLINK_DEAD, /* closed; freed once no poll is armed */
};

struct control_glink {
	struct control_glink *next; /* control_metrics's list */
	struct control *ctl;
	enum control_glink_state state;
	int fd;
	char line[32];
	size_t line_len;
	struct proto_decoder dec;
	struct proto_buf out;
	uint64_t inflight;    /* the id of the request in flight; 0: none */
	uint64_t inflight_ms; /* when it was sent */
	struct loop_op rd_op, wr_op;
	bool rd_armed, wr_armed;
};

static void control_glink_pump(struct control_glink *l);

/* control_glink_free: release l (its polls have all come back, or the loop is gone). */
static void control_glink_free(struct control_glink *l)
{
	struct control_glink **pp = &l->ctl->metrics->links;

	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	proto_decoder_destroy(&l->dec);
	proto_buf_free(&l->out);
	free(l);
}

/*
 * control_glink_drop: close l and answer what waits with why. l itself
 * stays (its callbacks may be running) until a callback or
 * control_guest_reap finds it dead with no poll armed.
 */
static void control_glink_drop(struct control_glink *l, const char *why)
{
	struct control *ctl = l->ctl;

	if (l->state == CONTROL_GLINK_DEAD)
		return;
	l->state = CONTROL_GLINK_DEAD;
	/* shutdown completes any poll armed on it (control.c does the same). */
	shutdown(l->fd, SHUT_RDWR);
	close(l->fd);
	l->fd = -1;
	if (ctl->metrics->link == l)
		ctl->metrics->link = NULL;
	control_metrics_guest(ctl, NULL, why);
}

/* control_glink_send: queue a metrics request (one at a time); 0 or -errno. */
static int control_glink_send(struct control_glink *l)
{
	struct control_metrics *m = l->ctl->metrics;
	json_t *req = NULL;
	uint8_t *frame;
	size_t len;
	int err;

	if (l->inflight)
		return 0;
	err = proto_msg_request(&req, ++m->next_id, "metrics");
	if (!err)
		err = proto_frame_pack(req, NULL, 0, &frame, &len);
	json_decref(req);
	if (err)
		return err;
	err = proto_buf_append(&l->out, frame, len);
	free(frame);
	if (!err) {
		l->inflight = m->next_id;
		l->inflight_ms = timeline_now_ns() / 1000000u;
	}
	return err;
}

/* control_glink_frame: one frame from the agent (untrusted): our answer, or nothing to us. */
static void control_glink_frame(struct control_glink *l, const struct proto_frame *f)
{
	struct proto_env env;
	char why[300];

	if (proto_msg_parse_env(f->msg, &env, NULL) || env.id != l->inflight || !l->inflight ||
	    (env.type != PROTO_REPLY && env.type != PROTO_ERROR))
		return; /* an event, or the answer to a request given up on */
	l->inflight = 0;
	if (env.type == PROTO_ERROR) {
		snprintf(why, sizeof(why), "the guest agent refused: %s: %.200s", env.err_code,
		         env.err_msg);
		control_metrics_guest(l->ctl, NULL, why);
		return;
	}
	control_metrics_guest(l->ctl, f->msg, NULL);
}

/* control_glink_line: the "OK <n>\n" that opens the stream; 0, or -errno when refused. */
static int control_glink_line(struct control_glink *l)
{
	char tmp[sizeof(l->line)];
	size_t take;
	ssize_t n = recv(l->fd, tmp, sizeof(l->line) - l->line_len, MSG_PEEK | MSG_DONTWAIT);
	const char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -ECONNREFUSED; /* the guest reset it: the agent does not listen (yet) */
	nl = memchr(tmp, '\n', (size_t)n);
	take = nl ? (size_t)(nl - tmp) + 1 : (size_t)n;
	if (recv(l->fd, l->line + l->line_len, take, MSG_DONTWAIT) != (ssize_t)take)
		return -ECONNREFUSED;
	l->line_len += take;
	if (!nl)
		return l->line_len == sizeof(l->line) ? -EPROTO : 0;
	if (strncmp(l->line, "OK ", 3) != 0)
		return -EPROTO;
	l->state = CONTROL_GLINK_OPEN;
	return control_glink_send(l);
}

/* control_glink_read: the handshake, then frames (a bounded number of reads). */
static void control_glink_read(struct control_glink *l)
{
	uint8_t buf[16384];
	struct proto_frame f;
	size_t used;
	int err = 0, got;

	if (l->state == CONTROL_GLINK_OPENING)
		err = control_glink_line(l);
	for (int i = 0; !err && i < CONTROL_READ_CHUNKS && l->state == CONTROL_GLINK_OPEN; i++) {
		ssize_t n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const uint8_t *p = buf;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			err = -EPIPE;
			break;
		}
		while (!err && n > 0 && l->state == CONTROL_GLINK_OPEN) {
			err = proto_decoder_feed(&l->dec, p, (size_t)n, &used);
			p += used;
			n -= (ssize_t)used;
			while (!err && l->state == CONTROL_GLINK_OPEN &&
			       (got = proto_decoder_next(&l->dec, &f)) != 0) {
				if (got < 0) {
					err = got;
					break;
				}
				control_glink_frame(l, &f);
				proto_frame_clear(&f);
			}
		}
	}
	if (err == -ECONNREFUSED)
		control_glink_drop(l, "the guest agent is not listening (yet)");
	else if (err == -EPIPE)
		control_glink_drop(l, "the guest agent closed the stream");
	else if (err)
		control_glink_drop(l, "the guest agent sent a bad frame");
}

static void control_glink_rd_cb(void *opaque, int res, bool more)
{
	struct control_glink *l = opaque;

	(void)res, (void)more;
	l->rd_armed = false;
	if (l->state != CONTROL_GLINK_DEAD)
		control_glink_read(l);
	if (l->state == CONTROL_GLINK_DEAD && !l->rd_armed && !l->wr_armed)
		control_glink_free(l);
	else
		control_glink_pump(l);
}

static void control_glink_wr_cb(void *opaque, int res, bool more)
{
	struct control_glink *l = opaque;

	(void)res, (void)more;
	l->wr_armed = false;
	if (l->state == CONTROL_GLINK_DEAD && !l->rd_armed)
		control_glink_free(l);
	else
		control_glink_pump(l);
}

/* control_glink_arm: a one-shot poll of l's fd unless armed; false when the ring is full. */
static bool control_glink_arm(struct control_glink *l, struct loop_op *op, bool *armed,
                              unsigned int mask)
{
	struct io_uring_sqe *sqe;

	if (*armed)
		return true;
	sqe = loop_sqe(l->ctl->host.loop, op);
	if (!sqe)
		return false;
	op->mask = 0; /* ours to re-arm, not the loop's */
	io_uring_prep_poll_add(sqe, l->fd, mask);
	*armed = true;
	return true;
}

/* control_glink_pump: send what is queued, arm the polls that are wanted. */
static void control_glink_pump(struct control_glink *l)
{
	if (l->state == CONTROL_GLINK_DEAD)
		return;
	if (l->state == CONTROL_GLINK_OPEN && control_buf_flush(&l->out, l->fd) < 0) {
		control_glink_drop(l, "the guest agent's stream broke");
		return;
	}
	if (!control_glink_arm(l, &l->rd_op, &l->rd_armed, POLLIN | POLLRDHUP) ||
	    (l->state == CONTROL_GLINK_OPEN && l->out.len &&
	     !control_glink_arm(l, &l->wr_op, &l->wr_armed, POLLOUT)))
		control_glink_drop(l, "the event loop is full");
}

/* control_glink_open: a new stream to the agent as ctl->metrics->link; 0 or -errno. */
static int control_glink_open(struct control *ctl, const char **why)
{
	const struct control_host *host = &ctl->host;
	struct control_glink *l;
	int sv[2], err;

	l = calloc(1, sizeof(*l));
	if (!l || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		free(l);
		*why = "cannot make a socket pair for the agent stream";
		return -ENOMEM;
	}
	err = host->ops->agent_connect(host->opaque, sv[1]);
	if (err) {
		close(sv[0]);
		free(l);
		*why = err == -ENODEV ? "this VM has no vsock device, so no agent"
		                      : "too many vsock connections";
		return err;
	}
	*l = (struct control_glink){ .next = ctl->metrics->links, .ctl = ctl, .fd = sv[0] };
	l->rd_op = (struct loop_op){ .cb = control_glink_rd_cb, .opaque = l, .fd = -1 };
	l->wr_op = (struct loop_op){ .cb = control_glink_wr_cb, .opaque = l, .fd = -1 };
	proto_decoder_init(&l->dec);
	ctl->metrics->links = ctl->metrics->link = l;
	return 0;
}

/* control_guest_reap: free the dropped streams that have no poll armed. */
static void control_guest_reap(struct control *ctl)
{
	struct control_glink *l = ctl->metrics->links, *next;

	for (; l; l = next) {
		next = l->next;
		if (l->state == CONTROL_GLINK_DEAD && !l->rd_armed && !l->wr_armed)
			control_glink_free(l);
	}
}

void control_guest_ask(struct control *ctl)
{
	struct control_glink *l;
	uint64_t now = timeline_now_ns() / 1000000u;
	const char *why = NULL;
	int err;

	control_guest_reap(ctl);
	l = ctl->metrics->link;
	/* A request the agent sat on this long: the stream is no good. */
	if (l && l->inflight && now - l->inflight_ms > CONTROL_GUEST_STALE_MS) {
		control_glink_drop(l, "the guest agent did not answer");
		l = NULL;
	}
	if (!l) {
		err = control_glink_open(ctl, &why);
		if (err) {
			control_metrics_guest(ctl, NULL, why);
			return;
		}
		l = ctl->metrics->link;
	}
	if (l->state == CONTROL_GLINK_OPEN && control_glink_send(l)) {
		control_glink_drop(l, "out of memory");
		return;
	}
	control_glink_pump(l);
}

uint64_t control_guest_waiting_ms(const struct control *ctl)
{
	const struct control_glink *l = ctl->metrics->link;

	return l && l->inflight ? timeline_now_ns() / 1000000u - l->inflight_ms : 0;
}

void control_guest_destroy(struct control *ctl)
{
	while (ctl->metrics->links) {
		struct control_glink *l = ctl->metrics->links;

		if (l->fd >= 0)
			close(l->fd);
		control_glink_free(l);
	}
	ctl->metrics->link = NULL;
}

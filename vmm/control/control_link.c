// SPDX-License-Identifier: MIT
/*
 * control_link: each client's stream to the guest agent (control.h):
 * opening it through the vsock device, the "OK <n>" handshake, retrying
 * while the guest boots, giving up, and relaying what the agent sends.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/client.h"
#include "proto/msg.h"
#include "vmm/timeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* control_link_close: drop the agent stream of c (not c itself). */
static void control_link_close(struct control_conn *c)
{
	if (c->link_fd >= 0) {
		shutdown(c->link_fd, SHUT_RDWR);
		close(c->link_fd);
	}
	c->link_fd = -1;
	c->line_len = 0;
}

/*
 * control_link_fail: the agent cannot be reached (why); requests that
 * waited for it get "unavailable", and so will later ones.
 */
void control_link_fail(struct control_conn *c, const char *why)
{
	control_link_disarm(c);
	control_link_close(c);
	c->link = CONTROL_LINK_FAILED;
	for (unsigned int i = 0; i < c->nr_waiting && !c->dead; i++)
		control_error(c, c->waiting[i], -EHOSTUNREACH, "%s", why);
	c->nr_waiting = 0;
	proto_buf_consume(&c->to_agent, c->to_agent.len);
}

/*
 * control_link_arm: the deadline of the whole opening (tries and retries),
 * from the first try. Without it a guest that takes the REQUEST and never
 * answers would leave the client waiting for ever.
 */
static void control_link_arm(struct control_conn *c)
{
	uint32_t ms = c->ctl->link_timeout_ms;
	struct io_uring_sqe *sqe;

	c->link_deadline_ns = timeline_now_ns() + (uint64_t)ms * 1000000u;
	c->deadline_ts = (struct __kernel_timespec){ .tv_sec = ms / 1000,
		                                     .tv_nsec = (long long)(ms % 1000) * 1000000 };
	sqe = loop_sqe(c->ctl->host.loop, &c->deadline_op);
	if (!sqe)
		return; /* refusals still see the deadline (control_link_refused) */
	io_uring_prep_timeout(sqe, &c->deadline_ts, 0, 0);
	c->deadline_armed = true;
}

void control_link_disarm(struct control_conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->deadline_armed || c->deadline_cancelled)
		return;
	/* Its completion (-ECANCELED) clears deadline_armed; until then c stays. */
	sqe = loop_sqe(c->ctl->host.loop, NULL);
	if (!sqe)
		return;
	io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&c->deadline_op, 0);
	c->deadline_cancelled = true;
}

/* control_deadline_cb: the link did not open in time, or the timer was cancelled. */
void control_deadline_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)more;
	c->deadline_armed = false;
	if (res == -ECANCELED || c->dead)
		return;
	if (c->link != CONTROL_LINK_OPENING && c->link != CONTROL_LINK_RETRY)
		return;
	control_link_fail(c, "the guest agent did not answer on vsock port 1024 in time");
	control_pump(c);
}

/* control_link_start: ask the guest for a stream to the agent's port. */
void control_link_start(struct control_conn *c)
{
	const struct control_host *host = &c->ctl->host;
	int sv[2], err;

	if (!c->link_deadline_ns)
		control_link_arm(c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		control_link_fail(c, "cannot make a socket pair for the agent stream");
		return;
	}
	err = host->ops->agent_connect(host->opaque, sv[1]);
	if (err) {
		close(sv[0]);
		control_link_fail(c, err == -ENODEV ? "this VM has no vsock device, so no agent"
		                                    : "too many vsock connections");
		return;
	}
	c->link_fd = sv[0];
	c->link = CONTROL_LINK_OPENING;
}

/* control_timer_cb: the retry delay is over. */
void control_timer_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)res;
	(void)more;
	c->timer_armed = false;
	if (c->dead || c->link != CONTROL_LINK_RETRY)
		return;
	control_link_start(c);
	control_pump(c);
}

/* control_link_refused: the guest refused (the agent is not listening yet): retry later. */
static void control_link_refused(struct control_conn *c)
{
	struct io_uring_sqe *sqe;

	control_link_close(c);
	if (timeline_now_ns() >= c->link_deadline_ns) {
		control_link_fail(c, "the guest agent did not answer on vsock port 1024 in time");
		return;
	}
	c->link = CONTROL_LINK_RETRY;
	c->timer_ts = (struct __kernel_timespec){ .tv_nsec = CONTROL_RETRY_MS * 1000000ll };
	sqe = loop_sqe(c->ctl->host.loop, &c->timer_op);
	if (!sqe) {
		control_link_fail(c, "the event loop is full");
		return;
	}
	io_uring_prep_timeout(sqe, &c->timer_ts, 0, 0);
	c->timer_armed = true;
}

/* control_forward: a frame from the client that the agent answers. */
void control_forward(struct control_conn *c, const struct proto_frame *f,
                     const struct proto_env *env)
{
	int err;

	if (c->link == CONTROL_LINK_FAILED) {
		if (env->type == PROTO_REQUEST)
			control_error(c, env->id, -EHOSTUNREACH,
			              "the guest agent is not reachable");
		return;
	}
	/* One read can hold many small frames: the bound is checked per frame. */
	if (c->link != CONTROL_LINK_OPEN && env->type == PROTO_REQUEST &&
	    c->nr_waiting == CONTROL_MAX_WAITING) {
		control_error(c, env->id, -E2BIG, "%d requests already wait for the guest agent",
		              CONTROL_MAX_WAITING);
		return;
	}
	if (env->type == PROTO_REQUEST && strcmp(env->name, "exec") == 0) {
		struct proto_why why = { "" };

		err = control_exec_apply(c->ctl, f->msg, &why);
		if (err) {
			control_error(c, env->id, err, "%s",
			              why.text[0] ? why.text : "out of memory");
			return;
		}
	}
	err = control_queue(&c->to_agent, json_incref(f->msg), f->body, f->body_len);
	if (err) {
		control_error(c, env->id, err, "%s",
		              err == -EMSGSIZE ? "the request is over the JSON size limit"
		                               : "out of memory");
		return;
	}
	if (c->link == CONTROL_LINK_OPEN || env->type != PROTO_REQUEST)
		return;
	c->waiting[c->nr_waiting++] = env->id;
	if (c->link == CONTROL_LINK_NONE)
		control_link_start(c);
}

/* control_read_line: the "OK <n>\n" that opens the agent stream. */
static void control_read_line(struct control_conn *c)
{
	char tmp[sizeof(c->line)];
	size_t room = sizeof(c->line) - c->line_len, take;
	ssize_t n = recv(c->link_fd, tmp, room, MSG_PEEK | MSG_DONTWAIT);
	const char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		control_link_refused(c);
		return;
	}
	nl = memchr(tmp, '\n', (size_t)n);
	take = nl ? (size_t)(nl - tmp) + 1 : (size_t)n;
	if (recv(c->link_fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		control_link_refused(c);
		return;
	}
	c->line_len += take;
	if (!nl) {
		if (c->line_len == sizeof(c->line))
			control_link_fail(c, "the vsock device sent a bad handshake");
		return;
	}
	if (strncmp(c->line, "OK ", 3) != 0) {
		control_link_fail(c, "the vsock device sent a bad handshake");
		return;
	}
	c->link = CONTROL_LINK_OPEN;
	control_link_disarm(c);
	c->nr_waiting = 0; /* the agent answers them now */
	c->ctl->host.ops->agent_linked(c->ctl->host.opaque);
}

/* control_read_link: frames from the agent, checked, then queued for the client. */
void control_read_link(struct control_conn *c)
{
	uint8_t buf[65536];

	if (c->link == CONTROL_LINK_OPENING)
		control_read_line(c);
	for (int i = 0; i < CONTROL_READ_CHUNKS && !c->dead && c->link == CONTROL_LINK_OPEN &&
	                control_want_link(c);
	     i++) {
		ssize_t n = recv(c->link_fd, buf, sizeof(buf), MSG_DONTWAIT);
		int err;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* The agent closed its end, or the guest reset the device. */
			control_link_fail(c, "the guest agent closed the connection");
			c->closing = true;
			return;
		}
		err = control_feed(c, &c->from_agent, buf, (size_t)n, false);
		if (err && !c->dead) {
			/* A guest that sends bad frames loses this client's stream. */
			control_link_fail(c, "the guest agent sent a bad frame");
			control_error(c, 0, -EPROTO, "the guest agent sent a bad frame: %s",
			              proto_decoder_why(&c->from_agent));
			c->closing = true;
		}
	}
}

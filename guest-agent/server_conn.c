// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_conn: a connection's byte I/O (server.h): byte queues,
 * epoll registrations, frames in and out, and back-pressure. What a frame
 * asks for is server_ops.c's; the structures are in server_int.h.
 *
 * Back-pressure: a connection queues at most about AGENT_CONN_HIGH bytes of
 * output; above that, the server stops reading its processes' output pipes
 * (and its own input) until the peer has read enough. A process's stdin
 * queue above AGENT_STDIN_HIGH stops the reading of the connection the same
 * way (agent_conn_update).
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* agent_watch_set: make w's registration events (0: out of the set). */
void agent_watch_set(struct agent_server *srv, struct agent_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	int op;

	if (w->fd < 0 || srv->epfd < 0 || events == w->events)
		return;
	if (!events)
		op = EPOLL_CTL_DEL;
	else
		op = w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(srv->epfd, op, w->fd, &ev) == 0)
		w->events = events;
}

void agent_watch_close(struct agent_server *srv, struct agent_watch *w)
{
	agent_watch_set(srv, w, 0);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* agent_conn_send: queue msg (consumed) with body as one frame. */
void agent_conn_send(struct agent_conn *c, json_t *msg, const void *body, size_t len)
{
	struct proto_out out;
	int err = msg ? proto_frame_encode(&out, msg, body, len) : -ENOMEM;

	json_decref(msg);
	if (!err) {
		for (int i = 0; i < out.iovcnt && !err; i++)
			err = proto_buf_append(&c->out, out.iov[i].iov_base, out.iov[i].iov_len);
		proto_out_free(&out);
	}
	if (err) {
		fprintf(stderr, "kvmbox-agent: cannot queue a frame: %s\n", strerror(-err));
		c->dead = true;
	}
}

/* agent_conn_reply: a reply to id with the fields of obj (consumed; NULL: none). */
void agent_conn_reply(struct agent_conn *c, uint64_t id, json_t *obj)
{
	json_t *m = NULL;

	if (proto_msg_reply(&m, id) == 0 && obj && json_object_update(m, obj) != 0) {
		json_decref(m);
		m = NULL;
	}
	json_decref(obj);
	agent_conn_send(c, m, NULL, 0);
}

void agent_conn_error(struct agent_conn *c, uint64_t id, int err, const char *why)
{
	json_t *m = NULL;

	if (!why || !why[0])
		why = strerror(-err);
	if (proto_msg_error(&m, id, proto_error_code(err), "%s", why) != 0)
		m = NULL;
	agent_conn_send(c, m, NULL, 0);
}

/* agent_conn_update: the epoll registrations that follow from c's queues. */
void agent_conn_update(struct agent_conn *c)
{
	struct agent_server *srv = c->srv;
	bool full = c->out.len >= AGENT_CONN_HIGH, stdin_full = false;
	uint32_t ev = 0;

	for (struct agent_proc *p = c->procs; p; p = p->next) {
		agent_watch_set(srv, &p->out, full ? 0 : EPOLLIN);
		agent_watch_set(srv, &p->err, full ? 0 : EPOLLIN);
		agent_watch_set(srv, &p->in, p->inq.len ? EPOLLOUT : 0);
		if (p->inq.len >= AGENT_STDIN_HIGH)
			stdin_full = true;
	}
	if (!c->closing && !full && !stdin_full)
		ev |= EPOLLIN;
	if (c->out.len)
		ev |= EPOLLOUT;
	agent_watch_set(srv, &c->w, ev);
}

/* agent_conn_flush: write queued output until the socket would block. */
void agent_conn_flush(struct agent_conn *c)
{
	while (c->out.len && c->w.fd >= 0 && !c->dead) {
		ssize_t n = send(c->w.fd, c->out.data + c->out.head, c->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->dead = true;
			break;
		}
		proto_buf_consume(&c->out, (size_t)n);
	}
	if (c->closing && !c->out.len)
		c->dead = true;
}

int agent_conn_feed(struct agent_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (!c->closing) {
		struct proto_frame f = { 0 };
		size_t used = 0;
		int err = proto_decoder_feed(&c->dec, p, len, &used);

		p += used;
		len -= used;
		if (!err)
			err = proto_decoder_next(&c->dec, &f);
		if (err < 0) {
			agent_conn_error(c, 0, err, proto_decoder_why(&c->dec));
			c->closing = true;
			break;
		}
		if (err == 0)
			return 0;
		agent_conn_handle(c, &f);
		proto_frame_clear(&f);
	}
	return -EPIPE;
}

void agent_conn_drop_output(struct agent_conn *c)
{
	proto_buf_consume(&c->out, c->out.len);
}

/* agent_conn_readable: read what the peer sent; its end means the connection's end. */
void agent_conn_readable(struct agent_conn *c)
{
	uint8_t data[AGENT_READ_CHUNK];
	ssize_t n = read(c->w.fd, data, sizeof(data));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->dead = true;
		return;
	}
	if (agent_conn_feed(c, data, (size_t)n) < 0)
		return; /* c->closing: the error is queued, the rest is ignored */
}

int agent_server_add_conn(struct agent_server *srv, int fd, struct agent_conn **out)
{
	struct agent_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = srv;
	c->w = (struct agent_watch){ .kind = AGENT_W_CONN, .fd = fd, .owner = c };
	proto_decoder_init(&c->dec);
	c->next = srv->conns;
	srv->conns = c;
	agent_conn_update(c);
	if (out)
		*out = c;
	return 0;
}

/* agent_conn_free: kill c's processes (orphans until reaped) and free c. */
void agent_conn_free(struct agent_server *srv, struct agent_conn *c)
{
	struct agent_proc *p, *next;

	for (p = c->procs; p; p = next) {
		next = p->next;
		if (p->reaped) {
			agent_proc_free(srv, p);
			continue;
		}
		agent_proc_kill(p);
		agent_watch_close(srv, &p->in);
		agent_watch_close(srv, &p->out);
		agent_watch_close(srv, &p->err);
		p->conn = NULL;
		p->next = srv->orphans;
		srv->orphans = p;
	}
	agent_xfer_free_all(c);
	agent_watch_close(srv, &c->w);
	proto_decoder_destroy(&c->dec);
	proto_buf_free(&c->out);
	free(c);
}

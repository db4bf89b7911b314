/* SPDX-License-Identifier: MIT */
/*
 * test_agent_exec.h: the rig of the guest agent's unit tests
 * (test_agent_exec.c, test_agent_sessions.c). Each test forks a server on
 * one end of a socketpair and speaks frames to it from the other end, as
 * the VMM does over vsock. Every wait is bounded (WAIT_MS); the server
 * process is reaped at the end of each test, and it reaps what it started.
 * Static inline: each test program uses part of it.
 */
#ifndef KVMBOX_TESTS_TEST_AGENT_EXEC_H
#define KVMBOX_TESTS_TEST_AGENT_EXEC_H

#include "check.h"
#include "guest-agent/init.h"
#include "guest-agent/server.h"
#include "proto/client.h"
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 20000 /* the longest any one answer may take */

struct client {
	int fd;
	pid_t server;
	struct proto_decoder dec;
	uint8_t buf[65536];
	size_t pos, len;
};

/* The outcome of one exec, gathered from its reply and events. */
struct result {
	int64_t pid;
	char err_code[32], err_msg[256]; /* an error reply instead of a pid */
	uint8_t *out, *err;
	size_t out_len, err_len;
	int64_t code, signal;
	bool exited, timed_out;
};

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* client_start_opts: fork a server with opts (may be NULL) on a socketpair; the test speaks on
 * c->fd. */
static inline int client_start_opts(struct client *c, const struct agent_opts *opts)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c->server = fork();
	if (c->server == 0) {
		struct agent_server *srv;
		int err;

		close(sv[0]);
		err = agent_server_new(&srv, opts);
		if (!err)
			err = agent_server_add_conn(srv, sv[1], NULL);
		if (!err)
			err = agent_server_run(srv);
		agent_server_free(srv);
		_exit(err ? 1 : 0);
	}
	close(sv[1]);
	c->fd = sv[0];
	proto_decoder_init(&c->dec);
	return c->server > 0 ? 0 : -EAGAIN;
}

/* client_start: client_start_opts with the default options. */
static inline int client_start(struct client *c)
{
	return client_start_opts(c, NULL);
}

/* client_stop: close the connection and reap the server (bounded). */
static inline int client_stop(struct client *c)
{
	uint64_t end = mono_ms() + WAIT_MS;
	int status = -1;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_decoder_destroy(&c->dec);
	while (waitpid(c->server, &status, WNOHANG) == 0) {
		if (mono_ms() > end) {
			kill(c->server, SIGKILL);
			waitpid(c->server, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* send_all: write a whole buffer to the server. */
static inline int send_all(struct client *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* send_json: a request frame from JSON text, with an optional body. */
static inline int send_json(struct client *c, const char *text, const void *body, size_t len)
{
	json_t *m = json_loads(text, 0, NULL);
	uint8_t *buf;
	size_t n;
	int err;

	if (!m)
		return -EINVAL;
	err = proto_frame_pack(m, body, len, &buf, &n);
	json_decref(m);
	if (err)
		return err;
	err = send_all(c, buf, n);
	free(buf);
	return err;
}

/* recv_frame: the next frame within WAIT_MS; 1, 0 at EOF, or -errno. */
static inline int recv_frame(struct client *c, struct proto_frame *f)
{
	uint64_t end = mono_ms() + WAIT_MS;

	for (;;) {
		size_t used = 0;
		int err = proto_decoder_feed(&c->dec, c->buf + c->pos, c->len - c->pos, &used);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		c->pos += used;
		if (!err)
			err = proto_decoder_next(&c->dec, f);
		if (err)
			return err;
		if (c->pos < c->len)
			continue;
		uint64_t now = mono_ms();
		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			return -ETIMEDOUT;
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n <= 0)
			return n == 0 ? 0 : -errno;
		c->pos = 0;
		c->len = (size_t)n;
	}
}

static inline const char *str_of(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

static inline void append(uint8_t **p, size_t *len, const uint8_t *data, size_t n)
{
	*p = realloc(*p, *len + n + 1);
	memcpy(*p + *len, data, n);
	*len += n;
	(*p)[*len] = '\0';
}

/*
 * result_take: fold a frame into the result of the exec whose request id
 * is f's; returns true when that exec is over (exited, or refused).
 */
static inline bool result_take(struct result *r, const struct proto_frame *f)
{
	const char *type = str_of(f->msg, "type"), *ev = str_of(f->msg, "event");
	json_t *e = json_object_get(f->msg, "error");

	if (strcmp(type, "error") == 0) {
		snprintf(r->err_code, sizeof(r->err_code), "%s", str_of(e, "code"));
		snprintf(r->err_msg, sizeof(r->err_msg), "%s", str_of(e, "message"));
		return true;
	}
	if (strcmp(type, "reply") == 0) {
		r->pid = json_integer_value(json_object_get(f->msg, "pid"));
	} else if (strcmp(ev, "exec.stdout") == 0) {
		append(&r->out, &r->out_len, f->body, f->body_len);
	} else if (strcmp(ev, "exec.stderr") == 0) {
		append(&r->err, &r->err_len, f->body, f->body_len);
	} else if (strcmp(ev, "exec.exit") == 0) {
		json_t *sig = json_object_get(f->msg, "signal");

		r->exited = true;
		r->code = sig ? -1 : json_integer_value(json_object_get(f->msg, "code"));
		r->signal = sig ? json_integer_value(sig) : 0;
		r->timed_out = json_is_true(json_object_get(f->msg, "timed_out"));
		return true;
	}
	return false;
}

static inline void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* gather: frames until the exec with request id is over; 0 or -errno. */
static inline int gather(struct client *c, uint64_t id, struct result *r)
{
	for (;;) {
		struct proto_frame f = { 0 };
		int got = recv_frame(c, &f);
		bool over;

		if (got <= 0)
			return got ? got : -EPIPE;
		if ((uint64_t)json_integer_value(json_object_get(f.msg, "id")) != id) {
			proto_frame_clear(&f);
			return -EPROTO;
		}
		over = result_take(r, &f);
		proto_frame_clear(&f);
		if (over)
			return 0;
	}
}

/* run: start an exec with the given fields (JSON members) and gather it. */
static inline int run(struct client *c, uint64_t id, const char *fields, struct result *r)
{
	char text[2048];
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	snprintf(text, sizeof(text), "{\"id\":%llu,\"type\":\"request\",\"op\":\"exec\",%s}",
	         (unsigned long long)id, fields);
	err = send_json(c, text, NULL, 0);
	return err ? err : gather(c, id, r);
}

/* start: send an exec and read its frames until the reply (or an error). */
static inline int start(struct client *c, uint64_t id, const char *fields, struct result *r)
{
	char text[2048];
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	snprintf(text, sizeof(text), "{\"id\":%llu,\"type\":\"request\",\"op\":\"exec\",%s}",
	         (unsigned long long)id, fields);
	err = send_json(c, text, NULL, 0);
	while (!err && r->pid <= 0 && !r->err_code[0] && !r->exited) {
		struct proto_frame f = { 0 };

		err = recv_frame(c, &f);
		if (err == 1) {
			result_take(r, &f);
			err = 0;
		} else if (err == 0) {
			err = -EPIPE;
		}
		proto_frame_clear(&f);
	}
	return err ? err : r->pid > 0 ? 0 : -ENOEXEC;
}

/* request: send a request and return its answer's type ("reply"/"error") in type. */
static inline int request(struct client *c, const char *text, const void *body, size_t len,
                          char *type, size_t cap)
{
	struct proto_frame f = { 0 };
	int err = send_json(c, text, body, len);

	if (!err)
		err = recv_frame(c, &f);
	if (err == 1) {
		json_t *e = json_object_get(f.msg, "error");

		snprintf(type, cap, "%s%s%s", str_of(f.msg, "type"), e ? ":" : "",
		         e ? str_of(e, "code") : "");
		err = 0;
	} else if (err == 0) {
		err = -EPIPE;
	}
	proto_frame_clear(&f);
	return err;
}

/* fnv1a: a simple hash of a byte string. */
static inline uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

#endif

// SPDX-License-Identifier: MIT
/*
 * client: the host side of docs/protocol.md (client.h).
 */
#include "proto/client.h"

#include "proto/bytes.h"
#include "proto/client_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* proto_client_now_ms: a monotonic clock in ms, for the waits' deadlines. */
int64_t proto_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* proto_client_left_ms: what is left until deadline (ms) as a poll timeout; -1: none. */
int proto_client_left_ms(int64_t deadline)
{
	int64_t left;

	if (!deadline)
		return -1;
	left = deadline - proto_client_now_ms();
	return left > 0 ? (int)left : 0;
}

/* proto_client_dial: a fresh client connected to the unix socket at path. */
static int proto_client_dial(struct proto_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

void proto_client_adopt(struct proto_client *c, int fd)
{
	c->fd = fd;
	c->next_id = 1;
	c->have = c->off = 0;
	proto_decoder_init(&c->dec);
}

int proto_client_open(struct proto_client *c, const char *path)
{
	int err = proto_client_dial(c, path);

	if (!err)
		proto_decoder_init(&c->dec);
	return err;
}

int proto_client_connect(struct proto_client *c, const char *path, unsigned int port)
{
	char line[64];
	size_t n = 0;
	int err = proto_client_dial(c, path);

	if (err)
		return err;
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(c->fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		goto fail;
	/* Byte by byte: the frames that follow the newline are not ours to eat. */
	while (n < sizeof(line) - 1 && read(c->fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		goto fail;
	proto_decoder_init(&c->dec);
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -ECONNREFUSED;
}

void proto_client_close(struct proto_client *c)
{
	if (c->fd >= 0) {
		proto_decoder_destroy(&c->dec);
		close(c->fd);
	}
	c->fd = -1;
}

/* proto_client_write_all: all of buf to fd, through short writes and EINTR. */
int proto_client_write_all(int fd, const void *buf, size_t len, bool sock)
{
	const uint8_t *p = buf;

	while (len) {
		/* send() on the socket: a peer gone away is -EPIPE, not SIGPIPE. */
		ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int proto_client_send(struct proto_client *c, json_t *msg, const void *body, size_t body_len)
{
	uint8_t *buf;
	size_t len;
	int err = proto_frame_pack(msg, body, body_len, &buf, &len);

	json_decref(msg);
	if (err)
		return err;
	err = proto_client_write_all(c->fd, buf, len, true);
	free(buf);
	return err;
}

/*
 * proto_client_take: a frame out of the bytes already read; 1 with one, 0
 * when the socket must be read for more, or the decoder's -errno.
 */
int proto_client_take(struct proto_client *c, struct proto_frame *f)
{
	for (;;) {
		size_t used = 0;
		int r = proto_decoder_next(&c->dec, f);

		if (r != 0 || c->off == c->have)
			return r;
		r = proto_decoder_feed(&c->dec, c->buf + c->off, c->have - c->off, &used);
		if (r < 0)
			return r;
		c->off += used;
	}
}

/* proto_client_read: one read of the socket (all read bytes taken); 0, -EPIPE or -errno. */
int proto_client_read(struct proto_client *c)
{
	ssize_t n = read(c->fd, c->buf, sizeof(c->buf));

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return n < 0 ? -errno : -EPIPE;
	c->have = (size_t)n;
	c->off = 0;
	return 0;
}

/*
 * client_next_until: the next frame, waiting until deadline (ms of
 * proto_client_now_ms; 0: for ever); 0, -EPIPE, -ETIMEDOUT or -errno.
 */
static int client_next_until(struct proto_client *c, struct proto_frame *f, int64_t deadline)
{
	for (;;) {
		int r = proto_client_take(c, f);

		if (r == 1)
			return 0;
		if (r == 0 && deadline) {
			/* A peer that accepted and never answers must not hold
			 * us for ever (README: every client wait has a deadline). */
			struct pollfd p = { .fd = c->fd, .events = POLLIN };

			r = poll(&p, 1, proto_client_left_ms(deadline));
			if (r < 0 && errno == EINTR)
				continue;
			r = r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
		}
		if (r == 0)
			r = proto_client_read(c);
		if (r < 0)
			return r;
	}
}

int proto_client_next(struct proto_client *c, struct proto_frame *f)
{
	return client_next_until(c, f, c->wait_ms > 0 ? proto_client_now_ms() + c->wait_ms : 0);
}

int proto_client_answer_errno(const json_t *msg, const struct proto_env *env)
{
	const char *name =
	    json_string_value(json_object_get(json_object_get(msg, "error"), "errno"));
	int v = proto_errno_value(name);

	/* An errno the peer named says most (fs_error, port_error). */
	if (v)
		return -v;
	if (env->id == 0)
		return -ECONNABORTED; /* about the connection: nothing more will come */
	if (strcmp(env->err_code, PROTO_ERR_NOT_FOUND) == 0)
		return -ENOENT;
	if (strcmp(env->err_code, PROTO_ERR_UNAVAILABLE) == 0)
		return -EHOSTUNREACH;
	if (strcmp(env->err_code, PROTO_ERR_UNKNOWN_OP) == 0)
		return -EOPNOTSUPP;
	if (strcmp(env->err_code, PROTO_ERR_BAD_REQUEST) == 0)
		return -EINVAL;
	if (strcmp(env->err_code, PROTO_ERR_TOO_LARGE) == 0)
		return -E2BIG;
	return -EIO;
}

int proto_client_call(struct proto_client *c, json_t *req, const void *body, size_t body_len,
                      json_t **answer, struct proto_why *why)
{
	int64_t deadline = c->wait_ms > 0 ? proto_client_now_ms() + c->wait_ms : 0;
	struct proto_frame f = { 0 };
	struct proto_env env;
	uint64_t id = c->next_id++;
	int err = 0;

	if (answer)
		*answer = NULL;
	if (!req || json_object_set_new(req, "id", json_integer((json_int_t)id)) != 0) {
		json_decref(req);
		return -ENOMEM;
	}
	err = proto_client_send(c, req, body, body_len);
	/* A VMM that refused us closed at once, but may have said why
	 * first: read that (or the end of the stream) below. */
	if (err == -EPIPE || err == -ECONNRESET)
		err = 0;
	if (err) {
		proto_why_set(why, "sending the request: %s",
		              err == -EMSGSIZE ? "over the protocol's size limits"
		                               : strerror(-err));
		return err;
	}
	/* One deadline for the whole wait: frames of other requests (events
	 * of a stream this connection runs) do not extend it. */
	while (!(err = client_next_until(c, &f, deadline))) {
		/* Ours, or an error about the connection (id 0), which ends
		 * every request on it. Anything else is another request's. */
		if (proto_msg_parse_env(f.msg, &env, NULL) == 0 &&
		    (env.id == id || (env.id == 0 && env.type == PROTO_ERROR)) &&
		    (env.type == PROTO_REPLY || env.type == PROTO_ERROR))
			break;
		proto_frame_clear(&f);
	}
	if (err) {
		const char *d = proto_decoder_why(&c->dec);

		if (err == -ETIMEDOUT)
			proto_why_set(why, "no answer within %d ms", c->wait_ms);
		else if (err == -EPIPE)
			proto_why_set(why, "the connection closed");
		else
			proto_why_set(why, "%s", d[0] ? d : strerror(-err));
		return err;
	}
	free(f.body); /* no answer of the control ops carries one */
	if (env.type == PROTO_ERROR) {
		proto_why_set(why, "%s: %s", env.err_code, env.err_msg);
		err = proto_client_answer_errno(f.msg, &env);
	}
	if (answer)
		*answer = f.msg;
	else
		json_decref(f.msg);
	return err;
}

int proto_client_stop(struct proto_client *c)
{
	struct proto_frame f = { 0 };
	json_t *req;
	int err = proto_msg_request(&req, c->next_id++, "stop");

	if (!err)
		err = proto_client_send(c, req, NULL, 0);
	/* The reply, or the stream ending as the VM goes away: either will do. */
	if (!err && proto_client_next(c, &f) == 0)
		proto_frame_clear(&f);
	return err;
}

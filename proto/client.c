// SPDX-License-Identifier: MIT
/*
 * client: the host side of docs/protocol.md (client.h).
 */
#include "proto/client.h"

#include "proto/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int proto_client_connect(struct proto_client *c, const char *path, unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[64];
	size_t n = 0;
	int err;

	memset(c, 0, sizeof(*c));
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto fail;
	}
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	err = -ECONNREFUSED;
	if (write(c->fd, line, strlen(line)) != (ssize_t)strlen(line))
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
	return err;
}

void proto_client_close(struct proto_client *c)
{
	if (c->fd >= 0) {
		proto_decoder_destroy(&c->dec);
		close(c->fd);
	}
	c->fd = -1;
}

/* proto_client_write_all: all of buf, through short writes and EINTR. */
static int proto_client_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

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
	err = proto_client_write_all(c->fd, buf, len);
	free(buf);
	return err;
}

int proto_client_next(struct proto_client *c, struct proto_frame *f)
{
	for (;;) {
		size_t used = 0;
		int r = proto_decoder_next(&c->dec, f);

		if (r == 1)
			return 0;
		if (r < 0)
			return r;
		if (c->off == c->have) {
			ssize_t n = read(c->fd, c->buf, sizeof(c->buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EPIPE;
			c->have = (size_t)n;
			c->off = 0;
		}
		r = proto_decoder_feed(&c->dec, c->buf + c->off, c->have - c->off, &used);
		if (r < 0)
			return r;
		c->off += used;
	}
}

/*
 * proto_client_exec_event: one frame of a running exec; 1 when it ended, 2
 * for the reply that says it started, 0 for anything else, or -errno.
 */
static int proto_client_exec_event(struct proto_frame *f, uint64_t id, int out_fd, int err_fd,
                                   int *status, struct proto_why *why)
{
	struct proto_env env;
	uint64_t v;

	if (proto_msg_parse_env(f->msg, &env, why))
		return -EPROTO;
	/* Replies to our exec.stdin requests (other ids) change nothing: an
	 * error there means the process closed its stdin, and the exec's own
	 * events still tell how it ends. */
	if (env.id != id)
		return 0;
	if (env.type == PROTO_ERROR) {
		proto_why_set(why, "%s: %s", env.err_code, env.err_msg);
		return strcmp(env.err_code, PROTO_ERR_NOT_FOUND) == 0 ? -ENOENT : -EIO;
	}
	if (env.type == PROTO_REPLY)
		return 2; /* the reply with the pid: the exec is running */
	if (env.type != PROTO_EVENT)
		return 0;
	if (strcmp(env.name, "exec.stdout") == 0 || strcmp(env.name, "exec.stderr") == 0) {
		int fd = strcmp(env.name, "exec.stdout") == 0 ? out_fd : err_fd;

		if (f->body_len && proto_client_write_all(fd, f->body, f->body_len) < 0)
			return -EIO;
		return 0;
	}
	if (strcmp(env.name, "exec.exit") != 0)
		return 0;
	if (json_object_get(f->msg, "code") &&
	    proto_msg_get_u64(f->msg, "code", &v, 255, 0, why) == 0)
		*status = (int)v;
	else if (proto_msg_get_u64(f->msg, "signal", &v, 64, 0, why) == 0)
		*status = 128 + (int)v;
	else
		return -EPROTO;
	return 1;
}

/*
 * proto_client_stdin: forward what *in_fd has to exec id as exec.stdin
 * requests; at its end send eof and set *in_fd to -1. 0 or -errno.
 */
static int proto_client_stdin(struct proto_client *c, uint64_t id, int *in_fd)
{
	static const size_t chunk = 65536;
	uint8_t *buf = malloc(chunk);
	json_t *req;
	ssize_t n;
	int err;

	if (!buf)
		return -ENOMEM;
	n = read(*in_fd, buf, chunk);
	if (n < 0 && errno == EINTR) {
		free(buf);
		return 0;
	}
	err = proto_msg_request(&req, c->next_id++, "exec.stdin");
	if (!err) {
		json_object_set_new(req, "exec_id", json_integer((json_int_t)id));
		if (n <= 0) {
			/* End of input, or an error reading it: the same to the command. */
			json_object_set_new(req, "eof", json_true());
			*in_fd = -1;
		}
		err = proto_client_send(c, req, n > 0 ? buf : NULL, n > 0 ? (size_t)n : 0);
	}
	free(buf);
	return err;
}

/* proto_client_pending: a frame can be had without reading the socket. */
static bool proto_client_pending(const struct proto_client *c)
{
	return c->off < c->have || c->dec.state == PROTO_DEC_READY;
}

int proto_client_exec(struct proto_client *c, char *const *argv, const struct proto_exec_opts *opts,
                      int out_fd, int err_fd, int *status, struct proto_why *why)
{
	json_t *req, *args = json_array();
	struct proto_frame f = { 0 };
	uint64_t id = c->next_id++;
	int in_fd = opts ? opts->stdin_fd : -1;
	bool started = false;
	int err;

	if (!args)
		return -ENOMEM;
	for (char *const *a = argv; *a; a++)
		json_array_append_new(args, json_string(*a));
	err = proto_msg_request(&req, id, "exec");
	if (err) {
		json_decref(args);
		return err;
	}
	json_object_set_new(req, "argv", args);
	if (opts && opts->timeout_ms)
		json_object_set_new(req, "timeout_ms", json_integer((json_int_t)opts->timeout_ms));
	if (in_fd >= 0)
		json_object_set_new(req, "stdin", json_string("pipe"));
	err = proto_client_send(c, req, NULL, 0);
	while (!err) {
		/* With input to forward, wait for whichever comes first. */
		/* exec_id names a process only once the agent replied that it
		 * started: stdin waits for that reply. */
		if (started && in_fd >= 0 && !proto_client_pending(c)) {
			struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
				               { .fd = in_fd, .events = POLLIN } };

			if (poll(p, 2, -1) < 0) {
				err = errno == EINTR ? 0 : -errno;
				continue;
			}
			if (p[1].revents)
				err = proto_client_stdin(c, id, &in_fd);
			if (err || !p[0].revents)
				continue;
		}
		err = proto_client_next(c, &f);
		if (err) {
			proto_why_set(why, "the agent's stream ended: %s", strerror(-err));
			break;
		}
		err = proto_client_exec_event(&f, id, out_fd, err_fd, status, why);
		proto_frame_clear(&f);
		if (err == 1)
			return 0;
		if (err == 2) {
			started = true;
			err = 0;
		}
	}
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

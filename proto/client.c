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
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
static int proto_client_write_all(int fd, const void *buf, size_t len, bool sock)
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
static int proto_client_take(struct proto_client *c, struct proto_frame *f)
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
static int proto_client_read(struct proto_client *c)
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

int proto_client_next(struct proto_client *c, struct proto_frame *f)
{
	for (;;) {
		int r = proto_client_take(c, f);

		if (r == 1)
			return 0;
		if (r == 0)
			r = proto_client_read(c);
		if (r < 0)
			return r;
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
	/* Replies to our exec.stdin, exec.resize and exec.signal requests (other ids)
	 * change nothing: an error there means the process closed its stdin
	 * or ended, and the exec's own events still tell how it ends. */
	if (env.id != id)
		return 0;
	if (env.type == PROTO_ERROR) {
		proto_why_set(why, "%s: %s", env.err_code, env.err_msg);
		if (strcmp(env.err_code, PROTO_ERR_NOT_FOUND) == 0)
			return -ENOENT;
		/* The agent is not there: nothing ran, and nothing will. */
		if (strcmp(env.err_code, PROTO_ERR_UNAVAILABLE) == 0)
			return -EHOSTUNREACH;
		return -EIO;
	}
	if (env.type == PROTO_REPLY)
		return 2; /* the reply with the pid: the exec is running */
	if (env.type != PROTO_EVENT)
		return 0;
	if (strcmp(env.name, "exec.stdout") == 0 || strcmp(env.name, "exec.stderr") == 0) {
		int fd = strcmp(env.name, "exec.stdout") == 0 ? out_fd : err_fd;

		int err = f->body_len ? proto_client_write_all(fd, f->body, f->body_len, false) : 0;

		if (err < 0) {
			proto_why_set(why, "writing the command's output: %s", strerror(-err));
			return -EIO;
		}
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

/* One running exec: what it forwards, and the frame it is sending. */
struct proto_exec_run {
	struct proto_client *c;
	uint64_t id;
	int in_fd, tty_fd, resize_fd, sig_fd; /* -1: none (or no more) */
	bool started;                         /* the agent replied: exec_id names a process */
	int *status;                          /* where a signal before the start goes */
	uint8_t *out;                         /* a packed frame being sent, or NULL */
	size_t out_len, out_off;
	uint8_t in_buf[65536];
};

/* proto_exec_flush: send what the socket takes now of run->out; 0 or -errno. */
static int proto_exec_flush(struct proto_exec_run *run)
{
	while (run->out && run->out_off < run->out_len) {
		ssize_t n = send(run->c->fd, run->out + run->out_off, run->out_len - run->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		run->out_off += (size_t)n;
	}
	free(run->out);
	run->out = NULL;
	return 0;
}

/*
 * proto_exec_queue: msg (consumed) as the frame to send, sent as far as
 * the socket takes it now; the rest goes as the socket drains, so that
 * output keeps being read meanwhile. 0 or -errno.
 */
static int proto_exec_queue(struct proto_exec_run *run, json_t *msg, const void *body,
                            size_t body_len)
{
	int err = proto_frame_pack(msg, body, body_len, &run->out, &run->out_len);

	json_decref(msg);
	if (err) {
		run->out = NULL;
		return err;
	}
	run->out_off = 0;
	return proto_exec_flush(run);
}

/* proto_exec_request: a request about the running exec, with "exec_id" set. */
static json_t *proto_exec_request(struct proto_exec_run *run, const char *op)
{
	json_t *req;

	if (proto_msg_request(&req, run->c->next_id++, op))
		return NULL;
	json_object_set_new(req, "exec_id", json_integer((json_int_t)run->id));
	return req;
}

/*
 * proto_exec_stdin: forward what run->in_fd has as exec.stdin; at its end
 * send eof and stop reading it. 0 or -errno.
 */
static int proto_exec_stdin(struct proto_exec_run *run)
{
	ssize_t n = read(run->in_fd, run->in_buf, sizeof(run->in_buf));
	json_t *req;

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	req = proto_exec_request(run, "exec.stdin");
	if (!req)
		return -ENOMEM;
	if (n <= 0) {
		/* End of input, or an error reading it: the same to the command. */
		json_object_set_new(req, "eof", json_true());
		run->in_fd = -1;
	}
	return proto_exec_queue(run, req, n > 0 ? run->in_buf : NULL, n > 0 ? (size_t)n : 0);
}

/* proto_exec_winsize: the size of tty_fd; 0, or -1 when it has none. */
static int proto_exec_winsize(int tty_fd, unsigned int *rows, unsigned int *cols)
{
	struct winsize ws;

	if (tty_fd < 0 || ioctl(tty_fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
		return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

/*
 * proto_exec_resize: drain run->resize_fd (a pipe or a signalfd; more than
 * one change gives one resize, of the latest size) and send tty_fd's size
 * as exec.resize. 0 or -errno.
 */
static int proto_exec_resize(struct proto_exec_run *run)
{
	/* Big enough for a signalfd_siginfo (128 bytes) or many of them. */
	uint8_t buf[4096];
	unsigned int rows, cols;
	json_t *req;

	for (int i = 0; i < 64; i++) {
		struct pollfd p = { .fd = run->resize_fd, .events = POLLIN };
		ssize_t n = read(run->resize_fd, buf, sizeof(buf));

		if (n == 0 ||
		    (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			run->resize_fd = -1; /* closed or broken: no more resizes */
			break;
		}
		if (poll(&p, 1, 0) != 1)
			break;
	}
	if (proto_exec_winsize(run->tty_fd, &rows, &cols))
		return 0;
	req = proto_exec_request(run, "exec.resize");
	if (!req)
		return -ENOMEM;
	json_object_set_new(req, "rows", json_integer(rows));
	json_object_set_new(req, "cols", json_integer(cols));
	return proto_exec_queue(run, req, NULL, 0);
}

/*
 * proto_exec_signal: one signal from run->sig_fd, sent as exec.signal to
 * the command's process group (docs/protocol.md). Before the command
 * started there is no exec_id to name: the call ends with -EINTR and
 * *run->status = 128 + N, as if the signal had ended a local command.
 */
static int proto_exec_signal(struct proto_exec_run *run, struct proto_why *why)
{
	struct signalfd_siginfo si;
	ssize_t n = read(run->sig_fd, &si, sizeof(si));
	json_t *req;

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n != (ssize_t)sizeof(si) || si.ssi_signo < 1 || si.ssi_signo > 64) {
		run->sig_fd = -1; /* not a signalfd after all: forward nothing */
		return 0;
	}
	if (!run->started) {
		*run->status = 128 + (int)si.ssi_signo;
		proto_why_set(why, "signal %u before the command started", si.ssi_signo);
		return -EINTR;
	}
	req = proto_exec_request(run, "exec.signal");
	if (!req)
		return -ENOMEM;
	json_object_set_new(req, "signal", json_integer(si.ssi_signo));
	json_object_set_new(req, "group", json_true());
	return proto_exec_queue(run, req, NULL, 0);
}

/*
 * proto_exec_wait: wait for the socket, stdin, resize_fd or sig_fd and
 * serve them; 0 or -errno.
 */
static int proto_exec_wait(struct proto_exec_run *run, struct proto_why *why)
{
	struct pollfd p[4] = { { .fd = run->c->fd, .events = POLLIN } };
	int in = -1, rs = -1, sg = -1, np = 1, err = 0;

	if (!run->out && run->sig_fd >= 0) {
		sg = np;
		p[np++] = (struct pollfd){ .fd = run->sig_fd, .events = POLLIN };
	}
	if (run->out) {
		p[0].events |= POLLOUT;
	} else if (run->started) {
		/* One outgoing frame at a time; exec_id names a process only
		 * once the agent replied that it started. */
		if (run->resize_fd >= 0) {
			rs = np;
			p[np++] = (struct pollfd){ .fd = run->resize_fd, .events = POLLIN };
		}
		if (run->in_fd >= 0) {
			in = np;
			p[np++] = (struct pollfd){ .fd = run->in_fd, .events = POLLIN };
		}
	}
	if (poll(p, (nfds_t)np, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[0].revents & POLLOUT)
		err = proto_exec_flush(run);
	if (!err && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
		err = proto_client_read(run->c);
		if (err) {
			proto_why_set(why, "the agent's stream ended: %s", strerror(-err));
			return err;
		}
	}
	/* A resize goes before input that came with it: the keys were typed
	 * at the new size. */
	if (!err && rs >= 0 && p[rs].revents)
		err = proto_exec_resize(run);
	if (!err && in >= 0 && p[in].revents && !run->out)
		err = proto_exec_stdin(run);
	if (!err && sg >= 0 && p[sg].revents && !run->out) {
		err = proto_exec_signal(run, why);
		if (err == -EINTR)
			return err;
	}
	if (err)
		proto_why_set(why, "sending to the agent: %s", strerror(-err));
	return err;
}

/* proto_exec_request_new: the exec request for argv and opts. */
static int proto_exec_request_new(json_t **out, uint64_t id, char *const *argv,
                                  const struct proto_exec_opts *o)
{
	json_t *req, *args = json_array();
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
	if (o->timeout_ms)
		json_object_set_new(req, "timeout_ms", json_integer((json_int_t)o->timeout_ms));
	if (o->env) {
		json_t *env = json_array();

		for (const char *const *e = o->env; env && *e; e++)
			json_array_append_new(env, json_string(*e));
		json_object_set_new(req, "env", env);
	}
	if (o->cwd)
		json_object_set_new(req, "cwd", json_string(o->cwd));
	if (o->user)
		json_object_set_new(req, "user", json_string(o->user));
	if (o->pty) {
		unsigned int rows = o->rows, cols = o->cols;
		json_t *pty = json_object();

		if (!rows || !cols)
			proto_exec_winsize(o->tty_fd, &rows, &cols);
		/* Either still 0: the agent's default for it. */
		if (pty && rows)
			json_object_set_new(pty, "rows", json_integer(rows));
		if (pty && cols)
			json_object_set_new(pty, "cols", json_integer(cols));
		json_object_set_new(req, "pty", pty);
	} else if (o->stdin_fd >= 0) {
		json_object_set_new(req, "stdin", json_string("pipe"));
	}
	*out = req;
	return 0;
}

int proto_client_exec(struct proto_client *c, char *const *argv, const struct proto_exec_opts *opts,
                      int out_fd, int err_fd, int *status, struct proto_why *why)
{
	static const struct proto_exec_opts none = PROTO_EXEC_OPTS_INIT;
	const struct proto_exec_opts *o = opts ? opts : &none;
	struct proto_frame f = { 0 };
	struct proto_exec_run *run;
	json_t *req;
	int err;

	run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	*run = (struct proto_exec_run){
		.c = c,
		.id = c->next_id++,
		.in_fd = o->stdin_fd,
		.tty_fd = o->pty ? o->tty_fd : -1,
		.resize_fd = o->pty ? o->resize_fd : -1,
		.sig_fd = o->signal_fd,
		.status = status,
	};
	err = proto_exec_request_new(&req, run->id, argv, o);
	if (!err)
		err = proto_client_send(c, req, NULL, 0);
	while (!err) {
		err = proto_client_take(c, &f);
		if (err < 0) {
			proto_why_set(why, "from the agent: %s", proto_decoder_why(&c->dec));
			break;
		}
		if (err == 0) {
			err = proto_exec_wait(run, why);
			continue;
		}
		err = proto_client_exec_event(&f, run->id, out_fd, err_fd, status, why);
		proto_frame_clear(&f);
		if (err == 2) {
			run->started = true;
			err = 0;
		}
	}
	if (err == 1) {
		/* Ended: a frame begun must still be finished, or the stream
		 * is out of step for the next request. */
		err = 0;
		if (run->out)
			err = proto_client_write_all(c->fd, run->out + run->out_off,
			                             run->out_len - run->out_off, true);
	}
	free(run->out);
	free(run);
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

// SPDX-License-Identifier: MIT
/*
 * client_exec: proto_client_exec (client.h): one command run in the guest,
 * its output copied out, its input, resizes and signals sent in, on one
 * poll loop. The connection itself (dial, send, read, the decoder) is
 * client.c's, shared through client_int.h.
 */
#include "proto/bytes.h"
#include "proto/client.h"
#include "proto/client_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

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
	/* An error about the connection itself (the VMM's client limit, a
	 * frame it could not take): nothing will answer the exec. */
	if (env.id == 0 && env.type == PROTO_ERROR) {
		proto_why_set(why, "%s: %s", env.err_code, env.err_msg);
		return -ECONNABORTED;
	}
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
			/* Ours, not the command's: not -EIO, which means the
			 * agent could not start it. */
			proto_why_set(why, "writing the command's output: %s", strerror(-err));
			return -ECOMM;
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
	int64_t deadline;                     /* for the start, in ms; 0: none */
	int *status;                          /* where a signal before the start goes */
	uint8_t *out;                         /* a packed frame being sent, or NULL */
	size_t out_len, out_off;
	uint8_t in_buf[65536]; /* last: never zeroed (proto_client_exec) */
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
	switch (poll(p, (nfds_t)np, run->started ? -1 : proto_client_left_ms(run->deadline))) {
	case -1:
		return errno == EINTR ? 0 : -errno;
	case 0:
		proto_why_set(why,
		              "no answer from the agent within %d s: the command did not start",
		              (run->c->wait_ms + 999) / 1000);
		return -ETIMEDOUT;
	}
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

/* proto_exec_set: field key of req set to v (consumed; NULL: out of memory); 0 or -ENOMEM. */
static int proto_exec_set(json_t *req, const char *key, json_t *v)
{
	return v && json_object_set_new(req, key, v) == 0 ? 0 : -ENOMEM;
}

/* proto_exec_pty: the "pty" object of an exec with o->pty; NULL: ENOMEM. */
static json_t *proto_exec_pty(const struct proto_exec_opts *o)
{
	unsigned int rows = o->rows, cols = o->cols;
	json_t *pty = json_object();

	if (!rows || !cols)
		proto_exec_winsize(o->tty_fd, &rows, &cols);
	/* Either still 0: the agent's default for it. */
	if (pty && ((rows && json_object_set_new(pty, "rows", json_integer(rows))) ||
	            (cols && json_object_set_new(pty, "cols", json_integer(cols))))) {
		json_decref(pty);
		pty = NULL;
	}
	return pty;
}

/*
 * proto_exec_request_new: the exec request for argv and opts. Arguments,
 * variables, the folder and the user are bytes: each goes as a string
 * when it is UTF-8 and as {"base64"} otherwise (proto/bytes.h), so none
 * is lost. 0 or -ENOMEM.
 */
static int proto_exec_request_new(json_t **out, uint64_t id, char *const *argv,
                                  const struct proto_exec_opts *o)
{
	json_t *req;
	int err;

	err = proto_msg_request(&req, id, "exec");
	if (err)
		return err;
	err = proto_exec_set(req, "argv", proto_bytes_array((const char *const *)argv));
	if (!err && o->timeout_ms)
		err = proto_exec_set(req, "timeout_ms", json_integer((json_int_t)o->timeout_ms));
	if (!err && o->env)
		err = proto_exec_set(req, "env", proto_bytes_array(o->env));
	if (!err && o->cwd)
		err = proto_exec_set(req, "cwd", proto_bytes_json(o->cwd, strlen(o->cwd)));
	if (!err && o->user)
		err = proto_exec_set(req, "user", proto_bytes_json(o->user, strlen(o->user)));
	if (!err && o->pty)
		err = proto_exec_set(req, "pty", proto_exec_pty(o));
	else if (!err && o->stdin_fd >= 0)
		err = proto_exec_set(req, "stdin", json_string("pipe"));
	if (err) {
		json_decref(req);
		return err;
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

	/* Zeroed up to in_buf only: a buffer read into before each use, whose
	 * 64 KiB calloc (in a thread's arena) or a compound literal would
	 * touch: RSS in a VMM's command thread for nothing. */
	run = malloc(sizeof(*run));
	if (!run)
		return -ENOMEM;
	memset(run, 0, offsetof(struct proto_exec_run, in_buf));
	run->c = c;
	run->id = c->next_id++;
	run->in_fd = o->stdin_fd;
	run->tty_fd = o->pty ? o->tty_fd : -1;
	run->resize_fd = o->pty ? o->resize_fd : -1;
	run->sig_fd = o->signal_fd;
	run->status = status;
	run->deadline = c->wait_ms > 0 ? proto_client_now_ms() + c->wait_ms : 0;
	err = proto_exec_request_new(&req, run->id, argv, o);
	if (!err)
		err = proto_client_send(c, req, NULL, 0);
	/* A VMM that refused us closed at once, but may have said why first:
	 * read that (or the end of the stream) below. */
	if (err == -EPIPE || err == -ECONNRESET)
		err = 0;
	if (err == -EMSGSIZE)
		proto_why_set(why,
		              "the exec request (argv and env) exceeds the protocol's JSON size "
		              "limit of %u bytes",
		              PROTO_MAX_JSON);
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

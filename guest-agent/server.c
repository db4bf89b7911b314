// SPDX-License-Identifier: MIT
/*
 * guest-agent/server: connections, processes and the epoll loop (server.h).
 *
 * Ownership: the server owns its connections; a connection owns the
 * processes it started; a process whose connection went away is an orphan
 * of the server until it is reaped. Structures are freed only between
 * batches of epoll events (they are marked dead or done first), so an event
 * later in a batch never touches freed memory.
 *
 * Back-pressure: a connection queues at most about CONN_HIGH bytes of
 * output; above that, the server stops reading its processes' output pipes
 * (and its own input) until the peer has read enough. A process's stdin
 * queue above STDIN_HIGH stops the reading of the connection the same way.
 */
#define _GNU_SOURCE
#include "guest-agent/server.h"
#include "guest-agent/exec.h"
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONN_HIGH  (1u << 20)   /* queued output that pauses reading output */
#define STDIN_HIGH (256u << 10) /* queued stdin that pauses reading the connection */
#define READ_CHUNK (64u << 10)  /* bytes per read and per output event */
#define LINGER_MS  200          /* how long output may trail the exit of a process */
#define MAX_PROCS  256          /* running processes per connection */
#define MAX_EVENTS 64

/* A byte queue: data[head, head + len). */
struct buf {
	uint8_t *data;
	size_t head, len, cap;
};

enum watch_kind {
	W_SIGNAL,
	W_LISTEN,
	W_CONN,
	W_IN,
	W_OUT,
	W_ERR,
};

/* One fd in the epoll set; epoll's data.ptr points here. */
struct watch {
	enum watch_kind kind;
	int fd;          /* -1 once closed */
	uint32_t events; /* registered now; 0 when not in the set */
	void *owner;     /* the server, connection or process */
};

struct agent_proc {
	struct agent_proc *next;
	struct agent_conn *conn; /* NULL for an orphan */
	uint64_t id;             /* the exec request's id */
	pid_t pid;
	bool pty;
	struct watch in, out, err;
	struct buf inq;
	bool in_eof;    /* close stdin (or send ^D) once inq is written */
	bool reaped;    /* the process has ended: status is valid */
	bool timed_out; /* the timeout killed it */
	bool done;      /* exit reported; freed after this batch */
	int status;
	uint64_t deadline; /* monotonic ms of the timeout; 0: none */
	uint64_t linger;   /* after reaping: when to stop waiting for EOF */
};

struct agent_conn {
	struct agent_conn *next;
	struct agent_server *srv;
	struct watch w;
	struct proto_decoder dec;
	struct buf out;
	struct agent_proc *procs;
	unsigned int nprocs;
	bool closing; /* send what is queued, then close */
	bool dead;    /* closed after this batch */
};

struct agent_server {
	int epfd;
	struct watch sig, listen;
	struct agent_conn *conns;
	struct agent_proc *orphans;
	struct agent_opts opts;
	enum agent_stop stop;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->head && b->head + b->len + n > b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->head + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}

/* watch_set: make w's registration events (0: out of the set). */
static void watch_set(struct agent_server *srv, struct watch *w, uint32_t events)
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

static void watch_close(struct agent_server *srv, struct watch *w)
{
	watch_set(srv, w, 0);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* conn_send: queue msg (consumed) with body as one frame. */
static void conn_send(struct agent_conn *c, json_t *msg, const void *body, size_t len)
{
	struct proto_out out;
	int err = msg ? proto_frame_encode(&out, msg, body, len) : -ENOMEM;

	json_decref(msg);
	if (!err) {
		for (int i = 0; i < out.iovcnt && !err; i++)
			err = buf_append(&c->out, out.iov[i].iov_base, out.iov[i].iov_len);
		proto_out_free(&out);
	}
	if (err) {
		fprintf(stderr, "kvmbox-agent: cannot queue a frame: %s\n", strerror(-err));
		c->dead = true;
	}
}

/* conn_reply: a reply to id with the fields of obj (consumed; NULL: none). */
static void conn_reply(struct agent_conn *c, uint64_t id, json_t *obj)
{
	json_t *m = NULL;

	if (proto_msg_reply(&m, id) == 0 && obj && json_object_update(m, obj) != 0) {
		json_decref(m);
		m = NULL;
	}
	json_decref(obj);
	conn_send(c, m, NULL, 0);
}

static void conn_error(struct agent_conn *c, uint64_t id, int err, const char *why)
{
	json_t *m = NULL;

	if (!why || !why[0])
		why = strerror(-err);
	if (proto_msg_error(&m, id, proto_error_code(err), "%s", why) != 0)
		m = NULL;
	conn_send(c, m, NULL, 0);
}

/* proc_find: conn's live process started by request id, or NULL. */
static struct agent_proc *proc_find(struct agent_conn *c, uint64_t id)
{
	for (struct agent_proc *p = c->procs; p; p = p->next)
		if (p->id == id && !p->done)
			return p;
	return NULL;
}

static void proc_free(struct agent_server *srv, struct agent_proc *p)
{
	watch_close(srv, &p->in);
	watch_close(srv, &p->out);
	watch_close(srv, &p->err);
	buf_free(&p->inq);
	free(p);
}

/* proc_report_exit: send exec.exit and mark p done (its fds are closed). */
static void proc_report_exit(struct agent_proc *p)
{
	struct agent_server *srv = p->conn->srv;
	json_t *m = NULL;
	int err;

	watch_close(srv, &p->in);
	watch_close(srv, &p->out);
	watch_close(srv, &p->err);
	p->done = true;
	err = proto_msg_event(&m, p->id, "exec.exit");
	if (!err && WIFSIGNALED(p->status))
		err = proto_msg_set_i64(m, "signal", WTERMSIG(p->status))
		          ?: proto_msg_set_bool(m, "timed_out", p->timed_out);
	else if (!err)
		err = proto_msg_set_i64(m, "code", WEXITSTATUS(p->status));
	if (err) {
		json_decref(m);
		m = NULL;
	}
	conn_send(p->conn, m, NULL, 0);
}

/* proc_maybe_finish: report the exit once the process ended and its output did. */
static void proc_maybe_finish(struct agent_proc *p, uint64_t now)
{
	if (!p->reaped || p->done)
		return;
	if ((p->out.fd < 0 && p->err.fd < 0) || (now >= p->linger && p->conn->out.len < CONN_HIGH))
		proc_report_exit(p);
}

/* proc_read: one read of a process's output fd into an event. */
static void proc_read(struct agent_proc *p, struct watch *w)
{
	_Static_assert(READ_CHUNK <= PROTO_MAX_BODY, "an output chunk fits a body");
	uint8_t data[READ_CHUNK];
	json_t *m = NULL;
	ssize_t n = read(w->fd, data, sizeof(data));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF, or EIO from a pty master whose slave is closed everywhere. */
		watch_close(p->conn->srv, w);
		return;
	}
	if (p->reaped)
		p->linger = now_ms() + LINGER_MS;
	if (proto_msg_event(&m, p->id, w->kind == W_ERR ? "exec.stderr" : "exec.stdout") != 0)
		m = NULL;
	conn_send(p->conn, m, data, (size_t)n);
}

/* proc_write_stdin: write what is queued for the process's stdin. */
static void proc_write_stdin(struct agent_proc *p)
{
	while (p->in.fd >= 0 && p->inq.len) {
		ssize_t n = write(p->in.fd, p->inq.data + p->inq.head, p->inq.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* The reader is gone (EPIPE): what is queued cannot arrive. */
			buf_consume(&p->inq, p->inq.len);
			watch_close(p->conn->srv, &p->in);
			return;
		}
		buf_consume(&p->inq, (size_t)n);
	}
	if (!p->inq.len && p->in_eof && !p->pty)
		watch_close(p->conn->srv, &p->in);
}

/* proc_kill: SIGKILL the process group of a process that has not ended. */
static void proc_kill(struct agent_proc *p)
{
	if (!p->reaped)
		kill(-p->pid, SIGKILL);
}

/* conn_update: the epoll registrations that follow from c's queues. */
static void conn_update(struct agent_conn *c)
{
	struct agent_server *srv = c->srv;
	bool full = c->out.len >= CONN_HIGH, stdin_full = false;
	uint32_t ev = 0;

	for (struct agent_proc *p = c->procs; p; p = p->next) {
		watch_set(srv, &p->out, full ? 0 : EPOLLIN);
		watch_set(srv, &p->err, full ? 0 : EPOLLIN);
		watch_set(srv, &p->in, p->inq.len ? EPOLLOUT : 0);
		if (p->inq.len >= STDIN_HIGH)
			stdin_full = true;
	}
	if (!c->closing && !full && !stdin_full)
		ev |= EPOLLIN;
	if (c->out.len)
		ev |= EPOLLOUT;
	watch_set(srv, &c->w, ev);
}

/* conn_flush: write queued output until the socket would block. */
static void conn_flush(struct agent_conn *c)
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
		buf_consume(&c->out, (size_t)n);
	}
	if (c->closing && !c->out.len)
		c->dead = true;
}

/* Op handlers: 0 when they answered, else -errno for an error reply with why. */
typedef int op_fn(struct agent_conn *c, uint64_t id, const json_t *msg, const struct proto_frame *f,
                  struct proto_why *why);

static int op_ping(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	(void)msg, (void)f, (void)why;
	conn_reply(c, id, NULL);
	return 0;
}

static int op_stop(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	bool reboot = false;
	int err = proto_msg_get_bool(msg, "reboot", &reboot, PROTO_OPTIONAL, why);

	(void)f;
	if (err)
		return err;
	c->srv->stop = reboot ? AGENT_REBOOT : AGENT_POWEROFF;
	conn_reply(c, id, NULL);
	return 0;
}

/* exec_start: spawn req for request id on c and answer {"pid"}. */
static int exec_start(struct agent_conn *c, uint64_t id, const struct agent_exec_req *req,
                      struct proto_why *why)
{
	struct agent_child ch;
	struct agent_proc *p;
	int err;

	if (c->srv->opts.exec_filter) {
		err = c->srv->opts.exec_filter(req->argv, c->srv->opts.opaque);
		if (err) {
			proto_why_set(why, "exec of %s refused", req->argv[0]);
			return err;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = agent_exec_spawn(req, &ch, why);
	if (err) {
		free(p);
		return err;
	}
	*p = (struct agent_proc){
		.next = c->procs,
		.conn = c,
		.id = id,
		.pid = ch.pid,
		.pty = req->pty,
		.in = { .kind = W_IN, .fd = ch.in_fd, .owner = p },
		.out = { .kind = W_OUT, .fd = ch.out_fd, .owner = p },
		.err = { .kind = W_ERR, .fd = ch.err_fd, .owner = p },
	};
	if (req->timeout_ms)
		p->deadline = now_ms() + req->timeout_ms;
	c->procs = p;
	c->nprocs++;
	conn_reply(c, id, json_pack("{sI}", "pid", (json_int_t)ch.pid));
	return 0;
}

static int op_exec(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	struct agent_exec_req req;
	int err;

	(void)f;
	if (proc_find(c, id)) {
		proto_why_set(why, "exec %llu is still running", (unsigned long long)id);
		return -EINVAL;
	}
	if (c->nprocs >= MAX_PROCS) {
		proto_why_set(why, "too many processes (%u)", MAX_PROCS);
		return -E2BIG;
	}
	err = agent_exec_parse(msg, &req, why);
	if (err)
		return err;
	err = exec_start(c, id, &req, why);
	agent_exec_req_free(&req);
	return err;
}

/* exec_target: the running process named by the "exec_id" field of msg. */
static int exec_target(struct agent_conn *c, const json_t *msg, struct agent_proc **out,
                       struct proto_why *why)
{
	uint64_t xid;
	int err = proto_msg_get_u64(msg, "exec_id", &xid, PROTO_ID_MAX, 0, why);

	if (err)
		return err;
	*out = proc_find(c, xid);
	if (!*out || (*out)->reaped) {
		proto_why_set(why, "no running exec %llu", (unsigned long long)xid);
		return -ENOENT;
	}
	return 0;
}

static int op_stdin(struct agent_conn *c, uint64_t id, const json_t *msg,
                    const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	bool eof = false;
	int err = exec_target(c, msg, &p, why);

	if (!err)
		err = proto_msg_get_bool(msg, "eof", &eof, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (p->in.fd < 0 || p->in_eof) {
		proto_why_set(why, "exec %llu has no open stdin", (unsigned long long)p->id);
		return -EINVAL;
	}
	err = buf_append(&p->inq, f->body, f->body_len);
	if (!err && eof && p->pty)
		err = buf_append(&p->inq, "\x04", 1); /* VEOF: the line discipline's EOF */
	if (err)
		return err;
	p->in_eof = eof;
	proc_write_stdin(p);
	conn_reply(c, id, NULL);
	return 0;
}

static int op_signal(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	uint64_t sig;
	bool group = false;
	int err = exec_target(c, msg, &p, why);

	(void)f;
	if (!err)
		err = proto_msg_get_u64(msg, "signal", &sig, 64, 0, why);
	if (!err)
		err = proto_msg_get_bool(msg, "group", &group, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (sig < 1) {
		proto_why_set(why, "field \"signal\" must be 1 to 64");
		return -EINVAL;
	}
	if (kill(group ? -p->pid : p->pid, (int)sig) < 0) {
		proto_why_set(why, "kill: %s", strerror(errno));
		return -errno;
	}
	conn_reply(c, id, NULL);
	return 0;
}

static int op_resize(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	uint64_t rows, cols;
	int err = exec_target(c, msg, &p, why);

	(void)f;
	if (!err)
		err = proto_msg_get_u64(msg, "rows", &rows, 65535, 0, why);
	if (!err)
		err = proto_msg_get_u64(msg, "cols", &cols, 65535, 0, why);
	if (err)
		return err;
	if (!p->pty || !rows || !cols) {
		proto_why_set(why, p->pty ? "rows and cols must be 1 or more" : "exec has no pty");
		return -EINVAL;
	}
	err = agent_exec_resize(p->out.fd, (uint16_t)rows, (uint16_t)cols);
	if (err) {
		proto_why_set(why, "TIOCSWINSZ: %s", strerror(-err));
		return err;
	}
	conn_reply(c, id, NULL);
	return 0;
}

static const struct op {
	const char *name;
	bool body; /* whether a body is allowed */
	op_fn *fn;
} ops[] = {
	{ "ping", false, op_ping },          { "exec", false, op_exec },
	{ "exec.stdin", true, op_stdin },    { "exec.signal", false, op_signal },
	{ "exec.resize", false, op_resize }, { "stop", false, op_stop },
};

/* msg_id: the id of a message whose envelope failed, when it can be read. */
static uint64_t msg_id(const json_t *msg)
{
	json_t *id = json_object_get(msg, "id");

	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    (uint64_t)json_integer_value(id) <= PROTO_ID_MAX)
		return (uint64_t)json_integer_value(id);
	return 0;
}

/* conn_handle: one received frame (untrusted). */
static void conn_handle(struct agent_conn *c, const struct proto_frame *f)
{
	struct proto_why why = { "" };
	struct proto_env env;
	const struct op *op = NULL;
	int err;

	if (proto_msg_parse_env(f->msg, &env, &why) != 0) {
		conn_error(c, msg_id(f->msg), -EINVAL, why.text);
		return;
	}
	if (env.type != PROTO_REQUEST)
		return; /* the agent asks nothing, so replies and events are not for it */
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, env.name) == 0)
			op = &ops[i];
	if (!op) {
		proto_why_set(&why, "unknown op %s", env.name);
		err = -EOPNOTSUPP;
	} else if (f->body_len && !op->body) {
		proto_why_set(&why, "op %s takes no body", env.name);
		err = -EINVAL;
	} else {
		err = op->fn(c, env.id, f->msg, f, &why);
	}
	if (err)
		conn_error(c, env.id, err, why.text);
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
			conn_error(c, 0, err, proto_decoder_why(&c->dec));
			c->closing = true;
			break;
		}
		if (err == 0)
			return 0;
		conn_handle(c, &f);
		proto_frame_clear(&f);
	}
	return -EPIPE;
}

void agent_conn_drop_output(struct agent_conn *c)
{
	buf_consume(&c->out, c->out.len);
}

/* conn_readable: read what the peer sent; its end means the connection's end. */
static void conn_readable(struct agent_conn *c)
{
	uint8_t data[READ_CHUNK];
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
	c->w = (struct watch){ .kind = W_CONN, .fd = fd, .owner = c };
	proto_decoder_init(&c->dec);
	c->next = srv->conns;
	srv->conns = c;
	conn_update(c);
	if (out)
		*out = c;
	return 0;
}

/* conn_free: kill c's processes (orphans until reaped) and free c. */
static void conn_free(struct agent_server *srv, struct agent_conn *c)
{
	struct agent_proc *p, *next;

	for (p = c->procs; p; p = next) {
		next = p->next;
		if (p->reaped) {
			proc_free(srv, p);
			continue;
		}
		proc_kill(p);
		watch_close(srv, &p->in);
		watch_close(srv, &p->out);
		watch_close(srv, &p->err);
		p->conn = NULL;
		p->next = srv->orphans;
		srv->orphans = p;
	}
	watch_close(srv, &c->w);
	proto_decoder_destroy(&c->dec);
	buf_free(&c->out);
	free(c);
}

/* server_sweep: free dead connections and finished processes (between batches). */
static void server_sweep(struct agent_server *srv)
{
	for (struct agent_conn **cp = &srv->conns; *cp;) {
		struct agent_conn *c = *cp;

		if (c->dead) {
			*cp = c->next;
			conn_free(srv, c);
			continue;
		}
		for (struct agent_proc **pp = &c->procs; *pp;) {
			struct agent_proc *p = *pp;

			if (p->done) {
				*pp = p->next;
				c->nprocs--;
				proc_free(srv, p);
			} else {
				pp = &p->next;
			}
		}
		cp = &c->next;
	}
}

/* server_reaped: record the end of pid (any child: as PID 1, orphans too). */
static void server_reaped(struct agent_server *srv, pid_t pid, int status)
{
	for (struct agent_proc **pp = &srv->orphans; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			struct agent_proc *p = *pp;

			*pp = p->next;
			proc_free(srv, p);
			return;
		}
	}
	for (struct agent_conn *c = srv->conns; c; c = c->next) {
		for (struct agent_proc *p = c->procs; p; p = p->next) {
			if (p->pid == pid && !p->reaped) {
				p->reaped = true;
				p->status = status;
				p->linger = now_ms() + LINGER_MS;
				return;
			}
		}
	}
}

static void server_reap(struct agent_server *srv)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(srv->sig.fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		server_reaped(srv, pid, status);
}

static void server_accept(struct agent_server *srv)
{
	int fd = accept4(srv->listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd >= 0 && agent_server_add_conn(srv, fd, NULL) != 0)
		fprintf(stderr, "kvmbox-agent: cannot add a connection\n");
}

/* server_timers: timeouts and lingering output; returns the next wake-up in ms. */
static int server_timers(struct agent_server *srv)
{
	uint64_t now = now_ms(), next = now + 1000;

	for (struct agent_conn *c = srv->conns; c; c = c->next) {
		for (struct agent_proc *p = c->procs; p; p = p->next) {
			if (p->deadline && !p->reaped && now >= p->deadline) {
				p->timed_out = true;
				p->deadline = 0;
				proc_kill(p);
			}
			proc_maybe_finish(p, now);
			if (p->deadline && p->deadline < next)
				next = p->deadline;
			if (p->reaped && !p->done && p->linger < next)
				next = p->linger;
		}
	}
	return next > now ? (int)(next - now) : 0;
}

static void server_dispatch(struct agent_server *srv, struct watch *w, uint32_t events)
{
	struct agent_proc *p = w->owner;
	struct agent_conn *c = w->owner;

	if (w->fd < 0)
		return;
	switch (w->kind) {
	case W_SIGNAL:
		server_reap(srv);
		break;
	case W_LISTEN:
		server_accept(srv);
		break;
	case W_CONN:
		if (events & EPOLLOUT)
			conn_flush(c);
		if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			conn_readable(c);
		break;
	case W_IN:
		proc_write_stdin(p);
		break;
	case W_OUT:
	case W_ERR:
		if (p->conn->out.len < CONN_HIGH)
			proc_read(p, w);
		break;
	}
}

int agent_server_run(struct agent_server *srv)
{
	struct epoll_event ev[MAX_EVENTS];

	for (;;) {
		int timeout = server_timers(srv), n;

		for (struct agent_conn *c = srv->conns; c; c = c->next) {
			conn_flush(c);
			if (!c->dead)
				conn_update(c);
		}
		server_sweep(srv);
		if (srv->stop != AGENT_RUN)
			return 0;
		if (srv->listen.fd < 0 && !srv->conns && !srv->orphans)
			return 0;
		n = epoll_wait(srv->epfd, ev, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++)
			server_dispatch(srv, ev[i].data.ptr, ev[i].events);
		server_sweep(srv);
	}
}

enum agent_stop agent_server_stopped(const struct agent_server *srv)
{
	return srv->stop;
}

int agent_server_listen(struct agent_server *srv, int fd)
{
	if (srv->listen.fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	srv->listen = (struct watch){ .kind = W_LISTEN, .fd = fd, .owner = srv };
	watch_set(srv, &srv->listen, EPOLLIN);
	return srv->listen.events ? 0 : -EINVAL;
}

int agent_server_new(struct agent_server **out, const struct agent_opts *opts)
{
	struct agent_server *srv = calloc(1, sizeof(*srv));
	sigset_t mask;
	int err = 0;

	*out = NULL;
	if (!srv)
		return -ENOMEM;
	srv->sig = (struct watch){ .kind = W_SIGNAL, .fd = -1, .owner = srv };
	srv->listen = (struct watch){ .kind = W_LISTEN, .fd = -1, .owner = srv };
	if (opts)
		srv->opts = *opts;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		err = -errno;
	if (!err) {
		sigdelset(&mask, SIGPIPE); /* blocked, so EPIPE instead; never read */
		srv->sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
		if (srv->sig.fd < 0)
			err = -errno;
	}
	if (!err) {
		watch_set(srv, &srv->sig, EPOLLIN);
		if (!srv->sig.events)
			err = -EINVAL;
	}
	if (err) {
		agent_server_free(srv);
		return err;
	}
	*out = srv;
	return 0;
}

void agent_server_free(struct agent_server *srv)
{
	if (!srv)
		return;
	while (srv->conns) {
		struct agent_conn *c = srv->conns;

		srv->conns = c->next;
		conn_free(srv, c);
	}
	while (srv->orphans) {
		struct agent_proc *p = srv->orphans;

		srv->orphans = p->next;
		proc_kill(p);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
		proc_free(srv, p);
	}
	watch_close(srv, &srv->listen);
	watch_close(srv, &srv->sig);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}

/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/server_int.h: the agent server's structures and the functions
 * its files share; private to guest-agent/server*.c (users: server.h).
 *   server.c       the epoll loop, reaping, timers, the sweep, lifetime
 *   server_conn.c  byte queues, epoll registrations, frame I/O, back-pressure
 *   server_exec.c  running processes and the exec.* ops
 *   server_ops.c   the request table (envelope, dispatch, ping, stop)
 *
 * Ownership: the server owns its connections; a connection owns the
 * processes it started; a process whose connection went away is an orphan
 * of the server until it is reaped. Structures are freed only between
 * batches of epoll events (they are marked dead or done first), so an event
 * later in a batch never touches freed memory.
 */
#ifndef KVMBOX_AGENT_SERVER_INT_H
#define KVMBOX_AGENT_SERVER_INT_H

#include "guest-agent/server.h"
#include "proto/buf.h"
#include "proto/frame.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define AGENT_CONN_HIGH  (1u << 20)   /* queued output that pauses reading output */
#define AGENT_STDIN_HIGH (256u << 10) /* queued stdin that pauses reading the connection */
#define AGENT_READ_CHUNK (64u << 10)  /* bytes per read and per output event */
#define AGENT_LINGER_MS  200          /* how long output may trail the exit of a process */
#define AGENT_MAX_PROCS  256          /* running processes per connection */

enum agent_watch_kind {
	AGENT_W_SIGNAL,
	AGENT_W_LISTEN,
	AGENT_W_CONN,
	AGENT_W_IN,
	AGENT_W_OUT,
	AGENT_W_ERR,
};

/* One fd in the epoll set; epoll's data.ptr points here. */
struct agent_watch {
	enum agent_watch_kind kind;
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
	struct agent_watch in, out, err;
	struct proto_buf inq;
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
	struct agent_watch w;
	struct proto_decoder dec;
	struct proto_buf out;
	struct agent_proc *procs;
	unsigned int nprocs;
	bool closing; /* send what is queued, then close */
	bool dead;    /* closed after this batch */
};

struct agent_server {
	int epfd;
	struct agent_watch sig, listen;
	struct agent_conn *conns;
	struct agent_proc *orphans;
	struct agent_opts opts;
	enum agent_stop stop;
};

static inline uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* server_conn.c: epoll registrations. */
void agent_watch_set(struct agent_server *srv, struct agent_watch *w, uint32_t events);
void agent_watch_close(struct agent_server *srv, struct agent_watch *w);

/* server_conn.c: a connection's output, input and end. */
void agent_conn_send(struct agent_conn *c, json_t *msg, const void *body, size_t len);
void agent_conn_reply(struct agent_conn *c, uint64_t id, json_t *obj);
void agent_conn_error(struct agent_conn *c, uint64_t id, int err, const char *why);
void agent_conn_update(struct agent_conn *c);
void agent_conn_flush(struct agent_conn *c);
void agent_conn_readable(struct agent_conn *c);
void agent_conn_free(struct agent_server *srv, struct agent_conn *c);

/* server_ops.c: one received frame (untrusted). */
void agent_conn_handle(struct agent_conn *c, const struct proto_frame *f);

/* server_exec.c: a process's streams and end. */
void agent_proc_free(struct agent_server *srv, struct agent_proc *p);
void agent_proc_maybe_finish(struct agent_proc *p, uint64_t now);
void agent_proc_read(struct agent_proc *p, struct agent_watch *w);
void agent_proc_write_stdin(struct agent_proc *p);
void agent_proc_kill(struct agent_proc *p);

/* Op handlers: 0 when they answered, else -errno for an error reply with why. */
typedef int agent_op_fn(struct agent_conn *c, uint64_t id, const json_t *msg,
                        const struct proto_frame *f, struct proto_why *why);

/* server_exec.c: the exec ops. */
agent_op_fn agent_op_exec, agent_op_stdin, agent_op_signal, agent_op_resize;

#endif

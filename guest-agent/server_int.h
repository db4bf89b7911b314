/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/server_int.h: the agent server's structures and the functions
 * its files share; private to guest-agent/server*.c (users: server.h).
 *   server.c       the epoll loop, reaping, timers, the sweep, lifetime
 *   server_conn.c  byte queues, epoll registrations, frame I/O, back-pressure
 *   server_exec.c  running processes and the exec.* ops
 *   server_ops.c   the request table (envelope, dispatch, ping, stop)
 *   server_files.c the one-shot file ops (fs.stat, mkdir, rename, chmod,
 *                  chown, remove), path resolution and file errors
 *   server_xfer.c  transfers, the streamed ops on one file (fs.read,
 *                  fs.write, fs.data) and the pump of outgoing ones
 *   server_tree.c  the ops over a tree: fs.list, a recursive fs.remove,
 *                  fs.tar_out, fs.tar_in
 *   server_relay.c published ports: the streams of AGENT_RELAY_PORT relayed
 *                  to 127.0.0.1
 *
 * Ownership: the server owns its connections; a connection owns the
 * processes it started and the transfers it opened; a process whose
 * connection went away is an orphan of the server until it is reaped. A
 * transfer has no fd in the epoll set (its files are regular files, read
 * and written at once), so it is freed as soon as it ends. Structures are freed only between
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
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define AGENT_CONN_HIGH      (1u << 20)   /* queued output that pauses reading output */
#define AGENT_STDIN_HIGH     (256u << 10) /* queued stdin that pauses reading the connection */
#define AGENT_READ_CHUNK     (64u << 10)  /* bytes per read and per output event */
#define AGENT_LINGER_MS      200          /* how long output may trail the exit of a process */
#define AGENT_MAX_PROCS      256          /* running processes per connection */
#define AGENT_MAX_XFERS      64           /* open file transfers per connection */
#define AGENT_FILE_CHUNK     (256u << 10) /* file bytes per fs.data event */
#define AGENT_XFER_ROUNDS    16           /* chunks per transfer per pass of the loop */
#define AGENT_MAX_RELAYS     512          /* relayed connections of published ports */
#define AGENT_RELAY_CHUNK    (64u << 10)  /* bytes per read; also what a direction keeps */
#define AGENT_RELAY_LINE     32           /* "CONNECT <port>\n" with its newline, and a NUL */
#define AGENT_RELAY_SETUP_MS 60000        /* for the header and the connect */
#define AGENT_RELAY_ACCEPTS  16           /* streams accepted per event */

_Static_assert(AGENT_RELAY_CHUNK <= AGENT_FILE_CHUNK, "relays read into the file chunk");

enum agent_watch_kind {
	AGENT_W_SIGNAL,
	AGENT_W_LISTEN,
	AGENT_W_CONN,
	AGENT_W_IN,
	AGENT_W_OUT,
	AGENT_W_ERR,
	AGENT_W_RELAY_LISTEN,
	AGENT_W_RELAY, /* either socket of a relay */
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

enum agent_xfer_kind {
	AGENT_X_READ,
	AGENT_X_WRITE,
	AGENT_X_LIST,
	AGENT_X_REMOVE,
	AGENT_X_TAR_OUT,
	AGENT_X_TAR_IN,
};

struct proto_walk;
struct proto_mktar;
struct proto_untar;

/* One file transfer of a connection, named by its request's id. */
struct agent_xfer {
	struct agent_xfer *next;
	uint64_t id;
	enum agent_xfer_kind kind;
	char *path;     /* the request's, for errors */
	int fd;         /* read, write: the file; tar_in: the folder; -1 none */
	uint64_t off;   /* read: the next offset */
	uint64_t left;  /* read: bytes still to send */
	uint64_t count; /* bytes or entries done so far */
	uint64_t limit; /* list: entries at most */
	bool recursive, truncated, sync;
	struct proto_walk *walk;   /* list, remove */
	struct proto_mktar *mktar; /* tar_out */
	struct proto_untar *untar; /* tar_in */
	json_t *batch;             /* list: entries not sent yet */
	size_t batch_bytes;
};

/* One direction of a relay: the bytes its destination has not taken yet. */
struct agent_relay_dir {
	uint8_t *buf; /* malloc'd while len > 0 */
	size_t head, len;
	bool eof;  /* the source ended */
	bool shut; /* so the destination's write half was shut */
};

enum agent_relay_state {
	AGENT_RELAY_HEADER,     /* reading "CONNECT <port>\n" from the host */
	AGENT_RELAY_CONNECTING, /* connecting to 127.0.0.1:<port> */
	AGENT_RELAY_OPEN,       /* relaying */
};

/* One relayed connection of a published port (server_relay.c). */
struct agent_relay {
	struct agent_relay *next;
	struct agent_server *srv;
	struct agent_watch host;  /* the VMM's vsock stream */
	struct agent_watch guest; /* the TCP socket to the guest's port; fd -1 before */
	enum agent_relay_state state;
	char line[AGENT_RELAY_LINE];
	size_t line_len;
	struct agent_relay_dir up;   /* host -> guest */
	struct agent_relay_dir down; /* guest -> host */
	uint64_t deadline;           /* of HEADER and CONNECTING (monotonic ms) */
	bool dead;                   /* closed; freed by the sweep */
};

struct agent_conn {
	struct agent_conn *next;
	struct agent_server *srv;
	struct agent_watch w;
	struct proto_decoder dec;
	struct proto_buf out;
	struct agent_proc *procs;
	unsigned int nprocs;
	struct agent_xfer *xfers;
	unsigned int nxfers;
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
	struct agent_watch relay_listen; /* published ports' streams; fd -1: none */
	struct agent_relay *relays;
	unsigned int nrelays;
	int root_fd;    /* where file paths start: "/", or opts.fs_root */
	uint8_t *chunk; /* AGENT_FILE_CHUNK bytes for file data; NULL until used */
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

/* server_files.c: the one-shot file ops, and what server_xfer.c shares. */
agent_op_fn agent_op_fs_stat, agent_op_fs_mkdir, agent_op_fs_remove, agent_op_fs_rename,
    agent_op_fs_chmod, agent_op_fs_chown;
/*
 * agent_fs_error: answer id with a file error (docs/protocol.md, "Errors of
 * file operations"): code, errno name and path; what says which step
 * failed ("open"). err is -errno.
 */
void agent_fs_error(struct agent_conn *c, uint64_t id, int err, const char *what, const char *path);
/* agent_fs_error_why: the same with detail as the message's reason (NULL or "": strerror). */
void agent_fs_error_why(struct agent_conn *c, uint64_t id, int err, const char *what,
                        const char *path, const char *detail);
/*
 * agent_fs_parent: an O_PATH fd of the folder holding path's last
 * component, resolved beneath the server's root, and that component in
 * *last (malloc'd; "." when path names a folder itself: "/", "a/.").
 * 0 or -errno.
 */
int agent_fs_parent(struct agent_server *srv, const char *path, int *dir_fd, char **last);
/* agent_fs_open: path opened with flags (O_PATH | O_DIRECTORY, say) beneath the root. */
int agent_fs_open(struct agent_server *srv, const char *path, int flags);
/* agent_fs_entry: the fields of fs.stat for st (link: a symlink's target, or NULL) into obj. */
int agent_fs_entry(json_t *obj, const struct stat *st, const char *link, bool nlink);

/* server_xfer.c: the streamed file ops, and the transfers' pump. */
agent_op_fn agent_op_fs_read, agent_op_fs_write, agent_op_fs_data;
/*
 * agent_xfer_new: a transfer of kind for request id on c, holding path
 * (taken, also on failure); NULL with -errno in *err and why (too many,
 * or the id names an open one).
 */
struct agent_xfer *agent_xfer_new(struct agent_conn *c, uint64_t id, enum agent_xfer_kind kind,
                                  char *path, int *err, struct proto_why *why);
/* agent_xfer_end: unlink x from c and free it (its fds, walk, tar). */
void agent_xfer_end(struct agent_conn *c, struct agent_xfer *x);
/* agent_xfer_fail: a file error for x (rel: what inside x->path it concerns, or NULL), then end it.
 */
void agent_xfer_fail(struct agent_conn *c, struct agent_xfer *x, int err, const char *what,
                     const char *rel);
void agent_xfer_fail_why(struct agent_conn *c, struct agent_xfer *x, int err, const char *what,
                         const char *rel, const char *detail);
/* agent_xfer_chunk: the server's file-data buffer (AGENT_FILE_CHUNK bytes); NULL: ENOMEM. */
uint8_t *agent_xfer_chunk(struct agent_server *srv);

/* server_tree.c: the ops over a tree, and their steps for the pump. */
agent_op_fn agent_op_fs_list, agent_op_fs_tar_out, agent_op_fs_tar_in;
/* agent_xfer_remove_tree: fs.remove with recursive of a folder (path taken; dir_fd, last: not). */
int agent_xfer_remove_tree(struct agent_conn *c, uint64_t id, char *path, int dir_fd,
                           const char *last);
/* agent_tree_step: one step of a list, remove or tar_out (may end x). */
void agent_tree_step(struct agent_conn *c, struct agent_xfer *x);
/* agent_tar_in_feed: bytes of a tar_in's stream (eof: the last); may end x. */
void agent_tar_in_feed(struct agent_conn *c, struct agent_xfer *x, uint64_t id, const void *p,
                       size_t n, bool eof);
/* agent_xfer_pump: serve the connection's outgoing transfers while its queue has room. */
void agent_xfer_pump(struct agent_conn *c);
/* agent_xfer_busy: whether a transfer could send more right now (no wait in epoll). */
bool agent_xfer_busy(const struct agent_conn *c);
/* agent_xfer_free_all: end every transfer of c (the connection is going away). */
void agent_xfer_free_all(struct agent_conn *c);

/* server_relay.c: published ports. */
/* agent_relay_accept: new streams on the relay listener. */
void agent_relay_accept(struct agent_server *srv);
/* agent_relay_event: events on one of a relay's sockets. */
void agent_relay_event(struct agent_watch *w, uint32_t events);
/* agent_relay_timers: close relays past their setup deadline; the earlier of next and theirs. */
uint64_t agent_relay_timers(struct agent_server *srv, uint64_t now, uint64_t next);
/* agent_relay_sweep: free dead relays (all: every relay, closed first). */
void agent_relay_sweep(struct agent_server *srv, bool all);

#endif

// SPDX-License-Identifier: MIT
/*
 * guest-agent/server: the epoll loop and the server's lifetime (server.h):
 * dispatch of events, the signalfd that reaps children, timeouts and
 * lingering output, and the sweep that frees between batches. Connections:
 * server_conn.c; processes and the exec ops: server_exec.c; the request
 * table: server_ops.c. Ownership and freeing rules: server_int.h.
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENTS 64

/* server_sweep: free dead connections and finished processes (between batches). */
static void server_sweep(struct agent_server *srv)
{
	for (struct agent_conn **cp = &srv->conns; *cp;) {
		struct agent_conn *c = *cp;

		if (c->dead) {
			*cp = c->next;
			agent_conn_free(srv, c);
			continue;
		}
		for (struct agent_proc **pp = &c->procs; *pp;) {
			struct agent_proc *p = *pp;

			if (p->done) {
				*pp = p->next;
				c->nprocs--;
				agent_proc_free(srv, p);
			} else {
				pp = &p->next;
			}
		}
		cp = &c->next;
	}
	agent_relay_sweep(srv, false);
}

/* server_reaped: record the end of pid (any child: as PID 1, orphans too). */
static void server_reaped(struct agent_server *srv, pid_t pid, int status)
{
	for (struct agent_proc **pp = &srv->orphans; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			struct agent_proc *p = *pp;

			*pp = p->next;
			agent_proc_free(srv, p);
			return;
		}
	}
	for (struct agent_conn *c = srv->conns; c; c = c->next) {
		for (struct agent_proc *p = c->procs; p; p = p->next) {
			if (p->pid == pid && !p->reaped) {
				p->reaped = true;
				p->status = status;
				p->linger = agent_now_ms() + AGENT_LINGER_MS;
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
	uint64_t now = agent_now_ms(), next = now + 1000;

	for (struct agent_conn *c = srv->conns; c; c = c->next) {
		for (struct agent_proc *p = c->procs; p; p = p->next) {
			if (p->deadline && !p->reaped && now >= p->deadline) {
				p->timed_out = true;
				p->deadline = 0;
				agent_proc_kill(p);
			}
			agent_proc_maybe_finish(p, now);
			if (p->deadline && p->deadline < next)
				next = p->deadline;
			/* Past its linger time a process waits for its
			 * connection's queue to drain below AGENT_CONN_HIGH,
			 * which EPOLLOUT on the connection tells: waking for
			 * the linger then would spin with a zero timeout. */
			if (p->reaped && !p->done && p->linger < next &&
			    (p->linger > now || p->conn->out.len < AGENT_CONN_HIGH))
				next = p->linger;
		}
	}
	next = agent_relay_timers(srv, now, next);
	return next > now ? (int)(next - now) : 0;
}

static void server_dispatch(struct agent_server *srv, struct agent_watch *w, uint32_t events)
{
	struct agent_proc *p = w->owner;
	struct agent_conn *c = w->owner;

	if (w->fd < 0)
		return;
	switch (w->kind) {
	case AGENT_W_SIGNAL:
		server_reap(srv);
		break;
	case AGENT_W_LISTEN:
		server_accept(srv);
		break;
	case AGENT_W_CONN:
		if (events & EPOLLOUT)
			agent_conn_flush(c);
		if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			agent_conn_readable(c);
		break;
	case AGENT_W_IN:
		agent_proc_write_stdin(p);
		break;
	case AGENT_W_OUT:
	case AGENT_W_ERR:
		if (p->conn->out.len < AGENT_CONN_HIGH)
			agent_proc_read(p, w);
		break;
	case AGENT_W_RELAY_LISTEN:
		agent_relay_accept(srv);
		break;
	case AGENT_W_RELAY:
		agent_relay_event(w, events);
		break;
	}
}

int agent_server_run(struct agent_server *srv)
{
	struct epoll_event ev[MAX_EVENTS];

	for (;;) {
		int timeout = server_timers(srv), n;

		for (struct agent_conn *c = srv->conns; c; c = c->next) {
			/* File transfers fill the queue up to AGENT_CONN_HIGH;
			 * one that could send more must not wait in epoll. */
			agent_xfer_pump(c);
			agent_conn_flush(c);
			if (!c->dead)
				agent_conn_update(c);
			if (agent_xfer_busy(c))
				timeout = 0;
		}
		server_sweep(srv);
		if (srv->stop != AGENT_RUN)
			return 0;
		if (srv->listen.fd < 0 && srv->relay_listen.fd < 0 && !srv->conns &&
		    !srv->orphans && !srv->relays)
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
	srv->listen = (struct agent_watch){ .kind = AGENT_W_LISTEN, .fd = fd, .owner = srv };
	agent_watch_set(srv, &srv->listen, EPOLLIN);
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
	srv->sig = (struct agent_watch){ .kind = AGENT_W_SIGNAL, .fd = -1, .owner = srv };
	srv->listen = (struct agent_watch){ .kind = AGENT_W_LISTEN, .fd = -1, .owner = srv };
	srv->relay_listen =
	    (struct agent_watch){ .kind = AGENT_W_RELAY_LISTEN, .fd = -1, .owner = srv };
	if (opts)
		srv->opts = *opts;
	/* File paths start here (server_files.c): "/", or a test's root. */
	srv->root_fd =
	    open(srv->opts.fs_root ? srv->opts.fs_root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->root_fd < 0 || srv->epfd < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		err = -errno;
	if (!err) {
		sigdelset(&mask, SIGPIPE); /* blocked, so EPIPE instead; never read */
		srv->sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
		if (srv->sig.fd < 0)
			err = -errno;
	}
	if (!err) {
		agent_watch_set(srv, &srv->sig, EPOLLIN);
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
		agent_conn_free(srv, c);
	}
	while (srv->orphans) {
		struct agent_proc *p = srv->orphans;

		srv->orphans = p->next;
		agent_proc_kill(p);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
		agent_proc_free(srv, p);
	}
	agent_relay_sweep(srv, true);
	agent_watch_close(srv, &srv->listen);
	agent_watch_close(srv, &srv->relay_listen);
	agent_watch_close(srv, &srv->sig);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->root_fd >= 0)
		close(srv->root_fd);
	free(srv->chunk);
	free(srv);
}

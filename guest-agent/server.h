/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/server: the agent's connections, running processes, file
 * transfers and relays of published ports, in one epoll loop
 * (docs/protocol.md, ops ping, exec, exec.stdin, exec.signal, exec.resize,
 * stop, metrics, the fs.* file ops, and "Published ports").
 *
 * A connection is any connected stream fd (a unix socket in tests, vsock in
 * the guest). Everything read from it is untrusted. Each process belongs to
 * the connection that started it; when that connection goes away, its
 * processes' groups get SIGKILL and are reaped. SIGCHLD comes through a
 * signalfd, so the server reaps every child of the process it runs in (all
 * orphans, when that is PID 1).
 *
 * The server blocks SIGCHLD and SIGPIPE in the calling thread; children
 * start with an empty mask and default dispositions.
 */
#ifndef KVMBOX_AGENT_SERVER_H
#define KVMBOX_AGENT_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct agent_server;
struct agent_conn;

/* What a "stop" request asked for (agent_server_stopped). */
enum agent_stop {
	AGENT_RUN,
	AGENT_POWEROFF,
	AGENT_REBOOT,
};

struct agent_opts {
	/*
	 * exec_filter: when set, called with the argv of every exec request
	 * before anything starts; a negative errno refuses it (a test and
	 * fuzzing hook: the fuzzer never starts arbitrary programs).
	 */
	int (*exec_filter)(const char *const *argv, void *opaque);
	void *opaque;
	/*
	 * refuse_exec: when set, why no command can run here (the root file
	 * system could not be mounted): every exec is answered with an
	 * internal error that says so, rather than with what execve says
	 * about a program missing from the initramfs.
	 */
	const char *refuse_exec;
	/*
	 * fs_root: when set, a folder that file operations take as their
	 * root: every path is resolved inside it (openat2 RESOLVE_IN_ROOT,
	 * so ".." and absolute symlinks stay in it too), as if chrooted.
	 * For tests and fuzzing, which must not touch the host's files.
	 * NULL: "/", the agent's own root.
	 */
	const char *fs_root;
	/*
	 * proc_root, sys_root: where the "metrics" op reads the kernel's
	 * counters (guest-agent/metrics.h); tests give folders of fixed
	 * files. NULL: "/proc" and "/sys".
	 */
	const char *proc_root, *sys_root;
	/* relay_setup_ms: how long a published port's stream may take to
	 * name its port and be connected (0: AGENT_RELAY_SETUP_MS, 60 s);
	 * tests shorten it. */
	unsigned int relay_setup_ms;
};

/*
 * agent_server_new: a server with no connections. opts may be NULL.
 * Returns 0, or -errno (epoll, signalfd).
 */
__attribute__((warn_unused_result)) int agent_server_new(struct agent_server **out,
                                                         const struct agent_opts *opts);

/*
 * agent_server_free: SIGKILL every process left, reap them, close all fds.
 * Waits for the killed processes (bounded by how fast SIGKILL ends them).
 */
void agent_server_free(struct agent_server *srv);

/* agent_server_listen: accept connections on fd (listening, owned from now). */
__attribute__((warn_unused_result)) int agent_server_listen(struct agent_server *srv, int fd);

/*
 * agent_server_add_conn: serve the connected stream fd (owned from now on,
 * closed by the server). *out (may be NULL) is for agent_conn_feed.
 */
__attribute__((warn_unused_result)) int agent_server_add_conn(struct agent_server *srv, int fd,
                                                              struct agent_conn **out);

/*
 * agent_server_relay_listen: accept the streams of published ports on fd
 * (listening, owned from now on; docs/protocol.md, "Published ports"):
 * each names a guest port in its first line and is relayed to
 * 127.0.0.1:<port> (server_relay.c). 0 or -errno.
 */
__attribute__((warn_unused_result)) int agent_server_relay_listen(struct agent_server *srv, int fd);

/*
 * agent_server_add_relay: relay the connected stream fd (owned from now on),
 * its header not read yet. 0, or -EMFILE (AGENT_MAX_RELAYS: fd was closed)
 * or -ENOMEM.
 */
int agent_server_add_relay(struct agent_server *srv, int fd);

/*
 * agent_server_run: the event loop. Returns 0 when a "stop" request was
 * answered, or when there is no listener and the last connection, its
 * processes and the last relay are gone; -errno on a failure of the loop
 * itself.
 */
__attribute__((warn_unused_result)) int agent_server_run(struct agent_server *srv);

/* agent_server_stopped: what a "stop" request asked for, AGENT_RUN if none. */
enum agent_stop agent_server_stopped(const struct agent_server *srv);

/*
 * agent_conn_feed: handle bytes as if read from conn (untrusted; the fuzz
 * target's entry). Replies are queued on the connection. Returns 0, or
 * -EPIPE once the stream is unusable (a framing error was answered).
 */
__attribute__((warn_unused_result)) int agent_conn_feed(struct agent_conn *conn, const void *data,
                                                        size_t len);

/*
 * agent_conn_pump: one pass of the connection's outgoing file transfers
 * (the loop makes them; for fuzzing, where no loop runs).
 */
void agent_conn_pump(struct agent_conn *conn);

/* agent_conn_drop_output: forget the queued output (for fuzzing). */
void agent_conn_drop_output(struct agent_conn *conn);

#endif

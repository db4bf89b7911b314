/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/exec: the mechanics of starting one process for an "exec"
 * request (docs/protocol.md): reading the request, resolving the user,
 * creating the pipes or the pty, and fork + execve with the failure of
 * execve (or of any step before it) reported back through a CLOEXEC pipe.
 *
 * The bookkeeping of running processes (streams, exit, timeouts) is the
 * server's (guest-agent/server_exec.c); nothing here needs to be PID 1.
 */
#ifndef KVMBOX_AGENT_EXEC_H
#define KVMBOX_AGENT_EXEC_H

#include "proto/frame.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_EXEC_MAX_ARGS    4096
#define AGENT_EXEC_MAX_ENV     4096
#define AGENT_EXEC_MAX_TIMEOUT (7ull * 24 * 3600 * 1000) /* a week, in ms */
#define AGENT_EXEC_MAX_USER    4095                      /* bytes of a user name or "uid:gid" */

/* The default environment, which a request's env adds to. */
#define AGENT_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * A parsed exec request. Its strings are its own (byte strings, which may
 * have come as {"base64"}: docs/protocol.md, "Byte strings"); released by
 * agent_exec_req_free.
 */
struct agent_exec_req {
	char **argv;     /* one malloc'd block, NULL-terminated, at least one entry */
	char **env;      /* one malloc'd block, NULL-terminated, added to the default; NULL: none */
	bool env_clear;  /* env is the whole environment, without the default */
	char *cwd;       /* NULL: "/" */
	char *user;      /* NULL: the agent's own user */
	bool stdin_pipe; /* "stdin": "pipe" (else /dev/null) */
	bool pty;        /* "pty" given: one pty for stdin, stdout, stderr */
	uint16_t rows, cols;
	uint64_t timeout_ms; /* 0: none */
};

/* The parent's ends of a started process; -1 for an end that is not there. */
struct agent_child {
	pid_t pid;  /* also its process group and session */
	int in_fd;  /* stdin pipe, or a dup of the pty master */
	int out_fd; /* stdout pipe, or the pty master */
	int err_fd; /* stderr pipe; -1 with a pty */
};

/*
 * agent_exec_parse: read the op fields of an exec request (untrusted):
 * argv (required, 1..AGENT_EXEC_MAX_ARGS byte strings), env, cwd, user
 * (each a string or {"base64"}, without NUL), stdin
 * ("none" or "pipe"), pty {rows, cols} (1..65535 each, default 24x80),
 * timeout_ms (0..AGENT_EXEC_MAX_TIMEOUT). Release with agent_exec_req_free.
 * Returns 0, -EINVAL with the field named in why, -ENOMEM.
 */
__attribute__((warn_unused_result)) int
agent_exec_parse(const json_t *msg, struct agent_exec_req *req, struct proto_why *why);

/* agent_exec_req_free: release what agent_exec_parse allocated; safe twice. */
void agent_exec_req_free(struct agent_exec_req *req);

/*
 * agent_user_lookup: resolve user ("uid:gid" in decimal, or a name looked
 * up in the passwd file at passwd) to ids and a home directory (home gets
 * "/" for "uid:gid"). The file is parsed here, not through NSS, so that a
 * static agent needs no libraries. Returns 0, -ENOENT (no such user),
 * -EINVAL (malformed), or the error of opening the file.
 */
__attribute__((warn_unused_result)) int agent_user_lookup(const char *passwd, const char *user,
                                                          uid_t *uid, gid_t *gid, char *home,
                                                          size_t home_cap);

/*
 * agent_exec_spawn: start req's process in a new session (its pid is its
 * process group), with all signals at their defaults and none blocked. It
 * returns once execve has succeeded or failed: a failure of any step in the
 * child (user, cwd, execve) comes back as its -errno with why naming the
 * step, and the child is reaped. The parent's fds are CLOEXEC and
 * non-blocking. Returns 0 with *child filled, or -errno.
 */
__attribute__((warn_unused_result)) int agent_exec_spawn(const struct agent_exec_req *req,
                                                         struct agent_child *child,
                                                         struct proto_why *why);

/* agent_exec_resize: set the window size of the pty whose master is fd. */
__attribute__((warn_unused_result)) int agent_exec_resize(int fd, uint16_t rows, uint16_t cols);

/*
 * agent_kill_tree (kill_tree.c): SIGKILL root (a command agent_exec_spawn
 * started, not yet reaped), its process group, and every descendant that
 * left the group (setsid), found by parent links in /proc.
 */
void agent_kill_tree(pid_t root);

/* agent_errno_name: "ENOENT" and so on, or "E?" for one it does not know. */
const char *agent_errno_name(int err);

#endif

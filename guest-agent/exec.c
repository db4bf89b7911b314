// SPDX-License-Identifier: MIT
/*
 * guest-agent/exec: parse an exec request and start its process (exec.h).
 *
 * The child reports a failed step as a {step, errno} pair on a pipe whose
 * write end is CLOEXEC: a successful execve closes it and the parent reads
 * end-of-file, so the parent learns the outcome without guessing or timing.
 */
#define _GNU_SOURCE
#include "guest-agent/exec.h"
#include "proto/bytes.h"
#include "proto/env.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The steps a child may fail at, as reported on the error pipe. */
enum exec_step {
	STEP_SETUP,
	STEP_USER,
	STEP_CWD,
	STEP_EXEC,
};

static const char *const step_names[] = {
	[STEP_SETUP] = "setup",
	[STEP_USER] = "setuid",
	[STEP_CWD] = "chdir",
	[STEP_EXEC] = "execve",
};

struct exec_report {
	int step;
	int err;
};

const char *agent_errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}

/* exec_parse_stdio: the "stdin" and "pty" fields. */
static int exec_parse_stdio(const json_t *msg, struct agent_exec_req *req, struct proto_why *why)
{
	const char *in = "none";
	const json_t *pty = NULL;
	uint64_t rows = 24, cols = 80;
	int err;

	err = proto_msg_get_string(msg, "stdin", &in, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (strcmp(in, "pipe") == 0) {
		req->stdin_pipe = true;
	} else if (strcmp(in, "none") != 0) {
		proto_why_set(why, "field \"stdin\" must be \"none\" or \"pipe\"");
		return -EINVAL;
	}
	err = proto_msg_get_object(msg, "pty", &pty, PROTO_OPTIONAL, why);
	if (err || !pty)
		return err;
	err = proto_msg_get_u64(pty, "rows", &rows, 65535, PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_u64(pty, "cols", &cols, 65535, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (!rows || !cols) {
		proto_why_set(why, "field \"pty\" needs rows and cols of 1 or more");
		return -EINVAL;
	}
	req->pty = true;
	req->rows = (uint16_t)rows;
	req->cols = (uint16_t)cols;
	return 0;
}

int agent_exec_parse(const json_t *msg, struct agent_exec_req *req, struct proto_why *why)
{
	size_t argc = 0;
	int err;

	memset(req, 0, sizeof(*req));
	err = proto_msg_get_bytesv(msg, "argv", &req->argv, &argc, AGENT_EXEC_MAX_ARGS, 0, why);
	if (!err && argc == 0) {
		proto_why_set(why, "field \"argv\" is empty");
		err = -EINVAL;
	}
	if (!err)
		err = proto_msg_get_bytesv(msg, "env", &req->env, NULL, AGENT_EXEC_MAX_ENV,
		                           PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_bool(msg, "env_clear", &req->env_clear, PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_path(msg, "cwd", &req->cwd, PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_bytes(msg, "user", &req->user, AGENT_EXEC_MAX_USER,
		                          PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_u64(msg, "timeout_ms", &req->timeout_ms, AGENT_EXEC_MAX_TIMEOUT,
		                        PROTO_OPTIONAL, why);
	if (!err)
		err = exec_parse_stdio(msg, req, why);
	if (err)
		agent_exec_req_free(req);
	return err;
}

void agent_exec_req_free(struct agent_exec_req *req)
{
	free(req->argv);
	free(req->env);
	free(req->cwd);
	free(req->user);
	req->argv = req->env = NULL;
	req->cwd = req->user = NULL;
}

/* user_ids: parse "uid:gid" in decimal; 1 if user is not of that form. */
static int user_ids(const char *user, uid_t *uid, gid_t *gid)
{
	unsigned long u, g;
	char *end;

	if (user[0] < '0' || user[0] > '9')
		return 1;
	errno = 0;
	u = strtoul(user, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	g = strtoul(end + 1, &end, 10);
	if (errno || *end || u >= (uid_t)-1 || g >= (gid_t)-1)
		return -EINVAL;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/* passwd_match: if line is name's entry "name:x:uid:gid:gecos:home:shell", take it. */
static bool passwd_match(char *line, const char *name, uid_t *uid, gid_t *gid, char *home,
                         size_t home_cap)
{
	char *field[7];
	char *p = line;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	while (n < 7 && p) {
		field[n++] = p;
		p = strchr(p, ':');
		if (p)
			*p++ = '\0';
	}
	if (n < 6 || strcmp(field[0], name) != 0)
		return false;
	*uid = (uid_t)strtoul(field[2], NULL, 10);
	*gid = (gid_t)strtoul(field[3], NULL, 10);
	snprintf(home, home_cap, "%s", field[5][0] ? field[5] : "/");
	return true;
}

int agent_user_lookup(const char *passwd, const char *user, uid_t *uid, gid_t *gid, char *home,
                      size_t home_cap)
{
	char line[1024];
	int err = user_ids(user, uid, gid);
	FILE *f;

	if (err <= 0) {
		snprintf(home, home_cap, "/");
		return err;
	}
	if (!user[0] || strchr(user, ':'))
		return -EINVAL;
	f = fopen(passwd, "re");
	if (!f)
		return -errno;
	err = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (passwd_match(line, user, uid, gid, home, home_cap)) {
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* The resolved pieces a child needs, all prepared before fork. */
struct spawn_ctx {
	const struct agent_exec_req *req;
	const char *const *envp;
	bool set_user;
	uid_t uid;
	gid_t gid;
	int fds[3]; /* become 0, 1, 2 */
	int slave;  /* the pty slave, or -1 */
	int report; /* write end of the error pipe */
};

/* child_fail: report step and errno to the parent and end the child. */
static __attribute__((noreturn)) void child_fail(const struct spawn_ctx *c, int step)
{
	struct exec_report r = { .step = step, .err = errno };
	ssize_t n = write(c->report, &r, sizeof(r));

	(void)n;
	_exit(127);
}

/* child_path: the PATH of envp, or the default. */
static const char *child_path(const char *const *envp)
{
	for (size_t i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	return &AGENT_DEFAULT_PATH[5];
}

/* argv_vec: execve's view of a string vector (it does not write to it). */
static char *const *argv_vec(const char *const *v)
{
	union {
		const char *const *c;
		char *const *m;
	} u = { .c = v };

	return u.m;
}

/* child_execvpe: execve argv[0], searched in envp's PATH when it has no '/'. */
static void child_execvpe(const char *const *argv, const char *const *envp)
{
	const char *dir = child_path(envp);
	size_t len = strlen(argv[0]);
	bool denied = false;
	char path[4096];

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv_vec(argv), argv_vec(envp));
		return;
	}
	for (;;) {
		size_t dlen = strcspn(dir, ":");

		if (dlen + 1 + len < sizeof(path)) {
			memcpy(path, dir, dlen);
			path[dlen] = '/';
			memcpy(path + dlen + 1, argv[0], len + 1);
			execve(dlen ? path : argv[0], argv_vec(argv), argv_vec(envp));
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (!dir[dlen])
			break;
		dir += dlen + 1;
	}
	errno = denied ? EACCES : ENOENT;
}

/* child_run: the child after fork; never returns. */
static __attribute__((noreturn)) void child_run(const struct spawn_ctx *c)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) || setsid() < 0)
		child_fail(c, STEP_SETUP);
	/* Orphans of the command stay in its tree, for agent_kill_tree. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (c->slave >= 0 && ioctl(c->slave, TIOCSCTTY, 0) < 0)
		child_fail(c, STEP_SETUP);
	for (int i = 0; i < 3; i++) {
		if (c->fds[i] == i)
			fcntl(i, F_SETFD, 0);
		else if (dup2(c->fds[i], i) < 0)
			child_fail(c, STEP_SETUP);
	}
	if (c->set_user && (setgroups(1, &c->gid) || setgid(c->gid) || setuid(c->uid)))
		child_fail(c, STEP_USER);
	if (chdir(c->req->cwd ? c->req->cwd : "/"))
		child_fail(c, STEP_CWD);
	child_execvpe((const char *const *)c->req->argv, c->envp);
	child_fail(c, STEP_EXEC);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * spawn_stdio: the child's three fds in c->fds and the parent's ends in
 * child (pipes, or a pty whose master serves as in and out).
 */
static int spawn_stdio(const struct agent_exec_req *req, struct spawn_ctx *c,
                       struct agent_child *child)
{
	int p[2];

	if (req->pty) {
		struct winsize ws = { .ws_row = req->rows, .ws_col = req->cols };
		int master;

		if (openpty(&master, &c->slave, NULL, NULL, &ws) < 0)
			return -errno;
		child->out_fd = master;
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(c->slave, F_SETFD, FD_CLOEXEC);
		child->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (child->in_fd < 0)
			return -errno;
		c->fds[0] = c->fds[1] = c->fds[2] = c->slave;
		return 0;
	}
	if (req->stdin_pipe) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		c->fds[0] = p[0];
		child->in_fd = p[1];
	} else {
		c->fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (c->fds[0] < 0)
			return -errno;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	c->fds[1] = p[1];
	child->out_fd = p[0];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	c->fds[2] = p[1];
	child->err_fd = p[0];
	return 0;
}

/*
 * spawn_env: the default environment (PATH, HOME from the user, TERM) with
 * the request's env added, a default whose name it sets left out, as
 * `docker run -e` adds to the image's (docs/protocol.md, exec); with
 * env_clear, the request's env alone. malloc'd (the strings are borrowed),
 * or NULL when out of memory.
 */
static const char **spawn_env(const struct agent_exec_req *req, const char *home, char *home_var,
                              size_t cap)
{
	const char *defaults[3] = { AGENT_DEFAULT_PATH, home_var,
		                    req->pty ? "TERM=xterm" : "TERM=dumb" };
	size_t n = 0, k = 0;
	const char **out;

	snprintf(home_var, cap, "HOME=%s", home);
	while (req->env && req->env[n])
		n++;
	out = calloc(n + 4, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; !req->env_clear && i < 3; i++)
		if (!proto_env_sets((const char *const *)req->env, SIZE_MAX, defaults[i]))
			out[k++] = defaults[i];
	for (size_t i = 0; i < n; i++)
		out[k++] = req->env[i];
	return out;
}

/* spawn_wait_report: read the child's outcome; reap it on failure. */
static int spawn_wait_report(struct spawn_ctx *c, pid_t pid, struct proto_why *why)
{
	struct exec_report r;
	ssize_t n;

	do
		n = read(c->report, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(r) || r.step < 0 || r.step > STEP_EXEC || r.err <= 0) {
		proto_why_set(why, "the child failed before execve");
		return -EIO;
	}
	proto_why_set(why, "%s %s: %s (%s)", step_names[r.step],
	              r.step == STEP_CWD ? (c->req->cwd ? c->req->cwd : "/") : c->req->argv[0],
	              agent_errno_name(r.err), strerror(r.err));
	return -r.err;
}

int agent_exec_spawn(const struct agent_exec_req *req, struct agent_child *child,
                     struct proto_why *why)
{
	struct spawn_ctx c = { .req = req, .fds = { -1, -1, -1 }, .slave = -1, .report = -1 };
	char home[512] = "/", home_var[600];
	const char **envp;
	int rep[2] = { -1, -1 }, err;
	pid_t pid = -1;

	*child = (struct agent_child){ .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	if (req->user) {
		err =
		    agent_user_lookup("/etc/passwd", req->user, &c.uid, &c.gid, home, sizeof(home));
		if (err) {
			proto_why_set(why, "user %s: %s", req->user,
			              err == -ENOENT ? "no such user" : strerror(-err));
			return err == -ENOENT ? -ENOENT : -EINVAL;
		}
		c.set_user = true;
	}
	c.envp = envp = spawn_env(req, home, home_var, sizeof(home_var));
	err = envp ? spawn_stdio(req, &c, child) : -ENOMEM;
	if (!err && pipe2(rep, O_CLOEXEC) < 0)
		err = -errno;
	c.report = rep[1];
	if (!err) {
		pid = fork();
		if (pid == 0)
			child_run(&c);
		if (pid < 0)
			err = -errno;
	}
	close_fd(&rep[1]);
	free(envp); /* the child has its copy, or there is no child */
	if (c.slave < 0)
		for (int i = 0; i < 3; i++)
			close_fd(&c.fds[i]);
	close_fd(&c.slave);
	if (!err) {
		c.report = rep[0];
		err = spawn_wait_report(&c, pid, why);
	} else {
		proto_why_set(why, "cannot start %s: %s", req->argv[0], strerror(-err));
	}
	close_fd(&rep[0]);
	if (err) {
		close_fd(&child->in_fd);
		close_fd(&child->out_fd);
		close_fd(&child->err_fd);
		return err;
	}
	child->pid = pid;
	if (child->in_fd >= 0)
		fcntl(child->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(child->out_fd, F_SETFL, O_NONBLOCK);
	if (child->err_fd >= 0)
		fcntl(child->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

int agent_exec_resize(int fd, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

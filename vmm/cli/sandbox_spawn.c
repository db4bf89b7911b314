// SPDX-License-Identifier: MIT
/*
 * sandbox_spawn: a named sandbox's VMM started detached (cli.h), and the
 * waits on it: ready, gone.
 *
 * The VMM is `kvmbox run` itself, exec'd in a daemon: the parent forks a
 * child that calls setsid and forks the daemon, so that it belongs to no
 * terminal and no session of ours and is never our child to reap. The
 * daemon takes the sandbox's lock, writes its pid, and execs; a pipe
 * (close-on-exec) carries a failure before the exec back as a line, and
 * its end of file says the exec happened.
 */
#define _GNU_SOURCE
#include "proto/msg.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* sbx_daemon_fail: the reason on the pipe, then out. */
__attribute__((noreturn)) static void sbx_daemon_fail(int pipe_fd, const char *what, int err)
{
	dprintf(pipe_fd, "%s: %s", what, strerror(-err));
	_exit(1);
}

/* sbx_daemon: the grandchild: lock, pid file, stdio, folder, exec. */
__attribute__((noreturn)) static void sbx_daemon(const char *dir, const struct sbx_config *c,
                                                 int pipe_fd)
{
	char path[PATH_MAX], sock[PATH_MAX], console[PATH_MAX];
	char *argv[SBX_MAX_ARGS + 8];
	size_t n = 0;
	sigset_t none;
	int fd = sbx_lock_take(dir);

	if (fd == -EAGAIN)
		sbx_daemon_fail(pipe_fd, "it is running already", fd);
	if (fd < 0)
		sbx_daemon_fail(pipe_fd, "its lock", fd);
	sbx_join(path, dir, SBX_PID);
	FILE *f = fopen(path, "we");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
		sbx_daemon_fail(pipe_fd, path, -errno);
	sbx_join(path, dir, SBX_VMM_LOG);
	int in = open("/dev/null", O_RDONLY), out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		sbx_daemon_fail(pipe_fd, "stdio", -errno);
	close(in);
	close(out);
	/* Nothing else of ours goes to the VMM: a pipe of the shell that ran
	 * create, held open by a daemon, would keep its reader waiting. */
	if (fd > 3)
		close_range(3, (unsigned int)fd - 1, CLOSE_RANGE_CLOEXEC);
	close_range((unsigned int)fd + 1, ~0u, CLOSE_RANGE_CLOEXEC);
	/* run's relative paths are where create ran (docs/sandboxes.md). */
	if (chdir(c->cwd) < 0)
		sbx_daemon_fail(pipe_fd, c->cwd, -errno);
	for (size_t i = 0; c->env && c->env[i]; i++)
		putenv(c->env[i]);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sbx_join(sock, dir, SBX_SOCK);
	sbx_join(console, dir, SBX_CONSOLE);
	argv[n++] = "kvmbox";
	argv[n++] = "run";
	argv[n++] = "--control";
	argv[n++] = sock;
	argv[n++] = "--console";
	argv[n++] = console;
	if (c->image)
		argv[n++] = "--no-command";
	for (size_t i = 0; c->argv[i] && n < SBX_MAX_ARGS + 6; i++)
		argv[n++] = c->argv[i];
	argv[n] = NULL;
	execv("/proc/self/exe", argv);
	sbx_daemon_fail(pipe_fd, "exec /proc/self/exe", -errno);
}

int sbx_spawn(const char *name, const char *dir, const struct sbx_config *c)
{
	char why[512];
	int p[2], status;
	ssize_t got = 0, r;
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	(void)fflush(NULL);
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (child == 0) {
		close(p[0]);
		if (setsid() < 0)
			sbx_daemon_fail(p[1], "setsid", -errno);
		child = fork();
		if (child < 0)
			sbx_daemon_fail(p[1], "fork", -errno);
		if (child == 0)
			sbx_daemon(dir, c, p[1]);
		_exit(0);
	}
	close(p[1]);
	while ((r = read(p[0], why + got, sizeof(why) - 1 - (size_t)got)) > 0 ||
	       (r < 0 && errno == EINTR))
		got += r > 0 ? r : 0;
	close(p[0]);
	(void)waitpid(child, &status, 0);
	if (got > 0) {
		why[got] = '\0';
		fprintf(stderr, "kvmbox: %s: %s\n", name, why);
		return -EIO;
	}
	return 0;
}

int sbx_status(const char *dir, int wait_ms, json_t **reply)
{
	struct proto_client client = { .fd = -1 };
	char sock[PATH_MAX];
	json_t *req = NULL, *answer = NULL;
	int err;

	*reply = NULL;
	sbx_join(sock, dir, SBX_SOCK);
	err = proto_client_open(&client, sock);
	if (err)
		return err;
	client.wait_ms = wait_ms;
	err = proto_msg_request(&req, 1, "status");
	if (!err)
		err = proto_client_call(&client, req, NULL, 0, &answer, NULL);
	proto_client_close(&client);
	if (answer && err) {
		json_decref(answer);
		return -EPROTO; /* an error answer: not a status */
	}
	if (err)
		return err;
	*reply = answer;
	return 0;
}

/* sbx_now_ms: a monotonic clock for the waits. */
static int64_t sbx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sbx_wait_ready(const char *dir, unsigned int wait_s)
{
	int64_t end = sbx_now_ms() + (int64_t)wait_s * 1000;
	pid_t pid;

	for (;;) {
		json_t *reply;

		if (sbx_holder(dir, &pid) <= 0)
			return -ESRCH;
		/* The VMM answers status itself, at once; ready_ms is there
		 * once the agent marked ready, so an exec can start at once. */
		if (sbx_status(dir, 5000, &reply) == 0) {
			bool ready = json_object_get(reply, "ready_ms") != NULL;

			json_decref(reply);
			if (ready)
				return 0;
		}
		if (sbx_now_ms() >= end)
			return -ETIMEDOUT;
		usleep(200 * 1000);
	}
}

int sbx_wait_exit(const char *dir, unsigned int wait_s)
{
	int64_t end = sbx_now_ms() + (int64_t)wait_s * 1000;
	pid_t pid;

	while (sbx_holder(dir, &pid) > 0) {
		if (sbx_now_ms() >= end)
			return -ETIMEDOUT;
		usleep(100 * 1000);
	}
	return 0;
}

void sbx_tail(const char *dir, const char *file, unsigned int n, const char *prefix, FILE *out)
{
	char path[PATH_MAX], *line = NULL;
	unsigned long total = 0, i = 0;
	size_t cap = 0;
	FILE *f;

	if (sbx_join(path, dir, file) || !(f = fopen(path, "re")))
		return;
	/* Two passes: count, then print the last n; a log is small. */
	while (getline(&line, &cap, f) > 0)
		total++;
	rewind(f);
	while (getline(&line, &cap, f) > 0)
		if (i++ + n >= total) {
			line[strcspn(line, "\r\n")] = '\0';
			fprintf(out, "%s%s\n", prefix, line);
		}
	free(line);
	(void)fclose(f);
}

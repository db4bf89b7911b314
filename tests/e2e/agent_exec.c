// SPDX-License-Identifier: MIT
/*
 * agent_exec: a minimal host client for the e2e tests, on proto/client.h.
 * Connects to the VMM's vsock unix socket, runs one command in the guest
 * through the agent, copies its stdout and stderr to ours, and exits with
 * its exit code (128 + N for a signal). With -s it sends "stop" afterwards.
 *
 * Usage: agent_exec [-i] [-p] [-s] [-t SECONDS] [-T TIMEOUT_MS] [-n N]
 *                   [-W ROWSxCOLS] [-e K=V]... [-w DIR] [-u USER]
 *                   UDS_PATH PORT -- ARGV...
 *   -t  retry the connection until the agent listens, at most SECONDS
 *       (default 120)
 *   -i  forward our stdin to the command's
 *   -p  run the command on a pty of 24x80 (its output all on our stdout)
 *   -W  with -p: once the command started, resize its pty to ROWSxCOLS
 *       (before any input is sent), as a SIGWINCH of a terminal would
 *   -e  the command's environment, one K=V each (replaces the default)
 *   -w  the command's working directory
 *   -u  the user to run it as ("uid:gid" or a name)
 *   -T  ask the agent to kill the command after TIMEOUT_MS
 *   -n  run N copies at once, each on its own connection (output of all on
 *       ours); the exit status is the first copy's that differs from 0, or 0
 * PORT 0: UDS_PATH speaks frames directly (kvmbox-agent --listen, the VMM's
 * control socket), with no CONNECT handshake.
 * Exit 125 on a connection or protocol failure.
 */
#define _GNU_SOURCE /* pipe2 */

#include "proto/client.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_FAIL    125
#define AGENT_MAX_ENV 64

struct agent_args {
	const char *path;
	unsigned int port;
	double limit;
	struct proto_exec_opts opts;
	char **argv;
};

/* agent_run_one: connect (retrying), run the command; its status. */
static int agent_run_one(const struct agent_args *a, bool stop)
{
	static struct proto_client c;
	struct proto_why why = { "" };
	time_t start = time(NULL);
	int status = AGENT_FAIL;

	while ((a->port ? proto_client_connect(&c, a->path, a->port)
	                : proto_client_open(&c, a->path)) < 0) {
		if (difftime(time(NULL), start) > a->limit) {
			fprintf(stderr, "agent_exec: no agent at %s port %u\n", a->path, a->port);
			return AGENT_FAIL;
		}
		usleep(200 * 1000);
	}
	if (proto_client_exec(&c, a->argv, &a->opts, STDOUT_FILENO, STDERR_FILENO, &status, &why)) {
		fprintf(stderr, "agent_exec: %s\n", why.text);
		status = AGENT_FAIL;
	}
	if (stop)
		proto_client_stop(&c);
	proto_client_close(&c);
	return status;
}

/*
 * agent_fake_resize: a "terminal" of rows x cols (a pty master: its
 * TIOCGWINSZ gives the size) as opts->tty_fd, and a pipe that already
 * holds a byte as opts->resize_fd, so that the library sends exec.resize
 * as soon as the command started. 0 or -1.
 */
static int agent_fake_resize(struct proto_exec_opts *opts, const char *size)
{
	struct winsize ws = { 0 };
	unsigned int rows, cols;
	int p[2];

	if (sscanf(size, "%ux%u", &rows, &cols) != 2 || !rows || !cols || rows > 65535 ||
	    cols > 65535)
		return -1;
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	opts->tty_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (opts->tty_fd < 0 || ioctl(opts->tty_fd, TIOCSWINSZ, &ws) < 0)
		return -1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 || write(p[1], "w", 1) != 1)
		return -1;
	opts->resize_fd = p[0];
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_args a = { .limit = 120, .opts = PROTO_EXEC_OPTS_INIT };
	static const char *env[AGENT_MAX_ENV + 1];
	const char *resize = NULL;
	bool stop = false;
	int opt, copies = 1, status = 0, ws, nenv = 0;

	while ((opt = getopt(argc, argv, "+ipst:T:n:W:e:w:u:")) != -1) {
		if (opt == 'i')
			a.opts.stdin_fd = STDIN_FILENO;
		else if (opt == 'p')
			a.opts.pty = true;
		else if (opt == 's')
			stop = true;
		else if (opt == 't')
			a.limit = atof(optarg);
		else if (opt == 'T')
			a.opts.timeout_ms = strtoull(optarg, NULL, 10);
		else if (opt == 'n')
			copies = atoi(optarg);
		else if (opt == 'W')
			resize = optarg;
		else if (opt == 'e' && nenv < AGENT_MAX_ENV)
			env[nenv++] = optarg;
		else if (opt == 'w')
			a.opts.cwd = optarg;
		else if (opt == 'u')
			a.opts.user = optarg;
		else
			return 2;
	}
	if (argc - optind < 4 || strcmp(argv[optind + 2], "--") != 0 || copies < 1) {
		fprintf(stderr,
		        "usage: agent_exec [-i] [-p] [-s] [-t SECONDS] [-T TIMEOUT_MS] [-n N] "
		        "[-W ROWSxCOLS] [-e K=V]... [-w DIR] [-u USER] "
		        "UDS_PATH PORT -- ARGV...\n");
		return 2;
	}
	if (nenv)
		a.opts.env = env;
	if (a.opts.pty) {
		a.opts.rows = 24;
		a.opts.cols = 80;
	}
	if (resize && agent_fake_resize(&a.opts, resize) < 0) {
		fprintf(stderr, "agent_exec: -W %s: want ROWSxCOLS (or no pty here)\n", resize);
		return 2;
	}
	a.path = argv[optind];
	a.port = (unsigned int)atoi(argv[optind + 1]);
	a.argv = argv + optind + 3;
	if (copies == 1)
		return agent_run_one(&a, stop);
	for (int i = 0; i < copies; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(agent_run_one(&a, false));
		if (pid < 0)
			return AGENT_FAIL;
	}
	while (wait(&ws) > 0) {
		int s = WIFEXITED(ws) ? WEXITSTATUS(ws) : AGENT_FAIL;

		if (!status)
			status = s;
	}
	return status;
}

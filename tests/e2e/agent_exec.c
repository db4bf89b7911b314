// SPDX-License-Identifier: MIT
/*
 * agent_exec: a minimal host client for the e2e tests, on proto/client.h.
 * Connects to the VMM's vsock unix socket, runs one command in the guest
 * through the agent, copies its stdout and stderr to ours, and exits with
 * its exit code (128 + N for a signal). With -s it sends "stop" afterwards.
 *
 * Usage: agent_exec [-i] [-s] [-t SECONDS] [-T TIMEOUT_MS] [-n N] UDS_PATH PORT -- ARGV...
 *   -t  retry the connection until the agent listens, at most SECONDS
 *       (default 120)
 *   -i  forward our stdin to the command's
 *   -T  ask the agent to kill the command after TIMEOUT_MS
 *   -n  run N copies at once, each on its own connection (output of all on
 *       ours); the exit status is the first copy's that differs from 0, or 0
 * Exit 125 on a connection or protocol failure.
 */
#include "proto/client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_FAIL 125

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

	while (proto_client_connect(&c, a->path, a->port) < 0) {
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

int main(int argc, char **argv)
{
	struct agent_args a = { .limit = 120, .opts = { .stdin_fd = -1 } };
	bool stop = false;
	int opt, copies = 1, status = 0, ws;

	while ((opt = getopt(argc, argv, "+ist:T:n:")) != -1) {
		if (opt == 'i')
			a.opts.stdin_fd = STDIN_FILENO;
		else if (opt == 's')
			stop = true;
		else if (opt == 't')
			a.limit = atof(optarg);
		else if (opt == 'T')
			a.opts.timeout_ms = strtoull(optarg, NULL, 10);
		else if (opt == 'n')
			copies = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind < 4 || strcmp(argv[optind + 2], "--") != 0 || copies < 1) {
		fprintf(stderr, "usage: agent_exec [-i] [-s] [-t SECONDS] [-T TIMEOUT_MS] [-n N] "
		                "UDS_PATH PORT -- ARGV...\n");
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

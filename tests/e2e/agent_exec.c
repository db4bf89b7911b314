// SPDX-License-Identifier: MIT
/*
 * agent_exec: a minimal host client for the e2e tests, on proto/client.h.
 * Connects to the VMM's vsock unix socket, runs one command in the guest
 * through the agent, copies its stdout and stderr to ours, and exits with
 * its exit code (128 + N for a signal). With -s it sends "stop" afterwards.
 *
 * Usage: agent_exec [-s] [-t SECONDS] UDS_PATH PORT -- ARGV...
 * Retries the connection until the agent listens, for at most SECONDS
 * (default 120). Exit 125 on a connection or protocol failure.
 */
#include "proto/client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AGENT_FAIL 125

int main(int argc, char **argv)
{
	static struct proto_client c;
	struct proto_why why = { "" };
	double limit = 120;
	bool stop = false;
	time_t start = time(NULL);
	int opt, status = AGENT_FAIL;

	while ((opt = getopt(argc, argv, "+st:")) != -1) {
		if (opt == 's')
			stop = true;
		else if (opt == 't')
			limit = atof(optarg);
		else
			return 2;
	}
	if (argc - optind < 4 || strcmp(argv[optind + 2], "--") != 0) {
		fprintf(stderr, "usage: agent_exec [-s] [-t SECONDS] UDS_PATH PORT -- ARGV...\n");
		return 2;
	}
	while (proto_client_connect(&c, argv[optind], (unsigned int)atoi(argv[optind + 1])) < 0) {
		if (difftime(time(NULL), start) > limit) {
			fprintf(stderr, "agent_exec: no agent at %s port %s\n", argv[optind],
			        argv[optind + 1]);
			return AGENT_FAIL;
		}
		usleep(200 * 1000);
	}
	if (proto_client_exec(&c, argv + optind + 3, STDOUT_FILENO, STDERR_FILENO, &status, &why)) {
		fprintf(stderr, "agent_exec: %s\n", why.text);
		status = AGENT_FAIL;
	}
	if (stop)
		proto_client_stop(&c);
	proto_client_close(&c);
	return status;
}

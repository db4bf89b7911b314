// SPDX-License-Identifier: MIT
/*
 * execbench: exec round trips through the C client library
 * (proto/kvmbox_client.h), for tools/bench-sandbox.
 *
 * Usage: execbench [--first SECONDS] SOCKET N
 *
 * Connects once to the control socket SOCKET and runs `true` in the
 * guest N times, one after the other, each a full exec (request, start
 * reply, exit event). Prints one JSON line: {"execs": N, "ms": T,
 * "exec_per_s": R}. With --first, it is the first exec of a sandbox just
 * created: a connection or an exec that fails is tried again every 20 ms
 * for up to SECONDS, and the line says {"first_exec_ms": T, "tries": K}
 * for the first success instead (N is then ignored).
 */
#define _GNU_SOURCE
#include "proto/kvmbox_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* run_true: one exec of `true` on c; 0 when it ran and exited 0, else -errno. */
static int run_true(struct proto_client *c, struct proto_why *why)
{
	char *argv[] = { "true", NULL };
	int status = -1, err;

	/* true writes nothing; where output came, it would go to stderr. */
	err = proto_client_exec(c, argv, NULL, STDERR_FILENO, STDERR_FILENO, &status, why);

	if (!err && status != 0) {
		proto_why_set(why, "true exited %d", status);
		err = -EIO;
	}
	return err;
}

/* first: the first exec that succeeds within secs; prints its time. */
static int first(const char *sock, unsigned long secs)
{
	double t0 = now_ms(), end = t0 + (double)secs * 1e3;
	struct proto_why why = { "" };
	unsigned long tries = 0;
	int err = -ETIMEDOUT;

	while (now_ms() < end) {
		struct proto_client c = { .fd = -1 };

		tries++;
		err = proto_client_open(&c, sock);
		if (!err) {
			c.wait_ms = 30000;
			err = run_true(&c, &why);
		}
		proto_client_close(&c);
		if (!err) {
			printf("{\"first_exec_ms\":%.3f,\"tries\":%lu}\n", now_ms() - t0, tries);
			return 0;
		}
		usleep(20 * 1000);
	}
	fprintf(stderr, "execbench: %s: no exec within %lu s: %s\n", sock, secs,
	        why.text[0] ? why.text : strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	struct proto_client c = { .fd = -1 };
	struct proto_why why = { "" };
	unsigned long n, secs = 0;
	double t0, ms;
	int err;

	if (argc == 5 && strcmp(argv[1], "--first") == 0) {
		secs = strtoul(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc != 3 || (n = strtoul(argv[2], NULL, 10)) == 0) {
		fprintf(stderr, "usage: execbench [--first SECONDS] SOCKET N\n");
		return 2;
	}
	if (secs)
		return first(argv[1], secs);
	err = proto_client_open(&c, argv[1]);
	if (err) {
		fprintf(stderr, "execbench: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	c.wait_ms = 30000;
	t0 = now_ms();
	for (unsigned long i = 0; i < n; i++) {
		err = run_true(&c, &why);
		if (err) {
			fprintf(stderr, "execbench: exec %lu: %s\n", i + 1,
			        why.text[0] ? why.text : strerror(-err));
			proto_client_close(&c);
			return 1;
		}
	}
	ms = now_ms() - t0;
	proto_client_close(&c);
	printf("{\"execs\":%lu,\"ms\":%.3f,\"exec_per_s\":%.3f}\n", n, ms, (double)n * 1e3 / ms);
	return 0;
}

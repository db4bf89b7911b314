// SPDX-License-Identifier: MIT
/*
 * metrics_cmd: kvmbox metrics (cli.h): a running microVM's use, sampled
 * by its VMM every interval (docs/protocol.md, "metrics"), one JSON
 * object a line on stdout, until --count samples, an interrupt, or the
 * VM's end. Each line holds what `kvmbox status` prints (the VM's, the
 * VMM's and the guest's fields), without the envelope.
 */
#define _GNU_SOURCE
#include "proto/client.h"
#include "proto/msg.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MIN_MS 100     /* the VMM's shortest interval (docs/protocol.md) */
#define METRICS_MAX_MS 3600000 /* and its longest */

static void metrics_usage(FILE *f)
{
	fprintf(f, "usage: kvmbox metrics [--interval SECONDS] [--count N] [--guest-wait SECONDS]\n"
	           "                      SOCKET\n"
	           "\n"
	           "  Print what the microVM whose control socket is SOCKET uses, one JSON\n"
	           "  object a line, every --interval seconds (default 1; 0.1 to 3600, to\n"
	           "  the millisecond), until --count lines (default: until interrupted or\n"
	           "  the VM ends). Each line has the fields of kvmbox status: the guest's\n"
	           "  CPU time, memory, disk and network counters (\"guest\", or\n"
	           "  \"guest_error\" when the guest did not answer in time), the VMM's own\n"
	           "  RSS and CPU time (\"vmm\") and its exits. --guest-wait: how long the\n"
	           "  VMM waits for the guest's part of a sample (default 1, at most the\n"
	           "  interval).\n");
}

/* metrics_parse_ms: SECONDS ("2", "0.25") as milliseconds in [min, max]; -EINVAL after a line. */
static int metrics_parse_ms(const char *s, uint64_t min, uint64_t max, uint64_t *ms)
{
	uint64_t v = 0, scale = 1000;
	const char *p = s;

	for (; *p >= '0' && *p <= '9' && v <= max; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	v *= 1000;
	if (*p == '.' && p > s)
		for (p++; *p >= '0' && *p <= '9' && scale > 1; p++) {
			scale /= 10;
			v += (uint64_t)(*p - '0') * scale;
		}
	if (p == s || *p || v < min || v > max) {
		fprintf(stderr,
		        "kvmbox metrics: --interval %s: expected seconds from %llu.%llu to %llu\n",
		        s, (unsigned long long)min / 1000, (unsigned long long)min % 1000 / 100,
		        (unsigned long long)max / 1000);
		return -EINVAL;
	}
	*ms = v;
	return 0;
}

/* metrics_line: one sample (an event of the stream) as a line of JSON on stdout. */
static int metrics_line(json_t *msg)
{
	json_object_del(msg, "type");
	json_object_del(msg, "id");
	json_object_del(msg, "event");
	if (json_dumpf(msg, stdout, JSON_COMPACT | JSON_SORT_KEYS) < 0 || putchar('\n') == EOF ||
	    fflush(stdout) == EOF)
		return -EPIPE;
	return 0;
}

/*
 * metrics_run: ask for a stream of interval_ms and print count samples (0:
 * no end) as they come. 0, or 1 after a message.
 */
static int metrics_run(struct proto_client *c, const char *path, uint64_t interval_ms,
                       int64_t guest_wait_ms, uint64_t count)
{
	struct proto_frame f = { 0 };
	struct proto_env env;
	json_t *req = NULL;
	uint64_t lines = 0;
	int err;

	err = proto_msg_request(&req, 1, "metrics");
	if (!err)
		err = proto_msg_set_u64(req, "interval_ms", interval_ms);
	if (!err && guest_wait_ms >= 0)
		err = proto_msg_set_u64(req, "guest_wait_ms", (uint64_t)guest_wait_ms);
	if (!err)
		err = proto_client_send(c, req, NULL, 0);
	else
		json_decref(req);
	/* A VMM that refused us closed at once, but may have said why first. */
	if (err == -EPIPE || err == -ECONNRESET)
		err = 0;
	while (!err && (!count || lines < count) && !(err = proto_client_next(c, &f))) {
		if (proto_msg_parse_env(f.msg, &env, NULL) == 0 && env.type == PROTO_ERROR &&
		    env.id <= 1) {
			fprintf(stderr, "kvmbox metrics: %s: %s\n", env.err_code, env.err_msg);
			proto_frame_clear(&f);
			return 1;
		}
		if (env.type == PROTO_EVENT && env.id == 1 && strcmp(env.name, "metrics") == 0) {
			if (metrics_line(f.msg))
				err = -EPIPE;
			lines++;
		}
		proto_frame_clear(&f);
	}
	if (err == -EPIPE && lines)
		return 0; /* the VM ended, or our reader did */
	if (err == -ETIMEDOUT)
		fprintf(stderr, "kvmbox metrics: no sample from %s within %d s\n", path,
		        c->wait_ms / 1000);
	else if (err)
		fprintf(stderr, "kvmbox metrics: %s\n",
		        err == -EPIPE ? "the VMM closed the connection" : strerror(-err));
	return err ? 1 : 0;
}

int ctl_cmd_metrics(int argc, char **argv)
{
	struct proto_client c = { .fd = -1 };
	uint64_t interval_ms = 1000, count = 0, guest_s;
	int64_t guest_wait_ms = -1;
	const char *path = NULL;
	char sock[PATH_MAX];
	int err;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			metrics_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			if (metrics_parse_ms(argv[++i], METRICS_MIN_MS, METRICS_MAX_MS,
			                     &interval_ms))
				return 2;
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			if (cli_parse_u64("kvmbox metrics", "--count", argv[++i], 1, UINT32_MAX,
			                  &count))
				return 2;
		} else if (strcmp(argv[i], "--guest-wait") == 0 && i + 1 < argc) {
			if (cli_parse_u64("kvmbox metrics", "--guest-wait", argv[++i], 0, 60,
			                  &guest_s))
				return 2;
			guest_wait_ms = (int64_t)guest_s * 1000;
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			fprintf(stderr, "kvmbox metrics: unexpected %s\n", argv[i]);
			metrics_usage(stderr);
			return 2;
		}
	}
	if (!path) {
		metrics_usage(stderr);
		return 2;
	}
	err = proto_client_open(&c, cli_socket(path, sock));
	if (err) {
		fprintf(stderr, "kvmbox metrics: control socket %s: %s\n", path, strerror(-err));
		return 1;
	}
	/* A sample is due each interval; the guest's part waits at most a
	 * second of it (the VMM's deadline), so silence well past that is a
	 * VMM that is stuck. */
	c.wait_ms = (int)(interval_ms + 30000);
	err = metrics_run(&c, path, interval_ms, guest_wait_ms, count);
	proto_client_close(&c);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * agent_exec: a minimal host client for the e2e tests. Connects to the
 * VMM's vsock unix socket (Firecracker-style "CONNECT <port>\n", answered
 * "OK <n>\n"), then speaks docs/protocol.md to the guest agent: runs one
 * command, copies its stdout and stderr to ours, and exits with its exit
 * code (128 + N for a signal). With -s it sends "stop" afterwards.
 *
 * Usage: agent_exec [-s] [-t SECONDS] UDS_PATH PORT -- ARGV...
 * Retries the connection until the agent listens, for at most SECONDS
 * (default 120). Exit 125 on a connection or protocol failure.
 */
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define AGENT_FAIL 125

struct client {
	int fd;
	struct proto_decoder dec;
};

/* client_connect: one try: connect, CONNECT line, read "OK n\n". */
static int client_connect(const char *path, unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[64];
	size_t n = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		goto fail;
	/* Byte by byte: nothing after the newline may be eaten. */
	while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -ECONNREFUSED;
}

static int client_send(struct client *c, json_t *msg)
{
	uint8_t *buf;
	size_t len, done = 0;
	int err = proto_frame_pack(msg, NULL, 0, &buf, &len);

	json_decref(msg);
	if (err)
		return err;
	while (done < len) {
		ssize_t n = write(c->fd, buf + done, len - done);

		if (n <= 0) {
			free(buf);
			return -EIO;
		}
		done += (size_t)n;
	}
	free(buf);
	return 0;
}

/* client_next: the next frame from the agent; 0, or -errno at EOF/error. */
static int client_next(struct client *c, struct proto_frame *f)
{
	static __thread uint8_t buf[65536];
	static __thread size_t have, off;

	for (;;) {
		int r = proto_decoder_next(&c->dec, f);

		if (r == 1)
			return 0;
		if (r < 0)
			return r;
		if (off == have) {
			ssize_t n = read(c->fd, buf, sizeof(buf));

			if (n <= 0)
				return -EPIPE;
			have = (size_t)n;
			off = 0;
		}
		{
			size_t used = 0;

			r = proto_decoder_feed(&c->dec, buf + off, have - off, &used);
			if (r < 0)
				return r;
			off += used;
		}
	}
}

/* client_exec: run argv; returns its status for our exit, or AGENT_FAIL. */
static int client_exec(struct client *c, char **argv)
{
	json_t *req, *args = json_array();
	struct proto_frame f = { 0 };
	int status = AGENT_FAIL;

	for (char **a = argv; *a; a++)
		json_array_append_new(args, json_string(*a));
	if (proto_msg_request(&req, 1, "exec"))
		return AGENT_FAIL;
	json_object_set_new(req, "argv", args);
	if (client_send(c, req))
		return AGENT_FAIL;
	while (client_next(c, &f) == 0) {
		struct proto_env env;
		struct proto_why why;
		uint64_t v;

		if (proto_msg_parse_env(f.msg, &env, &why)) {
			fprintf(stderr, "agent_exec: bad message: %s\n", why.text);
			break;
		}
		if (env.type == PROTO_ERROR) {
			fprintf(stderr, "agent_exec: %s: %s\n", env.err_code, env.err_msg);
			break;
		}
		if (env.type == PROTO_EVENT && strcmp(env.name, "exec.stdout") == 0) {
			fwrite(f.body, 1, f.body_len, stdout);
		} else if (env.type == PROTO_EVENT && strcmp(env.name, "exec.stderr") == 0) {
			fwrite(f.body, 1, f.body_len, stderr);
		} else if (env.type == PROTO_EVENT && strcmp(env.name, "exec.exit") == 0) {
			if (proto_msg_get_u64(f.msg, "code", &v, 255, PROTO_OPTIONAL, &why) == 0 &&
			    json_object_get(f.msg, "code"))
				status = (int)v;
			else if (proto_msg_get_u64(f.msg, "signal", &v, 64, 0, &why) == 0)
				status = 128 + (int)v;
			proto_frame_clear(&f);
			break;
		}
		proto_frame_clear(&f);
	}
	proto_frame_clear(&f);
	fflush(stdout);
	return status;
}

int main(int argc, char **argv)
{
	struct client c = { .fd = -1 };
	double limit = 120;
	bool stop = false;
	time_t start = time(NULL);
	int opt, status;
	json_t *req;

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
	while ((c.fd = client_connect(argv[optind], (unsigned int)atoi(argv[optind + 1]))) < 0) {
		if (difftime(time(NULL), start) > limit) {
			fprintf(stderr, "agent_exec: no agent at %s port %s\n", argv[optind],
			        argv[optind + 1]);
			return AGENT_FAIL;
		}
		usleep(200 * 1000);
	}
	proto_decoder_init(&c.dec);
	status = client_exec(&c, argv + optind + 3);
	if (stop && proto_msg_request(&req, 2, "stop") == 0 && client_send(&c, req) == 0) {
		struct proto_frame f = { 0 };

		/* The reply, or the connection closing as the VM powers off. */
		if (client_next(&c, &f) == 0)
			proto_frame_clear(&f);
	}
	proto_decoder_destroy(&c.dec);
	close(c.fd);
	return status;
}

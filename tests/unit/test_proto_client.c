// SPDX-License-Identifier: MIT
/*
 * test_proto_client: the blocking client (proto/client.h) against a peer
 * played by the test over a socketpair: its deadlines (issue 14, item 8)
 * and the reasons it gives for what fails (item 16).
 */
#define _GNU_SOURCE
#include "check.h"

#include "proto/bytes.h"
#include "proto/client.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* pair: a client adopted on one end of a socketpair; the peer's end in *peer. */
static int pair(struct proto_client *c, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	proto_client_adopt(c, sv[0]);
	*peer = sv[1];
	return 0;
}

/* put: one frame (msg consumed) from the peer to the client. */
static int put(int peer, json_t *msg, const void *body, size_t len)
{
	uint8_t *buf;
	size_t n;
	int err = proto_frame_pack(msg, body, len, &buf, &n);

	json_decref(msg);
	if (err)
		return err;
	err = write(peer, buf, n) == (ssize_t)n ? 0 : -EIO;
	free(buf);
	return err;
}

TEST(next_gives_up_after_wait)
{
	struct proto_client c;
	struct proto_frame f = { 0 };
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	c.wait_ms = 50;
	/* A peer that accepted and never answers. */
	CHECK_ERR(proto_client_next(&c, &f), -ETIMEDOUT);
	proto_client_close(&c);
	close(peer);
}

TEST(exec_start_gives_up_after_wait)
{
	char *argv[] = { "true", NULL };
	struct proto_client c;
	struct proto_why why = { "" };
	int peer = -1, status = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	c.wait_ms = 50;
	CHECK_ERR(proto_client_exec(&c, argv, NULL, -1, -1, &status, &why), -ETIMEDOUT);
	CHECK(strstr(why.text, "within") != NULL);
	proto_client_close(&c);
	close(peer);
}

TEST(exec_runs_past_wait_once_started)
{
	char *argv[] = { "true", NULL };
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *m;
	int peer = -1, status = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	c.wait_ms = 20;
	CHECK_EQ(proto_msg_reply(&m, 1), 0);
	CHECK_EQ(put(peer, m, NULL, 0), 0);
	if (fork() == 0) {
		/* The command's exit comes well after the wait. */
		usleep(200 * 1000);
		if (proto_msg_event(&m, 1, "exec.exit") == 0 &&
		    proto_msg_set_u64(m, "code", 7) == 0)
			(void)put(peer, m, NULL, 0);
		_exit(0);
	}
	CHECK_EQ(proto_client_exec(&c, argv, NULL, -1, -1, &status, &why), 0);
	CHECK_EQ(status, 7);
	proto_client_close(&c);
	close(peer);
}

TEST(exec_argument_over_json_limit)
{
	char *big = malloc(100 * 1024 + 1), *argv[] = { "echo", big, NULL };
	struct proto_client c;
	struct proto_why why = { "" };
	int peer = -1, status = -1;

	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'x', 100 * 1024);
	big[100 * 1024] = '\0';
	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_ERR(proto_client_exec(&c, argv, NULL, -1, -1, &status, &why), -EMSGSIZE);
	CHECK(strstr(why.text, "JSON size limit") != NULL);
	proto_client_close(&c);
	close(peer);
	free(big);
}

TEST(exec_output_refused_is_not_eio)
{
	char *argv[] = { "yes", NULL };
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *m;
	int peer = -1, out[2], status = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(pipe(out), 0);
	close(out[0]); /* our stdout's reader is gone: EPIPE */
	CHECK_EQ(proto_msg_reply(&m, 1), 0);
	CHECK_EQ(put(peer, m, NULL, 0), 0);
	CHECK_EQ(proto_msg_event(&m, 1, "exec.stdout"), 0);
	CHECK_EQ(put(peer, m, "y\n", 2), 0);
	/* -EIO would read as "could not start" (126) to kvmbox exec. */
	CHECK_ERR(proto_client_exec(&c, argv, NULL, out[1], out[1], &status, &why), -ECOMM);
	CHECK(strstr(why.text, "Broken pipe") != NULL);
	close(out[1]);
	proto_client_close(&c);
	close(peer);
}

TEST(exec_connection_error_ends_it)
{
	char *argv[] = { "true", NULL };
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *m;
	int peer = -1, status = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(proto_msg_error(&m, 0, "unavailable", "too many clients (at most 64)"), 0);
	CHECK_EQ(put(peer, m, NULL, 0), 0);
	CHECK_ERR(proto_client_exec(&c, argv, NULL, -1, -1, &status, &why), -ECONNABORTED);
	CHECK(strstr(why.text, "too many clients") != NULL);
	proto_client_close(&c);
	close(peer);
}

/* take: the next frame the client sent, read on the peer's end; 0 or -errno. */
static int take(int peer, struct proto_frame *f)
{
	struct proto_decoder dec;
	uint8_t b;
	size_t used;
	int err = 0, got = 0;

	/* Byte by byte: nothing of a later frame is read. */
	proto_decoder_init(&dec);
	while (!err && (got = proto_decoder_next(&dec, f)) == 0)
		err = read(peer, &b, 1) == 1 ? proto_decoder_feed(&dec, &b, 1, &used) : -EIO;
	proto_decoder_destroy(&dec);
	return err ? err : got < 0 ? got : 0;
}

/*
 * Issue 13, bytes not text: argv, env, cwd and user that are not UTF-8
 * go as {"base64"}, UTF-8 ones as strings, and the agent's getter gets
 * every byte back.
 */
TEST(exec_bytes_not_text)
{
	char *argv[] = { "printf", "%s|", "\xff\xfe", "\xc3\xa9", NULL };
	const char *env[] = { "V=\xff", "W=w", NULL };
	struct proto_exec_opts o = PROTO_EXEC_OPTS_INIT;
	struct proto_client c;
	struct proto_frame f = { 0 };
	struct proto_why why = { "" };
	char **v = NULL, *s = NULL;
	json_t *m;
	int peer = -1, status = -1;

	o.env = env;
	o.cwd = "/t\xff";
	o.user = "n\xfe";
	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(proto_msg_error(&m, 1, "not_found", "no"), 0);
	CHECK_EQ(put(peer, m, NULL, 0), 0);
	CHECK_ERR(proto_client_exec(&c, argv, &o, -1, -1, &status, &why), -ENOENT);
	CHECK_EQ(take(peer, &f), 0);
	CHECK(f.msg != NULL);
	if (!f.msg)
		goto out;
	m = json_object_get(f.msg, "argv");
	CHECK(json_is_string(json_array_get(m, 1)) && json_is_string(json_array_get(m, 3)));
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(m, 2), "base64")), "//4=") ==
	      0);
	CHECK(strcmp(json_string_value(json_object_get(
	                 json_array_get(json_object_get(f.msg, "env"), 0), "base64")),
	             "Vj3/") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(f.msg, "cwd"), "base64")),
	             "L3T/") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(f.msg, "user"), "base64")),
	             "bv4=") == 0);
	CHECK_EQ(proto_msg_get_bytesv(f.msg, "argv", &v, NULL, 8, 0, &why), 0);
	for (int i = 0; v && i < 4; i++)
		CHECK(strcmp(v[i], argv[i]) == 0);
	free(v);
	CHECK_EQ(proto_msg_get_bytes(f.msg, "user", &s, 16, 0, &why), 0);
	CHECK(s && strcmp(s, o.user) == 0);
	free(s);
out:
	proto_frame_clear(&f);
	proto_client_close(&c);
	close(peer);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

CHECK_MAIN(CASE(next_gives_up_after_wait), CASE(exec_start_gives_up_after_wait),
           CASE(exec_runs_past_wait_once_started), CASE(exec_argument_over_json_limit),
           CASE(exec_output_refused_is_not_eio), CASE(exec_connection_error_ends_it),
           CASE(exec_bytes_not_text))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guest agent's server and exec engine
 * (guest-agent/server.c, exec.c), run as an ordinary host process, first
 * part: the envelope, exit codes and signals, missing commands, cwd, env
 * and stdin (the rig: test_agent_exec.h).
 */
#define _GNU_SOURCE
#include "test_agent_exec.h"
#include "check.h"

TEST(ping_and_unknown)
{
	struct client c;
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(request(&c, "{\"id\":1,\"type\":\"request\",\"op\":\"ping\"}", NULL, 0, type,
	                 sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(request(&c, "{\"id\":2,\"type\":\"request\",\"op\":\"fs.nope\"}", NULL, 0, type,
	                 sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:unknown_op") == 0);
	CHECK_EQ(request(&c, "{\"id\":3,\"type\":\"request\",\"op\":\"ping\"}", "x", 1, type,
	                 sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:bad_request") == 0);
	CHECK_EQ(request(&c, "{\"type\":\"request\",\"op\":\"ping\"}", NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:bad_request") == 0);
	CHECK_EQ(request(&c, "{\"id\":4,\"type\":\"request\",\"op\":\"exec\",\"argv\":[]}", NULL, 0,
	                 type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:bad_request") == 0);
	CHECK_EQ(request(&c, "{\"id\":5,\"type\":\"request\",\"op\":\"exec.stdin\",\"exec_id\":9}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:not_found") == 0);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(malformed_frame_closes)
{
	struct proto_frame f = { 0 };
	struct client c;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(send_all(&c, "XXXXYYYYZZZZ", 12), 0);
	CHECK_EQ(recv_frame(&c, &f), 1);
	CHECK(strcmp(str_of(json_object_get(f.msg, "error"), "code"), "bad_frame") == 0);
	CHECK_EQ(json_integer_value(json_object_get(f.msg, "id")), 0);
	proto_frame_clear(&f);
	CHECK_EQ(recv_frame(&c, &f), 0); /* then the agent closes */
	CHECK_EQ(client_stop(&c), 0);
}

TEST(echo_and_exit_codes)
{
	static const struct {
		const char *fields;
		int code;
	} cases[] = {
		{ "\"argv\":[\"true\"]", 0 },
		{ "\"argv\":[\"sh\",\"-c\",\"exit 1\"]", 1 },
		{ "\"argv\":[\"sh\",\"-c\",\"exit 255\"]", 255 },
	};
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1, "\"argv\":[\"echo\",\"hello\",\"world\"]", &r), 0);
	CHECK(r.pid > 0);
	CHECK(r.exited && r.code == 0 && r.signal == 0);
	CHECK(r.out && strcmp((char *)r.out, "hello world\n") == 0);
	CHECK_EQ(r.err_len, 0);
	result_free(&r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(run(&c, 10 + i, cases[i].fields, &r), 0);
		CHECK(r.exited);
		CHECK_EQ(r.code, cases[i].code);
		result_free(&r);
	}
	CHECK_EQ(run(&c, 20, "\"argv\":[\"sh\",\"-c\",\"echo out; echo err >&2\"]", &r), 0);
	CHECK(r.out && strcmp((char *)r.out, "out\n") == 0);
	CHECK(r.err && strcmp((char *)r.err, "err\n") == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(death_by_signal)
{
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1, "\"argv\":[\"sh\",\"-c\",\"kill -TERM $$\"]", &r), 0);
	CHECK(r.exited && !r.timed_out);
	CHECK_EQ(r.signal, SIGTERM);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(not_found)
{
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1, "\"argv\":[\"kvmbox-no-such-command\"]", &r), 0);
	CHECK(strcmp(r.err_code, "not_found") == 0);
	CHECK(strstr(r.err_msg, "ENOENT") != NULL);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"/nonexistent/kvmbox\"]", &r), 0);
	CHECK(strcmp(r.err_code, "not_found") == 0 && strstr(r.err_msg, "ENOENT"));
	result_free(&r);
	CHECK_EQ(run(&c, 3, "\"argv\":[\"true\"],\"cwd\":\"/nonexistent\"", &r), 0);
	CHECK(strcmp(r.err_code, "not_found") == 0 && strstr(r.err_msg, "chdir"));
	result_free(&r);
	CHECK_EQ(run(&c, 4, "\"argv\":[\"/\"]", &r), 0);
	CHECK(strcmp(r.err_code, "internal") == 0 && strstr(r.err_msg, "EACCES"));
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(cwd_and_env)
{
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1,
	             "\"argv\":[\"sh\",\"-c\",\"pwd; echo $FOO\"],\"cwd\":\"/tmp\","
	             "\"env\":[\"FOO=bar baz\",\"PATH=/usr/bin:/bin\"]",
	             &r),
	         0);
	CHECK(r.out && strcmp((char *)r.out, "/tmp\nbar baz\n") == 0);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"sh\",\"-c\",\"echo $HOME:$TERM\"]", &r), 0);
	CHECK(r.out && strcmp((char *)r.out, "/:dumb\n") == 0);
	result_free(&r);
	/* Issue 14, item 12: env adds to the default, as docker run -e does;
	 * a name it sets replaces the default's. */
	CHECK_EQ(run(&c, 3,
	             "\"argv\":[\"sh\",\"-c\",\"echo $FOO:$HOME:$TERM:$PATH\"],"
	             "\"env\":[\"FOO=x\",\"TERM=vt100\"]",
	             &r),
	         0);
	CHECK(r.out &&
	      strcmp((char *)r.out,
	             "x:/:vt100:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n") ==
	          0);
	result_free(&r);
	/* env_clear: env is the whole environment. */
	CHECK_EQ(run(&c, 4,
	             "\"argv\":[\"/bin/sh\",\"-c\",\"echo $FOO:$HOME:$TERM\"],"
	             "\"env\":[\"FOO=y\"],\"env_clear\":true",
	             &r),
	         0);
	CHECK(r.out && strcmp((char *)r.out, "y::\n") == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

/*
 * Issue 13, bytes not text: arguments, variables, the folder and the user
 * are bytes; what is not UTF-8 comes as {"base64"} and reaches the
 * command unchanged, and a NUL is refused with the element named.
 */
TEST(bytes_not_text)
{
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	/* printf '%s|' $'\xff\xfe' a */
	CHECK_EQ(run(&c, 1, "\"argv\":[\"printf\",\"%s|\",{\"base64\":\"//4=\"},\"a\"]", &r), 0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out_len == 5 && memcmp(r.out, "\xff\xfe|a|", 5) == 0);
	result_free(&r);
	/* V=$'\xff\xfe', a folder given as base64 (it may be, though UTF-8). */
	CHECK_EQ(run(&c, 2,
	             "\"argv\":[\"sh\",\"-c\",\"printf %s \\\"$V\\\"; pwd\"],"
	             "\"env\":[{\"base64\":\"Vj3//g==\"}],\"cwd\":{\"base64\":\"L3RtcA==\"}",
	             &r),
	         0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out_len == 7 && memcmp(r.out, "\xff\xfe/tmp\n", 7) == 0);
	result_free(&r);
	if (geteuid() == 0) {
		CHECK_EQ(run(&c, 3, "\"argv\":[\"id\",\"-u\"],\"user\":{\"base64\":\"MDow\"}", &r),
		         0);
		CHECK(r.out && strcmp((char *)r.out, "0\n") == 0);
		result_free(&r);
	}
	/* "a\0b": no argument can hold it; refused, not cut at the NUL. */
	CHECK_EQ(run(&c, 4, "\"argv\":[\"echo\",{\"base64\":\"YQBi\"}]", &r), 0);
	CHECK(strcmp(r.err_code, "bad_request") == 0);
	CHECK(strstr(r.err_msg, "argv[1]") && strstr(r.err_msg, "NUL"));
	result_free(&r);
	CHECK_EQ(run(&c, 5, "\"argv\":[\"true\"],\"env\":[\"A=1\",{\"base64\":\"!!\"}]", &r), 0);
	CHECK(strcmp(r.err_code, "bad_request") == 0 && strstr(r.err_msg, "env[1]"));
	result_free(&r);
	CHECK_EQ(run(&c, 6, "\"argv\":[\"true\"],\"cwd\":{\"base64\":\"\"}", &r), 0);
	CHECK(strcmp(r.err_code, "bad_request") == 0 && strstr(r.err_msg, "cwd"));
	result_free(&r);
	CHECK_EQ(run(&c, 7, "\"argv\":[\"true\",7]", &r), 0);
	CHECK(strcmp(r.err_code, "bad_request") == 0 && strstr(r.err_msg, "argv[1]"));
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(stdin_pipe)
{
	struct client c;
	struct result r = { 0 };
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(start(&c, 7,
	               "\"argv\":[\"cat\"],"
	               "\"stdin\":\"pipe\"",
	               &r),
	         0);
	CHECK_EQ(request(&c, "{\"id\":8,\"type\":\"request\",\"op\":\"exec.stdin\",\"exec_id\":7}",
	                 "abc", 3, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(send_json(&c,
	                   "{\"id\":9,\"type\":\"request\",\"op\":\"exec.stdin\",\"exec_id\":7,"
	                   "\"eof\":true}",
	                   "def", 3),
	         0);
	/* Frames of ids 7 and 9 interleave: take them one by one. */
	for (int i = 0; i < 100 && !r.exited; i++) {
		struct proto_frame f = { 0 };

		if (recv_frame(&c, &f) != 1)
			break;
		if (json_integer_value(json_object_get(f.msg, "id")) == 7)
			result_take(&r, &f);
		proto_frame_clear(&f);
	}
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strcmp((char *)r.out, "abcdef") == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

CHECK_MAIN(CASE(ping_and_unknown), CASE(malformed_frame_closes), CASE(echo_and_exit_codes),
           CASE(death_by_signal), CASE(not_found), CASE(cwd_and_env), CASE(bytes_not_text),
           CASE(stdin_pipe))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guest agent's server and exec engine
 * (guest-agent/server.c, exec.c), run as an ordinary host process.
 *
 * Each test forks a server on one end of a socketpair and speaks frames to
 * it from the other end, as the VMM will over vsock. Every wait is bounded
 * (WAIT_MS); the server process is reaped at the end of each test, and it
 * reaps what it started.
 */
#define _GNU_SOURCE
#include "check.h"
#include "guest-agent/init.h"
#include "guest-agent/server.h"
#include "proto/client.h"
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 20000 /* the longest any one answer may take */

struct client {
	int fd;
	pid_t server;
	struct proto_decoder dec;
	uint8_t buf[65536];
	size_t pos, len;
};

/* The outcome of one exec, gathered from its reply and events. */
struct result {
	int64_t pid;
	char err_code[32], err_msg[256]; /* an error reply instead of a pid */
	uint8_t *out, *err;
	size_t out_len, err_len;
	int64_t code, signal;
	bool exited, timed_out;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* client_start: fork a server on a socketpair; the test speaks on c->fd. */
static int client_start(struct client *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c->server = fork();
	if (c->server == 0) {
		struct agent_server *srv;
		int err;

		close(sv[0]);
		err = agent_server_new(&srv, NULL);
		if (!err)
			err = agent_server_add_conn(srv, sv[1], NULL);
		if (!err)
			err = agent_server_run(srv);
		agent_server_free(srv);
		_exit(err ? 1 : 0);
	}
	close(sv[1]);
	c->fd = sv[0];
	proto_decoder_init(&c->dec);
	return c->server > 0 ? 0 : -EAGAIN;
}

/* client_stop: close the connection and reap the server (bounded). */
static int client_stop(struct client *c)
{
	uint64_t end = mono_ms() + WAIT_MS;
	int status = -1;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_decoder_destroy(&c->dec);
	while (waitpid(c->server, &status, WNOHANG) == 0) {
		if (mono_ms() > end) {
			kill(c->server, SIGKILL);
			waitpid(c->server, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* send_all: write a whole buffer to the server. */
static int send_all(struct client *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* send_json: a request frame from JSON text, with an optional body. */
static int send_json(struct client *c, const char *text, const void *body, size_t len)
{
	json_t *m = json_loads(text, 0, NULL);
	uint8_t *buf;
	size_t n;
	int err;

	if (!m)
		return -EINVAL;
	err = proto_frame_pack(m, body, len, &buf, &n);
	json_decref(m);
	if (err)
		return err;
	err = send_all(c, buf, n);
	free(buf);
	return err;
}

/* recv_frame: the next frame within WAIT_MS; 1, 0 at EOF, or -errno. */
static int recv_frame(struct client *c, struct proto_frame *f)
{
	uint64_t end = mono_ms() + WAIT_MS;

	for (;;) {
		size_t used = 0;
		int err = proto_decoder_feed(&c->dec, c->buf + c->pos, c->len - c->pos, &used);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		c->pos += used;
		if (!err)
			err = proto_decoder_next(&c->dec, f);
		if (err)
			return err;
		if (c->pos < c->len)
			continue;
		uint64_t now = mono_ms();
		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			return -ETIMEDOUT;
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n <= 0)
			return n == 0 ? 0 : -errno;
		c->pos = 0;
		c->len = (size_t)n;
	}
}

static const char *str_of(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

static void append(uint8_t **p, size_t *len, const uint8_t *data, size_t n)
{
	*p = realloc(*p, *len + n + 1);
	memcpy(*p + *len, data, n);
	*len += n;
	(*p)[*len] = '\0';
}

/*
 * result_take: fold a frame into the result of the exec whose request id
 * is f's; returns true when that exec is over (exited, or refused).
 */
static bool result_take(struct result *r, const struct proto_frame *f)
{
	const char *type = str_of(f->msg, "type"), *ev = str_of(f->msg, "event");
	json_t *e = json_object_get(f->msg, "error");

	if (strcmp(type, "error") == 0) {
		snprintf(r->err_code, sizeof(r->err_code), "%s", str_of(e, "code"));
		snprintf(r->err_msg, sizeof(r->err_msg), "%s", str_of(e, "message"));
		return true;
	}
	if (strcmp(type, "reply") == 0) {
		r->pid = json_integer_value(json_object_get(f->msg, "pid"));
	} else if (strcmp(ev, "exec.stdout") == 0) {
		append(&r->out, &r->out_len, f->body, f->body_len);
	} else if (strcmp(ev, "exec.stderr") == 0) {
		append(&r->err, &r->err_len, f->body, f->body_len);
	} else if (strcmp(ev, "exec.exit") == 0) {
		json_t *sig = json_object_get(f->msg, "signal");

		r->exited = true;
		r->code = sig ? -1 : json_integer_value(json_object_get(f->msg, "code"));
		r->signal = sig ? json_integer_value(sig) : 0;
		r->timed_out = json_is_true(json_object_get(f->msg, "timed_out"));
		return true;
	}
	return false;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* gather: frames until the exec with request id is over; 0 or -errno. */
static int gather(struct client *c, uint64_t id, struct result *r)
{
	for (;;) {
		struct proto_frame f = { 0 };
		int got = recv_frame(c, &f);
		bool over;

		if (got <= 0)
			return got ? got : -EPIPE;
		if ((uint64_t)json_integer_value(json_object_get(f.msg, "id")) != id) {
			proto_frame_clear(&f);
			return -EPROTO;
		}
		over = result_take(r, &f);
		proto_frame_clear(&f);
		if (over)
			return 0;
	}
}

/* run: start an exec with the given fields (JSON members) and gather it. */
static int run(struct client *c, uint64_t id, const char *fields, struct result *r)
{
	char text[2048];
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	snprintf(text, sizeof(text), "{\"id\":%llu,\"type\":\"request\",\"op\":\"exec\",%s}",
	         (unsigned long long)id, fields);
	err = send_json(c, text, NULL, 0);
	return err ? err : gather(c, id, r);
}

/* start: send an exec and read its frames until the reply (or an error). */
static int start(struct client *c, uint64_t id, const char *fields, struct result *r)
{
	char text[2048];
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	snprintf(text, sizeof(text), "{\"id\":%llu,\"type\":\"request\",\"op\":\"exec\",%s}",
	         (unsigned long long)id, fields);
	err = send_json(c, text, NULL, 0);
	while (!err && r->pid <= 0 && !r->err_code[0] && !r->exited) {
		struct proto_frame f = { 0 };

		err = recv_frame(c, &f);
		if (err == 1) {
			result_take(r, &f);
			err = 0;
		} else if (err == 0) {
			err = -EPIPE;
		}
		proto_frame_clear(&f);
	}
	return err ? err : r->pid > 0 ? 0 : -ENOEXEC;
}

/* request: send a request and return its answer's type ("reply"/"error") in type. */
static int request(struct client *c, const char *text, const void *body, size_t len, char *type,
                   size_t cap)
{
	struct proto_frame f = { 0 };
	int err = send_json(c, text, body, len);

	if (!err)
		err = recv_frame(c, &f);
	if (err == 1) {
		json_t *e = json_object_get(f.msg, "error");

		snprintf(type, cap, "%s%s%s", str_of(f.msg, "type"), e ? ":" : "",
		         e ? str_of(e, "code") : "");
		err = 0;
	} else if (err == 0) {
		err = -EPIPE;
	}
	proto_frame_clear(&f);
	return err;
}

/* fnv1a: a simple hash of a byte string. */
static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

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

TEST(large_output)
{
	const size_t total = 8u << 20;
	const char *line = "0123456789abcdef\n";
	uint64_t want = 1469598103934665603ull, got = 1469598103934665603ull;
	struct client c;
	struct result r = { 0 };
	size_t len = 0;
	bool slept = false;

	for (size_t i = 0; i < total; i++)
		want = fnv1a(want, (const uint8_t *)&line[i % 17], 1);
	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(send_json(&c,
	                   "{\"id\":1,\"type\":\"request\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
	                   "\"yes 0123456789abcdef | head -c 8388608\"]}",
	                   NULL, 0),
	         0);
	for (;;) {
		struct proto_frame f = { 0 };

		if (recv_frame(&c, &f) != 1)
			break;
		if (strcmp(str_of(f.msg, "event"), "exec.stdout") == 0) {
			CHECK(f.body_len <= PROTO_MAX_BODY);
			got = fnv1a(got, f.body, f.body_len);
			len += f.body_len;
		} else {
			result_take(&r, &f);
		}
		proto_frame_clear(&f);
		if (r.exited)
			break;
		if (len >= 1u << 20 && !slept) {
			usleep(200000); /* let the agent's queue fill: back-pressure */
			slept = true;
		}
	}
	CHECK(r.exited && r.code == 0);
	CHECK_EQ(len, total);
	CHECK_EQ(got, want);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(concurrent)
{
	struct result r[16] = { 0 };
	struct client c;
	char text[256];
	int exited = 0;

	CHECK_EQ(client_start(&c), 0);
	for (int i = 0; i < 16; i++) {
		snprintf(text, sizeof(text),
		         "{\"id\":%d,\"type\":\"request\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
		         "\"echo start $0; sleep 0.2; echo done $0; exit $0\",\"%d\"]}",
		         100 + i, i);
		CHECK_EQ(send_json(&c, text, NULL, 0), 0);
	}
	while (exited < 16) {
		struct proto_frame f = { 0 };
		int64_t id;

		if (recv_frame(&c, &f) != 1)
			break;
		id = json_integer_value(json_object_get(f.msg, "id"));
		CHECK(id >= 100 && id < 116);
		if (id >= 100 && id < 116 && result_take(&r[id - 100], &f))
			exited++;
		proto_frame_clear(&f);
	}
	CHECK_EQ(exited, 16);
	for (int i = 0; i < 16; i++) {
		char want[64];

		snprintf(want, sizeof(want), "start %d\ndone %d\n", i, i);
		CHECK(r[i].exited && r[i].code == i && r[i].pid > 0);
		CHECK(r[i].out && strcmp((char *)r[i].out, want) == 0);
		result_free(&r[i]);
	}
	CHECK_EQ(client_stop(&c), 0);
}

TEST(timeout)
{
	uint64_t start = mono_ms();
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1, "\"argv\":[\"sleep\",\"100\"],\"timeout_ms\":200", &r), 0);
	CHECK(r.exited && r.timed_out);
	CHECK_EQ(r.signal, SIGKILL);
	CHECK(mono_ms() - start < 10000);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"true\"],\"timeout_ms\":10000", &r), 0);
	CHECK(r.exited && !r.timed_out && r.code == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(signal_delivery)
{
	struct client c;
	struct result r = { 0 };
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(start(&c, 3,
	               "\"argv\":[\"sleep\","
	               "\"100\"]",
	               &r),
	         0);
	CHECK(r.pid > 0);
	CHECK_EQ(request(&c,
	                 "{\"id\":4,\"type\":\"request\",\"op\":\"exec.signal\",\"exec_id\":3,"
	                 "\"signal\":15}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(gather(&c, 3, &r), 0);
	CHECK(r.exited && !r.timed_out);
	CHECK_EQ(r.signal, SIGTERM);
	result_free(&r);
	CHECK_EQ(request(&c,
	                 "{\"id\":5,\"type\":\"request\",\"op\":\"exec.signal\",\"exec_id\":3,"
	                 "\"signal\":15}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:not_found") == 0);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(pty)
{
	struct client c;
	struct result r = { 0 };
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(
	    run(&c, 1,
	        "\"argv\":[\"sh\",\"-c\",\"tty; stty size\"],\"pty\":{\"rows\":33,\"cols\":101}",
	        &r),
	    0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strstr((char *)r.out, "/dev/pts/") && strstr((char *)r.out, "33 101"));
	CHECK_EQ(r.err_len, 0);
	result_free(&r);

	/* A resize reaches the running process. */
	CHECK_EQ(start(&c, 2,
	               "\"argv\":[\"sh\",\"-c\",\"read x; stty size\"],"
	               "\"pty\":{\"rows\":10,\"cols\":20}",
	               &r),
	         0);
	CHECK_EQ(request(&c,
	                 "{\"id\":3,\"type\":\"request\",\"op\":\"exec.resize\",\"exec_id\":2,"
	                 "\"rows\":40,\"cols\":120}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(send_json(&c,
	                   "{\"id\":4,\"type\":\"request\",\"op\":\"exec.stdin\",\"exec_id\":2}",
	                   "go\n", 3),
	         0);
	for (int i = 0; i < 100 && !r.exited; i++) {
		struct proto_frame f = { 0 };

		if (recv_frame(&c, &f) != 1)
			break;
		if (json_integer_value(json_object_get(f.msg, "id")) == 2)
			result_take(&r, &f);
		proto_frame_clear(&f);
	}
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strstr((char *)r.out, "40 120"));
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(user)
{
	struct client c;
	struct result r;

	if (geteuid() != 0) {
		printf("user: skipped (not root)\n");
		return;
	}
	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(
	    run(&c, 1, "\"argv\":[\"sh\",\"-c\",\"id -u; id -g\"],\"user\":\"65534:65534\"", &r),
	    0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strcmp((char *)r.out, "65534\n65534\n") == 0);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"true\"],\"user\":\"kvmbox-no-such-user\"", &r), 0);
	CHECK(strcmp(r.err_code, "not_found") == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(disconnect_kills)
{
	struct client c;
	struct result r = { 0 };
	uint64_t end;
	bool gone = false;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(start(&c, 1,
	               "\"argv\":[\"sh\","
	               "\"-c\",\"yes & sleep 100\"]",
	               &r),
	         0);
	CHECK(r.pid > 0);
	/* Leave output unread: the agent is mid-stream when the client goes. */
	usleep(50000);
	CHECK_EQ(client_stop(&c), 0);
	end = mono_ms() + WAIT_MS;
	while (r.pid > 0 && mono_ms() < end) {
		if (kill((pid_t)r.pid, 0) < 0 && errno == ESRCH) {
			gone = true;
			break;
		}
		usleep(5000);
	}
	CHECK(gone);
	if (r.pid > 0 && !gone)
		kill(-(pid_t)r.pid, SIGKILL);
	result_free(&r);
}

TEST(cmdline)
{
	struct agent_boot b;
	char buf[8];

	agent_boot_parse("console=ttyS0 kvmbox.hostname=box1 kvmbox.root=/dev/vda quiet", &b);
	CHECK(strcmp(b.hostname, "box1") == 0);
	CHECK(strcmp(b.root, "/dev/vda") == 0);
	CHECK(strcmp(b.rootfstype, "ext4") == 0);
	agent_boot_parse("xkvmbox.hostname=no kvmbox.rootfstype=virtiofs\n", &b);
	CHECK(strcmp(b.hostname, "kvmbox") == 0);
	CHECK(b.root[0] == '\0');
	CHECK(strcmp(b.rootfstype, "virtiofs") == 0);
	CHECK(b.rootflags == 0 && b.rootdata[0] == '\0');
	agent_boot_parse("kvmbox.rootflags=ro", &b);
	CHECK(b.rootflags == MS_RDONLY && b.rootdata[0] == '\0');
	agent_boot_parse("kvmbox.rootflags=,ro,,errors=remount-ro,rw,data=journal", &b);
	CHECK(b.rootflags == 0);
	CHECK(strcmp(b.rootdata, "errors=remount-ro,data=journal") == 0);
	agent_boot_parse("kvmbox.rootflags=rw,ro kvmbox.rootflags=ro,rwx", &b);
	CHECK(b.rootflags == MS_RDONLY && strcmp(b.rootdata, "rwx") == 0);
	/* An option too long for rootdata is dropped whole, not cut. */
	agent_boot_parse("kvmbox.rootflags=a,"
	                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,b",
	                 &b);
	CHECK(strcmp(b.rootdata, "a,b") == 0);
	CHECK_ERR(agent_cmdline_param("a=1 a=22", "a", buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "22") == 0);
	CHECK_ERR(agent_cmdline_param("a=123456789", "a", buf, sizeof(buf)), -ENAMETOOLONG);
	CHECK_ERR(agent_cmdline_param("ab=1 a", "a", buf, sizeof(buf)), -ENOENT);
}

/*
 * The client library forwards signals (proto_exec_opts.signal_fd). A pipe
 * stands in for the signalfd: it yields the same signalfd_siginfo records,
 * written when the test chooses.
 */
static int put_siginfo(int fd, unsigned int signo)
{
	struct signalfd_siginfo si = { .ssi_signo = signo };

	return write(fd, &si, sizeof(si)) == (ssize_t)sizeof(si) ? 0 : -EIO;
}

/* Reads the command's output; once "go" came, sends the signal. */
struct signal_feeder {
	int out_rd, sig_wr;
	bool sent;
};

static void *signal_feeder_run(void *arg)
{
	struct signal_feeder *f = arg;
	char buf[256];
	size_t len = 0;
	ssize_t n;

	while ((n = read(f->out_rd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (!f->sent && strstr(buf, "go\n"))
			f->sent = put_siginfo(f->sig_wr, SIGUSR1) == 0;
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	return NULL;
}

TEST(client_forwards_signals)
{
	static char *const argv[] = { "sh", "-c", "echo go; exec sleep 100", NULL };
	struct proto_exec_opts o = PROTO_EXEC_OPTS_INIT;
	struct signal_feeder feed = { 0 };
	struct proto_client pc = { .fd = -1 };
	struct proto_why why = { "" };
	struct client c;
	pthread_t th;
	int out[2], sig[2], status = -1;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(pipe(out), 0);
	CHECK_EQ(pipe2(sig, O_NONBLOCK), 0);
	feed = (struct signal_feeder){ .out_rd = out[0], .sig_wr = sig[1] };
	CHECK_EQ(pthread_create(&th, NULL, signal_feeder_run, &feed), 0);
	proto_client_adopt(&pc, c.fd);
	o.signal_fd = sig[0];
	o.timeout_ms = WAIT_MS; /* a signal that never arrives: 137, not a hang */
	CHECK_EQ(proto_client_exec(&pc, argv, &o, out[1], STDERR_FILENO, &status, &why), 0);
	close(out[1]);
	pthread_join(th, NULL);
	CHECK(feed.sent);
	/* exec.signal went to the process group: sleep died of SIGUSR1. */
	CHECK_EQ(status, 128 + SIGUSR1);
	close(out[0]);
	close(sig[0]);
	close(sig[1]);
	c.fd = -1; /* closed with pc */
	proto_client_close(&pc);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(client_signal_before_start)
{
	static char *const argv[] = { "sleep", "100", NULL };
	struct proto_exec_opts o = PROTO_EXEC_OPTS_INIT;
	struct proto_client pc = { .fd = -1 };
	struct proto_why why = { "" };
	struct client c;
	int sig[2], status = -1;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(pipe2(sig, O_NONBLOCK), 0);
	CHECK_EQ(put_siginfo(sig[1], SIGINT), 0);
	proto_client_adopt(&pc, c.fd);
	o.signal_fd = sig[0];
	/* No exec_id to name yet: the call ends, as if SIGINT ended it. */
	CHECK_EQ(proto_client_exec(&pc, argv, &o, STDOUT_FILENO, STDERR_FILENO, &status, &why),
	         -EINTR);
	CHECK_EQ(status, 128 + SIGINT);
	CHECK(strstr(why.text, "before the command started") != NULL);
	close(sig[0]);
	close(sig[1]);
	c.fd = -1;
	proto_client_close(&pc);
	/* The server kills the sleep when the connection closes, and ends. */
	CHECK_EQ(client_stop(&c), 0);
}

CHECK_MAIN(CASE(cmdline), CASE(ping_and_unknown), CASE(malformed_frame_closes),
           CASE(echo_and_exit_codes), CASE(death_by_signal), CASE(not_found), CASE(cwd_and_env),
           CASE(stdin_pipe), CASE(large_output), CASE(concurrent), CASE(timeout),
           CASE(signal_delivery), CASE(pty), CASE(user), CASE(disconnect_kills),
           CASE(client_forwards_signals), CASE(client_signal_before_start))

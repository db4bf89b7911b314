// SPDX-License-Identifier: MIT
/*
 * Unit tests of status and metrics on the control socket
 * (vmm/control/control_metrics.c, control_guest.c) with no KVM: the
 * control server on a loop of its own behind a fake host, whose
 * agent_connect hands the VMM's stream to a real agent (forked, reading
 * the host's /proc), to nobody (no vsock device), to a guest that refuses,
 * to one that never answers, or to the test itself playing a hostile one.
 */
#define _GNU_SOURCE
#include "check.h"
#include "guest-agent/server.h"
#include "proto/msg.h"
#include "vmm/control/control_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum fake_mode { F_AGENT, F_NONE, F_REFUSE, F_SILENT };

struct fake {
	struct loop loop;
	struct control ctl;
	enum fake_mode mode;
	int client;   /* the client's end */
	int guest_fd; /* F_SILENT: the guest's end of the VMM's stream, kept */
	pid_t agent;  /* F_AGENT: the agent serving it */
	unsigned int connects;
	struct loop_op tick_op;
	bool tick_armed;
	struct __kernel_timespec tick_ts;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* fake_agent: a real agent on fd, in a child, once the handshake line is out. */
static void fake_agent(struct fake *f, int fd)
{
	f->agent = fork();
	if (f->agent == 0) {
		struct agent_server *srv;
		int err;

		err = agent_server_new(&srv, NULL);
		if (!err)
			err = agent_server_add_conn(srv, fd, NULL);
		if (!err)
			err = agent_server_run(srv);
		_exit(err ? 1 : 0);
	}
	close(fd);
}

static int fake_connect(void *opaque, int fd)
{
	struct fake *f = opaque;

	f->connects++;
	switch (f->mode) {
	case F_NONE:
		close(fd);
		return -ENODEV;
	case F_REFUSE:
		close(fd); /* the guest reset it: end of file before "OK" */
		return 0;
	case F_SILENT:
		if (write(fd, "OK 1\n", 5) != 5)
			return -EIO;
		if (f->guest_fd >= 0)
			close(f->guest_fd);
		f->guest_fd = fd;
		return 0;
	case F_AGENT:
		if (write(fd, "OK 1\n", 5) != 5)
			return -EIO;
		fake_agent(f, fd);
		return 0;
	}
	return -EINVAL;
}

static void fake_linked(void *opaque)
{
	(void)opaque;
}

static int fake_status(void *opaque, json_t *reply)
{
	(void)opaque;
	return proto_msg_set_string(reply, "state", "running");
}

static void fake_stop(void *opaque)
{
	(void)opaque;
}

static const struct control_host_ops fake_ops = {
	.agent_connect = fake_connect,
	.agent_linked = fake_linked,
	.status = fake_status,
	.stop = fake_stop,
};

static int fake_init(struct fake *f, enum fake_mode mode)
{
	struct control_host host = { .ops = &fake_ops, .opaque = f, .loop = &f->loop };
	int sv[2];

	*f = (struct fake){ .mode = mode, .guest_fd = -1, .agent = -1 };
	if (loop_init(&f->loop, 64) || control_init(&f->ctl, &host, NULL) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	f->client = sv[0];
	return control_attach(&f->ctl, sv[1]);
}

static void fake_destroy(struct fake *f)
{
	close(f->client);
	loop_destroy(&f->loop);
	control_destroy(&f->ctl);
	if (f->guest_fd >= 0)
		close(f->guest_fd);
	if (f->agent > 0) {
		kill(f->agent, SIGKILL);
		waitpid(f->agent, NULL, 0);
	}
}

static void tick_cb(void *opaque, int res, bool more)
{
	(void)res, (void)more;
	((struct fake *)opaque)->tick_armed = false;
}

/* loop_for: run the loop until ms passed, or until the client can read when until_read. */
static void loop_for(struct fake *f, uint64_t ms, bool until_read)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		struct pollfd p = { .fd = f->client, .events = POLLIN };
		struct io_uring_sqe *sqe;

		if (until_read && poll(&p, 1, 0) == 1)
			return;
		if (!f->tick_armed && (sqe = loop_sqe(&f->loop, &f->tick_op))) {
			f->tick_op = (struct loop_op){ .cb = tick_cb, .opaque = f };
			f->tick_ts = (struct __kernel_timespec){ .tv_nsec = 10000000 };
			io_uring_prep_timeout(sqe, &f->tick_ts, 0, 0);
			f->tick_armed = true;
		}
		if (loop_run_once(&f->loop) < 0)
			return;
	}
}

/* spin: run the loop until the client can read, or ms passed (10 ms ticks). */
static void spin(struct fake *f, uint64_t ms)
{
	loop_for(f, ms, true);
}

/* run_for: run the loop for ms. */
static void run_for(struct fake *f, uint64_t ms)
{
	loop_for(f, ms, false);
}

static int send_req(struct fake *f, const char *json, const void *body, size_t len)
{
	json_t *m = json_loads(json, 0, NULL);
	uint8_t *buf;
	size_t n;
	int err;

	if (!m)
		return -1;
	err = proto_frame_pack(m, body, len, &buf, &n);
	json_decref(m);
	if (!err)
		err = send(f->client, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EIO;
	free(buf);
	return err;
}

/* next: the next frame for the client within ms (caller decrefs), or NULL. */
static json_t *next(struct fake *f, uint64_t ms)
{
	struct proto_decoder dec;
	struct proto_frame fr = { 0 };
	uint8_t b;
	size_t used;
	uint64_t end = now_ms() + ms;

	proto_decoder_init(&dec);
	while (proto_decoder_next(&dec, &fr) == 0 && now_ms() < end) {
		struct pollfd p = { .fd = f->client, .events = POLLIN };

		spin(f, end - now_ms());
		if (poll(&p, 1, 0) == 1 &&
		    (recv(f->client, &b, 1, 0) != 1 || proto_decoder_feed(&dec, &b, 1, &used) < 0))
			break;
	}
	proto_decoder_destroy(&dec);
	free(fr.body);
	return fr.msg;
}

static const char *str(const json_t *m, const char *a, const char *b)
{
	const json_t *v = json_object_get(m, a);
	const char *s = json_string_value(b ? json_object_get(v, b) : v);

	return s ? s : "";
}

static json_int_t num(const json_t *m, const char *a, const char *b)
{
	const json_t *v = json_object_get(m, a);

	return json_integer_value(b ? json_object_get(v, b) : v);
}

TEST(without_agent)
{
	struct fake f;
	json_t *m;

	CHECK_EQ(fake_init(&f, F_NONE), 0);
	CHECK_EQ(send_req(&f, "{\"id\":7,\"type\":\"request\",\"op\":\"status\"}", NULL, 0), 0);
	m = next(&f, 2000);
	CHECK(strcmp(str(m, "type", NULL), "reply") == 0 && num(m, "id", NULL) == 7);
	CHECK(strcmp(str(m, "state", NULL), "running") == 0);
	CHECK_EQ(num(m, "pid", NULL), getpid());
	CHECK(num(m, "vmm", "rss_bytes") > 0 && num(m, "vmm", "peak_rss_bytes") > 0);
	CHECK(json_is_integer(json_object_get(json_object_get(m, "vmm"), "user_ms")));
	CHECK(json_object_get(m, "guest") == NULL);
	CHECK(strstr(str(m, "guest_error", NULL), "no vsock device") != NULL);
	json_decref(m);
	/* The metrics op without an interval: the same, once. */
	CHECK_EQ(send_req(&f, "{\"id\":8,\"type\":\"request\",\"op\":\"metrics\"}", NULL, 0), 0);
	m = next(&f, 2000);
	CHECK(strcmp(str(m, "type", NULL), "reply") == 0 && num(m, "id", NULL) == 8);
	CHECK(json_object_get(m, "vmm") != NULL);
	json_decref(m);
	/* guest_wait_ms 0: the guest is not asked at all. */
	CHECK_EQ(send_req(&f,
	                  "{\"id\":9,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":0}",
	                  NULL, 0),
	         0);
	m = next(&f, 2000);
	CHECK(strstr(str(m, "guest_error", NULL), "not asked") != NULL);
	json_decref(m);
	CHECK_EQ(f.connects, 2); /* each request that asks tries again */
	fake_destroy(&f);
}

TEST(with_agent)
{
	struct fake f;
	json_t *m;

	alarm(30);
	CHECK_EQ(fake_init(&f, F_AGENT), 0);
	for (int i = 1; i <= 3; i++) {
		char req[128];

		snprintf(
		    req, sizeof(req),
		    "{\"id\":%d,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":10000}",
		    i);
		CHECK_EQ(send_req(&f, req, NULL, 0), 0);
		m = next(&f, 12000);
		CHECK_EQ(num(m, "id", NULL), i);
		CHECK(json_object_get(m, "guest_error") == NULL);
		CHECK(num(json_object_get(m, "guest"), "memory", "total_bytes") > 0);
		CHECK(json_is_object(json_object_get(json_object_get(m, "guest"), "cpu")));
		CHECK(json_object_get(json_object_get(m, "guest"), "type") == NULL);
		json_decref(m);
	}
	CHECK_EQ(f.connects, 1); /* one stream, kept */
	fake_destroy(&f);
	alarm(0);
}

TEST(refusing_guest)
{
	struct fake f;
	json_t *m;
	uint64_t t0;

	CHECK_EQ(fake_init(&f, F_REFUSE), 0);
	t0 = now_ms();
	CHECK_EQ(send_req(&f, "{\"id\":1,\"type\":\"request\",\"op\":\"status\"}", NULL, 0), 0);
	m = next(&f, 2000);
	CHECK(strstr(str(m, "guest_error", NULL), "not listening") != NULL);
	CHECK(now_ms() - t0 < 900); /* at once, not at the deadline */
	json_decref(m);
	/* The next request tries again. */
	CHECK_EQ(send_req(&f, "{\"id\":2,\"type\":\"request\",\"op\":\"status\"}", NULL, 0), 0);
	m = next(&f, 2000);
	CHECK_EQ(num(m, "id", NULL), 2);
	json_decref(m);
	CHECK_EQ(f.connects, 2);
	fake_destroy(&f);
}

TEST(silent_guest_has_a_deadline)
{
	struct fake f;
	json_t *m;
	uint64_t t0, dt;

	alarm(30);
	CHECK_EQ(fake_init(&f, F_SILENT), 0);
	t0 = now_ms();
	CHECK_EQ(send_req(&f,
	                  "{\"id\":1,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":200}",
	                  NULL, 0),
	         0);
	m = next(&f, 5000);
	dt = now_ms() - t0;
	CHECK(strstr(str(m, "guest_error", NULL), "within 200 ms") != NULL);
	CHECK(dt >= 190 && dt < 3000);
	CHECK(json_object_get(m, "vmm") != NULL); /* the VMM's part is there all the same */
	json_decref(m);
	/* The request still in flight has waited longer than this one would:
	 * answered at once. */
	t0 = now_ms();
	CHECK_EQ(send_req(&f,
	                  "{\"id\":2,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":100}",
	                  NULL, 0),
	         0);
	m = next(&f, 5000);
	CHECK(strstr(str(m, "guest_error", NULL), "has not answered for") != NULL);
	CHECK(now_ms() - t0 < 90);
	json_decref(m);
	/* A client that leaves while its request waits frees nothing twice. */
	CHECK_EQ(
	    send_req(&f,
	             "{\"id\":3,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":60000}",
	             NULL, 0),
	    0);
	spin(&f, 50);
	shutdown(f.client, SHUT_RDWR);
	run_for(&f, 200);
	CHECK_EQ(f.ctl.nr_conns, 0);
	fake_destroy(&f);
	alarm(0);
}

/* guest_answer: read the VMM's metrics request on fd and answer it with fields (JSON text). */
static int guest_answer(struct fake *f, const char *fields)
{
	struct proto_decoder dec;
	struct proto_frame fr = { 0 };
	uint8_t b, *buf;
	size_t used, n;
	json_t *m;
	int err = -EIO;

	proto_decoder_init(&dec);
	for (int i = 0; i < 200 && proto_decoder_next(&dec, &fr) == 0; i++) {
		struct pollfd p = { .fd = f->guest_fd, .events = POLLIN };

		spin(f, 10);
		while (poll(&p, 1, 0) == 1 && recv(f->guest_fd, &b, 1, MSG_DONTWAIT) == 1)
			(void)!proto_decoder_feed(&dec, &b, 1, &used);
	}
	proto_decoder_destroy(&dec);
	if (!fr.msg || strcmp(str(fr.msg, "op", NULL), "metrics") != 0)
		return -EPROTO;
	m = json_loads(fields, 0, NULL);
	if (m && !json_object_set(m, "id", json_object_get(fr.msg, "id")) &&
	    proto_frame_pack(m, NULL, 0, &buf, &n) == 0) {
		err = write(f->guest_fd, buf, n) == (ssize_t)n ? 0 : -EIO;
		free(buf);
	}
	json_decref(m);
	proto_frame_clear(&fr);
	return err;
}

TEST(hostile_guest)
{
	char big[70000];
	struct fake f;
	json_t *m;

	alarm(30);
	CHECK_EQ(fake_init(&f, F_SILENT), 0);
	/* Metrics that do not fit a frame beside the VMM's fields. */
	snprintf(big, sizeof(big), "{\"type\":\"reply\",\"junk\":\"%065480d\"}", 0);
	CHECK_EQ(
	    send_req(&f, "{\"id\":1,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":5000}",
	             NULL, 0),
	    0);
	CHECK_EQ(guest_answer(&f, big), 0);
	m = next(&f, 5000);
	CHECK_EQ(num(m, "id", NULL), 1);
	CHECK(strstr(str(m, "guest_error", NULL), "over the JSON size limit") != NULL);
	json_decref(m);
	/* An error from the agent is passed on as the reason. */
	CHECK_EQ(
	    send_req(&f, "{\"id\":2,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":5000}",
	             NULL, 0),
	    0);
	CHECK_EQ(guest_answer(&f, "{\"type\":\"error\",\"error\":{\"code\":\"unknown_op\","
	                          "\"message\":\"unknown op metrics\"}}"),
	         0);
	m = next(&f, 5000);
	CHECK(strstr(str(m, "guest_error", NULL), "unknown op metrics") != NULL);
	json_decref(m);
	/* Garbage on the stream: dropped, and the next request opens another. */
	CHECK_EQ(
	    send_req(&f, "{\"id\":3,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":5000}",
	             NULL, 0),
	    0);
	spin(&f, 50);
	CHECK_EQ(write(f.guest_fd, "XXXXYYYYZZZZ", 12), 12);
	m = next(&f, 5000);
	CHECK(strstr(str(m, "guest_error", NULL), "bad frame") != NULL);
	json_decref(m);
	CHECK_EQ(
	    send_req(&f, "{\"id\":4,\"type\":\"request\",\"op\":\"status\",\"guest_wait_ms\":5000}",
	             NULL, 0),
	    0);
	CHECK_EQ(guest_answer(&f, "{\"type\":\"reply\",\"cpus\":3}"), 0);
	m = next(&f, 5000);
	CHECK_EQ(num(json_object_get(m, "guest"), "cpus", NULL), 3);
	json_decref(m);
	CHECK_EQ(f.connects, 2);
	fake_destroy(&f);
	alarm(0);
}

TEST(streams)
{
	struct fake f;
	json_t *m;
	int events = 0;

	alarm(60);
	CHECK_EQ(fake_init(&f, F_AGENT), 0);
	CHECK_EQ(send_req(&f,
	                  "{\"id\":5,\"type\":\"request\",\"op\":\"metrics\",\"interval_ms\":100,"
	                  "\"guest_wait_ms\":10000}",
	                  NULL, 0),
	         0);
	m = next(&f, 2000);
	CHECK(strcmp(str(m, "type", NULL), "reply") == 0 && num(m, "id", NULL) == 5);
	json_decref(m);
	for (int i = 0; i < 4; i++) {
		m = next(&f, 12000);
		if (strcmp(str(m, "event", NULL), "metrics") == 0 && num(m, "id", NULL) == 5)
			events++;
		CHECK(json_object_get(m, "vmm") != NULL);
		json_decref(m);
	}
	CHECK_EQ(events, 4);
	/* Bounds and refusals, while it runs. */
	CHECK_EQ(send_req(&f,
	                  "{\"id\":6,\"type\":\"request\",\"op\":\"metrics\",\"interval_ms\":50}",
	                  NULL, 0),
	         0);
	CHECK_EQ(send_req(&f,
	                  "{\"id\":7,\"type\":\"request\",\"op\":\"metrics.cancel\","
	                  "\"metrics_id\":99}",
	                  NULL, 0),
	         0);
	CHECK_EQ(send_req(&f, "{\"id\":8,\"type\":\"request\",\"op\":\"metrics\"}", "x", 1), 0);
	CHECK_EQ(send_req(&f,
	                  "{\"id\":9,\"type\":\"request\",\"op\":\"metrics.cancel\","
	                  "\"metrics_id\":5}",
	                  NULL, 0),
	         0);
	for (int i = 0, seen = 0; i < 40 && seen < 4; i++) {
		const char *code;

		m = next(&f, 12000);
		code = str(json_object_get(m, "error"), "code", NULL);
		if (num(m, "id", NULL) == 6)
			CHECK(strcmp(code, "bad_request") == 0);
		if (num(m, "id", NULL) == 7)
			CHECK(strcmp(code, "not_found") == 0);
		if (num(m, "id", NULL) == 8)
			CHECK(strcmp(code, "bad_request") == 0);
		if (num(m, "id", NULL) == 9)
			CHECK(strcmp(str(m, "type", NULL), "reply") == 0);
		seen += num(m, "id", NULL) != 5;
		json_decref(m);
	}
	/* Nothing of stream 5 after its cancel's reply. */
	m = next(&f, 500);
	CHECK(m == NULL);
	json_decref(m);
	/* At most CONTROL_MAX_STREAMS per connection. */
	for (int i = 0; i <= CONTROL_MAX_STREAMS; i++) {
		char req[128];

		snprintf(
		    req, sizeof(req),
		    "{\"id\":%d,\"type\":\"request\",\"op\":\"metrics\",\"interval_ms\":3600000,"
		    "\"guest_wait_ms\":0}",
		    100 + i);
		CHECK_EQ(send_req(&f, req, NULL, 0), 0);
	}
	for (int i = 0, seen = 0; i < 40 && seen <= CONTROL_MAX_STREAMS; i++) {
		m = next(&f, 2000);
		if (num(m, "id", NULL) == 100 + CONTROL_MAX_STREAMS) {
			CHECK(strcmp(str(json_object_get(m, "error"), "code", NULL), "too_large") ==
			      0);
			seen = CONTROL_MAX_STREAMS + 1;
		}
		json_decref(m);
	}
	fake_destroy(&f);
	alarm(0);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

CHECK_MAIN(CASE(without_agent), CASE(with_agent), CASE(refusing_guest),
           CASE(silent_guest_has_a_deadline), CASE(hostile_guest), CASE(streams))

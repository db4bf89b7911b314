// SPDX-License-Identifier: MIT
/*
 * test_proto_client_ops: the control-socket ops of the client library
 * (proto/kvmbox_client.h) against a fake server played by the test over
 * a socketpair: the server's answers are written before the call (they
 * wait in the socket), and the requests the client sent are read after
 * it. Each op's request and reply; error answers; a peer that closes in
 * the middle of a reply, one that never answers, one that sends
 * malformed or oversized frames.
 */
#define _GNU_SOURCE
#include "check.h"
#include "client_rig.h"

#include "proto/kvmbox_client.h"
#include "proto/msg.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STATUS_REPLY                                                                               \
	"{\"id\":1,\"type\":\"reply\",\"state\":\"running\",\"uptime_ms\":1234,"                   \
	"\"ready_ms\":900,\"vcpus\":2,\"memory_mib\":256,\"cid\":3,\"exits\":77,\"pid\":42,"       \
	"\"version\":\"0.1\",\"vmm\":{\"rss_bytes\":1000,\"rss_shmem_bytes\":600,"                 \
	"\"rss_anon_bytes\":300,\"threads\":5},\"guest\":{\"uptime_ms\":800,\"cpus\":2,"           \
	"\"memory\":{\"total_bytes\":200,\"used_bytes\":50}},\"new_field\":[1]}"

TEST(status_request_and_reply)
{
	struct proto_vm_status s;
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *raw = NULL, *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, STATUS_REPLY), 0);
	CHECK_EQ(proto_client_status(&c, 500, &s, &raw, &why), 0);
	CHECK(strcmp(s.state, "running") == 0 && s.ready && s.ready_ms == 900);
	CHECK(s.uptime_ms == 1234 && s.vcpus == 2 && s.memory_mib == 256 && s.cid == 3);
	CHECK(s.exits == 77 && s.pid == 42 && strcmp(s.version, "0.1") == 0);
	CHECK(s.vmm.rss_bytes == 1000 && s.vmm.rss_shmem_bytes == 600 && s.vmm.threads == 5);
	CHECK(s.has_guest && s.guest.cpus == 2 && s.guest.mem_total_bytes == 200);
	CHECK(s.guest.mem_used_bytes == 50 && s.guest_error[0] == '\0');
	CHECK(raw && json_is_array(json_object_get(raw, "new_field")));
	json_decref(raw);
	req = take(peer);
	CHECK(req && is(req, "type", "request") && is(req, "op", "status"));
	CHECK_EQ(num(req, "id"), 1);
	CHECK_EQ(num(req, "guest_wait_ms"), 500);
	json_decref(req);
	/* -1: the VMM's default, so the field is left out. */
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"reply\",\"state\":\"booting\","
	                        "\"guest_error\":\"the agent is not listening yet\"}"),
	         0);
	CHECK_EQ(proto_client_status(&c, -1, &s, NULL, &why), 0);
	CHECK(!s.ready && !s.has_guest && strstr(s.guest_error, "not listening") != NULL);
	req = take(peer);
	CHECK(req && json_object_get(req, "guest_wait_ms") == NULL);
	json_decref(req);
	CHECK_ERR(proto_client_status(&c, 60001, &s, NULL, &why), -EINVAL);
	proto_client_close(&c);
	close(peer);
}

TEST(status_reply_out_of_protocol)
{
	static const char *const bad[] = {
		"{\"id\":1,\"type\":\"reply\",\"uptime_ms\":1}", /* no state */
		"{\"id\":2,\"type\":\"reply\",\"state\":\"running\",\"vcpus\":\"two\"}",
		"{\"id\":3,\"type\":\"reply\",\"state\":\"running\",\"pid\":-1}",
		"{\"id\":4,\"type\":\"reply\",\"state\":\"running\",\"vmm\":[]}",
		"{\"id\":5,\"type\":\"reply\",\"state\":\"running\",\"guest\":{\"memory\":1}}",
	};
	struct proto_vm_status s;
	struct proto_client c;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proto_why why = { "" };

		CHECK_EQ(put_json(peer, bad[i]), 0);
		CHECK_ERR(proto_client_status(&c, 0, &s, NULL, &why), -EPROTO);
		CHECK(strstr(why.text, "out of the protocol") != NULL);
		json_decref(take(peer));
	}
	proto_client_close(&c);
	close(peer);
}

TEST(metrics_one_sample)
{
	struct proto_vm_status s;
	struct proto_client c;
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\",\"state\":\"running\",\"exits\":9}"),
	         0);
	CHECK_EQ(proto_client_metrics(&c, 0, &s, NULL, NULL), 0);
	CHECK_EQ(s.exits, 9);
	req = take(peer);
	CHECK(req && is(req, "op", "metrics") && !json_object_get(req, "interval_ms"));
	CHECK_EQ(num(req, "guest_wait_ms"), 0);
	json_decref(req);
	proto_client_close(&c);
	close(peer);
}

/* watch_fn: counts samples in *opaque; stops at the second. */
static int watch_fn(const struct proto_vm_status *s, const json_t *sample, void *opaque)
{
	int *n = opaque;

	if (s->exits != (uint64_t)(*n + 1) * 10 || !json_object_get(sample, "event"))
		return -EBADE;
	return ++*n == 2 ? 1 : 0;
}

TEST(metrics_watch_samples_then_cancel)
{
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1, n = 0;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"event\",\"event\":\"metrics\","
	                        "\"state\":\"running\",\"exits\":10}"),
	         0);
	/* Another request's frame, and an event of another name: not samples. */
	CHECK_EQ(put_json(peer, "{\"id\":7,\"type\":\"event\",\"event\":\"metrics\","
	                        "\"state\":\"running\",\"exits\":99}"),
	         0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"event\",\"event\":\"other\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"event\",\"event\":\"metrics\","
	                        "\"state\":\"running\",\"exits\":20}"),
	         0);
	/* One that was on its way when the client stopped, then the cancel's reply. */
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"event\",\"event\":\"metrics\","
	                        "\"state\":\"running\",\"exits\":30}"),
	         0);
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"reply\"}"), 0);
	CHECK_EQ(proto_client_metrics_watch(&c, 250, 100, watch_fn, &n, &why), 0);
	CHECK_EQ(n, 2);
	req = take(peer);
	CHECK(req && is(req, "op", "metrics"));
	CHECK_EQ(num(req, "interval_ms"), 250);
	CHECK_EQ(num(req, "guest_wait_ms"), 100);
	json_decref(req);
	req = take(peer);
	CHECK(req && is(req, "op", "metrics.cancel"));
	CHECK_EQ(num(req, "metrics_id"), 1);
	json_decref(req);
	CHECK_EQ(c.wait_ms, 2000); /* restored */
	CHECK_ERR(proto_client_metrics_watch(&c, 99, -1, watch_fn, &n, &why), -EINVAL);
	proto_client_close(&c);
	close(peer);
}

TEST(metrics_watch_refused)
{
	struct proto_client c;
	struct proto_why why = { "" };
	int peer = -1, n = 0;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"error\",\"error\":{\"code\":\"too_large\","
	                        "\"message\":\"more than 8 streams\"}}"),
	         0);
	CHECK_ERR(proto_client_metrics_watch(&c, 1000, -1, watch_fn, &n, &why), -E2BIG);
	CHECK(strcmp(why.text, "too_large: more than 8 streams") == 0);
	CHECK_EQ(n, 0);
	proto_client_close(&c);
	close(peer);
}

TEST(stop_force_and_stream_end)
{
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\"}"), 0);
	CHECK_EQ(proto_client_vm_stop(&c, true, &why), 0);
	req = take(peer);
	CHECK(req && is(req, "op", "stop") && json_is_true(json_object_get(req, "force")));
	json_decref(req);
	/* The VM went before its answer did: success all the same. */
	shutdown(peer, SHUT_WR);
	CHECK_EQ(proto_client_vm_stop(&c, false, &why), 0);
	req = take(peer);
	CHECK(req && is(req, "op", "stop") && !json_object_get(req, "force"));
	json_decref(req);
	proto_client_close(&c);
	close(peer);
}

TEST(ping_and_error_answers)
{
	static const struct {
		const char *code, *errno_name;
		int err;
	} cases[] = {
		{ "unknown_op", NULL, -EOPNOTSUPP },
		{ "not_found", NULL, -ENOENT },
		{ "unavailable", NULL, -EHOSTUNREACH },
		{ "bad_request", NULL, -EINVAL },
		{ "internal", NULL, -EIO },
		{ "some_new_code", NULL, -EIO },
		{ "fs_error", "EACCES", -EACCES },
	};
	struct proto_client c;
	json_t *m, *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\"}"), 0);
	CHECK_EQ(proto_client_ping(&c, NULL), 0);
	req = take(peer);
	CHECK(req && is(req, "op", "ping"));
	json_decref(req);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proto_why why = { "" };
		char want[128];

		CHECK_EQ(proto_msg_error(&m, i + 2, cases[i].code, "said %zu", i), 0);
		if (cases[i].errno_name)
			json_object_set_new(json_object_get(m, "error"), "errno",
			                    json_string(cases[i].errno_name));
		CHECK_EQ(put(peer, m, NULL, 0), 0);
		CHECK_ERR(proto_client_ping(&c, &why), cases[i].err);
		snprintf(want, sizeof(want), "%s: said %zu", cases[i].code, i);
		CHECK(strcmp(why.text, want) == 0);
		json_decref(take(peer));
	}
	proto_client_close(&c);
	close(peer);
}

TEST(call_skips_others_and_gives_the_answer)
{
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req, *answer = NULL;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	/* Events of this request, frames of others, a bad envelope: skipped. */
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"event\",\"event\":\"x\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":5,\"type\":\"reply\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"type\":\"reply\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\",\"v\":3}"), 0);
	CHECK_EQ(proto_msg_request(&req, 99, "ping"), 0);
	CHECK_EQ(proto_client_call(&c, req, NULL, 0, &answer, &why), 0);
	CHECK_EQ(num(answer, "v"), 3);
	json_decref(answer);
	req = take(peer);
	CHECK_EQ(num(req, "id"), 1); /* the client's own id, not the caller's */
	json_decref(req);
	/* An error about the connection (id 0) answers every request. */
	CHECK_EQ(put_json(peer, "{\"id\":0,\"type\":\"error\",\"error\":{\"code\":\"unavailable\","
	                        "\"message\":\"too many clients\"}}"),
	         0);
	CHECK_EQ(proto_msg_request(&req, 0, "status"), 0);
	CHECK_ERR(proto_client_call(&c, req, NULL, 0, &answer, &why), -ECONNABORTED);
	CHECK(answer && is(answer, "type", "error"));
	CHECK(strcmp(why.text, "unavailable: too many clients") == 0);
	json_decref(answer);
	proto_client_close(&c);
	close(peer);
}

/* A peer that dies half-way through a reply: the frame is lost, the call fails. */
TEST(peer_closes_mid_reply)
{
	struct proto_vm_status s;
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *m;
	uint8_t *buf;
	size_t n;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	m = json_loads(STATUS_REPLY, 0, NULL);
	CHECK_EQ(proto_frame_pack(m, NULL, 0, &buf, &n), 0);
	json_decref(m);
	CHECK_EQ(write(peer, buf, n / 2), (ssize_t)(n / 2));
	free(buf);
	shutdown(peer, SHUT_WR);
	CHECK_ERR(proto_client_status(&c, 0, &s, NULL, &why), -EPIPE);
	CHECK(strstr(why.text, "closed") != NULL);
	proto_client_close(&c);
	close(peer);
}

/* A peer that never answers, and one that keeps sending what is not the answer. */
TEST(answer_never_comes)
{
	struct proto_client c;
	struct proto_why why = { "" };
	struct timespec t0, t1;
	pid_t chatter;
	int peer = -1, status;
	long ms;

	CHECK_EQ(pair(&c, &peer), 0);
	c.wait_ms = 50;
	CHECK_ERR(proto_client_ports_close(&c, 1, &why), -ETIMEDOUT);
	CHECK(strstr(why.text, "no answer within 50 ms") != NULL);
	/* Events of another request every 20 ms: the wait is for the whole
	 * answer, not for each frame, so it still ends. */
	chatter = fork();
	if (chatter == 0) {
		for (int i = 0; i < 40; i++) {
			if (put_json(peer, "{\"id\":77,\"type\":\"event\",\"event\":\"x\"}"))
				break;
			usleep(20 * 1000);
		}
		_exit(0);
	}
	c.wait_ms = 150;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_ERR(proto_client_ping(&c, &why), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms < 700); /* the chatter lasts 800 ms */
	kill(chatter, SIGKILL);
	waitpid(chatter, &status, 0);
	proto_client_close(&c);
	close(peer);
}

/* Frames the decoder refuses: the call fails with its error, never hangs. */
TEST(malformed_and_oversized_frames)
{
	static const struct {
		uint8_t hdr[12];
		const char *json;
		int err;
	} cases[] = {
		/* bad magic */
		{ { 'K', 'V', 'B', '2', 2, 0, 0, 0, 0, 0, 0, 0 }, "{}", -EPROTO },
		/* json_len 0 */
		{ { 'K', 'V', 'B', '1', 0, 0, 0, 0, 0, 0, 0, 0 }, "", -EPROTO },
		/* json_len 65537: over the limit, refused before anything is read */
		{ { 'K', 'V', 'B', '1', 0x01, 0x00, 0x01, 0, 0, 0, 0, 0 }, "", -EMSGSIZE },
		/* body_len 1 MiB + 1 */
		{ { 'K', 'V', 'B', '1', 2, 0, 0, 0, 0x01, 0x00, 0x10, 0x00 }, "{}", -EMSGSIZE },
		/* not JSON, and not an object */
		{ { 'K', 'V', 'B', '1', 2, 0, 0, 0, 0, 0, 0, 0 }, "{x", -EBADMSG },
		{ { 'K', 'V', 'B', '1', 2, 0, 0, 0, 0, 0, 0, 0 }, "[]", -EBADMSG },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proto_port *ports = NULL;
		struct proto_client c;
		struct proto_why why = { "" };
		size_t n = 99;
		int peer = -1;

		CHECK_EQ(pair(&c, &peer), 0);
		CHECK_EQ(write(peer, cases[i].hdr, 12), 12);
		CHECK_EQ(write(peer, cases[i].json, strlen(cases[i].json)),
		         (ssize_t)strlen(cases[i].json));
		CHECK_ERR(proto_client_ports_list(&c, &ports, &n, &why), cases[i].err);
		CHECK(ports == NULL && n == 0 && why.text[0] != '\0');
		proto_client_close(&c);
		close(peer);
	}
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* The ports' and files' ops: test_proto_client_ports.c. */
CHECK_MAIN(CASE(status_request_and_reply), CASE(status_reply_out_of_protocol),
           CASE(metrics_one_sample), CASE(metrics_watch_samples_then_cancel),
           CASE(metrics_watch_refused), CASE(stop_force_and_stream_end),
           CASE(ping_and_error_answers), CASE(call_skips_others_and_gives_the_answer),
           CASE(peer_closes_mid_reply), CASE(answer_never_comes),
           CASE(malformed_and_oversized_frames))

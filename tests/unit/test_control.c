// SPDX-License-Identifier: MIT
/*
 * Unit tests of the control socket (vmm/control/control.c) with no KVM: a struct vm
 * that only has its event loop, a client on a socketpair, and no vsock
 * device, so requests for the agent are answered "unavailable". What the
 * VMM answers itself (status, stop with force) and every kind of malformed
 * input are checked here; relaying to a real agent is the e2e tests' part.
 */
#define _GNU_SOURCE
#include "check.h"
#include "proto/msg.h"
#include "vmm/control/control_int.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct rig {
	struct vm *vm;
	int fd; /* the client's end */
};

static int rig_init(struct rig *r)
{
	struct vm_config cfg = { .nr_cpus = 2, .mem_mib = 64, .console_fd = -1 };
	int sv[2];

	r->vm = calloc(1, sizeof(*r->vm));
	if (!r->vm || vm_init(r->vm, &cfg) || loop_init(&r->vm->loop, 64) ||
	    vm_control_init(r->vm, NULL) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	r->fd = sv[0];
	return control_attach(&r->vm->control, sv[1]);
}

static void rig_destroy(struct rig *r)
{
	close(r->fd);
	vm_destroy(r->vm);
	free(r->vm);
}

/* rig_spin: run the loop until the client has something to read (or 50 rounds). */
static void rig_spin(struct rig *r)
{
	for (int i = 0; i < 50; i++) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return;
		if (loop_run_once(&r->vm->loop) < 0)
			return;
	}
}

static int rig_send_raw(struct rig *r, const void *data, size_t len)
{
	return send(r->fd, data, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int rig_send(struct rig *r, const char *json, const void *body, size_t body_len)
{
	json_t *m = json_loads(json, 0, NULL);
	uint8_t *buf;
	size_t len;
	int err;

	if (!m)
		return -1;
	err = proto_frame_pack(m, body, body_len, &buf, &len);
	json_decref(m);
	if (err)
		return err;
	err = rig_send_raw(r, buf, len);
	free(buf);
	return err;
}

/* rig_recv: the next frame's JSON (caller decrefs), or NULL at EOF / nothing. */
static json_t *rig_recv(struct rig *r)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	uint8_t b;
	size_t used;

	proto_decoder_init(&dec);
	rig_spin(r);
	/* Byte by byte: the next frame only, nothing of the one after. */
	while (proto_decoder_next(&dec, &f) == 0) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };

		if (poll(&p, 1, 2000) != 1 || recv(r->fd, &b, 1, 0) != 1 ||
		    proto_decoder_feed(&dec, &b, 1, &used) < 0)
			break;
	}
	proto_decoder_destroy(&dec);
	free(f.body);
	return f.msg;
}

/* error_code: the code of an error message m for id, or "" */
static const char *error_code(const json_t *m, uint64_t id)
{
	struct proto_env env;

	if (!m || proto_msg_parse_env(m, &env, NULL) || env.type != PROTO_ERROR || env.id != id)
		return "";
	return env.err_code;
}

/* at_eof: the VMM closed the client's connection. */
static bool at_eof(struct rig *r)
{
	char b;

	rig_spin(r);
	return recv(r->fd, &b, 1, MSG_DONTWAIT) == 0;
}

TEST(status_reply)
{
	struct rig r;
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	CHECK_EQ(rig_send(&r, "{\"id\":7,\"type\":\"request\",\"op\":\"status\"}", NULL, 0), 0);
	m = rig_recv(&r);
	CHECK(m != NULL);
	CHECK_EQ(json_integer_value(json_object_get(m, "id")), 7);
	CHECK(strcmp(json_string_value(json_object_get(m, "type")), "reply") == 0);
	CHECK(strcmp(json_string_value(json_object_get(m, "state")), "booting") == 0);
	CHECK_EQ(json_integer_value(json_object_get(m, "vcpus")), 2);
	CHECK_EQ(json_integer_value(json_object_get(m, "memory_mib")), 64);
	CHECK_EQ(json_integer_value(json_object_get(m, "pid")), getpid());
	CHECK(json_object_get(m, "ready_ms") == NULL);
	/* One count per created vCPU: none before vm_create. */
	CHECK(json_is_array(json_object_get(m, "vcpu_exits")));
	CHECK_EQ(json_array_size(json_object_get(m, "vcpu_exits")), 0);
	json_decref(m);
	/* A body where none belongs is a bad request; the connection stays. */
	CHECK_EQ(rig_send(&r, "{\"id\":8,\"type\":\"request\",\"op\":\"status\"}", "x", 1), 0);
	m = rig_recv(&r);
	CHECK(strcmp(error_code(m, 8), "bad_request") == 0);
	json_decref(m);
	rig_destroy(&r);
}

TEST(bad_envelopes_keep_the_connection)
{
	static const struct {
		const char *json;
		uint64_t id;
	} cases[] = {
		{ "{}", 0 },
		{ "{\"id\":5,\"type\":\"request\"}", 5 },
		{ "{\"id\":6,\"type\":\"request\",\"op\":\"Bad Op\"}", 6 },
		{ "{\"id\":-1,\"type\":\"request\",\"op\":\"status\"}", 0 },
		{ "{\"id\":9007199254740992,\"type\":\"request\",\"op\":\"status\"}", 0 },
		{ "{\"id\":3,\"type\":\"shout\"}", 3 },
		{ "{\"id\":4,\"type\":\"request\",\"op\":\"stop\",\"force\":\"yes\"}", 4 },
	};
	struct rig r;
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(rig_send(&r, cases[i].json, NULL, 0), 0);
		m = rig_recv(&r);
		if (strcmp(error_code(m, cases[i].id), "bad_request") != 0)
			fprintf(stderr, "case %zu: %s\n", i, cases[i].json);
		CHECK(strcmp(error_code(m, cases[i].id), "bad_request") == 0);
		json_decref(m);
	}
	CHECK_EQ(rig_send(&r, "{\"id\":1,\"type\":\"request\",\"op\":\"status\"}", NULL, 0), 0);
	m = rig_recv(&r);
	CHECK(m && strcmp(json_string_value(json_object_get(m, "type")), "reply") == 0);
	json_decref(m);
	CHECK(!atomic_load(&r.vm->stopping));
	rig_destroy(&r);
}

TEST(agent_ops_without_vsock_are_unavailable)
{
	struct rig r;
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	CHECK_EQ(rig_send(&r,
	                  "{\"id\":11,\"type\":\"request\",\"op\":\"exec\",\"argv\":[\"true\"]}",
	                  NULL, 0),
	         0);
	m = rig_recv(&r);
	CHECK(strcmp(error_code(m, 11), "unavailable") == 0);
	json_decref(m);
	/* A stop without force is the agent's: unavailable too, and no stop. */
	CHECK_EQ(rig_send(&r, "{\"id\":12,\"type\":\"request\",\"op\":\"stop\"}", NULL, 0), 0);
	m = rig_recv(&r);
	CHECK(strcmp(error_code(m, 12), "unavailable") == 0);
	json_decref(m);
	CHECK(!atomic_load(&r.vm->stopping));
	rig_destroy(&r);
}

TEST(forced_stop)
{
	struct rig r;
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	CHECK_EQ(
	    rig_send(&r, "{\"id\":2,\"type\":\"request\",\"op\":\"stop\",\"force\":true}", NULL, 0),
	    0);
	m = rig_recv(&r);
	CHECK(m && strcmp(json_string_value(json_object_get(m, "type")), "reply") == 0);
	json_decref(m);
	CHECK(atomic_load(&r.vm->stopping));
	CHECK_EQ(atomic_load(&r.vm->exit_status), VM_EXIT_OK);
	rig_destroy(&r);
}

TEST(framing_errors_close)
{
	static const uint8_t bad_magic[12] = { 'K', 'V', 'B', '2', 2, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t empty_json[12] = { 'K', 'V', 'B', '1', 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t huge_body[12] = { 'K', 'V', 'B', '1', 2, 0, 0, 0, 1, 0, 0x10, 0 };
	static const char not_json[] = "KVB1\x05\0\0\0\0\0\0\0{nope";
	static const struct {
		const void *data;
		size_t len;
		const char *code;
	} cases[] = {
		{ bad_magic, sizeof(bad_magic), "bad_frame" },
		{ empty_json, sizeof(empty_json), "bad_frame" },
		{ huge_body, sizeof(huge_body), "too_large" },
		{ not_json, sizeof(not_json) - 1, "bad_json" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;
		json_t *m;

		CHECK_EQ(rig_init(&r), 0);
		CHECK_EQ(rig_send_raw(&r, cases[i].data, cases[i].len), 0);
		m = rig_recv(&r);
		CHECK(strcmp(error_code(m, 0), cases[i].code) == 0);
		json_decref(m);
		CHECK(at_eof(&r));
		rig_destroy(&r);
	}
}

TEST(client_leaving_frees_its_connection)
{
	struct rig r;

	CHECK_EQ(rig_init(&r), 0);
	CHECK_EQ(r.vm->control.nr_conns, 1);
	/* Half a frame, then gone. */
	CHECK_EQ(rig_send_raw(&r, "KVB1\x40\0\0\0", 8), 0);
	shutdown(r.fd, SHUT_RDWR);
	for (int i = 0; i < 10 && r.vm->control.nr_conns; i++)
		CHECK_EQ(loop_run_once(&r.vm->loop), 0);
	CHECK_EQ(r.vm->control.nr_conns, 0);
	rig_destroy(&r);
}

static void no_irq(void *opaque)
{
	(void)opaque;
}

/*
 * A vsock device whose driver never came up: the agent's stream stays
 * "opening", so requests wait, and no more than CONTROL_MAX_WAITING of
 * them, even when one read brings many more.
 */
TEST(waiting_requests_are_bounded)
{
	static uint8_t ram[1 << 16] __attribute__((aligned(4096)));
	struct virtio_mmio_params mp = { .base = 0xd0000000, .gsi = 5, .irq = no_irq };
	char dir[] = "/tmp/test_control.XXXXXX", path[64];
	struct vsock_params vp = { .guest_cid = 3, .uds_path = path };
	size_t len = 0, cap = 1 << 20;
	uint8_t *all = malloc(cap);
	unsigned int refused = 0;
	struct rig r;
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	r.vm->vsock = calloc(1, sizeof(*r.vm->vsock));
	CHECK_EQ(gmem_init_buffer(&r.vm->mem, ram, sizeof(ram)), 0);
	CHECK_EQ(vsock_init(r.vm->vsock, &vp, &r.vm->loop, &r.vm->mem, &mp), 0);
	for (unsigned int i = 1; i <= CONTROL_MAX_WAITING + 20; i++) {
		json_t *req = json_pack("{s:I, s:s, s:s, s:[s]}", "id", (json_int_t)i, "type",
		                        "request", "op", "exec", "argv", "true");
		uint8_t *buf;
		size_t n;

		CHECK_EQ(proto_frame_pack(req, NULL, 0, &buf, &n), 0);
		json_decref(req);
		memcpy(all + len, buf, n);
		len += n;
		free(buf);
	}
	CHECK_EQ(rig_send_raw(&r, all, len), 0);
	for (unsigned int i = 0; i < 20; i++) {
		m = rig_recv(&r);
		if (strcmp(error_code(m, CONTROL_MAX_WAITING + 1 + i), "too_large") == 0)
			refused++;
		json_decref(m);
	}
	CHECK_EQ(refused, 20);
	CHECK_EQ(r.vm->control.conns[0]->nr_waiting, CONTROL_MAX_WAITING);
	rig_destroy(&r);
	/* gmem over a static buffer: nothing to free; the socket goes with vsock. */
	rmdir(dir);
	free(all);
}

/*
 * A guest that takes the agent stream's REQUEST and never answers: the
 * waiting request fails with "unavailable" at the link's deadline instead
 * of waiting for ever (before the fix, only a refusal looked at it).
 */
TEST(silent_guest_times_out)
{
	static uint8_t ram[1 << 16] __attribute__((aligned(4096)));
	struct virtio_mmio_params mp = { .base = 0xd0000000, .gsi = 5, .irq = no_irq };
	char dir[] = "/tmp/test_control.XXXXXX", path[64];
	struct vsock_params vp = { .guest_cid = 3, .uds_path = path };
	struct rig r;
	json_t *m;

	alarm(20); /* a hang is a failure, not a stuck test run */
	CHECK_EQ(rig_init(&r), 0);
	CHECK_EQ(r.vm->control.link_timeout_ms, CONTROL_LINK_TIMEOUT_MS);
	r.vm->control.link_timeout_ms = 100;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	r.vm->vsock = calloc(1, sizeof(*r.vm->vsock));
	CHECK_EQ(gmem_init_buffer(&r.vm->mem, ram, sizeof(ram)), 0);
	CHECK_EQ(vsock_init(r.vm->vsock, &vp, &r.vm->loop, &r.vm->mem, &mp), 0);
	CHECK_EQ(rig_send(&r,
	                  "{\"id\": 7, \"type\": \"request\", \"op\": \"exec\", "
	                  "\"argv\": [\"true\"]}",
	                  NULL, 0),
	         0);
	m = rig_recv(&r);
	CHECK(!strcmp(error_code(m, 7), "unavailable"));
	json_decref(m);
	/* The stream the guest never answered is gone from the device too. */
	for (int i = 0; i < 10 && r.vm->vsock->nr_conns; i++)
		CHECK_EQ(loop_run_once(&r.vm->loop), 0);
	CHECK_EQ(r.vm->vsock->nr_conns, 0);
	rig_destroy(&r);
	rmdir(dir);
	alarm(0);
}

/* Issue 14, item 16: the client over the limit is told the limit. */
TEST(client_over_the_limit_is_told)
{
	int peers[CONTROL_MAX_CONNS];
	unsigned int n = 0;
	struct rig r;
	json_t *m;
	int sv[2];

	CHECK_EQ(rig_init(&r), 0);
	while (r.vm->control.nr_conns < CONTROL_MAX_CONNS &&
	       socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		peers[n++] = sv[0];
		CHECK_EQ(control_attach(&r.vm->control, sv[1]), 0);
	}
	CHECK_EQ(r.vm->control.nr_conns, CONTROL_MAX_CONNS);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_ERR(control_attach(&r.vm->control, sv[1]), -EUSERS);
	close(r.fd);
	r.fd = sv[0];
	m = rig_recv(&r);
	CHECK(strcmp(error_code(m, 0), "unavailable") == 0);
	CHECK(m &&
	      strstr(json_string_value(json_object_get(json_object_get(m, "error"), "message")),
	             "at most 64") != NULL);
	json_decref(m);
	CHECK(at_eof(&r));
	for (unsigned int i = 0; i < n; i++)
		close(peers[i]);
	rig_destroy(&r);
}

/* Issue 14, item 7: an agent frame that outgrows the limit once
 * re-encoded becomes an error for the client, not a dropped connection. */
TEST(agent_frame_over_limit_after_reencoding)
{
	struct rig r;
	struct control_conn *c;
	char *json = malloc(PROTO_MAX_JSON);
	size_t n = 0;
	uint8_t hdr[PROTO_HDR_SIZE];
	json_t *m;

	CHECK_EQ(rig_init(&r), 0);
	c = r.vm->control.conns[0];
	/* Under the limit as sent; 1e-7 grows to 22 bytes when re-encoded. */
	n += (size_t)sprintf(json, "{\"id\":7,\"type\":\"event\",\"event\":\"x\",\"v\":[1e-7");
	while (n + 16 < PROTO_MAX_JSON)
		n += (size_t)sprintf(json + n, ",1e-7");
	n += (size_t)sprintf(json + n, "]}");
	CHECK_EQ(proto_frame_header(hdr, (uint32_t)n, 0), 0);
	CHECK_EQ(control_feed(c, &c->from_agent, hdr, sizeof(hdr), false), 0);
	CHECK_EQ(control_feed(c, &c->from_agent, (uint8_t *)json, n, false), 0);
	control_pump(c);
	m = rig_recv(&r);
	CHECK(strcmp(error_code(m, 7), "too_large") == 0);
	json_decref(m);
	CHECK(!c->dead);
	rig_destroy(&r);
	free(json);
}

/* Issue 14, item 14: a socket left by a killed VMM is replaced; others are not. */
TEST(stale_socket_is_replaced)
{
	char dir[] = "/tmp/test_control.XXXXXX", path[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vm_config cfg = { .nr_cpus = 1, .mem_mib = 64, .console_fd = -1 };
	struct vm *vm = calloc(1, sizeof(*vm));
	int fd, live;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.sock", dir);
	strcpy(sa.sun_path, path);
	/* Bound and closed: the file stays, nobody listens (like SIGKILL). */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	CHECK(vm && vm_init(vm, &cfg) == 0 && loop_init(&vm->loop, 64) == 0);
	CHECK_EQ(vm_control_init(vm, path), 0);
	vm_destroy(vm);
	CHECK(access(path, F_OK) < 0);
	/* A live listener stays, and so does a file that is no socket. */
	live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(bind(live, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(live, 1), 0);
	CHECK(vm_init(vm, &cfg) == 0 && loop_init(&vm->loop, 64) == 0);
	CHECK_ERR(vm_control_init(vm, path), -EADDRINUSE);
	vm_destroy(vm);
	close(live);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	close(fd);
	CHECK(vm_init(vm, &cfg) == 0 && loop_init(&vm->loop, 64) == 0);
	CHECK_ERR(vm_control_init(vm, path), -EEXIST);
	vm_destroy(vm);
	CHECK_EQ(access(path, F_OK), 0);
	unlink(path);
	rmdir(dir);
	free(vm);
}

/* A 1 ms timeout on the loop, so that a pass never waits for ever. */
struct tick {
	struct loop_op op;
	struct __kernel_timespec ts;
	bool armed;
};

static void tick_cb(void *opaque, int res, bool more)
{
	(void)res, (void)more;
	((struct tick *)opaque)->armed = false;
}

/* tick_run: one pass of the loop, at most about 1 ms long. */
static void tick_run(struct rig *r, struct tick *t)
{
	if (!t->armed) {
		struct io_uring_sqe *sqe;

		t->op = (struct loop_op){ .cb = tick_cb, .opaque = t, .fd = -1 };
		t->ts = (struct __kernel_timespec){ .tv_nsec = 1000000 };
		sqe = loop_sqe(&r->vm->loop, &t->op);
		if (!sqe)
			return;
		io_uring_prep_timeout(sqe, &t->ts, 0, 0);
		t->armed = true;
	}
	loop_run_once(&r->vm->loop);
}

/*
 * relay: len bytes of data written to out_fd while the loop runs and
 * in_fd is read, until a whole frame came out of in_fd (5 s at most);
 * 1 with it in *f.
 */
static int relay(struct rig *r, int out_fd, const uint8_t *data, size_t len, int in_fd,
                 struct proto_frame *f)
{
	struct tick t = { .armed = false };
	struct proto_decoder dec;
	uint8_t buf[65536];
	size_t sent = 0;
	int got = 0;

	proto_decoder_init(&dec);
	for (int i = 0; i < 5000 && got == 0; i++) {
		ssize_t n = sent < len
		                ? send(out_fd, data + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL)
		                : 0;
		size_t off = 0, used;

		if (n > 0)
			sent += (size_t)n;
		tick_run(r, &t);
		n = recv(in_fd, buf, sizeof(buf), MSG_DONTWAIT);
		while (n > 0 && off < (size_t)n && got == 0) {
			if (proto_decoder_feed(&dec, buf + off, (size_t)n - off, &used) < 0)
				break;
			off += used;
			got = proto_decoder_next(&dec, f);
		}
	}
	while (t.armed) /* the timeout must not outlive t */
		loop_run_once(&r->vm->loop);
	proto_decoder_destroy(&dec);
	return got;
}

/* The file operations need nothing of the VMM: their frames, bodies of
 * the largest size included, pass both ways unchanged (docs/protocol.md). */
TEST(file_frames_pass_through)
{
	const size_t big = PROTO_MAX_BODY;
	struct proto_frame f = { 0 };
	uint8_t *body = malloc(big), *frame;
	struct control_conn *c;
	struct rig r;
	json_t *m;
	size_t len;
	int ag[2];

	for (size_t i = 0; i < big; i++)
		body[i] = (uint8_t)(i * 31 + 7);
	CHECK_EQ(rig_init(&r), 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ag) == 0);
	c = r.vm->control.conns[0];
	c->link_fd = ag[0]; /* as if the agent's stream had opened */
	c->link = CONTROL_LINK_OPEN;
	control_pump(c);
	m = json_pack("{sIssssss}", "id", (json_int_t)1, "type", "request", "op", "fs.write",
	              "path", "/x");
	CHECK_EQ(proto_frame_pack(m, body, big, &frame, &len), 0);
	json_decref(m);
	CHECK_EQ(relay(&r, r.fd, frame, len, ag[1], &f), 1);
	free(frame);
	CHECK(f.msg && strcmp(json_string_value(json_object_get(f.msg, "op")), "fs.write") == 0);
	CHECK(f.body_len == big && memcmp(f.body, body, big) == 0);
	proto_frame_clear(&f);
	/* And the other way: a chunk of a read. */
	m = json_pack("{sIssss}", "id", (json_int_t)1, "type", "event", "event", "fs.data");
	CHECK_EQ(proto_frame_pack(m, body, 256u << 10, &frame, &len), 0);
	json_decref(m);
	CHECK_EQ(relay(&r, ag[1], frame, len, r.fd, &f), 1);
	free(frame);
	CHECK(f.msg && strcmp(json_string_value(json_object_get(f.msg, "event")), "fs.data") == 0);
	CHECK(f.body_len == 256u << 10 && memcmp(f.body, body, 256u << 10) == 0);
	proto_frame_clear(&f);
	close(ag[1]);
	rig_destroy(&r);
	free(body);
}

CHECK_MAIN(CASE(agent_frame_over_limit_after_reencoding), CASE(file_frames_pass_through),
           CASE(client_over_the_limit_is_told), CASE(stale_socket_is_replaced), CASE(status_reply),
           CASE(bad_envelopes_keep_the_connection), CASE(agent_ops_without_vsock_are_unavailable),
           CASE(forced_stop), CASE(framing_errors_close), CASE(client_leaving_frees_its_connection),
           CASE(waiting_requests_are_bounded), CASE(silent_guest_times_out))

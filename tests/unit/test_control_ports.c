// SPDX-License-Identifier: MIT
/*
 * Unit tests of published ports on the control socket
 * (vmm/control/control_ports.c) with no VM: the control server on its own
 * loop, with a host whose port_connect keeps the sockets it is handed
 * instead of giving them to a vsock device. The requests' checks, TCP and
 * unix listeners on 127.0.0.1 and in a temporary folder, the relay's
 * header, refusals, limits, the accept budget, and closing.
 */
#define _GNU_SOURCE
#include "check.h"
#include "proto/bytes.h"
#include "proto/msg.h"
#include "vmm/control/control_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_HANDED 128

struct rig {
	struct loop loop;
	struct control ctl;
	int fd;                 /* the client's end of the control connection */
	int port_err;           /* what port_connect answers: 0, -EMFILE, -ENODEV */
	int handed[MAX_HANDED]; /* the sockets port_connect kept */
	unsigned int nr_handed;
	char hello[64];
};

static int host_agent_connect(void *opaque, int fd)
{
	(void)opaque;
	close(fd);
	return -ENODEV;
}

static void host_agent_linked(void *opaque)
{
	(void)opaque;
}

static int host_status(void *opaque, json_t *reply)
{
	(void)opaque;
	(void)reply;
	return 0;
}

static void host_stop(void *opaque)
{
	(void)opaque;
}

static int host_port_connect(void *opaque, int fd, const void *hello, size_t len)
{
	struct rig *r = opaque;

	if (r->port_err || fd < 0)
		return r->port_err == -ENODEV || fd >= 0 ? r->port_err : 0;
	if (r->nr_handed == MAX_HANDED || len >= sizeof(r->hello))
		return -EMFILE;
	memcpy(r->hello, hello, len);
	r->hello[len] = '\0';
	r->handed[r->nr_handed++] = fd;
	return 0;
}

static const struct control_host_ops host_ops = {
	.agent_connect = host_agent_connect,
	.agent_linked = host_agent_linked,
	.status = host_status,
	.stop = host_stop,
	.port_connect = host_port_connect,
};

static int rig_init(struct rig *r)
{
	struct control_host host = { .ops = &host_ops, .opaque = r, .loop = &r->loop };
	int sv[2];

	memset(r, 0, sizeof(*r));
	if (loop_init(&r->loop, 256) || control_init(&r->ctl, &host, NULL) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	r->fd = sv[0];
	return control_attach(&r->ctl, sv[1]);
}

static void rig_destroy(struct rig *r)
{
	close(r->fd);
	for (unsigned int i = 0; i < r->nr_handed; i++)
		close(r->handed[i]);
	loop_destroy(&r->loop);
	control_destroy(&r->ctl);
}

static void nop_cb(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

/* spin: run the loop up to n rounds, until the client has an answer to read. */
static void spin(struct rig *r, int n)
{
	static struct loop_op nop = { .cb = nop_cb, .fd = -1 };

	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1 && i > 0)
			return;
		/* A no-op in the ring: the round never waits for ever. */
		if (loop_defer(&r->loop, &nop) < 0 || loop_run_once(&r->loop) < 0)
			return;
	}
}

/* request: send json, run the loop, and return the answer (caller decrefs). */
static json_t *request(struct rig *r, const char *json)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	json_t *m = json_loads(json, 0, NULL);
	uint8_t *buf, b;
	size_t len, used;

	if (!m || proto_frame_pack(m, NULL, 0, &buf, &len))
		abort();
	json_decref(m);
	if (send(r->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		abort();
	free(buf);
	spin(r, 50);
	proto_decoder_init(&dec);
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

/* code: the error code of m, or "reply" for a reply. */
static const char *code(const json_t *m)
{
	struct proto_env env;

	if (!m || proto_msg_parse_env(m, &env, NULL))
		return "";
	return env.type == PROTO_ERROR ? env.err_code : env.type == PROTO_REPLY ? "reply" : "";
}

static int64_t num(const json_t *m, const char *key)
{
	return json_integer_value(json_object_get(m, key));
}

/* tcp_connect: a client of 127.0.0.1:port; -errno of connect otherwise. */
static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_port = htons(port),
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* publish: ports.publish of guest port 80 on 127.0.0.1, any port; its host port. */
static uint16_t publish(struct rig *r, int *failed)
{
	json_t *m = request(r, "{\"id\":1,\"type\":\"request\",\"op\":\"ports.publish\","
	                       "\"guest_port\":80}");
	uint16_t port = (uint16_t)num(m, "host_port");

	CHECK(!strcmp(code(m), "reply"));
	CHECK(!strcmp(json_string_value(json_object_get(m, "host_addr")), "127.0.0.1"));
	CHECK(port > 0);
	json_decref(m);
	return port;
}

TEST(requests_are_checked)
{
	static const struct {
		const char *fields, *code;
	} cases[] = {
		{ "", "bad_request" },
		{ ",\"guest_port\":0", "bad_request" },
		{ ",\"guest_port\":65536", "bad_request" },
		{ ",\"guest_port\":\"80\"", "bad_request" },
		{ ",\"guest_port\":80,\"host_port\":-1", "bad_request" },
		{ ",\"guest_port\":80,\"host_port\":70000", "bad_request" },
		{ ",\"guest_port\":80,\"host_addr\":\"localhost\"", "bad_request" },
		{ ",\"guest_port\":80,\"host_addr\":\"127.0.0.1\",\"host_path\":\"/tmp/x\"",
		  "bad_request" },
		{ ",\"guest_port\":80,\"host_port\":8080,\"host_path\":\"/tmp/x\"", "bad_request" },
		{ ",\"guest_port\":80,\"host_path\":\"\"", "bad_request" },
		/* An address this host does not have. */
		{ ",\"guest_port\":80,\"host_addr\":\"192.0.2.1\"", "port_error" },
	};
	struct rig r;
	json_t *m;
	char text[256];

	CHECK_EQ(rig_init(&r), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		         "{\"id\":3,\"type\":\"request\",\"op\":\"ports.publish\"%s}",
		         cases[i].fields);
		m = request(&r, text);
		if (strcmp(code(m), cases[i].code))
			fprintf(stderr, "case %s: %s\n", cases[i].fields, code(m));
		CHECK(!strcmp(code(m), cases[i].code));
		json_decref(m);
	}
	m = request(&r, "{\"id\":4,\"type\":\"request\",\"op\":\"ports.close\"}");
	CHECK(!strcmp(code(m), "bad_request"));
	json_decref(m);
	m = request(&r, "{\"id\":5,\"type\":\"request\",\"op\":\"ports.close\",\"port_id\":9}");
	CHECK(!strcmp(code(m), "not_found"));
	json_decref(m);
	m = request(&r, "{\"id\":6,\"type\":\"request\",\"op\":\"ports.forward\"}");
	CHECK(!strcmp(code(m), "unknown_op"));
	json_decref(m);
	CHECK_EQ(r.ctl.nr_ports, 0);
	/* No vsock device: nothing to relay to. */
	r.port_err = -ENODEV;
	m = request(&r,
	            "{\"id\":7,\"type\":\"request\",\"op\":\"ports.publish\",\"guest_port\":80}");
	CHECK(!strcmp(code(m), "unavailable"));
	json_decref(m);
	rig_destroy(&r);
}

TEST(tcp_clients_are_handed_to_the_guest)
{
	char buf[16] = { 0 };
	struct rig r;
	uint16_t port;
	json_t *m, *p;
	int c;

	CHECK_EQ(rig_init(&r), 0);
	port = publish(&r, failed);
	c = tcp_connect(port);
	CHECK(c >= 0);
	spin(&r, 5);
	CHECK_EQ(r.nr_handed, 1);
	CHECK(!strcmp(r.hello, "CONNECT 80\n"));
	/* The handed socket is the client's connection itself. */
	CHECK_EQ(write(c, "ping", 4), 4);
	CHECK_EQ(read(r.handed[0], buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "ping", 4));
	CHECK_EQ(write(r.handed[0], "pong", 4), 4);
	CHECK_EQ(read(c, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "pong", 4));
	m = request(&r, "{\"id\":2,\"type\":\"request\",\"op\":\"ports.list\"}");
	p = json_array_get(json_object_get(m, "ports"), 0);
	CHECK_EQ(json_array_size(json_object_get(m, "ports")), 1);
	CHECK_EQ(num(p, "port_id"), 1);
	CHECK_EQ(num(p, "guest_port"), 80);
	CHECK_EQ(num(p, "host_port"), port);
	CHECK_EQ(num(p, "connections"), 1);
	CHECK_EQ(num(p, "refused"), 0);
	json_decref(m);
	close(c);
	rig_destroy(&r);
}

/* A client the vsock device has no room for is reset, and counted. */
TEST(clients_over_the_limit_are_reset)
{
	struct rig r;
	uint16_t port;
	char b;
	json_t *m;
	int c;

	CHECK_EQ(rig_init(&r), 0);
	port = publish(&r, failed);
	r.port_err = -EMFILE;
	c = tcp_connect(port);
	CHECK(c >= 0);
	spin(&r, 5);
	CHECK(read(c, &b, 1) <= 0);
	close(c);
	m = request(&r, "{\"id\":2,\"type\":\"request\",\"op\":\"ports.list\"}");
	CHECK_EQ(num(json_array_get(json_object_get(m, "ports"), 0), "refused"), 1);
	json_decref(m);
	rig_destroy(&r);
}

/* ports.close: new connections are refused, a relayed one goes on, the port may come back. */
TEST(close_refuses_new_connections)
{
	char text[160], buf[8];
	struct rig r;
	uint16_t port;
	json_t *m;
	int c;

	CHECK_EQ(rig_init(&r), 0);
	port = publish(&r, failed);
	c = tcp_connect(port);
	spin(&r, 5);
	CHECK_EQ(r.nr_handed, 1);
	m = request(&r, "{\"id\":2,\"type\":\"request\",\"op\":\"ports.close\",\"port_id\":1}");
	CHECK(!strcmp(code(m), "reply"));
	json_decref(m);
	CHECK_EQ(tcp_connect(port), -ECONNREFUSED);
	CHECK_EQ(write(r.handed[0], "still", 5), 5);
	CHECK_EQ(read(c, buf, sizeof(buf)), 5);
	close(c);
	m = request(&r, "{\"id\":3,\"type\":\"request\",\"op\":\"ports.list\"}");
	CHECK_EQ(json_array_size(json_object_get(m, "ports")), 0);
	json_decref(m);
	m = request(&r, "{\"id\":4,\"type\":\"request\",\"op\":\"ports.close\",\"port_id\":1}");
	CHECK(!strcmp(code(m), "not_found"));
	json_decref(m);
	CHECK(r.ctl.closing == NULL); /* freed once its poll came back */
	/* The same host port again, at once; a new id. */
	snprintf(text, sizeof(text),
	         "{\"id\":5,\"type\":\"request\",\"op\":\"ports.publish\",\"guest_port\":81,"
	         "\"host_addr\":\"127.0.0.1\",\"host_port\":%u}",
	         port);
	m = request(&r, text);
	CHECK(!strcmp(code(m), "reply"));
	CHECK_EQ(num(m, "port_id"), 2);
	CHECK_EQ(num(m, "host_port"), port);
	json_decref(m);
	/* Taken: a port_error naming the errno. */
	m = request(&r, text);
	CHECK(!strcmp(code(m), "port_error"));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(m, "error"), "errno")),
	              "EADDRINUSE"));
	json_decref(m);
	rig_destroy(&r);
}

TEST(unix_socket_ports)
{
	char dir[] = "/tmp/test_ports.XXXXXX", path[96], text[256], buf[8];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	struct rig r;
	json_t *m;
	int c, fd;

	CHECK_EQ(rig_init(&r), 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/web.sock", dir);
	/* A stale socket (nobody listens) is replaced. */
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(text, sizeof(text),
	         "{\"id\":1,\"type\":\"request\",\"op\":\"ports.publish\",\"guest_port\":8080,"
	         "\"host_path\":\"%s\"}",
	         path);
	m = request(&r, text);
	CHECK(!strcmp(code(m), "reply"));
	CHECK(!strcmp(json_string_value(json_object_get(m, "host_path")), path));
	CHECK(json_object_get(m, "host_port") == NULL);
	json_decref(m);
	CHECK_EQ(lstat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	spin(&r, 5);
	CHECK_EQ(r.nr_handed, 1);
	CHECK(!strcmp(r.hello, "CONNECT 8080\n"));
	CHECK_EQ(write(r.handed[0], "hi", 2), 2);
	CHECK_EQ(read(c, buf, sizeof(buf)), 2);
	close(c);
	/* A live one there: taken. */
	m = request(&r, text);
	CHECK(!strcmp(code(m), "port_error"));
	json_decref(m);
	m = request(&r, "{\"id\":2,\"type\":\"request\",\"op\":\"ports.close\",\"port_id\":1}");
	CHECK(!strcmp(code(m), "reply"));
	json_decref(m);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);
	/* A file that is not a socket is never replaced. */
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	m = request(&r, text);
	CHECK(!strcmp(code(m), "port_error"));
	json_decref(m);
	CHECK_EQ(lstat(path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	unlink(path);
	rmdir(dir);
	rig_destroy(&r);
}

/* At most CONTROL_MAX_PORTS; they belong to the VM, not to the client that asked. */
TEST(ports_are_bounded_and_outlive_their_client)
{
	struct rig r;
	json_t *m;
	int sv[2];

	CHECK_EQ(rig_init(&r), 0);
	for (int i = 0; i < CONTROL_MAX_PORTS; i++)
		(void)publish(&r, failed);
	m = request(&r,
	            "{\"id\":2,\"type\":\"request\",\"op\":\"ports.publish\",\"guest_port\":80}");
	CHECK(!strcmp(code(m), "too_large"));
	json_decref(m);
	close(r.fd);
	spin(&r, 5);
	CHECK_EQ(r.ctl.nr_conns, 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(control_attach(&r.ctl, sv[1]), 0);
	r.fd = sv[0];
	m = request(&r, "{\"id\":3,\"type\":\"request\",\"op\":\"ports.list\"}");
	CHECK_EQ(json_array_size(json_object_get(m, "ports")), CONTROL_MAX_PORTS);
	json_decref(m);
	rig_destroy(&r);
}

/* A crowd of clients is taken CONTROL_PORT_BUDGET per pass of the loop. */
TEST(accepts_are_budgeted)
{
	enum { N = 40 };
	int fds[N];
	struct rig r;
	uint16_t port;

	CHECK_EQ(rig_init(&r), 0);
	port = publish(&r, failed);
	spin(&r, 3);
	for (int i = 0; i < N; i++)
		fds[i] = tcp_connect(port);
	CHECK_EQ(loop_run_once(&r.loop), 0);
	CHECK_EQ(r.nr_handed, CONTROL_PORT_BUDGET);
	for (int i = 0; i < 10 && r.nr_handed < N; i++)
		CHECK_EQ(loop_run_once(&r.loop), 0);
	CHECK_EQ(r.nr_handed, N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	rig_destroy(&r);
}

CHECK_MAIN(CASE(requests_are_checked), CASE(tcp_clients_are_handed_to_the_guest),
           CASE(clients_over_the_limit_are_reset), CASE(close_refuses_new_connections),
           CASE(unix_socket_ports), CASE(ports_are_bounded_and_outlive_their_client),
           CASE(accepts_are_budgeted))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guest agent's relay of published ports
 * (guest-agent/server_relay.c), as host processes: the agent's server is
 * forked with its relay listener on a unix socket (in the guest, vsock
 * port 1025), and a forked echo server on 127.0.0.1 plays the guest's
 * service. The test speaks as the VMM: "CONNECT <port>\n", then bytes.
 */
#define _GNU_SOURCE
#include "check.h"
#include "guest-agent/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 20000

struct rig {
	char dir[64], path[96];
	pid_t agent, echo;
	uint16_t port; /* the echo server's */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* echo_conn: echo one connection until its EOF, then close (blocking: a child of its own). */
static void echo_conn(int fd)
{
	static uint8_t buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0, w; off < n; off += w)
			if ((w = write(fd, buf + off, (size_t)(n - off))) <= 0)
				_exit(1);
	_exit(0);
}

/* echo_start: an echo server on 127.0.0.1, a child per connection; its port. */
static pid_t echo_start(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	*port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		signal(SIGCHLD, SIG_IGN); /* no zombies */
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (fork() == 0) {
				close(fd);
				echo_conn(c);
			}
			close(c);
		}
	}
	close(fd);
	return pid;
}

/* rig_start: the agent's server with its relay listener in a fresh folder, and the echo server. */
static int rig_start(struct rig *r, unsigned int setup_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memset(r, 0, sizeof(*r));
	strcpy(r->dir, "/tmp/test_relay.XXXXXX");
	if (!mkdtemp(r->dir))
		return -errno;
	snprintf(r->path, sizeof(r->path), "%s/relay.sock", r->dir);
	strcpy(sun.sun_path, r->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0)
		return -errno;
	r->echo = echo_start(&r->port);
	r->agent = fork();
	if (r->agent == 0) {
		const struct agent_opts opts = { .relay_setup_ms = setup_ms };
		struct agent_server *srv;
		int err = agent_server_new(&srv, &opts);

		if (!err)
			err = agent_server_relay_listen(srv, fd);
		if (!err)
			err = agent_server_run(srv);
		_exit(err ? 1 : 0);
	}
	close(fd);
	return r->agent > 0 && r->echo > 0 ? 0 : -EAGAIN;
}

static void rig_stop(struct rig *r)
{
	kill(r->agent, SIGKILL);
	kill(r->echo, SIGKILL);
	waitpid(r->agent, NULL, 0);
	waitpid(r->echo, NULL, 0);
	unlink(r->path);
	rmdir(r->dir);
}

/* relay_open: a stream to the agent's relay, header (NULL: none) written. */
static int relay_open(struct rig *r, const char *header)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sun.sun_path, r->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	if (header && write(fd, header, strlen(header)) != (ssize_t)strlen(header)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int relay_to(struct rig *r, uint16_t port)
{
	char line[32];

	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	return relay_open(r, line);
}

/* read_eof: whether fd reads end-of-file (or a reset) within ms, nothing before. */
static bool read_eof(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	if (poll(&p, 1, ms) != 1)
		return false;
	return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

static uint8_t byte_at(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

/*
 * exchange: send total bytes through fd and read them back echoed, both at
 * once (poll); the write half is shut after the last byte, and the echo
 * must end in end-of-file. Returns the bytes that came back equal.
 */
static uint64_t exchange(int fd, uint64_t total)
{
	static uint8_t buf[65536];
	uint64_t sent = 0, got = 0, end = now_ms() + WAIT_MS;
	bool shut = false;

	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT) };

		if (poll(&p, 1, 1000) < 0)
			return got;
		if (!shut && (p.revents & POLLOUT)) {
			size_t n =
			    total - sent < sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
			ssize_t w;

			for (size_t i = 0; i < n; i++)
				buf[i] = byte_at(sent + i);
			w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (uint64_t)w;
			if (sent == total) {
				shutdown(fd, SHUT_WR);
				shut = true;
			}
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (n == 0)
				return got;
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != byte_at(got + (uint64_t)i))
					return got;
			if (n > 0)
				got += (uint64_t)n;
		}
	}
	return got;
}

TEST(echo_both_ways)
{
	char both[64], back[4] = { 0 };
	struct rig r;
	int fd;

	CHECK_EQ(rig_start(&r, 0), 0);
	fd = relay_to(&r, r.port);
	CHECK(fd >= 0);
	CHECK_EQ(exchange(fd, 8u << 20), 8u << 20);
	close(fd);
	/* The client's first bytes in the header's own write: they are not
	 * taken for the header. */
	snprintf(both, sizeof(both), "CONNECT %u\nabc", r.port);
	fd = relay_open(&r, both);
	CHECK(fd >= 0);
	shutdown(fd, SHUT_WR);
	CHECK_EQ(read(fd, back, 3), 3);
	CHECK(!memcmp(back, "abc", 3));
	CHECK(read_eof(fd, WAIT_MS));
	close(fd);
	rig_stop(&r);
}

TEST(many_at_once)
{
	enum { N = 64 };
	struct rig r;
	int fds[N];

	CHECK_EQ(rig_start(&r, 0), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = relay_to(&r, r.port);
		CHECK(fds[i] >= 0);
	}
	/* Each echoes its own message, in the reverse order of opening. */
	for (int i = N - 1; i >= 0; i--) {
		char msg[32], back[32] = { 0 };
		int n = snprintf(msg, sizeof(msg), "message %d", i);

		CHECK_EQ(write(fds[i], msg, (size_t)n), n);
		shutdown(fds[i], SHUT_WR);
		CHECK_EQ(read(fds[i], back, sizeof(back)), n);
		CHECK(!strcmp(back, msg));
		CHECK(read_eof(fds[i], WAIT_MS));
		close(fds[i]);
	}
	rig_stop(&r);
}

/* A port nobody listens on: the stream ends at once (ECONNREFUSED in the guest). */
TEST(refused_port_ends_the_stream)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;
	uint64_t start;
	struct rig r;

	/* A port that was free a moment ago, with nobody listening. */
	CHECK(probe >= 0 && bind(probe, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	      getsockname(probe, (struct sockaddr *)&sin, &len) == 0);
	close(probe);
	CHECK_EQ(rig_start(&r, 0), 0);
	start = now_ms();
	fd = relay_to(&r, ntohs(sin.sin_port));
	CHECK(read_eof(fd, WAIT_MS));
	CHECK(now_ms() - start < 5000);
	close(fd);
	rig_stop(&r);
}

TEST(bad_headers_end_the_stream)
{
	static const char *const lines[] = {
		"CONNECT 0\n",   "CONNECT 65536\n", "CONNECT 080\n",
		"CONNECT -1\n",  "connect 80\n",    "GET / HTTP/1.0\r\n",
		"CONNECT 80 \n", "CONNECT \n",      "CONNECT 1234567890123456789012345",
	};
	struct rig r;

	CHECK_EQ(rig_start(&r, 0), 0);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int fd = relay_open(&r, lines[i]);

		CHECK(fd >= 0);
		if (!read_eof(fd, WAIT_MS))
			fprintf(stderr, "not refused: %s\n", lines[i]);
		close(fd);
	}
	/* The relay still works after them. */
	{
		int fd = relay_to(&r, r.port);

		CHECK_EQ(exchange(fd, 1000), 1000);
		close(fd);
	}
	rig_stop(&r);
}

/* A stream that never names its port is closed at the setup deadline. */
TEST(silent_stream_times_out)
{
	uint64_t start;
	struct rig r;
	int fd, half;

	CHECK_EQ(rig_start(&r, 200), 0);
	start = now_ms();
	fd = relay_open(&r, NULL);
	half = relay_open(&r, "CONNECT 8");
	CHECK(read_eof(fd, WAIT_MS));
	CHECK(read_eof(half, WAIT_MS));
	CHECK(now_ms() - start >= 150);
	close(fd);
	close(half);
	rig_stop(&r);
}

/*
 * Back-pressure: a client that writes and never reads the echo is stopped
 * once the sockets' buffers and the relay's two chunks are full; nothing
 * in between buffers without end.
 */
TEST(a_client_that_does_not_read_is_stopped)
{
	static uint8_t buf[65536];
	uint64_t sent = 0, end;
	struct rig r;
	int fd;

	CHECK_EQ(rig_start(&r, 0), 0);
	fd = relay_to(&r, r.port);
	CHECK(fd >= 0);
	end = now_ms() + 3000;
	while (now_ms() < end && sent < (256u << 20)) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		if (poll(&p, 1, 500) == 0)
			break; /* stopped */
		w = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += (uint64_t)w;
	}
	/* Socket buffers on both sides hold some MiB; 256 MiB is never reached. */
	CHECK(sent > 0 && sent < (64u << 20));
	close(fd);
	rig_stop(&r);
}

/* More than AGENT_MAX_RELAYS (512) at once: the ones over it end at once. */
TEST(relays_are_bounded)
{
	enum { N = 512 };
	static int fds[N];
	struct rig r;
	int over;

	CHECK_EQ(rig_start(&r, 0), 0);
	for (int i = 0; i < N; i++)
		fds[i] = relay_open(&r, NULL);
	over = relay_open(&r, NULL);
	CHECK(over >= 0);
	CHECK(read_eof(over, WAIT_MS));
	close(over);
	/* One slot freed: the next one is served. */
	close(fds[0]);
	usleep(100000);
	fds[0] = relay_to(&r, r.port);
	CHECK_EQ(exchange(fds[0], 1000), 1000);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	rig_stop(&r);
}

CHECK_MAIN(CASE(echo_both_ways), CASE(many_at_once), CASE(refused_port_ends_the_stream),
           CASE(bad_headers_end_the_stream), CASE(silent_stream_times_out),
           CASE(a_client_that_does_not_read_is_stopped), CASE(relays_are_bounded))

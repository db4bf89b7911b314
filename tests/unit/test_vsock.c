// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-vsock (virtio/vsock.c, vsock_rx.c, vsock_uds.c),
 * first part: connections from the host and from the guest, data both
 * ways, credit, and the CONNECT line (the rig: test_vsock.h).
 */
#define _GNU_SOURCE
#include "test_vsock.h"
#include "check.h"

TEST(host_connect_data)
{
	struct rig r;
	struct pkt p;
	char buf[64] = { 0 };
	uint32_t hport;
	int fd;

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	fd = open_host(&r, failed, 5000, &hport);
	CHECK_EQ(hport, VSOCK_FIRST_PORT);
	CHECK_EQ(write(fd, "hello", 5), 5);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 5);
	CHECK(!memcmp(p.data, "hello", 5));
	CHECK_EQ(p.h.buf_alloc, VSOCK_BUF_ALLOC);
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 5000, hport, 0, 4096, 5, "world!", 6);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), 6);
	CHECK(!memcmp(buf, "world!", 6));
	/* Credit request: answered with an update carrying fwd_cnt. */
	send_pkt(&r, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 5000, hport, 0, 4096, 5, NULL, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(p.h.fwd_cnt, 6);
	CHECK(r.t.irqs > 0);
	close(fd);
	rig_fini(&r);
}

/* vsock_connect_local: the VMM's own stream (the control socket's link to the agent). */
TEST(local_connect)
{
	char ok[32] = { 0 }, line[32];
	struct rig r;
	struct pkt p;
	int sv[2];

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(vsock_connect_local(r.v, 1024, sv[1]), 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, 1024);
	send_pkt(&r, VIRTIO_VSOCK_OP_RESPONSE, 1024, p.h.src_port, 0, 4096, 0, NULL, 0);
	snprintf(line, sizeof(line), "OK %u\n", p.h.src_port);
	CHECK_EQ(host_read(&r, sv[0], ok, strlen(line)), strlen(line));
	CHECK(!strcmp(ok, line));
	CHECK_EQ(write(sv[0], "ping", 4), 4);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK(!memcmp(p.data, "ping", 4));
	close(sv[0]);

	/* Refused (no listener in the guest): the VMM's end reads EOF. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(vsock_connect_local(r.v, 1025, sv[1]), 0);
	pump(&r);
	while (get_rx(&r, &p) && p.h.op != VIRTIO_VSOCK_OP_REQUEST)
		;
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, 1025);
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 1025, p.h.src_port, 0, 0, 0, NULL, 0);
	CHECK_EQ(host_read(&r, sv[0], ok, sizeof(ok)), -1);
	close(sv[0]);
	rig_fini(&r);
}

/*
 * vsock_connect_stream: a published port's client. No "OK" line reaches
 * it, the hello reaches the guest before its bytes, it counts against
 * max_conns and not the local reserve, and a refusal is end-of-file.
 */
TEST(stream_connect)
{
	static const char hello[] = "CONNECT 8080\n";
	char buf[32] = { 0 };
	struct rig r;
	struct pkt p;
	int sv[2];

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(vsock_connect_stream(r.v, 1025, sv[1], "", 0), -EINVAL);
	/* The client's first bytes come before the guest accepted. */
	CHECK_EQ(write(sv[0], "GET /", 5), 5);
	CHECK_EQ(vsock_connect_stream(r.v, 1025, sv[1], hello, strlen(hello)), 0);
	CHECK_EQ(r.v->nr_local, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, 1025);
	/* A guest with no credit yet: asked for it before the hello. */
	send_pkt(&r, VIRTIO_VSOCK_OP_RESPONSE, 1025, p.h.src_port, 0, 0, 0, NULL, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	send_pkt(&r, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1025, p.h.src_port, 0, 4096, 0, NULL, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, strlen(hello));
	CHECK(!memcmp(p.data, hello, strlen(hello)));
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 5);
	CHECK(!memcmp(p.data, "GET /", 5));
	/* Nothing but the guest's bytes reach the client. */
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 1025, p.h.src_port, 0, 4096, 0, "200", 3);
	CHECK_EQ(host_read(&r, sv[0], buf, sizeof(buf)), 3);
	CHECK(!memcmp(buf, "200", 3));
	close(sv[0]);

	/* Refused in the guest: end-of-file for the client. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(vsock_connect_stream(r.v, 1025, sv[1], hello, strlen(hello)), 0);
	pump(&r);
	while (get_rx(&r, &p) && p.h.op != VIRTIO_VSOCK_OP_REQUEST)
		;
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 1025, p.h.src_port, 0, 0, 0, NULL, 0);
	CHECK_EQ(host_read(&r, sv[0], buf, sizeof(buf)), -1);
	close(sv[0]);

	/* Over max_conns: refused, the fd still the caller's. */
	r.v->max_conns = r.v->nr_conns;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(vsock_connect_stream(r.v, 1025, sv[1], hello, strlen(hello)), -EMFILE);
	close(sv[0]);
	close(sv[1]);
	rig_fini(&r);
}

TEST(credit_exhaustion)
{
	struct rig r;
	struct pkt p;
	static uint8_t big[10000];
	uint32_t hport, got = 0;
	int fd;
	bool asked = false;

	rig_init(&r);
	post_rx(&r, 32, RXBUF);
	fd = open_host(&r, failed, 5001, &hport);
	for (unsigned int i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	CHECK_EQ(write(fd, big, sizeof(big)), sizeof(big));
	pump(&r);
	while (get_rx(&r, &p)) {
		if (p.h.op == VIRTIO_VSOCK_OP_RW) {
			CHECK(!memcmp(p.data, big + got, p.h.len));
			got += p.h.len;
		} else if (p.h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
			asked = true;
		}
	}
	/* The guest's buf_alloc (4096) with fwd_cnt 0 caps what it gets. */
	CHECK_EQ(got, 4096);
	CHECK(asked);
	/* The guest consumed it all: 4096 more. */
	send_pkt(&r, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 5001, hport, 0, 4096, 4096, NULL, 0);
	pump(&r);
	while (get_rx(&r, &p)) {
		if (p.h.op == VIRTIO_VSOCK_OP_RW) {
			CHECK(!memcmp(p.data, big + got, p.h.len));
			got += p.h.len;
		}
	}
	CHECK_EQ(got, 8192);
	send_pkt(&r, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 5001, hport, 0, 65536, 8192, NULL, 0);
	pump(&r);
	while (get_rx(&r, &p))
		if (p.h.op == VIRTIO_VSOCK_OP_RW)
			got += p.h.len;
	CHECK_EQ(got, sizeof(big));
	close(fd);
	rig_fini(&r);
}

TEST(guest_connect)
{
	struct rig r;
	struct pkt p;
	char buf[16] = { 0 };
	int lfd, sfd;

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	lfd = svc_listen(&r, 6000);
	send_pkt(&r, VIRTIO_VSOCK_OP_REQUEST, 7000, 6000, 0, 4096, 0, NULL, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(p.h.src_port, 6000);
	CHECK_EQ(p.h.dst_port, 7000);
	sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	CHECK(sfd >= 0);
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 7000, 6000, 0, 4096, 0, "ping", 4);
	CHECK_EQ(host_read(&r, sfd, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "ping", 4));
	CHECK_EQ(write(sfd, "pong", 4), 4);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK(!memcmp(p.data, "pong", 4));
	/* Nobody listens on 6001: RST. */
	send_pkt(&r, VIRTIO_VSOCK_OP_REQUEST, 7001, 6001, 0, 4096, 0, NULL, 0);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.h.src_port, 6001);
	CHECK_EQ(p.h.dst_port, 7001);
	/* Guest RST: the service sees EOF. */
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 7000, 6000, 0, 4096, 0, NULL, 0);
	CHECK_EQ(host_read(&r, sfd, buf, sizeof(buf)), -1);
	CHECK(!get_rx(&r, &p)); /* no RST for an RST */
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 0);
	close(sfd);
	close(lfd);
	rig_fini(&r);
}

TEST(bad_connect_lines)
{
	static const char *const lines[] = {
		"connect 5\n",  "CONNECT\n",
		"CONNECT x\n",  "CONNECT 99999999999\n",
		"CONNECT 5 \n", "CONNECT 1234567890123456789012345678901234567890",
	};
	struct rig r;
	struct pkt p;
	char buf[8];

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	for (unsigned int i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int fd = host_connect(&r, lines[i]);

		CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
		close(fd);
	}
	/* A client that hangs up before its line ends. */
	close(host_connect(&r, "CONN"));
	pump(&r);
	CHECK(!get_rx(&r, &p));
	CHECK_EQ(r.v->nr_conns, 0);
	rig_fini(&r);
}

/*
 * vsock_init leaves the scratch at the struct's end (the chain and the
 * payload's segments: 40 KiB) untouched, also once the driver is up.
 */
TEST(scratch_untouched)
{
	size_t off = offsetof(struct vsock, chain);
	struct rig r;

	rig_init(&r);
	CHECK_EQ(test_resident_pages((uint8_t *)r.v + off, sizeof(struct vsock) - off), 0);
	rig_fini(&r);
}

CHECK_MAIN(CASE(scratch_untouched), CASE(host_connect_data), CASE(local_connect),
           CASE(stream_connect), CASE(credit_exhaustion), CASE(guest_connect),
           CASE(bad_connect_lines))

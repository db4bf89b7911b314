// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-vsock, second part: shutdown and RST, hostile
 * packets, the connection limit, resets and bad parameters (the rig:
 * test_vsock.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_vsock.h"

TEST(shutdown_and_rst)
{
	struct rig r;
	struct pkt p;
	char buf[16];
	uint32_t hport;
	int fd;

	rig_init(&r);
	post_rx(&r, 32, RXBUF);
	/* Host half-closes: the guest gets SHUTDOWN(SEND), can still send. */
	fd = open_host(&r, failed, 5002, &hport);
	shutdown(fd, SHUT_WR);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(p.h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 5002, hport, 0, 4096, 0, "late", 4);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), 4);
	/* Guest shuts both ways: the host sees EOF, the guest gets its RST. */
	send_pkt(&r, VIRTIO_VSOCK_OP_SHUTDOWN, 5002, hport, 3, 4096, 0, NULL, 0);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RST);
	close(fd);
	/* Guest SHUTDOWN(SEND) only: the host reads EOF but can still write. */
	fd = open_host(&r, failed, 5003, &hport);
	send_pkt(&r, VIRTIO_VSOCK_OP_SHUTDOWN, 5003, hport, VIRTIO_VSOCK_SHUTDOWN_SEND, 4096, 0,
	         NULL, 0);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	CHECK_EQ(write(fd, "x", 1), 1);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	/* Host closes entirely: SHUTDOWN to the guest, RST from the guest. */
	close(fd);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 5003, hport, 0, 4096, 0, NULL, 0);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 0);
	/* Guest refuses a host connection: RST, the client sees EOF. */
	fd = host_connect(&r, "CONNECT 5004\n");
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(r.v->stats.guest_refused, 0);
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 5004, p.h.src_port, 0, 0, 0, NULL, 0);
	CHECK_EQ(r.v->stats.guest_refused, 1); /* counted, unlike the RST of a close */
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	close(fd);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 0);
	rig_fini(&r);
}

/* expect_rst: the next packet is an RST for (hport, gport). */
static void expect_rst(struct rig *r, int *failed, uint32_t hport, uint32_t gport)
{
	struct pkt p;

	pump(r);
	CHECK(get_rx(r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.h.src_port, hport);
	CHECK_EQ(p.h.dst_port, gport);
}

TEST(hostile_packets)
{
	struct rig r;
	struct pkt p;
	struct virtio_vsock_hdr h = {
		.src_cid = CID,
		.dst_cid = 2,
		.src_port = 9,
		.dst_port = 10,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = VIRTIO_VSOCK_OP_RW,
	};
	char buf[16];
	uint32_t hport;
	int fd;

	rig_init(&r);
	post_rx(&r, 64, RXBUF);
	h.src_cid = 7; /* not the guest's cid: dropped */
	send_raw(&r, &h, NULL, 0, HDR);
	h.src_cid = CID;
	h.dst_cid = 5; /* not the host: dropped */
	send_raw(&r, &h, NULL, 0, HDR);
	h.dst_cid = 2;
	send_raw(&r, &h, NULL, 0, HDR - 1); /* short header: dropped */
	pump(&r);
	CHECK(!get_rx(&r, &p));
	h.type = 2; /* seqpacket: RST */
	send_raw(&r, &h, NULL, 0, HDR);
	expect_rst(&r, failed, 10, 9);
	h.type = VIRTIO_VSOCK_TYPE_STREAM;
	h.len = 100; /* beyond the chain */
	send_raw(&r, &h, NULL, 0, HDR + 50);
	expect_rst(&r, failed, 10, 9);
	h.len = VSOCK_MAX_PKT + 1; /* beyond the max */
	send_raw(&r, &h, NULL, 0, TXBUF);
	expect_rst(&r, failed, 10, 9);
	h.len = 0;
	h.op = 99; /* unknown op */
	send_raw(&r, &h, NULL, 0, HDR);
	expect_rst(&r, failed, 10, 9);
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 9, 10, 0, 0, 0, "x", 1); /* no such connection */
	expect_rst(&r, failed, 10, 9);
	send_pkt(&r, VIRTIO_VSOCK_OP_RESPONSE, 9, 10, 0, 0, 0, NULL, 0);
	expect_rst(&r, failed, 10, 9);
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 9, 10, 0, 0, 0, NULL, 0); /* never RST an RST */
	pump(&r);
	CHECK(!get_rx(&r, &p));

	/* Beyond our credit: the host does not read, its socket fills up. */
	fd = open_host(&r, failed, 5005, &hport);
	{
		int small = 4096;

		CHECK_EQ(
		    setsockopt(r.v->conns[0]->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	}
	for (int i = 0; i < 40 && r.v->nr_conns && r.v->conns[0]->state == VSOCK_S_OPEN; i++)
		send_pkt(&r, VIRTIO_VSOCK_OP_RW, 5005, hport, 0, 4096, 0, NULL, VSOCK_MAX_PKT);
	CHECK(r.v->conns[0]->state == VSOCK_S_DEAD);
	for (bool rst = false; !rst;) {
		if (!get_rx(&r, &p)) {
			CHECK(0);
			break;
		}
		rst = p.h.op == VIRTIO_VSOCK_OP_RST;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	close(fd);
	/* An unknown op on a live connection resets it. */
	fd = open_host(&r, failed, 5006, &hport);
	send_pkt(&r, 42, 5006, hport, 0, 4096, 0, NULL, 0);
	expect_rst(&r, failed, hport, 5006);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	close(fd);
	rig_fini(&r);
	/* An rx buffer too small for a header is a broken driver. */
	rig_init(&r);
	post_rx(&r, 1, HDR - 1);
	CHECK(!(r.v->transport.status & VIRTIO_CONFIG_S_NEEDS_RESET));
	send_pkt(&r, VIRTIO_VSOCK_OP_RW, 1, 2, 0, 0, 0, "x", 1);
	CHECK(r.v->transport.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	rig_fini(&r);
}

TEST(many_connections)
{
	enum { N = 100 };
	struct rig r;
	struct pkt p;
	int fds[N];
	bool seen[N + VSOCK_FIRST_PORT] = { false };
	unsigned int n = 0;

	rig_init(&r);
	post_rx(&r, 200, RXBUF);
	for (int i = 0; i < N; i++) {
		char line[32];

		snprintf(line, sizeof(line), "CONNECT %d\n", 100 + i);
		fds[i] = host_connect(&r, line);
	}
	pump(&r);
	while (get_rx(&r, &p)) {
		CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
		CHECK(p.h.src_port >= VSOCK_FIRST_PORT && p.h.src_port < VSOCK_FIRST_PORT + N);
		if (p.h.src_port < VSOCK_FIRST_PORT + N) {
			CHECK(!seen[p.h.src_port]);
			seen[p.h.src_port] = true;
		}
		n++;
	}
	CHECK_EQ(n, N);
	CHECK_EQ(r.v->nr_conns, N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	rig_fini(&r);
}

TEST(reset_drops_everything)
{
	struct rig r;
	char buf[8];
	uint32_t hport;
	int fd, lfd;

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	fd = open_host(&r, failed, 5007, &hport);
	lfd = svc_listen(&r, 6002);
	send_pkt(&r, VIRTIO_VSOCK_OP_REQUEST, 7002, 6002, 0, 4096, 0, NULL, 0);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 2);
	vdrv_mmio_write(&r.t.bus, BASE, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(host_read(&r, fd, buf, sizeof(buf)), -1);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 0);
	close(fd);
	close(lfd);
	rig_fini(&r);
}

TEST(bad_params)
{
	struct vsock *v = calloc(1, sizeof(*v));
	struct test_rig t;
	struct virtio_mmio_params mp;
	struct vsock_params vp = { .guest_cid = 2, .uds_path = "/tmp/x" };

	test_rig_init(&t, 4096, 8);
	mp = test_rig_params(&t, BASE);
	CHECK(v);
	CHECK_ERR(vsock_init(v, &vp, &t.loop, &t.m, &mp), -EINVAL);
	vp.guest_cid = 3;
	vp.uds_path = NULL;
	CHECK_ERR(vsock_init(v, &vp, &t.loop, &t.m, &mp), -EINVAL);
	vp.uds_path = "/nonexistent-dir/x";
	CHECK(vsock_init(v, &vp, &t.loop, &t.m, &mp) < 0);
	test_rig_fini(&t);
	free(v);
}

CHECK_MAIN(CASE(shutdown_and_rst), CASE(hostile_packets), CASE(many_connections),
           CASE(reset_drops_everything), CASE(bad_params))

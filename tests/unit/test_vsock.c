// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-vsock (virtio/vsock.c, vsock_rx.c, vsock_uds.c): a guest
 * driver (virtio_driver.h) over a plain buffer as RAM with its rx, tx and
 * event queues, the device on a real io_uring loop, and real unix sockets
 * in a temporary directory playing the host clients and host services.
 */
#define _GNU_SOURCE
#include "check.h"
#include "rig.h"
#include "virtio/vsock_int.h"
#include "virtio_driver.h"

#include <errno.h>
#include <linux/virtio_vsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RAM_SIZE (40u << 20)
#define BASE     0xd0000000ull
#define QSIZE    256u
#define CID      3u
#define RXBUF    (4096u + 44u)
#define TXBUF    (VSOCK_MAX_PKT + 64u)
#define RX_BASE  0x0ull
#define TX_BASE  (4ull << 20)
#define EV_BASE  (36ull << 20)
#define HDR      ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define F_V1     (1ull << VIRTIO_F_VERSION_1)

struct rig {
	struct test_rig t;
	struct vsock *v;
	struct vdrv rx, tx, ev;
	uint64_t rxbuf[QSIZE], txbuf[QSIZE];
	char dir[64], path[96];
};

/* One packet the guest received. */
struct pkt {
	struct virtio_vsock_hdr h;
	uint8_t data[4096];
};

/* pump: run the loop a few rounds without blocking. */
static void pump(struct rig *r)
{
	test_rig_pump(&r->t, 8);
}

/* rig_init: RAM, loop, the device listening in a fresh directory, queues up. */
static void rig_init(struct rig *r)
{
	struct virtio_mmio_params mp;
	struct vsock_params vp = { .guest_cid = CID };

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, 64);
	mp = test_rig_params(&r->t, BASE);
	r->v = calloc(1, sizeof(*r->v));
	if (!r->v)
		abort();
	strcpy(r->dir, "/tmp/test_vsock.XXXXXX");
	if (!mkdtemp(r->dir))
		abort();
	snprintf(r->path, sizeof(r->path), "%s/v.sock", r->dir);
	vp.uds_path = r->path;
	if (vsock_init(r->v, &vp, &r->t.loop, &r->t.m, &mp) ||
	    virtio_mmio_register(&r->v->transport, &r->t.bus))
		abort();
	if (!(vdrv_mmio_negotiate(&r->t.bus, BASE, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK))
		abort();
	vdrv_init(&r->rx, &r->t.m, QSIZE, RX_BASE, TX_BASE);
	vdrv_init(&r->tx, &r->t.m, QSIZE, TX_BASE, EV_BASE);
	vdrv_init(&r->ev, &r->t.m, 16, EV_BASE, RAM_SIZE);
	for (unsigned int i = 0; i < QSIZE; i++) {
		r->rxbuf[i] = vdrv_alloc(&r->rx, RXBUF);
		r->txbuf[i] = vdrv_alloc(&r->tx, TXBUF);
	}
	if (vdrv_mmio_setup_queue(&r->t.bus, BASE, 0, &r->rx) != 1 ||
	    vdrv_mmio_setup_queue(&r->t.bus, BASE, 1, &r->tx) != 1 ||
	    vdrv_mmio_setup_queue(&r->t.bus, BASE, 2, &r->ev) != 1 ||
	    !(vdrv_mmio_driver_ok(&r->t.bus, BASE) & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();
}

static void rig_fini(struct rig *r)
{
	char svc[128];

	vsock_destroy(r->v);
	test_rig_fini(&r->t);
	for (unsigned int p = 6000; p < 6004; p++) {
		snprintf(svc, sizeof(svc), "%s_%u", r->path, p);
		unlink(svc);
	}
	rmdir(r->dir);
	free(r->v);
}

/* post_rx: n rx buffers of len bytes (<= RXBUF), then notify the rx queue. */
static void post_rx(struct rig *r, unsigned int n, uint32_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		struct vdrv_buf b = { .gpa = r->rxbuf[r->rx.next_desc],
			              .len = len,
			              .writable = true };

		vdrv_add_chain(&r->rx, &b, 1);
	}
	virtio_mmio_queue_notify(&r->v->transport, 0);
}

/* send_pkt: a packet from the guest with data (len bytes; data NULL: zeroes). */
static void send_raw(struct rig *r, const struct virtio_vsock_hdr *h, const void *data,
                     uint32_t len, uint32_t chain_len)
{
	uint64_t gpa = r->txbuf[r->tx.next_desc];
	struct vdrv_buf b = { .gpa = gpa, .len = chain_len };
	uint32_t id, ulen;

	memcpy(vdrv_host(&r->tx, gpa, HDR), h, HDR);
	if (data)
		memcpy(vdrv_host(&r->tx, gpa + HDR, len), data, len);
	vdrv_add_chain(&r->tx, &b, 1);
	virtio_mmio_queue_notify(&r->v->transport, 1);
	while (vdrv_get_used(&r->tx, &id, &ulen))
		;
}

static void send_pkt(struct rig *r, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
                     uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h = {
		.src_cid = CID,
		.dst_cid = 2,
		.src_port = gport,
		.dst_port = hport,
		.len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.flags = flags,
		.buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};

	send_raw(r, &h, data, len, HDR + len);
}

/* get_rx: the next packet the device delivered, false if none. */
static bool get_rx(struct rig *r, struct pkt *p)
{
	uint32_t id, len;

	if (!vdrv_get_used(&r->rx, &id, &len))
		return false;
	memset(p, 0, sizeof(*p));
	if (id >= QSIZE || len < HDR || len > RXBUF)
		abort();
	memcpy(p, vdrv_host(&r->rx, r->rxbuf[id], len), len);
	return true;
}

static int host_connect(struct rig *r, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	strcpy(sa.sun_path, r->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	if (line && write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		abort();
	return fd;
}

/* host_read: up to len bytes, pumping the loop while none come; -1 on EOF. */
static ssize_t host_read(struct rig *r, int fd, void *buf, size_t len)
{
	for (int i = 0; i < 50; i++) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0 || (errno != EAGAIN))
			return n == 0 ? -1 : n;
		pump(r);
	}
	return 0;
}

static int svc_listen(struct rig *r, unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", r->path, port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		abort();
	return fd;
}

/* open_host: a host-initiated connection to guest port gport, established. */
static int open_host(struct rig *r, int *failed, uint32_t gport, uint32_t *hport)
{
	char line[32], ok[32] = { 0 };
	struct pkt p;
	int fd;

	snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	fd = host_connect(r, line);
	pump(r);
	CHECK(get_rx(r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.src_cid, 2);
	CHECK_EQ(p.h.dst_cid, CID);
	CHECK_EQ(p.h.dst_port, gport);
	*hport = p.h.src_port;
	send_pkt(r, VIRTIO_VSOCK_OP_RESPONSE, gport, *hport, 0, 4096, 0, NULL, 0);
	snprintf(line, sizeof(line), "OK %u\n", *hport);
	CHECK_EQ(host_read(r, fd, ok, strlen(line)), strlen(line));
	CHECK(!strcmp(ok, line));
	return fd;
}

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
	send_pkt(&r, VIRTIO_VSOCK_OP_RST, 5004, p.h.src_port, 0, 0, 0, NULL, 0);
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

CHECK_MAIN(CASE(host_connect_data), CASE(local_connect), CASE(credit_exhaustion),
           CASE(guest_connect), CASE(bad_connect_lines), CASE(shutdown_and_rst),
           CASE(hostile_packets), CASE(many_connections), CASE(reset_drops_everything),
           CASE(bad_params))

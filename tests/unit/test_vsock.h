/* SPDX-License-Identifier: MIT */
/*
 * test_vsock.h: the rig of virtio-vsock's unit tests (test_vsock.c,
 * test_vsock_hostile.c): a guest driver (virtio_driver.h) over a plain
 * buffer as RAM with its rx, tx and event queues, the device on a real
 * io_uring loop, and real unix sockets in a temporary directory playing
 * the host clients and host services. Static inline: each test program
 * uses part of it.
 */
#ifndef KVMBOX_TESTS_TEST_VSOCK_H
#define KVMBOX_TESTS_TEST_VSOCK_H

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
static inline void pump(struct rig *r)
{
	test_rig_pump(&r->t, 8);
}

/* rig_init: RAM, loop, the device listening in a fresh directory, queues up. */
static inline void rig_init(struct rig *r)
{
	struct virtio_mmio_params mp;
	struct vsock_params vp = { .guest_cid = CID };

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, 64);
	mp = test_rig_params(&r->t, BASE);
	r->v = test_pages_new(sizeof(*r->v)); /* untouched, as calloc gives it */
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

static inline void rig_fini(struct rig *r)
{
	char svc[128];

	vsock_destroy(r->v);
	test_rig_fini(&r->t);
	for (unsigned int p = 6000; p < 6004; p++) {
		snprintf(svc, sizeof(svc), "%s_%u", r->path, p);
		unlink(svc);
	}
	rmdir(r->dir);
	test_pages_free(r->v, sizeof(*r->v));
}

/* post_rx: n rx buffers of len bytes (<= RXBUF), then notify the rx queue. */
static inline void post_rx(struct rig *r, unsigned int n, uint32_t len)
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
static inline void send_raw(struct rig *r, const struct virtio_vsock_hdr *h, const void *data,
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

static inline void send_pkt(struct rig *r, uint16_t op, uint32_t gport, uint32_t hport,
                            uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt, const void *data,
                            uint32_t len)
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
static inline bool get_rx(struct rig *r, struct pkt *p)
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

static inline int host_connect(struct rig *r, const char *line)
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
static inline ssize_t host_read(struct rig *r, int fd, void *buf, size_t len)
{
	for (int i = 0; i < 50; i++) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0 || (errno != EAGAIN))
			return n == 0 ? -1 : n;
		pump(r);
	}
	return 0;
}

static inline int svc_listen(struct rig *r, unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", r->path, port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		abort();
	return fd;
}

/* open_host: a host-initiated connection to guest port gport, established. */
static inline int open_host(struct rig *r, int *failed, uint32_t gport, uint32_t *hport)
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

#endif

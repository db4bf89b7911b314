/* SPDX-License-Identifier: MIT */
/*
 * test_net.h: the rig of virtio-net's unit tests (test_net.c,
 * test_net_hostile.c): a guest driver (virtio_driver.h) over a plain
 * buffer as RAM, the device on a real io_uring loop with a fake backend
 * that keeps what it is sent and checks that the policy allowed each frame
 * it gets. Static inline: each test program uses part of it.
 */
#ifndef KVMBOX_TESTS_TEST_NET_H
#define KVMBOX_TESTS_TEST_NET_H

#include "check.h"
#include "rig.h"
#include "test_net_policy.h"
#include "virtio/net_int.h"
#include "virtio_driver.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <unistd.h>

_Static_assert(NF_ETH == NET_MTU_TAP + 14, "the rig's device (NET_MODE_NONE) has a tap's MTU");

#define RAM_SIZE     (8u << 20)
#define RX_BASE      0x000000u
#define TX_BASE      0x200000u
#define RESET_BASE   0x400000u /* rings after a reset */
#define BASE         0xd0000000ull
#define LOOP_ENTRIES 64
#define FAKE_MAX     512

#define F_VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT  (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_CSUM      (1ull << VIRTIO_NET_F_CSUM)
#define F_GCSUM     (1ull << VIRTIO_NET_F_GUEST_CSUM)
#define F_MRG       (1ull << VIRTIO_NET_F_MRG_RXBUF)
#define F_NET                                                                                      \
	(F_CSUM | F_GCSUM | F_MRG | (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_NET_F_MAC) |      \
	 (1ull << VIRTIO_NET_F_STATUS))
#define F_ALL (F_VERSION_1 | F_NET | F_EVENT_IDX | F_INDIRECT)

struct fake_be {
	struct net_backend be;
	const struct net_policy *policy;
	uint8_t *sent[FAKE_MAX];
	size_t sent_len[FAKE_MAX];
	unsigned int nr_sent;
	int fail;                 /* send's return, when not 0 */
	unsigned int calls;       /* send's calls, whatever it answered */
	unsigned int not_allowed; /* frames the policy would have denied */
	unsigned int rooms;
	struct virtio_net_hdr_v1 gso_hdr; /* send_gso's last header */
	unsigned int gso_sent;            /* frames through send_gso */
};

struct rig {
	struct test_rig t;
	struct net *net;
	struct fake_be fb;
	struct vdrv rx, tx;
};

static inline int fake_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
	struct fake_be *f = (struct fake_be *)be;

	/* What reaches a backend must be what the policy allowed. */
	if (net_policy_check(f->policy, frame, len, NULL) != NET_ALLOW)
		f->not_allowed++;
	f->calls++;
	if (f->fail)
		return f->fail;
	if (f->nr_sent < FAKE_MAX) {
		f->sent[f->nr_sent] = malloc(len);
		if (!f->sent[f->nr_sent])
			abort();
		memcpy(f->sent[f->nr_sent], frame, len);
		f->sent_len[f->nr_sent++] = len;
	}
	return 0;
}

/* fake_send_gso: as fake_send, the header kept (fake_gso_ops). */
static inline int fake_send_gso(struct net_backend *be, const struct virtio_net_hdr_v1 *h,
                                const uint8_t *frame, size_t len)
{
	struct fake_be *f = (struct fake_be *)be;

	f->gso_hdr = *h;
	f->gso_sent++;
	return fake_send(be, frame, len);
}

static inline void fake_room(struct net_backend *be)
{
	((struct fake_be *)be)->rooms++;
}

static inline void fake_destroy(struct net_backend *be)
{
	struct fake_be *f = (struct fake_be *)be;

	for (unsigned int i = 0; i < f->nr_sent; i++)
		free(f->sent[i]);
	f->nr_sent = 0;
}

static const struct net_backend_ops fake_ops = {
	.name = "fake",
	.send = fake_send,
	.rx_room = fake_room,
	.destroy = fake_destroy,
};

/* A backend that also takes TSO frames, as a tap does. */
static const struct net_backend_ops fake_gso_ops = {
	.name = "fake-gso",
	.send = fake_send,
	.send_gso = fake_send_gso,
	.rx_room = fake_room,
	.destroy = fake_destroy,
};

/* rig_init_ops: the rig with the fake backend of ops (fake_ops or fake_gso_ops). */
static inline void rig_init_ops(struct rig *r, const struct net_backend_ops *ops)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_NONE };

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r->t, BASE);
	pol(&np.policy);
	r->net = test_pages_new(sizeof(*r->net)); /* as the VMM's calloc gives it */
	r->fb.be.ops = ops;
	if (net_init_with(r->net, &np, &r->t.loop, &r->t.m, &mp, &r->fb.be) ||
	    virtio_mmio_register(&r->net->transport, &r->t.bus))
		abort();
	r->fb.policy = &r->net->params.policy;
}

static inline void rig_init(struct rig *r)
{
	rig_init_ops(r, &fake_ops);
}

static inline void rig_fini(struct rig *r)
{
	net_destroy(r->net);
	test_rig_fini(&r->t);
	test_pages_free(r->net, sizeof(*r->net));
}

static inline uint32_t rd(struct rig *r, uint64_t off)
{
	return vdrv_mmio_read(&r->t.bus, BASE, off);
}

/* cfg8: a byte of config space. */
static inline uint8_t cfg8(struct rig *r, uint32_t off)
{
	uint8_t v = 0;

	bus_dispatch(&r->t.bus, BASE + VIRTIO_MMIO_CONFIG_OFFSET + off, false, &v, 1);
	return v;
}

static inline uint64_t dev_features(struct rig *r)
{
	uint64_t f;

	vdrv_mmio_write(&r->t.bus, BASE, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(r, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vdrv_mmio_write(&r->t.bus, BASE, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
}

/* rig_up_at: the handshake with features, both queues of qsize from base. */
static inline int rig_up_at(struct rig *r, uint64_t features, uint16_t qsize, uint64_t base)
{
	if (!(vdrv_mmio_negotiate(&r->t.bus, BASE, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -1;
	vdrv_init(&r->rx, &r->t.m, qsize, base + RX_BASE, base + TX_BASE);
	vdrv_init(&r->tx, &r->t.m, qsize, base + TX_BASE, base + 2 * TX_BASE);
	if (vdrv_mmio_setup_queue(&r->t.bus, BASE, NET_RX_QUEUE, &r->rx) != 1 ||
	    vdrv_mmio_setup_queue(&r->t.bus, BASE, NET_TX_QUEUE, &r->tx) != 1 ||
	    !(vdrv_mmio_driver_ok(&r->t.bus, BASE) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	return 0;
}

static inline int rig_up(struct rig *r, uint64_t features)
{
	return rig_up_at(r, features, 64, 0);
}

static inline bool needs_reset(struct rig *r)
{
	return rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* pump: a few passes of the loop, idle hooks included (they deliver). */
static inline void pump(struct rig *r)
{
	test_rig_pump(&r->t, 8);
}

/* kick: the driver notifies queue q, then the loop runs. */
static inline void kick(struct rig *r, unsigned int q)
{
	virtio_mmio_queue_notify(&r->net->transport, q);
	pump(r);
}

/*
 * tx_buf: header h (NULL: an empty one) and frame f in guest RAM of the
 * transmit queue's heap; returns its GPA (12 + len bytes).
 */
static inline uint64_t tx_buf(struct rig *r, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                              size_t len)
{
	struct virtio_net_hdr_v1 zero = { 0 };
	uint64_t gpa = vdrv_alloc(&r->tx, NET_HDR_LEN + len);

	memcpy(vdrv_host(&r->tx, gpa, NET_HDR_LEN), h ? h : &zero, NET_HDR_LEN);
	if (len)
		memcpy(vdrv_host(&r->tx, gpa + NET_HDR_LEN, len), f, len);
	return gpa;
}

/* tx: one frame in one descriptor, sent; returns the used length or -1. */
static inline int64_t tx(struct rig *r, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                         size_t len)
{
	struct vdrv_buf b = { tx_buf(r, h, f, len), (uint32_t)(NET_HDR_LEN + len), false };
	uint32_t id = 0, used = 0;

	vdrv_add_chain(&r->tx, &b, 1);
	kick(r, NET_TX_QUEUE);
	if (!vdrv_get_used(&r->tx, &id, &used))
		return -1;
	return used;
}

/* rx_post: n receive buffers of size bytes each, one descriptor each; first GPA. */
static inline uint64_t rx_post(struct rig *r, unsigned int n, uint32_t size)
{
	uint64_t first = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = vdrv_alloc(&r->rx, size);
		struct vdrv_buf b = { gpa, size, true };

		if (!i)
			first = gpa;
		memset(vdrv_host(&r->rx, gpa, size), 0xee, size);
		vdrv_add_chain(&r->rx, &b, 1);
	}
	return first;
}

/* push: a frame from the backend, DATA_VALID as slirp sends them. */
static inline int push(struct rig *r, const uint8_t *f, size_t len)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };

	return net_rx_push(r->net, (const uint8_t *)&h, f, len);
}

/* frame: len bytes of a recognizable frame to the guest. */
static inline void frame(uint8_t *f, size_t len, uint8_t seed)
{
	memcpy(f, nf_guest_mac, 6);
	memcpy(f + 6, nf_gw_mac, 6);
	nf_put16(f + 12, 0x0800);
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 7 + seed);
}

/*
 * wait_arp_reply: pump the loop (a millisecond's sleep between rounds, at
 * most tries rounds, and not past the link going down) until the guest
 * received an ARP reply (op 2, RFC 826) whose sender is from (dotted);
 * the backends with a real peer (tap, passt) answer their first ARP so.
 */
static inline bool wait_arp_reply(struct rig *r, const char *from, int tries)
{
	uint32_t ip = nf_ip4(from);

	for (int i = 0; i < tries && !r->net->link_down; i++) {
		uint32_t id = 0, used = 0;
		uint64_t addr;

		pump(r);
		while (vdrv_get_used(&r->rx, &id, &used)) {
			const uint8_t *p;

			memcpy(&addr, vdrv_host(&r->rx, r->rx.desc + 16ull * id, 8), 8);
			p = vdrv_host(&r->rx, addr, used) + NET_HDR_LEN;
			if (used >= NET_HDR_LEN + 42 && p[12] == 0x08 && p[13] == 0x06 &&
			    p[21] == 2 && memcmp(p + 28, &ip, 4) == 0)
				return true;
		}
		usleep(1000);
	}
	return false;
}

#endif

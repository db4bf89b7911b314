// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net (virtio/net.c, net_rx.c), first part: config
 * space and features, frames sent and judged, checksums completed, and
 * frames received in one buffer or merged across many. A guest driver
 * (virtio_driver.h) over a plain buffer as RAM, a fake backend
 * (test_net.h). Hostile chains: test_net_hostile.c.
 */
#include "test_net.h"

TEST(config_space)
{
	struct rig r;
	uint64_t f;

	rig_init(&r);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), NET_QUEUE_SIZE);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(cfg8(&r, (uint32_t)i), nf_guest_mac[i]);
	CHECK_EQ(cfg8(&r, 6) | cfg8(&r, 7) << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(cfg8(&r, 8) | cfg8(&r, 9) << 8, 1);
	CHECK_EQ(cfg8(&r, 10) | cfg8(&r, 11) << 8, NET_MTU_TAP);
	CHECK_EQ(cfg8(&r, 12), 0); /* past the config space: reads as zero */
	f = dev_features(&r);
	CHECK_EQ(f & (F_NET | F_VERSION_1), F_NET | F_VERSION_1);
	CHECK(!(f & (1ull << VIRTIO_NET_F_HOST_TSO4)) && !(f & (1ull << VIRTIO_NET_F_MQ)));
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	CHECK_EQ(virtio_mmio_features(&r.net->transport) & F_NET, F_NET);
	rig_fini(&r);
}

TEST(tx_judged)
{
	struct rig r;
	uint8_t f[NF_MAX];
	size_t n;
	struct vdrv_buf b[4];
	uint64_t gpa;
	uint32_t id = 0, used = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	/* Allowed: the backend gets the very bytes. */
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	CHECK_EQ(r.fb.sent_len[0], n);
	CHECK(memcmp(r.fb.sent[0], f, n) == 0);
	/* Denied by the public base: counted, not sent, the chain used. */
	n = nf_ipv4(f, "169.254.169.254", IPPROTO_TCP, 80);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	CHECK_EQ(r.net->stats.denied, 1);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_POLICY], 1);
	/* A VLAN-tagged frame, a spoofed one. */
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	nf_put16(f + 12, 0x8100);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_UNSUPPORTED], 1);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	f[6] ^= 2;
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_SPOOF], 1);
	CHECK_EQ(r.net->stats.denied, 3);
	/* Split anyhow (§2.6.4): header in two pieces, frame in two. */
	n = nf_ipv4(f, "1.1.1.1", IPPROTO_UDP, 53);
	gpa = tx_buf(&r, NULL, f, n);
	b[0] = (struct vdrv_buf){ gpa, 5, false };
	b[1] = (struct vdrv_buf){ gpa + 5, 7 + 20, false };
	b[2] = (struct vdrv_buf){ gpa + 32, (uint32_t)(NET_HDR_LEN + n - 32), false };
	vdrv_add_chain(&r.tx, b, 3);
	kick(&r, NET_TX_QUEUE);
	CHECK(vdrv_get_used(&r.tx, &id, &used));
	CHECK_EQ(r.fb.nr_sent, 2);
	CHECK(r.fb.nr_sent == 2 && memcmp(r.fb.sent[1], f, n) == 0);
	/* Indirect. */
	vdrv_add_indirect(&r.tx, b, 3);
	kick(&r, NET_TX_QUEUE);
	CHECK(vdrv_get_used(&r.tx, &id, &used));
	CHECK_EQ(r.fb.nr_sent, 3);
	/* The backend fails: counted, the chain still goes back. */
	r.fb.fail = -EIO;
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.tx_errors, 1);
	CHECK_EQ(r.net->stats.tx_frames, 3);
	CHECK_EQ(r.fb.not_allowed, 0);
	CHECK(r.t.irqs > 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* sum16: the one's complement sum of the pseudo-header and the segment. */
static uint16_t sum16(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *l4 = ip + 20;
	size_t l4len = len - 34;
	uint32_t s = (uint32_t)(ip[9] + l4len);

	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	for (size_t i = 0; i < l4len; i += 2)
		s += (uint32_t)(l4[i] << 8 | (i + 1 < l4len ? l4[i + 1] : 0));
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* pseudo_sum: the pseudo-header's sum, as the guest leaves it (folded). */
static uint16_t pseudo_sum(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	uint32_t s = (uint32_t)(ip[9] + (len - 34));

	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

TEST(tx_checksum)
{
	struct rig r;
	uint8_t f[NF_MAX];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		                       .csum_start = 34,
		                       .csum_offset = 16 };
	uint16_t pseudo;
	size_t n;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	/* TCP with payload; the guest leaves the pseudo-header's sum in
	 * the field (§5.1.6.2). */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 443, NULL, 0, 0, 33);
	for (size_t i = 54; i < n; i++)
		f[i] = (uint8_t)(i * 13);
	pseudo = pseudo_sum(f, n);
	nf_put16(f + 34 + 16, pseudo);
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	/* The receiver's check: the whole sum is 0xffff. */
	CHECK(r.fb.nr_sent == 1 && sum16(r.fb.sent[0], n) == 0xffff);
	/* UDP. */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_UDP, 53, NULL, 0, 0, 17);
	nf_put16(f + 34 + 4, (uint16_t)(n - 34));
	nf_put16(f + 34 + 6, pseudo_sum(f, n));
	h.csum_offset = 6;
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK(r.fb.nr_sent == 2 && sum16(r.fb.sent[1], n) == 0xffff);
	/* The field past the frame, or the start: bad. */
	h.csum_start = (uint16_t)(n - 1);
	CHECK_EQ(tx(&r, &h, f, n), 0);
	h.csum_start = 0xffff;
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.net->stats.tx_bad, 2);
	/* Aimed at the IPv4 destination: the policy judges the result. */
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	h.csum_start = 14;
	h.csum_offset = 16;
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.fb.not_allowed, 0);
	rig_fini(&r);

	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL & ~F_CSUM), 0);
	h.csum_start = 34;
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.net->stats.tx_bad, 1);
	CHECK_EQ(r.fb.nr_sent, 0);
	rig_fini(&r);
}

TEST(rx_one_buffer)
{
	struct rig r;
	uint8_t f[NF_MAX];
	struct virtio_net_hdr_v1 h;
	uint64_t gpa;
	uint32_t id = 0, used = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	frame(f, 100, 1);
	/* No buffers yet: the frame waits. */
	CHECK_EQ(push(&r, f, 100), 0);
	pump(&r);
	CHECK_EQ(vdrv_used_idx(&r.rx), 0);
	CHECK_EQ(r.net->rxq_len, 1);
	gpa = rx_post(&r, 1, 2048);
	kick(&r, NET_RX_QUEUE);
	CHECK(vdrv_get_used(&r.rx, &id, &used));
	CHECK_EQ(used, NET_HDR_LEN + 100);
	memcpy(&h, vdrv_host(&r.rx, gpa, sizeof(h)), sizeof(h));
	CHECK_EQ(h.num_buffers, 1);
	CHECK_EQ(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	CHECK(memcmp(vdrv_host(&r.rx, gpa + NET_HDR_LEN, 100), f, 100) == 0);
	CHECK_EQ(r.net->rxq_len, 0);
	CHECK_EQ(r.net->stats.rx_frames, 1);
	/* A frame pushed while buffers are there goes at the next pass. */
	gpa = rx_post(&r, 1, 2048);
	kick(&r, NET_RX_QUEUE);
	frame(f, NF_ETH, 2);
	CHECK_EQ(push(&r, f, NF_ETH), 0);
	pump(&r);
	CHECK(vdrv_get_used(&r.rx, &id, &used));
	CHECK_EQ(used, NET_HDR_LEN + NF_ETH);
	CHECK(memcmp(vdrv_host(&r.rx, gpa + NET_HDR_LEN, NF_ETH), f, NF_ETH) == 0);
	CHECK(r.fb.rooms > 0);
	/* Too big for any buffer: refused at the door. */
	CHECK_ERR(push(&r, f, NF_ETH + 1), -EMSGSIZE);
	CHECK(!needs_reset(&r));
	rig_fini(&r);

	/* Without GUEST_CSUM the flags are zero. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL & ~F_GCSUM), 0);
	gpa = rx_post(&r, 1, 2048);
	kick(&r, NET_RX_QUEUE);
	CHECK_EQ(push(&r, f, 60), 0);
	pump(&r);
	CHECK(vdrv_get_used(&r.rx, &id, &used));
	memcpy(&h, vdrv_host(&r.rx, gpa, sizeof(h)), sizeof(h));
	CHECK_EQ(h.flags, 0);
	rig_fini(&r);
}

TEST(rx_merged)
{
	struct rig r;
	uint8_t f[NF_MAX], got[NF_MAX];
	struct virtio_net_hdr_v1 h;
	uint64_t gpa;
	uint32_t id = 0, used = 0, total = 0;
	unsigned int nb = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	frame(f, NF_ETH, 3);
	/* Three 256-byte buffers: not enough for 1526 bytes; nothing used. */
	gpa = rx_post(&r, 3, 256);
	kick(&r, NET_RX_QUEUE);
	CHECK_EQ(push(&r, f, NF_ETH), 0);
	pump(&r);
	CHECK_EQ(vdrv_used_idx(&r.rx), 0);
	CHECK(r.net->rx_waiting);
	/* Three more: the packet takes all six, published at once. */
	rx_post(&r, 3, 256);
	kick(&r, NET_RX_QUEUE);
	CHECK_EQ(vdrv_used_idx(&r.rx), 6);
	while (vdrv_get_used(&r.rx, &id, &used)) {
		/* The buffers are consecutive in the heap, 256 apart. */
		memcpy(got + total, vdrv_host(&r.rx, gpa + 256ull * nb, used), used);
		total += used;
		nb++;
	}
	CHECK_EQ(nb, 6);
	CHECK_EQ(total, NET_HDR_LEN + NF_ETH);
	memcpy(&h, got, sizeof(h));
	CHECK_EQ(h.num_buffers, 6);
	CHECK(memcmp(got + NET_HDR_LEN, f, NF_ETH) == 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

TEST(rx_no_merge)
{
	struct rig r;
	uint8_t f[NF_MAX];
	uint32_t id = 0, used = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL & ~F_MRG), 0);
	rx_post(&r, 1, 100);
	kick(&r, NET_RX_QUEUE);
	/* 1514 bytes fit no buffer of 100: dropped; the buffer stays. */
	frame(f, NF_ETH, 4);
	CHECK_EQ(push(&r, f, NF_ETH), 0);
	frame(f, 60, 5);
	CHECK_EQ(push(&r, f, 60), 0);
	pump(&r);
	CHECK_EQ(r.net->stats.rx_dropped, 1);
	CHECK(vdrv_get_used(&r.rx, &id, &used));
	CHECK_EQ(used, NET_HDR_LEN + 60);
	CHECK(!vdrv_get_used(&r.rx, &id, &used));
	rig_fini(&r);
}

TEST(queue_limits)
{
	struct rig r;
	uint8_t f[NF_MAX];
	uint32_t id = 0, used = 0;
	unsigned int got = 0;

	rig_init(&r);
	CHECK_EQ(rig_up_at(&r, F_ALL, 256, 0), 0);
	frame(f, 60, 6);
	/* The receive queue holds NET_RXQ_FRAMES; the rest are dropped. */
	for (unsigned int i = 0; i < NET_RXQ_FRAMES + 5; i++)
		(void)push(&r, f, 60);
	CHECK_EQ(r.net->stats.rx_dropped, 5);
	CHECK_EQ(r.net->rxq_len, NET_RXQ_FRAMES);
	/* Delivered NET_BUDGET per pass: all of them in the end. */
	rx_post(&r, 256, 128);
	kick(&r, NET_RX_QUEUE);
	for (int i = 0; i < 20 && r.net->rxq_len; i++)
		pump(&r);
	while (vdrv_get_used(&r.rx, &id, &used))
		got++;
	CHECK_EQ(got, NET_RXQ_FRAMES);
	CHECK(r.net->stats.deferred > 0);
	/* 200 chains to send in one notification: all sent, over passes. */
	{
		uint64_t before = r.net->stats.deferred;
		size_t n = nf_ipv4(f, "8.8.8.8", IPPROTO_UDP, 443);
		uint64_t gpa = tx_buf(&r, NULL, f, n);
		struct vdrv_buf b = { gpa, (uint32_t)(NET_HDR_LEN + n), false };

		for (int i = 0; i < 200; i++)
			vdrv_add_chain(&r.tx, &b, 1);
		kick(&r, NET_TX_QUEUE);
		for (int i = 0; i < 20; i++)
			pump(&r);
		CHECK_EQ(vdrv_used_idx(&r.tx), 200);
		CHECK_EQ(r.net->stats.tx_frames, 200);
		CHECK(r.net->stats.deferred > before);
	}
	rig_fini(&r);
}

/*
 * A backend that cannot take a frame now (-EAGAIN, passt's full socket):
 * the chain stays in the ring, uncounted, and so do those after it; the
 * device does not try again on the driver's notifications (no spinning)
 * but on the backend's net_tx_ready, and then sends them all, in order.
 */
TEST(tx_backpressure)
{
	struct rig r;
	uint8_t f[3][NF_MAX];
	size_t n[3];
	uint32_t id = 0, used = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	r.fb.fail = -EAGAIN;
	for (int i = 0; i < 3; i++) {
		struct vdrv_buf b;

		n[i] = nf_ipv4_full(f[i], "8.8.8.8", IPPROTO_UDP, 53, NULL, 0, 0, 40);
		f[i][n[i] - 1] = (uint8_t)(0xa0 + i);
		b = (struct vdrv_buf){ tx_buf(&r, NULL, f[i], n[i]), (uint32_t)(NET_HDR_LEN + n[i]),
			               false };
		vdrv_add_chain(&r.tx, &b, 1);
	}
	kick(&r, NET_TX_QUEUE);
	CHECK_EQ(r.fb.calls, 1);
	CHECK(!vdrv_get_used(&r.tx, &id, &used));
	CHECK_EQ(r.net->stats.tx_blocked, 1);
	CHECK_EQ(r.net->stats.tx_errors, 0);
	CHECK_EQ(r.net->stats.tx_frames, 0);
	/* Notifications and passes of the loop: no new attempt. */
	for (int i = 0; i < 10; i++)
		kick(&r, NET_TX_QUEUE);
	CHECK_EQ(r.fb.calls, 1);
	/* The backend has room: everything goes, in order, each chain used. */
	r.fb.fail = 0;
	net_tx_ready(r.net);
	CHECK_EQ(r.fb.calls, 1); /* on a later pass, not inside the call */
	pump(&r);
	CHECK_EQ(r.fb.nr_sent, 3);
	for (unsigned int i = 0; i < 3 && i < r.fb.nr_sent; i++)
		CHECK(r.fb.sent_len[i] == n[i] && !memcmp(r.fb.sent[i], f[i], n[i]));
	for (int i = 0; i < 3; i++)
		CHECK(vdrv_get_used(&r.tx, &id, &used));
	CHECK_EQ(r.net->stats.tx_frames, 3);
	CHECK_EQ(r.net->stats.tx_errors, 0);
	/* A second -EAGAIN after a reset of the device is no different. */
	r.fb.fail = -EAGAIN;
	CHECK_EQ(tx(&r, NULL, f[0], n[0]), -1);
	CHECK(r.net->tx_blocked);
	vdrv_mmio_write(&r.t.bus, BASE, VIRTIO_MMIO_STATUS, 0);
	CHECK(!r.net->tx_blocked);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/*
 * big_frames: a device with libslirp's and passt's MTU (NET_MTU_MAX)
 * offers it in config space, takes a frame of the whole MTU from the
 * guest (one byte more is bad) and gives one back over merged buffers; its
 * receive queue holds NET_RXQ_BYTES of frames, and its room is counted in
 * frames of that size. The frames left queued are freed with the device.
 */
/* The largest frame of a device with NET_MTU_MAX (no TSO). */
#define BIG (NET_MTU_MAX + 14)

TEST(big_frames)
{
	static uint8_t f[BIG + 1], got[NET_HDR_LEN + BIG];
	struct rig r;
	uint32_t id = 0, used = 0, total = 0;
	unsigned int nb = 0, cap;
	uint64_t gpa;
	size_t n;

	rig_init(&r);
	r.net->mtu = NET_MTU_MAX;
	CHECK_EQ(rig_up_at(&r, F_ALL, 256, 0), 0);
	CHECK_EQ(cfg8(&r, 10) | cfg8(&r, 11) << 8, NET_MTU_MAX);
	cap = net_rx_capacity(r.net);
	CHECK_EQ(cap, NET_RXQ_BYTES / BIG);
	CHECK_EQ(net_rx_room(r.net), cap);
	/* From the guest. */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_UDP, 443, NULL, 0, 0, BIG - 42);
	CHECK_EQ(n, BIG);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	CHECK_EQ(r.fb.sent_len[0], BIG);
	CHECK_EQ(tx(&r, NULL, f, n + 1), 0);
	CHECK_EQ(r.net->stats.tx_bad, 1);
	CHECK_EQ(r.fb.nr_sent, 1);
	/* To the guest: 17 buffers of 4 KiB for 65,546 bytes. */
	frame(f, BIG, 7);
	CHECK_EQ(push(&r, f, BIG), 0);
	CHECK_EQ(net_rx_room(r.net), cap - 1);
	CHECK_ERR(push(&r, f, BIG + 1), -EMSGSIZE);
	gpa = rx_post(&r, 17, 4096);
	kick(&r, NET_RX_QUEUE);
	pump(&r);
	while (vdrv_get_used(&r.rx, &id, &used) && nb < 17) {
		memcpy(got + total, vdrv_host(&r.rx, gpa + 4096ull * nb, used), used);
		total += used;
		nb++;
	}
	CHECK_EQ(nb, 17);
	CHECK_EQ(total, NET_HDR_LEN + BIG);
	CHECK(memcmp(got + NET_HDR_LEN, f, BIG) == 0);
	CHECK_EQ(r.net->rxq_bytes, 0);
	/* Full by bytes long before by count. */
	for (unsigned int i = 0; i < cap; i++)
		CHECK_EQ(push(&r, f, BIG), 0);
	CHECK_EQ(net_rx_room(r.net), 0);
	CHECK_ERR(push(&r, f, BIG), -ENOBUFS);
	CHECK_EQ(r.net->rxq_len, cap);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/*
 * net_init leaves the scratch at the struct's end (the chains, the frame
 * buffer: 138 KiB) untouched: it zeroed all of it, 138 KiB of RSS per
 * device before the first frame.
 */
TEST(scratch_untouched)
{
	size_t off = offsetof(struct net, chain);
	struct rig r;

	rig_init(&r);
	CHECK(sizeof(struct net) - off > 128 * 1024);
	CHECK_EQ(test_resident_pages((uint8_t *)r.net + off, sizeof(struct net) - off), 0);
	rig_fini(&r);
}

CHECK_MAIN(CASE(scratch_untouched), CASE(config_space), CASE(tx_judged), CASE(tx_backpressure),
           CASE(tx_checksum), CASE(rx_one_buffer), CASE(rx_merged), CASE(rx_no_merge),
           CASE(queue_limits), CASE(big_frames))

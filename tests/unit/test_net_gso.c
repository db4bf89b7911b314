// SPDX-License-Identifier: MIT
/*
 * Unit tests of TCP segmentation offload (virtio/net_gso.c): offered only
 * where the backend has send_gso; a TSO frame passes with its header when
 * its partial checksum names its TCP checksum field, and every other
 * encoding (a checksum aimed at an address, a port or past the frame,
 * options the check does not follow, lengths that lie, types not offered)
 * is bad and never reaches the backend; received TSO frames keep their
 * header for a guest that took GUEST_TSO, and are dropped for one that
 * did not.
 */
#include "test_net.h"

#include <netinet/in.h>

#define F_TSO                                                                                      \
	((1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |                     \
	 (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6))

static uint8_t frame_buf[NET_MAX_FRAME + 64];

/* tso4: a TCP frame of payload bytes to dst:443 and the header a Linux
 * guest would give it (csum_start at TCP, offset 16, MSS 1448). */
static size_t tso4(const char *dst, size_t payload, struct virtio_net_hdr_v1 *h)
{
	size_t n = nf_ipv4_full(frame_buf, dst, IPPROTO_TCP, 443, NULL, 0, 0x4000, payload);

	frame_buf[14 + 20 + 13] = 0x18; /* ACK|PSH: data, not a SYN */
	*h = (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 54,
		.gso_size = 1448,
		.csum_start = 34,
		.csum_offset = 16,
	};
	return n;
}

/* sent_bad: tx of frame with h; true when it went back as bad, unsent. */
static bool sent_bad(struct rig *r, const struct virtio_net_hdr_v1 *h, size_t n)
{
	uint64_t bad = r->net->stats.tx_bad, calls = r->fb.calls;

	return tx(r, h, frame_buf, n) == 0 && r->net->stats.tx_bad == bad + 1 &&
	       r->fb.calls == calls;
}

TEST(offered_only_with_send_gso)
{
	struct rig r;

	rig_init(&r);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES) & F_TSO, 0);
	rig_fini(&r);
	rig_init_ops(&r, &fake_gso_ops);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES) & F_TSO, F_TSO);
	CHECK_EQ(net_max_frame(r.net), NET_MAX_FRAME);
	/* The MTU offered stays a tap's. */
	CHECK_EQ(cfg8(&r, 10) | cfg8(&r, 11) << 8, NET_MTU_TAP);
	rig_fini(&r);
}

TEST(tx_tso4_passes_with_its_header)
{
	struct virtio_net_hdr_v1 h;
	struct rig r;
	size_t n;

	rig_init_ops(&r, &fake_gso_ops);
	CHECK_EQ(rig_up_at(&r, F_ALL | F_TSO, 64, 0), 0);
	/* The largest: an IPv4 packet of 65,535 bytes. */
	n = tso4("8.8.8.8", 65535 - 40, &h);
	CHECK_EQ(n, NET_MAX_FRAME);
	CHECK_EQ(tx(&r, &h, frame_buf, n), 0);
	CHECK_EQ(r.fb.gso_sent, 1);
	CHECK_EQ(r.fb.sent_len[0], n);
	CHECK(memcmp(&r.fb.gso_hdr, &h, sizeof(h)) == 0);
	CHECK_EQ(r.fb.not_allowed, 0);
	CHECK_EQ(r.net->stats.tx_bad, 0);
	/* The policy still judges it: a private address is denied. */
	n = tso4("10.0.2.2", 9000, &h);
	CHECK_EQ(tx(&r, &h, frame_buf, n), 0);
	CHECK_EQ(r.fb.gso_sent, 1);
	CHECK_EQ(r.net->stats.denied, 1);
	/* A whole frame still stops at the MTU: 1,514 passes, 1,515 not. */
	n = nf_ipv4_full(frame_buf, "8.8.8.8", IPPROTO_UDP, 443, NULL, 0, 0, 1500 - 28);
	CHECK_EQ(tx(&r, NULL, frame_buf, n), 0);
	CHECK_EQ(r.fb.calls, 2);
	n = nf_ipv4_full(frame_buf, "8.8.8.8", IPPROTO_UDP, 443, NULL, 0, 0, 1501 - 28);
	CHECK(sent_bad(&r, NULL, n));
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

TEST(tx_tso_hostile_encodings_are_bad)
{
	struct virtio_net_hdr_v1 h, g;
	struct rig r;
	size_t n;

	rig_init_ops(&r, &fake_gso_ops);
	CHECK_EQ(rig_up_at(&r, F_ALL | F_TSO, 256, 0), 0);
	n = tso4("8.8.8.8", 4000, &h);
	/* The partial sum aimed at the destination address, a port, the
	 * IP header's own sum, past the frame. */
	g = h, g.csum_start = 30, g.csum_offset = 0;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.csum_offset = 2;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.csum_start = 14, g.csum_offset = 10;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.csum_start = (uint16_t)n, g.csum_offset = 16;
	CHECK(sent_bad(&r, &g, n));
	/* No NEEDS_CSUM, no MSS, a header length past the frame. */
	g = h, g.flags = 0;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.gso_size = 0;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.hdr_len = (uint16_t)(n + 1);
	CHECK(sent_bad(&r, &g, n));
	/* Types never offered: UDP, ECN; TCPv6 on an IPv4 frame. */
	g = h, g.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	CHECK(sent_bad(&r, &g, n));
	g = h, g.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	CHECK(sent_bad(&r, &g, n));
	/* IP lengths that lie, a fragment, UDP inside, a VLAN tag. */
	frame_buf[17]++;
	CHECK(sent_bad(&r, &h, n));
	n = tso4("8.8.8.8", 4000, &h);
	frame_buf[20] |= 0x20; /* MF */
	CHECK(sent_bad(&r, &h, n));
	n = tso4("8.8.8.8", 4000, &h);
	frame_buf[23] = IPPROTO_UDP;
	CHECK(sent_bad(&r, &h, n));
	n = tso4("8.8.8.8", 4000, &h);
	frame_buf[12] = 0x81, frame_buf[13] = 0x00;
	CHECK(sent_bad(&r, &h, n));
	/* A TCP header that claims more than the frame, or less than 20. */
	n = tso4("8.8.8.8", 4000, &h);
	frame_buf[34 + 12] = 0x40;
	CHECK(sent_bad(&r, &h, n));
	n = tso4("8.8.8.8", 10, &h);
	frame_buf[34 + 12] = 0xf0; /* 60 bytes of header, 30 in the frame */
	CHECK(sent_bad(&r, &h, n));
	/* IPv4 options move the TCP header: the sum must follow it. */
	{
		uint8_t opts[4] = { 1, 1, 1, 0 }; /* NOPs, EOL */

		n = nf_ipv4_full(frame_buf, "8.8.8.8", IPPROTO_TCP, 443, opts, 4, 0, 4000);
		frame_buf[14 + 24 + 13] = 0x18;
		g = h;
		CHECK(sent_bad(&r, &g, n)); /* still at 34: bad */
		g.csum_start = 38;
		CHECK_EQ(tx(&r, &g, frame_buf, n), 0);
		CHECK_EQ(r.fb.gso_sent, 1);
	}
	CHECK_EQ(r.fb.not_allowed, 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);

	/* Not negotiated: a driver that took CSUM but no HOST_TSO4; and a
	 * backend with no send_gso, whatever the driver writes. */
	rig_init_ops(&r, &fake_gso_ops);
	CHECK_EQ(rig_up_at(&r, F_ALL | (1ull << VIRTIO_NET_F_GUEST_TSO4), 64, 0), 0);
	n = tso4("8.8.8.8", 4000, &h);
	CHECK(sent_bad(&r, &h, n));
	rig_fini(&r);
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	CHECK(sent_bad(&r, &h, n));
	rig_fini(&r);
}

TEST(tx_tso6)
{
	struct virtio_net_hdr_v1 h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
		.gso_size = 1428,
		.csum_start = 54,
		.csum_offset = 16,
	};
	struct rig r;
	size_t n = nf_ipv6(frame_buf, "2001:4860:4860::8888", IPPROTO_TCP, 443);

	/* 6000 bytes of data after the TCP header. */
	memset(frame_buf + n, 0, 6000);
	nf_put16(frame_buf + 18, (uint16_t)(20 + 6000));
	frame_buf[54 + 13] = 0x18;
	n += 6000;
	rig_init_ops(&r, &fake_gso_ops);
	CHECK_EQ(rig_up_at(&r, F_ALL | F_TSO, 64, 0), 0);
	CHECK_EQ(tx(&r, &h, frame_buf, n), 0);
	CHECK_EQ(r.fb.gso_sent, 1);
	/* An extension header before TCP: not followed, bad. */
	frame_buf[20] = 0; /* hop-by-hop */
	CHECK(sent_bad(&r, &h, n));
	rig_fini(&r);
}

/* rx_tso: a TSO frame from the backend, then what the guest got. */
static void rx_tso(struct rig *r, uint64_t feats, int *failed, bool want_it)
{
	struct virtio_net_hdr_v1 h, got;
	uint32_t id = 0, used = 0, total = 0;
	uint64_t gpa;
	size_t n;

	CHECK_EQ(rig_up_at(r, feats, 64, 0), 0);
	n = tso4("10.0.2.15", 9000, &h); /* as the host's kernel gives it */
	gpa = rx_post(r, 4, 4096);
	kick(r, NET_RX_QUEUE);
	CHECK_EQ(net_rx_push(r->net, (const uint8_t *)&h, frame_buf, n), 0);
	pump(r);
	while (vdrv_get_used(&r->rx, &id, &used))
		total += used;
	if (!want_it) {
		CHECK_EQ(total, 0);
		CHECK_EQ(r->net->stats.rx_dropped, 1);
		return;
	}
	CHECK_EQ(total, NET_HDR_LEN + n);
	memcpy(&got, vdrv_host(&r->rx, gpa, sizeof(got)), sizeof(got));
	CHECK_EQ(got.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ(got.gso_size, 1448);
	CHECK_EQ(got.hdr_len, 54);
	CHECK_EQ(got.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(got.num_buffers, 3);
}

TEST(rx_tso_kept_or_dropped)
{
	struct rig r;

	rig_init_ops(&r, &fake_gso_ops);
	rx_tso(&r, F_ALL | F_TSO, failed, true);
	rig_fini(&r);
	/* A guest without GUEST_TSO4 cannot take it. */
	rig_init_ops(&r, &fake_gso_ops);
	rx_tso(&r, F_ALL, failed, false);
	rig_fini(&r);
}

CHECK_MAIN(CASE(offered_only_with_send_gso), CASE(tx_tso4_passes_with_its_header),
           CASE(tx_tso_hostile_encodings_are_bad), CASE(tx_tso6), CASE(rx_tso_kept_or_dropped))

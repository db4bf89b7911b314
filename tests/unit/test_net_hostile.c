// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net, second part: a hostile driver. Transmit chains
 * with bad shapes and headers (dropped and counted, the queue keeps
 * working), receive buffers the device must not use (a reset is asked
 * for), ring violations, and the device's life after a reset.
 */
#include "test_net.h"

/* tx_chain: the buffers b as one chain, sent; the used length or -1. */
static int64_t tx_chain(struct rig *r, const struct vdrv_buf *b, unsigned int n)
{
	uint32_t id = 0, used = 0;

	vdrv_add_chain(&r->tx, b, n);
	kick(r, NET_TX_QUEUE);
	if (!vdrv_get_used(&r->tx, &id, &used))
		return -1;
	return used;
}

TEST(tx_bad_shapes)
{
	struct rig r;
	uint8_t f[NF_MAX];
	struct virtio_net_hdr_v1 h = { 0 };
	size_t n;
	uint64_t gpa, big;
	struct vdrv_buf b[2];

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	gpa = tx_buf(&r, NULL, f, n);
	/* Only device-writable: nothing to send. */
	b[0] = (struct vdrv_buf){ gpa, (uint32_t)(NET_HDR_LEN + n), true };
	CHECK_EQ(tx_chain(&r, b, 1), 0);
	/* The header alone; a header and a runt. */
	b[0] = (struct vdrv_buf){ gpa, NET_HDR_LEN, false };
	CHECK_EQ(tx_chain(&r, b, 1), 0);
	b[0] = (struct vdrv_buf){ gpa, NET_HDR_LEN + 13, false };
	CHECK_EQ(tx_chain(&r, b, 1), 0);
	/* Over the MTU we offered, and at 4 GiB - 1 in all. */
	big = vdrv_alloc(&r.tx, NET_HDR_LEN + NF_ETH + 1);
	memcpy(vdrv_host(&r.tx, big, NET_HDR_LEN + n), vdrv_host(&r.tx, gpa, NET_HDR_LEN + n),
	       NET_HDR_LEN + n);
	b[0] = (struct vdrv_buf){ big, NET_HDR_LEN + NF_ETH + 1, false };
	CHECK_EQ(tx_chain(&r, b, 1), 0);
	CHECK_EQ(r.net->stats.tx_bad, 4);
	/* Segmentation the device never offered. */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1000;
	CHECK_EQ(tx(&r, &h, f, n), 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE | VIRTIO_NET_HDR_GSO_ECN;
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.net->stats.tx_bad, 6);
	/* A header and frame written across a readable and a writable
	 * part: only the readable part is the packet (here: a runt). */
	b[0] = (struct vdrv_buf){ gpa, NET_HDR_LEN + 10, false };
	b[1] = (struct vdrv_buf){ gpa + NET_HDR_LEN + 10, (uint32_t)(n - 10), true };
	CHECK_EQ(tx_chain(&r, b, 2), 0);
	CHECK_EQ(r.net->stats.tx_bad, 7);
	CHECK_EQ(r.fb.nr_sent, 0);
	/* And after all that, a good frame goes. */
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* Frames the policy denies, each for its reason, through the device. */
TEST(tx_hostile_frames)
{
	static const uint8_t lsrr[8] = { 0x83, 7, 4, 10, 0, 0, 1, 0 };
	struct rig r;
	uint8_t f[NF_MAX], e[16] = { 0 };
	size_t n;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 443, lsrr, sizeof(lsrr), 0, 0);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	n = nf_ipv4(f, "8.8.8.8", 47, 0); /* GRE */
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	e[0] = IPPROTO_TCP;
	e[3] = 2; /* routing, segments left 2 */
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_ROUTING, e, 8, IPPROTO_TCP, 443, 1);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_UNSUPPORTED], 3);
	n = nf_ipv6(f, "::ffff:127.0.0.1", IPPROTO_TCP, 22);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	n = nf_ipv6(f, "64:ff9b::a9fe:a9fe", IPPROTO_TCP, 80);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_POLICY], 2);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	f[14 + 3] = (uint8_t)(f[14 + 3] + 1); /* total length past the frame */
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_MALFORMED], 1);
	CHECK_EQ(r.net->stats.denied, 6);
	CHECK_EQ(r.fb.nr_sent, 0);
	rig_fini(&r);
}

TEST(rx_bad_buffers)
{
	struct rig r;
	uint8_t f[NF_MAX];
	uint64_t gpa;
	struct vdrv_buf b;

	/* A device-readable receive buffer. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	gpa = vdrv_alloc(&r.rx, 2048);
	b = (struct vdrv_buf){ gpa, 2048, false };
	vdrv_add_chain(&r.rx, &b, 1);
	kick(&r, NET_RX_QUEUE);
	frame(f, 60, 1);
	CHECK_EQ(push(&r, f, 60), 0);
	pump(&r);
	CHECK(needs_reset(&r));
	CHECK_EQ(vdrv_used_idx(&r.rx), 0);
	rig_fini(&r);

	/* A first buffer shorter than the header. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	rx_post(&r, 1, NET_HDR_LEN - 1);
	rx_post(&r, 4, 2048);
	kick(&r, NET_RX_QUEUE);
	CHECK_EQ(push(&r, f, 60), 0);
	pump(&r);
	CHECK(needs_reset(&r));
	rig_fini(&r);
}

TEST(ring_violations)
{
	struct rig r;
	uint8_t f[NF_MAX];
	size_t n;

	/* More made available than the ring holds. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	vdrv_set_avail_idx(&r.tx, 65);
	kick(&r, NET_TX_QUEUE);
	CHECK(needs_reset(&r));
	/* Sticky: no frame goes out until a reset. */
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	(void)tx(&r, NULL, f, n);
	CHECK_EQ(r.fb.nr_sent, 0);
	rig_fini(&r);

	/* A head index past the queue on the receive side. */
	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	vdrv_publish(&r.rx, 64);
	kick(&r, NET_RX_QUEUE);
	frame(f, 60, 2);
	CHECK_EQ(push(&r, f, 60), 0);
	pump(&r);
	CHECK(needs_reset(&r));
	rig_fini(&r);
}

/* A reset, and the device works again on new rings; queued frames wait. */
TEST(reset_and_again)
{
	struct rig r;
	uint8_t f[NF_MAX];
	size_t n;
	uint32_t id = 0, used = 0;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	vdrv_set_avail_idx(&r.tx, 65);
	kick(&r, NET_TX_QUEUE);
	CHECK(needs_reset(&r));
	frame(f, 80, 3);
	CHECK_EQ(push(&r, f, 80), 0);
	pump(&r);
	CHECK_EQ(rig_up_at(&r, F_ALL, 64, RESET_BASE), 0);
	CHECK(!needs_reset(&r));
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.fb.nr_sent, 1);
	rx_post(&r, 2, 2048);
	kick(&r, NET_RX_QUEUE);
	CHECK(vdrv_get_used(&r.rx, &id, &used));
	CHECK_EQ(used, NET_HDR_LEN + 80);
	rig_fini(&r);
}

/* Random chains over random RAM: never a crash, never a frame the policy denies. */
TEST(random_chains)
{
	struct rig r;
	uint32_t s = 99;

	rig_init(&r);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	for (int round = 0; round < 300 && !needs_reset(&r); round++) {
		uint8_t f[NF_MAX];
		size_t n = nf_ipv4(f, (round & 1) ? "8.8.8.8" : "10.0.0.1", IPPROTO_TCP, 443);
		struct vdrv_buf b[3];
		uint64_t gpa;
		uint32_t id = 0, used = 0;

		for (int k = 0; k < 3; k++) {
			s ^= s << 13;
			s ^= s >> 17;
			s ^= s << 5;
			f[14 + s % (n - 14)] ^= (uint8_t)s;
		}
		gpa = tx_buf(&r, NULL, f, n);
		b[0] = (struct vdrv_buf){ gpa, 1 + s % NET_HDR_LEN, false };
		b[1] = (struct vdrv_buf){ gpa + b[0].len, (uint32_t)(NET_HDR_LEN + n - b[0].len),
			                  false };
		vdrv_add_chain(&r.tx, b, 2);
		kick(&r, NET_TX_QUEUE);
		CHECK(vdrv_get_used(&r.tx, &id, &used));
		if (r.tx.heap_end - r.tx.heap < 4096)
			break;
	}
	CHECK_EQ(r.fb.not_allowed, 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

CHECK_MAIN(CASE(tx_bad_shapes), CASE(tx_hostile_frames), CASE(rx_bad_buffers),
           CASE(ring_violations), CASE(reset_and_again), CASE(random_chains))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net's user-mode backend (virtio/net_slirp.c): the
 * device with libslirp on a real io_uring loop, driven by the simulated
 * guest driver. The guest ARPs for its gateway and gets an answer, then
 * opens a TCP connection to the gateway's port, which libslirp turns into
 * a connection to a listener this test made on the host's loopback, and
 * the SYN-ACK comes back; a port the policy does not allow gets nowhere.
 * No traffic leaves the host's loopback.
 */
#define _GNU_SOURCE
#include "test_net.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* ip_sum: the IPv4 header checksum (RFC 791), which libslirp checks. */
static void ip_sum(uint8_t *ip)
{
	uint32_t s = 0;

	ip[10] = ip[11] = 0;
	for (int i = 0; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	nf_put16(ip + 10, (uint16_t)~s);
}

/* syn: a TCP SYN to 10.0.2.2:port; the TCP checksum left to the device. */
static size_t syn(uint8_t *f, uint16_t port, struct virtio_net_hdr_v1 *h)
{
	size_t n = nf_ipv4(f, NF_GW_IP, IPPROTO_TCP, port);
	uint8_t *ip = f + 14;
	uint32_t s = IPPROTO_TCP + 20;

	ip_sum(ip);
	nf_put16(f + 34 + 14, 64240); /* window */
	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	nf_put16(f + 34 + 16, (uint16_t)s);
	*h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		                         .csum_start = 34,
		                         .csum_offset = 16 };
	return n;
}

/* rx_frame: the next received frame (its bytes past the header), or 0. */
static size_t rx_frame(struct rig *r, uint8_t *out)
{
	uint32_t id = 0, used = 0;

	if (!vdrv_get_used(&r->rx, &id, &used) || used < NET_HDR_LEN)
		return 0;
	/* Each buffer was 2048 bytes at the heap's start, posted in order:
	 * the descriptor's address is in the table. */
	{
		uint64_t addr;

		memcpy(&addr, vdrv_host(&r->rx, r->rx.desc + 16ull * id, 8), 8);
		memcpy(out, vdrv_host(&r->rx, addr + NET_HDR_LEN, used - NET_HDR_LEN),
		       used - NET_HDR_LEN);
	}
	return used - NET_HDR_LEN;
}

TEST(arp_and_tcp_through_slirp)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_USER };
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct virtio_net_hdr_v1 h;
	uint8_t f[NF_MAX], got[NF_MAX];
	char rule[32];
	struct rig r;
	int lfd, cfd = -1;
	uint16_t port;
	size_t n;
	bool arp = false, synack = false;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CHECK_EQ(listen(lfd, 4), 0);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);

	memset(&r, 0, sizeof(r));
	test_rig_init(&r.t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r.t, BASE);
	pol(&np.policy);
	snprintf(rule, sizeof(rule), "%s:%u", NF_GW_IP, port);
	CHECK_EQ(net_policy_add_rule(&np.policy, rule, true), 0);
	r.net = test_pages_new(sizeof(*r.net)); /* rig_fini unmaps it */
	CHECK_EQ(net_init(r.net, &np, &r.t.loop, &r.t.m, &mp), 0);
	CHECK_EQ(virtio_mmio_register(&r.net->transport, &r.t.bus), 0);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	rx_post(&r, 32, 2048);
	kick(&r, NET_RX_QUEUE);

	/* ARP for the gateway: libslirp answers as 10.0.2.2. */
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	for (int i = 0; i < 50 && !arp; i++) {
		pump(&r);
		n = rx_frame(&r, got);
		arp = n >= 42 && got[12] == 0x08 && got[13] == 0x06 && got[21] == 2 &&
		      memcmp(got + 28, (uint8_t[]){ 10, 0, 2, 2 }, 4) == 0;
	}
	CHECK(arp);

	/* A port the policy does not name: denied before slirp sees it. */
	n = syn(f, (uint16_t)(port + 1), &h);
	CHECK_EQ(tx(&r, &h, f, n), 0);
	CHECK_EQ(r.net->stats.denied_by[NET_DENY_POLICY], 1);

	/* The allowed port: slirp connects to our listener on 127.0.0.1. */
	n = syn(f, port, &h);
	CHECK_EQ(tx(&r, &h, f, n), 0);
	for (int i = 0; i < 2000 && (cfd < 0 || !synack); i++) {
		pump(&r);
		if (cfd < 0)
			cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		n = rx_frame(&r, got);
		/* From 10.0.2.2:port, SYN and ACK set. */
		if (n >= 54 && got[23] == IPPROTO_TCP && (got[34] << 8 | got[35]) == port &&
		    (got[47] & 0x12) == 0x12)
			synack = true;
		if (cfd < 0 || !synack)
			usleep(1000);
	}
	CHECK(cfd >= 0);
	CHECK(synack);
	CHECK_EQ(r.net->stats.denied, 1);
	CHECK(r.net->stats.tx_frames >= 2);
	CHECK(!needs_reset(&r));
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	rig_fini(&r);
}

CHECK_MAIN(CASE(arp_and_tcp_through_slirp))

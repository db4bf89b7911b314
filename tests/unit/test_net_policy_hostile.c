// SPDX-License-Identifier: MIT
/*
 * Unit tests of the egress policy, second part: hostile IP headers.
 * Truncated and inconsistent lengths, IPv4 options, fragments, IPv6
 * extension headers, and random mutations of good frames: no crash, and
 * nothing denied gets through by an odd encoding.
 */
#include "check.h"
#include "test_net_policy.h"

#include <errno.h>
#include <stdio.h>

TEST(ipv4_hostile)
{
	static const uint8_t ra[4] = { 0x94, 4, 0, 0 };
	static const uint8_t nops[4] = { 1, 1, 1, 0 };
	static const uint8_t lsrr[8] = { 0x83, 7, 4, 8, 8, 8, 8, 0 };
	static const uint8_t ssrr[8] = { 0x89, 7, 4, 8, 8, 8, 8, 0 };
	static const uint8_t unknown[4] = { 0x88, 4, 0, 0 };
	static const uint8_t zero_len[4] = { 0x94, 0, 0, 0 };
	static const uint8_t one_len[4] = { 0x94, 1, 0, 0 };
	static const uint8_t past_end[4] = { 0x94, 5, 0, 0 };
	static const uint8_t eol_junk[4] = { 0, 0x83, 9, 9 };
	struct net_policy p;
	uint8_t f[NF_MAX];
	size_t n;

	pol(&p);
#define OPT(o, want)                                                                               \
	do {                                                                                       \
		n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 443, o, sizeof(o), 0, 0);              \
		CHECK_EQ(net_policy_check(&p, f, n, NULL), want);                                  \
	} while (0)
	OPT(ra, NET_ALLOW);
	OPT(nops, NET_ALLOW);
	OPT(eol_junk, NET_ALLOW);
	OPT(lsrr, NET_DENY_UNSUPPORTED);
	OPT(ssrr, NET_DENY_UNSUPPORTED);
	OPT(unknown, NET_DENY_UNSUPPORTED);
	OPT(zero_len, NET_DENY_MALFORMED);
	OPT(one_len, NET_DENY_MALFORMED);
	OPT(past_end, NET_DENY_MALFORMED);
#undef OPT
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	f[14] = 0x55; /* version 5 */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	f[14] = 0x44; /* IHL 4 */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	f[14] = 0x4f; /* IHL 15: past the packet */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	f[14] = 0x45;
	nf_put16(f + 16, 19); /* total length under the header */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	nf_put16(f + 16, (uint16_t)(n - 14 + 1)); /* past the frame */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	nf_put16(f + 16, (uint16_t)(n - 14));
	CHECK_EQ(net_policy_check(&p, f, n + 30, NULL), NET_ALLOW); /* Ethernet padding */
	nf_put16(f + 16, 20 + 19); /* TCP header cut short by the total length */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	nf_put16(f + 16, 40);
	f[14 + 20 + 12] = 4 << 4; /* data offset 4 */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	f[14 + 20 + 12] = 6 << 4; /* data offset past the packet */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* Protocols: tunnels and the rest. */
	CHECK_EQ(v4(&p, "8.8.8.8", 4, 0), NET_DENY_UNSUPPORTED);   /* IPIP */
	CHECK_EQ(v4(&p, "8.8.8.8", 41, 0), NET_DENY_UNSUPPORTED);  /* IPv6 in IPv4 */
	CHECK_EQ(v4(&p, "8.8.8.8", 47, 0), NET_DENY_UNSUPPORTED);  /* GRE */
	CHECK_EQ(v4(&p, "8.8.8.8", 132, 0), NET_DENY_UNSUPPORTED); /* SCTP */
	CHECK_EQ(v4(&p, "8.8.8.8", IPPROTO_ICMPV6, 0), NET_DENY_UNSUPPORTED);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_UDP, 53);
	nf_put16(f + 16, 20 + 7);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_ICMP, 0);
	nf_put16(f + 16, 20 + 4);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
}

TEST(ipv4_fragments)
{
	struct net_policy p;
	uint8_t f[NF_MAX];
	struct net_dest d;
	size_t n;

	pol(&p);
	/* A first fragment with the whole TCP header: judged by its port. */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 443, NULL, 0, 0x2000, 8);
	CHECK_EQ(net_policy_check(&p, f, n, &d), NET_ALLOW);
	CHECK_EQ(d.port_kind, NET_PORT_KNOWN);
	CHECK_EQ(d.port, 443);
	/* A first fragment too short for the TCP header (RFC 1858). */
	nf_put16(f + 16, 20 + 16);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	nf_put16(f + 16, 20 + 3); /* not even the ports */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* A TCP fragment at offset 8 rewrites a checked header. */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 0, NULL, 0, 0x0001, 16);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_UDP, 0, NULL, 0, 0x0001, 16);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW); /* UDP's header is 8 */
	/* Later fragments: public decides by address alone. */
	n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_TCP, 0, NULL, 0, 0x2100, 64);
	CHECK_EQ(net_policy_check(&p, f, n, &d), NET_ALLOW);
	CHECK_EQ(d.port_kind, NET_PORT_UNKNOWN);
	n = nf_ipv4_full(f, "10.0.0.1", IPPROTO_TCP, 0, NULL, 0, 0x0100, 64);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
	/* DNS to the resolver needs a known port. */
	CHECK_EQ(net_policy_set_base(&p, "none"), 0);
	n = nf_ipv4_full(f, NF_DNS_IP, IPPROTO_UDP, 0, NULL, 0, 0x0100, 64);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
}

/* Extension headers: 8 bytes each, next header first (RFC 8200 §4.2). */
static size_t ext(uint8_t *e, uint8_t next, uint8_t len8)
{
	memset(e, 0, (len8 + 1u) * 8u);
	e[0] = next;
	e[1] = len8;
	e[2] = 1; /* a PadN option's type, to look real */
	return (len8 + 1u) * 8u;
}

TEST(ipv6_extension_headers)
{
	struct net_policy p;
	uint8_t f[NF_MAX], e[256];
	struct net_dest d;
	size_t n, el;

	pol(&p);
	CHECK_EQ(net_policy_add_rule(&p, "2a00:1450::/32", false), 0);
	/* Hop-by-hop, then destination options, then TCP: parsed through. */
	el = ext(e, IPPROTO_DSTOPTS, 0);
	el += ext(e + el, IPPROTO_TCP, 1);
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_HOPOPTS, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, &d), NET_ALLOW);
	CHECK_EQ(d.port, 443);
	CHECK_EQ(d.l4_offset, 14 + 40 + el);
	n = nf_ipv6_full(f, "2a00:1450::1", IPPROTO_HOPOPTS, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_RULE);
	/* Hop-by-hop anywhere but first. */
	el = ext(e, IPPROTO_HOPOPTS, 0);
	el += ext(e + el, IPPROTO_TCP, 0);
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_DSTOPTS, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* A routing header with segments left names another destination. */
	el = ext(e, IPPROTO_TCP, 2);
	e[2] = 0; /* routing type 0 */
	e[3] = 1; /* segments left */
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_ROUTING, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	e[3] = 0; /* spent: the header's destination is the final one */
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_ROUTING, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	/* An extension header longer than the packet. */
	el = ext(e, IPPROTO_TCP, 0);
	e[1] = 9;
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_DSTOPTS, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* More than NET_POLICY_MAX_EXT headers. */
	el = 0;
	for (int i = 0; i < NET_POLICY_MAX_EXT + 1; i++)
		el += ext(e + el, i == NET_POLICY_MAX_EXT ? IPPROTO_TCP : IPPROTO_DSTOPTS, 0);
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_DSTOPTS, e, el, IPPROTO_TCP, 443, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	/* Unknown, ESP, AH, no next header. */
	CHECK_EQ(v6(&p, "2606:4700::1", 59, 0), NET_DENY_UNSUPPORTED);
	CHECK_EQ(v6(&p, "2606:4700::1", 50, 0), NET_DENY_UNSUPPORTED);
	CHECK_EQ(v6(&p, "2606:4700::1", 51, 0), NET_DENY_UNSUPPORTED);
	CHECK_EQ(v6(&p, "2606:4700::1", 253, 0), NET_DENY_UNSUPPORTED);
	CHECK_EQ(v6(&p, "2606:4700::1", IPPROTO_ICMP, 0), NET_DENY_UNSUPPORTED);
	CHECK_EQ(v6(&p, "2606:4700::1", IPPROTO_ICMPV6, 0), NET_ALLOW);
}

TEST(ipv6_fragments_and_lengths)
{
	struct net_policy p;
	uint8_t f[NF_MAX], e[64];
	struct net_dest d;
	size_t n;

	pol(&p);
	CHECK_EQ(net_policy_add_rule(&p, "[2606:4700::/32]:22", false), 0);
	/* First fragment: the header inside counts. */
	memset(e, 0, 8);
	e[0] = IPPROTO_TCP;
	e[3] = 1; /* M */
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 22, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_RULE);
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 80, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	/* A later fragment: no port, so the port rule's address decides. */
	nf_put16(e + 2, (uint16_t)(64 << 3));
	n = nf_ipv6_full(f, "2606:4700::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 0, 0);
	CHECK_EQ(net_policy_check(&p, f, n, &d), NET_DENY_RULE);
	CHECK_EQ(d.port_kind, NET_PORT_UNKNOWN);
	n = nf_ipv6_full(f, "2606:4701::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 0, 0);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	/* A later fragment that claims an extension header: not a header. */
	e[0] = IPPROTO_DSTOPTS;
	n = nf_ipv6_full(f, "2606:4701::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 0, 0);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	/* Two fragment headers. */
	memset(e, 0, 16);
	e[0] = IPPROTO_FRAGMENT;
	e[8] = IPPROTO_TCP;
	n = nf_ipv6_full(f, "2606:4701::1", IPPROTO_FRAGMENT, e, 16, IPPROTO_TCP, 80, 1);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* A first fragment too short for the TCP header. */
	memset(e, 0, 8);
	e[0] = IPPROTO_TCP;
	e[3] = 1;
	n = nf_ipv6_full(f, "2606:4701::1", IPPROTO_FRAGMENT, e, 8, IPPROTO_TCP, 80, 1);
	nf_put16(f + 14 + 4, 8 + 12);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	/* Payload lengths: zero (jumbogram), past the frame; padding is fine. */
	n = nf_ipv6(f, "2606:4701::1", IPPROTO_TCP, 80);
	nf_put16(f + 14 + 4, 0);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	nf_put16(f + 14 + 4, 21);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	nf_put16(f + 14 + 4, 20);
	CHECK_EQ(net_policy_check(&p, f, n + 6, NULL), NET_ALLOW);
	f[14] = 0x40; /* version 4 in an IPv6 frame */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_MALFORMED);
	f[14] = 0x60;
	for (size_t cut = 0; cut < n; cut++)
		CHECK(net_policy_check(&p, f, cut, NULL) != NET_ALLOW);
}

/* A cheap PRNG: the same frames on every run. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Good frames with random bytes flipped: never a crash, and a frame
 * that passes names an address the policy allows. */
TEST(mutations)
{
	struct net_policy p;
	uint8_t base[NF_MAX], f[NF_MAX];
	uint32_t seed = 12345;
	size_t n[3];
	struct net_dest d;

	pol(&p);
	CHECK_EQ(net_policy_set_base(&p, "none"), 0);
	CHECK_EQ(net_policy_add_rule(&p, "8.8.8.8:443", true), 0);
	for (int i = 0; i < 200000; i++) {
		int kind = (int)(rnd(&seed) % 3);
		size_t len;

		n[0] = nf_ipv4(base, "8.8.8.8", IPPROTO_TCP, 443);
		if (kind == 1)
			n[1] = nf_ipv6(base, "::ffff:8.8.8.8", IPPROTO_TCP, 443);
		if (kind == 2)
			n[2] = nf_arp(base, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
		len = n[kind];
		memcpy(f, base, len);
		for (int k = (int)(rnd(&seed) % 4); k >= 0; k--)
			f[rnd(&seed) % len] ^= (uint8_t)(1u << (rnd(&seed) % 8));
		if (rnd(&seed) % 8 == 0)
			len = rnd(&seed) % (len + 1);
		if (net_policy_check(&p, f, len, &d) == NET_ALLOW && d.ethertype != 0x0806) {
			static const uint8_t want[16] = { [10] = 0xff, [11] = 0xff, 8, 8, 8, 8 };

			CHECK(memcmp(d.addr, want, 16) == 0);
			CHECK(d.port_kind == NET_PORT_KNOWN && d.port == 443);
		}
	}
}

/*
 * IP sources: only the guest's own address (IPv4: the link's; IPv6: the
 * link-local address from its MAC) passes, under every base, for every
 * protocol and fragment; any other is spoofed (a tap's network would
 * carry it; a user-mode stack would answer someone else).
 */
TEST(ip_sources)
{
	static const char *bad4[] = { "10.0.2.16", "0.0.0.0",         "10.0.2.2",
		                      "8.8.8.8",   "255.255.255.255", "127.0.0.1" };
	static const char *bad6[] = { "fe80::1",
		                      "::",
		                      "::ffff:10.0.2.15",
		                      "2001:4860::8888",
		                      "fe80::5054:ff:fe12:3457",
		                      "fe80::5254:ff:fe12:3456" };
	struct net_policy p;
	uint8_t f[NF_MAX];
	size_t n;

	pol(&p);
	p.base = NET_BASE_ALL;
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_UDP, 53);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
		uint32_t a = nf_ip4(bad4[i]);

		n = nf_ipv4(f, "8.8.8.8", IPPROTO_UDP, 53);
		memcpy(f + 14 + 12, &a, 4);
		CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
		/* A later fragment, ICMP, and the resolver's own pass. */
		n = nf_ipv4_full(f, "8.8.8.8", IPPROTO_UDP, 53, NULL, 0, 100, 8);
		memcpy(f + 14 + 12, &a, 4);
		CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
		n = nf_ipv4(f, "8.8.8.8", IPPROTO_ICMP, 0);
		memcpy(f + 14 + 12, &a, 4);
		CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
		n = nf_ipv4(f, NF_DNS_IP, IPPROTO_UDP, 53);
		memcpy(f + 14 + 12, &a, 4);
		CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	}
	n = nf_ipv6(f, "2001:4860::8888", IPPROTO_TCP, 443);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++) {
		n = nf_ipv6(f, "2001:4860::8888", IPPROTO_TCP, 443);
		nf_ip6(bad6[i], f + 14 + 8);
		CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	}
	/* A guest whose link has another address and MAC. */
	p.link.ip4 = nf_ip4("192.168.7.9");
	p.link.mac[0] = 0x02;
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_UDP, 53);
	memcpy(f + 6, p.link.mac, 6);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	memcpy(f + 14 + 12, &p.link.ip4, 4);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	n = nf_ipv6(f, "2001:4860::8888", IPPROTO_TCP, 443);
	memcpy(f + 6, p.link.mac, 6);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	f[14 + 8 + 8] = 0x00; /* 0x02 with the universal/local bit inverted */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
}

CHECK_MAIN(CASE(ipv4_hostile), CASE(ipv4_fragments), CASE(ipv6_extension_headers),
           CASE(ipv6_fragments_and_lengths), CASE(mutations), CASE(ip_sources))

/* SPDX-License-Identifier: MIT */
/*
 * net_frames.h: Ethernet frames as a guest would send them, for the unit
 * tests of the egress policy and the virtio-net device, and the fuzzer's
 * seeds. Every builder writes into a caller's buffer (NF_MAX bytes) and
 * returns the frame's length. Checksums are left zero unless said: the
 * policy does not read them.
 */
#ifndef KVMBOX_TESTS_NET_FRAMES_H
#define KVMBOX_TESTS_NET_FRAMES_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NF_MAX 2048
/* The largest frame of a test's device (NET_MODE_NONE: a tap's MTU). */
#define NF_ETH (1500 + 14)

/* The guest of the tests: the user-mode network's defaults. */
static const uint8_t nf_guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t nf_gw_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
#define NF_GUEST_IP "10.0.2.15"
#define NF_GW_IP    "10.0.2.2"
#define NF_DNS_IP   "10.0.2.3"

static inline void nf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t nf_ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

static inline void nf_ip6(const char *s, uint8_t out[16])
{
	if (inet_pton(AF_INET6, s, out) != 1)
		abort();
}

/* nf_eth: the Ethernet II header from the guest's MAC to the gateway's. */
static inline size_t nf_eth(uint8_t *f, uint16_t type)
{
	memcpy(f, nf_gw_mac, 6);
	memcpy(f + 6, nf_guest_mac, 6);
	nf_put16(f + 12, type);
	return 14;
}

/* nf_l4: a TCP (20 bytes, no options), UDP (8) or ICMP (8) header at p. */
static inline size_t nf_l4(uint8_t *p, uint8_t proto, uint16_t dport)
{
	if (proto == IPPROTO_TCP) {
		memset(p, 0, 20);
		nf_put16(p, 40000);
		nf_put16(p + 2, dport);
		p[12] = 5 << 4;
		p[13] = 0x02; /* SYN */
		return 20;
	}
	memset(p, 0, 8);
	if (proto == IPPROTO_UDP) {
		nf_put16(p, 40000);
		nf_put16(p + 2, dport);
		nf_put16(p + 4, 8);
	} else {
		p[0] = proto == IPPROTO_ICMP ? 8 : 128; /* echo request */
	}
	return 8;
}

/*
 * nf_ipv4: a frame with an IPv4 header (options: olen bytes, a multiple of
 * 4), fragment field frag, and a transport header for proto and dport
 * (none when frag has an offset), then payload zero bytes.
 */
static inline size_t nf_ipv4_full(uint8_t *f, const char *dst, uint8_t proto, uint16_t dport,
                                  const uint8_t *opts, size_t olen, uint16_t frag, size_t payload)
{
	size_t n = nf_eth(f, 0x0800), hl = 20 + olen, l4 = 0;
	uint8_t *ip = f + n;
	uint32_t src = nf_ip4(NF_GUEST_IP), d = nf_ip4(dst);

	memset(ip, 0, hl);
	ip[0] = (uint8_t)(0x40 | (hl / 4));
	ip[8] = 64;
	ip[9] = proto;
	nf_put16(ip + 6, frag);
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &d, 4);
	if (olen)
		memcpy(ip + 20, opts, olen);
	if (!(frag & 0x1fff))
		l4 = nf_l4(ip + hl, proto, dport);
	memset(ip + hl + l4, 0, payload);
	nf_put16(ip + 2, (uint16_t)(hl + l4 + payload));
	return n + hl + l4 + payload;
}

static inline size_t nf_ipv4(uint8_t *f, const char *dst, uint8_t proto, uint16_t dport)
{
	return nf_ipv4_full(f, dst, proto, dport, NULL, 0, 0, 0);
}

/* nf_guest_ll6: the guest's link-local address, from its MAC (RFC 4291 A). */
static inline void nf_guest_ll6(uint8_t *a)
{
	static const uint8_t ll[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00,
		                        0xff, 0xfe, 0x12,       0x34, 0x56 };

	memcpy(a, ll, 16);
}

/*
 * nf_ipv6_full: a frame with an IPv6 header to dst, the extension headers
 * ext (elen bytes, already chained: first_nh is the fixed header's next
 * header), then a transport header for proto unless the chain ends in a
 * non-first fragment (the caller says: l4 false).
 */
static inline size_t nf_ipv6_full(uint8_t *f, const char *dst, uint8_t first_nh, const uint8_t *ext,
                                  size_t elen, uint8_t proto, uint16_t dport, int l4)
{
	size_t n = nf_eth(f, 0x86dd), tl = 0;
	uint8_t *ip = f + n;

	memset(ip, 0, 40);
	ip[0] = 0x60;
	ip[6] = first_nh;
	ip[7] = 64;
	nf_guest_ll6(ip + 8); /* the guest's own source */
	nf_ip6(dst, ip + 24);
	if (elen)
		memcpy(ip + 40, ext, elen);
	if (l4) {
		tl = nf_l4(ip + 40 + elen, proto, dport);
	} else {
		tl = 8; /* a fragment's data */
		memset(ip + 40 + elen, 0, tl);
	}
	nf_put16(ip + 4, (uint16_t)(elen + tl));
	return n + 40 + elen + tl;
}

static inline size_t nf_ipv6(uint8_t *f, const char *dst, uint8_t proto, uint16_t dport)
{
	return nf_ipv6_full(f, dst, proto, NULL, 0, proto, dport, 1);
}

/* nf_arp: an ARP packet (RFC 826) op from sender (mac, spa) for tpa. */
static inline size_t nf_arp(uint8_t *f, uint16_t op, const uint8_t *sha, const char *spa,
                            const char *tpa)
{
	size_t n = nf_eth(f, 0x0806);
	uint8_t *a = f + n;
	uint32_t s = nf_ip4(spa), t = nf_ip4(tpa);

	memset(f, 0xff, 6); /* broadcast */
	nf_put16(a, 1);
	nf_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	nf_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, &s, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, &t, 4);
	return n + 28;
}

#endif

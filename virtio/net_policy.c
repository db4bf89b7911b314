// SPDX-License-Identifier: MIT
/*
 * net_policy: the verdict over one Ethernet frame from the guest
 * (net_policy.h). The rules, their parser and the public address table:
 * net_policy_rules.c.
 *
 * Everything here reads a frame the guest wrote: each length is checked
 * against what is left of the frame before the bytes it covers are read,
 * every walk is bounded, and anything not understood is denied rather than
 * skipped, so that no odd encoding can carry a packet past a rule.
 * Layout facts: IEEE 802.3 (Ethernet II), RFC 826 (ARP), RFC 791 (IPv4),
 * RFC 8200 (IPv6), RFC 793 / 768 (TCP, UDP headers).
 */
#include "virtio/net_policy.h"

#include <netinet/in.h>
#include <string.h>

#define ETH_HLEN       14
#define ETH_P_IPV4     0x0800
#define ETH_P_ARP      0x0806
#define ETH_P_IPV6     0x86dd
#define ARP_LEN        28 /* RFC 826 for Ethernet and IPv4 */
#define IPV4_MIN_HLEN  20
#define IPV6_HLEN      40
#define TCP_MIN_HLEN   20
#define UDP_HLEN       8
#define ICMP_MIN_LEN   8
#define IPV4_MF        0x2000
#define IPV4_OFFSET    0x1fff
#define IPV6_EXT_MIN   8
#define IPV6_FRAG_HLEN 8

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* map4: the IPv4 address at p (network order) as ::ffff:a.b.c.d. */
static void map4(uint8_t out[16], const uint8_t *p)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, p, 4);
}

/*
 * net_l4: the transport header at l4 (l4len bytes of the packet from
 * there), for protocol proto. nonfirst: a fragment past the first (no
 * header there; offset8 is its offset in 8-byte units). RFC 1858 §4: a
 * TCP fragment at offset 8 can only be an attempt to rewrite the flags of
 * a header already checked, so it is malformed; a first fragment (or a
 * whole packet) must hold the whole transport header, options included.
 */
static enum net_verdict net_l4(struct net_dest *d, uint8_t proto, const uint8_t *l4, size_t l4len,
                               bool nonfirst, unsigned int offset8, bool v6)
{
	d->proto = proto;
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (nonfirst) {
			if (proto == IPPROTO_TCP && offset8 == 1)
				return NET_DENY_MALFORMED;
			d->port_kind = NET_PORT_UNKNOWN;
			return NET_ALLOW;
		}
		if (l4len < (proto == IPPROTO_TCP ? TCP_MIN_HLEN : UDP_HLEN))
			return NET_DENY_MALFORMED;
		if (proto == IPPROTO_TCP &&
		    ((l4[12] >> 4) * 4u < TCP_MIN_HLEN || (l4[12] >> 4) * 4u > l4len))
			return NET_DENY_MALFORMED;
		d->port_kind = NET_PORT_KNOWN;
		d->port = be16(l4 + 2);
		return NET_ALLOW;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((proto == IPPROTO_ICMPV6) != v6)
			return NET_DENY_UNSUPPORTED;
		if (!nonfirst && l4len < ICMP_MIN_LEN)
			return NET_DENY_MALFORMED;
		d->port_kind = NET_PORT_NONE;
		return NET_ALLOW;
	default:
		/* Tunnels (IPIP, GRE, IPv6-in-IPv4) would carry a second
		 * destination past the rules; SCTP, ESP and the rest are not
		 * passed either (docs/network.md). */
		return NET_DENY_UNSUPPORTED;
	}
}

/*
 * net_ipv4_options: walk the options (RFC 791 §3.1), len bytes. Passed:
 * EOL, NOP, record route, timestamp, router alert. Source routes (LSRR,
 * SSRR) name a destination other than the header's, so they are denied,
 * as is any option we do not know or whose length is wrong.
 */
static enum net_verdict net_ipv4_options(const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t type = o[i], olen;

		if (type == 0) /* EOL: the rest is padding */
			return NET_ALLOW;
		if (type == 1) { /* NOP */
			i++;
			continue;
		}
		if (len - i < 2)
			return NET_DENY_MALFORMED;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			return NET_DENY_MALFORMED;
		switch (type) {
		case 7:    /* record route */
		case 0x44: /* timestamp */
		case 0x94: /* router alert (RFC 2113) */
			break;
		default:
			return NET_DENY_UNSUPPORTED;
		}
		i += olen;
	}
	return NET_ALLOW;
}

static enum net_verdict net_parse_ipv4(const uint8_t *ip, size_t avail, struct net_dest *d)
{
	size_t hl, tot;
	uint16_t frag;
	enum net_verdict v;

	if (avail < IPV4_MIN_HLEN || ip[0] >> 4 != 4)
		return NET_DENY_MALFORMED;
	hl = (ip[0] & 15u) * 4u;
	tot = be16(ip + 2);
	/* Ethernet may pad a short packet: the frame may be longer than
	 * the packet, never shorter. */
	if (hl < IPV4_MIN_HLEN || hl > avail || tot < hl || tot > avail)
		return NET_DENY_MALFORMED;
	v = net_ipv4_options(ip + IPV4_MIN_HLEN, hl - IPV4_MIN_HLEN);
	if (v != NET_ALLOW)
		return v;
	map4(d->addr, ip + 16);
	frag = be16(ip + 6);
	d->l4_offset = (uint32_t)(ETH_HLEN + hl);
	return net_l4(d, ip[9], ip + hl, tot - hl, (frag & IPV4_OFFSET) != 0, frag & IPV4_OFFSET,
	              false);
}

/*
 * net_v6_alias: an IPv4 address that the IPv6 destination carries and
 * that a translator or relay would deliver to: IPv4-compatible ::/96,
 * NAT64 64:ff9b::/96 (RFC 6052), 6to4 2002::/16 (RFC 3056), Teredo
 * 2001::/32 (RFC 4380 §4: the client address, inverted). Deny rules and
 * the public base look at it too. (IPv4-mapped ::ffff:0:0/96 is already
 * the IPv4 address itself in our representation.)
 */
static void net_v6_alias(struct net_dest *d)
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t zero[12];
	const uint8_t *a = d->addr, *v4 = NULL;
	uint8_t teredo[4];

	if (!memcmp(a, zero, 12) || !memcmp(a, nat64, 12)) {
		v4 = a + 12;
	} else if (a[0] == 0x20 && a[1] == 0x02) {
		v4 = a + 2;
	} else if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
		for (int i = 0; i < 4; i++)
			teredo[i] = (uint8_t)~a[12 + i];
		v4 = teredo;
	}
	if (!v4)
		return;
	d->has_alias = true;
	map4(d->alias, v4);
}

/*
 * net_parse_ipv6: the fixed header and a bounded walk of the extension
 * headers (RFC 8200 §4): hop-by-hop (first only), destination options, a
 * routing header with no segments left (one with segments left names a
 * destination other than the header's: denied) and one fragment header.
 * Any other next header before the transport is denied.
 */
static enum net_verdict net_parse_ipv6(const uint8_t *ip, size_t avail, struct net_dest *d)
{
	size_t plen, off = IPV6_HLEN, end, hlen;
	uint8_t nh;
	bool nonfirst = false, frag_seen = false;
	unsigned int offset8 = 0;

	if (avail < IPV6_HLEN || ip[0] >> 4 != 6)
		return NET_DENY_MALFORMED;
	plen = be16(ip + 4);
	if (plen == 0) /* a jumbogram (RFC 2675) or nothing: not ours */
		return NET_DENY_UNSUPPORTED;
	if (plen > avail - IPV6_HLEN)
		return NET_DENY_MALFORMED;
	end = IPV6_HLEN + plen;
	memcpy(d->addr, ip + 24, 16);
	net_v6_alias(d);
	nh = ip[6];
	for (unsigned int i = 0; i <= NET_POLICY_MAX_EXT; i++) {
		d->l4_offset = (uint32_t)(ETH_HLEN + off);
		switch (nh) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
		case IPPROTO_ICMPV6:
			return net_l4(d, nh, ip + off, end - off, nonfirst, offset8, true);
		case IPPROTO_HOPOPTS:
		case IPPROTO_DSTOPTS:
		case IPPROTO_ROUTING:
			if (nonfirst)
				return NET_DENY_UNSUPPORTED; /* not a header: data */
			if (nh == IPPROTO_HOPOPTS && i != 0)
				return NET_DENY_MALFORMED; /* RFC 8200 §4.3 */
			if (end - off < IPV6_EXT_MIN)
				return NET_DENY_MALFORMED;
			hlen = (ip[off + 1] + 1u) * 8u;
			if (hlen > end - off)
				return NET_DENY_MALFORMED;
			if (nh == IPPROTO_ROUTING && ip[off + 3] != 0)
				return NET_DENY_UNSUPPORTED; /* segments left */
			nh = ip[off];
			off += hlen;
			break;
		case IPPROTO_FRAGMENT:
			if (frag_seen || nonfirst)
				return NET_DENY_MALFORMED;
			if (end - off < IPV6_FRAG_HLEN)
				return NET_DENY_MALFORMED;
			frag_seen = true;
			offset8 = be16(ip + off + 2) >> 3;
			nonfirst = offset8 != 0;
			nh = ip[off];
			off += IPV6_FRAG_HLEN;
			break;
		default:
			/* No next header, ESP, AH, mobility, HIP, shim6 and
			 * whatever comes next: denied, never skipped. */
			return NET_DENY_UNSUPPORTED;
		}
	}
	return NET_DENY_UNSUPPORTED; /* too many extension headers */
}

/*
 * net_rule_match: whether r matches d. Deny rules also match an embedded
 * IPv4 address, and a packet whose port is unknown on the address alone;
 * allow rules need the address itself and, if they name ports, a known one.
 */
static bool net_rule_match(const struct net_rule *r, const struct net_dest *d)
{
	bool deny = !r->allow;

	if (!net_prefix_match(&r->net, d->addr) &&
	    !(deny && d->has_alias && net_prefix_match(&r->net, d->alias)))
		return false;
	if (r->any_port)
		return true;
	if (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP)
		return false;
	if (d->port_kind == NET_PORT_UNKNOWN)
		return deny;
	return d->port_kind == NET_PORT_KNOWN && d->port >= r->port_lo && d->port <= r->port_hi;
}

/* net_is_v4: d's destination is the IPv4 address ip (network order). */
static bool net_is_v4(const struct net_dest *d, uint32_t ip)
{
	uint8_t m[16];

	map4(m, (const uint8_t *)&ip);
	return memcmp(m, d->addr, 16) == 0;
}

/* net_decide: steps 3 to 6 of net_policy.h for a parsed destination. */
static enum net_verdict net_decide(const struct net_policy *p, const struct net_dest *d)
{
	for (unsigned int i = 0; i < p->nr_rules; i++)
		if (!p->rules[i].allow && net_rule_match(&p->rules[i], d))
			return NET_DENY_RULE;
	if (p->link.dns4 && net_is_v4(d, p->link.dns4) &&
	    (d->proto == IPPROTO_UDP || (d->proto == IPPROTO_TCP && !p->link.dns4_udp_only)) &&
	    d->port_kind == NET_PORT_KNOWN && d->port == 53)
		return NET_ALLOW;
	for (unsigned int i = 0; i < p->nr_rules; i++)
		if (p->rules[i].allow && net_rule_match(&p->rules[i], d))
			return NET_ALLOW;
	switch (p->base) {
	case NET_BASE_ALL:
		return NET_ALLOW;
	case NET_BASE_PUBLIC:
		if (net_addr_public(p, d->addr) && (!d->has_alias || net_addr_public(p, d->alias)))
			return NET_ALLOW;
		return NET_DENY_POLICY;
	default:
		return NET_DENY_POLICY;
	}
}

/*
 * net_check_arp: RFC 826 for Ethernet and IPv4 only. The sender must be
 * the guest (its MAC, and its address or 0.0.0.0 for a probe), the target
 * on the guest's link and one the guest may reach: the gateway, the
 * resolver, itself (a gratuitous ARP), or what the rules allow.
 */
static enum net_verdict net_check_arp(const struct net_policy *p, const uint8_t *a, size_t avail,
                                      struct net_dest *d)
{
	const struct net_link *l = &p->link;
	uint32_t spa, tpa;
	uint16_t op;

	if (avail < ARP_LEN)
		return NET_DENY_MALFORMED;
	if (be16(a) != 1 || be16(a + 2) != ETH_P_IPV4 || a[4] != 6 || a[5] != 4)
		return NET_DENY_UNSUPPORTED;
	op = be16(a + 6);
	if (op != 1 && op != 2)
		return NET_DENY_UNSUPPORTED;
	memcpy(&spa, a + 14, 4);
	memcpy(&tpa, a + 24, 4);
	map4(d->addr, a + 24);
	d->port_kind = NET_PORT_NONE;
	if (memcmp(a + 8, l->mac, 6) != 0 || !(spa == l->ip4 || (op == 1 && spa == 0)))
		return NET_DENY_SPOOF;
	if (!l->ip4 || (tpa & l->mask4) != (l->ip4 & l->mask4))
		return NET_DENY_POLICY;
	if (tpa == l->gw4 || (l->dns4 && tpa == l->dns4) || tpa == l->ip4)
		return NET_ALLOW;
	return net_decide(p, d);
}

/*
 * net_v6_src_ok: an IPv6 source is the guest's own: the link-local
 * address its kernel forms from the MAC (fe80::/64 with the modified
 * EUI-64 interface identifier: the MAC with ff:fe in its middle and the
 * universal/local bit inverted, RFC 4291 §2.5.1 and appendix A). The
 * guest has no other IPv6 address: none is configured, and no router
 * advertises a prefix to it.
 */
static bool net_v6_src_ok(const struct net_link *l, const uint8_t *src)
{
	uint8_t own[16] = { 0xfe, 0x80 };

	own[8] = l->mac[0] ^ 0x02;
	own[9] = l->mac[1];
	own[10] = l->mac[2];
	own[11] = 0xff;
	own[12] = 0xfe;
	own[13] = l->mac[3];
	own[14] = l->mac[4];
	own[15] = l->mac[5];
	return memcmp(src, own, 16) == 0;
}

enum net_verdict net_policy_check(const struct net_policy *p, const uint8_t *frame, size_t len,
                                  struct net_dest *dest)
{
	struct net_dest d = { 0 };
	enum net_verdict v;

	if (len < ETH_HLEN) {
		v = NET_DENY_MALFORMED;
		goto out;
	}
	d.ethertype = be16(frame + 12);
	if (memcmp(frame + 6, p->link.mac, 6) != 0) {
		v = NET_DENY_SPOOF;
		goto out;
	}
	switch (d.ethertype) {
	case ETH_P_ARP:
		v = net_check_arp(p, frame + ETH_HLEN, len - ETH_HLEN, &d);
		break;
	case ETH_P_IPV4:
		v = net_parse_ipv4(frame + ETH_HLEN, len - ETH_HLEN, &d);
		if (v == NET_ALLOW && memcmp(frame + ETH_HLEN + 12, &p->link.ip4, 4) != 0)
			v = NET_DENY_SPOOF;
		if (v == NET_ALLOW)
			v = net_decide(p, &d);
		break;
	case ETH_P_IPV6:
		v = net_parse_ipv6(frame + ETH_HLEN, len - ETH_HLEN, &d);
		if (v == NET_ALLOW && !net_v6_src_ok(&p->link, frame + ETH_HLEN + 8))
			v = NET_DENY_SPOOF;
		if (v == NET_ALLOW)
			v = net_decide(p, &d);
		break;
	default:
		/* 802.1Q and 802.1ad tags (0x8100, 0x88a8) included: a tag
		 * would put the frame on another VLAN of a tap's network, and
		 * parsing through it is one more place to get wrong. An
		 * 802.3 length (< 0x600) is no Ethernet II type at all. */
		v = NET_DENY_UNSUPPORTED;
		break;
	}
out:
	if (dest)
		*dest = d;
	return v;
}

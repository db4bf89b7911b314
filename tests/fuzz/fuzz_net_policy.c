// SPDX-License-Identifier: MIT
/*
 * fuzz_net_policy: the egress policy (virtio/net_policy.c) over frames a
 * hostile guest sends, under rules the input picks.
 *
 * Input layout:
 *   byte 0        base (mod 3: public, all, none); bit 7: no resolver
 *   byte 1        number of rules (mod 9)
 *   then per rule 21 bytes: address[16], prefix length (mod 129), flags
 *                 (bit 0 allow, bit 1 any port), port_lo, port_hi (le16;
 *                 swapped when lo > hi)
 *   the rest      the Ethernet frame
 *
 * Beyond "no crash" (ASan, UBSan), every frame the policy allows is parsed
 * again here by a second, independent reading of the same RFCs (a plain
 * bit-by-bit prefix match, its own walks of the IPv4 and IPv6 headers),
 * which must find the same destination, that no deny rule covers it, and
 * that the resolver's pass, an allow rule or the base really lets it by,
 * and that its IP source is the guest's own address.
 * A frame the oracle cannot read (an encoding it does not know) must not
 * have been allowed.
 */
#include "../unit/net_frames.h"
#include "virtio/net_policy.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RULE_BYTES 21

struct odest {
	uint8_t addr[16];
	bool alias_ok;
	uint8_t alias[16];
	int proto;
	int port; /* -1: none by protocol, -2: unknown (fragment) */
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool obit(const uint8_t *a, unsigned int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

/* omatch: a plain bit-by-bit prefix match. */
static bool omatch(const struct net_prefix *pf, const uint8_t *a)
{
	for (unsigned int i = 0; i < pf->len; i++)
		if (obit(pf->addr, i) != obit(a, i))
			return false;
	return true;
}

static void omap(uint8_t out[16], const uint8_t *v4)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

static bool ois_mapped(const uint8_t *a)
{
	static const uint8_t m[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, m, 12);
}

/* oprivate: a short list of what must never pass as public. */
static bool oprivate(const uint8_t *a)
{
	if (ois_mapped(a)) {
		const uint8_t *v = a + 12;

		return v[0] == 0 || v[0] == 10 || v[0] == 127 || v[0] >= 224 ||
		       (v[0] == 169 && v[1] == 254) || (v[0] == 172 && (v[1] & 0xf0) == 16) ||
		       (v[0] == 192 && v[1] == 168) || (v[0] == 100 && (v[1] & 0xc0) == 64);
	}
	return (a[0] & 0xe0) != 0x20 &&
	       !(a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b);
}

static int oport_rule_match(const struct net_rule *r, const struct odest *d, bool deny)
{
	if (r->any_port)
		return 1;
	if (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP)
		return 0;
	if (d->port == -2)
		return deny;
	return d->port >= r->port_lo && d->port <= r->port_hi;
}

/* oallowed: the oracle's own reading of steps 3-6 (net_policy.h). */
static bool oallowed(const struct net_policy *p, const struct odest *d)
{
	uint8_t dns[16];

	for (unsigned int i = 0; i < p->nr_rules; i++) {
		const struct net_rule *r = &p->rules[i];

		if (!r->allow &&
		    (omatch(&r->net, d->addr) || (d->alias_ok && omatch(&r->net, d->alias))) &&
		    oport_rule_match(r, d, true))
			return false;
	}
	omap(dns, (const uint8_t *)&p->link.dns4);
	if (p->link.dns4 && !memcmp(dns, d->addr, 16) && d->port == 53 &&
	    (d->proto == IPPROTO_UDP || d->proto == IPPROTO_TCP))
		return true;
	for (unsigned int i = 0; i < p->nr_rules; i++) {
		const struct net_rule *r = &p->rules[i];

		if (r->allow && omatch(&r->net, d->addr) && oport_rule_match(r, d, false))
			return true;
	}
	if (p->base == NET_BASE_ALL)
		return true;
	if (p->base == NET_BASE_NONE)
		return false;
	/* public: not the whole table, but never one of these. */
	return !oprivate(d->addr) && !(d->alias_ok && oprivate(d->alias));
}

/* oport: the transport's port at l4 (n bytes), or why there is none. */
static bool oport(struct odest *d, const uint8_t *l4, size_t n, bool later)
{
	if (d->proto == IPPROTO_ICMP || d->proto == IPPROTO_ICMPV6) {
		d->port = -1;
		return true;
	}
	if (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP)
		return false;
	if (later) {
		d->port = -2;
		return true;
	}
	if (n < 4)
		return false;
	d->port = rd16(l4 + 2);
	return true;
}

static bool oread_v4(const uint8_t *f, size_t len, struct odest *d)
{
	size_t ihl;

	if (len < 34)
		return false;
	ihl = (f[14] & 15u) * 4;
	if (ihl < 20 || 14 + ihl > len)
		return false;
	omap(d->addr, f + 30);
	d->proto = f[23];
	return oport(d, f + 14 + ihl, len - 14 - ihl, (rd16(f + 20) & 0x1fff) != 0);
}

static bool oread_v6(const uint8_t *f, size_t len, struct odest *d)
{
	size_t off = 54;
	int nh;
	bool later = false;

	if (len < 54)
		return false;
	memcpy(d->addr, f + 38, 16);
	/* The embedded IPv4 forms, read again: ::/96, 64:ff9b::/96, 2002::/16, Teredo. */
	{
		static const uint8_t z[12], n64[12] = { 0, 0x64, 0xff, 0x9b };
		uint8_t v[4];

		d->alias_ok = true;
		if (!memcmp(d->addr, z, 12) || !memcmp(d->addr, n64, 12)) {
			omap(d->alias, d->addr + 12);
		} else if (d->addr[0] == 0x20 && d->addr[1] == 2) {
			omap(d->alias, d->addr + 2);
		} else if (!memcmp(d->addr, "\x20\x01\x00\x00", 4)) {
			for (int i = 0; i < 4; i++)
				v[i] = (uint8_t)(d->addr[12 + i] ^ 0xff);
			omap(d->alias, v);
		} else {
			d->alias_ok = false;
		}
	}
	nh = f[20];
	for (int hops = 0; hops < 16; hops++) {
		if (nh == IPPROTO_TCP || nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6) {
			d->proto = nh;
			return off <= len && oport(d, f + off, len - off, later);
		}
		if (off + 8 > len)
			return false;
		if (nh == IPPROTO_FRAGMENT) {
			later = (rd16(f + off + 2) >> 3) != 0;
			nh = f[off];
			off += 8;
		} else if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_DSTOPTS ||
		           nh == IPPROTO_ROUTING) {
			nh = f[off];
			off += (f[off + 1] + 1u) * 8;
		} else {
			return false;
		}
	}
	return false;
}

static void orule(struct net_rule *r, const uint8_t *b)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->net.addr, b, 16);
	r->net.len = (uint8_t)(b[16] % 129);
	for (unsigned int i = r->net.len; i < 128; i++)
		r->net.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	r->allow = b[17] & 1;
	r->any_port = b[17] & 2;
	r->port_lo = (uint16_t)(b[18] | b[19] << 8);
	r->port_hi = (uint16_t)(b[20] | b[19] << 8);
	if (r->port_hi < r->port_lo) {
		uint16_t t = r->port_lo;

		r->port_lo = r->port_hi;
		r->port_hi = t;
	}
}

static void ocheck_arp(const struct net_policy *p, const uint8_t *f, size_t len)
{
	const struct net_link *l = &p->link;
	struct odest d = { .port = -1 };
	uint32_t spa, tpa;

	if (len < 42 || rd16(f + 14) != 1 || rd16(f + 16) != 0x0800 || f[18] != 6 || f[19] != 4)
		abort();
	if (memcmp(f + 22, l->mac, 6) || (rd16(f + 20) != 1 && rd16(f + 20) != 2))
		abort();
	memcpy(&spa, f + 28, 4);
	memcpy(&tpa, f + 38, 4);
	if (spa != l->ip4 && !(spa == 0 && rd16(f + 20) == 1))
		abort();
	if ((tpa & l->mask4) != (l->ip4 & l->mask4))
		abort();
	omap(d.addr, f + 38);
	if (tpa != l->gw4 && tpa != l->ip4 && !(l->dns4 && tpa == l->dns4) && !oallowed(p, &d))
		abort();
}

/*
 * osource_ok: an allowed IP packet's source is the guest's: its IPv4
 * address, or for IPv6 fe80:: and its MAC as a modified EUI-64 (RFC 4291
 * appendix A), built here byte by byte. f is a whole IPv4 or IPv6 header
 * (oread_v4/6 read it).
 */
static bool osource_ok(const struct net_link *l, const uint8_t *f)
{
	uint8_t ll[16] = { 0xfe,      0x80,      0,
		           0,         0,         0,
		           0,         0,         (uint8_t)(l->mac[0] ^ 2),
		           l->mac[1], l->mac[2], 0xff,
		           0xfe,      l->mac[3], l->mac[4],
		           l->mac[5] };

	if (rd16(f + 12) == 0x0800)
		return memcmp(f + 14 + 12, &l->ip4, 4) == 0;
	return memcmp(f + 14 + 8, ll, 16) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_policy p;
	struct net_link l = { .ip4 = nf_ip4(NF_GUEST_IP),
		              .mask4 = nf_ip4("255.255.255.0"),
		              .gw4 = nf_ip4(NF_GW_IP),
		              .dns4 = nf_ip4(NF_DNS_IP) };
	struct net_dest nd;
	struct odest od = { 0 };
	unsigned int nr;
	const uint8_t *f;
	size_t len;
	bool ok;

	if (size < 2)
		return 0;
	memcpy(l.mac, nf_guest_mac, 6);
	if (data[0] & 0x80)
		l.dns4 = 0;
	net_policy_init(&p, &l);
	p.base = (enum net_base)((data[0] & 0x7f) % 3);
	nr = data[1] % 9;
	if (size < 2 + nr * RULE_BYTES)
		return 0;
	for (unsigned int i = 0; i < nr; i++)
		orule(&p.rules[p.nr_rules++], data + 2 + i * RULE_BYTES);
	f = data + 2 + nr * RULE_BYTES;
	len = size - 2 - nr * RULE_BYTES;
	if (net_policy_check(&p, f, len, &nd) != NET_ALLOW)
		return 0;
	/* Allowed: read it again, independently. */
	if (len < 14 || memcmp(f + 6, nf_guest_mac, 6) != 0)
		abort();
	switch (rd16(f + 12)) {
	case 0x0806:
		ocheck_arp(&p, f, len);
		return 0;
	case 0x0800:
		ok = oread_v4(f, len, &od);
		break;
	case 0x86dd:
		ok = oread_v6(f, len, &od);
		break;
	default:
		abort(); /* VLAN tags and the rest are never allowed */
	}
	if (!ok || memcmp(od.addr, nd.addr, 16) != 0 || !oallowed(&p, &od))
		abort();
	if (!osource_ok(&l, f))
		abort(); /* an IP source not the guest's own */
	if (od.port >= 0 && (nd.port_kind != NET_PORT_KNOWN || nd.port != od.port))
		abort();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * net_policy_rules: the egress policy's rules (net_policy.h): parsing
 * --net-allow / --net-deny / --net-policy, prefix matching, and the table
 * of addresses that are not public. The frame parser: net_policy.c.
 */
#include "virtio/net_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The longest spec: "[" IPv6 "/128]:65535-65535". */
#define NET_SPEC_MAX 96

/*
 * Not public, IPv4 (RFC 6890 and its updates: the special-purpose
 * registry): "this network", private, shared (CGNAT), loopback, link-local
 * (the cloud metadata address 169.254.169.254 among them), IETF protocol
 * assignments, documentation, 6to4 relay anycast, benchmarking, multicast,
 * reserved and limited broadcast.
 */
static const struct {
	uint8_t a, b, c;
	uint8_t len;
} net_v4_special[] = {
	{ 0, 0, 0, 8 },      { 10, 0, 0, 8 },     { 100, 64, 0, 10 }, { 127, 0, 0, 8 },
	{ 169, 254, 0, 16 }, { 172, 16, 0, 12 },  { 192, 0, 0, 24 },  { 192, 0, 2, 24 },
	{ 192, 88, 99, 24 }, { 192, 168, 0, 16 }, { 198, 18, 0, 15 }, { 198, 51, 100, 24 },
	{ 203, 0, 113, 24 }, { 224, 0, 0, 4 },    { 240, 0, 0, 4 },
};

/*
 * Not public, IPv6, inside global unicast 2000::/3 (everything outside it
 * is not public: loopback, unspecified, unique-local fc00::/7, link-local
 * fe80::/10, multicast ff00::/8, discard 100::/64, ...): IETF protocol
 * assignments 2001::/23 (Teredo, benchmarking, ORCHID), documentation
 * 2001:db8::/32 and 3fff::/20 (RFC 9637).
 */
static const struct {
	uint8_t b[4];
	uint8_t len;
} net_v6_special[] = {
	{ { 0x20, 0x01, 0x00, 0x00 }, 23 },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 },
	{ { 0x3f, 0xff, 0x00, 0x00 }, 20 },
};

bool net_prefix_match(const struct net_prefix *pfx, const uint8_t addr[16])
{
	unsigned int full = pfx->len / 8, rest = pfx->len % 8;

	if (memcmp(pfx->addr, addr, full) != 0)
		return false;
	if (!rest)
		return true;
	return ((pfx->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static bool net_is_mapped(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(a, mapped, 12) == 0;
}

/* net_v4_public: the IPv4 address at v4 (4 bytes, network order). */
static bool net_v4_public(const uint8_t *v4)
{
	uint8_t m[16] = { [10] = 0xff, [11] = 0xff };

	memcpy(m + 12, v4, 4);
	for (size_t i = 0; i < sizeof(net_v4_special) / sizeof(net_v4_special[0]); i++) {
		struct net_prefix pf = { .len = (uint8_t)(96 + net_v4_special[i].len) };

		pf.addr[10] = pf.addr[11] = 0xff;
		pf.addr[12] = net_v4_special[i].a;
		pf.addr[13] = net_v4_special[i].b;
		pf.addr[14] = net_v4_special[i].c;
		if (net_prefix_match(&pf, m))
			return false;
	}
	return true;
}

static bool net_v6_public(const uint8_t a[16])
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	/* NAT64's well-known prefix reaches the IPv4 address it embeds: as
	 * public as that address. */
	if (memcmp(a, nat64, 12) == 0)
		return net_v4_public(a + 12);
	if ((a[0] & 0xe0) != 0x20)
		return false;
	for (size_t i = 0; i < sizeof(net_v6_special) / sizeof(net_v6_special[0]); i++) {
		struct net_prefix pf = { .len = net_v6_special[i].len };

		memcpy(pf.addr, net_v6_special[i].b, 4);
		if (net_prefix_match(&pf, a))
			return false;
	}
	return true;
}

bool net_addr_public(const struct net_policy *p, const uint8_t addr[16])
{
	if (net_is_mapped(addr) ? !net_v4_public(addr + 12) : !net_v6_public(addr))
		return false;
	for (unsigned int i = 0; i < p->nr_host_nets; i++)
		if (net_prefix_match(&p->host_nets[i], addr))
			return false;
	return true;
}

void net_policy_init(struct net_policy *p, const struct net_link *link)
{
	memset(p, 0, sizeof(*p));
	p->base = NET_BASE_PUBLIC;
	if (link)
		p->link = *link;
}

/* net_parse_uint: s as a whole decimal number <= max; 0 or -EINVAL. */
static int net_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* net_parse_ports: "P" or "LO-HI" into r. */
static int net_parse_ports(char *s, struct net_rule *r)
{
	char *dash = strchr(s, '-');
	unsigned long lo, hi;

	if (dash)
		*dash = '\0';
	if (net_parse_uint(s, 65535, &lo))
		return -EINVAL;
	hi = lo;
	if (dash && net_parse_uint(dash + 1, 65535, &hi))
		return -EINVAL;
	if (hi < lo)
		return -EINVAL;
	r->port_lo = (uint16_t)lo;
	r->port_hi = (uint16_t)hi;
	return 0;
}

/* net_host_bits_clear: no bit of pfx's address is set past its length. */
static bool net_host_bits_clear(const struct net_prefix *pfx)
{
	for (unsigned int bit = pfx->len; bit < 128; bit++)
		if (pfx->addr[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

/* net_parse_prefix: "ADDR[/N]" of family into pfx (IPv4 mapped). */
static int net_parse_prefix(char *s, int family, struct net_prefix *pfx)
{
	char *slash = strchr(s, '/');
	unsigned long len = family == AF_INET ? 32 : 128;
	uint8_t raw[16];

	if (slash) {
		*slash = '\0';
		if (net_parse_uint(slash + 1, len, &len))
			return -EINVAL;
	}
	if (inet_pton(family, s, raw) != 1)
		return -EINVAL;
	memset(pfx, 0, sizeof(*pfx));
	if (family == AF_INET) {
		pfx->addr[10] = pfx->addr[11] = 0xff;
		memcpy(pfx->addr + 12, raw, 4);
		pfx->len = (uint8_t)(96 + len);
	} else {
		memcpy(pfx->addr, raw, 16);
		pfx->len = (uint8_t)len;
	}
	return net_host_bits_clear(pfx) ? 0 : -EINVAL;
}

int net_policy_add_rule(struct net_policy *p, const char *spec, bool allow)
{
	char buf[NET_SPEC_MAX], *addr = buf, *port = NULL, *c;
	struct net_rule r = { .allow = allow, .any_port = true };
	int family = AF_INET;

	if (strlen(spec) >= sizeof(buf) || !spec[0])
		return -EINVAL;
	strcpy(buf, spec);
	if (buf[0] == '[') {
		c = strchr(buf, ']');
		if (!c || (c[1] && c[1] != ':'))
			return -EINVAL;
		*c = '\0';
		addr = buf + 1;
		port = c[1] ? c + 2 : NULL;
		family = AF_INET6;
	} else if ((c = strchr(buf, ':')) != NULL && strchr(c + 1, ':')) {
		family = AF_INET6; /* bare IPv6: no port without brackets */
	} else if (c) {
		*c = '\0';
		port = c + 1;
	}
	if (net_parse_prefix(addr, family, &r.net))
		return -EINVAL;
	if (port) {
		r.any_port = false;
		if (net_parse_ports(port, &r))
			return -EINVAL;
	}
	if (p->nr_rules == NET_POLICY_MAX_RULES)
		return -ENOSPC;
	p->rules[p->nr_rules++] = r;
	return 0;
}

int net_policy_set_base(struct net_policy *p, const char *name)
{
	if (strcmp(name, "public") == 0)
		p->base = NET_BASE_PUBLIC;
	else if (strcmp(name, "all") == 0)
		p->base = NET_BASE_ALL;
	else if (strcmp(name, "none") == 0)
		p->base = NET_BASE_NONE;
	else
		return -EINVAL;
	return 0;
}

int net_policy_add_host_net(struct net_policy *p, int family, const void *addr, unsigned int prefix)
{
	struct net_prefix pf = { 0 };

	if (family == AF_INET && prefix <= 32) {
		pf.addr[10] = pf.addr[11] = 0xff;
		memcpy(pf.addr + 12, addr, 4);
		pf.len = (uint8_t)(96 + prefix);
	} else if (family == AF_INET6 && prefix <= 128) {
		memcpy(pf.addr, addr, 16);
		pf.len = (uint8_t)prefix;
	} else {
		return -EINVAL;
	}
	for (unsigned int bit = pf.len; bit < 128; bit++)
		pf.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	if (p->nr_host_nets == NET_POLICY_MAX_HOST_NETS)
		return -ENOSPC;
	p->host_nets[p->nr_host_nets++] = pf;
	return 0;
}

const char *net_verdict_name(enum net_verdict v)
{
	static const char *const names[NET_VERDICTS] = {
		[NET_ALLOW] = "allowed",
		[NET_DENY_MALFORMED] = "malformed",
		[NET_DENY_UNSUPPORTED] = "unsupported",
		[NET_DENY_SPOOF] = "spoofed",
		[NET_DENY_RULE] = "rule",
		[NET_DENY_POLICY] = "policy",
	};

	return (unsigned int)v < NET_VERDICTS ? names[v] : "?";
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the egress policy (virtio/net_policy.c, net_policy_rules.c),
 * first part: the rule parser, the public address table, rules and ports,
 * the resolver, ARP and Ethernet, spoofed senders and VLAN tags, and denied
 * addresses in every encoding we know. Hostile IP headers:
 * test_net_policy_hostile.c.
 */
#include "test_net_policy.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>

TEST(parse_rules)
{
	static const char *const good[] = {
		"10.0.0.0/8",          "1.2.3.4",           "1.2.3.4:80",
		"0.0.0.0/0",           "1.2.3.0/24:1-1024", "::1",
		"2001:db8::/32",       "[2001:db8::1]:443", "[::/0]:53",
		"::ffff:10.0.0.0/104", "1.2.3.4:0",         "1.2.3.4:65535",
	};
	static const char *const bad[] = {
		"",
		"x",
		"1.2.3",
		"1.2.3.4/33",
		"1.2.3.4/8",
		"1.2.3.4:",
		"1.2.3.4:65536",
		"1.2.3.4:80-70",
		"1.2.3.4:-1",
		"1.2.3.4:+1",
		" 1.2.3.4",
		"[::1",
		"[::1]x",
		"[::1]:",
		"::1/129",
		"2001:db8::1/32",
		"1.2.3.4/",
		"1.2.3.4:1-",
		"[1.2.3.4]:80",
		"1.2.3.4/08x",
		"10.0.0.0/8:80:90",
	};
	struct net_policy p;
	char longspec[200];

	pol(&p);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int err = net_policy_add_rule(&p, good[i], true);

		if (err)
			fprintf(stderr, "good spec %s: %d\n", good[i], err);
		CHECK_EQ(err, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = net_policy_add_rule(&p, bad[i], false);

		if (err != -EINVAL)
			fprintf(stderr, "bad spec %s: %d\n", bad[i], err);
		CHECK_EQ(err, -EINVAL);
	}
	memset(longspec, '1', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	CHECK_ERR(net_policy_add_rule(&p, longspec, true), -EINVAL);
	CHECK_EQ(p.rules[2].port_lo, 80);
	CHECK_EQ(p.rules[4].port_lo, 1);
	CHECK_EQ(p.rules[4].port_hi, 1024);
	CHECK_EQ(p.rules[4].net.len, 96 + 24);
	CHECK(p.rules[0].any_port && !p.rules[2].any_port);
	while (p.nr_rules < NET_POLICY_MAX_RULES)
		CHECK_EQ(net_policy_add_rule(&p, "1.2.3.4", true), 0);
	CHECK_ERR(net_policy_add_rule(&p, "1.2.3.4", true), -ENOSPC);
	CHECK_EQ(net_policy_set_base(&p, "all"), 0);
	CHECK_EQ(p.base, NET_BASE_ALL);
	CHECK_ERR(net_policy_set_base(&p, "private"), -EINVAL);
}

TEST(public_v4)
{
	static const char *const denied[] = {
		"0.1.2.3",         "10.1.2.3",        "100.64.0.1",      "100.127.255.254",
		"127.0.0.1",       "169.254.169.254", "172.16.0.1",      "172.31.255.255",
		"192.0.0.8",       "192.0.2.1",       "192.88.99.1",     "192.168.1.1",
		"198.18.0.1",      "198.51.100.7",    "203.0.113.9",     "224.0.0.251",
		"239.255.255.250", "240.0.0.1",       "255.255.255.255",
	};
	static const char *const allowed[] = { "8.8.8.8",         "1.1.1.1",    "100.63.255.255",
		                               "100.128.0.1",     "172.32.0.1", "192.169.0.1",
		                               "223.255.255.255", "11.0.0.1" };
	struct net_policy p;

	pol(&p);
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		if (v4(&p, denied[i], IPPROTO_TCP, 80) != NET_DENY_POLICY)
			fprintf(stderr, "public let %s through\n", denied[i]);
		CHECK_EQ(v4(&p, denied[i], IPPROTO_TCP, 80), NET_DENY_POLICY);
		CHECK_EQ(v4(&p, denied[i], IPPROTO_ICMP, 0), NET_DENY_POLICY);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		CHECK_EQ(v4(&p, allowed[i], IPPROTO_UDP, 443), NET_ALLOW);
	/* The host's own networks. */
	{
		uint32_t a = nf_ip4("8.8.8.77");

		CHECK_EQ(net_policy_add_host_net(&p, AF_INET, &a, 24), 0);
		CHECK_EQ(v4(&p, "8.8.8.8", IPPROTO_TCP, 443), NET_DENY_POLICY);
		CHECK_EQ(v4(&p, "8.8.9.8", IPPROTO_TCP, 443), NET_ALLOW);
		CHECK_ERR(net_policy_add_host_net(&p, AF_INET, &a, 33), -EINVAL);
	}
	/* none and all. */
	CHECK_EQ(net_policy_set_base(&p, "none"), 0);
	CHECK_EQ(v4(&p, "8.8.9.8", IPPROTO_TCP, 443), NET_DENY_POLICY);
	CHECK_EQ(net_policy_set_base(&p, "all"), 0);
	CHECK_EQ(v4(&p, "127.0.0.1", IPPROTO_TCP, 443), NET_ALLOW);
}

TEST(public_v6)
{
	static const char *const denied[] = {
		"::",
		"::1",
		"fe80::1",
		"fc00::1",
		"fd00:ec2::254",
		"ff02::1",
		"ff0e::1",
		"100::1",
		"::ffff:10.0.0.1",
		"::ffff:127.0.0.1",
		"::10.0.0.1",
		"64:ff9b::10.0.0.1",
		"64:ff9b::a9fe:a9fe",
		"2002:0a00:0001::1",
		"2002:7f00:1::",
		"2001::1",
		"2001:db8::1",
		"2001:10::1",
		"3fff::1",
		"64:ff9b:1::8.8.8.8",
		"4000::1",
		"::ffff:169.254.169.254",
		"::127.0.0.1",
	};
	static const char *const allowed[] = { "2606:4700:4700::1111", "2a00:1450::1",
		                               "::ffff:8.8.8.8",       "64:ff9b::8.8.8.8",
		                               "2002:0808:0808::1",    "3ffe::1" };
	struct net_policy p;
	uint8_t a[16];

	pol(&p);
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		if (v6(&p, denied[i], IPPROTO_TCP, 80) != NET_DENY_POLICY)
			fprintf(stderr, "public let %s through\n", denied[i]);
		CHECK_EQ(v6(&p, denied[i], IPPROTO_TCP, 80), NET_DENY_POLICY);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (v6(&p, allowed[i], IPPROTO_TCP, 80) != NET_ALLOW)
			fprintf(stderr, "public stopped %s\n", allowed[i]);
		CHECK_EQ(v6(&p, allowed[i], IPPROTO_TCP, 80), NET_ALLOW);
	}
	nf_ip6("2a00:1450::", a);
	CHECK_EQ(net_policy_add_host_net(&p, AF_INET6, a, 32), 0);
	CHECK_EQ(v6(&p, "2a00:1450::1", IPPROTO_TCP, 80), NET_DENY_POLICY);
}

/* A deny rule catches its address in every encoding a relay would deliver to it. */
TEST(deny_rules_all_encodings)
{
	static const char *const forms[] = { "::ffff:8.8.4.4", "::8.8.4.4", "64:ff9b::8.8.4.4",
		                             "2002:0808:0404::1", "2001:0:1:2::f7f7:fbfb" };
	struct net_policy p;
	uint8_t f[NF_MAX];
	size_t n;

	pol(&p);
	CHECK_EQ(net_policy_set_base(&p, "all"), 0);
	CHECK_EQ(net_policy_add_rule(&p, "8.8.4.4", false), 0);
	CHECK_EQ(v4(&p, "8.8.4.4", IPPROTO_TCP, 443), NET_DENY_RULE);
	CHECK_EQ(v4(&p, "8.8.4.4", IPPROTO_ICMP, 0), NET_DENY_RULE);
	CHECK_EQ(v4(&p, "8.8.4.5", IPPROTO_TCP, 443), NET_ALLOW);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (v6(&p, forms[i], IPPROTO_TCP, 443) != NET_DENY_RULE)
			fprintf(stderr, "deny 8.8.4.4 missed %s\n", forms[i]);
		CHECK_EQ(v6(&p, forms[i], IPPROTO_TCP, 443), NET_DENY_RULE);
	}
	/* Fragments: the first has the port, the others none: all denied. */
	n = nf_ipv4_full(f, "8.8.4.4", IPPROTO_UDP, 53, NULL, 0, 0x2000, 100);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_RULE);
	n = nf_ipv4_full(f, "8.8.4.4", IPPROTO_UDP, 53, NULL, 0, 0x0010, 100);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_RULE);
}

TEST(port_rules)
{
	struct net_policy p;
	uint8_t f[NF_MAX];
	struct net_dest d;
	size_t n;

	pol(&p);
	CHECK_EQ(net_policy_set_base(&p, "all"), 0);
	CHECK_EQ(net_policy_add_rule(&p, "1.2.3.0/24:22", false), 0);
	CHECK_EQ(net_policy_add_rule(&p, "[2001:4860::/32]:25-26", false), 0);
	CHECK_EQ(v4(&p, "1.2.3.4", IPPROTO_TCP, 22), NET_DENY_RULE);
	CHECK_EQ(v4(&p, "1.2.3.4", IPPROTO_UDP, 22), NET_DENY_RULE);
	CHECK_EQ(v4(&p, "1.2.3.4", IPPROTO_TCP, 23), NET_ALLOW);
	CHECK_EQ(v4(&p, "1.2.3.4", IPPROTO_ICMP, 0), NET_ALLOW); /* no port: not this rule */
	CHECK_EQ(v4(&p, "1.2.4.4", IPPROTO_TCP, 22), NET_ALLOW);
	/* A non-first fragment could belong to port 22: denied. */
	n = nf_ipv4_full(f, "1.2.3.4", IPPROTO_TCP, 0, NULL, 0, 0x0020, 64);
	CHECK_EQ(net_policy_check(&p, f, n, &d), NET_DENY_RULE);
	CHECK_EQ(d.port_kind, NET_PORT_UNKNOWN);
	CHECK_EQ(v6(&p, "2001:4860::1", IPPROTO_TCP, 25), NET_DENY_RULE);
	CHECK_EQ(v6(&p, "2001:4860::1", IPPROTO_TCP, 26), NET_DENY_RULE);
	CHECK_EQ(v6(&p, "2001:4860::1", IPPROTO_TCP, 27), NET_ALLOW);

	/* Allow rules with a port under base none: only that port, never a
	 * fragment without one; a whole-address rule lets fragments by. */
	pol(&p);
	CHECK_EQ(net_policy_set_base(&p, "none"), 0);
	CHECK_EQ(net_policy_add_rule(&p, "10.0.2.2:8000", true), 0);
	CHECK_EQ(net_policy_add_rule(&p, "9.9.9.9", true), 0);
	CHECK_EQ(v4(&p, "10.0.2.2", IPPROTO_TCP, 8000), NET_ALLOW);
	CHECK_EQ(v4(&p, "10.0.2.2", IPPROTO_TCP, 8001), NET_DENY_POLICY);
	CHECK_EQ(v4(&p, "10.0.2.2", IPPROTO_ICMP, 0), NET_DENY_POLICY);
	n = nf_ipv4_full(f, "10.0.2.2", IPPROTO_TCP, 0, NULL, 0, 0x0020, 64);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
	n = nf_ipv4_full(f, "9.9.9.9", IPPROTO_TCP, 0, NULL, 0, 0x0020, 64);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	CHECK_EQ(v4(&p, "9.9.9.9", IPPROTO_ICMP, 0), NET_ALLOW);
	/* An allow rule for the IPv4 address is not one for its NAT64 form. */
	CHECK_EQ(v6(&p, "64:ff9b::9.9.9.9", IPPROTO_TCP, 80), NET_DENY_POLICY);
	CHECK_EQ(v6(&p, "::ffff:9.9.9.9", IPPROTO_TCP, 80), NET_ALLOW);
}

TEST(dns_to_resolver)
{
	struct net_policy p;

	pol(&p);
	CHECK_EQ(net_policy_set_base(&p, "none"), 0);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_UDP, 53), NET_ALLOW);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_TCP, 53), NET_ALLOW);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_UDP, 54), NET_DENY_POLICY);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_ICMP, 0), NET_DENY_POLICY);
	CHECK_EQ(v4(&p, "8.8.8.8", IPPROTO_UDP, 53), NET_DENY_POLICY);
	CHECK_EQ(v4(&p, NF_GW_IP, IPPROTO_UDP, 53), NET_DENY_POLICY);
	/* An explicit deny wins over the resolver's pass. */
	CHECK_EQ(net_policy_add_rule(&p, NF_DNS_IP, false), 0);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_UDP, 53), NET_DENY_RULE);
	/* passt's resolver answers UDP only: TCP to its address would
	 * leave for that address on the host's network. */
	pol(&p);
	p.link.dns4_udp_only = true;
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_UDP, 53), NET_ALLOW);
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_TCP, 53), NET_DENY_POLICY);
	/* No resolver (tap): port 53 is nothing special. */
	pol(&p);
	p.link.dns4 = 0;
	CHECK_EQ(v4(&p, NF_DNS_IP, IPPROTO_UDP, 53), NET_DENY_POLICY);
}

TEST(arp)
{
	static const uint8_t other_mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct net_policy p;
	uint8_t f[NF_MAX];
	size_t n;

	pol(&p);
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_DNS_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	n = nf_arp(f, 2, nf_guest_mac, NF_GUEST_IP, NF_GW_IP); /* a reply */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	n = nf_arp(f, 1, nf_guest_mac, "0.0.0.0", NF_GUEST_IP); /* a probe */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	n = nf_arp(f, 2, nf_guest_mac, "0.0.0.0", NF_GW_IP); /* a reply must name us */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	/* Another on-link host: private, so not under public; under all yes. */
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, "10.0.2.99");
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
	CHECK_EQ(net_policy_set_base(&p, "all"), 0);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	CHECK_EQ(net_policy_add_rule(&p, "10.0.2.99", false), 0);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_RULE);
	/* Off the link: never, whatever the base. */
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, "10.0.3.1");
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
	/* Spoofed senders. */
	n = nf_arp(f, 1, other_mac, NF_GUEST_IP, NF_GW_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	n = nf_arp(f, 1, nf_guest_mac, "10.0.2.16", NF_GW_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	/* Odd forms. */
	n = nf_arp(f, 3, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	f[14 + 4] = 8; /* hardware address length */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	f[14 + 4] = 6;
	f[14 + 3] = 0xdd; /* protocol type 0x86dd */
	f[14 + 2] = 0x86;
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_UNSUPPORTED);
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	for (size_t cut = 0; cut < n; cut++)
		CHECK(net_policy_check(&p, f, cut, NULL) != NET_ALLOW);
	/* No guest address known: no ARP at all. */
	p.link.ip4 = 0;
	n = nf_arp(f, 1, nf_guest_mac, "0.0.0.0", NF_GW_IP);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_POLICY);
}

TEST(ethernet)
{
	struct net_policy p;
	uint8_t f[NF_MAX];
	size_t n;

	pol(&p);
	n = nf_ipv4(f, "8.8.8.8", IPPROTO_TCP, 443);
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_ALLOW);
	for (size_t cut = 0; cut < n; cut++)
		CHECK(net_policy_check(&p, f, cut, NULL) != NET_ALLOW);
	f[11] ^= 1; /* another source MAC */
	CHECK_EQ(net_policy_check(&p, f, n, NULL), NET_DENY_SPOOF);
	f[11] ^= 1;
	/* An 802.1Q and an 802.1ad tag in front of a good packet. */
	memmove(f + 16, f + 12, n - 12);
	nf_put16(f + 12, 0x8100);
	CHECK_EQ(net_policy_check(&p, f, n + 4, NULL), NET_DENY_UNSUPPORTED);
	nf_put16(f + 12, 0x88a8);
	CHECK_EQ(net_policy_check(&p, f, n + 4, NULL), NET_DENY_UNSUPPORTED);
	nf_put16(f + 12, 0x0050); /* an 802.3 length */
	CHECK_EQ(net_policy_check(&p, f, n + 4, NULL), NET_DENY_UNSUPPORTED);
	nf_put16(f + 12, 0x88cc); /* LLDP */
	CHECK_EQ(net_policy_check(&p, f, n + 4, NULL), NET_DENY_UNSUPPORTED);
	CHECK_EQ(net_policy_check(&p, f, 0, NULL), NET_DENY_MALFORMED);
}

CHECK_MAIN(CASE(parse_rules), CASE(public_v4), CASE(public_v6), CASE(deny_rules_all_encodings),
           CASE(port_rules), CASE(dns_to_resolver), CASE(arp), CASE(ethernet))

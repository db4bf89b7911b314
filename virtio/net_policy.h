/* SPDX-License-Identifier: MIT */
/*
 * net_policy: the egress policy of virtio-net, a pure module: rules parsed
 * from the command line, and a verdict over one raw Ethernet frame that the
 * guest sends, taken before any backend sees the frame (docs/network.md).
 *
 * Addresses are 16 bytes: IPv6 as they are, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), so one rule table and one matcher
 * serve both, and an IPv6 packet to ::ffff:10.0.0.1 is the IPv4 address
 * 10.0.0.1 to every rule.
 *
 * Evaluation of a frame, in order (first that applies wins):
 *   1. structure: anything but a well-formed untagged IPv4, IPv6 or ARP
 *      frame from the guest's own MAC is denied (VLAN tags, other
 *      ethertypes, truncated or inconsistent headers, IPv4 options other
 *      than NOP/EOL/RR/TS/RA, IPv6 extension headers other than hop-by-hop,
 *      destination options, fragment and a spent routing header, IP
 *      protocols other than TCP, UDP, ICMP and ICMPv6);
 *   2. ARP: only from the guest's MAC and address, only for an on-link
 *      target that is the gateway, the resolver, the guest itself, or an
 *      address the rules below would let the guest reach;
 *   3. a --net-deny rule matching the destination: denied;
 *   4. DNS (UDP or TCP port 53; UDP only with link.dns4_udp_only) to the
 *      user-mode resolver: allowed;
 *   5. a --net-allow rule matching the destination: allowed;
 *   6. the base: all (allowed), none (denied), public (allowed only when
 *      the destination, and any IPv4 address embedded in it, is a public
 *      unicast address outside the host's own networks).
 *
 * Ports: a rule with a port (range) matches TCP and UDP only. A packet
 * whose port is unknown (a non-first fragment) matches a deny rule on its
 * address alone, and never an allow rule with a port; a first fragment too
 * short to hold its transport header is malformed.
 */
#ifndef KVMBOX_VIRTIO_NET_POLICY_H
#define KVMBOX_VIRTIO_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_POLICY_MAX_RULES     64
#define NET_POLICY_MAX_HOST_NETS 32
/* IPv6 extension headers walked before the transport header (RFC 8200 §4). */
#define NET_POLICY_MAX_EXT 8

enum net_base {
	NET_BASE_PUBLIC = 0, /* the default (docs/network.md) */
	NET_BASE_ALL,
	NET_BASE_NONE,
};

/* An address prefix: 16 bytes (IPv4 mapped) and a length in bits of the 128. */
struct net_prefix {
	uint8_t addr[16];
	uint8_t len;
};

struct net_rule {
	struct net_prefix net;
	bool any_port;             /* no :PORT given: every protocol */
	uint16_t port_lo, port_hi; /* TCP/UDP destination ports, inclusive */
	bool allow;
};

/* The guest's side of the link, for ARP and the resolver (network order). */
struct net_link {
	uint8_t mac[6];
	uint32_t ip4, mask4, gw4; /* the guest's address, netmask, gateway */
	uint32_t dns4;            /* the user-mode resolver; 0: none */
	/* The resolver answers UDP only: passt forwards UDP port 53 alone
	 * (passt(1), --dns-forward), and TCP to its address would leave for
	 * that address on the host's network. */
	bool dns4_udp_only;
};

struct net_policy {
	enum net_base base;
	struct net_rule rules[NET_POLICY_MAX_RULES];
	unsigned int nr_rules;
	/* The host's own networks: outside "public" whatever their addresses. */
	struct net_prefix host_nets[NET_POLICY_MAX_HOST_NETS];
	unsigned int nr_host_nets;
	struct net_link link;
};

enum net_verdict {
	NET_ALLOW = 0,
	NET_DENY_MALFORMED,   /* truncated or inconsistent headers */
	NET_DENY_UNSUPPORTED, /* what we do not pass: tags, types, options, protocols */
	NET_DENY_SPOOF,       /* not from the guest's MAC, or IP (ARP sender) address */
	NET_DENY_RULE,        /* a --net-deny rule */
	NET_DENY_POLICY,      /* the base: none, or not public */
	NET_VERDICTS,
};

/* How a packet's destination port is known. */
enum net_port_kind {
	NET_PORT_NONE = 0, /* the protocol has none (ICMP, ARP) */
	NET_PORT_KNOWN,
	NET_PORT_UNKNOWN, /* a non-first fragment */
};

/* What the filter parsed of a frame (for tests and the fuzzer). */
struct net_dest {
	uint16_t ethertype;
	uint8_t addr[16];  /* the destination (ARP: the target) */
	bool has_alias;    /* an IPv4 address embedded in an IPv6 one */
	uint8_t alias[16]; /* it, IPv4 mapped */
	uint8_t proto;     /* IPPROTO_*; 0 for ARP */
	enum net_port_kind port_kind;
	uint16_t port;
	uint32_t l4_offset; /* from the frame's start; 0 for ARP */
};

/*
 * net_policy_init: the default policy (base public, no rules) for a guest
 * link. Never fails.
 */
void net_policy_init(struct net_policy *p, const struct net_link *link);

/*
 * net_policy_add_rule: parse "CIDR[:PORT[-PORT]]" (IPv4: a.b.c.d[/n][:p];
 * IPv6: addr[/n] or [addr[/n]]:p) as an allow or deny rule. A prefix with
 * bits set past its length is refused, as a likely typo. Returns 0,
 * -EINVAL for a bad spec, -ENOSPC past NET_POLICY_MAX_RULES.
 */
__attribute__((warn_unused_result)) int net_policy_add_rule(struct net_policy *p, const char *spec,
                                                            bool allow);

/* net_policy_set_base: "public", "all" or "none". 0 or -EINVAL. */
__attribute__((warn_unused_result)) int net_policy_set_base(struct net_policy *p, const char *name);

/*
 * net_policy_add_host_net: one of the host's networks (AF_INET or AF_INET6,
 * the address in network order, prefix bits of that family). Host bits are
 * cleared. 0, -EINVAL, or -ENOSPC when the table is full (the caller says
 * so: the public base then misses that network).
 */
__attribute__((warn_unused_result)) int
net_policy_add_host_net(struct net_policy *p, int family, const void *addr, unsigned int prefix);

/*
 * net_policy_check: the verdict for frame (len bytes, a copy the caller
 * owns: nothing may change it between the check and the send). dest, when
 * not NULL, receives what was parsed (valid for NET_ALLOW, NET_DENY_RULE
 * and NET_DENY_POLICY). Pure: reads p and frame only.
 */
enum net_verdict net_policy_check(const struct net_policy *p, const uint8_t *frame, size_t len,
                                  struct net_dest *dest);

/* net_addr_public: addr (16 bytes, IPv4 mapped) is public unicast (base "public"). */
bool net_addr_public(const struct net_policy *p, const uint8_t addr[16]);

/* net_prefix_match: addr lies in pfx. */
bool net_prefix_match(const struct net_prefix *pfx, const uint8_t addr[16]);

/* net_verdict_name: "allowed", "malformed", ... for status and messages. */
const char *net_verdict_name(enum net_verdict v);

#endif

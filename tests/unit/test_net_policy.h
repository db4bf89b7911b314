/* SPDX-License-Identifier: MIT */
/*
 * test_net_policy.h: what the egress policy's unit tests share: the
 * policy of the test guest (net_frames.h's link) and one-line verdicts.
 */
#ifndef KVMBOX_TESTS_TEST_NET_POLICY_H
#define KVMBOX_TESTS_TEST_NET_POLICY_H

#include "net_frames.h"
#include "virtio/net_policy.h"

static inline void pol(struct net_policy *p)
{
	struct net_link l = { .ip4 = nf_ip4(NF_GUEST_IP),
		              .mask4 = nf_ip4("255.255.255.0"),
		              .gw4 = nf_ip4(NF_GW_IP),
		              .dns4 = nf_ip4(NF_DNS_IP) };

	memcpy(l.mac, nf_guest_mac, 6);
	net_policy_init(p, &l);
}

static inline enum net_verdict v4(const struct net_policy *p, const char *dst, uint8_t proto,
                                  uint16_t port)
{
	uint8_t f[NF_MAX];

	return net_policy_check(p, f, nf_ipv4(f, dst, proto, port), NULL);
}

static inline enum net_verdict v6(const struct net_policy *p, const char *dst, uint8_t proto,
                                  uint16_t port)
{
	uint8_t f[NF_MAX];

	return net_policy_check(p, f, nf_ipv6(f, dst, proto, port), NULL);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/net: the guest's network, brought up by PID 1 before any
 * command runs: the loopback interface always, and eth0 (the virtio-net
 * device) as the VMM says on the kernel command line:
 *   kvmbox.net=IP/PREFIX,GATEWAY[,RESOLVER]
 * (kvmbox run --net; docs/network.md). The agent is a static binary with
 * libc only, so this is the classic ioctl interface of netdevice(7) and
 * SIOCADDRT, not netlink.
 *
 * agent_net_parse is pure and testable anywhere; agent_init_net changes
 * the machine, only as PID 1 in the guest.
 */
#ifndef KVMBOX_AGENT_NET_H
#define KVMBOX_AGENT_NET_H

#include <stdint.h>

#define AGENT_NET_IF "eth0"

struct agent_net {
	uint32_t ip, mask, gw, dns; /* network order; dns 0: none */
};

/*
 * agent_net_parse: spec (the value of kvmbox.net=) into out. 0, or -EINVAL
 * for anything but IPv4 dotted quads, a prefix of 1 to 32, and a gateway
 * on the guest's network.
 */
int agent_net_parse(const char *spec, struct agent_net *out);

/*
 * agent_init_net: lo up; with net (NULL: none), eth0's address, netmask,
 * up, the default route through the gateway, and the resolver in
 * /run/resolv.conf (which the image's /etc/resolv.conf links to) or else
 * /etc/resolv.conf. PID 1, after the root is switched. Returns 0 or the
 * first -errno, having tried it all (each failure is one line on stderr).
 */
int agent_init_net(const struct agent_net *net);

#endif

// SPDX-License-Identifier: MIT
/*
 * run_net: kvmbox run's network options (docs/network.md):
 *
 *   --net none|user|passt|tap=NAME|tap-fd=N[,ip=A.B.C.D/N][,gw=A.B.C.D][,dns=A.B.C.D]
 *   --net-allow CIDR[:PORT[-PORT]]   (repeatable)
 *   --net-deny CIDR[:PORT[-PORT]]    (repeatable)
 *   --net-policy public|all|none
 *
 * Decided: the default is user-mode networking under the public policy
 * when the guest agent runs (a command or a control socket: a sandbox,
 * which its users expect online, as microsandbox's and E2B's are, but
 * kept off the host, its networks and the cloud's metadata service), and
 * no network device for a bare kernel boot (nothing there would configure
 * it, and boot-latency work wants no device it did not ask for).
 *
 * The guest's addresses are those of QEMU's user networking: 10.0.2.15/24,
 * gateway 10.0.2.2 (the host's loopback, in user mode and with passt),
 * resolver 10.0.2.3 (with passt: UDP only, which is what passt forwards).
 * The agent hears them as kvmbox.net=IP/N,GW[,DNS].
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define RUN_NET_IP   "10.0.2.15"
#define RUN_NET_GW   "10.0.2.2"
#define RUN_NET_DNS  "10.0.2.3"
#define RUN_NET_MASK 24

static uint32_t run_net_mask(unsigned int bits)
{
	return htonl(bits ? 0xffffffffu << (32 - bits) : 0);
}

/* run_net_ip4: "A.B.C.D" into *out; -EINVAL after one message. */
static int run_net_ip4(const char *what, const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "kvmbox: --net %s=%s: expected an IPv4 address\n", what, s);
		return -EINVAL;
	}
	*out = a.s_addr;
	return 0;
}

/* run_net_cidr: "A.B.C.D/N" (N 8..30) as the guest's address and netmask. */
static int run_net_cidr(const char *s, struct net_link *l)
{
	char buf[32], *slash;
	uint64_t bits;

	if (strlen(s) >= sizeof(buf) || !(slash = strchr(strcpy(buf, s), '/'))) {
		fprintf(stderr, "kvmbox: --net ip=%s: expected A.B.C.D/N\n", s);
		return -EINVAL;
	}
	*slash = '\0';
	if (run_net_ip4("ip", buf, &l->ip4) ||
	    cli_parse_u64("kvmbox", "--net ip=.../N", slash + 1, 8, 30, &bits))
		return -EINVAL;
	l->mask4 = run_net_mask((unsigned int)bits);
	return 0;
}

/*
 * run_net_tap: "NAME[,ip=..][,gw=..][,dns=..]" or, by_fd, "N[,...]" (a
 * tap the caller opened and passed as descriptor N), cut in place.
 */
static int run_net_tap(struct run_opts *o, char *arg, bool by_fd)
{
	struct net_link *l = &o->cfg.net.policy.link;
	char *opt, *save = NULL, *first;
	uint64_t fd;

	o->cfg.net.mode = NET_MODE_TAP;
	first = strtok_r(arg, ",", &save);
	if (by_fd) {
		if (!first || cli_parse_u64("kvmbox", "--net tap-fd=N", first, 0, INT32_MAX, &fd))
			return -EINVAL;
		o->cfg.net.tap_name = NULL;
		o->cfg.net.tap_fd = (int)fd;
	} else if (!first || strlen(first) >= 16) {
		fprintf(stderr, "kvmbox: --net tap=NAME: a tap's name, at most 15 bytes\n");
		return -EINVAL;
	} else {
		o->cfg.net.tap_name = first;
	}
	while ((opt = strtok_r(NULL, ",", &save)) != NULL) {
		int err;

		if (strncmp(opt, "ip=", 3) == 0)
			err = run_net_cidr(opt + 3, l);
		else if (strncmp(opt, "gw=", 3) == 0)
			err = run_net_ip4("gw", opt + 3, &l->gw4);
		else if (strncmp(opt, "dns=", 4) == 0)
			err = run_net_ip4("dns", opt + 4, &o->net_dns);
		else {
			fprintf(stderr, "kvmbox: --net tap: unknown option %s (ip=, gw=, dns=)\n",
			        opt);
			err = -EINVAL;
		}
		if (err)
			return err;
	}
	return 0;
}

int run_net_opt(struct run_opts *o, int c, char *arg)
{
	int err;

	switch (c) {
	case RUN_OPT_NET:
		o->net_set = true;
		if (strcmp(arg, "none") == 0)
			o->cfg.net.mode = NET_MODE_NONE;
		else if (strcmp(arg, "user") == 0)
			o->cfg.net.mode = NET_MODE_USER;
		else if (strcmp(arg, "passt") == 0)
			o->cfg.net.mode = NET_MODE_PASST;
		else if (strncmp(arg, "tap=", 4) == 0)
			return run_net_tap(o, arg + 4, false);
		else if (strncmp(arg, "tap-fd=", 7) == 0)
			return run_net_tap(o, arg + 7, true);
		else {
			fprintf(
			    stderr,
			    "kvmbox: --net %s: expected none, user, passt, tap=NAME or tap-fd=N\n",
			    arg);
			return -EINVAL;
		}
		return 0;
	case RUN_OPT_NET_POLICY:
		o->net_policy_set = true;
		if (net_policy_set_base(&o->cfg.net.policy, arg) == 0)
			return 0;
		fprintf(stderr, "kvmbox: --net-policy %s: expected public, all or none\n", arg);
		return -EINVAL;
	default:
		o->net_policy_set = true;
		err = net_policy_add_rule(&o->cfg.net.policy, arg, c == RUN_OPT_NET_ALLOW);
		if (err == -ENOSPC)
			fprintf(stderr, "kvmbox: %s %s: at most %d rules\n",
			        c == RUN_OPT_NET_ALLOW ? "--net-allow" : "--net-deny", arg,
			        NET_POLICY_MAX_RULES);
		else if (err)
			fprintf(stderr,
			        "kvmbox: %s %s: expected A.B.C.D[/N][:PORT[-PORT]] or "
			        "IPV6[/N] or [IPV6[/N]]:PORT[-PORT], with no bits set past /N\n",
			        c == RUN_OPT_NET_ALLOW ? "--net-allow" : "--net-deny", arg);
		return err ? -EINVAL : 0;
	}
}

/* run_net_prefix: the bits set in a netmask (contiguous or not: counted). */
static unsigned int run_net_prefix(const struct sockaddr *mask)
{
	const uint8_t *b;
	unsigned int n = 0, len;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
		len = 4;
	} else {
		b = ((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr.s6_addr;
		len = 16;
	}
	for (unsigned int i = 0; i < len; i++)
		n += (unsigned int)__builtin_popcount(b[i]);
	return n;
}

/*
 * run_net_host_nets: the host's own networks (every address of every
 * interface, with its prefix), outside "public" whatever they are: a
 * host on a public address must not be reached through its own NAT.
 */
static void run_net_host_nets(struct net_policy *p)
{
	struct ifaddrs *ifa, *i;
	bool full = false;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		const void *addr;
		int fam;

		if (!i->ifa_addr)
			continue;
		fam = i->ifa_addr->sa_family;
		if (fam == AF_INET)
			addr = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else if (fam == AF_INET6)
			addr = &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (net_policy_add_host_net(p, fam, addr, run_net_prefix(i->ifa_netmask)) ==
		    -ENOSPC)
			full = true;
	}
	freeifaddrs(ifa);
	if (full)
		fprintf(stderr,
		        "kvmbox: more than %d host networks: the public policy knows the "
		        "first ones only\n",
		        NET_POLICY_MAX_HOST_NETS);
}

/* run_net_count: the virtio devices, the network's included, fit the slots. */
static int run_net_count(const struct run_opts *o)
{
	const struct vm_config *c = &o->cfg;

	if (c->nr_disks + c->nr_shares + !!c->vsock.uds_path + !!c->net.mode <= VM_MAX_VIRTIO)
		return 0;
	fprintf(stderr,
	        "kvmbox: %u disks, %u shared folders, %s vsock and %s network device: at most %d "
	        "virtio devices in all\n",
	        c->nr_disks, c->nr_shares, c->vsock.uds_path ? "a" : "no", c->net.mode ? "a" : "no",
	        VM_MAX_VIRTIO);
	return -EINVAL;
}

int run_net_defaults(struct run_opts *o)
{
	struct net_params *np = &o->cfg.net;
	struct net_link *l = &np->policy.link;
	bool agent = o->command || o->cfg.control_path;

	if (!o->net_set)
		np->mode = agent ? NET_MODE_USER : NET_MODE_NONE;
	if (run_net_count(o))
		return -EINVAL;
	if (np->mode == NET_MODE_NONE) {
		if (o->net_policy_set) {
			fprintf(stderr, "kvmbox: --net-allow, --net-deny and --net-policy need a "
			                "network (--net user, passt, tap=NAME or tap-fd=N)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!l->ip4) {
		l->ip4 = inet_addr(RUN_NET_IP);
		l->mask4 = run_net_mask(RUN_NET_MASK);
	}
	if (!l->gw4)
		l->gw4 = inet_addr(RUN_NET_GW);
	if ((l->gw4 & l->mask4) != (l->ip4 & l->mask4) || l->gw4 == l->ip4) {
		fprintf(stderr, "kvmbox: --net: the gateway must be another address on the "
		                "guest's network\n");
		return -EINVAL;
	}
	/* The resolver: user mode's own (allowed by the policy), or the
	 * one given for a tap (judged like any other address). */
	if (np->mode == NET_MODE_USER || np->mode == NET_MODE_PASST)
		l->dns4 = o->net_dns = inet_addr(RUN_NET_DNS);
	l->dns4_udp_only = np->mode == NET_MODE_PASST;
	/* A locally administered MAC of QEMU's prefix, random: taps on one
	 * bridge must not share one. */
	l->mac[0] = 0x52;
	l->mac[1] = 0x54;
	l->mac[2] = 0x00;
	if (getrandom(l->mac + 3, 3, 0) != 3)
		memset(l->mac + 3, 0x12, 3);
	run_net_host_nets(&np->policy);
	return 0;
}

int run_net_cmdline(const struct run_opts *o, char **out)
{
	const struct net_link *l = &o->cfg.net.policy.link;
	char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], dns[INET_ADDRSTRLEN] = "";
	uint32_t m = ntohl(l->mask4);
	unsigned int bits = 0;

	*out = NULL;
	if (o->cfg.net.mode == NET_MODE_NONE)
		return (*out = strdup("")) ? 0 : -ENOMEM;
	while (m & 0x80000000u) {
		bits++;
		m <<= 1;
	}
	inet_ntop(AF_INET, &l->ip4, ip, sizeof(ip));
	inet_ntop(AF_INET, &l->gw4, gw, sizeof(gw));
	if (o->net_dns)
		inet_ntop(AF_INET, &o->net_dns, dns, sizeof(dns));
	if (asprintf(out, " kvmbox.net=%s/%u,%s%s%s", ip, bits, gw, dns[0] ? "," : "", dns) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

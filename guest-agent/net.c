// SPDX-License-Identifier: MIT
/*
 * guest-agent/net: lo and eth0 up, a default route, a resolver (net.h).
 */
#define _GNU_SOURCE
#include "guest-agent/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_ip(const char *s, size_t len, uint32_t *out)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

int agent_net_parse(const char *spec, struct agent_net *out)
{
	const char *slash = strchr(spec, '/'), *c1, *c2;
	unsigned long bits = 0;

	memset(out, 0, sizeof(*out));
	if (!slash || parse_ip(spec, (size_t)(slash - spec), &out->ip))
		return -EINVAL;
	for (c1 = slash + 1; *c1 >= '0' && *c1 <= '9' && bits <= 32; c1++)
		bits = bits * 10 + (unsigned long)(*c1 - '0');
	if (c1 == slash + 1 || bits < 1 || bits > 32 || *c1 != ',')
		return -EINVAL;
	out->mask = htonl(0xffffffffu << (32 - bits));
	c2 = strchr(c1 + 1, ',');
	if (parse_ip(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), &out->gw))
		return -EINVAL;
	if (c2 && parse_ip(c2 + 1, strlen(c2 + 1), &out->dns))
		return -EINVAL;
	if ((out->gw & out->mask) != (out->ip & out->mask) || out->gw == out->ip)
		return -EINVAL;
	return 0;
}

/* if_up: IFF_UP on the interface name, through the socket s. */
static int if_up(int s, const char *name)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* if_addr: one of SIOCSIFADDR, SIOCSIFNETMASK for the interface name. */
static int if_addr(int s, const char *name, unsigned long req, uint32_t addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = addr };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

/* default_route: 0.0.0.0/0 through gw (SIOCADDRT, route(7)'s rtentry). */
static int default_route(int s, uint32_t gw)
{
	struct rtentry rt = { .rt_flags = RTF_UP | RTF_GATEWAY };
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct sockaddr_in via = { .sin_family = AF_INET, .sin_addr.s_addr = gw };

	memcpy(&rt.rt_dst, &any, sizeof(any));
	memcpy(&rt.rt_genmask, &any, sizeof(any));
	memcpy(&rt.rt_gateway, &via, sizeof(via));
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * write_resolver: "nameserver DNS" in /run/resolv.conf, which the
 * project's image links /etc/resolv.conf to; a root with a file of its
 * own there gets it written (or, read-only, the /run file bound over it).
 * Nothing is followed: a link at /etc/resolv.conf is the image's choice.
 */
static int write_resolver(uint32_t dns)
{
	char line[64], ip[INET_ADDRSTRLEN];
	int fd, n, err = 0;
	struct stat st;

	inet_ntop(AF_INET, &dns, ip, sizeof(ip));
	n = snprintf(line, sizeof(line), "nameserver %s\n", ip);
	fd = open("/run/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err || (lstat("/etc/resolv.conf", &st) == 0 && S_ISLNK(st.st_mode)))
		return err;
	fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			err = -errno;
		close(fd);
		return err;
	}
	if (errno == EROFS &&
	    mount("/run/resolv.conf", "/etc/resolv.conf", NULL, MS_BIND, NULL) == 0)
		return 0;
	return -errno;
}

int agent_init_net(const struct agent_net *net)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err, first = 0;

	if (s < 0) {
		fprintf(stderr, "kvmbox-agent: net: socket: %s\n", strerror(errno));
		return -errno;
	}
	/* lo comes up with 127.0.0.1/8 by itself (the kernel adds it). */
	err = if_up(s, "lo");
	if (err) {
		fprintf(stderr, "kvmbox-agent: net: lo: %s\n", strerror(-err));
		first = err;
	}
	if (net) {
		const char *step = "address";

		err = if_addr(s, AGENT_NET_IF, SIOCSIFADDR, net->ip);
		if (!err && (step = "netmask"))
			err = if_addr(s, AGENT_NET_IF, SIOCSIFNETMASK, net->mask);
		if (!err && (step = "up"))
			err = if_up(s, AGENT_NET_IF);
		if (!err && (step = "default route"))
			err = default_route(s, net->gw);
		if (!err && net->dns && (step = "/etc/resolv.conf"))
			err = write_resolver(net->dns);
		if (err) {
			fprintf(stderr, "kvmbox-agent: net: %s %s: %s\n", AGENT_NET_IF, step,
			        strerror(-err));
			if (!first)
				first = err;
		}
	}
	close(s);
	return first;
}

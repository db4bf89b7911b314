// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net's tap backend (virtio/net_tap.c): the device
 * with a real tap, opened by the backend (--net tap=NAME) or by the test
 * and handed over (--net tap-fd=N), driven by the simulated guest driver;
 * and the descriptors tap-fd refuses. The real taps need root and
 * /dev/net/tun; elsewhere the test says so and passes.
 *
 * The tap is made by the backend itself (TUNSETIFF on a new name makes a
 * tap that lives as long as its descriptor), given 198.18.77.1/30 (the
 * benchmarking range, RFC 2544: nobody's network) and brought up. The
 * guest, 198.18.77.2, ARPs for the host's side and the host's kernel
 * answers through the tap. Nothing leaves the tap.
 */
#define _GNU_SOURCE
#include "test_net.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOST_IP  "198.18.77.1"
#define GUEST_IP "198.18.77.2"

/* host_side: the tap's address and netmask on the host, and up. */
static int host_side(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
	struct ifreq ifr = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (s < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin.sin_addr.s_addr = inet_addr(HOST_IP);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	err |= ioctl(s, SIOCSIFADDR, &ifr);
	sin.sin_addr.s_addr = inet_addr("255.255.255.252");
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	err |= ioctl(s, SIOCSIFNETMASK, &ifr);
	err |= ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	err |= ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return err ? -1 : 0;
}

/*
 * tap_rig: the device on a tap named name, opened by the backend (fd < 0)
 * or by us (fd), its host side configured and the driver up; 0 or -1.
 */
static int tap_rig(struct rig *r, const char *name, int fd)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_TAP };

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r->t, BASE);
	pol(&np.policy);
	np.policy.link.ip4 = inet_addr(GUEST_IP);
	np.policy.link.mask4 = inet_addr("255.255.255.252");
	np.policy.link.gw4 = inet_addr(HOST_IP);
	np.policy.link.dns4 = 0;
	np.tap_name = fd < 0 ? name : NULL;
	np.tap_fd = fd;
	r->net = test_pages_new(sizeof(*r->net)); /* rig_fini unmaps it */
	if (net_init(r->net, &np, &r->t.loop, &r->t.m, &mp) ||
	    virtio_mmio_register(&r->net->transport, &r->t.bus) || host_side(name) ||
	    rig_up(r, F_ALL))
		return -1;
	rx_post(r, 32, 2048);
	kick(r, NET_RX_QUEUE);
	return 0;
}

/* tap_open: a tap named name with flags, as a caller of tap-fd=N would. */
static int tap_open(const char *name, short flags)
{
	struct ifreq ifr = { .ifr_flags = flags };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool can_tap(void)
{
	if (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0)
		return true;
	printf("skipped: needs root and /dev/net/tun\n");
	return false;
}

/* arp_through: the guest ARPs for the host's side; the host answers. */
static bool arp_through(struct rig *r)
{
	uint8_t f[NF_MAX];
	size_t n = nf_arp(f, 1, nf_guest_mac, GUEST_IP, HOST_IP);

	return tx(r, NULL, f, n) == 0 && r->net->stats.tx_frames == 1 &&
	       wait_arp_reply(r, HOST_IP, 1000) && !needs_reset(r);
}

TEST(arp_through_a_tap)
{
	char name[IFNAMSIZ];
	struct rig r;

	if (!can_tap())
		return;
	snprintf(name, sizeof(name), "kvmbt%d", (int)(getpid() % 100000));
	CHECK_EQ(tap_rig(&r, name, -1), 0);
	CHECK(arp_through(&r));
	rig_fini(&r); /* closing the tap's descriptor removes it */
}

/* --net tap-fd=N: a tap opened by the caller, blocking: the backend makes
 * it non-blocking and sets its header size. */
TEST(arp_through_a_tap_fd)
{
	char name[IFNAMSIZ];
	struct rig r;
	int fd;

	if (!can_tap())
		return;
	snprintf(name, sizeof(name), "kvmbf%d", (int)(getpid() % 100000));
	fd = tap_open(name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	CHECK(fd >= 0);
	CHECK_EQ(tap_rig(&r, name, fd), 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(arp_through(&r));
	rig_fini(&r); /* the backend owns fd: it closed it */
	CHECK_EQ(test_fds_under("/dev/net/tun"), 0);
}

/* Descriptors that are no usable tap are refused, each with its reason. */
TEST(tap_fd_refused)
{
	struct net n = { 0 };
	struct net_backend *be = NULL;
	char name[IFNAMSIZ];
	int p[2], fd;

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	CHECK_ERR(net_tap_open_fd(&n, p[0], &be), -ENOTTY);
	close(p[1]);
	CHECK_ERR(net_tap_open_fd(&n, p[1], &be), -EBADF);
	CHECK_ERR(net_tap_open_fd(&n, -1, &be), -EBADF);
	close(p[0]);
	if (!can_tap())
		return;
	/* /dev/net/tun with no device attached yet. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_ERR(net_tap_open_fd(&n, fd, &be), -ENOTTY);
	close(fd);
	snprintf(name, sizeof(name), "kvmbr%d", (int)(getpid() % 100000));
	fd = tap_open(name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
	CHECK_ERR(net_tap_open_fd(&n, fd, &be), -EPROTOTYPE);
	close(fd);
	fd = tap_open(name, IFF_TAP | IFF_NO_PI);
	CHECK_ERR(net_tap_open_fd(&n, fd, &be), -EPROTONOSUPPORT);
	close(fd);
	CHECK(be == NULL);
}

CHECK_MAIN(CASE(arp_through_a_tap), CASE(arp_through_a_tap_fd), CASE(tap_fd_refused))

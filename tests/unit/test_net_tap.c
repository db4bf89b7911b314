// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net's tap backend (virtio/net_tap.c): the device
 * with a real tap, driven by the simulated guest driver. Needs root and
 * /dev/net/tun; elsewhere it says so and passes.
 *
 * The tap is made by the backend itself (TUNSETIFF on a new name makes a
 * tap that lives as long as its descriptor), given 198.18.77.1/30 (the
 * benchmarking range, RFC 2544: nobody's network) and brought up. The
 * guest, 198.18.77.2, ARPs for the host's side and the host's kernel
 * answers through the tap. Nothing leaves the tap.
 */
#define _GNU_SOURCE
#include "test_net.h"

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

TEST(arp_through_a_tap)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_TAP };
	uint8_t f[NF_MAX];
	char name[IFNAMSIZ];
	struct rig r;
	size_t n;
	bool reply = false;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("skipped: needs root and /dev/net/tun\n");
		return;
	}
	snprintf(name, sizeof(name), "kvmbt%d", (int)(getpid() % 100000));
	memset(&r, 0, sizeof(r));
	test_rig_init(&r.t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r.t, BASE);
	pol(&np.policy);
	np.policy.link.ip4 = inet_addr(GUEST_IP);
	np.policy.link.mask4 = inet_addr("255.255.255.252");
	np.policy.link.gw4 = inet_addr(HOST_IP);
	np.policy.link.dns4 = 0;
	np.tap_name = name;
	r.net = calloc(1, sizeof(*r.net));
	CHECK(r.net != NULL);
	CHECK_EQ(net_init(r.net, &np, &r.t.loop, &r.t.m, &mp), 0);
	CHECK_EQ(virtio_mmio_register(&r.net->transport, &r.t.bus), 0);
	CHECK_EQ(host_side(name), 0);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	rx_post(&r, 32, 2048);
	kick(&r, NET_RX_QUEUE);

	n = nf_arp(f, 1, nf_guest_mac, GUEST_IP, HOST_IP);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	CHECK_EQ(r.net->stats.tx_frames, 1);
	for (int i = 0; i < 1000 && !reply; i++) {
		uint32_t id = 0, used = 0;
		uint64_t addr;

		pump(&r);
		while (!reply && vdrv_get_used(&r.rx, &id, &used)) {
			const uint8_t *p;

			memcpy(&addr, vdrv_host(&r.rx, r.rx.desc + 16ull * id, 8), 8);
			p = vdrv_host(&r.rx, addr, used);
			/* An ARP reply (op 2) from the host's address. */
			reply = used >= NET_HDR_LEN + 42 && p[NET_HDR_LEN + 12] == 0x08 &&
			        p[NET_HDR_LEN + 13] == 0x06 && p[NET_HDR_LEN + 21] == 2 &&
			        memcmp(p + NET_HDR_LEN + 28, (uint8_t[]){ 198, 18, 77, 1 }, 4) == 0;
		}
		if (!reply)
			usleep(1000);
	}
	CHECK(reply);
	CHECK(!needs_reset(&r));
	rig_fini(&r); /* closing the tap's descriptor removes it */
}

CHECK_MAIN(CASE(arp_through_a_tap))

// SPDX-License-Identifier: MIT
/*
 * net_tap: virtio-net's tap backend (net_int.h): a host tap device opened
 * with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (Documentation/networking/
 * tuntap.rst), so that each frame carries the 12-byte virtio-net header
 * and checksum offload can pass through (TUNSETOFFLOAD) when the guest
 * negotiated it.
 *
 * The tap is opened by name (TUNSETIFF), or handed over open by the caller
 * (--net tap-fd=N: checked with TUNGETIFF, its header size set by us).
 *
 * Receive: a one-shot poll on the main loop; each wake-up reads up to
 * NET_BUDGET frames while the device's receive queue has room, and only
 * then polls again, so a flood on the tap waits in the kernel's queue
 * (bounded by the tap's txqueuelen) rather than in ours.
 */
#define _GNU_SOURCE
#include "virtio/net_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

/* Polls that end in an error, in a row, before the tap is given up. */
#define NET_TAP_POLL_RETRIES 3

struct net_tap {
	struct net_backend be;
	int fd;
	struct loop_op op;
	bool polling;  /* the one-shot poll is in the ring */
	bool given_up; /* the fd fails each time: no more reads */
	unsigned int errors;
	/* A read takes what the tap holds: with TSO towards the guest a
	 * frame can be up to NET_MAX_FRAME. One byte more, so that a longer
	 * frame reads as longer (the tap cuts what does not fit) and
	 * net_rx_push drops it, rather than passing on a cut one. */
	uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME + 1];
};

static void net_tap_arm(struct net_tap *t)
{
	struct io_uring_sqe *sqe;

	if (t->polling || t->given_up || !net_rx_room(t->be.net))
		return;
	sqe = loop_sqe(t->be.net->loop, &t->op);
	if (!sqe)
		return; /* the ring is full: the next rx_room tries again */
	io_uring_prep_poll_add(sqe, t->fd, POLLIN);
	t->polling = true;
}

/* net_tap_read: frames from the tap into the device's receive queue. */
static void net_tap_read(struct net_tap *t)
{
	struct net *n = t->be.net;

	for (unsigned int i = 0; i < NET_BUDGET && net_rx_room(n); i++) {
		ssize_t r = read(t->fd, t->buf, sizeof(t->buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return; /* EAGAIN: drained */
		if ((size_t)r < NET_HDR_LEN + 14)
			continue;
		(void)net_rx_push(n, t->buf, t->buf + NET_HDR_LEN, (size_t)r - NET_HDR_LEN);
	}
}

static void net_tap_ready(void *opaque, int res, bool more)
{
	struct net_tap *t = opaque;

	(void)more;
	t->polling = false;
	if (res < 0) {
		if (++t->errors > NET_TAP_POLL_RETRIES)
			t->given_up = true;
	} else {
		t->errors = 0;
		net_tap_read(t);
	}
	/* Readable still (the budget ran out) wakes us at once: that is
	 * the later pass. Without room, net_tap_room re-arms. */
	net_tap_arm(t);
}

/* net_tap_write: header h, then the frame, in one write (tuntap.rst). */
static int net_tap_write(struct net_tap *t, const struct virtio_net_hdr_v1 *h, const uint8_t *frame,
                         size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)h, .iov_len = sizeof(*h) },
		{ .iov_base = (void *)(uintptr_t)frame, .iov_len = len },
	};
	ssize_t w = writev(t->fd, iov, 2);

	/* A tap takes or drops a frame at once (its queue is the kernel's):
	 * an EAGAIN here would have no wake-up, so it is a plain error. */
	if (w < 0)
		return errno == EAGAIN ? -ENOBUFS : -errno;
	return (size_t)w == sizeof(*h) + len ? 0 : -EIO;
}

static int net_tap_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
	/* The frame is whole, its checksums done: an empty header. */
	struct virtio_net_hdr_v1 h = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };

	return net_tap_write((struct net_tap *)be, &h, frame, len);
}

/* net_tap_send_gso: a TSO frame with the guest's header (net_gso.c
 * checked it): the kernel segments it and finishes each checksum. */
static int net_tap_send_gso(struct net_backend *be, const struct virtio_net_hdr_v1 *h,
                            const uint8_t *frame, size_t len)
{
	return net_tap_write((struct net_tap *)be, h, frame, len);
}

static void net_tap_room(struct net_backend *be)
{
	net_tap_arm((struct net_tap *)be);
}

/*
 * net_tap_offload: checksum offload towards the guest when it accepts
 * partial checksums (GUEST_CSUM): the kernel then leaves them to it; and
 * with them, TCP segmentation offload for each GUEST_TSO it took: the
 * kernel then hands over unsegmented TCP of up to 64 KiB (tuntap.rst,
 * TUNSETOFFLOAD; TSO needs CSUM).
 */
static void net_tap_offload(struct net_backend *be, uint64_t features)
{
	struct net_tap *t = (struct net_tap *)be;
	unsigned int off = 0;

	if (features & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
		off = TUN_F_CSUM;
		if (features & (1ull << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (features & (1ull << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
	}

	/* A vCPU thread (activate): an ioctl, nothing of the loop's. On
	 * failure the kernel completes checksums itself. */
	(void)ioctl(t->fd, TUNSETOFFLOAD, off);
}

static void net_tap_destroy(struct net_backend *be)
{
	struct net_tap *t = (struct net_tap *)be;

	/* The loop went first (vm_destroy): no poll refers to t now. */
	close(t->fd);
	free(t);
}

static const struct net_backend_ops net_tap_ops = {
	.name = "tap",
	.send = net_tap_send,
	.send_gso = net_tap_send_gso,
	.rx_room = net_tap_room,
	.offload = net_tap_offload,
	.destroy = net_tap_destroy,
};

/*
 * net_tap_setup: the backend over tap fd (IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, non-blocking): our header size and no offloads until the
 * guest asks. The fd is closed on success only.
 */
static int net_tap_setup(struct net *n, int fd, struct net_backend **be)
{
	struct net_tap *t;
	int hdr = NET_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0)
		return -errno;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->be = (struct net_backend){ .ops = &net_tap_ops, .net = n };
	t->op = (struct loop_op){ .cb = net_tap_ready, .opaque = t };
	t->fd = fd;
	*be = &t->be;
	net_tap_arm(t);
	return 0;
}

int net_tap_open(struct net *n, const char *name, struct net_backend **be)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, err;

	if (!name || !name[0] || strlen(name) >= sizeof(ifr.ifr_name))
		return -EINVAL;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, name);
	err = ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : net_tap_setup(n, fd, be);
	if (err)
		close(fd);
	return err;
}

int net_tap_open_fd(struct net *n, int fd, struct net_backend **be)
{
	struct ifreq ifr = { 0 };
	int fl;

	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		return -EBADF;
	/* TUNGETIFF answers only on a tun/tap descriptor attached to a
	 * device (EBADFD before TUNSETIFF, ENOTTY on any other file). */
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -ENOTTY;
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP)
		return -EPROTOTYPE;
	/* The flags are fixed once attached (TUNSETIFF again is EEXIST):
	 * a packet-info prefix or no virtio-net header cannot be undone. */
	if ((ifr.ifr_flags & (IFF_NO_PI | IFF_VNET_HDR)) != (IFF_NO_PI | IFF_VNET_HDR))
		return -EPROTONOSUPPORT;
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return net_tap_setup(n, fd, be);
}

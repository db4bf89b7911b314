/* SPDX-License-Identifier: MIT */
/*
 * net: virtio-net (virtio 1.2 §5.1) on the mmio transport, with the
 * egress policy (net_policy.h) applied to every frame the guest sends
 * before its backend sees it (docs/network.md).
 *
 * One queue pair: receiveq1 (0) and transmitq1 (1). Features: the MAC in
 * config space, link status (always up), an MTU, merged receive buffers,
 * checksum offload both ways (the guest may leave its checksums to us: we
 * complete them before the policy looks at the frame, so a checksum offset
 * aimed at a header cannot rewrite what was checked; frames from a
 * user-mode backend arrive with DATA_VALID). No segmentation offload yet.
 *
 * TX: each chain is header + frame, copied once out of guest RAM into a
 * buffer of the device's (what is checked is what is sent, whatever the
 * guest writes meanwhile), checksummed, judged, then handed to the backend
 * or counted as denied. At most NET_BUDGET chains per pass of the loop.
 *
 * RX: backends push frames into a bounded queue of the device's
 * (net_rx_push, main thread, no lock); the device moves them into the
 * guest's receive buffers when it has some, a packet spread over as many
 * buffers as it needs (MRG_RXBUF) and published in one go, or waits,
 * giving back the buffers it took, until the guest adds more. A full
 * queue drops frames (counted); TCP will send them again.
 *
 * Backends (net_int.h): tap (net_tap.c), user mode through libslirp on
 * the main loop (net_slirp.c), and user mode through a passt process
 * spoken to over a socket (net_passt.c, net_stream.c), behind one ops
 * table.
 */
#ifndef KVMBOX_VIRTIO_NET_H
#define KVMBOX_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtio/mmio.h"
#include "virtio/net_policy.h"
#include "vmm/loop.h"

#define NET_QUEUE_SIZE 256
#define NET_RX_QUEUE   0
#define NET_TX_QUEUE   1
/* struct virtio_net_hdr_v1 (§5.1.6): 12 bytes with VIRTIO_F_VERSION_1. */
#define NET_HDR_LEN 12
/*
 * The MTU offered in config space (VIRTIO_NET_F_MTU, §5.1.4), which the
 * guest's driver takes as its interface's: a tap's is Ethernet's 1500,
 * the link the host's own tap has; libslirp and passt carry whole frames
 * of up to 64 KiB in memory, so there it is passt's own default, 65520
 * (within libslirp's IF_MTU_MAX, 65521): one frame carries 44 of 1500,
 * and a bulk transfer costs a 44th of the frames, the notifications and
 * the interrupts. docs/network.md, "The MTU".
 */
#define NET_MTU_TAP 1500
#define NET_MTU_MAX 65520
/*
 * libslirp's TCP does no window scaling (RFC 1323 is off in its
 * tcp_subr.c), so it never offers the guest more than 65,535 bytes of
 * window, nor takes more from it: with 65,520 one segment would fill it,
 * and each would wait for a delayed ACK. 16,384 (four segments a window,
 * 11 times fewer frames) hung a 2 MiB download for 200 s in two of about
 * five e2e runs in L1: with four segments in flight a lost one can never
 * draw the three duplicate ACKs of a fast retransmit, so it waits on
 * libslirp's retransmit timer. 1,500 until that is understood
 * (docs/network.md, "The MTU").
 */
#define NET_MTU_SLIRP 1500
/*
 * passt: Ethernet's for now. At its own default, 65,520, uploads worked
 * but a download from a host that sends as fast as it can stopped after
 * the first 64 KiB in L1 (2026-12-03), cause not found yet; 1,500 is what
 * every earlier test ran. docs/network.md, "The MTU".
 */
#define NET_MTU_PASST 1500
/* The largest frame either way on any device: the largest IPv4 packet
 * (a TSO frame of a tap's, net_gso.c) and an Ethernet header. A device's
 * own limit is net_max_frame(). */
#define NET_MAX_FRAME (65535 + 14)
/* Chains (TX) or frames (RX) per pass of the loop, as BLK_BUDGET. */
#define NET_BUDGET 64u
/* The receive queue between the backends and the guest: at most this
 * many frames, and this many bytes of them. */
#define NET_RXQ_FRAMES 256u
#define NET_RXQ_BYTES  (2u << 20)

enum net_mode {
	NET_MODE_NONE = 0,
	NET_MODE_USER, /* libslirp, in process */
	NET_MODE_TAP,
	NET_MODE_PASST, /* a passt process, over a socketpair */
};

struct net_params {
	enum net_mode mode;
	const char *tap_name;     /* NET_MODE_TAP: a tap by name, or */
	int tap_fd;               /* when tap_name is NULL, one the caller opened */
	struct net_policy policy; /* the guest's link is in policy.link */
	/* NET_MODE_PASST with passt_started: a passt the caller started
	 * (net_passt_prestart, as a jail must before its namespaces) on
	 * the socket passt_fd, its stderr on the pipe passt_errfd. The
	 * device takes both; the caller reaps passt, which quits once
	 * every copy of our end of the socket is closed (-F: one-off). */
	bool passt_started;
	int passt_fd, passt_errfd;
};

struct net_stats {
	uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes;
	uint64_t tx_bad;     /* a bad header or length: dropped */
	uint64_t tx_errors;  /* the backend could not send */
	uint64_t rx_dropped; /* the receive queue was full, or a frame fit no buffer */
	uint64_t denied;     /* by the policy, all reasons */
	uint64_t denied_by[NET_VERDICTS];
	uint64_t deferred;       /* passes that stopped at NET_BUDGET */
	uint64_t tx_blocked;     /* times the backend's socket was full (-EAGAIN) */
	uint64_t tx_gso, rx_gso; /* TSO frames among tx_frames, rx_frames */
};

/* One queued received frame: the header to give the guest, then the
 * frame, allocated to its length. */
struct net_rx_frame {
	uint8_t hdr[NET_HDR_LEN];
	uint32_t len;
	uint8_t data[];
};

struct net_backend;

struct net {
	struct virtio_mmio transport;
	struct loop *loop;
	struct net_params params;
	struct net_backend *be;
	bool notify_rx, notify_tx; /* used entries to signal (idle hook) */
	bool rx_waiting;           /* no receive buffers: wait for the guest */
	bool link_down;            /* the backend is gone (net_link_down); lock */
	bool tx_blocked;           /* the backend said -EAGAIN: net_tx_ready; lock */
	struct loop_op resume_op;  /* loop_defer: the rest after NET_BUDGET */
	bool resume_armed, resume_wanted;
	uint32_t mtu; /* net_mtu(params.mode) */
	/* The receive queue: a ring of frames (main thread only). */
	struct net_rx_frame **rxq;
	unsigned int rxq_head, rxq_len;
	size_t rxq_bytes; /* the frames' lengths, summed */
	struct net_stats stats;
	/* Scratch, last: written before each use, so net_init zeroes what
	 * comes before it only and leaves its pages untouched (138 KiB). */
	struct virtq_chain chain;    /* TX */
	struct virtq_chain rx_first; /* a packet's first receive buffer */
	struct virtq_chain rx_more;  /* and each further one */
	uint16_t rx_heads[NET_QUEUE_SIZE];
	uint32_t rx_lens[NET_QUEUE_SIZE];
	uint8_t txbuf[NET_HDR_LEN + NET_MAX_FRAME];
};

/*
 * net_init: the device for params, its backend opened (a tap opened,
 * libslirp set up on loop, or passt started); the transport is ready to be registered
 * (n->transport). Returns 0 or -errno (the backend's: -ENOENT for a
 * missing /dev/net/tun or passt, -EPERM without CAP_NET_ADMIN, ...).
 */
__attribute__((warn_unused_result)) int net_init(struct net *n, const struct net_params *np,
                                                 struct loop *loop, const struct gmem *mem,
                                                 const struct virtio_mmio_params *mp);

void net_destroy(struct net *n);

/* net_mtu: the MTU a device of this mode offers (NET_MTU_SLIRP for user,
 * NET_MTU_PASST for passt, else NET_MTU_TAP: a test's backend too); net_max_frame: the
 * largest frame it takes or gives: its MTU's, or NET_MAX_FRAME where its
 * backend does segmentation offload (TSO frames, net_gso.c). */
uint32_t net_mtu(enum net_mode mode);
uint32_t net_max_frame(const struct net *n);

/*
 * net_passt_prestart: passt started now for the link l, before the device
 * exists: a jail starts it in the host's namespaces, where passt's sockets
 * must live, then gives the device the ends in a net_params (passt_fd,
 * passt_errfd). *pid is the caller's to reap once its copies of the ends
 * are closed. 0 or -errno (-ENOENT: no passt in PATH).
 */
__attribute__((warn_unused_result)) int net_passt_prestart(const struct net_link *l, int *fd,
                                                           int *errfd, pid_t *pid);
/* net_passt_strerror: what to tell a user whom passt's start failed with err. */
const char *net_passt_strerror(int err);
/* net_passt_reap: pid (a passt) ended, by SIGTERM or at last SIGKILL, and reaped. */
void net_passt_reap(pid_t pid);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * net_int.h: virtio-net's private header: the seam between the device
 * model (net.c, net_rx.c) and its backends (net_tap.c, net_slirp.c). The
 * data changes hands once each way: the device hands a judged frame to
 * the backend's send; the backend hands a received frame to net_rx_push.
 * Everything runs on the main thread.
 */
#ifndef KVMBOX_VIRTIO_NET_INT_H
#define KVMBOX_VIRTIO_NET_INT_H

#include "virtio/net.h"

#include <stddef.h>

struct net_backend_ops {
	const char *name;
	/*
	 * send: one frame the policy allowed (len <= NET_MAX_FRAME, its
	 * checksums complete). 0, or -errno when it was not sent (counted;
	 * never retried: the guest's TCP sends again).
	 */
	int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
	/* rx_room: the receive queue has room again (NULL: not needed). */
	void (*rx_room)(struct net_backend *be);
	/* offload: the negotiated features, at DRIVER_OK (NULL: none). */
	void (*offload)(struct net_backend *be, uint64_t features);
	void (*destroy)(struct net_backend *be);
};

/* A backend: this first in its own struct. */
struct net_backend {
	const struct net_backend_ops *ops;
	struct net *net;
};

/*
 * net_rx_push: a frame for the guest (len bytes, header hdr or NULL for
 * none) into the receive queue; the device delivers it when the guest has
 * buffers. Main thread; the transport lock may or may not be held (a
 * backend may push from inside its send). 0, -ENOBUFS (queue full) or
 * -EMSGSIZE (over NET_MAX_FRAME), both counted as rx_dropped.
 */
int net_rx_push(struct net *n, const uint8_t *hdr, const uint8_t *frame, size_t len);

/* net_rx_room: how many more frames the receive queue takes. */
unsigned int net_rx_room(const struct net *n);

/*
 * net_rx_flush: move queued frames into the guest's receive buffers, at
 * most NET_BUDGET (lock held, main thread). Returns true when frames are
 * left that could go now (the caller comes back through the loop), false
 * when the queue is empty or waits for buffers (rx_waiting).
 */
bool net_rx_flush(struct net *n);

/*
 * net_init_with: net_init with a backend the caller opened (the unit
 * tests' own); be->net is set. On failure be is not destroyed.
 */
__attribute__((warn_unused_result)) int net_init_with(struct net *n, const struct net_params *np,
                                                      struct loop *loop, const struct gmem *mem,
                                                      const struct virtio_mmio_params *mp,
                                                      struct net_backend *be);

/* The backends' constructors: 0 or -errno, *be set on success. */
__attribute__((warn_unused_result)) int net_tap_open(struct net *n, const char *name,
                                                     struct net_backend **be);
__attribute__((warn_unused_result)) int net_slirp_open(struct net *n, struct net_backend **be);

#endif

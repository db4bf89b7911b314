/* SPDX-License-Identifier: MIT */
/*
 * net_int.h: virtio-net's private header: the seam between the device
 * model (net.c, net_rx.c) and its backends (net_tap.c, net_slirp.c,
 * net_passt.c over net_stream.c). The data changes hands once each way:
 * the device hands a judged frame to the backend's send; the backend
 * hands a received frame to net_rx_push. Everything runs on the main
 * thread.
 */
#ifndef KVMBOX_VIRTIO_NET_INT_H
#define KVMBOX_VIRTIO_NET_INT_H

#include "virtio/net.h"

#include <linux/virtio_net.h>
#include <stddef.h>

struct net_backend_ops {
	const char *name;
	/*
	 * send: one frame the policy allowed (len <= net_max_frame, its
	 * checksums complete). 0; -EAGAIN when the backend cannot take it
	 * now and will call net_tx_ready once it can (the chain stays in the
	 * guest's ring meanwhile: nothing is lost); or another -errno when it
	 * was not sent (counted as tx_errors; never retried: the guest's TCP
	 * sends again). Only a stream backend answers -EAGAIN: a tap's write
	 * and libslirp's input take or drop a frame at once.
	 */
	int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
	/*
	 * send_gso: a TSO frame (net_gso_check passed, the policy allowed
	 * it) with the guest's header h, its checksum partial, for the host
	 * to segment; answers as send. NULL: the backend takes whole frames
	 * only, and no segmentation offload is offered to the guest.
	 */
	int (*send_gso)(struct net_backend *be, const struct virtio_net_hdr_v1 *h,
	                const uint8_t *frame, size_t len);
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
 * -EMSGSIZE (over net_max_frame), both counted as rx_dropped (and
 * -ENOMEM).
 */
int net_rx_push(struct net *n, const uint8_t *hdr, const uint8_t *frame, size_t len);

/* net_rx_room: how many more frames of the device's largest size
 * (net_max_frame) the receive queue takes; net_rx_capacity: the same for
 * an empty queue. */
unsigned int net_rx_room(const struct net *n);
unsigned int net_rx_capacity(const struct net *n);

/* net_rx_clear: every queued frame dropped and freed. */
void net_rx_clear(struct net *n);

/*
 * net_gso_check (net_gso.c): 0 when the guest's frame with GSO header h
 * may go to the backend's send_gso: a TCP type negotiated (HOST_TSO4/6,
 * with CSUM), the partial checksum aimed at its TCP checksum field and
 * nowhere else, plain IP headers whose lengths match the frame. -EINVAL
 * otherwise (counted as tx_bad).
 */
int net_gso_check(const struct net *n, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                  size_t len, uint64_t feats);

/* net_gso_rx_ok: a received frame of gso_type may go to a guest that
 * negotiated feats (GUEST_TSO4/6 for TCP; none of the others). */
bool net_gso_rx_ok(uint8_t gso_type, uint64_t feats);

/*
 * net_rx_flush: move queued frames into the guest's receive buffers, at
 * most NET_BUDGET (lock held, main thread). Returns true when frames are
 * left that could go now (the caller comes back through the loop), false
 * when the queue is empty or waits for buffers (rx_waiting).
 */
bool net_rx_flush(struct net *n);

/*
 * net_tx_ready: the backend that answered send's -EAGAIN can take frames
 * again: the device goes on with its transmit ring on a later pass of the
 * loop. Main thread, lock not held.
 */
void net_tx_ready(struct net *n);

/*
 * net_link_down: the backend is gone for good: the link status in config
 * space goes down and the driver is told by a configuration change
 * notification (virtio 1.2 §5.1.4, VIRTIO_NET_S_LINK_UP; §4.2.2). Main
 * thread, lock not held. The device goes on; its frames are counted as
 * tx_errors from then on.
 */
void net_link_down(struct net *n);

/*
 * net_stream: QEMU's stream protocol on a connected stream socket, as
 * QEMU's -netdev stream and passt speak it (passt(1), -F; QEMU
 * net/stream.c): each Ethernet frame preceded by its length, 4 bytes in
 * network order, no other framing. A backend embeds it first in its own
 * struct and uses its send and rx_room (net_stream.c).
 */
/* Each holds a frame of NET_MAX_FRAME with its length, and more. */
#define NET_STREAM_RBUF (128u * 1024) /* bytes read ahead of the device's queue */
#define NET_STREAM_WBUF (128u * 1024) /* bytes the peer has not taken yet */
/*
 * The largest length the protocol carries: QEMU's reader ends the
 * connection past NET_BUFSIZE (4096 + 65536, include/net/net.h). A larger
 * length means the two ends no longer agree where frames start.
 */
#define NET_STREAM_MAX_LEN (4096u + 65536u)

struct net_stream {
	struct net_backend be;
	int fd;
	/*
	 * on_down: called once, when the stream ended (err 0: the peer
	 * closed it; -EPROTO: a length past NET_STREAM_MAX_LEN; else the
	 * socket's -errno). It says why, once; the link then goes down.
	 */
	void (*on_down)(struct net_stream *s, int err);
	uint8_t rx_flags; /* virtio-net header flags for received frames */
	struct loop_op rd_op, wr_op, defer_op;
	bool rd_polling, wr_polling, deferred;
	bool starved;   /* frames wait in rbuf for room in the device's queue */
	bool tx_wanted; /* send said -EAGAIN: net_tx_ready once wbuf has room */
	bool down;
	unsigned int errors; /* polls that ended in an error, in a row */
	uint32_t skip;       /* bytes of an oversized frame still to drop */
	uint32_t roff, rend; /* rbuf[roff, rend): read, not yet delivered */
	uint32_t wlen;       /* wbuf[0, wlen): to write when the socket takes it */
	uint8_t rbuf[NET_STREAM_RBUF];
	uint8_t wbuf[NET_STREAM_WBUF];
};

/* net_stream_init: s for fd (owned from now on, non-blocking); no I/O yet. */
void net_stream_init(struct net_stream *s, struct net *n, int fd, const struct net_backend_ops *ops,
                     void (*on_down)(struct net_stream *s, int err));
/* net_stream_start: begin reading (once s->be.net's loop is set). */
void net_stream_start(struct net_stream *s);
/* The ops a stream backend uses (net_int.h's send and rx_room). */
int net_stream_send(struct net_backend *be, const uint8_t *frame, size_t len);
void net_stream_room(struct net_backend *be);
/* net_stream_fini: close the socket (the loop is gone or will not call us). */
void net_stream_fini(struct net_stream *s);

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
/*
 * net_tap_open_fd: a tap the caller opened (owned from now on, on
 * success). -EBADF: fd is not open; -ENOTTY: not a tun/tap descriptor
 * attached to a device; -EPROTOTYPE: a tun, not a tap; -EPROTONOSUPPORT:
 * opened without IFF_NO_PI or IFF_VNET_HDR.
 */
__attribute__((warn_unused_result)) int net_tap_open_fd(struct net *n, int fd,
                                                        struct net_backend **be);
__attribute__((warn_unused_result)) int net_slirp_open(struct net *n, struct net_backend **be);
__attribute__((warn_unused_result)) int net_passt_open(struct net *n, struct net_backend **be);

#endif

// SPDX-License-Identifier: MIT
/*
 * net: the virtio-net device model and its transmit path (net.h). The
 * receive path: net_rx.c. Layout facts: virtio 1.2 §5.1.
 */
#include "virtio/net_int.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN, "virtio 1.2 §5.1.6");

/*
 * net_csum_complete: §5.1.6.2 VIRTIO_NET_HDR_F_NEEDS_CSUM: the driver put
 * the pseudo-header's sum at start + off; the device sums the bytes from
 * start to the end of the frame and stores the complement there. Zero is
 * stored as 0xffff, the same value in one's complement (RFC 1071) and the
 * only one UDP allows (RFC 768). -EINVAL when the field lies past the
 * frame (guest values).
 */
static int net_csum_complete(uint8_t *f, size_t len, uint16_t start, uint16_t off)
{
	uint32_t sum = 0;
	uint16_t c;
	size_t i;

	if (start >= len || off > len - start || len - start - off < 2)
		return -EINVAL;
	for (i = start; i + 1 < len; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	if (i < len)
		sum += (uint32_t)f[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	if (c == 0)
		c = 0xffff;
	f[start + off] = (uint8_t)(c >> 8);
	f[start + off + 1] = (uint8_t)c;
	return 0;
}

/*
 * net_tx_one: the chain in n->chain: copy, check, judge, send. 0 when the
 * chain is done with (whatever became of its frame), -EAGAIN when the
 * backend cannot take the frame now: nothing is counted, and the chain
 * goes back to the ring to be read and judged again later.
 */
static int net_tx_one(struct net *n)
{
	const struct virtq_chain *c = &n->chain;
	uint64_t feats = virtio_mmio_features(&n->transport);
	struct virtio_net_hdr_v1 h;
	uint8_t *frame = n->txbuf + NET_HDR_LEN;
	uint32_t len = c->readable_len;
	enum net_verdict v;
	bool gso = false;
	int err;

	/* §5.1.6.2: header then frame, device-readable; a longer frame
	 * than the MTU we offered, or a shorter one than an Ethernet
	 * header, is no frame of ours. */
	if (len < NET_HDR_LEN + 14 || len > NET_HDR_LEN + net_max_frame(n) ||
	    virtq_chain_read(c, 0, n->txbuf, len)) {
		n->stats.tx_bad++;
		return 0;
	}
	memcpy(&h, n->txbuf, sizeof(h));
	len -= NET_HDR_LEN;
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		/* A TSO frame, for a tap to segment: its checksum stays
		 * partial, aimed where nothing else can change (net_gso.c). */
		if (net_gso_check(n, &h, frame, len, feats)) {
			n->stats.tx_bad++;
			return 0;
		}
		gso = true;
	} else if (len > n->mtu + 14) {
		n->stats.tx_bad++; /* a whole frame past the MTU we offered */
		return 0;
	}
	if (!gso && (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		if (!(feats & (1ull << VIRTIO_NET_F_CSUM)) ||
		    net_csum_complete(frame, len, h.csum_start, h.csum_offset)) {
			n->stats.tx_bad++;
			return 0;
		}
	}
	/* The checksum is in: the frame is final. Judge it. */
	v = net_policy_check(&n->params.policy, frame, len, NULL);
	if (v != NET_ALLOW) {
		n->stats.denied++;
		n->stats.denied_by[v]++;
		return 0;
	}
	err =
	    gso ? n->be->ops->send_gso(n->be, &h, frame, len) : n->be->ops->send(n->be, frame, len);
	if (err == -EAGAIN)
		return err;
	if (err < 0) {
		n->stats.tx_errors++;
		return 0;
	}
	n->stats.tx_frames++;
	n->stats.tx_bytes += len;
	n->stats.tx_gso += gso;
	return 0;
}

static void net_defer(struct net *n)
{
	n->stats.deferred++;
	if (n->resume_armed)
		return;
	n->resume_wanted = loop_defer(n->loop, &n->resume_op) < 0;
	n->resume_armed = !n->resume_wanted;
}

/*
 * net_tx: pop, judge and send up to NET_BUDGET chains (lock held, main
 * thread). Every chain goes back used with length 0 (§5.1.6.2: the
 * device writes nothing), whatever became of its frame, except one the
 * backend cannot take yet: it is put back (virtq_unpop) with the chains
 * after it, and the device waits for the backend's net_tx_ready rather
 * than trying again on every notification.
 */
static void net_tx(struct net *n)
{
	struct virtq *q = virtio_mmio_queue(&n->transport, NET_TX_QUEUE);

	for (unsigned int i = 0; !n->tx_blocked; i++) {
		int err;

		if (i == NET_BUDGET) {
			net_defer(n);
			return;
		}
		err = virtq_pop(q, &n->chain);
		if (err) {
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&n->transport);
			return;
		}
		if (net_tx_one(n) == -EAGAIN) {
			/* Back where the driver put it: the next pop reads
			 * (and judges) it again. */
			(void)virtq_unpop(q, 1);
			n->tx_blocked = true;
			n->stats.tx_blocked++;
			return;
		}
		if (virtq_push(q, n->chain.head, 0) < 0) {
			virtio_mmio_set_needs_reset(&n->transport);
			return;
		}
		n->notify_tx = true;
	}
}

/* net_rx: deliver what is queued; come back later for the rest. */
static void net_rx(struct net *n)
{
	unsigned int room = net_rx_room(n);

	if (net_rx_flush(n))
		net_defer(n);
	/* Frames left the queue: a backend that waited for room may go on. */
	if (net_rx_room(n) > room && n->be->ops->rx_room)
		n->be->ops->rx_room(n->be);
}

static void net_queue_notify(void *dev, unsigned int q)
{
	struct net *n = dev;

	if (q == NET_TX_QUEUE) {
		net_tx(n);
	} else {
		n->rx_waiting = false; /* the guest added buffers */
		net_rx(n);
	}
}

/* net_resume: the later pass net_defer asked for (main thread). */
static void net_resume(void *opaque, int res, bool more)
{
	struct net *n = opaque;

	(void)res;
	(void)more;
	virtio_mmio_lock(&n->transport);
	n->resume_armed = false;
	/* After a reset the queues are not ready: the pops find nothing. */
	net_tx(n);
	net_rx(n);
	virtio_mmio_unlock(&n->transport);
}

/*
 * net_idle: after each batch of completions: frames the backends queued
 * go to the guest, and one interrupt per queue covers the batch.
 */
static void net_idle(void *opaque)
{
	struct net *n = opaque;

	virtio_mmio_lock(&n->transport);
	if (n->resume_wanted && !n->resume_armed) {
		n->resume_wanted = loop_defer(n->loop, &n->resume_op) < 0;
		n->resume_armed = !n->resume_wanted;
	}
	if (n->rxq_len && !n->rx_waiting)
		net_rx(n);
	if (n->notify_rx) {
		n->notify_rx = false;
		virtio_mmio_notify_used(&n->transport, NET_RX_QUEUE);
	}
	if (n->notify_tx) {
		n->notify_tx = false;
		virtio_mmio_notify_used(&n->transport, NET_TX_QUEUE);
	}
	virtio_mmio_unlock(&n->transport);
}

static void net_config_read(void *dev, uint32_t offset, void *data, uint32_t len)
{
	struct net *n = dev;
	struct virtio_net_config cfg = {
		.status = n->link_down ? 0 : VIRTIO_NET_S_LINK_UP,
		.max_virtqueue_pairs = 1,
		.mtu = (uint16_t)n->mtu,
	};

	memcpy(cfg.mac, n->params.policy.link.mac, 6);
	/* offset + len <= config_size, checked by the transport; x86 and
	 * virtio 1.x are both little-endian. */
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

void net_tx_ready(struct net *n)
{
	virtio_mmio_lock(&n->transport);
	if (n->tx_blocked) {
		n->tx_blocked = false;
		/* A later pass, not this call: the backend's callback is on
		 * the stack, and the loop's other work comes first. */
		if (!n->resume_armed) {
			n->resume_wanted = loop_defer(n->loop, &n->resume_op) < 0;
			n->resume_armed = !n->resume_wanted;
		}
	}
	virtio_mmio_unlock(&n->transport);
}

void net_link_down(struct net *n)
{
	virtio_mmio_lock(&n->transport);
	if (!n->link_down) {
		n->link_down = true;
		virtio_mmio_config_changed(&n->transport);
	}
	virtio_mmio_unlock(&n->transport);
}

static int net_activate(void *dev)
{
	struct net *n = dev;
	uint64_t one = 1;

	if (n->be->ops->offload)
		n->be->ops->offload(n->be, virtio_mmio_features(&n->transport));
	/* Buffers made available before DRIVER_OK: the main thread looks. */
	for (unsigned int q = 0; q < 2; q++)
		if (n->transport.notify_fd[q] >= 0 && write(n->transport.notify_fd[q], &one, 8) < 0)
			return -errno;
	return 0;
}

static void net_reset(void *dev)
{
	struct net *n = dev;

	/* Queued frames stay for the driver's next life: the receive
	 * queue is the main thread's, and this is a vCPU's. */
	n->notify_rx = n->notify_tx = false;
	n->rx_waiting = false;
	/* The queues start over; a backend still full answers -EAGAIN to
	 * the next frame, and the device waits again. */
	n->tx_blocked = false;
}

/* §5.1.3. The transport adds VERSION_1, EVENT_IDX and INDIRECT_DESC. */
#define NET_FEATURES                                                                               \
	(1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM | 1ull << VIRTIO_NET_F_MTU |  \
	 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_NET_F_STATUS)
/* TCP segmentation offload both ways, where the backend has send_gso
 * (§5.1.3.1: the driver pairs them with CSUM and GUEST_CSUM). */
#define NET_FEATURES_TSO                                                                           \
	(1ull << VIRTIO_NET_F_HOST_TSO4 | 1ull << VIRTIO_NET_F_HOST_TSO6 |                         \
	 1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6)

/* Device ID 1: §5.1.1. Config space up to and with mtu (§5.1.4). */
static const struct virtio_dev_ops net_ops = {
	.name = "net",
	.device_id = 1,
	.features = NET_FEATURES,
	.num_queues = 2,
	.queue_max_size = NET_QUEUE_SIZE,
	.config_size = offsetof(struct virtio_net_config, mtu) + 2,
	.config_read = net_config_read,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

int net_init_with(struct net *n, const struct net_params *np, struct loop *loop,
                  const struct gmem *mem, const struct virtio_mmio_params *mp,
                  struct net_backend *be)
{
	int err;

	memset(n, 0, offsetof(struct net, chain)); /* not the scratch (net.h) */
	n->loop = loop;
	n->params = *np;
	n->params.tap_name = NULL; /* not ours to keep */
	n->resume_op = (struct loop_op){ .cb = net_resume, .opaque = n };
	n->mtu = net_mtu(np->mode);
	n->rxq = calloc(NET_RXQ_FRAMES, sizeof(*n->rxq));
	if (!n->rxq)
		return -ENOMEM;
	n->be = be;
	be->net = n;
	err = virtio_mmio_init(&n->transport, &net_ops, n, mem, mp);
	if (err)
		goto fail;
	if (be->ops->send_gso)
		n->transport.device_features |= NET_FEATURES_TSO;
	err = loop_add_idle(loop, net_idle, n);
	if (err) {
		virtio_mmio_destroy(&n->transport);
		goto fail;
	}
	return 0;
fail:
	free(n->rxq);
	n->rxq = NULL;
	n->be = NULL;
	return err;
}

int net_init(struct net *n, const struct net_params *np, struct loop *loop, const struct gmem *mem,
             const struct virtio_mmio_params *mp)
{
	struct net_backend *be = NULL;
	int err;

	/* The backend first: it needs only the loop, and its failure (no
	 * tap, no permission) is the likely one. */
	n->loop = loop;
	n->params = *np;
	if (np->mode == NET_MODE_TAP && np->tap_name)
		err = net_tap_open(n, np->tap_name, &be);
	else if (np->mode == NET_MODE_TAP)
		err = net_tap_open_fd(n, np->tap_fd, &be);
	else if (np->mode == NET_MODE_USER)
		err = net_slirp_open(n, &be);
	else if (np->mode == NET_MODE_PASST)
		err = net_passt_open(n, &be);
	else
		err = -EINVAL;
	if (err)
		return err;
	err = net_init_with(n, np, loop, mem, mp, be);
	if (err)
		be->ops->destroy(be);
	return err;
}

void net_destroy(struct net *n)
{
	if (n->be)
		n->be->ops->destroy(n->be);
	n->be = NULL;
	virtio_mmio_destroy(&n->transport);
	net_rx_clear(n);
	free(n->rxq);
	n->rxq = NULL;
}

uint32_t net_max_frame(const struct net *n)
{
	return n->be && n->be->ops->send_gso ? NET_MAX_FRAME : n->mtu + 14;
}

uint32_t net_mtu(enum net_mode mode)
{
	switch (mode) {
	case NET_MODE_USER:
		return NET_MTU_SLIRP;
	case NET_MODE_PASST:
		return NET_MTU_PASST;
	default:
		return NET_MTU_TAP;
	}
}

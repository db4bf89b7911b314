// SPDX-License-Identifier: MIT
/*
 * net_rx: virtio-net's receive path (net.h): the queue between the
 * backends and the guest, and the delivery of its frames into the
 * guest's receive buffers (virtio 1.2 §5.1.6.3, §5.1.6.4).
 */
#include "virtio/net_int.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

int net_rx_push(struct net *n, const uint8_t *hdr, const uint8_t *frame, size_t len)
{
	struct net_rx_frame *f;

	if (len > net_max_frame(n)) {
		n->stats.rx_dropped++;
		return -EMSGSIZE;
	}
	if (n->rxq_len == NET_RXQ_FRAMES || n->rxq_bytes + len > NET_RXQ_BYTES) {
		n->stats.rx_dropped++;
		return -ENOBUFS;
	}
	/* Each frame as long as it is: 256 slots of 64 KiB would be 16 MiB. */
	f = malloc(sizeof(*f) + len);
	if (!f) {
		n->stats.rx_dropped++;
		return -ENOMEM;
	}
	n->rxq[(n->rxq_head + n->rxq_len) % NET_RXQ_FRAMES] = f;
	n->rxq_bytes += len;
	if (hdr)
		memcpy(f->hdr, hdr, NET_HDR_LEN);
	else
		memset(f->hdr, 0, NET_HDR_LEN);
	f->len = (uint32_t)len;
	memcpy(f->data, frame, len);
	n->rxq_len++;
	return 0;
}

/* Room for frames of the device's largest size, by count and by bytes. */
unsigned int net_rx_room(const struct net *n)
{
	size_t by_bytes = (NET_RXQ_BYTES - n->rxq_bytes) / net_max_frame(n);
	unsigned int by_count = NET_RXQ_FRAMES - n->rxq_len;

	return by_bytes < by_count ? (unsigned int)by_bytes : by_count;
}

unsigned int net_rx_capacity(const struct net *n)
{
	size_t by_bytes = NET_RXQ_BYTES / net_max_frame(n);

	return by_bytes < NET_RXQ_FRAMES ? (unsigned int)by_bytes : NET_RXQ_FRAMES;
}

/* net_rx_pop: the oldest frame out of the queue, freed. */
static void net_rx_pop(struct net *n)
{
	struct net_rx_frame *f = n->rxq[n->rxq_head];

	n->rxq_bytes -= f->len;
	free(f);
	n->rxq[n->rxq_head] = NULL;
	n->rxq_head = (n->rxq_head + 1) % NET_RXQ_FRAMES;
	n->rxq_len--;
}

void net_rx_clear(struct net *n)
{
	while (n->rxq && n->rxq_len)
		net_rx_pop(n);
}

/*
 * net_rx_copy: bytes [done, done + take) of the packet as the guest sees
 * it (the header, then the frame) to the start of chain c's writable part.
 * The caller checked that c holds take bytes.
 */
static void net_rx_copy(const struct virtq_chain *c, const uint8_t *hdr, const uint8_t *data,
                        uint32_t done, uint32_t take)
{
	uint32_t off = 0;

	if (done < NET_HDR_LEN) {
		uint32_t h = NET_HDR_LEN - done < take ? NET_HDR_LEN - done : take;

		(void)virtq_chain_write(c, 0, hdr + done, h);
		off = h;
		done += h;
		take -= h;
	}
	if (take)
		(void)virtq_chain_write(c, off, data + (done - NET_HDR_LEN), take);
}

/*
 * net_rx_hdr: the header the guest gets: the backend's, less what the
 * driver did not negotiate (§5.1.6.3.1: flags only with GUEST_CSUM; a GSO
 * type only with its GUEST_TSO feature), num_buffers 1 until known. False
 * for a GSO frame this driver cannot take (it negotiated less since the
 * frame was queued): it is dropped.
 */
static bool net_rx_hdr(const struct net *n, const struct net_rx_frame *f,
                       struct virtio_net_hdr_v1 *h)
{
	uint64_t feats = virtio_mmio_features(&n->transport);

	memcpy(h, f->hdr, sizeof(*h));
	if (!net_gso_rx_ok(h->gso_type, feats))
		return false;
	if (!(feats & (1ull << VIRTIO_NET_F_GUEST_CSUM)))
		h->flags = 0;
	h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		h->gso_size = 0;
		h->hdr_len = 0;
	}
	h->num_buffers = 1;
	return true;
}

/*
 * net_rx_one: frame f into the guest's buffers. Returns 0 (delivered), 1
 * (it fits in no buffer the guest could give: dropped), -EAGAIN (not
 * enough buffers now: those taken are given back) or -EPROTO (the guest
 * broke the queue, or gave a buffer the device cannot write).
 */
static int net_rx_one(struct net *n, const struct net_rx_frame *f)
{
	struct virtq *q = virtio_mmio_queue(&n->transport, NET_RX_QUEUE);
	bool mrg = virtio_mmio_features(&n->transport) & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	uint32_t total = NET_HDR_LEN + f->len, done = 0;
	struct virtio_net_hdr_v1 h;
	uint16_t nb = 0;

	if (!net_rx_hdr(n, f, &h))
		return 1;
	while (done < total) {
		struct virtq_chain *c = nb == 0 ? &n->rx_first : &n->rx_more;
		uint32_t take;
		int err;

		if (nb == q->size || (nb == 1 && !mrg)) {
			/* Every buffer the ring holds, or the one allowed
			 * without MRG_RXBUF, is too small: waiting will not
			 * help this frame. */
			(void)virtq_unpop(q, nb);
			return 1;
		}
		err = virtq_pop(q, c);
		if (err == -ENOENT) {
			(void)virtq_unpop(q, nb);
			return -EAGAIN;
		}
		/* §5.1.6.3.1: receive buffers are device-writable, and the
		 * first holds at least the header. */
		if (err || c->nr_readable || (nb == 0 && c->writable_len < NET_HDR_LEN))
			return -EPROTO;
		take = c->writable_len < total - done ? c->writable_len : total - done;
		net_rx_copy(c, (const uint8_t *)&h, f->data, done, take);
		n->rx_heads[nb] = c->head;
		n->rx_lens[nb] = take;
		nb++;
		done += take;
	}
	/* §5.1.6.4: num_buffers says how many buffers the packet took. */
	h.num_buffers = nb;
	(void)virtq_chain_write(&n->rx_first, offsetof(struct virtio_net_hdr_v1, num_buffers),
	                        &h.num_buffers, sizeof(h.num_buffers));
	if (virtq_push_batch(q, n->rx_heads, n->rx_lens, nb) < 0)
		return -EPROTO;
	n->notify_rx = true;
	n->stats.rx_frames++;
	n->stats.rx_bytes += f->len;
	n->stats.rx_gso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
	return 0;
}

bool net_rx_flush(struct net *n)
{
	for (unsigned int i = 0; n->rxq_len; i++) {
		int err;

		if (i == NET_BUDGET)
			return true;
		err = net_rx_one(n, n->rxq[n->rxq_head]);
		if (err == -EAGAIN) {
			n->rx_waiting = true;
			return false;
		}
		if (err < 0) {
			virtio_mmio_set_needs_reset(&n->transport);
			n->rx_waiting = true; /* until the driver's reset */
			return false;
		}
		if (err > 0)
			n->stats.rx_dropped++;
		net_rx_pop(n);
	}
	return false;
}

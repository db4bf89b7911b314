// SPDX-License-Identifier: MIT
/*
 * vsock_rx: delivery to the guest (vsock.h): which connection sends what
 * next, reading host data within the guest's credit (§5.10.6.3), and the
 * packets written into the rx buffers the guest posted. Packets from the
 * guest: vsock.c; the host sockets: vsock_uds.c.
 */
#define _GNU_SOURCE
#include "virtio/vsock_int.h"

#include <errno.h>
#include <linux/virtio_vsock.h>
#include <sys/socket.h>

/* vsock_peer_credit: §5.10.6.3: buf_alloc - (tx_cnt - fwd_cnt), 0 if the guest shrank it. */
static uint32_t vsock_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/*
 * vsock_conn_next: the op c would send the guest now, 0 for none. Looks at
 * the host socket when data may be waiting (peek: EOF turns into a
 * SHUTDOWN, a broken socket into an RST).
 */
static uint16_t vsock_conn_next(struct vsock_conn *c)
{
	if (c->state != VSOCK_S_REQUEST && c->state != VSOCK_S_OPEN)
		return 0;
	if (c->pending & VSOCK_P_REQUEST)
		return VIRTIO_VSOCK_OP_REQUEST;
	if (c->pending & VSOCK_P_RESPONSE)
		return VIRTIO_VSOCK_OP_RESPONSE;
	if (c->pending & VSOCK_P_CREDIT_UPDATE)
		return VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	/* A raw stream's hello goes first, whatever fd has (vsock_rx_data). */
	if (c->state == VSOCK_S_OPEN && c->hello_off < c->hello_len && !c->guest_shut_rcv) {
		if (vsock_peer_credit(c))
			return VIRTIO_VSOCK_OP_RW;
		if (!c->credit_asked)
			c->pending |= VSOCK_P_CREDIT_REQUEST;
	} else if (c->state == VSOCK_S_OPEN && c->readable && !c->host_eof && !c->guest_shut_rcv) {
		int r;

		if (vsock_peer_credit(c) == 0) {
			/* §5.10.6.3: ask once; the guest's answer restarts us. */
			if (!c->credit_asked)
				c->pending |= VSOCK_P_CREDIT_REQUEST;
		} else if ((r = vsock_uds_peek(c)) > 0) {
			return VIRTIO_VSOCK_OP_RW;
		} else if (r == -EAGAIN) {
			c->readable = false;
			vsock_uds_arm(c);
		} else if (r == 0) {
			c->readable = false;
			c->host_eof = true;
			c->pending |= VSOCK_P_SHUTDOWN;
			c->shutdown_flags |= VIRTIO_VSOCK_SHUTDOWN_SEND;
		} else {
			vsock_conn_close(c, true);
			return 0;
		}
	}
	if (c->pending & VSOCK_P_CREDIT_REQUEST)
		return VIRTIO_VSOCK_OP_CREDIT_REQUEST;
	if (c->pending & VSOCK_P_SHUTDOWN)
		return VIRTIO_VSOCK_OP_SHUTDOWN;
	return 0;
}

/*
 * vsock_rx_data: read host data into the chain after the header, as much
 * as the buffer, the guest's credit and VSOCK_MAX_PKT allow; a raw
 * stream's hello comes before any of it. Returns the bytes read; 0 when
 * the read failed (c may be closed then).
 */
static uint32_t vsock_rx_data(struct vsock *v, struct vsock_conn *c)
{
	uint32_t want = v->chain.writable_len - VSOCK_HDR, credit = vsock_peer_credit(c);
	struct msghdr msg = { .msg_iov = v->iov };
	ssize_t n;

	if (want > credit)
		want = credit;
	if (want > VSOCK_MAX_PKT)
		want = VSOCK_MAX_PKT;
	if (!want)
		return 0;
	if (c->hello_off < c->hello_len) {
		uint32_t k = c->hello_len - c->hello_off;

		if (k > want)
			k = want;
		/* Fits: want is within the chain's writable part. */
		(void)virtq_chain_write(&v->chain, VSOCK_HDR, c->hello + c->hello_off, k);
		c->hello_off += k;
		c->tx_cnt += k;
		v->stats.rx_bytes += k;
		return k;
	}
	msg.msg_iovlen = (size_t)vsock_chain_iov(v, true, VSOCK_HDR, want);
	n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
	if (n > 0) {
		c->tx_cnt += (uint32_t)n;
		v->stats.rx_bytes += (uint64_t)n;
		return (uint32_t)n;
	}
	if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
		c->readable = false;
		vsock_uds_arm(c);
	} else {
		vsock_conn_close(c, false); /* the caller sends the RST in this chain */
	}
	return 0;
}

/*
 * vsock_rx_fill: write a packet of op for c (NULL: the RST at the head of
 * the RST ring) into v->chain, which has room for a header. Returns the
 * bytes written.
 */
static uint32_t vsock_rx_fill(struct vsock *v, struct vsock_conn *c, uint16_t op)
{
	struct virtio_vsock_hdr h = {
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = v->guest_cid,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = VSOCK_BUF_ALLOC,
	};

	if (!c) {
		h.op = VIRTIO_VSOCK_OP_RST;
		h.src_port = v->rsts[v->rst_head].local_port;
		h.dst_port = v->rsts[v->rst_head].peer_port;
		v->rst_head = (v->rst_head + 1) % VSOCK_MAX_RSTS;
		v->nr_rsts--;
		v->stats.rsts_sent++;
	} else {
		h.src_port = c->local_port;
		h.dst_port = c->peer_port;
		if (op == VIRTIO_VSOCK_OP_RW) {
			h.len = vsock_rx_data(v, c);
			/* Nothing read after all: a credit update says no harm. */
			if (!h.len)
				h.op = c->state == VSOCK_S_DEAD ? VIRTIO_VSOCK_OP_RST
				                                : VIRTIO_VSOCK_OP_CREDIT_UPDATE;
		}
		if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN)
			h.flags = c->shutdown_flags;
		if (h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
			c->credit_asked = true;
		if (h.op == VIRTIO_VSOCK_OP_REQUEST)
			c->pending &= ~VSOCK_P_REQUEST;
		else if (h.op == VIRTIO_VSOCK_OP_RESPONSE)
			c->pending &= ~VSOCK_P_RESPONSE;
		else if (h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
			c->pending &= ~VSOCK_P_CREDIT_REQUEST;
		else if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN)
			c->pending &= ~VSOCK_P_SHUTDOWN;
		/* Every packet tells the guest our fwd_cnt: no separate update needed. */
		c->pending &= ~VSOCK_P_CREDIT_UPDATE;
		h.fwd_cnt = c->fwd_cnt;
		c->fwd_cnt_sent = c->fwd_cnt;
	}
	/* Fits: the caller checked the writable part holds a header. */
	(void)virtq_chain_write(&v->chain, 0, &h, VSOCK_HDR);
	v->stats.rx_packets++;
	return VSOCK_HDR + h.len;
}

/* vsock_rx_pick: the next connection with something to send, round robin. */
static struct vsock_conn *vsock_rx_pick(struct vsock *v, uint16_t *op)
{
	unsigned int n = v->nr_conns;

	for (unsigned int i = 0; i < n && i < v->nr_conns; i++) {
		unsigned int idx = (v->rr + i) % v->nr_conns;
		struct vsock_conn *c = v->conns[idx];

		*op = vsock_conn_next(c);
		if (*op) {
			v->rr = idx + 1;
			return c;
		}
	}
	return NULL;
}

/*
 * vsock_rx_process: fill rx buffers with what is owed, round robin over the
 * connections, at most VSOCK_BUDGET per call (the rest on a later pass:
 * each packet may be a credit update the guest's own packets made us owe).
 */
void vsock_rx_process(struct vsock *v)
{
	struct virtq *q = virtio_mmio_queue(&v->transport, VSOCK_RXQ);

	for (unsigned int n = 0; vsock_live(v); n++) {
		struct vsock_conn *c = NULL;
		uint16_t op = 0;
		int err;

		if (n == VSOCK_BUDGET) {
			vsock_defer(v);
			return;
		}
		if (!v->nr_rsts)
			c = vsock_rx_pick(v, &op);
		/* Picking may have closed a connection and queued its RST. */
		if (!c && !v->nr_rsts)
			return;
		err = virtq_pop(q, &v->chain);
		if (err) {
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&v->transport);
			return;
		}
		if (v->chain.writable_len < VSOCK_HDR) {
			/* No room for a header: the driver broke §5.10.6.1. */
			virtio_mmio_set_needs_reset(&v->transport);
			return;
		}
		if (virtq_push(q, v->chain.head, vsock_rx_fill(v, c, op)) < 0)
			virtio_mmio_set_needs_reset(&v->transport);
		v->notify_pending[VSOCK_RXQ] = true;
	}
}

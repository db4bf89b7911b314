// SPDX-License-Identifier: MIT
/*
 * vsock: the virtio-vsock device model (vsock.h): packets from the guest,
 * connections and the device ops. Layout facts: virtio 1.2 §5.10. Delivery
 * to the guest: vsock_rx.c; the host sockets: vsock_uds.c.
 */
#define _GNU_SOURCE
#include "virtio/vsock_int.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_vsock.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* §5.10.6: every packet starts with this 44-byte header (VSOCK_HDR). */
_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR, "virtio 1.2 §5.10.6");

/*
 * vsock_chain_iov: iovecs in v->iov for len bytes at off of the readable
 * (writable false) or writable segments. Returns the count; v->iov has
 * room for every segment a chain can have.
 */
int vsock_chain_iov(struct vsock *v, bool writable, uint32_t off, uint32_t len)
{
	return virtq_chain_iov(&v->chain, writable, off, len, v->iov, VIRTQ_MAX_SEGS);
}

/* vsock_lookup: the live connection (local_port, peer_port), or NULL. */
static struct vsock_conn *vsock_lookup(struct vsock *v, uint32_t local_port, uint32_t peer_port)
{
	for (unsigned int i = 0; i < v->nr_conns; i++) {
		struct vsock_conn *c = v->conns[i];

		if ((c->state == VSOCK_S_REQUEST || c->state == VSOCK_S_OPEN) &&
		    c->local_port == local_port && c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

uint32_t vsock_alloc_port(struct vsock *v)
{
	for (;;) {
		uint32_t port = v->next_port;
		bool used = false;

		v->next_port = port >= UINT32_MAX - 1 ? VSOCK_FIRST_PORT : port + 1;
		for (unsigned int i = 0; i < v->nr_conns && !used; i++) {
			const struct vsock_conn *c = v->conns[i];

			used = (c->state == VSOCK_S_REQUEST || c->state == VSOCK_S_OPEN) &&
			       c->local_port == port;
		}
		/* At most VSOCK_MAX_CONNS ports are taken: this ends. */
		if (!used)
			return port;
	}
}

/*
 * vsock_queue_rst: owe the guest an RST for (local_port, peer_port). reply:
 * an answer to a bad packet, which may use only half the ring so that a
 * flood of garbage cannot crowd out the RSTs of real connections.
 */
void vsock_queue_rst(struct vsock *v, uint32_t local_port, uint32_t peer_port, bool reply)
{
	unsigned int limit = reply ? VSOCK_MAX_RSTS / 2 : VSOCK_MAX_RSTS;

	if (v->nr_rsts >= limit) {
		v->stats.rsts_lost++;
		return;
	}
	v->rsts[(v->rst_head + v->nr_rsts) % VSOCK_MAX_RSTS] =
	    (struct vsock_rst){ .local_port = local_port, .peer_port = peer_port };
	v->nr_rsts++;
}

void vsock_conn_close(struct vsock_conn *c, bool rst)
{
	if (c->state == VSOCK_S_DEAD)
		return;
	if (rst && c->state != VSOCK_S_LINE)
		vsock_queue_rst(c->v, c->local_port, c->peer_port, false);
	if (c->fd >= 0) {
		/* Wakes any poll armed on it: the idle hook frees c after. */
		shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
	}
	c->fd = -1;
	c->state = VSOCK_S_DEAD;
	c->pending = 0;
	free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
}

/* vsock_reject: a bad packet h: reset its connection, or answer RST (never to an RST). */
static void vsock_reject(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	struct vsock_conn *c = vsock_lookup(v, h->dst_port, h->src_port);

	v->stats.dropped++;
	if (c)
		vsock_conn_close(c, true);
	else if (h->op != VIRTIO_VSOCK_OP_RST)
		vsock_queue_rst(v, h->dst_port, h->src_port, true);
}

/* vsock_guest_connect: REQUEST from the guest to host port h->dst_port (§5.10.6.4). */
static void vsock_guest_connect(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd;

	/* Checked before the connect: a guest over its share costs no fd. */
	if (!vsock_conn_room(v, false)) {
		v->stats.conns_refused++;
		vsock_reject(v, h);
		return;
	}
	fd = vsock_uds_connect(v, h->dst_port);
	if (fd < 0) {
		vsock_reject(v, h);
		return;
	}
	c = vsock_conn_new(v, fd, VSOCK_S_OPEN, false);
	if (!c) {
		close(fd);
		vsock_reject(v, h);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending |= VSOCK_P_RESPONSE;
	v->stats.guest_conns++;
	vsock_uds_arm(c);
}

/* vsock_guest_shutdown: §5.10.6.5 flags from the guest; both: finish, then RST. */
static void vsock_guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_shut_rcv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (!c->guest_shut_send || c->buf_len)
		return; /* the write side ends once the buffer drains (vsock_uds.c) */
	if (c->guest_shut_rcv)
		vsock_conn_close(c, true);
	else
		shutdown(c->fd, SHUT_WR);
}

/* vsock_guest_rw: payload of h (at offset VSOCK_HDR of the chain) for the host. */
static void vsock_guest_rw(struct vsock *v, struct vsock_conn *c, const struct virtio_vsock_hdr *h)
{
	uint32_t len = h->len;
	int n;

	if (c->state != VSOCK_S_OPEN || c->guest_shut_send ||
	    len > VSOCK_BUF_ALLOC - (c->rx_cnt - c->fwd_cnt)) {
		/* Data before RESPONSE, after SHUTDOWN, or beyond our credit. */
		vsock_reject(v, h);
		return;
	}
	n = vsock_chain_iov(v, false, VSOCK_HDR, len);
	if (vsock_uds_write(c, v->iov, n, len) < 0) {
		vsock_conn_close(c, true);
		return;
	}
	v->stats.tx_bytes += len;
}

/*
 * vsock_tx_packet: one packet the guest sent, in v->chain. Every field is
 * the guest's: the header is copied out once and checked before use.
 */
static void vsock_tx_packet(struct vsock *v)
{
	struct virtio_vsock_hdr h;
	struct vsock_conn *c;

	v->stats.tx_packets++;
	if (virtq_chain_read(&v->chain, 0, &h, VSOCK_HDR)) {
		v->stats.dropped++;
		return;
	}
	/* Not from this guest or not for the host: nobody to answer. */
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		v->stats.dropped++;
		return;
	}
	if (h.type != VIRTIO_VSOCK_TYPE_STREAM || h.len > VSOCK_MAX_PKT ||
	    h.len > v->chain.readable_len - VSOCK_HDR) {
		vsock_reject(v, &h);
		return;
	}
	c = vsock_lookup(v, h.dst_port, h.src_port);
	if (h.op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c)
			vsock_reject(v, &h); /* a live tuple: reset it */
		else
			vsock_guest_connect(v, &h);
		return;
	}
	if (!c) {
		vsock_reject(v, &h);
		return;
	}
	/* §5.10.6.3: every packet carries the sender's credit. */
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_S_REQUEST || vsock_uds_open(c) < 0)
			vsock_reject(v, &h);
		break;
	case VIRTIO_VSOCK_OP_RST:
		/* §5.10.6.4: an RST for our REQUEST: nobody listens, or the
		 * listener's queue is full (counted: the client only sees EOF). */
		if (c->state == VSOCK_S_REQUEST)
			v->stats.guest_refused++;
		vsock_conn_close(c, false);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != VSOCK_S_OPEN)
			vsock_reject(v, &h);
		else
			vsock_guest_shutdown(c, h.flags);
		break;
	case VIRTIO_VSOCK_OP_RW:
		vsock_guest_rw(v, c, &h);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		c->credit_asked = false;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VSOCK_P_CREDIT_UPDATE;
		break;
	default:
		vsock_reject(v, &h);
		break;
	}
}

/* vsock_live: DRIVER_OK and not DEVICE_NEEDS_RESET: the queues may be used. */
bool vsock_live(const struct vsock *v)
{
	uint32_t s = v->transport.status;

	return (s & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)) ==
	       VIRTIO_CONFIG_S_DRIVER_OK;
}

void vsock_defer(struct vsock *v)
{
	v->stats.deferred++;
	if (v->resume_armed)
		return;
	v->resume_wanted = loop_defer(v->loop, &v->resume_op) < 0;
	v->resume_armed = !v->resume_wanted;
}

/*
 * vsock_tx_process: up to VSOCK_BUDGET packets of the tx queue (the rest
 * on a later pass), then what they made us owe.
 */
static void vsock_tx_process(struct vsock *v)
{
	struct virtq *q = virtio_mmio_queue(&v->transport, VSOCK_TXQ);

	for (unsigned int n = 0; vsock_live(v); n++) {
		int err;

		if (n == VSOCK_BUDGET) {
			vsock_defer(v);
			break;
		}
		err = virtq_pop(q, &v->chain);

		if (err) {
			if (err != -ENOENT)
				virtio_mmio_set_needs_reset(&v->transport);
			break;
		}
		vsock_tx_packet(v);
		if (virtq_push(q, v->chain.head, 0) < 0)
			virtio_mmio_set_needs_reset(&v->transport);
		v->notify_pending[VSOCK_TXQ] = true;
	}
	vsock_rx_process(v);
}

static void vsock_queue_notify(void *dev, unsigned int q)
{
	struct vsock *v = dev;

	if (q == VSOCK_TXQ)
		vsock_tx_process(v);
	else if (q == VSOCK_RXQ)
		vsock_rx_process(v); /* new rx buffers */
	                             /* The event queue: buffers stay there, unused (vsock.h). */
}

/* vsock_resume: the later pass vsock_defer asked for: tx, then rx. */
static void vsock_resume(void *opaque, int res, bool more)
{
	struct vsock *v = opaque;

	(void)res;
	(void)more;
	virtio_mmio_lock(&v->transport);
	v->resume_armed = false;
	vsock_tx_process(v);
	virtio_mmio_unlock(&v->transport);
}

/* vsock_reap: free dead connections whose polls are gone (main thread, lock held). */
static void vsock_reap(struct vsock *v)
{
	for (unsigned int i = 0; i < v->nr_conns;) {
		struct vsock_conn *c = v->conns[i];

		if (c->state != VSOCK_S_DEAD) {
			i++;
			continue;
		}
		if (c->rd_armed || c->wr_armed) {
			vsock_uds_cancel(c);
			i++;
			continue;
		}
		v->conns[i] = v->conns[--v->nr_conns];
		v->nr_local -= c->local;
		free(c);
	}
	if (v->rr >= v->nr_conns)
		v->rr = 0;
}

/* vsock_idle: after a batch, one interrupt per queue, then free what died. */
static void vsock_idle(void *opaque)
{
	struct vsock *v = opaque;

	virtio_mmio_lock(&v->transport);
	if (v->resume_wanted && !v->resume_armed) {
		v->resume_wanted = loop_defer(v->loop, &v->resume_op) < 0;
		v->resume_armed = !v->resume_wanted;
	}
	for (unsigned int q = 0; q < 2; q++) {
		if (v->notify_pending[q]) {
			v->notify_pending[q] = false;
			virtio_mmio_notify_used(&v->transport, q);
		}
	}
	vsock_timer_idle(v);
	vsock_reap(v);
	virtio_mmio_unlock(&v->transport);
}

static void vsock_config_read(void *dev, uint32_t offset, void *data, uint32_t len)
{
	struct vsock *v = dev;
	struct virtio_vsock_config cfg = { .guest_cid = v->guest_cid }; /* §5.10.4 */

	/* offset + len <= config_size: checked by the transport. */
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static int vsock_activate(void *dev)
{
	struct vsock *v = dev;
	uint64_t one = 1;

	/* rx buffers posted before DRIVER_OK: let the main thread look. */
	for (unsigned int q = 0; q < 2; q++)
		if (v->transport.notify_fd[q] >= 0 && write(v->transport.notify_fd[q], &one, 8) < 0)
			return -errno;
	return 0;
}

/*
 * vsock_reset: the driver reset the device (vCPU thread, lock held): every
 * connection ends without a word to the guest (§5.10.6.6: its sockets are
 * gone too); the host ends see their sockets close. No io_uring work here:
 * the idle hook frees the connections on the main thread.
 */
static void vsock_reset(void *dev)
{
	struct vsock *v = dev;

	for (unsigned int i = 0; i < v->nr_conns; i++)
		vsock_conn_close(v->conns[i], false);
	v->nr_rsts = 0;
	v->rst_head = 0;
	v->notify_pending[0] = v->notify_pending[1] = false;
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "vsock",
	.device_id = 19, /* §5.10.1 */
	.features = 0,   /* stream only: implied without feature bits (§5.10.3) */
	.num_queues = 3,
	.queue_max_size = VSOCK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_vsock_config),
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

int vsock_init(struct vsock *v, const struct vsock_params *p, struct loop *loop,
               const struct gmem *mem, const struct virtio_mmio_params *mp)
{
	int err;

	memset(v, 0, offsetof(struct vsock, chain)); /* not the scratch (vsock.h) */
	v->listen_fd = -1;
	v->dir_fd = -1;
	if (p->guest_cid < 3 || p->guest_cid >= UINT32_MAX || !p->uds_path)
		return -EINVAL;
	v->loop = loop;
	v->resume_op = (struct loop_op){ .cb = vsock_resume, .opaque = v };
	v->guest_cid = p->guest_cid;
	v->next_port = VSOCK_FIRST_PORT;
	v->connect_timeout_ms = VSOCK_CONNECT_TIMEOUT_MS;
	v->max_conns = VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE;
	if (p->max_conns && p->max_conns < v->max_conns)
		v->max_conns = p->max_conns;
	vsock_timer_init(v);
	v->uds_path = strdup(p->uds_path);
	if (!v->uds_path)
		return -ENOMEM;
	err = virtio_mmio_init(&v->transport, &vsock_ops, v, mem, mp);
	if (err)
		goto fail_path;
	err = vsock_uds_listen(v);
	if (err)
		goto fail_mmio;
	err = loop_add_idle(loop, vsock_idle, v);
	if (err)
		goto fail_listen;
	return 0;
fail_listen:
	close(v->listen_fd);
	unlink(v->uds_path);
	v->listen_fd = -1;
fail_mmio:
	if (v->dir_fd >= 0)
		close(v->dir_fd);
	v->dir_fd = -1;
	virtio_mmio_destroy(&v->transport);
fail_path:
	free(v->uds_path);
	v->uds_path = NULL;
	return err;
}

void vsock_destroy(struct vsock *v)
{
	for (unsigned int i = 0; i < v->nr_conns; i++) {
		vsock_conn_close(v->conns[i], false);
		free(v->conns[i]);
	}
	v->nr_conns = 0;
	v->nr_local = 0;
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	v->listen_fd = -1;
	if (v->dir_fd >= 0)
		close(v->dir_fd);
	v->dir_fd = -1;
	virtio_mmio_destroy(&v->transport);
	free(v->uds_path);
	v->uds_path = NULL;
}

// SPDX-License-Identifier: MIT
/*
 * net_stream: QEMU's stream protocol for virtio-net's backends (net_int.h)
 * on a connected stream socket: each frame is preceded by its length, 4
 * bytes in network order (passt(1), "-F"; QEMU's net/stream.c). passt
 * speaks it on its end (net_passt.c runs it).
 *
 * Receive: a one-shot poll on the main loop; each wake-up reads into
 * rbuf, at most NET_STREAM_READS times, and hands whole frames to the
 * device's queue, at most NET_BUDGET of them and only while it has room.
 * A frame cut by a read waits in rbuf for its rest. When rbuf is full of
 * frames the guest has not taken, the socket is not read: its buffer
 * fills and the peer stops reading from its own sockets, rather than
 * frames being dropped here.
 *
 * Transmit: one sendmsg per frame. A stream must never carry half a
 * frame followed by another one, so what the socket did not take of a
 * frame waits in wbuf (with the frames after it, while they fit) and goes
 * out when the socket is writable again. A frame that does not fit is
 * answered -EAGAIN: the device leaves it in the guest's transmit ring
 * until the flush has made room for a whole frame (net_tx_ready), so a
 * slow peer slows the guest down instead of losing its frames.
 *
 * A length past NET_STREAM_MAX_LEN is a protocol error: the stream is
 * shut down, its owner says why once, and the link goes down. A length
 * the protocol allows but the device's MTU does not (a UDP datagram the
 * peer did not fragment, or a runt) is read past and counted as dropped.
 */
#define _GNU_SOURCE
#include "virtio/net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Reads per wake-up: bounded work per pass of the loop. */
#define NET_STREAM_READS 4
/* Polls that end in an error, in a row, before the stream is given up. */
#define NET_STREAM_POLL_RETRIES 3
#define NET_STREAM_HDR          4

static void net_stream_pass(struct net_stream *s);

/*
 * net_stream_end: the stream is over (err as on_down's). Main thread, no
 * lock held: never from send, which runs under the transport lock.
 */
static void net_stream_end(struct net_stream *s, int err)
{
	if (s->down)
		return;
	s->down = true;
	(void)shutdown(s->fd, SHUT_RDWR); /* the peer learns at once */
	if (s->on_down)
		s->on_down(s, err);
	net_link_down(s->be.net);
	if (s->tx_wanted) {
		/* The chains the device holds back go now (counted as
		 * tx_errors), rather than wait for a socket that is gone. */
		s->tx_wanted = false;
		net_tx_ready(s->be.net);
	}
}

/* net_stream_poll: a one-shot poll for mask on op (flag: in the ring). */
static void net_stream_poll(struct net_stream *s, struct loop_op *op, bool *flag, unsigned int mask)
{
	struct io_uring_sqe *sqe;

	if (*flag || s->down)
		return;
	sqe = loop_sqe(s->be.net->loop, op);
	if (!sqe)
		return; /* the ring is full: the next room or send tries again */
	io_uring_prep_poll_add(sqe, s->fd, mask);
	*flag = true;
}

static void net_stream_defer(struct net_stream *s)
{
	if (s->deferred || s->down)
		return;
	s->deferred = loop_defer(s->be.net->loop, &s->defer_op) == 0;
}

/*
 * net_stream_parse: whole frames out of rbuf into the device's queue,
 * while it has room and *budget lasts. 1: stopped with frames left (no
 * room, or the budget); 0: rbuf needs more bytes; -EPROTO: a length
 * past the protocol's.
 */
static int net_stream_parse(struct net_stream *s, unsigned int *budget)
{
	struct virtio_net_hdr_v1 h = { .flags = s->rx_flags };
	struct net *n = s->be.net;

	for (;;) {
		uint32_t avail = s->rend - s->roff, len;

		if (s->skip) {
			uint32_t d = avail < s->skip ? avail : s->skip;

			s->roff += d;
			s->skip -= d;
			if (s->skip)
				return 0;
			continue;
		}
		if (avail < NET_STREAM_HDR)
			return 0;
		memcpy(&len, s->rbuf + s->roff, NET_STREAM_HDR);
		len = ntohl(len);
		if (len > NET_STREAM_MAX_LEN)
			return -EPROTO;
		if (len < 14 || len > net_max_frame(n)) {
			/* No frame for this device: read past it. */
			n->stats.rx_dropped++;
			s->roff += NET_STREAM_HDR;
			s->skip = len;
			continue;
		}
		if (avail < NET_STREAM_HDR + len)
			return 0;
		if (!*budget || !net_rx_room(n))
			return 1;
		(void)net_rx_push(n, (const uint8_t *)&h, s->rbuf + s->roff + NET_STREAM_HDR, len);
		s->roff += NET_STREAM_HDR + len;
		(*budget)--;
	}
}

/* net_stream_compact: what is left of rbuf to its start, when worth it. */
static void net_stream_compact(struct net_stream *s)
{
	if (s->roff == s->rend) {
		s->roff = s->rend = 0;
	} else if (s->roff && NET_STREAM_RBUF - s->rend < NET_STREAM_RBUF / 2) {
		memmove(s->rbuf, s->rbuf + s->roff, s->rend - s->roff);
		s->rend -= s->roff;
		s->roff = 0;
	}
}

/*
 * net_stream_pass: one bounded pass: frames out of rbuf, reads while it
 * has room for them, then the next wake-up arranged: a later pass when
 * the budget ran out, a poll when the socket is drained, nothing while the
 * device's queue is full (net_stream_room calls again).
 */
static void net_stream_pass(struct net_stream *s)
{
	unsigned int budget = NET_BUDGET;
	int left = 0;

	for (unsigned int reads = 0; !s->down; reads++) {
		ssize_t r;

		left = net_stream_parse(s, &budget);
		if (left < 0) {
			net_stream_end(s, left);
			return;
		}
		if (left || reads == NET_STREAM_READS)
			break;
		net_stream_compact(s);
		if (s->rend == NET_STREAM_RBUF)
			break;
		r = recv(s->fd, s->rbuf + s->rend, NET_STREAM_RBUF - s->rend, MSG_DONTWAIT);
		if (r > 0) {
			s->rend += (uint32_t)r;
		} else if (r == 0) {
			net_stream_end(s, 0);
			return;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			net_stream_end(s, -errno);
			return;
		}
	}
	if (left && net_rx_room(s->be.net))
		net_stream_defer(s); /* the budget ran out: the rest later */
	else if (left)
		s->starved = true; /* net_stream_room comes back */
	else
		net_stream_poll(s, &s->rd_op, &s->rd_polling, POLLIN);
}

static void net_stream_readable(void *opaque, int res, bool more)
{
	struct net_stream *s = opaque;

	(void)more;
	s->rd_polling = false;
	if (s->down)
		return;
	if (res < 0 && ++s->errors > NET_STREAM_POLL_RETRIES) {
		net_stream_end(s, res);
		return;
	}
	if (res >= 0)
		s->errors = 0;
	net_stream_pass(s);
}

static void net_stream_deferred(void *opaque, int res, bool more)
{
	struct net_stream *s = opaque;

	(void)res;
	(void)more;
	s->deferred = false;
	if (!s->down)
		net_stream_pass(s);
}

/* net_stream_flush: wbuf into the socket, as much as it takes; 0 or -errno. */
static int net_stream_flush(struct net_stream *s)
{
	while (s->wlen) {
		ssize_t w = send(s->fd, s->wbuf, s->wlen, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		memmove(s->wbuf, s->wbuf + w, s->wlen - (size_t)w);
		s->wlen -= (uint32_t)w;
	}
	return 0;
}

static void net_stream_writable(void *opaque, int res, bool more)
{
	struct net_stream *s = opaque;
	int err;

	(void)res;
	(void)more;
	s->wr_polling = false;
	if (s->down)
		return;
	err = net_stream_flush(s);
	if (err) {
		net_stream_end(s, err);
		return;
	}
	if (s->wlen)
		net_stream_poll(s, &s->wr_op, &s->wr_polling, POLLOUT);
	if (s->tx_wanted && NET_STREAM_WBUF - s->wlen >= NET_STREAM_HDR + NET_MAX_FRAME) {
		/* Room for a whole frame: the device's ring may go on. */
		s->tx_wanted = false;
		net_tx_ready(s->be.net);
	}
}

int net_stream_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
	struct net_stream *s = (struct net_stream *)be;
	uint32_t hdr = htonl((uint32_t)len);
	size_t done = 0, total = NET_STREAM_HDR + len;

	if (s->down)
		return -ENOTCONN;
	if (len > NET_STREAM_MAX_LEN)
		return -EMSGSIZE;
	if (!s->wlen) {
		struct iovec iov[2] = {
			{ .iov_base = &hdr, .iov_len = NET_STREAM_HDR },
			{ .iov_base = (void *)(uintptr_t)frame, .iov_len = len },
		};
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t w;

		do
			w = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			int err = -errno;

			/* The transport lock is held here: the read side
			 * finds out why, on a later pass, and ends it. */
			net_stream_defer(s);
			return err;
		}
		done = w < 0 ? 0 : (size_t)w;
		if (done == total)
			return 0;
	} else if (s->wlen + total > NET_STREAM_WBUF) {
		/* The peer is behind: the frame stays in the guest's ring
		 * until net_stream_writable made room (the poll is armed:
		 * wlen is not 0). */
		s->tx_wanted = true;
		return -EAGAIN;
	}
	/* The rest of this frame after what is waiting, so the stream
	 * stays whole. */
	for (; done < total; done++)
		s->wbuf[s->wlen++] = done < NET_STREAM_HDR ? ((const uint8_t *)&hdr)[done]
		                                           : frame[done - NET_STREAM_HDR];
	net_stream_poll(s, &s->wr_op, &s->wr_polling, POLLOUT);
	return 0;
}

void net_stream_room(struct net_backend *be)
{
	struct net_stream *s = (struct net_stream *)be;

	if (s->starved) {
		s->starved = false;
		net_stream_defer(s); /* frames wait in rbuf */
	} else {
		/* Armed already, unless the ring was full then. */
		net_stream_poll(s, &s->rd_op, &s->rd_polling, POLLIN);
	}
}

void net_stream_init(struct net_stream *s, struct net *n, int fd, const struct net_backend_ops *ops,
                     void (*on_down)(struct net_stream *s, int err))
{
	s->be = (struct net_backend){ .ops = ops, .net = n };
	s->fd = fd;
	s->on_down = on_down;
	s->rd_op = (struct loop_op){ .cb = net_stream_readable, .opaque = s };
	s->wr_op = (struct loop_op){ .cb = net_stream_writable, .opaque = s };
	s->defer_op = (struct loop_op){ .cb = net_stream_deferred, .opaque = s };
	s->rd_polling = s->wr_polling = s->deferred = s->down = s->starved = false;
	s->tx_wanted = false;
	s->skip = s->roff = s->rend = s->wlen = 0;
	s->errors = 0;
	s->rx_flags = 0;
}

void net_stream_start(struct net_stream *s)
{
	net_stream_poll(s, &s->rd_op, &s->rd_polling, POLLIN);
}

void net_stream_fini(struct net_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

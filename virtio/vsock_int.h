/* SPDX-License-Identifier: MIT */
/*
 * vsock_int: virtio-vsock's private header, shared by vsock.c (the device
 * model and the tx queue), vsock_rx.c (delivery to the guest) and
 * vsock_uds.c (the host's unix sockets): a connection's state and the
 * calls between the three. Nothing outside them includes it but their
 * unit test and fuzzer.
 */
#ifndef KVMBOX_VIRTIO_VSOCK_INT_H
#define KVMBOX_VIRTIO_VSOCK_INT_H

#include "virtio/vsock.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum vsock_state {
	VSOCK_S_LINE,    /* host-initiated: reading the CONNECT line */
	VSOCK_S_REQUEST, /* host-initiated: REQUEST sent or queued, awaiting RESPONSE */
	VSOCK_S_OPEN,    /* relaying */
	VSOCK_S_DEAD,    /* host socket closed; freed once no poll is armed */
};

/* Control packets a connection owes the guest (bits of vsock_conn.pending). */
#define VSOCK_P_REQUEST        0x01u
#define VSOCK_P_RESPONSE       0x02u
#define VSOCK_P_CREDIT_UPDATE  0x04u
#define VSOCK_P_CREDIT_REQUEST 0x08u
#define VSOCK_P_SHUTDOWN       0x10u

struct vsock;

struct vsock_conn {
	struct vsock *v;
	int fd; /* the host socket; -1 once closed */
	enum vsock_state state;
	uint32_t local_port; /* host side */
	uint32_t peer_port;  /* guest side */
	unsigned int pending;
	uint32_t shutdown_flags; /* with VSOCK_P_SHUTDOWN */

	bool readable;        /* the host socket has data or EOF to look at */
	bool host_eof;        /* the host will send no more */
	bool guest_shut_rcv;  /* the guest will receive no more (§5.10.6.5) */
	bool guest_shut_send; /* the guest will send no more */
	bool credit_asked;    /* CREDIT_REQUEST sent since the last update */

	/* §5.10.6.3 credit. Guest side: what it told us last (untrusted). */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t tx_cnt; /* payload bytes sent to the guest */
	/* Our side: received from the guest, forwarded to the host socket,
	 * and the fwd_cnt the guest last heard. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;

	uint8_t *buf; /* VSOCK_BUF_ALLOC ring of guest data for the host, lazily */
	uint32_t buf_head, buf_len;

	char line[VSOCK_LINE_MAX];
	uint32_t line_len;
	/* vsock_connect_stream's: no "OK" line for fd, and these bytes go to
	 * the guest before any of fd's. */
	bool raw;
	uint8_t hello[VSOCK_LINE_MAX];
	uint32_t hello_len, hello_off;

	struct loop_op rd_op, wr_op; /* one-shot polls: POLLIN, POLLOUT */
	bool rd_armed, wr_armed;
	bool cancelled;       /* poll removal submitted (dead connections) */
	bool local;           /* from vsock_connect_local: may use VSOCK_LOCAL_RESERVE */
	uint64_t deadline_ns; /* LINE, REQUEST: reset then (CLOCK_MONOTONIC) */
};

/* All of these: main thread, transport lock held, unless said otherwise. */
/* vsock_conn_new: a connection on fd, or NULL when no slot is left for its
 * kind (local: vsock_connect_local's) or memory is short. */
struct vsock_conn *vsock_conn_new(struct vsock *v, int fd, enum vsock_state state, bool local);
/* vsock_conn_room: whether a connection of that kind may be added now. */
bool vsock_conn_room(const struct vsock *v, bool local);
/* vsock_conn_close: close the host socket; rst: owe the guest an RST. */
void vsock_conn_close(struct vsock_conn *c, bool rst);
void vsock_queue_rst(struct vsock *v, uint32_t local_port, uint32_t peer_port, bool reply);
uint32_t vsock_alloc_port(struct vsock *v);
/* vsock_rx_process: deliver what is owed to the guest into rx buffers, at
 * most VSOCK_BUDGET (vsock_rx.c). */
void vsock_rx_process(struct vsock *v);
/* vsock_defer: a queue stopped at VSOCK_BUDGET: look at both again on a later pass. */
void vsock_defer(struct vsock *v);
/* Queue indices (§5.10.2) and the size of a packet header (§5.10.6). */
#define VSOCK_RXQ  0u
#define VSOCK_TXQ  1u
#define VSOCK_EVTQ 2u
#define VSOCK_HDR  44u
/* vsock_chain_iov: v->iov for len bytes at off of v->chain's (writable) segments. */
int vsock_chain_iov(struct vsock *v, bool writable, uint32_t off, uint32_t len);

__attribute__((warn_unused_result)) int vsock_uds_listen(struct vsock *v);
/* vsock_uds_listen_arm: poll the listening socket again; 0 or -EBUSY. */
int vsock_uds_listen_arm(struct vsock *v);

/* vsock_timer.c: the device's timers. */
/* vsock_accept_backoff: accept failed with err (out of fds or memory):
 * rest the listener for VSOCK_ACCEPT_BACKOFF_MS, say so once. */
void vsock_accept_backoff(struct vsock *v, int err);
/* vsock_deadline_start: c (LINE or REQUEST) must move on within the
 * connect timeout, or be reset. */
void vsock_deadline_start(struct vsock_conn *c);
/* vsock_timer_idle: after a batch: arm a deadline timer that found no room. */
void vsock_timer_idle(struct vsock *v);
/* vsock_timer_init: the timers' ops (vsock_init). */
void vsock_timer_init(struct vsock *v);
/* vsock_uds_connect: a connected nonblocking socket to "<uds_path>_<port>", or -errno. */
int vsock_uds_connect(struct vsock *v, uint32_t port);
void vsock_uds_arm(struct vsock_conn *c);
void vsock_uds_cancel(struct vsock_conn *c);
/*
 * vsock_uds_write: len bytes of guest data from iov to the host socket, the
 * part that would block kept in c->buf; rx_cnt and fwd_cnt follow. Returns
 * 0, or -errno (the socket is broken, or -ENOBUFS: the guest ignored our
 * credit). The caller RSTs on an error.
 */
int vsock_uds_write(struct vsock_conn *c, const struct iovec *iov, int iovcnt, uint32_t len);
/* vsock_uds_open: the guest accepted a host-initiated connection: "OK <port>\n". */
int vsock_uds_open(struct vsock_conn *c);
/* vsock_uds_peek: 1 data waiting, 0 EOF, -EAGAIN none, -errno broken. */
int vsock_uds_peek(struct vsock_conn *c);

#endif

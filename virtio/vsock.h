/* SPDX-License-Identifier: MIT */
/*
 * vsock: virtio-vsock (virtio 1.2 §5.10), stream sockets only, with
 * Firecracker's "hybrid" unix-socket backend on the host side.
 *
 * Host-initiated: the VMM listens on uds_path. A host client connects and
 * writes "CONNECT <port>\n"; the device sends the guest a REQUEST from a
 * fresh host port (>= 1024, unique among live connections) to <port>; when
 * the guest answers RESPONSE the client reads "OK <host_port>\n" and the
 * stream is the guest's socket from then on. RST (or a bad line) closes it.
 * Guest-initiated: a REQUEST to cid 2 port P connects (nonblocking) to the
 * unix socket "<uds_path>_<P>": RESPONSE when that works, RST otherwise.
 *
 * Queues (§5.10.2): 0 rx (device -> driver packets), 1 tx (driver ->
 * device), 2 event. The event queue is never used: TRANSPORT_RESET
 * (§5.10.6.6) only matters across live migration, which kvmbox lacks.
 *
 * Flow control (§5.10.6.3): we advertise VSOCK_BUF_ALLOC per connection.
 * Guest data is written to the host socket at once; what would block is
 * kept (at most buf_alloc bytes, since the guest must respect our credit)
 * and fwd_cnt only advances as bytes reach the socket, so a slow host
 * reader stops the guest. Host data is read only into rx buffers the guest
 * posted and only up to the guest's credit; with no credit the socket is
 * not read (and not polled) until a CREDIT_UPDATE.
 *
 * Everything in a tx packet comes from the guest: a short header, a len
 * beyond the chain or VSOCK_MAX_PKT, a wrong type or op, data for no
 * connection or beyond our credit get an RST (never an RST for an RST);
 * packets with a foreign src_cid or a dst_cid other than 2 are dropped.
 * Queue violations set DEVICE_NEEDS_RESET. Connections, pending RSTs and
 * buffered bytes are bounded.
 *
 * Threading (mmio.h): all queue and socket work runs on the main thread
 * with the transport lock held (queue_notify has it; the socket callbacks
 * and the idle hook take it). ops->reset runs on a vCPU thread: it closes
 * every host socket and marks the connections dead; the idle hook frees
 * them once their polls are gone. Call vsock_destroy only when the loop
 * will not run again (then loop_destroy), as for blk.
 *
 * Files: vsock.c (the device model and the tx queue), vsock_rx.c (delivery
 * to the guest), vsock_uds.c (the host's unix sockets); vsock_int.h is
 * what they share, and nothing else includes it but their tests.
 */
#ifndef KVMBOX_VIRTIO_VSOCK_H
#define KVMBOX_VIRTIO_VSOCK_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/mmio.h"
#include "vmm/loop.h"

#define VSOCK_QUEUE_SIZE 256
#define VSOCK_HOST_CID   2u /* §5.10.4: the host's well-known CID */
#define VSOCK_MAX_CONNS  1024u
/*
 * Of VSOCK_MAX_CONNS, slots only vsock_connect_local may take: one per
 * control client (CONTROL_MAX_CONNS), and one for the VMM's own stream
 * to the agent (the guest's metrics: vmm/control/control_guest.c), so that
 * guest connections and host clients of the unix socket can never lock
 * the control socket out of the agent.
 */
#define VSOCK_LOCAL_RESERVE 65u
/*
 * A host client has this long to write its CONNECT line, and the guest
 * this long to answer the REQUEST (RESPONSE or RST); then the connection
 * is reset and the client sees end-of-file. The guest may still be
 * booting when the client connects: 60 s, as the control socket waits
 * for the agent (docs/protocol.md).
 */
#define VSOCK_CONNECT_TIMEOUT_MS 60000u
/* After EMFILE (or ENFILE, ENOBUFS, ENOMEM) from accept, the listener
 * rests this long instead of polling a backlog it cannot take. */
#define VSOCK_ACCEPT_BACKOFF_MS 100
#define VSOCK_BUF_ALLOC         (64u * 1024) /* our buf_alloc: also the cap of buffered bytes */
#define VSOCK_MAX_PKT           (64u * 1024) /* the largest payload accepted or sent */
#define VSOCK_LINE_MAX          32u          /* "CONNECT <port>\n" with its newline */
#define VSOCK_FIRST_PORT        1024u        /* host ports for host-initiated connections */
#define VSOCK_MAX_RSTS          1024u        /* RSTs waiting for rx buffers */
/*
 * Chains per queue per pass of the main loop: past it, tx and rx come back
 * through the loop (loop_defer), so that a guest which keeps a queue busy
 * (re-posted packets, rx buffers eaten by credit updates) cannot keep the
 * main thread to itself (STYLE.md item 14). A quarter of the ring.
 */
#define VSOCK_BUDGET 64u
/* Tell the guest about freed buffer space once this much was forwarded. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_BUF_ALLOC / 4)

struct vsock_conn;

/* An RST owed to the guest for a connection that has no state (any more). */
struct vsock_rst {
	uint32_t local_port, peer_port;
};

struct vsock_stats {
	uint64_t tx_packets, rx_packets, tx_bytes, rx_bytes;
	uint64_t dropped;   /* malformed or foreign packets */
	uint64_t rsts_sent; /* includes replies to bad packets */
	uint64_t rsts_lost; /* RST ring full */
	uint64_t host_conns, guest_conns;
	uint64_t conns_refused; /* over max_conns (or the local reserve) */
	uint64_t accept_errors; /* accept4 out of descriptors or memory */
	uint64_t timeouts;      /* connections reset at their connect deadline */
	uint64_t abandoned;     /* clients that left while the guest was asked */
	uint64_t guest_refused; /* REQUESTs of ours the guest answered with an RST */
	uint64_t deferred;      /* passes that stopped at VSOCK_BUDGET */
};

struct vsock {
	struct virtio_mmio transport;
	struct loop *loop;
	uint64_t guest_cid;
	char *uds_path;
	int dir_fd;           /* uds_path's folder (O_PATH): guest connects go beneath it */
	const char *uds_base; /* uds_path's last component, within uds_path */
	int listen_fd;
	struct loop_op listen_op;
	bool listen_armed;
	struct loop_op backoff_op; /* the listener's rest after EMFILE */
	struct __kernel_timespec backoff_ts;
	bool backoff_armed;
	bool accept_warned;         /* said once that accept runs short */
	struct loop_op deadline_op; /* the earliest connect deadline */
	struct __kernel_timespec deadline_ts;
	bool deadline_armed, deadline_wanted;
	uint32_t connect_timeout_ms; /* VSOCK_CONNECT_TIMEOUT_MS; tests shorten it */
	unsigned int max_conns;      /* connections not from vsock_connect_local */
	unsigned int nr_local;       /* connections from vsock_connect_local */
	bool notify_pending[2];      /* rx, tx: used entries to signal at idle */
	struct loop_op resume_op;    /* loop_defer: the rest after VSOCK_BUDGET */
	bool resume_armed;           /* resume_op is in the ring */
	bool resume_wanted;          /* loop_defer found the ring full: the idle hook retries */
	uint32_t next_port;
	unsigned int nr_conns;
	unsigned int rr; /* round robin start for rx delivery */
	struct vsock_conn *conns[VSOCK_MAX_CONNS];
	unsigned int rst_head, nr_rsts;
	struct vsock_rst rsts[VSOCK_MAX_RSTS];
	struct vsock_stats stats;
	/* Scratch, last: written before each use, so vsock_init zeroes what
	 * comes before it only and leaves its pages untouched (40 KiB). */
	struct virtq_chain chain;         /* for virtq_pop */
	struct iovec iov[VIRTQ_MAX_SEGS]; /* payload segments */
};

struct vsock_params {
	uint64_t guest_cid;   /* >= 3 (§5.10.4: 0-2 are reserved) */
	const char *uds_path; /* the listening socket; "<uds_path>_<port>" for guest connects */
	/* Guest-initiated connections and unix-socket clients together, at
	 * most (0: and above, VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE); the VMM
	 * lowers it to fit RLIMIT_NOFILE (vm_size_fds). */
	unsigned int max_conns;
};

/*
 * vsock_init: listen on p->uds_path (mode 0600; an existing file there is
 * an error, -EADDRINUSE) and set up the device; v->transport is then ready
 * to be registered with mp. Returns 0, -EINVAL (cid < 3 or above
 * UINT32_MAX - 1, no path, a path too long for sun_path with the "_port"
 * suffix), or -errno.
 */
__attribute__((warn_unused_result)) int vsock_init(struct vsock *v, const struct vsock_params *p,
                                                   struct loop *loop, const struct gmem *mem,
                                                   const struct virtio_mmio_params *mp);

/* vsock_destroy: close every socket, unlink uds_path, free everything. */
void vsock_destroy(struct vsock *v);

/*
 * vsock_connect_local: what a host client's "CONNECT <port>\n" does, for a
 * socket the VMM holds itself (one end of a socketpair, nonblocking): the
 * guest is asked for port; the other end then reads "OK <n>\n" and the
 * stream, or end-of-file when the guest refused. On success the device
 * owns fd; on -EMFILE (too many connections) the caller still does. Main
 * thread; takes the transport lock.
 */
__attribute__((warn_unused_result)) int vsock_connect_local(struct vsock *v, uint32_t port, int fd);

/*
 * vsock_connect_stream: a host-initiated connection to guest port for a
 * connected socket of the VMM's own that speaks no handshake (a TCP
 * client of a published port): nothing is written to fd before the
 * guest's bytes, and hello (1 to VSOCK_LINE_MAX bytes: the relay's header)
 * reaches the guest before anything read from fd. When the guest refuses,
 * fd is closed, so its peer sees end-of-file. Unlike vsock_connect_local,
 * it counts against max_conns (the guest's and unix-socket clients'
 * share), never the local reserve. On success the device owns fd; on
 * -EMFILE (too many connections) or -EINVAL (hello's length) the caller
 * still does. Main thread; takes the transport lock.
 */
__attribute__((warn_unused_result)) int vsock_connect_stream(struct vsock *v, uint32_t port, int fd,
                                                             const void *hello, size_t hello_len);

/*
 * vsock_live: DRIVER_OK and not DEVICE_NEEDS_RESET: the queues may be
 * used. Transport lock held.
 */
bool vsock_live(const struct vsock *v);

#endif

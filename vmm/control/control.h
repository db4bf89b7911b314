/* SPDX-License-Identifier: MIT */
/*
 * control: the microVM's control socket (docs/protocol.md, "The control
 * socket"): one unix stream socket, mode 0600, speaking the frames of
 * proto/. Each client connection gets its own stream to the guest agent
 * (vsock port PROTO_AGENT_PORT, opened through the vsock device with
 * vsock_connect_local), so request ids, processes and back-pressure are
 * per client, exactly as if the client spoke to the agent itself. The VMM
 * decodes both directions: requests it answers itself (status, and stop
 * with force) never reach the guest, and nothing malformed from either side
 * is passed on (a hostile guest cannot feed a client bad frames).
 *
 * The agent may not be listening yet when a client connects (the guest is
 * booting): requests for it wait, and the link is retried every
 * CONTROL_RETRY_MS until CONTROL_LINK_TIMEOUT_MS after the first try; then
 * they are answered "unavailable". When the agent's stream ends (the guest
 * rebooted, or the agent closed it), the client's connection is closed
 * after what was already received for it.
 *
 * Everything runs on the main thread's event loop with one-shot polls;
 * nothing blocks. Buffers are bounded: a client that does not read stops
 * the agent's stream (and so, through vsock credit, the guest's writer),
 * and an agent that does not read stops the client's.
 */
#ifndef KVMBOX_VMM_CONTROL_H
#define KVMBOX_VMM_CONTROL_H

#include "proto/buf.h"
#include "proto/frame.h"
#include "vmm/loop.h"

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_MAX_CONNS       64
#define CONTROL_HIGH_WATER      (1u << 20) /* stop reading the other side above this */
#define CONTROL_RETRY_MS        20
#define CONTROL_LINK_TIMEOUT_MS 60000
#define CONTROL_MAX_WAITING     256 /* requests held while the agent link opens */

struct vm;
struct control;

enum control_link {
	CONTROL_LINK_NONE,    /* not needed yet */
	CONTROL_LINK_OPENING, /* asked the guest; waiting for "OK <n>\n" */
	CONTROL_LINK_RETRY,   /* refused; a timer runs before the next try */
	CONTROL_LINK_OPEN,    /* relaying */
	CONTROL_LINK_FAILED,  /* gave up, or the agent's stream ended */
};

/* One client connection. */
struct control_conn {
	struct control *ctl;
	int fd;      /* the client; -1 once closed */
	int link_fd; /* our end of the stream to the agent; -1 none */
	enum control_link link;
	uint64_t link_deadline_ns;
	char line[32]; /* the "OK <n>\n" line */
	size_t line_len;
	struct proto_decoder from_client, from_agent;
	struct proto_buf to_client, to_agent;
	/* Requests forwarded before the link opened: answered if it never does. */
	uint64_t waiting[CONTROL_MAX_WAITING];
	unsigned int nr_waiting;
	bool closing; /* close once to_client is flushed; read nothing more */
	bool dead;    /* closed; freed once nothing is armed */
	struct loop_op rd_op, wr_op, link_rd_op, link_wr_op, timer_op;
	bool rd_armed, wr_armed, link_rd_armed, link_wr_armed, timer_armed;
	struct __kernel_timespec timer_ts;
};

struct control {
	struct vm *vm;
	char *path; /* the listening socket, unlinked at destroy; NULL: none */
	int listen_fd;
	struct loop_op listen_op;
	struct control_conn *conns[CONTROL_MAX_CONNS];
	unsigned int nr_conns;
	bool ready; /* control_init succeeded */
};

/*
 * control_init: listen on path (NULL: no socket, only control_attach) with
 * mode 0600; an existing file there is an error (-EADDRINUSE). The VM's
 * loop and vsock device must exist. 0 or -errno.
 */
__attribute__((warn_unused_result)) int control_init(struct control *ctl, struct vm *vm,
                                                     const char *path);

/*
 * control_attach: serve a client already connected on fd (kvmbox run's own
 * command thread holds the other end of a socketpair). The control socket
 * owns fd from then on, also on failure. Main thread. 0 or -errno.
 */
__attribute__((warn_unused_result)) int control_attach(struct control *ctl, int fd);

/* control_destroy: close every connection and the socket; after loop_destroy. */
void control_destroy(struct control *ctl);

#endif

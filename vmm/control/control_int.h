/* SPDX-License-Identifier: MIT */
/*
 * control_int: control/'s private header, what control.c (connections, queues, polls),
 * control_link.c (the agent's stream), control_ops.c (the client's requests), control_metrics.c
 * (status and metrics), control_guest.c (the VMM's own stream to the agent) and control_ports.c
 * (published ports) share. All of it runs on the main thread.
 */
#ifndef KVMBOX_VMM_CONTROL_CONTROL_INT_H
#define KVMBOX_VMM_CONTROL_CONTROL_INT_H

#include "vmm/control/control.h"

#include "proto/buf.h"
#include "proto/frame.h"
#include "proto/msg.h"

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum control_link {
	CONTROL_LINK_NONE,    /* not needed yet */
	CONTROL_LINK_OPENING, /* asked the guest; waiting for "OK <n>\n" */
	CONTROL_LINK_RETRY,   /* refused; a timer runs before the next try */
	CONTROL_LINK_OPEN,    /* relaying */
	CONTROL_LINK_FAILED,  /* gave up, or the agent's stream ended */
};

/*
 * Status and metrics (control_metrics.c, control_guest.c): a request that
 * waits for the guest's part is an ask of its connection; a metrics
 * stream makes one every interval.
 */
#define CONTROL_MAX_ASKS          16      /* asks waiting per connection */
#define CONTROL_MAX_STREAMS       8       /* metrics streams per connection */
#define CONTROL_GUEST_WAIT_MS     1000    /* guest_wait_ms's default */
#define CONTROL_GUEST_WAIT_MAX_MS 60000   /* and its largest */
#define CONTROL_METRICS_MIN_MS    100     /* a stream's shortest interval_ms */
#define CONTROL_METRICS_MAX_MS    3600000 /* and its longest */
#define CONTROL_GUEST_STALE_MS    30000   /* a request the agent sits on this long: new stream */

struct control_ask {
	uint64_t id;          /* the request's (a stream's, for a sample) */
	uint64_t deadline_ms; /* monotonic: answered without the guest's part then */
	uint64_t wait_ms;     /* what the deadline was set from */
	bool event;           /* a stream's sample (a "metrics" event), not a reply */
};

struct control_stream {
	uint64_t id; /* the metrics request's */
	uint32_t interval_ms, wait_ms;
	uint64_t next_ms; /* monotonic: when the next sample is due */
};

struct control_glink;

/* The VMM's side of metrics, made at the first request that needs it. */
struct control_metrics {
	struct control_glink *link; /* the stream to the agent in use; NULL: none */
	struct control_glink
	    *links;       /* every stream not freed yet (dropped ones wait for their polls) */
	uint64_t next_id; /* of the VMM's own requests to the agent */
	int timer_fd;     /* timerfd: the earliest deadline or sample due */
	struct loop_op timer_op;
	uint64_t timer_ms; /* what timer_fd is set to; 0: disarmed */
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
	/* The link's deadline: armed with the first try, so that a guest that
	 * never answers (OPENING for ever) fails the requests that wait. */
	struct loop_op deadline_op;
	bool deadline_armed, deadline_cancelled;
	struct __kernel_timespec deadline_ts;
	/* Requests waiting for the guest's metrics, and metrics streams. */
	struct control_ask asks[CONTROL_MAX_ASKS];
	unsigned int nr_asks;
	struct control_stream streams[CONTROL_MAX_STREAMS];
	unsigned int nr_streams;
};

/* Chunks read per wake-up, so that one busy stream cannot starve the loop. */
#define CONTROL_READ_CHUNKS 16

/* control_pump: write what is queued, read what may be read, arm the polls. */
void control_pump(struct control_conn *c);
/* control_kill: close both streams; the idle hook frees c once no op is armed. */
void control_kill(struct control_conn *c);
/* control_queue: frame msg (consumed) with body onto b; 0 or -errno. */
int control_queue(struct proto_buf *b, json_t *msg, const void *body, size_t body_len);
/* control_buf_flush: write what fd takes; 0 (empty or would block) or -errno. */
int control_buf_flush(struct proto_buf *b, int fd);
/* control_error: queue an error reply to the client; a failure ends c. */
void control_error(struct control_conn *c, uint64_t id, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* control_feed: bytes from one side into dec, frames handled (control.c). */
int control_feed(struct control_conn *c, struct proto_decoder *dec, const uint8_t *p, size_t n,
                 bool from_client);
bool control_want_link(const struct control_conn *c);

/* control_link.c */
void control_link_start(struct control_conn *c);
void control_link_fail(struct control_conn *c, const char *why);
void control_timer_cb(void *opaque, int res, bool more);
void control_deadline_cb(void *opaque, int res, bool more);
/* control_link_disarm: cancel the link's deadline (opened, failed, or c died). */
void control_link_disarm(struct control_conn *c);
void control_read_link(struct control_conn *c);
/*
 * control_exec_apply: the VM's exec defaults (control_exec_defaults) into
 * msg, an exec request from a client. A request whose env cannot be read
 * is left as it is, for the agent to refuse. 0, -E2BIG (why says so) or
 * -ENOMEM.
 */
int control_exec_apply(const struct control *ctl, json_t *msg, struct proto_why *why);
/* control_exec_defaults_free: forget them (control_destroy). */
void control_exec_defaults_free(struct control *ctl);

/* control_forward: a frame from the client that the agent answers. */
void control_forward(struct control_conn *c, const struct proto_frame *f,
                     const struct proto_env *env);

/* control_metrics.c */
/*
 * control_metrics_frame: a request the VMM answers with what the VM uses
 * (status, metrics, metrics.cancel); false when f is none of them.
 */
bool control_metrics_frame(struct control_conn *c, const struct proto_frame *f,
                           const struct proto_env *env);
/*
 * control_metrics_guest: the guest's metrics came (guest: the agent's
 * reply, borrowed, untrusted) or cannot come (why): every ask of every
 * connection is answered.
 */
void control_metrics_guest(struct control *ctl, const json_t *guest, const char *why);
/* control_metrics_destroy: close and free ctl->metrics (after the loop). */
void control_metrics_destroy(struct control *ctl);

/* control_guest.c */
/* control_guest_ask: have the agent asked (the answer: control_metrics_guest, maybe at once). */
void control_guest_ask(struct control *ctl);
/* control_guest_waiting_ms: how long the request in flight has waited; 0: none. */
uint64_t control_guest_waiting_ms(const struct control *ctl);
void control_guest_destroy(struct control *ctl);
/* One published port (control_ports.c). */
struct control_port {
	struct control *ctl;
	struct control_port *next; /* in ctl->closing, once closed */
	uint64_t id;
	struct control_port_spec spec; /* host_addr, host_path: addr, path */
	char *addr, *path;             /* ours (malloc'd) */
	int fd;                        /* the listener; -1 once closed */
	char hello[32];                /* "CONNECT <guest_port>\n" for the agent */
	size_t hello_len;
	dev_t dev; /* host_path's socket, removed at close only if it is still ours */
	ino_t ino;
	uint64_t accepted, refused;
	bool closed, warned;
	struct loop_op accept_op, backoff_op;
	bool accept_armed, backoff_armed;
	struct __kernel_timespec backoff_ts;
};

/*
 * control_stale: whether the file at sa (bind said EADDRINUSE) is a socket
 * nobody listens on; then it is removed and 0 returned. A live socket is
 * -EADDRINUSE, any other file -EEXIST (control.c).
 */
struct sockaddr_un;
int control_stale(const struct sockaddr_un *sa);

/* control_ports.c */
/* control_ports_request: a ports.* request from the client. */
void control_ports_request(struct control_conn *c, const struct proto_frame *f,
                           const struct proto_env *env);
/* control_ports_idle: free the closed ports that have nothing armed (all: close them first). */
void control_ports_idle(struct control *ctl, bool all);

/* control_ops.c */
/* control_client_frame: one frame from the client (untrusted). */
void control_client_frame(struct control_conn *c, const struct proto_frame *f);

#endif

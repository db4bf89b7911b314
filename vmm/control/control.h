/* SPDX-License-Identifier: MIT */
/*
 * control/: the microVM's control socket, the public face of the
 * subsystem (docs/protocol.md, "The control socket"): one unix stream socket, mode 0600, speaking
 * the frames of proto/. Each client connection gets its own stream to the guest agent (vsock port
 * PROTO_AGENT_PORT, opened through the vsock device with vsock_connect_local), so request ids,
 * processes and back-pressure are per client, exactly as if the client spoke to the agent itself.
 * The VMM decodes both directions: requests it answers itself (status, and stop with force) never
 * reach the guest, and nothing malformed from either side is passed on (a hostile guest cannot feed
 * a client bad frames).
 *
 * The agent may not be listening yet when a client connects (the guest is
 * booting): requests for it wait, and the link is retried every
 * CONTROL_RETRY_MS until CONTROL_LINK_TIMEOUT_MS after the first try; then
 * they are answered "unavailable". When the agent's stream ends (the guest
 * rebooted, or the agent closed it), the client's connection is closed
 * after what was already received for it.
 *
 * The server knows the VM only through struct control_host: the event
 * loop, a way to open a stream to the agent, the VMM's own status fields
 * and a forced stop. The core fills it (vmm/vm_control.c); nothing here
 * includes vmm/vm.h, so the imports point one way.
 *
 * Files: control.c (connections, queues, polls), control_link.c (the
 * agent's stream), control_ops.c (the client's requests), control_metrics.c
 * (status and metrics: the VM's, the VMM's and the guest's use) and
 * control_guest.c (the VMM's own stream to the agent, which gives the
 * guest's), control_ports.c (published ports: listeners whose
 * connections go to the agent's relay port as raw vsock streams) and
 * control_defaults.c (what an exec request leaves out: the run's env,
 * working folder and user);
 * control_int.h is their private header.
 *
 * Everything runs on the main thread's event loop with one-shot polls;
 * nothing blocks. Buffers are bounded: a client that does not read stops
 * the agent's stream (and so, through vsock credit, the guest's writer),
 * and an agent that does not read stops the client's.
 */
#ifndef KVMBOX_VMM_CONTROL_CONTROL_H
#define KVMBOX_VMM_CONTROL_CONTROL_H

#include "vmm/loop.h"

#include <jansson.h>

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_MAX_CONNS       64
#define CONTROL_HIGH_WATER      (1u << 20) /* stop reading the other side above this */
#define CONTROL_RETRY_MS        20
#define CONTROL_LINK_TIMEOUT_MS 60000
#define CONTROL_MAX_WAITING     256 /* requests held while the agent link opens */

/*
 * control_host_ops: what the control server needs of the VM it serves. All
 * are called on the main thread; opaque is control_host's.
 */
struct control_host_ops {
	/* agent_connect: hand fd to the guest as a stream to the agent's vsock
	 * port (the VM owns fd from then on, also on failure). 0, -ENODEV when
	 * the VM has no vsock device, or -errno. */
	int (*agent_connect)(void *opaque, int fd);
	/* agent_linked: a stream to the agent opened (the boot timeline). */
	void (*agent_linked)(void *opaque);
	/* status: the VMM's fields of the "status" reply, into reply; 0 or -errno. */
	int (*status)(void *opaque, json_t *reply);
	/* stop: stop the VM now ("stop" with force). */
	void (*stop)(void *opaque);
	/*
	 * port_connect: hand fd (a client of a published port, nonblocking)
	 * to the guest as a stream to the agent's relay port
	 * (PROTO_RELAY_PORT), hello (the relay's header line) first. 0: the VM
	 * owns fd. -ENODEV (no vsock device) or -EMFILE (too many vsock
	 * connections): the caller still does. With fd < 0 it only says
	 * whether streams can be opened at all (0 or -ENODEV).
	 */
	int (*port_connect)(void *opaque, int fd, const void *hello, size_t hello_len);
};

struct control_host {
	const struct control_host_ops *ops;
	void *opaque;
	struct loop *loop; /* the main thread's */
};

struct control_conn;
struct control_metrics;
struct control_port;
struct proto_why;

/* Published ports (docs/protocol.md, ports.publish): at most this many at once. */
#define CONTROL_MAX_PORTS 64
/* Connections a published port accepts per wake-up (the rest on a later pass). */
#define CONTROL_PORT_BUDGET 16
/* After EMFILE (or ENFILE, ENOBUFS, ENOMEM) from accept, a port rests this long. */
#define CONTROL_PORT_BACKOFF_MS 100

/*
 * control_port_spec: what to publish: a TCP address or a unix socket on
 * the host, relayed to a TCP port on the guest's 127.0.0.1.
 */
struct control_port_spec {
	const char *host_addr; /* numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
	uint16_t host_port;    /* 0: one the kernel picks */
	const char *host_path; /* a unix socket to make instead (mode 0600); NULL: TCP */
	uint16_t guest_port;   /* 1..65535 */
};

struct control {
	struct control_host host;
	char *path; /* the listening socket, unlinked at destroy; NULL: none */
	int listen_fd;
	struct loop_op listen_op;
	struct control_conn *conns[CONTROL_MAX_CONNS];
	unsigned int nr_conns;
	/* How long the agent link may take to open: CONTROL_LINK_TIMEOUT_MS
	 * (docs/protocol.md's 60 s); tests shorten it. */
	uint32_t link_timeout_ms;
	struct control_metrics *metrics; /* control_metrics.c's; NULL until a request needs it */
	bool ready;                      /* control_init succeeded */
	/* Published ports, the VM's (not a client's): they outlive the
	 * connection that asked for them (control_ports.c). */
	struct control_port *ports[CONTROL_MAX_PORTS];
	unsigned int nr_ports;
	uint64_t last_port_id;
	struct control_port *closing; /* closed, freed once nothing of theirs is armed */
	/* What an exec request leaves out (control_defaults.c): the run's
	 * environment ("K=V"s, NULL-terminated), working folder and user;
	 * each NULL: none. */
	char **exec_env;
	char *exec_cwd;
	char *exec_user;
};

/*
 * control_init: serve the VM behind host; listen on path (NULL: no
 * socket, only control_attach) with mode 0600. A socket left there by a
 * VMM that was killed (connect is refused: nobody listens) is replaced; a
 * live one is -EADDRINUSE, any other file -EEXIST. host->loop must
 * exist. 0 or -errno.
 */
__attribute__((warn_unused_result)) int
control_init(struct control *ctl, const struct control_host *host, const char *path);

/*
 * control_attach: serve a client already connected on fd (kvmbox run's own
 * command thread holds the other end of a socketpair). The control socket
 * owns fd from then on, also on failure. Main thread. 0 or -errno
 * (-EUSERS when CONTROL_MAX_CONNS are served: fd got an error frame that
 * says so).
 */
__attribute__((warn_unused_result)) int control_attach(struct control *ctl, int fd);

/*
 * control_port_publish: listen as spec says and relay every connection
 * made there to the guest's spec->guest_port (control_ports.c). Its
 * description goes into info (port_id, guest_port, and host_addr with
 * host_port, or host_path: what ports.publish replies). Main thread. 0,
 * -EINVAL (a field: why says which), -E2BIG (CONTROL_MAX_PORTS), -ENODEV
 * (no vsock device), or the -errno of socket, bind or listen (why says
 * which step and address).
 */
__attribute__((warn_unused_result)) int control_port_publish(struct control *ctl,
                                                             const struct control_port_spec *spec,
                                                             json_t *info, struct proto_why *why);

/*
 * control_port_close: stop listening on published port id: new
 * connections are refused from now on; connections already relayed go on
 * until either end closes them. 0 or -ENOENT.
 */
int control_port_close(struct control *ctl, uint64_t id);

/*
 * control_exec_defaults: what every exec request the VM serves leaves out
 * comes from here, as `docker exec` takes a container's: env's entries
 * ("K=V") whose names the request's env does not set (unless it asks
 * env_clear), cwd where it has no cwd, user where it has no user. For a
 * microVM from an image these are the image's Env, WorkingDir and User
 * under the run's -e, -w, -u. Copied; any may be NULL. 0, -E2BIG (over
 * exec's 4096 entries) or -ENOMEM.
 */
__attribute__((warn_unused_result)) int control_exec_defaults(struct control *ctl,
                                                              const char *const *env,
                                                              const char *cwd, const char *user);

/* control_destroy: close every connection and the socket; after loop_destroy. */
void control_destroy(struct control *ctl);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * kvmbox_client: the one header a program includes to drive kvmbox
 * microVMs from C through their control sockets (docs/client.md), with
 * the operations of docs/protocol.md:
 *
 *   the connection    proto_client_open (the control socket), _adopt,
 *                     _close, and proto_client_call for any op
 *                     (proto/client.h);
 *   the VMM's ops     proto_client_status, _metrics, _metrics_watch,
 *                     _vm_stop, _ping (below);
 *   published ports   proto_client_ports_publish, _list, _close (below);
 *   processes         proto_client_exec (proto/client.h);
 *   files             proto_client_fs_* (proto/client_fs.h).
 *
 * Link with the kvmbox_proto library (it needs libc and jansson only).
 *
 * Every call is blocking, on one connection (struct proto_client) that a
 * thread owns while it calls: connections are cheap, open one per thread.
 * Every call returns 0 or -errno and fills a struct proto_why (may be
 * NULL) with a reason fit for a person. Errors the VMM or the guest sent
 * become an errno by one rule (proto_client_answer_errno): the errno an
 * error names (fs_error, port_error: -EACCES, -EADDRINUSE...), -ENOENT
 * for not_found, -EHOSTUNREACH for unavailable (the guest agent cannot be
 * reached), -EOPNOTSUPP for unknown_op, -EINVAL for bad_request, -E2BIG
 * for too_large (an op's own limit), -ECONNABORTED for an error about
 * the connection, -EIO for others (why holds "CODE: MESSAGE"). The
 * connection's own failures: -ETIMEDOUT (no answer within c->wait_ms),
 * -EPIPE (it closed), -EPROTO, -EBADMSG or -EMSGSIZE (a malformed frame;
 * also -EPROTO for a reply whose fields are not what the protocol says).
 * After those, close the connection.
 */
#ifndef KVMBOX_PROTO_KVMBOX_CLIENT_H
#define KVMBOX_PROTO_KVMBOX_CLIENT_H

#include "proto/bytes.h"
#include "proto/client.h"
#include "proto/client_fs.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The answer to status and metrics (docs/protocol.md, "status"): the
 * VMM's own fields, and a summary of the guest's. A field the reply did
 * not have is 0 (or ""); the whole reply is there for the rest (raw).
 */
struct proto_vm_status {
	char state[16];      /* "booting", "running" or "stopping" */
	uint64_t uptime_ms;  /* since kvmbox started */
	bool ready;          /* the guest marked ready ... */
	uint64_t ready_ms;   /* ... this long after kvmbox started */
	uint64_t vcpus;      /* vCPUs */
	uint64_t memory_mib; /* guest RAM, as configured */
	uint64_t cid;        /* the guest's vsock CID; 0: no vsock device */
	uint64_t exits;      /* exits to userspace, all vCPUs */
	uint64_t pid;        /* the VMM's process */
	char version[32];    /* kvmbox's version */
	struct {
		uint64_t user_ms, system_ms; /* CPU time of all its threads */
		uint64_t peak_rss_bytes, rss_bytes;
		uint64_t rss_anon_bytes;  /* its own heap and stacks */
		uint64_t rss_file_bytes;  /* mapped files */
		uint64_t rss_shmem_bytes; /* mostly guest RAM the guest touched */
		uint64_t threads;
	} vmm;
	bool has_guest; /* the guest's part came (else guest_error says why) */
	struct {
		uint64_t uptime_ms, cpus;
		uint64_t mem_total_bytes, mem_free_bytes, mem_available_bytes, mem_used_bytes;
	} guest; /* the guest's word: a compromised guest may report anything */
	char guest_error[160];
};

/*
 * proto_client_status: the VMM's status. guest_wait_ms: how long the VMM
 * may wait for the guest's part, 0..60000 (0: do not ask the guest; -1:
 * the VMM's default, 1000). out may be NULL; with raw, the reply object
 * itself in *raw (json_decref it), for the fields not in out.
 */
__attribute__((warn_unused_result)) int proto_client_status(struct proto_client *c,
                                                            int guest_wait_ms,
                                                            struct proto_vm_status *out,
                                                            json_t **raw, struct proto_why *why);

/* proto_client_metrics: one sample of metrics (the same fields as status). */
__attribute__((warn_unused_result)) int proto_client_metrics(struct proto_client *c,
                                                             int guest_wait_ms,
                                                             struct proto_vm_status *out,
                                                             json_t **raw, struct proto_why *why);

/*
 * proto_metrics_fn: one sample of a metrics stream (sample borrowed:
 * json_incref to keep it). Returns 0 for the next one, 1 to stop the
 * stream, or a -errno that stops it and is returned.
 */
typedef int proto_metrics_fn(const struct proto_vm_status *s, const json_t *sample, void *opaque);

/*
 * proto_client_metrics_watch: a sample every interval_ms (100..3600000),
 * each given to fn as it comes, until fn stops it; the stream is then
 * cancelled (metrics.cancel) before the call returns. The wait for each
 * sample is interval_ms plus c->wait_ms (none when wait_ms is 0). Returns
 * 0 when fn returned 1, fn's -errno, or the connection's.
 */
__attribute__((warn_unused_result)) int
proto_client_metrics_watch(struct proto_client *c, unsigned int interval_ms, int guest_wait_ms,
                           proto_metrics_fn *fn, void *opaque, struct proto_why *why);

/*
 * proto_client_vm_stop: end the VM (docs/protocol.md, the control
 * socket's stop). force false: the guest agent kills every process, syncs
 * and powers off; true: the VMM stops the VM at once (unflushed guest
 * writes are lost). The connection ending before the reply counts as
 * success, as the VM may go before its answer does.
 */
__attribute__((warn_unused_result)) int proto_client_vm_stop(struct proto_client *c, bool force,
                                                             struct proto_why *why);

/* proto_client_ping: a round trip to the guest agent (ping); 0 when it answered. */
__attribute__((warn_unused_result)) int proto_client_ping(struct proto_client *c,
                                                          struct proto_why *why);

/* What to publish (docs/protocol.md, ports.publish). */
struct proto_port_spec {
	uint16_t guest_port;   /* 1..65535, on the guest's 127.0.0.1 */
	const char *host_addr; /* a numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
	uint16_t host_port;    /* 0: one the kernel picks */
	const char *host_path; /* listen on a new unix socket here instead; NULL: TCP */
};

#define PROTO_ADDR_MAX 46 /* INET6_ADDRSTRLEN */

/* A published port, as ports.publish and ports.list tell it. */
struct proto_port {
	uint64_t port_id;
	uint16_t guest_port;
	char host_addr[PROTO_ADDR_MAX]; /* "" for a unix socket */
	uint16_t host_port;
	char host_path[PROTO_PATH_MAX + 1]; /* "" for TCP */
	uint64_t connections;               /* ports.list: handed to the guest so far */
	uint64_t refused;                   /* ports.list: reset at the vsock device's limit */
};

/*
 * proto_client_ports_publish: listen on the host and relay each
 * connection to the guest's port; the port (its id, and the host port
 * the kernel picked) in *out (may be NULL). Errors: -EINVAL (a field),
 * -E2BIG for too_large (64 ports already), -EHOSTUNREACH (no vsock
 * device), the errno of bind or listen (-EADDRINUSE, -EADDRNOTAVAIL,
 * -EACCES).
 */
__attribute__((warn_unused_result)) int
proto_client_ports_publish(struct proto_client *c, const struct proto_port_spec *spec,
                           struct proto_port *out, struct proto_why *why);

/*
 * proto_client_ports_list: the published ports, in the order they were
 * published, as a malloc'd array in *ports (free() it; NULL when none)
 * and their count in *n.
 */
__attribute__((warn_unused_result)) int proto_client_ports_list(struct proto_client *c,
                                                                struct proto_port **ports,
                                                                size_t *n, struct proto_why *why);

/*
 * proto_client_ports_close: stop listening for port_id (connections
 * already relayed go on); -ENOENT when there is no such port.
 */
__attribute__((warn_unused_result)) int
proto_client_ports_close(struct proto_client *c, uint64_t port_id, struct proto_why *why);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * client: the host side of docs/protocol.md, for kvmbox itself and for
 * programs that embed it: reach the guest agent through the VMM's vsock
 * unix socket ("CONNECT <port>\n" / "OK <n>\n"), send requests, read frames,
 * and run one command with its output copied to file descriptors.
 *
 * Blocking I/O on one socket: meant for a thread or process of its own.
 */
#ifndef KVMBOX_PROTO_CLIENT_H
#define KVMBOX_PROTO_CLIENT_H

#include <stdint.h>

#include "proto/frame.h"

#define PROTO_AGENT_PORT 1024

struct proto_client {
	int fd;
	struct proto_decoder dec;
	uint64_t next_id;
	uint8_t buf[65536];
	size_t have, off;
};

/*
 * proto_client_connect: connect to the vsock unix socket at path and open
 * a stream to guest port port. One try; 0 or -errno (-ECONNREFUSED when
 * the VMM or the guest refused: the agent may not be listening yet).
 */
__attribute__((warn_unused_result)) int proto_client_connect(struct proto_client *c,
                                                             const char *path, unsigned int port);

void proto_client_close(struct proto_client *c);

/* proto_client_send: one frame (msg is consumed, body may be NULL); 0 or -errno. */
__attribute__((warn_unused_result)) int proto_client_send(struct proto_client *c, json_t *msg,
                                                          const void *body, size_t body_len);

/* proto_client_next: the next frame; 0, -EPIPE at end of stream, or -errno. */
__attribute__((warn_unused_result)) int proto_client_next(struct proto_client *c,
                                                          struct proto_frame *f);

/* What an exec may ask for besides argv (docs/protocol.md, exec). */
struct proto_exec_opts {
	uint64_t timeout_ms; /* 0: none */
	int stdin_fd;        /* forwarded to the command's stdin until EOF; -1: none */
};

/*
 * proto_client_exec: run argv in the guest, copying its stdout
 * to out_fd and stderr to err_fd as it comes; opts may be NULL. *status is
 * its exit code, or 128 + N for death by signal N. Returns 0, or -errno
 * with a reason in why (the agent's error message for a failed exec).
 */
__attribute__((warn_unused_result)) int proto_client_exec(struct proto_client *c, char *const *argv,
                                                          const struct proto_exec_opts *opts,
                                                          int out_fd, int err_fd, int *status,
                                                          struct proto_why *why);

/* proto_client_stop: ask the agent to end the VM; 0 or -errno. */
int proto_client_stop(struct proto_client *c);

#endif

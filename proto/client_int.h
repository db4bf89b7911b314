/* SPDX-License-Identifier: MIT */
/*
 * client_int: proto/'s private header for the client: what client.c (the
 * connection) lends client_exec.c (proto_client_exec).
 */
#ifndef KVMBOX_PROTO_CLIENT_INT_H
#define KVMBOX_PROTO_CLIENT_INT_H

#include "proto/client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* proto_client_now_ms: a monotonic clock in ms, for the waits' deadlines. */
int64_t proto_client_now_ms(void);
/* proto_client_left_ms: what is left until deadline (ms) as a poll timeout; -1: none. */
int proto_client_left_ms(int64_t deadline);
/* proto_client_write_all: all of buf to fd, through short writes and EINTR. */
int proto_client_write_all(int fd, const void *buf, size_t len, bool sock);
/*
 * proto_client_take: a frame out of the bytes already read; 1 with one, 0
 * when the socket must be read for more, or the decoder's -errno.
 */
int proto_client_take(struct proto_client *c, struct proto_frame *f);
/* proto_client_read: one read of the socket (all read bytes taken); 0, -EPIPE or -errno. */
int proto_client_read(struct proto_client *c);

#endif

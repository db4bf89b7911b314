/* SPDX-License-Identifier: MIT */
/*
 * client_int: proto/'s private header for the client: what client.c (the
 * connection) lends client_exec.c (proto_client_exec), and what
 * client_fs.c (file operations) lends client_tar.c (trees in and out).
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

/* client_fs.c, for client_tar.c: transfers in and out. */
struct proto_fs_status;
#define PROTO_FS_CHUNK (256u << 10) /* bytes per fs.data request */
/* proto_fs_event_fn: one event of a transfer out; 0 or a -errno that ends it. */
typedef int proto_fs_event_fn(void *opaque, const struct proto_frame *f, struct proto_fs_status *st,
                              struct proto_why *why);
/* proto_fs_fill_fn: the next bytes of a transfer in into buf; *len 0 at the end. */
typedef int proto_fs_fill_fn(void *opaque, uint8_t *buf, size_t cap, size_t *len,
                             struct proto_fs_status *st, struct proto_why *why);
/* proto_client_fs_stream: req (consumed) sent, its events to on_event until its answer. */
int proto_client_fs_stream(struct proto_client *c, json_t *req, proto_fs_event_fn *on_event,
                           void *opaque, json_t **reply, struct proto_fs_status *st,
                           struct proto_why *why);
/*
 * proto_client_fs_upload: req (fs.write or fs.tar_in, consumed; eof is
 * set here) and fs.data requests with what fill gives, chunk after chunk;
 * the last answer's reply in *reply (json_decref it).
 */
int proto_client_fs_upload(struct proto_client *c, json_t *req, proto_fs_fill_fn *fill,
                           void *opaque, json_t **reply, struct proto_fs_status *st,
                           struct proto_why *why);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * control_int: what control.c (connections, queues, polls), control_link.c
 * (the agent's stream) and control_ops.c (the client's requests) share.
 * All of it runs on the main thread.
 */
#ifndef KVMBOX_VMM_CONTROL_INT_H
#define KVMBOX_VMM_CONTROL_INT_H

#include "vmm/control/control.h"

#include "proto/msg.h"

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
void control_read_link(struct control_conn *c);
/* control_forward: a frame from the client that the agent answers. */
void control_forward(struct control_conn *c, const struct proto_frame *f,
                     const struct proto_env *env);

/* control_ops.c */
/* control_client_frame: one frame from the client (untrusted). */
void control_client_frame(struct control_conn *c, const struct proto_frame *f);

#endif

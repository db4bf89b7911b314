/* SPDX-License-Identifier: MIT */
/*
 * proto/buf: a growable byte queue, data[head, head + len): the outgoing
 * frames of a connection (the agent's, the VMM's control socket) and the
 * agent's queued stdin. Appends grow it by doubling; consuming from the
 * front moves nothing until an append needs the room.
 */
#ifndef KVMBOX_PROTO_BUF_H
#define KVMBOX_PROTO_BUF_H

#include <stddef.h>
#include <stdint.h>

struct proto_buf {
	uint8_t *data;
	size_t head, len, cap;
};

/* proto_buf_append: n bytes of p at the end; 0 or -ENOMEM (b unchanged). */
__attribute__((warn_unused_result)) int proto_buf_append(struct proto_buf *b, const void *p,
                                                         size_t n);

/* proto_buf_consume: drop n <= b->len bytes from the front. */
void proto_buf_consume(struct proto_buf *b, size_t n);

/* proto_buf_free: release the storage; b is empty and reusable after. */
void proto_buf_free(struct proto_buf *b);

#endif

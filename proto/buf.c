// SPDX-License-Identifier: MIT
/*
 * proto/buf: the byte queue of proto/buf.h.
 */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int proto_buf_append(struct proto_buf *b, const void *p, size_t n)
{
	if (b->head && b->head + b->len + n > b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->head + b->len, p, n);
	b->len += n;
	return 0;
}

void proto_buf_consume(struct proto_buf *b, size_t n)
{
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
}

void proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	*b = (struct proto_buf){ 0 };
}

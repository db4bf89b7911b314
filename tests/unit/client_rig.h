/* SPDX-License-Identifier: MIT */
/*
 * client_rig.h: a fake control-socket server for the client library's
 * unit tests: a client adopted on one end of a socketpair, the test
 * playing the server on the other. Answers are written before a call
 * (they wait in the socket); the requests the client sent are read after.
 */
#ifndef KVMBOX_TESTS_CLIENT_RIG_H
#define KVMBOX_TESTS_CLIENT_RIG_H

#include "proto/client.h"
#include "proto/msg.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* pair: a client adopted on one end of a socketpair; the fake server's end in *peer. */
static inline int pair(struct proto_client *c, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	proto_client_adopt(c, sv[0]);
	c->wait_ms = 2000; /* a broken test fails, it does not hang */
	*peer = sv[1];
	return 0;
}

/* put: one frame (msg consumed) from the server to the client. */
static inline int put(int peer, json_t *msg, const void *body, size_t len)
{
	uint8_t *buf;
	size_t n;
	int err = proto_frame_pack(msg, body, len, &buf, &n);

	json_decref(msg);
	if (err)
		return err;
	err = write(peer, buf, n) == (ssize_t)n ? 0 : -EIO;
	free(buf);
	return err;
}

/* put_json: the frame whose message is the JSON text s. */
static inline int put_json(int peer, const char *s)
{
	json_t *m = json_loads(s, 0, NULL);

	return m ? put(peer, m, NULL, 0) : -EINVAL;
}

/* take: the next request the client sent, as a JSON object (json_decref it); NULL if none. */
static inline json_t *take(int peer)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	uint8_t b;
	size_t used;
	int err = 0, got = 0;

	/* Byte by byte: nothing of a later frame is read. */
	proto_decoder_init(&dec);
	while (!err && (got = proto_decoder_next(&dec, &f)) == 0)
		err = read(peer, &b, 1) == 1 ? proto_decoder_feed(&dec, &b, 1, &used) : -EIO;
	proto_decoder_destroy(&dec);
	free(f.body);
	return got == 1 ? f.msg : NULL;
}

/* is: whether field key of o is the string s. */
static inline int is(const json_t *o, const char *key, const char *s)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && strcmp(v, s) == 0;
}

/* num: field key of o as an integer (-1 when it is not one). */
static inline long long num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

#endif

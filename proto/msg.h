/* SPDX-License-Identifier: MIT */
/*
 * proto/msg: the message envelope of the control protocol on top of jansson
 * (docs/protocol.md): building requests, replies, events and errors, reading
 * and validating a received envelope, and typed field getters whose errors
 * name the field.
 *
 * Every received object is untrusted: the getters check presence, type and
 * range, and fill a proto_why that can go back to the peer as the message
 * of a "bad_request" error.
 */
#ifndef KVMBOX_PROTO_MSG_H
#define KVMBOX_PROTO_MSG_H

#include "proto/frame.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids are integers in [0, 2^53) so that JavaScript clients read them exactly. */
#define PROTO_ID_MAX   ((1ull << 53) - 1)
#define PROTO_MAX_NAME 64 /* bytes in an op, event or error code */

/* Error codes (the "code" of an error reply). */
#define PROTO_ERR_BAD_FRAME   "bad_frame"
#define PROTO_ERR_BAD_JSON    "bad_json"
#define PROTO_ERR_TOO_LARGE   "too_large"
#define PROTO_ERR_UNKNOWN_OP  "unknown_op"
#define PROTO_ERR_BAD_REQUEST "bad_request"
#define PROTO_ERR_NOT_FOUND   "not_found"
#define PROTO_ERR_UNAVAILABLE "unavailable"
#define PROTO_ERR_INTERNAL    "internal"
#define PROTO_ERR_FS          "fs_error"   /* with "errno" and "path" (docs/protocol.md) */
#define PROTO_ERR_PORT        "port_error" /* with "errno": ports.publish's bind or listen */

enum proto_type {
	PROTO_REQUEST,
	PROTO_REPLY,
	PROTO_EVENT,
	PROTO_ERROR,
};

/* A validated envelope. The strings are borrowed from the message object. */
struct proto_env {
	uint64_t id;
	enum proto_type type;
	const char *name;     /* "op" of a request, "event" of an event, else NULL */
	const char *err_code; /* error.code of an error, else NULL */
	const char *err_msg;  /* error.message of an error, else NULL */
};

/* Flags of the getters. */
#define PROTO_OPTIONAL 1u /* absent or null is fine: *out is left as it was */

/* proto_type_name: "request", "reply", "event", "error", or NULL. */
const char *proto_type_name(enum proto_type type);

/* proto_op_reserved: whether op is one of the names docs/protocol.md reserves. */
bool proto_op_reserved(const char *op);

/*
 * proto_name_valid: whether s is a well-formed op, event or error code:
 * 1..PROTO_MAX_NAME bytes of [a-z0-9_.], starting with a letter.
 */
bool proto_name_valid(const char *s);

/* proto_error_code: the error code for a -errno (see docs/protocol.md). */
const char *proto_error_code(int err);

/*
 * Builders: a new object with the envelope filled in, in *out (json_decref
 * it). Return 0, -EINVAL (id over PROTO_ID_MAX, a malformed name), -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_msg_request(json_t **out, uint64_t id,
                                                          const char *op);
__attribute__((warn_unused_result)) int proto_msg_reply(json_t **out, uint64_t id);
__attribute__((warn_unused_result)) int proto_msg_event(json_t **out, uint64_t id,
                                                        const char *event);

/*
 * proto_msg_error: an error reply {"id", "type": "error", "error": {"code",
 * "message"}}; the message is printf-formatted, and turned to printable ASCII
 * if it is not valid UTF-8. Same returns as the builders above.
 */
__attribute__((warn_unused_result, format(printf, 4, 5))) int
proto_msg_error(json_t **out, uint64_t id, const char *code, const char *fmt, ...);

/* Setters: add a field to obj. Return 0, -EINVAL (bad UTF-8, id range), -ENOMEM. */
__attribute__((warn_unused_result)) int proto_msg_set_string(json_t *obj, const char *key,
                                                             const char *val);
__attribute__((warn_unused_result)) int proto_msg_set_u64(json_t *obj, const char *key,
                                                          uint64_t val);
__attribute__((warn_unused_result)) int proto_msg_set_i64(json_t *obj, const char *key,
                                                          int64_t val);
__attribute__((warn_unused_result)) int proto_msg_set_bool(json_t *obj, const char *key, bool val);

/*
 * proto_msg_parse_env: read and validate the envelope of a received object
 * (untrusted): "id" an integer in [0, 2^53), "type" a known string, "op" a
 * valid name for a request, "event" one for an event, "error" an object with
 * a valid "code" and a string "message" for an error. Other fields are left
 * to the op. Returns 0 or -EINVAL with the reason in why.
 */
__attribute__((warn_unused_result)) int
proto_msg_parse_env(const json_t *msg, struct proto_env *env, struct proto_why *why);

/*
 * proto_msg_peek_id: the "id" of a message whose envelope may be bad, for
 * the error reply: the id when it is a valid one, else 0 (docs/protocol.md,
 * envelope errors).
 */
uint64_t proto_msg_peek_id(const json_t *msg);

/*
 * Getters of field key of obj (untrusted). Each returns 0 with the value in
 * *out, 0 with *out untouched when the field is absent or null and flags has
 * PROTO_OPTIONAL, or -EINVAL with a reason naming the field in why.
 * Strings are borrowed from obj and contain no NUL byte.
 */
__attribute__((warn_unused_result)) int proto_msg_get_string(const json_t *obj, const char *key,
                                                             const char **out, unsigned int flags,
                                                             struct proto_why *why);
/* proto_msg_get_u64: an integer in [0, max]. */
__attribute__((warn_unused_result)) int proto_msg_get_u64(const json_t *obj, const char *key,
                                                          uint64_t *out, uint64_t max,
                                                          unsigned int flags,
                                                          struct proto_why *why);
/* proto_msg_get_i64: an integer in [min, max]. */
__attribute__((warn_unused_result)) int proto_msg_get_i64(const json_t *obj, const char *key,
                                                          int64_t *out, int64_t min, int64_t max,
                                                          unsigned int flags,
                                                          struct proto_why *why);
__attribute__((warn_unused_result)) int proto_msg_get_bool(const json_t *obj, const char *key,
                                                           bool *out, unsigned int flags,
                                                           struct proto_why *why);
/* proto_msg_get_object: a borrowed JSON object. */
__attribute__((warn_unused_result)) int proto_msg_get_object(const json_t *obj, const char *key,
                                                             const json_t **out, unsigned int flags,
                                                             struct proto_why *why);
/*
 * proto_msg_get_strv: an array of at most max strings (argv, env), as a
 * malloc'd NULL-terminated array of borrowed strings in *out (free() it)
 * and the count in *count (may be NULL). Also -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_msg_get_strv(const json_t *obj, const char *key,
                                                           const char ***out, size_t *count,
                                                           size_t max, unsigned int flags,
                                                           struct proto_why *why);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * proto/bytes: byte strings in JSON, losslessly (docs/protocol.md, "Byte
 * strings"). Unix paths, arguments and environment strings are bytes,
 * anything but NUL; JSON strings are UTF-8. A byte string travels as a
 * JSON string when it is valid UTF-8 and as {"base64": "..."} (RFC 4648
 * section 4, padded) otherwise, so that no name is lost or altered. Also
 * the names of errno values, which file errors carry ("ENOENT").
 */
#ifndef KVMBOX_PROTO_BYTES_H
#define KVMBOX_PROTO_BYTES_H

#include "proto/frame.h"

#include <jansson.h>
#include <stddef.h>

#define PROTO_PATH_MAX 4095 /* bytes in a path, as PATH_MAX less its NUL */

/* proto_bytes_json: a new JSON value for n bytes of s: a string or the base64 object; NULL: ENOMEM.
 */
json_t *proto_bytes_json(const void *s, size_t n);

/*
 * proto_bytes_get: the bytes of v (a string or a {"base64"} object,
 * untrusted) as a malloc'd NUL-terminated copy in *out (free it), its
 * length in *len (may be NULL). At most max bytes, and no NUL among them.
 * 0, -EINVAL with why, or -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_bytes_get(const json_t *v, const char *key,
                                                        char **out, size_t *len, size_t max,
                                                        struct proto_why *why);

/*
 * proto_msg_get_path: field key of obj as a path: 1..PROTO_PATH_MAX bytes,
 * no NUL, in a malloc'd copy (*out untouched when absent with
 * PROTO_OPTIONAL). 0, -EINVAL with a reason naming the field, -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_msg_get_path(const json_t *obj, const char *key,
                                                           char **out, unsigned int flags,
                                                           struct proto_why *why);

/* proto_msg_set_path: field key of obj set to the bytes of path; 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int proto_msg_set_path(json_t *obj, const char *key,
                                                           const char *path);

/*
 * proto_msg_get_bytes: field key of obj as a byte string (a string or
 * {"base64"}) of at most max bytes and no NUL, in a malloc'd copy (*out
 * untouched when absent with PROTO_OPTIONAL; may be empty). 0, -EINVAL
 * with a reason naming the field, -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_msg_get_bytes(const json_t *obj, const char *key,
                                                            char **out, size_t max,
                                                            unsigned int flags,
                                                            struct proto_why *why);

/*
 * proto_bytes_array: a new JSON array of the NULL-terminated byte strings
 * v (argv, env), each as proto_bytes_json makes it; NULL: ENOMEM.
 */
json_t *proto_bytes_array(const char *const *v);

/*
 * proto_msg_get_bytesv: field key of obj (untrusted) as an array of at
 * most max byte strings (argv, env), each a string or {"base64"} without
 * NUL, in one malloc'd block *out: a NULL-terminated array of pointers
 * and the strings after it, so that free(*out) releases all. The count in
 * *count (may be NULL); *out untouched when absent with PROTO_OPTIONAL. 0,
 * -EINVAL with a reason naming the element ("argv[2]"), -ENOMEM.
 */
__attribute__((warn_unused_result)) int proto_msg_get_bytesv(const json_t *obj, const char *key,
                                                             char ***out, size_t *count, size_t max,
                                                             unsigned int flags,
                                                             struct proto_why *why);

/* proto_errno_name: "ENOENT" for ENOENT or -ENOENT; NULL for an unknown value. */
const char *proto_errno_name(int err);

/* proto_errno_value: the positive errno named name ("ENOENT"), or 0 if none. */
int proto_errno_value(const char *name);

#endif

// SPDX-License-Identifier: MIT
/*
 * proto/msg: building and validating protocol messages (msg.h).
 */
#include "proto/msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
	[PROTO_REQUEST] = "request",
	[PROTO_REPLY] = "reply",
	[PROTO_EVENT] = "event",
	[PROTO_ERROR] = "error",
};

/* The op names docs/protocol.md reserves; keep the two lists in step. */
static const char *const reserved_ops[] = {
	"status",        "stop",       "exec",        "exec.stdin", "exec.signal", "exec.resize",
	"fs.read",       "fs.write",   "fs.data",     "fs.stat",    "fs.list",     "fs.mkdir",
	"fs.remove",     "fs.rename",  "fs.chmod",    "fs.chown",   "fs.tar_out",  "fs.tar_in",
	"ports.publish", "ports.list", "ports.close", "ping",
};

const char *proto_type_name(enum proto_type type)
{
	if ((unsigned int)type >= sizeof(type_names) / sizeof(type_names[0]))
		return NULL;
	return type_names[type];
}

bool proto_op_reserved(const char *op)
{
	for (size_t i = 0; i < sizeof(reserved_ops) / sizeof(reserved_ops[0]); i++) {
		if (strcmp(op, reserved_ops[i]) == 0)
			return true;
	}
	return false;
}

bool proto_name_valid(const char *s)
{
	size_t n = 0;

	if (!s || !(*s >= 'a' && *s <= 'z'))
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= PROTO_MAX_NAME)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return false;
	}
	return true;
}

const char *proto_error_code(int err)
{
	switch (err) {
	case -EPROTO:
		return PROTO_ERR_BAD_FRAME;
	case -EBADMSG:
		return PROTO_ERR_BAD_JSON;
	case -EMSGSIZE:
	case -E2BIG:
		return PROTO_ERR_TOO_LARGE;
	case -ENOSYS:
	case -EOPNOTSUPP:
		return PROTO_ERR_UNKNOWN_OP;
	case -EINVAL:
		return PROTO_ERR_BAD_REQUEST;
	case -ENOENT:
		return PROTO_ERR_NOT_FOUND;
	case -EHOSTUNREACH:
		return PROTO_ERR_UNAVAILABLE;
	default:
		return PROTO_ERR_INTERNAL;
	}
}

/* set_new: json_object_set_new as 0 / -ENOMEM; val is consumed either way. */
static int set_new(json_t *obj, const char *key, json_t *val)
{
	if (!val)
		return -ENOMEM;
	return json_object_set_new(obj, key, val) == 0 ? 0 : -ENOMEM;
}

/* msg_new: an object holding id and type, in *out. */
static int msg_new(json_t **out, uint64_t id, enum proto_type type)
{
	json_t *o;

	*out = NULL;
	if (id > PROTO_ID_MAX)
		return -EINVAL;
	o = json_object();
	if (!o)
		return -ENOMEM;
	if (set_new(o, "id", json_integer((json_int_t)id)) ||
	    set_new(o, "type", json_string(type_names[type]))) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

/* msg_named: msg_new plus a name field (op or event) checked for form. */
static int msg_named(json_t **out, uint64_t id, enum proto_type type, const char *key,
                     const char *name)
{
	int err;

	*out = NULL;
	if (!proto_name_valid(name))
		return -EINVAL;
	err = msg_new(out, id, type);
	if (!err && (err = set_new(*out, key, json_string(name)))) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

int proto_msg_request(json_t **out, uint64_t id, const char *op)
{
	return msg_named(out, id, PROTO_REQUEST, "op", op);
}

int proto_msg_event(json_t **out, uint64_t id, const char *event)
{
	return msg_named(out, id, PROTO_EVENT, "event", event);
}

int proto_msg_reply(json_t **out, uint64_t id)
{
	return msg_new(out, id, PROTO_REPLY);
}

int proto_msg_error(json_t **out, uint64_t id, const char *code, const char *fmt, ...)
{
	struct proto_why ascii;
	char text[512];
	json_t *e, *m;
	va_list ap;
	int err;

	*out = NULL;
	if (!proto_name_valid(code))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m = json_string(text);
	if (!m) {
		/* Not UTF-8 (or truncated inside a character): keep what is ASCII. */
		proto_why_set(&ascii, "%s", text);
		m = json_string(ascii.text);
	}
	e = json_object();
	if (!e || !m) {
		json_decref(e);
		json_decref(m);
		return -ENOMEM;
	}
	if (set_new(e, "code", json_string(code))) {
		json_decref(e);
		json_decref(m);
		return -ENOMEM;
	}
	if (set_new(e, "message", m)) {
		json_decref(e);
		return -ENOMEM;
	}
	err = msg_new(out, id, PROTO_ERROR);
	if (!err && (err = set_new(*out, "error", e))) {
		json_decref(*out);
		*out = NULL;
	} else if (err) {
		json_decref(e);
	}
	return err;
}

int proto_msg_set_string(json_t *obj, const char *key, const char *val)
{
	json_t *s = json_string(val);

	if (!s)
		return -EINVAL; /* NULL or not UTF-8; ENOMEM reads the same */
	return set_new(obj, key, s);
}

int proto_msg_set_u64(json_t *obj, const char *key, uint64_t val)
{
	if (val > (uint64_t)INT64_MAX)
		return -EINVAL;
	return set_new(obj, key, json_integer((json_int_t)val));
}

int proto_msg_set_i64(json_t *obj, const char *key, int64_t val)
{
	return set_new(obj, key, json_integer((json_int_t)val));
}

int proto_msg_set_bool(json_t *obj, const char *key, bool val)
{
	return set_new(obj, key, json_boolean(val));
}

/*
 * field: look up key in obj (untrusted). Returns 1 with the value in *v,
 * 0 when absent or null and optional, -EINVAL when absent or null and not.
 */
static int field(const json_t *obj, const char *key, const json_t **v, unsigned int flags,
                 struct proto_why *why)
{
	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (*v && !json_is_null(*v))
		return 1;
	if (flags & PROTO_OPTIONAL)
		return 0;
	proto_why_set(why, "field \"%s\" is missing", key);
	return -EINVAL;
}

int proto_msg_get_string(const json_t *obj, const char *key, const char **out, unsigned int flags,
                         struct proto_why *why)
{
	const json_t *v;
	int r = field(obj, key, &v, flags, why);

	if (r <= 0)
		return r;
	/* A string built with json_stringn may hold a NUL: C callers would cut it. */
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		proto_why_set(why, "field \"%s\" must be a string without NUL bytes", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

/* get_int: an integer field in [min, max]; 1 present, 0 absent, -EINVAL. */
static int get_int(const json_t *obj, const char *key, int64_t *out, int64_t min, int64_t max,
                   unsigned int flags, struct proto_why *why)
{
	const json_t *v;
	int r = field(obj, key, &v, flags, why);
	json_int_t x;

	if (r <= 0)
		return r;
	if (!json_is_integer(v)) {
		proto_why_set(why, "field \"%s\" must be an integer", key);
		return -EINVAL;
	}
	x = json_integer_value(v);
	if (x < min || x > max) {
		proto_why_set(why, "field \"%s\" must be in [%lld, %lld]", key, (long long)min,
		              (long long)max);
		return -EINVAL;
	}
	*out = x;
	return 1;
}

int proto_msg_get_i64(const json_t *obj, const char *key, int64_t *out, int64_t min, int64_t max,
                      unsigned int flags, struct proto_why *why)
{
	int r = get_int(obj, key, out, min, max, flags, why);

	return r < 0 ? r : 0;
}

int proto_msg_get_u64(const json_t *obj, const char *key, uint64_t *out, uint64_t max,
                      unsigned int flags, struct proto_why *why)
{
	int64_t x;
	int r;

	/* jansson integers are signed 64-bit: no larger value can arrive. */
	if (max > (uint64_t)INT64_MAX)
		max = INT64_MAX;
	r = get_int(obj, key, &x, 0, (int64_t)max, flags, why);
	if (r > 0)
		*out = (uint64_t)x;
	return r < 0 ? r : 0;
}

int proto_msg_get_bool(const json_t *obj, const char *key, bool *out, unsigned int flags,
                       struct proto_why *why)
{
	const json_t *v;
	int r = field(obj, key, &v, flags, why);

	if (r <= 0)
		return r;
	if (!json_is_boolean(v)) {
		proto_why_set(why, "field \"%s\" must be true or false", key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

int proto_msg_get_object(const json_t *obj, const char *key, const json_t **out, unsigned int flags,
                         struct proto_why *why)
{
	const json_t *v;
	int r = field(obj, key, &v, flags, why);

	if (r <= 0)
		return r;
	if (!json_is_object(v)) {
		proto_why_set(why, "field \"%s\" must be an object", key);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int proto_msg_get_strv(const json_t *obj, const char *key, const char ***out, size_t *count,
                       size_t max, unsigned int flags, struct proto_why *why)
{
	const json_t *v, *s;
	const char **a;
	size_t n;
	int r = field(obj, key, &v, flags, why);

	if (r <= 0)
		return r;
	if (!json_is_array(v) || json_array_size(v) > max) {
		proto_why_set(why, "field \"%s\" must be an array of at most %zu strings", key,
		              max);
		return -EINVAL;
	}
	n = json_array_size(v);
	a = calloc(n + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s = json_array_get(v, i);
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
			proto_why_set(why, "field \"%s\"[%zu] must be a string without NUL bytes",
			              key, i);
			free(a);
			return -EINVAL;
		}
		a[i] = json_string_value(s);
	}
	*out = a;
	if (count)
		*count = n;
	return 0;
}

/* env_type: the "type" of msg (untrusted) as an enum, or -EINVAL. */
static int env_type(const json_t *msg, enum proto_type *type, struct proto_why *why)
{
	const char *s = NULL;
	int err = proto_msg_get_string(msg, "type", &s, 0, why);

	if (err)
		return err;
	for (unsigned int t = 0; t < sizeof(type_names) / sizeof(type_names[0]); t++) {
		if (strcmp(s, type_names[t]) == 0) {
			*type = (enum proto_type)t;
			return 0;
		}
	}
	proto_why_set(why, "unknown type \"%.32s\"", s);
	return -EINVAL;
}

/* env_name: a field that must hold a well-formed name (op, event, code). */
static int env_name(const json_t *obj, const char *key, const char **out, struct proto_why *why)
{
	int err = proto_msg_get_string(obj, key, out, 0, why);

	if (!err && !proto_name_valid(*out)) {
		proto_why_set(why, "field \"%s\" is not a valid name: \"%.*s\"", key,
		              PROTO_MAX_NAME, *out);
		err = -EINVAL;
	}
	return err;
}

uint64_t proto_msg_peek_id(const json_t *msg)
{
	json_t *id = json_object_get(msg, "id");

	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    (uint64_t)json_integer_value(id) <= PROTO_ID_MAX)
		return (uint64_t)json_integer_value(id);
	return 0;
}

int proto_msg_parse_env(const json_t *msg, struct proto_env *env, struct proto_why *why)
{
	const json_t *e;
	int err;

	memset(env, 0, sizeof(*env));
	if (!json_is_object(msg)) {
		proto_why_set(why, "the message is not an object");
		return -EINVAL;
	}
	err = proto_msg_get_u64(msg, "id", &env->id, PROTO_ID_MAX, 0, why);
	if (!err)
		err = env_type(msg, &env->type, why);
	if (err)
		return err;
	switch (env->type) {
	case PROTO_REQUEST:
		return env_name(msg, "op", &env->name, why);
	case PROTO_EVENT:
		return env_name(msg, "event", &env->name, why);
	case PROTO_ERROR:
		err = proto_msg_get_object(msg, "error", &e, 0, why);
		if (!err)
			err = env_name(e, "code", &env->err_code, why);
		if (!err)
			err = proto_msg_get_string(e, "message", &env->err_msg, 0, why);
		return err;
	default:
		return 0;
	}
}

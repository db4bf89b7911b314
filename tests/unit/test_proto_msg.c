// SPDX-License-Identifier: MIT
/* Unit tests of the protocol messages (proto/msg.c). */
#include "check.h"
#include "proto/bytes.h"
#include "proto/env.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* load: a JSON object from text, as the decoder would parse it. */
static json_t *load(const char *text)
{
	return json_loads(text, PROTO_JSON_LOAD_FLAGS, NULL);
}

/*
 * env_of: proto_msg_parse_env on text; the reason lands in why. The strings
 * of env are borrowed from the object: it stays in *keep for the caller to
 * json_decref, or is freed at once when keep is NULL.
 */
static int env_of(const char *text, struct proto_env *env, struct proto_why *why, json_t **keep)
{
	json_t *m = load(text);
	int err;

	if (keep)
		*keep = m;
	if (!m)
		return -1000;
	err = proto_msg_parse_env(m, env, why);
	if (!keep)
		json_decref(m);
	return err;
}

TEST(builders)
{
	struct proto_env env;
	json_t *m = NULL;

	CHECK_EQ(proto_msg_request(&m, 42, "fs.read"), 0);
	CHECK_EQ(proto_msg_set_string(m, "path", "/etc/hostname"), 0);
	CHECK_EQ(proto_msg_set_u64(m, "offset", 1ull << 40), 0);
	CHECK_EQ(proto_msg_set_i64(m, "delta", -5), 0);
	CHECK_EQ(proto_msg_set_bool(m, "follow", true), 0);
	CHECK_EQ(proto_msg_parse_env(m, &env, NULL), 0);
	CHECK_EQ(env.id, 42);
	CHECK_EQ(env.type, PROTO_REQUEST);
	CHECK(env.name && strcmp(env.name, "fs.read") == 0);
	json_decref(m);

	CHECK_EQ(proto_msg_reply(&m, PROTO_ID_MAX), 0);
	CHECK_EQ(proto_msg_parse_env(m, &env, NULL), 0);
	CHECK_EQ(env.id, PROTO_ID_MAX);
	CHECK_EQ(env.type, PROTO_REPLY);
	CHECK(env.name == NULL);
	json_decref(m);

	CHECK_EQ(proto_msg_event(&m, 0, "exec.stdout"), 0);
	CHECK_EQ(proto_msg_parse_env(m, &env, NULL), 0);
	CHECK_EQ(env.type, PROTO_EVENT);
	CHECK(strcmp(env.name, "exec.stdout") == 0);
	json_decref(m);
}

TEST(builders_refuse)
{
	json_t *m = (json_t *)1;

	CHECK_ERR(proto_msg_request(&m, PROTO_ID_MAX + 1, "ping"), -EINVAL);
	CHECK(m == NULL);
	CHECK_ERR(proto_msg_reply(&m, UINT64_MAX), -EINVAL);
	CHECK_ERR(proto_msg_request(&m, 1, ""), -EINVAL);
	CHECK_ERR(proto_msg_request(&m, 1, "Ping"), -EINVAL);
	CHECK_ERR(proto_msg_request(&m, 1, "1ping"), -EINVAL);
	CHECK_ERR(proto_msg_request(&m, 1, "pi ng"), -EINVAL);
	CHECK_ERR(proto_msg_request(&m, 1, NULL), -EINVAL);
	CHECK_ERR(proto_msg_event(&m, 1, "x\xc3\xa9"), -EINVAL);
	CHECK_ERR(proto_msg_error(&m, 1, "Bad-Code", "x"), -EINVAL);
	CHECK(proto_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	CHECK(
	    !proto_name_valid("a2345678901234567890123456789012345678901234567890123456789012345"));
	CHECK_EQ(proto_msg_reply(&m, 1), 0);
	CHECK_ERR(proto_msg_set_string(m, "s", "\xff"), -EINVAL);
	CHECK_ERR(proto_msg_set_u64(m, "n", UINT64_MAX), -EINVAL);
	json_decref(m);
}

TEST(error_frames)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	struct proto_env env;
	uint8_t *buf;
	size_t len, used;
	json_t *m;
	int err;

	CHECK_EQ(proto_msg_error(&m, 7, PROTO_ERR_NOT_FOUND, "no such file: %s", "/x"), 0);
	CHECK_EQ(proto_msg_parse_env(m, &env, NULL), 0);
	CHECK_EQ(env.type, PROTO_ERROR);
	CHECK_EQ(env.id, 7);
	CHECK(strcmp(env.err_code, "not_found") == 0);
	CHECK(strcmp(env.err_msg, "no such file: /x") == 0);
	json_decref(m);

	/* A message that is not UTF-8 still makes an error frame. */
	CHECK_EQ(proto_msg_error(&m, 0, PROTO_ERR_INTERNAL, "bad \xff byte"), 0);
	CHECK_EQ(proto_msg_parse_env(m, &env, NULL), 0);
	CHECK(strcmp(env.err_msg, "bad ? byte") == 0);
	json_decref(m);

	/* What a server does with a decoder error: answer, then close. */
	proto_decoder_init(&dec);
	err = proto_decoder_feed(&dec, "GET / HTTP/1.1\r\n", 16, &used);
	CHECK_ERR(err, -EPROTO);
	CHECK_EQ(proto_msg_error(&m, 0, proto_error_code(err), "%s", proto_decoder_why(&dec)), 0);
	proto_decoder_destroy(&dec);
	CHECK_EQ(proto_frame_pack(m, NULL, 0, &buf, &len), 0);
	json_decref(m);
	proto_decoder_init(&dec);
	CHECK_EQ(proto_decoder_feed(&dec, buf, len, &used), 0);
	CHECK_EQ(proto_decoder_next(&dec, &f), 1);
	CHECK_EQ(proto_msg_parse_env(f.msg, &env, NULL), 0);
	CHECK(strcmp(env.err_code, "bad_frame") == 0);
	CHECK(strcmp(env.err_msg, "bad magic 47 45 54 20") == 0);
	proto_frame_clear(&f);
	proto_decoder_destroy(&dec);
	free(buf);
}

TEST(error_codes)
{
	CHECK(strcmp(proto_error_code(-EPROTO), "bad_frame") == 0);
	CHECK(strcmp(proto_error_code(-EBADMSG), "bad_json") == 0);
	CHECK(strcmp(proto_error_code(-EMSGSIZE), "too_large") == 0);
	CHECK(strcmp(proto_error_code(-ENOSYS), "unknown_op") == 0);
	CHECK(strcmp(proto_error_code(-EINVAL), "bad_request") == 0);
	CHECK(strcmp(proto_error_code(-ENOENT), "not_found") == 0);
	CHECK(strcmp(proto_error_code(-EIO), "internal") == 0);
	CHECK(proto_op_reserved("exec.resize") && proto_op_reserved("ping"));
	CHECK(!proto_op_reserved("exec.") && !proto_op_reserved("PING"));
	CHECK(strcmp(proto_type_name(PROTO_EVENT), "event") == 0);
	CHECK(proto_type_name((enum proto_type)4) == NULL);
}

TEST(envelope_rejects)
{
	static const char *const bad[] = {
		"{\"type\":\"reply\"}",              /* no id */
		"{\"id\":-1,\"type\":\"reply\"}",    /* negative */
		"{\"id\":\"1\",\"type\":\"reply\"}", /* a string */
		"{\"id\":1.0,\"type\":\"reply\"}",   /* a real */
		"{\"id\":null,\"type\":\"reply\"}",
		"{\"id\":9007199254740992,\"type\":\"reply\"}", /* 2^53 */
		"{\"id\":1}",                                   /* no type */
		"{\"id\":1,\"type\":\"replies\"}",
		"{\"id\":1,\"type\":3}",
		"{\"id\":1,\"type\":\"request\"}", /* no op */
		"{\"id\":1,\"type\":\"request\",\"op\":7}",
		"{\"id\":1,\"type\":\"request\",\"op\":\"\"}",
		"{\"id\":1,\"type\":\"request\",\"op\":\"a b\"}",
		"{\"id\":1,\"type\":\"event\"}", /* no event */
		"{\"id\":1,\"type\":\"error\"}", /* no error */
		"{\"id\":1,\"type\":\"error\",\"error\":\"x\"}",
		"{\"id\":1,\"type\":\"error\",\"error\":{\"message\":\"m\"}}",
		"{\"id\":1,\"type\":\"error\",\"error\":{\"code\":\"Bad\",\"message\":\"m\"}}",
		"{\"id\":1,\"type\":\"error\",\"error\":{\"code\":\"internal\"}}",
	};
	struct proto_env env;
	struct proto_why why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why.text[0] = '\0';
		CHECK_ERR(env_of(bad[i], &env, &why, NULL), -EINVAL);
		CHECK(why.text[0] != '\0');
	}
	CHECK_ERR(env_of("{\"type\":\"reply\"}", &env, &why, NULL), -EINVAL);
	CHECK(strcmp(why.text, "field \"id\" is missing") == 0);
	CHECK_ERR(env_of("{\"id\":-1,\"type\":\"reply\"}", &env, &why, NULL), -EINVAL);
	CHECK(strstr(why.text, "\"id\" must be in [0, 9007199254740991]") != NULL);
	CHECK_ERR(env_of("{\"id\":1,\"type\":\"request\"}", &env, &why, NULL), -EINVAL);
	CHECK(strcmp(why.text, "field \"op\" is missing") == 0);
	CHECK_ERR(proto_msg_parse_env(NULL, &env, NULL), -EINVAL);
}

TEST(envelope_accepts)
{
	struct proto_env env;
	json_t *m;

	/* Unknown fields are the op's business; an unknown op is still an envelope. */
	CHECK_EQ(env_of("{\"id\":9007199254740991,\"type\":\"request\",\"op\":\"future.op\","
	                "\"x\":[1]}",
	                &env, NULL, &m),
	         0);
	CHECK_EQ(env.id, PROTO_ID_MAX);
	CHECK(strcmp(env.name, "future.op") == 0);
	json_decref(m);
	CHECK_EQ(env_of("{\"type\":\"reply\",\"id\":0,\"op\":5}", &env, NULL, NULL), 0);
	CHECK_EQ(env_of("{\"id\":3,\"type\":\"error\",\"error\":{\"code\":\"new_code\","
	                "\"message\":\"\"}}",
	                &env, NULL, &m),
	         0);
	CHECK(strcmp(env.err_code, "new_code") == 0);
	CHECK(strcmp(env.err_msg, "") == 0);
	json_decref(m);
}

TEST(getters)
{
	json_t *m = load("{\"cwd\":\"/tmp\",\"n\":5,\"neg\":-3,\"big\":9223372036854775807,"
	                 "\"b\":false,\"nul\":null,\"o\":{},\"argv\":[\"ls\",\"-l\"],"
	                 "\"mixed\":[\"a\",1],\"s\":\"x\"}");
	struct proto_why why;
	const char *s = "default";
	const json_t *o = NULL;
	uint64_t u = 77;
	int64_t i = 77;
	bool b = true;

	CHECK(m != NULL);
	CHECK_EQ(proto_msg_get_string(m, "cwd", &s, 0, &why), 0);
	CHECK(strcmp(s, "/tmp") == 0);
	s = "default";
	CHECK_EQ(proto_msg_get_string(m, "user", &s, PROTO_OPTIONAL, &why), 0);
	CHECK_EQ(proto_msg_get_string(m, "nul", &s, PROTO_OPTIONAL, &why), 0);
	CHECK(strcmp(s, "default") == 0);
	CHECK_ERR(proto_msg_get_string(m, "user", &s, 0, &why), -EINVAL);
	CHECK(strcmp(why.text, "field \"user\" is missing") == 0);
	CHECK_ERR(proto_msg_get_string(m, "n", &s, PROTO_OPTIONAL, &why), -EINVAL);
	CHECK(strcmp(why.text, "field \"n\" must be a string without NUL bytes") == 0);

	CHECK_EQ(proto_msg_get_u64(m, "n", &u, 5, 0, &why), 0);
	CHECK_EQ(u, 5);
	CHECK_ERR(proto_msg_get_u64(m, "n", &u, 4, 0, &why), -EINVAL);
	CHECK(strcmp(why.text, "field \"n\" must be in [0, 4]") == 0);
	CHECK_ERR(proto_msg_get_u64(m, "neg", &u, UINT64_MAX, 0, &why), -EINVAL);
	CHECK_EQ(proto_msg_get_u64(m, "big", &u, UINT64_MAX, 0, &why), 0);
	CHECK_EQ(u, INT64_MAX);
	u = 77;
	CHECK_EQ(proto_msg_get_u64(m, "nope", &u, 10, PROTO_OPTIONAL, &why), 0);
	CHECK_EQ(u, 77);
	CHECK_ERR(proto_msg_get_u64(m, "cwd", &u, 10, 0, &why), -EINVAL);
	CHECK_EQ(proto_msg_get_i64(m, "neg", &i, -3, 3, 0, &why), 0);
	CHECK_EQ(i, -3);
	CHECK_ERR(proto_msg_get_i64(m, "neg", &i, -2, 3, 0, &why), -EINVAL);

	CHECK_EQ(proto_msg_get_bool(m, "b", &b, 0, &why), 0);
	CHECK(!b);
	CHECK_ERR(proto_msg_get_bool(m, "n", &b, 0, &why), -EINVAL);
	CHECK_EQ(proto_msg_get_object(m, "o", &o, 0, &why), 0);
	CHECK(json_is_object(o));
	CHECK_ERR(proto_msg_get_object(m, "argv", &o, 0, NULL), -EINVAL);
	/* Getters on something that is not an object find nothing. */
	CHECK_ERR(proto_msg_get_string(json_object_get(m, "argv"), "x", &s, 0, NULL), -EINVAL);
	json_decref(m);
}

TEST(getter_strv)
{
	json_t *m = load("{\"argv\":[\"ls\",\"-l\"],\"mixed\":[\"a\",1],\"empty\":[],\"s\":\"x\"}");
	struct proto_why why;
	const char **v = NULL;
	size_t n = 99;

	CHECK_EQ(proto_msg_get_strv(m, "argv", &v, &n, 2, 0, &why), 0);
	CHECK_EQ(n, 2);
	CHECK(v && strcmp(v[0], "ls") == 0 && strcmp(v[1], "-l") == 0 && v[2] == NULL);
	free(v);
	CHECK_EQ(proto_msg_get_strv(m, "empty", &v, NULL, 2, 0, &why), 0);
	CHECK(v && v[0] == NULL);
	free(v);
	CHECK_ERR(proto_msg_get_strv(m, "argv", &v, &n, 1, 0, &why), -EINVAL);
	CHECK(strcmp(why.text, "field \"argv\" must be an array of at most 1 strings") == 0);
	CHECK_ERR(proto_msg_get_strv(m, "mixed", &v, &n, 8, 0, &why), -EINVAL);
	CHECK(strcmp(why.text, "field \"mixed\"[1] must be a string without NUL bytes") == 0);
	CHECK_ERR(proto_msg_get_strv(m, "s", &v, &n, 8, 0, &why), -EINVAL);
	v = NULL;
	CHECK_EQ(proto_msg_get_strv(m, "env", &v, &n, 8, PROTO_OPTIONAL, &why), 0);
	CHECK(v == NULL);
	/* A NUL inside a string (possible only in objects built locally). */
	CHECK_EQ(json_object_set_new(m, "nulstr", json_stringn("a\0b", 3)), 0);
	CHECK_EQ(json_object_set_new(m, "nularr", json_pack("[s#]", "a\0b", 3)), 0);
	CHECK_ERR(proto_msg_get_string(m, "nulstr", &(const char *){ NULL }, 0, &why), -EINVAL);
	CHECK_ERR(proto_msg_get_strv(m, "nularr", &v, &n, 8, 0, &why), -EINVAL);
	json_decref(m);
}

/* Byte strings (proto/bytes.h): UTF-8 as a string, anything else as base64. */
TEST(bytes_forms)
{
	static const char *const argv[] = { "printf", "%s|", "\xff\xfe", "\xc3\xa9", NULL };
	json_t *a = proto_bytes_array(argv), *m;
	struct proto_why why = { "" };
	char **v = NULL, *s = NULL;
	size_t n = 0, len = 0;

	CHECK(a && json_array_size(a) == 4);
	CHECK(json_is_string(json_array_get(a, 3))); /* é is UTF-8 */
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(a, 2), "base64")), "//4=") ==
	      0);
	m = json_object();
	CHECK_EQ(json_object_set_new(m, "argv", a), 0);
	CHECK_EQ(proto_msg_get_bytesv(m, "argv", &v, &n, 8, 0, &why), 0);
	CHECK_EQ(n, 4);
	for (size_t i = 0; v && i < 4; i++)
		CHECK(strcmp(v[i], argv[i]) == 0);
	CHECK(v && v[4] == NULL);
	free(v);
	/* A NUL travels as base64 (a string with \u0000 is refused), and is
	 * refused where a Unix string is wanted. */
	CHECK_EQ(json_object_set_new(m, "nul", proto_bytes_json("a\0b", 3)), 0);
	CHECK(json_is_object(json_object_get(m, "nul")));
	CHECK_ERR(proto_msg_get_bytes(m, "nul", &s, 16, 0, &why), -EINVAL);
	CHECK(strstr(why.text, "\"nul\" holds a NUL") != NULL);
	CHECK_EQ(json_object_set_new(m, "env", json_pack("[s{ss}]", "A=1", "base64", "YQBi")), 0);
	CHECK_ERR(proto_msg_get_bytesv(m, "env", &v, &n, 8, 0, &why), -EINVAL);
	CHECK(strstr(why.text, "\"env[1]\" holds a NUL") != NULL);
	/* Bad base64, extra keys, wrong types. */
	CHECK_EQ(json_object_set_new(m, "bad", json_pack("[{ss}]", "base64", "Zg=")), 0);
	CHECK_ERR(proto_msg_get_bytesv(m, "bad", &v, &n, 8, 0, &why), -EINVAL);
	CHECK(strstr(why.text, "bad[0]") && strstr(why.text, "base64"));
	CHECK_EQ(json_object_set_new(m, "two", json_pack("{ssss}", "base64", "Zg==", "x", "y")), 0);
	CHECK_ERR(proto_msg_get_bytes(m, "two", &s, 16, 0, &why), -EINVAL);
	CHECK_ERR(proto_msg_get_bytesv(m, "argv", &v, &n, 3, 0, &why), -EINVAL);
	CHECK_ERR(proto_msg_get_bytesv(m, "nul", &v, &n, 3, 0, &why), -EINVAL);
	/* Absent: fine when optional, and *out untouched. */
	v = NULL;
	CHECK_EQ(proto_msg_get_bytesv(m, "none", &v, &n, 3, PROTO_OPTIONAL, &why), 0);
	CHECK(v == NULL);
	CHECK_ERR(proto_msg_get_bytes(m, "none", &s, 16, 0, &why), -EINVAL);
	/* Limits: max bytes, and an empty string is a string. */
	CHECK_EQ(json_object_set_new(m, "u", json_pack("{ss}", "base64", "MDow")), 0);
	CHECK_ERR(proto_msg_get_bytes(m, "u", &s, 2, 0, &why), -EINVAL);
	CHECK_EQ(proto_msg_get_bytes(m, "u", &s, 3, 0, &why), 0);
	CHECK(s && strcmp(s, "0:0") == 0);
	free(s);
	CHECK_EQ(json_object_set_new(m, "e", json_string("")), 0);
	CHECK_EQ(proto_bytes_get(json_object_get(m, "e"), "e", &s, &len, 3, &why), 0);
	CHECK(s && len == 0 && s[0] == '\0');
	free(s);
	json_decref(m);
}

/* proto_env_sets: a name is set only by NAME=, whatever comes after. */
TEST(env_sets)
{
	const char *env[] = { "PATH=/bin", "HOMEX=1", "TERM", "EMPTY=", "=odd", NULL };

	CHECK(proto_env_sets(env, SIZE_MAX, "PATH=/usr/bin"));
	CHECK(proto_env_sets(env, SIZE_MAX, "PATH"));
	CHECK(proto_env_sets(env, SIZE_MAX, "EMPTY=x"));
	CHECK(!proto_env_sets(env, SIZE_MAX, "HOME=/root")); /* HOMEX is another name */
	CHECK(!proto_env_sets(env, SIZE_MAX, "PAT=x"));      /* nor a prefix of one */
	CHECK(!proto_env_sets(env, SIZE_MAX, "TERM=dumb"));  /* no '=': sets nothing */
	CHECK(proto_env_sets(env, SIZE_MAX, "=y"));          /* the empty name, as written */
	/* A count bounds the look; so does the first NULL; no list sets nothing. */
	CHECK(!proto_env_sets(env, 3, "EMPTY=x"));
	CHECK(proto_env_sets(env, 4, "EMPTY=x"));
	CHECK(!proto_env_sets(env, 0, "PATH=x"));
	CHECK(!proto_env_sets(NULL, SIZE_MAX, "PATH=x"));
}

CHECK_MAIN(CASE(builders), CASE(builders_refuse), CASE(error_frames), CASE(error_codes),
           CASE(envelope_rejects), CASE(envelope_accepts), CASE(getters), CASE(getter_strv),
           CASE(bytes_forms), CASE(env_sets))

// SPDX-License-Identifier: MIT
/* Unit tests of the protocol framing (proto/frame.c). */
#include "check.h"
#include "proto/frame.h"

#include <errno.h>
#include <stdlib.h>

#define NR_STREAM 6

/* raw_frame: a frame around JSON text as given (possibly invalid), in buf. */
static size_t raw_frame(uint8_t *buf, const char *json, size_t json_len, size_t body_len)
{
	if (proto_frame_header(buf, json_len, body_len) != 0)
		return 0;
	memcpy(buf + PROTO_HDR_SIZE, json, json_len);
	memset(buf + PROTO_HDR_SIZE + json_len, 0xab, body_len);
	return PROTO_HDR_SIZE + json_len + body_len;
}

TEST(roundtrip_no_body)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	json_t *m = json_pack("{s:I, s:s, s:s, s:[s, s]}", "id", (json_int_t)1, "type", "request",
	                      "op", "exec", "argv", "/bin/echo", "h\xc3\xa9");
	uint8_t *buf;
	size_t len, used;

	CHECK(m != NULL);
	CHECK_EQ(proto_frame_pack(m, NULL, 0, &buf, &len), 0);
	CHECK(memcmp(buf, "KVB1", 4) == 0);
	CHECK_EQ(len, PROTO_HDR_SIZE + (size_t)buf[4]);
	CHECK_EQ(buf[8], 0);
	proto_decoder_init(&dec);
	CHECK(proto_decoder_idle(&dec));
	CHECK_EQ(proto_decoder_feed(&dec, buf, len, &used), 0);
	CHECK_EQ(used, len);
	CHECK_EQ(proto_decoder_next(&dec, &f), 1);
	CHECK(json_equal(f.msg, m));
	CHECK(f.body == NULL);
	CHECK_EQ(f.body_len, 0);
	CHECK_EQ(proto_decoder_next(&dec, &f), 0);
	CHECK(proto_decoder_idle(&dec));
	proto_frame_clear(&f);
	proto_frame_clear(&f);
	proto_decoder_destroy(&dec);
	free(buf);
	json_decref(m);
}

TEST(roundtrip_body)
{
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	struct proto_out o;
	json_t *m = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)9, "type", "event", "event",
	                      "exec.stdout");
	uint8_t body[1000];
	size_t used;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	CHECK_EQ(proto_frame_encode(&o, m, body, sizeof(body)), 0);
	CHECK_EQ(o.iovcnt, 2);
	CHECK(o.iov[1].iov_base == body); /* the body is not copied */
	CHECK_EQ(o.len, o.iov[0].iov_len + sizeof(body));
	proto_decoder_init(&dec);
	CHECK_EQ(proto_decoder_feed(&dec, o.iov[0].iov_base, o.iov[0].iov_len, &used), 0);
	CHECK_EQ(proto_decoder_next(&dec, &f), 0); /* waits for the body */
	CHECK_EQ(proto_decoder_feed(&dec, body, sizeof(body), &used), 0);
	CHECK_EQ(used, sizeof(body));
	CHECK_EQ(proto_decoder_next(&dec, &f), 1);
	CHECK(json_equal(f.msg, m));
	CHECK_EQ(f.body_len, sizeof(body));
	CHECK(f.body && memcmp(f.body, body, sizeof(body)) == 0);
	proto_frame_clear(&f);
	proto_out_free(&o);
	proto_out_free(&o);
	proto_decoder_destroy(&dec);
	json_decref(m);
}

/* big_string: {"s": "xxx..."} whose compact JSON is exactly json_len bytes. */
static json_t *big_string(size_t json_len)
{
	size_t n = json_len - 8; /* {"s":""} */
	char *s = malloc(n + 1);
	json_t *m;

	memset(s, 'x', n);
	s[n] = '\0';
	m = json_pack("{s:s}", "s", s);
	free(s);
	return m;
}

TEST(limits_exact)
{
	json_t *m = big_string(PROTO_MAX_JSON), *over = big_string(PROTO_MAX_JSON + 1);
	uint8_t *body = calloc(1, PROTO_MAX_BODY + 1), *buf;
	struct proto_decoder dec;
	struct proto_frame f = { 0 };
	struct proto_out o;
	size_t len, used;

	CHECK_EQ(proto_frame_pack(m, body, PROTO_MAX_BODY, &buf, &len), 0);
	CHECK_EQ(len, PROTO_MAX_FRAME);
	proto_decoder_init(&dec);
	CHECK_EQ(proto_decoder_feed(&dec, buf, len, &used), 0);
	CHECK_EQ(used, len);
	CHECK_EQ(proto_decoder_next(&dec, &f), 1);
	CHECK_EQ(f.body_len, PROTO_MAX_BODY);
	proto_frame_clear(&f);
	proto_decoder_destroy(&dec);
	free(buf);
	/* Encoding refuses what the decoder would refuse. */
	CHECK_ERR(proto_frame_encode(&o, over, NULL, 0), -EMSGSIZE);
	CHECK_EQ(o.len, 0);
	CHECK_ERR(proto_frame_encode(&o, m, body, PROTO_MAX_BODY + 1), -EMSGSIZE);
	CHECK_ERR(proto_frame_pack(over, NULL, 0, &buf, &len), -EMSGSIZE);
	CHECK(buf == NULL);
	json_decref(m);
	json_decref(over);
	free(body);
}

TEST(encode_refuses)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	json_t *arr = json_array(), *m = json_object();
	struct proto_out o;

	CHECK_ERR(proto_frame_encode(&o, arr, NULL, 0), -EINVAL);
	CHECK_ERR(proto_frame_encode(&o, NULL, NULL, 0), -EINVAL);
	CHECK_ERR(proto_frame_encode(&o, m, NULL, 4), -EINVAL);
	/* A string built without the UTF-8 check cannot be serialised. */
	CHECK_EQ(json_object_set_new(m, "s", json_string_nocheck("\xff")), 0);
	CHECK_ERR(proto_frame_encode(&o, m, NULL, 0), -EINVAL);
	CHECK_ERR(proto_frame_header(hdr, 0, 0), -EINVAL);
	CHECK_ERR(proto_frame_header(hdr, PROTO_MAX_JSON + 1, 0), -EMSGSIZE);
	CHECK_ERR(proto_frame_header(hdr, 2, PROTO_MAX_BODY + 1), -EMSGSIZE);
	CHECK_EQ(proto_frame_header(hdr, 0x1234, 0x40506), 0);
	CHECK(memcmp(hdr, "KVB1\x34\x12\x00\x00\x06\x05\x04\x00", 12) == 0);
	json_decref(arr);
	json_decref(m);
}

/* stream: NR_STREAM frames back to back in *buf; their messages in msgs. */
static size_t make_stream(uint8_t **buf, json_t *msgs[NR_STREAM], size_t body_lens[NR_STREAM])
{
	size_t total = 0, len;
	uint8_t *one, *body = malloc(5000);

	*buf = NULL;
	for (size_t i = 0; i < 5000; i++)
		body[i] = (uint8_t)(i ^ (i >> 8));
	for (int i = 0; i < NR_STREAM; i++) {
		body_lens[i] = (size_t[]){ 0, 1, 4999, 0, 17, 5000 }[i];
		msgs[i] = json_pack("{s:i, s:s, s:i}", "id", i, "type", "reply", "n", i * 1000);
		if (proto_frame_pack(msgs[i], body, body_lens[i], &one, &len) != 0)
			abort();
		*buf = realloc(*buf, total + len);
		memcpy(*buf + total, one, len);
		total += len;
		free(one);
	}
	free(body);
	return total;
}

/*
 * run_stream: decode the stream in chunks of chunk() bytes; check that every
 * frame comes out once, in order, with its body. Returns the frame count.
 */
static int run_stream(int *failed, size_t (*chunk)(void))
{
	json_t *msgs[NR_STREAM];
	size_t body_lens[NR_STREAM], len = 0, off = 0, used, n;
	struct proto_decoder dec;
	struct proto_frame f;
	uint8_t *buf;
	int got = 0, r;

	len = make_stream(&buf, msgs, body_lens);
	proto_decoder_init(&dec);
	while (off < len) {
		n = chunk();
		if (n > len - off)
			n = len - off;
		/* A chunk may hold several frames: feed, take, feed the rest. */
		while (n) {
			CHECK_EQ(proto_decoder_feed(&dec, buf + off, n, &used), 0);
			off += used;
			n -= used;
			while ((r = proto_decoder_next(&dec, &f)) == 1) {
				CHECK(got < NR_STREAM);
				if (got < NR_STREAM) {
					CHECK(json_equal(f.msg, msgs[got]));
					CHECK_EQ(f.body_len, body_lens[got]);
				}
				if (f.body_len > 1)
					CHECK_EQ(f.body[1], 1);
				got++;
				proto_frame_clear(&f);
			}
			CHECK_EQ(r, 0);
		}
	}
	CHECK(proto_decoder_idle(&dec));
	proto_decoder_destroy(&dec);
	for (int i = 0; i < NR_STREAM; i++)
		json_decref(msgs[i]);
	free(buf);
	return got;
}

static size_t one_byte(void)
{
	return 1;
}

static size_t random_chunk(void)
{
	/* Mostly small, sometimes large enough to hold several frames. */
	return rand() % 4 == 0 ? (size_t)(rand() % 20000) + 1 : (size_t)(rand() % 40) + 1;
}

TEST(stream_byte_at_a_time)
{
	CHECK_EQ(run_stream(failed, one_byte), NR_STREAM);
}

TEST(stream_random_chunks)
{
	for (unsigned int seed = 1; seed <= 50; seed++) {
		srand(seed);
		CHECK_EQ(run_stream(failed, random_chunk), NR_STREAM);
	}
}

TEST(feed_stops_after_a_frame)
{
	json_t *msgs[NR_STREAM];
	size_t body_lens[NR_STREAM], len, used, first;
	struct proto_decoder dec;
	struct proto_frame f;
	uint8_t *buf;

	len = make_stream(&buf, msgs, body_lens);
	first = PROTO_HDR_SIZE + buf[4] + (size_t)buf[5] * 256;
	proto_decoder_init(&dec);
	CHECK_EQ(proto_decoder_feed(&dec, buf, len, &used), 0);
	CHECK_EQ(used, first);
	CHECK_EQ(proto_decoder_feed(&dec, buf + used, len - used, &used), 0);
	CHECK_EQ(used, 0); /* a frame waits: nothing more is taken */
	CHECK_EQ(proto_decoder_next(&dec, &f), 1);
	proto_frame_clear(&f);
	CHECK_EQ(proto_decoder_feed(&dec, buf + first, len - first, &used), 0);
	CHECK(used > 0);
	proto_decoder_destroy(&dec); /* frees the pending frame */
	for (int i = 0; i < NR_STREAM; i++)
		json_decref(msgs[i]);
	free(buf);
}

TEST(truncated_waits)
{
	static const char json[] = "{\"id\":1,\"type\":\"reply\"}";
	uint8_t buf[128];
	size_t len = raw_frame(buf, json, strlen(json), 20), used;
	struct proto_decoder dec;
	struct proto_frame f;

	/* Every strict prefix: header, JSON or body cut short. */
	for (size_t cut = 1; cut < len; cut++) {
		proto_decoder_init(&dec);
		CHECK_EQ(proto_decoder_feed(&dec, buf, cut, &used), 0);
		CHECK_EQ(used, cut);
		CHECK_EQ(proto_decoder_next(&dec, &f), 0);
		CHECK(!proto_decoder_idle(&dec));
		CHECK_EQ(proto_decoder_feed(&dec, buf + cut, len - cut, &used), 0);
		CHECK_EQ(proto_decoder_next(&dec, &f), 1);
		proto_frame_clear(&f);
		proto_decoder_destroy(&dec);
	}
}

/* decode_err: the error a fresh decoder gives for buf, checked sticky. */
static int decode_err(int *failed, const uint8_t *buf, size_t len)
{
	struct proto_decoder dec;
	struct proto_frame f;
	size_t used;
	int err;

	proto_decoder_init(&dec);
	err = proto_decoder_feed(&dec, buf, len, &used);
	CHECK(err < 0);
	CHECK(proto_decoder_why(&dec)[0] != '\0');
	CHECK_ERR(proto_decoder_next(&dec, &f), err);
	CHECK_ERR(proto_decoder_feed(&dec, buf, len, &used), err);
	CHECK_EQ(used, 0);
	proto_decoder_destroy(&dec);
	return err;
}

TEST(bad_header)
{
	uint8_t buf[64];
	size_t len = raw_frame(buf, "{}", 2, 0);

	buf[3] = '2';
	CHECK_ERR(decode_err(failed, buf, len), -EPROTO);
	memcpy(buf, "KVB1\0\0\0\0\0\0\0\0", 12); /* json_len 0 */
	CHECK_ERR(decode_err(failed, buf, 12), -EPROTO);
	memcpy(buf, "KVB1\x01\x00\x01\x00\0\0\0\0", 12); /* 64 KiB + 1 */
	CHECK_ERR(decode_err(failed, buf, 12), -EMSGSIZE);
	memcpy(buf, "KVB1\xff\xff\xff\xff\0\0\0\0", 12);
	CHECK_ERR(decode_err(failed, buf, 12), -EMSGSIZE);
	memcpy(buf, "KVB1\x02\0\0\0\x01\x00\x10\x00", 12); /* 1 MiB + 1 */
	CHECK_ERR(decode_err(failed, buf, 12), -EMSGSIZE);
	memcpy(buf, "KVB1\x02\0\0\0\xff\xff\xff\xff", 12);
	CHECK_ERR(decode_err(failed, buf, 12), -EMSGSIZE);
}

TEST(bad_json)
{
	static const char *const bad[] = {
		"{",
		"{\"a\":\"\xff\"}",         /* not UTF-8 */
		"{\"a\":\"\xc3\"}",         /* a cut UTF-8 sequence */
		"{\"a\":\"\xed\xa0\x80\"}", /* a UTF-16 surrogate encoded in UTF-8 */
		"[1,2]",
		"\"str\"",
		"42",
		"null",
		"{\"a\":1,\"a\":2}",
		"{} {}",
		"{\"a\":\"x\\u0000y\"}",
		"{\"a\":NaN}",
		"{\"a\":1e400}",
		"{\"a\":99999999999999999999}",
		" ",
	};
	uint8_t buf[256];
	char *deep;
	uint8_t *big;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = raw_frame(buf, bad[i], strlen(bad[i]), 0);
		CHECK_ERR(decode_err(failed, buf, len), -EBADMSG);
		/* With a body: the JSON is refused before the body is read. */
		len = raw_frame(buf, bad[i], strlen(bad[i]), 4);
		CHECK_ERR(decode_err(failed, buf, len - 4), -EBADMSG);
	}
	/* Nesting deeper than jansson's limit (2048). */
	deep = malloc(10007);
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', 5000);
	memset(deep + 5005, ']', 5000);
	memcpy(deep + 10005, "}", 2);
	len = strlen(deep);
	big = malloc(PROTO_HDR_SIZE + len);
	len = raw_frame(big, deep, len, 0);
	CHECK_ERR(decode_err(failed, big, len), -EBADMSG);
	free(big);
	free(deep);
}

TEST(bad_json_why_is_ascii)
{
	static const char json[] = "{\"\xff\xfe\x01\":1}";
	struct proto_decoder dec;
	uint8_t buf[64];
	size_t len = raw_frame(buf, json, strlen(json), 0), used;

	proto_decoder_init(&dec);
	CHECK_ERR(proto_decoder_feed(&dec, buf, len, &used), -EBADMSG);
	for (const char *c = proto_decoder_why(&dec); *c; c++)
		CHECK(*c >= 0x20 && *c <= 0x7e);
	proto_decoder_destroy(&dec);
}

TEST(good_json_variants)
{
	static const char *const good[] = {
		"{}",
		" {\"a\" : [1, 2.5, true, null, {\"b\": \"\\u00e9\\ud83d\\ude00\"}]}\n ",
		"{\"\xe2\x82\xac\":\"\xf0\x9f\x98\x80\"}",
	};
	struct proto_decoder dec;
	struct proto_frame f;
	uint8_t buf[256];
	size_t len, used;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = raw_frame(buf, good[i], strlen(good[i]), 3);
		proto_decoder_init(&dec);
		CHECK_EQ(proto_decoder_feed(&dec, buf, len, &used), 0);
		CHECK_EQ(proto_decoder_next(&dec, &f), 1);
		CHECK_EQ(f.body_len, 3);
		CHECK(json_is_object(f.msg));
		proto_frame_clear(&f);
		proto_decoder_destroy(&dec);
	}
}

CHECK_MAIN(CASE(roundtrip_no_body), CASE(roundtrip_body), CASE(limits_exact), CASE(encode_refuses),
           CASE(stream_byte_at_a_time), CASE(stream_random_chunks), CASE(feed_stops_after_a_frame),
           CASE(truncated_waits), CASE(bad_header), CASE(bad_json), CASE(bad_json_why_is_ascii),
           CASE(good_json_variants))

// SPDX-License-Identifier: MIT
/*
 * fuzz_proto: arbitrary bytes as a protocol stream from a hostile peer
 * (proto/frame.c, proto/msg.c).
 *
 * Input layout:
 *   byte 0        k = byte % 8 + 1, the number of chunk-size bytes
 *   bytes 1..k    chunk sizes, used in turn: 0 is "all the rest", 1..127
 *                 that many bytes, 128..255 (b - 127) * 512 bytes
 *   the rest      the stream, fed to one decoder in those chunks
 *
 * Checks beyond ASan/UBSan: the decoder never claims more bytes than it
 * was given, its errors are sticky and come with a printable reason that
 * makes a valid error frame; every frame it yields is an object; whatever
 * envelope proto_msg_parse_env accepts, the builders accept too; and every
 * frame re-encodes (unless its compact form is over the limit: "1e5" grows
 * to "100000.0") and decodes back to an equal message and body.
 */
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_env: the envelope, the builders and a few getters on msg. */
static void check_env(const json_t *msg)
{
	struct proto_why why;
	struct proto_env env;
	const char *s, **v = NULL;
	const json_t *o;
	json_t *m = NULL;
	uint64_t u;
	bool b;
	int err;

	if (proto_msg_parse_env(msg, &env, &why) != 0)
		return;
	switch (env.type) {
	case PROTO_REQUEST:
		err = proto_msg_request(&m, env.id, env.name);
		break;
	case PROTO_EVENT:
		err = proto_msg_event(&m, env.id, env.name);
		break;
	case PROTO_ERROR:
		err = proto_msg_error(&m, env.id, env.err_code, "%s", env.err_msg);
		break;
	default:
		err = proto_msg_reply(&m, env.id);
		break;
	}
	if (err)
		abort();
	json_decref(m);
	(void)proto_msg_get_string(msg, "cwd", &s, PROTO_OPTIONAL, &why);
	(void)proto_msg_get_u64(msg, "timeout_ms", &u, 1000000, PROTO_OPTIONAL, &why);
	(void)proto_msg_get_bool(msg, "tty", &b, PROTO_OPTIONAL, &why);
	(void)proto_msg_get_object(msg, "error", &o, PROTO_OPTIONAL, &why);
	if (proto_msg_get_strv(msg, "argv", &v, NULL, 64, PROTO_OPTIONAL, &why) == 0)
		free(v);
}

/* check_roundtrip: encode f again and decode it in one go: the same frame. */
static void check_roundtrip(const struct proto_frame *f)
{
	struct proto_decoder dec;
	struct proto_frame g;
	size_t len, used;
	uint8_t *buf;
	int err;

	err = proto_frame_pack(f->msg, f->body, f->body_len, &buf, &len);
	if (err == -EMSGSIZE)
		return;
	if (err)
		abort();
	proto_decoder_init(&dec);
	if (proto_decoder_feed(&dec, buf, len, &used) != 0 || used != len ||
	    proto_decoder_next(&dec, &g) != 1)
		abort();
	if (!json_equal(f->msg, g.msg) || g.body_len != f->body_len ||
	    (f->body_len && memcmp(f->body, g.body, f->body_len) != 0))
		abort();
	if (!proto_decoder_idle(&dec))
		abort();
	proto_frame_clear(&g);
	proto_decoder_destroy(&dec);
	free(buf);
}

/* check_error: the sticky error of dec makes a valid error frame. */
static void check_error(struct proto_decoder *dec, int err)
{
	struct proto_frame f;
	size_t len, used;
	uint8_t *buf;
	json_t *m;

	if (err != -EPROTO && err != -EMSGSIZE && err != -EBADMSG && err != -ENOMEM)
		abort();
	if (proto_decoder_next(dec, &f) != err || proto_decoder_feed(dec, "x", 1, &used) != err ||
	    used != 0)
		abort();
	for (const char *c = proto_decoder_why(dec); *c; c++) {
		if (*c < 0x20 || *c > 0x7e)
			abort();
	}
	if (proto_msg_error(&m, 0, proto_error_code(err), "%s", proto_decoder_why(dec)) != 0)
		abort();
	if (proto_frame_pack(m, NULL, 0, &buf, &len) != 0)
		abort();
	json_decref(m);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_decoder dec;
	struct proto_frame f;
	size_t k, off, used, n, turn = 0;
	int r = 0;

	if (size < 1)
		return 0;
	k = data[0] % 8 + 1;
	if (size < 1 + k)
		return 0;
	off = 1 + k;
	proto_decoder_init(&dec);
	while (off < size && r >= 0) {
		uint8_t c = data[1 + turn++ % k];

		n = c == 0 ? size - off : c < 128 ? c : (size_t)(c - 127) * 512;
		if (n > size - off)
			n = size - off;
		while (n && r >= 0) {
			r = proto_decoder_feed(&dec, data + off, n, &used);
			if (used > n)
				abort();
			off += used;
			n -= used;
			while (r >= 0 && (r = proto_decoder_next(&dec, &f)) == 1) {
				if (!json_is_object(f.msg) || (f.body_len == 0) != (f.body == NULL))
					abort();
				check_env(f.msg);
				check_roundtrip(&f);
				proto_frame_clear(&f);
			}
		}
	}
	if (r < 0)
		check_error(&dec, r);
	proto_decoder_destroy(&dec);
	return 0;
}

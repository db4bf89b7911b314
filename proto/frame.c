// SPDX-License-Identifier: MIT
/*
 * proto/frame: encoding frames, and the incremental decoder (frame.h).
 */
#include "proto/frame.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void proto_why_set(struct proto_why *why, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
	for (char *c = why->text; *c; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	}
}

int proto_frame_header(uint8_t hdr[PROTO_HDR_SIZE], size_t json_len, size_t body_len)
{
	if (json_len == 0)
		return -EINVAL;
	if (json_len > PROTO_MAX_JSON || body_len > PROTO_MAX_BODY)
		return -EMSGSIZE;
	put_le32(hdr, PROTO_MAGIC);
	put_le32(hdr + 4, (uint32_t)json_len);
	put_le32(hdr + 8, (uint32_t)body_len);
	return 0;
}

/*
 * proto_frame_encode: two passes of json_dumpb, one to learn the size (and
 * refuse it before allocating), one to write after the header.
 */
int proto_frame_encode(struct proto_out *out, const json_t *msg, const void *body, size_t body_len)
{
	uint8_t *head;
	size_t n;
	int err;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(msg) || (body_len && !body))
		return -EINVAL;
	if (body_len > PROTO_MAX_BODY)
		return -EMSGSIZE;
	n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
	if (n == 0)
		return -EINVAL;
	if (n > PROTO_MAX_JSON)
		return -EMSGSIZE;
	head = malloc(PROTO_HDR_SIZE + n);
	if (!head)
		return -ENOMEM;
	err = proto_frame_header(head, n, body_len);
	if (!err && json_dumpb(msg, (char *)head + PROTO_HDR_SIZE, n, JSON_COMPACT) != n)
		err = -EINVAL;
	if (err) {
		free(head);
		return err;
	}
	out->iov[0] = (struct iovec){ .iov_base = head, .iov_len = PROTO_HDR_SIZE + n };
	out->iovcnt = 1;
	if (body_len) {
		/* iov_base is not const: writev only reads it. */
		out->iov[1] =
		    (struct iovec){ .iov_base = (void *)(uintptr_t)body, .iov_len = body_len };
		out->iovcnt = 2;
	}
	out->len = PROTO_HDR_SIZE + n + body_len;
	return 0;
}

void proto_out_free(struct proto_out *out)
{
	free(out->iov[0].iov_base);
	memset(out, 0, sizeof(*out));
}

int proto_frame_pack(const json_t *msg, const void *body, size_t body_len, uint8_t **buf,
                     size_t *len)
{
	struct proto_out o;
	uint8_t *p;
	int err;

	*buf = NULL;
	*len = 0;
	err = proto_frame_encode(&o, msg, body, body_len);
	if (err)
		return err;
	p = malloc(o.len);
	if (!p) {
		proto_out_free(&o);
		return -ENOMEM;
	}
	memcpy(p, o.iov[0].iov_base, o.iov[0].iov_len);
	if (body_len)
		memcpy(p + o.iov[0].iov_len, body, body_len);
	*buf = p;
	*len = o.len;
	proto_out_free(&o);
	return 0;
}

void proto_frame_clear(struct proto_frame *f)
{
	json_decref(f->msg);
	free(f->body);
	memset(f, 0, sizeof(*f));
}

void proto_decoder_init(struct proto_decoder *dec)
{
	memset(dec, 0, sizeof(*dec));
	dec->state = PROTO_DEC_HDR;
}

void proto_decoder_destroy(struct proto_decoder *dec)
{
	free(dec->json);
	json_decref(dec->msg);
	free(dec->body);
	memset(dec, 0, sizeof(*dec));
	dec->state = PROTO_DEC_HDR;
}

/* dec_fail: make err sticky; drop whatever the failed frame had collected. */
static int dec_fail(struct proto_decoder *dec, int err)
{
	json_decref(dec->msg);
	free(dec->body);
	dec->msg = NULL;
	dec->body = NULL;
	dec->state = PROTO_DEC_FAILED;
	dec->err = err;
	return err;
}

/*
 * dec_header: check a complete header (untrusted) against the magic and the
 * limits, then make room for the JSON: nothing is allocated for a frame
 * before its lengths are known to be within the limits.
 */
static int dec_header(struct proto_decoder *dec)
{
	uint32_t magic = get_le32(dec->hdr);
	char *p;

	dec->json_len = get_le32(dec->hdr + 4);
	dec->body_len = get_le32(dec->hdr + 8);
	if (magic != PROTO_MAGIC) {
		proto_why_set(&dec->why, "bad magic %02x %02x %02x %02x", dec->hdr[0], dec->hdr[1],
		              dec->hdr[2], dec->hdr[3]);
		return -EPROTO;
	}
	if (dec->json_len == 0) {
		proto_why_set(&dec->why, "empty JSON part (json_len 0)");
		return -EPROTO;
	}
	if (dec->json_len > PROTO_MAX_JSON) {
		proto_why_set(&dec->why, "json_len %u over the limit of %u", dec->json_len,
		              PROTO_MAX_JSON);
		return -EMSGSIZE;
	}
	if (dec->body_len > PROTO_MAX_BODY) {
		proto_why_set(&dec->why, "body_len %u over the limit of %u", dec->body_len,
		              PROTO_MAX_BODY);
		return -EMSGSIZE;
	}
	if (dec->json_cap < dec->json_len) {
		p = realloc(dec->json, dec->json_len);
		if (!p)
			return -ENOMEM;
		dec->json = p;
		dec->json_cap = dec->json_len;
	}
	dec->state = PROTO_DEC_JSON;
	return 0;
}

/*
 * dec_json: parse the complete JSON part (untrusted) with jansson, which
 * checks UTF-8 and bounds the nesting depth; it must be one object with no
 * duplicate key and nothing but whitespace after it. Then make room for the
 * body, if any.
 */
static int dec_json(struct proto_decoder *dec)
{
	json_error_t jerr;

	dec->msg = json_loadb(dec->json, dec->json_len, PROTO_JSON_LOAD_FLAGS, &jerr);
	if (!dec->msg) {
		proto_why_set(&dec->why, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(dec->msg)) {
		proto_why_set(&dec->why, "the JSON part is not an object");
		return -EBADMSG;
	}
	if (dec->body_len == 0) {
		dec->state = PROTO_DEC_READY;
		return 0;
	}
	dec->body = malloc(dec->body_len);
	if (!dec->body)
		return -ENOMEM;
	dec->state = PROTO_DEC_BODY;
	return 0;
}

/* dec_take: copy up to want - have bytes into dst + have; how many it took. */
static size_t dec_take(struct proto_decoder *dec, void *dst, size_t want, const uint8_t *src,
                       size_t avail)
{
	size_t n = want - dec->have;

	if (n > avail)
		n = avail;
	memcpy((uint8_t *)dst + dec->have, src, n);
	dec->have += n;
	return n;
}

int proto_decoder_feed(struct proto_decoder *dec, const void *data, size_t len, size_t *consumed)
{
	const uint8_t *p = data;
	size_t used = 0;
	int err = 0;

	*consumed = 0;
	if (dec->state == PROTO_DEC_FAILED)
		return dec->err;
	while (used < len && dec->state != PROTO_DEC_READY && !err) {
		switch (dec->state) {
		case PROTO_DEC_HDR:
			used += dec_take(dec, dec->hdr, PROTO_HDR_SIZE, p + used, len - used);
			if (dec->have == PROTO_HDR_SIZE) {
				dec->have = 0;
				err = dec_header(dec);
			}
			break;
		case PROTO_DEC_JSON:
			used += dec_take(dec, dec->json, dec->json_len, p + used, len - used);
			if (dec->have == dec->json_len) {
				dec->have = 0;
				err = dec_json(dec);
			}
			break;
		case PROTO_DEC_BODY:
			used += dec_take(dec, dec->body, dec->body_len, p + used, len - used);
			if (dec->have == dec->body_len) {
				dec->have = 0;
				dec->state = PROTO_DEC_READY;
			}
			break;
		default:
			err = -EINVAL; /* unreachable: READY and FAILED end the loop */
			break;
		}
	}
	*consumed = used;
	if (err) {
		if (err == -ENOMEM)
			proto_why_set(&dec->why, "out of memory");
		return dec_fail(dec, err);
	}
	return 0;
}

int proto_decoder_next(struct proto_decoder *dec, struct proto_frame *out)
{
	if (dec->state == PROTO_DEC_FAILED)
		return dec->err;
	if (dec->state != PROTO_DEC_READY)
		return 0;
	out->msg = dec->msg;
	out->body = dec->body;
	out->body_len = dec->body_len;
	dec->msg = NULL;
	dec->body = NULL;
	dec->have = 0;
	dec->state = PROTO_DEC_HDR;
	dec->frames++;
	return 1;
}

bool proto_decoder_idle(const struct proto_decoder *dec)
{
	return dec->state == PROTO_DEC_HDR && dec->have == 0;
}

const char *proto_decoder_why(const struct proto_decoder *dec)
{
	return dec->state == PROTO_DEC_FAILED ? dec->why.text : "";
}

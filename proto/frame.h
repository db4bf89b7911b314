/* SPDX-License-Identifier: MIT */
/*
 * proto/frame: the framing of the kvmbox control protocol (docs/protocol.md).
 *
 * A frame is a 12-byte little-endian header {magic "KVB1", json_len,
 * body_len}, then json_len bytes of UTF-8 JSON (one object), then body_len
 * raw bytes. The same framing runs on the control socket and between the
 * VMM and the guest agent; this code needs nothing but libc and jansson.
 *
 * Everything a decoder is fed comes from a peer and is untrusted: it
 * buffers at most one frame (header + PROTO_MAX_JSON + PROTO_MAX_BODY),
 * validates the header before it allocates anything, and stops for good at
 * the first error (the connection cannot be resynchronised: close it).
 */
#ifndef KVMBOX_PROTO_FRAME_H
#define KVMBOX_PROTO_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PROTO_MAGIC     0x3142564bu /* the bytes 'K' 'V' 'B' '1' read as a le32 */
#define PROTO_HDR_SIZE  12u
#define PROTO_MAX_JSON  (64u << 10)
#define PROTO_MAX_BODY  (1u << 20)
#define PROTO_MAX_FRAME (PROTO_HDR_SIZE + PROTO_MAX_JSON + PROTO_MAX_BODY)

/* The flags for json_loadb on received JSON (see docs/protocol.md). */
#define PROTO_JSON_LOAD_FLAGS JSON_REJECT_DUPLICATES

/*
 * proto_why: a short, printable-ASCII reason for a refusal, fit to be the
 * "message" of an error reply. Functions that take one accept NULL.
 */
struct proto_why {
	char text[160];
};

/*
 * proto_why_set: format a reason into why (a no-op when why is NULL). Bytes
 * outside printable ASCII become '?', since a reason may quote peer input.
 */
void proto_why_set(struct proto_why *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * An encoded frame ready for writev: iov[0] is the header and the JSON
 * (owned, malloc'd), iov[1] the body (borrowed from the caller, who keeps it
 * alive until the frame is written); iovcnt is 1 without a body.
 */
struct proto_out {
	struct iovec iov[2];
	int iovcnt;
	size_t len; /* total bytes on the wire */
};

/*
 * proto_frame_header: write the header of a frame with these lengths.
 * Returns 0, -EMSGSIZE when a length is over its limit, -EINVAL for an empty
 * JSON part.
 */
__attribute__((warn_unused_result)) int proto_frame_header(uint8_t hdr[PROTO_HDR_SIZE],
                                                           size_t json_len, size_t body_len);

/*
 * proto_frame_encode: serialise msg (compact, UTF-8) into out, with body as
 * the frame's body (NULL when body_len is 0). Release with proto_out_free.
 * Returns 0, -EINVAL (msg not an object, or not serialisable: bad UTF-8 in a
 * string built without checks), -EMSGSIZE (JSON or body over its limit),
 * -ENOMEM. out is zeroed on failure.
 */
__attribute__((warn_unused_result)) int proto_frame_encode(struct proto_out *out, const json_t *msg,
                                                           const void *body, size_t body_len);

/* proto_out_free: release what proto_frame_encode allocated; safe twice. */
void proto_out_free(struct proto_out *out);

/*
 * proto_frame_pack: like proto_frame_encode, but the whole frame in one
 * malloc'd buffer (*buf, *len), the body copied. For blocking writers and
 * tests; the same returns.
 */
__attribute__((warn_unused_result)) int
proto_frame_pack(const json_t *msg, const void *body, size_t body_len, uint8_t **buf, size_t *len);

/* A decoded frame. The receiver owns msg (json_decref) and body (free). */
struct proto_frame {
	json_t *msg;   /* always a JSON object */
	uint8_t *body; /* NULL when body_len is 0 */
	size_t body_len;
};

/* proto_frame_clear: release a decoded frame; safe twice. */
void proto_frame_clear(struct proto_frame *f);

enum proto_dec_state {
	PROTO_DEC_HDR,    /* collecting the header */
	PROTO_DEC_JSON,   /* collecting the JSON */
	PROTO_DEC_BODY,   /* collecting the body */
	PROTO_DEC_READY,  /* a frame waits for proto_decoder_next */
	PROTO_DEC_FAILED, /* sticky error in err and why */
};

/* An incremental decoder for one byte stream. Fields are private. */
struct proto_decoder {
	enum proto_dec_state state;
	int err;
	uint8_t hdr[PROTO_HDR_SIZE];
	uint32_t json_len, body_len;
	size_t have; /* bytes of the current part collected */
	char *json;  /* reused across frames, json_cap <= PROTO_MAX_JSON */
	size_t json_cap;
	json_t *msg; /* the parsed JSON of the frame being collected */
	uint8_t *body;
	uint64_t frames; /* frames handed out so far */
	struct proto_why why;
};

/* proto_decoder_init: an empty decoder at a frame boundary. */
void proto_decoder_init(struct proto_decoder *dec);

/* proto_decoder_destroy: free all buffers, a pending frame included. */
void proto_decoder_destroy(struct proto_decoder *dec);

/*
 * proto_decoder_feed: take bytes of the stream (untrusted). It consumes up
 * to the end of the next complete frame and stops there: *consumed says how
 * many bytes it took, and the caller feeds the rest after proto_decoder_next
 * has taken the frame (while a frame waits, it consumes nothing).
 * Returns 0 or a sticky error, also returned by every later call:
 *   -EPROTO    bad magic, or a json_len of 0 (error code "bad_frame")
 *   -EMSGSIZE  json_len or body_len over its limit ("too_large")
 *   -EBADMSG   the JSON is not valid UTF-8 JSON, not an object, or has a
 *              duplicate key ("bad_json")
 *   -ENOMEM
 * The JSON is parsed as soon as it is complete, before the body arrives.
 */
__attribute__((warn_unused_result)) int
proto_decoder_feed(struct proto_decoder *dec, const void *data, size_t len, size_t *consumed);

/*
 * proto_decoder_next: move a complete frame into *out (the caller owns it).
 * Returns 1 with a frame, 0 when more bytes are needed, or the sticky error.
 */
__attribute__((warn_unused_result)) int proto_decoder_next(struct proto_decoder *dec,
                                                           struct proto_frame *out);

/*
 * proto_decoder_idle: true at a frame boundary with nothing pending. At the
 * end of the stream, false means the peer stopped in the middle of a frame.
 */
bool proto_decoder_idle(const struct proto_decoder *dec);

/* proto_decoder_why: the reason for the sticky error, or "". */
const char *proto_decoder_why(const struct proto_decoder *dec);

#endif

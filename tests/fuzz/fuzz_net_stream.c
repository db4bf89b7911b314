// SPDX-License-Identifier: MIT
/*
 * fuzz_net_stream: the reader of QEMU's stream protocol (virtio/net_stream.c,
 * the passt backend's) under a hostile peer: fuzzed lengths and frames,
 * written to a socketpair in fuzzed chunks, with the loop run between
 * chunks, on a real io_uring loop; the device's receive queue is emptied
 * after every pass.
 *
 * Input layout:
 *   byte 0        n: how many chunk sizes follow
 *   bytes 1..n    chunk sizes, used in turn (size c writes c * c / 8 + 1
 *                 bytes: from single bytes to whole 8 KiB stretches)
 *   the rest      the stream the peer writes: records of a 4-byte length
 *                 in network order and that many bytes
 *
 * Beyond ASan and UBSan, an oracle parses the stream on its own: the
 * frames that reach the device's receive queue are exactly its records of
 * a legal size (14 to NF_ETH bytes), whole and in order, with the
 * header flags the stream gives; the others are counted as rx_dropped; a
 * length past NET_STREAM_MAX_LEN ends the stream with -EPROTO, the
 * peer's close with 0, once either way; the reader's offsets never leave
 * its buffer.
 */
#define _GNU_SOURCE
#include "../unit/test_net.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_RAM      0x10000u
#define F_BASE_GPA 0xd0000000ull
#define F_ROUNDS   100000 /* loop passes to drain one input: a hang is a bug */

struct fstream {
	struct net_stream s; /* first: the backend */
	int downs, down_err;
};

static struct {
	struct test_rig t;
	struct net net;
	struct fstream fs;
	int peer;
	/* The oracle's view, and what has been checked so far. */
	const uint8_t *stream;
	size_t stream_len;
	size_t want_off[4096]; /* offsets of the legal frames' bytes */
	uint32_t want_len[4096];
	unsigned int wants, seen;
	uint64_t want_dropped;
	bool want_proto;
} fz;

static void f_down(struct net_stream *s, int err)
{
	struct fstream *f = (struct fstream *)s;

	f->downs++;
	f->down_err = err;
}

static void f_destroy(struct net_backend *be)
{
	net_stream_fini((struct net_stream *)be);
}

static const struct net_backend_ops f_ops = {
	.name = "fuzz-stream",
	.send = net_stream_send,
	.rx_room = net_stream_room,
	.destroy = f_destroy,
};

static void setup(void)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_NONE };

	test_rig_init(&fz.t, F_RAM, 32);
	mp = test_rig_params(&fz.t, F_BASE_GPA);
	pol(&np.policy);
	fz.fs.s.fd = -1;
	fz.fs.s.be.ops = &f_ops;
	/* The device is never started, and waits for receive buffers
	 * (rx_waiting): frames stay in its queue, where drain() looks. */
	if (net_init_with(&fz.net, &np, &fz.t.loop, &fz.t.m, &mp, &fz.fs.s.be))
		abort();
}

/* oracle: the records of the stream, as the protocol defines them. */
static void oracle(void)
{
	size_t pos = 0;

	fz.wants = fz.seen = 0;
	fz.want_dropped = 0;
	fz.want_proto = false;
	while (fz.stream_len - pos >= 4) {
		uint32_t len;

		memcpy(&len, fz.stream + pos, 4);
		len = ntohl(len);
		if (len > NET_STREAM_MAX_LEN) {
			fz.want_proto = true;
			return;
		}
		if (len < 14 || len > NF_ETH) {
			fz.want_dropped++; /* counted once its length is read */
		} else if (fz.stream_len - pos - 4 >= len) {
			if (fz.wants == sizeof(fz.want_len) / sizeof(fz.want_len[0]))
				abort(); /* cannot happen: inputs are far shorter */
			fz.want_off[fz.wants] = pos + 4;
			fz.want_len[fz.wants++] = len;
		}
		pos += 4 + (size_t)len;
		if (pos > fz.stream_len)
			return;
	}
}

/* drain: check and empty the device's receive queue; check the reader. */
static void drain(void)
{
	const struct net_stream *s = &fz.fs.s;

	if (s->roff > s->rend || s->rend > NET_STREAM_RBUF || s->wlen > NET_STREAM_WBUF ||
	    fz.net.rxq_len > NET_RXQ_FRAMES)
		abort();
	for (unsigned int i = 0; i < fz.net.rxq_len; i++) {
		const struct net_rx_frame *f = fz.net.rxq[(fz.net.rxq_head + i) % NET_RXQ_FRAMES];

		if (fz.seen == fz.wants || f->len != fz.want_len[fz.seen] ||
		    memcmp(f->data, fz.stream + fz.want_off[fz.seen], f->len) ||
		    f->hdr[0] != VIRTIO_NET_HDR_F_DATA_VALID)
			abort(); /* a frame the stream did not carry, or not whole */
		fz.seen++;
	}
	if (fz.net.rxq_len) {
		net_rx_clear(&fz.net);
		net_stream_room(&fz.fs.s.be);
	}
}

/* round: one pass of the loop, then the queue checked and emptied. */
static void round_once(void)
{
	test_rig_pump(&fz.t, 1);
	drain();
}

/* put: bytes to the reader's end; false once it shut the stream. */
static bool put(const uint8_t *p, size_t n)
{
	for (int tries = 0; n; tries++) {
		ssize_t w = send(fz.peer, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return false;
		if (w < 0 && errno != EAGAIN)
			abort();
		if (w < 0 && tries > F_ROUNDS)
			abort(); /* the reader stopped reading */
		if (w < 0) {
			round_once();
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sizes;
	size_t nsizes, off = 0;
	int sv[2], rounds = 0;

	if (!fz.t.ram)
		setup();
	if (size < 1 || size - 1 < data[0])
		return 0;
	nsizes = data[0];
	sizes = data + 1;
	fz.stream = data + 1 + nsizes;
	fz.stream_len = size - 1 - nsizes;
	oracle();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	fz.peer = sv[1];
	fz.fs.downs = 0;
	fz.fs.down_err = 1;
	net_stream_init(&fz.fs.s, &fz.net, sv[0], &f_ops, f_down);
	fz.fs.s.rx_flags = VIRTIO_NET_HDR_F_DATA_VALID;
	fz.net.link_down = false;
	fz.net.rx_waiting = true; /* the device leaves its queue to drain() */
	fz.net.stats.rx_dropped = 0;
	net_stream_start(&fz.fs.s);

	for (size_t i = 0; off < fz.stream_len; i++) {
		size_t c = nsizes ? sizes[i % nsizes] : 255;
		size_t n = c * c / 8 + 1;

		if (n > fz.stream_len - off)
			n = fz.stream_len - off;
		if (!put(fz.stream + off, n))
			break;
		off += n;
		round_once();
	}
	/* The peer goes away: the reader takes what is whole, then ends. */
	close(fz.peer);
	while (!fz.fs.downs || fz.fs.s.rd_polling || fz.fs.s.wr_polling || fz.fs.s.deferred) {
		if (++rounds > F_ROUNDS)
			abort(); /* the reader never saw the end */
		round_once();
	}
	if (fz.fs.downs != 1 || fz.fs.down_err != (fz.want_proto ? -EPROTO : 0) ||
	    !fz.net.link_down)
		abort(); /* the wrong end, or more than one */
	if (fz.seen != fz.wants || fz.net.stats.rx_dropped != fz.want_dropped)
		abort(); /* a legal frame lost, or a length not counted */
	net_stream_fini(&fz.fs.s);
	return 0;
}

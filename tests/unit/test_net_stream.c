// SPDX-License-Identifier: MIT
/*
 * Unit tests of QEMU's stream protocol as virtio-net's backends speak it
 * (virtio/net_stream.c, under net_passt.c): the device with a stream
 * backend on one end of a socketpair, the test on the other playing the
 * peer (passt's part), driven by the simulated guest driver. No passt,
 * no network: frames cut across reads, two frames in one read, lengths
 * the device cannot take (read past), a length past the protocol's (the
 * stream ends once, the link goes down), the peer going away, a guest
 * slower than the peer (nothing dropped), and a peer slower than the
 * guest (frames stay whole on the stream).
 */
#define _GNU_SOURCE
#include "test_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define STATUS_OFF 6 /* struct virtio_net_config's status (virtio 1.2 §5.1.4) */

struct srig {
	struct rig r;
	struct net_stream *s;
	int peer;            /* the test's end */
	int downs, down_err; /* on_down's calls and last err */
};

/* The backend: the stream first, then the test's state. */
struct tstream {
	struct net_stream s;
	struct srig *x;
};

static void s_down(struct net_stream *s, int err)
{
	struct srig *x = ((struct tstream *)s)->x;

	x->downs++;
	x->down_err = err;
}

static void s_destroy(struct net_backend *be)
{
	net_stream_fini((struct net_stream *)be);
	free(be);
}

static const struct net_backend_ops s_ops = {
	.name = "stream",
	.send = net_stream_send,
	.rx_room = net_stream_room,
	.destroy = s_destroy,
};

static void s_init(struct srig *x)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_NONE };
	int sv[2];

	struct tstream *ts = calloc(1, sizeof(*ts));

	memset(x, 0, sizeof(*x));
	if (!ts || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	x->peer = sv[1];
	ts->x = x;
	x->s = &ts->s;
	net_stream_init(x->s, NULL, sv[0], &s_ops, s_down);
	x->s->rx_flags = VIRTIO_NET_HDR_F_DATA_VALID;
	test_rig_init(&x->r.t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&x->r.t, BASE);
	pol(&np.policy);
	if (net_policy_set_base(&np.policy, "all"))
		abort();
	x->r.net = test_pages_new(sizeof(*x->r.net)); /* rig_fini unmaps it */
	if (net_init_with(x->r.net, &np, &x->r.t.loop, &x->r.t.m, &mp, &x->s->be) ||
	    virtio_mmio_register(&x->r.net->transport, &x->r.t.bus) || rig_up(&x->r, F_ALL))
		abort();
	net_stream_start(x->s);
}

static void s_fini(struct srig *x)
{
	rig_fini(&x->r);
	if (x->peer >= 0)
		close(x->peer);
}

/* put: bytes to the device's end, all of them (the loop runs while the
 * socket is full). */
static void put(struct srig *x, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (int tries = 0; n; tries++) {
		ssize_t w = write(x->peer, b, n);

		if (w < 0 && errno != EAGAIN)
			abort();
		if (w < 0 && tries > 1000)
			abort();
		if (w < 0) {
			pump(&x->r);
			continue;
		}
		b += w;
		n -= (size_t)w;
	}
}

/* rec: a record of the protocol: length in network order, then frame. */
static size_t rec(uint8_t *out, const uint8_t *f, uint32_t len)
{
	uint32_t be = htonl(len);

	memcpy(out, &be, 4);
	if (f)
		memcpy(out + 4, f, len);
	return 4 + (size_t)len;
}

/* got: the next frame the guest received (past its header), its length or 0. */
static size_t got(struct srig *x, uint8_t *out, uint8_t *flags)
{
	uint32_t id = 0, used = 0;
	uint64_t addr;
	const uint8_t *p;

	if (!vdrv_get_used(&x->r.rx, &id, &used) || used < NET_HDR_LEN)
		return 0;
	memcpy(&addr, vdrv_host(&x->r.rx, x->r.rx.desc + 16ull * id, 8), 8);
	p = vdrv_host(&x->r.rx, addr, used);
	if (flags)
		*flags = p[0];
	memcpy(out, p + NET_HDR_LEN, used - NET_HDR_LEN);
	return used - NET_HDR_LEN;
}

/* collect: pump, and count the guest's frames that equal frame(len, seed). */
static unsigned int collect(struct srig *x, size_t len, uint8_t seed, unsigned int want)
{
	uint8_t f[NF_MAX], g[NF_MAX], fl = 0;
	unsigned int n = 0;
	size_t l;

	frame(f, len, seed);
	for (int i = 0; i < 50 && n < want; i++) {
		pump(&x->r);
		while ((l = got(x, g, &fl)) != 0)
			n += l == len && !memcmp(f, g, len) && (fl & VIRTIO_NET_HDR_F_DATA_VALID);
	}
	return n;
}

TEST(two_frames_in_one_read)
{
	struct srig x;
	uint8_t f[NF_MAX], buf[2 * (4 + NF_MAX)];
	size_t n;

	s_init(&x);
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	frame(f, 100, 1);
	n = rec(buf, f, 100);
	n += rec(buf + n, f, 100);
	put(&x, buf, n);
	CHECK_EQ(collect(&x, 100, 1, 2), 2);
	CHECK_EQ(x.r.net->stats.rx_dropped, 0);
	CHECK_EQ(x.downs, 0);
	s_fini(&x);
}

TEST(a_frame_cut_across_reads)
{
	struct srig x;
	uint8_t f[NF_MAX], buf[4 + NF_MAX];
	size_t n;

	s_init(&x);
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	frame(f, NF_ETH, 2);
	n = rec(buf, f, NF_ETH);
	/* The length in two pieces, then the frame in two. */
	put(&x, buf, 2);
	CHECK_EQ(collect(&x, NF_ETH, 2, 1), 0);
	put(&x, buf + 2, 2);
	CHECK_EQ(collect(&x, NF_ETH, 2, 1), 0);
	put(&x, buf + 4, 700);
	CHECK_EQ(collect(&x, NF_ETH, 2, 1), 0);
	put(&x, buf + 704, n - 704);
	CHECK_EQ(collect(&x, NF_ETH, 2, 1), 1);
	CHECK_EQ(x.downs, 0);
	s_fini(&x);
}

TEST(lengths_the_device_cannot_take_are_read_past)
{
	struct srig x;
	static uint8_t big[4 + 9000];
	uint8_t f[NF_MAX], buf[4 + NF_MAX];

	s_init(&x);
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	/* A 9000-byte frame (a datagram the peer did not fragment), a
	 * runt, an empty record, then a frame that fits. */
	memset(big, 0xab, sizeof(big));
	put(&x, big, rec(big, NULL, 9000));
	frame(f, 10, 3);
	put(&x, buf, rec(buf, f, 10));
	put(&x, buf, rec(buf, NULL, 0));
	frame(f, 60, 4);
	put(&x, buf, rec(buf, f, 60));
	CHECK_EQ(collect(&x, 60, 4, 1), 1);
	CHECK_EQ(x.r.net->stats.rx_dropped, 3);
	CHECK_EQ(x.downs, 0);
	CHECK_EQ(cfg8(&x.r, STATUS_OFF) & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	s_fini(&x);
}

TEST(a_length_past_the_protocol_ends_the_stream)
{
	struct srig x;
	uint8_t f[NF_MAX], buf[4 + NF_MAX], c;
	size_t n;
	uint32_t gen;
	int irqs;

	s_init(&x);
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	gen = rd(&x.r, VIRTIO_MMIO_CONFIG_GENERATION);
	irqs = x.r.t.irqs;
	frame(f, 60, 5);
	put(&x, buf, rec(buf, f, 60));
	rec(buf, NULL, NET_STREAM_MAX_LEN + 1);
	put(&x, buf, 4);
	put(&x, buf, rec(buf, f, 60)); /* never read as a frame */
	CHECK_EQ(collect(&x, 60, 5, 2), 1);
	CHECK_EQ(x.downs, 1);
	CHECK_ERR(x.down_err, -EPROTO);
	/* The link is down, and the driver was told. */
	CHECK_EQ(cfg8(&x.r, STATUS_OFF) & VIRTIO_NET_S_LINK_UP, 0);
	CHECK(rd(&x.r, VIRTIO_MMIO_CONFIG_GENERATION) != gen);
	CHECK(x.r.t.irqs > irqs);
	CHECK(rd(&x.r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* The peer sees the stream shut; the guest's frames go nowhere. */
	CHECK_EQ(read(x.peer, &c, 1), 0);
	n = nf_ipv4_full(f, NF_GW_IP, IPPROTO_UDP, 9999, NULL, 0, 0, 20);
	CHECK_EQ(tx(&x.r, NULL, f, n), 0);
	CHECK_EQ(x.r.net->stats.tx_errors, 1);
	pump(&x.r);
	CHECK_EQ(x.downs, 1);
	CHECK(!needs_reset(&x.r));
	s_fini(&x);
}

TEST(the_peer_going_away_takes_the_link_down_once)
{
	struct srig x;

	s_init(&x);
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	close(x.peer);
	x.peer = -1;
	for (int i = 0; i < 10; i++)
		pump(&x.r);
	CHECK_EQ(x.downs, 1);
	CHECK_ERR(x.down_err, 0);
	CHECK_EQ(cfg8(&x.r, STATUS_OFF) & VIRTIO_NET_S_LINK_UP, 0);
	s_fini(&x);
}

TEST(frames_from_the_guest_are_records)
{
	struct srig x;
	uint8_t f[NF_MAX], buf[4 + NF_MAX];
	size_t n;
	uint32_t len;

	s_init(&x);
	n = nf_ipv4_full(f, NF_GW_IP, IPPROTO_UDP, 9999, NULL, 0, 0, 100);
	CHECK_EQ(tx(&x.r, NULL, f, n), 0);
	CHECK_EQ(x.r.net->stats.tx_frames, 1);
	CHECK_EQ(read(x.peer, buf, sizeof(buf)), 4 + n);
	memcpy(&len, buf, 4);
	CHECK_EQ(ntohl(len), n);
	CHECK(!memcmp(buf + 4, f, n));
	s_fini(&x);
}

/* A guest slower than the peer: 300 frames, more than the device's queue
 * holds; the guest's buffers come 16 at a time; none is dropped. */
TEST(a_slow_guest_loses_nothing)
{
	struct srig x;
	uint8_t f[NF_MAX], g[NF_MAX], buf[4 + NF_MAX];
	unsigned int seen = 0, posted = 0;
	size_t l;

	s_init(&x);
	frame(f, 100, 7);
	for (int i = 0; i < 300; i++)
		put(&x, buf, rec(buf, f, 100));
	for (int round = 0; round < 200 && seen < 300; round++) {
		if (posted - seen < 16) {
			rx_post(&x.r, 16, 256);
			posted += 16;
			kick(&x.r, NET_RX_QUEUE);
		}
		pump(&x.r);
		while ((l = got(&x, g, NULL)) != 0)
			seen += l == 100 && !memcmp(g, f, 100);
	}
	CHECK_EQ(seen, 300);
	CHECK_EQ(x.r.net->stats.rx_dropped, 0);
	CHECK_EQ(x.downs, 0);
	s_fini(&x);
}

/* A peer slower than the guest: the socket fills mid-frame; what is sent
 * stays a stream of whole records, in order, and the rest is answered
 * -EAGAIN (the device would keep it in its ring). */
TEST(a_slow_peer_gets_whole_frames)
{
	struct srig x;
	static uint8_t in[1 << 20];
	uint8_t f[1000];
	int sz = 4096, ok = 0, refused = 0, seq = 0;
	size_t have = 0, off = 0;

	s_init(&x);
	CHECK_EQ(setsockopt(x.s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	for (int i = 0; i < 200; i++) {
		memset(f, i, sizeof(f));
		if (net_stream_send(&x.s->be, f, sizeof(f)) == 0)
			ok++;
		else
			refused++;
	}
	CHECK(ok > 0 && refused > 0);
	CHECK(x.s->wlen > 0);
	/* The peer reads; the loop writes the rest as the socket drains. */
	for (int i = 0; i < 2000 && (have < (size_t)ok * 1004 || x.s->wlen); i++) {
		ssize_t r = read(x.peer, in + have, sizeof(in) - have);

		if (r > 0)
			have += (size_t)r;
		pump(&x.r);
	}
	CHECK_EQ(have, (size_t)ok * 1004);
	for (; off + 4 <= have; seq++) {
		uint32_t len;

		memcpy(&len, in + off, 4);
		CHECK_EQ(ntohl(len), 1000);
		/* The first ones sent, in order, each whole. */
		CHECK_EQ(in[off + 4], (uint8_t)seq);
		CHECK_EQ(in[off + 1003], (uint8_t)seq);
		off += 1004;
	}
	CHECK_EQ(seq, ok);
	CHECK_EQ(x.downs, 0);
	s_fini(&x);
}

/* The frames of the slow-peer tests: together more than the stream's
 * buffer (NET_STREAM_WBUF) and the socket's hold. */
#define SEQ_LEN 3000
_Static_assert(60 * (4 + SEQ_LEN) > NET_STREAM_WBUF + 32768, "the stream must fill");

/* post_seq: count frames of len bytes in the transmit ring, frame i
 * carrying i in its last two bytes, then the driver's notification. */
static void post_seq(struct srig *x, unsigned int count, size_t len)
{
	uint8_t f[SEQ_LEN];

	for (unsigned int i = 0; i < count; i++) {
		size_t n = nf_ipv4_full(f, NF_GW_IP, IPPROTO_UDP, 9999, NULL, 0, 0, len - 42);
		struct vdrv_buf b;

		f[n - 2] = (uint8_t)(i >> 8);
		f[n - 1] = (uint8_t)i;
		b = (struct vdrv_buf){ tx_buf(&x->r, NULL, f, n), (uint32_t)(NET_HDR_LEN + n),
			               false };
		vdrv_add_chain(&x->r.tx, &b, 1);
	}
	kick(&x->r, NET_TX_QUEUE);
}

/* used_count: transmit chains given back since the last call. */
static unsigned int used_count(struct srig *x)
{
	uint32_t id = 0, used = 0;
	unsigned int k = 0;

	while (vdrv_get_used(&x->r.tx, &id, &used))
		k++;
	return k;
}

/* records_ok: in[0, have) is count whole records of len, in sequence. */
static bool records_ok(const uint8_t *in, size_t have, unsigned int count, size_t len)
{
	if (have != (size_t)count * (4 + len))
		return false;
	for (unsigned int seq = 0; seq < count; seq++) {
		const uint8_t *p = in + (size_t)seq * (4 + len);
		uint32_t l;

		memcpy(&l, p, 4);
		if (ntohl(l) != len || (unsigned int)(p[4 + len - 2] << 8 | p[4 + len - 1]) != seq)
			return false;
	}
	return true;
}

/* A peer slower than the guest, through the guest's transmit ring: more
 * than the stream holds (60 frames of 3000 bytes, on a device with passt's
 * MTU, past 128 KiB and a 4 KiB socket): the chains wait in the ring,
 * none is lost, and each goes back used once its frame is on the stream. */
TEST(a_slow_peer_loses_no_frame)
{
	struct srig x;
	static uint8_t in[1 << 20];
	int sz = 4096;
	unsigned int usedn = 0;
	size_t have = 0;

	s_init(&x);
	x.r.net->mtu = NET_MTU_MAX; /* passt's */
	CHECK_EQ(setsockopt(x.s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	post_seq(&x, 60, SEQ_LEN);
	usedn += used_count(&x);
	CHECK(usedn < 60);
	CHECK(x.r.net->tx_blocked);
	/* The peer reads 3000 bytes at a time, between passes. */
	for (int i = 0; i < 5000 && (usedn < 60 || x.s->wlen); i++) {
		ssize_t r = read(x.peer, in + have, 3000);

		if (r > 0)
			have += (size_t)r;
		pump(&x.r);
		usedn += used_count(&x);
	}
	for (ssize_t r; (r = read(x.peer, in + have, sizeof(in) - have)) > 0;)
		have += (size_t)r;
	CHECK_EQ(usedn, 60);
	CHECK(records_ok(in, have, 60, SEQ_LEN));
	CHECK_EQ(x.r.net->stats.tx_frames, 60);
	CHECK_EQ(x.r.net->stats.tx_errors, 0);
	CHECK(x.r.net->stats.tx_blocked > 0);
	CHECK_EQ(x.downs, 0);
	s_fini(&x);
}

/* A peer that stops reading: the device tries once per wake-up, not on
 * every pass (no spinning), the loop goes on serving the receive side,
 * and when the peer goes away the chains held back go (as errors). */
TEST(a_stalled_peer_does_not_hold_the_loop)
{
	struct srig x;
	uint8_t f[NF_MAX], buf[4 + NF_MAX];
	int sz = 4096;
	unsigned int usedn;
	uint64_t blocked;

	s_init(&x);
	x.r.net->mtu = NET_MTU_MAX; /* passt's */
	CHECK_EQ(setsockopt(x.s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	post_seq(&x, 60, SEQ_LEN);
	usedn = used_count(&x);
	blocked = x.r.net->stats.tx_blocked;
	CHECK(usedn < 60);
	CHECK_EQ(blocked, 1);
	for (int i = 0; i < 100; i++)
		pump(&x.r);
	kick(&x.r, NET_TX_QUEUE);
	usedn += used_count(&x);
	CHECK(usedn < 60);
	CHECK_EQ(x.r.net->stats.tx_blocked, blocked);
	CHECK_EQ(x.r.net->stats.tx_errors, 0);
	/* Meanwhile frames from the peer still reach the guest. */
	rx_post(&x.r, 8, 2048);
	kick(&x.r, NET_RX_QUEUE);
	frame(f, 100, 9);
	put(&x, buf, rec(buf, f, 100));
	CHECK_EQ(collect(&x, 100, 9, 1), 1);
	/* The peer goes away: the link goes down, the held chains go back. */
	close(x.peer);
	x.peer = -1;
	for (int i = 0; i < 20; i++) {
		pump(&x.r);
		usedn += used_count(&x);
	}
	CHECK_EQ(x.downs, 1);
	CHECK_EQ(usedn, 60);
	CHECK_EQ(x.r.net->stats.tx_frames + x.r.net->stats.tx_errors, 60);
	CHECK(!needs_reset(&x.r));
	s_fini(&x);
}

CHECK_MAIN(CASE(two_frames_in_one_read), CASE(a_frame_cut_across_reads),
           CASE(lengths_the_device_cannot_take_are_read_past),
           CASE(a_length_past_the_protocol_ends_the_stream),
           CASE(the_peer_going_away_takes_the_link_down_once),
           CASE(frames_from_the_guest_are_records), CASE(a_slow_guest_loses_nothing),
           CASE(a_slow_peer_gets_whole_frames), CASE(a_slow_peer_loses_no_frame),
           CASE(a_stalled_peer_does_not_hold_the_loop))

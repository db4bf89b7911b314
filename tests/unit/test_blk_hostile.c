// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-blk (virtio/blk.c), second part: bad requests,
 * broken chains, host I/O errors, batching under load, resets with I/O in
 * flight, and init errors (the rig: test_blk.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_blk.h"

#include <pthread.h>
#include <stdatomic.h>

TEST(bad_requests)
{
	struct rig r;
	struct vdrv_buf b[3];
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);
	data = buf(&r, 1024, 0x11);
	/* Beyond the capacity, across its end, overflowing sector + length. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS, data, 512, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, ~0ull, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, ~0ull - 1, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	/* sector << 9 would wrap to a small offset. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 1ull << 55, data, 512, NULL), VIRTIO_BLK_S_IOERR);
	/* A length that is not whole sectors. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 513, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 100, NULL), VIRTIO_BLK_S_IOERR);
	/* Unknown types, and types we do not implement. */
	CHECK_EQ(rw(&r, 0xdead, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(rw(&r, 10 /* GET_LIFETIME */, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(rw(&r, 14 /* SECURE_ERASE */, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes, and one the device may not read. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 15, false };
	b[1] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 2, false, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 0), 16, true };
	b[1] = (struct vdrv_buf){ buf(&r, 513, ST_UNSET), 513, true };
	CHECK_EQ(one(&r, b, 2, false, NULL), VIRTIO_BLK_S_IOERR);
	/* Data on the wrong side: a write with writable data is a write of 0 bytes. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 16, false };
	b[1] = (struct vdrv_buf){ data, 512, true };
	b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 3, false, NULL), VIRTIO_BLK_S_OK);
	CHECK(all(host(&r, data, 512), 512, 0x11));
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	CHECK_EQ(r.blk->stats.writes, 0);
	CHECK(r.blk->stats.io_errors >= 10);
	CHECK_EQ(r.blk->stats.unsupported, 3);
	/* Still alive. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 512, NULL), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

/* Chains the device cannot answer: DEVICE_NEEDS_RESET, a config interrupt. */
TEST(broken_chains_need_reset)
{
	struct rig r;
	struct vdrv_buf b[3];
	uint64_t data;

	rig_init(&r, false, NULL);
	for (int kind = 0; kind < 4; kind++) {
		int irqs;

		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		irqs = r.t.irqs;
		data = buf(&r, 512, 0x22);
		b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 0), 16, false };
		b[1] = (struct vdrv_buf){ data, 512, false };
		b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
		if (kind == 1)
			b[2].len = 0; /* a status descriptor of zero length */
		if (kind == 2)
			b[1].gpa = RAM_SIZE - 256; /* data beyond RAM */
		if (kind == 3)
			b[2].gpa = 1ull << 40; /* status far outside RAM */
		vdrv_add_chain(&r.d, b, kind == 0 ? 2 : 3);
		kick(&r);
		CHECK_EQ(settle(&r), 0);
		CHECK(needs_reset(&r));
		CHECK_EQ(r.t.irqs, irqs + 1);
		CHECK(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
		CHECK_EQ(vdrv_used_idx(&r.d), 0);
		/* Notifications no longer reach it. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 512, NULL), NO_STATUS);
		CHECK(!inflight(r.blk));
		CHECK(file_ok(&r));
		wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	}
	/* A reset and a new handshake bring it back. */
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK(!needs_reset(&r));
	data = buf(&r, 512, 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 1, data, 512, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 512, 512), 0);
	rig_fini(&r);
}

/* A host I/O error fails that request, and only that one. */
TEST(host_io_error)
{
	struct rig r;
	uint64_t data;
	int good, wfd, rfd;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	data = buf(&r, 1024, 0x44);
	good = dup(r.blk->fd);
	/* Reads through a write-only fd, writes through a read-only one: EBADF. */
	wfd = open(r.path, O_WRONLY | O_CLOEXEC);
	rfd = open(r.path, O_RDONLY | O_CLOEXEC);
	CHECK(good >= 0 && wfd >= 0 && rfd >= 0);
	CHECK_EQ(dup2(wfd, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 0, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dup2(rfd, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 0, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(r.blk->stats.io_errors, 2);
	CHECK(file_ok(&r));
	CHECK_EQ(dup2(good, r.blk->fd), r.blk->fd);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 2, data, 1024, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 1024), r.shadow + 1024, 1024), 0);

	/* Short read: the image shrank under the device. */
	CHECK_EQ(truncate(r.path, IMG_BYTES / 2), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 2, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(truncate(r.path, IMG_BYTES), 0);
	memset(r.shadow + IMG_BYTES / 2, 0, IMG_BYTES / 2);
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	close(good);
	close(wfd);
	close(rfd);
	rig_fini(&r);
}

/* submit_reads: n indirect reads of one sector each, at first + i * 3. */
static void submit_reads(struct rig *r, unsigned int n, uint32_t first, uint64_t *data,
                         uint64_t *st)
{
	for (unsigned int i = 0; i < n; i++) {
		struct vdrv_buf b[3];

		data[i] = buf(r, 512, 0);
		st[i] = buf(r, 1, ST_UNSET);
		b[0] = (struct vdrv_buf){ hdr(r, VIRTIO_BLK_T_IN, first + i * 3), 16, false };
		b[1] = (struct vdrv_buf){ data[i], 512, true };
		b[2] = (struct vdrv_buf){ st[i], 1, true };
		vdrv_add_indirect(&r->d, b, 3);
	}
}

/* reads_ok: n used elements, each OK with the right data. */
static bool reads_ok(struct rig *r, unsigned int n, uint32_t first, const uint64_t *data,
                     const uint64_t *st)
{
	bool *seen = calloc(n, sizeof(*seen));
	bool ok = seen != NULL;
	uint32_t id, len;

	for (unsigned int i = 0; ok && i < n; i++)
		ok = vdrv_get_used(&r->d, &id, &len) && id < n && !seen[id] && len == 513;
	for (unsigned int i = 0; ok && i < n; i++)
		ok = *host(r, st[i], 1) == VIRTIO_BLK_S_OK &&
		     memcmp(host(r, data[i], 512), r->shadow + (first + i * 3) * 512, 512) == 0;
	ok = ok && vdrv_used_idx(&r->d) == r->d.used_seen;
	free(seen);
	return ok;
}

TEST(batching)
{
	enum { N = 32 };
	struct rig r;
	uint64_t data[N], st[N];
	unsigned int runs;

	/* Without EVENT_IDX: at most one interrupt per loop batch. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, 64), 0);
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	CHECK_EQ(settle(&r), 0);
	CHECK(reads_ok(&r, N, 0, data, st));
	CHECK_EQ(r.blk->stats.reads, N);
	CHECK(r.t.irqs >= 1);
	CHECK_EQ((uint64_t)r.t.irqs, r.blk->stats.batches);
	CHECK(r.blk->stats.batches <= r.runs);

	/* VRING_AVAIL_F_NO_INTERRUPT: none. */
	vdrv_set_avail_flags(&r.d, VRING_AVAIL_F_NO_INTERRUPT);
	r.t.irqs = 0;
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	CHECK_EQ(settle(&r), 0);
	CHECK_EQ(r.t.irqs, 0);
	rig_fini(&r);

	/* EVENT_IDX, used_event at the last one: one interrupt for all. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT | F_EVENT_IDX, 64), 0);
	CHECK(r.blk->transport.queues[0].event_idx);
	vdrv_set_used_event(&r.d, N - 1);
	submit_reads(&r, N, 0, data, st);
	kick(&r);
	runs = r.runs;
	CHECK_EQ(settle(&r), 0);
	CHECK(reads_ok(&r, N, 0, data, st));
	CHECK_EQ(r.t.irqs, 1);
	CHECK(r.blk->stats.batches <= r.runs - runs);
	rig_fini(&r);
}

/* A full queue of requests in one notification, all completed. */
TEST(many_requests)
{
	enum { N = BLK_QUEUE_SIZE };
	struct rig r;
	uint64_t *data = calloc(N, sizeof(*data)), *st = calloc(N, sizeof(*st));

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, N), 0);
	for (int round = 0; round < 2; round++) {
		r.d.used_seen = vdrv_used_idx(&r.d);
		submit_reads(&r, N, 0, data, st);
		kick(&r);
		CHECK_EQ(settle(&r), 0);
		CHECK(reads_ok(&r, N, 0, data, st));
	}
	CHECK(!r.blk->starved);
	CHECK(!needs_reset(&r));
	free(data);
	free(st);
	rig_fini(&r);
}

/*
 * Reset with requests in flight: their completions come after the reset and
 * must not reach the old rings; the device works again at once, with new
 * rings elsewhere, even while the old requests still hold its blk_reqs.
 */
TEST(reset_in_flight)
{
	enum { N = BLK_QUEUE_SIZE, M = 16 };
	struct rig r;
	uint64_t *wst = calloc(N, sizeof(*wst)), data[M], st[M], old_used;
	int irqs;
	bool untouched = true;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, N), 0);
	for (unsigned int i = 0; i < N; i++) {
		struct vdrv_buf b[3];

		wst[i] = buf(&r, 1, ST_UNSET);
		b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, i), 16, false };
		b[1] = (struct vdrv_buf){ buf(&r, 512, (uint8_t)i), 512, false };
		b[2] = (struct vdrv_buf){ wst[i], 1, true };
		vdrv_add_indirect(&r.d, b, 3);
	}
	/* One notification takes BLK_BUDGET of them; more notifications the rest. */
	for (unsigned int k = 0; k * BLK_BUDGET < N; k++)
		kick(&r);
	/* Every blk_req is taken, none has completed. */
	CHECK_EQ(vdrv_used_idx(&r.d), 0);
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		CHECK(r.blk->reqs[i].in_use);
	old_used = r.d.used;
	irqs = r.t.irqs;

	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	/* Up again on rings in the other half of RAM; new reads must wait. */
	CHECK_EQ(rig_up_at(&r, F_ALL | F_INDIRECT, M, HALF, RAM_SIZE), 0);
	submit_reads(&r, M, 1024, data, st);
	kick(&r);
	CHECK(r.blk->starved);
	CHECK_EQ(vdrv_used_idx(&r.d), 0);
	CHECK_EQ(settle(&r), 0);

	/* The old rings and status bytes are as the reset left them. */
	CHECK_EQ(vdrv_load16(&r.d, old_used + 2), 0);
	for (unsigned int i = 0; i < N; i++)
		untouched = untouched && *host(&r, wst[i], 1) == ST_UNSET;
	CHECK(untouched);
	/* The new requests all completed once the old ones let go. */
	for (unsigned int i = 0; i < N; i++)
		memset(r.shadow + i * 512, (int)i, 512); /* the late writes did land */
	CHECK(reads_ok(&r, M, 1024, data, st));
	CHECK(r.t.irqs > irqs);
	CHECK(!r.blk->starved);
	CHECK(!inflight(r.blk));
	CHECK(!needs_reset(&r));
	CHECK(file_ok(&r));
	free(wst);
	rig_fini(&r);
}

/* A reset with nothing in flight, then the same rings again. */
TEST(reset_and_reuse)
{
	struct rig r;
	uint64_t data;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_EVENT_IDX, 16), 0);
	data = buf(&r, 512, 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 9, data, 512, NULL), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		data = buf(&r, 512, 0);
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 9 + i, data, 512, NULL), VIRTIO_BLK_S_OK);
		CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + (9 + i) * 512, 512), 0);
	}
	rig_fini(&r);
}

TEST(init_errors)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct loop l;
	struct gmem m;
	uint8_t ram[4096];
	struct virtio_mmio_params mp = { .base = BASE, .irq = no_irq };
	struct blk_params bp = { .path = "/nonexistent/blk.img" };
	char path[] = "/tmp/test_blk.XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0 && b);
	CHECK_EQ(gmem_init_buffer(&m, ram, sizeof(ram)), 0);
	CHECK_EQ(loop_init(&l, 8), 0);
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -ENOENT);
	/* Empty, and smaller than a sector. */
	bp.path = path;
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	CHECK_EQ(ftruncate(fd, 511), 0);
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	/* Neither a regular file nor a block device. */
	bp.path = "/dev/null";
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -EINVAL);
	bp.path = "/tmp";
	CHECK(blk_init(b, &bp, &l, &m, &mp) < 0);
	/* A partial last sector is not offered. */
	CHECK_EQ(ftruncate(fd, 4096 + 100), 0);
	bp.path = path;
	CHECK_EQ(blk_init(b, &bp, &l, &m, &mp), 0);
	CHECK_EQ(b->capacity, 8);
	blk_destroy(b);
	/* The loop has no idle slot left: refused, and the image closed. */
	while (loop_add_idle(&l, no_irq, NULL) == 0)
		;
	CHECK_ERR(blk_init(b, &bp, &l, &m, &mp), -ENOSPC);
	CHECK_EQ(b->fd, -1);
	close(fd);
	unlink(path);
	loop_destroy(&l);
	free(b);
}

/*
 * unknown_chain: a request of an unknown type, answered at once without
 * I/O (UNSUPP): the cheapest way for a guest to keep the ring busy.
 * Returns its head; the chain is published once.
 */
static uint16_t unknown_chain(struct rig *r)
{
	struct vdrv_buf b[2] = {
		{ hdr(r, 0xdead, 0), 16, false },
		{ buf(r, 1, ST_UNSET), 1, true },
	};

	return vdrv_add_chain(&r->d, b, 2);
}

/* One notification handles at most BLK_BUDGET chains; the rest follow on later passes. */
TEST(budget_per_pass)
{
	struct rig r;
	uint16_t head;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 256), 0);
	/* The same head re-posted to fill the ring (the device does not
	 * track heads; the driver would be buggy, not the device). */
	head = unknown_chain(&r);
	for (unsigned int i = 1; i < 256; i++)
		vdrv_publish(&r.d, head);
	kick(&r);
	CHECK_EQ(vdrv_used_idx(&r.d), BLK_BUDGET);
	CHECK_EQ(r.blk->stats.unsupported, BLK_BUDGET);
	/* Each later pass of the loop takes the next BLK_BUDGET. */
	test_rig_pump(&r.t, 1);
	CHECK_EQ(vdrv_used_idx(&r.d), 2 * BLK_BUDGET);
	test_rig_pump(&r.t, 8);
	CHECK_EQ(vdrv_used_idx(&r.d), 256);
	CHECK_EQ(r.blk->stats.unsupported, 256);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* The guest of issue 14: re-posts the head as soon as it comes back, for ever. */
struct reposter {
	struct vdrv *d;
	uint16_t head;
	atomic_bool stop;
	unsigned int posted;
};

static void *repost_loop(void *opaque)
{
	struct reposter *g = opaque;

	/* Keep the ring full: one new entry for each used one. */
	while (!atomic_load(&g->stop) && g->posted < 1000000) {
		uint16_t used = vdrv_used_idx(g->d);

		while ((uint16_t)(g->d->avail_idx - used) < g->d->size) {
			vdrv_publish(g->d, g->head);
			g->posted++;
		}
	}
	return NULL;
}

/* ring_full: wait (boundedly) until the re-posting guest filled the ring again. */
static bool ring_full(struct reposter *g)
{
	for (long i = 0; i < 100000000; i++)
		if ((uint16_t)(vdrv_load16(g->d, g->d->avail + 2) - vdrv_used_idx(g->d)) ==
		    g->d->size)
			return true;
	return false;
}

/*
 * Each notification returns after BLK_BUDGET chains although the guest
 * keeps the ring full (before the fix, one call ran until the guest
 * stopped), and the device goes on serving it over later passes.
 */
TEST(reposting_guest_does_not_hold_the_loop)
{
	struct rig r;
	struct reposter g = { 0 };
	pthread_t t;
	uint16_t before, end;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 256), 0);
	g.d = &r.d;
	g.head = unknown_chain(&r);
	g.posted = 1;
	CHECK_EQ(pthread_create(&t, NULL, repost_loop, &g), 0);
	for (int i = 0; i < 8; i++) {
		CHECK(ring_full(&g));
		before = vdrv_used_idx(&r.d);
		kick(&r);
		CHECK((uint16_t)(vdrv_used_idx(&r.d) - before) <= BLK_BUDGET);
		test_rig_pump(&r.t, 1);
	}
	CHECK(g.posted < 1000000);
	atomic_store(&g.stop, true);
	pthread_join(t, NULL);
	/* What the guest left in the ring is served on later passes. */
	end = r.d.avail_idx;
	test_rig_pump(&r.t, 8);
	CHECK_EQ(vdrv_used_idx(&r.d), end);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

CHECK_MAIN(CASE(bad_requests), CASE(broken_chains_need_reset), CASE(host_io_error), CASE(batching),
           CASE(many_requests), CASE(reset_in_flight), CASE(reset_and_reuse), CASE(init_errors),
           CASE(budget_per_pass), CASE(reposting_guest_does_not_hold_the_loop))

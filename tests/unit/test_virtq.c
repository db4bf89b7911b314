// SPDX-License-Identifier: MIT
/*
 * Unit tests of the split virtqueue, device side (virtio/virtq.c), driven
 * by the simulated driver of virtio_driver.h over fake guest RAM.
 */
#include "check.h"
#include "virtio/virtq.h"
#include "virtio_driver.h"

#include <errno.h>

#define RAM_SIZE (1u << 20)
#define QSIZE    8
#define ALL_RING_FEATURES                                                                          \
	((1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static struct virtq_chain chain; /* 24 KiB: not on the stack */

/*
 * setup: RAM, a driver with a queue of qsize at GPA 0, the device queue
 * ready. Returns virtq_enable's result; a broken test rig aborts.
 */
static int setup(struct gmem *m, struct vdrv *d, struct virtq *q, uint16_t qsize, uint64_t features)
{
	if (gmem_init_buffer(m, ram, sizeof(ram)) != 0)
		abort();
	vdrv_init(d, m, qsize, 0, RAM_SIZE);
	if (virtq_init(q, m, 256) != 0 || virtq_set_size(q, qsize) != 0)
		abort();
	q->desc_gpa = d->desc;
	q->avail_gpa = d->avail;
	q->used_gpa = d->used;
	return virtq_enable(q, features);
}

TEST(direct_round_trip)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[3];
	uint32_t id = 0, len = 0;
	uint16_t head;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	CHECK_ERR(virtq_pop(&q, &chain), -ENOENT);
	b[0] = (struct vdrv_buf){ vdrv_alloc(&d, 16), 16, false };
	b[1] = (struct vdrv_buf){ vdrv_alloc(&d, 512), 512, false };
	b[2] = (struct vdrv_buf){ vdrv_alloc(&d, 1), 1, true };
	head = vdrv_add_chain(&d, b, 3);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.head, head);
	CHECK_EQ(chain.nr_segs, 3);
	CHECK_EQ(chain.nr_readable, 2);
	CHECK_EQ(chain.readable_len, 528);
	CHECK_EQ(chain.writable_len, 1);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(chain.segs[i].gpa, b[i].gpa);
		CHECK_EQ(chain.segs[i].len, b[i].len);
		CHECK_EQ(chain.segs[i].writable, b[i].writable);
		CHECK(chain.segs[i].host == gmem_ptr(&m, b[i].gpa, b[i].len));
	}
	CHECK_ERR(virtq_pop(&q, &chain), -ENOENT);
	*(uint8_t *)chain.segs[2].host = 0x5a;
	CHECK_EQ(virtq_push(&q, head, 1), 0);
	CHECK(vdrv_get_used(&d, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 1);
	CHECK(!vdrv_get_used(&d, &id, &len));
	CHECK_ERR(virtq_push(&q, QSIZE, 0), -EINVAL); /* a device bug */
}

TEST(indirect_round_trip)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[4];
	uint32_t id = 0, len = 0;
	uint16_t head;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	for (int i = 0; i < 4; i++)
		b[i] = (struct vdrv_buf){ vdrv_alloc(&d, 100), 100, i >= 2 };
	head = vdrv_add_indirect(&d, b, 4);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.head, head);
	CHECK_EQ(chain.nr_segs, 4);
	CHECK_EQ(chain.nr_readable, 2);
	CHECK_EQ(chain.writable_len, 200);
	CHECK_EQ(chain.segs[3].gpa, b[3].gpa);
	CHECK_EQ(virtq_push(&q, head, 200), 0);
	CHECK(vdrv_get_used(&d, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 200);
}

/* §2.7.5.3.2: direct descriptors followed by one indirect one are valid. */
TEST(direct_then_indirect)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf ib[2];
	uint64_t table, hdr;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	hdr = vdrv_alloc(&d, 16);
	ib[0] = (struct vdrv_buf){ vdrv_alloc(&d, 64), 64, false };
	ib[1] = (struct vdrv_buf){ vdrv_alloc(&d, 64), 64, true };
	table = vdrv_alloc(&d, 32);
	vdrv_fill_table(&d, table, ib, 2);
	vdrv_desc(&d, d.desc, 5, hdr, 16, VRING_DESC_F_NEXT, 2);
	/* The indirect descriptor's WRITE flag is ignored (§2.7.5.3.2). */
	vdrv_desc(&d, d.desc, 2, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	vdrv_publish(&d, 5);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.head, 5);
	CHECK_EQ(chain.nr_segs, 3);
	CHECK_EQ(chain.nr_readable, 2);
	CHECK_EQ(chain.segs[0].gpa, hdr);
	CHECK_EQ(chain.segs[2].gpa, ib[1].gpa);
}

TEST(zero_length_skipped)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[3];

	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	b[0] = (struct vdrv_buf){ vdrv_alloc(&d, 16), 16, false };
	b[1] = (struct vdrv_buf){ 0xdead0000ull, 0, true }; /* nowhere, but empty */
	b[2] = (struct vdrv_buf){ vdrv_alloc(&d, 16), 16, true };
	vdrv_add_chain(&d, b, 3);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.nr_segs, 2);
	CHECK_EQ(chain.segs[1].gpa, b[2].gpa);
	/* A chain of one empty descriptor: popped, no segments. */
	vdrv_add_chain(&d, b + 1, 1);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.nr_segs, 0);
}

/* 70000 chains through a queue of 4: avail, used and the ring wrap. */
TEST(index_wrap)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b = { 0, 8, true };
	uint32_t id = 0, len = 0;
	int bad = 0;

	CHECK_EQ(setup(&m, &d, &q, 4, 0), 0);
	b.gpa = vdrv_alloc(&d, 8);
	for (uint32_t i = 0; i < 70000; i++) {
		uint16_t head = vdrv_add_chain(&d, &b, 1);

		if (virtq_pop(&q, &chain) != 0 || chain.head != head ||
		    virtq_push(&q, head, i & 0xff) != 0 || !vdrv_get_used(&d, &id, &len) ||
		    id != head || len != (i & 0xff))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(q.last_avail_idx, (uint16_t)70000);
	CHECK_EQ(vdrv_used_idx(&d), (uint16_t)70000);
}

/* push_n: n chains made available, popped and pushed. */
static int push_n(struct vdrv *d, struct virtq *q, uint64_t buf, unsigned int n)
{
	struct vdrv_buf b = { buf, 8, true };

	for (unsigned int i = 0; i < n; i++) {
		vdrv_add_chain(d, &b, 1);
		if (virtq_pop(q, &chain) != 0 || virtq_push(q, chain.head, 0) != 0)
			return -1;
	}
	return 0;
}

TEST(no_interrupt_flag)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t buf;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	buf = vdrv_alloc(&d, 8);
	CHECK(!virtq_needs_interrupt(&q)); /* nothing pushed */
	CHECK_EQ(push_n(&d, &q, buf, 2), 0);
	CHECK(virtq_needs_interrupt(&q));
	CHECK(!virtq_needs_interrupt(&q)); /* already judged */
	vdrv_set_avail_flags(&d, VRING_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(push_n(&d, &q, buf, 1), 0);
	CHECK(!virtq_needs_interrupt(&q));
	vdrv_set_avail_flags(&d, 0);
	CHECK_EQ(push_n(&d, &q, buf, 1), 0);
	CHECK(virtq_needs_interrupt(&q));
}

TEST(event_idx)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t buf;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	buf = vdrv_alloc(&d, 8);
	/* The flag is ignored with EVENT_IDX: only used_event counts. */
	vdrv_set_avail_flags(&d, VRING_AVAIL_F_NO_INTERRUPT);
	vdrv_set_used_event(&d, 0);
	CHECK_EQ(push_n(&d, &q, buf, 1), 0); /* used 0 -> 1, event 0 in [0, 1) */
	CHECK(virtq_needs_interrupt(&q));
	CHECK_EQ(vdrv_avail_event(&d), 1); /* kept at last_avail_idx */
	vdrv_set_used_event(&d, 5);
	CHECK_EQ(push_n(&d, &q, buf, 3), 0); /* 1 -> 4: 5 not crossed */
	CHECK(!virtq_needs_interrupt(&q));
	CHECK_EQ(push_n(&d, &q, buf, 2), 0); /* 4 -> 6: crosses 5 */
	CHECK(virtq_needs_interrupt(&q));
	CHECK_EQ(push_n(&d, &q, buf, 1), 0); /* 6 -> 7: 5 already behind */
	CHECK(!virtq_needs_interrupt(&q));
	/* An idle pop leaves avail_event at the next entry to take. */
	CHECK_ERR(virtq_pop(&q, &chain), -ENOENT);
	CHECK_EQ(vdrv_avail_event(&d), 7);
}

TEST(event_idx_wrap)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t buf;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	buf = vdrv_alloc(&d, 8);
	/* Move both sides to just below the wrap: 65533. */
	d.avail_idx = d.used_seen = 65533;
	vdrv_set_avail_idx(&d, 65533);
	q.last_avail_idx = q.used_idx = q.signalled_used = 65533;
	vdrv_set_used_event(&d, 65535);
	CHECK_EQ(push_n(&d, &q, buf, 2), 0); /* 65533 -> 65535: not yet */
	CHECK(!virtq_needs_interrupt(&q));
	CHECK_EQ(push_n(&d, &q, buf, 2), 0); /* 65535 -> 1 crosses 65535 */
	CHECK(virtq_needs_interrupt(&q));
	CHECK_EQ(q.used_idx, 1);
	vdrv_set_used_event(&d, 0);
	CHECK_EQ(push_n(&d, &q, buf, 1), 0); /* 1 -> 2: 0 is behind */
	CHECK(!virtq_needs_interrupt(&q));
	vdrv_set_used_event(&d, 2);
	CHECK_EQ(push_n(&d, &q, buf, 1), 0); /* 2 -> 3 */
	CHECK(virtq_needs_interrupt(&q));
}

/* expect_pop: pop fails with err, and keeps failing until reset. */
static void expect_pop(int *failed, struct virtq *q, int err)
{
	CHECK_ERR(virtq_pop(q, &chain), err);
	CHECK_ERR(virtq_pop(q, &chain), err);
	CHECK_EQ(q->error, err);
}

/* hostile_one: a single-descriptor chain (addr, len, flags, next) at head 0. */
static void hostile_one(int *failed, uint64_t features, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next, int err)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, features), 0);
	vdrv_desc(&d, d.desc, 0, addr, len, flags, next);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, err);
}

TEST(hostile_addresses)
{
	hostile_one(failed, 0, RAM_SIZE, 16, 0, 0, -EFAULT);       /* outside RAM */
	hostile_one(failed, 0, RAM_SIZE - 8, 16, 0, 0, -EFAULT);   /* straddles the end */
	hostile_one(failed, 0, UINT64_MAX - 7, 16, 0, 0, -EFAULT); /* wraps */
	hostile_one(failed, 0, 0x1000, UINT32_MAX, 0, 0, -EFAULT); /* absurd length */
	hostile_one(failed, 0, 0x1000, 16, VRING_DESC_F_NEXT, QSIZE, -EPROTO); /* next */
}

TEST(hostile_indices)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t buf;

	/* head >= size */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	vdrv_publish(&d, QSIZE);
	expect_pop(failed, &q, -EPROTO);
	/* avail->idx more than size ahead */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	vdrv_set_avail_idx(&d, QSIZE + 1);
	expect_pop(failed, &q, -EPROTO);
	/* a loop 0 -> 1 -> 2 -> 0 */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	buf = vdrv_alloc(&d, 16);
	vdrv_desc(&d, d.desc, 0, buf, 16, VRING_DESC_F_NEXT, 1);
	vdrv_desc(&d, d.desc, 1, buf, 16, VRING_DESC_F_NEXT, 2);
	vdrv_desc(&d, d.desc, 2, buf, 16, VRING_DESC_F_NEXT, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
	/* a self loop */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	vdrv_desc(&d, d.desc, 3, buf, 16, VRING_DESC_F_NEXT, 3);
	vdrv_publish(&d, 3);
	expect_pop(failed, &q, -EPROTO);
	/* reset clears the error */
	virtq_reset(&q);
	CHECK_EQ(q.error, 0);
	CHECK(!q.ready);
	CHECK_ERR(virtq_pop(&q, &chain), -ENOENT);
}

/* A chain using every descriptor is fine; one link more is a chain longer than the queue. */
TEST(chain_as_long_as_queue)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[QSIZE];
	uint64_t buf;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	for (int i = 0; i < QSIZE; i++)
		b[i] = (struct vdrv_buf){ vdrv_alloc(&d, 8), 8, false };
	vdrv_add_chain(&d, b, QSIZE);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	CHECK_EQ(chain.nr_segs, QSIZE);
	/* Every descriptor has NEXT: QSIZE + 1 hops, back onto the head. */
	buf = vdrv_alloc(&d, 8);
	for (uint16_t i = 0; i < QSIZE; i++)
		vdrv_desc(&d, d.desc, i, buf, 8, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % QSIZE));
	vdrv_publish(&d, 3);
	expect_pop(failed, &q, -EPROTO);
}

TEST(hostile_order_and_length)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[2];

	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	b[0] = (struct vdrv_buf){ vdrv_alloc(&d, 8), 8, true };
	b[1] = (struct vdrv_buf){ vdrv_alloc(&d, 8), 8, false };
	vdrv_add_chain(&d, b, 2); /* writable, then readable */
	expect_pop(failed, &q, -EPROTO);
}

TEST(hostile_indirect)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	struct vdrv_buf b[2];
	uint64_t t;

	/* Not negotiated. */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, 0), 0);
	b[0] = (struct vdrv_buf){ vdrv_alloc(&d, 8), 8, false };
	b[1] = (struct vdrv_buf){ vdrv_alloc(&d, 8), 8, true };
	vdrv_add_indirect(&d, b, 2);
	expect_pop(failed, &q, -EPROTO);
	/* Bad table lengths: 0, not a multiple of 16, too long. */
	hostile_one(failed, ALL_RING_FEATURES, 0x8000, 0, VRING_DESC_F_INDIRECT, 0, -EPROTO);
	hostile_one(failed, ALL_RING_FEATURES, 0x8000, 24, VRING_DESC_F_INDIRECT, 0, -EPROTO);
	hostile_one(failed, ALL_RING_FEATURES, 0x8000, 16 * (VIRTQ_INDIRECT_MAX + 1),
	            VRING_DESC_F_INDIRECT, 0, -EPROTO);
	/* Table outside RAM, or straddling its end. */
	hostile_one(failed, ALL_RING_FEATURES, RAM_SIZE, 32, VRING_DESC_F_INDIRECT, 0, -EFAULT);
	hostile_one(failed, ALL_RING_FEATURES, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0,
	            -EFAULT);
	/* INDIRECT together with NEXT (§2.7.5.3.1). */
	hostile_one(failed, ALL_RING_FEATURES, 0x8000, 32,
	            VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1, -EPROTO);

	/* Nested indirect. */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	t = vdrv_alloc(&d, 32);
	vdrv_desc(&d, t, 0, vdrv_alloc(&d, 8), 8, VRING_DESC_F_NEXT, 1);
	vdrv_desc(&d, t, 1, vdrv_alloc(&d, 32), 32, VRING_DESC_F_INDIRECT, 0);
	vdrv_desc(&d, d.desc, 0, t, 32, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
	/* A loop inside the table, and a next beyond it. */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	t = vdrv_alloc(&d, 32);
	vdrv_desc(&d, t, 0, vdrv_alloc(&d, 8), 8, VRING_DESC_F_NEXT, 1);
	vdrv_desc(&d, t, 1, vdrv_alloc(&d, 8), 8, VRING_DESC_F_NEXT, 0);
	vdrv_desc(&d, d.desc, 0, t, 32, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	t = vdrv_alloc(&d, 32);
	vdrv_desc(&d, t, 0, vdrv_alloc(&d, 8), 8, VRING_DESC_F_NEXT, 2);
	vdrv_desc(&d, d.desc, 0, t, 32, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
	/* Writable direct descriptor, then a readable one in the table. */
	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	t = vdrv_alloc(&d, 16);
	vdrv_desc(&d, t, 0, vdrv_alloc(&d, 8), 8, 0, 0);
	vdrv_desc(&d, d.desc, 0, vdrv_alloc(&d, 8), 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vdrv_desc(&d, d.desc, 1, t, 16, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
}

/* Too many segments: a full indirect table after direct descriptors. */
TEST(too_many_segments)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t t, buf;

	CHECK_EQ(setup(&m, &d, &q, QSIZE, ALL_RING_FEATURES), 0);
	buf = vdrv_alloc(&d, 8);
	t = vdrv_alloc(&d, 16ull * VIRTQ_INDIRECT_MAX);
	for (uint32_t i = 0; i < VIRTQ_INDIRECT_MAX; i++)
		vdrv_desc(&d, t, i, buf, 8, i + 1 < VIRTQ_INDIRECT_MAX ? VRING_DESC_F_NEXT : 0,
		          (uint16_t)(i + 1));
	vdrv_desc(&d, d.desc, 0, t, 16 * VIRTQ_INDIRECT_MAX, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0);
	CHECK_EQ(virtq_pop(&q, &chain), 0); /* exactly VIRTQ_MAX_SEGS */
	CHECK_EQ(chain.nr_segs, VIRTQ_MAX_SEGS);
	vdrv_desc(&d, d.desc, 1, buf, 8, VRING_DESC_F_NEXT, 0);
	vdrv_publish(&d, 1);
	expect_pop(failed, &q, -E2BIG);
}

/*
 * Big RAM (lazily mapped, untouched): a buffer across the MMIO gap, and a
 * chain over 4 GiB in total made of two buffers that are each in RAM.
 */
TEST(big_ram)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;
	uint64_t big = 0xb0000000ull;

	CHECK_EQ(gmem_init(&m, 4ull << 30, false), 0);
	vdrv_init(&d, &m, QSIZE, 0, 1 << 20);
	CHECK_EQ(virtq_init(&q, &m, 256), 0);
	CHECK_EQ(virtq_set_size(&q, QSIZE), 0);
	q.desc_gpa = d.desc;
	q.avail_gpa = d.avail;
	q.used_gpa = d.used;
	CHECK_EQ(virtq_enable(&q, 0), 0);
	vdrv_desc(&d, d.desc, 0, GMEM_MMIO_GAP_START - 8, 16, 0, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EFAULT);

	virtq_reset(&q);
	vdrv_init(&d, &m, QSIZE, 0, 1 << 20);
	CHECK_EQ(virtq_set_size(&q, QSIZE), 0);
	q.desc_gpa = d.desc;
	q.avail_gpa = d.avail;
	q.used_gpa = d.used;
	CHECK_EQ(virtq_enable(&q, 0), 0);
	vdrv_desc(&d, d.desc, 0, 0x1000000, (uint32_t)big, VRING_DESC_F_NEXT, 1);
	vdrv_desc(&d, d.desc, 1, 0x1000000, (uint32_t)big, 0, 0);
	vdrv_publish(&d, 0);
	expect_pop(failed, &q, -EPROTO);
	gmem_destroy(&m);
}

TEST(enable_checks)
{
	struct gmem m;
	struct vdrv d;
	struct virtq q;

	CHECK_EQ(gmem_init_buffer(&m, ram, sizeof(ram)), 0);
	vdrv_init(&d, &m, QSIZE, 0, RAM_SIZE);
	CHECK_ERR(virtq_init(&q, &m, 100), -EINVAL);
	CHECK_EQ(virtq_init(&q, &m, 16), 0);
	CHECK_ERR(virtq_enable(&q, 0), -EINVAL); /* no size */
	CHECK_ERR(virtq_set_size(&q, 0), -EINVAL);
	CHECK_ERR(virtq_set_size(&q, 6), -EINVAL);
	CHECK_ERR(virtq_set_size(&q, 32), -EINVAL); /* above max */
	CHECK_ERR(virtq_set_size(&q, 0x10008), -EINVAL);
	CHECK_EQ(virtq_set_size(&q, QSIZE), 0);
	q.desc_gpa = d.desc + 8; /* misaligned */
	q.avail_gpa = d.avail;
	q.used_gpa = d.used;
	CHECK_ERR(virtq_enable(&q, 0), -EINVAL);
	q.desc_gpa = d.desc;
	q.avail_gpa = d.avail + 1;
	CHECK_ERR(virtq_enable(&q, 0), -EINVAL);
	q.avail_gpa = d.avail;
	q.used_gpa = d.used + 2;
	CHECK_ERR(virtq_enable(&q, 0), -EINVAL);
	q.used_gpa = RAM_SIZE; /* outside */
	CHECK_ERR(virtq_enable(&q, 0), -EFAULT);
	q.used_gpa = RAM_SIZE - 64; /* straddles the end: 6 + 8 * 8 bytes */
	CHECK_ERR(virtq_enable(&q, 0), -EFAULT);
	q.used_gpa = d.used;
	q.desc_gpa = 0xffffffff00000000ull;
	CHECK_ERR(virtq_enable(&q, 0), -EFAULT);
	q.desc_gpa = d.desc;
	CHECK(!q.ready);
	CHECK_ERR(virtq_pop(&q, &chain), -ENOENT);
	CHECK_ERR(virtq_push(&q, 0, 0), -EINVAL);
	CHECK(!virtq_needs_interrupt(&q));
	CHECK_EQ(virtq_enable(&q, 0), 0);
	CHECK_ERR(virtq_enable(&q, 0), -EBUSY);
	CHECK_ERR(virtq_set_size(&q, 4), -EBUSY);
}

CHECK_MAIN(CASE(direct_round_trip), CASE(indirect_round_trip), CASE(direct_then_indirect),
           CASE(zero_length_skipped), CASE(index_wrap), CASE(no_interrupt_flag), CASE(event_idx),
           CASE(event_idx_wrap), CASE(hostile_addresses), CASE(hostile_indices),
           CASE(chain_as_long_as_queue), CASE(hostile_order_and_length), CASE(hostile_indirect),
           CASE(too_many_segments), CASE(big_ram), CASE(enable_checks))

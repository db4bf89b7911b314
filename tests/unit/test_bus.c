// SPDX-License-Identifier: MIT
/* Unit tests of the I/O buses (vmm/bus.c). */
#include "check.h"
#include "vmm/bus.h"

#include <errno.h>

/* A device that records its last access and reads back a pattern. */
struct rec {
	unsigned int reads, writes;
	uint64_t offset;
	uint32_t len;
	uint8_t last[8];
};

static void rec_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct rec *r = opaque;
	uint8_t *d = data;

	r->reads++;
	r->offset = offset;
	r->len = len;
	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(0x10 + i);
}

static void rec_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct rec *r = opaque;

	r->writes++;
	r->offset = offset;
	r->len = len;
	memcpy(r->last, data, len < 8 ? len : 8);
}

static const struct bus_ops rec_ops = { .read = rec_read, .write = rec_write };

TEST(register_rejects_bad_ranges)
{
	struct bus b;

	bus_init(&b);
	CHECK_ERR(bus_register(&b, 0x100, 0, &rec_ops, NULL, "zero"), -EINVAL);
	CHECK_ERR(bus_register(&b, UINT64_MAX, 2, &rec_ops, NULL, "wrap"), -EINVAL);
	CHECK_ERR(bus_register(&b, 2, UINT64_MAX, &rec_ops, NULL, "wrap"), -EINVAL);
	CHECK_ERR(bus_register(&b, 0x100, 8, NULL, NULL, "no ops"), -EINVAL);
	/* Ending exactly at 2^64 does not wrap. */
	CHECK_EQ(bus_register(&b, UINT64_MAX, 1, &rec_ops, NULL, "last"), 0);
	CHECK_EQ(bus_register(&b, 0, 1, &rec_ops, NULL, "first"), 0);
	CHECK_EQ(b.nr, 2);
}

TEST(register_overlaps)
{
	struct bus b;

	bus_init(&b);
	CHECK_EQ(bus_register(&b, 0x100, 0x10, &rec_ops, NULL, "a"), 0);
	CHECK_ERR(bus_register(&b, 0x100, 0x10, &rec_ops, NULL, "same"), -EEXIST);
	CHECK_ERR(bus_register(&b, 0xf8, 0x9, &rec_ops, NULL, "left"), -EEXIST);
	CHECK_ERR(bus_register(&b, 0x10f, 0x1, &rec_ops, NULL, "right"), -EEXIST);
	CHECK_ERR(bus_register(&b, 0x104, 0x4, &rec_ops, NULL, "inside"), -EEXIST);
	CHECK_ERR(bus_register(&b, 0x0, 0x1000, &rec_ops, NULL, "around"), -EEXIST);
	CHECK_ERR(bus_register(&b, 0x0, UINT64_MAX, &rec_ops, NULL, "all"), -EEXIST);
	/* Adjacent on both sides is fine. */
	CHECK_EQ(bus_register(&b, 0xf0, 0x10, &rec_ops, NULL, "below"), 0);
	CHECK_EQ(bus_register(&b, 0x110, 0x10, &rec_ops, NULL, "above"), 0);
	CHECK_ERR(bus_register(&b, 0xef, 0x2, &rec_ops, NULL, "edge"), -EEXIST);
	CHECK_EQ(b.nr, 3);
	for (unsigned int i = 1; i < b.nr; i++)
		CHECK(b.ranges[i - 1].base + b.ranges[i - 1].len <= b.ranges[i].base);
}

TEST(register_full)
{
	struct bus b;

	bus_init(&b);
	/* Registered from the top down, so each insertion shifts the table. */
	for (unsigned int i = 0; i < BUS_MAX_RANGES; i++)
		CHECK_EQ(bus_register(&b, 0x1000 - 0x10 * (uint64_t)i, 0x10, &rec_ops, NULL, "x"),
		         0);
	CHECK_ERR(bus_register(&b, 0x10000, 1, &rec_ops, NULL, "one more"), -ENOSPC);
	/* An overlap is reported as such even when full. */
	CHECK_ERR(bus_register(&b, 0x1000, 1, &rec_ops, NULL, "dup"), -EEXIST);
	CHECK_EQ(b.nr, BUS_MAX_RANGES);
	for (unsigned int i = 1; i < b.nr; i++)
		CHECK(b.ranges[i - 1].base < b.ranges[i].base);
}

TEST(dispatch_offsets)
{
	struct bus b;
	struct rec a = { 0 }, c = { 0 };
	uint8_t buf[8] = { 0xaa, 0xbb };

	bus_init(&b);
	CHECK_EQ(bus_register(&b, 0x3f8, 8, &rec_ops, &a, "a"), 0);
	CHECK_EQ(bus_register(&b, 0xd0000000, 0x1000, &rec_ops, &c, "c"), 0);
	CHECK(bus_dispatch(&b, 0x3fd, false, buf, 1));
	CHECK_EQ(a.reads, 1);
	CHECK_EQ(a.offset, 5);
	CHECK_EQ(buf[0], 0x10);
	buf[0] = 0xaa;
	CHECK(bus_dispatch(&b, 0xd0000ffc, true, buf, 4));
	CHECK_EQ(c.writes, 1);
	CHECK_EQ(c.offset, 0xffc);
	CHECK_EQ(c.len, 4);
	CHECK_EQ(c.last[0], 0xaa);
	CHECK_EQ(c.last[1], 0xbb);
	CHECK(bus_dispatch(&b, 0x3f8, true, buf, 8));
	CHECK_EQ(a.offset, 0);
	CHECK_EQ(a.len, 8);
}

TEST(dispatch_refuses_straddle)
{
	struct bus b;
	struct rec a = { 0 }, n = { 0 };
	uint8_t buf[8];

	bus_init(&b);
	CHECK_EQ(bus_register(&b, 0x3f8, 8, &rec_ops, &a, "a"), 0);
	CHECK_EQ(bus_register(&b, 0x400, 8, &rec_ops, &n, "next"), 0);
	memset(buf, 0, sizeof(buf));
	CHECK(!bus_dispatch(&b, 0x3ff, false, buf, 2)); /* across into "next" */
	CHECK_EQ(buf[0], 0xff);
	CHECK_EQ(buf[1], 0xff);
	CHECK(!bus_dispatch(&b, 0x3fc, true, buf, 8));
	CHECK(!bus_dispatch(&b, 0x3f8, false, buf, 0));
	CHECK(!bus_dispatch(&b, 0x3f7, false, buf, 2)); /* begins before */
	CHECK_EQ(a.reads + a.writes + n.reads + n.writes, 0);
	CHECK(bus_dispatch(&b, 0x3ff, false, buf, 1));
	CHECK(bus_dispatch(&b, 0x400, false, buf, 8));
}

TEST(dispatch_unclaimed)
{
	struct bus b;
	struct rec a = { 0 };
	uint8_t buf[8];
	static const uint8_t ones[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	bus_init(&b);
	memset(buf, 0, sizeof(buf));
	CHECK(!bus_dispatch(&b, 0x80, false, buf, 4)); /* empty bus */
	CHECK(memcmp(buf, ones, 4) == 0);
	CHECK_EQ(buf[4], 0);
	CHECK_EQ(bus_register(&b, 0x1000, 0x10, &rec_ops, &a, "a"), 0);
	memset(buf, 0, sizeof(buf));
	CHECK(!bus_dispatch(&b, 0xfff, false, buf, 1));
	CHECK(!bus_dispatch(&b, 0x1010, false, buf + 1, 1));
	CHECK(!bus_dispatch(&b, UINT64_MAX, false, buf + 2, 2)); /* end wraps */
	CHECK(!bus_dispatch(&b, UINT64_MAX - 3, false, buf + 4, 4));
	CHECK(memcmp(buf, ones, 8) == 0);
	CHECK(!bus_dispatch(&b, 0x2000, true, buf, 4)); /* a write is dropped */
	CHECK_EQ(a.reads + a.writes, 0);
	CHECK(bus_find(&b, 0x100f, 1) == &b.ranges[0]);
	CHECK(bus_find(&b, 0x100f, 2) == NULL);
}

/* A device with no read handler reads as all-ones but is still claimed. */
TEST(dispatch_null_handlers)
{
	static const struct bus_ops none = { 0 };
	struct bus b;
	uint8_t buf[2] = { 0, 0 };

	bus_init(&b);
	CHECK_EQ(bus_register(&b, 0x80, 1, &none, NULL, "debug"), 0);
	CHECK(bus_dispatch(&b, 0x80, false, buf, 1));
	CHECK_EQ(buf[0], 0xff);
	CHECK(bus_dispatch(&b, 0x80, true, buf, 1));
}

CHECK_MAIN(CASE(register_rejects_bad_ranges), CASE(register_overlaps), CASE(register_full),
           CASE(dispatch_offsets), CASE(dispatch_refuses_straddle), CASE(dispatch_unclaimed),
           CASE(dispatch_null_handlers))

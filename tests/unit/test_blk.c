// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-blk (virtio/blk.c), first part: the configuration,
 * features and every request type done right. A guest driver
 * (virtio_driver.h) over a plain buffer as RAM, the device on a real
 * io_uring loop over a temporary image (test_blk.h).
 */
#define _GNU_SOURCE
#include "test_blk.h"

#include "check.h"

TEST(config_space)
{
	struct rig r;

	rig_init(&r, false, NULL);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), BLK_QUEUE_SIZE);
	CHECK_EQ(CFG(&r, capacity), IMG_SECTORS);
	CHECK_EQ(CFG(&r, seg_max), BLK_SEG_MAX);
	CHECK_EQ(CFG(&r, blk_size), 512);
	CHECK_EQ(CFG(&r, max_discard_sectors), BLK_MAX_RANGE_SECTORS);
	CHECK_EQ(CFG(&r, max_discard_seg), 1);
	CHECK_EQ(CFG(&r, discard_sector_alignment), 1);
	CHECK_EQ(CFG(&r, max_write_zeroes_sectors), BLK_MAX_RANGE_SECTORS);
	CHECK_EQ(CFG(&r, max_write_zeroes_seg), 1);
	CHECK_EQ(CFG(&r, write_zeroes_may_unmap), 1);
	/* The capacity as two 32-bit halves, as some drivers read it. */
	CHECK_EQ(cfg(&r, 0, 4), IMG_SECTORS);
	CHECK_EQ(cfg(&r, 4, 4), 0);
	rig_fini(&r);
}

TEST(features_offered)
{
	struct rig r;
	uint64_t f;

	rig_init(&r, false, NULL);
	f = dev_features(&r);
	CHECK_EQ(f & F_ALL, F_VERSION_1 | F_BLK_RW);
	CHECK(f & F_EVENT_IDX && f & F_INDIRECT);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(virtio_mmio_features(&r.blk->transport), F_VERSION_1 | F_BLK_RW);
	rig_fini(&r);

	/* Read-only: RO offered, nothing that changes the image but writes. */
	rig_init(&r, true, NULL);
	f = dev_features(&r);
	CHECK_EQ(f & F_ALL, F_VERSION_1 | (1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_FLUSH) |
	                        (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE));
	CHECK_EQ(CFG(&r, capacity), IMG_SECTORS);
	rig_fini(&r);
}

TEST(read_write_round_trip)
{
	static const uint64_t sectors[] = { 0, 1, 7, 100, 1000, IMG_SECTORS - 8 };
	struct rig r;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);
	for (unsigned int i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
		uint64_t s = sectors[i];
		uint32_t len = (i % 3 + 1) * 1024; /* 2, 4, 6 sectors */
		uint64_t in = buf(&r, len, 0), out = buf(&r, len, (uint8_t)(0x40 + i));

		/* Read what is there. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, s, in, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, len + 1);
		CHECK_EQ(memcmp(host(&r, in, len), r.shadow + s * 512, len), 0);
		/* Write, check the file, read back. */
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, s, out, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, 1);
		memset(r.shadow + s * 512, 0x40 + i, len);
		CHECK(file_ok(&r));
		memset(host(&r, in, len), 0, len);
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, s, in, len, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(memcmp(host(&r, in, len), host(&r, out, len), len), 0);
	}
	/* The last sector exactly; a request with no data is a no-op. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, buf(&r, 512, 0), 512, &used),
	         VIRTIO_BLK_S_OK);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 3, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	CHECK(file_ok(&r));
	CHECK_EQ(r.blk->stats.writes, 6);
	CHECK_EQ(r.blk->stats.bytes_written, (1 + 2 + 3 + 1 + 2 + 3) * 1024);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* §2.6.4: no framing may be assumed: header, data and status split anyhow. */
TEST(split_descriptors)
{
	struct rig r;
	struct vdrv_buf b[8];
	uint64_t h, data, st;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);

	/* Read of 3 sectors: header 7 + 9 bytes, data 100 + 412 + 1024, status. */
	h = hdr(&r, VIRTIO_BLK_T_IN, 20);
	data = buf(&r, 1536, 0);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ h, 7, false };
	b[1] = (struct vdrv_buf){ h + 7, 9, false };
	b[2] = (struct vdrv_buf){ data, 100, true };
	b[3] = (struct vdrv_buf){ data + 100, 412, true };
	b[4] = (struct vdrv_buf){ data + 512, 1024, true };
	b[5] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 6, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1537);
	CHECK_EQ(memcmp(host(&r, data, 1536), r.shadow + 20 * 512, 1536), 0);

	/* Read with the status byte in the data's own descriptor (513 bytes). */
	data = buf(&r, 513, ST_UNSET);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 30), 16, false };
	b[1] = (struct vdrv_buf){ data, 513, true };
	CHECK_EQ(one(&r, b, 2, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 513);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 30 * 512, 512), 0);

	/* Write: header and first data bytes in one descriptor, then pieces. */
	h = vdrv_alloc(&r.d, 16 + 1024);
	memcpy(host(&r, h, 16),
	       &(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 40 }, 16);
	memset(host(&r, h + 16, 1024), 0x5a, 1024);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ h, 16 + 300, false };
	b[1] = (struct vdrv_buf){ h + 316, 1, false };
	b[2] = (struct vdrv_buf){ h + 317, 723, false };
	b[3] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 4, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	memset(r.shadow + 40 * 512, 0x5a, 1024);
	CHECK(file_ok(&r));

	/* Zero-length descriptors in the middle are skipped. */
	data = buf(&r, 512, 0);
	st = buf(&r, 1, ST_UNSET);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 41), 16, false };
	b[1] = (struct vdrv_buf){ data, 0, true };
	b[2] = (struct vdrv_buf){ data, 512, true };
	b[3] = (struct vdrv_buf){ st, 0, true };
	b[4] = (struct vdrv_buf){ st, 1, true };
	CHECK_EQ(one(&r, b, 5, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 513);
	CHECK_EQ(memcmp(host(&r, data, 512), r.shadow + 41 * 512, 512), 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

/* §2.7.5.3 indirect tables, and the seg_max limit on data segments. */
TEST(indirect_and_seg_max)
{
	struct rig r;
	struct vdrv_buf *b = calloc(BLK_SEG_MAX + 3, sizeof(*b));
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL | F_INDIRECT, 16), 0);
	CHECK(r.blk->transport.queues[0].indirect);

	/* A write and a read through indirect tables. */
	data = buf(&r, 2048, 0x77);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_OUT, 500), 16, false };
	b[1] = (struct vdrv_buf){ data, 1024, false };
	b[2] = (struct vdrv_buf){ data + 1024, 1024, false };
	b[3] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 4, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	memset(r.shadow + 500 * 512, 0x77, 2048);
	CHECK(file_ok(&r));
	data = buf(&r, 2048, 0);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 499), 16, false };
	b[1] = (struct vdrv_buf){ data, 2048, true };
	b[2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 3, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 2049);
	CHECK_EQ(memcmp(host(&r, data, 2048), r.shadow + 499 * 512, 2048), 0);

	/* seg_max data segments pass; one more is IOERR, the file untouched. */
	for (unsigned int extra = 0; extra <= 1; extra++) {
		unsigned int nseg = BLK_SEG_MAX + extra;
		uint32_t type = extra ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;

		data = buf(&r, nseg * 512, 0x33);
		b[0] = (struct vdrv_buf){ hdr(&r, type, 0), 16, false };
		for (unsigned int i = 0; i < nseg; i++)
			b[1 + i] = (struct vdrv_buf){ data + 512ull * i, 512, !extra };
		b[1 + nseg] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
		CHECK_EQ(one(&r, b, nseg + 2, true, &used),
		         extra ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
		CHECK_EQ(used, extra ? 1 : nseg * 512 + 1);
		if (!extra)
			CHECK_EQ(memcmp(host(&r, data, nseg * 512), r.shadow, nseg * 512), 0);
	}
	/* The same limit on a read. */
	data = buf(&r, (BLK_SEG_MAX + 1) * 512, 0x33);
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_IN, 0), 16, false };
	for (unsigned int i = 0; i < BLK_SEG_MAX + 1; i++)
		b[1 + i] = (struct vdrv_buf){ data + 512ull * i, 512, true };
	b[BLK_SEG_MAX + 2] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, BLK_SEG_MAX + 3, true, &used), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	CHECK(!needs_reset(&r));
	free(b);
	rig_fini(&r);
}

TEST(flush)
{
	struct rig r;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	/* The sector field of a flush is meaningless: any value passes. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, ~0ull, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(r.blk->stats.flushes, 2);
	rig_fini(&r);

	rig_init(&r, true, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

/* get_id_of: the GET_ID answer into a room-byte buffer, in *out. */
static int get_id_of(struct rig *r, uint32_t room, uint8_t *out, uint32_t *used)
{
	uint64_t data = buf(r, room, 0xcc);
	int st = rw(r, VIRTIO_BLK_T_GET_ID, 0, data, room, used);

	memcpy(out, host(r, data, room), room);
	return st;
}

TEST(get_id)
{
	static const char id20[] = "ABCDEFGHIJKLMNOPQRST";
	struct rig r;
	uint8_t out[32], want[32];
	uint32_t used = 0;

	/* Short id: NUL-padded to 20 bytes; bytes past 20 not written. */
	rig_init(&r, false, "disk0");
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(get_id_of(&r, 32, out, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 21);
	memset(want, 0, 20);
	memcpy(want, "disk0", 5);
	memset(want + 20, 0xcc, 12);
	CHECK_EQ(memcmp(out, want, 32), 0);
	/* A buffer of 8 bytes gets the first 8. */
	CHECK_EQ(get_id_of(&r, 8, out, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 9);
	CHECK_EQ(memcmp(out, want, 8), 0);
	/* No data buffer at all: just the status. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_GET_ID, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	CHECK_EQ(r.blk->stats.get_ids, 3);
	rig_fini(&r);

	/* 20 bytes exactly: no terminator; a longer id is cut at 20. */
	for (int longer = 0; longer <= 1; longer++) {
		rig_init(&r, false, longer ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ" : id20);
		CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
		CHECK_EQ(get_id_of(&r, 21, out, &used), VIRTIO_BLK_S_OK);
		CHECK_EQ(used, 21);
		CHECK_EQ(memcmp(out, id20, 20), 0);
		CHECK_EQ(out[20], 0xcc);
		rig_fini(&r);
	}

	/* No id given: the image's base name. */
	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(get_id_of(&r, 20, out, &used), VIRTIO_BLK_S_OK);
	memset(want, 0, 20);
	memcpy(want, r.path + 5, strlen(r.path + 5));
	CHECK_EQ(memcmp(out, want, 20), 0);
	rig_fini(&r);
}

TEST(discard_and_write_zeroes)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg = { 0 };
	struct stat st;

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);

	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 16 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + 8 * 512, 0, 16 * 512);
	CHECK(file_ok(&r)); /* also: the size is kept */

	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 101, .num_sectors = 3 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + 101 * 512, 0, 3 * 512);
	CHECK(file_ok(&r));

	rg = (struct virtio_blk_discard_write_zeroes){
		.sector = IMG_SECTORS - 64,
		.num_sectors = 64,
		.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
	};
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	memset(r.shadow + (IMG_SECTORS - 64) * 512, 0, 64 * 512);
	CHECK(file_ok(&r));
	CHECK(stat(r.path, &st) == 0 && st.st_size == IMG_BYTES);

	/* Zero sectors: nothing to do, OK. */
	rg = (struct virtio_blk_discard_write_zeroes){ .sector = 5, .num_sectors = 0 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(r.blk->stats.discards, 1);
	CHECK_EQ(r.blk->stats.write_zeroes, 2);
	CHECK(file_ok(&r));
	rig_fini(&r);
}

TEST(zeroes_refused)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg[2] = {
		{ .sector = 8, .num_sectors = 1 },
		{ .sector = 16, .num_sectors = 1 },
	};
	struct vdrv_buf b[2];

	rig_init(&r, false, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	/* §5.2.6.2: unmap on a discard, unknown flags: UNSUPP. */
	rg[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 2;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 0x80000000u;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_UNSUPP);
	rg[0].flags = 0;
	/* Two ranges: more than max_discard_seg. */
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 2), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 2), VIRTIO_BLK_S_UNSUPP);
	/* No range at all. */
	b[0] = (struct vdrv_buf){ hdr(&r, VIRTIO_BLK_T_DISCARD, 0), 16, false };
	b[1] = (struct vdrv_buf){ buf(&r, 1, ST_UNSET), 1, true };
	CHECK_EQ(one(&r, b, 2, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Out of the disk, overflowing, or beyond max_*_sectors: IOERR. */
	rg[0] =
	    (struct virtio_blk_discard_write_zeroes){ .sector = IMG_SECTORS - 1, .num_sectors = 2 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct virtio_blk_discard_write_zeroes){ .sector = ~0ull - 1, .num_sectors = 4 };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 0xffffffffu };
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	CHECK_EQ(r.blk->stats.discards + r.blk->stats.write_zeroes, 0);
	CHECK(!needs_reset(&r));
	rig_fini(&r);
}

TEST(read_only_disk)
{
	struct rig r;
	struct virtio_blk_discard_write_zeroes rg = { .sector = 0, .num_sectors = 8 };
	uint64_t data;
	uint32_t used = 0;

	rig_init(&r, true, NULL);
	CHECK_EQ(rig_up(&r, F_ALL, 16), 0);
	CHECK_EQ(virtio_mmio_features(&r.blk->transport) & (1ull << VIRTIO_BLK_F_RO),
	         1ull << VIRTIO_BLK_F_RO);
	data = buf(&r, 1024, 0x99);
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_OUT, 2, data, 1024, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(used, 1);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_DISCARD, &rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_IOERR);
	rg.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	CHECK_EQ(zeroes(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_IOERR);
	CHECK(file_ok(&r));
	/* Reads still work. */
	CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, 2, data, 1024, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(memcmp(host(&r, data, 1024), r.shadow + 1024, 1024), 0);
	CHECK_EQ(r.blk->stats.writes, 0);
	rig_fini(&r);
}

/*
 * The requests' segment lists cost memory only as they are used: none at
 * start (they were 1 MiB inside struct blk, all touched by blk_init), and
 * a page for requests made one at a time. The scratch chain at the
 * struct's end is not touched by blk_init either (it zeroed all 24 KiB).
 */
TEST(segments_untouched)
{
	size_t len = BLK_QUEUE_SIZE * sizeof(*((struct blk *)0)->iovs);
	struct rig r;
	uint32_t used = 0;

	rig_init(&r, false, NULL);
	CHECK(sizeof(struct blk) < 64 * 1024);
	CHECK_EQ(test_resident_pages(r.blk->iovs, len), 0);
	CHECK_EQ(test_resident_pages(&r.blk->chain, sizeof(r.blk->chain)), 0);
	CHECK_EQ(rig_up(&r, F_ALL, 64), 0);
	for (unsigned int i = 0; i < 8; i++)
		CHECK_EQ(rw(&r, VIRTIO_BLK_T_IN, i, buf(&r, 4096, 0), 4096, &used),
		         VIRTIO_BLK_S_OK);
	CHECK_EQ(test_resident_pages(r.blk->iovs, len), 1);
	rig_fini(&r);
}

CHECK_MAIN(CASE(segments_untouched), CASE(config_space), CASE(features_offered),
           CASE(read_write_round_trip), CASE(split_descriptors), CASE(indirect_and_seg_max),
           CASE(flush), CASE(get_id), CASE(discard_and_write_zeroes), CASE(zeroes_refused),
           CASE(read_only_disk))

// SPDX-License-Identifier: MIT
/*
 * fuzz_virtq: the device side of a split virtqueue under a hostile guest.
 *
 * Input layout:
 *   byte 0      log2 of the queue size (mod 9: 1..256)
 *   byte 1      bit 0 EVENT_IDX, bit 1 INDIRECT_DESC negotiated,
 *               bit 2 take the ring GPAs from bytes 4..27 instead of the
 *               fixed ones below
 *   bytes 2..3  the starting last_avail_idx and used idx (wrap-around)
 *   bytes 4..27 desc, avail, used GPAs (little-endian u64), if bit 2
 *   the rest    copied to guest RAM from GPA 0
 * Fixed layout in the 16 KiB of RAM: avail ring at 0x0, descriptor table
 * at 0x400, used ring at 0x1400; buffers may point anywhere.
 *
 * The device pops until -ENOENT or an error, touches every byte of every
 * segment (reads readable ones, writes writable ones, which may rewrite
 * the rings as a racing guest would) so that ASan catches a host pointer
 * outside RAM, pushes each chain back and asks about interrupts. Checked:
 * the chain's own invariants, and that an error sticks.
 */
#include "virtio/virtq.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE  0x4000u
#define AVAIL_GPA 0x0u
#define DESC_GPA  0x400u
#define USED_GPA  0x1400u
#define HDR_SIZE  28u
#define MAX_POPS  2048

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* check_chain: the invariants virtq.h promises; abort when broken. */
static void check_chain(const struct gmem *m, const struct virtq_chain *c, uint16_t qsize)
{
	uint64_t rd = 0, wr = 0;

	if (c->head >= qsize || c->nr_segs > VIRTQ_MAX_SEGS || c->nr_readable > c->nr_segs)
		abort();
	for (unsigned int i = 0; i < c->nr_segs; i++) {
		const struct virtq_seg *s = &c->segs[i];

		if (s->len == 0 || s->host != gmem_ptr(m, s->gpa, s->len) ||
		    s->writable != (i >= c->nr_readable))
			abort();
		if (s->writable)
			wr += s->len;
		else
			rd += s->len;
	}
	if (rd != c->readable_len || wr != c->writable_len || rd + wr > UINT32_MAX)
		abort();
}

/* touch: read every readable byte, write every writable one. */
static void touch(const struct virtq_chain *c)
{
	volatile uint8_t sink = 0;

	for (unsigned int i = 0; i < c->nr_segs; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint8_t *p = s->host;

		if (s->writable) {
			memset(p, 0xa5, s->len);
		} else {
			for (uint32_t j = 0; j < s->len; j++)
				sink ^= p[j];
		}
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
	static struct virtq_chain chain;
	uint64_t features = 0;
	uint16_t start;
	struct gmem m;
	struct virtq q;
	int err = 0;

	if (size < HDR_SIZE)
		return 0;
	memset(ram, 0, sizeof(ram));
	memcpy(ram, data + HDR_SIZE, size - HDR_SIZE < RAM_SIZE ? size - HDR_SIZE : RAM_SIZE);
	if (gmem_init_buffer(&m, ram, sizeof(ram)) || virtq_init(&q, &m, 256) ||
	    virtq_set_size(&q, 1u << (data[0] % 9)))
		abort();
	if (data[1] & 1)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (data[1] & 2)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	q.desc_gpa = (data[1] & 4) ? get64(data + 4) : DESC_GPA;
	q.avail_gpa = (data[1] & 4) ? get64(data + 12) : AVAIL_GPA;
	q.used_gpa = (data[1] & 4) ? get64(data + 20) : USED_GPA;
	if (virtq_enable(&q, features) != 0)
		return 0;
	start = (uint16_t)(data[2] | data[3] << 8);
	q.last_avail_idx = q.used_idx = q.signalled_used = start;

	for (int n = 0; n < MAX_POPS; n++) {
		err = virtq_pop(&q, &chain);
		if (err)
			break;
		check_chain(&m, &chain, q.size);
		touch(&chain);
		if (virtq_push(&q, chain.head, chain.writable_len) != 0)
			abort();
		if (n % 3 == 0)
			(void)virtq_needs_interrupt(&q);
	}
	(void)virtq_needs_interrupt(&q);
	if (err && err != -ENOENT && err != -EPROTO && err != -EFAULT && err != -E2BIG)
		abort();
	if (err && err != -ENOENT && virtq_pop(&q, &chain) != err)
		abort(); /* the queue must stay broken */
	virtq_reset(&q);
	if (virtq_pop(&q, &chain) != -ENOENT)
		abort();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * hg_ring: the attacks on the split virtqueue and the virtio-mmio
 * registers that every device gets (hg.h), on its request queue qi. Each
 * starts from a fresh set-up (hg_dev_setup resets the device first), is
 * bounded, and prints one line. What the device should do is in virtio 1.2
 * §2.7 and in STYLE.md item 4: refuse the chain, set DEVICE_NEEDS_RESET,
 * keep serving the other devices and the host.
 */
#include "hg.h"

/* benign: a chain 0 -> 1 of a 64-byte readable part and a writable page,
 * contents zero: a request the device may refuse, but a well-formed ring. */
static void benign(struct hg_dev *d, unsigned int qi, uint16_t head)
{
	uint8_t *b = hg_buf(d, head);

	memset(b, 0, 64);
	hg_set_desc(d, qi, head, (uintptr_t)b, 64, D_NEXT, (uint16_t)(head + 1));
	hg_set_desc(d, qi, (uint16_t)(head + 1), (uintptr_t)hg_buf(d, head + 1), HG_BUF_SIZE,
	            D_WRITE, 0);
}

/* post_wait: post head, notify, give the device a moment. */
static void post_wait(struct hg_dev *d, unsigned int qi, uint16_t head)
{
	hg_post(d, qi, head);
	hg_notify(d, qi);
	hg_wait_used(d, qi, d->q[qi].avail_idx);
}

/* loop_chain: next pointing back (two descriptors, and one to itself),
 * and a loop inside an indirect table (§2.7.5.3.1). */
static void loop_chain(struct hg_dev *d, unsigned int qi)
{
	struct hg_desc *t = (struct hg_desc *)(void *)hg_buf(d, 8);

	hg_dev_setup(d);
	hg_set_desc(d, qi, 0, (uintptr_t)hg_buf(d, 0), 64, D_NEXT, 1);
	hg_set_desc(d, qi, 1, (uintptr_t)hg_buf(d, 1), 64, D_NEXT, 0);
	post_wait(d, qi, 0);
	hg_line(d, "loop-chain", "done");

	hg_dev_setup(d);
	hg_set_desc(d, qi, 5, (uintptr_t)hg_buf(d, 5), 1, D_NEXT | D_WRITE, 5);
	post_wait(d, qi, 5);
	hg_line(d, "loop-self", "done");

	hg_dev_setup(d);
	for (uint16_t i = 0; i < 4; i++)
		t[i] = (struct hg_desc){ (uintptr_t)hg_buf(d, 9), 16, D_NEXT,
			                 (uint16_t)((i + 1) % 4) };
	hg_set_desc(d, qi, 7, (uintptr_t)t, 4 * sizeof(*t), D_INDIRECT, 0);
	post_wait(d, qi, 7);
	hg_line(d, "loop-indirect", "done");
}

/* out_of_ram: buffers that are not RAM, or whose end wraps; each on a
 * freshly set-up device, since the first one breaks the queue. */
static void out_of_ram(struct hg_dev *d, unsigned int qi)
{
	const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
		{ 0, 4096, 0 }, /* hg_ram_end: filled below */
		{ 0xfffffffffffff000ull, 0x2000, 0 },
		{ 0xfffffffffffffff0ull, 0x20, D_WRITE },
		{ 0, 0x200, D_WRITE }, /* the device's own register window */
		{ 0x100000, 0xffffffffu, D_WRITE },
		{ 0xc0000000ull, 4096, 0 },
		{ 1ull << 52, 4096, D_WRITE },
		{ 0, 0x10000, D_INDIRECT }, /* indirect table off RAM's end */
		{ 0x100000, 0xfffffff0u, D_INDIRECT },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t a = bad[i].addr;

		if (i == 0 || i == 7)
			a = hg_ram_end - (i == 7 ? 0x100 : 0);
		if (i == 3)
			a = d->base;
		hg_dev_setup(d);
		hg_set_desc(d, qi, 0, (uintptr_t)hg_buf(d, 0), 16, D_NEXT, 1);
		hg_set_desc(d, qi, 1, a, bad[i].len, bad[i].flags, 0);
		post_wait(d, qi, 0);
	}
	hg_line(d, "out-of-ram", "done");
}

/*
 * repost_head: one chain, its head written in every entry of the ring and
 * avail.idx moved a whole ring ahead again and again (4096 posts of the
 * same head, most while the earlier ones are still in flight); then
 * avail.idx far ahead of anything written, then moved by 65535.
 */
static void repost_head(struct hg_dev *d, unsigned int qi)
{
	struct hg_queue *q = &d->q[qi];

	hg_dev_setup(d);
	benign(d, qi, 0);
	for (unsigned int n = 0; n < 16; n++) {
		for (uint16_t i = 0; i < q->size; i++)
			q->avail[2 + i] = 0;
		hg_publish(d, qi, (uint16_t)(q->avail_idx + q->size));
		hg_notify(d, qi);
		hg_spin(2000000);
	}
	hg_wait_used(d, qi, q->avail_idx);
	hg_line(d, "repost-head", "done");

	hg_dev_setup(d);
	benign(d, qi, 0);
	hg_publish(d, qi, 1000);
	hg_notify(d, qi);
	hg_wait_used(d, qi, 1);
	hg_line(d, "idx-far-ahead", "done");

	hg_dev_setup(d);
	benign(d, qi, 0);
	post_wait(d, qi, 0);
	hg_publish(d, qi, (uint16_t)(q->avail_idx + 65535));
	hg_notify(d, qi);
	hg_wait_used(d, qi, 2);
	hg_line(d, "idx-65535", "done");
}

/*
 * not_ready: notifications of every queue index (real ones, out of range
 * ones) before FEATURES_OK, with the queue not ready, and after the
 * driver took QueueReady back; then the device must still work.
 */
static void not_ready(struct hg_dev *d, unsigned int qi)
{
	static const uint32_t idx[] = { 0, 1, 2, 3, 7, 8, 0xffff, 0xffffffffu };

	hg_dev_reset(d);
	hg_wr32(d, VM_STATUS, ST_ACK | ST_DRIVER);
	benign(d, qi, 0);
	hg_post(d, qi, 0);
	for (unsigned int i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		hg_wr32(d, VM_QUEUE_NOTIFY, idx[i]);
	hg_dev_setup(d);
	hg_wr32(d, VM_QUEUE_SEL, qi);
	hg_wr32(d, VM_QUEUE_READY, 0);
	benign(d, qi, 0);
	hg_post(d, qi, 0);
	for (unsigned int i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		hg_wr32(d, VM_QUEUE_NOTIFY, idx[i]);
	/* Ready again with the rings as they are: §4.2.2.2 allows no change
	 * to a ready queue, but re-enabling is the driver's to do. */
	hg_wr32(d, VM_QUEUE_READY, 1);
	hg_notify(d, qi);
	hg_wait_used(d, qi, 1);
	hg_line(d, "notify-not-ready", "done");
}

/* config_mid_io: requests in flight, then every config byte written with
 * every width, and past the config space, while they run. */
static void config_mid_io(struct hg_dev *d, unsigned int qi)
{
	hg_dev_setup(d);
	for (uint16_t h = 0; h < 64; h += 2) {
		benign(d, qi, h);
		hg_post(d, qi, h);
	}
	hg_notify(d, qi);
	for (uint32_t off = 0; off < 0x100; off += 8) {
		hg_wr8(d, VM_CONFIG + off, 0xff);
		hg_wr16(d, VM_CONFIG + off + 2, 0xffff);
		hg_wr32(d, VM_CONFIG + off + 4, 0xdeadbeef);
		hg_wr64(d, VM_CONFIG + off, 0x0123456789abcdefull);
		(void)hg_rd32(d, VM_CONFIG + off);
	}
	hg_wr32(d, 0x1fc, 0xffffffffu); /* the last word of the window */
	hg_wr32(d, 0xfc, 1);            /* ConfigGeneration is read-only */
	hg_wait_used(d, qi, d->q[qi].avail_idx);
	hg_line(d, "config-write-mid-io", "done");
}

/*
 * reset_in_flight: a ring full of requests, notified, and at once Status
 * 0; then the device set up again must answer a request. "answered" or
 * "silent" says which (a device that refuses benign's zero request still
 * answers it).
 */
static void reset_in_flight(struct hg_dev *d, unsigned int qi)
{
	int err;

	hg_dev_setup(d);
	for (uint16_t h = 0; h < 128; h += 2) {
		benign(d, qi, h);
		hg_post(d, qi, h);
	}
	hg_notify(d, qi);
	hg_wr32(d, VM_STATUS, 0);
	hg_dev_setup(d);
	benign(d, qi, 0);
	hg_post(d, qi, 0);
	hg_notify(d, qi);
	err = hg_wait_answer(d, qi, 1);
	hg_line(d, "reset-in-flight", err ? "silent" : "answered");
}

/* irq_noack: one interrupt after another, InterruptACK never written. */
static void irq_noack(struct hg_dev *d, unsigned int qi)
{
	hg_dev_setup(d);
	for (uint16_t n = 0; n < 64; n++) {
		benign(d, qi, 0);
		hg_post(d, qi, 0);
		hg_notify(d, qi);
		hg_wait_used(d, qi, d->q[qi].avail_idx);
	}
	hg_line(d, "irq-noack", hg_rd32(d, VM_INT_STATUS) ? "pending" : "none");
}

/*
 * bad_regs: the set-up done wrong: an unoffered feature, FEATURES_OK
 * skipped, queue numbers that are no power of two or too large, a
 * misaligned or off-RAM ring, QueueSel out of range, writes to every
 * register offset, a ready queue's set-up changed.
 */
static void bad_regs(struct hg_dev *d, unsigned int qi)
{
	hg_dev_reset(d);
	hg_wr32(d, VM_STATUS, ST_ACK | ST_DRIVER);
	hg_wr32(d, VM_DRV_FEAT_SEL, 1);
	hg_wr32(d, VM_DRV_FEAT, 0xffffffffu);
	hg_wr32(d, VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	hg_wr32(d, VM_QUEUE_SEL, qi);
	hg_wr32(d, VM_QUEUE_NUM, 3);
	hg_wr32(d, VM_QUEUE_NUM, 65536);
	hg_wr32(d, VM_DESC_LOW, 0x1001);
	hg_wr32(d, VM_USED_HIGH, 0xffffffffu);
	hg_wr32(d, VM_QUEUE_READY, 1);
	hg_wr32(d, VM_QUEUE_SEL, 0xffffffffu);
	hg_wr32(d, VM_QUEUE_READY, 1);
	for (uint32_t off = 0; off < 0x100; off += 4)
		if (off != VM_STATUS && off != VM_QUEUE_NOTIFY)
			hg_wr32(d, off, 0xa5a5a5a5u);
	hg_dev_setup(d);
	hg_wr32(d, VM_QUEUE_SEL, qi);
	hg_wr32(d, VM_QUEUE_NUM, 1);
	hg_wr32(d, VM_DESC_LOW, 0);
	hg_wr32(d, VM_STATUS, 0xff);
	hg_wr32(d, VM_STATUS, ST_ACK);
	hg_line(d, "bad-registers", "done");
}

void hg_ring_attacks(struct hg_dev *d, unsigned int qi)
{
	loop_chain(d, qi);
	out_of_ram(d, qi);
	repost_head(d, qi);
	not_ready(d, qi);
	config_mid_io(d, qi);
	reset_in_flight(d, qi);
	irq_noack(d, qi);
	bad_regs(d, qi);
}

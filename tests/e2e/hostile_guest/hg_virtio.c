// SPDX-License-Identifier: MIT
/*
 * hg_virtio: the hostile guest's virtio-mmio driver (hg.h). It sets a
 * device up by the book (virtio 1.2 §3.1.1, §4.2.3) so that the attacks
 * reach the queue code, and otherwise does exactly what it is told: the
 * attacks write the rings themselves through hg_set_desc, hg_post and
 * hg_publish.
 */
#include "hg.h"

/* Each queue's rings: descriptors, then the available ring, then the used
 * ring, a page each (§2.7: alignment 16, 2 and 4 respectively). */
#define RING_PAGE 4096u

static uint8_t hg_rings[HG_MAX_DEVS][HG_MAX_QUEUES][3 * RING_PAGE]
    __attribute__((aligned(RING_PAGE)));
static uint8_t hg_bufs[HG_MAX_DEVS][HG_NR_BUFS * HG_BUF_SIZE] __attribute__((aligned(RING_PAGE)));

/* How long hg_wait_used waits for the device, in TSC ticks (some tens of
 * milliseconds): a device that says nothing is one of the answers. */
#define HG_WAIT_TICKS 150000000ull

void hg_dev_attach(struct hg_dev *d, unsigned int slot)
{
	for (unsigned int i = 0; i < HG_MAX_QUEUES; i++) {
		d->q[i].desc = (struct hg_desc *)(void *)hg_rings[slot][i];
		d->q[i].avail = (volatile uint16_t *)(void *)(hg_rings[slot][i] + RING_PAGE);
		d->q[i].used = (volatile uint16_t *)(void *)(hg_rings[slot][i] + 2 * RING_PAGE);
	}
	d->buf = hg_bufs[slot];
}

uint8_t *hg_buf(const struct hg_dev *d, unsigned int i)
{
	return d->buf + (uint64_t)(i % HG_NR_BUFS) * HG_BUF_SIZE;
}

/*
 * hg_dev_reset: Status 0 (§4.2.2.1), then read it back until the device
 * says it is reset (§4.2.3.1: the driver waits for a read of 0), bounded.
 */
void hg_dev_reset(struct hg_dev *d)
{
	hg_wr32(d, VM_STATUS, 0);
	for (int i = 0; i < 1000 && hg_rd32(d, VM_STATUS) != 0; i++)
		__asm__ __volatile__("pause");
}

/* queue_setup: queue qi with fresh, zeroed rings; its size, or 0 for none. */
static uint16_t queue_setup(struct hg_dev *d, unsigned int qi)
{
	struct hg_queue *q = &d->q[qi];
	uint32_t max;
	uint64_t a;

	hg_wr32(d, VM_QUEUE_SEL, qi);
	max = hg_rd32(d, VM_QUEUE_NUM_MAX);
	q->size = max < HG_QSIZE ? (uint16_t)max : HG_QSIZE;
	q->avail_idx = 0;
	if (!q->size)
		return 0;
	memset(q->desc, 0, 3 * RING_PAGE);
	hg_wr32(d, VM_QUEUE_NUM, q->size);
	a = (uint64_t)(uintptr_t)q->desc;
	hg_wr32(d, VM_DESC_LOW, (uint32_t)a);
	hg_wr32(d, VM_DESC_HIGH, (uint32_t)(a >> 32));
	a = (uint64_t)(uintptr_t)q->avail;
	hg_wr32(d, VM_AVAIL_LOW, (uint32_t)a);
	hg_wr32(d, VM_AVAIL_HIGH, (uint32_t)(a >> 32));
	a = (uint64_t)(uintptr_t)q->used;
	hg_wr32(d, VM_USED_LOW, (uint32_t)a);
	hg_wr32(d, VM_USED_HIGH, (uint32_t)(a >> 32));
	hg_wr32(d, VM_QUEUE_READY, 1);
	return q->size;
}

/*
 * hg_dev_setup: reset, then the initialization of §3.1.1 with every
 * offered feature accepted (EVENT_IDX and indirect descriptors included,
 * so that those paths are attacked too), every queue set up, DRIVER_OK.
 * Returns 0, or -1 when the device refused (FEATURES_OK did not stick, or
 * it wants a reset already).
 */
int hg_dev_setup(struct hg_dev *d)
{
	uint32_t st = ST_ACK | ST_DRIVER;

	hg_dev_reset(d);
	hg_wr32(d, VM_STATUS, ST_ACK);
	hg_wr32(d, VM_STATUS, st);
	hg_wr32(d, VM_DEV_FEAT_SEL, 0);
	d->features = hg_rd32(d, VM_DEV_FEAT);
	hg_wr32(d, VM_DEV_FEAT_SEL, 1);
	d->features |= (uint64_t)hg_rd32(d, VM_DEV_FEAT) << 32;
	hg_wr32(d, VM_DRV_FEAT_SEL, 0);
	hg_wr32(d, VM_DRV_FEAT, (uint32_t)d->features);
	hg_wr32(d, VM_DRV_FEAT_SEL, 1);
	hg_wr32(d, VM_DRV_FEAT, (uint32_t)(d->features >> 32));
	st |= ST_FEATURES_OK;
	hg_wr32(d, VM_STATUS, st);
	if (!(hg_rd32(d, VM_STATUS) & ST_FEATURES_OK))
		return -1;
	for (unsigned int i = 0; i < d->nq; i++)
		queue_setup(d, i);
	hg_wr32(d, VM_STATUS, st | ST_DRIVER_OK);
	return hg_rd32(d, VM_STATUS) & ST_NEEDS_RESET ? -1 : 0;
}

void hg_set_desc(struct hg_dev *d, unsigned int qi, uint16_t i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next)
{
	struct hg_desc *e = &d->q[qi].desc[i % HG_QSIZE];

	e->addr = addr;
	e->len = len;
	e->flags = flags;
	e->next = next;
}

/*
 * hg_publish: avail.idx = idx (§2.7.6), whatever was written in the ring.
 * The compiler barrier keeps the ring entries and descriptors before the
 * store (x86 keeps stores in order).
 */
void hg_publish(struct hg_dev *d, unsigned int qi, uint16_t idx)
{
	struct hg_queue *q = &d->q[qi];

	__asm__ __volatile__("" ::: "memory");
	q->avail_idx = idx;
	q->avail[1] = idx;
}

/* hg_post: head into the next available entry, published at once. */
void hg_post(struct hg_dev *d, unsigned int qi, uint16_t head)
{
	struct hg_queue *q = &d->q[qi];
	uint16_t size = q->size ? q->size : 1;

	q->avail[2 + q->avail_idx % size] = head;
	hg_publish(d, qi, (uint16_t)(q->avail_idx + 1));
}

void hg_notify(const struct hg_dev *d, unsigned int qi)
{
	__asm__ __volatile__("mfence" ::: "memory");
	hg_wr32(d, VM_QUEUE_NOTIFY, qi);
}

uint16_t hg_used_idx(const struct hg_dev *d, unsigned int qi)
{
	return d->q[qi].used[1];
}

/*
 * hg_wait_used: wait (bounded) until used.idx of queue qi reaches want,
 * modulo 2^16. 0 when it did, -1 when the device stayed silent.
 */
int hg_wait_used(const struct hg_dev *d, unsigned int qi, uint16_t want)
{
	uint64_t end = hg_rdtsc() + HG_WAIT_TICKS;

	do {
		if ((int16_t)(hg_used_idx(d, qi) - want) >= 0)
			return 0;
		__asm__ __volatile__("pause");
	} while (hg_rdtsc() < end);
	return -1;
}

/*
 * hg_wait_answer: hg_wait_used for a request that must be answered (the
 * device set up again after an attack), ten times as long: the emulated
 * test host can be slow to complete real I/O.
 */
int hg_wait_answer(const struct hg_dev *d, unsigned int qi, uint16_t want)
{
	for (int i = 0; i < 10; i++)
		if (hg_wait_used(d, qi, want) == 0)
			return 0;
	return -1;
}

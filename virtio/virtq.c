// SPDX-License-Identifier: MIT
/*
 * virtq: the device side of a split virtqueue (virtq.h), virtio 1.2 §2.7.
 *
 * Memory ordering. The guest driver runs on other CPUs and shares the rings
 * with us; these orderings mirror the driver's barriers of §2.7.13, built from
 * __atomic fences (on x86 the acquire and release fences only stop the
 * compiler; the full fence is an mfence):
 *  - read avail->idx, then acquire, then read ring entries and descriptors,
 *    so that we never see an entry older than the idx that announced it;
 *  - write the used element, then release, then publish used->idx, so that
 *    the driver never sees an idx ahead of the element;
 *  - publish used->idx, then a full fence, then read the driver's
 *    suppression fields (store-load), and the same around avail_event, so
 *    that neither side can miss the other's update.
 * The 16- and 32-bit ring fields are aligned (checked at virtq_enable) and
 * accessed with relaxed __atomic loads and stores: each is one access that
 * the compiler may neither split nor repeat. Descriptors are copied once
 * into a local behind a compiler barrier and only the copy is looked at.
 */
#include "virtio/virtq.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

/* §2.7.5: struct virtq_desc, 16 bytes: le64 addr, le32 len, le16 flags, le16 next. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VIRTQ_DESC_SIZE 16u
_Static_assert(sizeof(struct virtq_desc) == VIRTQ_DESC_SIZE, "§2.7.5 descriptor size");

/* §2.7.6 available ring offsets: flags, idx, ring[], then used_event. */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX   2u
#define AVAIL_RING  4u
/* §2.7.8 used ring offsets: flags, idx, ring[] of 8-byte elements, avail_event. */
#define USED_IDX       2u
#define USED_RING      4u
#define USED_ELEM_SIZE 8u

/* Ring sizes in bytes for a queue of n entries (§2.7 "Virtqueue Part Sizes"). */
static uint64_t desc_bytes(uint16_t n)
{
	return (uint64_t)VIRTQ_DESC_SIZE * n;
}

static uint64_t avail_bytes(uint16_t n)
{
	return 6 + 2 * (uint64_t)n;
}

static uint64_t used_bytes(uint16_t n)
{
	return 6 + (uint64_t)USED_ELEM_SIZE * n;
}

static uint16_t load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * load_desc: one fetch of a guest descriptor into *d. The barrier keeps the
 * compiler from dropping the copy and re-reading guest memory later.
 * p may be unaligned (an indirect table has no alignment rule).
 */
static void load_desc(const uint8_t *p, struct virtq_desc *d)
{
	memcpy(d, p, sizeof(*d));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int virtq_init(struct virtq *q, const struct gmem *mem, uint16_t max_size)
{
	memset(q, 0, sizeof(*q));
	if (!mem || !is_pow2(max_size))
		return -EINVAL;
	q->mem = mem;
	q->max_size = max_size;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	const struct gmem *mem = q->mem;
	uint16_t max_size = q->max_size;

	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->max_size = max_size;
}

int virtq_set_size(struct virtq *q, uint32_t size)
{
	if (q->ready)
		return -EBUSY;
	if (!is_pow2(size) || size > q->max_size)
		return -EINVAL;
	q->size = (uint16_t)size;
	return 0;
}

/*
 * ring_ptr: the host address of a ring at gpa (guest value) of len bytes,
 * aligned to align both as a GPA (§2.7) and on the host (for the atomic
 * accesses; RAM mappings are page-aligned, so only a misplaced test buffer
 * fails the second check). *err gets -EINVAL or -EFAULT on failure.
 */
static uint8_t *ring_ptr(const struct virtq *q, uint64_t gpa, uint64_t len, uint64_t align,
                         int *err)
{
	uint8_t *p;

	if (gpa & (align - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	p = gmem_ptr(q->mem, gpa, len);
	if (!p) {
		*err = -EFAULT;
		return NULL;
	}
	if ((uintptr_t)p & (align - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	return p;
}

int virtq_enable(struct virtq *q, uint64_t features)
{
	uint8_t *desc, *avail = NULL, *used = NULL;
	int err = 0;

	if (q->ready)
		return -EBUSY;
	if (!is_pow2(q->size) || q->size > q->max_size)
		return -EINVAL;
	/*
	 * §2.7 alignment: descriptor table 16, available ring 2, used ring 4.
	 * All three are looked up afresh: pointers left from an earlier
	 * enable of this queue must never survive a failed one (a queue the
	 * driver disabled and re-enabled with a bad ring address).
	 */
	q->desc = q->avail = q->used = NULL;
	desc = ring_ptr(q, q->desc_gpa, desc_bytes(q->size), VRING_DESC_ALIGN_SIZE, &err);
	if (desc)
		avail =
		    ring_ptr(q, q->avail_gpa, avail_bytes(q->size), VRING_AVAIL_ALIGN_SIZE, &err);
	if (avail)
		used = ring_ptr(q, q->used_gpa, used_bytes(q->size), VRING_USED_ALIGN_SIZE, &err);
	if (!used)
		return err;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	q->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	q->last_avail_idx = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->error = 0;
	q->ready = true;
	return 0;
}

/* The walk state shared by the direct chain and its indirect table. */
struct walk {
	struct virtq_chain *c;
	uint64_t total; /* bytes so far, at most UINT32_MAX: cannot overflow */
	bool seen_writable;
};

/*
 * walk_add: append the buffer of descriptor d (guest values) to the chain.
 * Returns 0, -EPROTO (readable after writable, total over 4 GiB - 1),
 * -E2BIG (too many segments) or -EFAULT (not wholly in one RAM slot).
 */
static int walk_add(const struct virtq *q, struct walk *w, const struct virtq_desc *d)
{
	struct virtq_chain *c = w->c;
	bool writable = d->flags & VRING_DESC_F_WRITE;
	struct virtq_seg *s;
	void *host;

	/* §2.7.4.2: device-writable descriptors come after all readable ones. */
	if (!writable && w->seen_writable)
		return -EPROTO;
	w->seen_writable |= writable;
	if (d->len == 0)
		return 0; /* names no memory: nothing to hand the device */
	if (c->nr_segs >= VIRTQ_MAX_SEGS)
		return -E2BIG;
	/* §2.7.5: a chain is at most 2^32 bytes; used len is 32 bits, so less. */
	w->total += d->len;
	if (w->total > UINT32_MAX)
		return -EPROTO;
	host = gmem_ptr(q->mem, d->addr, d->len);
	if (!host)
		return -EFAULT;
	s = &c->segs[c->nr_segs++];
	*s =
	    (struct virtq_seg){ .gpa = d->addr, .host = host, .len = d->len, .writable = writable };
	if (writable) {
		c->writable_len += d->len;
	} else {
		c->readable_len += d->len;
		c->nr_readable++;
	}
	return 0;
}

/*
 * walk_indirect: follow the indirect table that descriptor d (guest
 * values) points to (§2.7.5.3). Its length must be a non-zero multiple of
 * 16 of at most VIRTQ_INDIRECT_MAX entries, the whole table in one RAM
 * slot; inside, next indices stay below the table's entry count, at most
 * one hop per entry (loops), and no entry may be indirect itself.
 */
static int walk_indirect(const struct virtq *q, struct walk *w, const struct virtq_desc *d)
{
	const uint8_t *table;
	uint32_t n, idx = 0;

	if (d->len == 0 || d->len % VIRTQ_DESC_SIZE ||
	    d->len / VIRTQ_DESC_SIZE > VIRTQ_INDIRECT_MAX)
		return -EPROTO;
	table = gmem_ptr(q->mem, d->addr, d->len);
	if (!table)
		return -EFAULT;
	n = d->len / VIRTQ_DESC_SIZE;
	for (uint32_t hops = 0; hops < n; hops++) {
		struct virtq_desc e;
		int err;

		load_desc(table + (uint64_t)idx * VIRTQ_DESC_SIZE, &e);
		/* §2.7.5.3.1: no indirect descriptor inside an indirect table. */
		if (e.flags & VRING_DESC_F_INDIRECT)
			return -EPROTO;
		err = walk_add(q, w, &e);
		if (err)
			return err;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return -EPROTO;
		idx = e.next;
	}
	return -EPROTO; /* more hops than entries: a loop */
}

/*
 * walk_chain: gather the chain starting at head (a guest value). Direct
 * descriptors: index < size, at most size of them (§2.7.5.3.1: no chain
 * longer than the queue; this also ends loops). Zero or more of them may
 * be followed by one indirect descriptor (§2.7.5.3.2), which must not have
 * NEXT set (§2.7.5.3.1) and whose WRITE flag is ignored (§2.7.5.3.2).
 */
static int walk_chain(const struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	struct walk w = { .c = c };
	uint16_t idx = head;

	c->head = head;
	c->nr_segs = c->nr_readable = 0;
	c->readable_len = c->writable_len = 0;
	if (head >= q->size)
		return -EPROTO;
	for (uint32_t hops = 0; hops < q->size; hops++) {
		struct virtq_desc d;
		int err;

		load_desc(q->desc + (uint64_t)idx * VIRTQ_DESC_SIZE, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!q->indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EPROTO;
			return walk_indirect(q, &w, &d);
		}
		err = walk_add(q, &w, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= q->size)
			return -EPROTO;
		idx = d.next;
	}
	return -EPROTO; /* longer than the queue: a loop */
}

/* avail_event lives after the used ring's elements (§2.7.8). */
static void set_avail_event(struct virtq *q, uint16_t v)
{
	store16(q->used + USED_RING + (uint64_t)USED_ELEM_SIZE * q->size, v);
}

/* fail: break the queue with err (sticky until virtq_reset). */
static int fail(struct virtq *q, int err)
{
	q->error = err;
	return err;
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t avail_idx, pending, head;
	int err;

	if (!q->ready)
		return -ENOENT;
	if (q->error)
		return q->error;
	avail_idx = load16(q->avail + AVAIL_IDX);
	if (avail_idx == q->last_avail_idx && q->event_idx) {
		/*
		 * About to go idle: ask for a notification at the next entry
		 * (§2.7.10), then look again. The full fence orders our
		 * avail_event store before the idx load (store-load): either
		 * the driver sees the new avail_event and notifies, or we see
		 * its new idx here.
		 */
		set_avail_event(q, q->last_avail_idx);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = load16(q->avail + AVAIL_IDX);
	}
	pending = (uint16_t)(avail_idx - q->last_avail_idx);
	if (pending == 0)
		return -ENOENT;
	/* More available than the ring holds: the guest is lying. */
	if (pending > q->size)
		return fail(q, -EPROTO);
	/* Acquire: the ring entry and descriptors are read after the idx. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(q->avail + AVAIL_RING + 2 * (uint64_t)(q->last_avail_idx & (q->size - 1)));
	err = walk_chain(q, head, chain);
	if (err)
		return fail(q, err);
	q->last_avail_idx++;
	/* Event idx: notify us only for entries we have not taken yet. */
	if (q->event_idx)
		set_avail_event(q, q->last_avail_idx);
	return 0;
}

int virtq_push_batch(struct virtq *q, const uint16_t *heads, const uint32_t *lens, unsigned int n)
{
	if (!q->ready || n > q->size)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (heads[i] >= q->size)
			return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *elem =
		    q->used + USED_RING +
		    (uint64_t)USED_ELEM_SIZE * ((uint16_t)(q->used_idx + i) & (q->size - 1));

		store32(elem, heads[i]); /* struct virtq_used_elem: le32 id, le32 len (§2.7.8) */
		store32(elem + 4, lens[i]);
	}
	q->used_idx = (uint16_t)(q->used_idx + n);
	/* Release: the elements are visible before the idx that publishes
	 * them, all at once (a driver never sees part of a batch). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store16(q->used + USED_IDX, q->used_idx);
	return 0;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	return virtq_push_batch(q, &head, &len, 1);
}

int virtq_unpop(struct virtq *q, uint16_t n)
{
	if (!q->ready || n > q->size)
		return -EINVAL;
	/* The entries stay in the available ring, where the driver put
	 * them: the next pops read (and check) them again. avail_event is
	 * left past them, so the driver's next addition still notifies. */
	q->last_avail_idx = (uint16_t)(q->last_avail_idx - n);
	return 0;
}

bool virtq_needs_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, new = q->used_idx, event;

	if (!q->ready)
		return false;
	q->signalled_used = new;
	if (old == new)
		return false;
	/*
	 * Full fence (store-load): used->idx must be visible before we read
	 * the driver's suppression field; otherwise a driver re-enabling
	 * interrupts after checking an older idx would never be woken.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(load16(q->avail + AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT);
	/* §2.7.10: interrupt when used_event lies in [old, new), mod 2^16. */
	event = load16(q->avail + AVAIL_RING + 2 * (uint64_t)q->size);
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/*
 * virtq_chain_copy: the walk behind virtq_chain_read and _write: segments
 * [first, end) of c, skipping off bytes, then copying len bytes.
 */
static int virtq_chain_copy(const struct virtq_chain *c, unsigned int first, unsigned int end,
                            uint32_t off, uint8_t *buf, uint32_t len, bool to_chain)
{
	for (unsigned int i = first; i < end && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint32_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		if (to_chain)
			memcpy((uint8_t *)s->host + off, buf, n);
		else
			memcpy(buf, (const uint8_t *)s->host + off, n);
		buf += n;
		len -= n;
		off = 0;
	}
	return len ? -EINVAL : 0;
}

int virtq_chain_read(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len)
{
	return virtq_chain_copy(c, 0, c->nr_readable, off, dst, len, false);
}

int virtq_chain_write(const struct virtq_chain *c, uint32_t off, const void *src, uint32_t len)
{
	/* The walk only reads from buf when copying into the chain. */
	return virtq_chain_copy(c, c->nr_readable, c->nr_segs, off, (uint8_t *)(uintptr_t)src, len,
	                        true);
}

int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint32_t off, uint32_t len,
                    struct iovec *iov, unsigned int max)
{
	unsigned int i = writable ? c->nr_readable : 0;
	unsigned int end = writable ? c->nr_segs : c->nr_readable;
	int n = 0;

	for (; i < end && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint32_t take;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if ((unsigned int)n == max)
			return -E2BIG;
		take = s->len - off < len ? s->len - off : len;
		iov[n++] = (struct iovec){ .iov_base = (uint8_t *)s->host + off, .iov_len = take };
		len -= take;
		off = 0;
	}
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * gmem: guest physical memory, and the one door through which the VMM
 * touches it.
 *
 * Guest RAM is one memfd mapped once. It is laid out in at most two slots
 * around the 32-bit MMIO gap [GMEM_MMIO_GAP_START, 4 GiB): the first
 * min(size, gap start) bytes at GPA 0, the rest from 4 GiB up.
 *
 * Every address and length handed to gmem_ptr, gmem_read and gmem_write may
 * come from the guest: a range is accepted only if it lies entirely inside
 * one slot, checked by subtraction so that gpa + len cannot overflow.
 */
#ifndef KVMBOX_VMM_GMEM_H
#define KVMBOX_VMM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MMIO_GAP_START 0xc0000000ull
#define GMEM_MMIO_GAP_END   0x100000000ull
#define GMEM_MAX_SLOTS      2

struct gmem_slot {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

/* gmem_touched counts at most GMEM_TOUCH_BUDGET bytes of the mapping a call
 * (about a million mincore entries: a few ms), in at most GMEM_TOUCH_CHUNKS
 * chunks of 64 MiB or more. */
#define GMEM_TOUCH_CHUNKS 256
#define GMEM_TOUCH_BUDGET (4ull << 30)

struct gmem {
	struct gmem_slot slots[GMEM_MAX_SLOTS];
	unsigned int nr_slots;
	uint64_t ram_size;
	int memfd;    /* -1 when not ours (map NULL) or anonymous memory (gmem_init) */
	uint8_t *map; /* the one mapping, NULL when not ours */
	size_t map_size;
	bool hugepages;
	bool thp;            /* advised MADV_HUGEPAGE where the host backs it so */
	const char *backing; /* what backs it, for --timings (gmem_init) */
	/* gmem_touched's sweep: the bytes resident in each chunk of the
	 * mapping when it was last counted, and the chunk to count next. */
	uint64_t touched_chunk[GMEM_TOUCH_CHUNKS];
	unsigned int touched_next;
};

/*
 * gmem_init: create ram_size bytes of guest RAM as a memfd (2 MiB hugepages
 * when hugepages is set) and lay it out around the MMIO gap; the mapping is
 * left out of core dumps (MADV_DONTDUMP). Without hugepages the mapping is
 * 2 MiB aligned and advised MADV_HUGEPAGE where the host's shmem THP
 * allows it, so that each 2 MiB guest page can be one host page; backing
 * says which it got ("hugetlbfs 2 MiB", "shmem THP", "anonymous THP",
 * "4 KiB pages"). Where shmem THP is off but anonymous THP is on (Debian's
 * default), the RAM is private anonymous memory instead of the memfd: a
 * nested page fault then maps 2 MiB, not 4 KiB. Returns 0 or -errno (-EINVAL
 * for a size of 0 or not a multiple of the page size in use; -ENOMEM with hugepages when the pool
 * has fewer free huge pages than ram_size needs: they are reserved at once, never found missing
 * later).
 */
__attribute__((warn_unused_result)) int gmem_init(struct gmem *m, uint64_t ram_size,
                                                  bool hugepages);

/*
 * gmem_init_buffer: lay out a caller-owned buffer as guest RAM, the same way
 * gmem_init does. For unit tests and fuzzers, which need no memfd.
 */
__attribute__((warn_unused_result)) int gmem_init_buffer(struct gmem *m, void *buf, uint64_t size);

/*
 * gmem_touched: the bytes of guest RAM resident in host memory (mincore(2)
 * over the mapping), whichever backing: the pages the guest, or the VMM
 * loading it, touched. 0 for memory not ours. It runs on the event loop
 * (a "status" request), so it counts at most budget bytes of the mapping a
 * call, the chunks after those the last call counted, and adds the counts
 * the other chunks had when last counted: exact for RAM up to the budget
 * (GMEM_TOUCH_BUDGET), and, for more, at most size / budget calls behind.
 */
uint64_t gmem_touched(struct gmem *m, uint64_t budget);

/* gmem_destroy: unmap and close what gmem_init made; safe to call twice. */
void gmem_destroy(struct gmem *m);

/*
 * gmem_ptr: the host address of [gpa, gpa + len), or NULL unless the whole
 * range lies in one slot. A len of 0 is refused: it names no memory.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* gmem_read, gmem_write: copy to or from guest memory; 0 or -EFAULT. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);

/*
 * gmem_zero: zero [gpa, gpa + len); 0 or -EFAULT. The whole pages inside
 * (2 MiB ones where THP backs the RAM: part of one punched would split
 * it) are punched out of the memfd (FALLOC_FL_PUNCH_HOLE, or
 * MADV_DONTNEED for anonymous RAM), not written: no
 * instructions per byte, and pages never touched stay unallocated, so a
 * kernel's large bss costs the host nothing until the guest uses it.
 */
int gmem_zero(const struct gmem *m, uint64_t gpa, uint64_t len);

/* gmem_end: the first GPA above all RAM (for e820 and the page tables). */
uint64_t gmem_end(const struct gmem *m);

#endif

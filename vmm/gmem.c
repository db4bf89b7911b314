// SPDX-License-Identifier: MIT
/*
 * gmem: guest RAM as one memfd (or private anonymous memory where only that
 * can have huge pages), and the bounds-checked accessor (gmem.h).
 */
#define _GNU_SOURCE
#include "vmm/gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GMEM_HUGEPAGE_SIZE (2ull << 20)

/* gmem_layout: split [host, host + size) into slots around the MMIO gap. */
static void gmem_layout(struct gmem *m, uint8_t *host, uint64_t size)
{
	uint64_t low = size < GMEM_MMIO_GAP_START ? size : GMEM_MMIO_GAP_START;

	m->ram_size = size;
	m->slots[0] = (struct gmem_slot){ .gpa = 0, .size = low, .host = host };
	m->nr_slots = 1;
	if (size > low) {
		m->slots[1] = (struct gmem_slot){
			.gpa = GMEM_MMIO_GAP_END,
			.size = size - low,
			.host = host + low,
		};
		m->nr_slots = 2;
	}
}

int gmem_init_buffer(struct gmem *m, void *buf, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->memfd = -1;
	if (!buf || size == 0)
		return -EINVAL;
	gmem_layout(m, buf, size);
	return 0;
}

/*
 * gmem_thp: whether a THP setting lets an advised mapping have huge pages:
 * the bracketed word of /sys/kernel/mm/transparent_hugepage/shmem_enabled
 * (shmem, the memfd) or .../enabled (anonymous memory) is not never or
 * deny (always, within_size, advise, force, madvise:
 * Documentation/admin-guide/mm/transhuge.rst).
 */
static bool gmem_thp(const char *setting)
{
	char buf[128];
	const char *sel;
	ssize_t n;
	int fd = open(setting, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	sel = strchr(buf, '[');
	return sel && strncmp(sel, "[never]", 7) != 0 && strncmp(sel, "[deny]", 6) != 0;
}

#define GMEM_THP_SHMEM "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
#define GMEM_THP_ANON  "/sys/kernel/mm/transparent_hugepage/enabled"

/*
 * gmem_map: map fd's size bytes shared (or, fd -1, private anonymous
 * memory) at a GMEM_HUGEPAGE_SIZE-aligned address (KVM maps a guest 2 MiB
 * page with a huge page only when guest and host addresses agree modulo
 * 2 MiB): a larger PROT_NONE reservation, the file mapped over its
 * aligned part, the slack unmapped.
 */
static void *gmem_map(int fd, uint64_t size, int flags)
{
	uint64_t slack = GMEM_HUGEPAGE_SIZE;
	uint8_t *res =
	    mmap(NULL, size + slack, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *at, *map;

	if (res == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)res + slack - 1) & ~(uintptr_t)(slack - 1));
	flags |= fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
	map = mmap(at, size, PROT_READ | PROT_WRITE, MAP_FIXED | flags, fd, 0);
	if (map == MAP_FAILED) {
		munmap(res, size + slack);
		return MAP_FAILED;
	}
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (at + size < res + size + slack)
		munmap(at + size, (size_t)(res + size + slack - (at + size)));
	return map;
}

int gmem_init(struct gmem *m, uint64_t ram_size, bool hugepages)
{
	uint64_t align = hugepages ? GMEM_HUGEPAGE_SIZE : (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned int flags = MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0);
	bool shmem_thp = !hugepages && gmem_thp(GMEM_THP_SHMEM);
	bool anon = !hugepages && !shmem_thp && gmem_thp(GMEM_THP_ANON);
	void *map;
	int fd = -1, err;

	memset(m, 0, sizeof(*m));
	m->memfd = -1;
	if (ram_size == 0 || ram_size % align != 0 || ram_size > (size_t)-1)
		return -EINVAL;
	/* Anonymous memory where only it can have huge pages: the memfd's
	 * 4 KiB pages cost the guest one nested page fault per page it
	 * touches (docs/benchmarks.md, beside QEMU microvm). */
	if (!anon) {
		fd = memfd_create("kvmbox-ram", flags);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)ram_size) < 0) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	/*
	 * MAP_NORESERVE: RAM the guest never touches costs the host nothing.
	 * Not for huge pages: those come from a fixed pool, and a mapping
	 * without a reservation gets SIGBUS on the first fault the pool cannot
	 * serve, the VMM's own first write included. Mapped with a
	 * reservation, the whole size is set aside now (still not
	 * allocated), or mmap fails with ENOMEM and the VMM says why
	 * (Documentation/admin-guide/mm/hugetlbpage.rst).
	 */
	map = gmem_map(fd, ram_size, hugepages ? 0 : MAP_NORESERVE);
	if (map == MAP_FAILED) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	m->backing = hugepages ? "hugetlbfs 2 MiB" : "4 KiB pages";
	/* Advice: refused, the pages stay 4 KiB. */
	m->thp = (shmem_thp || anon) && madvise(map, ram_size, MADV_HUGEPAGE) == 0;
	if (m->thp)
		m->backing = anon ? "anonymous THP" : "shmem THP";
	/*
	 * Guest RAM stays out of the VMM's core dumps: it is the guest's data
	 * (secrets included), and gigabytes of it would bury the VMM's state.
	 * Advice only: a kernel that refuses it costs a larger core file.
	 */
	(void)madvise(map, ram_size, MADV_DONTDUMP);
	m->memfd = fd;
	m->map = map;
	m->map_size = ram_size;
	m->hugepages = hugepages;
	gmem_layout(m, map, ram_size);
	return 0;
}

void gmem_destroy(struct gmem *m)
{
	if (m->map)
		munmap(m->map, m->map_size);
	if (m->memfd >= 0)
		close(m->memfd);
	m->map = NULL;
	m->memfd = -1;
	m->nr_slots = 0;
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nr_slots; i++) {
		const struct gmem_slot *s = &m->slots[i];

		/* By subtraction: gpa - s->gpa < size, then len <= what is left. */
		if (gpa < s->gpa || gpa - s->gpa >= s->size)
			continue;
		if (len == 0 || len > s->size - (gpa - s->gpa))
			return NULL;
		return s->host + (gpa - s->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len)
{
	const void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int gmem_zero(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *p = len ? gmem_ptr(m, gpa, len) : NULL;
	const uint64_t page = m->thp ? 2u << 20 : 4096;
	uint64_t off, head, end;

	if (!len)
		return 0;
	if (!p)
		return -EFAULT;
	/* Not with huge pages: a hole punched in hugetlbfs gives its pages
	 * and their reservation back, and the guest's next touch could then
	 * find the pool empty (SIGBUS). */
	if (!m->map || m->hugepages) {
		memset(p, 0, len);
		return 0;
	}
	/* The one mapping covers the memfd from offset 0 (gmem_init). */
	off = (uint64_t)(p - m->map);
	head = ((off + page - 1) & ~(page - 1)) - off;
	end = (off + len) & ~(page - 1);
	/* Private anonymous pages read back as zeros once dropped
	 * (madvise(2), MADV_DONTNEED). */
	if (head >= len || end <= off + head ||
	    (m->memfd < 0 ? madvise(m->map + off + head, end - off - head, MADV_DONTNEED)
	                  : fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                              (off_t)(off + head), (off_t)(end - off - head))) < 0) {
		memset(p, 0, len); /* too small to punch, or punching refused */
		return 0;
	}
	memset(p, 0, head);
	memset(p + (end - off), 0, off + len - end);
	return 0;
}

uint64_t gmem_end(const struct gmem *m)
{
	const struct gmem_slot *last;

	if (m->nr_slots == 0)
		return 0;
	last = &m->slots[m->nr_slots - 1];
	return last->gpa + last->size;
}

/* gmem_touch_chunk: the chunk size, 64 MiB or more, so that the mapping is
 * GMEM_TOUCH_CHUNKS chunks at most. */
static size_t gmem_touch_chunk(const struct gmem *m)
{
	size_t min = 64u << 20, per = (m->map_size + GMEM_TOUCH_CHUNKS - 1) / GMEM_TOUCH_CHUNKS;

	return per <= min ? min : (per + min - 1) / min * min;
}

/* gmem_count_resident: mincore over [off, off + len) of the mapping. */
static uint64_t gmem_count_resident(const struct gmem *m, size_t off, size_t len)
{
	unsigned char vec[16384];
	size_t page = (size_t)sysconf(_SC_PAGESIZE), end = off + len;
	uint64_t total = 0;

	while (off < end) {
		size_t n = end - off < sizeof(vec) * page ? end - off : sizeof(vec) * page;

		if (mincore(m->map + off, n, vec) < 0)
			break;
		for (size_t i = 0; i < (n + page - 1) / page; i++)
			total += (vec[i] & 1) ? page : 0;
		off += n;
	}
	return total;
}

uint64_t gmem_touched(struct gmem *m, uint64_t budget)
{
	size_t chunk, nr;
	uint64_t done = 0, total = 0;

	if (!m->map || !m->map_size)
		return 0;
	chunk = gmem_touch_chunk(m);
	nr = (m->map_size + chunk - 1) / chunk;
	if (m->touched_next >= nr)
		m->touched_next = 0;
	/* At least one chunk a call, whatever the budget. */
	for (size_t i = 0; i < nr && (i == 0 || done + chunk <= budget); i++) {
		size_t c = m->touched_next, off = c * chunk;
		size_t len = m->map_size - off < chunk ? m->map_size - off : chunk;

		m->touched_chunk[c] = gmem_count_resident(m, off, len);
		done += len;
		m->touched_next = (unsigned int)((c + 1) % nr);
	}
	for (size_t c = 0; c < nr; c++)
		total += m->touched_chunk[c];
	return total;
}

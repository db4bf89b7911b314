// SPDX-License-Identifier: MIT
/* Unit tests of the guest memory door (vmm/gmem.c). */
#include "check.h"
#include "vmm/gmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(layout_below_gap)
{
	static uint8_t buf[1 << 16];
	struct gmem m;

	CHECK_EQ(gmem_init_buffer(&m, buf, sizeof(buf)), 0);
	CHECK_EQ(m.nr_slots, 1);
	CHECK_EQ(m.slots[0].gpa, 0);
	CHECK_EQ(m.slots[0].size, sizeof(buf));
	CHECK_EQ(gmem_end(&m), sizeof(buf));
}

TEST(layout_across_gap)
{
	struct gmem m;

	/* 4 GiB of real memory, lazily mapped: only the layout is looked at. */
	CHECK_EQ(gmem_init(&m, 4ull << 30, false), 0);
	CHECK_EQ(m.nr_slots, 2);
	CHECK_EQ(m.slots[0].size, GMEM_MMIO_GAP_START);
	CHECK_EQ(m.slots[1].gpa, GMEM_MMIO_GAP_END);
	CHECK_EQ(m.slots[1].size, (4ull << 30) - GMEM_MMIO_GAP_START);
	CHECK_EQ(gmem_end(&m), GMEM_MMIO_GAP_END + (1ull << 30));
	CHECK(gmem_ptr(&m, GMEM_MMIO_GAP_START - 8, 8) != NULL);
	CHECK(gmem_ptr(&m, GMEM_MMIO_GAP_START - 8, 9) == NULL); /* into the gap */
	CHECK(gmem_ptr(&m, GMEM_MMIO_GAP_START, 1) == NULL);
	CHECK(gmem_ptr(&m, GMEM_MMIO_GAP_END, 1) == m.slots[1].host);
	/* The two slots are one memfd, back to back on the host. */
	CHECK(m.slots[1].host == m.slots[0].host + GMEM_MMIO_GAP_START);
	gmem_destroy(&m);
	gmem_destroy(&m);
}

TEST(bounds)
{
	static uint8_t buf[4096];
	struct gmem m;
	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r[8] = { 0 };

	CHECK_EQ(gmem_init_buffer(&m, buf, sizeof(buf)), 0);
	CHECK(gmem_ptr(&m, 0, 4096) == buf);
	CHECK(gmem_ptr(&m, 4095, 1) == buf + 4095);
	CHECK(gmem_ptr(&m, 4095, 2) == NULL);
	CHECK(gmem_ptr(&m, 4096, 1) == NULL);
	CHECK(gmem_ptr(&m, 0, 0) == NULL);
	/* gpa + len would wrap to a small number: still refused. */
	CHECK(gmem_ptr(&m, 16, UINT64_MAX) == NULL);
	CHECK(gmem_ptr(&m, UINT64_MAX, 2) == NULL);
	CHECK(gmem_ptr(&m, UINT64_MAX - 4095, 4096) == NULL);
	CHECK_EQ(gmem_write(&m, 4088, b, 8), 0);
	CHECK_EQ(gmem_read(&m, 4088, r, 8), 0);
	CHECK(memcmp(b, r, 8) == 0);
	CHECK_ERR(gmem_write(&m, 4089, b, 8), -EFAULT);
	CHECK_ERR(gmem_read(&m, 4089, r, 8), -EFAULT);
}

TEST(init_rejects)
{
	struct gmem m;

	CHECK_ERR(gmem_init(&m, 0, false), -EINVAL);
	CHECK_ERR(gmem_init(&m, 4097, false), -EINVAL);
	CHECK_ERR(gmem_init(&m, 1ull << 20, true), -EINVAL); /* not 2 MiB aligned */
	CHECK_ERR(gmem_init_buffer(&m, NULL, 4096), -EINVAL);
	CHECK_EQ(gmem_end(&m), 0);
}

/* meminfo: a "Name:   N" field of /proc/meminfo, -1 if missing. */
static long meminfo(const char *name)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ':')
			v = strtol(line + strlen(name) + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * More huge pages than the pool has free: gmem_init fails at once with
 * -ENOMEM (before the fix it succeeded, and the first write died of
 * SIGBUS). The test asks for more than are free, so it holds wherever
 * it runs; with no hugetlb support at all memfd_create refuses instead.
 */
TEST(hugepages_short_pool_fails_at_init)
{
	struct gmem m;
	long free_pages = meminfo("HugePages_Free");
	uint64_t size = (uint64_t)(free_pages > 0 ? free_pages + 1 : 2) << 21;
	int err;

	if (free_pages > 4096) {
		fprintf(stderr, "skipped: %ld free huge pages\n", free_pages);
		return;
	}
	err = gmem_init(&m, size, true);
	CHECK(err == -ENOMEM || err == -EINVAL);
	if (!err)
		gmem_destroy(&m); /* not written to: that would be the SIGBUS */
}

/* smaps_flags: the VmFlags line of the mapping that starts at addr. */
static int smaps_flags(const void *addr, char *flags, size_t len)
{
	char line[512], start[32];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)(uintptr_t)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ') &&
		    strncmp(line, "VmFlags", 7))
			in = !strncmp(line, start, strlen(start));
		if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strlen(line + 8);

			n = n < len - 1 ? n : len - 1;
			memcpy(flags, line + 8, n);
			flags[n] = '\0';
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/* Guest RAM is left out of core dumps: VmFlags "dd" (proc(5)). */
TEST(ram_not_dumped)
{
	struct gmem m;
	char flags[256] = "";

	CHECK_EQ(gmem_init(&m, 4u << 20, false), 0);
	CHECK_EQ(smaps_flags(m.map, flags, sizeof(flags)), 0);
	CHECK(strstr(flags, " dd") != NULL);
	/* 2 MiB aligned, so that a huge page can back each 2 MiB of the guest. */
	CHECK_EQ((uintptr_t)m.map & ((2u << 20) - 1), 0);
	CHECK(m.backing && (!strcmp(m.backing, "4 KiB pages") || !strcmp(m.backing, "shmem THP") ||
	                    !strcmp(m.backing, "anonymous THP")));
	CHECK_EQ(m.memfd < 0, !strcmp(m.backing, "anonymous THP"));
	gmem_destroy(&m);
}

/* gmem_touched: nothing before the first write, at least the pages
 * written after it (a huge page may bring in 2 MiB), never beyond RAM. */
TEST(touched)
{
	struct gmem m;
	uint64_t t;

	CHECK_EQ(gmem_init(&m, 8u << 20, false), 0);
	CHECK_EQ(gmem_touched(&m, GMEM_TOUCH_BUDGET), 0);
	memset(gmem_ptr(&m, 0, 4096), 1, 4096);
	memset(gmem_ptr(&m, 6u << 20, 4096), 1, 4096);
	t = gmem_touched(&m, GMEM_TOUCH_BUDGET);
	CHECK(t >= 2 * 4096 && t <= (8u << 20));
	gmem_destroy(&m);
	CHECK_EQ(gmem_touched(&m, GMEM_TOUCH_BUDGET), 0);
}

/*
 * touched_in_steps: RAM larger than the budget is counted a part per call
 * (the loop's pass stays short): the first call sees only the first 64 MiB
 * chunk, and the figure is whole after one call per chunk. 256 MiB of
 * address space, four pages of it touched.
 */
TEST(touched_in_steps)
{
	struct gmem m;
	uint64_t t;

	CHECK_EQ(gmem_init(&m, 256u << 20, false), 0);
	for (uint64_t gpa = 0; gpa < (256u << 20); gpa += 64u << 20)
		memset(gmem_ptr(&m, gpa + 8192, 4096), 1, 4096);
	/* A budget under a chunk still counts one chunk. */
	t = gmem_touched(&m, 4096);
	CHECK(t >= 4096 && t < (64u << 20) + 4096);
	for (int i = 0; i < 2; i++)
		t = gmem_touched(&m, 64u << 20);
	CHECK(t >= 3 * 4096 && t < 3 * (64u << 20));
	t = gmem_touched(&m, 64u << 20);
	CHECK(t >= 4 * 4096);
	/* The whole mapping in one call when the budget allows. */
	CHECK_EQ(gmem_touched(&m, GMEM_TOUCH_BUDGET), t);
	/* Released pages come off at the next count of their chunk. */
	CHECK_EQ(gmem_zero(&m, 0, 64u << 20), 0);
	CHECK(gmem_touched(&m, GMEM_TOUCH_BUDGET) < t);
	gmem_destroy(&m);
}

/*
 * zero_range: gmem_zero clears exactly [gpa, gpa + len) whether the range
 * holds whole pages (punched out of the memfd) or not, in a memfd and in a
 * buffer alike, and refuses a range outside RAM.
 */
TEST(zero_range)
{
	static uint8_t buf[1 << 16];
	const uint64_t gpa = 4096 - 100, len = 3 * 4096 + 300;
	struct gmem m[2];

	CHECK_EQ(gmem_init(&m[0], 4u << 20, false), 0);
	CHECK_EQ(gmem_init_buffer(&m[1], buf, sizeof(buf)), 0);
	for (int k = 0; k < 2; k++) {
		uint8_t *p = gmem_ptr(&m[k], 0, 8 * 4096);
		bool ok = true;

		memset(p, 0xa5, 8 * 4096);
		CHECK_EQ(gmem_zero(&m[k], gpa, len), 0);
		for (uint64_t i = 0; i < 8 * 4096; i++)
			ok &= p[i] == (i >= gpa && i < gpa + len ? 0 : 0xa5);
		CHECK(ok);
		CHECK_EQ(gmem_zero(&m[k], 10, 0), 0);
		CHECK_ERR(gmem_zero(&m[k], gmem_end(&m[k]) - 10, 20), -EFAULT);
	}
	gmem_destroy(&m[0]);
}

/* anon_huge_kib: AnonHugePages of the mapping that starts at addr (smaps), or -1. */
static long anon_huge_kib(const void *addr)
{
	char line[256], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;
	long kib = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			in = strncmp(line, want, strlen(want)) == 0;
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/*
 * zero_keeps_huge_pages: with THP, gmem_zero drops only the whole 2 MiB
 * pages of its range and writes the parts at either end, so the huge
 * pages those parts sit in stay huge (part of one dropped would split it,
 * and the guest would fault it in 4 KiB at a time). Where the host gives
 * this test no anonymous huge pages, only the contents are checked.
 */
TEST(zero_keeps_huge_pages)
{
	const uint64_t mib = 1u << 20, gpa = mib, len = 3 * mib + mib / 2;
	struct gmem m;
	long before, after;
	uint8_t *p;
	bool ok = true;

	CHECK_EQ(gmem_init(&m, 8 * mib, false), 0);
	p = gmem_ptr(&m, 0, 8 * mib);
	memset(p, 0xa5, 8 * mib);
	before = m.thp && m.memfd < 0 ? anon_huge_kib(m.map) : -1;
	CHECK_EQ(gmem_zero(&m, gpa, len), 0);
	for (uint64_t i = 0; i < 8 * mib; i++)
		ok &= p[i] == (i >= gpa && i < gpa + len ? 0 : 0xa5);
	CHECK(ok);
	after = before >= 0 ? anon_huge_kib(m.map) : -1;
	if (before >= 6 * 1024) /* the three huge pages the range touches were huge */
		CHECK(after >= before - 2 * 1024);
	else
		fprintf(stderr, "zero_keeps_huge_pages: no anonymous huge pages here (%ld KiB)\n",
		        before);
	gmem_destroy(&m);
}

CHECK_MAIN(CASE(layout_below_gap), CASE(layout_across_gap), CASE(bounds), CASE(init_rejects),
           CASE(hugepages_short_pool_fails_at_init), CASE(ram_not_dumped), CASE(touched),
           CASE(touched_in_steps), CASE(zero_range), CASE(zero_keeps_huge_pages))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the MP table (vmm/boot/mptable.c): found where the MP spec 1.4
 * says to look, checksums right, and walked entry by entry as an OS would.
 */
#include "check.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/boot_int.h"

#include <errno.h>
#include <stdlib.h>

#define RAM_SIZE (2ull << 20)

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

struct counts {
	unsigned int cpus, bsps, buses, ioapics, iointrs, lintrs;
};

/* walk_entries: check each base entry (MP spec §4.3) and count them. */
static void walk_entries(int *failed, const uint8_t *p, size_t len, unsigned int nr_cpus,
                         struct counts *c)
{
	size_t off = 0;

	while (off < len) {
		const uint8_t *e = p + off;

		switch (e[0]) {
		case 0:                          /* processor, §4.3.1 */
			CHECK_EQ(e[1], c->cpus); /* APIC id = index */
			CHECK_EQ(e[2], MPTABLE_LAPIC_VERSION);
			CHECK_EQ(e[3] & 1, 1); /* enabled */
			c->bsps += (e[3] >> 1) & 1;
			CHECK_EQ((e[3] >> 1) & 1, c->cpus == 0);
			c->cpus++;
			off += 20;
			break;
		case 1: /* bus, §4.3.2 */
			CHECK_EQ(e[1], 0);
			CHECK(memcmp(e + 2, "ISA   ", 6) == 0);
			c->buses++;
			off += 8;
			break;
		case 2: /* I/O APIC, §4.3.3 */
			CHECK_EQ(e[1], nr_cpus);
			CHECK_EQ(e[2], MPTABLE_IOAPIC_VERSION);
			CHECK_EQ(e[3], 1);
			CHECK_EQ(le32(e + 4), 0xfec00000);
			c->ioapics++;
			off += 8;
			break;
		case 3: /* I/O interrupt, §4.3.4: ISA IRQ n -> INTIN n */
			CHECK_EQ(e[1], 0);
			CHECK_EQ(e[4], 0);
			CHECK_EQ(e[5], c->iointrs);
			CHECK_EQ(e[6], nr_cpus);
			CHECK_EQ(e[7], c->iointrs);
			c->iointrs++;
			off += 8;
			break;
		case 4: /* local interrupt, §4.3.5: ExtINT on LINT0, NMI on LINT1 */
			CHECK_EQ(e[1], c->lintrs == 0 ? 3 : 1);
			CHECK_EQ(e[7], c->lintrs);
			c->lintrs++;
			off += 8;
			break;
		default:
			CHECK(false);
			return;
		}
	}
	CHECK_EQ(off, len);
}

static void check_table(int *failed, unsigned int nr_cpus)
{
	uint8_t *ram = calloc(1, RAM_SIZE);
	const uint8_t *fp, *cfg;
	struct counts c = { 0 };
	struct gmem m;
	uint16_t len;

	if (!ram)
		abort(); /* nothing to test without memory */
	CHECK_EQ(gmem_init_buffer(&m, ram, RAM_SIZE), 0);
	CHECK_EQ(mptable_write(&m, nr_cpus), 0);
	/* §4.1: the floating pointer, 16 bytes on a 16-byte boundary. */
	fp = ram + BOOT_MPTABLE_GPA;
	CHECK(memcmp(fp, "_MP_", 4) == 0);
	CHECK_EQ(BOOT_MPTABLE_GPA % 16, 0);
	CHECK_EQ(fp[8], 1);
	CHECK_EQ(fp[9], 4);
	CHECK_EQ(sum(fp, 16), 0);
	CHECK_EQ(fp[11], 0); /* a configuration table follows, no default config */
	/* §4.2: the configuration table header. */
	CHECK_EQ(le32(fp + 4), BOOT_MPTABLE_GPA + 16);
	cfg = ram + le32(fp + 4);
	CHECK(memcmp(cfg, "PCMP", 4) == 0);
	len = le16(cfg + 4);
	CHECK_EQ(len, 44 + 20 * nr_cpus + 8 + 8 + 16 * 8 + 2 * 8);
	CHECK_EQ(len + 16, mptable_size(nr_cpus));
	CHECK_EQ(cfg[6], 4);
	CHECK_EQ(sum(cfg, len), 0);
	CHECK_EQ(le16(cfg + 34), nr_cpus + 20);
	CHECK_EQ(le32(cfg + 36), 0xfee00000);
	CHECK_EQ(le16(cfg + 40), 0); /* no extended table */
	walk_entries(failed, cfg + 44, len - 44u, nr_cpus, &c);
	CHECK_EQ(c.cpus, nr_cpus);
	CHECK_EQ(c.bsps, 1);
	CHECK_EQ(c.buses, 1);
	CHECK_EQ(c.ioapics, 1);
	CHECK_EQ(c.iointrs, 16);
	CHECK_EQ(c.lintrs, 2);
	CHECK(BOOT_MPTABLE_GPA + mptable_size(nr_cpus) <= BOOT_MPTABLE_END);
	CHECK_EQ(ram[BOOT_MPTABLE_GPA + mptable_size(nr_cpus)], 0);
	free(ram);
}

TEST(one_cpu)
{
	check_table(failed, 1);
}

TEST(two_cpus)
{
	check_table(failed, 2);
}

TEST(many_cpus)
{
	check_table(failed, 64); /* past 640 KiB: into the reserved hole */
	check_table(failed, MPTABLE_MAX_CPUS);
}

TEST(refused)
{
	static uint8_t small[BOOT_MPTABLE_GPA + 64];
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct gmem m;

	if (!ram)
		abort();
	CHECK_EQ(gmem_init_buffer(&m, ram, RAM_SIZE), 0);
	CHECK_ERR(mptable_write(&m, 0), -EINVAL);
	CHECK_ERR(mptable_write(&m, MPTABLE_MAX_CPUS + 1), -EINVAL);
	CHECK_ERR(mptable_write(&m, 0xffffffffu), -EINVAL);
	for (size_t i = 0; i < BOOT_MPTABLE_END - BOOT_MPTABLE_GPA; i++)
		CHECK_EQ(ram[BOOT_MPTABLE_GPA + i], 0); /* nothing written */
	CHECK_EQ(gmem_init_buffer(&m, small, sizeof(small)), 0);
	CHECK_ERR(mptable_write(&m, 1), -EFAULT);
	free(ram);
}

CHECK_MAIN(CASE(one_cpu), CASE(two_cpus), CASE(many_cpus), CASE(refused))

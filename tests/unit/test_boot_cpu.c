// SPDX-License-Identifier: MIT
/*
 * Unit tests of the boot CPU state (vmm/boot/boot_cpu.c): the low-memory map,
 * GDT contents, the identity page tables walked like the MMU would, and the
 * register values handed to KVM.
 */
#include "check.h"
#include "rig.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/boot_int.h"

#include <errno.h>
#include <stdlib.h>

#define RAM_SIZE (16ull << 20)

struct region {
	const char *name;
	uint64_t start, end;
};

/* Everything boot_layout.h places below 1 MiB, as written by the modules. */
static const struct region low_map[] = {
	{ "gdt", BOOT_GDT_GPA, BOOT_GDT_GPA + BOOT_GDT_SIZE },
	{ "idt", BOOT_IDT_GPA, BOOT_IDT_GPA + BOOT_IDT_SIZE },
	{ "tss", BOOT_TSS_GPA, BOOT_TSS_GPA + BOOT_TSS_SIZE },
	{ "zero page", BOOT_ZERO_PAGE_GPA, BOOT_ZERO_PAGE_GPA + BOOT_ZERO_PAGE_SIZE },
	{ "stack", BOOT_STACK_GPA, BOOT_STACK_GPA + BOOT_STACK_SIZE },
	{ "pml4", BOOT_PML4_GPA, BOOT_PML4_GPA + 0x1000 },
	{ "pdpt", BOOT_PDPT_GPA, BOOT_PDPT_GPA + 0x1000 },
	{ "pds", BOOT_PD_GPA, BOOT_PAGE_TABLES_END },
	{ "cmdline", BOOT_CMDLINE_GPA, BOOT_CMDLINE_GPA + BOOT_CMDLINE_MAX },
	{ "mptable", BOOT_MPTABLE_GPA, BOOT_MPTABLE_END },
};

TEST(low_memory_map)
{
	size_t n = sizeof(low_map) / sizeof(low_map[0]);

	for (size_t i = 0; i < n; i++) {
		const struct region *a = &low_map[i];

		CHECK(a->start < a->end);
		/* Not in the IVT and BIOS data area, not in the kernel's space. */
		CHECK(a->start >= 0x1000);
		CHECK(a->end <= BOOT_HIGH_GPA);
		for (size_t j = i + 1; j < n; j++) {
			const struct region *b = &low_map[j];

			if (a->start < b->end && b->start < a->end) {
				fprintf(stderr, "%s overlaps %s\n", a->name, b->name);
				CHECK(false);
			}
		}
		/* In e820 RAM, except the MP table, which must be reserved. */
		if (a->start == BOOT_MPTABLE_GPA)
			CHECK(a->start >= BOOT_EBDA_GPA);
		else
			CHECK(a->end <= BOOT_EBDA_GPA);
	}
	CHECK(BOOT_STACK_TOP > BOOT_STACK_GPA &&
	      BOOT_STACK_TOP <= BOOT_STACK_GPA + BOOT_STACK_SIZE);
	CHECK_EQ(BOOT_STACK_TOP % 16, 0);
	/* The floating pointer in the last KiB of base memory (MP spec §4). */
	CHECK_EQ(BOOT_MPTABLE_GPA, 0xa0000 - 0x400);
	CHECK(BOOT_MPTABLE_GPA + mptable_size(MPTABLE_MAX_CPUS) <= BOOT_MPTABLE_END);
}

static void ram_tables(struct test_ram *r, int *failed)
{
	test_ram_init(r, RAM_SIZE);
	CHECK_EQ(boot_cpu_write_tables(&r->m), 0);
}

static uint64_t rd64(const struct test_ram *r, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, r->buf + gpa, sizeof(v));
	return v;
}

TEST(gdt_contents)
{
	struct test_ram r;

	ram_tables(&r, failed);
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + 0x00), 0);
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + 0x08), 0);
	/* Flat 4 GiB: limit 0xfffff with G; code: P S 0xb, L; data: P S 0x3, D/B. */
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + BOOT_CPU_CS), 0x00af9b000000ffffull);
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), 0x00cf93000000ffffull);
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + BOOT_CPU_TSS), 0x00008b0000000067ull | BOOT_TSS_GPA << 16);
	CHECK_EQ(rd64(&r, BOOT_GDT_GPA + BOOT_CPU_TSS + 8), 0);
	CHECK_EQ(BOOT_CPU_TSS + 16, BOOT_GDT_SIZE);
	test_ram_fini(&r);
}

/* walk: translate gva through the tables in guest RAM; false if unmapped. */
static bool walk(const struct test_ram *r, uint64_t cr3, uint64_t gva, uint64_t *gpa)
{
	uint64_t e = rd64(r, cr3 + ((gva >> 39) & 511) * 8);

	if (!(e & BOOT_CPU_PTE_P))
		return false;
	e = rd64(r, (e & ~0xfffull) + ((gva >> 30) & 511) * 8);
	if (!(e & BOOT_CPU_PTE_P) || (e & BOOT_CPU_PTE_PS))
		return false; /* no 1 GiB pages are used */
	e = rd64(r, (e & ~0xfffull) + ((gva >> 21) & 511) * 8);
	if (!(e & BOOT_CPU_PTE_P) || !(e & BOOT_CPU_PTE_PS) || !(e & BOOT_CPU_PTE_RW))
		return false;
	*gpa = (e & ~0x1fffffull) + (gva & 0x1fffff);
	return true;
}

TEST(identity_map)
{
	static const uint64_t probes[] = {
		0,          0x7000,     0x1000200,  0x1fffff,   0x200000,
		0x7fffffff, 0xbfffffff, 0xc0000000, 0xfec00000, 0xffffffff,
	};
	struct kvm_sregs s;
	uint64_t gpa = 0;
	struct test_ram r;

	ram_tables(&r, failed);
	memset(&s, 0, sizeof(s));
	boot_cpu_fill_sregs(&s);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		CHECK(walk(&r, s.cr3, probes[i], &gpa));
		CHECK_EQ(gpa, probes[i]);
	}
	CHECK(!walk(&r, s.cr3, 0x100000000ull, &gpa));
	CHECK(!walk(&r, s.cr3, 0xffffffff81000000ull, &gpa));
	/* Every PD entry, not just the probes. */
	for (uint64_t i = 0; i < BOOT_PD_COUNT * 512; i++)
		CHECK_EQ(rd64(&r, BOOT_PD_GPA + i * 8), (i << 21) | 0x83);
	test_ram_fini(&r);
}

/* decode: the fields a segment register takes from descriptor d. */
static void check_seg(int *failed, const struct kvm_segment *s, uint64_t d, uint16_t sel)
{
	uint64_t limit = (d & 0xffff) | ((d >> 32) & 0xf0000);

	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	CHECK_EQ(s->selector, sel);
	CHECK_EQ(s->base, ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
	CHECK_EQ(s->limit, limit);
	CHECK_EQ(s->type, (d >> 40) & 0xf);
	CHECK_EQ(s->s, (d >> 44) & 1);
	CHECK_EQ(s->dpl, (d >> 45) & 3);
	CHECK_EQ(s->present, (d >> 47) & 1);
	CHECK_EQ(s->avl, (d >> 52) & 1);
	CHECK_EQ(s->l, (d >> 53) & 1);
	CHECK_EQ(s->db, (d >> 54) & 1);
	CHECK_EQ(s->g, (d >> 55) & 1);
	CHECK_EQ(s->unusable, 0);
}

TEST(sregs_match_gdt)
{
	struct kvm_sregs s;
	struct test_ram r;

	ram_tables(&r, failed);
	memset(&s, 0, sizeof(s));
	s.ldt.selector = 0x1234; /* left alone */
	s.apic_base = 0xfee00900;
	boot_cpu_fill_sregs(&s);
	check_seg(failed, &s.cs, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_CS), BOOT_CPU_CS);
	check_seg(failed, &s.ds, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), BOOT_CPU_DS);
	check_seg(failed, &s.es, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), BOOT_CPU_DS);
	check_seg(failed, &s.fs, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), BOOT_CPU_DS);
	check_seg(failed, &s.gs, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), BOOT_CPU_DS);
	check_seg(failed, &s.ss, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_DS), BOOT_CPU_DS);
	check_seg(failed, &s.tr, rd64(&r, BOOT_GDT_GPA + BOOT_CPU_TSS), BOOT_CPU_TSS);
	/* The same, spelled out: 64-bit code, flat data, busy TSS. */
	CHECK(s.cs.l == 1 && s.cs.db == 0 && s.cs.type == 0xb && s.cs.limit == 0xffffffff);
	CHECK(s.ds.l == 0 && s.ds.db == 1 && s.ds.type == 0x3 && s.ds.s == 1);
	CHECK(s.tr.type == 0xb && s.tr.s == 0 && s.tr.base == BOOT_TSS_GPA);
	CHECK_EQ(s.gdt.base, BOOT_GDT_GPA);
	CHECK_EQ(s.gdt.limit, BOOT_GDT_SIZE - 1);
	CHECK_EQ(s.idt.base, BOOT_IDT_GPA);
	CHECK_EQ(s.idt.limit, BOOT_IDT_SIZE - 1);
	CHECK_EQ(s.cr0, 0x80000011);
	CHECK_EQ(s.cr3, BOOT_PML4_GPA);
	CHECK_EQ(s.cr4, 0x20);
	CHECK_EQ(s.efer, 0x500);
	CHECK_EQ(s.ldt.selector, 0x1234);
	CHECK_EQ(s.apic_base, 0xfee00900);
	test_ram_fini(&r);
}

TEST(regs)
{
	struct kvm_regs r;

	memset(&r, 0xff, sizeof(r));
	boot_cpu_fill_regs(&r, 0x1000200, BOOT_ZERO_PAGE_GPA);
	CHECK_EQ(r.rip, 0x1000200);
	CHECK_EQ(r.rsi, BOOT_ZERO_PAGE_GPA);
	CHECK_EQ(r.rsp, BOOT_STACK_TOP);
	CHECK_EQ(r.rflags, 0x2);
	CHECK_EQ(r.rax | r.rbx | r.rcx | r.rdx | r.rdi | r.r8 | r.r15, 0);
}

TEST(tables_need_ram)
{
	static uint8_t small[0x8000]; /* GDT fits, the page tables do not */
	struct gmem m;

	CHECK_EQ(gmem_init_buffer(&m, small, sizeof(small)), 0);
	CHECK_ERR(boot_cpu_write_tables(&m), -EFAULT);
}

CHECK_MAIN(CASE(low_memory_map), CASE(gdt_contents), CASE(identity_map), CASE(sregs_match_gdt),
           CASE(regs), CASE(tables_need_ram))

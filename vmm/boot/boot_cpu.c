// SPDX-License-Identifier: MIT
/*
 * boot_cpu: GDT, identity page tables and long-mode registers (boot_cpu.h).
 *
 * The segment registers are decoded from the very descriptors written into
 * the GDT, so that the two cannot disagree: on VM entry the hidden parts of
 * the registers are what counts, but the kernel reloads them from the GDT.
 */
#include "vmm/boot/boot.h"

#include <errno.h>
#include <string.h>

#include "vmm/boot/boot_int.h"

/*
 * Descriptor access bytes (Intel SDM vol. 3, "Segment Descriptors" and
 * "Segment Descriptor Types"): P, DPL 0, S and the type. The accessed bit is
 * set in each because VMX refuses a usable segment register whose type
 * lacks it (SDM vol. 3, "Checks on Guest Segment Registers").
 */
#define ACCESS_CODE 0x9b /* P, S, type 0xb: execute/read, accessed */
#define ACCESS_DATA 0x93 /* P, S, type 0x3: read/write, accessed */
#define ACCESS_TSS  0x8b /* P, type 0xb: 64-bit TSS, busy; VM entry wants busy */
/* Descriptor flags nibble: G, D/B, L, AVL (bits 55..52). */
#define FLAGS_CODE64 0xa /* G, L */
#define FLAGS_DATA   0xc /* G, D/B */

#define PT_ENTRIES 512
#define PAGE_2M    (2ull << 20)

/* gdt_desc: an 8-byte segment descriptor (SDM vol. 3, "Segment Descriptors"). */
static uint64_t gdt_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

/*
 * gdt_build: the GDT; the TSS descriptor takes two slots, 16 bytes in long
 * mode (SDM vol. 3, "TSS Descriptor in 64-bit Mode").
 */
static void gdt_build(uint64_t gdt[BOOT_GDT_SIZE / 8])
{
	memset(gdt, 0, BOOT_GDT_SIZE);
	gdt[BOOT_CPU_CS / 8] = gdt_desc(0, 0xfffff, ACCESS_CODE, FLAGS_CODE64);
	gdt[BOOT_CPU_DS / 8] = gdt_desc(0, 0xfffff, ACCESS_DATA, FLAGS_DATA);
	gdt[BOOT_CPU_TSS / 8] = gdt_desc((uint32_t)BOOT_TSS_GPA, BOOT_TSS_SIZE - 1, ACCESS_TSS, 0);
	gdt[BOOT_CPU_TSS / 8 + 1] = BOOT_TSS_GPA >> 32; /* base bits 63..32 */
}

/* segment_from_desc: the register KVM wants for descriptor d at selector sel. */
static struct kvm_segment segment_from_desc(uint64_t d, uint16_t sel)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	uint8_t flags = (uint8_t)((d >> 52) & 0xf);
	struct kvm_segment s = {
		.base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000),
		.selector = sel,
		.type = (uint8_t)((d >> 40) & 0xf),
		.s = (uint8_t)((d >> 44) & 1),
		.dpl = (uint8_t)((d >> 45) & 3),
		.present = (uint8_t)((d >> 47) & 1),
		.avl = flags & 1,
		.l = (flags >> 1) & 1,
		.db = (flags >> 2) & 1,
		.g = (flags >> 3) & 1,
	};

	/* With G the limit counts 4 KiB pages. */
	s.limit = s.g ? (limit << 12) | 0xfff : limit;
	return s;
}

/*
 * write_page_tables: PML4[0] -> PDPT, PDPT[i] -> PD i, PD i maps GiB i in
 * 2 MiB pages (Intel SDM vol. 3, "4-Level Paging"), so that GPA = GVA
 * over the first 4 GiB: the kernel, zero page and command line all lie in
 * it (boot.rst asks for them to be identity mapped).
 */
static int write_page_tables(struct gmem *m)
{
	uint64_t t[PT_ENTRIES];

	memset(t, 0, sizeof(t));
	t[0] = BOOT_PDPT_GPA | BOOT_CPU_PTE_P | BOOT_CPU_PTE_RW;
	if (gmem_write(m, BOOT_PML4_GPA, t, sizeof(t)))
		return -EFAULT;
	memset(t, 0, sizeof(t));
	for (uint64_t i = 0; i < BOOT_PD_COUNT; i++)
		t[i] = (BOOT_PD_GPA + i * sizeof(t)) | BOOT_CPU_PTE_P | BOOT_CPU_PTE_RW;
	if (gmem_write(m, BOOT_PDPT_GPA, t, sizeof(t)))
		return -EFAULT;
	for (uint64_t i = 0; i < BOOT_PD_COUNT; i++) {
		for (uint64_t j = 0; j < PT_ENTRIES; j++)
			t[j] = ((i * PT_ENTRIES + j) * PAGE_2M) | BOOT_CPU_PTE_P | BOOT_CPU_PTE_RW |
			       BOOT_CPU_PTE_PS;
		if (gmem_write(m, BOOT_PD_GPA + i * sizeof(t), t, sizeof(t)))
			return -EFAULT;
	}
	return 0;
}

int boot_cpu_write_tables(struct gmem *m)
{
	uint64_t gdt[BOOT_GDT_SIZE / 8];
	uint8_t zero[BOOT_TSS_SIZE] = { 0 };

	gdt_build(gdt);
	if (gmem_write(m, BOOT_GDT_GPA, gdt, sizeof(gdt)) ||
	    gmem_write(m, BOOT_IDT_GPA, zero, BOOT_IDT_SIZE) ||
	    gmem_write(m, BOOT_TSS_GPA, zero, sizeof(zero)))
		return -EFAULT;
	return write_page_tables(m);
}

void boot_cpu_fill_sregs(struct kvm_sregs *s)
{
	uint64_t gdt[BOOT_GDT_SIZE / 8];
	struct kvm_segment data;

	gdt_build(gdt);
	data = segment_from_desc(gdt[BOOT_CPU_DS / 8], BOOT_CPU_DS);
	s->cs = segment_from_desc(gdt[BOOT_CPU_CS / 8], BOOT_CPU_CS);
	s->ds = data;
	s->es = data;
	s->fs = data;
	s->gs = data;
	s->ss = data;
	s->tr = segment_from_desc(gdt[BOOT_CPU_TSS / 8], BOOT_CPU_TSS);
	s->gdt = (struct kvm_dtable){ .base = BOOT_GDT_GPA, .limit = BOOT_GDT_SIZE - 1 };
	/* No vector is usable (64-bit gates are 16 bytes): a fault before the
	 * kernel has its own IDT is a triple fault the monitor reports. */
	s->idt = (struct kvm_dtable){ .base = BOOT_IDT_GPA, .limit = BOOT_IDT_SIZE - 1 };
	s->cr0 = BOOT_CPU_CR0_PE | BOOT_CPU_CR0_ET | BOOT_CPU_CR0_PG;
	s->cr3 = BOOT_PML4_GPA;
	s->cr4 = BOOT_CPU_CR4_PAE;
	s->efer = BOOT_CPU_EFER_LME | BOOT_CPU_EFER_LMA;
}

void boot_cpu_fill_regs(struct kvm_regs *r, uint64_t entry, uint64_t zero_page)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rsi = zero_page;
	r->rsp = BOOT_STACK_TOP;
	r->rbp = BOOT_STACK_TOP;
	r->rflags = BOOT_CPU_RFLAGS_RESERVED;
}

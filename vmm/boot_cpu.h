/* SPDX-License-Identifier: MIT */
/*
 * boot_cpu: the CPU state of Linux's 64-bit boot protocol (boot.rst, "64-bit
 * BOOT PROTOCOL"): long mode with paging on, an identity map covering the
 * kernel, zero page and command line, a GDT with flat 4 GiB segments for
 * __BOOT_CS (0x10) and __BOOT_DS (0x18), interrupts off, RSI = the zero
 * page. Structures go where boot_layout.h says; no KVM call is made here,
 * the caller hands the filled structs to KVM_SET_SREGS and KVM_SET_REGS.
 */
#ifndef KVMBOX_VMM_BOOT_CPU_H
#define KVMBOX_VMM_BOOT_CPU_H

#include <linux/kvm.h>
#include <stdint.h>

#include "gmem.h"

/* GDT selectors: boot.rst's __BOOT_CS and __BOOT_DS, then our TSS. */
#define BOOT_CPU_CS  0x10
#define BOOT_CPU_DS  0x18
#define BOOT_CPU_TSS 0x20

/* Intel SDM vol. 3, "Control Registers" and "Extended Feature Enable Register". */
#define BOOT_CPU_CR0_PE          (1ull << 0)
#define BOOT_CPU_CR0_ET          (1ull << 4)
#define BOOT_CPU_CR0_PG          (1ull << 31)
#define BOOT_CPU_CR4_PAE         (1ull << 5)
#define BOOT_CPU_EFER_LME        (1ull << 8)
#define BOOT_CPU_EFER_LMA        (1ull << 10)
#define BOOT_CPU_RFLAGS_RESERVED (1ull << 1) /* bit 1 always reads 1; IF clear */

/* Paging entry bits (Intel SDM vol. 3, "4-Level Paging"). */
#define BOOT_CPU_PTE_P  (1ull << 0)
#define BOOT_CPU_PTE_RW (1ull << 1)
#define BOOT_CPU_PTE_PS (1ull << 7)

/*
 * boot_cpu_write_tables: write the GDT, the empty IDT, the TSS and the
 * identity page tables (4 GiB in 2 MiB pages) into m.
 * Returns 0, or -EFAULT when guest RAM does not cover them.
 */
__attribute__((warn_unused_result)) int boot_cpu_write_tables(struct gmem *m);

/*
 * boot_cpu_fill_sregs: set in s (best the result of KVM_GET_SREGS) the
 * control registers, EFER, segment registers, TR, GDTR and IDTR for long
 * mode with the tables boot_cpu_write_tables writes. Other fields (LDT, APIC
 * base, pending interrupts) are left as they are.
 */
void boot_cpu_fill_sregs(struct kvm_sregs *s);

/*
 * boot_cpu_fill_regs: zero r and set RIP = entry (boot_image's 64-bit entry),
 * RSI = zero_page (boot_params' zero page), RSP on the boot stack and
 * RFLAGS with interrupts off.
 */
void boot_cpu_fill_regs(struct kvm_regs *r, uint64_t entry, uint64_t zero_page);

#endif

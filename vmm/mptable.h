/* SPDX-License-Identifier: MIT */
/*
 * mptable: the Intel MultiProcessor Specification 1.4 tables through which
 * the guest kernel, with no firmware and no ACPI, finds its CPUs, its I/O
 * APIC and how the ISA interrupts reach it.
 *
 * The MP floating pointer goes at BOOT_MPTABLE_GPA, the last KiB of base
 * memory, one of the places MP spec §4 tells the OS to search (Linux scans
 * it); the configuration table follows it and may run past 640 KiB into the
 * legacy hole, which the e820 map reserves (spec §4.2 lets the table lie
 * anywhere in physical memory; only the floating pointer is searched for).
 */
#ifndef KVMBOX_VMM_MPTABLE_H
#define KVMBOX_VMM_MPTABLE_H

#include <stddef.h>

#include "gmem.h"

/* APIC ids 0..nr_cpus-1 and the I/O APIC's nr_cpus, all below 0xff
 * (which MP spec §4.3.5 uses for "all local APICs"). */
#define MPTABLE_MAX_CPUS       254
#define MPTABLE_IOAPIC_ADDR    0xfec00000u
#define MPTABLE_IOAPIC_VERSION 0x11
#define MPTABLE_LAPIC_ADDR     0xfee00000u
#define MPTABLE_LAPIC_VERSION  0x14 /* integrated APIC, as KVM's in-kernel LAPIC */
#define MPTABLE_ISA_IRQS       16

/* mptable_size: bytes the floating pointer and table take for nr_cpus. */
size_t mptable_size(unsigned int nr_cpus);

/*
 * mptable_write: write the MP floating pointer and configuration table for
 * nr_cpus CPUs (APIC id = index, CPU 0 the bootstrap processor) into m.
 * Returns 0, -EINVAL for nr_cpus of 0 or above MPTABLE_MAX_CPUS, or -EFAULT
 * if guest RAM does not cover [BOOT_MPTABLE_GPA, + mptable_size()).
 */
__attribute__((warn_unused_result)) int mptable_write(struct gmem *m, unsigned int nr_cpus);

#endif

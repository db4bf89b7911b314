/* SPDX-License-Identifier: MIT */
/*
 * boot/: the x86-64 Linux boot path, the public face of the subsystem.
 *
 * Everything the VM needs to start a kernel with no firmware: the kernel
 * image loader (boot_image.c: bzImage and ELF vmlinux), the zero page with
 * its e820 map, command line and initrd (boot_params.c), the long-mode CPU
 * state with GDT and identity page tables (boot_cpu.c), the MP table that
 * describes the CPUs (mptable.c) and each vCPU's CPUID table (cpuid.c).
 * None of it calls KVM or touches anything but guest memory through
 * vmm/gmem.h, so all of it is unit tested and fuzzed without /dev/kvm.
 * boot_int.h, the subsystem's private header, is the one map of low guest
 * memory these files share.
 */
#ifndef KVMBOX_VMM_BOOT_BOOT_H
#define KVMBOX_VMM_BOOT_BOOT_H

#include "vmm/gmem.h"

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/*
 * boot_image: load a Linux x86-64 kernel image into guest memory.
 *
 * Two formats are accepted:
 *  - bzImage, Linux boot protocol 2.12 or later with a 64-bit entry
 *    (Documentation/x86/boot.rst). Its protected-mode part is copied to the
 *    preferred load address and the vCPU enters at load address + 0x200
 *    ("64-bit boot protocol"); the real-mode setup code never runs.
 *  - ELF64 vmlinux: each PT_LOAD is copied to its p_paddr and entry is
 *    e_entry (vmlinux's ENTRY is phys_startup_64, a physical address). No
 *    decompression, so this boots faster.
 *
 * The image comes from a file the user names: every byte of it is untrusted,
 * and every header field is checked against the file size before use.
 */

/* boot.rst: the setup header starts at 0x1f1 of the image and of the zero
 * page; we keep it up to 0x290, where the zero page's next field begins. */
#define BOOT_IMAGE_SETUP_HDR_OFF 0x1f1
#define BOOT_IMAGE_SETUP_HDR_MAX (0x290 - BOOT_IMAGE_SETUP_HDR_OFF)

enum boot_image_kind {
	BOOT_IMAGE_NONE = 0,
	BOOT_IMAGE_BZIMAGE,
	BOOT_IMAGE_ELF,
};

struct boot_image {
	enum boot_image_kind kind;
	uint64_t entry;        /* GPA of the 64-bit entry point (the vCPU's RIP) */
	uint64_t kernel_start; /* lowest GPA the kernel occupies */
	uint64_t kernel_end;   /* first GPA above all the kernel needs at boot */
	/*
	 * Setup header facts boot_params needs. For a bzImage they are the
	 * image's; for an ELF vmlinux, which has no header, the values the
	 * monitor claims on its behalf (version 2.15, 2 MiB alignment, 2048
	 * byte command line, initrd below 2 GiB).
	 */
	uint16_t version;
	uint16_t xloadflags;
	uint32_t initrd_addr_max; /* highest byte address the initrd may use */
	uint32_t cmdline_size;    /* longest command line, NUL excluded */
	uint32_t kernel_alignment;
	uint32_t init_size;
	/* bzImage only: image bytes [0x1f1, 0x1f1 + setup_hdr_len). */
	uint8_t setup_hdr[BOOT_IMAGE_SETUP_HDR_MAX];
	size_t setup_hdr_len;
};

/*
 * boot_image_load: recognise img (size bytes, untrusted) as a bzImage or an
 * ELF64 x86-64 vmlinux, check it completely, copy it into m and describe it
 * in out. Nothing of the kernel is placed below 1 MiB (BOOT_HIGH_GPA) or at
 * or above the 32-bit MMIO gap, where the boot page tables stop mapping.
 * Returns 0, or
 *   -ENOEXEC  not a kernel image, or one we do not support (boot protocol
 *             before 2.12, no 64-bit entry, not ELF64 little-endian x86-64
 *             executable, no loadable segment);
 *   -EINVAL   truncated, or header fields inconsistent with the file;
 *   -ENOMEM   the kernel does not fit in guest RAM where it must go.
 * Guest memory is written only after all checks have passed.
 */
__attribute__((warn_unused_result)) int boot_image_load(struct gmem *m, const uint8_t *img,
                                                        size_t size, struct boot_image *out);
/*
 * boot_image_load_fd: the same for the file fd of size bytes (its size
 * when opened): only the headers are read into the VMM; the kernel goes
 * from the file straight into guest memory (pread). Also -EIO when the
 * file shrank, or pread's -errno.
 */
__attribute__((warn_unused_result)) int boot_image_load_fd(struct gmem *m, int fd, uint64_t size,
                                                           struct boot_image *out);

/* boot_image_kind_name: "bzImage", "ELF vmlinux" or "none", for messages. */
const char *boot_image_kind_name(enum boot_image_kind kind);

/*
 * boot_params: the zero page (struct boot_params, Documentation/x86/
 * zero-page.rst and boot.rst), with its e820 map, the kernel command line
 * and the initrd, placed in guest memory as boot_layout.h says.
 */

/* e820 types (ACPI spec, "System Address Map Interfaces": address range types). */
#define BOOT_E820_RAM      1
#define BOOT_E820_RESERVED 2

/* boot.rst: initrd_addr_max is absent before 2.03, and then 0x37ffffff. */
#define BOOT_INITRD_ADDR_MAX_OLD 0x37ffffffu

struct boot_params_info {
	uint64_t zero_page_gpa; /* the vCPU's RSI */
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa; /* 0 without an initrd */
	uint64_t initrd_size;
	unsigned int nr_e820;
};

/*
 * boot_cmdline_limit: the longest command line img accepts, its NUL
 * excluded (the setup header's cmdline_size, at most BOOT_CMDLINE_MAX - 1).
 */
uint64_t boot_cmdline_limit(const struct boot_image *img);

/*
 * boot_cmdline_dashes (cmdline.c): the offset in s of its first "--"
 * parameter, after which the kernel's parameters end and init's arguments
 * begin (kernel/params.c), or strlen(s) without one; *rest is the offset
 * just past it (strlen(s) without one). Parameters are split as the
 * kernel's next_arg() splits them: at spaces outside double quotes.
 */
size_t boot_cmdline_dashes(const char *s, size_t *rest);

/*
 * boot_cmdline_insert: s with params (kernel parameters, separated by
 * spaces) among the kernel's own: before a "--" in s, or at the end. The
 * result is malloc'd in *out. 0 or -ENOMEM.
 */
__attribute__((warn_unused_result)) int boot_cmdline_insert(const char *s, const char *params,
                                                            char **out);

/*
 * boot_params_setup: write the initrd (if initrd_size is not 0), the command
 * line and the zero page for the kernel img that boot_image_load put in m.
 *   cmdline  NUL-terminated, may be NULL for an empty one; longer than the
 *            kernel accepts (img->cmdline_size, at most BOOT_CMDLINE_MAX - 1)
 *            is refused with -E2BIG.
 *   initrd   initrd_size bytes, copied as high as possible in RAM below 4
 *            GiB, page-aligned, below img->initrd_addr_max and above
 *            img->kernel_end; -E2BIG if larger than the 32-bit ramdisk_size
 *            field holds, -ENOSPC if it does not fit. NULL with a size:
 *            the room is chosen and named in out->initrd_gpa, and the
 *            caller fills it (from a file, with no staging copy).
 * The e820 map: RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB), RAM [1 MiB, end
 * of low RAM), and RAM above 4 GiB when m has a second slot.
 * Returns 0 and fills out, or -errno (-EINVAL for a missing image, -ENOMEM
 * when RAM ends at or below 1 MiB) having written nothing.
 */
__attribute__((warn_unused_result)) int
boot_params_setup(struct gmem *m, const struct boot_image *img, const char *cmdline,
                  const void *initrd, size_t initrd_size, struct boot_params_info *out);

/*
 * boot_cpu: the CPU state of Linux's 64-bit boot protocol (boot.rst, "64-bit
 * BOOT PROTOCOL"): long mode with paging on, an identity map covering the
 * kernel, zero page and command line, a GDT with flat 4 GiB segments for
 * __BOOT_CS (0x10) and __BOOT_DS (0x18), interrupts off, RSI = the zero
 * page. Structures go where boot_layout.h says; no KVM call is made here,
 * the caller hands the filled structs to KVM_SET_SREGS and KVM_SET_REGS.
 */

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

/*
 * cpuid: the CPUID table of each vCPU, derived from what
 * KVM_GET_SUPPORTED_CPUID offers (Documentation/virt/kvm/api.rst,
 * "KVM_GET_SUPPORTED_CPUID" and "KVM_SET_CPUID2").
 *
 * The topology we present: one package, nr_cpus cores, one thread per core,
 * APIC ID = x2APIC ID = vCPU index. Every leaf that describes topology is
 * rewritten to say so; the architectural PMU leaf is zeroed (we offer no
 * PMU); the hypervisor bit is set (and the TSC-deadline bit, by the caller:
 * cpuid_add_tsc_deadline); KVM's paravirtual leaves
 * (0x40000000..0x400000ff) and all other leaves pass through as KVM gave
 * them.
 *
 * The input comes from the host kernel, not the guest; it is still only
 * read within supported->nent entries, and the output never exceeds out_cap.
 */

/* The largest vCPU count: APIC IDs 0..253 (0xff is the xAPIC broadcast). */
#define CPUID_MAX_CPUS 254

enum cpuid_vendor {
	CPUID_VENDOR_OTHER,
	CPUID_VENDOR_INTEL,
	CPUID_VENDOR_AMD, /* AuthenticAMD and HygonGenuine (same leaves) */
};

/* cpuid_vendor: the vendor named by leaf 0 (OTHER when there is no leaf 0). */
enum cpuid_vendor cpuid_vendor(const struct kvm_cpuid2 *c);

/*
 * cpuid_for_vcpu: build in out the table for vCPU index of nr_cpus.
 * supported: KVM_GET_SUPPORTED_CPUID's answer (read only; must not be out).
 * out: room for out_cap entries after its header; out->nent is set.
 * The table may have a few more entries than supported: leaves 0xB and 0x1F
 * (when present) are rebuilt as exactly three subleaves; cpuid_out_entries()
 * says how many.
 * Returns 0, -EINVAL (nr_cpus 0 or above CPUID_MAX_CPUS, index >= nr_cpus,
 * a NULL table, or out == supported) or -E2BIG (out_cap too small).
 */
__attribute__((warn_unused_result)) int cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                                       struct kvm_cpuid2 *out, unsigned int out_cap,
                                                       unsigned int index, unsigned int nr_cpus);

/*
 * cpuid_add_tsc_deadline: set leaf 1 ECX[24], the local APIC timer's
 * TSC-deadline mode (SDM Vol. 3A, "TSC-Deadline Mode"), in supported.
 * KVM's in-kernel local APIC, which every VM of ours has, emulates it,
 * but KVM_GET_SUPPORTED_CPUID leaves it out before Linux 6.14: userspace
 * sets it when KVM_CAP_TSC_DEADLINE_TIMER says so (api.rst, "Known KVM API
 * problems", "Local APIC features"). Without it a Linux guest calibrates
 * its local APIC timer against the TSC for 100 ms at boot
 * (calibrate_APIC_clock, HZ/10 ticks), and arms the timer by MMIO. No
 * leaf 1 (a table KVM would never give): nothing is done.
 */
void cpuid_add_tsc_deadline(struct kvm_cpuid2 *supported);

/* cpuid_out_entries: how many entries cpuid_for_vcpu will write. */
unsigned long cpuid_out_entries(const struct kvm_cpuid2 *supported);

#endif

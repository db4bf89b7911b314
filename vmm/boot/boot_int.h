/* SPDX-License-Identifier: MIT */
/*
 * boot_int: the boot subsystem's private header, shared by its files and
 * by nothing else but its unit tests. It is the map of where the monitor
 * puts the structures a 64-bit Linux boot needs, in guest physical memory
 * below 1 MiB: one place, so that nothing overlaps
 * (tests/unit/test_boot_cpu.c asserts it).
 *
 *   GPA range             what                                  written by
 *   [0x00000, 0x01000)    real-mode IVT and BIOS data area:     nobody
 *                         left zero, the kernel may look at it
 *   [0x01000, 0x01030)    GDT: null, null, code 0x10, data      boot_cpu.c
 *                         0x18, 64-bit TSS descriptor 0x20
 *   [0x02000, 0x02008)    IDT: empty (limit 0); the kernel      boot_cpu.c
 *                         loads its own before it enables
 *                         interrupts
 *   [0x03000, 0x03068)    64-bit TSS (104 bytes), zero          boot_cpu.c
 *   [0x07000, 0x08000)    zero page: struct boot_params         boot_params.c
 *   [0x08000, 0x09000)    boot stack, RSP starts at 0x8ff0      -
 *   [0x09000, 0x0a000)    PML4                                  boot_cpu.c
 *   [0x0a000, 0x0b000)    PDPT (4 entries used)                 boot_cpu.c
 *   [0x0b000, 0x0f000)    4 PDs of 2 MiB pages: 4 GiB identity  boot_cpu.c
 *   [0x20000, 0x30000)    kernel command line                   boot_params.c
 *   [0x9fc00, 0xa2000)    MP floating pointer (in the last KiB  mptable.c
 *                         of base memory, MP spec 1.4 §4) and
 *                         the MP configuration table after it
 *   [0x9fc00, 0x100000)   reserved in the e820 map (EBDA, VGA
 *                         hole, BIOS area)                      boot_params.c
 *   [0x100000, ...)       kernel, then the initrd as high as    boot_image.c,
 *                         low RAM and the kernel allow          boot_params.c
 *
 * Everything the monitor writes below 0x9fc00 sits in e820 RAM: the kernel
 * copies the zero page and command line early and replaces the GDT and page
 * tables, after which that memory is free for it to use.
 */
#ifndef KVMBOX_VMM_BOOT_BOOT_INT_H
#define KVMBOX_VMM_BOOT_BOOT_INT_H

#define BOOT_GDT_GPA         0x1000ull
#define BOOT_GDT_SIZE        0x30ull /* 4 descriptors of 8 bytes and one of 16 */
#define BOOT_IDT_GPA         0x2000ull
#define BOOT_IDT_SIZE        0x8ull
#define BOOT_TSS_GPA         0x3000ull
#define BOOT_TSS_SIZE        0x68ull /* SDM vol. 3, "64-Bit Task State Segment": 104 bytes */
#define BOOT_ZERO_PAGE_GPA   0x7000ull
#define BOOT_ZERO_PAGE_SIZE  0x1000ull
#define BOOT_STACK_GPA       0x8000ull
#define BOOT_STACK_SIZE      0x1000ull
#define BOOT_STACK_TOP       0x8ff0ull
#define BOOT_PML4_GPA        0x9000ull
#define BOOT_PDPT_GPA        0xa000ull
#define BOOT_PD_GPA          0xb000ull
#define BOOT_PD_COUNT        4ull /* one PD maps 1 GiB: 4 GiB identity mapped */
#define BOOT_PAGE_TABLES_END (BOOT_PD_GPA + BOOT_PD_COUNT * 0x1000ull)
#define BOOT_CMDLINE_GPA     0x20000ull
#define BOOT_CMDLINE_MAX     0x10000ull /* bytes, the terminating NUL included */
#define BOOT_MPTABLE_GPA     0x9fc00ull
#define BOOT_MPTABLE_END     0xa2000ull
#define BOOT_EBDA_GPA        0x9fc00ull  /* start of the e820 reserved range */
#define BOOT_HIGH_GPA        0x100000ull /* 1 MiB: nothing of the kernel below this */

#endif

/* SPDX-License-Identifier: MIT */
/*
 * boot_params: the zero page (struct boot_params, Documentation/x86/
 * zero-page.rst and boot.rst), with its e820 map, the kernel command line
 * and the initrd, placed in guest memory as boot_layout.h says.
 */
#ifndef KVMBOX_VMM_BOOT_PARAMS_H
#define KVMBOX_VMM_BOOT_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "boot_image.h"
#include "gmem.h"

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
 * boot_params_setup: write the initrd (if initrd_size is not 0), the command
 * line and the zero page for the kernel img that boot_image_load put in m.
 *   cmdline  NUL-terminated, may be NULL for an empty one; longer than the
 *            kernel accepts (img->cmdline_size, at most BOOT_CMDLINE_MAX - 1)
 *            is refused with -E2BIG.
 *   initrd   initrd_size bytes, copied as high as possible in RAM below 4
 *            GiB, page-aligned, below img->initrd_addr_max and above
 *            img->kernel_end; -E2BIG if larger than the 32-bit ramdisk_size
 *            field holds, -ENOSPC if it does not fit.
 * The e820 map: RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB), RAM [1 MiB, end
 * of low RAM), and RAM above 4 GiB when m has a second slot.
 * Returns 0 and fills out, or -errno (-EINVAL for a missing image or initrd
 * pointer, -ENOMEM when RAM ends at or below 1 MiB) having written nothing.
 */
__attribute__((warn_unused_result)) int
boot_params_setup(struct gmem *m, const struct boot_image *img, const char *cmdline,
                  const void *initrd, size_t initrd_size, struct boot_params_info *out);

#endif

/* SPDX-License-Identifier: MIT */
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
#ifndef KVMBOX_VMM_BOOT_IMAGE_H
#define KVMBOX_VMM_BOOT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "gmem.h"

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

/* boot_image_kind_name: "bzImage", "ELF vmlinux" or "none", for messages. */
const char *boot_image_kind_name(enum boot_image_kind kind);

#endif

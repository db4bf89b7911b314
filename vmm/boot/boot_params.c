// SPDX-License-Identifier: MIT
/*
 * boot_params: zero page, e820 map, command line and initrd (boot_params.h).
 *
 * Nothing here reads guest memory; the inputs are the checked description
 * of the kernel (struct boot_image) and the user's command line and initrd.
 */
#include "vmm/boot/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "vmm/boot/boot_int.h"

#define PAGE_SIZE_4K     0x1000ull
#define BOOT_FLAG_MAGIC  0xaa55      /* boot.rst: boot_flag */
#define HDRS_MAGIC       0x53726448u /* boot.rst: header, "HdrS" */
#define LOADER_UNDEFINED 0xff        /* boot.rst: type_of_loader, no assigned id */
#define CMDLINE_SIZE_OLD 255         /* boot.rst: the limit before 2.06 */

_Static_assert(sizeof(struct boot_params) == BOOT_ZERO_PAGE_SIZE, "zero-page.rst: one page");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "zero-page.rst: e820_table");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "zero-page.rst: e820_entries");

/* low_ram_end: the end of the slot at GPA 0, where RAM below the gap ends. */
static uint64_t low_ram_end(const struct gmem *m)
{
	return m->nr_slots ? m->slots[0].gpa + m->slots[0].size : 0;
}

/* e820_add: append [start, end) of type to bp's map, if not empty. */
static void e820_add(struct boot_params *bp, uint64_t start, uint64_t end, uint32_t type)
{
	struct boot_e820_entry *e;

	if (end <= start || bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
		return;
	e = &bp->e820_table[bp->e820_entries++];
	e->addr = start;
	e->size = end - start;
	e->type = type;
}

/*
 * e820_fill: the map of guest RAM. The range [0x9fc00, 1 MiB) is reserved:
 * the MP table lives there (boot_layout.h), and it is where a PC has its
 * EBDA, VGA memory and BIOS, which the kernel expects to be unusable.
 */
static void e820_fill(struct boot_params *bp, const struct gmem *m)
{
	uint64_t low_end = low_ram_end(m);

	e820_add(bp, 0, BOOT_EBDA_GPA, BOOT_E820_RAM);
	e820_add(bp, BOOT_EBDA_GPA, BOOT_HIGH_GPA, BOOT_E820_RESERVED);
	e820_add(bp, BOOT_HIGH_GPA, low_end, BOOT_E820_RAM);
	for (unsigned int i = 1; i < m->nr_slots; i++)
		e820_add(bp, m->slots[i].gpa, m->slots[i].gpa + m->slots[i].size, BOOT_E820_RAM);
}

/*
 * initrd_place: the GPA for an initrd of size bytes: as high as possible,
 * page-aligned, with its last byte at or below the kernel's initrd_addr_max
 * and in low RAM, and above the kernel. Returns 0, -E2BIG or -ENOSPC.
 */
static int initrd_place(const struct gmem *m, const struct boot_image *img, uint64_t size,
                        uint64_t *gpa)
{
	uint64_t max = img->version < 0x0203 ? BOOT_INITRD_ADDR_MAX_OLD : img->initrd_addr_max;
	uint64_t limit = max + 1, floor;

	if (size > UINT32_MAX)
		return -E2BIG;
	if (limit > low_ram_end(m))
		limit = low_ram_end(m);
	if (img->kernel_end > limit)
		return -ENOSPC;
	/* kernel_end <= limit <= 4 GiB: rounding it up cannot wrap. */
	floor = (img->kernel_end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	if (size > limit || ((limit - size) & ~(PAGE_SIZE_4K - 1)) < floor)
		return -ENOSPC;
	*gpa = (limit - size) & ~(PAGE_SIZE_4K - 1);
	return 0;
}

uint64_t boot_cmdline_limit(const struct boot_image *img)
{
	uint64_t max = img->version < 0x0206 ? CMDLINE_SIZE_OLD : img->cmdline_size;

	return max < BOOT_CMDLINE_MAX - 1 ? max : BOOT_CMDLINE_MAX - 1;
}

/*
 * hdr_fill: the setup header of the zero page. A bzImage's own header is
 * copied (boot.rst: "copy the setup header from the kernel image into the
 * zero page"); an ELF vmlinux has none, so the fields a loader must provide
 * are made up from what boot_image recorded for it.
 */
static void hdr_fill(struct boot_params *bp, const struct boot_image *img)
{
	struct setup_header *h = &bp->hdr;

	if (img->kind == BOOT_IMAGE_BZIMAGE) {
		memcpy((uint8_t *)bp + BOOT_IMAGE_SETUP_HDR_OFF, img->setup_hdr,
		       img->setup_hdr_len);
	} else {
		h->boot_flag = BOOT_FLAG_MAGIC;
		h->header = HDRS_MAGIC;
		h->version = img->version;
		h->loadflags = LOADED_HIGH;
		h->kernel_alignment = img->kernel_alignment;
		h->initrd_addr_max = img->initrd_addr_max;
		h->cmdline_size = img->cmdline_size;
		h->xloadflags = img->xloadflags;
		h->init_size = img->init_size;
		h->pref_address = img->kernel_start;
	}
	h->type_of_loader = LOADER_UNDEFINED;
}

int boot_params_setup(struct gmem *m, const struct boot_image *img, const char *cmdline,
                      const void *initrd, size_t initrd_size, struct boot_params_info *out)
{
	struct boot_params bp;
	uint64_t initrd_gpa = 0;
	size_t len;

	if (!img || (img->kind != BOOT_IMAGE_BZIMAGE && img->kind != BOOT_IMAGE_ELF))
		return -EINVAL;
	if (low_ram_end(m) <= BOOT_HIGH_GPA)
		return -ENOMEM;
	if (!cmdline)
		cmdline = "";
	len = strnlen(cmdline, boot_cmdline_limit(img) + 1);
	if (len > boot_cmdline_limit(img))
		return -E2BIG;
	if (initrd_size) {
		int err = initrd_place(m, img, initrd_size, &initrd_gpa);

		if (err)
			return err;
	}

	memset(&bp, 0, sizeof(bp));
	hdr_fill(&bp, img);
	bp.hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_GPA;
	bp.hdr.ramdisk_image = (uint32_t)initrd_gpa; /* below 4 GiB: initrd_place */
	bp.hdr.ramdisk_size = (uint32_t)initrd_size;
	e820_fill(&bp, m);

	/* Low RAM ends above 1 MiB, so these writes cannot fail. */
	if (initrd_size && initrd && gmem_write(m, initrd_gpa, initrd, initrd_size))
		return -EFAULT;
	/* strnlen stopped at the NUL: cmdline[len] is it. */
	if (gmem_write(m, BOOT_CMDLINE_GPA, cmdline, len + 1) ||
	    gmem_write(m, BOOT_ZERO_PAGE_GPA, &bp, sizeof(bp)))
		return -EFAULT;

	*out = (struct boot_params_info){
		.zero_page_gpa = BOOT_ZERO_PAGE_GPA,
		.cmdline_gpa = BOOT_CMDLINE_GPA,
		.initrd_gpa = initrd_gpa,
		.initrd_size = initrd_size,
		.nr_e820 = bp.e820_entries,
	};
	return 0;
}

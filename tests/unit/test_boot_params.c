// SPDX-License-Identifier: MIT
/*
 * Unit tests of the zero page, e820 map, command line and initrd placement
 * (vmm/boot/boot_params.c), over a 128 MiB buffer and a lazily mapped 4 GiB memfd.
 */
#include "check.h"
#include "rig.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/boot_int.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stdlib.h>

#define RAM_SIZE   (128ull << 20)
#define KERNEL_END 0x2000000ull /* 32 MiB */

/* A bzImage description as boot_image_load leaves it, header included. */
static struct boot_image bz_image(void)
{
	struct boot_image bi = {
		.kind = BOOT_IMAGE_BZIMAGE,
		.entry = 0x1000200,
		.kernel_start = 0x1000000,
		.kernel_end = KERNEL_END,
		.version = 0x020f,
		.xloadflags = 1,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.kernel_alignment = 0x200000,
		.init_size = 0x1000000,
		.setup_hdr_len = 0x268 - 0x1f1,
	};
	struct setup_header h = {
		.setup_sects = 31,
		.boot_flag = 0xaa55,
		.header = 0x53726448,
		.version = 0x020f,
		.type_of_loader = 0x00,
		.loadflags = LOADED_HIGH,
		.ramdisk_image = 0xdeadbeef, /* the loader's to fill */
		.initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000,
		.cmdline_size = 2047,
		.init_size = 0x1000000,
	};

	memcpy(bi.setup_hdr, &h, sizeof(h));
	return bi;
}

static struct boot_image elf_image(void)
{
	return (struct boot_image){
		.kind = BOOT_IMAGE_ELF,
		.entry = 0x1000000,
		.kernel_start = 0x1000000,
		.kernel_end = KERNEL_END,
		.version = 0x020f,
		.xloadflags = 1,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.kernel_alignment = 0x200000,
		.init_size = 0x1000000,
	};
}

static const struct boot_params *zero_page(const struct test_ram *r)
{
	return (const struct boot_params *)(r->buf + BOOT_ZERO_PAGE_GPA);
}

static void check_e820(int *failed, const struct boot_params *bp, unsigned int i, uint64_t addr,
                       uint64_t size, uint32_t type)
{
	CHECK_EQ(bp->e820_table[i].addr, addr);
	CHECK_EQ(bp->e820_table[i].size, size);
	CHECK_EQ(bp->e820_table[i].type, type);
}

TEST(e820_128m)
{
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	const struct boot_params *bp;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	CHECK_EQ(boot_params_setup(&r.m, &bi, "console=ttyS0", NULL, 0, &info), 0);
	bp = zero_page(&r);
	CHECK_EQ(info.zero_page_gpa, BOOT_ZERO_PAGE_GPA);
	CHECK_EQ(info.nr_e820, 3);
	CHECK_EQ(bp->e820_entries, 3);
	check_e820(failed, bp, 0, 0, 0x9fc00, BOOT_E820_RAM);
	check_e820(failed, bp, 1, 0x9fc00, 0x100000 - 0x9fc00, BOOT_E820_RESERVED);
	check_e820(failed, bp, 2, 0x100000, RAM_SIZE - 0x100000, BOOT_E820_RAM);
	test_ram_fini(&r);
}

TEST(e820_4g_across_gap)
{
	struct boot_image bi = elf_image();
	struct boot_params_info info;
	const struct boot_params *bp;
	struct gmem m;

	CHECK_EQ(gmem_init(&m, 4ull << 30, false), 0);
	CHECK_EQ(boot_params_setup(&m, &bi, "", NULL, 0, &info), 0);
	bp = gmem_ptr(&m, BOOT_ZERO_PAGE_GPA, sizeof(*bp));
	CHECK(bp != NULL);
	if (!bp)
		return;
	CHECK_EQ(bp->e820_entries, 4);
	check_e820(failed, bp, 0, 0, 0x9fc00, BOOT_E820_RAM);
	check_e820(failed, bp, 1, 0x9fc00, 0x100000 - 0x9fc00, BOOT_E820_RESERVED);
	check_e820(failed, bp, 2, 0x100000, 0xc0000000ull - 0x100000, BOOT_E820_RAM);
	check_e820(failed, bp, 3, 0x100000000ull, 1ull << 30, BOOT_E820_RAM);
	gmem_destroy(&m);
}

TEST(bzimage_header_copied)
{
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	const struct boot_params *bp;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	CHECK_EQ(boot_params_setup(&r.m, &bi, "quiet", NULL, 0, &info), 0);
	bp = zero_page(&r);
	CHECK_EQ(bp->hdr.setup_sects, 31);
	CHECK_EQ(bp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.version, 0x020f);
	CHECK_EQ(bp->hdr.init_size, 0x1000000);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.ramdisk_image, 0);
	CHECK_EQ(bp->hdr.ramdisk_size, 0);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	CHECK_EQ(info.cmdline_gpa, BOOT_CMDLINE_GPA);
	CHECK(strcmp((const char *)r.buf + BOOT_CMDLINE_GPA, "quiet") == 0);
	test_ram_fini(&r);
}

TEST(elf_header_made_up)
{
	struct boot_image bi = elf_image();
	struct boot_params_info info;
	const struct boot_params *bp;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	CHECK_EQ(boot_params_setup(&r.m, &bi, NULL, NULL, 0, &info), 0);
	bp = zero_page(&r);
	CHECK_EQ(bp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.version, 0x020f);
	CHECK_EQ(bp->hdr.kernel_alignment, 0x200000);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.loadflags & LOADED_HIGH, LOADED_HIGH);
	CHECK_EQ(bp->hdr.cmdline_size, 2047);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	CHECK_EQ(r.buf[BOOT_CMDLINE_GPA], 0); /* NULL: the empty command line */
	test_ram_fini(&r);
}

TEST(cmdline_limits)
{
	static char line[4096];
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	memset(line, 'x', 2047);
	line[2047] = '\0';
	CHECK_EQ(boot_params_setup(&r.m, &bi, line, NULL, 0, &info), 0);
	CHECK_EQ(strlen((const char *)r.buf + BOOT_CMDLINE_GPA), 2047);
	memset(r.buf, 0, 1 << 20);
	line[2047] = 'y';
	line[2048] = '\0';
	CHECK_ERR(boot_params_setup(&r.m, &bi, line, NULL, 0, &info), -E2BIG);
	CHECK_EQ(r.buf[BOOT_CMDLINE_GPA], 0); /* nothing written */
	CHECK_EQ(zero_page(&r)->hdr.boot_flag, 0);
	/* A header asking for more than the command line area gets its size. */
	bi.cmdline_size = 0xffffffff;
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	CHECK_EQ(boot_params_setup(&r.m, &bi, line, NULL, 0, &info), 0);
	CHECK(BOOT_CMDLINE_MAX > sizeof(line));
	test_ram_fini(&r);
}

TEST(initrd_top_of_ram)
{
	static uint8_t rd[0x1234];
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	const struct boot_params *bp;
	uint64_t want = (RAM_SIZE - sizeof(rd)) & ~0xfffull;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i * 3 + 1);
	CHECK_EQ(boot_params_setup(&r.m, &bi, "", rd, sizeof(rd), &info), 0);
	bp = zero_page(&r);
	CHECK_EQ(info.initrd_gpa, want);
	CHECK_EQ(info.initrd_size, sizeof(rd));
	CHECK_EQ(bp->hdr.ramdisk_image, want);
	CHECK_EQ(bp->hdr.ramdisk_size, sizeof(rd));
	CHECK(memcmp(r.buf + want, rd, sizeof(rd)) == 0);
	/* No bytes: the same room is named and left for the caller to fill. */
	memset(r.buf + want, 0, sizeof(rd));
	CHECK_EQ(boot_params_setup(&r.m, &bi, "", NULL, sizeof(rd), &info), 0);
	CHECK_EQ(info.initrd_gpa, want);
	CHECK_EQ(zero_page(&r)->hdr.ramdisk_size, sizeof(rd));
	CHECK_EQ(r.buf[want], 0);
	test_ram_fini(&r);
}

TEST(initrd_below_addr_max)
{
	static uint8_t rd[0x3000];
	struct boot_image bi = elf_image();
	struct boot_params_info info;
	struct gmem m;

	CHECK_EQ(gmem_init(&m, 4ull << 30, false), 0);
	/* Below the gap when the kernel allows all of 4 GiB. */
	bi.initrd_addr_max = 0xffffffff;
	CHECK_EQ(boot_params_setup(&m, &bi, "", rd, sizeof(rd), &info), 0);
	CHECK_EQ(info.initrd_gpa, 0xc0000000ull - sizeof(rd));
	/* Its last byte at or below initrd_addr_max. */
	bi.initrd_addr_max = 0x7fffffff;
	CHECK_EQ(boot_params_setup(&m, &bi, "", rd, 0x2001, &info), 0);
	CHECK_EQ(info.initrd_gpa, 0x80000000ull - 0x3000);
	/* Before protocol 2.03 the limit is 0x37ffffff whatever the field says. */
	bi.version = 0x0202;
	CHECK_EQ(boot_params_setup(&m, &bi, "", rd, sizeof(rd), &info), 0);
	CHECK_EQ(info.initrd_gpa, 0x38000000ull - sizeof(rd));
	gmem_destroy(&m);
}

TEST(initrd_too_large)
{
	static uint8_t rd[4096];
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	uint64_t room = RAM_SIZE - KERNEL_END;
	uint8_t *big = calloc(1, room + 1);
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	if (!big)
		abort();
	/* Just fits between the kernel and the top of RAM. */
	CHECK_EQ(boot_params_setup(&r.m, &bi, "", big, room, &info), 0);
	CHECK_EQ(info.initrd_gpa, KERNEL_END);
	memset(r.buf, 0, RAM_SIZE);
	CHECK_ERR(boot_params_setup(&r.m, &bi, "x", big, room + 1, &info), -ENOSPC);
	CHECK_ERR(boot_params_setup(&r.m, &bi, "x", rd, 1ull << 32, &info), -E2BIG);
	/* The kernel's end counts from its next page. */
	bi.kernel_end = RAM_SIZE - 4095;
	CHECK_ERR(boot_params_setup(&r.m, &bi, "x", rd, 1, &info), -ENOSPC);
	bi.kernel_end = RAM_SIZE + 1;
	CHECK_ERR(boot_params_setup(&r.m, &bi, "x", rd, 1, &info), -ENOSPC);
	bi.kernel_end = UINT64_MAX - 100;
	CHECK_ERR(boot_params_setup(&r.m, &bi, "x", rd, 1, &info), -ENOSPC);
	/* No partial state: zero page and command line untouched. */
	CHECK_EQ(zero_page(&r)->hdr.boot_flag, 0);
	CHECK_EQ(r.buf[BOOT_CMDLINE_GPA], 0);
	free(big);
	test_ram_fini(&r);
}

TEST(bad_arguments)
{
	static uint8_t small[1 << 20];
	struct boot_image bi = bz_image();
	struct boot_params_info info;
	struct gmem m;

	CHECK_EQ(gmem_init_buffer(&m, small, sizeof(small)), 0);
	CHECK_ERR(boot_params_setup(&m, &bi, "", NULL, 0, &info), -ENOMEM);
	CHECK_ERR(boot_params_setup(&m, NULL, "", NULL, 0, &info), -EINVAL);
	bi.kind = BOOT_IMAGE_NONE;
	CHECK_ERR(boot_params_setup(&m, &bi, "", NULL, 0, &info), -EINVAL);
}

/* Issue 14, item 8: the VMM's parameters must not end up after a "--". */
TEST(cmdline_dashes)
{
	static const struct {
		const char *in, *params, *out;
	} cases[] = {
		{ "quiet", "a=1 b", "quiet a=1 b" },
		{ "", "a=1", "a=1" },
		{ "quiet", "", "quiet" },
		{ "quiet --", "a=1", "quiet a=1 --" },
		{ "--", "a=1", "a=1 --" },
		{ "quiet -- x --", "a=1", "quiet a=1 -- x --" },
		{ "quiet\t--\tx", "a=1", "quiet\ta=1 --\tx" },
		{ "q \"--\" x", "a=1", "q a=1 \"--\" x" },
		{ "q k=\"y -- z\"", "a=1", "q k=\"y -- z\" a=1" },
		{ "q ---", "a=1", "q --- a=1" },
		{ "q x--", "a=1", "q x-- a=1" },
	};
	size_t rest;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;

		CHECK_EQ(boot_cmdline_insert(cases[i].in, cases[i].params, &out), 0);
		if (!out || strcmp(out, cases[i].out) != 0) {
			fprintf(stderr, "insert(\"%s\", \"%s\") = \"%s\", want \"%s\"\n",
			        cases[i].in, cases[i].params, out ? out : "(null)", cases[i].out);
			(*failed)++;
		}
		free(out);
	}
	CHECK_EQ(boot_cmdline_dashes("a -- b", &rest), 2);
	CHECK_EQ(rest, 4);
	CHECK_EQ(boot_cmdline_dashes("a b", &rest), 3);
	CHECK_EQ(rest, 3);
}

CHECK_MAIN(CASE(cmdline_dashes), CASE(e820_128m), CASE(e820_4g_across_gap),
           CASE(bzimage_header_copied), CASE(elf_header_made_up), CASE(cmdline_limits),
           CASE(initrd_top_of_ram), CASE(initrd_below_addr_max), CASE(initrd_too_large),
           CASE(bad_arguments))

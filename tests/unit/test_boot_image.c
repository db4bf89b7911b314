// SPDX-License-Identifier: MIT
/*
 * Unit tests of kernel image loading (vmm/boot/boot_image.c) with synthetic
 * bzImage headers and ELF files: what is accepted, what is refused, and that
 * a refused image leaves guest memory untouched.
 */
#define _GNU_SOURCE
#include "check.h"
#include "rig.h"
#include "vmm/boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE    (64ull << 20)
#define LOAD        0x1000000ull /* 16 MiB, as x86-64 kernels prefer */
#define SETUP_SECTS 3            /* setup: (3 + 1) * 512 bytes */
#define SETUP_SIZE  2048
#define PAYLOAD     4096
#define BZ_SIZE     (SETUP_SIZE + PAYLOAD)
#define INIT_SIZE   0x200000u

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* bz_make: a minimal bzImage of BZ_SIZE bytes, boot protocol 2.15. */
static void bz_make(uint8_t *img)
{
	memset(img, 0, BZ_SIZE);
	img[0x1f1] = SETUP_SECTS;
	put_le(img + 0x1f4, PAYLOAD / 16, 4); /* syssize */
	put_le(img + 0x1fe, 0xaa55, 2);       /* boot_flag */
	img[0x200] = 0xeb;                    /* jmp short */
	img[0x201] = 0x66;                    /* header ends at 0x268 */
	put_le(img + 0x202, 0x53726448, 4);   /* "HdrS" */
	put_le(img + 0x206, 0x020f, 2);       /* version */
	img[0x211] = 0x01;                    /* loadflags: LOADED_HIGH */
	put_le(img + 0x22c, 0x7fffffff, 4);   /* initrd_addr_max */
	put_le(img + 0x230, 0x200000, 4);     /* kernel_alignment */
	put_le(img + 0x236, 0x3, 2);          /* xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	put_le(img + 0x238, 2047, 4);         /* cmdline_size */
	put_le(img + 0x258, LOAD, 8);         /* pref_address */
	put_le(img + 0x260, INIT_SIZE, 4);    /* init_size */
	for (size_t i = 0; i < PAYLOAD; i++)
		img[SETUP_SIZE + i] = (uint8_t)(i * 7 + 1);
}

/* untouched: whether guest RAM is still all zero around the load address. */
static bool untouched(const struct test_ram *r)
{
	for (size_t i = LOAD - 4096; i < LOAD + 2ull * 4096; i++)
		if (r->buf[i])
			return false;
	return true;
}

TEST(bz_good)
{
	static uint8_t img[BZ_SIZE];
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img);
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img), &bi), 0);
	CHECK_EQ(bi.kind, BOOT_IMAGE_BZIMAGE);
	CHECK(strcmp(boot_image_kind_name(bi.kind), "bzImage") == 0);
	CHECK_EQ(bi.entry, LOAD + 0x200);
	CHECK_EQ(bi.kernel_start, LOAD);
	CHECK_EQ(bi.kernel_end, LOAD + INIT_SIZE);
	CHECK_EQ(bi.version, 0x020f);
	CHECK_EQ(bi.xloadflags, 0x3);
	CHECK_EQ(bi.initrd_addr_max, 0x7fffffff);
	CHECK_EQ(bi.cmdline_size, 2047);
	CHECK_EQ(bi.kernel_alignment, 0x200000);
	CHECK_EQ(bi.init_size, INIT_SIZE);
	CHECK_EQ(bi.setup_hdr_len, 0x268 - 0x1f1);
	CHECK(memcmp(bi.setup_hdr, img + 0x1f1, bi.setup_hdr_len) == 0);
	CHECK(memcmp(r.buf + LOAD, img + SETUP_SIZE, PAYLOAD) == 0);
	CHECK_EQ(r.buf[LOAD + PAYLOAD], 0);
	test_ram_fini(&r);
}

TEST(bz_setup_sects_zero_means_four)
{
	static uint8_t img[5ull * 512 + PAYLOAD];
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img); /* header only: the payload is put after 5 sectors */
	img[0x1f1] = 0;
	for (size_t i = 0; i < PAYLOAD; i++)
		img[5ull * 512 + i] = (uint8_t)(i ^ 0x5a);
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img), &bi), 0);
	CHECK(memcmp(r.buf + LOAD, img + 5ull * 512, PAYLOAD) == 0);
	test_ram_fini(&r);
}

/* bz_refused: load img with field (off, n bytes) set to v; expect err. */
static void bz_refused(int *failed, size_t off, uint64_t v, size_t n, int err)
{
	static uint8_t img[BZ_SIZE];
	struct boot_image bi = { .kind = BOOT_IMAGE_NONE };
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img);
	put_le(img + off, v, n);
	CHECK_ERR(boot_image_load(&r.m, img, sizeof(img), &bi), err);
	CHECK_EQ(bi.kind, BOOT_IMAGE_NONE); /* out untouched */
	CHECK(untouched(&r));
	test_ram_fini(&r);
}

TEST(bz_not_supported)
{
	bz_refused(failed, 0x202, 0x53726449, 4, -ENOEXEC); /* "IdrS" */
	bz_refused(failed, 0x206, 0x020b, 2, -ENOEXEC);     /* 2.11: no xloadflags */
	bz_refused(failed, 0x206, 0x0200, 2, -ENOEXEC);
	bz_refused(failed, 0x236, 0x2, 2, -ENOEXEC);  /* no XLF_KERNEL_64 */
	bz_refused(failed, 0x211, 0x80, 1, -ENOEXEC); /* zImage: not LOADED_HIGH */
}

TEST(bz_inconsistent)
{
	bz_refused(failed, 0x201, 0x61, 1, -EINVAL);       /* header ends before init_size */
	bz_refused(failed, 0x1f1, 0xff, 1, -EINVAL);       /* setup beyond the file */
	bz_refused(failed, 0x1f1, 11, 1, -EINVAL);         /* setup is the whole file */
	bz_refused(failed, 0x1f4, 0, 4, -EINVAL);          /* no payload */
	bz_refused(failed, 0x1f4, 0xffffffff, 4, -EINVAL); /* syssize past the end */
	bz_refused(failed, 0x1f4, PAYLOAD / 16 + 1, 4, -EINVAL);
	bz_refused(failed, 0x1f4, 0x200 / 16, 4, -EINVAL);    /* 64-bit entry past the code */
	bz_refused(failed, 0x260, 0, 4, -EINVAL);             /* no init_size */
	bz_refused(failed, 0x22c, 0, 4, -EINVAL);             /* initrd_addr_max 0 */
	bz_refused(failed, 0x230, 0x300000, 4, -EINVAL);      /* alignment not a power of 2 */
	bz_refused(failed, 0x258, LOAD + 0x1000, 8, -EINVAL); /* load not aligned */
}

TEST(bz_does_not_fit)
{
	bz_refused(failed, 0x260, 0xffffffff, 4, -ENOMEM); /* init_size > RAM */
	bz_refused(failed, 0x260, RAM_SIZE - LOAD + 1, 4, -ENOMEM);
	bz_refused(failed, 0x258, RAM_SIZE, 8, -ENOMEM);       /* load beyond RAM */
	bz_refused(failed, 0x258, 0xc0000000ull, 8, -ENOMEM);  /* in the MMIO gap */
	bz_refused(failed, 0x258, 0, 8, -ENOMEM);              /* over the boot structures */
	bz_refused(failed, 0x258, 0x100000000ull, 8, -ENOMEM); /* above 4 GiB */
	bz_refused(failed, 0x258, 0xffffffffffe00000ull, 8, -ENOMEM);
}

TEST(bz_fits_exactly)
{
	static uint8_t img[BZ_SIZE];
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img);
	put_le(img + 0x260, RAM_SIZE - LOAD, 4);
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img), &bi), 0);
	CHECK_EQ(bi.kernel_end, RAM_SIZE);
	test_ram_fini(&r);
}

TEST(bz_truncated_everywhere)
{
	static uint8_t img[BZ_SIZE];
	struct boot_image bi;
	struct test_ram r;
	int bad = 0;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img);
	/* Cut anywhere before the last paragraph: refused, nothing written. */
	for (size_t size = 0; size + 15 < sizeof(img); size++) {
		int err = boot_image_load(&r.m, img, size, &bi);

		if (err != (size < 0x206 ? -ENOEXEC : -EINVAL))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK(untouched(&r));
	/* syssize rounds the payload up to a paragraph: 15 bytes short is whole. */
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img) - 15, &bi), 0);
	test_ram_fini(&r);
}

TEST(bz_long_header_is_clamped)
{
	static uint8_t img[BZ_SIZE];
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	bz_make(img);
	img[0x201] = 0xff; /* the header would end at 0x301, past the zero page's room */
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img), &bi), 0);
	CHECK_EQ(bi.setup_hdr_len, BOOT_IMAGE_SETUP_HDR_MAX);
	test_ram_fini(&r);
}

/* ELF: one PT_NOTE and two PT_LOADs (text, then data with bss). */
#define ELF_SIZE   0x3000
#define TEXT_OFF   0x1000
#define TEXT_LEN   0x800
#define DATA_OFF   0x2000
#define DATA_LEN   0x400
#define DATA_GPA   (LOAD + 0x200000)
#define DATA_MEMSZ 0x3000

static Elf64_Phdr *elf_ph(uint8_t *img, unsigned int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static void elf_make(uint8_t *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	const Elf64_Phdr ph[3] = {
		{ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = 0x10, .p_memsz = 0x10 },
		{ .p_type = PT_LOAD,
		  .p_offset = TEXT_OFF,
		  .p_paddr = LOAD,
		  .p_vaddr = 0xffffffff81000000ull,
		  .p_filesz = TEXT_LEN,
		  .p_memsz = TEXT_LEN },
		{ .p_type = PT_LOAD,
		  .p_offset = DATA_OFF,
		  .p_paddr = DATA_GPA,
		  .p_filesz = DATA_LEN,
		  .p_memsz = DATA_MEMSZ },
	};

	memset(img, 0, ELF_SIZE);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = LOAD + 0x40;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 3;
	memcpy(elf_ph(img, 0), ph, sizeof(ph));
	for (size_t i = TEXT_OFF; i < ELF_SIZE; i++)
		img[i] = (uint8_t)(i * 13 + 3);
}

TEST(elf_good)
{
	static _Alignas(8) uint8_t img[ELF_SIZE];
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	memset(r.buf + DATA_GPA, 0xcc, DATA_MEMSZ + 1); /* bss must come out zero */
	elf_make(img);
	CHECK_EQ(boot_image_load(&r.m, img, sizeof(img), &bi), 0);
	CHECK_EQ(bi.kind, BOOT_IMAGE_ELF);
	CHECK(strcmp(boot_image_kind_name(bi.kind), "ELF vmlinux") == 0);
	CHECK_EQ(bi.entry, LOAD + 0x40);
	CHECK_EQ(bi.kernel_start, LOAD);
	CHECK_EQ(bi.kernel_end, DATA_GPA + DATA_MEMSZ);
	CHECK_EQ(bi.xloadflags & 1, 1);
	CHECK_EQ(bi.setup_hdr_len, 0);
	CHECK(memcmp(r.buf + LOAD, img + TEXT_OFF, TEXT_LEN) == 0);
	CHECK(memcmp(r.buf + DATA_GPA, img + DATA_OFF, DATA_LEN) == 0);
	CHECK_EQ(r.buf[DATA_GPA + DATA_LEN], 0);
	CHECK_EQ(r.buf[DATA_GPA + DATA_MEMSZ - 1], 0);
	CHECK_EQ(r.buf[DATA_GPA + DATA_MEMSZ], 0xcc);
	test_ram_fini(&r);
}

/* elf_refused: load an ELF edited by edit(img); expect err and no write. */
static void elf_refused(int *failed, void (*edit)(uint8_t *img), size_t size, int err)
{
	static _Alignas(8) uint8_t img[ELF_SIZE];
	struct boot_image bi = { .kind = BOOT_IMAGE_NONE };
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	elf_make(img);
	edit(img);
	CHECK_ERR(boot_image_load(&r.m, img, size, &bi), err);
	CHECK_EQ(bi.kind, BOOT_IMAGE_NONE);
	CHECK(untouched(&r));
	test_ram_fini(&r);
}

#define EDIT(name, stmt)                                                                           \
	static void name(uint8_t *img)                                                             \
	{                                                                                          \
		Elf64_Ehdr *eh = (Elf64_Ehdr *)img;                                                \
		(void)eh;                                                                          \
		stmt;                                                                              \
	}

EDIT(no_edit, (void)0)
EDIT(bad_magic, img[1] = 'F')
EDIT(class32, eh->e_ident[EI_CLASS] = ELFCLASS32)
EDIT(big_endian, eh->e_ident[EI_DATA] = ELFDATA2MSB)
EDIT(machine_386, eh->e_machine = EM_386)
EDIT(type_dyn, eh->e_type = ET_DYN)
EDIT(version0, eh->e_version = 0)
EDIT(phentsize, eh->e_phentsize = 32)
EDIT(phnum0, eh->e_phnum = 0)
EDIT(phnum_xnum, eh->e_phnum = PN_XNUM)
EDIT(phnum_big, eh->e_phnum = 300)
EDIT(phoff_out, eh->e_phoff = ELF_SIZE)
EDIT(phoff_wrap, eh->e_phoff = UINT64_MAX - 16)
EDIT(seg_out, elf_ph(img, 2)->p_filesz = ELF_SIZE - DATA_OFF + 1)
EDIT(seg_off_out, elf_ph(img, 2)->p_offset = ELF_SIZE + 1)
EDIT(seg_off_wrap, elf_ph(img, 2)->p_offset = UINT64_MAX - 8)
EDIT(filesz_gt_memsz, elf_ph(img, 2)->p_memsz = DATA_LEN - 1)
EDIT(seg_beyond_ram, elf_ph(img, 2)->p_paddr = RAM_SIZE - 0x1000)
EDIT(seg_memsz_huge, elf_ph(img, 2)->p_memsz = UINT64_MAX)
EDIT(seg_paddr_wrap, elf_ph(img, 2)->p_paddr = UINT64_MAX - 0x100)
EDIT(seg_low, elf_ph(img, 2)->p_paddr = 0x8000)
EDIT(seg_high, elf_ph(img, 2)->p_paddr = 0x100000000ull)
EDIT(entry_in_bss, eh->e_entry = DATA_GPA + DATA_LEN)
EDIT(entry_nowhere, eh->e_entry = 0x3000000)
EDIT(no_load, elf_ph(img, 1)->p_type = PT_NULL; elf_ph(img, 2)->p_type = PT_NOTE)

TEST(elf_not_supported)
{
	elf_refused(failed, bad_magic, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, class32, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, big_endian, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, machine_386, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, type_dyn, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, version0, ELF_SIZE, -ENOEXEC);
	elf_refused(failed, no_load, ELF_SIZE, -ENOEXEC);
}

TEST(elf_inconsistent)
{
	elf_refused(failed, no_edit, sizeof(Elf64_Ehdr) - 1, -EINVAL);
	elf_refused(failed, no_edit, SELFMAG, -EINVAL);
	elf_refused(failed, no_edit, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr), -EINVAL);
	elf_refused(failed, no_edit, DATA_OFF + DATA_LEN - 1, -EINVAL); /* data cut */
	elf_refused(failed, phentsize, ELF_SIZE, -EINVAL);
	elf_refused(failed, phnum0, ELF_SIZE, -EINVAL);
	elf_refused(failed, phnum_xnum, ELF_SIZE, -EINVAL);
	elf_refused(failed, phnum_big, ELF_SIZE, -EINVAL);
	elf_refused(failed, phoff_out, ELF_SIZE, -EINVAL);
	elf_refused(failed, phoff_wrap, ELF_SIZE, -EINVAL);
	elf_refused(failed, seg_out, ELF_SIZE, -EINVAL);
	elf_refused(failed, seg_off_out, ELF_SIZE, -EINVAL);
	elf_refused(failed, seg_off_wrap, ELF_SIZE, -EINVAL);
	elf_refused(failed, filesz_gt_memsz, ELF_SIZE, -EINVAL);
	elf_refused(failed, entry_in_bss, ELF_SIZE, -EINVAL);
	elf_refused(failed, entry_nowhere, ELF_SIZE, -EINVAL);
}

TEST(elf_outside_ram)
{
	/* The text segment is fine and comes first: still nothing is written. */
	elf_refused(failed, seg_beyond_ram, ELF_SIZE, -ENOMEM);
	elf_refused(failed, seg_memsz_huge, ELF_SIZE, -ENOMEM);
	elf_refused(failed, seg_paddr_wrap, ELF_SIZE, -ENOMEM);
	elf_refused(failed, seg_low, ELF_SIZE, -ENOMEM);
	elf_refused(failed, seg_high, ELF_SIZE, -ENOMEM);
}

TEST(garbage)
{
	static const uint8_t junk[] = "MZ not a kernel at all";
	struct boot_image bi;
	struct test_ram r;

	test_ram_init(&r, RAM_SIZE);
	CHECK_ERR(boot_image_load(&r.m, junk, sizeof(junk), &bi), -ENOEXEC);
	CHECK_ERR(boot_image_load(&r.m, junk, 0, &bi), -ENOEXEC);
	CHECK(strcmp(boot_image_kind_name(BOOT_IMAGE_NONE), "none") == 0);
	test_ram_fini(&r);
}

/* memfd_of: a file holding len bytes of img (the fd path's input). */
static int memfd_of(const uint8_t *img, size_t len)
{
	int fd = memfd_create("kernel", MFD_CLOEXEC);

	if (fd < 0 || write(fd, img, len) != (ssize_t)len)
		abort();
	return fd;
}

/*
 * from_file: the same images from a file land in guest memory byte for
 * byte as from a buffer, an ELF whose program headers lie past the first
 * page included; a file shorter than the size it was opened with is -EIO.
 */
TEST(from_file)
{
	static _Alignas(8) uint8_t bz[BZ_SIZE], elf[ELF_SIZE + 0x1000];
	struct boot_image a, b;
	struct test_ram r1, r2;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	int fd;

	test_ram_init(&r1, RAM_SIZE);
	test_ram_init(&r2, RAM_SIZE);
	bz_make(bz);
	fd = memfd_of(bz, sizeof(bz));
	CHECK_EQ(boot_image_load_fd(&r1.m, fd, sizeof(bz), &a), 0);
	CHECK_EQ(boot_image_load(&r2.m, bz, sizeof(bz), &b), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(memcmp(r1.buf, r2.buf, RAM_SIZE) == 0);
	close(fd);
	/* A header that says 512 bytes more than the file holds, as a file that
	 * shrank after its size was taken. */
	bz[0x1f4] += 32; /* syssize: 32 more paragraphs */
	fd = memfd_of(bz, sizeof(bz));
	CHECK_ERR(boot_image_load_fd(&r1.m, fd, sizeof(bz) + 512, &a), -EIO);
	close(fd);

	/* The program header table moved to the end, past BOOT_HDR_READ. */
	elf_make(elf);
	memcpy(elf + ELF_SIZE, elf_ph(elf, 0), 3 * sizeof(Elf64_Phdr));
	memset(elf_ph(elf, 0), 0, 3 * sizeof(Elf64_Phdr));
	eh->e_phoff = ELF_SIZE;
	fd = memfd_of(elf, sizeof(elf));
	CHECK_EQ(boot_image_load_fd(&r1.m, fd, sizeof(elf), &a), 0);
	CHECK_EQ(boot_image_load(&r2.m, elf, sizeof(elf), &b), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK_EQ(a.kind, BOOT_IMAGE_ELF);
	CHECK(memcmp(r1.buf + LOAD, elf + TEXT_OFF, TEXT_LEN) == 0);
	CHECK(memcmp(r1.buf, r2.buf, RAM_SIZE) == 0);
	close(fd);
	test_ram_fini(&r1);
	test_ram_fini(&r2);
}

CHECK_MAIN(CASE(bz_good), CASE(bz_setup_sects_zero_means_four), CASE(bz_not_supported),
           CASE(bz_inconsistent), CASE(bz_does_not_fit), CASE(bz_fits_exactly),
           CASE(bz_truncated_everywhere), CASE(bz_long_header_is_clamped), CASE(elf_good),
           CASE(elf_not_supported), CASE(elf_inconsistent), CASE(elf_outside_ram), CASE(garbage),
           CASE(from_file))

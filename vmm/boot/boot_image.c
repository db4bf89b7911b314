// SPDX-License-Identifier: MIT
/*
 * boot_image: bzImage and ELF vmlinux loading (boot_image.h).
 *
 * Every offset, count and size below comes from the image file and is
 * checked against the file size, and every guest range against guest RAM,
 * before a byte is read or copied.
 *
 * The image is a buffer or a file. From a file only the headers are read
 * into the VMM (the first BOOT_HDR_READ bytes, and an ELF's program header
 * table); the kernel itself goes straight from the file into guest memory
 * with pread, with no staging copy in the VMM and no user-space copy loop
 * (issue: boot fast path; a 17 MB vmlinux cost 3.5 M instructions to copy).
 */
#include "vmm/boot/boot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/boot/boot_int.h"

/* Byte offsets of setup header fields in the image (= in the zero page). */
#define HDR_OFF(field) offsetof(struct boot_params, hdr.field)

/* boot.rst "The real-mode kernel header": the magic "HdrS" at 0x202. */
#define BZ_MAGIC               0x53726448u
#define BZ_MIN_VERSION         0x020c                   /* 2.12: xloadflags, so XLF_KERNEL_64 */
#define BZ_HDR_END_MIN         (HDR_OFF(init_size) + 4) /* the last field we read */
#define BZ_DEFAULT_SETUP_SECTS 4 /* boot.rst: "If this field is 0, the real value is 4." */
#define BZ_SECTOR              512
#define BZ_ENTRY64_OFFSET      0x200 /* boot.rst "64-bit BOOT PROTOCOL" */

/* What an ELF vmlinux gets in place of a setup header (boot_image.h). */
#define ELF_VERSION          0x020f
#define ELF_KERNEL_ALIGNMENT 0x200000u /* CONFIG_PHYSICAL_ALIGN default */
#define ELF_CMDLINE_SIZE     2047u     /* COMMAND_LINE_SIZE 2048, NUL excluded */
#define ELF_INITRD_ADDR_MAX  0x7fffffffu

_Static_assert(HDR_OFF(header) == 0x202, "boot.rst: header magic at 0x202");
_Static_assert(HDR_OFF(xloadflags) == 0x236, "boot.rst: xloadflags at 0x236");
_Static_assert(HDR_OFF(pref_address) == 0x258, "boot.rst: pref_address at 0x258");
_Static_assert(BOOT_IMAGE_SETUP_HDR_OFF == offsetof(struct boot_params, hdr),
               "boot.rst: the setup header starts at 0x1f1");

/* The headers read first: a bzImage's setup header ends by 0x301 (boot.rst),
 * an ELF header is 64 bytes. */
#define BOOT_HDR_READ 4096u
/* More program headers than a kernel has (a vmlinux has about five). */
#define ELF_MAX_PHNUM 256u

/* boot_src: the image, as a buffer (buf) or a file (fd), of size bytes. */
struct boot_src {
	const uint8_t *buf;
	int fd;
	uint64_t size;
};

/*
 * src_read: len bytes at off (checked against size by the caller) into
 * dst. Returns 0, or -EIO when the file shrank, or pread's -errno.
 */
static int src_read(const struct boot_src *s, uint64_t off, void *dst, size_t len)
{
	uint8_t *p = dst;

	if (off > s->size || len > s->size - off)
		return -EINVAL;
	if (s->buf) {
		memcpy(dst, s->buf + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n, off += (uint64_t)n, len -= (size_t)n;
	}
	return 0;
}

/* le_get: the n-byte little-endian value at p (n <= 8). */
static uint64_t le_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | p[n];
	return v;
}

/*
 * kernel_range_ok: whether [gpa, gpa + len) may hold kernel bytes: at or
 * above 1 MiB (below lie the boot structures of boot_layout.h), below the
 * 32-bit MMIO gap (the boot page tables map 4 GiB), and inside guest RAM.
 */
static bool kernel_range_ok(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (gpa < BOOT_HIGH_GPA || gpa >= GMEM_MMIO_GAP_START)
		return false;
	if (len > GMEM_MMIO_GAP_START - gpa)
		return false;
	return len == 0 || gmem_ptr(m, gpa, len) != NULL;
}

/*
 * bz_check: validate the bzImage setup header in img (the file's first
 * hlen bytes; the header must end within them) against the file's size
 * and against guest RAM, and fill out (the guest is not touched).
 * *payload_off and *payload_len receive the protected-mode code to copy.
 * Returns 0, -ENOEXEC, -EINVAL or -ENOMEM as boot_image_load.
 */
static int bz_check(const struct gmem *m, const uint8_t *img, size_t hlen, uint64_t size,
                    struct boot_image *out, size_t *payload_off, uint64_t *payload_len)
{
	size_t hdr_end, setup_size;
	uint64_t sys_bytes, load, need;
	unsigned int setup_sects;

	if (hlen < HDR_OFF(version) + 2)
		return -EINVAL;
	out->version = (uint16_t)le_get(img + HDR_OFF(version), 2);
	if (out->version < BZ_MIN_VERSION)
		return -ENOEXEC;
	/* boot.rst: the header ends at 0x202 + the byte at 0x201. */
	hdr_end = 0x202 + (size_t)img[0x201];
	if (hdr_end < BZ_HDR_END_MIN || hdr_end > hlen)
		return -EINVAL;
	out->xloadflags = (uint16_t)le_get(img + HDR_OFF(xloadflags), 2);
	if (!(out->xloadflags & XLF_KERNEL_64) || !(img[HDR_OFF(loadflags)] & LOADED_HIGH))
		return -ENOEXEC;

	setup_sects = img[HDR_OFF(setup_sects)];
	if (setup_sects == 0)
		setup_sects = BZ_DEFAULT_SETUP_SECTS;
	setup_size = ((size_t)setup_sects + 1) * BZ_SECTOR;
	if (setup_size < hdr_end || setup_size >= size)
		return -EINVAL;
	/* syssize counts 16-byte paragraphs of protected-mode code. */
	sys_bytes = le_get(img + HDR_OFF(syssize), 4) * 16;
	if (sys_bytes == 0 || sys_bytes > size - setup_size + 15)
		return -EINVAL;
	if (sys_bytes > size - setup_size)
		sys_bytes = size - setup_size;
	/* The 64-bit entry must be code we copy. */
	if (sys_bytes <= BZ_ENTRY64_OFFSET)
		return -EINVAL;

	out->initrd_addr_max = (uint32_t)le_get(img + HDR_OFF(initrd_addr_max), 4);
	out->kernel_alignment = (uint32_t)le_get(img + HDR_OFF(kernel_alignment), 4);
	out->cmdline_size = (uint32_t)le_get(img + HDR_OFF(cmdline_size), 4);
	out->init_size = (uint32_t)le_get(img + HDR_OFF(init_size), 4);
	load = le_get(img + HDR_OFF(pref_address), 8); /* 2.10+, we require 2.12 */
	if (out->init_size == 0 || out->initrd_addr_max == 0)
		return -EINVAL;
	/* The kernel runs where it is loaded only if load is aligned. */
	if (out->kernel_alignment & (out->kernel_alignment - 1))
		return -EINVAL;
	if (out->kernel_alignment && load % out->kernel_alignment)
		return -EINVAL;
	need = out->init_size > sys_bytes ? out->init_size : sys_bytes;
	if (!kernel_range_ok(m, load, need))
		return -ENOMEM;

	out->kind = BOOT_IMAGE_BZIMAGE;
	out->entry = load + BZ_ENTRY64_OFFSET;
	out->kernel_start = load;
	out->kernel_end = load + need;
	out->setup_hdr_len = hdr_end - BOOT_IMAGE_SETUP_HDR_OFF;
	if (out->setup_hdr_len > BOOT_IMAGE_SETUP_HDR_MAX)
		out->setup_hdr_len = BOOT_IMAGE_SETUP_HDR_MAX;
	memcpy(out->setup_hdr, img + BOOT_IMAGE_SETUP_HDR_OFF, out->setup_hdr_len);
	*payload_off = setup_size;
	*payload_len = sys_bytes;
	return 0;
}

/*
 * elf_check_ehdr: validate the ELF header at img (the file's first bytes,
 * size in all) as an x86-64 little-endian executable whose program header
 * table lies in the file. Returns 0, -ENOEXEC (another kind of ELF file)
 * or -EINVAL (truncated).
 */
static int elf_check_ehdr(const uint8_t *img, uint64_t size, Elf64_Ehdr *eh)
{
	if (size < sizeof(*eh))
		return -EINVAL;
	memcpy(eh, img, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return -ENOEXEC;
	if (eh->e_type != ET_EXEC || eh->e_machine != EM_X86_64)
		return -ENOEXEC;
	if (eh->e_ehsize < sizeof(*eh) || eh->e_phentsize != sizeof(Elf64_Phdr))
		return -EINVAL;
	/* PN_XNUM would mean the count is elsewhere: no kernel does that. */
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHNUM)
		return -EINVAL;
	if (eh->e_phoff > size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
		return -EINVAL;
	return 0;
}

/*
 * elf_check: validate an ELF vmlinux (its header eh, its program headers
 * phs) and every PT_LOAD of it against the file's size and guest RAM, and
 * fill out. Returns 0, -ENOEXEC, -EINVAL or -ENOMEM as boot_image_load.
 */
static int elf_check(const struct gmem *m, const Elf64_Ehdr *ehp, const Elf64_Phdr *phs,
                     uint64_t size, struct boot_image *out)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	const Elf64_Ehdr eh = *ehp;
	bool entry_ok = false;

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph = phs[i];

		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > size ||
		    ph.p_filesz > size - ph.p_offset)
			return -EINVAL;
		if (!kernel_range_ok(m, ph.p_paddr, ph.p_memsz))
			return -ENOMEM;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_filesz)
			entry_ok = true;
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
	}
	if (hi == 0)
		return -ENOEXEC;
	/* The entry must be code we load, not bss or a hole. */
	if (!entry_ok)
		return -EINVAL;

	out->kind = BOOT_IMAGE_ELF;
	out->entry = eh.e_entry;
	out->kernel_start = lo;
	out->kernel_end = hi;
	out->version = ELF_VERSION;
	out->xloadflags = XLF_KERNEL_64;
	out->initrd_addr_max = ELF_INITRD_ADDR_MAX;
	out->cmdline_size = ELF_CMDLINE_SIZE;
	out->kernel_alignment = ELF_KERNEL_ALIGNMENT;
	out->init_size = (uint32_t)(hi - lo); /* < 3 GiB: kernel_range_ok */
	return 0;
}

/*
 * elf_copy: read the PT_LOADs of an image elf_check accepted into guest
 * memory; zero bss (guest RAM is fresh, but a loader must not rely on it;
 * gmem_zero punches its pages out rather than writing them).
 */
static int elf_copy(struct gmem *m, const struct boot_src *s, const Elf64_Ehdr *eh,
                    const Elf64_Phdr *phs)
{
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];
		uint8_t *dst;
		int err;

		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		dst = gmem_ptr(m, ph->p_paddr, ph->p_memsz);
		if (!dst)
			return -EFAULT;
		err = src_read(s, ph->p_offset, dst, ph->p_filesz);
		if (err)
			return err;
		err = gmem_zero(m, ph->p_paddr + ph->p_filesz, ph->p_memsz - ph->p_filesz);
		if (err)
			return err;
	}
	return 0;
}

/* elf_load: check and load an ELF vmlinux whose first hlen bytes are hdr. */
static int elf_load(struct gmem *m, const struct boot_src *s, const uint8_t *hdr,
                    struct boot_image *bi)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *phs;
	int err = elf_check_ehdr(hdr, s->size, &eh);

	if (err)
		return err;
	phs = calloc(eh.e_phnum, sizeof(*phs));
	if (!phs)
		return -ENOMEM;
	err = src_read(s, eh.e_phoff, phs, (size_t)eh.e_phnum * sizeof(*phs));
	if (!err)
		err = elf_check(m, &eh, phs, s->size, bi);
	if (!err)
		err = elf_copy(m, s, &eh, phs);
	free(phs);
	return err;
}

/* image_load: recognise, check and load the image s (boot_image_load). */
static int image_load(struct gmem *m, const struct boot_src *s, struct boot_image *out)
{
	uint8_t hdr[BOOT_HDR_READ];
	size_t hlen = s->size < sizeof(hdr) ? (size_t)s->size : sizeof(hdr);
	struct boot_image bi;
	size_t payload_off;
	uint64_t payload_len;
	uint8_t *dst;
	int err = src_read(s, 0, hdr, hlen);

	if (err)
		return err;
	memset(&bi, 0, sizeof(bi));
	if (hlen >= SELFMAG && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
		err = elf_load(m, s, hdr, &bi);
	} else if (hlen >= HDR_OFF(header) + 4 && le_get(hdr + HDR_OFF(header), 4) == BZ_MAGIC) {
		err = bz_check(m, hdr, hlen, s->size, &bi, &payload_off, &payload_len);
		if (!err) {
			dst = gmem_ptr(m, bi.kernel_start, payload_len);
			err = dst ? src_read(s, payload_off, dst, payload_len) : -EFAULT;
		}
	} else {
		err = -ENOEXEC;
	}
	if (err)
		return err;
	*out = bi;
	return 0;
}

int boot_image_load(struct gmem *m, const uint8_t *img, size_t size, struct boot_image *out)
{
	const struct boot_src s = { .buf = img, .fd = -1, .size = size };

	return image_load(m, &s, out);
}

int boot_image_load_fd(struct gmem *m, int fd, uint64_t size, struct boot_image *out)
{
	const struct boot_src s = { .fd = fd, .size = size };

	return image_load(m, &s, out);
}

const char *boot_image_kind_name(enum boot_image_kind kind)
{
	switch (kind) {
	case BOOT_IMAGE_BZIMAGE:
		return "bzImage";
	case BOOT_IMAGE_ELF:
		return "ELF vmlinux";
	case BOOT_IMAGE_NONE:
		break;
	}
	return "none";
}

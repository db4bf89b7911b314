// SPDX-License-Identifier: MIT
/*
 * hg_main: the hostile guest's entry (after start.S) and its rounds: find
 * the devices and the RAM in the zero page, then attack every device, round
 * after round, until the host stops the VM.
 */
#include "hg.h"

/* Documentation/arch/x86/zero-page.rst: offsets in struct boot_params. */
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES     0x1e8
#define ZP_CMD_LINE_PTR     0x228
#define ZP_E820_TABLE       0x2d0
#define E820_ENTRY_SIZE     20
#define E820_MAX            128
#define E820_RAM            1

#define MMIO_GAP_START 0xc0000000ull /* where kvmbox puts the device windows */
#define MMIO_GAP_END   0x100000000ull

uint64_t hg_ram_end;

static struct hg_dev hg_devs[HG_MAX_DEVS];
static unsigned int hg_nr_devs;

void hg_main(const uint8_t *zp);

/*
 * _start: where kvmbox enters a vmlinux (vmm/boot/boot_cpu.c): long mode,
 * RSI = the zero page, RSP on a 4 KiB boot stack. We take a stack of our
 * own (64 KiB in .bss) and call hg_main(zero page); it never returns.
 */
__asm__(".section .text.start, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        "\tcli\n"
        "\tlea hg_stack_top(%rip), %rsp\n"
        "\tmov %rsi, %rdi\n"
        "\tcall hg_main\n"
        "1:\thlt\n"
        "\tjmp 1b\n"
        ".section .bss\n"
        ".balign 16\n"
        "hg_stack:\n"
        "\t.skip 65536\n"
        "hg_stack_top:\n"
        ".text\n");

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ram_end: the end of the highest RAM range of the e820 map below 4 GiB. */
static uint64_t ram_end(const uint8_t *zp)
{
	unsigned int n = zp[ZP_E820_ENTRIES];
	uint64_t end = 0;

	for (unsigned int i = 0; i < n && i < E820_MAX; i++) {
		const uint8_t *e = zp + ZP_E820_TABLE + i * E820_ENTRY_SIZE;
		uint64_t a = rd64(e), len = rd64(e + 8);

		if (rd32(e + 16) == E820_RAM && a + len <= MMIO_GAP_START && a + len > end)
			end = a + len;
	}
	return end;
}

/* parse_num: a number at *s (0x for hex), with an optional K or M. */
static uint64_t parse_num(const char **s)
{
	const char *p = *s;
	unsigned int base = 10;
	uint64_t v = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned int dgt;

		if (*p >= '0' && *p <= '9')
			dgt = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			dgt = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			dgt = (unsigned int)(*p - 'A' + 10);
		else
			break;
		v = v * base + dgt;
	}
	if (*p == 'K' || *p == 'k') {
		v <<= 10;
		p++;
	} else if (*p == 'M' || *p == 'm') {
		v <<= 20;
		p++;
	}
	*s = p;
	return v;
}

static int starts(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

/* dev_name: the device's name and how many of its queues we drive. */
static const char *dev_name(uint32_t id, uint32_t *nq)
{
	switch (id) {
	case DEV_BLK:
		*nq = 1;
		return "blk";
	case DEV_NET:
		*nq = 2; /* receiveq, transmitq (§5.1.2) */
		return "net";
	case DEV_VSOCK:
		*nq = 3; /* rx, tx, event (§5.10.2) */
		return "vsock";
	case DEV_FS:
		*nq = 2; /* hiprio, one request queue (§5.11.2) */
		return "fs";
	default:
		*nq = 0;
		return "unknown";
	}
}

/*
 * add_dev: "SIZE@ADDR:IRQ" of virtio_mmio.device= (the Linux parameter
 * kvmbox writes, vmm/devices.c). Only windows inside the 32-bit MMIO gap
 * are touched: anything else would be our own RAM or unmapped.
 */
static void add_dev(const char *s)
{
	struct hg_dev *d;
	uint64_t size, addr, irq;

	size = parse_num(&s);
	if (*s++ != '@')
		return;
	addr = parse_num(&s);
	if (*s++ != ':')
		return;
	irq = parse_num(&s);
	if (hg_nr_devs == HG_MAX_DEVS || addr < MMIO_GAP_START || addr + size > MMIO_GAP_END ||
	    size < VM_CONFIG)
		return;
	d = &hg_devs[hg_nr_devs];
	d->base = addr;
	if (hg_rd32(d, VM_MAGIC) != 0x74726976u) /* "virt", §4.2.2 */
		return;
	d->id = hg_rd32(d, VM_DEVICE_ID);
	d->name = dev_name(d->id, &d->nq);
	if (!d->nq)
		return;
	hg_dev_attach(d, hg_nr_devs++);
	hg_puts("hostile: found ");
	hg_puts(d->name);
	hg_puts(" at ");
	hg_putx(addr);
	hg_puts(" irq ");
	hg_putu(irq);
	hg_puts("\n");
}

/* find_devs: every virtio_mmio.device= word of the command line. */
static void find_devs(const char *cmd)
{
	static const char key[] = "virtio_mmio.device=";

	for (const char *p = cmd; *p; p++) {
		if ((p == cmd || p[-1] == ' ') && starts(p, key))
			add_dev(p + sizeof(key) - 1);
	}
}

/* hg_round: every attack on every device once. */
static void hg_round(void)
{
	for (unsigned int i = 0; i < hg_nr_devs; i++) {
		struct hg_dev *d = &hg_devs[i];

		switch (d->id) {
		case DEV_BLK:
			hg_ring_attacks(d, 0);
			hg_blk_attacks(d);
			break;
		case DEV_NET:
			hg_ring_attacks(d, 1);
			hg_net_attacks(d);
			break;
		case DEV_VSOCK:
			hg_ring_attacks(d, 1);
			hg_vsock_attacks(d);
			break;
		case DEV_FS:
			hg_ring_attacks(d, 1);
			hg_fs_attacks(d);
			break;
		default:
			break;
		}
	}
}

/* has_word: whether the command line cmd holds the word w. */
static int has_word(const char *cmd, const char *w)
{
	for (const char *p = cmd; *p; p++) {
		const char *q = p, *r = w;

		if (p != cmd && p[-1] != ' ')
			continue;
		while (*r && *q == *r) {
			q++;
			r++;
		}
		if (!*r && (*q == ' ' || !*q))
			return 1;
	}
	return 0;
}

void hg_main(const uint8_t *zp)
{
	int idle = 0;
	uint64_t cmd = rd32(zp + ZP_CMD_LINE_PTR) | (uint64_t)rd32(zp + ZP_EXT_CMD_LINE_PTR) << 32;

	hg_puts("hostile: start\n");
	hg_ram_end = ram_end(zp);
	hg_puts("hostile: ram end ");
	hg_putx(hg_ram_end);
	hg_puts("\n");
	if (cmd && cmd < hg_ram_end) {
		find_devs((const char *)(uintptr_t)cmd);
		idle = has_word((const char *)(uintptr_t)cmd, "hostile.idle");
	}
	hg_puts("hostile: ");
	hg_putu(hg_nr_devs);
	hg_puts(" devices\n");
	for (uint64_t n = 1;; n++) {
		hg_puts("hostile: round ");
		hg_putu(n);
		hg_puts("\n");
		/* hostile.idle on the command line: the same VM, no attacks (a
		 * baseline for the host's figures). */
		if (idle)
			hg_spin(1000000000ull);
		else
			hg_round();
	}
}

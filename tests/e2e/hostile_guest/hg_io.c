// SPDX-License-Identifier: MIT
/*
 * hg_io: the hostile guest's port I/O, serial output, MMIO accessors and
 * clock (hg.h).
 */
#include "hg.h"

#define COM1 0x3f8

void hg_outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

/*
 * hg_puts: s on COM1. The transmit register is written without looking at
 * the line status: kvmbox's 8250 takes every byte at once, and each look
 * would be one more exit.
 */
void hg_puts(const char *s)
{
	while (*s)
		hg_outb(COM1, (uint8_t)*s++);
}

void hg_putu(uint64_t v)
{
	char b[21];
	int i = 20;

	b[i] = '\0';
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	hg_puts(b + i);
}

void hg_putx(uint64_t v)
{
	char b[19];
	int i = 18;

	b[i] = '\0';
	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	hg_puts(b + i);
}

/* hg_line: "hostile: DEV ATTACK WHAT (status 0xS)": one line per attack. */
void hg_line(const struct hg_dev *d, const char *attack, const char *what)
{
	hg_puts("hostile: ");
	hg_puts(d->name);
	hg_puts(" ");
	hg_puts(attack);
	hg_puts(" ");
	hg_puts(what);
	hg_puts(" (status ");
	hg_putx(hg_rd32(d, VM_STATUS));
	hg_puts(")\n");
}

/* MMIO: volatile accesses of the exact width, so that each is one exit. */
uint32_t hg_rd32(const struct hg_dev *d, uint32_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(d->base + off);
}

void hg_wr32(const struct hg_dev *d, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(d->base + off) = v;
}

void hg_wr8(const struct hg_dev *d, uint32_t off, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)(d->base + off) = v;
}

void hg_wr16(const struct hg_dev *d, uint32_t off, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)(d->base + off) = v;
}

void hg_wr64(const struct hg_dev *d, uint32_t off, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)(d->base + off) = v;
}

uint64_t hg_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* hg_spin: busy-wait ticks of the TSC; the host stops us whenever it likes. */
void hg_spin(uint64_t ticks)
{
	uint64_t end = hg_rdtsc() + ticks;

	while (hg_rdtsc() < end)
		__asm__ __volatile__("pause");
}

void *memset(void *p, int c, size_t n)
{
	volatile uint8_t *b = p;

	while (n--)
		*b++ = (uint8_t)c;
	return p;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *o = d;
	const uint8_t *i = s;

	while (n--)
		*o++ = *i++;
	return d;
}

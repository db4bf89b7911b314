// SPDX-License-Identifier: MIT
/*
 * hg_idle: sleeping instead of spinning (hg.h). The hostile guest waits
 * for its devices a great deal; a vCPU that spins meanwhile takes a whole
 * host CPU, which in the emulated test host (two CPUs for the VMM, its
 * vCPU and the test script) starves the very control socket the test
 * checks. So a wait is a HLT woken by the local APIC's timer.
 *
 * Only that timer may interrupt us: the 8259s are masked (the devices'
 * interrupts reach them and stay there: never delivered, never
 * acknowledged, InterruptACK never written) and the I/O APIC's entries are
 * masked from reset. Every IDT gate leads to one handler that ends the
 * interrupt at the local APIC and returns; an exception would be our bug,
 * and its error code would make the return fault: a triple fault the VMM
 * reports, as kvmbox's boot state (an empty IDT) does already.
 */
#include "hg.h"

/* Intel SDM vol. 3, "Local APIC": the xAPIC registers at their default base. */
#define LAPIC_BASE  0xfee00000ull
#define LAPIC_EOI   0x0b0
#define LAPIC_SVR   0x0f0
#define LAPIC_LVT_T 0x320
#define LAPIC_TICR  0x380
#define LAPIC_TDCR  0x3e0
#define SVR_ENABLE  0x100u
#define TIMER_VEC   0x40u
#define TDCR_DIV1   0xbu

#define KERNEL_CS  0x10 /* kvmbox's boot GDT (vmm/boot/boot_int.h) */
#define GATE_INT64 0x8e /* present, DPL 0, 64-bit interrupt gate */

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
};

static struct idt_gate hg_idt[256] __attribute__((aligned(16)));

void hg_irq(void);

/* hg_irq: end the interrupt at the local APIC (EOI write), return. */
__asm__(".text\n"
        ".globl hg_irq\n"
        "hg_irq:\n"
        "\tpush %rax\n"
        "\tmov $0xfee000b0, %eax\n"
        "\tmovl $0, (%rax)\n"
        "\tpop %rax\n"
        "\tiretq\n");

static void lapic_wr(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + off) = v;
}

void hg_idle_init(void)
{
	uint64_t h = (uint64_t)(uintptr_t)hg_irq;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(hg_idt) - 1, (uint64_t)(uintptr_t)hg_idt };

	for (unsigned int i = 0; i < 256; i++)
		hg_idt[i] =
		    (struct idt_gate){ (uint16_t)h,         KERNEL_CS,           0, GATE_INT64,
			               (uint16_t)(h >> 16), (uint32_t)(h >> 32), 0 };
	__asm__ __volatile__("lidt %0" : : "m"(idtr));
	/* 8259 masks (OCW1): every line of both. */
	hg_outb(0x21, 0xff);
	hg_outb(0xa1, 0xff);
	lapic_wr(LAPIC_SVR, SVR_ENABLE | 0xff);
	lapic_wr(LAPIC_TDCR, TDCR_DIV1);
	lapic_wr(LAPIC_LVT_T, TIMER_VEC); /* one-shot, unmasked */
}

/*
 * hg_sleep: about ns nanoseconds (KVM's APIC timer counts at 1 GHz with
 * divide by 1) in HLT. STI's one-instruction shadow makes "sti; hlt" one
 * step, so a timer that fired before it still wakes the HLT.
 */
void hg_sleep(uint32_t ns)
{
	lapic_wr(LAPIC_TICR, ns ? ns : 1);
	__asm__ __volatile__("sti; hlt; cli" ::: "memory");
}

// SPDX-License-Identifier: MIT
/*
 * mptable: MP floating pointer and configuration table (mptable.h), as the
 * Intel MultiProcessor Specification version 1.4 (May 1997) lays them out.
 */
#include "vmm/boot/boot.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vmm/boot/boot_int.h"

#define MP_SPEC_REV 4 /* §4.1: 04h for version 1.4 */

/* §4.1, figure 4-2: the MP floating pointer structure, 16 bytes. */
struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t config_gpa;
	uint8_t length; /* in 16-byte paragraphs: 1 */
	uint8_t spec_rev;
	uint8_t checksum;   /* all 16 bytes sum to 0 */
	uint8_t feature[5]; /* byte 1 = 0: a configuration table is present;
	                     * byte 2 bit 7 (IMCRP) = 0: virtual wire mode */
} __attribute__((packed));

/* §4.2, figure 4-3: the configuration table header, 44 bytes. */
struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* header and base entries */
	uint8_t spec_rev;
	uint8_t checksum; /* the base table sums to 0 */
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

/* §4.3.1, figure 4-4: processor entry, 20 bytes. */
struct mp_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;      /* bit 0 EN (usable), bit 1 BP (bootstrap) */
	uint32_t signature; /* CPUID family/model/stepping */
	uint32_t feature;   /* CPUID.1:EDX */
	uint32_t reserved[2];
} __attribute__((packed));

/* §4.3.2, figure 4-5: bus entry, 8 bytes. */
struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6]; /* table 4-8: "ISA   " */
} __attribute__((packed));

/* §4.3.3, figure 4-6: I/O APIC entry, 8 bytes. */
struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t version;
	uint8_t flags; /* bit 0 EN */
	uint32_t addr;
} __attribute__((packed));

/* §4.3.4 and §4.3.5, figures 4-7 and 4-8: interrupt entries, 8 bytes. */
struct mp_intr {
	uint8_t type;
	uint8_t irq_type; /* table 4-11: 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
	uint16_t flags;   /* polarity and trigger; 0 conforms to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic; /* an I/O APIC id, or a local APIC id, 0xff for all */
	uint8_t dst_pin;  /* INTIN# or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP spec §4.1");
_Static_assert(sizeof(struct mp_config) == 44, "MP spec §4.2");
_Static_assert(sizeof(struct mp_cpu) == 20, "MP spec §4.3.1");
_Static_assert(sizeof(struct mp_bus) == 8 && sizeof(struct mp_ioapic) == 8 &&
                   sizeof(struct mp_intr) == 8,
               "MP spec §4.3.2-§4.3.5");

/* §4.3, table 4-3: entry types. */
enum { MP_CPU = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINTR = 3, MP_LINTR = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_CPU_EN        0x1
#define MP_CPU_BP        0x2
#define MP_IOAPIC_EN     0x1
#define MP_ISA_BUS_ID    0
#define MP_CPU_SIGNATURE 0x600 /* family 6; Linux reads only the APIC id and flags */
#define MP_CPU_FEATURE   ((1u << 0) | (1u << 9)) /* FPU, APIC */

#define MP_BASE_ENTRIES (1 + 1 + MPTABLE_ISA_IRQS + 2) /* bus, I/O APIC, IRQs, LINTs */
#define MP_FIXED_SIZE                                                                              \
	(sizeof(struct mp_floating) + sizeof(struct mp_config) + sizeof(struct mp_bus) +           \
	 sizeof(struct mp_ioapic) + (MPTABLE_ISA_IRQS + 2) * sizeof(struct mp_intr))
#define MP_MAX_SIZE (MP_FIXED_SIZE + MPTABLE_MAX_CPUS * sizeof(struct mp_cpu))

_Static_assert(MP_MAX_SIZE <= BOOT_MPTABLE_END - BOOT_MPTABLE_GPA,
               "boot_layout.h: the largest MP table fits its range");

size_t mptable_size(unsigned int nr_cpus)
{
	return MP_FIXED_SIZE + (size_t)nr_cpus * sizeof(struct mp_cpu);
}

/* checksum: the byte that makes the len bytes at p sum to 0 (§4.1, §4.2). */
static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* put: copy an entry of len bytes to buf at *off and advance *off. */
static void put(uint8_t *buf, size_t *off, const void *entry, size_t len)
{
	memcpy(buf + *off, entry, len);
	*off += len;
}

/*
 * put_intrs: one I/O interrupt entry per ISA IRQ, IRQ n to INTIN n, which
 * is how KVM_CREATE_IRQCHIP's default routing wires GSI n; then the local
 * interrupts of virtual wire mode (§3.6.2.2): the 8259 as ExtINT
 * on LINT0 of the BSP, NMI on LINT1 of every CPU.
 */
static void put_intrs(uint8_t *buf, size_t *off, uint8_t ioapic_id)
{
	const struct mp_intr lint[2] = {
		{ .type = MP_LINTR,
		  .irq_type = MP_EXTINT,
		  .src_bus = MP_ISA_BUS_ID,
		  .dst_apic = 0,
		  .dst_pin = 0 },
		{ .type = MP_LINTR,
		  .irq_type = MP_NMI,
		  .src_bus = MP_ISA_BUS_ID,
		  .dst_apic = 0xff,
		  .dst_pin = 1 },
	};

	for (unsigned int irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		struct mp_intr e = {
			.type = MP_IOINTR,
			.irq_type = MP_INT,
			.src_bus = MP_ISA_BUS_ID,
			.src_irq = (uint8_t)irq,
			.dst_apic = ioapic_id,
			.dst_pin = (uint8_t)irq,
		};

		put(buf, off, &e, sizeof(e));
	}
	put(buf, off, lint, sizeof(lint));
}

int mptable_write(struct gmem *m, unsigned int nr_cpus)
{
	uint8_t buf[MP_MAX_SIZE];
	struct mp_floating fp = { .signature = "_MP_", .length = 1, .spec_rev = MP_SPEC_REV };
	struct mp_config hdr = {
		.signature = "PCMP",
		.spec_rev = MP_SPEC_REV,
		.oem_id = "KVMBOX  ",
		.product_id = "MICROVM     ",
		.lapic_addr = MPTABLE_LAPIC_ADDR,
	};
	struct mp_bus bus = { .type = MP_BUS, .bus_id = MP_ISA_BUS_ID, .bus_type = "ISA   " };
	struct mp_ioapic ioapic = {
		.type = MP_IOAPIC,
		.apic_id = (uint8_t)nr_cpus,
		.version = MPTABLE_IOAPIC_VERSION,
		.flags = MP_IOAPIC_EN,
		.addr = MPTABLE_IOAPIC_ADDR,
	};
	size_t off = sizeof(fp) + sizeof(hdr);

	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	/* §4.3: processor entries first, then bus, I/O APIC, interrupts. */
	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mp_cpu cpu = {
			.type = MP_CPU,
			.apic_id = (uint8_t)i,
			.apic_version = MPTABLE_LAPIC_VERSION,
			.flags = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0),
			.signature = MP_CPU_SIGNATURE,
			.feature = MP_CPU_FEATURE,
		};

		put(buf, &off, &cpu, sizeof(cpu));
	}
	put(buf, &off, &bus, sizeof(bus));
	put(buf, &off, &ioapic, sizeof(ioapic));
	put_intrs(buf, &off, ioapic.apic_id);

	hdr.length = (uint16_t)(off - sizeof(fp));
	hdr.entry_count = (uint16_t)(nr_cpus + MP_BASE_ENTRIES);
	memcpy(buf + sizeof(fp), &hdr, sizeof(hdr));
	buf[sizeof(fp) + offsetof(struct mp_config, checksum)] =
	    checksum(buf + sizeof(fp), hdr.length);
	fp.config_gpa = (uint32_t)(BOOT_MPTABLE_GPA + sizeof(fp));
	fp.checksum = checksum((const uint8_t *)&fp, sizeof(fp));
	memcpy(buf, &fp, sizeof(fp));
	return gmem_write(m, BOOT_MPTABLE_GPA, buf, off);
}

// SPDX-License-Identifier: MIT
/*
 * cpuid: per-vCPU CPUID tables (cpuid.h).
 *
 * References: Intel SDM Vol. 2A, "CPUID-CPU Identification" (Table 3-8,
 * "Information Returned by CPUID Instruction"), and Vol. 3A chapter
 * "Multiple-Processor Management", §8.9 "Programming Considerations for
 * Hardware Multi-Threading Capable Processors" (section numbers as in the
 * 2016-2022 editions; the titles are stable); AMD APM Vol. 3 Appendix E
 * "Obtaining Processor Information Via the CPUID Instruction" (§E.3 function
 * definitions, §E.5 "Multiple Processor and Multiple Core Calculations").
 */
#include "vmm/boot/boot.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define CPUID_LEAF_VENDOR       0x0u
#define CPUID_LEAF_FEATURES     0x1u
#define CPUID_LEAF_CACHE        0x4u
#define CPUID_LEAF_PMU          0xau
#define CPUID_LEAF_TOPO         0xbu
#define CPUID_LEAF_TOPO_V2      0x1fu
#define CPUID_LEAF_PMU_EXT      0x23u
#define CPUID_LEAF_AMD_FEATURES 0x80000001u
#define CPUID_LEAF_AMD_SIZES    0x80000008u
#define CPUID_LEAF_AMD_CACHE    0x8000001du
#define CPUID_LEAF_AMD_TOPO     0x8000001eu
#define CPUID_LEAF_AMD_TOPO_EXT 0x80000026u

/* Leaf 1 (SDM Table 3-8; APM §E.3.2 Fn0000_0001). */
#define CPUID_1_EBX_APIC_ID_SHIFT    24
#define CPUID_1_EBX_NR_LOGICAL_SHIFT 16
#define CPUID_1_EBX_KEEP             0x0000ffffu /* brand index, CLFLUSH line size */
#define CPUID_1_ECX_PDCM             (1u << 15)  /* IA32_PERF_CAPABILITIES: a PMU MSR */
#define CPUID_1_ECX_TSC_DEADLINE     (1u << 24)
#define CPUID_1_ECX_HYPERVISOR       (1u << 31)
#define CPUID_1_EDX_HTT              (1u << 28)

/* Leaves 4 and 0x8000001D: EAX[4:0] type (0: no more), [7:5] level. */
#define CPUID_CACHE_TYPE(eax)     (0x1fu & (eax))
#define CPUID_CACHE_LEVEL(eax)    (((eax) >> 5) & 0x7u)
#define CPUID_CACHE_SHARING_SHIFT 14 /* EAX[25:14]: sharing IDs - 1 */
#define CPUID_CACHE_SHARING_MASK  (0xfffu << 14)
#define CPUID_4_CORES_SHIFT       26 /* EAX[31:26]: core IDs - 1 */
#define CPUID_4_CORES_MASK        (0x3fu << 26)

/* Leaves 0xB and 0x1F: ECX[15:8] level type (SDM Table 3-8, leaf 0BH). */
#define CPUID_TOPO_TYPE_INVALID 0u
#define CPUID_TOPO_TYPE_SMT     1u
#define CPUID_TOPO_TYPE_CORE    2u
#define CPUID_TOPO_SUBLEAVES    3u /* SMT, core, and the invalid one after */

/* Fn8000_0001 ECX[1] CmpLegacy; Fn8000_0008 ECX[7:0] NC, [15:12] ApicIdSize. */
#define CPUID_AMD_ECX_CMP_LEGACY       (1u << 1)
#define CPUID_AMD_8_NC_MASK            0xffu
#define CPUID_AMD_8_APIC_ID_SIZE_SHIFT 12
#define CPUID_AMD_8_APIC_ID_SIZE_MASK  (0xfu << 12)

struct cpuid_topo {
	unsigned int index;      /* APIC ID */
	unsigned int nr;         /* cores (= logical processors) per package */
	unsigned int core_shift; /* APIC ID bits that select the core */
	enum cpuid_vendor vendor;
};

/* cpuid_order: the least s with 2^s >= n (n >= 1). */
static unsigned int cpuid_order(unsigned int n)
{
	unsigned int s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

enum cpuid_vendor cpuid_vendor(const struct kvm_cpuid2 *c)
{
	char id[12];

	for (__u32 i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != CPUID_LEAF_VENDOR)
			continue;
		/* The vendor string is EBX, EDX, ECX (SDM Table 3-8, leaf 0). */
		memcpy(id, &e->ebx, 4);
		memcpy(id + 4, &e->edx, 4);
		memcpy(id + 8, &e->ecx, 4);
		if (!memcmp(id, "GenuineIntel", 12))
			return CPUID_VENDOR_INTEL;
		if (!memcmp(id, "AuthenticAMD", 12) || !memcmp(id, "HygonGenuine", 12))
			return CPUID_VENDOR_AMD;
		return CPUID_VENDOR_OTHER;
	}
	return CPUID_VENDOR_OTHER;
}

static bool cpuid_is_topo_leaf(__u32 function)
{
	return function == CPUID_LEAF_TOPO || function == CPUID_LEAF_TOPO_V2;
}

unsigned long cpuid_out_entries(const struct kvm_cpuid2 *supported)
{
	unsigned long n = 0;
	bool has_b = false, has_1f = false;

	for (__u32 i = 0; i < supported->nent; i++) {
		__u32 fn = supported->entries[i].function;

		has_b |= fn == CPUID_LEAF_TOPO;
		has_1f |= fn == CPUID_LEAF_TOPO_V2;
		if (!cpuid_is_topo_leaf(fn))
			n++;
	}
	return n + (has_b ? CPUID_TOPO_SUBLEAVES : 0) + (has_1f ? CPUID_TOPO_SUBLEAVES : 0);
}

/*
 * cpuid_cache_sharing: EAX[25:14] of a cache leaf (4, or 0x8000001D), the
 * number of logical processors sharing the cache minus one. Each core has
 * its own L1 and L2; all cores share L3 and beyond, addressed by the
 * core_shift APIC ID bits (SDM leaf 04H note: the nearest power of two not
 * below EAX[25:14] + 1 is the count of APIC IDs sharing the cache).
 */
static __u32 cpuid_cache_sharing(__u32 eax, const struct cpuid_topo *t)
{
	__u32 share = CPUID_CACHE_LEVEL(eax) <= 2 ? 0 : (1u << t->core_shift) - 1;

	return (eax & ~CPUID_CACHE_SHARING_MASK) | (share << CPUID_CACHE_SHARING_SHIFT);
}

/*
 * cpuid_patch_leaf1: initial APIC ID in EBX[31:24], logical processors per
 * package in EBX[23:16] (meaningful when HTT, EDX[28], is set: SDM Vol. 3A
 * §8.9.1 / APM §E.5 "legacy method"), the hypervisor bit ECX[31] (reserved
 * for hypervisors, SDM Table 3-10 note), and PDCM cleared along with the
 * PMU it belongs to.
 */
static void cpuid_patch_leaf1(struct kvm_cpuid2 *out, __u32 i, const struct cpuid_topo *t)
{
	struct kvm_cpuid_entry2 *e = &out->entries[i];

	e->ebx = (e->ebx & CPUID_1_EBX_KEEP) | ((__u32)t->index << CPUID_1_EBX_APIC_ID_SHIFT) |
	         ((__u32)t->nr << CPUID_1_EBX_NR_LOGICAL_SHIFT);
	e->ecx = (e->ecx | CPUID_1_ECX_HYPERVISOR) & ~CPUID_1_ECX_PDCM;
	if (t->nr > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
}

/*
 * cpuid_patch_leaf4: Intel deterministic cache parameters (SDM leaf 04H).
 * EAX[31:26] is the number of core IDs in the package minus one, a 6-bit
 * field: above 64 vCPUs it saturates at 63 and the guest must rely on
 * leaf 0BH, as it does on real parts with more cores.
 */
static void cpuid_patch_leaf4(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	__u32 cores = t->nr > 64 ? 63 : t->nr - 1;

	if (CPUID_CACHE_TYPE(e->eax) == 0)
		return; /* past the last cache: left as KVM gave it */
	e->eax = cpuid_cache_sharing(e->eax, t);
	e->eax = (e->eax & ~CPUID_4_CORES_MASK) | (cores << CPUID_4_CORES_SHIFT);
}

/*
 * cpuid_patch_amd: the AMD leaves that describe topology (APM Vol. 3
 * Appendix E.3): Fn8000_0001 ECX CmpLegacy (HTT counts cores, §E.5),
 * Fn8000_0008 ECX NC (threads - 1) and ApicIdSize, Fn8000_001D cache
 * sharing, Fn8000_001E extended APIC ID and core ID (one thread per core,
 * one node).
 */
static void cpuid_patch_amd(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	switch (e->function) {
	case CPUID_LEAF_AMD_FEATURES:
		if (t->nr > 1)
			e->ecx |= CPUID_AMD_ECX_CMP_LEGACY;
		else
			e->ecx &= ~CPUID_AMD_ECX_CMP_LEGACY;
		break;
	case CPUID_LEAF_AMD_SIZES:
		e->ecx &= ~(CPUID_AMD_8_NC_MASK | CPUID_AMD_8_APIC_ID_SIZE_MASK);
		e->ecx |= (t->nr - 1) | (t->core_shift << CPUID_AMD_8_APIC_ID_SIZE_SHIFT);
		break;
	case CPUID_LEAF_AMD_CACHE:
		if (CPUID_CACHE_TYPE(e->eax) != 0)
			e->eax = cpuid_cache_sharing(e->eax, t);
		break;
	case CPUID_LEAF_AMD_TOPO_EXT:
		/*
		 * Extended CPU topology (newer APM revisions) would describe the
		 * host's CCDs and complexes; all zero reads as "no level", and
		 * the guest falls back to leaf 0xB, which we rewrote.
		 */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case CPUID_LEAF_AMD_TOPO:
		e->eax = t->index;        /* ExtendedApicId */
		e->ebx = t->index & 0xff; /* ThreadsPerComputeUnit - 1 = 0; CoreId */
		e->ecx = 0;               /* NodesPerProcessor - 1 = 0; NodeId 0 */
		e->edx = 0;
		break;
	default:
		break;
	}
}

/* cpuid_patch: rewrite entry i of out (a copy of KVM's) for vCPU t->index. */
static void cpuid_patch(struct kvm_cpuid2 *out, __u32 i, const struct cpuid_topo *t)
{
	struct kvm_cpuid_entry2 *e = &out->entries[i];

	switch (e->function) {
	case CPUID_LEAF_FEATURES:
		cpuid_patch_leaf1(out, i, t);
		return;
	case CPUID_LEAF_CACHE:
		if (t->vendor != CPUID_VENDOR_AMD) /* reserved on AMD */
			cpuid_patch_leaf4(e, t);
		return;
	case CPUID_LEAF_PMU:
	case CPUID_LEAF_PMU_EXT:
		/* EAX[7:0] = 0: no architectural PMU (SDM leaf 0AH). */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		return;
	default:
		if (t->vendor == CPUID_VENDOR_AMD)
			cpuid_patch_amd(e, t);
		return;
	}
}

/*
 * cpuid_emit_topo: write leaf fn (0xB or 0x1F) as three subleaves at
 * out->entries[*n] (SDM leaf 0BH / 1FH; Vol. 3A §8.9.2):
 *   0: SMT level, shift 0 (one thread per core), 1 logical processor;
 *   1: core level, shift core_shift, nr logical processors in the package;
 *   2: invalid level (type 0, EAX = EBX = 0), which ends the enumeration.
 * Every subleaf reports ECX[7:0] = the subleaf and EDX = the x2APIC ID.
 * KVM answers subleaves above 2 the same way as the last one.
 */
static void cpuid_emit_topo(struct kvm_cpuid2 *out, __u32 *n, __u32 fn, const struct cpuid_topo *t)
{
	static const __u32 type[CPUID_TOPO_SUBLEAVES] = { CPUID_TOPO_TYPE_SMT, CPUID_TOPO_TYPE_CORE,
		                                          CPUID_TOPO_TYPE_INVALID };

	for (__u32 sub = 0; sub < CPUID_TOPO_SUBLEAVES; sub++) {
		struct kvm_cpuid_entry2 *e = &out->entries[(*n)++];

		memset(e, 0, sizeof(*e));
		e->function = fn;
		e->index = sub;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->ecx = sub | (type[sub] << 8);
		e->edx = t->index;
		if (type[sub] == CPUID_TOPO_TYPE_SMT) {
			e->eax = 0;
			e->ebx = 1;
		} else if (type[sub] == CPUID_TOPO_TYPE_CORE) {
			e->eax = t->core_shift;
			e->ebx = t->nr;
		}
	}
}

int cpuid_for_vcpu(const struct kvm_cpuid2 *supported, struct kvm_cpuid2 *out, unsigned int out_cap,
                   unsigned int index, unsigned int nr_cpus)
{
	struct cpuid_topo t;
	bool done_b = false, done_1f = false;
	__u32 n = 0;

	if (!supported || !out || (const void *)out == (const void *)supported)
		return -EINVAL;
	if (nr_cpus == 0 || nr_cpus > CPUID_MAX_CPUS || index >= nr_cpus)
		return -EINVAL;
	if (cpuid_out_entries(supported) > out_cap)
		return -E2BIG;
	t = (struct cpuid_topo){
		.index = index,
		.nr = nr_cpus,
		.core_shift = cpuid_order(nr_cpus),
		.vendor = cpuid_vendor(supported),
	};
	for (__u32 i = 0; i < supported->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];

		if (e->function == CPUID_LEAF_TOPO) {
			if (!done_b)
				cpuid_emit_topo(out, &n, e->function, &t);
			done_b = true;
			continue;
		}
		if (e->function == CPUID_LEAF_TOPO_V2) {
			if (!done_1f)
				cpuid_emit_topo(out, &n, e->function, &t);
			done_1f = true;
			continue;
		}
		out->entries[n] = *e;
		cpuid_patch(out, n, &t);
		n++;
	}
	out->nent = n;
	out->padding = 0;
	return 0;
}

void cpuid_add_tsc_deadline(struct kvm_cpuid2 *supported)
{
	for (__u32 i = 0; i < supported->nent; i++)
		if (supported->entries[i].function == CPUID_LEAF_FEATURES)
			supported->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

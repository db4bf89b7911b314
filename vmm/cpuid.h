/* SPDX-License-Identifier: MIT */
/*
 * cpuid: the CPUID table of each vCPU, derived from what
 * KVM_GET_SUPPORTED_CPUID offers (Documentation/virt/kvm/api.rst,
 * "KVM_GET_SUPPORTED_CPUID" and "KVM_SET_CPUID2").
 *
 * The topology we present: one package, nr_cpus cores, one thread per core,
 * APIC ID = x2APIC ID = vCPU index. Every leaf that describes topology is
 * rewritten to say so; the architectural PMU leaf is zeroed (we offer no
 * PMU); the hypervisor bit is set; KVM's paravirtual leaves
 * (0x40000000..0x400000ff) and all other leaves pass through as KVM gave
 * them.
 *
 * The input comes from the host kernel, not the guest; it is still only
 * read within supported->nent entries, and the output never exceeds out_cap.
 */
#ifndef KVMBOX_VMM_CPUID_H
#define KVMBOX_VMM_CPUID_H

#include <linux/kvm.h>

/* The largest vCPU count: APIC IDs 0..253 (0xff is the xAPIC broadcast). */
#define CPUID_MAX_CPUS 254

enum cpuid_vendor {
	CPUID_VENDOR_OTHER,
	CPUID_VENDOR_INTEL,
	CPUID_VENDOR_AMD, /* AuthenticAMD and HygonGenuine (same leaves) */
};

/* cpuid_vendor: the vendor named by leaf 0 (OTHER when there is no leaf 0). */
enum cpuid_vendor cpuid_vendor(const struct kvm_cpuid2 *c);

/*
 * cpuid_for_vcpu: build in out the table for vCPU index of nr_cpus.
 * supported: KVM_GET_SUPPORTED_CPUID's answer (read only; must not be out).
 * out: room for out_cap entries after its header; out->nent is set.
 * The table may have a few more entries than supported: leaves 0xB and 0x1F
 * (when present) are rebuilt as exactly three subleaves; cpuid_out_entries()
 * says how many.
 * Returns 0, -EINVAL (nr_cpus 0 or above CPUID_MAX_CPUS, index >= nr_cpus,
 * a NULL table, or out == supported) or -E2BIG (out_cap too small).
 */
__attribute__((warn_unused_result)) int cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                                       struct kvm_cpuid2 *out, unsigned int out_cap,
                                                       unsigned int index, unsigned int nr_cpus);

/* cpuid_out_entries: how many entries cpuid_for_vcpu will write. */
unsigned long cpuid_out_entries(const struct kvm_cpuid2 *supported);

#endif

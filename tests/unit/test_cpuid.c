// SPDX-License-Identifier: MIT
/*
 * Unit tests of the per-vCPU CPUID tables (vmm/boot/cpuid.c), on synthetic
 * KVM_GET_SUPPORTED_CPUID answers shaped like an Intel and an AMD host.
 */
#include "check.h"
#include "vmm/boot/boot.h"

#include <errno.h>
#include <stdlib.h>

#define CAP 64
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static struct kvm_cpuid2 *table_new(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CAP * sizeof(c->entries[0]));

	if (!c)
		abort();
	return c;
}

static void add(struct kvm_cpuid2 *c, __u32 fn, __u32 idx, __u32 flags, __u32 eax, __u32 ebx,
                __u32 ecx, __u32 edx)
{
	if (c->nent >= CAP)
		abort();
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		.function = fn,
		.index = idx,
		.flags = flags,
		.eax = eax,
		.ebx = ebx,
		.ecx = ecx,
		.edx = edx,
	};
}

/* add_vendor: leaf 0 with a 12-character vendor string in EBX, EDX, ECX. */
static void add_vendor(struct kvm_cpuid2 *c, __u32 max, const char *v)
{
	__u32 r[3];

	memcpy(r, v, 12);
	add(c, 0, 0, 0, max, r[0], r[2], r[1]);
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, __u32 fn, __u32 idx)
{
	for (__u32 i = 0; i < c->nent; i++) {
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	}
	return NULL;
}

static unsigned int count(const struct kvm_cpuid2 *c, __u32 fn)
{
	unsigned int n = 0;

	for (__u32 i = 0; i < c->nent; i++)
		n += c->entries[i].function == fn;
	return n;
}

/* An Intel host: 8 cores x 2 threads, with a PMU and leaf 0x1F. */
static struct kvm_cpuid2 *intel_host(void)
{
	struct kvm_cpuid2 *c = table_new();

	add_vendor(c, 0x1f, "GenuineIntel");
	/* EBX: APIC ID 0xff and 16 logical (host values), CLFLUSH 8. */
	add(c, 1, 0, 0, 0x000906ea, 0xff100800, 0x7ffaf3bf | (1u << 15), 0x0f8bfbff);
	add(c, 4, 0, SIG, 0x1c004121, 0x01c0003f, 0x3f, 0);   /* L1d, 2 sharing */
	add(c, 4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0);   /* L1i */
	add(c, 4, 2, SIG, 0x1c004143, 0x03c0003f, 0x3ff, 0);  /* L2 */
	add(c, 4, 3, SIG, 0x1c03c163, 0x03c0003f, 0x3fff, 6); /* L3, 16 sharing */
	add(c, 4, 4, SIG, 0, 0, 0, 0);
	add(c, 0xa, 0, 0, 0x07300404, 0, 0, 0x603);
	add(c, 0xb, 0, SIG, 1, 2, 0x100, 0);
	add(c, 0xb, 1, SIG, 4, 16, 0x201, 0);
	add(c, 0xb, 2, SIG, 0, 0, 2, 0);
	add(c, 0x1f, 0, SIG, 1, 2, 0x100, 0);
	add(c, 0x1f, 1, SIG, 4, 16, 0x201, 0);
	add(c, 0x1f, 2, SIG, 5, 16, 0x502, 0); /* a die level */
	add(c, 0x1f, 3, SIG, 0, 0, 3, 0);
	add(c, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(c, 0x40000001, 0, 0, 0x01007afb, 0, 0, 0);
	add(c, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	add(c, 0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
	add(c, 0x80000008, 0, 0, 0x3027, 0, 0, 0);
	return c;
}

/* An AMD host: 16 cores, TOPOEXT, no leaf 0xA. */
static struct kvm_cpuid2 *amd_host(void)
{
	struct kvm_cpuid2 *c = table_new();

	add_vendor(c, 0x10, "AuthenticAMD");
	add(c, 1, 0, 0, 0x00a20f10, 0x00200800, 0x7ed8320b, 0x178bfbff);
	add(c, 4, 0, SIG, 0, 0, 0, 0); /* reserved on AMD */
	add(c, 0xb, 0, SIG, 1, 2, 0x100, 0);
	add(c, 0xb, 1, SIG, 5, 32, 0x201, 0);
	add(c, 0xb, 2, SIG, 0, 0, 2, 0);
	add(c, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(c, 0x80000000, 0, 0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65);
	add(c, 0x80000001, 0, 0, 0x00a20f10, 0, 0x75c237ff & ~2u, 0x2fd3fbff);
	add(c, 0x80000008, 0, 0, 0x3030, 0x0, 0x0003700f, 0);
	add(c, 0x8000001d, 0, SIG, 0x00004121, 0x01c0003f, 0x3f, 0);
	add(c, 0x8000001d, 1, SIG, 0x00004122, 0x01c0003f, 0x3f, 0);
	add(c, 0x8000001d, 2, SIG, 0x00004143, 0x01c0003f, 0x3ff, 2);
	add(c, 0x8000001d, 3, SIG, 0x0003c163, 0x03c0003f, 0x7fff, 1);
	add(c, 0x8000001d, 4, SIG, 0, 0, 0, 0);
	add(c, 0x8000001e, 0, 0, 0, 0, 0, 0);
	add(c, 0x80000026, 0, SIG, 1, 2, 0x100, 0); /* host: 2 threads per core */
	return c;
}

/* check_topo_leaf: leaf fn holds exactly subleaves 0..2, as cpuid.c builds them. */
static void check_topo_leaf(const struct kvm_cpuid2 *o, __u32 fn, unsigned int idx, unsigned int nr,
                            unsigned int shift, int *failed)
{
	const struct kvm_cpuid_entry2 *e;

	CHECK_EQ(count(o, fn), 3);
	e = find(o, fn, 0);
	CHECK(e && e->eax == 0 && e->ebx == 1 && e->ecx == 0x100 && e->edx == idx);
	CHECK(e && e->flags == SIG);
	e = find(o, fn, 1);
	CHECK(e && e->eax == shift && e->ebx == nr && e->ecx == 0x201 && e->edx == idx);
	e = find(o, fn, 2);
	CHECK(e && e->eax == 0 && e->ebx == 0 && e->ecx == 2 && e->edx == idx);
}

TEST(vendor)
{
	struct kvm_cpuid2 *c = table_new();
	struct kvm_cpuid2 *i = intel_host(), *a = amd_host();

	CHECK_EQ(cpuid_vendor(i), CPUID_VENDOR_INTEL);
	CHECK_EQ(cpuid_vendor(a), CPUID_VENDOR_AMD);
	CHECK_EQ(cpuid_vendor(c), CPUID_VENDOR_OTHER); /* no leaf 0 at all */
	add_vendor(c, 0xd, "HygonGenuine");
	CHECK_EQ(cpuid_vendor(c), CPUID_VENDOR_AMD);
	c->nent = 0;
	add_vendor(c, 0xd, "CentaurHauls");
	CHECK_EQ(cpuid_vendor(c), CPUID_VENDOR_OTHER);
	free(c);
	free(i);
	free(a);
}

TEST(intel_topology)
{
	static const unsigned int nrs[] = { 1, 2, 3, 64 }, shifts[] = { 0, 1, 2, 6 };
	struct kvm_cpuid2 *sup = intel_host(), *o = table_new();

	for (unsigned int k = 0; k < 4; k++) {
		unsigned int nr = nrs[k];

		for (unsigned int idx = 0; idx < nr; idx += (nr > 2 ? nr - 1 : 1)) {
			const struct kvm_cpuid_entry2 *e;

			CHECK_EQ(cpuid_for_vcpu(sup, o, CAP, idx, nr), 0);
			CHECK_EQ(o->nent, sup->nent - 1); /* 0x1F: 4 subleaves -> 3 */
			CHECK_EQ(o->nent, cpuid_out_entries(sup));
			e = find(o, 1, 0);
			CHECK(e != NULL);
			if (!e)
				continue;
			CHECK_EQ(e->ebx >> 24, idx);
			CHECK_EQ((e->ebx >> 16) & 0xff, nr);
			CHECK_EQ(e->ebx & 0xffff, 0x0800);
			CHECK_EQ(!!(e->edx & (1u << 28)), nr > 1);
			CHECK(e->ecx & (1u << 31));
			CHECK(!(e->ecx & (1u << 15))); /* PDCM */
			CHECK_EQ(e->ecx & 0x7fff7fff, 0x7ffaf3bf & 0x7fff7fff);
			check_topo_leaf(o, 0xb, idx, nr, shifts[k], failed);
			check_topo_leaf(o, 0x1f, idx, nr, shifts[k], failed);
			/* Leaf 4: private L1/L2, shared L3, nr cores. */
			e = find(o, 4, 0);
			CHECK(e && e->eax == ((0x121u) | ((nr - 1) << 26)));
			e = find(o, 4, 2);
			CHECK(e && e->eax == ((0x143u) | ((nr - 1) << 26)));
			e = find(o, 4, 3);
			CHECK(e && e->eax == (0x163u | (((1u << shifts[k]) - 1) << 14) |
			                      ((nr - 1) << 26)));
			CHECK(e && e->ebx == 0x03c0003f && e->ecx == 0x3fff && e->edx == 6);
			e = find(o, 4, 4);
			CHECK(e && e->eax == 0);
		}
	}
	free(sup);
	free(o);
}

TEST(intel_pmu_and_passthrough)
{
	struct kvm_cpuid2 *sup = intel_host(), *o = table_new();
	const struct kvm_cpuid_entry2 *e;
	static const __u32 same[] = {
		0, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x80000008
	};

	CHECK_EQ(cpuid_for_vcpu(sup, o, CAP, 1, 4), 0);
	e = find(o, 0xa, 0);
	CHECK(e && e->eax == 0 && e->ebx == 0 && e->ecx == 0 && e->edx == 0);
	for (unsigned int i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		const struct kvm_cpuid_entry2 *a = find(sup, same[i], 0), *b = find(o, same[i], 0);

		CHECK(a && b && memcmp(a, b, sizeof(*a)) == 0);
	}
	free(sup);
	free(o);
}

TEST(amd_topology)
{
	static const unsigned int nrs[] = { 1, 2, 64 }, shifts[] = { 0, 1, 6 };
	struct kvm_cpuid2 *sup = amd_host(), *o = table_new();

	for (unsigned int k = 0; k < 3; k++) {
		unsigned int nr = nrs[k], idx = nr - 1;
		const struct kvm_cpuid_entry2 *e;

		CHECK_EQ(cpuid_for_vcpu(sup, o, CAP, idx, nr), 0);
		CHECK_EQ(o->nent, sup->nent);
		e = find(o, 1, 0);
		CHECK(e && e->ebx >> 24 == idx && ((e->ebx >> 16) & 0xff) == nr);
		CHECK(e && (e->ecx & (1u << 31)));
		check_topo_leaf(o, 0xb, idx, nr, shifts[k], failed);
		e = find(o, 4, 0);
		CHECK(e && e->eax == 0); /* leaf 4 left alone on AMD */
		e = find(o, 0x80000001, 0);
		CHECK(e && !!(e->ecx & 2) == (nr > 1));
		CHECK(e && (e->ecx & ~2u) == (0x75c237ffu & ~2u));
		e = find(o, 0x80000008, 0);
		CHECK(e && e->ecx == (0x00030000u | (shifts[k] << 12) | (nr - 1)));
		CHECK(e && e->eax == 0x3030);
		e = find(o, 0x8000001e, 0);
		CHECK(e && e->eax == idx && e->ebx == idx && e->ecx == 0 && e->edx == 0);
		e = find(o, 0x8000001d, 1);
		CHECK(e && e->eax == 0x0122); /* L1: one thread, was two */
		e = find(o, 0x8000001d, 3);
		CHECK(e && e->eax == (0x163u | (((1u << shifts[k]) - 1) << 14)));
		CHECK(e && e->ecx == 0x7fff && e->edx == 1);
		e = find(o, 0x80000026, 0);
		CHECK(e && e->eax == 0 && e->ebx == 0 && e->ecx == 0 && e->edx == 0);
	}
	free(sup);
	free(o);
}

TEST(many_cpus)
{
	struct kvm_cpuid2 *sup = intel_host(), *o = table_new();
	const struct kvm_cpuid_entry2 *e;

	CHECK_EQ(cpuid_for_vcpu(sup, o, CAP, 253, CPUID_MAX_CPUS), 0);
	e = find(o, 1, 0);
	CHECK(e && e->ebx >> 24 == 253 && ((e->ebx >> 16) & 0xff) == 254);
	check_topo_leaf(o, 0xb, 253, 254, 8, failed);
	e = find(o, 4, 3);
	CHECK(e && e->eax >> 26 == 63); /* saturated 6-bit field */
	CHECK(e && ((e->eax >> 14) & 0xfff) == 255);
	free(sup);
	free(o);
}

TEST(other_vendor)
{
	struct kvm_cpuid2 *sup = table_new(), *o = table_new();
	const struct kvm_cpuid_entry2 *e;

	add_vendor(sup, 0xb, "CentaurHauls");
	add(sup, 1, 0, 0, 0x6f1, 0, 0, 0);
	add(sup, 0xb, 0, SIG, 0, 1, 0x100, 0);
	add(sup, 0x80000008, 0, 0, 0x3028, 0, 0x1234, 0);
	CHECK_EQ(cpuid_for_vcpu(sup, o, CAP, 2, 3), 0);
	CHECK_EQ(o->nent, 6);
	check_topo_leaf(o, 0xb, 2, 3, 2, failed);
	e = find(o, 0x80000008, 0);
	CHECK(e && e->ecx == 0x1234); /* AMD-only meaning: untouched */
	e = find(o, 1, 0);
	CHECK(e && e->ebx == 0x02030000 && e->edx == (1u << 28));
	free(sup);
	free(o);
}

TEST(errors)
{
	struct kvm_cpuid2 *sup = intel_host(), *o = table_new();
	unsigned long need = cpuid_out_entries(sup);

	CHECK_ERR(cpuid_for_vcpu(sup, o, CAP, 0, 0), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, o, CAP, 1, 1), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, o, CAP, 4, 4), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, o, CAP, 0, 255), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, o, CAP, 0, UINT32_MAX), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, sup, CAP, 0, 1), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(NULL, o, CAP, 0, 1), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, NULL, CAP, 0, 1), -EINVAL);
	CHECK_ERR(cpuid_for_vcpu(sup, o, (unsigned int)need - 1, 0, 1), -E2BIG);
	CHECK_ERR(cpuid_for_vcpu(sup, o, 0, 0, 1), -E2BIG);
	CHECK_EQ(cpuid_for_vcpu(sup, o, (unsigned int)need, 0, 1), 0);
	CHECK_EQ(o->nent, need);
	/* An empty table gives an empty table. */
	sup->nent = 0;
	CHECK_EQ(cpuid_for_vcpu(sup, o, 0, 0, 1), 0);
	CHECK_EQ(o->nent, 0);
	free(sup);
	free(o);
}

/* The TSC-deadline bit is added to leaf 1 only, and kept per vCPU. */
TEST(tsc_deadline)
{
	struct kvm_cpuid2 *sup = table_new(), *out = table_new();
	const struct kvm_cpuid_entry2 *e;

	add_vendor(sup, 0xd, "GenuineIntel");
	add(sup, 1, 0, 0, 0x906ea, 0x800, 0x7ffafbff & ~(1u << 24), 0xbfebfbff);
	add(sup, 0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
	cpuid_add_tsc_deadline(sup);
	CHECK_EQ(cpuid_for_vcpu(sup, out, CAP, 1, 2), 0);
	e = find(out, 1, 0);
	CHECK(e && (e->ecx & (1u << 24)) && (e->ecx & 0x7ffafbff) == (0x7ffafbff & ~(1u << 15)));
	e = find(out, 0x80000001, 0);
	CHECK(e && e->ecx == 0x121);
	e = find(out, 0, 0);
	CHECK(e && e->ecx == find(sup, 0, 0)->ecx);
	free(sup);
	free(out);
}

CHECK_MAIN(CASE(tsc_deadline), CASE(vendor), CASE(intel_topology), CASE(intel_pmu_and_passthrough),
           CASE(amd_topology), CASE(many_cpus), CASE(other_vendor), CASE(errors))

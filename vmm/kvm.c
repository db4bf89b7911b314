// SPDX-License-Identifier: MIT
/*
 * kvm: /dev/kvm, the VM file descriptor, its memory slots, in-kernel
 * interrupt controllers, and KVM's own statistics (Documentation/virt/kvm/api.rst).
 */
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Where KVM puts the three pages Intel's VMX needs for real-mode emulation
 * (KVM_SET_TSS_ADDR) and its identity-map page: just below the 4 GiB BIOS
 * area, inside the MMIO gap, where no RAM and no device of ours lives.
 */
#define KVM_TSS_GPA          0xfffbd000ull
#define KVM_IDENTITY_MAP_GPA 0xfffbc000ull

struct kvm_required_cap {
	int cap;
	const char *name;
};

/* What we cannot run without; each is a line of api.rst §4 or §8. */
static const struct kvm_required_cap kvm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

/*
 * kvm_open_checked: open /dev/kvm and check the API version and every
 * capability we rely on, naming the first one missing.
 * Returns 0 (and *kvm_fd) or -errno.
 */
int kvm_open_checked(int *kvm_fd)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), version;

	if (fd < 0) {
		int err = -errno;

		fprintf(stderr, "kvmbox: cannot open /dev/kvm: %s%s\n", strerror(errno),
		        errno == ENOENT ? " (no KVM here: is the kvm module loaded?)" : "");
		return err;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		fprintf(stderr, "kvmbox: KVM API version %d, expected %d\n", version,
		        KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			fprintf(stderr, "kvmbox: this KVM lacks %s\n", kvm_required_caps[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	*kvm_fd = fd;
	return 0;
}

/*
 * kvm_supported_cpuid: KVM_GET_SUPPORTED_CPUID, growing the buffer until it
 * fits (api.rst: E2BIG means "too small"). The caller frees *out.
 */
int kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned int nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c =
		    calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return -errno;
	}
	return -E2BIG;
}

/* kvm_set_slots: one KVM memory slot per gmem slot. */
static int kvm_set_slots(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		const struct gmem_slot *s = &vm->mem.slots[i];
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = s->gpa,
			.memory_size = s->size,
			.userspace_addr = (uintptr_t)s->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	return 0;
}

/*
 * kvm_create_vm: the VM, its memory, the in-kernel irqchip (PIC, IOAPIC and
 * LAPICs) and PIT. Returns 0 or -errno, with a message naming the step.
 */
int kvm_create_vm(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t ident = KVM_IDENTITY_MAP_GPA;
	const char *step;
	int err;

	step = "KVM_CREATE_VM";
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		goto fail;
	step = "KVM_SET_TSS_ADDR";
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA) < 0)
		goto fail;
	step = "KVM_SET_IDENTITY_MAP_ADDR";
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		goto fail;
	/* The irqchip must exist before the vCPUs (api.rst, KVM_CREATE_IRQCHIP). */
	step = "KVM_CREATE_IRQCHIP";
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	step = "KVM_CREATE_PIT2";
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		goto fail;
	step = "KVM_SET_USER_MEMORY_REGION";
	err = kvm_set_slots(vm);
	if (err < 0) {
		errno = -err;
		goto fail;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	step = "KVM_GET_VCPU_MMAP_SIZE";
	if (vm->run_size < (int)sizeof(struct kvm_run))
		goto fail;
	return 0;
fail:
	err = errno ? -errno : -EIO;
	fprintf(stderr, "kvmbox: %s failed: %s\n", step, strerror(-err));
	return err;
}

/*
 * kvm_stats_each: call fn for every cumulative counter of a VM or vCPU
 * stats file (from KVM_GET_STATS_FD, api.rst §4.133), with its name and
 * value. Best effort: sfd -1 or a short read calls fn for none. Reading
 * needs no lock of the vCPU, so the file may be read while it runs.
 */
void kvm_stats_each(int sfd, void (*fn)(const char *name, uint64_t value, void *opaque),
                    void *opaque)
{
	struct kvm_stats_header h;
	size_t desc_size;
	uint8_t *descs = NULL;

	if (sfd < 0)
		return;
	if (pread(sfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 256)
		goto out;
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(desc_size * h.num_desc);
	if (!descs || pread(sfd, descs, desc_size * h.num_desc, h.desc_offset) !=
	                  (ssize_t)(desc_size * h.num_desc))
		goto out;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * desc_size);
		uint64_t value;

		/* Only plain cumulative counters add up across vCPUs. */
		if ((d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || d->size != 1)
			continue;
		if (pread(sfd, &value, sizeof(value), h.data_offset + d->offset) != sizeof(value))
			continue;
		d->name[h.name_size - 1] = '\0';
		fn(d->name, value, opaque);
	}
out:
	free(descs);
}

static void kvm_collect_one(const char *name, uint64_t value, void *opaque)
{
	timeline_add_stat(opaque, name, value);
}

/* kvm_collect_stats: add every cumulative counter of a stats file to tl, by name. */
void kvm_collect_stats(int stats_fd, struct timeline *tl)
{
	kvm_stats_each(stats_fd, kvm_collect_one, tl);
}

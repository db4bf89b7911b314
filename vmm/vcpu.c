// SPDX-License-Identifier: MIT
/*
 * vcpu: one thread per vCPU running KVM_RUN in a loop, and the one switch
 * that hands each exit to a bus or stops the VM.
 *
 * A vCPU is kicked out of KVM_RUN by SIGUSR1 with immediate_exit set first
 * (api.rst, KVM_CAP_IMMEDIATE_EXIT): if the signal lands before the thread
 * enters the kernel, KVM_RUN still returns at once with EINTR.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "vmm/thread.h"
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include "vmm/boot/boot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL SIGUSR1

/* Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3 §11.5.1). */
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

#define MSR_IA32_MISC_ENABLE             0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1ull

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

/*
 * vcpu_signals_init: install the kick handler, without SA_RESTART so that
 * KVM_RUN is interrupted. Process-wide, so called once from main.
 */
int vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* vcpu_set_lint: LINT0 as ExtINT (the PIC), LINT1 as NMI, as a BIOS would. */
static int vcpu_set_lint(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t *lint0 = (uint32_t *)(lapic.regs + APIC_LVT_LINT0);
	uint32_t *lint1 = (uint32_t *)(lapic.regs + APIC_LVT_LINT1);

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	*lint0 = (*lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lint1 = (*lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static int vcpu_set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *sup = vcpu->vm->supported_cpuid;
	unsigned int cap = (unsigned int)cpuid_out_entries(sup);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
	int err;

	if (!c)
		return -ENOMEM;
	err = cpuid_for_vcpu(sup, c, cap, vcpu->index, vcpu->vm->nr_vcpus);
	if (err == 0 && ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		err = -errno;
	free(c);
	return err;
}

/* vcpu_set_boot_state: the BSP enters the kernel's 64-bit entry directly. */
static int vcpu_set_boot_state(struct vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	boot_cpu_fill_sregs(&sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	boot_cpu_fill_regs(&regs, vcpu->vm->image.entry, vcpu->vm->zero_page);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

static int vcpu_set_msrs(struct vcpu *vcpu)
{
	/* struct kvm_msrs ends in a flexible array: room for one entry. */
	uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) / 8 + 1] = { 0 };
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;

	msrs->nmsrs = 1;
	msrs->entries[0].index = MSR_IA32_MISC_ENABLE;
	msrs->entries[0].data = MSR_IA32_MISC_ENABLE_FAST_STRING;
	/* KVM_SET_MSRS returns how many it set. */
	if (ioctl(vcpu->fd, KVM_SET_MSRS, msrs) != 1)
		return -EIO;
	return 0;
}

/*
 * vcpu_create: vCPU `index`: its fd, kvm_run mapping, CPUID, MSRs and LAPIC,
 * and for the BSP (index 0) the 64-bit boot state. The APs wait for the
 * kernel's INIT/SIPI in the in-kernel LAPIC. Returns 0 or -errno, with a
 * message naming the step.
 */
int vcpu_create(struct vm *vm, unsigned int index)
{
	struct vcpu *vcpu = &vm->vcpus[index];
	const char *step = "KVM_CREATE_VCPU";
	int err;

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		err = -errno;
		goto fail;
	}
	/* Best effort: without binary stats (Linux < 5.14) there are no counters. */
	vcpu->stats_fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
	step = "mmap kvm_run";
	vcpu->run =
	    mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		err = -errno;
		goto fail;
	}
	step = "KVM_SET_CPUID2";
	err = vcpu_set_cpuid(vcpu);
	if (err)
		goto fail;
	step = "KVM_SET_MSRS";
	err = vcpu_set_msrs(vcpu);
	if (err)
		goto fail;
	step = "KVM_SET_LAPIC";
	err = vcpu_set_lint(vcpu);
	if (err)
		goto fail;
	if (index == 0) {
		step = "the boot registers";
		err = vcpu_set_boot_state(vcpu);
		if (err)
			goto fail;
	}
	atomic_store(&vcpu->state, VCPU_CREATED);
	return 0;
fail:
	fprintf(stderr, "kvmbox: vCPU %u: %s failed: %s\n", index, step, strerror(-err));
	return err;
}

/* vcpu_dump: the registers, for a message about a fatal exit. */
static void vcpu_dump(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "kvmbox: vCPU %u: cannot read registers\n", vcpu->index);
		return;
	}
	fprintf(stderr,
	        "kvmbox: vCPU %u: rip %#llx rsp %#llx rflags %#llx\n"
	        "  rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx rbp %#llx\n"
	        "  cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx cs %#x/%#llx\n",
	        vcpu->index, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi,
	        r.rbp, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base);
}

/* vcpu_pio: a KVM_EXIT_IO, possibly a string instruction (count > 1). */
static void vcpu_pio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	struct vm *vm = vcpu->vm;

	timeline_count_addr(&vm->tl, run->io.port, false);
	/* data_offset and size * count come from KVM, within the run page. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!bus_dispatch(&vm->pio, run->io.port, is_write, data, run->io.size))
			atomic_fetch_add_explicit(&vm->tl.unclaimed, 1, memory_order_relaxed);
	}
}

static void vcpu_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 0;

	timeline_count_addr(&vm->tl, run->mmio.phys_addr, true);
	if (!len ||
	    !bus_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data, len))
		atomic_fetch_add_explicit(&vm->tl.unclaimed, 1, memory_order_relaxed);
}

/*
 * vcpu_handle_exit: one exit to userspace. Returns true to run again,
 * false when the vCPU must stop (the VM is stopping, or the exit was fatal).
 */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	timeline_count_exit(&vm->tl, run->exit_reason);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_pio(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_mmio(vcpu);
		return true;
	case KVM_EXIT_HLT:
		/* The in-kernel LAPIC handles HLT; seeing one is harmless. */
		return true;
	case KVM_EXIT_INTR:
		return !atomic_load(&vm->stopping);
	case KVM_EXIT_SYSTEM_EVENT:
		vm_request_stop(vm, VM_EXIT_OK);
		return false;
	case KVM_EXIT_SHUTDOWN:
		fprintf(stderr, "kvmbox: vCPU %u: triple fault (KVM_EXIT_SHUTDOWN)\n", vcpu->index);
		vcpu_dump(vcpu);
		vm_request_stop(vm, VM_EXIT_TRIPLE_FAULT);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "kvmbox: vCPU %u: VM entry failed, reason %#llx\n", vcpu->index,
		        (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_dump(vcpu);
		vm_request_stop(vm, VM_EXIT_KVM_ERROR);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		/* An emulation failure (suberror 1) on a host without hardware
		 * virtualization (kvm_pvm and its kin emulate the guest kernel's
		 * privileged code) is the host's limit, not the guest's fault. */
		fprintf(stderr, "kvmbox: vCPU %u: KVM internal error, suberror %u%s\n", vcpu->index,
		        run->internal.suberror,
		        run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
		            ? " (KVM could not emulate an instruction; a KVM without VT-x or "
		              "AMD-V cannot run a stock guest kernel)"
		            : "");
		vcpu_dump(vcpu);
		vm_request_stop(vm, VM_EXIT_KVM_ERROR);
		return false;
	default:
		fprintf(stderr, "kvmbox: vCPU %u: unexpected exit reason %u\n", vcpu->index,
		        run->exit_reason);
		vcpu_dump(vcpu);
		vm_request_stop(vm, VM_EXIT_KVM_ERROR);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t kick;
	/* vCPU 0's own instructions up to its first KVM_RUN, for --timings;
	 * opened before the filter, which has no perf_event_open. */
	int insns_fd = vcpu->index == 0 && vm->tl.insns_on ? timeline_insns_open() : -1;

	/* Its filter before its first KVM_RUN (docs/security.md). */
	if (vm_confine_enter(vm, CONFINE_VCPU) < 0) {
		if (insns_fd >= 0)
			close(insns_fd);
		atomic_store(&vcpu->state, VCPU_STOPPED);
		return NULL;
	}
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	atomic_store(&vcpu->state, VCPU_RUNNING);
	while (!atomic_load(&vm->stopping)) {
		if (vcpu->index == 0 && insns_fd >= 0) {
			timeline_insns_mark(&vm->tl, TL_FIRST_RUN, insns_fd);
			close(insns_fd);
			insns_fd = -1;
		}
		if (vcpu->index == 0)
			timeline_mark(&vm->tl, TL_FIRST_RUN);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			fprintf(stderr, "kvmbox: vCPU %u: KVM_RUN: %s\n", vcpu->index,
			        strerror(errno));
			vm_request_stop(vm, VM_EXIT_KVM_ERROR);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	if (insns_fd >= 0)
		close(insns_fd);
	atomic_store(&vcpu->state, VCPU_STOPPED);
	return NULL;
}

/*
 * vcpu_start: the vCPU's thread; the kick signal stays blocked elsewhere.
 * It is named "vcpuN" (N the vCPU's index, as the guest numbers its CPUs)
 * so that top -H, /proc/PID/task/TID/comm and a debugger show which
 * thread runs which CPU.
 */
int vcpu_start(struct vcpu *vcpu)
{
	char name[16];
	int err = thread_start(&vcpu->thread, vcpu_thread, vcpu);

	if (err)
		return err;
	vcpu->started = true;
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(vcpu->thread, name); /* a name is a nicety */
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started || !vcpu->run)
		return;
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started)
		pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->run_size);
	if (vcpu->stats_fd >= 0)
		close(vcpu->stats_fd);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = vcpu->stats_fd = -1;
}

int vcpu_slots_new(struct vm *vm, unsigned int n)
{
	vm->vcpus = calloc(n, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	vm->nr_vcpu_slots = n;
	for (unsigned int i = 0; i < n; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].stats_fd = -1;
	}
	return 0;
}

void vcpu_slots_free(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpu_slots; i++) {
		vcpu_join(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpu_slots = 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * vm: one microVM, everything hanging off struct vm (no global state); the
 * public face of the core. The core is vmm/ itself: the VM and its vCPUs
 * (vm.c, vcpu.c, kvm.c), the one place devices are added (devices.c), the
 * control socket's view of the VM (vm_control.c), and the primitives every
 * layer below may use, which include nothing of the project: guest memory
 * (gmem.h), the buses (bus.h), the event loop (loop.h), the boot timeline
 * (timeline.h). vm_int.h is the core's private header.
 *
 * Life cycle (vmm/main.c): vm_init -> vm_load (files into guest RAM; no KVM
 * needed, so bad input fails before /dev/kvm is touched) -> vm_create (KVM
 * objects, devices, vCPUs) -> vm_run (vCPU threads; the calling thread
 * waits for a stop) -> vm_destroy.
 */
#ifndef KVMBOX_VMM_VM_H
#define KVMBOX_VMM_VM_H

#include "virtio/blk.h"
#include "virtio/fs.h"
#include "virtio/net.h"
#include "virtio/vsock.h"
#include "vmm/boot/boot.h"
#include "vmm/bus.h"
#include "vmm/confine/confine.h"
#include "vmm/control/control.h"
#include "vmm/gmem.h"
#include "vmm/loop.h"
#include "vmm/platform/platform.h"
#include "vmm/timeline.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The MP table gives each CPU an 8-bit APIC ID and the I/O APIC takes one. */
#define VM_MAX_CPUS    254
#define VM_MIN_MEM_MIB 32

/* The port the guest writes to mark boot progress (not a PC port). */
#define VM_DEBUG_PORT  0x4f0
#define VM_DEBUG_READY 0x01

/* virtio-mmio slots: 4 KiB windows in the MMIO gap, one ISA IRQ each
 * (5..15, the lines the MP table routes; 4 is the UART's). */
#define VM_VIRTIO_BASE     0xd0000000ull
#define VM_VIRTIO_STRIDE   0x1000ull
#define VM_VIRTIO_GSI_BASE 5
#define VM_MAX_VIRTIO      11
#define VM_MAX_DISKS       8
#define VM_MAX_SHARES      8 /* virtio-fs devices: --volume and --rootfs-dir */

/* Exit statuses of `kvmbox run`, documented in README.md. */
enum vm_exit_status {
	VM_EXIT_OK = 0,           /* the guest rebooted or powered off */
	VM_EXIT_ERROR = 1,        /* bad input or a host failure */
	VM_EXIT_USAGE = 2,        /* bad command line */
	VM_EXIT_TRIPLE_FAULT = 3, /* KVM_EXIT_SHUTDOWN */
	VM_EXIT_KVM_ERROR = 4,    /* internal error, failed entry, unknown exit */
	VM_EXIT_GUEST_PANIC = 5,  /* the guest kernel panicked (its console said so) */
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;     /* NULL: the default */
	unsigned int nr_cpus;
	uint64_t mem_mib;
	bool hugepages;
	bool count_insns;     /* instructions per boot phase (--timings) */
	int console_fd;       /* guest serial output */
	bool quiet;           /* no console in the guest: the quiet default command line */
	uint64_t console_max; /* bytes console_fd may take in all; 0: no limit */
	bool console_input;   /* forward stdin to the guest's serial */
	struct blk_params disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	struct vfs_params shares[VM_MAX_SHARES]; /* host folders, by tag */
	unsigned int nr_shares;
	struct vsock_params vsock; /* uds_path NULL: no vsock device */
	struct net_params net;     /* mode NET_MODE_NONE: no network device */
	const char *control_path;  /* the control socket; NULL: none */
	/* What exec requests on it leave out (control_exec_defaults): the
	 * run's environment, working folder and user; each NULL: none. */
	const char *const *exec_env;
	const char *exec_cwd;
	const char *exec_user;
	enum confine_mode seccomp; /* --seccomp: kill (the default), log, off */
};

struct vm_virtio_slot;

/* One queue's notification: its KVM ioeventfd, polled by the main loop. */
struct vm_virtio_queue {
	struct vm_virtio_slot *slot;
	unsigned int index;
	int fd;
	struct loop_op op;
};

/* One virtio-mmio device's place and wiring (vmm/devices.c). */
struct vm_virtio_slot {
	struct vm *vm;
	struct virtio_mmio *transport;
	uint64_t base;
	uint32_t gsi;
	int irq_fd; /* KVM_IRQFD */
	struct vm_virtio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
	unsigned int nr_queues;
};

enum vcpu_state {
	VCPU_CREATED,
	VCPU_RUNNING,
	VCPU_STOPPED,
};

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	/* KVM_GET_STATS_FD, opened before the thread starts: that ioctl
	 * waits for the vCPU's mutex, which KVM_RUN holds, but reading the
	 * stats file does not. -1 where the kernel has none. */
	int stats_fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	_Atomic int state;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd;
	int vm_fd;
	int run_size;
	struct gmem mem;
	struct boot_image image;
	uint64_t zero_page;
	struct bus pio;
	struct bus mmio;
	struct serial serial;
	bool serial_ready;
	struct i8042 i8042;
	bool i8042_ready;
	struct blk *disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	int disk_lock_fds[VM_MAX_DISKS]; /* each holds its image's lock; -1: none */
	struct vfs *shares[VM_MAX_SHARES];
	unsigned int nr_shares;
	struct vsock *vsock;
	struct net *net;
	struct control control;
	struct vm_virtio_slot slots[VM_MAX_VIRTIO];
	unsigned int nr_slots;
	struct kvm_cpuid2 *supported_cpuid;
	/* cfg.nr_cpus of them (at least one), made by vm_init: an array of
	 * VM_MAX_CPUS inside struct vm was 12 KiB of RSS for one vCPU. */
	struct vcpu *vcpus;
	unsigned int nr_vcpu_slots; /* the array's length */
	unsigned int nr_vcpus;      /* created by vm_create */
	struct timeline tl;
	struct loop loop; /* the main thread's io_uring */
	struct loop_op op_signal, op_stop, op_stdin;
	int signal_fd; /* SIGINT, SIGTERM */
	bool stdin_closed;
	int stop_fd; /* eventfd: a vCPU asks the main thread to stop */
	_Atomic bool stopping;
	_Atomic int exit_status;
	struct confine confine; /* every thread kind's filter (vm_confine.c) */
};

__attribute__((warn_unused_result)) int vm_init(struct vm *vm, const struct vm_config *cfg);
__attribute__((warn_unused_result)) int vm_load(struct vm *vm);
__attribute__((warn_unused_result)) int vm_create(struct vm *vm);

/* vm_run: start the vCPUs and wait for a stop; returns an exit status. */
int vm_run(struct vm *vm);

/*
 * vm_request_stop: stop the VM with this exit status (the first request
 * wins); callable from any thread, vCPU threads included.
 */
void vm_request_stop(struct vm *vm, int status);

void vm_destroy(struct vm *vm);

/*
 * vm_confine_enter: confine the calling thread as kind (confine_enter)
 * with the VM's filters; on failure a message and a stop of the VM.
 * 0 or -errno. Every thread that serves the VM calls it before it does
 * anything the guest drives (vm_confine.c, docs/security.md).
 */
__attribute__((warn_unused_result)) int vm_confine_enter(struct vm *vm, enum confine_kind kind);

/*
 * vm_control_init: serve the control socket at path (NULL: only
 * control_attach) for this VM (vm_control.c); needs vm->loop. 0 or -errno.
 */
__attribute__((warn_unused_result)) int vm_control_init(struct vm *vm, const char *path);

/*
 * vcpu_signals_init: install the vCPU kick handler (SIGUSR1, without
 * SA_RESTART so that KVM_RUN is interrupted). Process-wide: main calls it
 * once, with SIGUSR1 blocked in every thread but the vCPUs'.
 */
__attribute__((warn_unused_result)) int vcpu_signals_init(void);

#endif

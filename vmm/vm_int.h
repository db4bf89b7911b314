/* SPDX-License-Identifier: MIT */
/*
 * vm_int: the core's private header: what vm.c, vcpu.c, kvm.c, devices.c
 * and vm_control.c call of each other. Nothing outside vmm/'s own files
 * includes it.
 */
#ifndef KVMBOX_VMM_VM_INT_H
#define KVMBOX_VMM_VM_INT_H

#include "vmm/vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* devices.c */
__attribute__((warn_unused_result)) int vm_devices_add(struct vm *vm);
void vm_devices_destroy(struct vm *vm);
/* vm_devices_cmdline: the virtio_mmio.device= parameters; 0 or -ENOSPC. */
int vm_devices_cmdline(const struct vm *vm, char *buf, size_t size);
/*
 * vm_devices_report: after the stop, what the console tells of a guest
 * that ended with status: a panic's reason on stderr, and, where nobody saw
 * the console (cfg.quiet), its last lines on a panic or triple fault.
 */
void vm_devices_report(struct vm *vm, int status);

/* vm.c */
/* vm_size_fds: RLIMIT_NOFILE raised and shared out among the devices (vm_create). */
void vm_size_fds(struct vm *vm);
/* vm_confine.c */
/* vm_confine_build: every thread kind's filter for this configuration
 * (end of vm_create). 0 or -errno after a message. */
__attribute__((warn_unused_result)) int vm_confine_build(struct vm *vm);
/* vm_file.c */
/*
 * vm_open_file: open the regular, non-empty file path of at most max bytes
 * (what: "kernel", "initrd", for messages); its fd and size. The boot
 * files are read from their fds straight into guest memory. Returns 0 or
 * -errno (-EFBIG when larger than max, -EINVAL when not a regular file or
 * empty), with one message naming the file.
 */
__attribute__((warn_unused_result)) int vm_open_file(const char *what, const char *path,
                                                     uint64_t max, int *fd, uint64_t *size);
/*
 * vm_read_at: the first len bytes of the file fd into dst (guest memory);
 * 0, -EFAULT for no dst, -EIO when the file is shorter, or -errno.
 */
__attribute__((warn_unused_result)) int vm_read_at(int fd, void *dst, uint64_t len);

/* vm_disk_lock.c */
/*
 * vm_disk_lock: lock the disk image open on fd for the life of fd: shared
 * when read_only, exclusive otherwise. 0; -EAGAIN when a conflicting lock
 * is held, with the holder in who (cap bytes); or -errno.
 */
__attribute__((warn_unused_result)) int vm_disk_lock(int fd, bool read_only, char *who, size_t cap);

/* vcpu.c */
/* vcpu_slots_new: vm->vcpus, n of them, none created; 0 or -ENOMEM.
 * vcpu_slots_free: each joined and destroyed, the array freed. */
__attribute__((warn_unused_result)) int vcpu_slots_new(struct vm *vm, unsigned int n);
void vcpu_slots_free(struct vm *vm);
__attribute__((warn_unused_result)) int vcpu_create(struct vm *vm, unsigned int index);
__attribute__((warn_unused_result)) int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* kvm.c */
__attribute__((warn_unused_result)) int kvm_open_checked(int *kvm_fd);
__attribute__((warn_unused_result)) int kvm_create_vm(struct vm *vm);
__attribute__((warn_unused_result)) int kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);
void kvm_stats_each(int stats_fd, void (*fn)(const char *name, uint64_t value, void *opaque),
                    void *opaque);
void kvm_collect_stats(int stats_fd, struct timeline *tl);

#endif

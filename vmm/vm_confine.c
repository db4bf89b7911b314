// SPDX-License-Identifier: MIT
/*
 * vm_confine: the VM's threads confined once set-up is done
 * (vmm/confine/confine.h, docs/security.md): the filters built from the
 * configuration at the end of vm_create, then each thread entering its own
 * kind before it serves the guest.
 */
#define _GNU_SOURCE
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int vm_confine_enter(struct vm *vm, enum confine_kind kind)
{
	int err = confine_enter(&vm->confine, kind);

	if (err) {
		fprintf(stderr, "kvmbox: cannot confine the %s thread: %s\n",
		        confine_kind_name(kind), strerror(-err));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}
	return err;
}

/* vm_confine_fs_worker: a virtio-fs worker's hook (vfs_set_thread_enter). */
static int vm_confine_fs_worker(void *opaque)
{
	return vm_confine_enter(opaque, CONFINE_FS_WORKER);
}

int vm_confine_build(struct vm *vm)
{
	struct confine_needs needs = {
		.net_tap = vm->cfg.net.mode == NET_MODE_TAP,
		.net_slirp = vm->cfg.net.mode == NET_MODE_USER,
		.net_passt = vm->cfg.net.mode == NET_MODE_PASST && !vm->cfg.net.passt_started,
		.fs_shares = vm->nr_shares > 0,
		.tgid = getpid(),
	};
	uint32_t seed = 0;
	int err;

	/* jansson seeds its hash tables on the first JSON object made, by
	 * opening /dev/urandom (its hashtable_seed.c) in whichever thread that
	 * is: the run client's filter has no openat. Seeded here, before any
	 * filter, from getrandom(2) (0 lets jansson read /dev/urandom now). */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = 0;
	json_object_seed(seed);
	err = confine_build(&vm->confine, vm->cfg.seccomp, &needs);
	if (err)
		return err;
	/* libseccomp compiled the filters in about 600 KiB of small
	 * allocations, all freed now; the heap pages they touched would stay
	 * resident for the VM's life (RSS beyond the guest's RAM, a goal of
	 * docs/benchmarks.md). Give them back (MADV_DONTNEED on free pages). */
	malloc_trim(0);
	for (unsigned int i = 0; i < vm->nr_shares; i++)
		vfs_set_thread_enter(vm->shares[i], vm_confine_fs_worker, vm);
	return 0;
}

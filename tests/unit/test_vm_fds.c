// SPDX-License-Identifier: MIT
/*
 * Unit tests of vm_size_fds (vmm/vm.c): the VMM raises RLIMIT_NOFILE and
 * caps the vsock device's guest and host-client connections below what
 * it has, so that they cannot take the descriptors the control socket
 * and the VMM itself need (issue 14, item 3). Lowers this process's hard
 * limit, which cannot be undone: the cases run in order.
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/control/control.h"
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static struct vm *vm_with_vsock(void)
{
	struct vm_config cfg = { .nr_cpus = 2 };
	struct vm *vm = calloc(1, sizeof(*vm));

	cfg.vsock.uds_path = "unused";
	cfg.vsock.guest_cid = 3;
	if (!vm || vm_init(vm, &cfg))
		abort();
	return vm;
}

static void vm_free(struct vm *vm)
{
	close(vm->stop_fd);
	vcpu_slots_free(vm);
	free(vm);
}

/* A generous limit: the soft one goes up to the hard one, vsock keeps its default. */
TEST(generous_limit)
{
	struct rlimit rl;
	struct vm *vm = vm_with_vsock();

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < 8192) {
		fprintf(stderr, "skipped: hard RLIMIT_NOFILE %llu\n",
		        (unsigned long long)rl.rlim_max);
		vm_free(vm);
		return;
	}
	rl.rlim_cur = 1024;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	vm_size_fds(vm);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK_EQ(rl.rlim_cur, rl.rlim_max);
	CHECK_EQ(vm->cfg.vsock.max_conns, VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE);
	vm_free(vm);
}

/* A tight limit: vsock gets what is left after the VMM's own, no more. */
TEST(tight_limit_caps_vsock)
{
	struct rlimit rl = { .rlim_cur = 700, .rlim_max = 800 };
	struct vm *vm = vm_with_vsock();
	uint64_t own = 3u * CONTROL_MAX_CONNS + 2u * 2;

	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	vm_size_fds(vm);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK_EQ(rl.rlim_cur, 800);
	CHECK(vm->cfg.vsock.max_conns > 0);
	CHECK(vm->cfg.vsock.max_conns < VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE);
	/* Room stays for the control clients and the vCPUs. */
	CHECK(vm->cfg.vsock.max_conns + own <= 800);
	vm_free(vm);
}

CHECK_MAIN(CASE(generous_limit), CASE(tight_limit_caps_vsock))

// SPDX-License-Identifier: MIT
/*
 * vm: builds one microVM from its configuration, runs it, tears it down.
 */
#define _GNU_SOURCE
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include "vmm/boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for the polls and a few batches of device I/O in flight. */
#define VM_LOOP_ENTRIES 256
/* A kernel file larger than this is no kernel of ours. */
#define VM_MAX_KERNEL_SIZE (512ull << 20)

/*
 * The default command line: the console on COM1, reboot through the i8042
 * (which ends the VMM), reboot at once on panic, and skip the IO-APIC timer
 * check, which only costs time under KVM's in-kernel irqchip.
 */
static const char vm_default_cmdline[] = "console=ttyS0 reboot=k panic=-1 no_timer_check quiet";

/*
 * The quiet boot's (cfg.quiet), when nobody reads the console: the guest
 * writes to no console at all, and still reports a panic. Each parameter
 * is in the kernel's Documentation/admin-guide/kernel-parameters.txt (v6.1):
 *  - loglevel=1: only KERN_EMERG messages reach a console, which in a
 *    healthy boot is none; panic() prints at that level and also raises
 *    the level for its stack dump (console_verbose). It comes first, as it
 *    and earlyprintk are early parameters taken in order, so the early
 *    console replays nothing.
 *  - earlyprintk=serial,ttyS0,keep: printk's only console, the early UART
 *    writer, kept after boot (keep); it polls LSR and writes THR, so a
 *    panic costs exits but a boot does not. It has no tty, so /dev/console
 *    cannot be opened and init's own output goes nowhere (the agent falls
 *    back to /dev/null).
 *  - console=null: no other console is enabled by default (it names
 *    ttynull, which our kernel lacks).
 *  - 8250.nr_uarts=0: the 8250 driver probes and programs no UART, which
 *    saved its probe's and termios's port accesses; the early writer
 *    programs COM1 itself.
 */
static const char vm_quiet_cmdline[] = "loglevel=1 earlyprintk=serial,ttyS0,keep console=null "
                                       "8250.nr_uarts=0 reboot=k panic=-1 no_timer_check";

int vm_init(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	if (!vm->cfg.cmdline)
		vm->cfg.cmdline = vm->cfg.quiet ? vm_quiet_cmdline : vm_default_cmdline;
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->signal_fd = -1;
	vm->mem.memfd = -1;
	for (unsigned int i = 0; i < VM_MAX_DISKS; i++)
		vm->disk_lock_fds[i] = -1;
	bus_init(&vm->pio);
	bus_init(&vm->mmio);
	timeline_init(&vm->tl);
	if (vm->cfg.count_insns)
		timeline_insns_start(&vm->tl);
	timeline_mark(&vm->tl, TL_START);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return -errno;
	return vcpu_slots_new(vm, vm->cfg.nr_cpus ? vm->cfg.nr_cpus : 1);
}

/*
 * vm_check_disks: every --disk opens as asked, before /dev/kvm is touched,
 * so a bad path is one clear line, and is locked (vm_disk_lock.c) for as
 * long as the VM lives: the descriptors stay in vm->disk_lock_fds. The
 * devices open the images again later.
 */
static int vm_check_disks(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->cfg.nr_disks; i++) {
		const struct blk_params *d = &vm->cfg.disks[i];
		struct stat st;
		char who[128];
		int fd = open(d->path, (d->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC), err;

		if (fd < 0) {
			fprintf(stderr, "kvmbox: --disk %s: %s\n", d->path, strerror(errno));
			return -errno;
		}
		vm->disk_lock_fds[i] = fd;
		if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ||
		    (S_ISREG(st.st_mode) && st.st_size < 512)) {
			fprintf(stderr,
			        "kvmbox: --disk %s: not a disk image of at least 512 bytes\n",
			        d->path);
			return -EINVAL;
		}
		err = vm_disk_lock(fd, d->read_only, who, sizeof(who));
		if (err == -EAGAIN) {
			fprintf(stderr,
			        "kvmbox: --disk %s: in use by %s: it cannot be %s (give ro to "
			        "every user of it to share it read-only)\n",
			        d->path, who,
			        d->read_only ? "read while it is written" : "written while in use");
			return -EBUSY;
		}
		if (err) {
			fprintf(stderr, "kvmbox: --disk %s: cannot lock it: %s\n", d->path,
			        strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * vm_check_shares: every shared folder is a folder we can open, before
 * /dev/kvm is touched. The devices open them again later.
 */
static int vm_check_shares(const struct vm *vm)
{
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		const char *path = vm->cfg.shares[i].path;
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			int err = -errno;

			fprintf(stderr, "kvmbox: shared folder %s: %s\n", path,
			        err == -ENOTDIR ? "not a folder" : strerror(-err));
			return err;
		}
		close(fd);
	}
	return 0;
}

/*
 * vm_full_cmdline: the configured command line with the devices'
 * parameters among the kernel's own, before any "--" of the user's, which
 * would make them init's arguments and hide the devices from the kernel.
 */
static int vm_full_cmdline(const struct vm *vm, char **out)
{
	char devs[1024];
	int err = vm_devices_cmdline(vm, devs, sizeof(devs));

	if (err)
		return err;
	return boot_cmdline_insert(vm->cfg.cmdline, devs, out);
}

/*
 * vm_load: guest RAM, then the kernel, initrd, zero page, page tables and MP
 * table in it. Needs no KVM, so every bad input is refused before /dev/kvm
 * is opened. Returns 0 or -errno after one message saying what was wrong.
 */
int vm_load(struct vm *vm)
{
	uint64_t ram = vm->cfg.mem_mib << 20;
	uint64_t kernel_size = 0, initrd_size = 0;
	int kernel_fd = -1, initrd_fd = -1;
	struct boot_params_info info;
	char *cmdline = NULL;
	int err;

	err = gmem_init(&vm->mem, ram, vm->cfg.hugepages);
	if (err == -ENOMEM && vm->cfg.hugepages) {
		fprintf(stderr,
		        "kvmbox: --hugepages: fewer than %llu free 2 MiB huge pages for %llu MiB "
		        "of guest memory (see HugePages_Free in /proc/meminfo, "
		        "/proc/sys/vm/nr_hugepages)\n",
		        (unsigned long long)(ram >> 21), (unsigned long long)vm->cfg.mem_mib);
		return err;
	}
	if (err) {
		fprintf(stderr, "kvmbox: cannot allocate %llu MiB of guest memory%s: %s\n",
		        (unsigned long long)vm->cfg.mem_mib,
		        vm->cfg.hugepages ? " in hugepages" : "", strerror(-err));
		return err;
	}
	vm->tl.memory_backing = vm->mem.backing;
	/* The kernel goes from its file straight into guest memory. */
	err = vm_open_file("kernel", vm->cfg.kernel_path,
	                   ram < VM_MAX_KERNEL_SIZE ? ram : VM_MAX_KERNEL_SIZE, &kernel_fd,
	                   &kernel_size);
	if (err)
		return err;
	err = boot_image_load_fd(&vm->mem, kernel_fd, kernel_size, &vm->image);
	close(kernel_fd);
	if (err) {
		fprintf(stderr, "kvmbox: kernel %s: %s\n", vm->cfg.kernel_path,
		        err == -ENOEXEC
		            ? "not a bootable x86-64 Linux kernel (bzImage or ELF vmlinux)"
		        : err == -EINVAL                  ? "truncated or corrupt kernel image"
		        : err == -ENOMEM || err == -E2BIG ? "does not fit in guest memory"
		        : err == -EIO                     ? "the file shrank while it was read"
		                                          : strerror(-err));
		return err;
	}
	/* The initrd too: its room is chosen first, then it is read into it. */
	if (vm->cfg.initrd_path) {
		err = vm_open_file("initrd", vm->cfg.initrd_path, ram, &initrd_fd, &initrd_size);
		if (err)
			return err;
	}
	err = vm_check_disks(vm);
	if (!err)
		err = vm_check_shares(vm);
	if (!err)
		err = vm_full_cmdline(vm, &cmdline);
	if (!err && strlen(cmdline) > boot_cmdline_limit(&vm->image)) {
		fprintf(stderr,
		        "kvmbox: the kernel command line is too long: %zu bytes, this kernel "
		        "takes at most %llu (--cmdline, --append and kvmbox's own parameters)\n",
		        strlen(cmdline), (unsigned long long)boot_cmdline_limit(&vm->image));
		err = -E2BIG;
	}
	if (err) {
		if (initrd_fd >= 0)
			close(initrd_fd);
		free(cmdline);
		return err;
	}
	err = boot_params_setup(&vm->mem, &vm->image, cmdline, NULL, initrd_size, &info);
	free(cmdline);
	vm->zero_page = info.zero_page_gpa;
	if (err) {
		if (initrd_fd >= 0)
			close(initrd_fd);
		/* The command line's length was checked above: E2BIG is the
		 * initrd's (over the 32-bit ramdisk_size). */
		if ((err == -E2BIG || err == -ENOSPC) && vm->cfg.initrd_path)
			fprintf(stderr,
			        "kvmbox: the initrd %s is too large for the kernel or for "
			        "%llu MiB of memory\n",
			        vm->cfg.initrd_path, (unsigned long long)vm->cfg.mem_mib);
		else
			fprintf(stderr, "kvmbox: cannot build the boot parameters: %s\n",
			        strerror(-err));
		return err;
	}
	if (initrd_fd >= 0) {
		/* boot_params_setup checked the room against guest RAM. */
		err = vm_read_at(initrd_fd, gmem_ptr(&vm->mem, info.initrd_gpa, initrd_size),
		                 initrd_size);
		close(initrd_fd);
		if (err) {
			fprintf(stderr, "kvmbox: reading initrd %s: %s\n", vm->cfg.initrd_path,
			        err == -EIO ? "the file shrank while it was read" : strerror(-err));
			return err;
		}
	}
	err = boot_cpu_write_tables(&vm->mem);
	if (!err)
		err = mptable_write(&vm->mem, vm->cfg.nr_cpus);
	if (err) {
		fprintf(stderr, "kvmbox: cannot write the boot tables: %s\n", strerror(-err));
		return err;
	}
	timeline_mark(&vm->tl, TL_LOADED);
	return 0;
}

/* Descriptors kept for the VMM itself: the process's own, 2 per vCPU, the
 * control clients' 3 each (the vsock end of their agent stream included:
 * VSOCK_LOCAL_RESERVE), the published ports' listeners (their clients are
 * vsock connections, within max_conns), the devices' eventfds, and slack. */
#define VM_FD_BASE(vm)                                                                             \
	(64u + 2u * (vm)->cfg.nr_cpus + 3u * CONTROL_MAX_CONNS + CONTROL_MAX_PORTS +               \
	 4u * VM_MAX_VIRTIO)
/* The least each shared folder's server is given. */
#define VM_FD_MIN_SHARE 64u
/* The least vsock connections worth offering the guest and host clients. */
#define VM_FD_MIN_VSOCK 16u

_Static_assert(VSOCK_LOCAL_RESERVE >= CONTROL_MAX_CONNS + 1,
               "every control client, and the VMM's metrics stream, needs a vsock slot of its own");

/*
 * vm_size_fds: raise the soft RLIMIT_NOFILE to the hard one, then share it
 * out: first what the VMM needs for itself (VM_FD_BASE), then the vsock
 * device's guest and host-client connections (its max_conns, lowered to
 * what fits, so that a guest that opens connections without end gets RSTs
 * and never takes the control socket's descriptors), then each shared
 * folder's FUSE server its part of what is left, so that a guest that
 * never forgets an inode fills its own tables (ENFILE in the guest). A
 * device that was given limits keeps them.
 */
void vm_size_fds(struct vm *vm)
{
	struct rlimit rl;
	uint64_t left, each, conns = 0, floor;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return;
	}
	left = rl.rlim_cur > VM_FD_BASE(vm) ? rl.rlim_cur - VM_FD_BASE(vm) : 0;
	if (vm->cfg.vsock.uds_path) {
		conns = vm->cfg.vsock.max_conns ? vm->cfg.vsock.max_conns
		                                : VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE;
		floor = (uint64_t)VM_FD_MIN_SHARE * vm->cfg.nr_shares;
		if (conns + floor > left) {
			conns = left > floor + VM_FD_MIN_VSOCK ? left - floor : VM_FD_MIN_VSOCK;
			fprintf(stderr,
			        "kvmbox: RLIMIT_NOFILE %llu: at most %llu vsock connections "
			        "from the guest and host clients\n",
			        (unsigned long long)rl.rlim_cur, (unsigned long long)conns);
		}
		vm->cfg.vsock.max_conns = (unsigned int)conns;
	}
	if (!vm->cfg.nr_shares)
		return;
	left = left > conns ? left - conns : 0;
	each = left / vm->cfg.nr_shares;
	if (each < 256)
		fprintf(stderr,
		        "kvmbox: only %llu file descriptors for each shared folder "
		        "(RLIMIT_NOFILE %llu): the guest will see ENFILE early\n",
		        (unsigned long long)each, (unsigned long long)rl.rlim_cur);
	if (each < VM_FD_MIN_SHARE)
		each = VM_FD_MIN_SHARE;
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		struct vfs_params *sh = &vm->cfg.shares[i];
		uint64_t handles =
		    each / 16 < FUSE_SRV_MAX_HANDLES ? each / 16 : FUSE_SRV_MAX_HANDLES;
		uint64_t inodes = each - handles - 3;

		if (sh->max_inodes || sh->max_handles)
			continue;
		sh->max_handles = (uint32_t)(handles ? handles : 1);
		sh->max_inodes =
		    (uint32_t)(inodes < FUSE_SRV_MAX_INODES ? inodes : FUSE_SRV_MAX_INODES);
	}
}

/*
 * vm_create: /dev/kvm, the VM, its devices and vCPUs. Returns 0 or -errno
 * after a message.
 */
int vm_create(struct vm *vm)
{
	int err, max;

	err = loop_init(&vm->loop, VM_LOOP_ENTRIES);
	if (err) {
		fprintf(stderr, "kvmbox: io_uring: %s\n", strerror(-err));
		return err;
	}
	err = kvm_open_checked(&vm->kvm_fd);
	if (err)
		return err;
	max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->cfg.nr_cpus > (unsigned int)max) {
		fprintf(stderr, "kvmbox: --cpus %u: this KVM allows at most %d\n", vm->cfg.nr_cpus,
		        max);
		return -EINVAL;
	}
	err = kvm_supported_cpuid(vm->kvm_fd, &vm->supported_cpuid);
	if (err) {
		fprintf(stderr, "kvmbox: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(-err));
		return err;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		cpuid_add_tsc_deadline(vm->supported_cpuid);
	err = kvm_create_vm(vm);
	if (err)
		return err;
	vm_size_fds(vm);
	err = vm_devices_add(vm);
	if (err)
		return err;
	err = vm_control_init(vm, vm->cfg.control_path);
	if (err) {
		fprintf(stderr, "kvmbox: --control %s: %s\n", vm->cfg.control_path,
		        err == -EADDRINUSE ? "another program listens there already"
		        : err == -EEXIST   ? "a file that is not a socket is there already"
		                           : strerror(-err));
		return err;
	}
	if (vm->cfg.nr_cpus > vm->nr_vcpu_slots)
		return -EINVAL; /* vm_init made room for cfg.nr_cpus */
	vm->nr_vcpus = vm->cfg.nr_cpus;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		err = vcpu_create(vm, i);
		if (err)
			return err;
	}
	err = vm_confine_build(vm);
	if (err)
		return err;
	timeline_mark(&vm->tl, TL_VM_CREATED);
	return 0;
}

void vm_request_stop(struct vm *vm, int status)
{
	bool expected = false;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->stopping, &expected, true))
		return;
	atomic_store(&vm->exit_status, status);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0) {
		/* Cannot fail for an eventfd below its maximum count. */
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

/* vm_on_signal: SIGINT, SIGTERM or SIGHUP arrived on the signalfd. */
static void vm_on_signal(void *opaque, int res, bool more)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)more;
	if (res < 0 || read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	fprintf(stderr, "kvmbox: stopping on signal %u\n", si.ssi_signo);
	vm_request_stop(vm, 128 + (int)si.ssi_signo);
}

/* vm_on_stop: a vCPU asked to stop; vm->stopping is already set. */
static void vm_on_stop(void *opaque, int res, bool more)
{
	struct vm *vm = opaque;
	uint64_t v;

	(void)res;
	(void)more;
	if (read(vm->stop_fd, &v, sizeof(v)) < 0) {
		/* Nothing to drain: the flag is what matters. */
	}
}

/* vm_on_stdin: host input for the guest's UART, while it is a terminal. */
static void vm_on_stdin(void *opaque, int res, bool more)
{
	struct vm *vm = opaque;
	uint8_t buf[256];
	ssize_t n;

	(void)more;
	if (res < 0 || vm->stdin_closed)
		return;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			vm->stdin_closed = true;
		return;
	}
	/* The UART's FIFO is small; what it cannot take now is dropped, as on a
	 * real line without flow control. */
	serial_rx(&vm->serial, buf, (size_t)n);
}

/*
 * vm_on_lost_poll: the loop gave up on a poll that failed each time it was
 * re-armed (loop.report). Whatever fd it was (the signalfd, the stop
 * eventfd, a device queue's ioeventfd), the VM can no longer be served
 * as it should: say which, and stop rather than hang without a word.
 */
static void vm_on_lost_poll(void *opaque, const struct loop_op *op, int err)
{
	struct vm *vm = opaque;

	fprintf(stderr, "kvmbox: event loop: polling fd %d keeps failing (%s); stopping the VM\n",
	        op->fd, strerror(-err));
	vm_request_stop(vm, VM_EXIT_ERROR);
}

/*
 * vm_wait: the main thread's event loop until a stop: SIGINT/SIGTERM/SIGHUP, a stop
 * request from a vCPU, and console input. Returns 0 or -errno.
 */
static int vm_wait(struct vm *vm)
{
	int err;

	vm->op_signal = (struct loop_op){ .cb = vm_on_signal, .opaque = vm };
	vm->op_stop = (struct loop_op){ .cb = vm_on_stop, .opaque = vm };
	vm->op_stdin = (struct loop_op){ .cb = vm_on_stdin, .opaque = vm };
	vm->loop.report = vm_on_lost_poll;
	vm->loop.report_opaque = vm;
	err = loop_poll(&vm->loop, vm->signal_fd, POLLIN, &vm->op_signal);
	if (!err)
		err = loop_poll(&vm->loop, vm->stop_fd, POLLIN, &vm->op_stop);
	if (!err && vm->cfg.console_input)
		err = loop_poll(&vm->loop, STDIN_FILENO, POLLIN, &vm->op_stdin);
	while (!err && !atomic_load(&vm->stopping)) {
		err = loop_run_once(&vm->loop);
		if (err == -EINTR)
			err = 0;
	}
	return err;
}

int vm_run(struct vm *vm)
{
	sigset_t stop;
	int err;

	/* SIGHUP too: a closed terminal must not end us without the clean-up
	 * (the control socket, the private folder) that a stop does. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	vm->signal_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0) {
		fprintf(stderr, "kvmbox: signalfd: %s\n", strerror(errno));
		return VM_EXIT_ERROR;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		err = vcpu_start(&vm->vcpus[i]);
		if (err) {
			fprintf(stderr, "kvmbox: cannot start vCPU %u: %s\n", i, strerror(-err));
			vm_request_stop(vm, VM_EXIT_ERROR);
			break;
		}
	}
	/* After the vCPU threads exist (each entered its own filter: this
	 * one's would be theirs too) and before the loop serves anything;
	 * the teardown below runs under it as well. */
	err = vm_confine_enter(vm, CONFINE_MAIN);
	if (!err)
		err = vm_wait(vm);
	if (err) {
		fprintf(stderr, "kvmbox: event loop: %s\n", strerror(-err));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	timeline_mark(&vm->tl, TL_EXIT);
	/* KVM's own counters, in-kernel exits included, before the fds go. */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		kvm_collect_stats(vm->vcpus[i].stats_fd, &vm->tl);
	if (vm->serial_ready)
		serial_flush(&vm->serial);
	vm_devices_report(vm, atomic_load(&vm->exit_status));
	return atomic_load(&vm->exit_status);
}

void vm_destroy(struct vm *vm)
{
	vcpu_slots_free(vm);
	/* The ring first: no completion may run once the devices are gone. */
	loop_destroy(&vm->loop);
	control_destroy(&vm->control);
	vm_devices_destroy(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	for (unsigned int i = 0; i < VM_MAX_DISKS; i++) {
		/* Closing the descriptor releases its image's lock. */
		if (vm->disk_lock_fds[i] >= 0)
			close(vm->disk_lock_fds[i]);
		vm->disk_lock_fds[i] = -1;
	}
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	vm->vm_fd = vm->kvm_fd = vm->stop_fd = vm->signal_fd = -1;
	free(vm->supported_cpuid);
	vm->supported_cpuid = NULL;
	gmem_destroy(&vm->mem);
	confine_free(&vm->confine);
	timeline_insns_stop(&vm->tl);
}

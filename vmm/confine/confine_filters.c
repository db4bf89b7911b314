// SPDX-License-Identifier: MIT
/*
 * confine_filters: the allow-list of each thread kind (confine.h), and the
 * capabilities each kind keeps. docs/security.md summarises them; a call
 * added to the VMM's run-time paths must be added here, or the e2e suite,
 * which runs in kill mode, finds the VMM dead of SIGSYS.
 *
 * Every list is the calls a thread makes once set-up is done: the set-up
 * itself (opening files, KVM_CREATE_*, memfd, io_uring_setup, dlopen,
 * spawning passt) happens before any filter, so none of it is here.
 */
#define _GNU_SOURCE
#include "vmm/confine/confine_int.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* The xattr calls on a descriptor and a name (Linux 6.13), which
 * libseccomp 2.5 cannot name; fuse_ops_xattr.c falls back from them. */
#define CONFINE_NR_SETXATTRAT    463
#define CONFINE_NR_GETXATTRAT    464
#define CONFINE_NR_LISTXATTRAT   465
#define CONFINE_NR_REMOVEXATTRAT 466

#define ALLOW(nr) SCMP_SYS(nr)

/* ARG(N, OP, A[, B]): a rule on argument N. libseccomp's SCMP_A0..5 leave
 * datum_b out when the comparison needs one datum, which clang's
 * -Wmissing-field-initializers refuses under -Werror. */
#define ARG(n, op, ...) ARG_(n, op, __VA_ARGS__, 0, 0)
#define ARG_(n, cmp, a, b, ...)                                                                    \
	((struct scmp_arg_cmp){ .arg = (n), .op = (cmp), .datum_a = (a), .datum_b = (b) })

/* Every thread: glibc's own (malloc, locks, stdio, time, abort). */
static const int confine_base[] = {
	ALLOW(read),
	ALLOW(write),
	ALLOW(readv),
	ALLOW(writev),
	ALLOW(close),
	ALLOW(futex),
	ALLOW(brk),
	ALLOW(munmap),
	ALLOW(madvise),
	ALLOW(mremap),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW(clock_gettime),
	ALLOW(clock_getres),
	ALLOW(gettimeofday),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(getrandom),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW(fstat),
	ALLOW(newfstatat),
	ALLOW(lseek),
	ALLOW(sched_yield),
	ALLOW(restart_syscall),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	ALLOW(sched_getaffinity),
	ALLOW(getuid),
	ALLOW(geteuid),
	ALLOW(getgid),
	ALLOW(getegid),
	ALLOW(fcntl),
	ALLOW(rt_sigaction),
	ALLOW(poll),
	ALLOW(ppoll),
	ALLOW(membarrier),
};

/* The main thread: the event loop and every handler it runs. */
static const int confine_main[] = {
	ALLOW(io_uring_enter),
	ALLOW(mincore), /* gmem_touched, for "status" */
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(preadv),
	ALLOW(pwritev),
	ALLOW(openat),
	ALLOW(statx),
	ALLOW(readlinkat),
	ALLOW(readlink),
	ALLOW(getdents64),
	ALLOW(unlink),
	ALLOW(unlinkat),
	ALLOW(rmdir),
	ALLOW(fchmodat),
	ALLOW(chmod),
	ALLOW(fchmod),
	ALLOW(ftruncate),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(dup),
	ALLOW(dup3),
	ALLOW(pipe2),
	ALLOW(eventfd2),
	ALLOW(accept4),
	ALLOW(accept),
	ALLOW(connect),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	ALLOW(sendto),
	ALLOW(recvfrom),
	ALLOW(sendmmsg),
	ALLOW(recvmmsg),
	ALLOW(shutdown),
	ALLOW(epoll_ctl),
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	ALLOW(timerfd_settime),
	ALLOW(timerfd_gettime),
	ALLOW(timerfd_create),
	ALLOW(getrusage),
	ALLOW(sysinfo),
	ALLOW(uname),
	ALLOW(umask),
	ALLOW(getcwd),
	ALLOW(prlimit64),
	ALLOW(getppid),
	ALLOW(sched_setaffinity),
};

/* A vCPU: KVM_RUN, the exits handled inline (a device's registers, a
 * reset that closes descriptors and re-arms polls), console output. */
static const int confine_vcpu[] = {
	ALLOW(io_uring_enter),
	ALLOW(shutdown),
	ALLOW(pread64),
};

/* A virtio-fs worker: the FUSE server (virtio/fs.h, "Sandboxing"). */
static const int confine_fs[] = {
	ALLOW(openat),
	ALLOW(openat2),
	ALLOW(newfstatat),
	ALLOW(statx),
	ALLOW(fstatfs),
	ALLOW(statfs),
	ALLOW(readlinkat),
	ALLOW(symlinkat),
	ALLOW(mknodat),
	ALLOW(mkdirat),
	ALLOW(unlinkat),
	ALLOW(renameat2),
	ALLOW(renameat),
	ALLOW(linkat),
	ALLOW(fchownat),
	ALLOW(fchown),
	ALLOW(fchmodat),
	ALLOW(fchmod),
	ALLOW(utimensat),
	ALLOW(ftruncate),
	ALLOW(preadv),
	ALLOW(pwritev),
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(fallocate),
	ALLOW(copy_file_range),
	ALLOW(getdents64),
	ALLOW(syncfs),
	ALLOW(getxattr),
	ALLOW(setxattr),
	ALLOW(listxattr),
	ALLOW(removexattr),
	ALLOW(lgetxattr),
	ALLOW(lsetxattr),
	ALLOW(llistxattr),
	ALLOW(lremovexattr),
	ALLOW(fgetxattr),
	ALLOW(fsetxattr),
	ALLOW(flistxattr),
	ALLOW(fremovexattr),
	ALLOW(faccessat),
	ALLOW(faccessat2),
	ALLOW(flock),
	ALLOW(dup),
	ALLOW(umask),
	CONFINE_NR_SETXATTRAT,
	CONFINE_NR_GETXATTRAT,
	CONFINE_NR_LISTXATTRAT,
	CONFINE_NR_REMOVEXATTRAT,
};

/* The in-process client of `kvmbox run -- CMD`: one control connection,
 * stdin, stdout and stderr. */
static const int confine_client[] = {
	ALLOW(recvmsg), ALLOW(sendmsg), ALLOW(recvfrom), ALLOW(sendto), ALLOW(shutdown),
};

/* Terminal queries of stdio (isatty, window size). */
static const unsigned long confine_tty_ioctls[] = { TCGETS, TIOCGWINSZ };

/* What a vCPU asks of KVM after set-up: run, the registers for a fatal
 * exit's dump, an interrupt line (the UART's, the i8042's). */
static const unsigned long confine_vcpu_ioctls[] = { KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS,
	                                             KVM_IRQ_LINE };

static int confine_add_list(scmp_filter_ctx ctx, const int *nrs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);

		/* A call this libseccomp cannot name on this architecture
		 * (negative pseudo number) is one no thread can make here. */
		if (err && err != -EDOM && err != -EFAULT)
			return err;
	}
	return 0;
}

#define ADD_LIST(ctx, a) confine_add_list(ctx, a, sizeof(a) / sizeof(a[0]))

/* confine_ioctls: ioctl(2) for these request numbers only. The kernel
 * takes the request as 32 bits (unsigned int cmd): compared so. */
static int confine_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                           ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, reqs[i]));

		if (err)
			return err;
	}
	return 0;
}

#define ADD_IOCTLS(ctx, a) confine_ioctls(ctx, a, sizeof(a) / sizeof(a[0]))

/*
 * confine_memory: mmap and mprotect, never with PROT_EXEC: once set-up is
 * done (libslirp dlopened) no thread maps new code, and malloc's and
 * thread stacks' mappings are never executable.
 */
static int confine_memory(scmp_filter_ctx ctx)
{
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	                           ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));

	return err ? err
	           : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	                              ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
}

/* confine_signals: tgkill and tkill to our own threads only (pthread_kill
 * kicks a vCPU; abort raises SIGABRT at itself). */
static int confine_signals(scmp_filter_ctx ctx, const struct confine_needs *needs)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	                        ARG(0, SCMP_CMP_EQ, (scmp_datum_t)needs->tgid));
}

/* confine_sockets: socket(2) and socketpair(2) by domain and type (the
 * type's low bits: SOCK_NONBLOCK and SOCK_CLOEXEC ride above them). */
static int confine_sockets(scmp_filter_ctx ctx, const struct confine_needs *needs)
{
	/* Unix: the control socket's clients, vsock's host side, ports. */
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	                           ARG(0, SCMP_CMP_EQ, AF_UNIX));

	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
		                       ARG(0, SCMP_CMP_EQ, AF_UNIX));
	/* TCP: published ports listen (a port may be published at run time);
	 * libslirp connects the guest's streams. */
	for (int dom = AF_INET; !err && dom <= AF_INET6; dom += AF_INET6 - AF_INET) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
		                       ARG(0, SCMP_CMP_EQ, (scmp_datum_t)dom),
		                       ARG(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
		/* libslirp: UDP, and ICMP echo through datagram sockets. */
		if (!err && needs->net_slirp)
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
			                       ARG(0, SCMP_CMP_EQ, (scmp_datum_t)dom),
			                       ARG(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM));
	}
	return err;
}

/*
 * confine_threads: clone(2) only for a thread (CLONE_THREAD set), never a
 * process; clone3 answers ENOSYS, as its flags lie in memory a filter
 * cannot read, and glibc then falls back to clone.
 */
static int confine_threads(scmp_filter_ctx ctx)
{
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	                           ARG(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));

	return err ? err : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

static int confine_rules_main(scmp_filter_ctx ctx, const struct confine_needs *needs)
{
	int err = ADD_LIST(ctx, confine_main);

	if (!err)
		err = confine_sockets(ctx, needs);
	if (!err)
		err = confine_threads(ctx);
	if (!err)
		err = ADD_IOCTLS(ctx, confine_tty_ioctls);
	/* The UART's and i8042's interrupt line from console input. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                       ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, KVM_IRQ_LINE));
	/* libslirp asks how much a datagram socket holds. */
	if (!err && needs->net_slirp)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                       ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, FIONREAD));
	if (!err && needs->net_tap)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                       ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TUNSETOFFLOAD));
	/* passt is stopped at the end: SIGTERM, then SIGKILL, and reaped. */
	if (!err && needs->net_passt)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		                       ARG(1, SCMP_CMP_EQ, SIGTERM));
	if (!err && needs->net_passt)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		                       ARG(1, SCMP_CMP_EQ, SIGKILL));
	if (!err && needs->net_passt)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
	return err;
}

static int confine_rules_vcpu(scmp_filter_ctx ctx, const struct confine_needs *needs)
{
	int err = ADD_LIST(ctx, confine_vcpu);

	if (!err)
		err = ADD_IOCTLS(ctx, confine_vcpu_ioctls);
	/* The guest sets the net device's offloads on the tap as it starts. */
	if (!err && needs->net_tap)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                       ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TUNSETOFFLOAD));
	return err;
}

int confine_rules(scmp_filter_ctx ctx, enum confine_kind kind, const struct confine_needs *needs)
{
	int err = ADD_LIST(ctx, confine_base);

	if (!err)
		err = confine_memory(ctx);
	if (!err)
		err = confine_signals(ctx, needs);
	if (err)
		return err;
	switch (kind) {
	case CONFINE_MAIN:
		return confine_rules_main(ctx, needs);
	case CONFINE_VCPU:
		return confine_rules_vcpu(ctx, needs);
	case CONFINE_FS_WORKER:
		return ADD_LIST(ctx, confine_fs);
	case CONFINE_CLIENT:
		err = ADD_LIST(ctx, confine_client);
		return err ? err : ADD_IOCTLS(ctx, confine_tty_ioctls);
	default:
		return -EINVAL;
	}
}

/*
 * confine_kind_caps: a virtio-fs worker serving as root keeps what a
 * passthrough file server needs to act for the guest's owners and modes
 * (the set virtiofsd keeps, less what this server never does: no setfsuid,
 * so no SETUID or SETGID): CHOWN (fchownat to the guest's uid and gid),
 * DAC_OVERRIDE and DAC_READ_SEARCH (files the guest's root may open),
 * FOWNER (modes and times of files root does not own), FSETID (keep
 * set-id bits on writes and chmod), MKNOD (device nodes), SETFCAP
 * (security.capability xattrs), and SYS_ADMIN for one thing only: the
 * guest's trusted.* xattrs (xattr(7); its overlays keep theirs there),
 * since the worker's filter leaves it no mount, ioctl, bpf or any other
 * call SYS_ADMIN would open. Every other thread keeps none.
 */
uint64_t confine_kind_caps(enum confine_kind kind, const struct confine_needs *needs)
{
	if (kind != CONFINE_FS_WORKER || !needs->fs_shares)
		return 0;
	return 1ull << CAP_CHOWN | 1ull << CAP_DAC_OVERRIDE | 1ull << CAP_DAC_READ_SEARCH |
	       1ull << CAP_FOWNER | 1ull << CAP_FSETID | 1ull << CAP_MKNOD | 1ull << CAP_SETFCAP |
	       1ull << CAP_SYS_ADMIN;
}

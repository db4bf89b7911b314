// SPDX-License-Identifier: MIT
/*
 * confine_seccomp: each kind's allow-list built with libseccomp, exported
 * once as a BPF program, and loaded by each thread for itself (confine.h).
 *
 * Why export rather than seccomp_load in every thread: seccomp_load
 * generates the program anew in the calling thread (allocations, and a
 * context shared between threads), while a prebuilt program is read-only
 * and loads with one system call (seccomp(2), SECCOMP_SET_MODE_FILTER,
 * without SECCOMP_FILTER_FLAG_TSYNC: each thread kind has its own).
 */
#define _GNU_SOURCE
#include "vmm/confine/confine_int.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const confine_mode_names[] = { "kill", "log", "off", "trap" };
static const char *const confine_kind_names[] = { "main", "vcpu", "fs-worker", "client" };

int confine_parse_mode(const char *s, enum confine_mode *mode)
{
	for (unsigned int i = 0; i < sizeof(confine_mode_names) / sizeof(confine_mode_names[0]);
	     i++) {
		if (strcmp(s, confine_mode_names[i]) == 0) {
			*mode = (enum confine_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *confine_mode_name(enum confine_mode mode)
{
	return (unsigned int)mode < 4 ? confine_mode_names[mode] : "?";
}

const char *confine_kind_name(enum confine_kind kind)
{
	return (unsigned int)kind < CONFINE_NR_KINDS ? confine_kind_names[kind] : "?";
}

/* confine_export: ctx as a BPF program (through a memfd: libseccomp 2.5
 * exports to a descriptor only). 0 or -errno. */
static int confine_export(scmp_filter_ctx ctx, struct sock_filter **prog, unsigned short *len)
{
	int fd = memfd_create("kvmbox-seccomp", MFD_CLOEXEC), err;
	off_t size;

	if (fd < 0)
		return -errno;
	err = seccomp_export_bpf(ctx, fd);
	size = err ? 0 : lseek(fd, 0, SEEK_CUR);
	if (!err && (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
	             size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS))
		err = -E2BIG;
	if (!err) {
		*prog = malloc((size_t)size);
		if (!*prog)
			err = -ENOMEM;
		else if (pread(fd, *prog, (size_t)size, 0) != size)
			err = -EIO;
		*len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	}
	close(fd);
	return err;
}

/* confine_build_kind: one kind's filter. 0 or -errno. */
static int confine_build_kind(struct confine *c, enum confine_kind kind,
                              const struct confine_needs *needs)
{
	uint32_t act = c->mode == CONFINE_LOG    ? SCMP_ACT_LOG
	               : c->mode == CONFINE_TRAP ? SCMP_ACT_TRAP
	                                         : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = seccomp_init(act);
	int err;

	if (!ctx)
		return -ENOMEM;
	/* A call from another ABI (i386 int 0x80) is refused whatever the mode. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!err)
		err = confine_rules(ctx, kind, needs);
	if (!err)
		err = confine_export(ctx, &c->prog[kind], &c->len[kind]);
	seccomp_release(ctx);
	return err;
}

int confine_build(struct confine *c, enum confine_mode mode, const struct confine_needs *needs)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->mode = mode;
	err = confine_limits();
	if (err) {
		fprintf(stderr, "kvmbox: RLIMIT_CORE: %s\n", strerror(-err));
		return err;
	}
	for (unsigned int k = 0; k < CONFINE_NR_KINDS; k++) {
		c->keep_caps[k] = confine_kind_caps((enum confine_kind)k, needs);
		if (mode == CONFINE_OFF)
			continue;
		err = confine_build_kind(c, (enum confine_kind)k, needs);
		if (err) {
			fprintf(stderr, "kvmbox: seccomp filter for the %s thread: %s\n",
			        confine_kind_names[k], strerror(-err));
			confine_free(c);
			return err;
		}
	}
	c->built = true;
	return 0;
}

/*
 * confine_trap_report: the SIGSYS of trap mode: "kvmbox: seccomp: system
 * call N refused" on stderr, then the process ends as kill mode would
 * end it (status 128 + SIGSYS). Only async-signal-safe calls.
 */
static void confine_trap_report(int sig, siginfo_t *si, void *uc)
{
	char msg[64] = "kvmbox: seccomp: system call ";
	size_t n = strlen(msg);
	char digits[12];
	int d = 0, nr = si->si_syscall;

	(void)uc;
	do {
		digits[d++] = (char)('0' + nr % 10);
		nr /= 10;
	} while (nr && d < (int)sizeof(digits));
	while (d)
		msg[n++] = digits[--d];
	memcpy(msg + n, " refused\n", 9);
	if (write(STDERR_FILENO, msg, n + 9) < 0) {
		/* Nothing more to tell. */
	}
	_exit(128 + sig);
}

int confine_enter(const struct confine *c, enum confine_kind kind)
{
	struct sock_fprog fprog;
	int err;

	if (!c->built || (unsigned int)kind >= CONFINE_NR_KINDS)
		return 0;
	err = confine_caps_drop(c->keep_caps[kind]);
	if (err)
		return err;
	/* Needed to load a filter without CAP_SYS_ADMIN, and wanted anyway:
	 * nothing this thread runs can gain privileges (prctl(2)). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (!c->prog[kind])
		return 0;
	if (c->mode == CONFINE_TRAP) {
		struct sigaction sa = { .sa_sigaction = confine_trap_report,
			                .sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return -errno;
	}
	fprog = (struct sock_fprog){ .len = c->len[kind], .filter = c->prog[kind] };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return -errno;
	return 0;
}

void confine_free(struct confine *c)
{
	for (unsigned int k = 0; k < CONFINE_NR_KINDS; k++) {
		free(c->prog[k]);
		c->prog[k] = NULL;
	}
	c->built = false;
}

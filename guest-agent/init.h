/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/init: the duties of the agent as the microVM's PID 1.
 *
 * Two kinds of function live here. agent_boot_parse and agent_cmdline_param
 * are pure (they read a kernel command line) and testable anywhere. The
 * agent_init_* functions change the whole machine (mounts, hostname, root,
 * I/O port permissions, power) and only make sense in the guest as PID 1;
 * main() calls them only when getpid() is 1.
 *
 * Reaping is not here: the server's signalfd loop reaps every child,
 * orphans included (guest-agent/server.h).
 */
#ifndef KVMBOX_AGENT_INIT_H
#define KVMBOX_AGENT_INIT_H

#include "guest-agent/server.h"

#include <stddef.h>

#define AGENT_DEBUG_PORT  0x4f0 /* the VMM's debug port (tests/e2e/guest_init.c) */
#define AGENT_DEBUG_READY 0x01
#define AGENT_VSOCK_PORT  1024
#define AGENT_RELAY_PORT  1025 /* published ports' streams (server.h) */

/*
 * What the kernel command line asks of PID 1 (untrusted only by the VMM's
 * user). kvmbox.rootflags= is a comma-separated list like the kernel's
 * rootflags=: "ro" and "rw" become rootflags (the last one wins), the
 * other options go to the file system as rootdata (e.g. "errors=remount-ro").
 * Without "ro" the root is mounted read-write, and read-only if the disk
 * refuses writes (kvmbox run --disk IMG,ro).
 */
struct agent_boot {
	char hostname[65];       /* kvmbox.hostname=, default "kvmbox" */
	char root[256];          /* kvmbox.root=/dev/vda, "" for none */
	char rootfstype[32];     /* kvmbox.rootfstype=, default "ext4" */
	unsigned long rootflags; /* MS_RDONLY from kvmbox.rootflags=ro, else 0 */
	char rootdata[128];      /* the rest of kvmbox.rootflags=, "" for none */
	unsigned int layers;     /* kvmbox.layers=N: root is an image's layers (image_root.h) */
	char upper[64];          /* kvmbox.upper=TAG: their writable layer; "": a tmpfs */
};

/*
 * agent_cmdline_param: the value of name= in cmdline (space separated, the
 * last occurrence wins, as the kernel does) into buf. Returns 0, -ENOENT
 * when absent, -ENAMETOOLONG when it does not fit (buf is then empty).
 */
int agent_cmdline_param(const char *cmdline, const char *name, char *buf, size_t cap);

/* agent_boot_parse: fill boot from cmdline, with the defaults above. */
void agent_boot_parse(const char *cmdline, struct agent_boot *boot);

/* agent_init_read_cmdline: /proc/cmdline into buf (NUL-terminated). PID 1. */
int agent_init_read_cmdline(char *buf, size_t cap);

/*
 * agent_init_mounts: mount /proc, /sys, /dev (devtmpfs), /dev/pts (devpts,
 * ptmxmode=0666), /tmp and /run (tmpfs), creating the directories; a
 * file system already mounted there is kept. PID 1. Returns 0 or the first
 * -errno (after trying all).
 */
int agent_init_mounts(void);

/* agent_init_console: /dev/console as stdin, stdout and stderr. PID 1. */
int agent_init_console(void);

/* agent_init_hostname: sethostname. PID 1. */
int agent_init_hostname(const char *name);

/*
 * agent_init_loopback: bring the loopback interface "lo" up, as init
 * systems do: published ports reach the guest's servers on 127.0.0.1,
 * with or without a network device. 0 or -errno. PID 1.
 */
int agent_init_loopback(void);

/*
 * agent_init_switch_root: mount boot->root (if set) on /newroot, move the
 * API mounts (/proc, /sys, /dev with /dev/pts, /tmp, /run) into it and make
 * it the root, staying PID 1: pivot_root where the old root allows it, else
 * (the initramfs' rootfs cannot be pivoted) MS_MOVE onto / and chroot. A
 * root the disk will not let us write is mounted read-only; its image must
 * then hold every mount point (tools/mk-rootfs). On failure before the
 * switch the API mounts go back and the agent serves from the initramfs.
 * The old initramfs' files are not freed. Returns 0 or -errno.
 */
int agent_init_switch_root(const struct agent_boot *boot);

/* agent_init_ready: write AGENT_DEBUG_READY to the debug port (x86 only). */
int agent_init_ready(void);

/*
 * agent_init_shutdown: SIGKILL every other process, reap them (for at most
 * a second), remount / read-only so that a disk root is left clean, sync,
 * and power off (AGENT_POWEROFF) or reboot (AGENT_REBOOT). Does not return.
 */
__attribute__((noreturn)) void agent_init_shutdown(enum agent_stop how);

#endif

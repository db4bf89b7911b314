/* SPDX-License-Identifier: MIT */
/*
 * confine: the VMM's own confinement once the VM is built (docs/security.md;
 * DESIGN.md, "Security layers", layer 2): a seccomp allow-list per thread
 * kind, the capabilities dropped but for what a device needs at run time,
 * PR_SET_NO_NEW_PRIVS, and no core dumps.
 *
 * Use: the main thread builds every kind's filter once the devices exist
 * (confine_build: they depend on the configuration), then each thread
 * enters its own confinement (confine_enter) before it does any work the
 * guest drives: a vCPU thread before its first KVM_RUN, the main thread
 * before its event loop, a virtio-fs worker before its first request, the
 * `kvmbox run -- CMD` client thread at its start. Seccomp filters,
 * capabilities and the no-new-privs bit are per thread (seccomp(2),
 * capabilities(7)), which is why each thread enters its own; none is
 * loaded with TSYNC. Threads made after a thread entered inherit its
 * filter (clone(2)), and a second filter only narrows the first.
 *
 * Nothing here knows struct vm: the core says what the configuration
 * needs (struct confine_needs) and which thread is which.
 */
#ifndef KVMBOX_VMM_CONFINE_CONFINE_H
#define KVMBOX_VMM_CONFINE_CONFINE_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>

/* The thread kinds, each with its own allow-list (confine_filters.c). */
enum confine_kind {
	CONFINE_MAIN,      /* the event loop: devices' queues, control socket, net backends */
	CONFINE_VCPU,      /* KVM_RUN and the exits handled inline */
	CONFINE_FS_WORKER, /* a virtio-fs worker: the FUSE server's file calls */
	CONFINE_CLIENT,    /* `kvmbox run -- CMD`: the in-process control client */
	CONFINE_NR_KINDS,
};

/* --seccomp: what a call off the list does. */
enum confine_mode {
	CONFINE_KILL, /* the default: SIGSYS kills the whole process */
	CONFINE_LOG,  /* allowed, and logged by the kernel (audit, dmesg) */
	CONFINE_OFF,  /* no filter (capabilities are still dropped) */
	/* Debugging only: as kill, but a SIGSYS handler first names the call
	 * on stderr. A VMM taken over could catch its own SIGSYS, so this is
	 * no confinement: for finding what a list lacks. */
	CONFINE_TRAP,
};

/* What the configuration needs beyond every VM's calls. */
struct confine_needs {
	bool net_tap;   /* --net tap: TUNSETOFFLOAD when the guest sets features */
	bool net_slirp; /* --net user (libslirp): INET datagram sockets, FIONREAD */
	bool net_passt; /* --net passt: passt stopped at the end (kill, wait4) */
	bool fs_shares; /* a virtio-fs device: its workers keep the file capabilities */
	int tgid;       /* getpid(): signals go to our own threads only */
};

struct confine {
	enum confine_mode mode;
	/* Each kind's filter as a BPF program, built once; NULL when off. */
	struct sock_filter *prog[CONFINE_NR_KINDS];
	unsigned short len[CONFINE_NR_KINDS];
	uint64_t keep_caps[CONFINE_NR_KINDS]; /* capability bits each kind keeps */
	bool built;
};

/* confine_parse_mode: "kill", "log" or "off". 0 or -EINVAL. */
__attribute__((warn_unused_result)) int confine_parse_mode(const char *s, enum confine_mode *mode);
const char *confine_mode_name(enum confine_mode mode);
const char *confine_kind_name(enum confine_kind kind);

/*
 * confine_build: every kind's filter for needs, in mode, and the process
 * limits (RLIMIT_CORE 0). On the main thread, after set-up and before any
 * thread enters. 0 or -errno after one message.
 */
__attribute__((warn_unused_result)) int confine_build(struct confine *c, enum confine_mode mode,
                                                      const struct confine_needs *needs);

/*
 * confine_enter: confine the calling thread as kind: its capabilities
 * dropped to the kind's, no new privileges, and its filter loaded. Safe
 * from any thread once confine_build returned (it reads c only). 0 or
 * -errno; a c never built is a no-op (unit rigs without a VM).
 */
__attribute__((warn_unused_result)) int confine_enter(const struct confine *c,
                                                      enum confine_kind kind);

void confine_free(struct confine *c);

#endif

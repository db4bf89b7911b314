/* SPDX-License-Identifier: MIT */
/*
 * jail: `kvmbox run --jail DIR --uid U --gid G` (docs/jail.md): the VMM
 * in new mount, PID, IPC and UTS namespaces (and network, when it needs
 * none of the host's), its root a tmpfs on DIR holding only what this VM
 * needs, bind-mounted at the same absolute paths, then its uid and gid
 * dropped to U and G; and, when asked, cgroup v2 limits (cpu.max,
 * memory.max, pids.max) in a cgroup of its own under the caller's.
 *
 * The steps, in the order the caller takes them (vmm/cli/run_jail.c):
 *   jail_check        before anything: root, DIR, the options agree
 *   jail_cgroup_make  the child cgroup and its limits (when asked)
 *   jail_fork         unshare(CLONE_NEWPID), fork: the parent waits,
 *                     passes on SIGINT, SIGTERM and SIGHUP, removes the
 *                     cgroup and returns the child's status; the child
 *                     goes on as PID 1 of the new namespace
 *   jail_enter        (child) the cgroup joined, the other namespaces,
 *                     the mounts, pivot_root into DIR
 *   ...               the VM is built: /dev/kvm, images, sockets opened
 *   jail_drop         (child) setgroups, setresgid, setresuid: no
 *                     capabilities left; before the first KVM_RUN
 *
 * Depends on libc only. Functions return 0 or -errno; those that say so
 * print one line on stderr first.
 */
#ifndef KVMBOX_VMM_CONFINE_JAIL_H
#define KVMBOX_VMM_CONFINE_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_MAX_BINDS 96
#define JAIL_CG_PATH   4096

/* A bind's flags. */
#define JAIL_RO   1u /* read-only in the jail */
#define JAIL_PROC 2u /* not a bind: the jail's own /proc (a new proc mount) */

/* One path the jail shows: src as the caller gave it (opened before the
 * tmpfs hides anything), path where it appears (absolute, normalized). */
struct jail_bind {
	const char *src;
	unsigned int flags;
	char *path; /* jail_plan's (malloc'd) */
};

/* The cgroup v2 limits; a field of 0 is no limit asked. */
struct jail_limits {
	uint64_t cpu_quota_us, cpu_period_us; /* cpu.max */
	uint64_t memory_mib;                  /* memory.max */
	uint64_t pids;                        /* pids.max */
};

struct jail_config {
	const char *dir; /* NULL: no jail */
	uint32_t uid, gid;
	bool uid_set, gid_set;
	bool new_net; /* a network namespace of its own (no host network needed) */
	/* jail_fork's, in the child: a pipe whose other end the parent holds
	 * (end of file: the parent is gone), for jail_drop. */
	int parent_fd;
	bool have_parent_fd;
	struct jail_limits lim;
};

/* jail_limits_any: whether a cgroup limit was asked. */
bool jail_limits_any(const struct jail_limits *l);

/*
 * jail_parse_id: --uid or --gid S (opt names it) into *out: a decimal
 * number from 1 to 2^32 - 2 (0 is root's, 2^32 - 1 is (uid_t)-1). 0 or
 * -EINVAL after one message.
 */
__attribute__((warn_unused_result)) int jail_parse_id(const char *opt, const char *s,
                                                      uint32_t *out);
/* jail_parse_cpu_max: --cpu-max QUOTA[/PERIOD] (microseconds, as cpu.max:
 * QUOTA at least 1000, PERIOD 1000 to 1000000, default 100000). */
__attribute__((warn_unused_result)) int jail_parse_cpu_max(const char *s, struct jail_limits *l);

/*
 * jail_check: the jail can be made: DIR an absolute path to a folder, U
 * and G both given, we are root (euid 0), limits only with a jail. 0, or
 * -EINVAL (a usage error) or -EPERM (not root) after one message.
 */
__attribute__((warn_unused_result)) int jail_check(const struct jail_config *c);

/*
 * jail_path_norm: path (relative to cwd when not absolute) as an absolute
 * path without ".", "..", or repeated or trailing slashes, worked out on
 * the text alone (the jail makes every folder of it a real folder, so the
 * kernel resolves it there the same way). 0 or -ENAMETOOLONG.
 */
int jail_path_norm(const char *cwd, const char *path, char *out, size_t size);

/*
 * jail_plan: b[0..*n) made ready to mount: each path normalized (cwd for
 * relative ones), sorted so a folder comes before what lies in it, and
 * entries dropped that an earlier one shows already (the same path, or one
 * beneath a folder shown read-write, or read-only beneath a read-only
 * one, or anything beneath /proc). A read-write path beneath a read-only
 * folder stays: it is mounted over it. 0, -EXDEV when a path is "/",
 * or -errno; jail_plan_free in every case.
 */
__attribute__((warn_unused_result)) int jail_plan(struct jail_bind *b, unsigned int *n,
                                                  const char *cwd);
void jail_plan_free(struct jail_bind *b, unsigned int n);

/*
 * jail_cgroup_path: the new cgroup's folder, mnt (/sys/fs/cgroup) + the
 * caller's cgroup v2 path (the "0::PATH" line of proc_cgroup, the text of
 * /proc/self/cgroup) + "/kvmbox-PID". 0, -ENOENT (no cgroup v2 line),
 * -EINVAL (a path that is not absolute or holds ".."), or -ENAMETOOLONG.
 */
int jail_cgroup_path(const char *proc_cgroup, const char *mnt, pid_t pid, char *out, size_t size);
/* jail_cgroup_has: whether the space-separated list (cgroup.controllers
 * or cgroup.subtree_control) names controller. */
bool jail_cgroup_has(const char *list, const char *controller);

/*
 * jail_cgroup_make: the child cgroup of the caller's, with the
 * controllers the limits need enabled in the caller's, and the limits
 * written; its folder into path (JAIL_CG_PATH). 0 or -errno after one
 * message saying what the caller's cgroup does not allow.
 */
__attribute__((warn_unused_result)) int jail_cgroup_make(const struct jail_limits *l, char *path);
/* jail_cgroup_join: the calling process into the cgroup path; -errno
 * after one message. */
__attribute__((warn_unused_result)) int jail_cgroup_join(const char *path);
/* jail_cgroup_remove: path's folder removed (its processes gone). */
void jail_cgroup_remove(const char *path);

/*
 * jail_fork: unshare(CLONE_NEWPID) and fork. In the child (which becomes
 * PID 1 of the new namespace, and dies with the parent: PR_SET_PDEATHSIG)
 * returns 0. In the parent, which stays outside, returns 1 once the child
 * ended, with the child's exit status in *status (128 + N when signal N
 * killed it), after passing on every SIGINT, SIGTERM and SIGHUP it got
 * (the caller has them blocked, as kvmbox run does) and removing cgroup
 * (NULL or "": none). -errno after one message when no child was made.
 */
__attribute__((warn_unused_result)) int jail_fork(struct jail_config *c, const char *cgroup,
                                                  int *status);

/*
 * jail_enter: in the child of jail_fork: into cgroup (NULL or "": none),
 * new mount, IPC, UTS, cgroup (and network, c->new_net) namespaces, every mount
 * private, a tmpfs on c->dir with b[0..n) (jail_plan's) bound into it and
 * a proc of the new PID namespace, the tmpfs made read-only, pivot_root
 * into it, the old root detached, and cwd (made there) as the folder. 0
 * or -errno after one message.
 */
__attribute__((warn_unused_result)) int jail_enter(const struct jail_config *c,
                                                   const struct jail_bind *b, unsigned int n,
                                                   const char *cgroup, const char *cwd);

/*
 * jail_drop: supplementary groups none, gid and uid c's (real, effective,
 * saved), checked: no effective or permitted capability left. For all
 * threads (glibc's set*id apply to each). The uid change clears
 * PR_SET_PDEATHSIG (prctl(2)): it is set again, and the parent checked
 * alive after it. 0 or -errno after one message.
 */
__attribute__((warn_unused_result)) int jail_drop(const struct jail_config *c);

#endif

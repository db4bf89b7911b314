// SPDX-License-Identifier: MIT
/*
 * run_jail: `kvmbox run --jail DIR --uid U --gid G [--cpu-max QUOTA[/PERIOD]]
 * [--memory-max MiB] [--pids-max N]` (docs/jail.md): the options, the list
 * of what this VM needs in its jail, and the calls into vmm/confine/jail.h
 * at the two points of cli_run where they belong: before the VM is built
 * (the fork, the namespaces, the jail's root) and once it is built, before
 * the guest runs (the uid drop).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* pid_max's ceiling (proc(5), /proc/sys/kernel/pid_max). */
#define RUN_JAIL_MAX_PIDS (1ull << 22)

int run_jail_opt(struct run_opts *o, int c, const char *arg)
{
	struct jail_config *j = &o->jail;
	uint64_t v;

	switch (c) {
	case RUN_OPT_JAIL:
		if (!arg[0]) {
			fprintf(stderr, "kvmbox: --jail needs a folder\n");
			return -EINVAL;
		}
		j->dir = arg;
		return 0;
	case RUN_OPT_UID:
		j->uid_set = true;
		return jail_parse_id("--uid", arg, &j->uid);
	case RUN_OPT_GID:
		j->gid_set = true;
		return jail_parse_id("--gid", arg, &j->gid);
	case RUN_OPT_CPU_MAX:
		return jail_parse_cpu_max(arg, &j->lim);
	case RUN_OPT_MEMORY_MAX:
		if (cli_parse_u64("kvmbox", "--memory-max", arg, 1, 1ull << 30, &v))
			return -EINVAL;
		j->lim.memory_mib = v;
		return 0;
	default:
		if (cli_parse_u64("kvmbox", "--pids-max", arg, 1, RUN_JAIL_MAX_PIDS, &v))
			return -EINVAL;
		j->lim.pids = v;
		return 0;
	}
}

int run_jail_parsed(const struct run_opts *o)
{
	return jail_check(&o->jail) ? -EINVAL : 0;
}

/* run_jail_add: one path into b; a folder's (parent) copy kept in owned. */
static int run_jail_add(struct jail_bind *b, unsigned int *n, char **owned, unsigned int *no,
                        const char *path, unsigned int flags, bool parent)
{
	char *copy;

	if (*n == JAIL_MAX_BINDS)
		return -E2BIG;
	if (parent) {
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
		owned[(*no)++] = copy;
		/* dirname(3) may return a static "." (for "sock"): copy it too. */
		path = dirname(copy);
		if (path != copy) {
			copy = strdup(path);
			if (!copy)
				return -ENOMEM;
			owned[(*no)++] = copy;
			path = copy;
		}
	}
	b[(*n)++] = (struct jail_bind){ .src = path, .flags = flags };
	return 0;
}

int run_jail_binds(const struct run_opts *o, struct jail_bind *b, unsigned int *n, char **owned)
{
	const struct vm_config *c = &o->cfg;
	unsigned int no = 0;
	int err = 0;

#define ADD(path, flags, parent)                                                                   \
	do {                                                                                       \
		if (!err)                                                                          \
			err = run_jail_add(b, n, owned, &no, path, flags, parent);                 \
	} while (0)
	*n = 0;
	ADD(c->kernel_path, JAIL_RO, false);
	if (c->initrd_path)
		ADD(c->initrd_path, JAIL_RO, false);
	for (unsigned int i = 0; i < c->nr_disks; i++)
		ADD(c->disks[i].path, c->disks[i].read_only ? JAIL_RO : 0, false);
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		ADD(c->shares[i].path, c->shares[i].read_only ? JAIL_RO : 0, false);
		for (uint32_t g = 0; g < c->shares[i].nr_grafts; g++)
			ADD(c->shares[i].grafts[g], JAIL_RO, false);
	}
	/* Sockets are made in their folders: those, read-write. */
	if (c->vsock.uds_path)
		ADD(c->vsock.uds_path, 0, true);
	if (c->control_path)
		ADD(c->control_path, 0, true);
	for (unsigned int i = 0; i < o->nr_publish; i++)
		if (o->publish[i].host_path)
			ADD(o->publish[i].host_path, 0, true);
	ADD("/dev/kvm", 0, false);
	ADD("/dev/null", 0, false);
	ADD("/dev/urandom", JAIL_RO, false);
	ADD("/proc", JAIL_PROC, false);
	/* libslirp answers the guest's DNS from the host's resolver list. */
	if (c->net.mode == NET_MODE_USER && access("/etc/resolv.conf", R_OK) == 0)
		ADD("/etc/resolv.conf", JAIL_RO, false);
#undef ADD
	owned[no] = NULL;
	return err;
}

/*
 * run_jail_prepare: what must be done before the namespaces: a tap by name
 * opened now (in a new network namespace TUNSETIFF would make another),
 * passt started now (in the host's network, outside the jail; *passt its
 * pid, for the waiting parent to reap), libslirp loaded now (the jail has
 * no /usr/lib: the later dlopen of the same name finds it loaded), shares
 * served as the jail's user (it cannot chown), and whether the VM needs
 * the host's network. -errno after one message.
 */
static int run_jail_prepare(struct run_opts *o, pid_t *passt)
{
	struct net_params *np = &o->cfg.net;
	bool tcp = false;
	int err;

	if (np->mode == NET_MODE_TAP && np->tap_name) {
		struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
		int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", np->tap_name);
		if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
			fprintf(stderr, "kvmbox: --net tap=%s: %s\n", np->tap_name,
			        strerror(errno));
			if (fd >= 0)
				close(fd);
			return -EIO;
		}
		np->tap_name = NULL;
		np->tap_fd = fd;
	}
	if (np->mode == NET_MODE_PASST) {
		err = net_passt_prestart(&np->policy.link, &np->passt_fd, &np->passt_errfd, passt);
		if (err) {
			fprintf(stderr, "kvmbox: --net passt: %s\n", net_passt_strerror(err));
			return err;
		}
		np->passt_started = true;
	}
	if (np->mode == NET_MODE_USER)
		(void)dlopen("libslirp.so.0", RTLD_NOW | RTLD_LOCAL);
	for (unsigned int i = 0; i < o->cfg.nr_shares; i++)
		if (o->cfg.shares[i].owner == FUSE_OWNER_AUTO)
			o->cfg.shares[i].owner = FUSE_OWNER_XATTR;
	for (unsigned int i = 0; i < o->nr_publish; i++)
		tcp |= !o->publish[i].host_path;
	o->jail.new_net = np->mode != NET_MODE_USER && !tcp;
	return 0;
}

/* run_jail_passt_end: the parent's copies of passt's ends closed (its cue
 * to quit, the VMM's being gone), and passt reaped. */
static void run_jail_passt_end(struct net_params *np, pid_t passt)
{
	if (!np->passt_started)
		return;
	close(np->passt_fd);
	close(np->passt_errfd);
	np->passt_started = false;
	net_passt_reap(passt);
}

int run_jail(struct run_opts *o, int *status)
{
	struct jail_bind b[JAIL_MAX_BINDS];
	char *owned[2 * JAIL_MAX_BINDS + 1] = { 0 }, cwd[PATH_MAX], cgroup[JAIL_CG_PATH] = "";
	unsigned int n = 0;
	pid_t passt = -1;
	bool child = false;
	int err;

	*status = VM_EXIT_ERROR;
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "kvmbox: --jail: getcwd: %s\n", strerror(errno));
		return -1;
	}
	err = run_jail_prepare(o, &passt);
	if (!err && (err = run_jail_binds(o, b, &n, owned)))
		fprintf(stderr, "kvmbox: --jail: %s\n",
		        err == -E2BIG ? "too many paths to show in the jail" : strerror(-err));
	if (!err && (err = jail_plan(b, &n, cwd)))
		fprintf(stderr, "kvmbox: --jail: %s\n",
		        err == -EXDEV ? "the host's / cannot be shown in the jail"
		                      : "a path too long for the jail");
	if (!err && jail_limits_any(&o->jail.lim))
		err = jail_cgroup_make(&o->jail.lim, cgroup);
	if (!err) {
		err = jail_fork(&o->jail, cgroup, status);
		child = err == 0;
		if (err < 0 && cgroup[0])
			jail_cgroup_remove(cgroup);
		else if (child && jail_enter(&o->jail, b, n, cgroup, cwd))
			err = -1;
	}
	/* passt is the parent's child: ended once the VMM has, or when
	 * there is no VMM (a failure before the fork). */
	if (!child)
		run_jail_passt_end(&o->cfg.net, passt);
	jail_plan_free(b, n);
	for (unsigned int i = 0; owned[i]; i++)
		free(owned[i]);
	if (err < 0)
		*status = VM_EXIT_ERROR;
	return err < 0 ? -1 : err;
}

int run_jail_drop(const struct run_opts *o)
{
	return o->jail.dir ? jail_drop(&o->jail) : 0;
}

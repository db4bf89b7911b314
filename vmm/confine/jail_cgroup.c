// SPDX-License-Identifier: MIT
/*
 * jail_cgroup: the jail's cgroup v2 limits (jail.h; the kernel's
 * Documentation/admin-guide/cgroup-v2.rst).
 *
 * The VMM gets a cgroup of its own, "kvmbox-PID" beneath the caller's
 * (where /proc/self/cgroup says the caller is, under /sys/fs/cgroup), so
 * that whoever placed the caller (a systemd unit, a platform's slice)
 * still bounds it. The controllers a limit needs must be enabled in the
 * caller's cgroup.subtree_control; we enable them when they are not, which
 * the kernel refuses for a cgroup other than the root that holds
 * processes itself ("no internal process" rule, cgroup-v2.rst): then we
 * fail and say so, rather than run without the limit that was asked.
 */
#define _GNU_SOURCE
#include "vmm/confine/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JAIL_CG_MNT "/sys/fs/cgroup"

/* jail_cg_read: dir/file's text into buf (NUL-terminated); 0 or -errno. */
static int jail_cg_read(const char *dir, const char *file, char *buf, size_t size)
{
	char path[JAIL_CG_PATH + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* jail_cg_write: text into dir/file in one write (cgroup files take one
 * value per write); 0 or -errno. */
static int jail_cg_write(const char *dir, const char *file, const char *text)
{
	char path[JAIL_CG_PATH + 64];
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * jail_cg_enable: controller enabled for parent's children, or -errno
 * after one message naming the option that needs it.
 */
static int jail_cg_enable(const char *parent, const char *controller, const char *opt)
{
	char list[512], add[32];
	int err = jail_cg_read(parent, "cgroup.controllers", list, sizeof(list));

	if (err) {
		fprintf(stderr, "kvmbox: %s: cannot read %s/cgroup.controllers: %s\n", opt, parent,
		        strerror(-err));
		return err;
	}
	if (!jail_cgroup_has(list, controller)) {
		fprintf(stderr,
		        "kvmbox: %s: the %s controller is not available in the cgroup %s (the "
		        "cgroup above it does not delegate it)\n",
		        opt, controller, parent);
		return -EOPNOTSUPP;
	}
	err = jail_cg_read(parent, "cgroup.subtree_control", list, sizeof(list));
	if (!err && jail_cgroup_has(list, controller))
		return 0;
	snprintf(add, sizeof(add), "+%s", controller);
	err = jail_cg_write(parent, "cgroup.subtree_control", add);
	if (err)
		fprintf(stderr,
		        "kvmbox: %s: cannot enable the %s controller for the children of the "
		        "cgroup %s: %s%s\n",
		        opt, controller, parent, strerror(-err),
		        err == -EBUSY ? " (it holds processes: run kvmbox from a cgroup whose "
		                        "controllers are enabled for its children)"
		                      : "");
	return err;
}

/* jail_cg_limits: l's limits into the new cgroup path; -errno after one message. */
static int jail_cg_limits(const struct jail_limits *l, const char *path)
{
	char v[64];
	int err = 0;
	const char *opt = "", *file = "";

	if (l->cpu_quota_us) {
		snprintf(v, sizeof(v), "%llu %llu", (unsigned long long)l->cpu_quota_us,
		         (unsigned long long)l->cpu_period_us);
		opt = "--cpu-max", file = "cpu.max";
		err = jail_cg_write(path, file, v);
	}
	if (!err && l->memory_mib) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)(l->memory_mib << 20));
		opt = "--memory-max", file = "memory.max";
		err = jail_cg_write(path, file, v);
	}
	if (!err && l->pids) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->pids);
		opt = "--pids-max", file = "pids.max";
		err = jail_cg_write(path, file, v);
	}
	if (err)
		fprintf(stderr, "kvmbox: %s: cannot write %s/%s: %s\n", opt, path, file,
		        strerror(-err));
	return err;
}

/*
 * jail_cg_sweep: the cgroups "kvmbox-PID" in parent whose PID is gone: a
 * run killed with SIGKILL could not remove its own (jail_cgroup_remove
 * runs in the process that waits for the VMM). rmdir removes only an
 * empty cgroup (cgroup-v2.rst), so one whose VMM still runs, orphaned, is
 * left; a live PID's is another run's, which may not have moved in yet.
 */
static void jail_cg_sweep(const char *parent)
{
	char path[JAIL_CG_PATH + 32];
	struct dirent *e;
	DIR *d = opendir(parent);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, "kvmbox-", 7) != 0)
			continue;
		pid = strtol(e->d_name + 7, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) < (int)sizeof(path))
			(void)rmdir(path);
	}
	closedir(d);
}

int jail_cgroup_make(const struct jail_limits *l, char *path)
{
	char self[4096], parent[JAIL_CG_PATH];
	int fd, err;
	ssize_t n;

	fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, self, sizeof(self) - 1);
	if (fd >= 0)
		close(fd);
	self[n > 0 ? n : 0] = '\0';
	err = jail_cgroup_path(self, JAIL_CG_MNT, getpid(), path, JAIL_CG_PATH);
	if (err) {
		fprintf(stderr, "kvmbox: --cpu-max, --memory-max, --pids-max: %s\n",
		        err == -ENOENT ? "this process is in no cgroup v2 hierarchy "
		                         "(/proc/self/cgroup has no 0:: line)"
		                       : "cannot work out our cgroup from /proc/self/cgroup");
		return err;
	}
	strcpy(parent, path);
	*strrchr(parent, '/') = '\0';
	if (!parent[0])
		strcpy(parent, "/");
	if ((l->cpu_quota_us && (err = jail_cg_enable(parent, "cpu", "--cpu-max"))) ||
	    (l->memory_mib && (err = jail_cg_enable(parent, "memory", "--memory-max"))) ||
	    (l->pids && (err = jail_cg_enable(parent, "pids", "--pids-max"))))
		return err;
	jail_cg_sweep(parent);
	if (mkdir(path, 0755) < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox: cannot make the cgroup %s: %s\n", path, strerror(-err));
		return err;
	}
	err = jail_cg_limits(l, path);
	if (err)
		rmdir(path);
	return err;
}

int jail_cgroup_join(const char *path)
{
	/* "0": the writing process itself, whatever its PID namespace. */
	int err = jail_cg_write(path, "cgroup.procs", "0");

	if (err)
		fprintf(stderr, "kvmbox: cannot move into the cgroup %s: %s\n", path,
		        strerror(-err));
	return err;
}

void jail_cgroup_remove(const char *path)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	/* The child is reaped, but the kernel may take a moment to see the
	 * cgroup empty (cgroup-v2.rst: "populated" is updated as tasks exit). */
	for (int i = 0; i < 100; i++) {
		if (rmdir(path) == 0 || errno != EBUSY)
			return;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "kvmbox: cannot remove the cgroup %s: %s\n", path, strerror(EBUSY));
}

// SPDX-License-Identifier: MIT
/*
 * jail: the namespaces, the jail's root and the uid drop (jail.h;
 * docs/jail.md says why each step comes where it does).
 *
 * References: namespaces(7), pid_namespaces(7), mount_namespaces(7),
 * pivot_root(2) (the "pivot_root(".", ".")" idiom of its NOTES),
 * mount_setattr(2), capabilities(7) ("Effect of user ID changes on
 * capabilities"), credentials(7).
 */
#define _GNU_SOURCE
#include "vmm/confine/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the jail's own tmpfs may hold: mount points and folders only. */
#define JAIL_TMPFS_OPTS "mode=0755,size=1m,nr_inodes=4096"

int jail_fork(struct jail_config *c, const char *cgroup, int *status)
{
	sigset_t set, old;
	int pfd[2], st;
	pid_t child;

	/* SIGCHLD blocked before the fork, so that a child that ends at once
	 * is still seen by sigwaitinfo; blocked signals are never discarded
	 * (signal(7)), not even SIGCHLD with its default action. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		st = -errno;
		fprintf(stderr, "kvmbox: --jail: pipe: %s\n", strerror(-st));
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return st;
	}
	/* The new PID namespace is our children's, not ours (pid_namespaces(7)). */
	if (unshare(CLONE_NEWPID) < 0) {
		st = -errno;
		fprintf(stderr, "kvmbox: --jail: a new PID namespace: %s\n", strerror(-st));
		goto fail;
	}
	(void)fflush(NULL);
	child = fork();
	if (child < 0) {
		st = -errno;
		fprintf(stderr, "kvmbox: --jail: fork: %s\n", strerror(-st));
		goto fail;
	}
	if (child == 0) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };

		close(pfd[1]);
		/* The VMM dies with the process that waits for it (kvmbox stop
		 * --force and kvmbox rm -f kill that one: the sandbox's lock is
		 * its). A parent gone before the prctl closed its end of the pipe. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || poll(&p, 1, 0) != 0)
			_exit(1);
		c->parent_fd = pfd[0];
		c->have_parent_fd = true;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	close(pfd[0]);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig == SIGCHLD) {
			if (waitpid(child, &st, WNOHANG) == child)
				break;
		} else if (sig > 0) {
			/* Ours to pass on: the VMM stops as it would unjailed. */
			(void)kill(child, sig);
		}
	}
	close(pfd[1]);
	if (cgroup && cgroup[0])
		jail_cgroup_remove(cgroup);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	return 1;
fail:
	close(pfd[0]);
	close(pfd[1]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return st;
}

/* jail_mkdirs: every folder of path (absolute) made, as 0755; 0 or -errno. */
static int jail_mkdirs(const char *path)
{
	char buf[8192];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		/* EEXIST comes before EROFS for a name that is there: a folder
		 * inside a read-only bind is found, not made. */
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

/* jail_mountpoint: target made as a folder (dir) or an empty file, unless
 * it is there already (inside an earlier bind). */
static int jail_mountpoint(const char *target, bool dir)
{
	char parent[8192];
	struct stat st;
	int fd, err;

	if (lstat(target, &st) == 0)
		return 0;
	if (strlen(target) >= sizeof(parent))
		return -ENAMETOOLONG;
	strcpy(parent, target);
	*strrchr(parent, '/') = '\0';
	err = parent[0] ? jail_mkdirs(parent) : 0;
	if (err)
		return err;
	if (dir)
		return mkdir(target, 0755) < 0 ? -errno : 0;
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* jail_attrs: the mount at target (and those beneath it) with attr set. */
static int jail_attrs(const char *target, uint64_t attr, bool recursive)
{
	struct mount_attr a = { .attr_set = attr };

	if (mount_setattr(AT_FDCWD, target, recursive ? AT_RECURSIVE : 0, &a, sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 5.12: the top mount only. */
	return mount(NULL, target, NULL,
	             MS_REMOUNT | MS_BIND | ((attr & MOUNT_ATTR_RDONLY) ? MS_RDONLY : 0) |
	                 ((attr & MOUNT_ATTR_NOSUID) ? MS_NOSUID : 0) |
	                 ((attr & MOUNT_ATTR_NODEV) ? MS_NODEV : 0) |
	                 ((attr & MOUNT_ATTR_NOEXEC) ? MS_NOEXEC : 0),
	             NULL) < 0
	           ? -errno
	           : 0;
}

/*
 * jail_bind_one: b into the jail at dir + b->path, from fd (an O_PATH
 * descriptor of its source in this mount namespace). Device nodes keep
 * working (no nodev); nothing in the jail is executable or setuid.
 */
static int jail_bind_one(const char *dir, const struct jail_bind *b, int fd)
{
	char target[8192], src[64];
	struct stat st;
	uint64_t attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
	int err;

	if ((size_t)snprintf(target, sizeof(target), "%s%s", dir, b->path) >= sizeof(target))
		return -ENAMETOOLONG;
	if (b->flags & JAIL_PROC) {
		err = jail_mountpoint(target, true);
		if (!err &&
		    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			err = -errno;
		return err;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	err = jail_mountpoint(target, S_ISDIR(st.st_mode));
	if (err)
		return err;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		attr |= MOUNT_ATTR_NODEV;
	if (b->flags & JAIL_RO)
		attr |= MOUNT_ATTR_RDONLY;
	return jail_attrs(target, attr, true);
}

/* jail_fill: the tmpfs on dir and b[0..n) in it; -errno after one message. */
static int jail_fill(const char *dir, const struct jail_bind *b, unsigned int n, const char *cwd)
{
	int fds[JAIL_MAX_BINDS], err = 0;
	char here[8192];

	if (n > JAIL_MAX_BINDS)
		return -E2BIG;
	/* The sources are opened now: in this mount namespace (a bind from
	 * another one is refused: mount(2), EINVAL), and before the tmpfs
	 * hides any that lies in dir. */
	for (unsigned int i = 0; i < n; i++)
		fds[i] = -1;
	for (unsigned int i = 0; i < n; i++) {
		if (b[i].flags & JAIL_PROC)
			continue;
		fds[i] = open(b[i].src, O_PATH | O_CLOEXEC);
		if (fds[i] < 0) {
			err = -errno;
			fprintf(stderr, "kvmbox: --jail: %s: %s\n", b[i].src, strerror(-err));
			goto out;
		}
	}
	if (mount("kvmbox-jail", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, JAIL_TMPFS_OPTS) <
	    0) {
		err = -errno;
		fprintf(stderr, "kvmbox: --jail %s: a tmpfs there: %s\n", dir, strerror(-err));
		goto out;
	}
	for (unsigned int i = 0; i < n && !err; i++) {
		err = jail_bind_one(dir, &b[i], fds[i]);
		if (err)
			fprintf(stderr, "kvmbox: --jail: %s into the jail: %s\n", b[i].path,
			        strerror(-err));
	}
	/* The working folder, for relative paths (jail_plan made them
	 * absolute from it; the VM's own code still opens them relative). */
	if (!err && (size_t)snprintf(here, sizeof(here), "%s%s", dir, cwd) < sizeof(here))
		(void)jail_mkdirs(here);
	/* The VMM writes only where a bind lets it: the tmpfs read-only. */
	if (!err &&
	    (err = jail_attrs(
	         dir, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	         false)))
		fprintf(stderr, "kvmbox: --jail %s: read-only: %s\n", dir, strerror(-err));
out:
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

/* jail_pivot: dir becomes "/", the old root detached (pivot_root(2), NOTES). */
static int jail_pivot(const char *dir, const char *cwd)
{
	if (chdir(dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		int err = -errno;

		fprintf(stderr, "kvmbox: --jail %s: pivot_root: %s\n", dir, strerror(-err));
		return err;
	}
	/* A working folder that could not be made: relative paths fail as
	 * they would anywhere, and "/" (where we are) stays. */
	if (chdir(cwd) < 0 && chdir("/") < 0)
		return -errno;
	return 0;
}

int jail_enter(const struct jail_config *c, const struct jail_bind *b, unsigned int n,
               const char *cgroup, const char *cwd)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
	            (c->new_net ? CLONE_NEWNET : 0);
	int err;

	/* The cgroup first: /sys/fs/cgroup is gone once we pivot; the new
	 * cgroup namespace then has it as its root (cgroup_namespaces(7)). */
	if (cgroup && cgroup[0] && (err = jail_cgroup_join(cgroup)))
		return err;
	if (unshare(flags) < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox: --jail: new namespaces: %s\n", strerror(-err));
		return err;
	}
	/* The host's name is none of the guest's business (uts_namespaces(7)). */
	if (sethostname("kvmbox", 6) < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox: --jail: sethostname: %s\n", strerror(-err));
		return err;
	}
	/* Nothing we mount may reach the host's namespace (mount_namespaces(7),
	 * "Shared subtrees"); pivot_root wants the old root not shared either. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox: --jail: private mounts: %s\n", strerror(-err));
		return err;
	}
	err = jail_fill(c->dir, b, n, cwd);
	return err ? err : jail_pivot(c->dir, cwd);
}

int jail_drop(const struct jail_config *c)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	/* Groups before the uid: once the uid is not 0, no set*gid works. */
	if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0) {
		int err = -errno;

		fprintf(stderr, "kvmbox: --jail: cannot become uid %u gid %u: %s\n", c->uid, c->gid,
		        strerror(-err));
		return err;
	}
	/* capabilities(7): when all of the real, effective and saved uids
	 * leave 0, the permitted, effective and ambient sets are cleared,
	 * unless SECBIT_KEEP_CAPS or SECBIT_NO_SETUID_FIXUP say otherwise:
	 * check that they did not. */
	if (syscall(SYS_capget, &h, d) < 0 || d[0].effective || d[1].effective || d[0].permitted ||
	    d[1].permitted) {
		fprintf(stderr, "kvmbox: --jail: capabilities left after the uid change\n");
		return -EPERM;
	}
	/* prctl(2): "the parent-death signal ... is cleared upon changes to
	 * ... effective user ID, effective group ID": armed again, and the
	 * parent, which may have died in between, checked. */
	if (c->have_parent_fd) {
		struct pollfd p = { .fd = c->parent_fd, .events = POLLIN };

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || poll(&p, 1, 0) != 0) {
			fprintf(stderr, "kvmbox: --jail: the waiting parent is gone\n");
			return -ESRCH;
		}
	}
	return 0;
}

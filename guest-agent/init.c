// SPDX-License-Identifier: MIT
/*
 * guest-agent/init: PID 1 duties (init.h). The command-line parsing at the
 * top is pure; everything from agent_init_read_cmdline on acts on the
 * whole machine and runs only as PID 1 in the guest.
 */
#define _GNU_SOURCE
#include "guest-agent/init.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

int agent_cmdline_param(const char *cmdline, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	int err = -ENOENT;

	for (const char *p = cmdline; (p = strstr(p, name)) != NULL; p += n) {
		size_t len;

		if ((p != cmdline && p[-1] != ' ') || p[n] != '=')
			continue;
		len = strcspn(p + n + 1, " \n");
		if (len >= cap) {
			if (cap)
				buf[0] = '\0';
			err = -ENAMETOOLONG;
			continue;
		}
		memcpy(buf, p + n + 1, len);
		buf[len] = '\0';
		err = 0;
	}
	return err;
}

void agent_boot_parse(const char *cmdline, struct agent_boot *boot)
{
	memset(boot, 0, sizeof(*boot));
	if (agent_cmdline_param(cmdline, "kvmbox.hostname", boot->hostname,
	                        sizeof(boot->hostname)) ||
	    !boot->hostname[0])
		snprintf(boot->hostname, sizeof(boot->hostname), "kvmbox");
	if (agent_cmdline_param(cmdline, "kvmbox.root", boot->root, sizeof(boot->root)))
		boot->root[0] = '\0';
	if (agent_cmdline_param(cmdline, "kvmbox.rootfstype", boot->rootfstype,
	                        sizeof(boot->rootfstype)) ||
	    !boot->rootfstype[0])
		snprintf(boot->rootfstype, sizeof(boot->rootfstype), "ext4");
}

int agent_init_read_cmdline(char *buf, size_t cap)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The API file systems, in mount order. */
static const struct api_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
} api_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

#define N_API_MOUNTS (sizeof(api_mounts) / sizeof(api_mounts[0]))

int agent_init_mounts(void)
{
	int first = 0;

	for (size_t i = 0; i < N_API_MOUNTS; i++) {
		const struct api_mount *m = &api_mounts[i];

		mkdir(m->target, 0755);
		if (mount(m->source, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY) {
			fprintf(stderr, "kvmbox-agent: mount %s: %s\n", m->target, strerror(errno));
			if (!first)
				first = -errno;
		}
	}
	/* Opening /dev/ptmx must reach the devpts instance on /dev/pts. */
	if (access("/dev/ptmx", F_OK) < 0 && symlink("pts/ptmx", "/dev/ptmx") < 0)
		fprintf(stderr, "kvmbox-agent: /dev/ptmx: %s\n", strerror(errno));
	return first;
}

int agent_init_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	return 0;
}

int agent_init_hostname(const char *name)
{
	return sethostname(name, strlen(name)) < 0 ? -errno : 0;
}

/* move_api_mounts: move the API mounts under root (a path with no '/' at the end). */
static int move_api_mounts(const char *root)
{
	char path[512];

	/* /dev/pts moves with /dev; move the others in reverse order. */
	for (size_t i = N_API_MOUNTS; i-- > 0;) {
		if (strcmp(api_mounts[i].target, "/dev/pts") == 0)
			continue;
		snprintf(path, sizeof(path), "%s%s", root, api_mounts[i].target);
		mkdir(path, 0755);
		if (mount(api_mounts[i].target, path, NULL, MS_MOVE, NULL) < 0)
			return -errno;
	}
	return 0;
}

int agent_init_switch_root(const struct agent_boot *boot)
{
	const char *newroot = "/newroot";
	int err;

	if (!boot->root[0])
		return 0;
	mkdir(newroot, 0755);
	if (mount(boot->root, newroot, boot->rootfstype, 0, NULL) < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox-agent: mount %s (%s): %s\n", boot->root, boot->rootfstype,
		        strerror(-err));
		return err;
	}
	err = move_api_mounts(newroot);
	if (err || chdir(newroot) < 0)
		return err ? err : -errno;
	/* pivot_root(".", "."): the old root ends up on top, then detach it. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return -errno;
	} else if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0) {
		return -errno;
	}
	return chdir("/") < 0 ? -errno : 0;
}

int agent_init_ready(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (ioperm(AGENT_DEBUG_PORT, 1, 1) < 0)
		return -errno;
	outb(AGENT_DEBUG_READY, AGENT_DEBUG_PORT);
	return 0;
#else
	return -ENOSYS;
#endif
}

void agent_init_shutdown(enum agent_stop how)
{
	kill(-1, SIGKILL);
	sync();
	/*
	 * A kvmbox microVM has no ACPI, so the kernel has no way to power off:
	 * RB_POWER_OFF would halt for ever. A reboot goes out through the
	 * i8042 reset line (reboot=k), which ends the VMM: that is the power
	 * off. Both requests end the VM the same way today.
	 */
	(void)how;
	reboot(RB_AUTOBOOT);
	/* Only if reboot failed; PID 1 must not exit. */
	for (;;)
		pause();
}

// SPDX-License-Identifier: MIT
/*
 * guest-agent/init: PID 1 duties (init.h). The command-line parsing at the
 * top is pure; everything from agent_init_read_cmdline on acts on the
 * whole machine and runs only as PID 1 in the guest.
 */
#define _GNU_SOURCE
#include "guest-agent/init.h"
#include "guest-agent/image_root.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

/*
 * parse_rootflags: split kvmbox.rootflags= (opts, comma separated) into the
 * read-only flag and the file system's own options (init.h). An option
 * that does not fit in boot->rootdata is dropped whole.
 */
static void parse_rootflags(const char *opts, struct agent_boot *boot)
{
	size_t used = 0;

	for (const char *p = opts; *p; p += *p == ',') {
		size_t len = strcspn(p, ",");

		if (len == 2 && strncmp(p, "ro", 2) == 0)
			boot->rootflags |= MS_RDONLY;
		else if (len == 2 && strncmp(p, "rw", 2) == 0)
			boot->rootflags &= ~(unsigned long)MS_RDONLY;
		else if (len && used + !!used + len < sizeof(boot->rootdata))
			used +=
			    (size_t)snprintf(boot->rootdata + used, sizeof(boot->rootdata) - used,
			                     "%s%.*s", used ? "," : "", (int)len, p);
		p += len;
	}
}

void agent_boot_parse(const char *cmdline, struct agent_boot *boot)
{
	char opts[256];

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
	if (agent_cmdline_param(cmdline, "kvmbox.rootflags", opts, sizeof(opts)) == 0)
		parse_rootflags(opts, boot);
	if (agent_cmdline_param(cmdline, "kvmbox.layers", opts, sizeof(opts)) == 0) {
		char *end;
		unsigned long n = strtoul(opts, &end, 10);

		/* A bad count is kept as one past the limit: the mount says so. */
		boot->layers = *end || opts[0] < '0' || opts[0] > '9' || n > AGENT_MAX_LAYERS
		                   ? AGENT_MAX_LAYERS + 1
		                   : (unsigned int)n;
	}
	if (agent_cmdline_param(cmdline, "kvmbox.upper", boot->upper, sizeof(boot->upper)))
		boot->upper[0] = '\0';
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
	/* POSIX shared memory (shm_open) lives here, as under systemd. */
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

#define N_API_MOUNTS (sizeof(api_mounts) / sizeof(api_mounts[0]))

/* The links in /dev that init systems make (systemd's tmpfiles.d/static-nodes). */
static const char *const dev_links[][2] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

/* api_nested: whether m sits under /dev, and so moves with it. */
static bool api_nested(const struct api_mount *m)
{
	return strncmp(m->target, "/dev/", 5) == 0;
}

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
	/* What udev or systemd would make, and devtmpfs does not: bash's
	 * <(...) needs /dev/fd, scripts write to /dev/stderr. */
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlink(dev_links[i][1], dev_links[i][0]) < 0 && errno != EEXIST)
			fprintf(stderr, "kvmbox-agent: %s: %s\n", dev_links[i][0], strerror(errno));
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

int agent_init_loopback(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	/* netdevice(7): read the flags, add IFF_UP; the kernel gives lo its
	 * 127.0.0.1/8 address and route when it comes up. */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	if (!err && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			err = -errno;
	}
	close(fd);
	return err;
}

/*
 * move_api_mounts: move the API mounts from under `from` to under `to`
 * (paths with no '/' at the end, "" for the root). /dev/pts and /dev/shm
 * move with /dev. Returns 0 or -errno; on failure the ones already moved go back.
 */
static int move_api_mounts(const char *from, const char *to)
{
	char src[512], dst[512];
	size_t i;
	int err = 0;

	for (i = 0; i < N_API_MOUNTS; i++) {
		if (api_nested(&api_mounts[i]))
			continue;
		snprintf(src, sizeof(src), "%s%s", from, api_mounts[i].target);
		snprintf(dst, sizeof(dst), "%s%s", to, api_mounts[i].target);
		/* Fails with EROFS on a read-only root: the image must have it. */
		mkdir(dst, 0755);
		if (mount(src, dst, NULL, MS_MOVE, NULL) < 0) {
			err = -errno;
			fprintf(stderr, "kvmbox-agent: move %s to %s: %s\n", src, dst,
			        strerror(errno));
			break;
		}
	}
	while (err && i-- > 0) {
		if (api_nested(&api_mounts[i]))
			continue;
		snprintf(src, sizeof(src), "%s%s", to, api_mounts[i].target);
		snprintf(dst, sizeof(dst), "%s%s", from, api_mounts[i].target);
		mount(src, dst, NULL, MS_MOVE, NULL);
	}
	return err;
}

/*
 * disk_read_only: whether the block device at path says it is read-only
 * (sysfs "ro", which virtio-blk sets from VIRTIO_BLK_F_RO). Asking first
 * spares a failed read-write mount and the kernel's error line about it.
 */
static bool disk_read_only(const char *path)
{
	char sys[64], c = '0';
	struct stat st;
	int fd;

	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return false;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/ro", major(st.st_rdev), minor(st.st_rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

/*
 * mount_root: boot->root on target, read-write unless asked otherwise, and
 * read-only when the disk refuses writes: when sysfs says so, and when a
 * read-write mount fails with EACCES (the kernel could not open the block
 * device for writing) or EROFS (the file system's own check). Returns 0
 * or -errno.
 */
static int mount_root(const struct agent_boot *boot, const char *target)
{
	const char *data = boot->rootdata[0] ? boot->rootdata : NULL;
	unsigned long flags = boot->rootflags;

	if (disk_read_only(boot->root))
		flags |= MS_RDONLY;

	if (mount(boot->root, target, boot->rootfstype, flags, data) == 0)
		return 0;
	if (!(flags & MS_RDONLY) && (errno == EROFS || errno == EACCES)) {
		flags |= MS_RDONLY;
		if (mount(boot->root, target, boot->rootfstype, flags, data) == 0)
			return 0;
	}
	fprintf(stderr, "kvmbox-agent: mount %s (%s%s%s%s): %s\n", boot->root, boot->rootfstype,
	        flags & MS_RDONLY ? ", ro" : "", data ? ", " : "", data ? data : "",
	        strerror(errno));
	return -errno;
}

int agent_init_switch_root(const struct agent_boot *boot)
{
	const char *newroot = "/newroot";
	int err;

	if (!boot->root[0])
		return 0;
	mkdir(newroot, 0755);
	err = boot->layers ? agent_image_root_mount(boot->root, boot->layers, boot->upper, newroot)
	                   : mount_root(boot, newroot);
	if (err)
		return err;
	err = move_api_mounts("", newroot);
	if (err) {
		umount2(newroot, MNT_DETACH);
		return err;
	}
	if (chdir(newroot) < 0)
		return -errno;
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

/* reap_all: wait for every child to be gone, for at most a second. */
static void reap_all(void)
{
	for (int i = 0; i < 100; i++) {
		pid_t pid;

		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if (pid < 0 && errno == ECHILD)
			return;
		usleep(10000);
	}
}

void agent_init_shutdown(enum agent_stop how)
{
	kill(-1, SIGKILL);
	/*
	 * A read-only remount fails (EBUSY) while a killed process still has a
	 * file open for writing: wait for them to go first. A clean root can
	 * then be mounted again without journal recovery, which a read-only
	 * disk would refuse. A failure here costs only that.
	 */
	reap_all();
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		fprintf(stderr, "kvmbox-agent: remount / read-only: %s\n", strerror(errno));
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

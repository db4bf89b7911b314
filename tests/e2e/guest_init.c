// SPDX-License-Identifier: MIT
/*
 * guest_init: PID 1 of the boot tests' initramfs.
 *
 * Checks what the guest sees against expectations passed on the kernel
 * command line by tests/e2e/boot.sh:
 *   kvmbox.expect_cpus=N      CPUs online
 *   kvmbox.expect_mem_mib=M   guest RAM given to the VMM; MemTotal must be
 *                             at most that and at least 3/4 of it (the
 *                             kernel keeps some for itself)
 *   kvmbox.token=T            echoed back, proving the command line arrived
 *   kvmbox.hold=1             after marking ready, wait instead of rebooting
 *                             (for tests that stop the VMM from outside)
 * prints "guest-init: ok token=T" or "guest-init: FAIL ...", marks ready on
 * the VMM's debug port, and reboots (reboot=k: through the i8042, which
 * ends the VMM).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

#define GUEST_DEBUG_PORT  0x4f0
#define GUEST_DEBUG_READY 0x01

static void guest_console(void)
{
	int fd;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* guest_param: the value of NAME= in the command line, or NULL. */
static const char *guest_param(const char *cmdline, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);

	for (const char *p = cmdline; (p = strstr(p, name)) != NULL; p += n) {
		if ((p == cmdline || p[-1] == ' ') && p[n] == '=') {
			size_t len = strcspn(p + n + 1, " \n");

			if (len >= cap)
				len = cap - 1;
			memcpy(buf, p + n + 1, len);
			buf[len] = '\0';
			return buf;
		}
	}
	return NULL;
}

static long guest_meminfo_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void guest_finish(bool hold)
{
	if (ioperm(GUEST_DEBUG_PORT, 1, 1) == 0)
		outb(GUEST_DEBUG_READY, GUEST_DEBUG_PORT);
	else
		perror("guest-init: ioperm");
	if (hold) {
		printf("guest-init: holding\n");
		for (;;)
			pause();
	}
	sync();
	reboot(RB_AUTOBOOT);
	/* Not reached unless reboot failed. */
	perror("guest-init: reboot");
	for (;;)
		pause();
}

int main(void)
{
	char cmdline[4096] = "", buf[64], token[64] = "";
	long cpus, mem_kib, want_cpus = -1, want_mib = -1;
	int fd, fails = 0;
	ssize_t n;

	guest_console();
	mount("proc", "/proc", "proc", 0, NULL);
	fd = open("/proc/cmdline", O_RDONLY);
	n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
	if (n > 0)
		cmdline[n] = '\0';
	if (guest_param(cmdline, "kvmbox.expect_cpus", buf, sizeof(buf)))
		want_cpus = atol(buf);
	if (guest_param(cmdline, "kvmbox.expect_mem_mib", buf, sizeof(buf)))
		want_mib = atol(buf);
	guest_param(cmdline, "kvmbox.token", token, sizeof(token));

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	mem_kib = guest_meminfo_kib();
	printf("guest-init: cpus=%ld mem_kib=%ld cmdline=%s", cpus, mem_kib, cmdline);
	if (want_cpus >= 0 && cpus != want_cpus) {
		printf("guest-init: FAIL cpus %ld, expected %ld\n", cpus, want_cpus);
		fails++;
	}
	if (want_mib >= 0 && (mem_kib > want_mib * 1024 || mem_kib < want_mib * 1024 / 4 * 3)) {
		printf("guest-init: FAIL MemTotal %ld KiB for %ld MiB of RAM\n", mem_kib, want_mib);
		fails++;
	}
	if (!token[0]) {
		printf("guest-init: FAIL no kvmbox.token on the command line\n");
		fails++;
	}
	if (!fails)
		printf("guest-init: ok token=%s\n", token);
	guest_finish(guest_param(cmdline, "kvmbox.hold", buf, sizeof(buf)) != NULL);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * run_console: where `kvmbox run` sends the guest's console, and whether
 * the guest gets one at all: --console PATH (a file, as today), --console
 * none, or no --console: the console on stdout without a command, and a
 * quiet boot with one (the command's output is ours). A quiet boot
 * (vm_config.quiet) is a guest with no console: its kernel writes only a
 * panic, which the VMM reports (docs/architecture.md, "The console").
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --console's default limit: enough for any boot log, not a full disk. */
#define RUN_CONSOLE_MAX_MIB 64

/*
 * run_console_quiet: a guest without a console. The UART stays (it is how
 * a panic is told) and writes to /dev/null, as it always did for a
 * command, so that an explicit --cmdline with its own console= still
 * works and its bytes count as written, not dropped.
 */
static int run_console_quiet(struct run_opts *o)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "kvmbox: /dev/null: %s\n", strerror(errno));
		return -errno;
	}
	o->cfg.console_fd = fd;
	o->cfg.quiet = true;
	return 0;
}

/*
 * run_console_open: --console PATH for the guest's serial output, or
 * --console none (a quiet boot; ./none names a file). Decided for a
 * path: a symlink is refused (O_NOFOLLOW), so that a link planted in a
 * shared folder cannot aim our writes at another file; a regular file is
 * emptied (the log of this run only), but only once it is open and known
 * to be one, never a device or FIFO; and what it takes is capped
 * (--console-max MiB, default RUN_CONSOLE_MAX_MIB; 0: no cap) so that a
 * guest cannot fill the host's disk. -errno after one message.
 */
int run_console_open(struct run_opts *o)
{
	struct stat st;
	int fd;

	if (strcmp(o->console_path, "none") == 0)
		return run_console_quiet(o);
	fd = open(o->console_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = -errno;

		fprintf(stderr, "kvmbox: --console %s: %s\n", o->console_path,
		        err == -ELOOP ? "a symbolic link (give the file it points to)"
		                      : strerror(-err));
		return err;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0) {
		int err = -errno;

		fprintf(stderr, "kvmbox: --console %s: %s\n", o->console_path, strerror(-err));
		close(fd);
		return err;
	}
	o->cfg.console_fd = fd;
	o->cfg.console_max = (o->console_max_set ? o->console_max_mib : RUN_CONSOLE_MAX_MIB) << 20;
	return 0;
}

int run_console_default(struct run_opts *o)
{
	if (o->console_path || !o->command)
		return 0;
	return run_console_quiet(o);
}

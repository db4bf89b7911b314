// SPDX-License-Identifier: MIT
/*
 * sandbox_rm: `kvmbox stop NAME` and `kvmbox rm [-f] NAME...` (cli.h,
 * docs/sandboxes.md). A stop is the control socket's (ctl_cmd_stop), then
 * a wait until the VMM let go of the sandbox's lock, which is when it is
 * gone; the state stays for `kvmbox start`. rm takes the state away.
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long stop waits for the VMM to end after the guest was asked. */
#define SBX_STOP_WAIT_S 90
/* How long rm -f gives a forced stop before it kills the VMM. */
#define SBX_FORCE_WAIT_S 10

/* sbx_forget_pid: the VMM ended as asked: the sandbox is "stopped". */
static void sbx_forget_pid(const char *dir)
{
	char path[PATH_MAX];

	sbx_join(path, dir, SBX_PID);
	unlink(path);
}

int sbx_cmd_stop(int argc, char **argv)
{
	char sock[PATH_MAX], dir[PATH_MAX];
	char *name = argc > 1 ? argv[argc - 1] : (char *)"";
	enum sbx_state st;
	pid_t pid;
	int rc;

	/* A SOCKET, or nothing that names a sandbox: kvmbox stop SOCKET. */
	if (cli_socket(name, sock) == name)
		return ctl_cmd_stop(argc, argv);
	if (sbx_path(name, NULL, dir))
		return ctl_cmd_stop(argc, argv);
	st = sbx_probe(dir, &pid);
	if (st != SBX_RUNNING) {
		if (st == SBX_EXITED)
			sbx_forget_pid(dir);
		fprintf(stderr, "kvmbox stop: %s is %s\n", name, sbx_state_name(st));
		return st == SBX_DEAD || st == SBX_CREATING ? 1 : 0;
	}
	argv[argc - 1] = sock;
	rc = ctl_cmd_stop(argc, argv);
	argv[argc - 1] = name;
	if (rc)
		return rc;
	if (sbx_wait_exit(dir, SBX_STOP_WAIT_S)) {
		fprintf(stderr,
		        "kvmbox stop: %s: its VMM (pid %d) still runs %d s after the stop\n", name,
		        (int)pid, SBX_STOP_WAIT_S);
		return 1;
	}
	sbx_forget_pid(dir);
	return 0;
}

/* sbx_rm_force: a running sandbox stopped at once (the VMM's forced stop),
 * or killed when its VMM does not answer; 0 once it is gone. */
static int sbx_rm_force(const char *name, const char *dir)
{
	char sock[PATH_MAX], *stop[] = { "stop", "--force", "--wait", "5", sock, NULL };

	sbx_join(sock, dir, SBX_SOCK);
	if (ctl_cmd_stop(5, stop) == 0 && sbx_wait_exit(dir, SBX_FORCE_WAIT_S) == 0)
		return 0;
	if (sbx_kill(dir) == 0 && sbx_wait_exit(dir, SBX_FORCE_WAIT_S) == 0)
		return 0;
	fprintf(stderr, "kvmbox rm: %s: its VMM does not end\n", name);
	return -EBUSY;
}

static int sbx_rm_one(const char *name, bool force)
{
	char dir[PATH_MAX];
	enum sbx_state st;
	pid_t pid;
	int err;

	if (sbx_lookup("kvmbox rm", name, dir))
		return 1;
	st = sbx_probe(dir, &pid);
	if ((st == SBX_RUNNING || st == SBX_CREATING) && !force) {
		fprintf(stderr, "kvmbox rm: %s is %s: kvmbox stop %s first, or kvmbox rm -f\n",
		        name, sbx_state_name(st), name);
		return 1;
	}
	if (st == SBX_RUNNING && sbx_rm_force(name, dir))
		return 1;
	err = sbx_remove(name);
	if (err) {
		fprintf(stderr, "kvmbox rm: %s: %s\n", name, strerror(-err));
		return 1;
	}
	return 0;
}

int sbx_cmd_rm(int argc, char **argv)
{
	bool force = false;
	int i = 1, rc = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")) {
			force = true;
		} else {
			fprintf(stderr, "kvmbox rm: unrecognized option %s\n", argv[i]);
			i = argc;
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: kvmbox rm [-f] NAME...\n");
		return 2;
	}
	for (; i < argc; i++)
		rc |= sbx_rm_one(argv[i], force);
	return rc;
}

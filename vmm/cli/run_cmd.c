// SPDX-License-Identifier: MIT
/*
 * run_cmd: run one command in the guest through the control socket (run_cmd.h).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"
#include "vmm/thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *run_cmd_thread(void *arg)
{
	struct run_cmd *rc = arg;
	/* Our stdin is the command's, unless it is a terminal (no pty here). */
	struct proto_exec_opts opts = PROTO_EXEC_OPTS_INIT;
	struct vm *vm = rc->vm;
	int err;

	/* Confined before it talks to the guest's agent (docs/security.md). */
	if (vm_confine_enter(vm, CONFINE_CLIENT) < 0)
		return NULL;
	if (!isatty(STDIN_FILENO))
		opts.stdin_fd = STDIN_FILENO;
	opts.env = rc->env;
	opts.cwd = rc->cwd;
	opts.user = rc->user;
	/* The control connection holds the request until the agent listens. */
	timeline_mark(&vm->tl, TL_CMD_SENT);
	err = proto_client_exec(&rc->client, rc->argv, &opts, STDOUT_FILENO, STDERR_FILENO,
	                        &rc->status, &rc->why);
	timeline_mark(&vm->tl, TL_CMD_DONE);
	if (err) {
		rc->status = err == -ENOENT || err == -EIO ? ctl_exec_status(err) : -1;
		if (rc->status >= 0)
			fprintf(stderr, "kvmbox: %s\n", rc->why.text);
	}
	if (err && rc->status < 0) {
		/* No agent to ask (or it broke the protocol): stop from here. */
		vm_request_stop(vm, VM_EXIT_ERROR);
		return NULL;
	}
	/* Whatever happened, the VM has done its job: the agent syncs and
	 * powers off; a guest that does not is stopped after a grace time. */
	if (proto_client_stop(&rc->client) < 0) {
		vm_request_stop(vm, VM_EXIT_ERROR);
		return NULL;
	}
	for (int ms = 0; ms < RUN_CMD_STOP_GRACE_MS && !atomic_load(&vm->stopping); ms += 10)
		usleep(10 * 1000);
	vm_request_stop(vm, VM_EXIT_OK);
	return NULL;
}

int run_cmd_start(struct run_cmd *rc, struct vm *vm, char *const *argv)
{
	int sv[2], err;

	rc->vm = vm;
	rc->argv = argv;
	rc->status = -1;
	rc->client.fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = control_attach(&vm->control, sv[1]);
	if (err) {
		close(sv[0]);
		return err;
	}
	proto_client_adopt(&rc->client, sv[0]);
	/* The guest may never answer (no agent as init, or a kernel that does
	 * not see the vsock device): the start has a deadline. */
	rc->client.wait_ms = RUN_CMD_START_WAIT_MS;
	err = thread_start(&rc->thread, run_cmd_thread, rc);
	if (err)
		return err;
	rc->started = true;
	return 0;
}

int run_cmd_finish(struct run_cmd *rc)
{
	if (!rc->started) {
		proto_client_close(&rc->client);
		return -1;
	}
	/* The VM is gone: a read still waiting on the agent would wait for ever.
	 * The socket is not closed before the join: the thread still uses it. */
	shutdown(rc->client.fd, SHUT_RDWR);
	pthread_join(rc->thread, NULL);
	rc->started = false;
	proto_client_close(&rc->client);
	if (rc->status < 0)
		fprintf(stderr, "kvmbox: the command did not finish: %s\n",
		        rc->why.text[0] ? rc->why.text : "the VM stopped first");
	return rc->status;
}

// SPDX-License-Identifier: MIT
/*
 * run_cmd: run one command in the guest through its agent (run_cmd.h).
 */
#include "run_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How often to try the agent while the guest boots. */
#define RUN_CMD_RETRY_US (20 * 1000)

static void *run_cmd_thread(void *arg)
{
	struct run_cmd *rc = arg;
	/* Our stdin is the command's, unless it is a terminal (no pty yet). */
	struct proto_exec_opts opts = { .stdin_fd = isatty(STDIN_FILENO) ? -1 : STDIN_FILENO };
	int err;

	/* The agent listens once the guest has booted: until then the VMM
	 * or the guest refuses the connection. */
	while ((err = proto_client_connect(&rc->client, rc->uds_path, PROTO_AGENT_PORT)) < 0) {
		if (atomic_load(&rc->vm->stopping))
			return NULL;
		usleep(RUN_CMD_RETRY_US);
	}
	atomic_store(&rc->fd, rc->client.fd);
	err = proto_client_exec(&rc->client, rc->argv, &opts, STDOUT_FILENO, STDERR_FILENO,
	                        &rc->status, &rc->why);
	if (err) {
		rc->status = err == -ENOENT ? RUN_CMD_NOT_FOUND : -1;
		if (err == -ENOENT)
			fprintf(stderr, "kvmbox: %s\n", rc->why.text);
	}
	/* Whatever happened, the VM has done its job. */
	if (proto_client_stop(&rc->client) < 0)
		vm_request_stop(rc->vm, VM_EXIT_ERROR);
	return NULL;
}

int run_cmd_start(struct run_cmd *rc, struct vm *vm, const char *uds_path, char *const *argv)
{
	int err;

	rc->vm = vm;
	rc->uds_path = uds_path;
	rc->argv = argv;
	rc->status = -1;
	rc->client.fd = -1;
	atomic_store(&rc->fd, -1);
	err = pthread_create(&rc->thread, NULL, run_cmd_thread, rc);
	if (err)
		return -err;
	rc->started = true;
	return 0;
}

int run_cmd_finish(struct run_cmd *rc)
{
	int fd;

	if (!rc->started)
		return -1;
	/* The VM is gone: a read still waiting on the agent would wait for ever. */
	fd = atomic_load(&rc->fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_join(rc->thread, NULL);
	rc->started = false;
	proto_client_close(&rc->client);
	if (rc->status < 0)
		fprintf(stderr, "kvmbox: the command did not finish: %s\n",
		        rc->why.text[0] ? rc->why.text : "the VM stopped first");
	return rc->status;
}

/* SPDX-License-Identifier: MIT */
/*
 * run_cmd: `kvmbox run ... -- CMD ARGS`: a thread that waits for the guest
 * agent on the VM's vsock socket, runs CMD through it with the output on our
 * stdout and stderr, then asks the agent to end the VM.
 *
 * It talks to the agent exactly as any host program would (proto/client.h
 * over the vsock unix socket), so the VMM grants itself nothing special.
 */
#ifndef KVMBOX_VMM_RUN_CMD_H
#define KVMBOX_VMM_RUN_CMD_H

#include "proto/client.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdatomic.h>

/* The status `kvmbox run -- CMD` exits with when CMD does not exist. */
#define RUN_CMD_NOT_FOUND 127

struct run_cmd {
	struct vm *vm;
	const char *uds_path;
	char *const *argv;
	pthread_t thread;
	bool started;
	_Atomic int fd; /* the client's socket while connected, for run_cmd_finish */
	int status;     /* CMD's status, or -1 when it did not run to the end */
	struct proto_why why;
	struct proto_client client;
};

/* run_cmd_start: start the thread; 0 or -errno. */
__attribute__((warn_unused_result)) int run_cmd_start(struct run_cmd *rc, struct vm *vm,
                                                      const char *uds_path, char *const *argv);

/*
 * run_cmd_finish: after vm_run returned: unblock the thread if the VM ended
 * first, join it. Returns CMD's status, or -1 after one message saying why
 * it has none.
 */
int run_cmd_finish(struct run_cmd *rc);

#endif

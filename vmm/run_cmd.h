/* SPDX-License-Identifier: MIT */
/*
 * run_cmd: `kvmbox run ... -- CMD ARGS`: a thread that runs CMD in the
 * guest through the control socket's relay to the agent (vmm/control.h),
 * with its output on our stdout and stderr, then asks the agent to end the
 * VM.
 *
 * The thread holds one end of a socketpair whose other end is a control
 * connection, so it speaks docs/protocol.md exactly as a host program on
 * --control would (proto/client.h): the VMM grants itself nothing special,
 * and every `kvmbox run -- CMD` exercises the control socket's path.
 */
#ifndef KVMBOX_VMM_RUN_CMD_H
#define KVMBOX_VMM_RUN_CMD_H

#include "proto/client.h"
#include "vmm/vm.h"

#include <pthread.h>

/* How long the guest may take to power off after the agent said it would. */
#define RUN_CMD_STOP_GRACE_MS 10000

struct run_cmd {
	struct vm *vm;
	char *const *argv;
	pthread_t thread;
	bool started;
	int status; /* CMD's status, or -1 when it did not run to the end */
	struct proto_why why;
	struct proto_client client;
};

/*
 * run_cmd_start: connect to the control socket and start the thread, on
 * the main thread before vm_run; 0 or -errno.
 */
__attribute__((warn_unused_result)) int run_cmd_start(struct run_cmd *rc, struct vm *vm,
                                                      char *const *argv);

/*
 * run_cmd_finish: after vm_run returned: unblock the thread if the VM ended
 * first, join it. Returns CMD's status, or -1 after one message saying why
 * it has none.
 */
int run_cmd_finish(struct run_cmd *rc);

#endif

// SPDX-License-Identifier: MIT
/*
 * fuzz_control: arbitrary bytes from a control-socket client (vmm/control/control.c).
 *
 * Each input is one client's whole stream on a socketpair attached to a
 * control socket of a VM that has only its event loop (no KVM, no vsock:
 * agent requests are answered "unavailable", exec requests after the
 * run's defaults are merged into them). The client then closes its
 * sending side, and the loop runs until the connection is gone, the client
 * reading everything the VMM answers.
 *
 * Checks beyond ASan/UBSan: the VMM's answer is a well-formed stream of
 * frames, each an error, a reply or a metrics stream's event (no agent
 * here, so no other event), and the connection ends (a hang is a libFuzzer
 * timeout).
 */
#define _GNU_SOURCE
#include "proto/msg.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* drain: read what the VMM sent into dec, checking each frame. */
static void drain(int fd, struct proto_decoder *dec)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		const uint8_t *p = buf;
		size_t left = (size_t)n, used;
		struct proto_frame f;
		struct proto_env env;

		while (left) {
			if (proto_decoder_feed(dec, p, left, &used) < 0)
				abort(); /* the VMM wrote a malformed frame */
			p += used;
			left -= used;
			while (proto_decoder_next(dec, &f) == 1) {
				if (proto_msg_parse_env(f.msg, &env, NULL) ||
				    (env.type != PROTO_ERROR && env.type != PROTO_REPLY &&
				     (env.type != PROTO_EVENT || strcmp(env.name, "metrics"))))
					abort();
				proto_frame_clear(&f);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exec defaults as an image's run sets them: every exec request the
	 * input makes is merged with them (control_defaults.c). */
	static const char *const env[] = { "PATH=/bin", "A=1", NULL };
	struct vm_config cfg = { .nr_cpus = 1,
		                 .mem_mib = 64,
		                 .console_fd = -1,
		                 .exec_env = env,
		                 .exec_cwd = "/w",
		                 .exec_user = "1000:1000" };
	struct proto_decoder dec;
	struct vm *vm;
	size_t off = 0;
	int sv[2];

	if (size > 256 * 1024)
		return 0;
	vm = calloc(1, sizeof(*vm));
	if (!vm || vm_init(vm, &cfg) || loop_init(&vm->loop, 64) || vm_control_init(vm, NULL) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (control_attach(&vm->control, sv[1]))
		abort();
	proto_decoder_init(&dec);
	/* Write as the VMM takes it, reading its answers in between. */
	for (int round = 0; vm->control.nr_conns && round < 100000; round++) {
		if (off < size) {
			ssize_t n =
			    send(sv[0], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the VMM closed it: done */
			if (off == size)
				shutdown(sv[0], SHUT_WR);
		} else if (off == size && size == 0) {
			shutdown(sv[0], SHUT_WR);
		}
		drain(sv[0], &dec);
		if (loop_run_once(&vm->loop) < 0)
			abort();
	}
	if (vm->control.nr_conns)
		abort(); /* the connection never ended */
	drain(sv[0], &dec);
	proto_decoder_destroy(&dec);
	close(sv[0]);
	vm_destroy(vm);
	free(vm);
	return 0;
}

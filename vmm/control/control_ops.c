// SPDX-License-Identifier: MIT
/*
 * control_ops: the frames a client sends (control.h): the envelope check,
 * the requests the VMM answers itself (status; stop with force), and
 * everything else forwarded to the agent.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/msg.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROL_VERSION "0.1.0"

/* control_vsock_stats: the vsock device's counters as "vsock" in msg; 0 or -errno. */
static int control_vsock_stats(struct vsock *v, json_t *msg)
{
	json_t *o;

	virtio_mmio_lock(&v->transport);
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "connections",
	              (json_int_t)v->nr_conns, "tx_packets", (json_int_t)v->stats.tx_packets,
	              "rx_packets", (json_int_t)v->stats.rx_packets, "tx_bytes",
	              (json_int_t)v->stats.tx_bytes, "rx_bytes", (json_int_t)v->stats.rx_bytes,
	              "dropped", (json_int_t)v->stats.dropped, "rsts_sent",
	              (json_int_t)v->stats.rsts_sent, "rsts_lost", (json_int_t)v->stats.rsts_lost,
	              "live", vsock_live(v));
	virtio_mmio_unlock(&v->transport);
	if (!o)
		return -ENOMEM;
	return json_object_set_new(msg, "vsock", o) ? -ENOMEM : 0;
}

static void control_exits_one(const char *name, uint64_t value, void *opaque)
{
	if (strcmp(name, "exits") == 0)
		*(uint64_t *)opaque = value;
}

/*
 * control_vcpu_exits: KVM's own count of every exit of each vCPU, in-kernel
 * ones included, as "vcpu_exits" in msg; 0 or -errno. A running guest
 * CPU exits for each timer tick at least, so a count that stands still
 * while the vCPU's thread runs guest code tells a CPU that takes no
 * interrupts (tests/e2e/lib.sh, e2e_host_fault).
 */
static int control_vcpu_exits(const struct vm *vm, json_t *msg)
{
	json_t *a = json_array();

	for (unsigned int i = 0; a && i < vm->nr_vcpus; i++) {
		uint64_t exits = 0;

		kvm_stats_each(vm->vcpus[i].stats_fd, control_exits_one, &exits);
		if (json_array_append_new(a, json_integer((json_int_t)exits))) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a)
		return -ENOMEM;
	return json_object_set_new(msg, "vcpu_exits", a) ? -ENOMEM : 0;
}

/* control_status: the "status" reply. */
static void control_status(struct control_conn *c, uint64_t id)
{
	struct vm *vm = c->ctl->vm;
	uint64_t start = atomic_load(&vm->tl.phase_ns[TL_START]);
	uint64_t ready = atomic_load(&vm->tl.phase_ns[TL_READY]);
	const char *state = atomic_load(&vm->stopping) ? "stopping" : ready ? "running" : "booting";
	json_t *msg = NULL;
	int err;

	err = proto_msg_reply(&msg, id);
	if (!err)
		err = proto_msg_set_string(msg, "state", state);
	if (!err)
		err = proto_msg_set_u64(msg, "uptime_ms", (timeline_now_ns() - start) / 1000000u);
	if (!err && ready)
		err = proto_msg_set_u64(msg, "ready_ms", (ready - start) / 1000000u);
	if (!err)
		err = proto_msg_set_u64(msg, "vcpus", vm->cfg.nr_cpus);
	if (!err)
		err = proto_msg_set_u64(msg, "memory_mib", vm->cfg.mem_mib);
	if (!err && vm->vsock)
		err = proto_msg_set_u64(msg, "cid", vm->cfg.vsock.guest_cid);
	if (!err)
		err = proto_msg_set_u64(msg, "exits", timeline_total_exits(&vm->tl));
	if (!err)
		err = control_vcpu_exits(vm, msg);
	if (!err && vm->vsock)
		err = control_vsock_stats(vm->vsock, msg);
	if (!err)
		err = proto_msg_set_u64(msg, "pid", (uint64_t)getpid());
	if (!err)
		err = proto_msg_set_string(msg, "version", CONTROL_VERSION);
	if (err) {
		json_decref(msg);
		control_error(c, id, err, "cannot build the status reply");
		return;
	}
	if (control_queue(&c->to_client, msg, NULL, 0))
		control_kill(c);
}

/* control_client_frame: one frame from the client (untrusted). */
void control_client_frame(struct control_conn *c, const struct proto_frame *f)
{
	struct proto_why why = { "" };
	struct proto_env env;
	bool force = false;
	json_t *msg = NULL;

	if (proto_msg_parse_env(f->msg, &env, &why)) {
		control_error(c, proto_msg_peek_id(f->msg), -EINVAL, "%s", why.text);
		return;
	}
	if (env.type != PROTO_REQUEST ||
	    (strcmp(env.name, "status") != 0 && strcmp(env.name, "stop") != 0)) {
		control_forward(c, f, &env);
		return;
	}
	if (proto_msg_get_bool(f->msg, "force", &force, PROTO_OPTIONAL, &why)) {
		control_error(c, env.id, -EINVAL, "%s", why.text);
		return;
	}
	if (strcmp(env.name, "stop") == 0 && !force) {
		control_forward(c, f, &env); /* the agent stops the guest cleanly */
		return;
	}
	if (f->body_len) {
		control_error(c, env.id, -EINVAL, "op %s takes no body", env.name);
		return;
	}
	if (strcmp(env.name, "status") == 0) {
		control_status(c, env.id);
		return;
	}
	/* stop with force: the reply goes out before the VM is taken down. */
	if (proto_msg_reply(&msg, env.id) || control_queue(&c->to_client, msg, NULL, 0)) {
		control_kill(c);
		return;
	}
	control_buf_flush(&c->to_client, c->fd);
	vm_request_stop(c->ctl->vm, VM_EXIT_OK);
}

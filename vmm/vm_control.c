// SPDX-License-Identifier: MIT
/*
 * vm_control: the VM as the control socket sees it (struct control_host,
 * vmm/control/control.h): a stream to the guest agent through the vsock
 * device, the VM's fields of the "status" reply, and a forced stop. The
 * control server needs no more of the VM than this, so it does not include
 * vm.h; this file is where the core hands it that much.
 */
#define _GNU_SOURCE
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include "proto/client.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int vm_control_agent_connect(void *opaque, int fd)
{
	struct vm *vm = opaque;
	int err;

	if (!vm->vsock) {
		close(fd);
		return -ENODEV;
	}
	err = vsock_connect_local(vm->vsock, PROTO_AGENT_PORT, fd);
	if (err)
		close(fd);
	return err;
}

static void vm_control_agent_linked(void *opaque)
{
	struct vm *vm = opaque;

	timeline_mark(&vm->tl, TL_AGENT);
}

/* vm_control_vsock_stats: the vsock device's counters as "vsock" in msg; 0 or -errno. */
static int vm_control_vsock_stats(struct vsock *v, json_t *msg)
{
	json_t *o;

	virtio_mmio_lock(&v->transport);
	o = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "connections",
	    (json_int_t)v->nr_conns, "tx_packets", (json_int_t)v->stats.tx_packets, "rx_packets",
	    (json_int_t)v->stats.rx_packets, "tx_bytes", (json_int_t)v->stats.tx_bytes, "rx_bytes",
	    (json_int_t)v->stats.rx_bytes, "dropped", (json_int_t)v->stats.dropped, "rsts_sent",
	    (json_int_t)v->stats.rsts_sent, "rsts_lost", (json_int_t)v->stats.rsts_lost, "refused",
	    (json_int_t)v->stats.conns_refused, "guest_refused", (json_int_t)v->stats.guest_refused,
	    "timeouts", (json_int_t)v->stats.timeouts, "live", vsock_live(v));
	virtio_mmio_unlock(&v->transport);
	if (!o)
		return -ENOMEM;
	return json_object_set_new(msg, "vsock", o) ? -ENOMEM : 0;
}

/* vm_control_fs_stats: each shared folder's counters as "fs" in msg; 0 or -errno. */
static int vm_control_fs_stats(const struct vm *vm, json_t *msg)
{
	json_t *a = json_array();

	for (unsigned int i = 0; a && i < vm->nr_shares; i++) {
		struct vfs *fs = vm->shares[i];
		json_t *o;

		virtio_mmio_lock(&fs->transport);
		o = json_pack("{s:s, s:I, s:I}", "tag", vm->cfg.shares[i].tag, "requests",
		              (json_int_t)fs->stats.chains, "batches",
		              (json_int_t)fs->stats.batches);
		virtio_mmio_unlock(&fs->transport);
		if (json_array_append_new(a, o)) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a)
		return -ENOMEM;
	return json_object_set_new(msg, "fs", a) ? -ENOMEM : 0;
}

/* vm_control_net_mode: --net's word for the backend. */
static const char *vm_control_net_mode(enum net_mode m)
{
	return m == NET_MODE_TAP ? "tap" : m == NET_MODE_PASST ? "passt" : "user";
}

/*
 * vm_control_net_stats: the network device's counters as "net" in msg,
 * the frames the egress policy denied among them, by reason; 0 or -errno.
 */
static int vm_control_net_stats(struct net *n, json_t *msg)
{
	const uint8_t *m = n->params.policy.link.mac;
	json_t *o, *by = json_object();
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
	         m[5]);
	virtio_mmio_lock(&n->transport);
	for (int v = NET_DENY_MALFORMED; by && v < NET_VERDICTS; v++)
		if (json_object_set_new(by, net_verdict_name((enum net_verdict)v),
		                        json_integer((json_int_t)n->stats.denied_by[v]))) {
			json_decref(by);
			by = NULL;
		}
	o = !by ? NULL
	        : json_pack(
	              "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	              "s:o}",
	              "mode", vm_control_net_mode(n->params.mode), "mac", mac, "mtu",
	              (json_int_t)n->mtu, "tx_gso", (json_int_t)n->stats.tx_gso, "rx_gso",
	              (json_int_t)n->stats.rx_gso, "tx_frames", (json_int_t)n->stats.tx_frames,
	              "tx_bytes", (json_int_t)n->stats.tx_bytes, "rx_frames",
	              (json_int_t)n->stats.rx_frames, "rx_bytes", (json_int_t)n->stats.rx_bytes,
	              "tx_bad", (json_int_t)n->stats.tx_bad, "tx_errors",
	              (json_int_t)n->stats.tx_errors, "tx_blocked", (json_int_t)n->stats.tx_blocked,
	              "rx_dropped", (json_int_t)n->stats.rx_dropped, "denied",
	              (json_int_t)n->stats.denied, "denied_by", by);
	virtio_mmio_unlock(&n->transport);
	if (!o)
		return -ENOMEM;
	return json_object_set_new(msg, "net", o) ? -ENOMEM : 0;
}

static void vm_control_exits_one(const char *name, uint64_t value, void *opaque)
{
	if (strcmp(name, "exits") == 0)
		*(uint64_t *)opaque = value;
}

/*
 * vm_control_vcpu_exits: KVM's own count of every exit of each vCPU,
 * in-kernel ones included, as "vcpu_exits" in msg; 0 or -errno. A running
 * guest CPU exits for each timer tick at least, so a count that stands
 * still while the vCPU's thread runs guest code tells a CPU that takes no
 * interrupts (tests/e2e/lib.sh, e2e_host_fault).
 */
static int vm_control_vcpu_exits(const struct vm *vm, json_t *msg)
{
	json_t *a = json_array();

	for (unsigned int i = 0; a && i < vm->nr_vcpus; i++) {
		uint64_t exits = 0;

		kvm_stats_each(vm->vcpus[i].stats_fd, vm_control_exits_one, &exits);
		if (json_array_append_new(a, json_integer((json_int_t)exits))) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a)
		return -ENOMEM;
	return json_object_set_new(msg, "vcpu_exits", a) ? -ENOMEM : 0;
}

/* vm_control_status: the VM's fields of the "status" reply (docs/protocol.md). */
static int vm_control_status(void *opaque, json_t *msg)
{
	struct vm *vm = opaque;
	uint64_t start = atomic_load(&vm->tl.phase_ns[TL_START]);
	uint64_t ready = atomic_load(&vm->tl.phase_ns[TL_READY]);
	const char *state = atomic_load(&vm->stopping) ? "stopping" : ready ? "running" : "booting";
	int err;

	err = proto_msg_set_string(msg, "state", state);
	if (!err)
		err = proto_msg_set_u64(msg, "uptime_ms", (timeline_now_ns() - start) / 1000000u);
	if (!err && ready)
		err = proto_msg_set_u64(msg, "ready_ms", (ready - start) / 1000000u);
	if (!err)
		err = proto_msg_set_u64(msg, "vcpus", vm->cfg.nr_cpus);
	if (!err)
		err = proto_msg_set_u64(msg, "memory_mib", vm->cfg.mem_mib);
	if (!err)
		err = proto_msg_set_u64(msg, "memory_touched_bytes",
		                        gmem_touched(&vm->mem, GMEM_TOUCH_BUDGET));
	if (!err && vm->vsock)
		err = proto_msg_set_u64(msg, "cid", vm->cfg.vsock.guest_cid);
	if (!err)
		err = proto_msg_set_u64(msg, "exits", timeline_total_exits(&vm->tl));
	if (!err)
		err = vm_control_vcpu_exits(vm, msg);
	if (!err && vm->vsock)
		err = vm_control_vsock_stats(vm->vsock, msg);
	if (!err && vm->nr_shares)
		err = vm_control_fs_stats(vm, msg);
	if (!err && vm->net)
		err = vm_control_net_stats(vm->net, msg);
	return err;
}

static void vm_control_stop(void *opaque)
{
	vm_request_stop(opaque, VM_EXIT_OK);
}

/* vm_control_port_connect: a published port's client to the agent's relay (control.h). */
static int vm_control_port_connect(void *opaque, int fd, const void *hello, size_t hello_len)
{
	struct vm *vm = opaque;

	if (!vm->vsock)
		return -ENODEV;
	if (fd < 0)
		return 0;
	return vsock_connect_stream(vm->vsock, PROTO_RELAY_PORT, fd, hello, hello_len);
}

static const struct control_host_ops vm_control_ops = {
	.agent_connect = vm_control_agent_connect,
	.agent_linked = vm_control_agent_linked,
	.status = vm_control_status,
	.stop = vm_control_stop,
	.port_connect = vm_control_port_connect,
};

int vm_control_init(struct vm *vm, const char *path)
{
	const struct control_host host = { .ops = &vm_control_ops,
		                           .opaque = vm,
		                           .loop = &vm->loop };
	int err = control_init(&vm->control, &host, path);

	if (!err)
		err = control_exec_defaults(&vm->control, vm->cfg.exec_env, vm->cfg.exec_cwd,
		                            vm->cfg.exec_user);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * devices: the one place that adds devices to a VM, in order, and removes
 * them in reverse.
 *
 * Legacy devices sit on the port-I/O bus: the 8250 UART (COM1, IRQ 4), the
 * i8042's reset line, the debug port. virtio-mmio devices get one slot each:
 * a 4 KiB window from VM_VIRTIO_BASE up (in the 32-bit MMIO gap) and one
 * ISA interrupt line from VM_VIRTIO_GSI_BASE up, declared to the guest on
 * the kernel command line (virtio_mmio.device=512@0xd0000000:5). Queue
 * notifications land on KVM ioeventfds polled by the main loop, never
 * exiting to userspace; interrupts go in through irqfds.
 */
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VM_SERIAL_PORT 0x3f8
#define VM_SERIAL_IRQ  4

/* vm_virtio_base, vm_virtio_gsi: where slot i lives. */
static uint64_t vm_virtio_base(unsigned int i)
{
	return VM_VIRTIO_BASE + (uint64_t)i * VM_VIRTIO_STRIDE;
}

static uint32_t vm_virtio_gsi(unsigned int i)
{
	return VM_VIRTIO_GSI_BASE + i;
}

int vm_devices_cmdline(const struct vm *vm, char *buf, size_t size)
{
	unsigned int nr = vm->cfg.nr_disks + vm->cfg.nr_shares + (vm->cfg.vsock.uds_path ? 1 : 0) +
	                  (vm->cfg.net.mode != NET_MODE_NONE ? 1 : 0);
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < nr; i++) {
		int n = snprintf(buf + used, size - used, "%svirtio_mmio.device=%u@%#llx:%u",
		                 used ? " " : "", VIRTIO_MMIO_SIZE,
		                 (unsigned long long)vm_virtio_base(i), vm_virtio_gsi(i));

		if (n < 0 || (size_t)n >= size - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

/* The UART's interrupt output, wired to IRQ 4 of the PIC and IOAPIC. */
static void vm_serial_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = VM_SERIAL_IRQ, .level = level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

/*
 * vm_reset: the guest pulled the reset line. A kernel that panics with
 * panic=-1 (our default) reboots this way right after its report, so a
 * panic seen on the console makes this a panic's exit, not a clean one.
 */
static void vm_reset(void *opaque)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, serial_panic(&vm->serial, NULL, 0) ? VM_EXIT_GUEST_PANIC : VM_EXIT_OK);
}

/* vm_panic_end: a panic report ended without a reboot (panic=0): stop now. */
static void vm_panic_end(void *opaque)
{
	vm_request_stop(opaque, VM_EXIT_GUEST_PANIC);
}

void vm_devices_report(struct vm *vm, int status)
{
	char reason[CONSOLE_REASON_MAX], tail[CONSOLE_TAIL_SIZE + 1], *save = NULL;

	if (!vm->serial_ready)
		return;
	if (status == VM_EXIT_GUEST_PANIC && serial_panic(&vm->serial, reason, sizeof(reason)))
		fprintf(stderr, "kvmbox: guest kernel panic: %s\n", reason);
	if (!vm->cfg.quiet || (status != VM_EXIT_GUEST_PANIC && status != VM_EXIT_TRIPLE_FAULT) ||
	    !serial_tail(&vm->serial, tail, sizeof(tail)))
		return;
	fprintf(stderr, "kvmbox: the guest's last console output:\n");
	for (char *line = strtok_r(tail, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "  | %s\n", line);
}

/* The debug port: the guest marks boot progress; see VM_DEBUG_PORT. */
static void vm_debug_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct vm *vm = opaque;

	(void)offset;
	if (len >= 1 && *(const uint8_t *)data == VM_DEBUG_READY)
		timeline_mark(&vm->tl, TL_READY);
}

static void vm_debug_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static const struct bus_ops vm_debug_ops = {
	.read = vm_debug_read,
	.write = vm_debug_write,
};

static int vm_add_legacy(struct vm *vm)
{
	int err;

	err = serial_init(&vm->serial, vm->cfg.console_fd, vm_serial_irq, vm);
	if (err)
		return err;
	vm->serial_ready = true;
	serial_set_out_max(&vm->serial, vm->cfg.console_max);
	serial_set_panic_notify(&vm->serial, vm_panic_end, vm);
	err = bus_register(&vm->pio, VM_SERIAL_PORT, 8, &serial_bus_ops, &vm->serial, "serial");
	if (err)
		return err;
	err = i8042_init(&vm->i8042, vm_reset, vm);
	if (err)
		return err;
	vm->i8042_ready = true;
	err = i8042_register(&vm->i8042, &vm->pio);
	if (err)
		return err;
	return bus_register(&vm->pio, VM_DEBUG_PORT, 1, &vm_debug_ops, vm, "debug");
}

/* vm_virtio_irq: raise a virtio device's interrupt through its irqfd. */
static void vm_virtio_irq(void *opaque)
{
	struct vm_virtio_slot *s = opaque;
	uint64_t one = 1;

	if (write(s->irq_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only at its maximum count, when an
		 * interrupt is pending anyway. */
	}
}

/* vm_virtio_notified: the main loop saw a queue's ioeventfd fire. */
static void vm_virtio_notified(void *opaque, int res, bool more)
{
	struct vm_virtio_queue *q = opaque;
	uint64_t v;

	(void)more;
	if (res < 0 || read(q->fd, &v, sizeof(v)) != sizeof(v))
		return;
	virtio_mmio_queue_notify(q->slot->transport, q->index);
}

/*
 * vm_virtio_slot_new: the next slot's window, interrupt line and irqfd
 * eventfd, and the params a device's init takes. Returns the slot or NULL
 * (errno set) when none is left or the eventfd fails.
 */
static struct vm_virtio_slot *vm_virtio_slot_new(struct vm *vm, struct virtio_mmio_params *mp)
{
	struct vm_virtio_slot *s;

	if (vm->nr_slots == VM_MAX_VIRTIO) {
		errno = ENOSPC;
		return NULL;
	}
	s = &vm->slots[vm->nr_slots++];
	*s = (struct vm_virtio_slot){
		.vm = vm,
		.base = vm_virtio_base(vm->nr_slots - 1),
		.gsi = vm_virtio_gsi(vm->nr_slots - 1),
		.irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
	};
	if (s->irq_fd < 0)
		return NULL;
	*mp = (struct virtio_mmio_params){
		.base = s->base,
		.gsi = s->gsi,
		.irq = vm_virtio_irq,
		.irq_opaque = s,
	};
	return s;
}

/*
 * vm_virtio_slot_wire: for a device whose transport is ready, the irqfd,
 * one ioeventfd per queue (datamatch on the queue index, §4.2.2
 * QueueNotify) polled by the main loop, and the bus window.
 */
static int vm_virtio_slot_wire(struct vm *vm, struct vm_virtio_slot *s, struct virtio_mmio *t)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)s->irq_fd, .gsi = s->gsi };
	int err;

	s->transport = t;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	for (unsigned int i = 0; i < t->ops->num_queues; i++) {
		struct vm_virtio_queue *q = &s->queues[i];
		struct kvm_ioeventfd ioev = {
			.datamatch = i,
			.addr = s->base + VIRTIO_MMIO_NOTIFY_OFFSET,
			.len = 4,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		*q = (struct vm_virtio_queue){ .slot = s, .index = i };
		q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->fd < 0)
			return -errno;
		s->nr_queues++;
		ioev.fd = q->fd;
		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioev) < 0)
			return -errno;
		err = virtio_mmio_set_notify_fd(t, i, q->fd);
		if (err)
			return err;
		q->op = (struct loop_op){ .cb = vm_virtio_notified, .opaque = q };
		err = loop_poll(&vm->loop, q->fd, POLLIN, &q->op);
		if (err)
			return err;
	}
	return virtio_mmio_register(t, &vm->mmio);
}

/* vm_add_disk: a virtio-blk device for --disk i. */
static int vm_add_disk(struct vm *vm, unsigned int i)
{
	struct virtio_mmio_params mp;
	struct vm_virtio_slot *s = vm_virtio_slot_new(vm, &mp);
	struct blk *b;
	int err;

	if (!s)
		return -errno;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	err = blk_init(b, &vm->cfg.disks[i], &vm->loop, &vm->mem, &mp);
	if (err) {
		free(b);
		return err;
	}
	vm->disks[vm->nr_disks++] = b;
	return vm_virtio_slot_wire(vm, s, &b->transport);
}

/*
 * vm_add_share: a virtio-fs device for the host folder of share i. Given
 * the loop, it takes the worker path (virtio/fs.h): its requests run on
 * its own worker thread, started here, and their completions come back
 * through the loop; vm_destroy destroys the loop before the devices, and
 * vfs_destroy joins the worker.
 */
static int vm_add_share(struct vm *vm, unsigned int i)
{
	struct virtio_mmio_params mp;
	struct vm_virtio_slot *s = vm_virtio_slot_new(vm, &mp);
	struct vfs *fs;
	int err;

	if (!s)
		return -errno;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	err = vfs_init(fs, &vm->cfg.shares[i], &vm->loop, &vm->mem, &mp);
	if (err) {
		free(fs);
		return err;
	}
	vm->shares[vm->nr_shares++] = fs;
	return vm_virtio_slot_wire(vm, s, &fs->transport);
}

/* vm_add_vsock: the virtio-vsock device, after the disks and shares. */
static int vm_add_vsock(struct vm *vm)
{
	struct virtio_mmio_params mp;
	struct vm_virtio_slot *s = vm_virtio_slot_new(vm, &mp);
	int err;

	if (!s)
		return -errno;
	vm->vsock = calloc(1, sizeof(*vm->vsock));
	if (!vm->vsock)
		return -ENOMEM;
	err = vsock_init(vm->vsock, &vm->cfg.vsock, &vm->loop, &vm->mem, &mp);
	if (err) {
		free(vm->vsock);
		vm->vsock = NULL;
		return err;
	}
	return vm_virtio_slot_wire(vm, s, &vm->vsock->transport);
}

/* vm_net_tap_fd_error: why --net tap-fd=N was refused (net_tap_open_fd's errors). */
static void vm_net_tap_fd_error(int fd, int err)
{
	const char *why;

	if (err == -EBADF)
		why = "no such open file descriptor";
	else if (err == -ENOTTY)
		why = "not a tap (TUNGETIFF refused it: open /dev/net/tun and TUNSETIFF first)";
	else if (err == -EPROTOTYPE)
		why = "a tun device, not a tap (IFF_TAP)";
	else if (err == -EPROTONOSUPPORT)
		why = "the tap must be opened with IFF_NO_PI and IFF_VNET_HDR";
	else
		why = strerror(-err);
	fprintf(stderr, "kvmbox: --net tap-fd=%d: %s\n", fd, why);
}

/* vm_add_net: the virtio-net device, last, so that the others keep their slots. */
static int vm_add_net(struct vm *vm)
{
	struct virtio_mmio_params mp;
	struct vm_virtio_slot *s = vm_virtio_slot_new(vm, &mp);
	int err;

	if (!s)
		return -errno;
	vm->net = calloc(1, sizeof(*vm->net));
	if (!vm->net)
		return -ENOMEM;
	err = net_init(vm->net, &vm->cfg.net, &vm->loop, &vm->mem, &mp);
	if (err) {
		free(vm->net);
		vm->net = NULL;
		return err;
	}
	return vm_virtio_slot_wire(vm, s, &vm->net->transport);
}

int vm_devices_add(struct vm *vm)
{
	int err = vm_add_legacy(vm);

	if (err) {
		fprintf(stderr, "kvmbox: cannot set up the legacy devices: %s\n", strerror(-err));
		return err;
	}
	for (unsigned int i = 0; i < vm->cfg.nr_disks; i++) {
		err = vm_add_disk(vm, i);
		if (err) {
			fprintf(stderr, "kvmbox: --disk %s: %s\n", vm->cfg.disks[i].path,
			        strerror(-err));
			return err;
		}
	}
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		err = vm_add_share(vm, i);
		if (err) {
			fprintf(stderr, "kvmbox: shared folder %s: %s\n", vm->cfg.shares[i].path,
			        strerror(-err));
			return err;
		}
	}
	if (vm->cfg.vsock.uds_path) {
		err = vm_add_vsock(vm);
		if (err) {
			fprintf(stderr, "kvmbox: --vsock %s: %s\n", vm->cfg.vsock.uds_path,
			        strerror(-err));
			return err;
		}
	}
	if (vm->cfg.net.mode != NET_MODE_NONE) {
		err = vm_add_net(vm);
		if (err) {
			if (vm->cfg.net.mode == NET_MODE_TAP && !vm->cfg.net.tap_name)
				vm_net_tap_fd_error(vm->cfg.net.tap_fd, err);
			else if (vm->cfg.net.mode == NET_MODE_TAP)
				fprintf(
				    stderr, "kvmbox: --net tap=%s: %s%s\n", vm->cfg.net.tap_name,
				    strerror(-err),
				    err == -EPERM || err == -EACCES
				        ? " (a tap needs CAP_NET_ADMIN, or one made for this user)"
				        : "");
			else if (vm->cfg.net.mode == NET_MODE_PASST)
				fprintf(stderr, "kvmbox: --net passt: %s\n",
				        net_passt_strerror(err));
			else
				fprintf(stderr, "kvmbox: --net user: %s\n", strerror(-err));
			return err;
		}
	}
	return 0;
}

void vm_devices_destroy(struct vm *vm)
{
	if (vm->net) {
		net_destroy(vm->net);
		free(vm->net);
		vm->net = NULL;
	}
	if (vm->vsock) {
		vsock_destroy(vm->vsock);
		free(vm->vsock);
		vm->vsock = NULL;
	}
	while (vm->nr_shares) {
		struct vfs *fs = vm->shares[--vm->nr_shares];

		vfs_destroy(fs);
		free(fs);
	}
	while (vm->nr_disks) {
		struct blk *b = vm->disks[--vm->nr_disks];

		blk_destroy(b);
		free(b);
	}
	while (vm->nr_slots) {
		struct vm_virtio_slot *s = &vm->slots[--vm->nr_slots];

		if (s->irq_fd >= 0)
			close(s->irq_fd);
		for (unsigned int i = 0; i < s->nr_queues; i++)
			close(s->queues[i].fd);
	}
	if (vm->i8042_ready)
		i8042_destroy(&vm->i8042);
	vm->i8042_ready = false;
	if (vm->serial_ready)
		serial_destroy(&vm->serial);
	vm->serial_ready = false;
}

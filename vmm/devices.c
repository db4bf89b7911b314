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
#include "vm.h"

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
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < vm->cfg.nr_disks; i++) {
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

static void vm_reset(void *opaque)
{
	vm_request_stop(opaque, VM_EXIT_OK);
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

/* vm_virtio_notified: the main loop saw queue 0's ioeventfd fire. */
static void vm_virtio_notified(void *opaque, int res, bool more)
{
	struct vm_virtio_slot *s = opaque;
	uint64_t v;

	(void)more;
	if (res < 0 || read(s->notify_fd, &v, sizeof(v)) != sizeof(v))
		return;
	virtio_mmio_queue_notify(s->transport, 0);
}

/*
 * vm_virtio_slot_wire: the irqfd, the ioeventfd of queue 0 (datamatch on
 * the queue index, §4.2.2 QueueNotify), the bus window, the loop poll.
 */
static int vm_virtio_slot_wire(struct vm *vm, struct vm_virtio_slot *s)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)s->irq_fd, .gsi = s->gsi };
	struct kvm_ioeventfd ioev = {
		.datamatch = 0,
		.addr = s->base + VIRTIO_MMIO_NOTIFY_OFFSET,
		.len = 4,
		.fd = s->notify_fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	int err;

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioev) < 0)
		return -errno;
	err = virtio_mmio_set_notify_fd(s->transport, 0, s->notify_fd);
	if (err)
		return err;
	err = virtio_mmio_register(s->transport, &vm->mmio);
	if (err)
		return err;
	s->op = (struct loop_op){ .cb = vm_virtio_notified, .opaque = s };
	return loop_poll(&vm->loop, s->notify_fd, POLLIN, &s->op);
}

/* vm_add_disk: slot i is disk i. */
static int vm_add_disk(struct vm *vm, unsigned int i)
{
	struct vm_virtio_slot *s = &vm->slots[vm->nr_slots];
	struct virtio_mmio_params mp;
	struct blk *b;
	int err;

	s->vm = vm;
	s->base = vm_virtio_base(vm->nr_slots);
	s->gsi = vm_virtio_gsi(vm->nr_slots);
	s->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->nr_slots++;
	if (s->irq_fd < 0 || s->notify_fd < 0)
		return -errno;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	mp = (struct virtio_mmio_params){
		.base = s->base,
		.gsi = s->gsi,
		.irq = vm_virtio_irq,
		.irq_opaque = s,
	};
	err = blk_init(b, &vm->cfg.disks[i], &vm->loop, &vm->mem, &mp);
	if (err) {
		free(b);
		return err;
	}
	vm->disks[vm->nr_disks++] = b;
	s->transport = &b->transport;
	return vm_virtio_slot_wire(vm, s);
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
	return 0;
}

void vm_devices_destroy(struct vm *vm)
{
	while (vm->nr_disks) {
		struct blk *b = vm->disks[--vm->nr_disks];

		blk_destroy(b);
		free(b);
	}
	while (vm->nr_slots) {
		struct vm_virtio_slot *s = &vm->slots[--vm->nr_slots];

		if (s->irq_fd >= 0)
			close(s->irq_fd);
		if (s->notify_fd >= 0)
			close(s->notify_fd);
	}
	if (vm->i8042_ready)
		i8042_destroy(&vm->i8042);
	vm->i8042_ready = false;
	if (vm->serial_ready)
		serial_destroy(&vm->serial);
	vm->serial_ready = false;
}

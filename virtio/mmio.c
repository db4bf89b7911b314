// SPDX-License-Identifier: MIT
/*
 * virtio-mmio: the version 2 register interface (mmio.h), virtio 1.2 §4.2.
 *
 * Register offsets come from <linux/virtio_mmio.h> and follow §4.2.2
 * (table "MMIO Device Register Layout"); the legacy registers of §4.2.4
 * (GuestPageSize, QueueAlign, QueuePFN) do not exist in version 2 and read
 * as 0. Every register is 32 bits wide and must be accessed as such
 * (§4.2.2.2 "The driver MUST only use 32 bit wide and aligned reads and
 * writes to access the control registers"): other accesses are dropped and
 * read as 0. The config space accepts any width.
 *
 * The guest controls every offset, width and value that reaches
 * vm_bus_read and vm_bus_write (through the bus, which keeps offset + len
 * inside the window) and QueueSel, which is checked wherever it is used.
 */
#include "virtio/mmio.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BIT64(n) (1ull << (n))

/* The transport feature bits (§6) the queue code implements. */
#define VIRTIO_MMIO_TRANSPORT_FEATURES                                                             \
	(BIT64(VIRTIO_F_VERSION_1) | BIT64(VIRTIO_RING_F_EVENT_IDX) |                              \
	 BIT64(VIRTIO_RING_F_INDIRECT_DESC))

/* Bits 28..41 are reserved for the transport and the queues (§6). */
#define VIRTIO_MMIO_TRANSPORT_RANGE                                                                \
	(((BIT64(VIRTIO_TRANSPORT_F_END + 1)) - 1) & ~(BIT64(VIRTIO_TRANSPORT_F_START) - 1))

/* §4.2.2 ShmLen reads -1 for a shared memory region that does not exist. */
#define VIRTIO_MMIO_NO_SHM 0xffffffffu

/* raise: set InterruptStatus bits and fire the (edge) interrupt. */
static void raise_irq(struct virtio_mmio *vm, uint32_t bits)
{
	__atomic_fetch_or(&vm->interrupt_status, bits, __ATOMIC_SEQ_CST);
	vm->p.irq(vm->p.irq_opaque);
}

static bool ops_valid(const struct virtio_dev_ops *ops)
{
	uint16_t m = ops->queue_max_size;

	return ops->num_queues >= 1 && ops->num_queues <= VIRTIO_MMIO_MAX_QUEUES && m &&
	       !(m & (m - 1)) && m <= VIRTQ_MAX_SIZE && ops->config_size <= VIRTIO_MMIO_CONFIG_MAX;
}

int virtio_mmio_init(struct virtio_mmio *vm, const struct virtio_dev_ops *ops, void *dev,
                     const struct gmem *mem, const struct virtio_mmio_params *p)
{
	int err;

	memset(vm, 0, sizeof(*vm));
	if (!ops || !mem || !p || !p->irq || !ops_valid(ops))
		return -EINVAL;
	vm->ops = ops;
	vm->dev = dev;
	vm->p = *p;
	vm->device_features =
	    (ops->features & ~VIRTIO_MMIO_TRANSPORT_RANGE) | VIRTIO_MMIO_TRANSPORT_FEATURES;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		vm->notify_fd[i] = -1;
	for (unsigned int i = 0; i < ops->num_queues; i++) {
		err = virtq_init(&vm->queues[i], mem, ops->queue_max_size);
		if (err)
			return err;
	}
	err = pthread_mutex_init(&vm->lock, NULL);
	return -err;
}

void virtio_mmio_destroy(struct virtio_mmio *vm)
{
	pthread_mutex_destroy(&vm->lock);
}

int virtio_mmio_register(struct virtio_mmio *vm, struct bus *bus)
{
	return bus_register(bus, vm->p.base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, vm,
	                    vm->ops->name);
}

int virtio_mmio_cmdline(const struct virtio_mmio *vm, char *buf, size_t size)
{
	int n = snprintf(buf, size, "virtio_mmio.device=%u@0x%" PRIx64 ":%" PRIu32,
	                 VIRTIO_MMIO_SIZE, vm->p.base, vm->p.gsi);

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

int virtio_mmio_set_notify_fd(struct virtio_mmio *vm, unsigned int q, int fd)
{
	if (q >= vm->ops->num_queues)
		return -EINVAL;
	vm->notify_fd[q] = fd;
	return 0;
}

void virtio_mmio_lock(struct virtio_mmio *vm)
{
	pthread_mutex_lock(&vm->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *vm)
{
	pthread_mutex_unlock(&vm->lock);
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *vm, unsigned int q)
{
	return q < vm->ops->num_queues ? &vm->queues[q] : NULL;
}

uint64_t virtio_mmio_features(const struct virtio_mmio *vm)
{
	return (vm->status & VIRTIO_CONFIG_S_FEATURES_OK) ? vm->driver_features : 0;
}

void virtio_mmio_queue_notify(struct virtio_mmio *vm, unsigned int q)
{
	uint32_t live = VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET;

	pthread_mutex_lock(&vm->lock);
	if (q < vm->ops->num_queues && vm->queues[q].ready &&
	    (vm->status & live) == VIRTIO_CONFIG_S_DRIVER_OK && vm->ops->queue_notify)
		vm->ops->queue_notify(vm->dev, q);
	pthread_mutex_unlock(&vm->lock);
}

void virtio_mmio_notify_used(struct virtio_mmio *vm, unsigned int q)
{
	if (q < vm->ops->num_queues && virtq_needs_interrupt(&vm->queues[q]))
		raise_irq(vm, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_set_needs_reset(struct virtio_mmio *vm)
{
	bool was = vm->status & VIRTIO_CONFIG_S_NEEDS_RESET;

	vm->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* §2.1.2: after DRIVER_OK, a configuration change notification. */
	if (!was && (vm->status & VIRTIO_CONFIG_S_DRIVER_OK))
		raise_irq(vm, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_mmio *vm)
{
	vm->config_generation++;
	if (vm->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(vm, VIRTIO_MMIO_INT_CONFIG);
}

/* device_reset: status 0 written (§2.1, §4.2.2.1): back to the initial state. */
static void device_reset(struct virtio_mmio *vm)
{
	if (vm->ops->reset)
		vm->ops->reset(vm->dev);
	for (unsigned int i = 0; i < vm->ops->num_queues; i++)
		virtq_reset(&vm->queues[i]);
	vm->status = 0;
	vm->driver_features = 0;
	vm->device_features_sel = 0;
	vm->driver_features_sel = 0;
	vm->queue_sel = 0;
	__atomic_store_n(&vm->interrupt_status, 0, __ATOMIC_SEQ_CST);
}

/*
 * features_acceptable: §3.1.1 and §6.1: the driver accepts only offered
 * features, and a modern-only device needs VIRTIO_F_VERSION_1 accepted.
 */
static bool features_acceptable(const struct virtio_mmio *vm)
{
	return !(vm->driver_features & ~vm->device_features) &&
	       (vm->driver_features & BIT64(VIRTIO_F_VERSION_1));
}

/*
 * status_write: the driver writes Status (guest value v). 0 resets. The
 * driver may only add bits (§2.1.2: it MUST NOT clear one), so a write that
 * clears one is ignored. FEATURES_OK sticks only for an acceptable feature
 * set (§3.1.1: the driver re-reads it); DRIVER_OK needs FEATURES_OK and
 * calls ops->activate. DEVICE_NEEDS_RESET belongs to the device.
 */
static void status_write(struct virtio_mmio *vm, uint32_t v)
{
	uint32_t old = vm->status, added;

	if (v == 0) {
		device_reset(vm);
		return;
	}
	v = (v & 0xff & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (old & ~v)
		return;
	added = v & ~old;
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(vm))
		v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(v & VIRTIO_CONFIG_S_FEATURES_OK))
		v &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	vm->status = v;
	if ((v & added & VIRTIO_CONFIG_S_DRIVER_OK) && vm->ops->activate &&
	    vm->ops->activate(vm->dev) != 0)
		virtio_mmio_set_needs_reset(vm);
}

/* selected_queue: the queue QueueSel (a guest value) names, or NULL. */
static struct virtq *selected_queue(struct virtio_mmio *vm)
{
	return virtio_mmio_queue(vm, vm->queue_sel);
}

/* set_half: replace the low or high 32 bits of a 64-bit register. */
static void set_half(uint64_t *reg, uint32_t v, bool high)
{
	if (high)
		*reg = (*reg & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*reg = (*reg & ~0xffffffffull) | v;
}

/*
 * queue_write: a write to a per-queue register of the selected queue. Only
 * while the queue is not ready (§4.2.2.2: the driver MUST NOT change a
 * ready queue's setup); a bad QueueNum or ring set-up (refused by virtq)
 * marks the device DEVICE_NEEDS_RESET, and QueueReady then reads 0.
 */
static void queue_write(struct virtio_mmio *vm, uint64_t off, uint32_t v)
{
	struct virtq *q = selected_queue(vm);

	if (!q)
		return;
	if (off == VIRTIO_MMIO_QUEUE_READY) {
		if (!v) {
			q->ready = false;
		} else if (!q->ready && (!(vm->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
		                         virtq_enable(q, vm->driver_features) != 0)) {
			virtio_mmio_set_needs_reset(vm);
		}
		return;
	}
	if (q->ready)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		if (virtq_set_size(q, v) != 0)
			virtio_mmio_set_needs_reset(vm);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc_gpa, v, off == VIRTIO_MMIO_QUEUE_DESC_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_half(&q->avail_gpa, v, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_half(&q->used_gpa, v, off == VIRTIO_MMIO_QUEUE_USED_HIGH);
		break;
	default:
		break;
	}
}

/* reg_write: a 32-bit register write (guest offset and value), lock held. */
static void reg_write(struct virtio_mmio *vm, uint64_t off, uint32_t v)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		vm->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* §3.1.1: no new features after FEATURES_OK; sel > 1 names none. */
		if (!(vm->status & VIRTIO_CONFIG_S_FEATURES_OK) && vm->driver_features_sel < 2)
			set_half(&vm->driver_features, v, vm->driver_features_sel == 1);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		vm->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		vm->queue_sel = v;
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(vm, v);
		break;
	default:
		queue_write(vm, off, v);
		break;
	}
}

/* queue_read: a per-queue register of the selected queue; 0 for none. */
static uint32_t queue_read(struct virtio_mmio *vm, uint64_t off)
{
	struct virtq *q = selected_queue(vm);

	if (!q)
		return 0; /* §4.2.2: QueueNumMax 0 says "no such queue" */
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q->max_size;
	case VIRTIO_MMIO_QUEUE_READY:
		return q->ready;
	default:
		return 0;
	}
}

/* reg_read: a 32-bit register read at guest offset off, lock held. */
static uint32_t reg_read(struct virtio_mmio *vm, uint64_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_MODERN;
	case VIRTIO_MMIO_DEVICE_ID:
		return vm->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (vm->device_features_sel > 1)
			return 0;
		return (uint32_t)(vm->device_features >> (32 * vm->device_features_sel));
	case VIRTIO_MMIO_STATUS:
		return vm->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vm->config_generation;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return VIRTIO_MMIO_NO_SHM;
	default:
		return queue_read(vm, off);
	}
}

/* is_reg_access: a whole, aligned 32-bit access below the config space. */
static bool is_reg_access(uint64_t off, uint32_t len)
{
	return off < VIRTIO_MMIO_CONFIG_OFFSET && len == 4 && !(off & 3);
}

/* config_range: whether [off, off + len) of the window is in config space. */
static bool config_range(const struct virtio_mmio *vm, uint64_t off, uint32_t len)
{
	uint64_t c;

	if (off < VIRTIO_MMIO_CONFIG_OFFSET)
		return false;
	c = off - VIRTIO_MMIO_CONFIG_OFFSET;
	return c < vm->ops->config_size && len <= vm->ops->config_size - c;
}

/*
 * vm_bus_read: a guest read of len bytes at off (< VIRTIO_MMIO_SIZE, with
 * off + len inside the window: the bus checks). Fills all len bytes.
 */
static void vm_bus_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *vm = opaque;
	uint32_t v;

	memset(data, 0, len);
	if (is_reg_access(off, len) && off == VIRTIO_MMIO_INTERRUPT_STATUS) {
		v = __atomic_load_n(&vm->interrupt_status, __ATOMIC_SEQ_CST);
	} else if (is_reg_access(off, len)) {
		pthread_mutex_lock(&vm->lock);
		v = reg_read(vm, off);
		pthread_mutex_unlock(&vm->lock);
	} else {
		if (config_range(vm, off, len) && vm->ops->config_read) {
			pthread_mutex_lock(&vm->lock);
			vm->ops->config_read(vm->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG_OFFSET),
			                     data, len);
			pthread_mutex_unlock(&vm->lock);
		}
		return;
	}
	v = htole32(v);
	memcpy(data, &v, sizeof(v));
}

/*
 * queue_kick: the guest wrote QueueNotify = v (a queue index, guest value;
 * §4.2.2, without VIRTIO_F_NOTIFICATION_DATA). No lock: num_queues and the
 * notify fds do not change while vCPUs run.
 */
static void queue_kick(struct virtio_mmio *vm, uint32_t v)
{
	uint64_t one = 1;

	if (v >= vm->ops->num_queues)
		return;
	if (vm->notify_fd[v] < 0) {
		virtio_mmio_queue_notify(vm, v);
		return;
	}
	/* An eventfd counter only fails to take 1 at 2^64 - 2: nothing lost. */
	if (write(vm->notify_fd[v], &one, sizeof(one)) < 0)
		return;
}

static void vm_bus_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *vm = opaque;
	uint32_t v;

	if (!is_reg_access(off, len)) {
		if (config_range(vm, off, len) && vm->ops->config_write) {
			pthread_mutex_lock(&vm->lock);
			vm->ops->config_write(vm->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG_OFFSET),
			                      data, len);
			pthread_mutex_unlock(&vm->lock);
		}
		return;
	}
	memcpy(&v, data, sizeof(v));
	v = le32toh(v);
	if (off == VIRTIO_MMIO_QUEUE_NOTIFY) {
		queue_kick(vm, v);
	} else if (off == VIRTIO_MMIO_INTERRUPT_ACK) {
		__atomic_fetch_and(&vm->interrupt_status, ~v, __ATOMIC_SEQ_CST);
	} else {
		pthread_mutex_lock(&vm->lock);
		reg_write(vm, off, v);
		pthread_mutex_unlock(&vm->lock);
	}
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = vm_bus_read,
	.write = vm_bus_write,
};

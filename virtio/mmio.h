/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio: the modern (version 2) virtio-over-MMIO transport, virtio
 * 1.2 §4.2, and struct virtio_dev_ops, the one seam every device registers
 * through. The transport and the queue code know no device.
 *
 * One struct virtio_mmio is one device instance: a VIRTIO_MMIO_SIZE window
 * on the MMIO bus (registers §4.2.2, config space from 0x100), its status
 * and features (§2.1, §2.2, §3.1), its queues (struct virtq), and its
 * interrupt status, raised through the irq callback given at init.
 *
 * Threading and locking:
 *  - vCPU threads: register reads and writes through virtio_mmio_bus_ops.
 *    They take vm->lock, except InterruptStatus, InterruptACK (atomics, so
 *    an interrupt handler never waits for queue processing) and
 *    QueueNotify (see below). ops->config_read, config_write, activate and
 *    reset are called on a vCPU thread with vm->lock held; they must not
 *    block for long and must not take vm->lock.
 *  - main thread: all queue processing. virtio_mmio_queue_notify takes
 *    vm->lock and calls ops->queue_notify with it held; work that starts
 *    elsewhere (an I/O completion) brackets its pops and pushes with
 *    virtio_mmio_lock/unlock. virtio_mmio_notify_used,
 *    virtio_mmio_set_needs_reset and virtio_mmio_config_changed expect the
 *    lock held. So a reset (on a vCPU thread, lock held) never runs in the
 *    middle of a batch; a device must drop completions of requests that it
 *    started before a reset.
 *  - QueueNotify written by the guest (when no KVM ioeventfd took it): with
 *    a notify fd set for the queue (virtio_mmio_set_notify_fd, the same
 *    eventfd the ioeventfd signals) the transport writes the eventfd and the
 *    main thread sees an ordinary notification; without one (unit tests)
 *    it calls virtio_mmio_queue_notify on the calling thread.
 */
#ifndef KVMBOX_VIRTIO_MMIO_H
#define KVMBOX_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtq.h"
#include "vmm/bus.h"
#include "vmm/gmem.h"

/* The window each device claims: registers and 256 bytes of config space. */
#define VIRTIO_MMIO_SIZE 0x200u
/* §4.2.2: the config space starts at 0x100. */
#define VIRTIO_MMIO_CONFIG_OFFSET 0x100u
#define VIRTIO_MMIO_CONFIG_MAX    (VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG_OFFSET)
/* §4.2.2 QueueNotify: where the VMM registers one ioeventfd per queue, with
 * the queue index as datamatch (4 bytes). */
#define VIRTIO_MMIO_NOTIFY_OFFSET 0x050u
#define VIRTIO_MMIO_MAX_QUEUES    8u
/* §4.2.2: "virt" in little-endian; version 2 is the modern interface. */
#define VIRTIO_MMIO_MAGIC          0x74726976u
#define VIRTIO_MMIO_VERSION_MODERN 2u
#define VIRTIO_MMIO_VENDOR         0x626d766bu /* "kvmb" */

/*
 * virtio_dev_ops: one device type. dev is the opaque pointer given to
 * virtio_mmio_init; a device keeps its struct virtio_mmio * to reach its
 * queues (virtio_mmio_queue) and the negotiated features.
 */
struct virtio_dev_ops {
	const char *name;
	uint32_t device_id; /* §5: 2 block, 1 net, 19 vsock, 26 fs */
	/* Device feature bits. The transport adds VIRTIO_F_VERSION_1,
	 * VIRTIO_RING_F_EVENT_IDX and VIRTIO_RING_F_INDIRECT_DESC and drops the
	 * other transport bits (28..41, §6) that it does not implement. */
	uint64_t features;
	unsigned int num_queues; /* 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max_size; /* QueueNumMax: a power of two <= 32768 */
	uint32_t config_size;    /* bytes of config space, <= VIRTIO_MMIO_CONFIG_MAX */
	/* Config space access: offset + len <= config_size, checked (lock held). */
	void (*config_read)(void *dev, uint32_t offset, void *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t offset, const void *data, uint32_t len);
	/* DRIVER_OK reached: the device may start. Not 0: DEVICE_NEEDS_RESET.
	 * Runs on a vCPU thread: buffers made available before DRIVER_OK are
	 * to be picked up by kicking the main thread, not processed here. */
	int (*activate)(void *dev);
	/* The driver notified queue q (< num_queues, ready, DRIVER_OK set). */
	void (*queue_notify)(void *dev, unsigned int q);
	/* The driver reset the device (status 0); queues are reset after it. */
	void (*reset)(void *dev);
};

/* Where a device sits and how it interrupts. */
struct virtio_mmio_params {
	uint64_t base;             /* GPA of the window */
	uint32_t gsi;              /* its interrupt line, for the command line */
	void (*irq)(void *opaque); /* raise the (edge) interrupt: irqfd write */
	void *irq_opaque;
};

struct virtio_mmio {
	pthread_mutex_t lock; /* guards everything below but the atomics */
	const struct virtio_dev_ops *ops;
	void *dev;
	struct virtio_mmio_params p;

	uint64_t device_features; /* ops->features plus the transport's */
	uint64_t driver_features; /* as written; accepted at FEATURES_OK */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel; /* guest value: checked at each use */
	uint32_t status;    /* §2.1 device status */
	uint32_t config_generation;

	uint32_t interrupt_status;             /* __atomic: bit 0 used buffer, bit 1 config */
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES]; /* -1: none (set before vCPUs run) */
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
};

extern const struct bus_ops virtio_mmio_bus_ops;

/*
 * virtio_mmio_init: a device instance in reset state. ops must pass the
 * checks listed in struct virtio_dev_ops, p->irq must be set.
 * Returns 0, -EINVAL, or -errno from pthread_mutex_init.
 */
__attribute__((warn_unused_result)) int virtio_mmio_init(struct virtio_mmio *vm,
                                                         const struct virtio_dev_ops *ops,
                                                         void *dev, const struct gmem *mem,
                                                         const struct virtio_mmio_params *p);

void virtio_mmio_destroy(struct virtio_mmio *vm);

/* virtio_mmio_register: claim [base, base + VIRTIO_MMIO_SIZE) on bus. */
__attribute__((warn_unused_result)) int virtio_mmio_register(struct virtio_mmio *vm,
                                                             struct bus *bus);

/*
 * virtio_mmio_cmdline: "virtio_mmio.device=512@0xd0000000:5" for this
 * device into buf. Returns its length, or -ENOSPC when it does not fit.
 */
int virtio_mmio_cmdline(const struct virtio_mmio *vm, char *buf, size_t size);

/*
 * virtio_mmio_set_notify_fd: the eventfd the VMM registered as ioeventfd
 * for queue q; QueueNotify writes that reach userspace signal it too.
 * Call before the vCPUs run. Returns 0 or -EINVAL (q out of range).
 */
__attribute__((warn_unused_result)) int virtio_mmio_set_notify_fd(struct virtio_mmio *vm,
                                                                  unsigned int q, int fd);

void virtio_mmio_lock(struct virtio_mmio *vm);
void virtio_mmio_unlock(struct virtio_mmio *vm);

/*
 * virtio_mmio_queue_notify: main thread, on the queue's ioeventfd. Takes
 * the lock; calls ops->queue_notify when q < num_queues, the queue is
 * ready, DRIVER_OK is set and DEVICE_NEEDS_RESET is not.
 */
void virtio_mmio_queue_notify(struct virtio_mmio *vm, unsigned int q);

/* virtio_mmio_queue: queue q of the device, NULL when q >= num_queues. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *vm, unsigned int q);

/* virtio_mmio_features: the negotiated features (0 before FEATURES_OK). Lock held. */
uint64_t virtio_mmio_features(const struct virtio_mmio *vm);

/*
 * virtio_mmio_notify_used: after pushes on queue q, interrupt the driver
 * (InterruptStatus bit 0, then irq) if virtq_needs_interrupt says so.
 * Lock held.
 */
void virtio_mmio_notify_used(struct virtio_mmio *vm, unsigned int q);

/*
 * virtio_mmio_set_needs_reset: the device is broken (a queue error): set
 * DEVICE_NEEDS_RESET and, if DRIVER_OK is set, send a configuration change
 * interrupt (§2.1.2). Queue notifications stop reaching the device until
 * the driver resets it. Lock held.
 */
void virtio_mmio_set_needs_reset(struct virtio_mmio *vm);

/* virtio_mmio_config_changed: bump ConfigGeneration, config interrupt. Lock held. */
void virtio_mmio_config_changed(struct virtio_mmio *vm);

#endif

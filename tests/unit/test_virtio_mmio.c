// SPDX-License-Identifier: MIT
/*
 * Unit tests of the virtio-mmio transport (virtio/mmio.c): a toy echo
 * device behind it, a guest driver (virtio_driver.h) in front of it, every
 * register access through the MMIO bus.
 */
#include "check.h"
#include "virtio/mmio.h"
#include "virtio_driver.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RAM_SIZE      (1u << 20)
#define BASE          0xd0000000ull
#define QSIZE         16
#define TOY_FEATURE_A (1ull << 0)
#define TOY_FEATURE_B (1ull << 5)
#define F_VERSION_1   (1ull << VIRTIO_F_VERSION_1)
#define F_RING        ((1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static struct virtq_chain chain;

/* The toy device: completes each chain with its readable length. */
struct toy {
	struct virtio_mmio *vm;
	int activated, resets, notifies, irqs;
	int activate_ret;
	uint8_t config[8];
};

static void toy_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct toy *t = dev;

	memcpy(data, t->config + off, len);
}

static void toy_config_write(void *dev, uint32_t off, const void *data, uint32_t len)
{
	struct toy *t = dev;

	memcpy(t->config + off, data, len);
}

static int toy_activate(void *dev)
{
	struct toy *t = dev;

	t->activated++;
	return t->activate_ret;
}

/* toy_notify: runs with the transport lock held, like the main thread. */
static void toy_notify(void *dev, unsigned int qi)
{
	struct toy *t = dev;
	struct virtq *q = virtio_mmio_queue(t->vm, qi);
	int err;

	t->notifies++;
	while ((err = virtq_pop(q, &chain)) == 0)
		if (virtq_push(q, chain.head, chain.readable_len) != 0)
			abort();
	if (err != -ENOENT)
		virtio_mmio_set_needs_reset(t->vm);
	virtio_mmio_notify_used(t->vm, qi);
}

static void toy_reset(void *dev)
{
	((struct toy *)dev)->resets++;
}

static void toy_irq(void *opaque)
{
	((struct toy *)opaque)->irqs++;
}

static const struct virtio_dev_ops toy_ops = {
	.name = "toy",
	.device_id = 42,
	.features = TOY_FEATURE_A | TOY_FEATURE_B | (1ull << VIRTIO_F_RING_PACKED),
	.num_queues = 2,
	.queue_max_size = 64,
	.config_size = 8,
	.config_read = toy_config_read,
	.config_write = toy_config_write,
	.activate = toy_activate,
	.queue_notify = toy_notify,
	.reset = toy_reset,
};

struct rig {
	struct gmem m;
	struct bus bus;
	struct virtio_mmio vm;
	struct toy toy;
	struct vdrv d;
};

/* rig_init: RAM, bus, the toy device at BASE, a driver queue; aborts on failure. */
static void rig_init(struct rig *r)
{
	struct virtio_mmio_params p = { .base = BASE, .gsi = 5, .irq = toy_irq };

	memset(r, 0, sizeof(*r));
	p.irq_opaque = &r->toy;
	r->toy.vm = &r->vm;
	bus_init(&r->bus);
	if (gmem_init_buffer(&r->m, ram, sizeof(ram)) ||
	    virtio_mmio_init(&r->vm, &toy_ops, &r->toy, &r->m, &p) ||
	    virtio_mmio_register(&r->vm, &r->bus))
		abort();
	vdrv_init(&r->d, &r->m, QSIZE, 0, RAM_SIZE);
}

static uint32_t rd(struct rig *r, uint64_t off)
{
	return vdrv_mmio_read(&r->bus, BASE, off);
}

static void wr(struct rig *r, uint64_t off, uint32_t v)
{
	vdrv_mmio_write(&r->bus, BASE, off, v);
}

/* rig_up: the whole handshake, queue 0 set up, DRIVER_OK. */
static int rig_up(struct rig *r, uint64_t features)
{
	rig_init(r);
	if (!(vdrv_mmio_negotiate(&r->bus, BASE, features) & VIRTIO_CONFIG_S_FEATURES_OK) ||
	    vdrv_mmio_setup_queue(&r->bus, BASE, 0, &r->d) != 1 ||
	    !(vdrv_mmio_driver_ok(&r->bus, BASE) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	return 0;
}

TEST(identity)
{
	struct rig r;

	rig_init(&r);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), 42);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_PFN), 0); /* legacy: absent */
	/* Features: the device's, the transport's, no packed ring. */
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), TOY_FEATURE_A | TOY_FEATURE_B | F_RING);
	wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), F_VERSION_1 >> 32);
	wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	virtio_mmio_destroy(&r.vm);
}

TEST(handshake_and_io)
{
	struct rig r;
	struct vdrv_buf b[2];
	uint32_t id = 0, len = 0;
	uint16_t head;

	CHECK_EQ(rig_up(&r, TOY_FEATURE_B | F_VERSION_1 | F_RING), 0);
	CHECK_EQ(r.toy.activated, 1);
	CHECK_EQ(virtio_mmio_features(&r.vm), TOY_FEATURE_B | F_VERSION_1 | F_RING);
	CHECK(r.vm.queues[0].event_idx && r.vm.queues[0].indirect);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	                                         VIRTIO_CONFIG_S_FEATURES_OK |
	                                         VIRTIO_CONFIG_S_DRIVER_OK);
	b[0] = (struct vdrv_buf){ vdrv_alloc(&r.d, 100), 100, false };
	b[1] = (struct vdrv_buf){ vdrv_alloc(&r.d, 4), 4, true };
	head = vdrv_add_indirect(&r.d, b, 2);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.toy.notifies, 1);
	CHECK(vdrv_get_used(&r.d, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 100);
	CHECK_EQ(r.toy.irqs, 1); /* used_event 0 crossed */
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Suppressed by used_event: the chain completes, no interrupt. */
	vdrv_set_used_event(&r.d, 10);
	vdrv_add_chain(&r.d, b, 2);
	virtio_mmio_queue_notify(&r.vm, 0); /* the ioeventfd path */
	CHECK_EQ(r.toy.notifies, 2);
	CHECK(vdrv_get_used(&r.d, &id, &len));
	CHECK_EQ(r.toy.irqs, 1);
	/* Queue 1 is not ready: its notifications do not reach the device. */
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	CHECK_EQ(r.toy.notifies, 2);
	virtio_mmio_destroy(&r.vm);
}

TEST(features_refused)
{
	struct rig r;

	rig_init(&r);
	/* No VERSION_1: a legacy driver for a modern-only device. */
	CHECK_EQ(vdrv_mmio_negotiate(&r.bus, BASE, TOY_FEATURE_A) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	CHECK_EQ(virtio_mmio_features(&r.vm), 0);
	/* An unoffered bit (the negotiate helper would mask it: write by hand). */
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 3);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(&r, VIRTIO_MMIO_STATUS, 0xb);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0x3);
	/* DRIVER_OK without FEATURES_OK: refused, no activation. */
	wr(&r, VIRTIO_MMIO_STATUS, 0x7);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0x3);
	CHECK_EQ(r.toy.activated, 0);
	/* The right set now passes; features are frozen after FEATURES_OK. */
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(&r, VIRTIO_MMIO_STATUS, 0xb);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0xb);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES, 0x20);
	CHECK_EQ(virtio_mmio_features(&r.vm), TOY_FEATURE_A | F_VERSION_1);
	/* Clearing a bit is not allowed (only 0 resets). */
	wr(&r, VIRTIO_MMIO_STATUS, 0x1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0xb);
	virtio_mmio_destroy(&r.vm);
}

TEST(queue_setup_refused)
{
	struct rig r;

	/* QueueNum not a power of two, then above QueueNumMax. */
	rig_init(&r);
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(&r, VIRTIO_MMIO_QUEUE_NUM, 12);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(r.toy.irqs, 0); /* no DRIVER_OK yet: no config interrupt */
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(r.toy.resets, 2); /* the driver's first step resets too */
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(&r, VIRTIO_MMIO_QUEUE_NUM, 128);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* Rings outside RAM, or misaligned: QueueReady stays 0. */
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	r.d.used = RAM_SIZE;
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	r.d.used = 0x3002;
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* QueueReady before FEATURES_OK. */
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	vdrv_init(&r.d, &r.m, QSIZE, 0, RAM_SIZE);
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Done right, it works; the queue registers are then frozen. */
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 1);
	wr(&r, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(&r, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x9000);
	CHECK_EQ(r.vm.queues[0].size, QSIZE);
	CHECK_EQ(r.vm.queues[0].desc_gpa, r.d.desc);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	virtio_mmio_destroy(&r.vm);
}

/*
 * Found by fuzz_virtio_mmio: a queue enabled, disabled by QueueReady 0,
 * given a descriptor table outside RAM and enabled again must stay off,
 * not run with the earlier enable's ring pointers mixed with a NULL one.
 */
TEST(reenable_with_bad_ring)
{
	struct rig r;

	CHECK_EQ(rig_up(&r, F_VERSION_1 | F_RING), 0);
	wr(&r, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(&r, VIRTIO_MMIO_QUEUE_DESC_LOW, RAM_SIZE + 0x1000);
	wr(&r, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(r.vm.queues[0].desc == NULL && r.vm.queues[0].used == NULL);
	/* A notification now reaches no device and touches no ring. */
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.toy.notifies, 0);
	virtio_mmio_destroy(&r.vm);
}

TEST(queue_sel_out_of_range)
{
	struct rig r;

	rig_init(&r);
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	for (uint32_t sel = 2; sel != 0; sel = sel < 16 ? sel + 1 : (sel << 1)) {
		wr(&r, VIRTIO_MMIO_QUEUE_SEL, sel);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		wr(&r, VIRTIO_MMIO_QUEUE_NUM, 8);
		wr(&r, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
		wr(&r, VIRTIO_MMIO_QUEUE_READY, 1);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0xb);
	virtio_mmio_destroy(&r.vm);
}

TEST(wrong_width)
{
	struct rig r;
	uint64_t v8 = ~0ull;
	uint16_t v2 = 0xffff;
	uint8_t v1 = 0xff;
	uint32_t v4 = 0x3;

	rig_init(&r);
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, false, &v8, 8));
	CHECK_EQ(v8, 0);
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, false, &v2, 2));
	CHECK_EQ(v2, 0);
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_MAGIC_VALUE + 1, false, &v1, 1));
	CHECK_EQ(v1, 0);
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_MAGIC_VALUE + 2, false, &v4, 4));
	CHECK_EQ(v4, 0); /* 32 bits, unaligned */
	v1 = 3;
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_STATUS, true, &v1, 1));
	v2 = 3;
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_STATUS, true, &v2, 2));
	v8 = 3;
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_STATUS, true, &v8, 8));
	v4 = 3;
	CHECK(bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_STATUS + 1, true, &v4, 4));
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	/* Past the window: the bus keeps it away from the device. */
	CHECK(!bus_dispatch(&r.bus, BASE + VIRTIO_MMIO_SIZE - 2, false, &v4, 4));
	virtio_mmio_destroy(&r.vm);
}

TEST(config_space)
{
	struct rig r;
	uint8_t b = 0;
	uint16_t h = 0;
	uint64_t q = 0x0807060504030201ull;
	uint32_t w = 0;

	rig_init(&r);
	CHECK(bus_dispatch(&r.bus, BASE + 0x100, true, &q, 8));
	CHECK_EQ(memcmp(r.toy.config, &q, 8), 0);
	CHECK(bus_dispatch(&r.bus, BASE + 0x103, false, &b, 1));
	CHECK_EQ(b, 4);
	CHECK(bus_dispatch(&r.bus, BASE + 0x106, false, &h, 2));
	CHECK_EQ(h, 0x0807);
	w = 0xdeadbeef;
	CHECK(bus_dispatch(&r.bus, BASE + 0x106, false, &w, 4)); /* past config_size */
	CHECK_EQ(w, 0);
	CHECK(bus_dispatch(&r.bus, BASE + 0x1fc, false, &w, 4));
	CHECK_EQ(w, 0);
	w = 0xffffffff;
	CHECK(bus_dispatch(&r.bus, BASE + 0x106, true, &w, 4)); /* dropped */
	CHECK_EQ(r.toy.config[6], 7);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	virtio_mmio_config_changed(&r.vm);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	CHECK_EQ(r.toy.irqs, 0); /* before DRIVER_OK */
	virtio_mmio_destroy(&r.vm);
}

TEST(reset_by_driver)
{
	struct rig r;

	CHECK_EQ(rig_up(&r, F_VERSION_1 | F_RING), 0);
	CHECK(r.vm.queues[0].ready);
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(r.toy.resets, 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(!r.vm.queues[0].ready);
	CHECK_EQ(r.vm.queues[0].size, 0);
	CHECK_EQ(r.vm.driver_features, 0);
	/* And up again. */
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	vdrv_init(&r.d, &r.m, QSIZE, 0, RAM_SIZE);
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 1);
	CHECK(!r.vm.queues[0].event_idx);
	virtio_mmio_destroy(&r.vm);
}

/* A hostile chain: the device marks itself broken, the guest hears of it. */
TEST(needs_reset_on_bad_chain)
{
	struct rig r;
	struct vdrv_buf b = { RAM_SIZE - 4, 8, false };

	CHECK_EQ(rig_up(&r, F_VERSION_1 | F_RING), 0);
	vdrv_add_chain(&r.d, &b, 1);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(r.toy.irqs, 1);
	/* The driver cannot clear it; notifications stop. */
	wr(&r, VIRTIO_MMIO_STATUS, 0xf);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.toy.notifies, 1);
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_destroy(&r.vm);
}

TEST(activate_fails)
{
	struct rig r;

	rig_init(&r);
	r.toy.activate_ret = -ENOMEM;
	CHECK(vdrv_mmio_negotiate(&r.bus, BASE, F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(vdrv_mmio_setup_queue(&r.bus, BASE, 0, &r.d), 1);
	CHECK(vdrv_mmio_driver_ok(&r.bus, BASE) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(r.toy.irqs, 1);
	virtio_mmio_destroy(&r.vm);
}

TEST(notify_fd)
{
	struct rig r;
	uint64_t n = 0;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ(rig_up(&r, F_VERSION_1), 0);
	CHECK_ERR(virtio_mmio_set_notify_fd(&r.vm, 2, fd), -EINVAL);
	CHECK_EQ(virtio_mmio_set_notify_fd(&r.vm, 0, fd), 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.toy.notifies, 0); /* handed to the main thread instead */
	CHECK_EQ(read(fd, &n, sizeof(n)), 8);
	CHECK_EQ(n, 2);
	close(fd);
	virtio_mmio_destroy(&r.vm);
}

TEST(cmdline_and_init)
{
	struct rig r;
	char buf[64];
	struct virtio_dev_ops bad = toy_ops;
	struct virtio_mmio vm;
	struct virtio_mmio_params p = { .base = BASE, .gsi = 5, .irq = toy_irq };

	rig_init(&r);
	CHECK_EQ(virtio_mmio_cmdline(&r.vm, buf, sizeof(buf)), 35);
	CHECK_EQ(strcmp(buf, "virtio_mmio.device=512@0xd0000000:5"), 0);
	CHECK_ERR(virtio_mmio_cmdline(&r.vm, buf, 35), -ENOSPC);
	CHECK_ERR(virtio_mmio_register(&r.vm, &r.bus), -EEXIST);
	virtio_mmio_destroy(&r.vm);
	bad.queue_max_size = 48;
	CHECK_ERR(virtio_mmio_init(&vm, &bad, NULL, &r.m, &p), -EINVAL);
	bad = toy_ops;
	bad.num_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	CHECK_ERR(virtio_mmio_init(&vm, &bad, NULL, &r.m, &p), -EINVAL);
	bad = toy_ops;
	bad.config_size = 257;
	CHECK_ERR(virtio_mmio_init(&vm, &bad, NULL, &r.m, &p), -EINVAL);
	p.irq = NULL;
	CHECK_ERR(virtio_mmio_init(&vm, &toy_ops, NULL, &r.m, &p), -EINVAL);
}

CHECK_MAIN(CASE(identity), CASE(handshake_and_io), CASE(features_refused),
           CASE(queue_setup_refused), CASE(reenable_with_bad_ring), CASE(queue_sel_out_of_range),
           CASE(wrong_width), CASE(config_space), CASE(reset_by_driver),
           CASE(needs_reset_on_bad_chain), CASE(activate_fails), CASE(notify_fd),
           CASE(cmdline_and_init))

// SPDX-License-Identifier: MIT
/*
 * fuzz_virtio_mmio: the virtio-mmio register file under arbitrary guest
 * accesses. The input is a sequence of 8-byte records
 *   u8 op (bit 0: write, bits 1-2: width 1/2/4/8), u8 pad,
 *   u16 offset (within and past the 0x200 window), u32 value
 * dispatched through the MMIO bus to a transport with a small device whose
 * queue_notify pops and pushes everything (as a real device would). Ring
 * addresses the guest writes point anywhere; RAM is a small buffer, so any
 * host access outside it is an ASan report.
 */
#include "virtio/mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_RAM_SIZE (1u << 16)
#define FUZZ_BASE     0xd0000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dev {
	struct virtio_mmio *t;
	struct virtq_chain chain;
	uint8_t config[16];
};

static void fuzz_config_read(void *dev, uint32_t off, void *out, uint32_t len)
{
	memcpy(out, ((struct fuzz_dev *)dev)->config + off, len);
}

static void fuzz_config_write(void *dev, uint32_t off, const void *in, uint32_t len)
{
	memcpy(((struct fuzz_dev *)dev)->config + off, in, len);
}

static int fuzz_activate(void *dev)
{
	(void)dev;
	return 0;
}

/* Pops every chain, touches every byte of it, pushes it back. */
static void fuzz_notify(void *dev, unsigned int qi)
{
	struct fuzz_dev *d = dev;
	struct virtq *q = virtio_mmio_queue(d->t, qi);
	int err;

	while ((err = virtq_pop(q, &d->chain)) == 0) {
		for (unsigned int i = 0; i < d->chain.nr_segs; i++) {
			volatile uint8_t *p = d->chain.segs[i].host;

			p[0] = p[0];
			p[d->chain.segs[i].len - 1] = p[d->chain.segs[i].len - 1];
		}
		if (virtq_push(q, d->chain.head, d->chain.writable_len))
			abort();
	}
	if (err != -ENOENT)
		virtio_mmio_set_needs_reset(d->t);
	virtio_mmio_notify_used(d->t, qi);
}

static void fuzz_reset(void *dev)
{
	(void)dev;
}

static void fuzz_irq(void *opaque)
{
	(void)opaque;
}

static const struct virtio_dev_ops fuzz_ops = {
	.name = "fuzz",
	.device_id = 42,
	.features = 1ull << 3,
	.num_queues = 2,
	.queue_max_size = 64,
	.config_size = 16,
	.config_read = fuzz_config_read,
	.config_write = fuzz_config_write,
	.activate = fuzz_activate,
	.queue_notify = fuzz_notify,
	.reset = fuzz_reset,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
	static struct fuzz_dev dev;
	struct virtio_mmio_params p = { .base = FUZZ_BASE, .gsi = 5, .irq = fuzz_irq };
	struct virtio_mmio t;
	struct gmem mem;
	struct bus bus;

	memset(ram, 0, sizeof(ram));
	bus_init(&bus);
	if (gmem_init_buffer(&mem, ram, sizeof(ram)) ||
	    virtio_mmio_init(&t, &fuzz_ops, &dev, &mem, &p) || virtio_mmio_register(&t, &bus))
		abort();
	dev.t = &t;
	for (; size >= 8; data += 8, size -= 8) {
		uint8_t buf[8] = { 0 };
		uint32_t value, len = 1u << ((data[0] >> 1) & 3);
		uint16_t off;

		memcpy(&off, data + 2, 2);
		memcpy(&value, data + 4, 4);
		memcpy(buf, &value, 4);
		/* Guest data for the rings lands in RAM too, from the value. */
		memcpy(ram + (off * 4u) % (FUZZ_RAM_SIZE - 4), &value, 4);
		bus_dispatch(&bus, FUZZ_BASE + off % 0x280, data[0] & 1, buf, len);
	}
	virtio_mmio_destroy(&t);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * fuzz_net: the virtio-net device (virtio/net.c, net_rx.c) under a hostile
 * guest: fuzzed descriptor tables and available rings on both queues,
 * fuzzed guest RAM, and frames from the backend to deliver, with a fake
 * backend (tests/unit/test_net.h) on a real io_uring loop.
 *
 * Input layout (little-endian):
 *   byte 0        features: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2
 *                 MRG_RXBUF, bit 3 CSUM, bit 4 GUEST_CSUM; bit 5 "tame"
 *                 descriptors (address folded into the buffer area, length
 *                 below 4 KiB); bit 6 reset the device at the end;
 *                 bit 7 the backend answers -EAGAIN (passt's full
 *                 socket) until it calls net_tx_ready, after the first
 *                 passes
 *   byte 1        avail entries published: low nibble transmit, high
 *                 nibble receive (more than QSIZE breaks a ring on purpose)
 *   byte 2        frames the backend pushes (low 3 bits), their length
 *                 scale (the rest)
 *   then          the receive queue's descriptors (QSIZE x 16 bytes) and
 *                 avail entries (QSIZE x le16), the same for transmit
 *   the rest      guest RAM from BUF_GPA; the pushed frames are cut from it
 *
 * Beyond ASan and UBSan: every frame the backend gets is one the policy
 * allows (the fake backend checks); unless the device asked for a reset,
 * every transmit chain popped went back used; the receive queue never
 * publishes more than was made available.
 */
#include "../unit/test_net.h"

#include <endian.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_RAM      0x40000u /* 256 KiB */
#define F_QSIZE    16u
#define F_RX_BASE  0x0000u
#define F_TX_BASE  0x3000u
#define F_BUF_GPA  0x6000u
#define F_HDR      3u
#define F_Q_BYTES  (F_QSIZE * 16u + F_QSIZE * 2u)
#define F_RAM_OFF  (F_HDR + 2u * F_Q_BYTES)
#define F_BASE_GPA 0xd0000000ull

static struct {
	struct test_rig t;
	struct net net;
	struct fake_be fb;
	struct vdrv rx, tx;
} fz;

static void setup(void)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_NONE };

	test_rig_init(&fz.t, F_RAM, 32);
	mp = test_rig_params(&fz.t, F_BASE_GPA);
	pol(&np.policy);
	if (net_policy_add_rule(&np.policy, "10.0.2.2:80", true) ||
	    net_policy_add_rule(&np.policy, "8.8.8.0/24", false))
		abort();
	fz.fb.be.ops = &fake_gso_ops; /* a tap's: TSO offered */
	if (net_init_with(&fz.net, &np, &fz.t.loop, &fz.t.m, &mp, &fz.fb.be) ||
	    virtio_mmio_register(&fz.net.transport, &fz.t.bus))
		abort();
	fz.fb.policy = &fz.net.params.policy;
}

/* load: one queue's descriptors and avail entries from in. */
static void load(struct vdrv *d, const uint8_t *in, bool tame)
{
	for (unsigned int i = 0; i < F_QSIZE; i++) {
		const uint8_t *e = in + 16 * i;
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next, head;

		memcpy(&addr, e, 8);
		memcpy(&len, e + 8, 4);
		memcpy(&flags, e + 12, 2);
		memcpy(&next, e + 14, 2);
		memcpy(&head, in + 16 * F_QSIZE + 2 * i, 2);
		addr = le64toh(addr);
		len = le32toh(len);
		if (tame) {
			addr = F_BUF_GPA + addr % (F_RAM - F_BUF_GPA);
			len %= 0x1000;
		}
		vdrv_desc(d, d->desc, i, addr, len, le16toh(flags), le16toh(next));
		vdrv_store16(d, d->avail + 4 + 2 * i, le16toh(head));
	}
}

static void fake_clear(void)
{
	fake_destroy(&fz.fb.be);
	fz.fb.not_allowed = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t features = F_VERSION_1 | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_MTU) |
	                    (1ull << VIRTIO_NET_F_STATUS);
	const struct virtq *txq, *rxq;
	size_t ram = 0;
	uint64_t sent;
	bool broken;

	if (!fz.t.ram)
		setup();
	if (size < F_RAM_OFF)
		return 0;
	features |= (data[0] & 1 ? F_EVENT_IDX : 0) | (data[0] & 2 ? F_INDIRECT : 0) |
	            (data[0] & 4 ? F_MRG : 0) | (data[0] & 8 ? F_CSUM : 0) |
	            (data[0] & 16 ? F_GCSUM : 0);
	/* TSO with the checksum offload each needs (§5.1.3.1) where the
	 * receive ring's index (data[1]'s high half) is under 8: the bit is
	 * shared, so both halves of the space get each. */
	if (!(data[1] & 0x80))
		features |= (data[0] & 8 ? (1ull << VIRTIO_NET_F_HOST_TSO4) |
		                               (1ull << VIRTIO_NET_F_HOST_TSO6)
		                         : 0) |
		            (data[0] & 16 ? (1ull << VIRTIO_NET_F_GUEST_TSO4) |
		                                (1ull << VIRTIO_NET_F_GUEST_TSO6)
		                          : 0);
	memset(fz.t.ram, 0, F_RAM);
	net_rx_clear(&fz.net); /* each input starts with an empty receive queue */
	if (!(vdrv_mmio_negotiate(&fz.t.bus, F_BASE_GPA, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		abort();
	vdrv_init(&fz.rx, &fz.t.m, F_QSIZE, F_RX_BASE, F_TX_BASE);
	vdrv_init(&fz.tx, &fz.t.m, F_QSIZE, F_TX_BASE, F_BUF_GPA);
	load(&fz.rx, data + F_HDR, data[0] & 32);
	load(&fz.tx, data + F_HDR + F_Q_BYTES, data[0] & 32);
	if (size > F_RAM_OFF) {
		ram = size - F_RAM_OFF < F_RAM - F_BUF_GPA ? size - F_RAM_OFF : F_RAM - F_BUF_GPA;
		memcpy(fz.t.ram + F_BUF_GPA, data + F_RAM_OFF, ram);
	}
	if (vdrv_mmio_setup_queue(&fz.t.bus, F_BASE_GPA, NET_RX_QUEUE, &fz.rx) != 1 ||
	    vdrv_mmio_setup_queue(&fz.t.bus, F_BASE_GPA, NET_TX_QUEUE, &fz.tx) != 1 ||
	    !(vdrv_mmio_driver_ok(&fz.t.bus, F_BASE_GPA) & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();

	vdrv_set_avail_idx(&fz.tx, data[1] & 15);
	fz.fb.fail = data[0] & 128 ? -EAGAIN : 0;
	sent = fz.net.stats.tx_frames + fz.net.stats.tx_errors;
	virtio_mmio_queue_notify(&fz.net.transport, NET_TX_QUEUE);
	test_rig_pump(&fz.t, 4);
	if (fz.fb.fail) {
		/* Held back, none counted, then all of them on a wake-up. */
		if (fz.net.stats.tx_frames + fz.net.stats.tx_errors != sent)
			abort();
		fz.fb.fail = 0;
		net_tx_ready(&fz.net);
		test_rig_pump(&fz.t, 4);
	}
	/* Frames from the backend, cut from the input's RAM part. */
	for (unsigned int i = 0, off = 0; i < (data[2] & 7u); i++) {
		size_t len = 14 + (size_t)(data[2] >> 3) * 61u * (i + 1) % NF_ETH;

		if (off + len > ram)
			break;
		(void)net_rx_push(&fz.net, data + F_RAM_OFF + off, data + F_RAM_OFF + off, len);
		off += (unsigned int)len;
	}
	vdrv_set_avail_idx(&fz.rx, (uint16_t)(data[1] >> 4));
	virtio_mmio_queue_notify(&fz.net.transport, NET_RX_QUEUE);
	test_rig_pump(&fz.t, 4);

	txq = &fz.net.transport.queues[NET_TX_QUEUE];
	rxq = &fz.net.transport.queues[NET_RX_QUEUE];
	broken = fz.net.transport.status & VIRTIO_CONFIG_S_NEEDS_RESET;
	if (fz.fb.not_allowed)
		abort(); /* a frame the policy denies reached the backend */
	if (!broken && txq->used_idx != txq->last_avail_idx)
		abort(); /* a transmit chain never given back */
	if ((uint16_t)(rxq->used_idx) > (uint16_t)(data[1] >> 4))
		abort(); /* more receive buffers used than were offered */
	if (data[0] & 64)
		vdrv_mmio_write(&fz.t.bus, F_BASE_GPA, VIRTIO_MMIO_STATUS, 0);
	fake_clear();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * hg_blk_net: the attacks of virtio-blk (virtio 1.2 §5.2) and virtio-net
 * (§5.1) beyond the ring ones (hg.h). Each is bounded and prints a line.
 */
#include "hg.h"

/* §5.2.6: request types and the header. */
#define BLK_T_IN      0u
#define BLK_T_OUT     1u
#define BLK_T_GET_ID  8u
#define BLK_T_DISCARD 11u

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/*
 * blk_req: request n as a three-descriptor chain at heads 3n..3n+2: the
 * header (in buffer n), the data (len bytes at data, writable for a read)
 * and the status byte (at the end of buffer n).
 */
static uint16_t blk_req(struct hg_dev *d, uint16_t n, uint32_t type, uint64_t sector, uint64_t data,
                        uint32_t len)
{
	uint8_t *b = hg_buf(d, n);
	struct blk_hdr *h = (struct blk_hdr *)(void *)b;
	uint16_t head = (uint16_t)(3 * n);

	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	b[HG_BUF_SIZE - 1] = 0xaa;
	hg_set_desc(d, 0, head, (uintptr_t)b, sizeof(*h), D_NEXT, (uint16_t)(head + 1));
	hg_set_desc(d, 0, (uint16_t)(head + 1), data, len,
	            D_NEXT | (type == BLK_T_IN || type == BLK_T_GET_ID ? D_WRITE : 0),
	            (uint16_t)(head + 2));
	hg_set_desc(d, 0, (uint16_t)(head + 2), (uintptr_t)(b + HG_BUF_SIZE - 1), 1, D_WRITE, 0);
	return head;
}

/* blk_status: the status byte request n got (0xaa: none yet). */
static uint8_t blk_status(const struct hg_dev *d, uint16_t n)
{
	return hg_buf(d, n)[HG_BUF_SIZE - 1];
}

/*
 * blk_reset_reads: 60 reads of 4 KiB in flight, Status 0 at once, then a
 * read that must come back OK from the device set up again.
 */
static void blk_reset_reads(struct hg_dev *d)
{
	hg_dev_setup(d);
	for (uint16_t n = 0; n < 60; n++)
		hg_post(d, 0, blk_req(d, n, BLK_T_IN, n * 8u, (uintptr_t)hg_buf(d, n + 1), 4096));
	hg_notify(d, 0);
	hg_wr32(d, VM_STATUS, 0);
	hg_dev_setup(d);
	hg_post(d, 0, blk_req(d, 0, BLK_T_IN, 0, (uintptr_t)hg_buf(d, 1), 4096));
	hg_notify(d, 0);
	if (hg_wait_answer(d, 0, 1))
		hg_line(d, "reset-reads", "silent");
	else
		hg_line(d, "reset-reads", blk_status(d, 0) == 0 ? "answered" : "failed");
}

/*
 * blk_into_rings: reads whose data lands on the queue's own descriptor
 * table and available ring (the disk's bytes become our ring), the same
 * head re-posted while they run.
 */
static void blk_into_rings(struct hg_dev *d)
{
	struct hg_queue *q = &d->q[0];

	hg_dev_setup(d);
	for (uint16_t n = 0; n < 8; n++) {
		blk_req(d, n, BLK_T_IN, n, n & 1 ? (uintptr_t)q->avail : (uintptr_t)q->desc, 4096);
		hg_post(d, 0, (uint16_t)(3 * n));
		hg_post(d, 0, (uint16_t)(3 * n));
	}
	hg_notify(d, 0);
	hg_wait_used(d, 0, q->avail_idx);
	hg_line(d, "read-into-rings", "done");
}

/* blk_lies: sectors past the end and wrapping, odd lengths, a discard of
 * 2^32 - 1 sectors, GET_ID into one byte, no status byte at all. */
static void blk_lies(struct hg_dev *d)
{
	uint8_t *r = hg_buf(d, 40);

	hg_dev_setup(d);
	hg_post(d, 0, blk_req(d, 0, BLK_T_IN, ~0ull, (uintptr_t)hg_buf(d, 1), 4096));
	hg_post(d, 0, blk_req(d, 2, BLK_T_OUT, ~0ull >> 9, (uintptr_t)hg_buf(d, 3), 4096));
	hg_post(d, 0, blk_req(d, 4, BLK_T_IN, 0, (uintptr_t)hg_buf(d, 5), 511));
	hg_post(d, 0, blk_req(d, 6, BLK_T_GET_ID, 0, (uintptr_t)hg_buf(d, 7), 1));
	memset(r, 0xff, 16);
	hg_post(d, 0, blk_req(d, 8, BLK_T_DISCARD, 0, (uintptr_t)r, 16));
	hg_post(d, 0, blk_req(d, 10, 0x7fffffffu, 0, (uintptr_t)r, 16));
	hg_notify(d, 0);
	hg_wait_used(d, 0, 6);
	/* A request with no writable byte: nothing can carry its status. */
	hg_set_desc(d, 0, 60, (uintptr_t)hg_buf(d, 20), 16, 0, 0);
	hg_post(d, 0, 60);
	hg_notify(d, 0);
	hg_wait_used(d, 0, 7);
	hg_line(d, "lying-requests", "done");
}

void hg_blk_attacks(struct hg_dev *d)
{
	blk_reset_reads(d);
	blk_into_rings(d);
	blk_lies(d);
}

/* §5.1.6: struct virtio_net_hdr with VIRTIO_F_VERSION_1 (num_buffers included). */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define NET_HDR_F_NEEDS_CSUM 1u
#define NET_GSO_TCPV4        1u
#define NET_RXQ              0u
#define NET_TXQ              1u

/* arp_request: a frame asking who has 10.0.2.2 (the user-mode gateway), so
 * that the backend has something to send back; its length. */
static uint32_t arp_request(struct hg_dev *d, uint8_t *f)
{
	static const uint8_t tail[] = { 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1 };
	uint8_t mac[6];

	for (unsigned int i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(uintptr_t)(d->base + VM_CONFIG + i);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	memcpy(f + 12, tail, sizeof(tail));
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, (const uint8_t[]){ 10, 0, 2, 15 }, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, (const uint8_t[]){ 10, 0, 2, 2 }, 4);
	memset(f + 42, 0, 18);
	return 60;
}

/* net_tx: header h and frame len bytes at buffer n as one chain at head n. */
static void net_tx(struct hg_dev *d, uint16_t n, const struct net_hdr *h, uint32_t len)
{
	uint8_t *b = hg_buf(d, n);

	memcpy(b, h, sizeof(*h));
	hg_set_desc(d, NET_TXQ, n, (uintptr_t)b, (uint32_t)sizeof(*h) + len, 0, 0);
	hg_post(d, NET_TXQ, n);
}

/*
 * net_rx_tiny: receive buffers of 1 byte, of 11 (less than the header),
 * and device-readable ones, then frames that the backend answers (ARP to
 * the gateway): what comes back is bigger than any buffer.
 */
static void net_rx_tiny(struct hg_dev *d)
{
	struct net_hdr h = { 0 };

	hg_dev_setup(d);
	for (uint16_t i = 0; i < 96; i++) {
		uint32_t len = i < 32 ? 1 : i < 64 ? 11 : 64;

		hg_set_desc(d, NET_RXQ, i, (uintptr_t)hg_buf(d, 32) + i * 16u, len,
		            i < 64 ? D_WRITE : 0, 0);
		hg_post(d, NET_RXQ, i);
	}
	hg_notify(d, NET_RXQ);
	for (uint16_t n = 0; n < 8; n++)
		net_tx(d, n, &h, arp_request(d, hg_buf(d, n) + sizeof(h)));
	hg_notify(d, NET_TXQ);
	hg_wait_used(d, NET_TXQ, 8);
	hg_spin(20000000);
	hg_line(d, "rx-tiny-buffers", "done");
}

/*
 * net_tx_lies: a zero-length frame, a header cut short, a frame of 64 KiB
 * and more (the chain says more than any frame may be), a checksum asked
 * for at offsets past the frame, GSO fields that lie.
 */
static void net_tx_lies(struct hg_dev *d)
{
	struct net_hdr h = { 0 };
	struct hg_desc *t = (struct hg_desc *)(void *)hg_buf(d, 40);

	hg_dev_setup(d);
	net_tx(d, 0, &h, 0);
	hg_set_desc(d, NET_TXQ, 1, (uintptr_t)hg_buf(d, 1), 6, 0, 0);
	hg_post(d, NET_TXQ, 1);
	h.flags = NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 60000;
	h.csum_offset = 60000;
	net_tx(d, 2, &h, arp_request(d, hg_buf(d, 2) + sizeof(h)));
	h.csum_start = 14;
	h.csum_offset = 65535;
	net_tx(d, 3, &h, arp_request(d, hg_buf(d, 3) + sizeof(h)));
	h.csum_start = 58;
	h.csum_offset = 1;
	net_tx(d, 4, &h, arp_request(d, hg_buf(d, 4) + sizeof(h)));
	h = (struct net_hdr){ .gso_type = NET_GSO_TCPV4, .gso_size = 1, .hdr_len = 0xffff };
	net_tx(d, 5, &h, arp_request(d, hg_buf(d, 5) + sizeof(h)));
	/* 24 table entries of 4 KiB each, all the same page: 96 KiB of frame. */
	for (uint16_t i = 0; i < 24; i++)
		t[i] = (struct hg_desc){ (uintptr_t)hg_buf(d, 6), HG_BUF_SIZE, i < 23 ? D_NEXT : 0,
			                 (uint16_t)(i + 1) };
	hg_set_desc(d, NET_TXQ, 6, (uintptr_t)t, 24 * sizeof(*t), D_INDIRECT, 0);
	hg_post(d, NET_TXQ, 6);
	hg_notify(d, NET_TXQ);
	hg_wait_used(d, NET_TXQ, 7);
	hg_line(d, "tx-lying-frames", "done");
}

void hg_net_attacks(struct hg_dev *d)
{
	net_rx_tiny(d);
	net_tx_lies(d);
}

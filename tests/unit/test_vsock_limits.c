// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-vsock, third part: what bounds the device's claims
 * on the main loop and the host (issue 14): the work per pass on each
 * queue (the rig: test_vsock.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_vsock.h"

/* bad_hdr: a packet for no connection (an RW): the device answers with an RST. */
static struct virtio_vsock_hdr bad_hdr(uint32_t gport)
{
	return (struct virtio_vsock_hdr){
		.src_cid = CID,
		.dst_cid = 2,
		.src_port = gport,
		.dst_port = 7777,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = VIRTIO_VSOCK_OP_RW,
		.buf_alloc = 4096,
	};
}

/* One tx notification handles VSOCK_BUDGET packets; later passes the rest. */
TEST(tx_budget_per_pass)
{
	struct rig r;
	struct virtio_vsock_hdr h = bad_hdr(100);
	struct vdrv_buf b = { .len = HDR };
	uint16_t head;

	rig_init(&r);
	b.gpa = r.txbuf[0];
	memcpy(vdrv_host(&r.tx, b.gpa, HDR), &h, HDR);
	/* The same head, re-posted to fill the ring. */
	head = vdrv_add_chain(&r.tx, &b, 1);
	for (unsigned int i = 1; i < QSIZE; i++)
		vdrv_publish(&r.tx, head);
	virtio_mmio_queue_notify(&r.v->transport, 1);
	CHECK_EQ(vdrv_used_idx(&r.tx), VSOCK_BUDGET);
	CHECK_EQ(r.v->stats.tx_packets, VSOCK_BUDGET);
	test_rig_pump(&r.t, 1);
	CHECK_EQ(vdrv_used_idx(&r.tx), 2 * VSOCK_BUDGET);
	pump(&r);
	CHECK_EQ(vdrv_used_idx(&r.tx), QSIZE);
	CHECK(vsock_live(r.v));
	rig_fini(&r);
}

/* One rx notification fills VSOCK_BUDGET buffers; later passes the rest. */
TEST(rx_budget_per_pass)
{
	enum { N = 200 };
	struct rig r;
	struct pkt p;
	unsigned int got = 0;

	rig_init(&r);
	/* N RSTs owed (no rx buffers yet): one bad packet each. */
	for (unsigned int i = 0; i < N; i++) {
		struct virtio_vsock_hdr h = bad_hdr(1000 + i);

		send_raw(&r, &h, NULL, 0, HDR);
		if (i % 32 == 31)
			pump(&r);
	}
	pump(&r);
	CHECK_EQ(r.v->nr_rsts, N);
	post_rx(&r, QSIZE, RXBUF);
	CHECK_EQ(vdrv_used_idx(&r.rx), VSOCK_BUDGET);
	pump(&r);
	while (get_rx(&r, &p)) {
		CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RST);
		got++;
	}
	CHECK_EQ(got, N);
	CHECK_EQ(r.v->nr_rsts, 0);
	rig_fini(&r);
}

CHECK_MAIN(CASE(tx_budget_per_pass), CASE(rx_budget_per_pass))

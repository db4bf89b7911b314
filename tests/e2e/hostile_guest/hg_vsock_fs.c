// SPDX-License-Identifier: MIT
/*
 * hg_vsock_fs: the attacks of virtio-vsock (virtio 1.2 §5.10) and
 * virtio-fs (§5.11, FUSE) beyond the ring ones (hg.h). Each is bounded and
 * prints a line.
 */
#include "hg.h"

/* §5.10.6: the packet header. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_RXQ       0u
#define VSOCK_TXQ       1u
#define VSOCK_EVQ       2u
#define VSOCK_STREAM    1u
#define VSOCK_OP_REQ    1u
#define VSOCK_OP_RW     5u
#define VSOCK_OP_CREDIT 6u
#define GUEST_CID       3u
#define HOST_CID        2u
#define HOST_PORT       1234u /* tests/e2e/hostile.sh may listen there */

/* vsock_pkt: packet slot i (0..127) of the tx buffers as head i, with a
 * payload of len bytes that the header may contradict. */
static void vsock_pkt(struct hg_dev *d, uint16_t i, const struct vsock_hdr *h, uint32_t len)
{
	uint8_t *p = hg_buf(d, i / 32) + (i % 32) * 128u;

	memcpy(p, h, sizeof(*h));
	hg_set_desc(d, VSOCK_TXQ, i, (uintptr_t)p, (uint32_t)sizeof(*h) + len, 0, 0);
	hg_post(d, VSOCK_TXQ, i);
}

/* vsock_tiny_rx: 1-byte receive buffers filling the rx ring, and the
 * event queue's, so that nothing the device sends back fits. */
static void vsock_tiny_rx(struct hg_dev *d)
{
	struct hg_queue *rx = &d->q[VSOCK_RXQ];

	for (uint16_t i = 0; i < rx->size; i++) {
		hg_set_desc(d, VSOCK_RXQ, i, (uintptr_t)hg_buf(d, 8) + i, 1, D_WRITE, 0);
		hg_post(d, VSOCK_RXQ, i);
	}
	for (uint16_t i = 0; i < 8; i++) {
		hg_set_desc(d, VSOCK_EVQ, i, (uintptr_t)hg_buf(d, 9) + i, 1, D_WRITE, 0);
		hg_post(d, VSOCK_EVQ, i);
	}
	hg_notify(d, VSOCK_RXQ);
	hg_notify(d, VSOCK_EVQ);
}

/*
 * vsock_flood: 1024 packets of every op and type (0..15, 0..3), from and
 * to wrong CIDs, with lengths that lie about the payload, while every
 * receive buffer is 1 byte.
 */
static void vsock_flood(struct hg_dev *d)
{
	struct vsock_hdr h;

	hg_dev_setup(d);
	vsock_tiny_rx(d);
	for (unsigned int batch = 0; batch < 8; batch++) {
		for (uint16_t i = 0; i < 128; i++) {
			unsigned int k = batch * 128 + i;

			h = (struct vsock_hdr){
				.src_cid = k % 7 ? GUEST_CID : 0xffffffffffffffffull,
				.dst_cid = k % 5 ? HOST_CID : GUEST_CID,
				.src_port = 40000 + k,
				.dst_port = k % 3 ? HOST_PORT : k,
				.len = k % 4 == 0   ? 0xffffffffu
				       : k % 4 == 1 ? 65537
				                    : 8,
				.type = (uint16_t)(k % 4),
				.op = (uint16_t)(k % 16),
				.flags = 0xffffffffu,
				.buf_alloc = k % 2 ? 0 : 0xffffffffu,
				.fwd_cnt = 0x80000000u,
			};
			vsock_pkt(d, i, &h, 8);
		}
		hg_notify(d, VSOCK_TXQ);
		hg_wait_used(d, VSOCK_TXQ, d->q[VSOCK_TXQ].avail_idx);
	}
	hg_line(d, "bogus-op-flood", "done");
}

/*
 * vsock_conn_flood: connection requests to the host port from 1100
 * source ports (past the device's connection limit), data pushed on them
 * with no credit, and the device reset while they are open.
 */
static void vsock_conn_flood(struct hg_dev *d)
{
	struct vsock_hdr h = {
		.src_cid = GUEST_CID,
		.dst_cid = HOST_CID,
		.dst_port = HOST_PORT,
		.type = VSOCK_STREAM,
		.buf_alloc = 65536,
	};

	hg_dev_setup(d);
	vsock_tiny_rx(d);
	for (unsigned int k = 0; k < 1100; k++) {
		h.src_port = 50000 + k;
		h.op = VSOCK_OP_REQ;
		h.len = 0;
		vsock_pkt(d, (uint16_t)(k % 128), &h, 0);
		if (k % 128 == 127) {
			hg_notify(d, VSOCK_TXQ);
			hg_wait_used(d, VSOCK_TXQ, d->q[VSOCK_TXQ].avail_idx);
		}
	}
	for (unsigned int k = 0; k < 128; k++) {
		h.src_port = 50000 + k;
		h.op = (uint16_t)(k & 1 ? VSOCK_OP_RW : VSOCK_OP_CREDIT);
		h.len = 64;
		h.buf_alloc = 0;
		h.fwd_cnt = 0xffffffffu;
		vsock_pkt(d, (uint16_t)k, &h, 64);
	}
	hg_notify(d, VSOCK_TXQ);
	hg_wr32(d, VM_STATUS, 0);
	hg_line(d, "conn-flood-reset", "done");
}

void hg_vsock_attacks(struct hg_dev *d)
{
	vsock_flood(d);
	vsock_conn_flood(d);
}

/* FUSE (include/uapi/linux/fuse.h): the request and reply headers. */
struct fuse_in {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;
	uint16_t padding;
};

#define FUSE_LOOKUP       1u
#define FUSE_FORGET       2u
#define FUSE_GETATTR      3u
#define FUSE_MKNOD        8u
#define FUSE_OPEN         14u
#define FUSE_READ         15u
#define FUSE_WRITE        16u
#define FUSE_INIT         26u
#define FUSE_BATCH_FORGET 42u
#define FS_HIPRIO         0u
#define FS_REQQ           1u
#define FUSE_IN_LEN       40u
#define FUSE_OUT_LEN      16u

/*
 * fuse_req: request slot n as the chain at heads 2n, 2n+1: the header
 * (whose len field says claimed, whatever the truth), body bytes of
 * body_len, then out_len writable bytes (none when 0). Returns the slot's
 * reply buffer.
 */
static uint8_t *fuse_req(struct hg_dev *d, unsigned int qi, uint16_t n, uint32_t op, uint64_t node,
                         uint32_t claimed, const void *body, uint32_t body_len, uint32_t out_len)
{
	uint8_t *in = hg_buf(d, 2 * n), *out = hg_buf(d, 2 * n + 1);
	struct fuse_in h = { claimed, op, 1000u + n, node, 0, 0, 1, 0, 0 };
	uint16_t head = (uint16_t)(2 * n);

	memcpy(in, &h, sizeof(h));
	if (body_len)
		memcpy(in + sizeof(h), body, body_len);
	hg_set_desc(d, qi, head, (uintptr_t)in, FUSE_IN_LEN + body_len, out_len ? D_NEXT : 0,
	            (uint16_t)(head + 1));
	hg_set_desc(d, qi, (uint16_t)(head + 1), (uintptr_t)out, out_len, D_WRITE, 0);
	hg_post(d, qi, head);
	return out;
}

/* fs_init: a FUSE_INIT the server takes (7.31, as Linux 5.10 speaks). */
static void fs_init(struct hg_dev *d)
{
	uint32_t init[16] = { 7, 31, 0, 0 };

	fuse_req(d, FS_REQQ, 0, FUSE_INIT, 0, FUSE_IN_LEN + sizeof(init), init, sizeof(init),
	         HG_BUF_SIZE);
	hg_notify(d, FS_REQQ);
	hg_wait_used(d, FS_REQQ, d->q[FS_REQQ].avail_idx);
}

/* fs_len_lies: FUSE_INIT whose header len is 0, short, huge or past the
 * chain, with no reply room, one byte of it, or a page. */
static void fs_len_lies(struct hg_dev *d)
{
	static const uint32_t lens[] = { 0, 8, 39, 0xffffffffu, 1u << 20, 104 };
	static const uint32_t outs[] = { 0, 1, HG_BUF_SIZE };
	uint32_t init[16] = { 7, 31, 0, 0 };
	uint16_t n = 0;

	hg_dev_setup(d);
	for (unsigned int i = 0; i < 6; i++)
		for (unsigned int j = 0; j < 3; j++)
			fuse_req(d, FS_REQQ, n++, FUSE_INIT, 0, lens[i], init, sizeof(init),
			         outs[j]);
	hg_notify(d, FS_REQQ);
	hg_wait_used(d, FS_REQQ, n);
	hg_line(d, "fuse-len-lies", "done");
}

/*
 * fs_op_lies: after a real INIT, requests whose bodies lie: a name with no
 * NUL, a read of 4 GiB - 1 into 16 bytes, a write that claims 1 GiB, a
 * FIFO made and opened, unknown opcodes and nodes, forgets of nodes never
 * looked up with counts that overflow.
 */
static void fs_op_lies(struct hg_dev *d)
{
	uint64_t rd[5] = { 12345, 0, 0xffffffffu, 0, 0 };
	uint64_t wr[5] = { 12345, ~0ull, 1u << 30, 0, 0 };
	uint32_t mk[4] = { 0010644, 0, 0, 0 };
	uint64_t forget[3] = { 0xffffffffu, 1, ~0ull };
	uint8_t *out;

	hg_dev_setup(d);
	fs_init(d);
	fuse_req(d, FS_REQQ, 1, FUSE_LOOKUP, 1, FUSE_IN_LEN + 8, "nonulnon", 8, HG_BUF_SIZE);
	fuse_req(d, FS_REQQ, 2, FUSE_GETATTR, 0xdeadbeefull, FUSE_IN_LEN + 16, rd, 16, 64);
	fuse_req(d, FS_REQQ, 3, FUSE_READ, 1, FUSE_IN_LEN + 40, rd, 40, 16);
	fuse_req(d, FS_REQQ, 4, FUSE_WRITE, 1, (1u << 30) + 80, wr, 40, 16);
	memcpy(hg_buf(d, 40), mk, sizeof(mk));
	memcpy(hg_buf(d, 40) + sizeof(mk), "hfifo", 6);
	fuse_req(d, FS_REQQ, 5, FUSE_MKNOD, 1, FUSE_IN_LEN + 22, hg_buf(d, 40), 22, 256);
	fuse_req(d, FS_REQQ, 6, 0xffffffffu, 1, FUSE_IN_LEN, 0, 0, 64);
	hg_notify(d, FS_REQQ);
	hg_wait_used(d, FS_REQQ, d->q[FS_REQQ].avail_idx);
	out = fuse_req(d, FS_REQQ, 7, FUSE_LOOKUP, 1, FUSE_IN_LEN + 6, "hfifo", 6, 256);
	hg_notify(d, FS_REQQ);
	hg_wait_used(d, FS_REQQ, d->q[FS_REQQ].avail_idx);
	/* fuse_entry_out's nodeid follows the reply header: open it, read it. */
	{
		uint64_t node = *(volatile uint64_t *)(out + FUSE_OUT_LEN);
		uint32_t open_in[2] = { 0, 0 };

		fuse_req(d, FS_REQQ, 8, FUSE_OPEN, node, FUSE_IN_LEN + 8, open_in, 8, 64);
		fuse_req(d, FS_REQQ, 9, FUSE_READ, node, FUSE_IN_LEN + 40, rd, 40, 4096);
	}
	fuse_req(d, FS_HIPRIO, 0, FUSE_FORGET, 1, FUSE_IN_LEN + 8, &forget[2], 8, 0);
	fuse_req(d, FS_HIPRIO, 1, FUSE_BATCH_FORGET, 0, FUSE_IN_LEN + 24, forget, 24, 0);
	hg_notify(d, FS_REQQ);
	hg_notify(d, FS_HIPRIO);
	hg_wait_used(d, FS_REQQ, d->q[FS_REQQ].avail_idx);
	hg_line(d, "fuse-op-lies", "done");
}

/* fs_reset_busy: 100 requests queued to the workers, Status 0 at once,
 * then a real INIT on the device set up again. */
static void fs_reset_busy(struct hg_dev *d)
{
	uint64_t rd[5] = { 1, 0, 1u << 20, 0, 0 };
	int err;

	hg_dev_setup(d);
	fs_init(d);
	for (uint16_t n = 1; n < 100; n++)
		fuse_req(d, FS_REQQ, n, n & 1 ? FUSE_GETATTR : FUSE_READ, 1, FUSE_IN_LEN + 40, rd,
		         40, HG_BUF_SIZE);
	hg_notify(d, FS_REQQ);
	hg_wr32(d, VM_STATUS, 0);
	hg_dev_setup(d);
	fuse_req(d, FS_REQQ, 0, FUSE_INIT, 0, FUSE_IN_LEN + 64, (uint32_t[16]){ 7, 31 }, 64,
	         HG_BUF_SIZE);
	hg_notify(d, FS_REQQ);
	err = hg_wait_answer(d, FS_REQQ, 1);
	hg_line(d, "reset-busy", err ? "silent" : "answered");
}

void hg_fs_attacks(struct hg_dev *d)
{
	fs_len_lies(d);
	fs_op_lies(d);
	fs_reset_busy(d);
}

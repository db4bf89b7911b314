// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-vsock, third part: what bounds the device's claims
 * on the main loop and the host (issue 14): the work per pass on each
 * queue (the rig: test_vsock.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_vsock.h"

#include <fcntl.h>
#include <sys/resource.h>

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

/*
 * Out of descriptors, the listener rests instead of spinning: one failed
 * accept per VSOCK_ACCEPT_BACKOFF_MS, not one per pass of the loop; the
 * client waits in the backlog and is served once descriptors are back.
 */
TEST(accept_emfile_backs_off)
{
	enum { MAX_FILL = 4096 };
	struct rig r;
	struct rlimit old, low;
	struct pkt p;
	int *fill = calloc(MAX_FILL, sizeof(int)), nfill = 0, fd;

	CHECK(fill != NULL);
	rig_init(&r);
	post_rx(&r, 8, RXBUF);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < MAX_FILL && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		fill[nfill++] = fd;
	CHECK(nfill > 1 && nfill < MAX_FILL);
	/* One descriptor for the client; none left for the VMM's accept. */
	close(fill[--nfill]);
	fd = host_connect(&r, "CONNECT 5000\n");
	for (int i = 0; i < 10; i++)
		pump(&r);
	CHECK_EQ(r.v->stats.accept_errors, 1);
	CHECK(r.v->accept_warned);
	CHECK(r.v->backoff_armed);
	CHECK_EQ(r.v->nr_conns, 0);
	/* Descriptors come back: after the rest, the client is served. */
	while (nfill)
		close(fill[--nfill]);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	usleep(2 * VSOCK_ACCEPT_BACKOFF_MS * 1000);
	pump(&r);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, 5000);
	CHECK(!r.v->accept_warned);
	CHECK_EQ(r.v->stats.accept_errors, 1);
	close(fd);
	free(fill);
	rig_fini(&r);
}

/*
 * Guest connections stop at max_conns; the control path's local
 * connections still find their reserved slots.
 */
TEST(guest_conns_capped_local_reserved)
{
	enum { CAP = 4, LOCAL = 6 };
	struct rig r;
	struct pkt p;
	unsigned int responses = 0, rsts = 0;
	int lfd, sv[LOCAL][2];

	rig_init(&r);
	CHECK_EQ(r.v->max_conns, VSOCK_MAX_CONNS - VSOCK_LOCAL_RESERVE);
	r.v->max_conns = CAP;
	post_rx(&r, 64, RXBUF);
	lfd = svc_listen(&r, 6000);
	for (unsigned int i = 0; i < CAP + 2; i++)
		send_pkt(&r, VIRTIO_VSOCK_OP_REQUEST, 7000 + i, 6000, 0, 4096, 0, NULL, 0);
	pump(&r);
	while (get_rx(&r, &p)) {
		responses += p.h.op == VIRTIO_VSOCK_OP_RESPONSE;
		rsts += p.h.op == VIRTIO_VSOCK_OP_RST;
	}
	CHECK_EQ(responses, CAP);
	CHECK_EQ(rsts, 2);
	CHECK_EQ(r.v->stats.conns_refused, 2);
	/* A host client of the unix socket is over the cap too. */
	close(host_connect(&r, "CONNECT 5000\n"));
	pump(&r);
	CHECK_EQ(r.v->nr_conns, CAP);
	/* The control path is not. */
	for (int i = 0; i < LOCAL; i++) {
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv[i]),
		         0);
		CHECK_EQ(vsock_connect_local(r.v, 1024, sv[i][1]), 0);
	}
	CHECK_EQ(r.v->nr_conns, CAP + LOCAL);
	CHECK_EQ(r.v->nr_local, LOCAL);
	for (int i = 0; i < LOCAL; i++)
		close(sv[i][0]);
	close(lfd);
	rig_fini(&r);
}

/* Clients that leave while the guest is asked are freed, with an RST if it was told. */
TEST(abandoned_requests_are_freed)
{
	enum { N = 20, TOLD = 10 };
	struct rig r;
	struct pkt p;
	int fds[N];
	unsigned int rsts = 0;

	rig_init(&r);
	post_rx(&r, TOLD, RXBUF);
	for (int i = 0; i < N; i++)
		fds[i] = host_connect(&r, "CONNECT 5000\n");
	pump(&r);
	CHECK_EQ(r.v->nr_conns, N);
	for (int i = 0; i < TOLD; i++) {
		CHECK(get_rx(&r, &p));
		CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	pump(&r);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 0);
	CHECK_EQ(r.v->stats.abandoned, N);
	post_rx(&r, 2 * N, RXBUF);
	pump(&r);
	while (get_rx(&r, &p))
		rsts += p.h.op == VIRTIO_VSOCK_OP_RST;
	CHECK_EQ(rsts, TOLD);
	rig_fini(&r);
}

/*
 * A REQUEST the guest never answers, and a client that never writes its
 * line, are reset at the deadline; an answered one is not.
 */
TEST(connect_deadline)
{
	struct rig r;
	struct pkt p;
	char buf[16];
	uint32_t hport;
	int asked, silent, open;

	rig_init(&r);
	r.v->connect_timeout_ms = 50;
	post_rx(&r, 16, RXBUF);
	open = open_host(&r, failed, 5001, &hport);
	asked = host_connect(&r, "CONNECT 5000\n");
	silent = host_connect(&r, NULL);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(r.v->nr_conns, 3);
	usleep(100 * 1000);
	pump(&r);
	CHECK_EQ(host_read(&r, asked, buf, sizeof(buf)), -1);
	CHECK_EQ(host_read(&r, silent, buf, sizeof(buf)), -1);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.h.dst_port, 5000);
	CHECK_EQ(r.v->stats.timeouts, 2);
	pump(&r);
	CHECK_EQ(r.v->nr_conns, 1);
	/* The open one still relays. */
	CHECK_EQ(write(open, "hi", 2), 2);
	pump(&r);
	CHECK(get_rx(&r, &p));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 2);
	close(open);
	close(asked);
	close(silent);
	rig_fini(&r);
}

/* guest_connect: the guest asks for host port hport; the op of the answer. */
static uint16_t guest_connect(struct rig *r, uint32_t gport, uint32_t hport)
{
	struct pkt p;

	send_pkt(r, VIRTIO_VSOCK_OP_REQUEST, gport, hport, 0, 4096, 0, NULL, 0);
	pump(r);
	return get_rx(r, &p) ? p.h.op : 0;
}

/*
 * "<path>_<port>" planted as a symlink to another socket (a local user
 * pointing it at a daemon's socket) is refused, and so is a file that is
 * not a socket; a real socket there still works.
 */
TEST(guest_connect_refuses_symlinks)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char link[128], plain[128];
	struct rig r;
	int target, real, fd;

	rig_init(&r);
	post_rx(&r, 16, RXBUF);
	/* The daemon's socket, elsewhere in the folder. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/daemon.sock", r.dir);
	target = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(target >= 0);
	CHECK_EQ(bind(target, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(target, 8), 0);
	snprintf(link, sizeof(link), "%s_6001", r.path);
	CHECK_EQ(symlink(sa.sun_path, link), 0);
	CHECK_EQ(guest_connect(&r, 7001, 6001), VIRTIO_VSOCK_OP_RST);
	/* Nothing reached the daemon. */
	CHECK(accept(target, NULL, NULL) < 0 && errno == EAGAIN);
	/* A plain file under a port's name. */
	snprintf(plain, sizeof(plain), "%s_6002", r.path);
	fd = open(plain, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(guest_connect(&r, 7002, 6002), VIRTIO_VSOCK_OP_RST);
	/* A real socket. */
	real = svc_listen(&r, 6003);
	CHECK_EQ(guest_connect(&r, 7003, 6003), VIRTIO_VSOCK_OP_RESPONSE);
	close(real);
	close(target);
	unlink(sa.sun_path);
	rig_fini(&r);
}

CHECK_MAIN(CASE(tx_budget_per_pass), CASE(rx_budget_per_pass), CASE(accept_emfile_backs_off),
           CASE(guest_conns_capped_local_reserved), CASE(abandoned_requests_are_freed),
           CASE(connect_deadline), CASE(guest_connect_refuses_symlinks))

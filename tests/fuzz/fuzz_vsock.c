// SPDX-License-Identifier: MIT
/*
 * fuzz_vsock: virtio-vsock (virtio/vsock.c, vsock_rx.c, vsock_uds.c) under a hostile
 * guest and hostile host clients, on a real io_uring loop with real unix
 * sockets in a temporary directory ("<path>_6000" is a listening service).
 *
 * The input is a list of records, each a kind byte then its arguments:
 *   0  tx packet: a 44-byte header, a le16 payload length (taken mod
 *      VSOCK_MAX_PKT + 1), the payload bytes as far as the input goes;
 *      the chain is header + length, split at a byte from the input.
 *      Header flag byte: bit 0 forces src_cid/dst_cid valid, bit 1 folds
 *      the ports onto a few values, so that packets meet connections.
 *   1  post rx buffers: count (1..16), size byte (x 64 bytes, may be < 44)
 *   2  run the loop a few rounds
 *   3  host client: connect, write a line (length byte, bytes)
 *   4  a host client writes data (index byte, length byte, bytes)
 *   5  a host client or service socket closes (index byte)
 *   6  accept pending connections on the service socket
 * Each input starts with a driver reset and handshake and ends with a
 * reset, so connections do not leak into the next one. ASan/UBSan catch
 * memory errors; the device must never crash, block or leak.
 */
#define _GNU_SOURCE
#include "../unit/rig.h"
#include "../unit/virtio_driver.h"
#include "virtio/vsock_int.h"

#include <linux/virtio_vsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (8u << 20)
#define BASE     0xd0000000ull
#define QSIZE    64u
#define CID      3u
#define TXBUF    (VSOCK_MAX_PKT + 64u)
#define RXBUF    1024u
#define MAX_FDS  32

struct fuzz {
	struct test_rig t;
	struct vsock *v;
	struct vdrv rx, tx, ev;
	uint64_t rxbuf[QSIZE], txbuf[QSIZE];
	char dir[64], path[96];
	int svc;
	int fds[MAX_FDS];
	unsigned int nr_fds;
	bool ready;
};

static struct fuzz fz;

static void pump(void)
{
	test_rig_pump(&fz.t, 4);
}

static void setup(void)
{
	struct virtio_mmio_params mp;
	struct vsock_params vp = { .guest_cid = CID };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	test_rig_init(&fz.t, RAM_SIZE, 64);
	mp = test_rig_params(&fz.t, BASE);
	fz.v = calloc(1, sizeof(*fz.v));
	strcpy(fz.dir, "/tmp/fuzz_vsock.XXXXXX");
	if (!fz.v || !mkdtemp(fz.dir))
		abort();
	snprintf(fz.path, sizeof(fz.path), "%s/v.sock", fz.dir);
	vp.uds_path = fz.path;
	if (vsock_init(fz.v, &vp, &fz.t.loop, &fz.t.m, &mp) ||
	    virtio_mmio_register(&fz.v->transport, &fz.t.bus))
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_6000", fz.path);
	fz.svc = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fz.svc < 0 || bind(fz.svc, (struct sockaddr *)&sa, sizeof(sa)) || listen(fz.svc, 64))
		abort();
	fz.ready = true;
}

static void handshake(void)
{
	vdrv_mmio_negotiate(&fz.t.bus, BASE, 1ull << VIRTIO_F_VERSION_1);
	vdrv_init(&fz.rx, &fz.t.m, QSIZE, 0, 2u << 20);
	vdrv_init(&fz.tx, &fz.t.m, QSIZE, 2u << 20, RAM_SIZE - (64u << 10));
	vdrv_init(&fz.ev, &fz.t.m, 16, RAM_SIZE - (64u << 10), RAM_SIZE);
	for (unsigned int i = 0; i < QSIZE; i++) {
		fz.rxbuf[i] = vdrv_alloc(&fz.rx, RXBUF * 16);
		fz.txbuf[i] = vdrv_alloc(&fz.tx, TXBUF);
	}
	vdrv_mmio_setup_queue(&fz.t.bus, BASE, 0, &fz.rx);
	vdrv_mmio_setup_queue(&fz.t.bus, BASE, 1, &fz.tx);
	vdrv_mmio_setup_queue(&fz.t.bus, BASE, 2, &fz.ev);
	vdrv_mmio_driver_ok(&fz.t.bus, BASE);
}

/* take: n bytes of input, NULL when it runs out. */
static const uint8_t *take(const uint8_t **data, size_t *size, size_t n)
{
	const uint8_t *p = *data;

	if (*size < n)
		return NULL;
	*data += n;
	*size -= n;
	return p;
}

static void tx_packet(const uint8_t **data, size_t *size)
{
	const uint8_t *h = take(data, size, sizeof(struct virtio_vsock_hdr) + 3), *payload;
	struct virtio_vsock_hdr hdr;
	uint32_t len, split, uid, ulen;
	uint64_t gpa = fz.txbuf[fz.tx.next_desc];
	struct vdrv_buf b[2];

	if (!h)
		return;
	memcpy(&hdr, h, sizeof(hdr));
	if (h[44] & 1) {
		hdr.src_cid = CID;
		hdr.dst_cid = 2;
	}
	if (h[44] & 2) {
		hdr.src_port = 5000 + hdr.src_port % 4;
		hdr.dst_port = hdr.dst_port & 1 ? 6000 : VSOCK_FIRST_PORT + hdr.dst_port % 4;
	}
	len = (uint32_t)(h[45] | h[46] << 8 | (h[44] & 4) << 14) % (VSOCK_MAX_PKT + 1);
	memcpy(vdrv_host(&fz.tx, gpa, sizeof(hdr)), &hdr, sizeof(hdr));
	payload = *data;
	{
		size_t n = *size < len ? *size : len;

		if (n) {
			memcpy(vdrv_host(&fz.tx, gpa + sizeof(hdr), n), payload, n);
			take(data, size, n);
		}
	}
	split = h[44] >> 3;
	len += sizeof(hdr);
	if (split && split < len) {
		b[0] = (struct vdrv_buf){ .gpa = gpa, .len = split };
		b[1] = (struct vdrv_buf){ .gpa = gpa + split, .len = len - split };
		vdrv_add_chain(&fz.tx, b, 2);
	} else {
		b[0] = (struct vdrv_buf){ .gpa = gpa, .len = len };
		vdrv_add_chain(&fz.tx, b, 1);
	}
	virtio_mmio_queue_notify(&fz.v->transport, 1);
	while (vdrv_get_used(&fz.tx, &uid, &ulen))
		;
}

static void post_rx(const uint8_t **data, size_t *size)
{
	const uint8_t *a = take(data, size, 2);
	uint32_t id, len;

	if (!a)
		return;
	while (vdrv_get_used(&fz.rx, &id, &len))
		;
	for (unsigned int i = 0; i <= (a[0] & 15u); i++) {
		struct vdrv_buf b = { .gpa = fz.rxbuf[fz.rx.next_desc],
			              .len = (uint32_t)a[1] * 64 + 1,
			              .writable = true };

		vdrv_add_chain(&fz.rx, &b, 1);
	}
	virtio_mmio_queue_notify(&fz.v->transport, 0);
	while (vdrv_get_used(&fz.rx, &id, &len))
		;
}

static void add_fd(int fd)
{
	if (fd < 0)
		return;
	if (fz.nr_fds == MAX_FDS)
		close(fd);
	else
		fz.fds[fz.nr_fds++] = fd;
}

static void host_client(const uint8_t **data, size_t *size)
{
	const uint8_t *n = take(data, size, 1), *line;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!n || !(line = take(data, size, *n % 40)))
		return;
	strcpy(sa.sun_path, fz.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		if (write(fd, line, *n % 40) < 0) {
			/* the device may have closed it already */
		}
		add_fd(fd);
	} else if (fd >= 0) {
		close(fd);
	}
}

static void host_write(const uint8_t **data, size_t *size)
{
	const uint8_t *a = take(data, size, 2), *bytes;

	if (!a || !(bytes = take(data, size, a[1])) || !fz.nr_fds)
		return;
	if (send(fz.fds[a[0] % fz.nr_fds], bytes, a[1], MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* full or closed: fine */
	}
}

static void host_close(const uint8_t **data, size_t *size)
{
	const uint8_t *a = take(data, size, 1);
	unsigned int i;

	if (!a || !fz.nr_fds)
		return;
	i = *a % fz.nr_fds;
	close(fz.fds[i]);
	fz.fds[i] = fz.fds[--fz.nr_fds];
}

static void svc_accept(void)
{
	for (int fd; (fd = accept4(fz.svc, NULL, NULL, SOCK_NONBLOCK)) >= 0;)
		add_fd(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *k;

	if (!fz.ready)
		setup();
	handshake();
	while ((k = take(&data, &size, 1))) {
		switch (*k % 7) {
		case 0:
			tx_packet(&data, &size);
			break;
		case 1:
			post_rx(&data, &size);
			break;
		case 2:
			pump();
			break;
		case 3:
			host_client(&data, &size);
			break;
		case 4:
			host_write(&data, &size);
			break;
		case 5:
			host_close(&data, &size);
			break;
		default:
			svc_accept();
			break;
		}
	}
	pump();
	vdrv_mmio_write(&fz.t.bus, BASE, VIRTIO_MMIO_STATUS, 0);
	while (fz.nr_fds)
		close(fz.fds[--fz.nr_fds]);
	svc_accept();
	while (fz.nr_fds)
		close(fz.fds[--fz.nr_fds]);
	pump();
	if (fz.v->nr_conns)
		abort(); /* a connection outlived the reset */
	return 0;
}

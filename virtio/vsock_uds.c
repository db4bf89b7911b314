// SPDX-License-Identifier: MIT
/*
 * vsock_uds: the host side of virtio-vsock (vsock.h): the listening unix
 * socket, the "CONNECT <port>\n" handshake of host clients, connects to
 * "<uds_path>_<port>" for the guest, and the per-connection socket I/O.
 *
 * Every socket is nonblocking and watched with one-shot io_uring polls
 * (loop_sqe with a poll SQE of our own; op->mask stays 0 so that the loop
 * does not re-arm them): a connection arms POLLIN only while it wants host
 * data and has none known, POLLOUT only while guest data waits in its
 * buffer. Closing a socket shuts it down first, which completes its polls;
 * the connection is freed by the idle hook once none is armed.
 *
 * What host clients write is untrusted too: the CONNECT line is read with
 * MSG_PEEK up to its newline only (the rest is stream data), at most
 * VSOCK_LINE_MAX bytes, and must be exactly "CONNECT <decimal port>\n".
 */
#define _GNU_SOURCE
#include "virtio/vsock_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* vsock_poll_arm: a one-shot poll of fd for mask, completing into op. */
static int vsock_poll_arm(struct vsock *v, struct loop_op *op, int fd, unsigned int mask)
{
	struct io_uring_sqe *sqe = loop_sqe(v->loop, op);

	if (!sqe)
		return -EBUSY;
	op->mask = 0; /* ours to re-arm, not the loop's */
	io_uring_prep_poll_add(sqe, fd, mask);
	return 0;
}

/* vsock_uds_addr: "<uds_path><suffix>" as a unix address; -ENAMETOOLONG if too long. */
static int vsock_uds_addr(const struct vsock *v, const char *suffix, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s%s", v->uds_path, suffix);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -ENAMETOOLONG : 0;
}

void vsock_uds_arm(struct vsock_conn *c)
{
	bool want_rd = c->state == VSOCK_S_LINE ||
	               (c->state == VSOCK_S_OPEN && !c->host_eof && !c->guest_shut_rcv);

	if (c->state == VSOCK_S_DEAD || c->fd < 0)
		return;
	/*
	 * While the guest is asked, nothing is read from the client, but a
	 * client that leaves must free its connection: watch for a hang-up
	 * only (a half-close is no hang-up: the client may still read).
	 */
	if (c->state == VSOCK_S_REQUEST && !c->rd_armed) {
		if (vsock_poll_arm(c->v, &c->rd_op, c->fd, POLLHUP | POLLERR) < 0) {
			vsock_conn_close(c, true);
			return;
		}
		c->rd_armed = true;
		return;
	}
	/* A failed arm (ring full even after a submit) leaves the socket
	 * unwatched: reset the connection rather than let it hang. */
	if (want_rd && !c->readable && !c->rd_armed) {
		if (vsock_poll_arm(c->v, &c->rd_op, c->fd, POLLIN | POLLRDHUP) < 0) {
			vsock_conn_close(c, true);
			return;
		}
		c->rd_armed = true;
	}
	if (c->buf_len && !c->wr_armed) {
		if (vsock_poll_arm(c->v, &c->wr_op, c->fd, POLLOUT) < 0) {
			vsock_conn_close(c, true);
			return;
		}
		c->wr_armed = true;
	}
}

void vsock_uds_cancel(struct vsock_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->cancelled)
		return;
	/* The socket was shut down, so the polls complete anyway; removing
	 * them is belt and braces. Completions with no op are ignored. */
	c->cancelled = true;
	if (c->rd_armed && (sqe = loop_sqe(c->v->loop, NULL)))
		io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&c->rd_op);
	if (c->wr_armed && (sqe = loop_sqe(c->v->loop, NULL)))
		io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&c->wr_op);
}

/* vsock_parse_line: "CONNECT <port>" (newline stripped) -> port; -EINVAL otherwise. */
static int vsock_parse_line(const char *s, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t p = 0;

	if (strncmp(s, verb, sizeof(verb) - 1))
		return -EINVAL;
	s += sizeof(verb) - 1;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		p = p * 10 + (uint64_t)(*s - '0');
		if (p > UINT32_MAX)
			return -EINVAL;
	}
	*port = (uint32_t)p;
	return 0;
}

/* vsock_uds_request: c knows its guest port: ask the guest (REQUEST from a fresh host port). */
static void vsock_uds_request(struct vsock_conn *c)
{
	c->local_port = vsock_alloc_port(c->v);
	c->state = VSOCK_S_REQUEST;
	c->pending |= VSOCK_P_REQUEST;
	c->v->stats.host_conns++;
	vsock_deadline_start(c);
	vsock_uds_arm(c);
	vsock_rx_process(c->v);
}

/* vsock_uds_line: read more of the CONNECT line of c; a whole one sends the REQUEST. */
static void vsock_uds_line(struct vsock_conn *c)
{
	char tmp[VSOCK_LINE_MAX];
	uint32_t room = VSOCK_LINE_MAX - c->line_len, take;
	const char *nl;
	ssize_t n = recv(c->fd, tmp, room, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->readable = false;
		vsock_uds_arm(c);
		return;
	}
	if (n <= 0) {
		vsock_conn_close(c, false);
		return;
	}
	nl = memchr(tmp, '\n', (size_t)n);
	take = nl ? (uint32_t)(nl - tmp) + 1 : (uint32_t)n;
	if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		vsock_conn_close(c, false);
		return;
	}
	c->line_len += take;
	c->readable = false;
	if (!nl) {
		if (c->line_len == VSOCK_LINE_MAX)
			vsock_conn_close(c, false); /* too long */
		else
			vsock_uds_arm(c);
		return;
	}
	c->line[c->line_len - 1] = '\0';
	if (vsock_parse_line(c->line, &c->peer_port) < 0) {
		vsock_conn_close(c, false);
		return;
	}
	vsock_uds_request(c);
}

/* vsock_uds_flush: write buffered guest data to the host socket. */
static void vsock_uds_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t chunk = VSOCK_BUF_ALLOC - c->buf_head;
		ssize_t n;

		if (chunk > c->buf_len)
			chunk = c->buf_len;
		n = send(c->fd, c->buf + c->buf_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			vsock_conn_close(c, true);
			return;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_BUF_ALLOC;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD)
		c->pending |= VSOCK_P_CREDIT_UPDATE;
	if (c->buf_len)
		return;
	free(c->buf);
	c->buf = NULL;
	c->buf_head = 0;
	/* A SHUTDOWN the guest sent while data was buffered takes effect now. */
	if (c->guest_shut_send) {
		if (c->guest_shut_rcv)
			vsock_conn_close(c, true);
		else
			shutdown(c->fd, SHUT_WR);
	}
}

int vsock_uds_write(struct vsock_conn *c, const struct iovec *iov, int iovcnt, uint32_t len)
{
	uint32_t done = 0, skip;
	ssize_t n;

	if (!len)
		return 0;
	if (!c->buf_len) {
		struct msghdr msg = { .msg_iov = (struct iovec *)(uintptr_t)iov,
			              .msg_iovlen = (size_t)iovcnt };

		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		done = n > 0 ? (uint32_t)n : 0;
	}
	if (len - done > VSOCK_BUF_ALLOC - c->buf_len)
		return -ENOBUFS; /* checked against our credit before: not reached */
	c->rx_cnt += len;
	c->fwd_cnt += done;
	if (done < len && !c->buf) {
		c->buf = malloc(VSOCK_BUF_ALLOC);
		if (!c->buf)
			return -ENOMEM;
	}
	/* Keep what the socket did not take, past the `done` bytes it did. */
	skip = done;
	for (int i = 0; i < iovcnt && done < len; i++) {
		const uint8_t *p = iov[i].iov_base;
		uint32_t seg = (uint32_t)iov[i].iov_len;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		p += skip;
		seg -= skip;
		skip = 0;
		while (seg) {
			uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
			uint32_t k = VSOCK_BUF_ALLOC - tail < seg ? VSOCK_BUF_ALLOC - tail : seg;

			memcpy(c->buf + tail, p, k);
			c->buf_len += k;
			p += k;
			seg -= k;
			done += k;
		}
	}
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD)
		c->pending |= VSOCK_P_CREDIT_UPDATE;
	vsock_uds_arm(c);
	return 0;
}

int vsock_uds_open(struct vsock_conn *c)
{
	struct io_uring_sqe *sqe;
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

	/* The first bytes on a fresh socket: they fit, or the client is gone.
	 * A raw stream's peer speaks no handshake (vsock_connect_stream). */
	if (!c->raw && send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		return -EPIPE;
	c->state = VSOCK_S_OPEN;
	c->readable = false;
	/* The hang-up watch of the REQUEST state gives way to a POLLIN one:
	 * its completion (-ECANCELED) finds c open and looks at the socket. */
	if (c->rd_armed && (sqe = loop_sqe(c->v->loop, NULL)))
		io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&c->rd_op);
	vsock_uds_arm(c);
	return 0;
}

int vsock_uds_peek(struct vsock_conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (int)n;
}

/* vsock_rd_cb: the host socket of c is readable (or hung up, or shut down by us). */
static void vsock_rd_cb(void *opaque, int res, bool more)
{
	struct vsock_conn *c = opaque;
	struct vsock *v = c->v;

	(void)more;
	virtio_mmio_lock(&v->transport);
	c->rd_armed = false;
	if (c->state == VSOCK_S_REQUEST) {
		if (res < 0 || (res & (POLLHUP | POLLERR))) {
			/* The client left before the guest answered. */
			v->stats.abandoned++;
			vsock_conn_close(c, !(c->pending & VSOCK_P_REQUEST));
			vsock_rx_process(v);
		} else {
			vsock_uds_arm(c);
		}
	} else if (c->state != VSOCK_S_DEAD) {
		c->readable = true;
		if (c->state == VSOCK_S_LINE)
			vsock_uds_line(c);
		else
			vsock_rx_process(v);
	}
	virtio_mmio_unlock(&v->transport);
}

/* vsock_wr_cb: the host socket of c takes data again. */
static void vsock_wr_cb(void *opaque, int res, bool more)
{
	struct vsock_conn *c = opaque;
	struct vsock *v = c->v;

	(void)res;
	(void)more;
	virtio_mmio_lock(&v->transport);
	c->wr_armed = false;
	if (c->state != VSOCK_S_DEAD) {
		vsock_uds_flush(c);
		vsock_uds_arm(c);
		vsock_rx_process(v); /* a credit update may be due */
	}
	virtio_mmio_unlock(&v->transport);
}

bool vsock_conn_room(const struct vsock *v, bool local)
{
	if (local)
		return v->nr_conns < VSOCK_MAX_CONNS;
	return v->nr_conns - v->nr_local < v->max_conns && v->nr_conns < VSOCK_MAX_CONNS;
}

struct vsock_conn *vsock_conn_new(struct vsock *v, int fd, enum vsock_state state, bool local)
{
	struct vsock_conn *c;

	if (!vsock_conn_room(v, local)) {
		v->stats.conns_refused++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->v = v;
	c->fd = fd;
	c->state = state;
	c->local = local;
	v->nr_local += local;
	c->rd_op = (struct loop_op){ .cb = vsock_rd_cb, .opaque = c, .fd = -1 };
	c->wr_op = (struct loop_op){ .cb = vsock_wr_cb, .opaque = c, .fd = -1 };
	v->conns[v->nr_conns++] = c;
	return c;
}

int vsock_uds_listen_arm(struct vsock *v)
{
	if (v->listen_fd < 0 || v->listen_armed)
		return 0;
	if (vsock_poll_arm(v, &v->listen_op, v->listen_fd, POLLIN) < 0)
		return -EBUSY;
	v->listen_armed = true;
	return 0;
}

/*
 * vsock_accept_cb: host clients are connecting: take up to VSOCK_BUDGET
 * (the poll fires again for the rest), each reads its line. Out of
 * descriptors, the listener rests instead of polling a backlog that
 * would wake it again at once (vsock_accept_backoff).
 */
static void vsock_accept_cb(void *opaque, int res, bool more)
{
	struct vsock *v = opaque;

	(void)res;
	(void)more;
	virtio_mmio_lock(&v->transport);
	v->listen_armed = false;
	for (unsigned int n = 0; n < VSOCK_BUDGET; n++) {
		struct vsock_conn *c;
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			vsock_accept_backoff(v, errno);
			virtio_mmio_unlock(&v->transport);
			return;
		}
		if (fd < 0)
			break; /* EAGAIN, or an error the next poll reports again */
		v->accept_warned = false;
		c = vsock_conn_new(v, fd, VSOCK_S_LINE, false);
		if (!c) {
			close(fd); /* too many connections */
			continue;
		}
		c->readable = true;
		vsock_deadline_start(c);
		vsock_uds_line(c);
	}
	(void)vsock_uds_listen_arm(v);
	virtio_mmio_unlock(&v->transport);
}

/*
 * vsock_uds_connect: the guest asks for host port P: connect to the socket
 * "<base>_<P>" in the folder of uds_path, never through a symlink.
 *
 * The folder is the one opened at start (v->dir_fd): renaming it or a
 * folder above it afterwards redirects nothing. The name is opened
 * beneath it with O_PATH | O_NOFOLLOW, which pins the very inode looked
 * at (a symlink is opened as itself, and refused: it is not a socket);
 * connecting through /proc/self/fd/N then reaches that inode, so nothing
 * can be swapped in between the check and the connect. What remains:
 * anyone who may create files in that folder can bind a socket of their
 * own under a port's name and serve the guest; keep the folder private
 * (0700), as the VMM's runtime folder is. Needs /proc.
 */
int vsock_uds_connect(struct vsock *v, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path)];
	struct stat st;
	int fd, node, n, err;

	n = snprintf(name, sizeof(name), "%s_%u", v->uds_base, port);
	if (n < 0 || (size_t)n >= sizeof(name))
		return -ENAMETOOLONG;
	node = openat(v->dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (node < 0)
		return -errno;
	err = fstat(node, &st) < 0    ? -errno
	      : S_ISLNK(st.st_mode)   ? -ELOOP
	      : !S_ISSOCK(st.st_mode) ? -ECONNREFUSED
	                              : 0;
	if (err) {
		close(node);
		return err;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", node);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		close(node);
		return err;
	}
	/* A unix connect never waits: it is done, or EAGAIN (backlog full). */
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	close(node);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/*
 * vsock_uds_dir: open the folder of uds_path (O_PATH: no right to list it
 * is needed) and keep the last component, for vsock_uds_connect.
 */
static int vsock_uds_dir(struct vsock *v)
{
	char *slash = strrchr(v->uds_path, '/');
	char *dir;

	if (!slash) {
		dir = strdup(".");
		v->uds_base = v->uds_path;
	} else {
		dir = slash == v->uds_path ? strdup("/")
		                           : strndup(v->uds_path, (size_t)(slash - v->uds_path));
		v->uds_base = slash + 1;
	}
	if (!dir)
		return -ENOMEM;
	v->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return v->dir_fd < 0 ? -errno : 0;
}

int vsock_uds_listen(struct vsock *v)
{
	struct sockaddr_un sa;
	int err;

	/* Room for the longest "_<port>" suffix too: guest connects need it. */
	err = vsock_uds_addr(v, "_4294967295", &sa);
	if (err)
		return -EINVAL;
	err = vsock_uds_addr(v, "", &sa);
	if (err)
		return -EINVAL;
	err = vsock_uds_dir(v);
	if (err)
		return err;
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0)
		return -errno;
	if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto fail;
	}
	/* The node is created with the umask's mode: narrow it before
	 * listening, so that nobody else's connect can succeed. */
	if (chmod(v->uds_path, 0600) < 0 || listen(v->listen_fd, 128) < 0) {
		err = -errno;
		unlink(v->uds_path);
		goto fail;
	}
	v->listen_op = (struct loop_op){ .cb = vsock_accept_cb, .opaque = v, .fd = -1 };
	err = vsock_poll_arm(v, &v->listen_op, v->listen_fd, POLLIN);
	if (err) {
		unlink(v->uds_path);
		goto fail;
	}
	v->listen_armed = true;
	return 0;
fail:
	close(v->listen_fd);
	v->listen_fd = -1;
	return err;
}

/* vsock_connect_fd: ask the guest for port on fd's behalf (vsock.h's two callers). */
static int vsock_connect_fd(struct vsock *v, uint32_t port, int fd, bool local, const void *hello,
                            size_t hello_len)
{
	struct vsock_conn *c;

	virtio_mmio_lock(&v->transport);
	c = vsock_conn_new(v, fd, VSOCK_S_REQUEST, local);
	if (c) {
		c->peer_port = port;
		c->raw = hello_len > 0;
		if (hello_len)
			memcpy(c->hello, hello, hello_len);
		c->hello_len = (uint32_t)hello_len;
		vsock_uds_request(c);
	}
	virtio_mmio_unlock(&v->transport);
	return c ? 0 : -EMFILE;
}

int vsock_connect_local(struct vsock *v, uint32_t port, int fd)
{
	return vsock_connect_fd(v, port, fd, true, NULL, 0);
}

int vsock_connect_stream(struct vsock *v, uint32_t port, int fd, const void *hello,
                         size_t hello_len)
{
	if (!hello_len || hello_len > VSOCK_LINE_MAX)
		return -EINVAL;
	return vsock_connect_fd(v, port, fd, false, hello, hello_len);
}

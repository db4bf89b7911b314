// SPDX-License-Identifier: MIT
/*
 * control: the control socket (control.h): accepting clients, their
 * queues and polls, and decoding what each side sends. The agent's stream
 * is control_link.c's, the client's requests control_ops.c's.
 *
 * Every connection is driven by control_pump, called after any event on
 * it: it writes what is queued, reads what it may (bounded by the other
 * side's queue), and arms the one-shot polls that are still wanted.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* control_poll_arm: a one-shot poll of fd for mask into op (re-armed by us). */
static int control_poll_arm(struct control *ctl, struct loop_op *op, int fd, unsigned int mask)
{
	struct io_uring_sqe *sqe = loop_sqe(ctl->host.loop, op);

	if (!sqe)
		return -EBUSY;
	op->mask = 0; /* ours to re-arm, not the loop's */
	io_uring_prep_poll_add(sqe, fd, mask);
	return 0;
}

/* control_buf_flush: write what fd takes; 0 (empty or would block) or -errno. */
int control_buf_flush(struct proto_buf *b, int fd)
{
	while (b->len) {
		ssize_t n = send(fd, b->data + b->head, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		proto_buf_consume(b, (size_t)n);
	}
	return 0;
}

/* control_queue: frame msg (consumed) with body onto b; 0 or -errno. */
int control_queue(struct proto_buf *b, json_t *msg, const void *body, size_t body_len)
{
	uint8_t *frame;
	size_t len;
	int err;

	if (!msg)
		return -ENOMEM;
	err = proto_frame_pack(msg, body, body_len, &frame, &len);
	json_decref(msg);
	if (err)
		return err;
	err = proto_buf_append(b, frame, len);
	free(frame);
	return err;
}

/* control_kill: close both streams; the idle hook frees c once no op is armed. */
void control_kill(struct control_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	control_link_disarm(c);
	/* shutdown completes any poll armed on the sockets. */
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
	}
	if (c->link_fd >= 0) {
		shutdown(c->link_fd, SHUT_RDWR);
		close(c->link_fd);
	}
	c->fd = c->link_fd = -1;
	proto_decoder_destroy(&c->from_client);
	proto_decoder_destroy(&c->from_agent);
	proto_buf_free(&c->to_client);
	proto_buf_free(&c->to_agent);
}

void control_error(struct control_conn *c, uint64_t id, int err, const char *fmt, ...)
{
	char text[sizeof(((struct proto_why *)0)->text)];
	json_t *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (proto_msg_error(&msg, id, proto_error_code(err), "%s", text) ||
	    control_queue(&c->to_client, msg, NULL, 0))
		control_kill(c);
}

/*
 * control_from_agent: one frame from the agent, re-encoded for the client.
 * The agent's JSON may grow when re-encoded (a real such as 1e-7 comes
 * out as 9.9999999999999995e-08) past PROTO_MAX_JSON: the client gets a
 * too_large error with the frame's id instead of it, and the connection
 * goes on (docs/protocol.md). Any other failure ends the connection.
 */
static void control_from_agent(struct control_conn *c, const struct proto_frame *f)
{
	int err = control_queue(&c->to_client, json_incref(f->msg), f->body, f->body_len);

	if (err == -EMSGSIZE)
		control_error(c, proto_msg_peek_id(f->msg), err,
		              "a frame from the agent is over the JSON size limit of %u bytes "
		              "once re-encoded; it was dropped",
		              PROTO_MAX_JSON);
	else if (err)
		control_kill(c);
}

/*
 * control_feed: bytes from one side into dec; each whole frame goes to
 * on_frame (from the client) or is queued for the client (from the agent).
 * Returns 0, or the decoder's error (the stream is unusable).
 */
int control_feed(struct control_conn *c, struct proto_decoder *dec, const uint8_t *p, size_t n,
                 bool from_client)
{
	struct proto_frame f;
	size_t used;
	int err, got;

	while (n && !c->dead) {
		err = proto_decoder_feed(dec, p, n, &used);
		if (err)
			return err;
		p += used;
		n -= used;
		while (!c->dead && (got = proto_decoder_next(dec, &f)) == 1) {
			if (from_client)
				control_client_frame(c, &f);
			else
				control_from_agent(c, &f);
			proto_frame_clear(&f);
		}
		if (got < 0)
			return got;
	}
	return 0;
}

static bool control_want_client(const struct control_conn *c)
{
	return !c->closing && c->to_agent.len < CONTROL_HIGH_WATER &&
	       c->to_client.len < CONTROL_HIGH_WATER && c->nr_waiting < CONTROL_MAX_WAITING;
}

bool control_want_link(const struct control_conn *c)
{
	return c->link_fd >= 0 && !c->closing && c->to_client.len < CONTROL_HIGH_WATER;
}

/* control_read_client: frames from the client, as many as the queues allow. */
static void control_read_client(struct control_conn *c)
{
	uint8_t buf[65536];

	for (int i = 0; i < CONTROL_READ_CHUNKS && !c->dead && control_want_client(c); i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		int err;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			control_kill(c); /* the client left: its processes end with the link */
			return;
		}
		err = control_feed(c, &c->from_client, buf, (size_t)n, true);
		if (err && !c->dead) {
			/* docs/protocol.md, framing errors: one error, then close. */
			control_error(c, 0, err, "%s", proto_decoder_why(&c->from_client));
			c->closing = true;
		}
	}
}

static void control_rd_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)res;
	(void)more;
	c->rd_armed = false;
	if (!c->dead)
		control_read_client(c);
	control_pump(c);
}

static void control_wr_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)res;
	(void)more;
	c->wr_armed = false;
	control_pump(c);
}

static void control_link_rd_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)res;
	(void)more;
	c->link_rd_armed = false;
	if (!c->dead && c->link_fd >= 0)
		control_read_link(c);
	control_pump(c);
}

static void control_link_wr_cb(void *opaque, int res, bool more)
{
	struct control_conn *c = opaque;

	(void)res;
	(void)more;
	c->link_wr_armed = false;
	control_pump(c);
}

/* control_arm: one-shot poll op on fd for mask unless armed; a full ring ends c. */
static void control_arm(struct control_conn *c, bool want, bool *armed, struct loop_op *op, int fd,
                        unsigned int mask)
{
	if (!want || *armed || c->dead)
		return;
	if (control_poll_arm(c->ctl, op, fd, mask) < 0) {
		control_kill(c);
		return;
	}
	*armed = true;
}

void control_pump(struct control_conn *c)
{
	if (c->dead)
		return;
	if (control_buf_flush(&c->to_client, c->fd) < 0) {
		control_kill(c);
		return;
	}
	if (c->link == CONTROL_LINK_OPEN && control_buf_flush(&c->to_agent, c->link_fd) < 0) {
		control_link_fail(c, "the guest agent's stream broke");
		c->closing = true;
	}
	if (c->closing && !c->to_client.len) {
		control_kill(c);
		return;
	}
	control_arm(c, control_want_client(c), &c->rd_armed, &c->rd_op, c->fd, POLLIN | POLLRDHUP);
	control_arm(c, c->to_client.len > 0, &c->wr_armed, &c->wr_op, c->fd, POLLOUT);
	control_arm(c, control_want_link(c), &c->link_rd_armed, &c->link_rd_op, c->link_fd,
	            POLLIN | POLLRDHUP);
	control_arm(c, c->link == CONTROL_LINK_OPEN && c->to_agent.len > 0, &c->link_wr_armed,
	            &c->link_wr_op, c->link_fd, POLLOUT);
}

/*
 * control_refuse: tell a client we cannot serve, with one error frame (id
 * 0: about the connection, docs/protocol.md) and close fd. The socket is
 * new, so its buffer takes the frame; if not, it only sees the close.
 */
static void control_refuse(int fd, const char *why)
{
	json_t *msg = NULL;
	uint8_t *frame;
	size_t len;

	if (proto_msg_error(&msg, 0, PROTO_ERR_UNAVAILABLE, "%s", why) == 0 &&
	    proto_frame_pack(msg, NULL, 0, &frame, &len) == 0) {
		(void)!send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(frame);
	}
	json_decref(msg);
	close(fd);
}

/* The refusal of a client over the limit, naming it. */
#define CONTROL_FULL_MSG_(n) "too many clients: the control socket serves at most " #n " at once"
#define CONTROL_FULL_MSG(n)  CONTROL_FULL_MSG_(n)

/* control_conn_new: serve fd (nonblocking); NULL when out of memory. */
static struct control_conn *control_conn_new(struct control *ctl, int fd)
{
	struct control_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ctl = ctl;
	c->fd = fd;
	c->link_fd = -1;
	proto_decoder_init(&c->from_client);
	proto_decoder_init(&c->from_agent);
	c->rd_op = (struct loop_op){ .cb = control_rd_cb, .opaque = c, .fd = -1 };
	c->wr_op = (struct loop_op){ .cb = control_wr_cb, .opaque = c, .fd = -1 };
	c->link_rd_op = (struct loop_op){ .cb = control_link_rd_cb, .opaque = c, .fd = -1 };
	c->link_wr_op = (struct loop_op){ .cb = control_link_wr_cb, .opaque = c, .fd = -1 };
	c->timer_op = (struct loop_op){ .cb = control_timer_cb, .opaque = c, .fd = -1 };
	c->deadline_op = (struct loop_op){ .cb = control_deadline_cb, .opaque = c, .fd = -1 };
	ctl->conns[ctl->nr_conns++] = c;
	control_pump(c);
	return c;
}

/* control_accept_cb: clients are connecting (multishot poll of the listener). */
static void control_accept_cb(void *opaque, int res, bool more)
{
	struct control *ctl = opaque;

	(void)more;
	if (res < 0)
		return;
	for (;;) {
		int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break; /* EAGAIN, or an error the next poll reports again */
		if (ctl->nr_conns >= CONTROL_MAX_CONNS)
			control_refuse(fd, CONTROL_FULL_MSG(CONTROL_MAX_CONNS));
		else if (!control_conn_new(ctl, fd))
			close(fd);
	}
}

/* control_idle: free the connections that are closed and have nothing armed. */
static void control_idle(void *opaque)
{
	struct control *ctl = opaque;

	for (unsigned int i = 0; i < ctl->nr_conns;) {
		struct control_conn *c = ctl->conns[i];

		if (c->dead && !c->rd_armed && !c->wr_armed && !c->link_rd_armed &&
		    !c->link_wr_armed && !c->timer_armed && !c->deadline_armed) {
			ctl->conns[i] = ctl->conns[--ctl->nr_conns];
			free(c);
			continue;
		}
		i++;
	}
	control_ports_idle(ctl, false);
}

/*
 * control_stale: whether the file at sa (bind said EADDRINUSE) is a socket
 * nobody listens on, left by a VMM that was killed: connect is refused.
 * Then it is removed and 0 returned: bind may try again. A live socket is
 * -EADDRINUSE, any other file -EEXIST; neither is touched.
 */
int control_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* Nonblocking: a live listener with a full backlog says EAGAIN
	 * rather than holding us up. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	close(fd);
	if (err == -ENOENT)
		return 0;
	if (err != -ECONNREFUSED)
		return -EADDRINUSE;
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

/* control_listen: the socket at ctl->path, mode 0600; 0 or -errno. */
static int control_listen(struct control *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	if (strlen(ctl->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, ctl->path);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0)
		return -errno;
	err = bind(ctl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (err == -EADDRINUSE) {
		err = control_stale(&sa);
		if (!err && bind(ctl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			err = -errno;
	}
	if (err)
		return err;
	/* Narrow the mode before listening: nobody else's connect can succeed. */
	if (chmod(ctl->path, 0600) < 0 || listen(ctl->listen_fd, 64) < 0) {
		err = -errno;
		unlink(ctl->path);
		return err;
	}
	ctl->listen_op = (struct loop_op){ .cb = control_accept_cb, .opaque = ctl };
	err = loop_poll(ctl->host.loop, ctl->listen_fd, POLLIN, &ctl->listen_op);
	if (err)
		unlink(ctl->path);
	return err;
}

int control_init(struct control *ctl, const struct control_host *host, const char *path)
{
	int err;

	*ctl = (struct control){ .host = *host,
		                 .listen_fd = -1,
		                 .link_timeout_ms = CONTROL_LINK_TIMEOUT_MS };
	err = loop_add_idle(host->loop, control_idle, ctl);
	if (err)
		return err;
	ctl->ready = true;
	if (!path)
		return 0;
	ctl->path = strdup(path);
	if (!ctl->path)
		return -ENOMEM;
	err = control_listen(ctl);
	if (err) {
		free(ctl->path);
		ctl->path = NULL; /* not ours to unlink */
	}
	return err;
}

int control_attach(struct control *ctl, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (ctl->nr_conns >= CONTROL_MAX_CONNS) {
		control_refuse(fd, CONTROL_FULL_MSG(CONTROL_MAX_CONNS));
		return -EUSERS;
	}
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || !control_conn_new(ctl, fd)) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

void control_destroy(struct control *ctl)
{
	if (!ctl->ready)
		return;
	for (unsigned int i = 0; i < ctl->nr_conns; i++) {
		control_kill(ctl->conns[i]);
		free(ctl->conns[i]);
	}
	ctl->nr_conns = 0;
	control_metrics_destroy(ctl);
	control_ports_idle(ctl, true);
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->path)
		unlink(ctl->path);
	free(ctl->path);
	control_exec_defaults_free(ctl);
	*ctl = (struct control){ .listen_fd = -1 };
}

// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_relay: published ports, the guest's side (server.h;
 * docs/protocol.md, "Published ports"). The VMM opens a vsock stream to
 * AGENT_RELAY_PORT for each connection a host client made to a published
 * port, and writes one line first, "CONNECT <guest port>\n"; the agent
 * connects to 127.0.0.1:<guest port> and relays bytes both ways until
 * both directions have ended. No network device is needed: the loopback
 * interface is enough (agent_init_loopback brings it up).
 *
 * Everything is nonblocking and driven by the server's epoll loop, level
 * triggered. Back-pressure: bytes read from one side are written to the
 * other at once, through the server's scratch buffer; what the other side
 * does not take is kept (at most AGENT_RELAY_CHUNK bytes per direction)
 * and that direction is not read again until it is written. So a slow
 * reader stops the writer on the far side (through TCP's window in the
 * guest, through vsock credit on the host), and a relay holds at most two
 * chunks; there are at most AGENT_MAX_RELAYS relays.
 *
 * A direction that reads end-of-file shuts the other side's write half
 * once its kept bytes are written (HTTP/1.0 clients half-close). A failed
 * connect (nobody listens on the port: ECONNREFUSED), a read or write
 * error on either side, or AGENT_RELAY_SETUP_MS without a header and a
 * connection closes both sockets: the host client sees end-of-file.
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* relay_dir: one direction's kept bytes, from src to dst. */
static struct agent_relay_dir *relay_dir(struct agent_relay *r, bool up)
{
	return up ? &r->up : &r->down;
}

/* relay_update: the epoll registrations that follow from r's state. */
static void relay_update(struct agent_relay *r)
{
	struct agent_server *srv = r->srv;
	uint32_t host = 0, guest = 0;

	if (r->dead)
		return;
	switch (r->state) {
	case AGENT_RELAY_HEADER:
		host = EPOLLIN;
		break;
	case AGENT_RELAY_CONNECTING:
		guest = EPOLLOUT;
		break;
	case AGENT_RELAY_OPEN:
		if (!r->up.len && !r->up.eof)
			host |= EPOLLIN;
		if (r->down.len)
			host |= EPOLLOUT;
		if (!r->down.len && !r->down.eof)
			guest |= EPOLLIN;
		if (r->up.len)
			guest |= EPOLLOUT;
		break;
	}
	agent_watch_set(srv, &r->host, host);
	agent_watch_set(srv, &r->guest, guest);
}

/* relay_kill: close both sockets; freed by the sweep (between batches). */
static void relay_kill(struct agent_relay *r)
{
	agent_watch_close(r->srv, &r->host);
	agent_watch_close(r->srv, &r->guest);
	free(r->up.buf);
	free(r->down.buf);
	r->up.buf = r->down.buf = NULL;
	r->up.len = r->down.len = 0;
	r->dead = true;
}

/*
 * relay_flush: write d's kept bytes to dst; then, once they are all out
 * and the source ended, shut dst's write half. Returns 0, or -errno when
 * dst is broken.
 */
static int relay_flush(struct agent_relay_dir *d, int dst)
{
	while (d->len) {
		ssize_t n = send(dst, d->buf + d->head, d->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		d->head += (size_t)n;
		d->len -= (size_t)n;
	}
	free(d->buf);
	d->buf = NULL;
	d->head = 0;
	if (d->eof && !d->shut) {
		d->shut = true;
		if (shutdown(dst, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
	}
	return 0;
}

/*
 * relay_pass: one read from src, written through to dst at once; what dst
 * does not take is kept in d. Returns 0, or -errno when a side is broken.
 */
static int relay_pass(struct agent_relay *r, struct agent_relay_dir *d, int src, int dst)
{
	uint8_t *chunk = agent_xfer_chunk(r->srv);
	ssize_t n, w = 0;

	if (!chunk)
		return -ENOMEM;
	n = recv(src, chunk, AGENT_RELAY_CHUNK, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		d->eof = true;
		return relay_flush(d, dst);
	}
	w = send(dst, chunk, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return -errno;
	if (w < 0)
		w = 0;
	if (w == n)
		return 0;
	d->buf = malloc((size_t)(n - w));
	if (!d->buf)
		return -ENOMEM;
	memcpy(d->buf, chunk + w, (size_t)(n - w));
	d->head = 0;
	d->len = (size_t)(n - w);
	return 0;
}

/* relay_parse: "CONNECT <1..65535>" (newline stripped) -> port; -EINVAL otherwise. */
static int relay_parse(const char *s, uint16_t *port)
{
	static const char verb[] = "CONNECT ";
	unsigned long p = 0;

	if (strncmp(s, verb, sizeof(verb) - 1) != 0)
		return -EINVAL;
	s += sizeof(verb) - 1;
	if (!*s || *s == '0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*s - '0');
		if (p > 65535)
			return -EINVAL;
	}
	*port = (uint16_t)p;
	return 0;
}

/* relay_connect: start the connection to 127.0.0.1:port. 0 or -errno. */
static int relay_connect(struct agent_relay *r, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_port = htons(port),
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* A relay adds no delay of its own: the guest's server chose how its
	 * bytes are sent; Nagle here would hold back each small reply. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->guest = (struct agent_watch){ .kind = AGENT_W_RELAY, .fd = fd, .owner = r };
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		r->state = AGENT_RELAY_OPEN;
	else if (errno == EINPROGRESS)
		r->state = AGENT_RELAY_CONNECTING;
	else
		return -errno;
	return 0;
}

/*
 * relay_header: read the header line (up to its newline only: what
 * follows is the client's) and start the connection it names.
 */
static int relay_header(struct agent_relay *r)
{
	char tmp[AGENT_RELAY_LINE];
	size_t room = sizeof(r->line) - r->line_len - 1, take;
	ssize_t n = recv(r->host.fd, tmp, room, MSG_PEEK | MSG_DONTWAIT);
	const char *nl;
	uint16_t port;

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	nl = memchr(tmp, '\n', (size_t)n);
	take = nl ? (size_t)(nl - tmp) + 1 : (size_t)n;
	if (recv(r->host.fd, r->line + r->line_len, take, MSG_DONTWAIT) != (ssize_t)take)
		return -EIO;
	r->line_len += take;
	if (!nl)
		return r->line_len == sizeof(r->line) - 1 ? -EINVAL : 0;
	r->line[r->line_len - 1] = '\0';
	if (relay_parse(r->line, &port))
		return -EINVAL;
	return relay_connect(r, port);
}

/* relay_connected: the connect finished; SO_ERROR says how. */
static int relay_connected(struct agent_relay *r)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(r->guest.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	r->state = AGENT_RELAY_OPEN;
	return 0;
}

/* relay_step: what events on w (one of r's sockets) allow. 0 or -errno. */
static int relay_step(struct agent_relay *r, struct agent_watch *w, uint32_t events)
{
	bool host = w == &r->host;
	int err = 0;

	if (r->state == AGENT_RELAY_HEADER)
		return host ? relay_header(r) : 0;
	if (r->state == AGENT_RELAY_CONNECTING)
		return host ? 0 : relay_connected(r);
	/* Writes first: they may make room for the read. */
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		err = relay_flush(relay_dir(r, !host), w->fd);
	if (!err && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !relay_dir(r, host)->len &&
	    !relay_dir(r, host)->eof)
		err = relay_pass(r, relay_dir(r, host), w->fd, host ? r->guest.fd : r->host.fd);
	return err;
}

void agent_relay_event(struct agent_watch *w, uint32_t events)
{
	struct agent_relay *r = w->owner;

	if (r->dead || relay_step(r, w, events) < 0) {
		relay_kill(r);
		return;
	}
	if (r->state == AGENT_RELAY_OPEN && r->up.shut && r->down.shut) {
		relay_kill(r); /* both directions ended */
		return;
	}
	relay_update(r);
}

int agent_server_add_relay(struct agent_server *srv, int fd)
{
	struct agent_relay *r;

	if (srv->nrelays >= AGENT_MAX_RELAYS) {
		close(fd); /* the host client sees end-of-file */
		return -EMFILE;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return -ENOMEM;
	}
	r->srv = srv;
	r->host = (struct agent_watch){ .kind = AGENT_W_RELAY, .fd = fd, .owner = r };
	r->guest = (struct agent_watch){ .kind = AGENT_W_RELAY, .fd = -1, .owner = r };
	r->deadline = agent_now_ms() +
	              (srv->opts.relay_setup_ms ? srv->opts.relay_setup_ms : AGENT_RELAY_SETUP_MS);
	r->next = srv->relays;
	srv->relays = r;
	srv->nrelays++;
	relay_update(r);
	return 0;
}

int agent_server_relay_listen(struct agent_server *srv, int fd)
{
	if (srv->relay_listen.fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	srv->relay_listen =
	    (struct agent_watch){ .kind = AGENT_W_RELAY_LISTEN, .fd = fd, .owner = srv };
	agent_watch_set(srv, &srv->relay_listen, EPOLLIN);
	return srv->relay_listen.events ? 0 : -EINVAL;
}

/* agent_relay_accept: take up to AGENT_RELAY_ACCEPTS new streams (level triggered: the rest later).
 */
void agent_relay_accept(struct agent_server *srv)
{
	for (int i = 0; i < AGENT_RELAY_ACCEPTS; i++) {
		int fd = accept4(srv->relay_listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		(void)agent_server_add_relay(srv, fd);
	}
}

uint64_t agent_relay_timers(struct agent_server *srv, uint64_t now, uint64_t next)
{
	for (struct agent_relay *r = srv->relays; r; r = r->next) {
		if (r->dead || r->state == AGENT_RELAY_OPEN)
			continue;
		if (now >= r->deadline)
			relay_kill(r);
		else if (r->deadline < next)
			next = r->deadline;
	}
	return next;
}

void agent_relay_sweep(struct agent_server *srv, bool all)
{
	for (struct agent_relay **rp = &srv->relays; *rp;) {
		struct agent_relay *r = *rp;

		if (all && !r->dead)
			relay_kill(r);
		if (!r->dead) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		srv->nrelays--;
		free(r);
	}
}

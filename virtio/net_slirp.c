// SPDX-License-Identifier: MIT
/*
 * net_slirp: virtio-net's user-mode backend (net_int.h): libslirp in this
 * process, on the main loop. The guest gets a NATed 10.0.2.0/24-style
 * network (its addresses from the policy's link): the gateway maps to the
 * host's loopback, the resolver forwards to the host's, and its TCP and
 * UDP flows become ordinary sockets of the VMM. No root is needed.
 *
 * libslirp's loop model (libslirp.h) is poll(2)'s: fill a table of fds
 * with the events wanted, poll, hand back what came. On io_uring that
 * becomes: after each pass of the loop that touched slirp (the idle hook),
 * the table is filled again and mirrored into an epoll set (only changes
 * cost a syscall); the loop polls the epoll fd, and a timerfd carries
 * slirp's own timers and the longest it may go unpolled. While the
 * device's receive queue is nearly full, slirp is not asked to read its
 * sockets: the host's data waits in the kernel, and TCP's window does the
 * rest.
 */
#define _GNU_SOURCE
#include "virtio/net_int.h"

#include <errno.h>
#include <libslirp.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NET_SLIRP_MAX_FDS 4096 /* fds polled per fill; past it, later */
#define NET_SLIRP_TIMERS  4    /* libslirp 4.7 makes one (IPv6 RA) */
#define NET_SLIRP_EVENTS  64   /* epoll events taken per wake-up */
/* Receive queue room under which slirp's sockets are not read. */

struct net_slirp_timer {
	bool used, armed;
	int64_t expire_ms;
	SlirpTimerCb cb;
	void *cb_opaque;
};

/* What the epoll set holds for one fd. */
struct net_slirp_reg {
	int events; /* EPOLL* registered; 0: not in the set */
	int idx;    /* its index in the last fill */
	uint32_t gen;
};

struct net_slirp {
	struct net_backend be;
	Slirp *slirp;
	int epfd, tfd;
	struct loop_op ep_op, t_op, kick_op;
	bool dirty;     /* slirp ran: fill again */
	bool kicked;    /* kick_op is in the ring */
	bool throttled; /* the last fill left reads out (backpressure) */
	uint32_t gen;
	struct pollfd *fds; /* the last fill */
	unsigned int nr_fds, cap_fds;
	struct net_slirp_reg *reg; /* by fd */
	unsigned int nr_reg;
	struct net_slirp_timer timers[NET_SLIRP_TIMERS];
};

/* Backpressure: the device's receive queue has less than half its room
 * left, so the host's sockets are not read (their data waits in the
 * kernel, and TCP's window does the rest). */
static bool net_slirp_low_room(const struct net *n)
{
	return net_rx_room(n) < net_rx_capacity(n) / 2;
}

static int64_t net_slirp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t net_slirp_clock(void *opaque)
{
	(void)opaque;
	return net_slirp_now_ns();
}

/* send_packet: a frame for the guest; DATA_VALID, slirp's sums are whole. */
static ssize_t net_slirp_out(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *s = opaque;
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };

	if (net_rx_push(s->be.net, (const uint8_t *)&h, buf, len) < 0)
		return -1; /* dropped and counted: TCP sends again */
	return (ssize_t)len;
}

static void net_slirp_guest_error(const char *msg, void *opaque)
{
	(void)msg; /* a guest's own doing: not worth a line per packet */
	(void)opaque;
}

static void *net_slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net_slirp *s = opaque;

	for (unsigned int i = 0; i < NET_SLIRP_TIMERS; i++) {
		if (!s->timers[i].used) {
			s->timers[i] = (struct net_slirp_timer){ .used = true,
				                                 .cb = cb,
				                                 .cb_opaque = cb_opaque };
			return &s->timers[i];
		}
	}
	return NULL; /* libslirp then runs without that timer */
}

static void net_slirp_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	if (timer)
		*(struct net_slirp_timer *)timer = (struct net_slirp_timer){ 0 };
}

static void net_slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct net_slirp *s = opaque;
	struct net_slirp_timer *t = timer;

	if (!t)
		return;
	t->expire_ms = expire_ms;
	t->armed = true;
	s->dirty = true; /* the timerfd is set at the next fill */
}

/* net_slirp_unreg: fd leaves the epoll set (slirp closes it next). */
static void net_slirp_unreg(int fd, void *opaque)
{
	struct net_slirp *s = opaque;

	if (fd < 0 || (unsigned int)fd >= s->nr_reg || !s->reg[fd].events)
		return;
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->reg[fd].events = 0;
}

static void net_slirp_reg_fd(int fd, void *opaque)
{
	(void)fd; /* the fill says what to poll */
	(void)opaque;
}

static void net_slirp_notify(void *opaque)
{
	((struct net_slirp *)opaque)->dirty = true;
}

static const SlirpCb net_slirp_cb = {
	.send_packet = net_slirp_out,
	.guest_error = net_slirp_guest_error,
	.clock_get_ns = net_slirp_clock,
	.timer_new = net_slirp_timer_new,
	.timer_free = net_slirp_timer_free,
	.timer_mod = net_slirp_timer_mod,
	.register_poll_fd = net_slirp_reg_fd,
	.unregister_poll_fd = net_slirp_unreg,
	.notify = net_slirp_notify,
};

/* net_slirp_grow_reg: room in s->reg for fd. */
static int net_slirp_grow_reg(struct net_slirp *s, int fd)
{
	unsigned int n = s->nr_reg ? s->nr_reg : 64;
	struct net_slirp_reg *r;

	while (n <= (unsigned int)fd)
		n *= 2;
	r = realloc(s->reg, n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r + s->nr_reg, 0, (n - s->nr_reg) * sizeof(*r));
	s->reg = r;
	s->nr_reg = n;
	return 0;
}

static int net_slirp_to_epoll(int ev)
{
	return (ev & SLIRP_POLL_IN ? EPOLLIN : 0) | (ev & SLIRP_POLL_OUT ? EPOLLOUT : 0) |
	       (ev & SLIRP_POLL_PRI ? EPOLLPRI : 0);
}

/*
 * net_slirp_add_poll: one fd of the fill: its index in the table, its
 * events mirrored into the epoll set. -1 (slirp skips it this round)
 * past NET_SLIRP_MAX_FDS or when memory runs out.
 */
static int net_slirp_add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *s = opaque;
	struct epoll_event ev = { .data.fd = fd };
	struct net_slirp_reg *r;

	if (fd < 0 || s->nr_fds == NET_SLIRP_MAX_FDS)
		return -1;
	if (s->nr_fds == s->cap_fds) {
		unsigned int cap = s->cap_fds ? s->cap_fds * 2 : 64;
		struct pollfd *p = realloc(s->fds, cap * sizeof(*p));

		if (!p)
			return -1;
		s->fds = p;
		s->cap_fds = cap;
	}
	if ((unsigned int)fd >= s->nr_reg && net_slirp_grow_reg(s, fd))
		return -1;
	/* Backpressure: no reading while the guest's queue is nearly full. */
	if ((events & SLIRP_POLL_IN) && net_slirp_low_room(s->be.net)) {
		events &= ~SLIRP_POLL_IN;
		s->throttled = true;
	}
	r = &s->reg[fd];
	ev.events = (uint32_t)net_slirp_to_epoll(events);
	if (!ev.events && r->events) {
		/* Nothing wanted: out of the set, or its hang-up would
		 * wake us again and again for nothing. */
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
		r->events = 0;
	} else if (ev.events && r->events != (int)ev.events) {
		int op = r->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

		if (epoll_ctl(s->epfd, op, fd, &ev) < 0 &&
		    (errno != ENOENT || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0))
			return -1;
		r->events = (int)ev.events;
	}
	r->idx = (int)s->nr_fds;
	r->gen = s->gen;
	s->fds[s->nr_fds++] = (struct pollfd){ .fd = fd, .events = (short)events };
	return r->idx;
}

static int net_slirp_revents(int idx, void *opaque)
{
	struct net_slirp *s = opaque;

	if (idx < 0 || (unsigned int)idx >= s->nr_fds)
		return 0;
	return s->fds[idx].revents;
}

/* net_slirp_arm_timer: the timerfd at the earliest timer or timeout_ms. */
static void net_slirp_arm_timer(struct net_slirp *s, uint32_t timeout_ms)
{
	int64_t now_ms = net_slirp_now_ns() / 1000000,
	        at = now_ms + (timeout_ms < 1000 ? timeout_ms : 1000);
	struct itimerspec its = { 0 };

	for (unsigned int i = 0; i < NET_SLIRP_TIMERS; i++)
		if (s->timers[i].armed && s->timers[i].expire_ms < at)
			at = s->timers[i].expire_ms;
	if (at <= now_ms)
		at = now_ms + 1; /* late is fine, a busy loop is not */
	its.it_value.tv_sec = at / 1000;
	its.it_value.tv_nsec = (at % 1000) * 1000000;
	(void)timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/*
 * net_slirp_fill: libslirp's table filled again and the epoll set made to
 * match; the timerfd set for its timers and timeout.
 */
static void net_slirp_fill(struct net_slirp *s)
{
	uint32_t timeout = UINT32_MAX;

	s->dirty = false;
	s->gen++;
	s->nr_fds = 0;
	s->throttled = false;
	slirp_pollfds_fill(s->slirp, &timeout, net_slirp_add_poll, s);
	/* Whatever this fill did not name leaves the epoll set. */
	for (unsigned int fd = 0; fd < s->nr_reg; fd++) {
		if (s->reg[fd].events && s->reg[fd].gen != s->gen) {
			(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, (int)fd, NULL);
			s->reg[fd].events = 0;
		}
	}
	net_slirp_arm_timer(s, timeout);
}

/* net_slirp_idle: after a pass that touched slirp, fill again. */
static void net_slirp_idle(void *opaque)
{
	struct net_slirp *s = opaque;

	if (s->dirty)
		net_slirp_fill(s);
}

/*
 * net_slirp_to_revents: epoll's events for table entry p as libslirp's,
 * only those it asked for. libslirp reads a TCP socket on an error or
 * hang-up as on input, and asserts that it has room then (soread): it
 * asks for input only when it has. So where it did not ask for input, an
 * error or hang-up is reported as output (the write finds the error).
 */
static short net_slirp_to_revents(const struct pollfd *p, uint32_t e)
{
	int r = (e & EPOLLIN ? SLIRP_POLL_IN : 0) | (e & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
	        (e & EPOLLPRI ? SLIRP_POLL_PRI : 0);

	r &= p->events;
	if (e & (EPOLLERR | EPOLLHUP)) {
		if (p->events & SLIRP_POLL_IN)
			r |= (e & EPOLLERR ? SLIRP_POLL_ERR : 0) |
			     (e & EPOLLHUP ? SLIRP_POLL_HUP : 0);
		else
			r |= p->events & SLIRP_POLL_OUT;
	}
	return (short)r;
}

/*
 * net_slirp_poll: hand slirp what epoll sees now (events false: nothing,
 * its timeouts only). Every poll follows a fill of its own: a second poll
 * on an old table would hand libslirp input on a socket it has since
 * filled its buffer from, which it does not survive.
 */
static void net_slirp_poll(struct net_slirp *s, bool events)
{
	struct epoll_event ev[NET_SLIRP_EVENTS];
	int n;

	if (s->dirty)
		net_slirp_fill(s);
	n = events ? epoll_wait(s->epfd, ev, NET_SLIRP_EVENTS, 0) : 0;
	for (unsigned int i = 0; i < s->nr_fds; i++)
		s->fds[i].revents = 0;
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;

		if (fd < 0 || (unsigned int)fd >= s->nr_reg || !s->reg[fd].events ||
		    s->reg[fd].gen != s->gen)
			continue;
		s->fds[s->reg[fd].idx].revents =
		    net_slirp_to_revents(&s->fds[s->reg[fd].idx], ev[i].events);
	}
	slirp_pollfds_poll(s->slirp, 0, net_slirp_revents, s);
	s->dirty = true;
}

static void net_slirp_ep_ready(void *opaque, int res, bool more)
{
	(void)res;
	(void)more;
	net_slirp_poll(opaque, true);
}

static void net_slirp_t_ready(void *opaque, int res, bool more)
{
	struct net_slirp *s = opaque;
	int64_t now_ms = net_slirp_now_ns() / 1000000;
	uint64_t ticks;

	(void)res;
	(void)more;
	if (read(s->tfd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: a re-armed timer raced us; look at the timers anyway. */
	}
	for (unsigned int i = 0; i < NET_SLIRP_TIMERS; i++) {
		struct net_slirp_timer *t = &s->timers[i];

		if (t->used && t->armed && t->expire_ms <= now_ms) {
			t->armed = false;
			t->cb(t->cb_opaque);
		}
	}
	net_slirp_poll(s, false);
}

/*
 * net_slirp_new_tcp: frame (already judged well-formed by the policy) is
 * an IPv4 or IPv6 TCP SYN without ACK: a new connection, a new socket.
 */
static bool net_slirp_new_tcp(const uint8_t *f, size_t len)
{
	size_t l4;

	if (len >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6 && !(f[20] & 0x1f) &&
	    !f[21])
		l4 = 14 + (f[14] & 15u) * 4u;
	else if (len >= 14 + 40 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 6)
		l4 = 14 + 40;
	else
		return false;
	return len >= l4 + 14 && (f[l4 + 13] & 0x12) == 0x02;
}

static int net_slirp_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
	struct net_slirp *s = (struct net_slirp *)be;

	/* libslirp opens a host socket per flow with no limit of its own:
	 * past NET_SLIRP_MAX_FDS (what one fill polls), new connections are
	 * refused here, so that a guest cannot take the VMM's descriptors. */
	if (s->nr_fds >= NET_SLIRP_MAX_FDS && net_slirp_new_tcp(frame, len))
		return -EMFILE;
	slirp_input(s->slirp, frame, (int)len);
	s->dirty = true;
	return 0;
}

static void net_slirp_kicked(void *opaque, int res, bool more)
{
	(void)res;
	(void)more;
	((struct net_slirp *)opaque)->kicked = false; /* the idle hook fills */
}

/*
 * net_slirp_room: the guest took frames: read the sockets again. The fill
 * happens in the idle hook, after a pass of the loop; a no-op submission
 * makes sure there is one even if nothing else wakes the loop.
 */
static void net_slirp_room(struct net_backend *be)
{
	struct net_slirp *s = (struct net_slirp *)be;

	if (!s->throttled || net_slirp_low_room(be->net))
		return;
	s->dirty = true;
	if (!s->kicked)
		s->kicked = loop_defer(be->net->loop, &s->kick_op) == 0;
}

static void net_slirp_destroy(struct net_backend *be)
{
	struct net_slirp *s = (struct net_slirp *)be;

	if (s->slirp)
		slirp_cleanup(s->slirp);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	free(s->fds);
	free(s->reg);
	free(s);
}

static const struct net_backend_ops net_slirp_ops = {
	.name = "user",
	.send = net_slirp_send,
	.rx_room = net_slirp_room,
	.destroy = net_slirp_destroy,
};

/* net_slirp_config: the guest's network as the policy's link names it. */
static void net_slirp_config(const struct net_link *l, SlirpConfig *cfg)
{
	*cfg = (SlirpConfig){
		.version = 4,
		.in_enabled = true,
		.vnetwork = { .s_addr = l->ip4 & l->mask4 },
		.vnetmask = { .s_addr = l->mask4 },
		.vhost = { .s_addr = l->gw4 },
		.vdhcp_start = { .s_addr = l->ip4 },
		.vnameserver = { .s_addr = l->dns4 },
		.if_mtu = NET_MTU_SLIRP,
		.if_mru = NET_MTU_SLIRP,
		/* The gateway reaches the host's loopback, as QEMU's user
		 * networking does; the policy keeps it out unless allowed. */
		.disable_host_loopback = false,
		.disable_dns = !l->dns4,
		.disable_dhcp = true, /* the agent sets the address */
	};
}

int net_slirp_open(struct net *n, struct net_backend **be)
{
	struct net_slirp *s = calloc(1, sizeof(*s));
	SlirpConfig cfg;
	int err;

	if (!s)
		return -ENOMEM;
	s->be = (struct net_backend){ .ops = &net_slirp_ops, .net = n };
	s->ep_op = (struct loop_op){ .cb = net_slirp_ep_ready, .opaque = s };
	s->t_op = (struct loop_op){ .cb = net_slirp_t_ready, .opaque = s };
	s->kick_op = (struct loop_op){ .cb = net_slirp_kicked, .opaque = s };
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->tfd < 0) {
		err = -errno;
		goto fail;
	}
	net_slirp_config(&n->params.policy.link, &cfg);
	s->slirp = slirp_new(&cfg, &net_slirp_cb, s);
	if (!s->slirp) {
		err = -ENOMEM;
		goto fail;
	}
	s->dirty = true;
	err = loop_poll(n->loop, s->epfd, POLLIN, &s->ep_op);
	if (!err)
		err = loop_poll(n->loop, s->tfd, POLLIN, &s->t_op);
	if (!err)
		err = loop_add_idle(n->loop, net_slirp_idle, s);
	if (err)
		goto fail;
	*be = &s->be;
	return 0;
fail:
	net_slirp_destroy(&s->be);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * control_ports: published ports (control.h; docs/protocol.md, "Published
 * ports"): a listening socket on the host per port, TCP or unix, whose
 * every connection becomes a vsock stream to the guest agent's relay port
 * (PROTO_RELAY_PORT), which connects to the guest port on the guest's
 * 127.0.0.1 and relays both ways.
 *
 * The accepted socket itself is handed to the vsock device
 * (host_ops.port_connect, vsock_connect_stream), with the line "CONNECT
 * <guest port>\n" to go first: no copy of the bytes in the VMM, and the
 * same credit-based back-pressure as every vsock stream. The relayed
 * connections count against the device's max_conns, with the guest's own
 * connections and unix-socket clients; one over it is reset at once.
 *
 * The listeners are the main loop's, with one-shot polls re-armed by us:
 * at most CONTROL_PORT_BUDGET accepts per wake-up (STYLE.md item 14), and
 * a rest of CONTROL_PORT_BACKOFF_MS when out of descriptors, as the vsock
 * listener does. Closing a port shuts its listener down (new connections
 * are refused at once) and frees it once no poll or timer of it is armed;
 * connections already handed to the guest go on.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/bytes.h"
#include "proto/client.h"
#include "proto/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void port_arm(struct control_port *p);

/* port_reset: close a client we cannot serve with an RST rather than a FIN. */
static void port_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* port_relay: hand one accepted client to the guest. */
static void port_relay(struct control_port *p, int fd)
{
	const struct control_host *host = &p->ctl->host;
	int one = 1;

	/* The relay adds no delay: each write goes out as it comes. */
	if (!p->spec.host_path)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (host->ops->port_connect(host->opaque, fd, p->hello, p->hello_len) < 0) {
		p->refused++;
		port_reset(fd);
		return;
	}
	p->accepted++;
}

/* port_backoff_cb: the rest after running out of descriptors is over. */
static void port_backoff_cb(void *opaque, int res, bool more)
{
	struct control_port *p = opaque;

	(void)res;
	(void)more;
	p->backoff_armed = false;
	port_arm(p);
}

/* port_backoff: accept failed with err (out of fds or memory): rest, say so once. */
static void port_backoff(struct control_port *p, int err)
{
	struct io_uring_sqe *sqe = loop_sqe(p->ctl->host.loop, &p->backoff_op);

	if (!p->warned)
		fprintf(stderr, "kvmbox: published port %" PRIu64 ": accept: %s; resting %d ms\n",
		        p->id, strerror(err), CONTROL_PORT_BACKOFF_MS);
	p->warned = true;
	if (!sqe)
		return; /* control_ports_idle arms the poll again */
	p->backoff_ts =
	    (struct __kernel_timespec){ .tv_nsec = CONTROL_PORT_BACKOFF_MS * 1000000ll };
	io_uring_prep_timeout(sqe, &p->backoff_ts, 0, 0);
	p->backoff_armed = true;
}

/* port_accept_cb: clients are connecting: take up to CONTROL_PORT_BUDGET of them. */
static void port_accept_cb(void *opaque, int res, bool more)
{
	struct control_port *p = opaque;

	(void)res;
	(void)more;
	p->accept_armed = false;
	for (unsigned int n = 0; n < CONTROL_PORT_BUDGET && !p->closed; n++) {
		int fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			port_backoff(p, errno);
			return;
		}
		if (fd < 0 && (errno == ECONNABORTED || errno == EINTR))
			continue; /* that client left before we took it */
		if (fd < 0)
			break; /* EAGAIN, or an error the next poll reports again */
		p->warned = false;
		port_relay(p, fd);
	}
	port_arm(p); /* past the budget, the poll completes at once on a later pass */
}

/* port_arm: a one-shot poll of the listener, unless one is armed or the port rests. */
static void port_arm(struct control_port *p)
{
	struct io_uring_sqe *sqe;

	if (p->closed || p->accept_armed || p->backoff_armed)
		return;
	sqe = loop_sqe(p->ctl->host.loop, &p->accept_op);
	if (!sqe)
		return;        /* the ring is full: control_ports_idle tries again */
	p->accept_op.mask = 0; /* ours to re-arm, not the loop's */
	io_uring_prep_poll_add(sqe, p->fd, POLLIN);
	p->accept_armed = true;
}

/* port_addr: the numeric address in s; 0, or -EINVAL naming it. */
static int port_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                     struct proto_why *why)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	proto_why_set(why, "field \"host_addr\": %s is not a numeric IPv4 or IPv6 address", s);
	return -EINVAL;
}

/* port_listen_tcp: p->fd listening on host_addr:host_port. 0 or -errno with why. */
static int port_listen_tcp(struct control_port *p, struct proto_why *why)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, err = port_addr(p->spec.host_addr, p->spec.host_port, &ss, &len, why);

	if (err)
		return err;
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		proto_why_set(why, "socket: %s", strerror(errno));
		return -errno;
	}
	/* A port closed a moment ago (its connections in TIME_WAIT) can be
	 * published again at once, as every server does. */
	(void)setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->fd, (struct sockaddr *)&ss, len) < 0 || listen(p->fd, 128) < 0) {
		err = -errno;
		proto_why_set(why, "%s %s%s%s:%u: %s", errno == EADDRINUSE ? "bind" : "listen on",
		              ss.ss_family == AF_INET6 ? "[" : "", p->spec.host_addr,
		              ss.ss_family == AF_INET6 ? "]" : "", p->spec.host_port,
		              strerror(-err));
		return err;
	}
	/* Port 0: the kernel picked one; the reply says which. */
	len = sizeof(ss);
	if (getsockname(p->fd, (struct sockaddr *)&ss, &len) == 0)
		p->spec.host_port =
		    ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
		                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * port_listen_unix: p->fd listening on the unix socket host_path, mode
 * 0600. A socket left there by a kvmbox that was killed is replaced (as
 * for the control socket); any other file is refused. The mode is set on
 * the very inode bind made (opened O_PATH | O_NOFOLLOW, changed through
 * /proc/self/fd), never through a symlink swapped in meanwhile, and
 * before listen, so that nobody else's connect can succeed.
 */
static int port_listen_unix(struct control_port *p, struct proto_why *why)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char proc[64];
	struct stat st;
	int err, node = -1;

	if (strlen(p->spec.host_path) >= sizeof(sa.sun_path)) {
		proto_why_set(why, "field \"host_path\": longer than %zu bytes",
		              sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	strcpy(sa.sun_path, p->spec.host_path);
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	err = bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (err == -EADDRINUSE) {
		err = control_stale(&sa);
		if (!err && bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			err = -errno;
	}
	if (err) {
		proto_why_set(why, "bind %s: %s", p->spec.host_path,
		              err == -EEXIST ? "a file that is not a socket is there"
		                             : strerror(-err));
		return err == -EEXIST ? -EADDRINUSE : err;
	}
	node = open(p->spec.host_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	err = node < 0 || fstat(node, &st) < 0 ? -errno : !S_ISSOCK(st.st_mode) ? -EEXIST : 0;
	if (!err) {
		/* Ours from here on: removed again if what follows fails. */
		p->dev = st.st_dev;
		p->ino = st.st_ino;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", node);
		if (chmod(proc, 0600) < 0 || listen(p->fd, 128) < 0)
			err = -errno;
	}
	if (node >= 0)
		close(node);
	if (err)
		proto_why_set(why, "listen on %s: %s", p->spec.host_path, strerror(-err));
	return err;
}

/* port_unlink: remove host_path if the socket there is still the one we made. */
static void port_unlink(const struct control_port *p)
{
	struct stat st;

	if (p->spec.host_path && lstat(p->spec.host_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == p->dev && st.st_ino == p->ino)
		unlink(p->spec.host_path);
}

/* port_shut: stop listening: new connections are refused at once. */
static void port_shut(struct control_port *p)
{
	struct io_uring_sqe *sqe;

	if (p->closed)
		return;
	p->closed = true;
	if (p->fd >= 0) {
		/* Completes an armed poll, and a TCP listener stops at once
		 * (connects get an RST), even while the poll holds the file. */
		shutdown(p->fd, SHUT_RDWR);
		close(p->fd);
		port_unlink(p);
	}
	p->fd = -1;
	if (p->accept_armed && (sqe = loop_sqe(p->ctl->host.loop, NULL)))
		io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&p->accept_op);
	if (p->backoff_armed && (sqe = loop_sqe(p->ctl->host.loop, NULL)))
		io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&p->backoff_op, 0);
}

static void port_free(struct control_port *p)
{
	free(p->addr);
	free(p->path);
	free(p);
}

/* port_describe: p's fields as ports.publish and ports.list give them; 0 or -ENOMEM. */
static int port_describe(const struct control_port *p, json_t *o, bool counts)
{
	int err = proto_msg_set_u64(o, "port_id", p->id);

	if (!err)
		err = proto_msg_set_u64(o, "guest_port", p->spec.guest_port);
	if (!err && p->spec.host_path)
		err = proto_msg_set_path(o, "host_path", p->spec.host_path);
	if (!err && !p->spec.host_path)
		err = proto_msg_set_string(o, "host_addr", p->spec.host_addr);
	if (!err && !p->spec.host_path)
		err = proto_msg_set_u64(o, "host_port", p->spec.host_port);
	if (!err && counts)
		err = proto_msg_set_u64(o, "connections", p->accepted);
	if (!err && counts)
		err = proto_msg_set_u64(o, "refused", p->refused);
	return err;
}

int control_port_publish(struct control *ctl, const struct control_port_spec *spec, json_t *info,
                         struct proto_why *why)
{
	const struct control_host *host = &ctl->host;
	struct control_port *p;
	int err;

	if (!spec->guest_port) {
		proto_why_set(why, "field \"guest_port\": expected 1 to 65535");
		return -EINVAL;
	}
	if (ctl->nr_ports == CONTROL_MAX_PORTS) {
		proto_why_set(why, "at most %d ports are published at once", CONTROL_MAX_PORTS);
		return -E2BIG;
	}
	if (host->ops->port_connect(host->opaque, -1, NULL, 0) < 0) {
		proto_why_set(why, "this VM has no vsock device, so no agent to relay to");
		return -ENODEV;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct control_port){ .ctl = ctl, .spec = *spec, .fd = -1, .closed = true };
	if (spec->host_path)
		p->spec.host_path = p->path = strdup(spec->host_path);
	else
		p->spec.host_addr = p->addr =
		    strdup(spec->host_addr ? spec->host_addr : "127.0.0.1");
	if (!p->addr && !p->path) {
		port_free(p);
		return -ENOMEM;
	}
	p->hello_len =
	    (size_t)snprintf(p->hello, sizeof(p->hello), "CONNECT %u\n", spec->guest_port);
	p->id = ctl->last_port_id + 1; /* taken only if it works */
	err = p->spec.host_path ? port_listen_unix(p, why) : port_listen_tcp(p, why);
	if (!err)
		err = port_describe(p, info, false);
	if (err) {
		if (p->fd >= 0)
			close(p->fd);
		port_unlink(p);
		port_free(p);
		return err;
	}
	p->closed = false;
	ctl->last_port_id = p->id;
	p->accept_op = (struct loop_op){ .cb = port_accept_cb, .opaque = p, .fd = -1 };
	p->backoff_op = (struct loop_op){ .cb = port_backoff_cb, .opaque = p, .fd = -1 };
	ctl->ports[ctl->nr_ports++] = p;
	port_arm(p);
	return 0;
}

int control_port_close(struct control *ctl, uint64_t id)
{
	for (unsigned int i = 0; i < ctl->nr_ports; i++) {
		struct control_port *p = ctl->ports[i];

		if (p->id != id)
			continue;
		port_shut(p);
		/* Out of the table now (its slot is free); freed once idle. */
		memmove(&ctl->ports[i], &ctl->ports[i + 1],
		        (ctl->nr_ports - i - 1) * sizeof(ctl->ports[0]));
		ctl->nr_ports--;
		p->next = ctl->closing;
		ctl->closing = p;
		return 0;
	}
	return -ENOENT;
}

void control_ports_idle(struct control *ctl, bool all)
{
	for (struct control_port **pp = &ctl->closing; *pp;) {
		struct control_port *p = *pp;

		/* After loop_destroy (all) no completion will come. */
		if (!all && (p->accept_armed || p->backoff_armed)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		port_free(p);
	}
	for (unsigned int i = 0; i < ctl->nr_ports; i++) {
		if (all)
			port_shut(ctl->ports[i]);
		else
			port_arm(ctl->ports[i]); /* one that found the ring full */
	}
	if (!all)
		return;
	for (unsigned int i = 0; i < ctl->nr_ports; i++)
		port_free(ctl->ports[i]);
	ctl->nr_ports = 0;
}

/* ports_reply: queue reply (consumed) for the client; a failure ends c. */
static void ports_reply(struct control_conn *c, json_t *reply)
{
	if (control_queue(&c->to_client, reply, NULL, 0))
		control_kill(c);
}

/* ports_error: a failed ports.publish: port_error with the errno's name, or the code err has. */
static void ports_error(struct control_conn *c, uint64_t id, int err, const struct proto_why *why)
{
	const char *name = proto_errno_name(err);
	json_t *msg = NULL, *e;
	bool sys = err != -EINVAL && err != -E2BIG && err != -ENODEV && err != -ENOMEM && name;

	if (!sys) {
		control_error(c, id, err == -ENODEV ? -EHOSTUNREACH : err, "%s",
		              why->text[0] ? why->text : strerror(-err));
		return;
	}
	if (proto_msg_error(&msg, id, PROTO_ERR_PORT, "%s",
	                    why->text[0] ? why->text : strerror(-err)) ||
	    !(e = json_object_get(msg, "error")) ||
	    json_object_set_new(e, "errno", json_string(name))) {
		json_decref(msg);
		control_kill(c);
		return;
	}
	ports_reply(c, msg);
}

/* ports_spec: the fields of a ports.publish request (untrusted) into spec. */
static int ports_spec(const json_t *m, struct control_port_spec *spec, char **path,
                      struct proto_why *why)
{
	uint64_t guest = 0, port = 0;
	int err;

	*path = NULL;
	err = proto_msg_get_u64(m, "guest_port", &guest, 65535, 0, why);
	if (!err && !guest) {
		proto_why_set(why, "field \"guest_port\": expected 1 to 65535");
		err = -EINVAL;
	}
	if (!err)
		err = proto_msg_get_string(m, "host_addr", &spec->host_addr, PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_u64(m, "host_port", &port, 65535, PROTO_OPTIONAL, why);
	if (!err)
		err = proto_msg_get_path(m, "host_path", path, PROTO_OPTIONAL, why);
	if (!err && *path && (spec->host_addr || json_object_get(m, "host_port"))) {
		proto_why_set(why,
		              "field \"host_path\": give it or host_addr and host_port, not both");
		err = -EINVAL;
	}
	spec->guest_port = (uint16_t)guest;
	spec->host_port = (uint16_t)port;
	spec->host_path = *path;
	return err;
}

static void ports_publish(struct control_conn *c, uint64_t id, const json_t *m)
{
	struct control_port_spec spec = { 0 };
	struct proto_why why = { "" };
	json_t *reply = NULL;
	char *path = NULL;
	int err = ports_spec(m, &spec, &path, &why);

	if (!err)
		err = proto_msg_reply(&reply, id);
	if (!err)
		err = control_port_publish(c->ctl, &spec, reply, &why);
	free(path);
	if (err) {
		json_decref(reply);
		ports_error(c, id, err, &why);
		return;
	}
	ports_reply(c, reply);
}

static void ports_list(struct control_conn *c, uint64_t id)
{
	json_t *reply = NULL, *a = json_array();
	int err = a ? proto_msg_reply(&reply, id) : -ENOMEM;

	for (unsigned int i = 0; !err && i < c->ctl->nr_ports; i++) {
		json_t *o = json_object();

		err = o ? port_describe(c->ctl->ports[i], o, true) : -ENOMEM;
		if (json_array_append_new(a, o) && !err)
			err = -ENOMEM;
	}
	if (err)
		json_decref(a);
	else if (json_object_set_new(reply, "ports", a)) /* takes a, also on failure */
		err = -ENOMEM;
	if (err) {
		json_decref(reply);
		control_error(c, id, err, "cannot build the ports.list reply");
		return;
	}
	ports_reply(c, reply);
}

static void ports_close(struct control_conn *c, uint64_t id, const json_t *m)
{
	struct proto_why why = { "" };
	json_t *reply = NULL;
	uint64_t port_id = 0;
	int err = proto_msg_get_u64(m, "port_id", &port_id, PROTO_ID_MAX, 0, &why);

	if (err) {
		control_error(c, id, err, "%s", why.text);
		return;
	}
	if (control_port_close(c->ctl, port_id)) {
		control_error(c, id, -ENOENT, "no published port %" PRIu64, port_id);
		return;
	}
	if (proto_msg_reply(&reply, id)) {
		control_kill(c);
		return;
	}
	ports_reply(c, reply);
}

void control_ports_request(struct control_conn *c, const struct proto_frame *f,
                           const struct proto_env *env)
{
	if (f->body_len) {
		control_error(c, env->id, -EINVAL, "op %s takes no body", env->name);
		return;
	}
	if (strcmp(env->name, "ports.publish") == 0)
		ports_publish(c, env->id, f->msg);
	else if (strcmp(env->name, "ports.list") == 0)
		ports_list(c, env->id);
	else if (strcmp(env->name, "ports.close") == 0)
		ports_close(c, env->id, f->msg);
	else
		control_error(c, env->id, -EOPNOTSUPP, "unknown op %s", env->name);
}

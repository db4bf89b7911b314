// SPDX-License-Identifier: MIT
/*
 * net_passt: virtio-net's user-mode backend through passt (net_int.h): a
 * separate process, sandboxed by itself (its own namespaces and seccomp
 * filter, passt(1) "Security"), that turns the guest's frames into
 * ordinary sockets of the host. The VMM makes a socketpair, starts
 * `passt -F FD` on one end and speaks QEMU's stream protocol on the other
 * (net_stream.c). No root is needed.
 *
 * The guest's addresses are the policy's link (QEMU's user networking by
 * default): passt is told the guest's address and netmask (-a, -n) and the
 * gateway (-g); TCP and untracked UDP to the gateway reach the host's
 * loopback (passt(1), NOTES: "Handling of traffic with local destination
 * and source addresses"; --no-map-gw turns it off, and we do not); UDP to
 * the resolver's port 53 goes to the host's first resolver (--dns-forward).
 * DHCP is off: the agent sets the address.
 *
 * passt's life: with -f it stays our child under its own pid; with -F it
 * quits once its socket is closed (passt(1): "-F implies --one-off"). The
 * VMM closes the socket and ends and reaps passt when the VM stops. When
 * passt ends first, the stream ends: one message, with passt's last line
 * of stderr (a pipe of ours), and the link goes down; the VM goes on.
 * Under --jail, the jail's waiting parent starts passt before the
 * namespaces (net_passt_prestart), so that passt has the host's network
 * while the VMM has none, and reaps it; the device only closes its end.
 */
#define _GNU_SOURCE
#include "virtio/net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_net.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long passt is given to end after SIGTERM, in 10 ms steps. */
#define NET_PASST_REAP_STEPS 200
/* How long passt is given to exit once its socket closed, in 1 ms steps. */
#define NET_PASST_EXIT_STEPS 100
#define NET_PASST_ARGS       28
#define NET_PASST_WHY        160

extern char **environ;

struct net_passt {
	struct net_stream s; /* first: the backend */
	pid_t pid;           /* -1 once reaped */
	int errfd;           /* passt's stdout and stderr: a pipe's read end */
};

void net_passt_reap(pid_t pid)
{
	(void)kill(pid, SIGTERM);
	for (unsigned int i = 0; i < NET_PASST_REAP_STEPS; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return; /* reaped, or not ours any more */
		usleep(10000);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}

/*
 * net_passt_why: the last line passt wrote to its stderr, skipping the
 * "Failed to send N bytes to syslog" lines it writes where there is no
 * syslog; "" when none. The pipe holds at most its capacity (passt's
 * writes past it fail: the write end is non-blocking).
 */
static void net_passt_why(int fd, char *why, size_t size)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1), *line = NULL;
	ssize_t r;

	why[0] = '\0';
	if (!buf)
		return;
	while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, "Failed to send", 14) != 0)
			line = l;
	if (line)
		snprintf(why, size, "%s", line);
	free(buf);
}

/*
 * net_passt_exited: passt's status once it has exited, waiting at most
 * NET_PASST_EXIT_STEPS ms: its socket just closed, so it is on its way
 * out (a wait paid once, when the link goes down for good). false when it
 * has not exited by then.
 */
static bool net_passt_exited(struct net_passt *p, int *st)
{
	for (unsigned int i = 0; p->pid > 0 && i < NET_PASST_EXIT_STEPS; i++) {
		pid_t r = waitpid(p->pid, st, WNOHANG);

		if (r == p->pid) {
			p->pid = -1;
			return true;
		}
		if (r < 0)
			return false;
		usleep(1000);
	}
	return false;
}

/* net_passt_down: the stream ended: say why, once. */
static void net_passt_down(struct net_stream *s, int err)
{
	struct net_passt *p = (struct net_passt *)s;
	char why[NET_PASST_WHY], what[64];
	int st;

	if (err == -EPROTO) {
		snprintf(what, sizeof(what), "passt sent a frame length over %u",
		         NET_STREAM_MAX_LEN);
	} else if (net_passt_exited(p, &st)) {
		p->pid = -1;
		if (WIFSIGNALED(st))
			snprintf(what, sizeof(what), "passt was killed by signal %d", WTERMSIG(st));
		else
			snprintf(what, sizeof(what), "passt exited with status %d",
			         WEXITSTATUS(st));
	} else {
		snprintf(what, sizeof(what), "passt's socket %s",
		         err ? strerror(-err) : "was closed");
	}
	net_passt_why(p->errfd, why, sizeof(why));
	fprintf(stderr, "kvmbox: --net passt: %s%s%s%s; the guest's link is down\n", what,
	        why[0] ? " (" : "", why, why[0] ? ")" : "");
}

static void net_passt_destroy(struct net_backend *be)
{
	struct net_passt *p = (struct net_passt *)be;

	/* The loop went first (vm_destroy): no poll refers to p now.
	 * Closing the socket is passt's cue to quit (-F: one-off). */
	net_stream_fini(&p->s);
	if (p->pid > 0)
		net_passt_reap(p->pid);
	if (p->errfd >= 0)
		close(p->errfd);
	free(p);
}

static const struct net_backend_ops net_passt_ops = {
	.name = "passt",
	.send = net_stream_send,
	.rx_room = net_stream_room,
	.destroy = net_passt_destroy,
};

/* Text for passt's arguments, kept until it is started. */
struct net_passt_text {
	char fd[16], ip[INET_ADDRSTRLEN], bits[4], gw[INET_ADDRSTRLEN], dns[INET_ADDRSTRLEN];
};

/*
 * net_passt_args: passt's command line for the link l and socket fd
 * (options of passt(1), Debian's 2023-03-09 build and later).
 */
static void net_passt_args(const struct net_link *l, int fd, struct net_passt_text *t,
                           const char **argv)
{
	unsigned int i = 0;

	snprintf(t->fd, sizeof(t->fd), "%d", fd);
	snprintf(t->bits, sizeof(t->bits), "%d", __builtin_popcount(l->mask4));
	inet_ntop(AF_INET, &l->ip4, t->ip, sizeof(t->ip));
	inet_ntop(AF_INET, &l->gw4, t->gw, sizeof(t->gw));
	inet_ntop(AF_INET, &l->dns4, t->dns, sizeof(t->dns));
	argv[i++] = "passt";
	argv[i++] = "-f"; /* our child, under its own pid */
	argv[i++] = "-q"; /* no informational lines */
	argv[i++] = "-e"; /* errors to stderr: our pipe */
	argv[i++] = "-4"; /* the guest kernel has no IPv6 */
	argv[i++] = "-F";
	argv[i++] = t->fd;
	argv[i++] = "-a";
	argv[i++] = t->ip;
	argv[i++] = "-n";
	argv[i++] = t->bits;
	argv[i++] = "-g";
	argv[i++] = t->gw;
	if (l->dns4) {
		argv[i++] = "--dns-forward";
		argv[i++] = t->dns;
	}
	argv[i++] = "--no-dhcp"; /* the agent sets the address */
	argv[i++] = "-t";        /* no ports forwarded to the guest: */
	argv[i++] = "none";      /* published ports go through the agent */
	argv[i++] = "-u";
	argv[i++] = "none";
	/* As root passt changes to nobody anyway, and warns unless told. */
	if (geteuid() == 0) {
		argv[i++] = "--runas";
		argv[i++] = "nobody";
	}
	argv[i] = NULL;
}

/*
 * net_passt_spawn: passt started on socket fd, its output into errw;
 * *pid set. posix_spawn: a vfork-like start, safe with the other threads
 * the VMM may have by now. The child gets the default signal mask and
 * dispositions (the VMM blocks SIGTERM for its signalfd and ignores
 * SIGPIPE) and a process group of its own (a ^C at the terminal is the
 * VMM's to handle; it ends passt itself). 0 or -errno (-ENOENT: no passt
 * in PATH).
 */
static int net_passt_spawn(const struct net_link *l, int fd, int errw, pid_t *pid)
{
	struct net_passt_text t;
	const char *argv[NET_PASST_ARGS];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int err;

	net_passt_args(l, fd, &t, argv);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGCHLD);
	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	if (posix_spawnattr_init(&at)) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, errw, 1);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, errw, 2);
	if (!err)
		err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
		                                        POSIX_SPAWN_SETPGROUP);
	if (!err)
		err = posix_spawnattr_setsigmask(&at, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(&at, &def);
	if (!err)
		err = posix_spawnattr_setpgroup(&at, 0);
	if (!err)
		err = posix_spawnp(pid, "passt", &fa, &at, (char *const *)(uintptr_t)argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -err;
}

const char *net_passt_strerror(int err)
{
	return err == -ENOENT ? "passt not found (apt install passt)" : strerror(-err);
}

int net_passt_prestart(const struct net_link *l, int *fd, int *errfd, pid_t *pid)
{
	int sv[2], ev[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	if (pipe2(ev, O_CLOEXEC) < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	/* passt's end is inherited (not close-on-exec, and blocking, as
	 * passt expects of a socket it is given); its stderr never blocks
	 * it; ours never blocks us. */
	if (fcntl(sv[1], F_SETFD, 0) < 0 || fcntl(sv[1], F_SETFL, 0) < 0 ||
	    fcntl(ev[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(ev[0], F_SETFL, O_NONBLOCK) < 0)
		err = -errno;
	else
		err = net_passt_spawn(l, sv[1], ev[1], pid);
	close(sv[1]);
	close(ev[1]);
	if (err) {
		close(sv[0]);
		close(ev[0]);
		return err;
	}
	*fd = sv[0];
	*errfd = ev[0];
	return 0;
}

int net_passt_open(struct net *n, struct net_backend **be)
{
	struct net_passt *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	net_stream_init(&p->s, n, -1, &net_passt_ops, net_passt_down);
	/* The stream carries no virtio-net header, so passt cannot leave
	 * a checksum partial: its frames come whole, as libslirp's do,
	 * and the guest need not check them again. */
	p->s.rx_flags = VIRTIO_NET_HDR_F_DATA_VALID;
	p->pid = -1;
	p->errfd = -1;
	if (n->params.passt_started) {
		/* Started by our caller, its child to reap (net.h). */
		p->s.fd = n->params.passt_fd;
		p->errfd = n->params.passt_errfd;
	} else {
		err = net_passt_prestart(&n->params.policy.link, &p->s.fd, &p->errfd, &p->pid);
		if (err) {
			free(p);
			return err;
		}
	}
	net_stream_start(&p->s);
	*be = &p->s.be;
	return 0;
}

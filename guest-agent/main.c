// SPDX-License-Identifier: MIT
/*
 * kvmbox-agent: the guest agent (docs/protocol.md).
 *
 *   kvmbox-agent [--listen PATH | --vsock PORT]
 *
 * As PID 1 it first does init's work (guest-agent/init.h), then listens on
 * vsock port AGENT_VSOCK_PORT unless told otherwise (and on
 * AGENT_RELAY_PORT for published ports), marks the VM ready on
 * the debug port, and serves until a "stop" request, which powers the VM
 * off (or reboots it). Run by hand (not PID 1), it serves on a unix socket
 * or vsock port and exits on "stop": that is how tests drive it.
 */
#define _GNU_SOURCE
#include "guest-agent/exec.h"
#include "guest-agent/init.h"
#include "guest-agent/net.h"
#include "guest-agent/server.h"
#include "guest-agent/volumes.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * How many connections the guest kernel queues before the agent accepts
 * them. A vsock listener whose queue is full answers a new REQUEST with an
 * RST (virtio_transport_recv_listen, sk_acceptq_is_full), so a burst of
 * host clients to a published port, or of control clients, larger than
 * the queue lost connections whenever the agent was slow to accept (a
 * starved vCPU): 100 curls at once saw two empty replies with 16. The
 * queue holds as many as the agent would relay (AGENT_MAX_RELAYS); the
 * kernel caps it at net.core.somaxconn (4096), and costs nothing while
 * the queue is empty.
 */
#define AGENT_LISTEN_BACKLOG 512

/* listen_on: bind and listen a stream socket of addr; the fd or -errno. */
static int listen_on(int family, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, addr, len) < 0 || listen(fd, AGENT_LISTEN_BACKLOG) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	unlink(path);
	fd = listen_on(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun));
	if (fd >= 0 && chmod(path, 0600) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int listen_vsock(unsigned int port)
{
	struct sockaddr_vm svm = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};

	return listen_on(AF_VSOCK, (struct sockaddr *)&svm, sizeof(svm));
}

/* agent_volumes_init: mount what kvmbox.volumes= names (volumes.h). */
static void agent_volumes_init(const char *cmdline)
{
	struct agent_volume vols[AGENT_MAX_VOLUMES];
	char spec[2048];
	int n;

	if (agent_cmdline_param(cmdline, "kvmbox.volumes", spec, sizeof(spec)))
		return;
	n = agent_volumes_parse(spec, vols, AGENT_MAX_VOLUMES);
	if (n < 0)
		fprintf(stderr, "kvmbox-agent: kvmbox.volumes=%s: %s\n", spec, strerror(-n));
	else
		agent_init_volumes(vols, (size_t)n);
}

/*
 * agent_net_setup: lo up, and eth0 as kvmbox.net= says (net.h); a bad
 * value is said once and leaves eth0 down.
 */
static void agent_net_setup(const char *cmdline)
{
	struct agent_net net;
	char spec[128];

	if (agent_cmdline_param(cmdline, "kvmbox.net", spec, sizeof(spec))) {
		agent_init_net(NULL);
		return;
	}
	if (agent_net_parse(spec, &net)) {
		fprintf(stderr, "kvmbox-agent: kvmbox.net=%s: expected IP/N,GATEWAY[,RESOLVER]\n",
		        spec);
		agent_init_net(NULL);
		return;
	}
	agent_init_net(&net);
}

/*
 * pid1_init: init's work before serving; failures are logged, not fatal.
 * A root file system that could not be mounted is also said in root_err
 * (cap bytes), for every exec request to report.
 */
static void pid1_init(char *root_err, size_t cap)
{
	char cmdline[4096] = "";
	struct agent_boot boot;
	int err;

	agent_init_mounts();
	agent_init_console();
	setvbuf(stderr, NULL, _IONBF, 0);
	err = agent_init_read_cmdline(cmdline, sizeof(cmdline));
	if (err)
		fprintf(stderr, "kvmbox-agent: /proc/cmdline: %s\n", strerror(-err));
	agent_boot_parse(cmdline, &boot);
	err = agent_init_switch_root(&boot);
	if (err) {
		fprintf(stderr, "kvmbox-agent: root %s: %s\n", boot.root, strerror(-err));
		/* EINVAL from mount: no file system of that type on the disk. */
		snprintf(root_err, cap,
		         "the root file system %s (%s) could not be mounted: %s (%s)%s; no command "
		         "can run",
		         boot.root, boot.rootfstype, agent_errno_name(-err), strerror(-err),
		         err == -EINVAL ? ", is it a file system of that type?" : "");
	}
	agent_volumes_init(cmdline);
	agent_net_setup(cmdline);
	err = agent_init_hostname(boot.hostname);
	if (err)
		fprintf(stderr, "kvmbox-agent: hostname: %s\n", strerror(-err));
	err = agent_init_loopback();
	if (err)
		fprintf(stderr, "kvmbox-agent: lo: %s\n", strerror(-err));
}

static int usage(void)
{
	fprintf(stderr, "usage: kvmbox-agent [--listen PATH | --vsock PORT]\n");
	return 2;
}

/*
 * serve: listen on fd (and for published ports' streams on relay_fd, if
 * not negative) and run the loop; returns what "stop" asked, or -errno.
 * refuse (may be "") is why no command can run.
 */
static int serve(int fd, int relay_fd, bool pid1, const char *refuse)
{
	const struct agent_opts opts = { .refuse_exec = refuse[0] ? refuse : NULL };
	struct agent_server *srv;
	int err = fd < 0 ? fd : agent_server_new(&srv, &opts);

	if (err) {
		if (fd >= 0)
			close(fd);
		if (relay_fd >= 0)
			close(relay_fd);
		return err;
	}
	/* Without it the agent still serves everything but published ports. */
	if (relay_fd >= 0 && agent_server_relay_listen(srv, relay_fd) < 0)
		fprintf(stderr, "kvmbox-agent: cannot serve published ports\n");
	err = agent_server_listen(srv, fd);
	if (!err && pid1) {
		err = agent_init_ready();
		if (err)
			fprintf(stderr, "kvmbox-agent: ready: %s\n", strerror(-err));
		err = 0;
	}
	if (!err)
		err = agent_server_run(srv);
	if (!err)
		err = (int)agent_server_stopped(srv);
	agent_server_free(srv);
	return err;
}

int main(int argc, char **argv)
{
	bool pid1 = getpid() == 1;
	const char *path = NULL;
	char root_err[512] = "";
	long port = pid1 ? AGENT_VSOCK_PORT : -1;
	int ret, relay_fd = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--vsock") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (!pid1) /* the kernel may pass PID 1 arguments of its own */
			return usage();
	}
	if (!pid1 && !path && (port < 0 || port > 0xffffffffl))
		return usage();
	if (pid1)
		pid1_init(root_err, sizeof(root_err));
	if (pid1) {
		relay_fd = listen_vsock(AGENT_RELAY_PORT);
		if (relay_fd < 0)
			fprintf(stderr, "kvmbox-agent: vsock port %u: %s\n", AGENT_RELAY_PORT,
			        strerror(-relay_fd));
	}
	ret = serve(path ? listen_unix(path) : listen_vsock((unsigned int)port), relay_fd, pid1,
	            root_err);
	if (path)
		unlink(path);
	if (ret < 0)
		fprintf(stderr, "kvmbox-agent: %s\n", strerror(-ret));
	if (pid1)
		agent_init_shutdown(ret == AGENT_REBOOT ? AGENT_REBOOT : AGENT_POWEROFF);
	return ret < 0 ? 1 : 0;
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-net's passt backend (virtio/net_passt.c): passt
 * missing from PATH is -ENOENT; where passt is installed and starts (it
 * needs a host interface with a default route), the guest ARPs for its
 * gateway and passt answers, and net_destroy ends and reaps passt. The
 * ARP never leaves passt (it answers itself, passt(1) "ARP"); nothing is
 * sent to any network. Where passt is missing or does not start, the
 * test says so and passes.
 */
#define _GNU_SOURCE
#include "test_net.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_OFF 6 /* struct virtio_net_config's status (virtio 1.2 §5.1.4) */

/* passt_rig: the device with --net passt's backend, or -errno. */
static int passt_rig(struct rig *r)
{
	struct virtio_mmio_params mp;
	struct net_params np = { .mode = NET_MODE_PASST };
	int err;

	memset(r, 0, sizeof(*r));
	test_rig_init(&r->t, RAM_SIZE, LOOP_ENTRIES);
	mp = test_rig_params(&r->t, BASE);
	pol(&np.policy);
	np.policy.link.dns4_udp_only = true;
	r->net = test_pages_new(sizeof(*r->net)); /* rig_fini unmaps it */
	err = net_init(r->net, &np, &r->t.loop, &r->t.m, &mp);
	if (err) {
		test_pages_free(r->net, sizeof(*r->net));
		test_rig_fini(&r->t);
		return err;
	}
	if (virtio_mmio_register(&r->net->transport, &r->t.bus))
		abort();
	return 0;
}

TEST(no_passt_in_path)
{
	char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	struct rig r;

	setenv("PATH", "/nonexistent", 1);
	CHECK_ERR(passt_rig(&r), -ENOENT);
	if (path) {
		setenv("PATH", path, 1);
		free(path);
	}
}

/*
 * passt_pid: the pid of a child of ours named passt (/proc/PID/stat), or
 * 0. Debian's passt runs itself again as passt.avx2 where the CPU has
 * AVX2: the same process, another name.
 */
static pid_t passt_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL && !found) {
		char p[300], comm[32];
		int pid, ppid;
		FILE *f;

		if (sscanf(e->d_name, "%d", &pid) != 1)
			continue;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fscanf(f, "%*d (%31[^)]) %*c %d", comm, &ppid) == 2 && ppid == getpid() &&
		    !strncmp(comm, "passt", 5))
			found = pid;
		fclose(f);
	}
	closedir(d);
	return found;
}

TEST(arp_through_passt)
{
	uint8_t f[NF_MAX];
	struct rig r;
	bool reply = false;
	pid_t pid;
	size_t n;

	if (passt_rig(&r) == -ENOENT) {
		printf("skipped: no passt in PATH\n");
		return;
	}
	pid = passt_pid();
	CHECK(pid > 0);
	CHECK_EQ(rig_up(&r, F_ALL), 0);
	rx_post(&r, 32, 2048);
	kick(&r, NET_RX_QUEUE);
	n = nf_arp(f, 1, nf_guest_mac, NF_GUEST_IP, NF_GW_IP);
	CHECK_EQ(tx(&r, NULL, f, n), 0);
	reply = wait_arp_reply(&r, NF_GW_IP, 2000);
	if (r.net->link_down) {
		/* passt ended: no interface with a default route here. */
		printf("skipped: passt did not start here (see its message above)\n");
	} else {
		CHECK(reply);
		CHECK_EQ(cfg8(&r, STATUS_OFF) & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	}
	rig_fini(&r);
	/* passt was ended and reaped: no child of that pid is left. */
	if (pid > 0)
		CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD);
}

CHECK_MAIN(CASE(no_passt_in_path), CASE(arp_through_passt))

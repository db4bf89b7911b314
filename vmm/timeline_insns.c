// SPDX-License-Identifier: MIT
/*
 * timeline_insns: instructions retired per boot phase (timeline.h), where
 * the host's hardware counters allow.
 *
 * perf_event_open(2) with PERF_COUNT_HW_INSTRUCTIONS, counting only this
 * thread (pid 0, cpu -1, no inherit) in user space: exclude_kernel and
 * exclude_hv keep the kernel's share out (the KVM ioctls' own work is the
 * kernel's, as in callgrind's figures), exclude_guest the guest's. A
 * kernel.perf_event_paranoid of 2 allows that to an ordinary user (3,
 * Debian's default, only to root), and a host with no PMU (a VM without a
 * virtual one, TCG) has none at all: then the report says why, once,
 * instead of a figure. The count starts when the counter opens (vm_init),
 * not at exec: the dynamic loader's work before main() is not in it.
 */
#include "vmm/timeline.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int timeline_insns_open(void)
{
	struct perf_event_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_HARDWARE;
	attr.config = PERF_COUNT_HW_INSTRUCTIONS;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	attr.exclude_guest = 1;
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* timeline_insns_read: the counter's value; 0 when it cannot be read. */
uint64_t timeline_insns_read(int fd)
{
	uint64_t v;

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

void timeline_insns_start(struct timeline *tl)
{
	int fd = timeline_insns_open();

	if (fd < 0) {
		tl->insns_err = -fd;
		return;
	}
	tl->insns_fd = fd;
	tl->insns_on = true;
	atomic_store(&tl->phase_insns[TL_START], timeline_insns_read(fd));
}

void timeline_insns_stop(struct timeline *tl)
{
	if (tl->insns_fd >= 0)
		close(tl->insns_fd);
	tl->insns_fd = -1;
}

/* timeline_insns_mark: see timeline.h. */
void timeline_insns_mark(struct timeline *tl, enum timeline_phase phase, int thread_fd)
{
	uint64_t zero = 0;

	if (tl->insns_fd < 0 || phase >= TL_NR_PHASES || phase > TL_FIRST_RUN)
		return;
	atomic_compare_exchange_strong(&tl->phase_insns[phase], &zero,
	                               timeline_insns_read(tl->insns_fd) +
	                                   timeline_insns_read(thread_fd));
}

/* timeline_insns_why: what the report says instead of a count. */
const char *timeline_insns_why(const struct timeline *tl)
{
	switch (tl->insns_err) {
	case 0:
		return NULL;
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		return "no hardware instruction counter on this host";
	case EACCES:
	case EPERM:
		return "not allowed here (kernel.perf_event_paranoid, or a seccomp or "
		       "container policy)";
	case ENOSYS:
		return "no perf_event_open on this kernel";
	default:
		return strerror(tl->insns_err);
	}
}

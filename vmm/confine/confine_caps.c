// SPDX-License-Identifier: MIT
/*
 * confine_caps: capabilities and process limits (confine.h). Capability
 * sets are per thread (capabilities(7), "Thread capability sets"), so each
 * thread drops its own in confine_enter.
 */
#define _GNU_SOURCE
#include "vmm/confine/confine_int.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* The highest capability this kernel knows (cap_max_bits: libcap reads
 * /proc/sys/kernel/cap_last_cap once). */
static unsigned int confine_caps_last(void)
{
	unsigned int n = (unsigned int)cap_max_bits();

	return n ? n - 1 : CAP_LAST_CAP;
}

/*
 * confine_caps_bounding: drop every capability but keep from the bounding
 * set (PR_CAPBSET_DROP, prctl(2)), so that no exec could ever regain one.
 * Needs CAP_SETPCAP; without it nothing can be raised anyway.
 */
static int confine_caps_bounding(uint64_t keep)
{
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_t cur = cap_get_proc();

	if (!cur)
		return -errno;
	(void)cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	cap_free(cur);
	if (setpcap != CAP_SET)
		return 0;
	for (unsigned int cap = 0; cap <= confine_caps_last() && cap < 64; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

int confine_caps_drop(uint64_t keep)
{
	cap_t cur, next;
	int err = confine_caps_bounding(keep);

	if (err)
		return err;
	/* Linux 4.3+; EINVAL on older kernels, which have no ambient set. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	cur = cap_get_proc();
	next = cap_init();
	if (!cur || !next) {
		err = -errno;
		goto out;
	}
	for (unsigned int cap = 0; cap <= confine_caps_last() && cap < 64; cap++) {
		cap_flag_value_t have = CAP_CLEAR;
		cap_value_t v = (cap_value_t)cap;

		if (!(keep & (1ull << cap)))
			continue;
		if (cap_get_flag(cur, v, CAP_PERMITTED, &have) == 0 && have == CAP_SET) {
			cap_set_flag(next, CAP_PERMITTED, 1, &v, CAP_SET);
			cap_set_flag(next, CAP_EFFECTIVE, 1, &v, CAP_SET);
		}
	}
	/* cap_init is all clear: inheritable stays empty. */
	if (cap_set_proc(next) < 0)
		err = -errno;
out:
	if (cur)
		cap_free(cur);
	if (next)
		cap_free(next);
	return err;
}

int confine_limits(void)
{
	const struct rlimit none = { 0, 0 };

	/* Guest memory is MADV_DONTDUMP already (gmem.c); no core at all also
	 * keeps the device state and host buffers out of one. */
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return -errno;
	return 0;
}

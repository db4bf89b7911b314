// SPDX-License-Identifier: MIT
/*
 * net_slirp_dl: the five libslirp functions the user-mode backend calls
 * (net_slirp.c), defined here under their own names and passed on to
 * libslirp, which is opened with dlopen when the first --net user device
 * is made.
 *
 * Linked at build time, libslirp, GLib and PCRE2 were loaded and relocated
 * by every kvmbox process, with a network or not (about 0.26 M
 * instructions of the dynamic loader before main; docs/benchmarks.md), as
 * libarchive was (oci/archive_dl.c says how these wrappers work). The
 * prototypes are libslirp.h's. The table is filled once (pthread_once) and
 * never changed after: a process-wide constant, not state. Without
 * libslirp, slirp_new says why on stderr and returns NULL, which its
 * caller reports; no other function can be reached without the Slirp it
 * returns.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libslirp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

enum {
	SLIRP_DL_NEW,
	SLIRP_DL_CLEANUP,
	SLIRP_DL_FILL,
	SLIRP_DL_POLL,
	SLIRP_DL_INPUT,
	SLIRP_DL_COUNT,
};

static const char *const slirp_dl_names[SLIRP_DL_COUNT] = {
	"slirp_new", "slirp_cleanup", "slirp_pollfds_fill", "slirp_pollfds_poll", "slirp_input",
};

struct slirp_dl {
	void *fn[SLIRP_DL_COUNT];
	bool ok;
};

static pthread_once_t slirp_dl_once = PTHREAD_ONCE_INIT;
static struct slirp_dl slirp_dl; /* written once, under slirp_dl_once */

static void slirp_dl_open(void)
{
	void *h = dlopen("libslirp.so.0", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr,
		        "kvmbox: --net user needs libslirp (libslirp.so.0: apt install "
		        "libslirp0): %s\n",
		        dlerror());
		return;
	}
	for (int i = 0; i < SLIRP_DL_COUNT; i++) {
		slirp_dl.fn[i] = dlsym(h, slirp_dl_names[i]);
		if (!slirp_dl.fn[i]) {
			fprintf(stderr, "kvmbox: libslirp.so.0 lacks %s\n", slirp_dl_names[i]);
			return;
		}
	}
	slirp_dl.ok = true;
}

/* slirp_dl_fn: function i; NULL only for slirp_new without libslirp. */
static void *slirp_dl_fn(int i)
{
	pthread_once(&slirp_dl_once, slirp_dl_open);
	if (slirp_dl.ok)
		return slirp_dl.fn[i];
	if (i != SLIRP_DL_NEW)
		abort(); /* unreachable: no Slirp without slirp_new */
	return NULL;
}

Slirp *slirp_new(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque)
{
	Slirp *(*fn)(const SlirpConfig *, const SlirpCb *, void *) = slirp_dl_fn(SLIRP_DL_NEW);

	return fn ? fn(cfg, callbacks, opaque) : NULL;
}

void slirp_cleanup(Slirp *slirp)
{
	void (*fn)(Slirp *) = slirp_dl_fn(SLIRP_DL_CLEANUP);

	fn(slirp);
}

void slirp_pollfds_fill(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll, void *opaque)
{
	void (*fn)(Slirp *, uint32_t *, SlirpAddPollCb, void *) = slirp_dl_fn(SLIRP_DL_FILL);

	fn(slirp, timeout, add_poll, opaque);
}

void slirp_pollfds_poll(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents, void *opaque)
{
	void (*fn)(Slirp *, int, SlirpGetREventsCb, void *) = slirp_dl_fn(SLIRP_DL_POLL);

	fn(slirp, select_error, get_revents, opaque);
}

void slirp_input(Slirp *slirp, const uint8_t *pkt, int pkt_len)
{
	void (*fn)(Slirp *, const uint8_t *, int) = slirp_dl_fn(SLIRP_DL_INPUT);

	fn(slirp, pkt, pkt_len);
}

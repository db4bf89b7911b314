// SPDX-License-Identifier: MIT
/*
 * archive_dl: the libarchive functions the image code calls (layer.c,
 * layer_entry.c, source_archive.c), defined here under their own names and
 * passed on to libarchive, which is opened with dlopen on the first call.
 *
 * Linked at build time, libarchive and what it pulls in (libxml2, ICU,
 * libstdc++, nettle, the compressors) were loaded and relocated by every
 * kvmbox process, images or not: about 4.3 M of the dynamic loader's
 * 5.5 M instructions before main (callgrind; docs/benchmarks.md). As with
 * libcurl (curl_dl.c) and libcrypto (digest.c), only a command that reads
 * a layer pays for it now. The callers are unchanged: the prototypes are
 * archive.h's, so the compiler checks each wrapper against them. These
 * definitions are not exported from the executable (no -rdynamic), so
 * libarchive's own calls between its functions never land here.
 *
 * The table is filled once (pthread_once) and never changed after: a
 * process-wide constant, not state. Without libarchive, archive_read_new
 * says why on stderr and returns NULL, as on a failed allocation, which
 * every caller handles; no other function can be reached without the
 * struct archive it returns.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * X(return type, name, parameters, arguments) for each function used but
 * archive_read_new, the one that may fail for want of libarchive.
 */
#define ARCHIVE_DL_FUNCS(X)                                                                        \
	X(int, archive_read_free, (struct archive * a), (a))                                       \
	X(int, archive_read_support_format_tar, (struct archive * a), (a))                         \
	X(int, archive_read_support_filter_none, (struct archive * a), (a))                        \
	X(int, archive_read_support_filter_gzip, (struct archive * a), (a))                        \
	X(int, archive_read_support_filter_zstd, (struct archive * a), (a))                        \
	X(int, archive_read_open_fd, (struct archive * a, int fd, size_t block), (a, fd, block))   \
	X(int, archive_read_next_header, (struct archive * a, struct archive_entry * *e), (a, e))  \
	X(la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n), (a, buf, n))   \
	X(int, archive_read_data_block,                                                            \
	  (struct archive * a, const void **buf, size_t *n, la_int64_t *off), (a, buf, n, off))    \
	X(const char *, archive_error_string, (struct archive * a), (a))                           \
	X(int, archive_filter_count, (struct archive * a), (a))                                    \
	X(int, archive_filter_code, (struct archive * a, int i), (a, i))                           \
	X(la_int64_t, archive_filter_bytes, (struct archive * a, int i), (a, i))                   \
	X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))                    \
	X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))                        \
	X(const char *, archive_entry_pathname, (struct archive_entry * e), (e))                   \
	X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e))                   \
	X(const char *, archive_entry_symlink, (struct archive_entry * e), (e))                    \
	X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))                         \
	X(int, archive_entry_size_is_set, (struct archive_entry * e), (e))                         \
	X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))                          \
	X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))                          \
	X(time_t, archive_entry_mtime, (struct archive_entry * e), (e))                            \
	X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))                         \
	X(int, archive_entry_mtime_is_set, (struct archive_entry * e), (e))                        \
	X(dev_t, archive_entry_rdevmajor, (struct archive_entry * e), (e))                         \
	X(dev_t, archive_entry_rdevminor, (struct archive_entry * e), (e))                         \
	X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))                         \
	X(int, archive_entry_xattr_next,                                                           \
	  (struct archive_entry * e, const char **name, const void **value, size_t *n),            \
	  (e, name, value, n))

#define ARCHIVE_DL_ENUM(ret, name, params, args) ARCHIVE_DL_##name,
enum { ARCHIVE_DL_archive_read_new, ARCHIVE_DL_FUNCS(ARCHIVE_DL_ENUM) ARCHIVE_DL_COUNT };

#define ARCHIVE_DL_NAME(ret, name, params, args) #name,
static const char *const archive_dl_names[ARCHIVE_DL_COUNT] = { "archive_read_new",
	                                                        ARCHIVE_DL_FUNCS(ARCHIVE_DL_NAME) };

struct archive_dl {
	void *fn[ARCHIVE_DL_COUNT];
	bool ok;
};

static pthread_once_t archive_dl_once = PTHREAD_ONCE_INIT;
static struct archive_dl archive_dl; /* written once, under archive_dl_once */

static void archive_dl_open(void)
{
	void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr,
		        "kvmbox: image layers need libarchive (libarchive.so.13: apt install "
		        "libarchive13): %s\n",
		        dlerror());
		return;
	}
	for (int i = 0; i < ARCHIVE_DL_COUNT; i++) {
		archive_dl.fn[i] = dlsym(h, archive_dl_names[i]);
		if (!archive_dl.fn[i]) {
			fprintf(stderr, "kvmbox: libarchive.so.13 lacks %s\n", archive_dl_names[i]);
			return;
		}
	}
	archive_dl.ok = true;
}

/* archive_dl_fn: function i; NULL only for archive_read_new without libarchive. */
static void *archive_dl_fn(int i)
{
	pthread_once(&archive_dl_once, archive_dl_open);
	if (archive_dl.ok)
		return archive_dl.fn[i];
	if (i != ARCHIVE_DL_archive_read_new)
		abort(); /* unreachable: no struct archive without archive_read_new */
	return NULL;
}

struct archive *archive_read_new(void)
{
	void *fn = archive_dl_fn(ARCHIVE_DL_archive_read_new);

	return fn ? ((struct archive * (*)(void)) fn)() : NULL;
}

/* The rest: each a call through its slot, under archive.h's prototype. */
#define ARCHIVE_DL_WRAP(ret, name, params, args)                                                   \
	ret name params                                                                            \
	{                                                                                          \
		return ((ret(*) params)archive_dl_fn(ARCHIVE_DL_##name))args;                      \
	}
ARCHIVE_DL_FUNCS(ARCHIVE_DL_WRAP)

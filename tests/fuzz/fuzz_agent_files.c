// SPDX-License-Identifier: MIT
/*
 * fuzz_agent_files: arbitrary bytes as the stream of a hostile client of
 * the agent's file operations (guest-agent/server_files.c, server_xfer.c,
 * server_tree.c; proto/tar_*.c, walk.c, bytes.c through them).
 *
 * Input layout and checks: fuzz_agent_feed.h (4 passes of the pump per
 * chunk).
 *
 * The server's file ops are rooted in a private temporary folder
 * (agent_opts.fs_root: openat2 RESOLVE_IN_ROOT), so that no path, symlink
 * or tar entry the fuzzer makes up reaches the host's files; the folder
 * is emptied after each input (nftw FTW_PHYS: symlinks are removed, never
 * followed). Exec is refused outright.
 */
#define _GNU_SOURCE
#include "fuzz_agent_feed.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_exec(const char *const *argv, void *opaque)
{
	(void)argv, (void)opaque;
	return -EPERM;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* root: the fuzzer's folder, made once (a process-wide constant, not state). */
static const char *root(void)
{
	static char dir[64];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/kvmbox-fuzz-files-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct agent_opts opts = { .exec_filter = no_exec, .fs_root = root() };

	fuzz_agent_feed(&opts, data, size, 4);
	nftw(root(), rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * fuzz_agent_files: arbitrary bytes as the stream of a hostile client of
 * the agent's file operations (guest-agent/server_files.c, server_xfer.c,
 * server_tree.c; proto/tar_*.c, walk.c, bytes.c through them).
 *
 * Input layout, as fuzz_agent's:
 *   byte 0        k = byte % 8 + 1, the number of chunk-size bytes
 *   bytes 1..k    chunk sizes, used in turn: 0 is "all the rest", 1..255
 *                 that many bytes
 *   the rest      the stream, fed to one connection in those chunks
 *
 * The server's file ops are rooted in a private temporary folder
 * (agent_opts.fs_root: openat2 RESOLVE_IN_ROOT), so that no path, symlink
 * or tar entry the fuzzer makes up reaches the host's files; the folder
 * is emptied after each input (nftw FTW_PHYS: symlinks are removed, never
 * followed). After each chunk the outgoing transfers get one pass of the
 * pump and the output is dropped. Exec is refused outright.
 * Checks beyond ASan/UBSan: once the connection refused the stream it
 * stays refused.
 */
#define _GNU_SOURCE
#include "guest-agent/server.h"

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
	struct agent_server *srv;
	struct agent_conn *conn;
	size_t k, turn = 0;
	bool refused = false;

	if (size < 1)
		return 0;
	k = data[0] % 8 + 1;
	if (size < 1 + k)
		return 0;
	if (agent_server_new(&srv, &opts) != 0)
		abort();
	if (agent_server_add_conn(srv, -1, &conn) != 0)
		abort();
	for (size_t off = 1 + k; off < size; turn++) {
		size_t chunk = data[1 + turn % k], left = size - off;
		int err;

		if (!chunk || chunk > left)
			chunk = left;
		err = agent_conn_feed(conn, data + off, chunk);
		if (refused && err != -EPIPE)
			abort();
		if (err == -EPIPE)
			refused = true;
		else if (err)
			abort();
		for (int i = 0; i < 4; i++) {
			agent_conn_pump(conn);
			agent_conn_drop_output(conn);
		}
		off += chunk;
	}
	agent_server_free(srv);
	nftw(root(), rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return 0;
}

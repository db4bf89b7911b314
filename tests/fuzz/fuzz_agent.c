// SPDX-License-Identifier: MIT
/*
 * fuzz_agent: arbitrary bytes as the stream of a hostile client of the
 * guest agent (guest-agent/server*.c, exec.c request parsing).
 *
 * Input layout:
 *   byte 0        k = byte % 8 + 1, the number of chunk-size bytes
 *   bytes 1..k    chunk sizes, used in turn: 0 is "all the rest", 1..255
 *                 that many bytes
 *   the rest      the stream, fed to one connection in those chunks
 *
 * The connection has no fd: its output is dropped after each chunk. The
 * exec filter refuses every program but "/bin/true" (absolute, so a PATH
 * in the request cannot redirect it), so the fuzzer never starts anything
 * else; those it starts are killed and reaped when the server is freed.
 * Checks beyond ASan/UBSan: once the connection has refused the stream it
 * stays refused.
 */
#include "guest-agent/server.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int only_true(const char *const *argv, void *opaque)
{
	(void)opaque;
	return strcmp(argv[0], "/bin/true") == 0 ? 0 : -EPERM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct agent_opts opts = { .exec_filter = only_true };
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
		agent_conn_drop_output(conn);
		off += chunk;
	}
	agent_server_free(srv);
	return 0;
}

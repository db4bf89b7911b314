/* SPDX-License-Identifier: MIT */
/*
 * fuzz_agent_feed: what the agent's fuzz targets (fuzz_agent.c,
 * fuzz_agent_files.c) share: one input as the stream of one hostile
 * connection.
 *
 * Input layout:
 *   byte 0        k = byte % 8 + 1, the number of chunk-size bytes
 *   bytes 1..k    chunk sizes, used in turn: 0 is "all the rest", 1..255
 *                 that many bytes
 *   the rest      the stream, fed to one connection in those chunks
 *
 * The connection has no fd: after each chunk the outgoing transfers get
 * `pumps` passes of the pump, each output dropped. Checks beyond
 * ASan/UBSan: once the connection has refused the stream it stays refused.
 */
#ifndef KVMBOX_TESTS_FUZZ_AGENT_FEED_H
#define KVMBOX_TESTS_FUZZ_AGENT_FEED_H

#include "guest-agent/server.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static inline void fuzz_agent_feed(const struct agent_opts *opts, const uint8_t *data, size_t size,
                                   int pumps)
{
	struct agent_server *srv;
	struct agent_conn *conn;
	size_t k, turn = 0;
	bool refused = false;

	if (size < 1)
		return;
	k = data[0] % 8 + 1;
	if (size < 1 + k)
		return;
	if (agent_server_new(&srv, opts) != 0)
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
		for (int i = 0; i < pumps; i++) {
			agent_conn_pump(conn);
			agent_conn_drop_output(conn);
		}
		agent_conn_drop_output(conn);
		off += chunk;
	}
	agent_server_free(srv);
}

#endif

// SPDX-License-Identifier: MIT
/*
 * fuzz_agent: arbitrary bytes as the stream of a hostile client of the
 * guest agent (guest-agent/server*.c, exec.c request parsing).
 *
 * Input layout and checks: fuzz_agent_feed.h.
 *
 * The exec filter refuses every program but "/bin/true" (absolute, so a PATH
 * in the request cannot redirect it), so the fuzzer never starts anything
 * else; those it starts are killed and reaped when the server is freed.
 */
#include "fuzz_agent_feed.h"

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

	fuzz_agent_feed(&opts, data, size, 0);
	return 0;
}

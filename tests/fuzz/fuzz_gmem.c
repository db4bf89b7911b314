// SPDX-License-Identifier: MIT
/*
 * fuzz_gmem: the guest memory door under arbitrary (gpa, len) pairs, as a
 * guest would hand them over in descriptors. Whatever gmem_ptr returns must
 * lie wholly inside the buffer standing in for guest RAM.
 */
#include "vmm/gmem.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[1 << 16];
	struct gmem m;
	uint64_t pair[2];

	if (gmem_init_buffer(&m, ram, sizeof(ram)) != 0)
		abort();
	while (size >= sizeof(pair)) {
		uint8_t *p;

		memcpy(pair, data, sizeof(pair));
		data += sizeof(pair);
		size -= sizeof(pair);
		p = gmem_ptr(&m, pair[0], pair[1]);
		if (!p)
			continue;
		/* Touch both ends: ASan reports any byte outside ram. */
		if (p < ram || pair[1] > sizeof(ram) || p + pair[1] > ram + sizeof(ram))
			abort();
		p[0] ^= 1;
		p[pair[1] - 1] ^= 1;
	}
	return 0;
}

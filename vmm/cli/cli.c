// SPDX-License-Identifier: MIT
/*
 * cli: command-line helpers shared by kvmbox run (main.c) and kvmbox
 * exec/status/stop (ctl_cmd.c); see cli.h.
 */
#include "vmm/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_parse_u64(const char *prog, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	/* strtoull takes leading space and a sign; a number here starts with a digit. */
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max) {
		fprintf(stderr, "%s: %s %s: expected a number from %llu to %llu\n", prog, opt, s,
		        (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * cli: command-line helpers the verbs share (cli.h).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* cli_share: see cli.h. */
char *cli_share(const char *name)
{
	char exe[4096], *path = NULL, *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&path, "%s/share/kvmbox/%s", exe, name) < 0)
		return NULL;
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

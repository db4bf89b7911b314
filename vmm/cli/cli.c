// SPDX-License-Identifier: MIT
/*
 * cli: command-line helpers the verbs share (cli.h).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* cli_socket: see cli.h. */
const char *cli_socket(const char *arg, char *buf)
{
	char dir[PATH_MAX];
	struct stat st;

	/* A path says where it is; a bare word is a sandbox's name when one
	 * has it, and otherwise what it was (a socket in this folder). */
	if (strchr(arg, '/') || sbx_name_ok(arg) || sbx_path(arg, NULL, dir) ||
	    stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    snprintf(buf, PATH_MAX, "%s/" SBX_SOCK, dir) >= PATH_MAX)
		return arg;
	return buf;
}

// SPDX-License-Identifier: MIT
/*
 * kvmbox: the command line. The one place that exits.
 */
#include <stdio.h>
#include <string.h>

#define KVMBOX_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmbox --version\n"
		   "       kvmbox run --kernel PATH [--initrd PATH] [--cmdline STR]\n"
		   "                  [--cpus N] [--memory MiB] [--timings]\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("kvmbox %s\n", KVMBOX_VERSION);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}

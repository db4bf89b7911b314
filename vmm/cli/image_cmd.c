// SPDX-License-Identifier: MIT
/*
 * image_cmd: `kvmbox pull`, `kvmbox images` and `kvmbox rmi`: the image
 * store (oci/oci.h) from the command line, and the pull that `kvmbox run
 * IMAGE` does when the image is missing.
 */
#define _GNU_SOURCE
#include "oci/oci.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int image_opt(struct image_opts *io, int c, const char *arg)
{
	switch (c) {
	case IMAGE_OPT_INSECURE:
		if (io->nr_insecure == IMAGE_MAX_INSECURE) {
			fprintf(stderr, "kvmbox: --insecure-registry: at most %d\n",
			        IMAGE_MAX_INSECURE);
			return -EINVAL;
		}
		io->insecure[io->nr_insecure++] = arg;
		return 0;
	case IMAGE_OPT_AUTH_FILE:
		io->auth_file = arg;
		return 0;
	case IMAGE_OPT_STORE:
		io->store = arg;
		return 0;
	default:
		return -ENOENT;
	}
}

int image_store_open(const struct image_opts *io, struct oci_store **st)
{
	char err[OCI_ERR_MAX];
	int rc = oci_store_open(io->store, st, err, sizeof(err));

	if (rc)
		fprintf(stderr, "kvmbox: %s\n", err);
	return rc;
}

int image_parse_ref(const char *s, struct oci_ref *ref)
{
	char err[OCI_ERR_MAX];
	int rc = oci_ref_parse(s, ref, err, sizeof(err));

	if (rc)
		fprintf(stderr, "kvmbox: %s: %s\n", s, err);
	return rc;
}

int image_pull(const struct image_opts *io, struct oci_store *st, const struct oci_ref *ref,
               const char *typed)
{
	struct oci_pull_opts po = {
		.insecure = io->insecure,
		.auth_file = io->auth_file,
		.progress_fd = STDERR_FILENO,
		.progress_tty = isatty(STDERR_FILENO),
	};
	char err[OCI_ERR_MAX];
	struct timespec t0, t1;
	int rc;

	fprintf(stderr, "kvmbox: pulling %s\n", typed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = oci_pull(st, ref, &po, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		fprintf(stderr, "kvmbox: pull %s: %s\n", typed, err);
		return rc;
	}
	fprintf(stderr, "kvmbox: pulled %s in %.2f s\n", typed,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

static const struct option image_longopts[] = {
	{ "insecure-registry", required_argument, NULL, IMAGE_OPT_INSECURE },
	{ "auth-file", required_argument, NULL, IMAGE_OPT_AUTH_FILE },
	{ "store", required_argument, NULL, IMAGE_OPT_STORE },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void image_usage(FILE *f)
{
	fprintf(f, "usage: kvmbox pull [--insecure-registry HOST[:PORT]]... [--auth-file FILE]\n"
	           "                   [--store DIR] REF\n"
	           "       kvmbox images [--store DIR]\n"
	           "       kvmbox rmi [--store DIR] REF...\n"
	           "\n"
	           "  REF: NAME[:TAG][@sha256:HEX] (Docker Hub, or REGISTRY[:PORT]/NAME...),\n"
	           "  oci:DIR[:TAG] (an OCI image layout), docker-archive:FILE (docker save).\n"
	           "  --insecure-registry  plain HTTP to this registry (loopback ones always may)\n"
	           "  --auth-file FILE     credentials, as docker's config.json (default\n"
	           "                       $DOCKER_CONFIG/config.json, ~/.docker/config.json)\n"
	           "  --store DIR          the image store (default $KVMBOX_HOME, else\n"
	           "                       ~/.local/share/kvmbox)\n");
}

/* image_args: the options every image verb takes; optind left at the first operand. */
static int image_args(int argc, char **argv, struct image_opts *io)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", image_longopts, NULL)) != -1) {
		if (c == 'h') {
			image_usage(stdout);
			return 1;
		}
		if (c == ':' || c == '?') {
			fprintf(stderr, "kvmbox %s: %s %s\n", argv[0], argv[optind - 1],
			        c == ':' ? "needs a value"
			                 : "is not an option (kvmbox pull --help)");
			return -EINVAL;
		}
		if (image_opt(io, c, optarg))
			return -EINVAL;
	}
	return 0;
}

int image_cmd_pull(int argc, char **argv)
{
	struct image_opts io = { 0 };
	struct oci_store *st;
	struct oci_ref ref;
	int rc = image_args(argc, argv, &io);

	if (rc)
		return rc > 0 ? 0 : VM_EXIT_USAGE;
	if (optind != argc - 1) {
		fprintf(stderr, "kvmbox pull: give one image reference (kvmbox pull --help)\n");
		return VM_EXIT_USAGE;
	}
	if (image_parse_ref(argv[optind], &ref))
		return VM_EXIT_USAGE;
	if (image_store_open(&io, &st))
		return VM_EXIT_ERROR;
	rc = image_pull(&io, st, &ref, argv[optind]);
	oci_store_close(st);
	return rc ? VM_EXIT_ERROR : 0;
}

static int image_print(void *arg, const struct oci_image *img)
{
	char when[32] = "-";
	time_t t = (time_t)img->created;
	struct tm tm;

	(void)arg;
	if (img->created > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	printf("%-50s  %.19s  %6zu  %8.1f MB  %s\n", img->name, img->manifest, img->nr_layers,
	       (double)img->size / 1e6, when);
	return 0;
}

int image_cmd_images(int argc, char **argv)
{
	struct image_opts io = { 0 };
	struct oci_store *st;
	char err[OCI_ERR_MAX];
	int rc = image_args(argc, argv, &io);

	if (rc)
		return rc > 0 ? 0 : VM_EXIT_USAGE;
	if (optind != argc) {
		fprintf(stderr, "kvmbox images: takes no operand (kvmbox images --help)\n");
		return VM_EXIT_USAGE;
	}
	if (image_store_open(&io, &st))
		return VM_EXIT_ERROR;
	printf("%-50s  %-19s  %6s  %11s  %s\n", "IMAGE", "MANIFEST", "LAYERS", "SIZE", "CREATED");
	rc = oci_image_list(st, image_print, NULL, err, sizeof(err));
	if (rc)
		fprintf(stderr, "kvmbox images: %s\n", err);
	oci_store_close(st);
	return rc ? VM_EXIT_ERROR : 0;
}

int image_cmd_rmi(int argc, char **argv)
{
	struct image_opts io = { 0 };
	struct oci_store *st;
	char err[OCI_ERR_MAX];
	int rc = image_args(argc, argv, &io), status = 0;

	if (rc)
		return rc > 0 ? 0 : VM_EXIT_USAGE;
	if (optind == argc) {
		fprintf(stderr, "kvmbox rmi: give an image reference (kvmbox rmi --help)\n");
		return VM_EXIT_USAGE;
	}
	if (image_store_open(&io, &st))
		return VM_EXIT_ERROR;
	for (int i = optind; i < argc; i++) {
		struct oci_ref ref;

		if (image_parse_ref(argv[i], &ref)) {
			status = VM_EXIT_ERROR;
			continue;
		}
		rc = oci_image_remove(st, &ref, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "kvmbox rmi: %s\n", err);
			status = VM_EXIT_ERROR;
		} else {
			printf("removed %s\n", argv[i]);
		}
	}
	oci_store_close(st);
	return status;
}

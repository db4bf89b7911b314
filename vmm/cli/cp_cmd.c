// SPDX-License-Identifier: MIT
/*
 * cp_cmd: kvmbox cp [-r] SRC DST, where one side is SOCKET:PATH (a
 * microVM's control socket and a path in its guest) and the other a host
 * path, as docker cp and cp -r name them: a file goes with fs.write or
 * fs.read, a tree (-r) as a tar stream with fs.tar_in or fs.tar_out
 * (docs/protocol.md). A destination that is a folder receives SRC under
 * its own name; one that does not exist becomes the copy. What comes from
 * the guest is extracted by proto_untar, confined to the destination.
 */
#define _GNU_SOURCE
#include "proto/client_fs.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One side of a copy: a host path, or a socket and a guest path. */
struct cp_side {
	char *sock; /* NULL: the host */
	const char *path;
};

/* cp_side: arg as SOCKET:PATH when what is before the first ':' is a socket. */
static int cp_side(char *arg, struct cp_side *s)
{
	char *colon = strchr(arg, ':'), buf[PATH_MAX];
	struct stat st;

	s->sock = NULL;
	s->path = arg;
	if (!colon)
		return 0;
	*colon = '\0';
	if (stat(cli_socket(arg, buf), &st) == 0 && S_ISSOCK(st.st_mode)) {
		s->sock = arg;
		s->path = colon + 1;
		return s->path[0] ? 0 : -EINVAL;
	}
	*colon = ':';
	return 0;
}

/*
 * split: path's folder and last component (malloc'd; trailing slashes
 * dropped): "a/b" is "a" and "b", "b" is "." and "b", "/b" is "/" and "b",
 * "/" is "/" and "".
 */
static int split(const char *path, char **dir, char **base)
{
	char *p = strdup(path), *slash;
	size_t n = p ? strlen(p) : 0;

	if (!p)
		return -ENOMEM;
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		*base = p;
		*dir = strdup(".");
	} else {
		*base = strdup(strcmp(p, "/") == 0 ? "" : slash + 1);
		slash[slash == p ? 1 : 0] = '\0';
		*dir = p;
	}
	if (!*dir || !*base) {
		free(*dir == p ? NULL : *dir);
		free(*base == p ? NULL : *base);
		free(p);
		return -ENOMEM;
	}
	return 0;
}

/* join: a/b, malloc'd. */
static char *join(const char *a, const char *b)
{
	char *s;
	size_t n = strlen(a);

	if (asprintf(&s, "%s%s%s", a, n && a[n - 1] == '/' ? "" : "/", b) < 0)
		return NULL;
	return s;
}

/* cp_in_file: the host file src to the guest's dst (into it when a folder). */
static int cp_in_file(struct proto_client *c, const char *sock, const char *src, const char *dst)
{
	struct proto_fs_status st = { 0 };
	struct proto_fs_stat gs;
	struct proto_why why = { "" };
	char *dir = NULL, *base = NULL, *target = NULL;
	struct stat ls;
	int fd = strcmp(src, "-") == 0 ? dup(STDIN_FILENO) : open(src, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0 || fstat(fd, &ls) < 0) {
		fprintf(stderr, "kvmbox cp: %s: %s\n", src, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (S_ISDIR(ls.st_mode)) {
		fprintf(stderr, "kvmbox cp: %s: Is a directory (copy a folder with -r)\n", src);
		close(fd);
		return 1;
	}
	if (proto_client_fs_stat(c, dst, true, &gs, &why) == 0 && strcmp(gs.kind, "dir") == 0 &&
	    split(strcmp(src, "-") == 0 ? "stdin" : src, &dir, &base) == 0)
		target = join(dst, base);
	err = proto_client_fs_write(c, target ? target : dst,
	                            S_ISREG(ls.st_mode) ? ls.st_mode & 07777 : 0644, fd, &st, &why);
	if (err)
		cli_fs_fail("kvmbox cp", sock, target ? target : dst, src, err, &st, &why);
	close(fd);
	free(dir);
	free(base);
	free(target);
	return err ? 1 : 0;
}

/* cp_out_file: the guest file src to the host's dst (into it when a folder; "-": stdout). */
static int cp_out_file(struct proto_client *c, const char *sock, const char *src, const char *dst)
{
	struct proto_fs_status st = { .remote = true };
	struct proto_fs_stat gs;
	struct proto_why why = { "" };
	char *dir = NULL, *base = NULL, *target = NULL;
	struct stat ls;
	int fd, err = proto_client_fs_stat(c, src, true, &gs, &why);

	if (!err && strcmp(gs.kind, "dir") == 0) {
		fprintf(stderr, "kvmbox cp: %s:%s: Is a directory (copy a folder with -r)\n", sock,
		        src);
		return 1;
	}
	if (err) {
		cli_fs_fail("kvmbox cp", sock, src, dst, err, &st, &why);
		return 1;
	}
	if (strcmp(dst, "-") != 0 && stat(dst, &ls) == 0 && S_ISDIR(ls.st_mode) &&
	    split(src, &dir, &base) == 0)
		target = join(dst, base);
	fd = strcmp(dst, "-") == 0 ? dup(STDOUT_FILENO)
	                           : open(target ? target : dst,
	                                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, gs.mode & 0777);
	if (fd < 0) {
		fprintf(stderr, "kvmbox cp: %s: %s\n", target ? target : dst, strerror(errno));
		err = -errno;
	} else {
		err = proto_client_fs_read(c, src, fd, &st, &why);
		if (err)
			cli_fs_fail("kvmbox cp", sock, src, target ? target : dst, err, &st, &why);
		if (close(fd) < 0 && !err) {
			fprintf(stderr, "kvmbox cp: %s: %s\n", target ? target : dst,
			        strerror(errno));
			err = -EIO;
		}
	}
	free(dir);
	free(base);
	free(target);
	return err ? 1 : 0;
}

/*
 * cp_in_tree: the host's src (a folder with all it holds, or a file) to the
 * guest's dst: under it as src's name when it is a folder, else as dst.
 */
static int cp_in_tree(struct proto_client *c, const char *sock, const char *src, const char *dst)
{
	struct proto_fs_status st = { 0 };
	struct proto_fs_stat gs;
	struct proto_why why = { "" };
	char *sdir, *sbase, *gdir = NULL, *gbase = NULL;
	int fd, err = split(src, &sdir, &sbase);

	if (err)
		return 1;
	fd = open(sdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kvmbox cp: %s: %s\n", src, strerror(errno));
		err = -errno;
	} else if (proto_client_fs_stat(c, dst, true, &gs, &why) == 0 &&
	           strcmp(gs.kind, "dir") == 0) {
		err = proto_client_fs_tar_in(c, dst, fd, sbase, sbase, &st, &why);
	} else if (!(err = split(dst, &gdir, &gbase))) {
		err = proto_client_fs_tar_in(c, gdir, fd, sbase, gbase, &st, &why);
	}
	if (err && fd >= 0)
		cli_fs_fail("kvmbox cp", sock, dst, src, err, &st, &why);
	if (fd >= 0)
		close(fd);
	free(sdir);
	free(sbase);
	free(gdir);
	free(gbase);
	return err ? 1 : 0;
}

/* cp_out_tree: the guest's src to the host's dst, as cp_in_tree the other way. */
static int cp_out_tree(struct proto_client *c, const char *sock, const char *src, const char *dst)
{
	struct proto_fs_status st = { 0 };
	struct proto_why why = { "" };
	char *dir = NULL, *base = NULL, *sdir = NULL, *sbase = NULL;
	struct stat ls;
	int fd, err = 0;

	if (stat(dst, &ls) == 0 && S_ISDIR(ls.st_mode)) {
		fd = open(dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (split(src, &sdir, &sbase) == 0 && !sbase[0]) {
			free(sbase);
			sbase = NULL; /* "/": its contents */
		}
	} else {
		err = split(dst, &dir, &base);
		fd = err ? -1 : open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		fprintf(stderr, "kvmbox cp: %s: %s\n", dst, strerror(err ? -err : errno));
		err = -1;
	} else {
		err = proto_client_fs_tar_out(c, src, base ? base : sbase, fd, &st, &why);
		if (err)
			cli_fs_fail("kvmbox cp", sock, src, base ? dir : dst, err, &st, &why);
		close(fd);
	}
	free(dir);
	free(base);
	free(sdir);
	free(sbase);
	return err ? 1 : 0;
}

static void cp_usage(FILE *f)
{
	fprintf(f, "usage: kvmbox cp [-r] SRC DST\n"
	           "\n"
	           "  Copy a file (or with -r a folder and all it holds) between the host\n"
	           "  and the microVM whose control socket is SOCKET: one of SRC and DST is\n"
	           "  SOCKET:PATH, the other a host path (\"-\": stdin or stdout for a file).\n"
	           "  A DST that is a folder receives SRC under its own name; otherwise DST\n"
	           "  becomes the copy. Modes are kept; symlinks inside a folder are copied\n"
	           "  as symlinks.\n");
}

int ctl_cmd_cp(int argc, char **argv)
{
	struct proto_client c = { .fd = -1 };
	struct cp_side src, dst;
	bool recursive = false;
	int i = 1, status;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "-R") == 0) {
			recursive = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cp_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "kvmbox cp: unrecognized option %s\n", argv[i]);
			cp_usage(stderr);
			return 2;
		}
	}
	if (argc - i != 2) {
		cp_usage(stderr);
		return 2;
	}
	if (cp_side(argv[i], &src) || cp_side(argv[i + 1], &dst) || !src.sock == !dst.sock) {
		fprintf(stderr, "kvmbox cp: exactly one of SRC and DST must be SOCKET:PATH, SOCKET "
		                "a microVM's control socket\n");
		return 2;
	}
	if (cli_fs_open("kvmbox cp", src.sock ? src.sock : dst.sock, &c))
		return 1;
	if (src.sock)
		status = recursive ? cp_out_tree(&c, src.sock, src.path, dst.path)
		                   : cp_out_file(&c, src.sock, src.path, dst.path);
	else
		status = recursive ? cp_in_tree(&c, dst.sock, src.path, dst.path)
		                   : cp_in_file(&c, dst.sock, src.path, dst.path);
	proto_client_close(&c);
	return status;
}

// SPDX-License-Identifier: MIT
/*
 * sandbox_logs: `kvmbox logs [--vmm] [-f] NAME` (docs/sandboxes.md): a
 * sandbox's console log, or with --vmm its VMM's own. With -f it is
 * followed as `tail -F` and `docker logs -f` do: what is appended is
 * printed as it comes; a log a new boot truncated or replaced (kvmbox
 * start) is read again from its start; and it ends once the sandbox is no
 * longer running, after what was written last, or on a signal.
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often a followed log is looked at again: a person reads it. */
#define LOGS_POLL_MS 100

/* logs_copy: fd's bytes from where it is to its end, onto stdout. 0 or -errno. */
static int logs_copy(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));

			if (w < 0 && errno != EINTR)
				return -errno;
			off += w > 0 ? w : 0;
		}
	return n < 0 ? -errno : 0;
}

static int logs_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	return fd < 0 ? -errno : fd;
}

/*
 * logs_reopen: the log as it is now at path: *fd itself, rewound when it
 * was truncated under us, or the file that replaced it, from its start.
 * A log that is gone for the moment keeps *fd. 0 or -errno.
 */
static int logs_reopen(const char *path, int *fd)
{
	struct stat now, ours;
	off_t at = lseek(*fd, 0, SEEK_CUR);

	if (fstat(*fd, &ours) < 0)
		return -errno;
	if (stat(path, &now) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (now.st_dev != ours.st_dev || now.st_ino != ours.st_ino) {
		int nfd = logs_open(path);

		if (nfd < 0)
			return nfd == -ENOENT ? 0 : nfd;
		close(*fd);
		*fd = nfd;
		return 0;
	}
	if (at > ours.st_size && lseek(*fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/* logs_follow: print what comes to fd's log until the sandbox in dir ends. */
static int logs_follow(const char *dir, const char *path, int *fd)
{
	const struct timespec nap = { .tv_nsec = LOGS_POLL_MS * 1000000l };

	for (;;) {
		pid_t pid;
		enum sbx_state st = sbx_probe(dir, &pid);
		int err = logs_copy(*fd);

		if (err)
			return err;
		if (st != SBX_RUNNING && st != SBX_CREATING)
			return 0; /* what it wrote before it ended was read above */
		nanosleep(&nap, NULL);
		err = logs_reopen(path, fd);
		if (err)
			return err;
	}
}

int sbx_cmd_logs(int argc, char **argv)
{
	const char *file = SBX_CONSOLE;
	char dir[PATH_MAX], path[PATH_MAX];
	bool follow = false;
	int fd, err, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--vmm"))
			file = SBX_VMM_LOG;
		else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
			follow = true;
		else
			break;
	}
	if (i != argc - 1 || argv[i][0] == '-') {
		fprintf(stderr,
		        "usage: kvmbox logs [--vmm] [-f] NAME\n"
		        "  -f, --follow  print what comes after, until the sandbox stops\n");
		return 2;
	}
	if (sbx_lookup("kvmbox logs", argv[i], dir))
		return 1;
	sbx_join(path, dir, file);
	fd = logs_open(path);
	if (fd < 0) {
		fprintf(stderr, "kvmbox logs: %s: %s\n", path, strerror(-fd));
		return 1;
	}
	err = follow ? logs_follow(dir, path, &fd) : logs_copy(fd);
	close(fd);
	if (err && err != -EPIPE) {
		fprintf(stderr, "kvmbox logs: %s: %s\n", path, strerror(-err));
		return 1;
	}
	return 0;
}

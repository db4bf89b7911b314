// SPDX-License-Identifier: MIT
/*
 * fs_check: the guest's side of tests/e2e/fs.sh, a static program whose
 * first argument picks what it does on a virtio-fs mount, for what
 * busybox cannot do. It prints what the host side compares, and exits 0
 * only when every call succeeded (else one line on stderr naming it).
 *
 *   fs_check mmap PATH SIZE        write pattern bytes through a MAP_SHARED
 *                                  mapping, msync, unmap
 *   fs_check fsync PATH SIZE       write pattern bytes with write(2), fsync
 *   fs_check xattr PATH NAME VALUE set NAME, then print what getxattr and
 *                                  listxattr see
 *
 * The pattern: byte i is (i * 7 + 3) & 0xff, so the host can rebuild it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)((i * 7 + 3) & 0xff);
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fs_check: %s %s: %m\n", what, path);
	return 1;
}

static int do_mmap(const char *path, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	unsigned char *p;

	if (fd < 0)
		return fail("open", path);
	if (ftruncate(fd, (off_t)size) < 0)
		return fail("ftruncate", path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return fail("mmap", path);
	for (size_t i = 0; i < size; i++)
		p[i] = pattern_byte(i);
	if (msync(p, size, MS_SYNC) < 0)
		return fail("msync", path);
	if (munmap(p, size) < 0 || close(fd) < 0)
		return fail("munmap/close", path);
	return 0;
}

static int do_fsync(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	unsigned char buf[4096];
	size_t done = 0;

	if (fd < 0)
		return fail("open", path);
	while (done < size) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern_byte(done + i);
		w = write(fd, buf, n);
		if (w <= 0)
			return fail("write", path);
		done += (size_t)w;
	}
	if (fsync(fd) < 0)
		return fail("fsync", path);
	return close(fd) < 0 ? fail("close", path) : 0;
}

static int do_xattr(const char *path, const char *name, const char *value)
{
	char got[256], list[1024];
	ssize_t n, l;

	if (setxattr(path, name, value, strlen(value), 0) < 0)
		return fail("setxattr", path);
	n = getxattr(path, name, got, sizeof(got) - 1);
	if (n < 0)
		return fail("getxattr", path);
	got[n] = '\0';
	l = listxattr(path, list, sizeof(list));
	if (l < 0)
		return fail("listxattr", path);
	printf("%s", got);
	for (ssize_t i = 0; i < l; i += (ssize_t)strlen(list + i) + 1)
		if (strcmp(list + i, name) == 0)
			printf(" listed");
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "mmap") == 0)
		return do_mmap(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "fsync") == 0)
		return do_fsync(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 5 && strcmp(argv[1], "xattr") == 0)
		return do_xattr(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: fs_check mmap|fsync PATH SIZE | xattr PATH NAME VALUE\n");
	return 2;
}

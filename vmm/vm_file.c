// SPDX-License-Identifier: MIT
/*
 * vm_file: the files a VM is booted from (the kernel, the initrd), opened
 * and checked with one message each (vm_int.h).
 */
#define _GNU_SOURCE
#include "vmm/vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vm_open_file(const char *what, const char *path, uint64_t max, int *fdp, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "kvmbox: %s %s: %s\n", what, path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		fprintf(stderr, "kvmbox: %s %s: not a regular, non-empty file\n", what, path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		fprintf(stderr, "kvmbox: %s %s: %lld bytes, more than the %llu that fit\n", what,
		        path, (long long)st.st_size, (unsigned long long)max);
		close(fd);
		return -EFBIG;
	}
	*fdp = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

int vm_read_at(int fd, void *dst, uint64_t len)
{
	uint8_t *p = dst;
	uint64_t off = 0;

	if (!dst)
		return -EFAULT;
	while (off < len) {
		ssize_t n = pread(fd, p + off, len - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
	}
	return 0;
}

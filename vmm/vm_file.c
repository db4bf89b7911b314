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

int vm_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf, size_t *size)
{
	uint64_t want;
	ssize_t n;
	size_t done = 0;
	int fd, err = vm_open_file(what, path, max, &fd, &want);

	if (err)
		return err;
	*buf = malloc((size_t)want);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)want) {
		n = read(fd, *buf + done, (size_t)want - done);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			fprintf(stderr, "kvmbox: reading %s %s: %s\n", what, path,
			        n < 0 ? strerror(errno) : "file shrank");
			free(*buf);
			close(fd);
			return err;
		}
		done += (size_t)n;
	}
	close(fd);
	*size = done;
	return 0;
}

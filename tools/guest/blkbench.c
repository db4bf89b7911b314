// SPDX-License-Identifier: MIT
/*
 * blkbench: the guest side of tools/bench-blk. Static; runs as a command
 * in the benchmark's initramfs.
 *
 * Usage: blkbench DEVICE MODE SECONDS [JOBS]
 *   MODE: seqread, seqwrite (1 MiB requests), randread, randwrite (4 KiB
 *   requests at random 4 KiB-aligned offsets), all O_DIRECT. JOBS processes
 *   (default 1) each keep one request in flight, so the queue depth is
 *   JOBS. Each prints "blkbench MODE ops=N bytes=N seconds=S".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double blkbench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int blkbench_job(int argc, char **argv, unsigned int job);

int main(int argc, char **argv)
{
	unsigned int jobs = argc == 5 ? (unsigned int)atoi(argv[4]) : 1;
	int status, rc = 0;

	if (argc != 4 && argc != 5) {
		fprintf(stderr,
		        "usage: blkbench DEVICE seqread|seqwrite|randread|randwrite SECONDS "
		        "[JOBS]\n");
		return 2;
	}
	if (jobs < 1 || jobs > 64)
		jobs = 1;
	for (unsigned int j = 0; j < jobs; j++) {
		pid_t pid = fork();

		if (pid == 0)
			return blkbench_job(argc, argv, j);
		if (pid < 0)
			return 1;
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	return rc;
}

static int blkbench_job(int argc, char **argv, unsigned int job)
{
	uint64_t dev_size = 0, ops = 0, bytes = 0, off = 0;
	uint64_t state = 0x9e3779b97f4a7c15ull * (job + 1);
	bool seq, write_mode;
	size_t bs;
	double start, limit;
	void *buf;
	int fd;

	(void)argc;
	seq = strncmp(argv[2], "seq", 3) == 0;
	write_mode = strstr(argv[2], "write") != NULL;
	bs = seq ? 1 << 20 : 4096;
	limit = atof(argv[3]);
	fd = open(argv[1], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &dev_size) < 0 || dev_size < bs) {
		perror("blkbench: open");
		return 1;
	}
	if (posix_memalign(&buf, 4096, bs))
		return 1;
	memset(buf, 0xa5, bs);
	/* Sequential jobs start at their own share of the device. */
	off = seq ? (dev_size / bs / 64 * job) * bs : 0;
	start = blkbench_now();
	while (blkbench_now() - start < limit) {
		ssize_t n;

		if (seq) {
			if (off + bs > dev_size)
				off = 0;
		} else {
			state ^= state << 13, state ^= state >> 7, state ^= state << 17;
			off = (state % (dev_size / bs)) * bs;
		}
		n = write_mode ? pwrite(fd, buf, bs, (off_t)off) : pread(fd, buf, bs, (off_t)off);
		if (n != (ssize_t)bs) {
			perror("blkbench: I/O");
			return 1;
		}
		off += bs;
		ops++;
		bytes += bs;
	}
	printf("blkbench %s ops=%llu bytes=%llu seconds=%.3f\n", argv[2], (unsigned long long)ops,
	       (unsigned long long)bytes, blkbench_now() - start);
	return 0;
}

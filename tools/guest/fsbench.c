// SPDX-License-Identifier: MIT
/*
 * fsbench: the workloads of tools/bench-fs, run the same way on the host,
 * on a virtio-fs mount and on an ext4 file system on virtio-blk. Static,
 * so that it runs in any guest. Each workload prints one line:
 *
 *   fsbench WORKLOAD ops=N bytes=B seconds=S
 *
 *   fsbench seqwrite FILE MIB     MIB writes of 1 MiB, then fsync
 *   fsbench seqread FILE          the file in 1 MiB reads
 *   fsbench randread FILE SECS    4 KiB preads at random aligned offsets
 *   fsbench meta DIR N            N small files created (open, 100 bytes,
 *                                 close), then stat'ed, then unlinked: three
 *                                 lines, create, stat and unlink
 *
 * Times are CLOCK_MONOTONIC around the calls; what the guest measures
 * under nested emulation is slow, but the same for every back end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define BLOCK 4096u

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, uint64_t ops, uint64_t bytes, double secs)
{
	printf("fsbench %s ops=%llu bytes=%llu seconds=%.6f\n", what, (unsigned long long)ops,
	       (unsigned long long)bytes, secs);
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fsbench: %s %s: %m\n", what, path);
	return 1;
}

static int seqwrite(const char *path, unsigned long mib)
{
	char *buf = malloc(CHUNK);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	double t0 = now();

	if (!buf || fd < 0)
		return fail("open", path);
	for (size_t i = 0; i < CHUNK; i++)
		buf[i] = (char)(i * 13 + 1);
	for (unsigned long i = 0; i < mib; i++)
		if (write(fd, buf, CHUNK) != (ssize_t)CHUNK)
			return fail("write", path);
	if (fsync(fd) < 0 || close(fd) < 0)
		return fail("fsync", path);
	report("seqwrite", mib, (uint64_t)mib * CHUNK, now() - t0);
	free(buf);
	return 0;
}

static int seqread(const char *path)
{
	char *buf = malloc(CHUNK);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t ops = 0, bytes = 0;
	double t0 = now();
	ssize_t n;

	if (!buf || fd < 0)
		return fail("open", path);
	while ((n = read(fd, buf, CHUNK)) > 0) {
		ops++;
		bytes += (uint64_t)n;
	}
	if (n < 0)
		return fail("read", path);
	report("seqread", ops, bytes, now() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int randread(const char *path, double secs)
{
	char buf[BLOCK];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t ops = 0, blocks, x = 88172645463325252ull;
	double t0 = now(), t = t0;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)BLOCK)
		return fail("open", path);
	blocks = (uint64_t)st.st_size / BLOCK;
	while (t - t0 < secs) {
		for (int i = 0; i < 64; i++, ops++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			if (pread(fd, buf, BLOCK, (off_t)((x % blocks) * BLOCK)) != (ssize_t)BLOCK)
				return fail("pread", path);
		}
		t = now();
	}
	report("randread", ops, ops * BLOCK, t - t0);
	close(fd);
	return 0;
}

static int meta(const char *dir, unsigned long n)
{
	static const char data[100] = "fsbench small file";
	char path[4096];
	struct stat st;
	double t0;

	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%lu", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) ||
		    close(fd) < 0)
			return fail("create", path);
	}
	report("create", n, n * sizeof(data), now() - t0);
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%lu", dir, i);
		if (stat(path, &st) < 0)
			return fail("stat", path);
	}
	report("stat", n, 0, now() - t0);
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%lu", dir, i);
		if (unlink(path) < 0)
			return fail("unlink", path);
	}
	report("unlink", n, 0, now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "seqwrite") == 0)
		return seqwrite(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "seqread") == 0)
		return seqread(argv[2]);
	if (argc == 4 && strcmp(argv[1], "randread") == 0)
		return randread(argv[2], strtod(argv[3], NULL));
	if (argc == 4 && strcmp(argv[1], "meta") == 0)
		return meta(argv[2], strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: fsbench seqwrite FILE MIB | seqread FILE | randread FILE SECS | "
	                "meta DIR N\n");
	return 2;
}

// SPDX-License-Identifier: MIT
/*
 * fuzz_oci_layer: arbitrary bytes as a layer blob from a hostile registry
 * (oci/layer*.c): tar, gzip or zstd, applied with small limits (1 MiB of
 * data, 1000 entries) into a fresh folder "d" beside a canary file and a
 * folder "outside", then removed with oci_rm_tree.
 *
 * An uncompressed input's tar headers (any 512-byte block with "ustar" at
 * offset 257, at a block boundary) get their checksum recomputed first, so
 * that mutations reach the entries instead of stopping at "Damaged tar
 * archive". The seeds (corpus/fuzz_oci_layer) are made by
 * fuzz_oci_layer_seeds.py.
 *
 * Checks beyond ASan/UBSan: an error code is one the contract names; the
 * stats stay within the limits; nothing beside "d" changed; on the host
 * every inode under "d" is a folder (0755), a regular file (0644 or 0755)
 * or a symlink, owned by us (no setuid bit, no device node ever lands;
 * after a failure, a file may be left 0600);
 * no descriptor on the tree is left open; and oci_rm_tree removes it all.
 */
#define _GNU_SOURCE
#include "../unit/rig.h"
#include "oci/layer_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BYTES   (1u << 20)
#define MAX_ENTRIES 1000u

static char top[64];
static int topfd = -1, memfd = -1;
static uid_t me;
static struct timespec canary_ctime, outside_ctime;
static bool failed; /* the last apply failed: a file may be left at 0600 */
static uint8_t *buf;
static size_t buf_cap;

/* cleanup: the temporary folder, when libFuzzer exits normally. */
static void cleanup(void)
{
	int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (tmp >= 0)
		(void)oci_rm_tree(tmp, top + strlen("/tmp/"));
}

static void setup(void)
{
	struct stat sb;
	int out, fd;

	snprintf(top, sizeof(top), "/tmp/fuzz-oci-layer-XXXXXX");
	if (!mkdtemp(top))
		abort();
	topfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memfd = memfd_create("layer", MFD_CLOEXEC);
	if (topfd < 0 || memfd < 0 || mkdirat(topfd, "outside", 0755) < 0)
		abort();
	fd = openat(topfd, "canary", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	out = openat(topfd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || out < 0 || write(fd, "tweet", 5) != 5)
		abort();
	close(fd);
	close(out);
	me = geteuid();
	if (fstatat(topfd, "canary", &sb, 0) < 0)
		abort();
	canary_ctime = sb.st_ctim;
	if (fstatat(topfd, "outside", &sb, 0) < 0)
		abort();
	outside_ctime = sb.st_ctim;
	atexit(cleanup);
}

/* fix_checksums: every ustar-looking header block's checksum (POSIX tar,
 * "chksum": the sum of the header's bytes with the field as spaces). */
static void fix_checksums(uint8_t *p, size_t n)
{
	for (size_t off = 0; off + 512 <= n; off += 512) {
		uint8_t *h = p + off;
		unsigned int sum = 0;

		if (memcmp(h + 257, "ustar", 5) != 0)
			continue;
		memset(h + 148, ' ', 8);
		for (int i = 0; i < 512; i++)
			sum += h[i];
		snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
		h[155] = ' ';
	}
}

/* outside_same: top holds "d", "canary" and "outside", the last two as
 * setup left them (a chmod, an xattr, a new name there changes a ctime). */
static bool outside_same(void)
{
	struct dirent **v;
	struct stat sb;
	int n = scandirat(topfd, ".", &v, NULL, NULL);

	if (n < 0)
		abort();
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (n != 5) /* ".", "..", "d", "canary", "outside" */
		return false;
	if (fstatat(topfd, "canary", &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size != 5 || memcmp(&sb.st_ctim, &canary_ctime, sizeof(sb.st_ctim)))
		return false;
	return fstatat(topfd, "outside", &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode) &&
	       !memcmp(&sb.st_ctim, &outside_ctime, sizeof(sb.st_ctim));
}

/* host_ok: one inode under "d" as the host representation allows. */
static int host_ok(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	mode_t m = sb->st_mode;

	(void)path;
	(void)ftw;
	if (flag == FTW_NS || sb->st_uid != me)
		abort();
	if (S_ISLNK(m))
		return 0;
	if (S_ISDIR(m) && (m & 07777) == 0755)
		return 0;
	if (S_ISREG(m) && ((m & 07777) == 0644 || (m & 07777) == 0755))
		return 0;
	/* A file is made 0600 and given its mode once whole; an apply that
	 * failed in between leaves it so (the caller removes the folder). */
	if (S_ISREG(m) && (m & 07777) == 0600 && failed)
		return 0;
	fprintf(stderr, "%s: mode %o on the host\n", path, m);
	abort();
}

static bool rc_ok(int r)
{
	return r == 0 || r == -EINVAL || r == -EPERM || r == -EFBIG || r == -ENAMETOOLONG ||
	       r == -ENOTDIR;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_layer_limits lim = { .max_bytes = MAX_BYTES, .max_entries = MAX_ENTRIES };
	struct oci_layer_stats st;
	char err[OCI_ERR_MAX], path[128];
	int dest, r;

	if (topfd < 0)
		setup();
	if (size > buf_cap) {
		free(buf);
		buf = malloc(size);
		buf_cap = size;
		if (!buf)
			abort();
	}
	if (size)
		memcpy(buf, data, size);
	fix_checksums(buf, size);
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, buf, size, 0) != (ssize_t)size ||
	    lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	if (mkdirat(topfd, "d", 0755) < 0)
		abort();
	dest = openat(topfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dest < 0)
		abort();
	r = oci_layer_apply(memfd, OCI_MEDIA_UNKNOWN, dest, &lim, &st, err, sizeof(err));
	close(dest);
	if (!rc_ok(r)) {
		fprintf(stderr, "unexpected %d: %s\n", r, err);
		abort();
	}
	if (r && !err[0])
		abort();
	if (st.bytes > MAX_BYTES || st.entries > MAX_ENTRIES)
		abort();
	if (!outside_same())
		abort();
	snprintf(path, sizeof(path), "%s/d", top);
	if (test_fds_under(path) != 0)
		abort();
	failed = r != 0;
	(void)nftw(path, host_ok, 16, FTW_PHYS);
	r = oci_rm_tree(topfd, "d");
	if (r) {
		fprintf(stderr, "oci_rm_tree: %d\n", r);
		abort();
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * layer_rig.h: the rig of oci/layer's unit tests (test_oci_layer.c,
 * test_oci_layer_hostile.c): tar streams built with libarchive's pax
 * writer into a memfd (plain, gzip or zstd), and a temporary folder holding the
 * destination "dest" beside what must never change: a canary file and a
 * folder "outside" with a file "secret". snapshot() describes everything
 * but dest, so a test can say that an apply touched nothing else.
 * Static inline: each test program uses part of it.
 */
#ifndef KVMBOX_TESTS_LAYER_RIG_H
#define KVMBOX_TESTS_LAYER_RIG_H

#define _GNU_SOURCE
#include "check.h"
#include "oci/layer_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* One entry to write: type 0 is a regular file. */
struct ent {
	const char *name;
	mode_t type;
	mode_t mode; /* permission bits; 0: 0644 (0755 for folders) */
	int64_t uid, gid;
	time_t mtime;
	long mtime_ns;
	const char *data; /* a file's contents */
	size_t len;       /* of data; with data NULL, that many zero bytes */
	const char *link; /* a symlink's target */
	const char *hard; /* a hard link's target */
	unsigned int maj, min;
	const char *xname, *xval; /* one xattr */
	const char *xname2, *xval2;
};

#define FILE_(n, d)                                                                                \
	{                                                                                          \
		.name = (n), .data = (d), .len = sizeof(d) - 1                                     \
	}
#define DIR_(n)                                                                                    \
	{                                                                                          \
		.name = (n), .type = AE_IFDIR                                                      \
	}
#define SYMLINK(n, t)                                                                              \
	{                                                                                          \
		.name = (n), .type = AE_IFLNK, .link = (t)                                         \
	}
#define HARD(n, t)                                                                                 \
	{                                                                                          \
		.name = (n), .hard = (t)                                                           \
	}

/* tar_open: a writer into a new memfd; filter ARCHIVE_FILTER_NONE, _GZIP, _ZSTD. */
static inline struct archive *tar_open(int filter, int *fd)
{
	struct archive *a = archive_write_new();

	*fd = memfd_create("layer", MFD_CLOEXEC);
	if (!a || *fd < 0 || archive_write_set_format_pax(a) != ARCHIVE_OK)
		abort();
	if (filter == ARCHIVE_FILTER_GZIP && archive_write_add_filter_gzip(a) != ARCHIVE_OK)
		abort();
	if (filter == ARCHIVE_FILTER_ZSTD && archive_write_add_filter_zstd(a) != ARCHIVE_OK)
		abort();
	if (archive_write_open_fd(a, *fd) != ARCHIVE_OK)
		abort();
	return a;
}

static inline void tar_add(struct archive *a, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	mode_t type = x->hard ? AE_IFREG : x->type ? x->type : AE_IFREG;
	size_t len = x->hard || type != AE_IFREG ? 0 : x->len;
	static const char zeros[65536];

	archive_entry_set_pathname(e, x->name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, x->mode ? x->mode : type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_uid(e, x->uid);
	archive_entry_set_gid(e, x->gid);
	archive_entry_set_mtime(e, x->mtime, x->mtime_ns);
	archive_entry_set_size(e, (la_int64_t)len);
	if (x->link)
		archive_entry_set_symlink(e, x->link);
	if (x->hard)
		archive_entry_set_hardlink(e, x->hard);
	if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, x->maj);
		archive_entry_set_rdevminor(e, x->min);
	}
	if (x->xname)
		archive_entry_xattr_add_entry(e, x->xname, x->xval, strlen(x->xval));
	if (x->xname2)
		archive_entry_xattr_add_entry(e, x->xname2, x->xval2, strlen(x->xval2));
	if (archive_write_header(a, e) != ARCHIVE_OK)
		abort();
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(zeros) ? len - done : sizeof(zeros);
		const void *p = x->data ? x->data + done : zeros;

		if (archive_write_data(a, p, n) != (la_ssize_t)n)
			abort();
		done += n;
	}
	archive_entry_free(e);
}

/* tar_close: the stream finished; fd rewound, ready to apply. */
static inline int tar_close(struct archive *a, int fd)
{
	if (archive_write_close(a) != ARCHIVE_OK)
		abort();
	archive_write_free(a);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* tar_of: a stream of n entries. */
static inline int tar_of(int filter, const struct ent *v, size_t n)
{
	int fd;
	struct archive *a = tar_open(filter, &fd);

	for (size_t i = 0; i < n; i++)
		tar_add(a, &v[i]);
	return tar_close(a, fd);
}

#define TAR(filter, ...)                                                                           \
	tar_of((filter), (const struct ent[]){ __VA_ARGS__ },                                      \
	       sizeof((const struct ent[]){ __VA_ARGS__ }) / sizeof(struct ent))

/* bytes_fd: a memfd holding len bytes of p. */
static inline int bytes_fd(const void *p, size_t len)
{
	int fd = memfd_create("bytes", MFD_CLOEXEC);

	if (fd < 0 || (len && write(fd, p, len) != (ssize_t)len) || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

struct tree {
	char top[64];
	char outside[96]; /* absolute: a symlink's target */
	int topfd, dest;  /* the temporary folder; dest inside it */
	char before[8192];
	char err[OCI_ERR_MAX];
	struct oci_layer_stats st;
};

static inline void put_file(int dirfd, const char *name, const char *data)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

/* snapshot_dir: every name under fd (but top's dest) with its type, size,
 * link count and the override xattr if any, in readdir order sorted by
 * the caller's comparison (the same folder gives the same order). */
static inline void snapshot_dir(int fd, const char *prefix, char *out, size_t cap, int depth)
{
	struct dirent **v;
	int n = scandirat(fd, ".", &v, NULL, alphasort);

	if (n < 0)
		abort();
	for (int i = 0; i < n; i++) {
		const char *name = v[i]->d_name;
		char path[512], x[96] = "";
		struct stat sb;
		int sub;

		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    (!depth && !strcmp(name, "dest"))) {
			free(v[i]);
			continue;
		}
		if (fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		snprintf(path, sizeof(path), "%s/%s", prefix, name);
		if (!S_ISLNK(sb.st_mode)) {
			int xfd = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			ssize_t xn = xfd < 0 ? -1 : fgetxattr(xfd, OCI_OVERRIDE_XATTR, x, 95);

			x[xn > 0 ? xn : 0] = '\0';
			if (xfd >= 0 && fgetxattr(xfd, OCI_OPAQUE_XATTR, NULL, 0) >= 0)
				strcat(x, "+opaque");
			if (xfd >= 0)
				close(xfd);
		}
		snprintf(out + strlen(out), cap - strlen(out), "%s %o %lld %lu %lld [%s]\n", path,
		         sb.st_mode, (long long)sb.st_size, (unsigned long)sb.st_nlink,
		         (long long)sb.st_mtime, x);
		if (S_ISDIR(sb.st_mode)) {
			sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				abort();
			snapshot_dir(sub, path, out, cap, depth + 1);
			close(sub);
		}
		free(v[i]);
	}
	free(v);
}

static inline void snapshot(struct tree *t, char *out, size_t cap)
{
	out[0] = '\0';
	snapshot_dir(t->topfd, "", out, cap, 0);
}

/* tree_init: top/{dest/, canary, outside/secret}, and its snapshot. */
static inline void tree_init(struct tree *t)
{
	int out;

	memset(t, 0, sizeof(*t));
	snprintf(t->top, sizeof(t->top), "/tmp/oci-layer-XXXXXX");
	if (!mkdtemp(t->top))
		abort();
	t->topfd = open(t->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->topfd < 0 || mkdirat(t->topfd, "dest", 0755) < 0 ||
	    mkdirat(t->topfd, "outside", 0755) < 0)
		abort();
	put_file(t->topfd, "canary", "tweet");
	out = openat(t->topfd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out < 0)
		abort();
	put_file(out, "secret", "hunter2");
	close(out);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->top);
	t->dest = openat(t->topfd, "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dest < 0)
		abort();
	snapshot(t, t->before, sizeof(t->before));
}

/* tree_reset: dest emptied (oci_rm_tree) and made again. */
static inline void tree_reset(struct tree *t)
{
	close(t->dest);
	if (oci_rm_tree(t->topfd, "dest") != 0 || mkdirat(t->topfd, "dest", 0755) < 0)
		abort();
	t->dest = openat(t->topfd, "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dest < 0)
		abort();
}

static inline void tree_fini(struct tree *t)
{
	int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	close(t->dest);
	close(t->topfd);
	if (tmp < 0 || oci_rm_tree(tmp, t->top + strlen("/tmp/")) != 0)
		abort();
	close(tmp);
}

/* tree_outside_same: whether everything beside dest is as it was. */
static inline int tree_outside_same(struct tree *t)
{
	static char now[8192];

	snapshot(t, now, sizeof(now));
	if (strcmp(now, t->before) != 0) {
		fprintf(stderr, "outside changed:\n%s---- was:\n%s", now, t->before);
		return 0;
	}
	return 1;
}

/* apply: fd (closed here) into dest with limits (0: defaults). */
static inline int apply(struct tree *t, int fd, enum oci_media media, uint64_t max_bytes,
                        uint64_t max_entries)
{
	struct oci_layer_limits lim = { .max_bytes = max_bytes, .max_entries = max_entries };
	int r;

	t->err[0] = '\0';
	r = oci_layer_apply(fd, media, t->dest, &lim, &t->st, t->err, sizeof(t->err));
	close(fd);
	return r;
}

/* xattr_of: name's xattr x (no symlink followed) into buf; "" when none. */
static inline const char *xattr_of(int dirfd, const char *name, const char *x, char *buf,
                                   size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : fgetxattr(fd, x, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

/* mode_of, stat_of, contents: name in dirfd, no symlink followed; 0,
 * zeros, "" when missing. */
static inline mode_t mode_of(int dirfd, const char *name)
{
	struct stat sb;

	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? 0 : sb.st_mode;
}

static inline struct stat stat_of(int dirfd, const char *name)
{
	struct stat sb = { 0 };

	(void)fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW);
	return sb;
}

static inline const char *contents(int dirfd, const char *name, char *buf, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

#endif

// SPDX-License-Identifier: MIT
/*
 * layer_fs: the host side of applying a layer (layer_int.h), confined
 * beneath the layer's folder: every multi-component name is resolved with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS),
 * and every change is an *at call on one component of a folder reached that
 * way, so no symlink an earlier entry made (or anyone made) is followed.
 * Also oci_rm_tree (oci_int.h), which removes what a failed apply left.
 */
#define _GNU_SOURCE
#include "oci/layer_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

int layer_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int layer_override(int fd, uint32_t uid, uint32_t gid, uint32_t mode, const char *type)
{
	char buf[96];
	int n;

	/* The same "%u:%u:0%o:%s" as fuse_owner_write, so that the FUSE server
	 * reads back exactly what it would have written itself. */
	n = snprintf(buf, sizeof(buf), "%" PRIu32 ":%" PRIu32 ":0%" PRIo32 ":%s", uid, gid,
	             mode & 07777, type);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	return fsetxattr(fd, OCI_OVERRIDE_XATTR, buf, (size_t)n, 0) < 0 ? -errno : 0;
}

/* ---- folders ------------------------------------------------------------ */

/* layer_mkdir_one: folder name in dir, made (counted in *made), opened. */
static int layer_mkdir_one(int dir, const char *name, uint64_t *made, uint64_t max)
{
	int fd, r;

	if (*made >= max)
		return -EFBIG;
	if (mkdirat(dir, name, 0755) < 0)
		return -errno;
	(*made)++;
	fd = layer_beneath(dir, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	/* 0755 whatever the umask: the store's owner must be able to add to
	 * it; the guest sees root:root 0755, what such a folder usually is. */
	r = fchmod(fd, 0755) < 0 ? -errno : layer_override(fd, 0, 0, 0755, "dir");
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

int layer_mkdirs(int root, const char *path, uint64_t *made, uint64_t max)
{
	char comp[NAME_MAX + 1];
	const char *p = path;
	int cur, fd;

	/* Most entries' folders exist already: one openat2 finds them. */
	fd = layer_beneath(root, path, O_RDONLY | O_DIRECTORY);
	if (fd != -ENOENT)
		return fd;
	cur = layer_beneath(root, "", O_RDONLY | O_DIRECTORY);
	while (cur >= 0 && *p) {
		size_t len = strcspn(p, "/");

		if (len > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		p += *p == '/';
		fd = layer_beneath(cur, comp, O_RDONLY | O_DIRECTORY);
		if (fd == -ENOENT)
			fd = layer_mkdir_one(cur, comp, made, max);
		close(cur);
		cur = fd;
	}
	return cur;
}

int layer_dirs_add(struct layer_dirs *d, const char *path, ino_t ino, struct timespec mtime)
{
	size_t len = strlen(path) + 1;

	if (len > LAYER_DIR_TIMES_MAX || d->bytes + len + sizeof(*d->v) > LAYER_DIR_TIMES_MAX)
		return -EFBIG;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *v = reallocarray(d->v, cap, sizeof(*d->v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	if (d->names_cap - d->names_len < len) {
		size_t cap = d->names_cap ? d->names_cap * 2 : 4096;
		char *names;

		while (cap - d->names_len < len)
			cap *= 2;
		names = realloc(d->names, cap);
		if (!names)
			return -ENOMEM;
		d->names = names;
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, path, len);
	d->v[d->n++] = (struct layer_dir_time){ .name = d->names_len, .ino = ino, .mtime = mtime };
	d->names_len += len;
	d->bytes += len + sizeof(*d->v);
	return 0;
}

int layer_dirs_apply(struct layer_dirs *d, int root)
{
	for (size_t i = 0; i < d->n; i++) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, d->v[i].mtime };
		struct stat sb;
		int fd, r = 0;

		fd = layer_beneath(root, d->names + d->v[i].name, O_RDONLY | O_DIRECTORY);
		/* A later entry removed it, or put a non-folder or a symlink
		 * in its place (or on its way): not the folder timed. */
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue;
		if (fd < 0)
			return fd;
		if (fstat(fd, &sb) < 0)
			r = -errno;
		else if (sb.st_ino == d->v[i].ino && futimens(fd, ts) < 0)
			r = -errno;
		close(fd);
		if (r)
			return r;
	}
	return 0;
}

void layer_dirs_free(struct layer_dirs *d)
{
	free(d->v);
	free(d->names);
	*d = (struct layer_dirs){ 0 };
}

/* ---- oci_rm_tree --------------------------------------------------------- */

/* rm_name_ok: a relative name with no empty, "." or ".." component. */
static bool rm_name_ok(const char *name)
{
	const char *p = name;

	if (*p == '\0' || *p == '/')
		return false;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
		if (*p == '/' && *++p == '\0')
			return false;
	}
	return true;
}

/* rm_at: unlinkat of path's last component in its folder, reached beneath dirfd. */
static int rm_at(int dirfd, char *path, int flags)
{
	char *slash = strrchr(path, '/');
	int pfd, r;

	if (!slash)
		return unlinkat(dirfd, path, flags) < 0 ? -errno : 0;
	*slash = '\0';
	pfd = layer_beneath(dirfd, path, O_PATH | O_DIRECTORY);
	*slash = '/';
	if (pfd < 0)
		return pfd;
	r = unlinkat(pfd, slash + 1, flags) < 0 ? -errno : 0;
	close(pfd);
	return r;
}

/*
 * rm_scan: unlink the non-folders of the folder fd (which this call closes)
 * until the first subfolder, whose name goes to sub. Returns 1 with a
 * subfolder, 0 when none is left, or -errno; *removed counts the unlinks.
 */
static int rm_scan(int fd, char sub[NAME_MAX + 1], unsigned long *removed)
{
	struct dirent *de;
	struct stat sb;
	DIR *d = fdopendir(fd);
	int r = 0;

	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		bool isdir;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
				r = -errno;
				break;
			}
			isdir = S_ISDIR(sb.st_mode);
		}
		if (isdir) {
			snprintf(sub, NAME_MAX + 1, "%s", de->d_name);
			r = 1;
			break;
		}
		if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			break;
		}
		(*removed)++;
	}
	closedir(d);
	return r;
}

/*
 * oci_rm_tree: depth first without recursion and with one descriptor at a
 * time, so that neither a deep tree (a layer can nest PATH_MAX / 2 folders)
 * nor RLIMIT_NOFILE stops it: go down to a folder with no subfolder,
 * emptying folders on the way, remove it, go back up by name and look
 * again. Every step resolves its path beneath dirfd with no symlink.
 */
int oci_rm_tree(int dirfd, const char *name)
{
	char path[PATH_MAX], sub[NAME_MAX + 1];
	size_t top = strnlen(name, PATH_MAX), len;
	unsigned long removed = 0, tries = 0;
	int fd, r;

	if (!rm_name_ok(name))
		return -EINVAL;
	if (top >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(path, name, top + 1);
	r = rm_at(dirfd, path, 0);
	if (r != -EISDIR)
		return r;
	for (;;) {
		fd = layer_beneath(dirfd, path, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return fd;
		r = rm_scan(fd, sub, &removed);
		if (r < 0)
			return r;
		len = strlen(path);
		if (r == 1) {
			if (len + 1 + strlen(sub) >= PATH_MAX)
				return -ENAMETOOLONG;
			path[len] = '/';
			memcpy(path + len + 1, sub, strlen(sub) + 1);
			continue;
		}
		r = rm_at(dirfd, path, AT_REMOVEDIR);
		/* readdir may miss an entry when others go meanwhile: look
		 * again, as long as the last look removed something. */
		if (r == -ENOTEMPTY && removed != tries) {
			tries = removed;
			continue;
		}
		if (r)
			return r;
		if (len == top)
			return 0;
		*strrchr(path, '/') = '\0';
	}
}

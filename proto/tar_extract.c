// SPDX-License-Identifier: MIT
/*
 * proto/tar_extract: a tar stream extracted beneath one folder (tar.h,
 * proto_untar), for fs.tar_in in the guest and for the client's copy of a
 * guest folder to the host, where the stream comes from a guest that is
 * not trusted.
 *
 * Confinement does not rely on names alone: an entry's name is split into
 * components (absolute names and ".." refused outright), and every
 * component but the last is opened beneath the one before with O_PATH |
 * O_DIRECTORY | O_NOFOLLOW, so a symlink or a non-folder on the way
 * (one an earlier entry of the same stream made included) is refused
 * rather than followed. The last component is created with *at() calls
 * relative to that fd and never followed: whatever is there (a symlink
 * above all) is removed first, except a folder for a folder entry. A hard
 * link's target is resolved by the same rules. The error for an entry
 * that would leave the folder is -EXDEV, as openat2's RESOLVE_BENEATH
 * reports an escape.
 */
#define _GNU_SOURCE
#include "proto/bytes.h"
#include "proto/tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct proto_untar {
	int root_fd; /* the caller's */
	bool owner;
	struct proto_tar_reader rd;
	int fd;                     /* the regular file being written; -1 none */
	uint64_t left;              /* its data still to come */
	struct proto_tar_entry cur; /* its numbers */
	uint64_t entries, skipped;
	bool ended, failed;
	char *cache_path; /* the last parent folder, relative, and its O_PATH fd */
	int cache_fd;
	char *bad; /* the entry an error concerns */
};

int proto_untar_new(struct proto_untar **out, int dir_fd, bool owner)
{
	struct proto_untar *u = calloc(1, sizeof(*u));

	*out = u;
	if (!u)
		return -ENOMEM;
	u->root_fd = dir_fd;
	u->owner = owner;
	u->fd = u->cache_fd = -1;
	return 0;
}

static void cache_drop(struct proto_untar *u)
{
	if (u->cache_fd >= 0)
		close(u->cache_fd);
	u->cache_fd = -1;
	free(u->cache_path);
	u->cache_path = NULL;
}

/*
 * normalise: name's components, '.' and empty ones dropped, into out
 * (joined by '/'); -EXDEV for an absolute name or a ".." component.
 */
static int normalise(const char *name, char *out, size_t *len)
{
	size_t n = 0;

	if (name[0] == '/')
		return -EXDEV;
	while (*name) {
		const char *end = strchrnul(name, '/');
		size_t c = (size_t)(end - name);

		if (c == 2 && name[0] == '.' && name[1] == '.')
			return -EXDEV;
		if (c && !(c == 1 && name[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, name, c);
			n += c;
		}
		name = *end ? end + 1 : end;
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

/*
 * walk_parent: an O_PATH fd of the folder that holds the last component
 * of path (normalised, not empty), opened component by component beneath
 * root without following anything; missing folders are made (0755) when
 * make is set. *last points at the last component. Returns the fd (the
 * caller closes it) or -errno (-EXDEV: a symlink or non-folder on the way).
 */
static int walk_parent(int root, char *path, bool make, const char **last)
{
	char *p = path, *slash;
	int fd = fcntl(root, F_DUPFD_CLOEXEC, 3);

	while (fd >= 0 && (slash = strchr(p, '/'))) {
		int next;

		*slash = '\0';
		next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && make &&
		    (mkdirat(fd, p, 0755) == 0 || errno == EEXIST))
			next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		*slash = '/';
		if (next < 0) {
			int err = errno == ELOOP || errno == ENOTDIR ? -EXDEV : -errno;

			close(fd);
			return err;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*last = p;
	return fd < 0 ? -errno : fd;
}

/* parent: walk_parent through the one-folder cache (entries come grouped by folder). */
static int parent(struct proto_untar *u, char *path, const char **last)
{
	char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;
	int fd;

	if (u->cache_path && strlen(u->cache_path) == plen &&
	    memcmp(u->cache_path, path, plen) == 0) {
		*last = slash ? slash + 1 : path;
		return u->cache_fd;
	}
	cache_drop(u);
	fd = walk_parent(u->root_fd, path, true, last);
	if (fd < 0)
		return fd;
	u->cache_path = strndup(path, plen);
	if (!u->cache_path) {
		close(fd);
		return -ENOMEM;
	}
	u->cache_fd = fd;
	return fd;
}

/*
 * clear: make room for an entry at dir/last: 1 when a folder is there and
 * keep_dir is set, 0 when the name is free, or -errno (a folder that is not
 * empty where a non-folder goes: -EISDIR... as rmdir says, ENOTEMPTY).
 */
static int clear(struct proto_untar *u, int dir, const char *last, bool keep_dir)
{
	struct stat st;

	if (fstatat(dir, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		cache_drop(u); /* the removed folder may be the cached one's ancestor */
		return unlinkat(dir, last, AT_REMOVEDIR) < 0 ? -errno : 0;
	}
	return unlinkat(dir, last, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* meta: owner, mode and mtime of the entry on fd (a file or folder). */
static int meta_fd(struct proto_untar *u, int fd, const struct proto_tar_entry *e)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW },
		                  { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec } };

	/* chown before chmod: chown clears setuid and setgid. */
	if (u->owner && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0)
		return -errno;
	if (fchmod(fd, e->mode & 07777) < 0 || futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

/* meta_at: the same for a symlink or fifo at dir/last, never followed. */
static int meta_at(struct proto_untar *u, int dir, const char *last,
                   const struct proto_tar_entry *e)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW },
		                  { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec } };

	if (u->owner && fchownat(dir, last, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (e->type == PROTO_TAR_FIFO && fchmodat(dir, last, e->mode & 07777, 0) < 0)
		return -errno;
	return utimensat(dir, last, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* hardlink: dir/last as a hard link to the entry's target, resolved by the same rules. */
static int hardlink(struct proto_untar *u, int dir, const char *last, const char *target)
{
	char norm[PROTO_PATH_MAX + 1];
	const char *tlast;
	size_t n;
	int tdir, err = normalise(target, norm, &n);

	if (err || !n)
		return err ? err : -EXDEV;
	tdir = walk_parent(u->root_fd, norm, false, &tlast);
	if (tdir < 0)
		return tdir;
	err = clear(u, dir, last, false);
	if (!err && linkat(tdir, tlast, dir, last, 0) < 0)
		err = -errno;
	close(tdir);
	return err;
}

/* folder: a folder entry (kept if there, its mode set either way). */
static int folder(struct proto_untar *u, int dir, const char *last, const struct proto_tar_entry *e)
{
	int err = clear(u, dir, last, true), fd;

	if (err == 0 && mkdirat(dir, last, 0700) < 0)
		return -errno;
	if (err < 0)
		return err;
	fd = openat(dir, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ? -EXDEV : -errno;
	err = meta_fd(u, fd, e);
	close(fd);
	return err;
}

/* entry: create what the header e names (untrusted). */
static int entry(struct proto_untar *u, const struct proto_tar_entry *e)
{
	char norm[PROTO_PATH_MAX + 1];
	const char *last;
	size_t n;
	int dir, err = normalise(e->path, norm, &n);

	if (err)
		return err;
	if (e->type != PROTO_TAR_FILE && e->type != PROTO_TAR_DIR && e->type != PROTO_TAR_SYMLINK &&
	    e->type != PROTO_TAR_HARDLINK && e->type != PROTO_TAR_FIFO) {
		u->skipped++;
		return 0;
	}
	if (!n) /* "./": the folder itself, which exists */
		return e->type == PROTO_TAR_DIR ? 0 : -EINVAL;
	dir = parent(u, norm, &last);
	if (dir < 0)
		return dir;
	switch (e->type) {
	case PROTO_TAR_DIR:
		err = folder(u, dir, last, e);
		break;
	case PROTO_TAR_SYMLINK:
		err = clear(u, dir, last, false);
		if (!err && symlinkat(e->linkpath, dir, last) < 0)
			err = -errno;
		if (!err)
			err = meta_at(u, dir, last, e);
		break;
	case PROTO_TAR_HARDLINK:
		err = hardlink(u, dir, last, e->linkpath);
		break;
	case PROTO_TAR_FIFO:
		err = clear(u, dir, last, false);
		if (!err && mknodat(dir, last, S_IFIFO | 0600, 0) < 0)
			err = -errno;
		if (!err)
			err = meta_at(u, dir, last, e);
		break;
	default:
		err = clear(u, dir, last, false);
		if (err)
			break;
		u->fd =
		    openat(dir, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (u->fd < 0)
			return -errno;
		u->cur = *e;
		u->left = e->size;
	}
	if (!err)
		u->entries++;
	return err;
}

/* file_done: the regular file's data is all written: its metadata, then close. */
static int file_done(struct proto_untar *u)
{
	int err = meta_fd(u, u->fd, &u->cur);

	close(u->fd);
	u->fd = -1;
	return err;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* event: one reader event; 0 or -errno. */
static int event(struct proto_untar *u, const struct proto_tar_ev *ev)
{
	int err = 0;

	switch (ev->kind) {
	case PROTO_TAR_EV_ENTRY:
		err = entry(u, &u->rd.entry);
		if (!err && u->fd >= 0 && !u->left)
			err = file_done(u);
		break;
	case PROTO_TAR_EV_DATA:
		if (u->fd < 0)
			break; /* a file it did not create (cannot happen: defensive) */
		err = write_all(u->fd, ev->data, ev->len);
		u->left -= ev->len;
		if (!err && !u->left)
			err = file_done(u);
		break;
	case PROTO_TAR_EV_END:
		u->ended = true;
		break;
	}
	return err;
}

int proto_untar_feed(struct proto_untar *u, const void *p, size_t n, const char **path,
                     struct proto_why *why)
{
	const uint8_t *b = p;
	int err = 0;

	*path = NULL;
	if (u->failed) {
		proto_why_set(why, "the extraction failed before");
		return -EINVAL;
	}
	while (n && !err && !u->ended) {
		struct proto_tar_ev ev;
		size_t used = 0;

		err = proto_tar_feed(&u->rd, b, n, &used, &ev, why);
		b += used;
		n -= used;
		if (err == 1)
			err = event(u, &ev);
		else if (err < 0)
			return u->failed = true, err;
	}
	if (err) {
		u->failed = true;
		free(u->bad);
		u->bad = strdup(u->rd.path ? u->rd.path : "");
		*path = u->bad;
		if (err == -EXDEV)
			proto_why_set(why,
			              "%s leaves the destination (absolute, \"..\", or through "
			              "a symlink or non-folder)",
			              u->bad);
		else
			proto_why_set(why, "%s: %s", u->bad, strerror(-err));
	}
	return err;
}

int proto_untar_finish(struct proto_untar *u, struct proto_why *why)
{
	if (u->failed || !proto_tar_at_end(&u->rd) || u->fd >= 0) {
		proto_why_set(why, "the tar stream ended in the middle of an entry");
		return -EINVAL;
	}
	return 0;
}

void proto_untar_counts(const struct proto_untar *u, uint64_t *entries, uint64_t *skipped)
{
	*entries = u->entries;
	*skipped = u->skipped;
}

void proto_untar_free(struct proto_untar *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	cache_drop(u);
	proto_tar_reader_destroy(&u->rd);
	free(u->bad);
	free(u);
}

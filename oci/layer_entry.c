// SPDX-License-Identifier: MIT
/*
 * layer_entry: one tar entry of a layer applied beneath the layer's folder
 * (layer_int.h), as image-spec layer.md "Applying Changesets" says, in the
 * host representation oci_int.h describes.
 *
 * Every name comes from the image, hostile until checked: it is made
 * relative (layer_norm reads "/x" as "x" and refuses ".."), its folder is
 * reached beneath the root without following any symlink (layer_fs.c),
 * and the last component is made with an *at call that does not follow
 * one either (O_CREAT | O_EXCL | O_NOFOLLOW, mkdirat, symlinkat, linkat
 * without AT_SYMLINK_FOLLOW).
 */
#define _GNU_SOURCE
#include "oci/layer_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* layer_fail: "layer entry NAME: WHY" into the caller's err; returns rc. */
__attribute__((format(printf, 4, 5))) static int
layer_fail(struct layer_ctx *c, struct archive_entry *e, int rc, const char *fmt, ...)
{
	char why[256], shown[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	layer_show(archive_entry_pathname(e), shown, sizeof(shown));
	return oci_err(c->err, c->errcap, rc, "layer entry \"%s\": %s", shown, why);
}

/* layer_fail_path: an error of reaching the entry's folder, in its words. */
static int layer_fail_path(struct layer_ctx *c, struct archive_entry *e, int rc)
{
	if (rc == -ELOOP || rc == -EXDEV)
		return layer_fail(c, e, -EPERM, "its folder is reached through a symlink");
	if (rc == -EFBIG)
		return layer_fail(c, e, rc, "more than %llu entries and folders",
		                  (unsigned long long)c->max_entries);
	if (rc == -ENOSYS)
		return layer_fail(c, e, rc, "openat2 is needed (Linux 5.6)");
	return layer_fail(c, e, rc, "%s", strerror(-rc));
}

static struct timespec layer_mtime(struct archive_entry *e)
{
	struct timespec ts = { .tv_nsec = UTIME_OMIT };
	long ns;

	if (archive_entry_mtime_is_set(e)) {
		ts.tv_sec = archive_entry_mtime(e);
		ns = archive_entry_mtime_nsec(e);
		ts.tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
	}
	return ts;
}

/* layer_xattr_kept: the entry's xattrs the host keeps: user.* only (others
 * would need privilege or mean something to the host: security.capability,
 * trusted.*), and not the names this representation gives a meaning. */
static bool layer_xattr_kept(const char *name)
{
	return !strncmp(name, "user.", 5) && strcmp(name, OCI_OVERRIDE_XATTR) != 0 &&
	       strncmp(name, "user.overlay.", 13) != 0;
}

/* layer_xattrs: the entry's kept xattrs on fd (-1: none can be: counted). */
static int layer_xattrs(struct layer_ctx *c, struct archive_entry *e, int fd)
{
	const char *name, *prev = NULL;
	const void *val;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		/* libarchive's pax writer records each xattr twice (as
		 * LIBARCHIVE.xattr and SCHILY.xattr), one after the other, and
		 * its reader keeps both: count one. */
		if (name && prev && !strcmp(name, prev))
			continue;
		prev = name;
		if (fd < 0 || !name || !layer_xattr_kept(name)) {
			c->st->skipped_xattrs++;
			continue;
		}
		if (fsetxattr(fd, name, val, size, 0) == 0)
			continue;
		/* One the host file system cannot hold (too long a name or
		 * value, no room left in the inode) is skipped like the rest. */
		if (errno != E2BIG && errno != ERANGE && errno != ENOSPC && errno != EINVAL &&
		    errno != EOPNOTSUPP)
			return layer_fail(c, e, -errno, "xattr: %s", strerror(errno));
		c->st->skipped_xattrs++;
	}
	return 0;
}

/*
 * layer_meta: what every inode of the entry's own gets: the host mode
 * (owner's, no setuid, setgid or sticky), the override xattr with the
 * entry's uid, gid, mode and type, and its user.* xattrs.
 */
static int layer_meta(struct layer_ctx *c, struct archive_entry *e, int fd, mode_t host,
                      const char *type)
{
	int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	int r;

	/* (uid_t)-1 means "no change" to the kernel, never an owner. */
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return layer_fail(c, e, -EINVAL, "uid or gid out of range");
	if (fchmod(fd, host) < 0)
		return layer_fail(c, e, -errno, "chmod: %s", strerror(errno));
	r = layer_override(fd, (uint32_t)uid, (uint32_t)gid, archive_entry_perm(e) & 07777, type);
	if (r)
		return layer_fail(c, e, r, "%s: %s", OCI_OVERRIDE_XATTR, strerror(-r));
	return layer_xattrs(c, e, fd);
}

static int layer_times(struct layer_ctx *c, struct archive_entry *e, int fd)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, layer_mtime(e) };

	if (futimens(fd, ts) < 0)
		return layer_fail(c, e, -errno, "mtime: %s", strerror(errno));
	return 0;
}

/*
 * layer_place: the folder the entry goes in (made if missing), with nothing
 * of the entry's name in it, or only a folder when the entry is one (*kept:
 * its attributes are replaced, layer.md "Changeset over existing files").
 * Returns the folder's descriptor or an error already put in words.
 */
static int layer_place(struct layer_ctx *c, struct archive_entry *e, const char *base, bool dir,
                       bool *kept)
{
	struct stat sb;
	int pfd, r;

	pfd = layer_mkdirs(c->root, c->parent, &c->inodes, c->max_entries);
	if (pfd < 0)
		return layer_fail_path(c, e, pfd);
	*kept = false;
	if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return pfd;
		r = -errno;
	} else if (dir && S_ISDIR(sb.st_mode)) {
		*kept = true;
		return pfd;
	} else {
		r = oci_rm_tree(pfd, base);
	}
	if (!r)
		return pfd;
	close(pfd);
	return layer_fail(c, e, r, "%s", strerror(-r));
}

/* layer_create: an empty file base in pfd, 0600 until layer_meta. */
static int layer_create(struct layer_ctx *c, struct archive_entry *e, int pfd, const char *base)
{
	int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return layer_fail(c, e, -errno, "%s", strerror(errno));
	return fd;
}

/*
 * layer_data: the entry's data into fd, block by block (sparse entries
 * leave holes), never past the bytes left of max_bytes: checked on every
 * block, so a compressed bomb stops at the limit.
 */
static int layer_data(struct layer_ctx *c, struct archive_entry *e, int fd, uint64_t start)
{
	uint64_t left = c->max_bytes - start, end = 0;
	int64_t size = archive_entry_size(e);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(c->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return layer_fail(c, e, -EINVAL, "corrupt data: %s",
			                  archive_error_string(c->a));
		if (off < 0 || (uint64_t)off > left || len > left - (uint64_t)off)
			return layer_fail(c, e, -EFBIG, "more than %llu bytes of file data",
			                  (unsigned long long)c->max_bytes);
		for (size_t done = 0; done < len;) {
			ssize_t n =
			    pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return layer_fail(c, e, n < 0 ? -errno : -EIO, "write: %s",
				                  strerror(n < 0 ? errno : EIO));
			done += (size_t)n;
		}
		if ((uint64_t)off + len > end)
			end = (uint64_t)off + len;
	}
	/* A sparse file's hole at the end has no block: its size makes it. */
	if (size > 0 && (uint64_t)size > end && ftruncate(fd, size) < 0)
		return layer_fail(c, e, -errno, "truncate: %s", strerror(errno));
	if (size > 0 && (uint64_t)size > end)
		end = (uint64_t)size;
	if (start + end > c->data)
		c->data = start + end;
	c->st->bytes += end;
	return 0;
}

static int layer_file(struct layer_ctx *c, struct archive_entry *e, const char *base,
                      uint64_t start)
{
	/* No bit of the entry's mode but "executable" reaches the host. */
	mode_t host = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
	bool kept;
	int pfd, fd, r;

	pfd = layer_place(c, e, base, false, &kept);
	if (pfd < 0)
		return pfd;
	fd = layer_create(c, e, pfd, base);
	close(pfd);
	if (fd < 0)
		return fd;
	r = layer_data(c, e, fd, start);
	if (!r)
		r = layer_meta(c, e, fd, host, "file");
	if (!r)
		r = layer_times(c, e, fd);
	close(fd);
	return r;
}

/* layer_dir: a folder; its mtime waits for the end (layer_dirs). */
static int layer_dir(struct layer_ctx *c, struct archive_entry *e, const char *base)
{
	struct stat sb = { 0 };
	bool kept = false;
	int pfd = -1, fd, r;

	if (*base) {
		pfd = layer_place(c, e, base, true, &kept);
		if (pfd < 0)
			return pfd;
		if (!kept && mkdirat(pfd, base, 0755) < 0) {
			close(pfd);
			return layer_fail(c, e, -errno, "mkdir: %s", strerror(errno));
		}
	}
	/* base "" is the root ("./"): its attributes are the layer's root's. */
	fd = layer_beneath(*base ? pfd : c->root, base, O_RDONLY | O_DIRECTORY);
	if (pfd >= 0)
		close(pfd);
	if (fd < 0)
		return layer_fail_path(c, e, fd);
	r = layer_meta(c, e, fd, 0755, "dir");
	if (!r && fstat(fd, &sb) < 0)
		r = layer_fail(c, e, -errno, "stat: %s", strerror(errno));
	close(fd);
	if (r)
		return r;
	r = layer_dirs_add(&c->dirs, c->name, sb.st_ino, layer_mtime(e));
	if (r == -EFBIG)
		return layer_fail(c, e, r, "too many folders to keep their mtimes");
	return r ? layer_fail(c, e, r, "%s", strerror(-r)) : 0;
}

/* layer_symlink: no xattr, not even the override (oci_int.h). */
static int layer_symlink(struct layer_ctx *c, struct archive_entry *e, const char *base)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, layer_mtime(e) };
	const char *target = archive_entry_symlink(e);
	bool kept;
	int pfd, r = 0;

	if (!target || !*target)
		return layer_fail(c, e, -EINVAL, "a symlink with no target");
	pfd = layer_place(c, e, base, false, &kept);
	if (pfd < 0)
		return pfd;
	if (symlinkat(target, pfd, base) < 0)
		r = layer_fail(c, e, -errno, "symlink: %s", strerror(errno));
	else if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		r = layer_fail(c, e, -errno, "mtime: %s", strerror(errno));
	close(pfd);
	return r ? r : layer_xattrs(c, e, -1);
}

/*
 * layer_special: a device node, FIFO or socket as an empty file whose
 * override xattr gives the type; devices only when we are root (oci_int.h).
 */
static int layer_special(struct layer_ctx *c, struct archive_entry *e, const char *base)
{
	mode_t t = archive_entry_filetype(e);
	char type[48];
	bool kept;
	int pfd, fd, r;

	if (t == AE_IFCHR || t == AE_IFBLK) {
		if (!c->devices) {
			c->st->skipped_devices++;
			return 0;
		}
		snprintf(type, sizeof(type), "%s-%u-%u", t == AE_IFCHR ? "char" : "block",
		         (unsigned int)archive_entry_rdevmajor(e),
		         (unsigned int)archive_entry_rdevminor(e));
	} else {
		snprintf(type, sizeof(type), "%s", t == AE_IFIFO ? "pipe" : "socket");
	}
	pfd = layer_place(c, e, base, false, &kept);
	if (pfd < 0)
		return pfd;
	fd = layer_create(c, e, pfd, base);
	close(pfd);
	if (fd < 0)
		return fd;
	r = layer_meta(c, e, fd, 0644, type);
	if (!r)
		r = layer_times(c, e, fd);
	close(fd);
	return r;
}

/* layer_fail_link: a hard link refused, naming its target. */
static int layer_fail_link(struct layer_ctx *c, struct archive_entry *e, int rc, const char *why)
{
	char shown[160];

	layer_show(archive_entry_hardlink(e), shown, sizeof(shown));
	return layer_fail(c, e, rc, "a hard link to \"%s\": %s", shown, why);
}

/*
 * layer_hardlink: a second name for an entry already in this layer (layer.md
 * "Hardlinks"): the target's name is checked as the entry's own, its folder
 * must exist and be reached beneath the root with no symlink, and it must
 * not be a folder. Anything else is an attempt to reach outside: -EPERM.
 */
static int layer_hardlink(struct layer_ctx *c, struct archive_entry *e, const char *base)
{
	char *tbase, *slash;
	struct stat sb;
	bool kept;
	int tpfd, pfd, r;

	r = layer_norm(archive_entry_hardlink(e), c->target, sizeof(c->target));
	if (r == -EPERM || (!r && !*c->target))
		return layer_fail_link(c, e, -EPERM, "outside the layer");
	if (r)
		return layer_fail_link(c, e, r, strerror(-r));
	slash = strrchr(c->target, '/');
	tbase = slash ? slash + 1 : c->target;
	if (slash)
		*slash = '\0';
	tpfd = layer_beneath(c->root, slash ? c->target : "", O_PATH | O_DIRECTORY);
	if (tpfd == -ELOOP || tpfd == -EXDEV)
		return layer_fail_link(c, e, -EPERM, "through a symlink");
	if (tpfd == -ENOENT || tpfd == -ENOTDIR)
		return layer_fail_link(c, e, -EPERM, "not in this layer");
	if (tpfd < 0)
		return layer_fail_link(c, e, tpfd, strerror(-tpfd));
	r = fstatat(tpfd, tbase, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (r || S_ISDIR(sb.st_mode)) {
		close(tpfd);
		return layer_fail_link(c, e, -EPERM, r ? "not in this layer" : "a folder");
	}
	pfd = layer_place(c, e, base, false, &kept);
	if (pfd < 0) {
		close(tpfd);
		return pfd;
	}
	/* Replacing the link's name may have removed the target (a link
	 * named as a folder above its target, or as the target): then there
	 * is nothing to link to. */
	r = linkat(tpfd, tbase, pfd, base, 0) < 0 ? -errno : 0;
	close(pfd);
	close(tpfd);
	if (r == -ENOENT)
		return layer_fail_link(c, e, -EPERM, "not in this layer");
	if (r)
		return layer_fail_link(c, e, r, strerror(-r));
	c->st->hardlinks++;
	return 0;
}

/*
 * layer_whiteout: .wh.NAME and .wh..wh..opq (layer.md "Whiteouts").
 * A whiteout becomes an empty file NAME with type char-0-0, overlayfs's
 * whiteout once the FUSE server shows it; an opaque marker the xattr
 * user.overlay.opaque on its folder. "Whiteout files MUST only apply to
 * resources in lower/parent layers": a NAME this layer has already is
 * left as it is (it hides the lower ones itself), and a NAME that comes
 * after its whiteout replaces it as any entry does.
 */
static int layer_whiteout(struct layer_ctx *c, struct archive_entry *e, const char *base)
{
	const char *victim = base + strlen(LAYER_WH_PREFIX);
	struct stat sb;
	int pfd, fd, r;

	if (!strcmp(base, LAYER_WH_OPAQUE)) {
		fd = layer_mkdirs(c->root, c->parent, &c->inodes, c->max_entries);
		if (fd < 0)
			return layer_fail_path(c, e, fd);
		r = fsetxattr(fd, OCI_OPAQUE_XATTR, "y", 1, 0) < 0 ? -errno : 0;
		close(fd);
		if (r)
			return layer_fail(c, e, r, "%s: %s", OCI_OPAQUE_XATTR, strerror(-r));
		c->st->opaques++;
		return 0;
	}
	if (!strncmp(base, LAYER_WH_META, strlen(LAYER_WH_META)))
		return 0; /* aufs' hard-link bookkeeping, no part of the image */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return layer_fail(c, e, -EPERM, "a whiteout of \"\", \".\" or \"..\"");
	pfd = layer_mkdirs(c->root, c->parent, &c->inodes, c->max_entries);
	if (pfd < 0)
		return layer_fail_path(c, e, pfd);
	r = fstatat(pfd, victim, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (r != -ENOENT) {
		close(pfd);
		return r ? layer_fail(c, e, r, "%s", strerror(-r)) : 0;
	}
	fd = layer_create(c, e, pfd, victim);
	close(pfd);
	if (fd < 0)
		return fd;
	r = fchmod(fd, 0644) < 0 ? -errno : layer_override(fd, 0, 0, 0, "char-0-0");
	close(fd);
	if (r)
		return layer_fail(c, e, r, "%s: %s", OCI_OVERRIDE_XATTR, strerror(-r));
	c->st->whiteouts++;
	return 0;
}

/* layer_account: one more entry, and its data, within the limits. */
static int layer_account(struct layer_ctx *c, struct archive_entry *e, uint64_t *start)
{
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;

	if (c->inodes >= c->max_entries)
		return layer_fail(c, e, -EFBIG, "more than %llu entries and folders",
		                  (unsigned long long)c->max_entries);
	c->inodes++;
	c->st->entries++;
	/* Even data nobody writes (a device's, a hard link's) is read to skip
	 * it: it counts too, or a bomb could hide there. */
	if (size < 0)
		return layer_fail(c, e, -EINVAL, "a negative size");
	if ((uint64_t)size > c->max_bytes - c->data)
		return layer_fail(c, e, -EFBIG, "more than %llu bytes of file data",
		                  (unsigned long long)c->max_bytes);
	*start = c->data;
	c->data += (uint64_t)size;
	return 0;
}

int layer_entry(struct layer_ctx *c, struct archive_entry *e)
{
	const char *base;
	uint64_t start = 0;
	int r;

	r = layer_account(c, e, &start);
	if (r)
		return r;
	r = layer_norm(archive_entry_pathname(e), c->name, sizeof(c->name));
	if (r == -EPERM)
		return layer_fail(c, e, r, "a \"..\" in the name: outside the layer");
	if (r)
		return layer_fail(c, e, r, "a bad name: %s", strerror(-r));
	/* aufs keeps its own folders at a branch's root (.wh..wh.plnk/,
	 * .wh..wh.orph/); old docker layers carry them: no part of the image. */
	if (!strncmp(c->name, LAYER_WH_META, strlen(LAYER_WH_META)) && strchr(c->name, '/'))
		return 0;
	if (layer_split(c->name, c->parent, &base))
		return layer_fail(c, e, -EPERM, "a whiteout's name as a folder");
	if (!strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)))
		return layer_whiteout(c, e, base);
	if (archive_entry_hardlink(e))
		return *base ? layer_hardlink(c, e, base)
		             : layer_fail(c, e, -EPERM, "the layer's root as a hard link");
	if (!*base && archive_entry_filetype(e) != AE_IFDIR)
		return layer_fail(c, e, -EPERM, "the layer's root as a non-folder");
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return layer_file(c, e, base, start);
	case AE_IFDIR:
		return layer_dir(c, e, base);
	case AE_IFLNK:
		return layer_symlink(c, e, base);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		return layer_special(c, e, base);
	default:
		return layer_fail(c, e, -EINVAL, "an unknown type %#o",
		                  (unsigned int)archive_entry_filetype(e));
	}
}

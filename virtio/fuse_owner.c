// SPDX-License-Identifier: MIT
/*
 * fuse_owner: who owns what the guest creates (fuse_int.h).
 *
 * Passthrough (the VMM is root, or asked for it): the guest's uid, gid,
 * mode and device numbers go to the host inode for real (fchownat,
 * fchmodat, mknodat), as virtiofsd does.
 *
 * Override xattr (the VMM is not root): the host inode stays the VMM
 * user's, readable and writable by it, and what the guest set is kept in
 * the xattr user.containers.override_stat, the format containers/storage
 * and fuse-overlayfs use for rootless containers: "uid:gid:mode[:type]",
 * mode in octal (permission bits, setuid included), type one of file,
 * dir, symlink, pipe, socket, char-MAJ-MIN, block-MAJ-MIN. GETATTR shows
 * it; a device node becomes a regular file with its type here. Setuid and
 * setgid bits never reach the host inode in this mode: there they would
 * work, for the VMM's user. A symlink cannot carry user.* xattrs: its
 * ownership is silently the VMM user's. The guest can neither read nor set
 * this xattr (fuse_ops_xattr.c hides it).
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define OVERRIDE_XATTR "user.containers.override_stat"

bool fuse_owner_xattr_name(const char *name)
{
	return strcmp(name, OVERRIDE_XATTR) == 0;
}

/* fuse_owner_parse_type: the type field into S_IFMT bits and rdev. */
static int fuse_owner_parse_type(const char *t, mode_t *type, dev_t *rdev)
{
	unsigned int maj, min;
	char tail;

	if (!strcmp(t, "file"))
		*type = S_IFREG;
	else if (!strcmp(t, "dir"))
		*type = S_IFDIR;
	else if (!strcmp(t, "symlink"))
		*type = S_IFLNK;
	else if (!strcmp(t, "pipe"))
		*type = S_IFIFO;
	else if (!strcmp(t, "socket"))
		*type = S_IFSOCK;
	else if (sscanf(t, "char-%u-%u%c", &maj, &min, &tail) == 2)
		*type = S_IFCHR, *rdev = makedev(maj, min);
	else if (sscanf(t, "block-%u-%u%c", &maj, &min, &tail) == 2)
		*type = S_IFBLK, *rdev = makedev(maj, min);
	else
		return -EINVAL;
	return 0;
}

static void fuse_owner_format_type(mode_t type, dev_t rdev, char *buf, size_t size)
{
	switch (type) {
	case S_IFDIR:
		snprintf(buf, size, "dir");
		break;
	case S_IFLNK:
		snprintf(buf, size, "symlink");
		break;
	case S_IFIFO:
		snprintf(buf, size, "pipe");
		break;
	case S_IFSOCK:
		snprintf(buf, size, "socket");
		break;
	case S_IFCHR:
	case S_IFBLK:
		snprintf(buf, size, "%s-%u-%u", type == S_IFCHR ? "char" : "block", major(rdev),
		         minor(rdev));
		break;
	default:
		snprintf(buf, size, "file");
	}
}

/*
 * fuse_owner_read: the override of ino into *st (uid, gid, mode, rdev).
 * 0 when there is one, -ENODATA when not; a malformed value counts as none
 * (the host's own attributes show).
 */
static int fuse_owner_read(struct fuse_srv *s, const struct fuse_inode *ino, struct stat *st)
{
	char buf[96], type[48] = "";
	unsigned int uid, gid, mode;
	mode_t t = st->st_mode & S_IFMT;
	dev_t rdev = st->st_rdev;
	ssize_t n;
	int fields;

	n = fuse_xattr_get(s, ino, OVERRIDE_XATTR, buf, sizeof(buf) - 1);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	fields = sscanf(buf, "%u:%u:%o:%47s", &uid, &gid, &mode, type);
	if (fields < 3 || mode > 07777)
		return -ENODATA;
	/* Only a regular file may stand for another type (a device node or
	 * FIFO the guest made); a directory stays a directory. */
	if (fields == 4 && S_ISREG(ino->type) && fuse_owner_parse_type(type, &t, &rdev) == 0 &&
	    t != S_IFDIR && t != S_IFLNK) {
		st->st_rdev = rdev;
	} else {
		t = st->st_mode & S_IFMT;
	}
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_mode = t | mode;
	return 0;
}

int fuse_owner_stat(struct fuse_srv *s, const struct fuse_inode *ino, struct stat *st)
{
	if (!s->xattr_owner || !(S_ISREG(ino->type) || S_ISDIR(ino->type)))
		return 0;
	(void)fuse_owner_read(s, ino, st);
	return 0;
}

/* fuse_owner_write: the override for ino: st's uid, gid, mode and rdev. */
static int fuse_owner_write(struct fuse_srv *s, const struct fuse_inode *ino, const struct stat *st)
{
	char buf[96], type[48];
	int n;

	fuse_owner_format_type(st->st_mode & S_IFMT, st->st_rdev, type, sizeof(type));
	n = snprintf(buf, sizeof(buf), "%u:%u:0%o:%s", (unsigned int)st->st_uid,
	             (unsigned int)st->st_gid, (unsigned int)(st->st_mode & 07777), type);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	return fuse_xattr_set(s, ino, OVERRIDE_XATTR, buf, (size_t)n, 0);
}

/* fuse_owner_host_mode: what the host inode gets in override mode: no
 * setuid/setgid/sticky, and always usable by the VMM's user. */
static mode_t fuse_owner_host_mode(const struct fuse_inode *ino, mode_t mode)
{
	mode &= 0777;
	mode |= S_IRUSR | S_IWUSR;
	if (S_ISDIR(ino->type))
		mode |= S_IXUSR;
	return mode;
}

/* fuse_owner_host_chmod: chmod the host inode through its magic link
 * (fuse_inode.c says why); a symlink has no mode of its own. */
static int fuse_owner_host_chmod(struct fuse_srv *s, const struct fuse_inode *ino, mode_t mode)
{
	char name[16];

	if (S_ISLNK(ino->type))
		return -EOPNOTSUPP;
	if (fuse_proc_name(ino, name, sizeof(name)))
		return -EINVAL;
	return fchmodat(s->proc_fd, name, mode, 0) < 0 ? -errno : 0;
}

/* fuse_owner_chown: SETATTR uid/gid; (uid_t)-1 / (gid_t)-1 keep a field. */
int fuse_owner_chown(struct fuse_srv *s, const struct fuse_inode *ino, uid_t uid, gid_t gid)
{
	struct stat st;
	int err;

	if (!s->xattr_owner)
		return fchownat(ino->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
		           ? -errno
		           : 0;
	if (!(S_ISREG(ino->type) || S_ISDIR(ino->type)))
		return 0; /* no user.* xattr there: see the top of the file */
	err = fuse_inode_stat(s, ino, &st);
	if (err)
		return err;
	if (uid != (uid_t)-1)
		st.st_uid = uid;
	if (gid != (gid_t)-1)
		st.st_gid = gid;
	return fuse_owner_write(s, ino, &st);
}

/* fuse_owner_chmod: SETATTR mode (permission bits). */
int fuse_owner_chmod(struct fuse_srv *s, const struct fuse_inode *ino, mode_t mode)
{
	struct stat st;
	int err;

	mode &= 07777;
	if (!s->xattr_owner)
		return fuse_owner_host_chmod(s, ino, mode);
	if (!(S_ISREG(ino->type) || S_ISDIR(ino->type)))
		return fuse_owner_host_chmod(s, ino, mode & 0777);
	err = fuse_inode_stat(s, ino, &st);
	if (err)
		return err;
	st.st_mode = (st.st_mode & S_IFMT) | mode;
	err = fuse_owner_write(s, ino, &st);
	if (err)
		return err;
	return fuse_owner_host_chmod(s, ino, fuse_owner_host_mode(ino, mode));
}

/*
 * fuse_owner_created: ownership of a node just made by the guest (h->uid,
 * h->gid, the mode it asked for, rdev for a device). Passthrough: chown to
 * the caller (keeping the group a setgid parent gave) and put back mode
 * bits the VMM's umask took. Override: record the lot. mode carries the
 * S_IFMT the guest meant (a char device that is a regular file here).
 * Best effort for the caller: the node exists either way.
 */
int fuse_owner_created(struct fuse_srv *s, const struct fuse_inode *dir, int fd,
                       const struct fuse_in_header *h, mode_t mode, dev_t rdev)
{
	struct fuse_inode tmp = { .fd = fd };
	struct stat st;
	gid_t gid = h->gid;
	int err;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	tmp.type = st.st_mode & S_IFMT;
	if (!s->xattr_owner) {
		struct stat ds;

		if (fstatat(dir->fd, "", &ds, AT_EMPTY_PATH) == 0 && (ds.st_mode & S_ISGID))
			gid = (gid_t)-1;
		if (fchownat(fd, "", h->uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if ((mode & 0777 & s->umask) && !S_ISLNK(st.st_mode))
			return fuse_owner_host_chmod(s, &tmp, (st.st_mode & 07000) | (mode & 0777));
		return 0;
	}
	if (S_ISLNK(st.st_mode))
		return 0;
	st.st_uid = h->uid;
	st.st_gid = h->gid;
	st.st_mode = (mode & S_IFMT ? mode & S_IFMT : st.st_mode & S_IFMT) | (mode & 07777);
	st.st_rdev = rdev;
	err = fuse_owner_write(s, &tmp, &st);
	if (err)
		return err;
	return fuse_owner_host_chmod(s, &tmp, fuse_owner_host_mode(&tmp, mode));
}

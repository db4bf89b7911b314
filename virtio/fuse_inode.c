// SPDX-License-Identifier: MIT
/*
 * fuse_inode: the inode and file-handle tables, name checks, lookup and
 * attributes (fuse_int.h).
 *
 * Inodes. Each is an O_PATH | O_NOFOLLOW descriptor on the host inode, in
 * a table of p.max_inodes slots; slot 0 is the share's root, FUSE_ROOT_ID.
 * A node id is (generation << 32) | (slot + 1): a slot freed by FORGET
 * bumps its generation, so a stale node id from the guest finds nothing.
 * (st_dev, st_ino) is hashed so that two names of one inode (hard links)
 * share one node id, as the kernel expects. A full table answers ENFILE:
 * the guest can hold at most max_inodes + max_handles host descriptors.
 *
 * Reopening. An O_PATH descriptor cannot be read or written; OPEN,
 * OPENDIR, SETATTR(size, mode) and the xattr calls need a real one. We
 * reopen through /proc/self/fd/N (openat on a directory descriptor of
 * /proc/self/fd taken at setup, so a later chroot keeps it): the magic
 * link goes straight to the inode the O_PATH descriptor holds, with no
 * path walk in the share, so a rename or a symlink swapped in by anyone
 * cannot redirect it. The alternative, openat(parent, name) with a name
 * kept per inode, breaks on renames and hard links and races with the
 * guest. Only regular files and directories are ever reopened (the type
 * of an inode never changes): never a device node, FIFO or socket, and a
 * symlink's magic link would fail with ELOOP anyway.
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOT_NONE 0u /* free lists and hash chains hold slot + 1 */

static uint32_t fuse_hash(dev_t dev, ino_t ino, uint32_t nr_buckets)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;

	return (uint32_t)(h >> 32) & (nr_buckets - 1);
}

/* fuse_inodes_clear: every slot but the root free, the hash holding only
 * the root (when there is one). */
static void fuse_inodes_clear(struct fuse_srv *s)
{
	struct fuse_inode *root = &s->inodes[0];

	memset(s->buckets, 0, sizeof(*s->buckets) * s->nr_buckets);
	s->inode_free = SLOT_NONE;
	for (uint32_t i = s->p.max_inodes - 1; i >= 1; i--) {
		struct fuse_inode *ino = &s->inodes[i];

		if (ino->fd >= 0)
			close(ino->fd);
		ino->fd = -1;
		ino->nlookup = 0;
		ino->gen = ino->gen + 1 ? ino->gen + 1 : 1;
		ino->next = s->inode_free;
		s->inode_free = i + 1;
	}
	s->nr_inodes = 0;
	if (root->fd >= 0) {
		uint32_t h = fuse_hash(root->dev, root->ino, s->nr_buckets);

		root->next = SLOT_NONE;
		s->buckets[h] = 1;
		s->nr_inodes = 1;
	}
}

/* fuse_handle_free: close h's descriptor and put its slot on the free
 * list; a stale fh finds nothing (handles_lock held). */
static void fuse_handle_free(struct fuse_srv *s, struct fuse_handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->gen++;
	h->io_refs = 0;
	h->zombie = false;
	h->next = s->handle_free;
	s->handle_free = (uint32_t)(h - s->handles) + 1;
	s->nr_handles--;
}

/* fuse_handle_kill: h's fh goes stale now; its descriptor stays open
 * while transfers hold it (handles_lock held). */
static void fuse_handle_kill(struct fuse_srv *s, struct fuse_handle *h)
{
	if (h->io_refs) {
		if (!h->zombie)
			h->gen++;
		h->zombie = true;
	} else {
		fuse_handle_free(s, h);
	}
}

/* fuse_handles_clear: every handle closed, but those transfers still hold
 * (zombies until their last fuse_handle_io_put), unless force (the server
 * is going away, and its caller's ring with it). */
static void fuse_handles_clear(struct fuse_srv *s, bool force)
{
	pthread_mutex_lock(&s->handles_lock);
	s->handle_free = SLOT_NONE;
	s->nr_handles = 0;
	for (uint32_t i = s->p.max_handles; i-- > 0;) {
		struct fuse_handle *h = &s->handles[i];

		if (force)
			h->io_refs = 0;
		s->nr_handles++; /* fuse_handle_free counts it back out */
		fuse_handle_kill(s, h);
	}
	pthread_mutex_unlock(&s->handles_lock);
}

int fuse_tables_init(struct fuse_srv *s)
{
	s->nr_buckets = 1;
	while (s->nr_buckets < s->p.max_inodes)
		s->nr_buckets <<= 1;
	s->inodes = calloc(s->p.max_inodes, sizeof(*s->inodes));
	s->buckets = calloc(s->nr_buckets, sizeof(*s->buckets));
	s->handles = calloc(s->p.max_handles ? s->p.max_handles : 1, sizeof(*s->handles));
	if (!s->inodes || !s->buckets || !s->handles)
		return -ENOMEM;
	if (pthread_mutex_init(&s->handles_lock, NULL))
		return -ENOMEM;
	s->handles_lock_ready = true;
	for (uint32_t i = 0; i < s->p.max_inodes; i++)
		s->inodes[i].fd = -1;
	for (uint32_t i = 0; i < s->p.max_handles; i++)
		s->handles[i].fd = -1;
	fuse_inodes_clear(s);
	fuse_handles_clear(s, true);
	return 0;
}

void fuse_tables_reset(struct fuse_srv *s)
{
	fuse_inodes_clear(s);
	fuse_handles_clear(s, false);
}

void fuse_tables_free(struct fuse_srv *s)
{
	if (s->inodes && s->buckets && s->handles && s->handles_lock_ready) {
		fuse_inodes_clear(s);
		fuse_handles_clear(s, true);
		if (s->inodes[0].fd >= 0)
			close(s->inodes[0].fd);
	}
	if (s->handles_lock_ready)
		pthread_mutex_destroy(&s->handles_lock);
	s->handles_lock_ready = false;
	free(s->inodes);
	free(s->buckets);
	free(s->handles);
	s->inodes = NULL;
	s->buckets = NULL;
	s->handles = NULL;
}

uint64_t fuse_nodeid(const struct fuse_srv *s, const struct fuse_inode *ino)
{
	uint32_t slot = (uint32_t)(ino - s->inodes);

	return (uint64_t)ino->gen << 32 | (slot + 1);
}

/* fuse_inode_get: the inode a node id from the guest names, or NULL. */
struct fuse_inode *fuse_inode_get(struct fuse_srv *s, uint64_t nodeid)
{
	uint32_t low = (uint32_t)nodeid;
	struct fuse_inode *ino;

	if (low == 0 || low > s->p.max_inodes)
		return NULL;
	ino = &s->inodes[low - 1];
	if (ino->fd < 0 || ino->gen != (uint32_t)(nodeid >> 32))
		return NULL;
	return ino;
}

static void fuse_hash_remove(struct fuse_srv *s, struct fuse_inode *ino)
{
	uint32_t slot = (uint32_t)(ino - s->inodes) + 1;
	uint32_t *link = &s->buckets[fuse_hash(ino->dev, ino->ino, s->nr_buckets)];

	while (*link != SLOT_NONE) {
		if (*link == slot) {
			*link = ino->next;
			return;
		}
		link = &s->inodes[*link - 1].next;
	}
}

/* fuse_inode_forget: the kernel drops n lookups of nodeid (FORGET). An
 * unknown node id is ignored: FORGET has no reply to carry an error. */
void fuse_inode_forget(struct fuse_srv *s, uint64_t nodeid, uint64_t n)
{
	struct fuse_inode *ino = fuse_inode_get(s, nodeid);
	uint32_t slot;

	if (!ino || ino == &s->inodes[0])
		return; /* the root lives as long as the server */
	ino->nlookup = n >= ino->nlookup ? 0 : ino->nlookup - n;
	if (ino->nlookup)
		return;
	slot = (uint32_t)(ino - s->inodes);
	fuse_hash_remove(s, ino);
	close(ino->fd);
	ino->fd = -1;
	ino->gen = ino->gen + 1 ? ino->gen + 1 : 1;
	ino->next = s->inode_free;
	s->inode_free = slot + 1;
	s->nr_inodes--;
}

/*
 * fuse_name_ok: one path component, as FUSE passes names: 1..NAME_MAX
 * bytes, no '/', not "." or ".." (the kernel never sends those, so a
 * request that does is hostile).
 */
bool fuse_name_ok(const char *name)
{
	size_t len = strnlen(name, NAME_MAX + 1);

	if (len == 0 || len > NAME_MAX || strchr(name, '/'))
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/*
 * fuse_lookup_fd: an O_PATH descriptor on name beneath dir, never
 * following a symlink (a symlink itself is returned: O_PATH | O_NOFOLLOW).
 * openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
 * where the kernel has it (5.6+); name is one checked component, so plain
 * openat with O_NOFOLLOW is the same walk on older kernels.
 */
/*
 * fuse_graft_fd: with grafts (fuse.h), the root's name "I" (a decimal
 * index, no leading zero) is a new descriptor on graft I; any other name
 * in the root is absent.
 */
static int fuse_graft_fd(struct fuse_srv *s, const char *name, int *fd)
{
	unsigned long i = 0;
	const char *p = name;

	if (*p == '0' && p[1])
		return -ENOENT;
	for (; *p >= '0' && *p <= '9' && i < s->p.nr_grafts; p++)
		i = i * 10 + (unsigned long)(*p - '0');
	if (*p || p == name || i >= s->p.nr_grafts)
		return -ENOENT;
	*fd = fcntl(s->graft_fds[i], F_DUPFD_CLOEXEC, 0);
	return *fd < 0 ? -errno : 0;
}

int fuse_lookup_fd(struct fuse_srv *s, struct fuse_inode *dir, const char *name, int *fd)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long ret;

	if (!S_ISDIR(dir->type))
		return -ENOTDIR;
	if (!fuse_name_ok(name))
		return -EINVAL;
	if (s->p.nr_grafts && dir == &s->inodes[0])
		return fuse_graft_fd(s, name, fd);
	ret = syscall(SYS_openat2, dir->fd, name, &how, sizeof(how));
	if (ret < 0 && errno == ENOSYS)
		ret = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (ret < 0)
		return -errno;
	*fd = (int)ret;
	return 0;
}

/*
 * fuse_inode_from_fd: the inode for an O_PATH descriptor, which this call
 * owns: an existing inode with the same (st_dev, st_ino) gains one lookup
 * (and fd is closed), else a free slot takes it with one lookup. The first
 * inode ever made is the root. *st (when not NULL) gets the host's stat.
 * Returns 0, -ENFILE when the table is full, or -errno from fstatat.
 */
int fuse_inode_from_fd(struct fuse_srv *s, int fd, struct fuse_inode **out, struct stat *st)
{
	struct stat tmp, *sp = st ? st : &tmp;
	struct fuse_inode *ino;
	uint32_t h, slot;

	if (fstatat(fd, "", sp, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	h = fuse_hash(sp->st_dev, sp->st_ino, s->nr_buckets);
	for (slot = s->buckets[h]; slot != SLOT_NONE; slot = s->inodes[slot - 1].next) {
		ino = &s->inodes[slot - 1];
		if (ino->dev == sp->st_dev && ino->ino == sp->st_ino) {
			close(fd);
			ino->nlookup++;
			goto found;
		}
	}
	if (s->nr_inodes == 0) {
		slot = 1; /* the root */
		s->inodes[0].gen = 0;
	} else if (s->inode_free != SLOT_NONE) {
		slot = s->inode_free;
		s->inode_free = s->inodes[slot - 1].next;
	} else {
		close(fd);
		return -ENFILE;
	}
	ino = &s->inodes[slot - 1];
	ino->fd = fd;
	ino->nlookup = 1;
	ino->dev = sp->st_dev;
	ino->ino = sp->st_ino;
	ino->type = sp->st_mode & S_IFMT;
	ino->next = s->buckets[h];
	s->buckets[h] = slot;
	s->nr_inodes++;
found:
	if (out)
		*out = ino;
	return 0;
}

/* fuse_inode_stat: the attributes the guest sees (override_stat applied). */
int fuse_inode_stat(struct fuse_srv *s, const struct fuse_inode *ino, struct stat *st)
{
	if (fstatat(ino->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return fuse_owner_stat(s, ino, st);
}

void fuse_fill_attr(const struct stat *st, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = (uint32_t)st->st_rdev;
	a->blksize = (uint32_t)st->st_blksize;
}

int fuse_inode_attr(struct fuse_srv *s, struct fuse_inode *ino, struct fuse_attr *a)
{
	struct stat st;
	int err = fuse_inode_stat(s, ino, &st);

	if (!err)
		fuse_fill_attr(&st, a);
	return err;
}

void fuse_fill_entry(struct fuse_srv *s, struct fuse_inode *ino, const struct stat *st,
                     struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = fuse_nodeid(s, ino);
	e->generation = ino->gen;
	e->entry_valid = s->ttl;
	e->attr_valid = s->ttl;
	fuse_fill_attr(st, &e->attr);
}

/*
 * fuse_lookup_entry: LOOKUP's work: name beneath dir into the table, its
 * entry into *e. The inode gains one lookup on success only.
 */
int fuse_lookup_entry(struct fuse_srv *s, struct fuse_inode *dir, const char *name,
                      struct fuse_entry_out *e)
{
	struct fuse_inode *ino = NULL;
	struct stat st;
	int fd = -1, err;

	err = fuse_lookup_fd(s, dir, name, &fd);
	if (err)
		return err;
	err = fuse_inode_from_fd(s, fd, &ino, &st);
	if (err)
		return err;
	err = fuse_owner_stat(s, ino, &st);
	if (err) {
		fuse_inode_forget(s, fuse_nodeid(s, ino), 1);
		return err;
	}
	fuse_fill_entry(s, ino, &st, e);
	return 0;
}

int fuse_proc_name(const struct fuse_inode *ino, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%d", ino->fd);

	return n > 0 && (size_t)n < size ? 0 : -EINVAL;
}

/*
 * fuse_inode_reopen: a real descriptor on ino with flags (O_ACCMODE and
 * status flags; creation flags are dropped). Regular files and
 * directories only (see the top of the file). Returns it or -errno.
 */
int fuse_inode_reopen(struct fuse_srv *s, const struct fuse_inode *ino, int flags)
{
	char name[16];
	int fd;

	if (S_ISDIR(ino->type))
		flags |= O_DIRECTORY;
	else if (!S_ISREG(ino->type))
		return S_ISLNK(ino->type) ? -ELOOP : -ENXIO;
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_PATH | O_TMPFILE);
	if (fuse_proc_name(ino, name, sizeof(name)))
		return -EINVAL;
	fd = openat(s->proc_fd, name, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* fuse_handle_new: a file handle for fd (owned by this call). */
int fuse_handle_new(struct fuse_srv *s, int fd, bool dir, bool writable, uint64_t *fh)
{
	struct fuse_handle *h;
	uint32_t slot;

	pthread_mutex_lock(&s->handles_lock);
	slot = s->handle_free;
	if (slot == SLOT_NONE) {
		pthread_mutex_unlock(&s->handles_lock);
		close(fd);
		return -ENFILE;
	}
	h = &s->handles[slot - 1];
	s->handle_free = h->next;
	h->fd = fd;
	h->dir = dir;
	h->writable = writable;
	s->nr_handles++;
	*fh = (uint64_t)h->gen << 32 | (slot - 1);
	pthread_mutex_unlock(&s->handles_lock);
	return 0;
}

/* fuse_handle_find: handles_lock held. */
static struct fuse_handle *fuse_handle_find(struct fuse_srv *s, uint64_t fh, bool dir)
{
	uint32_t slot = (uint32_t)fh;
	struct fuse_handle *h;

	if (slot >= s->p.max_handles)
		return NULL;
	h = &s->handles[slot];
	if (h->fd < 0 || h->zombie || h->gen != (uint32_t)(fh >> 32) || h->dir != dir)
		return NULL;
	return h;
}

/*
 * fuse_handle_get: the handle an fh from the guest names, of the right
 * kind (directory or not), or NULL. For the server's own thread: only it
 * releases handles, so the pointer and its descriptor stay valid while it
 * serves the request (fuse_handle_io_put only ever frees zombies, which
 * this never returns).
 */
struct fuse_handle *fuse_handle_get(struct fuse_srv *s, uint64_t fh, bool dir)
{
	struct fuse_handle *h;

	pthread_mutex_lock(&s->handles_lock);
	h = fuse_handle_find(s, fh, dir);
	pthread_mutex_unlock(&s->handles_lock);
	return h;
}

int fuse_handle_release(struct fuse_srv *s, uint64_t fh, bool dir)
{
	struct fuse_handle *h;

	pthread_mutex_lock(&s->handles_lock);
	h = fuse_handle_find(s, fh, dir);
	if (h)
		fuse_handle_kill(s, h);
	pthread_mutex_unlock(&s->handles_lock);
	return h ? 0 : -EBADF;
}

/*
 * fuse_handle_io_get: a transfer's reference on the file handle fh (not a
 * directory; writable for a write): its descriptor, and its slot for
 * fuse_handle_io_put. -EBADF when there is no such handle. Any thread.
 */
int fuse_handle_io_get(struct fuse_srv *s, uint64_t fh, bool write, uint32_t *slot)
{
	struct fuse_handle *h;
	int fd = -EBADF;

	pthread_mutex_lock(&s->handles_lock);
	h = fuse_handle_find(s, fh, false);
	if (h && (!write || h->writable)) {
		h->io_refs++;
		*slot = (uint32_t)(h - s->handles);
		fd = h->fd;
	}
	pthread_mutex_unlock(&s->handles_lock);
	return fd;
}

/* fuse_handle_io_put: the transfer is done (failed: with an error, for the
 * counters, which share the lock); a zombie's last one closes it. */
void fuse_handle_io_put(struct fuse_srv *s, uint32_t slot, bool failed)
{
	struct fuse_handle *h;

	pthread_mutex_lock(&s->handles_lock);
	s->io_requests++;
	s->io_errors += failed;
	h = slot < s->p.max_handles ? &s->handles[slot] : NULL;
	if (h && h->io_refs && --h->io_refs == 0 && h->zombie)
		fuse_handle_free(s, h);
	pthread_mutex_unlock(&s->handles_lock);
}

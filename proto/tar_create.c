// SPDX-License-Identifier: MIT
/*
 * proto/tar_create: a file or folder as a tar stream, a buffer at a time
 * (tar.h, proto_mktar). The tree is walked with proto/walk (never
 * following a symlink below the top, bounded depth); each regular file is
 * opened beneath its folder's fd with O_NOFOLLOW and checked to be the
 * inode the walk saw, then read in pieces into the caller's buffer, so no
 * file is ever held whole. A file whose size changes while it is read
 * keeps the size its header announced: cut, or padded with zeros, as GNU
 * tar does, and counted in `changed`. A folder on another file system
 * (/proc under /, say) is written but not entered.
 */
#define _GNU_SOURCE
#include "proto/bytes.h"
#include "proto/tar.h"
#include "proto/walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proto_mktar {
	struct proto_walk *w;
	char *top;      /* the top entry's name; "": the folder's contents only */
	int fd;         /* the regular file being read; -1: none */
	uint64_t left;  /* its data still to write */
	uint64_t size;  /* the size its header gave */
	size_t pad;     /* zeros to the next block */
	size_t trailer; /* trailer bytes still to write */
	bool walked, short_read;
	uint64_t entries, skipped, changed;
	const char *rel; /* the entry being written, relative to the top (the walk's) */
	char name[PROTO_PATH_MAX + 2];
};

int proto_mktar_new(struct proto_mktar **out, int dir_fd, const char *name, const char *top,
                    struct proto_why *why)
{
	struct proto_mktar *t = calloc(1, sizeof(*t));
	int err;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->trailer = PROTO_TAR_TRAILER;
	t->top = strdup(top);
	if (!t->top) {
		free(t);
		return -ENOMEM;
	}
	err =
	    proto_walk_new(&t->w, dir_fd, name, PROTO_WALK_XDEV | (top[0] ? 0 : PROTO_WALK_NOTOP));
	if (err) {
		proto_why_set(why, "%s", strerror(-err));
		proto_mktar_free(t);
		return err;
	}
	*out = t;
	return 0;
}

/* entry_name: the name an entry at rel gets in the stream; -ENAMETOOLONG. */
static int entry_name(struct proto_mktar *t, const char *rel)
{
	size_t a = strlen(t->top), b = strlen(rel), n = a + (a && b ? 1 : 0) + b;

	if (n > PROTO_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(t->name, t->top, a);
	if (a && b)
		t->name[a] = '/';
	memcpy(t->name + n - b, rel, b);
	t->name[n] = '\0';
	return 0;
}

/*
 * open_file: the walk's regular file, beneath its folder, not followed;
 * 1 when it is the inode seen, 0 when it vanished or was replaced.
 */
static int open_file(struct proto_mktar *t, const struct proto_walk_ent *e)
{
	struct stat st;
	int fd = openat(e->dir_fd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &st) < 0 || st.st_ino != e->st.st_ino || st.st_dev != e->st.st_dev ||
	    !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	t->fd = fd;
	return 1;
}

/* next_entry: the header of the walk's next entry at buf; *n its length; 0 at the end. */
static int next_entry(struct proto_mktar *t, uint8_t *buf, size_t cap, size_t *n,
                      struct proto_why *why)
{
	char link[PROTO_PATH_MAX + 1] = "";
	struct proto_walk_ent e;
	struct proto_tar_entry h;
	int err;

	for (;;) {
		err = proto_walk_next(t->w, &e);
		t->rel = err < 0 ? proto_walk_path(t->w) : e.path;
		if (err <= 0)
			return err;
		if (e.deep) {
			proto_why_set(why, "more than %d levels deep", PROTO_WALK_MAX_DEPTH);
			return -ELOOP;
		}
		err = entry_name(t, e.path);
		if (err)
			return err;
		h = (struct proto_tar_entry){ .path = t->name,
			                      .linkpath = link,
			                      .mode = e.st.st_mode & 07777,
			                      .uid = e.st.st_uid,
			                      .gid = e.st.st_gid,
			                      .mtime = e.st.st_mtim.tv_sec };
		if (S_ISREG(e.st.st_mode)) {
			err = open_file(t, &e);
			if (err <= 0) {
				if (err < 0)
					return err;
				t->changed++;
				continue;
			}
			h.type = PROTO_TAR_FILE;
			h.size = (uint64_t)e.st.st_size;
		} else if (S_ISDIR(e.st.st_mode)) {
			h.type = PROTO_TAR_DIR;
		} else if (S_ISLNK(e.st.st_mode)) {
			ssize_t l = readlinkat(e.dir_fd, e.name, link, sizeof(link) - 1);

			if (l < 0 && errno != ENOENT)
				return -errno;
			if (l < 0) {
				t->changed++; /* gone since the walk saw it */
				continue;
			}
			link[l] = '\0';
			h.type = PROTO_TAR_SYMLINK;
		} else if (S_ISFIFO(e.st.st_mode)) {
			h.type = PROTO_TAR_FIFO;
		} else {
			t->skipped++; /* sockets and devices (docs/protocol.md) */
			continue;
		}
		err = proto_tar_header(&h, buf, cap, n);
		if (err)
			return err;
		t->entries++;
		t->left = t->size = h.size;
		t->pad = (size_t)((PROTO_TAR_BLOCK - h.size % PROTO_TAR_BLOCK) % PROTO_TAR_BLOCK);
		t->short_read = false;
		if (t->fd >= 0 && !h.size) {
			close(t->fd);
			t->fd = -1;
		}
		return 1;
	}
}

/* file_data: up to room bytes of the current file at buf; *n of them. */
static int file_data(struct proto_mktar *t, uint8_t *buf, size_t room, size_t *n)
{
	size_t want = t->left < room ? (size_t)t->left : room;
	ssize_t r = 0;

	if (!t->short_read) {
		r = read(t->fd, buf, want);
		if (r < 0 && errno == EINTR)
			r = 0;
		else if (r < 0)
			return -errno;
		else if (r == 0)
			t->short_read = true; /* shrank: the rest is zeros */
	}
	if (t->short_read) {
		memset(buf, 0, want);
		r = (ssize_t)want;
	}
	t->left -= (uint64_t)r;
	*n = (size_t)r;
	if (!t->left) {
		struct stat st;

		if (t->short_read || (fstat(t->fd, &st) == 0 && (uint64_t)st.st_size != t->size))
			t->changed++;
		close(t->fd);
		t->fd = -1;
	}
	return 0;
}

int proto_mktar_read(struct proto_mktar *t, uint8_t *buf, size_t cap, size_t *len,
                     const char **path, struct proto_why *why)
{
	size_t n = 0, k;
	int err = 0;

	*path = NULL;
	while (n < cap && !err) {
		size_t room = cap - n;

		k = 0;
		if (t->fd >= 0 && t->left) {
			err = file_data(t, buf + n, room, &k);
		} else if (t->pad) {
			k = t->pad < room ? t->pad : room;
			memset(buf + n, 0, k);
			t->pad -= k;
		} else if (!t->walked) {
			if (room < PROTO_TAR_HEADER_MAX)
				break;
			err = next_entry(t, buf + n, room, &k, why);
			if (err == 0)
				t->walked = true;
			err = err < 0 ? err : 0;
		} else if (t->trailer) {
			k = t->trailer < room ? t->trailer : room;
			memset(buf + n, 0, k);
			t->trailer -= k;
		} else {
			break;
		}
		if (!err)
			n += k;
	}
	if (err) {
		*path = t->rel ? t->rel : "";
		if (why && !why->text[0])
			proto_why_set(why, "%s", strerror(-err));
		return err;
	}
	*len = n;
	return 0;
}

void proto_mktar_counts(const struct proto_mktar *t, uint64_t *entries, uint64_t *skipped,
                        uint64_t *changed)
{
	*entries = t->entries;
	*skipped = t->skipped;
	*changed = t->changed;
}

void proto_mktar_free(struct proto_mktar *t)
{
	if (!t)
		return;
	proto_walk_free(t->w);
	if (t->fd >= 0)
		close(t->fd);
	free(t->top);
	free(t);
}

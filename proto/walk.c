// SPDX-License-Identifier: MIT
/*
 * proto/walk: a bounded depth-first walk on fds (walk.h). Each level holds
 * the folder's fd and DIR; an entry is lstat'ed beneath its folder's fd
 * (fstatat with AT_SYMLINK_NOFOLLOW) and a folder is entered with openat
 * O_NOFOLLOW beneath the same fd, its identity checked against that
 * lstat, so that a folder swapped for a symlink while walked is never
 * followed.
 */
#define _GNU_SOURCE
#include "proto/walk.h"
#include "proto/bytes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct walk_level {
	DIR *dir;
	size_t plen;     /* its path's length in w->path */
	size_t name_off; /* where its name starts in w->path (the top: none) */
	struct stat st;
};

struct proto_walk {
	unsigned int flags;
	int top_fd; /* the top's folder */
	char *top_name;
	struct stat top_st;
	bool started, enter, post_pending;
	struct stat pending_st; /* the folder yielded last, to enter or post */
	size_t pending_plen, pending_name_off;
	unsigned int depth; /* levels open */
	struct walk_level lv[PROTO_WALK_MAX_DEPTH + 1];
	char path[PROTO_PATH_MAX + 1];
	char err_path[PROTO_PATH_MAX + 1];
};

int proto_walk_new(struct proto_walk **out, int dir_fd, const char *name, unsigned int flags)
{
	struct proto_walk *w = calloc(1, sizeof(*w));
	int err = 0;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->flags = flags;
	w->top_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	w->top_name = strdup(name);
	if (w->top_fd < 0 || !w->top_name)
		err = w->top_fd < 0 ? -errno : -ENOMEM;
	else if (fstatat(w->top_fd, name, &w->top_st,
	                 flags & PROTO_WALK_FOLLOW ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	else if ((flags & PROTO_WALK_NOTOP) && !S_ISDIR(w->top_st.st_mode))
		err = -ENOTDIR;
	if (err) {
		proto_walk_free(w);
		return err;
	}
	*out = w;
	return 0;
}

/* walk_fail: -errno about the entry whose path is w->path[0, plen). */
static int walk_fail(struct proto_walk *w, size_t plen, int err)
{
	memcpy(w->err_path, w->path, plen);
	w->err_path[plen] = '\0';
	return err;
}

/* parent_fd: the fd of the folder holding the level-d folder (d >= 1 is inside the top). */
static int parent_fd(const struct proto_walk *w, unsigned int d)
{
	return d == 0 ? w->top_fd : dirfd(w->lv[d - 1].dir);
}

/* walk_enter: open the folder yielded last as a new level; 0 or -errno. */
static int walk_enter(struct proto_walk *w)
{
	const char *name = w->depth ? w->path + w->pending_name_off : w->top_name;
	int oflags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK;
	struct walk_level *l = &w->lv[w->depth];
	struct stat st;
	int fd;

	if (w->depth || !(w->flags & PROTO_WALK_FOLLOW))
		oflags |= O_NOFOLLOW;
	fd = openat(parent_fd(w, w->depth), name, oflags);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != w->pending_st.st_dev ||
	    st.st_ino != w->pending_st.st_ino) {
		close(fd); /* replaced since it was seen: not this folder */
		return 1;
	}
	l->dir = fdopendir(fd);
	if (!l->dir) {
		close(fd);
		return -ENOMEM;
	}
	l->plen = w->pending_plen;
	l->name_off = w->pending_name_off;
	l->st = st;
	w->depth++;
	return 0;
}

/* walk_yield: fill e for the entry at w->path[0, plen) whose stat is st. */
static void walk_yield(struct proto_walk *w, struct proto_walk_ent *e, size_t plen, size_t name_off,
                       const struct stat *st, unsigned int depth, bool post)
{
	w->path[plen] = '\0';
	*e = (struct proto_walk_ent){
		.path = w->path,
		.name = depth ? w->path + name_off : w->top_name,
		.dir_fd = parent_fd(w, depth),
		.st = *st,
		.post = post,
		.depth = depth,
	};
	if (post || !S_ISDIR(st->st_mode))
		return;
	w->pending_st = *st;
	w->pending_plen = plen;
	w->pending_name_off = name_off;
	w->enter = true;
	if (depth >= PROTO_WALK_MAX_DEPTH) {
		e->deep = true;
		w->enter = false;
	} else if ((w->flags & PROTO_WALK_XDEV) && st->st_dev != w->top_st.st_dev) {
		w->enter = false;
	}
	w->post_pending = !w->enter && (w->flags & PROTO_WALK_POST);
}

/* walk_pop: the deepest level is done; its post entry when asked for. */
static int walk_pop(struct proto_walk *w, struct proto_walk_ent *e)
{
	struct walk_level *l = &w->lv[--w->depth];
	struct stat st = l->st;
	size_t plen = l->plen, off = l->name_off;

	closedir(l->dir);
	l->dir = NULL;
	if (!(w->flags & PROTO_WALK_POST) || (!w->depth && (w->flags & PROTO_WALK_NOTOP)))
		return 0;
	walk_yield(w, e, plen, off, &st, w->depth, true);
	return 1;
}

/* walk_read: the next entry of the deepest level; 1, 0 when it is done, -errno. */
static int walk_read(struct proto_walk *w, struct proto_walk_ent *e)
{
	struct walk_level *l = &w->lv[w->depth - 1];

	for (;;) {
		struct dirent *d;
		struct stat st;
		size_t nlen, plen;

		errno = 0;
		d = readdir(l->dir);
		if (!d)
			return errno ? walk_fail(w, l->plen, -errno) : 0;
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		nlen = strlen(d->d_name);
		plen = l->plen + (l->plen ? 1 : 0) + nlen;
		if (plen > PROTO_PATH_MAX)
			return walk_fail(w, l->plen, -ENAMETOOLONG);
		if (l->plen)
			w->path[l->plen] = '/';
		memcpy(w->path + plen - nlen, d->d_name, nlen);
		if (fstatat(dirfd(l->dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone since readdir saw it */
			return walk_fail(w, plen, -errno);
		}
		walk_yield(w, e, plen, plen - nlen, &st, w->depth, false);
		return 1;
	}
}

int proto_walk_next(struct proto_walk *w, struct proto_walk_ent *e)
{
	int err;

	if (!w->started) {
		w->started = true;
		walk_yield(w, e, 0, 0, &w->top_st, 0, false);
		if (!(w->flags & PROTO_WALK_NOTOP))
			return 1;
		w->post_pending = false;
	}
	if (w->post_pending) {
		w->post_pending = false;
		walk_yield(w, e, w->pending_plen, w->pending_name_off, &w->pending_st, w->depth,
		           true);
		return 1;
	}
	if (w->enter) {
		w->enter = false;
		err = walk_enter(w);
		if (err < 0)
			return walk_fail(w, w->pending_plen, err);
		if (err == 1 && (w->flags & PROTO_WALK_POST)) {
			walk_yield(w, e, w->pending_plen, w->pending_name_off, &w->pending_st,
			           w->depth, true);
			return 1;
		}
	}
	while (w->depth) {
		err = walk_read(w, e);
		if (err)
			return err;
		if (walk_pop(w, e))
			return 1;
	}
	return 0;
}

void proto_walk_skip(struct proto_walk *w)
{
	if (w->enter) {
		w->enter = false;
		w->post_pending = (w->flags & PROTO_WALK_POST) != 0;
	}
}

const char *proto_walk_path(const struct proto_walk *w)
{
	return w->err_path;
}

void proto_walk_free(struct proto_walk *w)
{
	if (!w)
		return;
	while (w->depth)
		closedir(w->lv[--w->depth].dir);
	if (w->top_fd >= 0)
		close(w->top_fd);
	free(w->top_name);
	free(w);
}

// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_files: the file ops answered at once (server.h;
 * docs/protocol.md, "File operations"): fs.stat, fs.mkdir, fs.remove (a
 * recursive one over a folder goes to server_xfer.c), fs.rename,
 * fs.chmod and fs.chown; path resolution and the errors with errno and
 * path that every file op sends.
 *
 * Resolution: a path's folder is opened beneath the server's root
 * (openat2, with RESOLVE_IN_ROOT when a test or the fuzzer gave a root of
 * its own) as an O_PATH fd, and the last component is then acted on with
 * *at() calls relative to it, never followed unless the op says so.
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"
#include "proto/bytes.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void agent_fs_error(struct agent_conn *c, uint64_t id, int err, const char *what, const char *path)
{
	agent_fs_error_why(c, id, err, what, path, NULL);
}

void agent_fs_error_why(struct agent_conn *c, uint64_t id, int err, const char *what,
                        const char *path, const char *detail)
{
	const char *name = proto_errno_name(err);
	json_t *m = NULL, *e;
	int rc;

	if (detail && detail[0])
		rc = proto_msg_error(&m, id, err == -ENOENT ? PROTO_ERR_NOT_FOUND : PROTO_ERR_FS,
		                     "%s: %s", what, detail);
	else
		rc = proto_msg_error(&m, id, err == -ENOENT ? PROTO_ERR_NOT_FOUND : PROTO_ERR_FS,
		                     "%s %s: %s", what, path, strerror(-err));
	e = rc ? NULL : json_object_get(m, "error");
	if (e && ((name && json_object_set_new(e, "errno", json_string(name))) ||
	          proto_msg_set_path(e, "path", path))) {
		json_decref(m);
		m = NULL;
	}
	agent_conn_send(c, m, NULL, 0);
}

int agent_fs_open(struct agent_server *srv, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC) };
	long fd;

	if (srv->opts.fs_root) {
		how.resolve = RESOLVE_IN_ROOT;
		fd = syscall(SYS_openat2, srv->root_fd, path, &how, sizeof(how));
		return fd < 0 ? -errno : (int)fd;
	}
	/* No root of its own: plain openat, relative paths from "/". */
	fd = openat(srv->root_fd, path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

int agent_fs_parent(struct agent_server *srv, const char *path, int *dir_fd, char **last)
{
	size_t n = strlen(path);
	char *dir = strdup(path), *slash, *name;
	int fd;

	if (!dir)
		return -ENOMEM;
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0'; /* "a/b/" is "a/b" */
	slash = strrchr(dir, '/');
	name = slash ? slash + 1 : dir;
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		/* "/", "a/." or "a/..": the folder itself, as "." inside it */
		name = strdup(".");
	} else {
		name = strdup(name);
		if (slash)
			slash[slash == dir ? 1 : 0] = '\0';
		else
			strcpy(dir, ".");
	}
	fd = name ? agent_fs_open(srv, dir, O_PATH | O_DIRECTORY) : -ENOMEM;
	free(dir);
	if (fd < 0) {
		free(name);
		return fd;
	}
	*dir_fd = fd;
	*last = name;
	return 0;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "char";
	default:
		return "block";
	}
}

int agent_fs_entry(json_t *obj, const struct stat *st, const char *link, bool nlink)
{
	int err = proto_msg_set_string(obj, "kind", type_name(st->st_mode)) ?:
	          proto_msg_set_u64(obj, "size", (uint64_t)st->st_size) ?:
	          proto_msg_set_u64(obj, "mode", st->st_mode & 07777) ?:
	          proto_msg_set_u64(obj, "uid", st->st_uid) ?:
	          proto_msg_set_u64(obj, "gid", st->st_gid) ?:
	          proto_msg_set_i64(obj, "mtime", st->st_mtim.tv_sec) ?:
	          proto_msg_set_u64(obj, "mtime_nsec", (uint64_t)st->st_mtim.tv_nsec);

	if (!err && nlink)
		err = proto_msg_set_u64(obj, "nlink", st->st_nlink);
	if (!err && link)
		err = proto_msg_set_path(obj, "target", link);
	return err;
}

/*
 * fs_target: the path field key of msg resolved to its folder and last
 * component; 1 when resolved, 0 when answered with a file error, or
 * -errno with why for a bad request.
 */
static int fs_target(struct agent_conn *c, uint64_t id, const json_t *msg, const char *key,
                     char **path, int *dir_fd, char **last, struct proto_why *why)
{
	int err = proto_msg_get_path(msg, key, path, 0, why);

	if (err)
		return err;
	err = agent_fs_parent(c->srv, *path, dir_fd, last);
	if (err) {
		agent_fs_error(c, id, err, "open", *path);
		free(*path);
		*path = NULL;
		return 0;
	}
	return 1;
}

/* fs_done: the end of a one-shot op: its error or reply, and the fds freed. */
static int fs_done(struct agent_conn *c, uint64_t id, int err, const char *what, char *path,
                   int dir_fd, char *last)
{
	if (err)
		agent_fs_error(c, id, err, what, path);
	else
		agent_conn_reply(c, id, NULL);
	close(dir_fd);
	free(last);
	free(path);
	return 0;
}

int agent_op_fs_stat(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	char *path, *last, link[PROTO_PATH_MAX + 1];
	bool follow = false;
	struct stat st;
	int dir, err = proto_msg_get_bool(msg, "follow", &follow, PROTO_OPTIONAL, why);
	json_t *r;

	(void)f;
	if (err || (err = fs_target(c, id, msg, "path", &path, &dir, &last, why)) <= 0)
		return err;
	if (fstatat(dir, last, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
		return fs_done(c, id, -errno, "stat", path, dir, last);
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dir, last, link, sizeof(link) - 1);

		if (n < 0)
			return fs_done(c, id, -errno, "readlink", path, dir, last);
		link[n] = '\0';
	}
	r = json_object();
	if (!r || agent_fs_entry(r, &st, S_ISLNK(st.st_mode) ? link : NULL, true)) {
		json_decref(r);
		return fs_done(c, id, -ENOMEM, "stat", path, dir, last);
	}
	agent_conn_reply(c, id, r);
	close(dir);
	free(last);
	free(path);
	return 0;
}

/* mkdir_parents: every folder on the way to path made (mkdir -p), each resolved afresh. */
static int mkdir_parents(struct agent_server *srv, const char *path, mode_t mode)
{
	size_t n = strlen(path);
	char *p = strdup(path);
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 1; i <= n && !err; i++) {
		char *last, keep = p[i];
		int dir;

		if (keep != '/' && keep != '\0')
			continue;
		p[i] = '\0';
		err = agent_fs_parent(srv, p, &dir, &last);
		if (!err) {
			if (mkdirat(dir, last, mode) == 0) {
				/* The one asked for gets the exact mode, whatever the umask. */
				if (i == n && fchmodat(dir, last, mode, 0) < 0)
					err = -errno;
			} else if (errno != EEXIST) {
				err = -errno;
			}
			close(dir);
			free(last);
		}
		p[i] = keep;
	}
	free(p);
	if (!err) {
		/* What is at path must be a folder now: mkdir -p says EEXIST otherwise. */
		int fd = agent_fs_open(srv, path, O_PATH | O_DIRECTORY);

		if (fd < 0)
			return fd == -ENOTDIR ? -EEXIST : fd;
		close(fd);
	}
	return err;
}

int agent_op_fs_mkdir(struct agent_conn *c, uint64_t id, const json_t *msg,
                      const struct proto_frame *f, struct proto_why *why)
{
	uint64_t mode = 0755;
	bool parents = false;
	char *path, *last;
	int dir, err = proto_msg_get_u64(msg, "mode", &mode, 07777, PROTO_OPTIONAL, why)
	                   ?: proto_msg_get_bool(msg, "parents", &parents, PROTO_OPTIONAL, why);

	(void)f;
	if (err)
		return err;
	if (parents) {
		err = proto_msg_get_path(msg, "path", &path, 0, why);
		if (err)
			return err;
		err = mkdir_parents(c->srv, path, (mode_t)mode);
		if (err)
			agent_fs_error(c, id, err, "mkdir", path);
		else
			agent_conn_reply(c, id, NULL);
		free(path);
		return 0;
	}
	if ((err = fs_target(c, id, msg, "path", &path, &dir, &last, why)) <= 0)
		return err;
	err = mkdirat(dir, last, 0700) < 0 ? -errno : 0;
	/* The exact mode, whatever the umask: as fs.write's files. */
	if (!err && fchmodat(dir, last, (mode_t)mode, 0) < 0)
		err = -errno;
	return fs_done(c, id, err, "mkdir", path, dir, last);
}

int agent_op_fs_remove(struct agent_conn *c, uint64_t id, const json_t *msg,
                       const struct proto_frame *f, struct proto_why *why)
{
	bool recursive = false;
	char *path, *last;
	struct stat st;
	int dir, err = proto_msg_get_bool(msg, "recursive", &recursive, PROTO_OPTIONAL, why);

	(void)f;
	if (err || (err = fs_target(c, id, msg, "path", &path, &dir, &last, why)) <= 0)
		return err;
	if (fstatat(dir, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_done(c, id, -errno, "remove", path, dir, last);
	if (recursive && S_ISDIR(st.st_mode)) {
		err = agent_xfer_remove_tree(c, id, path, dir, last);
		free(last);
		return err;
	}
	if (unlinkat(dir, last, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		return fs_done(c, id, -errno, "remove", path, dir, last);
	agent_conn_reply(c, id, json_pack("{sI}", "removed", (json_int_t)1));
	close(dir);
	free(last);
	free(path);
	return 0;
}

int agent_op_fs_rename(struct agent_conn *c, uint64_t id, const json_t *msg,
                       const struct proto_frame *f, struct proto_why *why)
{
	bool overwrite = true;
	char *from, *to, *l1, *l2;
	int d1, d2, err = proto_msg_get_bool(msg, "overwrite", &overwrite, PROTO_OPTIONAL, why);

	(void)f;
	if (err || (err = fs_target(c, id, msg, "from", &from, &d1, &l1, why)) <= 0)
		return err;
	err = fs_target(c, id, msg, "to", &to, &d2, &l2, why);
	if (err <= 0) {
		close(d1);
		free(l1);
		free(from);
		return err;
	}
	err = renameat2(d1, l1, d2, l2, overwrite ? 0 : RENAME_NOREPLACE) < 0 ? -errno : 0;
	close(d2);
	free(l2);
	free(to);
	return fs_done(c, id, err, "rename", from, d1, l1);
}

int agent_op_fs_chmod(struct agent_conn *c, uint64_t id, const json_t *msg,
                      const struct proto_frame *f, struct proto_why *why)
{
	uint64_t mode;
	char *path, *last;
	int dir, err = proto_msg_get_u64(msg, "mode", &mode, 07777, 0, why);

	(void)f;
	if (err || (err = fs_target(c, id, msg, "path", &path, &dir, &last, why)) <= 0)
		return err;
	/* AT_SYMLINK_NOFOLLOW: glibc goes through an O_PATH fd and /proc, and
	 * says EOPNOTSUPP for a symlink, which has no mode of its own. */
	err = fchmodat(dir, last, (mode_t)mode, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	return fs_done(c, id, err, "chmod", path, dir, last);
}

int agent_op_fs_chown(struct agent_conn *c, uint64_t id, const json_t *msg,
                      const struct proto_frame *f, struct proto_why *why)
{
	uint64_t uid = (uint32_t)-1, gid = (uint32_t)-1;
	bool follow = false;
	char *path, *last;
	int dir, err = proto_msg_get_u64(msg, "uid", &uid, 0xfffffffe, PROTO_OPTIONAL, why) ?:
	                   proto_msg_get_u64(msg, "gid", &gid, 0xfffffffe, PROTO_OPTIONAL, why) ?:
	                   proto_msg_get_bool(msg, "follow", &follow, PROTO_OPTIONAL, why);

	(void)f;
	if (!err && uid == (uint32_t)-1 && gid == (uint32_t)-1) {
		proto_why_set(why, "fs.chown needs \"uid\" or \"gid\"");
		err = -EINVAL;
	}
	if (err || (err = fs_target(c, id, msg, "path", &path, &dir, &last, why)) <= 0)
		return err;
	err = fchownat(dir, last, (uid_t)uid, (gid_t)gid, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0
	          ? -errno
	          : 0;
	return fs_done(c, id, err, "chown", path, dir, last);
}

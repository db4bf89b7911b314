// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_xfer: file transfers (server.h; docs/protocol.md,
 * "Transfers and back-pressure"): their life on a connection, the ops
 * that stream one file (fs.read out, fs.write and fs.data in), and the
 * pump that serves every outgoing transfer a chunk at a time.
 *
 * Back-pressure is exec's: an outgoing transfer makes its next chunk only
 * while the connection has less than AGENT_CONN_HIGH queued, and the loop
 * then stops reading the connection too (agent_conn_update), so a slow
 * client slows the file reads and nothing grows without bound. Incoming
 * bytes are written to the file before the next frame is read.
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"
#include "proto/bytes.h"
#include "proto/msg.h"
#include "proto/tar.h"
#include "proto/walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct agent_xfer *xfer_find(struct agent_conn *c, uint64_t id)
{
	for (struct agent_xfer *x = c->xfers; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
}

struct agent_xfer *agent_xfer_new(struct agent_conn *c, uint64_t id, enum agent_xfer_kind kind,
                                  char *path, int *err, struct proto_why *why)
{
	struct agent_xfer *x = NULL;

	*err = 0;
	if (xfer_find(c, id)) {
		proto_why_set(why, "transfer %llu is still open", (unsigned long long)id);
		*err = -EINVAL;
	} else if (c->nxfers >= AGENT_MAX_XFERS) {
		proto_why_set(why, "too many open transfers (%d)", AGENT_MAX_XFERS);
		*err = -E2BIG;
	} else if (!(x = calloc(1, sizeof(*x)))) {
		*err = -ENOMEM;
	}
	if (*err) {
		free(path);
		return NULL;
	}
	*x =
	    (struct agent_xfer){ .next = c->xfers, .id = id, .kind = kind, .path = path, .fd = -1 };
	c->xfers = x;
	c->nxfers++;
	return x;
}

void agent_xfer_end(struct agent_conn *c, struct agent_xfer *x)
{
	for (struct agent_xfer **p = &c->xfers; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			c->nxfers--;
			break;
		}
	}
	if (x->fd >= 0)
		close(x->fd);
	proto_walk_free(x->walk);
	proto_mktar_free(x->mktar);
	proto_untar_free(x->untar);
	json_decref(x->batch);
	free(x->path);
	free(x);
}

void agent_xfer_free_all(struct agent_conn *c)
{
	while (c->xfers)
		agent_xfer_end(c, c->xfers);
}

void agent_xfer_fail(struct agent_conn *c, struct agent_xfer *x, int err, const char *what,
                     const char *rel)
{
	agent_xfer_fail_why(c, x, err, what, rel, NULL);
}

void agent_xfer_fail_why(struct agent_conn *c, struct agent_xfer *x, int err, const char *what,
                         const char *rel, const char *detail)
{
	char path[2 * PROTO_PATH_MAX + 2];

	if (rel && rel[0])
		snprintf(path, sizeof(path), "%s%s%s", x->path,
		         x->path[strlen(x->path) - 1] == '/' ? "" : "/", rel);
	else
		snprintf(path, sizeof(path), "%s", x->path);
	agent_fs_error_why(c, x->id, err, what, path, detail);
	agent_xfer_end(c, x);
}

uint8_t *agent_xfer_chunk(struct agent_server *srv)
{
	if (!srv->chunk)
		srv->chunk = malloc(AGENT_FILE_CHUNK);
	return srv->chunk;
}

/* open_regular: (dir, last) opened with flags; must be a regular file. fd or -errno. */
static int open_regular(int dir, const char *last, int flags, mode_t mode)
{
	struct stat st;
	int fd = openat(dir, last, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		st.st_mode = 0; /* cannot tell: not a regular file as far as we know */
	if (!S_ISREG(st.st_mode)) {
		int err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;

		close(fd);
		return err;
	}
	return fd;
}

int agent_op_fs_read(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	uint64_t off = 0, len = UINT64_MAX;
	bool follow = true;
	struct agent_xfer *x;
	char *path, *last;
	int dir, fd, err = proto_msg_get_u64(msg, "offset", &off, INT64_MAX, PROTO_OPTIONAL, why) ?:
	                       proto_msg_get_u64(msg, "length", &len, INT64_MAX, PROTO_OPTIONAL, why) ?:
	                       proto_msg_get_bool(msg, "follow", &follow, PROTO_OPTIONAL, why) ?:
	                       proto_msg_get_path(msg, "path", &path, 0, why);

	(void)f;
	if (err)
		return err;
	x = agent_xfer_new(c, id, AGENT_X_READ, path, &err, why);
	if (!x)
		return err;
	err = agent_fs_parent(c->srv, path, &dir, &last);
	if (err) {
		agent_xfer_fail(c, x, err, "open", NULL);
		return 0;
	}
	fd = open_regular(dir, last, O_RDONLY | (follow ? 0 : O_NOFOLLOW), 0);
	close(dir);
	free(last);
	if (fd < 0) {
		agent_xfer_fail(c, x, fd, "open", NULL);
		return 0;
	}
	x->fd = fd;
	x->off = off;
	x->left = len;
	return 0; /* the pump sends the data, then the reply */
}

/* read_step: one chunk of an fs.read, or its reply at the end. */
static void read_step(struct agent_conn *c, struct agent_xfer *x)
{
	uint8_t *buf = agent_xfer_chunk(c->srv);
	size_t want = x->left < AGENT_FILE_CHUNK ? (size_t)x->left : AGENT_FILE_CHUNK;
	ssize_t n;
	json_t *m = NULL;

	if (!buf) {
		agent_xfer_fail(c, x, -ENOMEM, "read", NULL);
		return;
	}
	n = want ? pread(x->fd, buf, want, (off_t)x->off) : 0;
	if (n < 0 && errno == EINTR)
		return;
	if (n < 0) {
		agent_xfer_fail(c, x, -errno, "read", NULL);
		return;
	}
	if (n == 0) {
		agent_conn_reply(c, x->id, json_pack("{sI}", "size", (json_int_t)x->count));
		agent_xfer_end(c, x);
		return;
	}
	x->off += (uint64_t)n;
	x->left -= (uint64_t)n;
	x->count += (uint64_t)n;
	if (proto_msg_event(&m, x->id, "fs.data") != 0)
		m = NULL;
	agent_conn_send(c, m, buf, (size_t)n);
}

/* write_body: n bytes of p to a write transfer's file; 0 or -errno. */
static int write_body(struct agent_xfer *x, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(x->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		x->count += (uint64_t)w;
	}
	return 0;
}

/* write_more: the bytes of one frame for a write transfer; eof closes it with the reply. */
static void write_more(struct agent_conn *c, struct agent_xfer *x, uint64_t id,
                       const struct proto_frame *f, bool eof)
{
	int err = write_body(x, f->body, f->body_len);

	if (!err && eof && x->sync && fsync(x->fd) < 0)
		err = -errno;
	if (!err && eof && close(x->fd) < 0)
		err = -errno;
	if (eof)
		x->fd = -1; /* closed either way: close(2) releases the fd even when it fails */
	if (err) {
		x->id = id; /* the error answers this frame's request */
		agent_xfer_fail(c, x, err, "write", NULL);
		return;
	}
	if (!eof) {
		agent_conn_reply(c, id, NULL);
		return;
	}
	agent_conn_reply(c, id, json_pack("{sI}", "size", (json_int_t)x->count));
	agent_xfer_end(c, x);
}

/* The fields of fs.write (docs/protocol.md). */
struct write_req {
	uint64_t mode, uid, gid, offset;
	bool create, exclusive, append, truncate, follow, sync, eof, has_offset;
};

static int write_parse(const json_t *msg, struct write_req *w, struct proto_why *why)
{
	*w = (struct write_req){ .mode = 0644,
		                 .uid = UINT64_MAX,
		                 .gid = UINT64_MAX,
		                 .offset = UINT64_MAX,
		                 .create = true,
		                 .truncate = true };
	return proto_msg_get_u64(msg, "mode", &w->mode, 07777, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_u64(msg, "uid", &w->uid, 0xfffffffe, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_u64(msg, "gid", &w->gid, 0xfffffffe, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_u64(msg, "offset", &w->offset, INT64_MAX, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "create", &w->create, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "exclusive", &w->exclusive, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "append", &w->append, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "truncate", &w->truncate, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "follow", &w->follow, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "sync", &w->sync, PROTO_OPTIONAL, why) ?:
	       proto_msg_get_bool(msg, "eof", &w->eof, PROTO_OPTIONAL, why);
}

/*
 * write_open: the file of an fs.write, prepared as the fields say: made
 * with the exact mode and owner when it is new, emptied or positioned
 * when it is not. The fd or -errno; *what names the failed step.
 */
static int write_open(int dir, const char *last, const struct write_req *w, const char **what)
{
	int flags = O_WRONLY | (w->follow ? 0 : O_NOFOLLOW) | (w->append ? O_APPEND : 0),
	    fd = -EEXIST, err;
	bool made = false;

	*what = "open";
	if (w->create) {
		/* O_EXCL first, to know whether the file is new (its mode and
		 * owner are set only then); O_EXCL never follows a symlink. */
		fd = open_regular(dir, last, flags | O_CREAT | O_EXCL, 0600);
		made = fd >= 0;
	}
	if (fd == -EEXIST && !w->exclusive)
		fd = open_regular(dir, last, flags, 0);
	if (fd < 0)
		return fd;
	if (made && fchmod(fd, (mode_t)w->mode) < 0)
		*what = "chmod";
	else if (made && (w->uid != UINT64_MAX || w->gid != UINT64_MAX) &&
	         fchown(fd, (uid_t)w->uid, (gid_t)w->gid) < 0)
		*what = "chown";
	else if (!made && w->truncate && !w->append && w->offset == UINT64_MAX &&
	         ftruncate(fd, 0) < 0)
		*what = "truncate";
	else if (w->offset != UINT64_MAX && lseek(fd, (off_t)w->offset, SEEK_SET) < 0)
		*what = "seek";
	else
		return fd;
	err = -errno; /* before close, which may change errno */
	close(fd);
	return err;
}

int agent_op_fs_write(struct agent_conn *c, uint64_t id, const json_t *msg,
                      const struct proto_frame *f, struct proto_why *why)
{
	struct write_req w;
	struct agent_xfer *x;
	const char *what;
	char *path, *last;
	int dir, fd,
	    err = write_parse(msg, &w, why) ?: proto_msg_get_path(msg, "path", &path, 0, why);

	if (err)
		return err;
	x = agent_xfer_new(c, id, AGENT_X_WRITE, path, &err, why);
	if (!x)
		return err;
	err = agent_fs_parent(c->srv, path, &dir, &last);
	if (err) {
		agent_xfer_fail(c, x, err, "open", NULL);
		return 0;
	}
	fd = write_open(dir, last, &w, &what);
	close(dir);
	free(last);
	if (fd < 0) {
		agent_xfer_fail(c, x, fd, what, NULL);
		return 0;
	}
	x->fd = fd;
	x->sync = w.sync;
	write_more(c, x, id, f, w.eof);
	return 0;
}

int agent_op_fs_data(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	uint64_t xid;
	bool eof = false;
	struct agent_xfer *x;
	int err = proto_msg_get_u64(msg, "xfer_id", &xid, PROTO_ID_MAX, 0, why)
	              ?: proto_msg_get_bool(msg, "eof", &eof, PROTO_OPTIONAL, why);

	if (err)
		return err;
	x = xfer_find(c, xid);
	if (!x || (x->kind != AGENT_X_WRITE && x->kind != AGENT_X_TAR_IN)) {
		proto_why_set(why, "no open fs.write or fs.tar_in %llu", (unsigned long long)xid);
		return -ENOENT;
	}
	if (x->kind == AGENT_X_WRITE)
		write_more(c, x, id, f, eof);
	else
		agent_tar_in_feed(c, x, id, f->body, f->body_len, eof);
	return 0;
}

/* outgoing: whether x makes frames for the pump. */
static bool outgoing(const struct agent_xfer *x)
{
	return x->kind != AGENT_X_WRITE && x->kind != AGENT_X_TAR_IN;
}

void agent_xfer_pump(struct agent_conn *c)
{
	/* Round robin, one chunk per transfer per round, so that transfers
	 * take turns; bounded per pass so that the loop comes back. */
	for (int round = 0; round < AGENT_XFER_ROUNDS; round++) {
		bool any = false;

		for (struct agent_xfer *x = c->xfers, *next; x; x = next) {
			next = x->next; /* a step may end x */
			if (c->dead || c->closing || c->out.len >= AGENT_CONN_HIGH)
				return;
			if (!outgoing(x))
				continue;
			any = true;
			if (x->kind == AGENT_X_READ)
				read_step(c, x);
			else
				agent_tree_step(c, x);
		}
		if (!any)
			return;
	}
}

bool agent_xfer_busy(const struct agent_conn *c)
{
	if (c->dead || c->closing || c->out.len >= AGENT_CONN_HIGH)
		return false;
	for (const struct agent_xfer *x = c->xfers; x; x = x->next)
		if (outgoing(x))
			return true;
	return false;
}

void agent_conn_pump(struct agent_conn *c)
{
	agent_xfer_pump(c);
}

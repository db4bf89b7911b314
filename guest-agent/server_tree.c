// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_tree: the file ops over a tree (server.h;
 * docs/protocol.md): fs.list, a recursive fs.remove, fs.tar_out and
 * fs.tar_in. The first three are outgoing transfers that the pump
 * (server_xfer.c) steps a batch at a time over proto/walk, which never
 * follows a symlink below its top; fs.tar_in is fed by fs.data frames and
 * extracts with proto/tar's proto_untar, which refuses every entry that
 * would leave its folder.
 */
#define _GNU_SOURCE
#include "guest-agent/server_int.h"
#include "proto/bytes.h"
#include "proto/msg.h"
#include "proto/tar.h"
#include "proto/walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIST_BATCH       256         /* entries per fs.entries event */
#define LIST_BATCH_BYTES (32u << 10) /* about this much JSON per event, under PROTO_MAX_JSON */
#define LIST_MAX         1000000
#define REMOVE_BATCH     256 /* entries removed per step */

/* tree_start: the walk of an op over (path's folder, last component); 1, or 0 when answered. */
static int tree_start(struct agent_conn *c, struct agent_xfer *x, unsigned int flags)
{
	char *last;
	int dir, err = agent_fs_parent(c->srv, x->path, &dir, &last);

	if (!err) {
		err = proto_walk_new(&x->walk, dir, last, flags);
		close(dir);
		free(last);
	}
	if (err) {
		agent_xfer_fail(c, x, err, "open", NULL);
		return 0;
	}
	return 1;
}

int agent_op_fs_list(struct agent_conn *c, uint64_t id, const json_t *msg,
                     const struct proto_frame *f, struct proto_why *why)
{
	uint64_t limit = 10000;
	bool recursive = false, follow = true;
	struct agent_xfer *x;
	char *path;
	int err = proto_msg_get_u64(msg, "limit", &limit, LIST_MAX, PROTO_OPTIONAL, why) ?:
	          proto_msg_get_bool(msg, "recursive", &recursive, PROTO_OPTIONAL, why) ?:
	          proto_msg_get_bool(msg, "follow", &follow, PROTO_OPTIONAL, why) ?:
	          proto_msg_get_path(msg, "path", &path, 0, why);

	(void)f;
	if (!err && !limit) {
		free(path);
		proto_why_set(why, "field \"limit\" must be 1 or more");
		err = -EINVAL;
	}
	if (err)
		return err;
	x = agent_xfer_new(c, id, AGENT_X_LIST, path, &err, why);
	if (!x)
		return err;
	x->limit = limit;
	x->recursive = recursive;
	tree_start(c, x, PROTO_WALK_NOTOP | PROTO_WALK_XDEV | (follow ? PROTO_WALK_FOLLOW : 0));
	return 0;
}

/* list_flush: send the batch of entries as one fs.entries event. */
static void list_flush(struct agent_conn *c, struct agent_xfer *x)
{
	json_t *m = NULL;

	if (!x->batch)
		return;
	if (proto_msg_event(&m, x->id, "fs.entries") == 0 &&
	    json_object_set_new(m, "entries", x->batch) != 0) {
		json_decref(m);
		m = NULL;
	} else if (!m) {
		json_decref(x->batch);
	}
	x->batch = NULL;
	x->batch_bytes = 0;
	agent_conn_send(c, m, NULL, 0);
}

/* list_entry: e as an entry object at the end of the batch; 0 or -errno. */
static int list_entry(struct agent_xfer *x, const struct proto_walk_ent *e)
{
	char link[PROTO_PATH_MAX + 1];
	json_t *o = json_object();
	ssize_t n = 0;
	int err;

	if (S_ISLNK(e->st.st_mode)) {
		n = readlinkat(e->dir_fd, e->name, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = '\0';
	}
	if (!x->batch)
		x->batch = json_array();
	err = !o || !x->batch ? -ENOMEM : proto_msg_set_path(o, "name", e->path);
	if (!err)
		err = agent_fs_entry(o, &e->st, S_ISLNK(e->st.st_mode) ? link : NULL, false);
	if (!err && json_array_append_new(x->batch, o) != 0)
		err = -ENOMEM;
	else if (err)
		json_decref(o);
	/* Names may be escaped or base64: count them at twice their bytes. */
	x->batch_bytes += 160 + 2 * strlen(e->path) + 2 * (size_t)(n > 0 ? n : 0);
	return err;
}

/* list_step: the next batch of an fs.list, or its reply. */
static void list_step(struct agent_conn *c, struct agent_xfer *x)
{
	struct proto_walk_ent e;
	int err = 0;

	while (json_array_size(x->batch) < LIST_BATCH && x->batch_bytes < LIST_BATCH_BYTES) {
		err = proto_walk_next(x->walk, &e);
		if (err <= 0)
			break;
		if (x->count == x->limit) {
			x->truncated = true; /* there was one more */
			err = 0;
			break;
		}
		if (e.deep)
			x->truncated = true;
		if (!x->recursive && S_ISDIR(e.st.st_mode))
			proto_walk_skip(x->walk);
		err = list_entry(x, &e);
		if (err)
			break;
		x->count++;
	}
	if (err < 0) {
		agent_xfer_fail(c, x, err, "list", proto_walk_path(x->walk));
		return;
	}
	list_flush(c, x);
	if (err == 1)
		return; /* more to come */
	agent_conn_reply(
	    c, x->id,
	    json_pack("{sIsb}", "count", (json_int_t)x->count, "truncated", x->truncated));
	agent_xfer_end(c, x);
}

int agent_xfer_remove_tree(struct agent_conn *c, uint64_t id, char *path, int dir_fd,
                           const char *last)
{
	struct proto_why why = { "" };
	struct agent_xfer *x;
	int err;

	x = agent_xfer_new(c, id, AGENT_X_REMOVE, path, &err, &why);
	if (!x) {
		close(dir_fd);
		agent_conn_error(c, id, err, why.text);
		return 0;
	}
	err = proto_walk_new(&x->walk, dir_fd, last, PROTO_WALK_POST | PROTO_WALK_XDEV);
	close(dir_fd);
	if (err)
		agent_xfer_fail(c, x, err, "remove", NULL);
	return 0;
}

/* remove_step: the next batch of a recursive fs.remove, depth first. */
static void remove_step(struct agent_conn *c, struct agent_xfer *x)
{
	struct proto_walk_ent e;
	int err = 1;

	for (int i = 0; i < REMOVE_BATCH && err == 1; i++) {
		err = proto_walk_next(x->walk, &e);
		if (err != 1)
			break;
		if (S_ISDIR(e.st.st_mode) && !e.post)
			continue; /* its contents first */
		if (unlinkat(e.dir_fd, e.name, S_ISDIR(e.st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
			if (errno == ENOENT)
				continue;
			agent_xfer_fail(c, x, -errno, "remove", e.path);
			return;
		}
		x->count++;
	}
	if (err < 0) {
		agent_xfer_fail(c, x, err, "remove", proto_walk_path(x->walk));
		return;
	}
	if (err == 1)
		return;
	agent_conn_reply(c, x->id, json_pack("{sI}", "removed", (json_int_t)x->count));
	agent_xfer_end(c, x);
}

int agent_op_fs_tar_out(struct agent_conn *c, uint64_t id, const json_t *msg,
                        const struct proto_frame *f, struct proto_why *why)
{
	struct agent_xfer *x;
	char *path, *last, *name = NULL;
	const json_t *v = json_object_get(msg, "name");
	int dir, err = proto_msg_get_path(msg, "path", &path, 0, why);

	(void)f;
	if (err)
		return err;
	if (json_is_string(v) && json_string_length(v) == 0)
		name = strdup(""); /* the contents alone (not a path: it may be empty) */
	else
		err = proto_msg_get_path(msg, "name", &name, PROTO_OPTIONAL, why);
	if (err) {
		free(path);
		return err;
	}
	x = agent_xfer_new(c, id, AGENT_X_TAR_OUT, path, &err, why);
	if (!x) {
		free(name);
		return err;
	}
	err = agent_fs_parent(c->srv, path, &dir, &last);
	if (!err) {
		struct proto_why w = { "" };

		err = proto_mktar_new(&x->mktar, dir, last,
		                      name                     ? name
		                      : strcmp(last, ".") == 0 ? ""
		                                               : last,
		                      &w);
		close(dir);
		free(last);
	}
	free(name);
	if (err)
		agent_xfer_fail(c, x, err, "tar_out", NULL);
	return 0;
}

/* tar_out_step: the next chunk of an fs.tar_out's stream, or its reply. */
static void tar_out_step(struct agent_conn *c, struct agent_xfer *x)
{
	uint8_t *buf = agent_xfer_chunk(c->srv);
	struct proto_why why = { "" };
	uint64_t entries, skipped, changed;
	const char *rel;
	json_t *m = NULL;
	size_t len;
	int err =
	    buf ? proto_mktar_read(x->mktar, buf, AGENT_FILE_CHUNK, &len, &rel, &why) : -ENOMEM;

	if (err) {
		agent_xfer_fail_why(c, x, err, "tar_out", buf ? rel : NULL, why.text);
		return;
	}
	if (len) {
		if (proto_msg_event(&m, x->id, "fs.data") != 0)
			m = NULL;
		agent_conn_send(c, m, buf, len);
		return;
	}
	proto_mktar_counts(x->mktar, &entries, &skipped, &changed);
	agent_conn_reply(c, x->id,
	                 json_pack("{sIsIsI}", "entries", (json_int_t)entries, "skipped",
	                           (json_int_t)skipped, "changed", (json_int_t)changed));
	agent_xfer_end(c, x);
}

void agent_tree_step(struct agent_conn *c, struct agent_xfer *x)
{
	switch (x->kind) {
	case AGENT_X_LIST:
		list_step(c, x);
		break;
	case AGENT_X_REMOVE:
		remove_step(c, x);
		break;
	case AGENT_X_TAR_OUT:
		tar_out_step(c, x);
		break;
	default:
		break;
	}
}

int agent_op_fs_tar_in(struct agent_conn *c, uint64_t id, const json_t *msg,
                       const struct proto_frame *f, struct proto_why *why)
{
	bool owner = false, eof = false;
	struct agent_xfer *x;
	char *path;
	int err = proto_msg_get_bool(msg, "owner", &owner, PROTO_OPTIONAL, why) ?:
	          proto_msg_get_bool(msg, "eof", &eof, PROTO_OPTIONAL, why) ?:
	          proto_msg_get_path(msg, "path", &path, 0, why);

	if (err)
		return err;
	x = agent_xfer_new(c, id, AGENT_X_TAR_IN, path, &err, why);
	if (!x)
		return err;
	x->fd = agent_fs_open(c->srv, path, O_PATH | O_DIRECTORY);
	err = x->fd < 0 ? x->fd : proto_untar_new(&x->untar, x->fd, owner);
	if (err) {
		agent_xfer_fail(c, x, err, "open", NULL);
		return 0;
	}
	agent_tar_in_feed(c, x, id, f->body, f->body_len, eof);
	return 0;
}

void agent_tar_in_feed(struct agent_conn *c, struct agent_xfer *x, uint64_t id, const void *p,
                       size_t n, bool eof)
{
	struct proto_why why = { "" };
	uint64_t entries, skipped;
	const char *bad = NULL;
	int err = proto_untar_feed(x->untar, p, n, &bad, &why);

	if (!err && eof)
		err = proto_untar_finish(x->untar, &why);
	if (err) {
		x->id = id; /* the error answers this frame's request */
		agent_xfer_fail_why(c, x, err, "tar_in", bad, why.text);
		return;
	}
	if (!eof) {
		agent_conn_reply(c, id, NULL);
		return;
	}
	proto_untar_counts(x->untar, &entries, &skipped);
	agent_conn_reply(
	    c, id,
	    json_pack("{sIsI}", "entries", (json_int_t)entries, "skipped", (json_int_t)skipped));
	agent_xfer_end(c, x);
}

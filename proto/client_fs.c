// SPDX-License-Identifier: MIT
/*
 * client_fs: the host side of the file operations (client_fs.h): the
 * exchange of one request and its answer, transfers out of the guest
 * (events until the reply) and into it (fs.write or fs.tar_in and a
 * train of fs.data, each chunk sent as the socket takes it while the
 * answers are read as they come, at most FS_WINDOW chunks unanswered).
 * The tar side (a tree in or out) is client_tar.c.
 */
#define _GNU_SOURCE
#include "proto/client_fs.h"
#include "proto/client_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FS_WINDOW 16 /* fs.data requests sent and not yet answered, at most */

_Static_assert(PROTO_FS_CHUNK <= PROTO_MAX_BODY, "a chunk fits a frame's body");

/* fs_error: the -errno for an error answer; why and st say what and where. */
static int fs_error(const json_t *msg, const struct proto_env *env, struct proto_fs_status *st,
                    struct proto_why *why)
{
	const json_t *e = json_object_get(msg, "error");
	int v = proto_errno_value(json_string_value(json_object_get(e, "errno")));
	char *path = NULL;

	if (st)
		st->remote = true;
	if (proto_bytes_get(json_object_get(e, "path"), "path", &path, NULL, PROTO_PATH_MAX,
	                    NULL) == 0 &&
	    st)
		snprintf(st->path, sizeof(st->path), "%s", path);
	free(path);
	proto_why_set(why, "%s", env->err_msg);
	if (v)
		return -v;
	if (env->id == 0)
		return -ECONNABORTED; /* about the connection: nothing more will come */
	if (strcmp(env->err_code, PROTO_ERR_NOT_FOUND) == 0)
		return -ENOENT;
	if (strcmp(env->err_code, PROTO_ERR_UNAVAILABLE) == 0)
		return -EHOSTUNREACH;
	proto_why_set(why, "%s: %s", env->err_code, env->err_msg);
	return -EIO;
}

/*
 * fs_classify: what frame f is to request id: 1 its reply, 2 its event,
 * 0 not ours, or the -errno of an error answer (ours, or id 0's).
 */
static int fs_classify(const struct proto_frame *f, uint64_t id, struct proto_env *env,
                       struct proto_fs_status *st, struct proto_why *why)
{
	if (proto_msg_parse_env(f->msg, env, why))
		return -EPROTO;
	if (env->type == PROTO_ERROR && (env->id == id || env->id == 0))
		return fs_error(f->msg, env, st, why);
	if (env->id != id)
		return 0;
	return env->type == PROTO_REPLY ? 1 : env->type == PROTO_EVENT ? 2 : 0;
}

/* fs_reset: a status for a new call. */
static void fs_reset(struct proto_fs_status *st)
{
	if (st)
		memset(st, 0, sizeof(*st));
}

/* fs_far: a failure of the connection, which is the far side's as far as the caller goes. */
static int fs_far(struct proto_fs_status *st, int err)
{
	if (st && err < 0)
		st->remote = true;
	return err;
}

/* fs_send: req (consumed) as request of a new id, with body; the id in *id. */
static int fs_send(struct proto_client *c, json_t *req, const void *body, size_t len, uint64_t *id,
                   struct proto_why *why)
{
	int err;

	*id = c->next_id++;
	if (!req || json_object_set_new(req, "id", json_integer((json_int_t)*id)) != 0) {
		json_decref(req);
		return -ENOMEM;
	}
	err = proto_client_send(c, req, body, len);
	if (err)
		proto_why_set(why, "sending to the agent: %s", strerror(-err));
	return err;
}

/* fs_next: the next frame, with a reason when the stream failed. */
static int fs_next(struct proto_client *c, struct proto_frame *f, struct proto_why *why)
{
	int err = proto_client_next(c, f);

	if (err)
		proto_why_set(why, "%s", err == -EPIPE ? "the connection closed" : strerror(-err));
	return err;
}

int proto_client_fs_call(struct proto_client *c, json_t *req, const void *body, size_t len,
                         json_t **reply, struct proto_fs_status *st, struct proto_why *why)
{
	struct proto_frame f = { 0 };
	struct proto_env env;
	uint64_t id;
	int err;

	fs_reset(st);
	err = fs_far(st, fs_send(c, req, body, len, &id, why));
	if (reply)
		*reply = NULL;
	while (!err && !(err = fs_far(st, fs_next(c, &f, why)))) {
		int k = fs_classify(&f, id, &env, st, why);

		if (k == 1 && reply)
			*reply = json_incref(f.msg);
		proto_frame_clear(&f);
		if (k == 1 || k < 0)
			return k < 0 ? k : 0;
	}
	return err;
}

/* fs_req: a new request object for op with the path field set; NULL: ENOMEM. */
static json_t *fs_req(const char *op, const char *key, const char *path)
{
	json_t *req = NULL;

	if (proto_msg_request(&req, 0, op) || proto_msg_set_path(req, key, path)) {
		json_decref(req);
		return NULL;
	}
	return req;
}

int proto_client_fs_stat(struct proto_client *c, const char *path, bool follow,
                         struct proto_fs_stat *out, struct proto_why *why)
{
	json_t *req = fs_req("fs.stat", "path", path), *r;
	int err;

	if (req && follow)
		json_object_set_new(req, "follow", json_true());
	err = proto_client_fs_call(c, req, NULL, 0, &r, NULL, why);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	snprintf(out->kind, sizeof(out->kind), "%s",
	         json_string_value(json_object_get(r, "kind")) ?: "");
	out->size = (uint64_t)json_integer_value(json_object_get(r, "size"));
	out->nlink = (uint64_t)json_integer_value(json_object_get(r, "nlink"));
	out->mode = (uint32_t)json_integer_value(json_object_get(r, "mode")) & 07777;
	out->uid = (uint32_t)json_integer_value(json_object_get(r, "uid"));
	out->gid = (uint32_t)json_integer_value(json_object_get(r, "gid"));
	out->mtime = json_integer_value(json_object_get(r, "mtime"));
	out->mtime_nsec = (uint32_t)json_integer_value(json_object_get(r, "mtime_nsec"));
	json_decref(r);
	return 0;
}

int proto_client_fs_mkdir(struct proto_client *c, const char *path, uint32_t mode, bool parents,
                          struct proto_why *why)
{
	json_t *req = fs_req("fs.mkdir", "path", path);

	if (req)
		json_object_set_new(req, "mode", json_integer(mode & 07777));
	if (req && parents)
		json_object_set_new(req, "parents", json_true());
	return proto_client_fs_call(c, req, NULL, 0, NULL, NULL, why);
}

int proto_client_fs_remove(struct proto_client *c, const char *path, bool recursive,
                           struct proto_why *why)
{
	json_t *req = fs_req("fs.remove", "path", path);

	if (req && recursive)
		json_object_set_new(req, "recursive", json_true());
	return proto_client_fs_call(c, req, NULL, 0, NULL, NULL, why);
}

int proto_client_fs_rename(struct proto_client *c, const char *from, const char *to, bool overwrite,
                           struct proto_why *why)
{
	json_t *req = fs_req("fs.rename", "from", from);

	if (req && (proto_msg_set_path(req, "to", to) ||
	            (!overwrite && proto_msg_set_bool(req, "overwrite", false)))) {
		json_decref(req);
		req = NULL;
	}
	return proto_client_fs_call(c, req, NULL, 0, NULL, NULL, why);
}

int proto_client_fs_chmod(struct proto_client *c, const char *path, uint32_t mode,
                          struct proto_why *why)
{
	json_t *req = fs_req("fs.chmod", "path", path);

	if (req && proto_msg_set_u64(req, "mode", mode & 07777)) {
		json_decref(req);
		req = NULL;
	}
	return proto_client_fs_call(c, req, NULL, 0, NULL, NULL, why);
}

int proto_client_fs_chown(struct proto_client *c, const char *path, uint32_t uid, uint32_t gid,
                          bool follow, struct proto_why *why)
{
	json_t *req;

	/* docs/protocol.md: at least one of them; (uint32_t)-1 is "unchanged", as for chown(2). */
	if (uid == UINT32_MAX && gid == UINT32_MAX) {
		proto_why_set(why, "fs.chown: neither uid nor gid");
		return -EINVAL;
	}
	req = fs_req("fs.chown", "path", path);
	if (req && ((uid != UINT32_MAX && proto_msg_set_u64(req, "uid", uid)) ||
	            (gid != UINT32_MAX && proto_msg_set_u64(req, "gid", gid)) ||
	            (follow && proto_msg_set_bool(req, "follow", true)))) {
		json_decref(req);
		req = NULL;
	}
	return proto_client_fs_call(c, req, NULL, 0, NULL, NULL, why);
}

/*
 * proto_client_fs_stream: send req (consumed) and give each of its events
 * to on_event until its reply (in *reply, may be NULL) or error.
 * on_event returns 0 or a -errno that ends the call.
 */
int proto_client_fs_stream(struct proto_client *c, json_t *req, proto_fs_event_fn *on_event,
                           void *opaque, json_t **reply, struct proto_fs_status *st,
                           struct proto_why *why)
{
	struct proto_frame f = { 0 };
	struct proto_env env;
	uint64_t id;
	int err = fs_far(st, fs_send(c, req, NULL, 0, &id, why));

	while (!err && !(err = fs_far(st, fs_next(c, &f, why)))) {
		int k = fs_classify(&f, id, &env, st, why);

		if (k == 2)
			k = on_event(opaque, &f, st, why);
		else if (k == 1 && reply)
			*reply = json_incref(f.msg);
		proto_frame_clear(&f);
		if (k < 0 || k == 1)
			return k < 0 ? k : 0;
	}
	return err;
}

/* to_fd: an fs.data event's body written to the fd in opaque. */
static int to_fd(void *opaque, const struct proto_frame *f, struct proto_fs_status *st,
                 struct proto_why *why)
{
	int err =
	    f->body_len ? proto_client_write_all(*(int *)opaque, f->body, f->body_len, false) : 0;

	if (err) {
		proto_why_set(why, "writing the local file: %s", strerror(-err));
		return err;
	}
	if (st)
		st->bytes += f->body_len;
	return 0;
}

int proto_client_fs_read(struct proto_client *c, const char *path, int out_fd,
                         struct proto_fs_status *st, struct proto_why *why)
{
	fs_reset(st);
	return proto_client_fs_stream(c, fs_req("fs.read", "path", path), to_fd, &out_fd, NULL, st,
	                              why);
}

/* One entry list's events for the caller's function. */
struct fs_lister {
	proto_fs_entry_fn *fn;
	void *opaque;
};

static int entries(void *opaque, const struct proto_frame *f, struct proto_fs_status *st,
                   struct proto_why *why)
{
	const struct fs_lister *l = opaque;
	const json_t *a = json_object_get(f->msg, "entries");
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
	{
		int err = l->fn(e, l->opaque);

		if (err) {
			proto_why_set(why, "stopped: %s", strerror(err < 0 ? -err : err));
			return err < 0 ? err : -ECANCELED;
		}
		if (st)
			st->entries++;
	}
	return 0;
}

int proto_client_fs_list(struct proto_client *c, const char *path, bool recursive, uint64_t limit,
                         proto_fs_entry_fn *fn, void *opaque, struct proto_fs_status *st,
                         struct proto_why *why)
{
	struct fs_lister l = { fn, opaque };
	json_t *req = fs_req("fs.list", "path", path), *r = NULL;
	int err;

	fs_reset(st);
	if (req && recursive)
		json_object_set_new(req, "recursive", json_true());
	if (req && limit)
		json_object_set_new(req, "limit", json_integer((json_int_t)limit));
	err = proto_client_fs_stream(c, req, entries, &l, &r, st, why);
	if (!err && st)
		st->truncated = json_is_true(json_object_get(r, "truncated"));
	json_decref(r);
	return err;
}

/*
 * fs_answer_one: read frames until the answer to request id (an upload's
 * chunks are answered in order): 1 with its reply in *reply (the caller's
 * to free), or the -errno of an error answer. block: wait for it; else 0
 * when none has come yet. A stream that failed sets *dead.
 */
static int fs_answer_one(struct proto_client *c, uint64_t id, bool block, json_t **reply,
                         bool *dead, struct proto_fs_status *st, struct proto_why *why)
{
	struct proto_frame f = { 0 };
	struct proto_env env;

	for (;;) {
		int k = proto_client_take(c, &f);

		if (k == 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };

			if (!block && poll(&p, 1, 0) == 0)
				return 0;
			k = fs_next(c, &f, why);
		} else if (k < 0) {
			proto_why_set(why, "from the agent: %s", proto_decoder_why(&c->dec));
		}
		if (k < 0) {
			*dead = true;
			return fs_far(st, k);
		}
		k = fs_classify(&f, id, &env, st, why);
		if (k == 1) {
			json_decref(*reply);
			*reply = json_incref(f.msg);
		}
		proto_frame_clear(&f);
		if (k == -EPROTO || (k < 0 && env.id == 0))
			*dead = true;
		if (k == 1 || k < 0)
			return k;
	}
}

int proto_client_fs_upload(struct proto_client *c, json_t *req, proto_fs_fill_fn *fill,
                           void *opaque, json_t **reply, struct proto_fs_status *st,
                           struct proto_why *why)
{
	size_t cap = PROTO_FS_CHUNK, have[2] = { 0, 0 };
	uint8_t *buf[2] = { malloc(cap), malloc(cap) };
	uint64_t xid, next, sent = 0, answered = 0;
	int err = buf[0] && buf[1] ? 0 : -ENOMEM, cur;
	bool eof, dead = false;

	*reply = NULL;
	/* One chunk ahead, so that the last chunk carries eof. */
	if (!err)
		err = fill(opaque, buf[0], cap, &have[0], st, why);
	if (!err && have[0])
		err = fill(opaque, buf[1], cap, &have[1], st, why);
	eof = !have[1];
	if (!err && (!req || json_object_set_new(req, "eof", json_boolean(eof)) != 0))
		err = -ENOMEM;
	if (err) {
		json_decref(req);
		goto out;
	}
	err = fs_far(st, fs_send(c, req, buf[0], have[0], &xid, why));
	/* Its answer first: a file that cannot be opened stops us before any data. */
	if (!err && (err = fs_answer_one(c, xid, true, reply, &dead, st, why)) == 1)
		err = 0;
	next = c->next_id;
	for (cur = 1; !err && !eof; cur ^= 1) {
		json_t *d = NULL;
		uint64_t id;

		err = fill(opaque, buf[cur ^ 1], cap, &have[cur ^ 1], st, why);
		eof = !have[cur ^ 1];
		if (!err && (proto_msg_request(&d, 0, "fs.data") ||
		             json_object_set_new(d, "xfer_id", json_integer((json_int_t)xid)) ||
		             json_object_set_new(d, "eof", json_boolean(eof))))
			err = -ENOMEM;
		if (!err)
			err = fs_far(st, fs_send(c, d, buf[cur], have[cur], &id, why));
		else
			json_decref(d);
		if (!err)
			sent++;
		/* Take the answers that are there; wait when FS_WINDOW are out. */
		while (!err && answered < sent) {
			int k = fs_answer_one(c, next + answered, sent - answered >= FS_WINDOW,
			                      reply, &dead, st, why);

			if (k == 0)
				break;
			err = k < 0 ? k : 0;
			answered++;
		}
	}
	/* The rest of the answers, the last one the transfer's reply; after a
	 * failure, read only to keep the stream in step for the next request. */
	while (answered < sent && !dead) {
		int k = fs_answer_one(c, next + answered, true, reply, &dead, err ? NULL : st,
		                      err ? NULL : why);

		if (k < 0 && !err)
			err = k;
		answered++;
	}
out:
	free(buf[0]);
	free(buf[1]);
	return err;
}

/* from_fd: the next bytes of the fd in opaque (a full chunk unless its end). */
static int from_fd(void *opaque, uint8_t *buf, size_t cap, size_t *len, struct proto_fs_status *st,
                   struct proto_why *why)
{
	size_t n = 0;

	(void)st;
	while (n < cap) {
		ssize_t r = read(*(int *)opaque, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			proto_why_set(why, "reading the local file: %s", strerror(errno));
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return 0;
}

int proto_client_fs_write(struct proto_client *c, const char *path, uint32_t mode, int in_fd,
                          struct proto_fs_status *st, struct proto_why *why)
{
	json_t *req = fs_req("fs.write", "path", path), *r = NULL;
	int err;

	fs_reset(st);
	if (req)
		json_object_set_new(req, "mode", json_integer(mode & 07777));
	err = proto_client_fs_upload(c, req, from_fd, &in_fd, &r, st, why);
	if (!err && st)
		st->bytes = (uint64_t)json_integer_value(json_object_get(r, "size"));
	json_decref(r);
	return err;
}

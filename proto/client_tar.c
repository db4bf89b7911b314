// SPDX-License-Identifier: MIT
/*
 * client_tar: trees in and out of the guest (client_fs.h): fs.tar_out's
 * stream extracted here with proto_untar beneath a local folder (the
 * guest's stream is untrusted: an entry that would leave the folder ends
 * the copy with -EXDEV), and a local tree made into a stream with
 * proto_mktar for fs.tar_in, a chunk at a time.
 */
#define _GNU_SOURCE
#include "proto/client_fs.h"
#include "proto/client_int.h"
#include "proto/msg.h"
#include "proto/tar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* untar_event: an fs.data event of tar_out into the extraction in opaque. */
static int untar_event(void *opaque, const struct proto_frame *f, struct proto_fs_status *st,
                       struct proto_why *why)
{
	const char *bad = NULL;
	int err = proto_untar_feed(opaque, f->body, f->body_len, &bad, why);

	if (err && st) {
		st->remote = false;
		snprintf(st->path, sizeof(st->path), "%s", bad ? bad : "");
	}
	return err;
}

int proto_client_fs_tar_out(struct proto_client *c, const char *path, const char *name, int dir_fd,
                            struct proto_fs_status *st, struct proto_why *why)
{
	json_t *req = NULL, *r = NULL;
	struct proto_untar *u;
	int err = proto_untar_new(&u, dir_fd, false);

	if (st)
		memset(st, 0, sizeof(*st));
	/* name may be "" (not a path: the contents alone), which
	 * proto_msg_set_path writes as "" too. */
	if (!err &&
	    (proto_msg_request(&req, 0, "fs.tar_out") || proto_msg_set_path(req, "path", path) ||
	     (name && proto_msg_set_path(req, "name", name))))
		err = -ENOMEM;
	if (err) {
		json_decref(req);
		proto_untar_free(u);
		return err;
	}
	err = proto_client_fs_stream(c, req, untar_event, u, &r, st, why);
	if (!err && (err = proto_untar_finish(u, why)) != 0 && st)
		st->remote = false;
	if (!err && st) {
		proto_untar_counts(u, &st->entries, &st->skipped);
		st->changed = (uint64_t)json_integer_value(json_object_get(r, "changed"));
	}
	json_decref(r);
	proto_untar_free(u);
	return err;
}

/* mktar_fill: the next chunk of the local stream. */
static int mktar_fill(void *opaque, uint8_t *buf, size_t cap, size_t *len,
                      struct proto_fs_status *st, struct proto_why *why)
{
	const char *rel = NULL;
	int err = proto_mktar_read(opaque, buf, cap, len, &rel, why);

	if (err && st) {
		st->remote = false;
		snprintf(st->path, sizeof(st->path), "%s", rel ? rel : "");
	}
	return err;
}

int proto_client_fs_tar_in(struct proto_client *c, const char *path, int src_dir_fd,
                           const char *src_name, const char *top, struct proto_fs_status *st,
                           struct proto_why *why)
{
	struct proto_mktar *t;
	json_t *req = NULL, *r = NULL;
	int err = proto_mktar_new(&t, src_dir_fd, src_name, top, why);

	if (st)
		memset(st, 0, sizeof(*st));
	if (err) {
		if (st) {
			st->remote = false;
			st->path[0] = '\0';
		}
		return err;
	}
	if (proto_msg_request(&req, 0, "fs.tar_in") || proto_msg_set_path(req, "path", path)) {
		json_decref(req);
		proto_mktar_free(t);
		return -ENOMEM;
	}
	err = proto_client_fs_upload(c, req, mktar_fill, t, &r, st, why);
	if (!err && st)
		st->entries = (uint64_t)json_integer_value(json_object_get(r, "entries"));
	json_decref(r);
	proto_mktar_free(t);
	return err;
}

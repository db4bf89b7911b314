/* SPDX-License-Identifier: MIT */
/*
 * fuse_client.h: a small FUSE client for unit tests: it builds requests as
 * the Linux driver lays them out (<linux/fuse.h>: fuse_in_header, the
 * op's arguments, names NUL-terminated) and sends them through a function
 * the test gives (the server directly, or the virtio-fs device through a
 * simulated driver). Everything is static inline: include it from any test.
 */
#ifndef KVMBOX_TESTS_FUSE_CLIENT_H
#define KVMBOX_TESTS_FUSE_CLIENT_H

#include <errno.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FC_REQ_MAX   (2u << 20)
#define FC_REPLY_MAX (2u << 20)
#define FC_NO_REPLY  1 /* fc_send: the server sent nothing */

struct fc;

/* The transport: in bytes -> reply into out (room bytes); returns its length. */
typedef uint32_t fc_send_fn(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out,
                            uint32_t room);

struct fc {
	fc_send_fn *send;
	void *opaque;
	uint8_t *req;   /* FC_REQ_MAX */
	uint8_t *reply; /* FC_REPLY_MAX: fuse_out_header, then the payload */
	uint32_t len;   /* request bytes so far */
	uint32_t reply_len;
	uint32_t room; /* reply room offered with the next send */
	uint64_t unique;
	uint32_t uid, gid;
	int32_t force_len; /* >= 0: the header's len field, whatever the size */
};

static inline void fc_init(struct fc *c, fc_send_fn *send, void *opaque)
{
	memset(c, 0, sizeof(*c));
	c->send = send;
	c->opaque = opaque;
	c->req = calloc(1, FC_REQ_MAX);
	c->reply = calloc(1, FC_REPLY_MAX);
	c->room = FC_REPLY_MAX;
	c->force_len = -1;
	if (!c->req || !c->reply)
		abort();
}

static inline void fc_fini(struct fc *c)
{
	free(c->req);
	free(c->reply);
}

static inline void fc_start(struct fc *c, uint32_t opcode, uint64_t nodeid)
{
	struct fuse_in_header h = {
		.opcode = opcode,
		.nodeid = nodeid,
		.unique = ++c->unique,
		.uid = c->uid,
		.gid = c->gid,
		.pid = 1,
	};

	memcpy(c->req, &h, sizeof(h));
	c->len = sizeof(h);
}

static inline void fc_add(struct fc *c, const void *p, size_t n)
{
	if (n > FC_REQ_MAX - c->len)
		abort();
	memcpy(c->req + c->len, p, n);
	c->len += (uint32_t)n;
}

static inline void fc_str(struct fc *c, const char *s)
{
	fc_add(c, s, strlen(s) + 1);
}

/*
 * fc_send: finish the header and send. Returns the reply's error (0 or
 * -errno), FC_NO_REPLY, or -EBADMSG when the reply is malformed (its len
 * disagrees, or its unique is not the request's).
 */
static inline int fc_send(struct fc *c)
{
	struct fuse_out_header oh;
	uint32_t len = c->force_len >= 0 ? (uint32_t)c->force_len : c->len;

	memcpy(c->req, &len, sizeof(len));
	c->force_len = -1;
	c->reply_len = c->send(c, c->req, c->len, c->reply, c->room);
	c->room = FC_REPLY_MAX;
	if (c->reply_len == 0)
		return FC_NO_REPLY;
	memcpy(&oh, c->reply, sizeof(oh));
	if (c->reply_len < sizeof(oh) || oh.len != c->reply_len)
		return -EBADMSG;
	if (oh.unique != c->unique && c->len >= sizeof(struct fuse_in_header))
		return -EBADMSG;
	if (oh.error && oh.len != sizeof(oh))
		return -EBADMSG;
	return oh.error;
}

/* fc_payload: the reply after its header. */
static inline void *fc_payload(struct fc *c)
{
	return c->reply + sizeof(struct fuse_out_header);
}

static inline uint32_t fc_payload_len(const struct fc *c)
{
	return c->reply_len - (uint32_t)sizeof(struct fuse_out_header);
}

static inline int fc_init_session(struct fc *c)
{
	struct fuse_init_in in = {
		.major = 7,
		.minor = 36,
		.max_readahead = 1 << 17,
		.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES | FUSE_INIT_EXT |
		         FUSE_WRITEBACK_CACHE | FUSE_EXPORT_SUPPORT,
	};

	fc_start(c, FUSE_INIT, 0);
	fc_add(c, &in, sizeof(in));
	return fc_send(c);
}

/* fc_entry: name beneath parent: LOOKUP, MKDIR (mode), or what op says. */
static inline int fc_lookup(struct fc *c, uint64_t parent, const char *name,
                            struct fuse_entry_out *e)
{
	int err;

	fc_start(c, FUSE_LOOKUP, parent);
	fc_str(c, name);
	err = fc_send(c);
	if (!err && e)
		memcpy(e, fc_payload(c), sizeof(*e));
	return err;
}

static inline int fc_mkdir(struct fc *c, uint64_t parent, const char *name, uint32_t mode,
                           struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = { .mode = mode, .umask = 0 };
	int err;

	fc_start(c, FUSE_MKDIR, parent);
	fc_add(c, &in, sizeof(in));
	fc_str(c, name);
	err = fc_send(c);
	if (!err && e)
		memcpy(e, fc_payload(c), sizeof(*e));
	return err;
}

static inline int fc_create(struct fc *c, uint64_t parent, const char *name, uint32_t flags,
                            uint32_t mode, struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | mode };
	int err;

	fc_start(c, FUSE_CREATE, parent);
	fc_add(c, &in, sizeof(in));
	fc_str(c, name);
	err = fc_send(c);
	if (!err) {
		struct fuse_open_out o;

		if (e)
			memcpy(e, fc_payload(c), sizeof(*e));
		memcpy(&o, (uint8_t *)fc_payload(c) + sizeof(*e), sizeof(o));
		if (fh)
			*fh = o.fh;
	}
	return err;
}

static inline int fc_open(struct fc *c, uint32_t op, uint64_t nodeid, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	int err;

	fc_start(c, op, nodeid);
	fc_add(c, &in, sizeof(in));
	err = fc_send(c);
	if (!err && fh)
		*fh = ((struct fuse_open_out *)fc_payload(c))->fh;
	return err;
}

static inline int fc_release(struct fc *c, uint32_t op, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };

	fc_start(c, op, nodeid);
	fc_add(c, &in, sizeof(in));
	return fc_send(c);
}

/* fc_write: the written size (>= 0) or -errno. */
static inline int fc_write(struct fc *c, uint64_t nodeid, uint64_t fh, uint64_t off,
                           const void *data, uint32_t len)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = len };
	int err;

	fc_start(c, FUSE_WRITE, nodeid);
	fc_add(c, &in, sizeof(in));
	fc_add(c, data, len);
	err = fc_send(c);
	return err ? err : (int)((struct fuse_write_out *)fc_payload(c))->size;
}

/* fc_read: bytes read into fc_payload (>= 0) or -errno. */
static inline int fc_read(struct fc *c, uint32_t op, uint64_t nodeid, uint64_t fh, uint64_t off,
                          uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	int err;

	fc_start(c, op, nodeid);
	fc_add(c, &in, sizeof(in));
	err = fc_send(c);
	return err ? err : (int)fc_payload_len(c);
}

static inline int fc_getattr(struct fc *c, uint64_t nodeid, struct fuse_attr *a)
{
	struct fuse_getattr_in in = { 0 };
	int err;

	fc_start(c, FUSE_GETATTR, nodeid);
	fc_add(c, &in, sizeof(in));
	err = fc_send(c);
	if (!err && a)
		*a = ((struct fuse_attr_out *)fc_payload(c))->attr;
	return err;
}

static inline int fc_forget(struct fc *c, uint64_t nodeid, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };

	fc_start(c, FUSE_FORGET, nodeid);
	fc_add(c, &in, sizeof(in));
	return fc_send(c);
}

static inline int fc_name_op(struct fc *c, uint32_t op, uint64_t parent, const char *name)
{
	fc_start(c, op, parent);
	fc_str(c, name);
	return fc_send(c);
}

static inline int fc_rename(struct fc *c, uint64_t dir, const char *name, uint64_t newdir,
                            const char *newname, uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newdir, .flags = flags };

	fc_start(c, FUSE_RENAME2, dir);
	fc_add(c, &in, sizeof(in));
	fc_str(c, name);
	fc_str(c, newname);
	return fc_send(c);
}

static inline int fc_link(struct fc *c, uint64_t old, uint64_t newdir, const char *name,
                          struct fuse_entry_out *e)
{
	struct fuse_link_in in = { .oldnodeid = old };
	int err;

	fc_start(c, FUSE_LINK, newdir);
	fc_add(c, &in, sizeof(in));
	fc_str(c, name);
	err = fc_send(c);
	if (!err && e)
		memcpy(e, fc_payload(c), sizeof(*e));
	return err;
}

static inline int fc_symlink(struct fc *c, uint64_t dir, const char *name, const char *target,
                             struct fuse_entry_out *e)
{
	int err;

	fc_start(c, FUSE_SYMLINK, dir);
	fc_str(c, name);
	fc_str(c, target);
	err = fc_send(c);
	if (!err && e)
		memcpy(e, fc_payload(c), sizeof(*e));
	return err;
}

#endif

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the FUSE server's data path (fuse.h, "The data path";
 * virtio/fuse_io.c): every case of fuse_cases.h again, with READ and WRITE
 * taken through fuse_srv_io_prep / _sync / _done as virtio-fs takes them
 * onto its ring (everything else, and whatever prep declines, through
 * fuse_srv_handle); then what only the split does: a RELEASE or a reset
 * that comes between prep and done, which must leave the descriptor open
 * (its number not reused) until done, and the requests prep must leave to
 * fuse_srv_handle.
 */
#define _GNU_SOURCE
#define RIG_OWN_FDS 0
#include "fuse_cases.h"

/* rig_send: as test_fuse.c's (three odd iovecs each way), through the
 * data path where prep takes the request. */
static uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room)
{
	struct rig *r = c->opaque;
	struct iovec iv[3], ov[3], data[3];
	struct fuse_io io = { .iov = data, .iov_max = 3 };

	rig_cut3(in, in_len, out, room, iv, ov);
	if (fuse_srv_io_prep(r->s, iv, 3, ov, 3, &io))
		return fuse_srv_io_done(r->s, &io, fuse_srv_io_sync(&io));
	return fuse_srv_handle(r->s, iv, 3, ov, 3);
}

static int rig_attach(struct rig *r, const struct fuse_srv_params *p)
{
	return fuse_srv_create(&r->s, p);
}

static void rig_detach(struct rig *r)
{
	fuse_srv_destroy(r->s);
}

/* A request built by hand, for prep. */
struct raw {
	uint8_t in[4096], out[4096];
	struct iovec iv, ov, data[4];
	struct fuse_io io;
};

static void raw_rw(struct raw *q, uint32_t opcode, uint64_t fh, uint64_t off, uint32_t size,
                   const char *data)
{
	struct fuse_in_header h = { .opcode = opcode, .unique = 42, .nodeid = 2 };
	struct fuse_read_in rd = { .fh = fh, .offset = off, .size = size };
	struct fuse_write_in wr = { .fh = fh, .offset = off, .size = size };
	uint32_t dlen = data ? (uint32_t)strlen(data) : 0;

	memset(q, 0, sizeof(*q));
	h.len = (uint32_t)sizeof(h) + (opcode == FUSE_WRITE ? sizeof(wr) + dlen : sizeof(rd));
	memcpy(q->in, &h, sizeof(h));
	if (opcode == FUSE_WRITE) {
		memcpy(q->in + sizeof(h), &wr, sizeof(wr));
		memcpy(q->in + sizeof(h) + sizeof(wr), data, dlen);
	} else {
		memcpy(q->in + sizeof(h), &rd, sizeof(rd));
	}
	q->iv = (struct iovec){ q->in, h.len };
	q->ov = (struct iovec){ q->out, sizeof(q->out) };
	q->io = (struct fuse_io){ .iov = q->data, .iov_max = 4 };
}

static bool raw_prep(struct rig *r, struct raw *q)
{
	return fuse_srv_io_prep(r->s, &q->iv, 1, &q->ov, 1, &q->io);
}

static int raw_error(const struct raw *q)
{
	struct fuse_out_header oh;

	memcpy(&oh, q->out, sizeof(oh));
	return oh.error;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* open_file: "f" in the share with `data`, opened read-write: its fh. */
static uint64_t open_file(struct rig *r, const char *data, uint64_t *node)
{
	struct fuse_entry_out e;
	uint64_t fh = 0;

	put_file(r->dfd, "f", data);
	if (fc_lookup(&r->c, FUSE_ROOT_ID, "f", &e) ||
	    fc_open(&r->c, FUSE_OPEN, e.nodeid, O_RDWR, &fh))
		abort();
	*node = e.nodeid;
	return fh;
}

/* READ and WRITE take the data path; their bytes are right. */
TEST(test_io_taken)
{
	struct fuse_srv_stats st;
	struct rig r;
	uint64_t node, fh;

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	fh = open_file(&r, "0123456789", &node);
	CHECK_ERR(fc_write(&r.c, node, fh, 2, "ab", 2), 2);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, node, fh, 0, 100), 10);
	CHECK(memcmp(fc_payload(&r.c), "01ab456789", 10) == 0);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.io_requests, 2);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, node, fh), 0);
	rig_fini(&r);
}

/* A RELEASE between prep and done: the fh is dead at once, the descriptor
 * lives until done, then goes. */
TEST(test_io_release_in_flight)
{
	struct fuse_srv_stats st;
	struct raw q;
	struct rig r;
	uint64_t node, fh;
	int fd;

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	fh = open_file(&r, "hello", &node);
	raw_rw(&q, FUSE_READ, fh, 0, 5, NULL);
	CHECK(raw_prep(&r, &q));
	fd = q.io.fd;
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, node, fh), 0);
	CHECK(fd_open(fd));
	CHECK_ERR(fc_read(&r.c, FUSE_READ, node, fh, 0, 5), -EBADF);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, node, fh), -EBADF);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.handles, 1); /* the zombie holds its descriptor */
	CHECK_ERR(fuse_srv_io_sync(&q.io), 5);
	CHECK_EQ(fuse_srv_io_done(r.s, &q.io, 5), sizeof(struct fuse_out_header) + 5);
	CHECK(memcmp(q.out + sizeof(struct fuse_out_header), "hello", 5) == 0);
	CHECK(!fd_open(fd));
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.handles, 0);
	rig_fini(&r);
}

/* A reset (device reset, DESTROY) between prep and done: every other
 * handle closes, this one at done; the slot is reused only then. */
TEST(test_io_reset_in_flight)
{
	struct fuse_srv_stats st;
	struct raw q;
	struct rig r;
	uint64_t node, fh, fh2;
	int fd, before = count_fds();

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	fh = open_file(&r, "hello", &node);
	raw_rw(&q, FUSE_WRITE, fh, 0, 3, "HEL");
	CHECK(raw_prep(&r, &q));
	fd = q.io.fd;
	fuse_srv_reset(r.s);
	CHECK(fd_open(fd));
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.handles, 1);
	CHECK_ERR(fc_init_session(&r.c), 0);
	fh2 = open_file(&r, "world", &node);
	CHECK((uint32_t)fh2 != (uint32_t)fh); /* the zombie's slot is not free */
	CHECK_ERR(fuse_srv_io_sync(&q.io), 3);
	CHECK_EQ(fuse_srv_io_done(r.s, &q.io, 3),
	         sizeof(struct fuse_out_header) + sizeof(struct fuse_write_out));
	CHECK(!fd_open(fd));
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, node, fh2), 0);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.handles, 0);
	rig_fini(&r);
	CHECK_EQ(count_fds(), before);
}

/* What prep leaves to fuse_srv_handle, holding nothing; and a failed
 * transfer's reply. */
TEST(test_io_declined)
{
	struct fuse_srv_stats st;
	struct raw q;
	struct rig r, ro;
	uint64_t node, fh;

	rig_init(&r);
	raw_rw(&q, FUSE_READ, 0, 0, 5, NULL);
	CHECK(!raw_prep(&r, &q)); /* before INIT */
	CHECK_ERR(fc_init_session(&r.c), 0);
	fh = open_file(&r, "hello", &node);
	raw_rw(&q, FUSE_READ, fh + 1, 0, 5, NULL);
	CHECK(!raw_prep(&r, &q)); /* no such handle */
	raw_rw(&q, FUSE_READ, fh | 1ull << 40, 0, 5, NULL);
	CHECK(!raw_prep(&r, &q)); /* stale generation */
	raw_rw(&q, FUSE_READ, fh, 0, 0, NULL);
	CHECK(!raw_prep(&r, &q)); /* nothing to move */
	raw_rw(&q, FUSE_READ, fh, 1ull << 63, 5, NULL);
	CHECK(!raw_prep(&r, &q)); /* beyond off_t */
	raw_rw(&q, FUSE_WRITE, fh, 0, 9, "abc");
	CHECK(!raw_prep(&r, &q)); /* size disagrees with the data */
	raw_rw(&q, FUSE_WRITE, fh, INT64_MAX - 1, 3, "abc");
	CHECK(!raw_prep(&r, &q)); /* ends beyond off_t */
	raw_rw(&q, FUSE_READ, fh, 0, 5, NULL);
	q.ov.iov_len = sizeof(struct fuse_out_header);
	CHECK(!raw_prep(&r, &q)); /* no room for data */
	raw_rw(&q, FUSE_GETATTR, fh, 0, 5, NULL);
	CHECK(!raw_prep(&r, &q)); /* not a transfer */
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.handles, 1); /* no reference taken by any of them */
	/* A transfer that fails: the errno in the reply. */
	raw_rw(&q, FUSE_WRITE, fh, 0, 3, "abc");
	CHECK(raw_prep(&r, &q));
	CHECK_EQ(fuse_srv_io_done(r.s, &q.io, -ENOSPC), sizeof(struct fuse_out_header));
	CHECK_EQ(raw_error(&q), -ENOSPC);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, node, fh), 0);
	rig_fini(&r);

	/* A read-only share: WRITE is never prepared (EROFS comes from
	 * fuse_srv_handle); READ is. */
	rig_init_opts(&ro, true, FUSE_OWNER_PASSTHROUGH, 0, 0);
	CHECK_ERR(fc_init_session(&ro.c), 0);
	put_file(ro.dfd, "f", "data");
	{
		struct fuse_entry_out e;

		CHECK_ERR(fc_lookup(&ro.c, FUSE_ROOT_ID, "f", &e), 0);
		CHECK_ERR(fc_open(&ro.c, FUSE_OPEN, e.nodeid, O_RDONLY, &fh), 0);
		raw_rw(&q, FUSE_WRITE, fh, 0, 3, "abc");
		CHECK(!raw_prep(&ro, &q));
		raw_rw(&q, FUSE_READ, fh, 0, 4, NULL);
		CHECK(raw_prep(&ro, &q));
		CHECK_EQ(fuse_srv_io_done(ro.s, &q.io, fuse_srv_io_sync(&q.io)),
		         sizeof(struct fuse_out_header) + 4);
		CHECK_ERR(fc_release(&ro.c, FUSE_RELEASE, e.nodeid, fh), 0);
	}
	rig_fini(&ro);
}

/* The cache policy (fuse.h, enum fuse_cache): what entries, attributes
 * and opens tell the guest it may keep. */
TEST(test_cache_policy)
{
	for (int always = 0; always < 2; always++) {
		struct fuse_srv_params p = { .owner = FUSE_OWNER_PASSTHROUGH,
			                     .cache =
			                         always ? FUSE_CACHE_ALWAYS : FUSE_CACHE_AUTO };
		uint32_t ttl = always ? FUSE_TTL_ALWAYS_S : FUSE_TTL_AUTO_S;
		struct fuse_entry_out e;
		struct fuse_getattr_in ga = { 0 };
		struct fuse_open_in oi = { .flags = O_RDONLY };
		struct fuse_open_out oo;
		struct rig r;

		rig_init(&r);
		fuse_srv_destroy(r.s);
		p.root = r.share;
		CHECK_ERR(fuse_srv_create(&r.s, &p), 0);
		CHECK_ERR(fc_init_session(&r.c), 0);
		put_file(r.dfd, "f", "x");
		CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &e), 0);
		CHECK_EQ(e.entry_valid, ttl);
		CHECK_EQ(e.attr_valid, ttl);
		fc_start(&r.c, FUSE_GETATTR, e.nodeid);
		fc_add(&r.c, &ga, sizeof(ga));
		CHECK_ERR(fc_send(&r.c), 0);
		CHECK_EQ(((struct fuse_attr_out *)fc_payload(&r.c))->attr_valid, ttl);
		fc_start(&r.c, FUSE_OPEN, e.nodeid);
		fc_add(&r.c, &oi, sizeof(oi));
		CHECK_ERR(fc_send(&r.c), 0);
		memcpy(&oo, fc_payload(&r.c), sizeof(oo));
		CHECK_EQ(oo.open_flags & FOPEN_KEEP_CACHE, always ? FOPEN_KEEP_CACHE : 0);
		CHECK_EQ(oo.open_flags & FOPEN_DIRECT_IO, 0);
		CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, oo.fh), 0);
		rig_fini(&r);
	}
	/* Anything else is refused at create. */
	{
		struct fuse_srv_params p = { .root = "/", .cache = (enum fuse_cache)7 };
		struct fuse_srv *s = NULL;

		CHECK_ERR(fuse_srv_create(&s, &p), -EINVAL);
	}
}

CHECK_MAIN(FUSE_CASES, CASE(test_cache_policy), CASE(test_io_taken),
           CASE(test_io_release_in_flight), CASE(test_io_reset_in_flight), CASE(test_io_declined))

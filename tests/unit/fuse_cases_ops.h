/* SPDX-License-Identifier: MIT */
/*
 * fuse_cases_ops.h: each FUSE request type against the share of
 * fuse_rig.h, what it does on the host and what the guest is told.
 * Included by fuse_cases.h only.
 */
#ifndef KVMBOX_TESTS_FUSE_CASES_OPS_H
#define KVMBOX_TESTS_FUSE_CASES_OPS_H

#include "fuse_rig.h"

TEST(test_init)
{
	struct rig r;
	struct fuse_init_in in = { .major = 7, .minor = 36 };
	struct fuse_init_out o;

	rig_init(&r);
	CHECK_ERR(fc_getattr(&r.c, FUSE_ROOT_ID, NULL), -EIO); /* before INIT */
	in.major = 6;
	fc_start(&r.c, FUSE_INIT, 0);
	fc_add(&r.c, &in, sizeof(in));
	CHECK_ERR(fc_send(&r.c), -EPROTO);
	in.major = 7;
	in.minor = 20;
	fc_start(&r.c, FUSE_INIT, 0);
	fc_add(&r.c, &in, sizeof(in));
	CHECK_ERR(fc_send(&r.c), -EPROTO);
	CHECK_ERR(fc_init_session(&r.c), 0);
	memcpy(&o, fc_payload(&r.c), sizeof(o));
	CHECK_EQ(o.major, 7);
	CHECK_EQ(o.minor, 36);
	CHECK_EQ(o.max_write, FUSE_SRV_MAX_WRITE);
	CHECK_EQ(o.max_pages, 256);
	CHECK(o.flags & FUSE_DO_READDIRPLUS);
	CHECK(!(o.flags & (FUSE_WRITEBACK_CACHE | FUSE_EXPORT_SUPPORT))); /* never offered */
	CHECK_ERR(fc_init_session(&r.c), -EPROTO);                        /* twice */
	CHECK_ERR(fc_getattr(&r.c, FUSE_ROOT_ID, NULL), 0);
	/* DESTROY ends the session: back to waiting for INIT. */
	fc_start(&r.c, FUSE_DESTROY, 0);
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_ERR(fc_getattr(&r.c, FUSE_ROOT_ID, NULL), -EIO);
	CHECK_ERR(fc_init_session(&r.c), 0);
	rig_fini(&r);
}

TEST(test_lookup_forget_hardlinks)
{
	struct rig r;
	struct fuse_entry_out a, b, d;
	struct fuse_srv_stats st;
	struct fuse_attr at;

	rig_init(&r);
	put_file(r.dfd, "f", "hello");
	CHECK(linkat(r.dfd, "f", r.dfd, "g", 0) == 0);
	CHECK(mkdirat(r.dfd, "d", 0755) == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &a), 0);
	CHECK_EQ(a.attr.size, 5);
	CHECK(S_ISREG(a.attr.mode));
	CHECK(a.nodeid != FUSE_ROOT_ID && a.nodeid != 0);
	/* Hard links share one node id. */
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "g", &b), 0);
	CHECK_EQ(b.nodeid, a.nodeid);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "d", &d), 0);
	CHECK(S_ISDIR(d.attr.mode));
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "nope", NULL), -ENOENT);
	CHECK_ERR(fc_lookup(&r.c, a.nodeid, "x", NULL), -ENOTDIR);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.inodes, 3);
	/* Two lookups of f: one FORGET of 1 keeps it, a second frees it. */
	CHECK_ERR(fc_forget(&r.c, a.nodeid, 1), FC_NO_REPLY);
	CHECK_ERR(fc_getattr(&r.c, a.nodeid, &at), 0);
	CHECK_EQ(at.size, 5);
	CHECK_ERR(fc_forget(&r.c, a.nodeid, 1), FC_NO_REPLY);
	CHECK_ERR(fc_getattr(&r.c, a.nodeid, NULL), -ESTALE);
	/* The slot comes back with another generation: the old id stays dead. */
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &b), 0);
	CHECK(b.nodeid != a.nodeid);
	CHECK_ERR(fc_getattr(&r.c, a.nodeid, NULL), -ESTALE);
	/* FORGET of the root or of nonsense is ignored. */
	CHECK_ERR(fc_forget(&r.c, FUSE_ROOT_ID, 100), FC_NO_REPLY);
	CHECK_ERR(fc_forget(&r.c, 0xdeadbeef12345678ull, 1), FC_NO_REPLY);
	CHECK_ERR(fc_getattr(&r.c, FUSE_ROOT_ID, NULL), 0);
	/* BATCH_FORGET: d and f. */
	{
		struct fuse_batch_forget_in bi = { .count = 2 };
		struct fuse_forget_one one[2] = { { d.nodeid, 1 }, { b.nodeid, 1 } };

		fc_start(&r.c, FUSE_BATCH_FORGET, 0);
		fc_add(&r.c, &bi, sizeof(bi));
		fc_add(&r.c, one, sizeof(one));
		CHECK_ERR(fc_send(&r.c), FC_NO_REPLY);
	}
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.inodes, 1);
	rig_fini(&r);
}

TEST(test_file_io)
{
	struct rig r;
	struct fuse_entry_out e, e2;
	uint64_t fh, fh2, rofh;
	char *big = malloc(FUSE_SRV_MAX_WRITE);

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "f", O_RDWR, 0640, &e, &fh), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.mode & 0777, 0640);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "f", O_RDWR | O_EXCL, 0640, NULL, NULL), -EEXIST);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, 0, "hello world", 11), 11);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 6, 100), 5);
	CHECK(!memcmp(fc_payload(&r.c), "world", 5));
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 1000, 100), 0);
	/* Absurd offsets and lengths. */
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 1ull << 63, 100), -EINVAL);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, 1ull << 63, "x", 1), -EFBIG);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, INT64_MAX, "x", 1), -EFBIG);
	{
		struct fuse_write_in in = { .fh = fh, .size = 0xffffffffu };

		fc_start(&r.c, FUSE_WRITE, e.nodeid);
		fc_add(&r.c, &in, sizeof(in));
		fc_add(&r.c, "abc", 3);
		CHECK_ERR(fc_send(&r.c), -EINVAL); /* size disagrees with the data */
		in.size = 2;
		fc_start(&r.c, FUSE_WRITE, e.nodeid);
		fc_add(&r.c, &in, sizeof(in));
		fc_add(&r.c, "abc", 3);
		CHECK_ERR(fc_send(&r.c), -EINVAL);
	}
	/* The largest write, and a read that asks for more than the room. */
	memset(big, 'z', FUSE_SRV_MAX_WRITE);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, 0, big, FUSE_SRV_MAX_WRITE), FUSE_SRV_MAX_WRITE);
	r.c.room = 16 + 100;
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 0, 0xffffffffu), 100);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 0, 0xffffffffu), FUSE_SRV_MAX_WRITE);
	/* Handles: bad ones, of the wrong kind, released twice. */
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh + 1, 0, 10), -EBADF);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh ^ (1ull << 32), 0, 10), -EBADF);
	CHECK_ERR(fc_read(&r.c, FUSE_READDIR, FUSE_ROOT_ID, fh, 0, 4096), -EBADF);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY, &rofh), 0);
	CHECK_ERR(fc_write(&r.c, e.nodeid, rofh, 0, "x", 1), -EBADF);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_ACCMODE, &fh2), -EINVAL);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, FUSE_ROOT_ID, O_RDONLY, &fh2), -EISDIR);
	{
		struct fuse_flush_in fl = { .fh = fh };
		struct fuse_fsync_in fs = { .fh = fh, .fsync_flags = 1 };
		struct fuse_fallocate_in fa = { .fh = fh, .offset = 0, .length = 1 << 21 };
		struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_DATA };

		fc_start(&r.c, FUSE_FLUSH, e.nodeid);
		fc_add(&r.c, &fl, sizeof(fl));
		CHECK_ERR(fc_send(&r.c), 0);
		fc_start(&r.c, FUSE_FSYNC, e.nodeid);
		fc_add(&r.c, &fs, sizeof(fs));
		CHECK_ERR(fc_send(&r.c), 0);
		fc_start(&r.c, FUSE_FALLOCATE, e.nodeid);
		fc_add(&r.c, &fa, sizeof(fa));
		CHECK_ERR(fc_send(&r.c), 0);
		fa.offset = 1ull << 63;
		fc_start(&r.c, FUSE_FALLOCATE, e.nodeid);
		fc_add(&r.c, &fa, sizeof(fa));
		CHECK_ERR(fc_send(&r.c), -EINVAL);
		fc_start(&r.c, FUSE_LSEEK, e.nodeid);
		fc_add(&r.c, &ls, sizeof(ls));
		CHECK_ERR(fc_send(&r.c), 0);
		CHECK_EQ(((struct fuse_lseek_out *)fc_payload(&r.c))->offset, 0);
		ls.whence = SEEK_END;
		fc_start(&r.c, FUSE_LSEEK, e.nodeid);
		fc_add(&r.c, &ls, sizeof(ls));
		CHECK_ERR(fc_send(&r.c), -EINVAL);
	}
	{
		struct fuse_copy_file_range_in cr = {
			.fh_in = fh, .off_in = 0, .off_out = 0, .len = 5
		};

		CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "g", O_RDWR, 0644, &e2, &fh2), 0);
		cr.fh_out = fh2;
		cr.nodeid_out = e2.nodeid;
		fc_start(&r.c, FUSE_COPY_FILE_RANGE, e.nodeid);
		fc_add(&r.c, &cr, sizeof(cr));
		CHECK_ERR(fc_send(&r.c), 0);
		CHECK_EQ(((struct fuse_write_out *)fc_payload(&r.c))->size, 5);
		CHECK_ERR(fc_read(&r.c, FUSE_READ, e2.nodeid, fh2, 0, 10), 5);
		CHECK(!memcmp(fc_payload(&r.c), "zzzzz", 5));
		cr.fh_out = rofh; /* not writable */
		fc_start(&r.c, FUSE_COPY_FILE_RANGE, e.nodeid);
		fc_add(&r.c, &cr, sizeof(cr));
		CHECK_ERR(fc_send(&r.c), -EBADF);
	}
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, fh), 0);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, fh), -EBADF);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASEDIR, e.nodeid, fh2), -EBADF);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, fh2), 0);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, rofh), 0);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, 0, "x", 1), -EBADF);
	free(big);
	rig_fini(&r);
}

TEST(test_setattr)
{
	struct rig r;
	struct fuse_entry_out e;
	struct fuse_setattr_in sa = { 0 };
	struct stat st;
	uint64_t fh;

	rig_init(&r);
	put_file(r.dfd, "f", "0123456789");
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &e), 0);
	sa.valid = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME;
	sa.mode = 0600;
	sa.uid = 1234;
	sa.gid = 5678;
	sa.size = 4;
	sa.atime = 1000;
	sa.mtime = 2000;
	sa.mtimensec = 5;
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_EQ(((struct fuse_attr_out *)fc_payload(&r.c))->attr.size, 4);
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_uid, 1234);
	CHECK_EQ(st.st_gid, 5678);
	CHECK_EQ(st.st_size, 4);
	CHECK_EQ(st.st_atim.tv_sec, 1000);
	CHECK_EQ(st.st_mtim.tv_sec, 2000);
	CHECK_EQ(st.st_mtim.tv_nsec, 5);
	sa = (struct fuse_setattr_in){ .valid = FATTR_MTIME | FATTR_MTIME_NOW };
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0 && st.st_mtim.tv_sec > 2000);
	CHECK_EQ(st.st_atim.tv_sec, 1000); /* untouched */
	/* Through a handle, and absurd values. */
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDWR, &fh), 0);
	sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = 1 };
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	sa.size = 1ull << 63;
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), -EINVAL);
	sa = (struct fuse_setattr_in){ .valid = FATTR_MTIME, .mtimensec = 2000000000u };
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), -EINVAL);
	sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 3 };
	fc_start(&r.c, FUSE_SETATTR, FUSE_ROOT_ID);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), -EISDIR);
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0);
	CHECK_EQ(st.st_size, 1);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, fh), 0);
	rig_fini(&r);
}

TEST(test_dir_ops)
{
	struct rig r;
	struct fuse_entry_out d, e;
	struct fuse_mknod_in mk = { .mode = S_IFIFO | 0644 };
	struct stat st;

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "d", 0750, &d), 0);
	CHECK(S_ISDIR(d.attr.mode));
	CHECK(fstatat(r.dfd, "d", &st, 0) == 0 && (st.st_mode & 0777) == 0750);
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "d", 0750, NULL), -EEXIST);
	fc_start(&r.c, FUSE_MKNOD, d.nodeid);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "fifo");
	CHECK_ERR(fc_send(&r.c), 0);
	memcpy(&e, fc_payload(&r.c), sizeof(e));
	CHECK(S_ISFIFO(e.attr.mode));
	/* A FIFO is never opened by the host (it would block the VMM). */
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY, NULL), -ENXIO);
	mk.mode = S_IFDIR | 0755;
	fc_start(&r.c, FUSE_MKNOD, d.nodeid);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "notdir");
	CHECK_ERR(fc_send(&r.c), -EINVAL);
	mk.mode = S_IFCHR | 0600;
	mk.rdev = makedev(1, 3);
	fc_start(&r.c, FUSE_MKNOD, d.nodeid);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "null");
	CHECK_ERR(fc_send(&r.c), 0);
	memcpy(&e, fc_payload(&r.c), sizeof(e));
	CHECK(S_ISCHR(e.attr.mode));
	CHECK_EQ(e.attr.rdev, makedev(1, 3));
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDWR, NULL), -ENXIO);
	/* CREATE of an existing FIFO or device: never opened by the host. */
	CHECK_ERR(fc_create(&r.c, d.nodeid, "fifo", O_RDONLY, 0644, NULL, NULL), -ENXIO);
	CHECK_ERR(fc_create(&r.c, d.nodeid, "null", O_RDWR, 0644, NULL, NULL), -ENXIO);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "d", O_RDONLY, 0644, NULL, NULL), -EISDIR);
	/* CREATE of an existing file opens it, and leaves its owner alone. */
	put_file(r.dfd, "mine", "x");
	CHECK(fchownat(r.dfd, "mine", 4321, 4321, AT_SYMLINK_NOFOLLOW) == 0);
	r.c.uid = r.c.gid = 1000;
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "mine", O_RDWR, 0600, &e, NULL), 0);
	r.c.uid = r.c.gid = 0;
	CHECK_EQ(e.attr.uid, 4321);
	CHECK_EQ(e.attr.size, 1);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "mine", O_RDWR | O_EXCL, 0600, NULL, NULL),
	          -EEXIST);
	CHECK_ERR(fc_name_op(&r.c, FUSE_RMDIR, FUSE_ROOT_ID, "d"), -ENOTEMPTY);
	CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, d.nodeid, "fifo"), 0);
	CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, d.nodeid, "null"), 0);
	CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, d.nodeid, "null"), -ENOENT);
	CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, FUSE_ROOT_ID, "d"), -EISDIR);
	CHECK_ERR(fc_name_op(&r.c, FUSE_RMDIR, FUSE_ROOT_ID, "d"), 0);
	CHECK(!host_exists(&r, "d"));
	/* The VMM's umask does not eat the guest's mode bits; a setgid
	 * parent's group wins over the caller's. */
	{
		mode_t old = umask(022);
		struct fuse_entry_out g, sub;

		CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "open", 0777, &e), 0);
		CHECK(fstatat(r.dfd, "open", &st, 0) == 0 && (st.st_mode & 0777) == 0777);
		CHECK(fchownat(r.dfd, "open", 0, 4242, AT_SYMLINK_NOFOLLOW) == 0 &&
		      fchmodat(r.dfd, "open", 02777, AT_SYMLINK_NOFOLLOW) == 0);
		r.c.uid = 1000;
		r.c.gid = 1000;
		CHECK_ERR(fc_create(&r.c, e.nodeid, "f", O_RDWR, 0666, &g, NULL), 0);
		CHECK_ERR(fc_mkdir(&r.c, e.nodeid, "sub", 0755, &sub), 0);
		r.c.uid = r.c.gid = 0;
		CHECK_EQ(g.attr.uid, 1000);
		CHECK_EQ(g.attr.gid, 4242);
		CHECK_EQ(g.attr.mode & 0777, 0666);
		CHECK_EQ(sub.attr.gid, 4242);
		CHECK(sub.attr.mode & S_ISGID);
		umask(old);
	}
	/* The inode lives on while the guest holds it: GETATTR still answers. */
	CHECK_ERR(fc_getattr(&r.c, d.nodeid, NULL), 0);
	rig_fini(&r);
}

/* names_in: the names of a READDIR(PLUS) reply into set (a bit per
 * expected name), and how many entries carried a node id. */
static int names_in(struct rig *r, bool plus, const char **names, int n, unsigned int *set,
                    uint64_t *last_off)
{
	const uint8_t *p = fc_payload(&r->c);
	uint32_t len = fc_payload_len(&r->c), pos = 0;
	int with_id = 0;

	while (pos < len) {
		const struct fuse_entry_out *e = (const void *)(p + pos);
		const struct fuse_dirent *d =
		    (const void *)(p + pos + (plus ? sizeof(struct fuse_entry_out) : 0));

		for (int i = 0; i < n; i++)
			if (strlen(names[i]) == d->namelen &&
			    !memcmp(d->name, names[i], d->namelen))
				*set |= 1u << i;
		if (plus && e->nodeid)
			with_id++;
		*last_off = d->off;
		pos += plus ? FUSE_DIRENTPLUS_SIZE((const struct fuse_direntplus *)(p + pos))
		            : FUSE_DIRENT_SIZE(d);
	}
	return with_id;
}

TEST(test_readdir)
{
	static const char *names[] = { ".", "..", "a", "bb", "ccc", "sub", "link" };
	struct rig r;
	struct fuse_srv_stats st;
	uint64_t fh, off = 0;
	unsigned int set = 0;
	int n, ids = 0;

	rig_init(&r);
	put_file(r.dfd, "a", "1");
	put_file(r.dfd, "bb", "2");
	put_file(r.dfd, "ccc", "3");
	CHECK(mkdirat(r.dfd, "sub", 0755) == 0);
	CHECK(symlinkat("/", r.dfd, "link") == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_open(&r.c, FUSE_OPENDIR, FUSE_ROOT_ID, O_RDONLY, &fh), 0);
	/* Small replies: one or two entries each, resumed at the offset. */
	for (int i = 0; i < 20; i++) {
		n = fc_read(&r.c, FUSE_READDIR, FUSE_ROOT_ID, fh, off, 64);
		CHECK(n >= 0);
		if (n <= 0)
			break;
		names_in(&r, false, names, 7, &set, &off);
	}
	CHECK_EQ(set, 0x7f);
	/* READDIRPLUS: every name but . and .. gets a node id (a lookup). */
	set = 0;
	off = 0;
	for (int i = 0; i < 20; i++) {
		n = fc_read(&r.c, FUSE_READDIRPLUS, FUSE_ROOT_ID, fh, off, 4096);
		CHECK(n >= 0);
		if (n <= 0)
			break;
		ids += names_in(&r, true, names, 7, &set, &off);
	}
	CHECK_EQ(set, 0x7f);
	CHECK_EQ(ids, 5);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.inodes, 6);
	/* Too small for one entry: an empty reply, nothing looked up. */
	CHECK_ERR(fc_read(&r.c, FUSE_READDIRPLUS, FUSE_ROOT_ID, fh, 0, 100), 0);
	CHECK_ERR(fc_read(&r.c, FUSE_READDIR, FUSE_ROOT_ID, fh, 1ull << 63, 4096), -EINVAL);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, FUSE_ROOT_ID, fh, 0, 10), -EBADF);
	{
		struct fuse_fsync_in fs = { .fh = fh };

		fc_start(&r.c, FUSE_FSYNCDIR, FUSE_ROOT_ID);
		fc_add(&r.c, &fs, sizeof(fs));
		CHECK_ERR(fc_send(&r.c), 0);
	}
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, FUSE_ROOT_ID, fh), -EBADF);
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASEDIR, FUSE_ROOT_ID, fh), 0);
	CHECK_ERR(fc_open(&r.c, FUSE_OPENDIR, 12345, O_RDONLY, &fh), -ESTALE);
	rig_fini(&r);
}

/* count_names: tally the "file%03d" names of a READDIR(PLUS) reply into
 * seen[], the others into *other; the last entry's offset into *off. */
static void count_names(struct rig *r, bool plus, int *seen, int *other, uint64_t *off)
{
	const uint8_t *p = fc_payload(&r->c);
	uint32_t len = fc_payload_len(&r->c), pos = 0;

	while (pos < len) {
		const struct fuse_dirent *d =
		    (const void *)(p + pos + (plus ? sizeof(struct fuse_entry_out) : 0));
		unsigned int i;
		char name[16] = "";

		memcpy(name, d->name, d->namelen < 15 ? d->namelen : 15);
		if (sscanf(name, "file%3u", &i) == 1 && i < 500)
			seen[i]++;
		else
			(*other)++;
		*off = d->off;
		pos += plus ? FUSE_DIRENTPLUS_SIZE((const struct fuse_direntplus *)(p + pos))
		            : FUSE_DIRENT_SIZE(d);
	}
}

/* A directory of 500 names, read 4 KiB at a time: each name exactly once. */
TEST(test_readdir_large)
{
	struct rig r;
	int seen[500] = { 0 }, other = 0, calls = 0;
	uint64_t fh, off = 0;
	char name[16];

	rig_init(&r);
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "file%03d", i);
		put_file(r.dfd, name, "");
	}
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_open(&r.c, FUSE_OPENDIR, FUSE_ROOT_ID, O_RDONLY, &fh), 0);
	for (bool plus = false;; plus = true) {
		memset(seen, 0, sizeof(seen));
		other = 0;
		off = 0;
		for (calls = 0; calls < 1000; calls++) {
			int n = fc_read(&r.c, plus ? FUSE_READDIRPLUS : FUSE_READDIR, FUSE_ROOT_ID,
			                fh, off, 4096);

			CHECK(n >= 0);
			if (n <= 0)
				break;
			count_names(&r, plus, seen, &other, &off);
		}
		for (int i = 0; i < 500; i++)
			CHECK_EQ(seen[i], 1);
		CHECK_EQ(other, 2); /* . and .. */
		CHECK(calls > (plus ? 20 : 3));
		if (plus)
			break;
	}
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASEDIR, FUSE_ROOT_ID, fh), 0);
	rig_fini(&r);
}

TEST(test_xattr)
{
	struct rig r;
	struct fuse_entry_out e;
	char buf[64];

	rig_init(&r);
	put_file(r.dfd, "f", "x");
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &e), 0);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, e.nodeid, "user.test", "value1", 0), 0);
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, e.nodeid, "user.test", NULL, 0), 0);
	CHECK_EQ(((struct fuse_getxattr_out *)fc_payload(&r.c))->size, 6);
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, e.nodeid, "user.test", NULL, 3), -ERANGE);
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, e.nodeid, "user.test", NULL, 64), 0);
	CHECK_EQ(fc_payload_len(&r.c), 6);
	CHECK(!memcmp(fc_payload(&r.c), "value1", 6));
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, e.nodeid, "user.nope", NULL, 64), -ENODATA);
	CHECK_ERR(xattr_op(&r, FUSE_LISTXATTR, e.nodeid, NULL, NULL, 0), 0);
	CHECK_EQ(((struct fuse_getxattr_out *)fc_payload(&r.c))->size, 10);
	CHECK_ERR(xattr_op(&r, FUSE_LISTXATTR, e.nodeid, NULL, NULL, 64), 0);
	CHECK(!memcmp(fc_payload(&r.c), "user.test", 10));
	/* The ownership xattr is the server's: hidden and untouchable. */
	CHECK(fsetxattr_path(&r, "f") == 0);
	CHECK_ERR(
	    xattr_op(&r, FUSE_SETXATTR, e.nodeid, "user.containers.override_stat", "0:0:0777", 0),
	    -EPERM);
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, e.nodeid, "user.containers.override_stat", NULL, 64),
	          -ENODATA);
	CHECK_ERR(
	    xattr_op(&r, FUSE_REMOVEXATTR, e.nodeid, "user.containers.override_stat", NULL, 0),
	    -EPERM);
	CHECK_ERR(xattr_op(&r, FUSE_LISTXATTR, e.nodeid, NULL, NULL, 64), 0);
	CHECK_EQ(fc_payload_len(&r.c), 10);
	CHECK_ERR(xattr_op(&r, FUSE_REMOVEXATTR, e.nodeid, "user.test", NULL, 0), 0);
	CHECK(getxattr_host(&r, "f", "user.test", buf, sizeof(buf)) < 0);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, 999, "user.test", "v", 0), -ESTALE);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, e.nodeid, "", "v", 0), -EINVAL);
	rig_fini(&r);
}

TEST(test_misc_ops)
{
	struct rig r;
	struct fuse_access_in ac = { .mask = R_OK | W_OK };
	struct fuse_syncfs_in sy = { 0 };
	struct fuse_interrupt_in in = { .unique = 1 };
	struct fuse_entry_out e;

	rig_init(&r);
	put_file(r.dfd, "f", "x");
	CHECK(fchmodat(r.dfd, "f", 0600, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	fc_start(&r.c, FUSE_STATFS, FUSE_ROOT_ID);
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK(((struct fuse_statfs_out *)fc_payload(&r.c))->st.bsize > 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &e), 0);
	fc_start(&r.c, FUSE_ACCESS, e.nodeid);
	fc_add(&r.c, &ac, sizeof(ac));
	CHECK_ERR(fc_send(&r.c), 0); /* root */
	r.c.uid = 1000;
	r.c.gid = 1000;
	fc_start(&r.c, FUSE_ACCESS, e.nodeid);
	fc_add(&r.c, &ac, sizeof(ac));
	CHECK_ERR(fc_send(&r.c), -EACCES);
	r.c.uid = r.c.gid = 0;
	ac.mask = X_OK;
	fc_start(&r.c, FUSE_ACCESS, e.nodeid);
	fc_add(&r.c, &ac, sizeof(ac));
	CHECK_ERR(fc_send(&r.c), -EACCES);
	fc_start(&r.c, FUSE_SYNCFS, FUSE_ROOT_ID);
	fc_add(&r.c, &sy, sizeof(sy));
	CHECK_ERR(fc_send(&r.c), 0);
	fc_start(&r.c, FUSE_INTERRUPT, 0);
	fc_add(&r.c, &in, sizeof(in));
	CHECK_ERR(fc_send(&r.c), FC_NO_REPLY);
	/* Not served: ENOSYS, for known and unknown opcodes alike. */
	fc_start(&r.c, FUSE_GETLK, e.nodeid);
	fc_add(&r.c, &in, sizeof(in));
	CHECK_ERR(fc_send(&r.c), -ENOSYS);
	fc_start(&r.c, FUSE_IOCTL, e.nodeid);
	CHECK_ERR(fc_send(&r.c), -ENOSYS);
	fc_start(&r.c, 9999, e.nodeid);
	CHECK_ERR(fc_send(&r.c), -ENOSYS);
	fc_start(&r.c, 0, e.nodeid);
	CHECK_ERR(fc_send(&r.c), -ENOSYS);
	fc_start(&r.c, FUSE_READLINK, e.nodeid);
	CHECK_ERR(fc_send(&r.c), -EINVAL); /* not a symlink */
	rig_fini(&r);
}

#endif

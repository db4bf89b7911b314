/* SPDX-License-Identifier: MIT */
/*
 * fuse_cases_hostile.h: the hostile cases of issue 10 against the share of
 * fuse_rig.h: names with ".." and "/", a symlink to "/" looked up through,
 * LINK and RENAME with node ids that do not exist, a read-only share, a
 * guest that never forgets, absurd lengths and offsets, truncated
 * requests; and ownership without root. Included by fuse_cases.h only.
 */
#ifndef KVMBOX_TESTS_FUSE_CASES_HOSTILE_H
#define KVMBOX_TESTS_FUSE_CASES_HOSTILE_H

#include "fuse_rig.h"

#include <grp.h>
#include <sys/capability.h>
#include <sys/wait.h>

TEST(test_hostile_names)
{
	static const char *bad[] = { "..", ".", "a/b", "/", "../outside", "../outside/secret" };
	struct rig r;
	char longname[300];

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, bad[i], NULL), -EINVAL);
		CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, bad[i], 0755, NULL), -EINVAL);
		CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, bad[i], O_RDWR, 0644, NULL, NULL), -EINVAL);
		CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, FUSE_ROOT_ID, bad[i]), -EINVAL);
		CHECK_ERR(fc_symlink(&r.c, FUSE_ROOT_ID, bad[i], "x", NULL), -EINVAL);
	}
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "", NULL), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, longname, NULL), -EINVAL);
	/* A name with no NUL before the request ends. */
	fc_start(&r.c, FUSE_LOOKUP, FUSE_ROOT_ID);
	fc_add(&r.c, "secret", 6);
	CHECK_ERR(fc_send(&r.c), -EINVAL);
	/* Nothing was made, inside or out. */
	CHECK(outside_intact(&r));
	CHECK(!host_exists(&r, "x"));
	rig_fini(&r);
}

/* A symlink to "/" (the host's root) and one to the outside folder: the
 * guest sees symlinks, never what they point at. */
TEST(test_symlink_escape)
{
	struct rig r;
	struct fuse_entry_out e, g;
	uint64_t fh;

	rig_init(&r);
	CHECK(symlinkat("/", r.dfd, "root") == 0);
	CHECK(symlinkat(r.outside, r.dfd, "out") == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "root", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_ERR(fc_lookup(&r.c, e.nodeid, "etc", NULL), -ENOTDIR);
	CHECK_ERR(fc_lookup(&r.c, e.nodeid, "tmp", NULL), -ENOTDIR);
	CHECK_ERR(fc_open(&r.c, FUSE_OPENDIR, e.nodeid, O_RDONLY, &fh), -ENOTDIR);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY, &fh), -ELOOP);
	CHECK_ERR(fc_create(&r.c, e.nodeid, "planted", O_RDWR, 0644, NULL, NULL), -ENOTDIR);
	CHECK_ERR(fc_mkdir(&r.c, e.nodeid, "planted", 0755, NULL), -ENOTDIR);
	fc_start(&r.c, FUSE_READLINK, e.nodeid);
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_EQ(fc_payload_len(&r.c), 1);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "out", &e), 0);
	CHECK_ERR(fc_lookup(&r.c, e.nodeid, "secret", NULL), -ENOTDIR);
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "out", e.nodeid, "x", 0), -ENOTDIR);
	/* A symlink the guest makes is never followed by the host either. */
	CHECK_ERR(fc_symlink(&r.c, FUSE_ROOT_ID, "gl", "../outside/secret", &g), 0);
	CHECK(S_ISLNK(g.attr.mode));
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, g.nodeid, O_RDWR, &fh), -ELOOP);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, g.nodeid, O_RDONLY | O_TRUNC, &fh), -ELOOP);
	/* CREATE over a symlink does not write through it. */
	CHECK(fc_create(&r.c, FUSE_ROOT_ID, "gl", O_RDWR | O_TRUNC, 0644, NULL, NULL) < 0);
	{
		struct fuse_setattr_in sa = { .valid = FATTR_SIZE | FATTR_MODE, .mode = 0777 };

		fc_start(&r.c, FUSE_SETATTR, g.nodeid);
		fc_add(&r.c, &sa, sizeof(sa));
		CHECK(fc_send(&r.c) < 0);
	}
	CHECK(!reply_has(&r, SECRET));
	CHECK(outside_intact(&r));
	rig_fini(&r);
}

/* LINK and RENAME can only name node ids the server handed out. */
TEST(test_link_rename_bad_ids)
{
	static const uint64_t bogus[] = {
		0, 2, 77, 1ull << 32 | 1, 0xffffffffffffffffull, 1ull << 32 | 65536
	};
	struct rig r;
	struct fuse_entry_out f, d, l, sl;

	rig_init(&r);
	put_file(r.dfd, "f", "data");
	CHECK(mkdirat(r.dfd, "d", 0755) == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &f), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "d", &d), 0);
	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		CHECK_ERR(fc_link(&r.c, bogus[i], FUSE_ROOT_ID, "l", NULL), -ESTALE);
		CHECK_ERR(fc_link(&r.c, f.nodeid, bogus[i], "l", NULL), -ESTALE);
		CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", bogus[i], "f2", 0), -ESTALE);
		CHECK_ERR(fc_rename(&r.c, bogus[i], "f", FUSE_ROOT_ID, "f2", 0), -ESTALE);
		CHECK_ERR(fc_getattr(&r.c, bogus[i], NULL), -ESTALE);
	}
	/* Out of the share by name: refused. */
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", FUSE_ROOT_ID, "../outside/f", 0), -EINVAL);
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", FUSE_ROOT_ID, "..", 0), -EINVAL);
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", f.nodeid, "x", 0), -ENOTDIR);
	CHECK_ERR(fc_link(&r.c, d.nodeid, FUSE_ROOT_ID, "dl", NULL), -EPERM);
	CHECK_ERR(fc_link(&r.c, f.nodeid, FUSE_ROOT_ID, "../outside/l", NULL), -EINVAL);
	CHECK(host_exists(&r, "f"));
	/* The real thing works: one inode, one node id, two lookups. */
	CHECK_ERR(fc_link(&r.c, f.nodeid, d.nodeid, "l", &l), 0);
	CHECK_EQ(l.nodeid, f.nodeid);
	CHECK_EQ(l.attr.nlink, 2);
	/* A link to a symlink is a link to the symlink, not its target. */
	CHECK_ERR(fc_symlink(&r.c, FUSE_ROOT_ID, "s", "../outside/secret", &sl), 0);
	CHECK_ERR(fc_link(&r.c, sl.nodeid, FUSE_ROOT_ID, "s2", &l), 0);
	CHECK(S_ISLNK(l.attr.mode));
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", d.nodeid, "f2", 0), 0);
	CHECK(host_exists(&r, "d/f2") && !host_exists(&r, "f"));
	CHECK_ERR(fc_rename(&r.c, d.nodeid, "f2", d.nodeid, "l", RENAME_NOREPLACE), -EEXIST);
	CHECK_ERR(fc_rename(&r.c, d.nodeid, "f2", FUSE_ROOT_ID, "s", RENAME_EXCHANGE), 0);
	CHECK(host_exists(&r, "s") && host_exists(&r, "d/f2"));
	CHECK_ERR(fc_rename(&r.c, d.nodeid, "f2", FUSE_ROOT_ID, "s", 0x80), -EINVAL);
	{
		struct fuse_rename_in ri = { .newdir = FUSE_ROOT_ID };

		fc_start(&r.c, FUSE_RENAME, d.nodeid);
		fc_add(&r.c, &ri, sizeof(ri));
		fc_str(&r.c, "l");
		fc_str(&r.c, "back");
		CHECK_ERR(fc_send(&r.c), 0);
		CHECK(host_exists(&r, "back"));
	}
	CHECK(outside_intact(&r));
	rig_fini(&r);
}

TEST(test_read_only)
{
	struct rig r;
	struct fuse_entry_out e;
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE };
	struct fuse_mknod_in mk = { .mode = S_IFIFO | 0644 };
	uint64_t fh;
	struct stat st;

	rig_init_opts(&r, true, FUSE_OWNER_PASSTHROUGH, 0, 0);
	put_file(r.dfd, "f", "keep");
	CHECK(mkdirat(r.dfd, "d", 0755) == 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "f", &e), 0);
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "x", 0755, NULL), -EROFS);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "x", O_RDWR, 0644, NULL, NULL), -EROFS);
	CHECK_ERR(fc_symlink(&r.c, FUSE_ROOT_ID, "x", "f", NULL), -EROFS);
	CHECK_ERR(fc_link(&r.c, e.nodeid, FUSE_ROOT_ID, "x", NULL), -EROFS);
	CHECK_ERR(fc_name_op(&r.c, FUSE_UNLINK, FUSE_ROOT_ID, "f"), -EROFS);
	CHECK_ERR(fc_name_op(&r.c, FUSE_RMDIR, FUSE_ROOT_ID, "d"), -EROFS);
	CHECK_ERR(fc_rename(&r.c, FUSE_ROOT_ID, "f", FUSE_ROOT_ID, "g", 0), -EROFS);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, e.nodeid, "user.a", "b", 0), -EROFS);
	CHECK_ERR(xattr_op(&r, FUSE_REMOVEXATTR, e.nodeid, "user.a", NULL, 0), -EROFS);
	fc_start(&r.c, FUSE_SETATTR, e.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), -EROFS);
	fc_start(&r.c, FUSE_MKNOD, FUSE_ROOT_ID);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "x");
	CHECK_ERR(fc_send(&r.c), -EROFS);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDWR, &fh), -EROFS);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_WRONLY, &fh), -EROFS);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY | O_TRUNC, &fh), -EROFS);
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY, &fh), 0);
	CHECK_ERR(fc_write(&r.c, e.nodeid, fh, 0, "x", 1), -EROFS);
	CHECK_ERR(fc_read(&r.c, FUSE_READ, e.nodeid, fh, 0, 10), 4);
	{
		struct fuse_fallocate_in fa = { .fh = fh, .length = 10 };
		struct fuse_copy_file_range_in cr = { .fh_in = fh, .fh_out = fh, .len = 1 };

		fc_start(&r.c, FUSE_FALLOCATE, e.nodeid);
		fc_add(&r.c, &fa, sizeof(fa));
		CHECK_ERR(fc_send(&r.c), -EROFS);
		fc_start(&r.c, FUSE_COPY_FILE_RANGE, e.nodeid);
		fc_add(&r.c, &cr, sizeof(cr));
		CHECK_ERR(fc_send(&r.c), -EROFS);
	}
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0 && st.st_size == 4);
	CHECK(!host_exists(&r, "x") && host_exists(&r, "d"));
	rig_fini(&r);
}

/* A guest that never sends FORGET: the tables fill, then ENFILE; the
 * host's descriptors stay bounded and all come back at destroy. */
TEST(test_never_forgets)
{
	struct rig r;
	struct fuse_srv_stats st;
	int before = count_fds(), during, enfile = 0, ok = 0, hok = 0, henfile = 0;
	char name[16];

	rig_init_opts(&r, false, FUSE_OWNER_PASSTHROUGH, 16, 4);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		put_file(r.dfd, name, "x");
	}
	CHECK_ERR(fc_init_session(&r.c), 0);
	for (int i = 0; i < 40; i++) {
		struct fuse_entry_out e;
		uint64_t fh;
		int err;

		snprintf(name, sizeof(name), "f%d", i);
		err = fc_lookup(&r.c, FUSE_ROOT_ID, name, &e);
		ok += err == 0;
		enfile += err == -ENFILE;
		if (err)
			continue;
		err = fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDONLY, &fh);
		hok += err == 0;
		henfile += err == -ENFILE;
	}
	CHECK_EQ(ok, 15); /* 16 slots, the root takes one */
	CHECK_EQ(enfile, 25);
	CHECK_EQ(hok, 4);
	CHECK_EQ(henfile, 11);
	/* CREATE and MKDIR when full: the guest is told, nothing leaks. */
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "dir", 0755, NULL), -ENFILE);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "new", O_RDWR, 0644, NULL, NULL), -ENFILE);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.inodes, 16);
	CHECK_EQ(st.handles, 4);
	during = count_fds();
	CHECK(during - before <= 16 + 4 + 3 + RIG_OWN_FDS);
	/* DESTROY drops everything but the root. */
	fc_start(&r.c, FUSE_DESTROY, 0);
	CHECK_ERR(fc_send(&r.c), 0);
	fuse_srv_get_stats(r.s, &st);
	CHECK_EQ(st.inodes, 1);
	CHECK_EQ(st.handles, 0);
	rig_fini(&r);
	CHECK_EQ(count_fds(), before);
}

TEST(test_malformed)
{
	struct rig r;
	struct fuse_in_header h = {
		.len = sizeof(h), .opcode = FUSE_GETATTR, .unique = 7, .nodeid = FUSE_ROOT_ID
	};
	struct fuse_out_header oh;
	uint8_t buf[256] = { 0 };

	rig_init(&r);
	CHECK_ERR(fc_init_session(&r.c), 0);
	/* Shorter than a header: EINVAL, unique unknown (0). */
	CHECK_EQ(send_raw(&r, buf, 10, 100), sizeof(oh));
	memcpy(&oh, r.c.reply, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	CHECK_EQ(oh.unique, 0);
	CHECK_EQ(send_raw(&r, buf, 0, 100), sizeof(oh));
	/* The header's len disagrees with the bytes, either way. */
	for (uint32_t len = 0; len < 3; len++) {
		h.len = len == 0 ? 41 : len == 1 ? 39 : 0xffffffffu;
		memcpy(buf, &h, sizeof(h));
		CHECK_EQ(send_raw(&r, buf, sizeof(h), 100), sizeof(oh));
		memcpy(&oh, r.c.reply, sizeof(oh));
		CHECK_EQ(oh.error, -EINVAL);
		CHECK_EQ(oh.unique, 7);
	}
	/* GETATTR without its fuse_getattr_in; no room for a reply at all;
	 * room for the header but not for the attributes. */
	h.len = sizeof(h);
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(send_raw(&r, buf, sizeof(h), 100), sizeof(oh));
	memcpy(&oh, r.c.reply, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	h.len = sizeof(h) + sizeof(struct fuse_getattr_in);
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(send_raw(&r, buf, h.len, 15), 0);
	/* No room for a reply: the request is not served at all. */
	{
		struct fuse_srv_stats before, after;

		put_file(r.dfd, "noroom", "x");
		fuse_srv_get_stats(r.s, &before);
		r.c.room = 8;
		CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "noroom", NULL), FC_NO_REPLY);
		fuse_srv_get_stats(r.s, &after);
		CHECK_EQ(after.inodes, before.inodes);
		r.c.room = 0;
		CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "noroomdir", 0755, NULL), FC_NO_REPLY);
		CHECK(!host_exists(&r, "noroomdir"));
	}
	CHECK_EQ(send_raw(&r, buf, h.len, 16 + 10), sizeof(oh));
	memcpy(&oh, r.c.reply, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	CHECK_EQ(send_raw(&r, buf, h.len, 16 + sizeof(struct fuse_attr_out)),
	         16 + sizeof(struct fuse_attr_out));
	/* Arguments beyond what any request carries. */
	{
		uint8_t *huge = calloc(1, 200000);

		h.len = 200000;
		h.opcode = FUSE_SETXATTR;
		memcpy(huge, &h, sizeof(h));
		CHECK_EQ(send_raw(&r, huge, h.len, 100), sizeof(oh));
		memcpy(&oh, r.c.reply, sizeof(oh));
		CHECK_EQ(oh.error, -E2BIG);
		free(huge);
	}
	/* BATCH_FORGET claiming more entries than it has; SETXATTR whose
	 * size runs past the request; a short LOOKUP. */
	{
		struct fuse_batch_forget_in bi = { .count = 0xffffffffu };
		struct fuse_setxattr_in si = { .size = 1000 };

		fc_start(&r.c, FUSE_BATCH_FORGET, 0);
		fc_add(&r.c, &bi, sizeof(bi));
		fc_add(&r.c, "0123456789abcdef0123", 20);
		CHECK_ERR(fc_send(&r.c), FC_NO_REPLY);
		fc_start(&r.c, FUSE_SETXATTR, FUSE_ROOT_ID);
		fc_add(&r.c, &si, FUSE_COMPAT_SETXATTR_IN_SIZE);
		fc_str(&r.c, "user.x");
		fc_add(&r.c, "abc", 3);
		CHECK_ERR(fc_send(&r.c), -EINVAL);
		fc_start(&r.c, FUSE_FORGET, FUSE_ROOT_ID);
		CHECK_ERR(fc_send(&r.c), FC_NO_REPLY); /* short: ignored */
		fc_start(&r.c, FUSE_RENAME2, FUSE_ROOT_ID);
		fc_add(&r.c, buf, 10);
		CHECK_ERR(fc_send(&r.c), -EINVAL);
	}
	CHECK_ERR(fc_getattr(&r.c, FUSE_ROOT_ID, NULL), 0); /* still serving */
	rig_fini(&r);
}

/* Without root (forced here): ownership lives in override_stat. */
TEST(test_owner_xattr)
{
	struct rig r;
	struct fuse_entry_out e, f;
	struct fuse_mknod_in mk = { .mode = S_IFCHR | 0620, .rdev = makedev(4, 64) };
	struct fuse_setattr_in sa = { .valid = FATTR_UID | FATTR_GID, .uid = 1000, .gid = 100 };
	struct fuse_attr a;
	struct stat st;
	char buf[128] = "";
	uint64_t fh;

	rig_init_opts(&r, false, FUSE_OWNER_XATTR, 0, 0);
	put_file(r.dfd, "plain", "x");
	CHECK_ERR(fc_init_session(&r.c), 0);
	fc_start(&r.c, FUSE_MKNOD, FUSE_ROOT_ID);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "tty");
	CHECK_ERR(fc_send(&r.c), 0);
	memcpy(&e, fc_payload(&r.c), sizeof(e));
	CHECK(S_ISCHR(e.attr.mode));
	CHECK_EQ(e.attr.mode & 07777, 0620);
	CHECK_EQ(e.attr.rdev, makedev(4, 64));
	CHECK(fstatat(r.dfd, "tty", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode));
	CHECK(getxattr_host(&r, "tty", "user.containers.override_stat", buf, sizeof(buf) - 1) > 0);
	CHECK(!strcmp(buf, "0:0:0620:char-4-64"));
	CHECK_ERR(fc_open(&r.c, FUSE_OPEN, e.nodeid, O_RDWR, &fh), 0); /* a plain file here */
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, e.nodeid, fh), 0);
	/* chown: shown to the guest, not done on the host. */
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "plain", &f), 0);
	fc_start(&r.c, FUSE_SETATTR, f.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_ERR(fc_getattr(&r.c, f.nodeid, &a), 0);
	CHECK_EQ(a.uid, 1000);
	CHECK_EQ(a.gid, 100);
	CHECK(fstatat(r.dfd, "plain", &st, 0) == 0 && st.st_uid == getuid());
	/* setuid: the guest sees it, the host file never gets it. */
	sa = (struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = 04755 };
	fc_start(&r.c, FUSE_SETATTR, f.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_ERR(fc_getattr(&r.c, f.nodeid, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	CHECK_EQ(a.uid, 1000);
	CHECK(fstatat(r.dfd, "plain", &st, 0) == 0 && (st.st_mode & 07777) == 0755);
	/* A create by uid 1234 reports 1234. */
	r.c.uid = 1234;
	r.c.gid = 55;
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "mine", O_RDWR, 0400, &e, &fh), 0);
	CHECK_EQ(e.attr.uid, 1234);
	CHECK_EQ(e.attr.gid, 55);
	CHECK_EQ(e.attr.mode, S_IFREG | 0400);
	CHECK(fstatat(r.dfd, "mine", &st, 0) == 0 && (st.st_mode & 0600) == 0600);
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "dir", 0700, &e), 0);
	CHECK_EQ(e.attr.uid, 1234);
	/* A corrupt override shows the host's own attributes. */
	CHECK(fsetxattr_path(&r, "mine") == 0);
	{
		char path[160];

		snprintf(path, sizeof(path), "%s/mine", r.share);
		CHECK(setxattr(path, "user.containers.override_stat", "garbage", 7, 0) == 0);
	}
	CHECK_ERR(fc_getattr(&r.c, e.nodeid, &a), 0);
	rig_fini(&r);
}

/* rootless_body: test_rootless's checks, in a child without root's
 * powers; host_uid: who owns what it creates. */
static void rootless_body(int *failed, enum fuse_owner_mode owner, uid_t host_uid)
{
	struct rig r;
	struct fuse_entry_out f, g, sl, l, n;
	struct fuse_mknod_in mk = { .mode = S_IFCHR | 0666, .rdev = makedev(1, 3) };
	struct fuse_setattr_in sa = { .valid = FATTR_UID | FATTR_GID | FATTR_MODE, .mode = 04755 };
	struct fuse_attr a;
	struct stat st;
	uint64_t fh;

	rig_init_opts(&r, false, owner, 0, 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_create(&r.c, FUSE_ROOT_ID, "f", O_RDWR, 0644, &f, &fh), 0);
	CHECK_EQ(f.attr.uid, 0); /* the request's caller, root in the guest */
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0 && st.st_uid == host_uid);
	CHECK_ERR(fc_write(&r.c, f.nodeid, fh, 0, "data", 4), 4);
	/* LINK without CAP_DAC_READ_SEARCH (Linux 6.10+ allows AT_EMPTY_PATH on
	 * a descriptor the caller opened; older kernels take the magic link). */
	CHECK_ERR(fc_link(&r.c, f.nodeid, FUSE_ROOT_ID, "g", &g), 0);
	CHECK_EQ(g.nodeid, f.nodeid);
	CHECK_EQ(g.attr.nlink, 2);
	CHECK_ERR(fc_symlink(&r.c, FUSE_ROOT_ID, "s", "/etc/passwd", &sl), 0);
	CHECK_ERR(fc_link(&r.c, sl.nodeid, FUSE_ROOT_ID, "s2", &l), 0);
	CHECK(S_ISLNK(l.attr.mode));
	/* A device node: a placeholder file here, a device to the guest. */
	fc_start(&r.c, FUSE_MKNOD, FUSE_ROOT_ID);
	fc_add(&r.c, &mk, sizeof(mk));
	fc_str(&r.c, "null");
	CHECK_ERR(fc_send(&r.c), 0);
	memcpy(&n, fc_payload(&r.c), sizeof(n));
	CHECK(S_ISCHR(n.attr.mode));
	CHECK_EQ(n.attr.rdev, makedev(1, 3));
	CHECK(fstatat(r.dfd, "null", &st, 0) == 0 && S_ISREG(st.st_mode));
	/* chown to root and setuid: recorded, not done. */
	fc_start(&r.c, FUSE_SETATTR, f.nodeid);
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_ERR(fc_getattr(&r.c, f.nodeid, &a), 0);
	CHECK_EQ(a.uid, 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	CHECK(fstatat(r.dfd, "f", &st, 0) == 0 && st.st_uid == host_uid && !(st.st_mode & 06000));
	/* A symlink cannot carry it: chown there is accepted and ignored. */
	fc_start(&r.c, FUSE_SETATTR, sl.nodeid);
	sa.valid = FATTR_UID;
	fc_add(&r.c, &sa, sizeof(sa));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, f.nodeid, "user.k", "v", 0), 0);
	CHECK_ERR(xattr_op(&r, FUSE_LISTXATTR, f.nodeid, NULL, NULL, 256), 0);
	CHECK_EQ(fc_payload_len(&r.c), 7); /* "user.k\0", the override hidden */
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASE, f.nodeid, fh), 0);
	rig_fini(&r);
}

/*
 * drop_root: in a child, become uid and gid 65534 (where FUSE_OWNER_AUTO
 * picks the override xattr). No PR_SET_DUMPABLE on purpose: the uid change
 * makes the process non-dumpable, and the server's /proc/self/fd door must
 * work all the same (it does: proc_fd_permission lets a thread group into
 * its own fd folder). Returns false where that uid cannot use /tmp.
 */
static bool drop_root(void)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		_exit(2);
	return access("/tmp", W_OK | X_OK) == 0;
}

/* drop_caps: stay uid 0 but without the capabilities the rootless path
 * lives without (linkat AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH). */
static void drop_caps(void)
{
	static const cap_value_t caps[] = { CAP_DAC_READ_SEARCH, CAP_CHOWN, CAP_MKNOD, CAP_FOWNER,
		                            CAP_FSETID };
	cap_t c = cap_get_proc();

	if (!c || cap_set_flag(c, CAP_EFFECTIVE, 5, caps, CAP_CLEAR) ||
	    cap_set_flag(c, CAP_PERMITTED, 5, caps, CAP_CLEAR) || cap_set_proc(c))
		_exit(2);
	cap_free(c);
}

/*
 * Without root's powers: a child that drops to uid 65534 where the
 * environment lets it, else one that stays uid 0 without the
 * capabilities above and forces the override xattr.
 */
TEST(test_rootless)
{
	int status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		printf("test_rootless: skipped (not root)\n");
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int child_failed = 0;

		if (!drop_root())
			_exit(3); /* the uid is unusable here: see below */
		rootless_body(&child_failed, FUSE_OWNER_AUTO, 65534);
		_exit(child_failed ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		pid = fork();
		if (pid == 0) {
			int child_failed = 0;

			drop_caps();
			rootless_body(&child_failed, FUSE_OWNER_XATTR, 0);
			_exit(child_failed ? 1 : 0);
		}
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "test_rootless: child status %#x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#endif

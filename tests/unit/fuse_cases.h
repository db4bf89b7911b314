/* SPDX-License-Identifier: MIT */
/*
 * fuse_cases.h: the FUSE request tests shared by test_fuse.c (the server
 * driven with byte buffers) and test_fs.c (the same requests through the
 * virtio-fs device and a simulated guest driver): each request type and
 * the hostile cases of issue 10 (names with ".." and "/", a symlink to "/"
 * looked up through, LINK and RENAME with node ids that do not exist, a
 * guest that never forgets, absurd lengths and offsets, truncated
 * requests). The share is <tmp>/share; <tmp>/outside holds a secret that
 * no request may read, change or learn about.
 *
 * The includer defines the transport: rig_send (an fc_send_fn),
 * rig_attach (set r->s, and r->dev if it likes, for the params) and
 * rig_detach, and RIG_OWN_FDS, the descriptors the transport itself holds.
 */
#ifndef KVMBOX_TESTS_FUSE_CASES_H
#define KVMBOX_TESTS_FUSE_CASES_H

#include "check.h"
#include "fuse_client.h"
#include "virtio/fuse.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

struct rig;
static uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room);
static int rig_attach(struct rig *r, const struct fuse_srv_params *p);
static void rig_detach(struct rig *r);

#define SECRET "outside-secret-contents"

struct rig {
	void *dev; /* the transport's (rig_attach) */
	char base[64], share[80], outside[80];
	int dfd; /* the share, for checks from the host side */
	struct fuse_srv *s;
	struct fc c;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* opendir's own */
}

static void put_file(int dfd, const char *name, const char *data)
{
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

static void rig_init_opts(struct rig *r, bool ro, enum fuse_owner_mode owner, uint32_t max_ino,
                          uint32_t max_fh)
{
	struct fuse_srv_params p = {
		.read_only = ro, .owner = owner, .max_inodes = max_ino, .max_handles = max_fh
	};
	int ofd;

	memset(r, 0, sizeof(*r));
	strcpy(r->base, "/tmp/test_fuse.XXXXXX");
	if (!mkdtemp(r->base))
		abort();
	snprintf(r->share, sizeof(r->share), "%s/share", r->base);
	snprintf(r->outside, sizeof(r->outside), "%s/outside", r->base);
	if (mkdir(r->share, 0755) || mkdir(r->outside, 0755))
		abort();
	r->dfd = open(r->share, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ofd = open(r->outside, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->dfd < 0 || ofd < 0)
		abort();
	put_file(ofd, "secret", SECRET);
	close(ofd);
	p.root = r->share;
	fc_init(&r->c, rig_send, r);
	if (rig_attach(r, &p))
		abort();
}

static void rig_init(struct rig *r)
{
	rig_init_opts(r, false, FUSE_OWNER_PASSTHROUGH, 0, 0);
}

static void rig_fini(struct rig *r)
{
	rig_detach(r);
	fc_fini(&r->c);
	close(r->dfd);
	nftw(r->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* outside_intact: the secret is still there, alone, unchanged. */
static bool outside_intact(struct rig *r)
{
	char path[128], buf[64] = "";
	int fd, n = 0;
	DIR *d = opendir(r->outside);
	struct dirent *e;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/secret", r->outside);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return n == 1 && !strcmp(buf, SECRET);
}

/* reply_has: whether the last reply's bytes contain s (nothing learned). */
static bool reply_has(struct rig *r, const char *s)
{
	return memmem(r->c.reply, r->c.reply_len, s, strlen(s)) != NULL;
}

static bool host_exists(struct rig *r, const char *name)
{
	struct stat st;

	return fstatat(r->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* fsetxattr_path: an override_stat xattr on a share file, from the host. */
static int fsetxattr_path(struct rig *r, const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", r->share, name);
	return setxattr(path, "user.containers.override_stat", "0:0:0644:file", 13, 0);
}

static ssize_t getxattr_host(struct rig *r, const char *name, const char *attr, char *buf,
                             size_t size)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", r->share, name);
	return lgetxattr(path, attr, buf, size);
}

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
	CHECK(fchownat(r.dfd, "mine", 4321, 4321, 0) == 0);
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

static int xattr_op(struct rig *r, uint32_t op, uint64_t node, const char *name, const char *val,
                    uint32_t size)
{
	fc_start(&r->c, op, node);
	if (op == FUSE_SETXATTR) {
		struct fuse_setxattr_in in = { .size = (uint32_t)strlen(val) };

		fc_add(&r->c, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
		fc_str(&r->c, name);
		fc_add(&r->c, val, strlen(val));
	} else if (op == FUSE_REMOVEXATTR) {
		fc_str(&r->c, name);
	} else {
		struct fuse_getxattr_in in = { .size = size };

		fc_add(&r->c, &in, sizeof(in));
		if (name)
			fc_str(&r->c, name);
	}
	return fc_send(&r->c);
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
	CHECK(fchmodat(r.dfd, "f", 0600, 0) == 0);
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

/* send_raw: bytes as they are, the header's len field included. */
static uint32_t send_raw(struct rig *r, void *in, uint32_t len, uint32_t room)
{
	return r->c.send(&r->c, in, len, r->c.reply, room);
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
 * picks the override xattr). PR_SET_DUMPABLE: a credential change makes
 * the process non-dumpable, and /proc/self/fd/N (the server's reopening
 * door) then belongs to root: a VMM that drops privileges must set it
 * back. Returns false where this environment denies that uid the basic
 * use of /tmp (some sandboxes do).
 */
static bool drop_root(void)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534) || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
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

/* Every case, for CHECK_MAIN. */
#define FUSE_CASES                                                                                 \
	CASE(test_init), CASE(test_lookup_forget_hardlinks), CASE(test_hostile_names),             \
	    CASE(test_symlink_escape), CASE(test_link_rename_bad_ids), CASE(test_file_io),         \
	    CASE(test_setattr), CASE(test_dir_ops), CASE(test_readdir), CASE(test_readdir_large),  \
	    CASE(test_xattr), CASE(test_misc_ops), CASE(test_read_only), CASE(test_never_forgets), \
	    CASE(test_malformed), CASE(test_owner_xattr), CASE(test_rootless)

#endif

// SPDX-License-Identifier: MIT
/*
 * Unit tests of trees as tar (proto/tar_*.c, the agent's fs.tar_out and
 * fs.tar_in, the client's copies both ways): a tree with every kind of
 * entry and awkward names out and back in, interchange with GNU tar, a
 * stream fed in odd chunks, broken streams, and every way a hostile
 * stream tries to leave its folder, refused by the agent and by the
 * client's own extraction alike. The rig: test_agent_files.h.
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_agent_files.h"

#include <dirent.h>

/* mk: a host file rel under dir with text and mode (never through a symlink). */
static int mk(int dir, const char *rel, const char *text, mode_t mode)
{
	int fd = openat(dir, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) < 0)
		err = -EIO;
	close(fd);
	return err;
}

/* tree: a folder with every kind of entry tar carries, and awkward names. */
static int tree(int dir)
{
	char deep[400], name[256], d[101];
	int err = 0;

	memset(name, 'n', 255);
	name[255] = '\0';
	/* Two 100-byte folders and a file: a path over ustar's 256 bytes (a pax path). */
	memset(d, 'd', 100);
	d[100] = '\0';
	err |= mkdirat(dir, "sub", 0750);
	err |= mkdirat(dir, "sub/empty", 0700);
	err |= mkdirat(dir, d, 0755);
	snprintf(deep, sizeof(deep), "%s/%s", d, d);
	err |= mkdirat(dir, deep, 0755);
	snprintf(deep, sizeof(deep), "%s/%s/file-at-depth", d, d);
	err |= mk(dir, deep, "deep", 0644);
	err |= mk(dir, "sub/exec", "#!/bin/sh\n", 04755);
	err |= mk(dir, "sub/empty-file", "", 0600);
	err |= mk(dir, "with space\nand newline \xc3\xa9", "utf8", 0644);
	err |= mk(dir, "not-utf8-\xff", "bytes", 0644);
	err |= mk(dir, name, "255", 0644);
	err |= symlinkat("sub/exec", dir, "rel-link");
	err |= symlinkat("/abs/target/that/does/not/exist", dir, "abs-link");
	err |= mkfifoat(dir, "fifo", 0640);
	return err ? -EIO : 0;
}

/* same: whether the trees under a/an and b/bn hold the same entries (type, mode, bytes). */
static bool same(int a, const char *an, int b, const char *bn, int *count)
{
	struct stat sa, sb;
	bool ok = true;

	if (fstatat(a, an, &sa, AT_SYMLINK_NOFOLLOW) || fstatat(b, bn, &sb, AT_SYMLINK_NOFOLLOW))
		return false;
	(*count)++;
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
	    (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777)) ||
	    (S_ISREG(sa.st_mode) && sa.st_size != sb.st_size)) {
		fprintf(stderr, "differs: %s\n", an);
		return false;
	}
	if (S_ISLNK(sa.st_mode)) {
		char la[4096] = "", lb[4096] = "";

		return readlinkat(a, an, la, sizeof(la) - 1) > 0 &&
		       readlinkat(b, bn, lb, sizeof(lb) - 1) > 0 && strcmp(la, lb) == 0;
	}
	if (S_ISREG(sa.st_mode)) {
		char ca[64] = "", cb[64] = "";
		int fa = openat(a, an, O_RDONLY | O_NOFOLLOW),
		    fb = openat(b, bn, O_RDONLY | O_NOFOLLOW);

		ok = fa >= 0 && fb >= 0 && read(fa, ca, sizeof(ca)) == read(fb, cb, sizeof(cb)) &&
		     memcmp(ca, cb, sizeof(ca)) == 0;
		close(fa);
		close(fb);
		return ok;
	}
	if (S_ISDIR(sa.st_mode)) {
		int da = openat(a, an, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		int db = openat(b, bn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		DIR *d = fdopendir(dup(da));
		struct dirent *e;
		int na = 0, nb = 0;

		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				ok = ok && same(da, e->d_name, db, e->d_name, &na);
		if (d)
			closedir(d);
		d = fdopendir(dup(db));
		while (d && (e = readdir(d)))
			nb += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		if (d)
			closedir(d);
		ok = ok && na >= nb && da >= 0 && db >= 0;
		*count += na;
		close(da);
		close(db);
	}
	return ok;
}

TEST(tree_out_and_in)
{
	struct proto_fs_status st = { 0 };
	struct proto_why why = { "" };
	char local[64] = "/tmp/kvmbox-local-XXXXXX", p[4200], cmd[300];
	int root, lfd, n = 0;
	struct frig r;

	CHECK_EQ(frig_start(&r, 0), 0);
	root = open(r.root, O_PATH | O_DIRECTORY);
	CHECK(mkdirat(root, "src", 0755) == 0);
	int src = openat(root, "src", O_PATH | O_DIRECTORY | O_NOFOLLOW);
	CHECK_EQ(tree(src), 0);
	CHECK(mkdtemp(local) != NULL);
	lfd = open(local, O_PATH | O_DIRECTORY);
	/* Out: the guest's /src as local/src. */
	CHECK_EQ(proto_client_fs_tar_out(&r.pc, "/src", NULL, lfd, &st, &why), 0);
	if (why.text[0])
		fprintf(stderr, "tar_out: %s\n", why.text);
	CHECK(same(root, "src", lfd, "src", &n));
	CHECK(n >= 13 && st.entries == (uint64_t)n && st.skipped == 0);
	/* In: local/src's contents into the guest's /dst. */
	CHECK(mkdirat(root, "dst", 0755) == 0);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(proto_client_fs_tar_in(&r.pc, "/dst", lfd, "src", "", &st, &why), 0);
	CHECK_EQ(st.entries, (uint64_t)n - 1); /* without the top folder */
	n = 0;
	CHECK(same(root, "src", root, "dst", &n));
	/* GNU tar reads our stream, and we read GNU tar's (its own format, long names). */
	snprintf(cmd, sizeof(cmd),
	         "tar -C %s -cf %s/gnu.tar src && mkdir %s/gnu && "
	         "tar -C %s/gnu -xf %s/gnu.tar",
	         local, local, local, local, local);
	CHECK(system(cmd) == 0);
	n = 0;
	CHECK(same(root, "src", lfd, "gnu/src", &n));
	(void)p;
	close(lfd);
	close(src);
	close(root);
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", local);
	CHECK(system(cmd) == 0);
	CHECK_EQ(frig_stop(&r), 0);
}

/* tar_buf: a stream of entries (path, type, linkpath, data) into buf; its length. */
struct ent {
	const char *path;
	char type;
	const char *link, *data;
};

static size_t tar_buf(const struct ent *e, size_t n, uint8_t *buf, size_t cap)
{
	size_t len = 0, h;

	for (size_t i = 0; i < n; i++) {
		size_t dl = e[i].data ? strlen(e[i].data) : 0;
		struct proto_tar_entry t = { .type = e[i].type,
			                     .path = e[i].path,
			                     .linkpath = e[i].link ? e[i].link : "",
			                     .mode = 0644,
			                     .size = dl };

		if (proto_tar_header(&t, buf + len, cap - len, &h))
			return 0;
		len += h;
		memcpy(buf + len, e[i].data ? e[i].data : "", dl);
		len += (dl + 511) / 512 * 512;
		memset(buf + len - ((512 - dl % 512) % 512), 0, (512 - dl % 512) % 512);
	}
	memset(buf + len, 0, 1024);
	return len + 1024;
}

/* A frame of raw bytes sent as fs.tar_in to /dest; the answer's errno ("" for a reply). */
static void tar_in(struct frig *r, const uint8_t *buf, size_t len, char *err_no, size_t cap)
{
	json_t *m = NULL;

	answer(
	    r,
	    "{\"id\":7,\"type\":\"request\",\"op\":\"fs.tar_in\",\"path\":\"/dest\",\"eof\":true}",
	    buf, len, &m);
	snprintf(err_no, cap, "%s", m ? err_field(m, "errno") : "none");
	json_decref(m);
}

/* count_outside: the entries of root but dest and outside, plus those in outside. */
static int count_outside(const char *root)
{
	char cmd[200], out[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find %s -mindepth 1 -not -path '%s/dest*' | wc -l", root, root);
	f = popen(cmd, "r");
	if (!f || !fgets(out, sizeof(out), f))
		out[0] = '\0';
	if (f)
		pclose(f);
	return atoi(out);
}

TEST(escapes_refused)
{
	static const struct ent cases[][2] = {
		{ { "../evil", '0', NULL, "x" } },
		{ { "/abs-evil", '0', NULL, "x" } },
		{ { "a/../../evil", '0', NULL, "x" } },
		{ { "l", '2', "/", NULL }, { "l/evil", '0', NULL, "x" } },
		{ { "l2", '2', "..", NULL }, { "l2/evil", '0', NULL, "x" } },
		{ { "h", '1', "../outside/secret", NULL } },
		{ { "l3", '2', "../outside", NULL }, { "h3", '1', "l3/secret", NULL } },
		{ { "f", '0', NULL, "x" }, { "f/x", '0', NULL, "x" } },
		{ { "d/", '5', NULL, NULL }, { "d/../../evil", '5', NULL, NULL } },
		/* Over 100 bytes: the name travels in a pax header. */
		{ { "p/"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
		    "../../../"
		    "evil",
		    '0', NULL, "x" } },
	};
	uint8_t buf[64 << 10];
	char en[32];
	struct frig r;
	int root, before;

	CHECK_EQ(frig_start(&r, 0), 0);
	root = open(r.root, O_PATH | O_DIRECTORY);
	CHECK(mkdirat(root, "outside", 0755) == 0);
	CHECK_EQ(mk(root, "outside/secret", "secret", 0600), 0);
	before = count_outside(r.root);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = tar_buf(cases[i], cases[i][1].path ? 2 : 1, buf, sizeof(buf));
		char local[64] = "/tmp/kvmbox-untar-XXXXXX", cmd[128];
		struct proto_why why = { "" };
		struct proto_untar *u;
		const char *bad;
		int lfd;

		CHECK(mkdirat(root, "dest", 0755) == 0);
		tar_in(&r, buf, len, en, sizeof(en));
		if (strcmp(en, "EXDEV") != 0)
			fprintf(stderr, "case %zu: errno %s\n", i, en);
		CHECK(strcmp(en, "EXDEV") == 0);
		CHECK_EQ(count_outside(r.root), before);
		CHECK(system("true") == 0);
		snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s/dest", r.root);
		CHECK(system(cmd) == 0);
		/* The client's own extraction refuses the same. */
		CHECK(mkdtemp(local) != NULL);
		lfd = open(local, O_PATH | O_DIRECTORY);
		CHECK_EQ(proto_untar_new(&u, lfd, false), 0);
		CHECK_ERR(proto_untar_feed(u, buf, len, &bad, &why), -EXDEV);
		proto_untar_free(u);
		close(lfd);
		snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", local);
		CHECK(system(cmd) == 0);
	}
	/* A hard link inside the folder is fine, and so is a symlink out that nothing follows. */
	{
		static const struct ent ok[] = { { "a", '0', NULL, "data" },
			                         { "b", '1', "a", NULL },
			                         { "s", '2', "/etc", NULL } };
		size_t len = tar_buf(ok, 3, buf, sizeof(buf));
		struct stat sa, sb;

		CHECK(mkdirat(root, "dest", 0755) == 0);
		tar_in(&r, buf, len, en, sizeof(en));
		CHECK(strcmp(en, "") == 0);
		CHECK(fstatat(root, "dest/a", &sa, 0) == 0 &&
		      fstatat(root, "dest/b", &sb, 0) == 0 && sa.st_ino == sb.st_ino);
	}
	close(root);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(broken_and_chunked_streams)
{
	static const struct ent e[] = { { "dir/", '5', NULL, NULL },
		                        { "dir/file", '0', NULL, "chunked across frames" } };
	uint8_t buf[16 << 10], bad[16 << 10];
	char text[200], en[32];
	size_t len = tar_buf(e, 2, buf, sizeof(buf));
	struct frig r;
	json_t *m;
	int root;

	CHECK_EQ(frig_start(&r, 0), 0);
	root = open(r.root, O_PATH | O_DIRECTORY);
	CHECK(mkdirat(root, "dest", 0755) == 0);
	/* The stream in 7-byte pieces: headers split anywhere. */
	CHECK_EQ(answer(&r,
	                "{\"id\":1,\"type\":\"request\",\"op\":\"fs.tar_in\",\"path\":\"/dest\"}",
	                buf, 7, &m),
	         0);
	json_decref(m);
	for (size_t off = 7; off < len; off += 7) {
		size_t n = len - off < 7 ? len - off : 7;

		snprintf(
		    text, sizeof(text),
		    "{\"id\":%zu,\"type\":\"request\",\"op\":\"fs.data\",\"xfer_id\":1,\"eof\":%s}",
		    off + 100, off + n == len ? "true" : "false");
		CHECK_EQ(answer(&r, text, buf + off, n, &m), 0);
		CHECK(strcmp(str_of(m, "type"), "reply") == 0);
		if (off + n == len)
			CHECK_EQ(json_integer_value(json_object_get(m, "entries")), 2);
		json_decref(m);
	}
	CHECK_EQ(slurp(&r, "dest/dir/file", (char *)bad, sizeof(bad)), 21);
	/* A header with a wrong checksum, and a stream cut inside an entry. */
	memcpy(bad, buf, len);
	bad[10] ^= 1;
	tar_in(&r, bad, len, en, sizeof(en));
	CHECK(strcmp(en, "EINVAL") == 0);
	tar_in(&r, buf, 512 + 100, en, sizeof(en));
	CHECK(strcmp(en, "EINVAL") == 0);
	close(root);
	CHECK_EQ(frig_stop(&r), 0);
}

CHECK_MAIN(CASE(tree_out_and_in), CASE(escapes_refused), CASE(broken_and_chunked_streams))

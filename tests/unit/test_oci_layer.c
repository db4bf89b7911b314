// SPDX-License-Identifier: MIT
/*
 * test_oci_layer: oci_layer_apply and oci_rm_tree (oci/layer*.c) on
 * honest layers: what lands on the host (modes, contents, links, mtimes,
 * the override xattr, user xattrs), later entries over earlier ones,
 * whiteouts and opaque folders, the compression against the media type,
 * the limits, corrupt streams, and removing deep trees. Hostile layers
 * are test_oci_layer_hostile.c's.
 */
#include "layer_rig.h"

#include <locale.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

static mode_t mode_of(int dirfd, const char *name)
{
	struct stat sb;

	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? 0 : sb.st_mode;
}

static struct stat stat_of(int dirfd, const char *name)
{
	struct stat sb = { 0 };

	(void)fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW);
	return sb;
}

static const char *contents(int dirfd, const char *name, char *buf, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

/* layer_norm: tar names as docker, GNU tar and hostile streams write them. */
TEST(test_norm)
{
	static const struct {
		const char *in, *out;
		int rc;
	} v[] = {
		{ "./", "", 0 },
		{ ".", "", 0 },
		{ "./etc/passwd", "etc/passwd", 0 },
		{ "././etc//x/./y/", "etc/x/y", 0 },
		{ "usr/bin/", "usr/bin", 0 },
		{ "..", NULL, -EPERM },
		{ "../x", NULL, -EPERM },
		{ "a/../../x", NULL, -EPERM },
		{ "a/..", NULL, -EPERM },
		{ "/etc/x", NULL, -EPERM },
		{ "//x", NULL, -EPERM },
		{ "", NULL, -EINVAL },
		{ "...", "...", 0 },
		{ "..a/b..", "..a/b..", 0 },
	};
	char out[PATH_MAX], small[4];
	const char *base;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_ERR(layer_norm(v[i].in, out, sizeof(out)), v[i].rc);
		if (v[i].out)
			CHECK(!strcmp(out, v[i].out));
	}
	CHECK_ERR(layer_norm(NULL, out, sizeof(out)), -EINVAL);
	CHECK_ERR(layer_norm("abcd", small, sizeof(small)), -ENAMETOOLONG);
	CHECK_ERR(layer_norm("abc", small, sizeof(small)), 0);
	CHECK_ERR(layer_split("a/b/c", out, &base), 0);
	CHECK(!strcmp(out, "a/b") && !strcmp(base, "c"));
	CHECK_ERR(layer_split("c", out, &base), 0);
	CHECK(!strcmp(out, "") && !strcmp(base, "c"));
	CHECK_ERR(layer_split("a/.wh.b/c", out, &base), -EPERM);
	CHECK_ERR(layer_split(".wh.x/c", out, &base), -EPERM);
	CHECK_ERR(layer_split("a/.wh.c", out, &base), 0);
	layer_show("a\n\x1b[2Jb", out, sizeof(out));
	CHECK(!strcmp(out, "a??[2Jb"));
}

#define OVR(name) xattr_of(t.dest, (name), OCI_OVERRIDE_XATTR, x, sizeof(x))

/* A base layer as docker would write it, through gzip. */
TEST(test_normal_layer)
{
	struct tree t;
	char x[256], buf[64];
	struct stat sb;

	tree_init(&t);
	int fd = TAR(ARCHIVE_FILTER_GZIP, { .name = "./", .type = AE_IFDIR, .mtime = 1000 },
	             { .name = "./etc/", .type = AE_IFDIR, .mtime = 2000 },
	             { .name = "./etc/passwd", .data = "root:x:0:0\n", .len = 11, .mtime = 3000 },
	             { .name = "bin", .type = AE_IFDIR, .mtime = 4000 },
	             { .name = "bin/busybox", .mode = 0755, .data = "ELF", .len = 3 },
	             { .name = "bin/su",
	               .mode = 04755,
	               .data = "su",
	               .len = 2,
	               .mtime = 5,
	               .mtime_ns = 500000000 },
	             { .name = "bin/sh", .type = AE_IFLNK, .link = "busybox", .mtime = 6000 },
	             HARD("bin/ash", "./bin/busybox"),
	             { .name = "home/user/",
	               .type = AE_IFDIR,
	               .mode = 0700,
	               .uid = 1000,
	               .gid = 1001,
	               .mtime = 7000 },
	             { .name = "home/user/.profile",
	               .mode = 0600,
	               .uid = 1000,
	               .gid = 1001,
	               .data = "PS1=$\n",
	               .len = 6,
	               .xname = "user.mime_type",
	               .xval = "text/plain",
	               .xname2 = "security.capability",
	               .xval2 = "x" },
	             { .name = "tmp/", .type = AE_IFDIR, .mode = 01777 },
	             { .name = "run/initctl", .type = AE_IFIFO, .mode = 0600 },
	             { .name = "dev/null", .type = AE_IFCHR, .mode = 0666, .maj = 1, .min = 3 },
	             { .name = "dev/sda", .type = AE_IFBLK, .mode = 0660, .gid = 6, .maj = 8 },
	             { .name = "big", .len = 300000 });

	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0), 0);
	CHECK(!strcmp(t.err, ""));

	CHECK_EQ(mode_of(t.dest, "etc"), S_IFDIR | 0755);
	CHECK(!strcmp(OVR("etc"), "0:0:0755:dir"));
	CHECK(!strcmp(contents(t.dest, "etc/passwd", buf, sizeof(buf)), "root:x:0:0\n"));
	CHECK_EQ(mode_of(t.dest, "etc/passwd"), S_IFREG | 0644);
	CHECK(!strcmp(OVR("etc/passwd"), "0:0:0644:file"));
	CHECK_EQ(stat_of(t.dest, "etc/passwd").st_mtime, 3000);

	/* setuid stays in the override, never on the host */
	CHECK_EQ(mode_of(t.dest, "bin/su"), S_IFREG | 0755);
	CHECK(!strcmp(OVR("bin/su"), "0:0:04755:file"));
	sb = stat_of(t.dest, "bin/su");
	CHECK_EQ(sb.st_mtim.tv_sec, 5);
	CHECK_EQ(sb.st_mtim.tv_nsec, 500000000);

	CHECK_EQ(mode_of(t.dest, "bin/sh") & S_IFMT, S_IFLNK);
	CHECK_EQ(readlinkat(t.dest, "bin/sh", buf, sizeof(buf)), 7);
	CHECK(!memcmp(buf, "busybox", 7));
	CHECK_EQ(stat_of(t.dest, "bin/sh").st_mtime, 6000);

	CHECK_EQ(stat_of(t.dest, "bin/ash").st_ino, stat_of(t.dest, "bin/busybox").st_ino);
	CHECK_EQ(stat_of(t.dest, "bin/busybox").st_nlink, 2);

	/* a folder the stream left out: made, root's 0755 in the guest */
	CHECK_EQ(mode_of(t.dest, "home"), S_IFDIR | 0755);
	CHECK(!strcmp(OVR("home"), "0:0:0755:dir"));
	CHECK_EQ(mode_of(t.dest, "home/user"), S_IFDIR | 0755);
	CHECK(!strcmp(OVR("home/user"), "1000:1001:0700:dir"));
	CHECK_EQ(stat_of(t.dest, "home/user").st_mtime, 7000);
	CHECK(!strcmp(OVR("home/user/.profile"), "1000:1001:0600:file"));
	CHECK_EQ(mode_of(t.dest, "home/user/.profile"), S_IFREG | 0644);
	CHECK_EQ(stat_of(t.dest, "home/user/.profile").st_uid, geteuid());
	CHECK(!strcmp(xattr_of(t.dest, "home/user/.profile", "user.mime_type", x, sizeof(x)),
	              "text/plain"));
	CHECK(!strcmp(xattr_of(t.dest, "home/user/.profile", "security.capability", x, sizeof(x)),
	              ""));

	CHECK(!strcmp(OVR("tmp"), "0:0:01777:dir"));
	CHECK_EQ(mode_of(t.dest, "tmp"), S_IFDIR | 0755);
	CHECK_EQ(mode_of(t.dest, "run/initctl"), S_IFREG | 0644);
	CHECK(!strcmp(OVR("run/initctl"), "0:0:0600:pipe"));
	if (geteuid() == 0) {
		CHECK_EQ(mode_of(t.dest, "dev/null"), S_IFREG | 0644);
		CHECK(!strcmp(OVR("dev/null"), "0:0:0666:char-1-3"));
		CHECK(!strcmp(OVR("dev/sda"), "0:6:0660:block-8-0"));
		CHECK_EQ(t.st.skipped_devices, 0);
	}
	CHECK_EQ(stat_of(t.dest, "big").st_size, 300000);

	/* the root's own entry: its attributes, its mtime set last */
	CHECK(!strcmp(xattr_of(t.topfd, "dest", OCI_OVERRIDE_XATTR, x, sizeof(x)), "0:0:0755:dir"));
	CHECK_EQ(stat_of(t.topfd, "dest").st_mtime, 1000);
	CHECK_EQ(stat_of(t.dest, "bin").st_mtime, 4000);

	CHECK_EQ(t.st.entries, 15);
	CHECK_EQ(t.st.bytes, 11 + 3 + 2 + 6 + 300000);
	CHECK_EQ(t.st.hardlinks, 1);
	CHECK_EQ(t.st.skipped_xattrs, 1);
	CHECK_EQ(t.st.whiteouts + t.st.opaques, 0);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

/* The override and overlay xattrs are this representation's: a layer's own
 * are dropped (it could otherwise pose as root's setuid file). */
TEST(test_reserved_xattrs)
{
	struct tree t;
	char x[128];

	tree_init(&t);
	int fd =
	    TAR(ARCHIVE_FILTER_NONE,
	        { .name = "f",
	          .uid = 5,
	          .data = "1",
	          .len = 1,
	          .xname = OCI_OVERRIDE_XATTR,
	          .xval = "0:0:04755:file",
	          .xname2 = "user.overlay.opaque",
	          .xval2 = "y" },
	        { .name = "d",
	          .type = AE_IFDIR,
	          .xname = "user.overlay.redirect",
	          .xval = "/etc",
	          .xname2 = "trusted.overlay.opaque",
	          .xval2 = "y" },
	        { .name = "l", .type = AE_IFLNK, .link = "f", .xname = "user.a", .xval = "b" });

	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_TAR, 0, 0), 0);
	CHECK(!strcmp(OVR("f"), "5:0:0644:file"));
	CHECK(!strcmp(xattr_of(t.dest, "f", OCI_OPAQUE_XATTR, x, sizeof(x)), ""));
	CHECK(!strcmp(xattr_of(t.dest, "d", "user.overlay.redirect", x, sizeof(x)), ""));
	CHECK_EQ(t.st.skipped_xattrs, 5);
	tree_fini(&t);
}

/* layer.md "Changeset over existing files", within one layer. */
TEST(test_later_entries_replace)
{
	struct tree t;
	char x[128], buf[32];

	tree_init(&t);
	int fd =
	    TAR(ARCHIVE_FILTER_ZSTD, FILE_("a", "file"),
	        { .name = "a/", .type = AE_IFDIR, .mode = 0750, .mtime = 10 },
	        FILE_("d/x/y", "deep"), FILE_("d", "now a file"),
	        { .name = "e/", .type = AE_IFDIR, .mode = 0700, .mtime = 20 }, FILE_("e/kept", "k"),
	        { .name = "e/", .type = AE_IFDIR, .mode = 0750, .uid = 7, .mtime = 30 },
	        SYMLINK("s", "/etc/passwd"), FILE_("s", "plain"), FILE_("h", "old"),
	        HARD("h2", "h"), FILE_("h", "new"));

	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_ZSTD, 0, 0), 0);
	CHECK_EQ(mode_of(t.dest, "a"), S_IFDIR | 0755);
	CHECK(!strcmp(OVR("a"), "0:0:0750:dir"));
	CHECK_EQ(stat_of(t.dest, "a").st_mtime, 10);
	CHECK(!strcmp(contents(t.dest, "d", buf, sizeof(buf)), "now a file"));
	CHECK(!strcmp(contents(t.dest, "e/kept", buf, sizeof(buf)), "k"));
	CHECK(!strcmp(OVR("e"), "7:0:0750:dir"));
	CHECK_EQ(stat_of(t.dest, "e").st_mtime, 30);
	CHECK_EQ(mode_of(t.dest, "s") & S_IFMT, S_IFREG);
	CHECK(!strcmp(contents(t.dest, "s", buf, sizeof(buf)), "plain"));
	CHECK(!strcmp(contents(t.dest, "h2", buf, sizeof(buf)), "old"));
	CHECK(!strcmp(contents(t.dest, "h", buf, sizeof(buf)), "new"));
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

/* layer.md "Whiteouts" and "Opaque Whiteout", as overlayfs keeps them. */
TEST(test_whiteouts)
{
	struct tree t;
	char x[128], buf[32];

	tree_init(&t);
	int fd = TAR(
	    ARCHIVE_FILTER_GZIP, FILE_("etc/.wh.gone", ""), FILE_("usr/share/doc/.wh..wh..opq", ""),
	    DIR_("var/"), FILE_("var/.wh..wh..opq", ""), FILE_("present", "here"),
	    FILE_(".wh.present", ""), FILE_(".wh.later", ""), FILE_("later", "back"),
	    FILE_(".wh..wh.plnk", ""), DIR_(".wh..wh.orph/"), FILE_(".wh..wh.plnk/1.2", "aufs"),
	    FILE_(".wh..wh..opq", ""), FILE_("etc/.wh.gone", ""));

	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0), 0);
	CHECK_EQ(mode_of(t.dest, "etc/gone"), S_IFREG | 0644);
	CHECK_EQ(stat_of(t.dest, "etc/gone").st_size, 0);
	CHECK(!strcmp(OVR("etc/gone"), "0:0:00:char-0-0"));
	CHECK_EQ(mode_of(t.dest, "etc/.wh.gone"), 0);
	CHECK(!strcmp(xattr_of(t.dest, "usr/share/doc", OCI_OPAQUE_XATTR, x, sizeof(x)), "y"));
	CHECK(!strcmp(xattr_of(t.dest, "usr/share", OCI_OPAQUE_XATTR, x, sizeof(x)), ""));
	CHECK(!strcmp(xattr_of(t.dest, "var", OCI_OPAQUE_XATTR, x, sizeof(x)), "y"));
	CHECK(!strcmp(xattr_of(t.topfd, "dest", OCI_OPAQUE_XATTR, x, sizeof(x)), "y"));
	/* a whiteout hides lower layers only, never what its own layer has */
	CHECK(!strcmp(contents(t.dest, "present", buf, sizeof(buf)), "here"));
	CHECK(!strcmp(OVR("present"), "0:0:0644:file"));
	CHECK(!strcmp(contents(t.dest, "later", buf, sizeof(buf)), "back"));
	CHECK(!strcmp(OVR("later"), "0:0:0644:file"));
	CHECK_EQ(mode_of(t.dest, ".wh..wh.plnk"), 0);
	CHECK_EQ(mode_of(t.dest, "plnk"), 0);
	CHECK_EQ(mode_of(t.dest, ".wh..wh.orph"), 0);
	CHECK_EQ(t.st.entries, 13);
	CHECK_EQ(t.st.whiteouts, 2);
	CHECK_EQ(t.st.opaques, 3);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

/* A UTF-8 name in a pax header keeps its bytes whatever the locale: here
 * written as UTF-8 (hdrcharset not BINARY), read in the C locale, where
 * libarchive warns that it cannot convert it. */
TEST(test_utf8_name)
{
	struct tree t;
	int fd;

	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		return;
	tree_init(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, FILE_("caf\xc3\xa9/na\xc3\xafve", "x"));
	setlocale(LC_CTYPE, "C");

	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), 0);
	CHECK_EQ(mode_of(t.dest, "caf\xc3\xa9/na\xc3\xafve"), S_IFREG | 0644);
	tree_fini(&t);
}

/* The compression must be the one the media type names. */
TEST(test_media)
{
	static const struct {
		int filter;
		enum oci_media media;
		int rc;
	} v[] = {
		{ ARCHIVE_FILTER_NONE, OCI_MEDIA_LAYER_TAR, 0 },
		{ ARCHIVE_FILTER_GZIP, OCI_MEDIA_LAYER_GZIP, 0 },
		{ ARCHIVE_FILTER_ZSTD, OCI_MEDIA_LAYER_ZSTD, 0 },
		{ ARCHIVE_FILTER_ZSTD, OCI_MEDIA_UNKNOWN, 0 },
		{ ARCHIVE_FILTER_GZIP, OCI_MEDIA_LAYER_ZSTD, -EINVAL },
		{ ARCHIVE_FILTER_ZSTD, OCI_MEDIA_LAYER_GZIP, -EINVAL },
		{ ARCHIVE_FILTER_NONE, OCI_MEDIA_LAYER_GZIP, -EINVAL },
		{ ARCHIVE_FILTER_GZIP, OCI_MEDIA_LAYER_TAR, -EINVAL },
		{ ARCHIVE_FILTER_GZIP, OCI_MEDIA_LAYER_FOREIGN, -ENOTSUP },
		{ ARCHIVE_FILTER_NONE, OCI_MEDIA_MANIFEST, -EINVAL },
	};
	struct tree t;

	tree_init(&t);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int fd = TAR(v[i].filter, FILE_("f", "x"));

		CHECK_ERR(apply(&t, fd, v[i].media, 0, 0), v[i].rc);
		CHECK_EQ(mode_of(t.dest, "f") != 0, v[i].rc == 0);
		if (v[i].rc == -EINVAL && v[i].media != OCI_MEDIA_MANIFEST)
			CHECK(strstr(t.err, "the media type says") != NULL);
		tree_reset(&t);
	}
	tree_fini(&t);
}

/* A gzip of a gzip: a layer is compressed once at most. */
TEST(test_double_gzip)
{
	struct tree t;
	struct archive *a;
	int fd, inner = TAR(ARCHIVE_FILTER_GZIP, FILE_("f", "x"));
	char buf[4096];
	ssize_t n;

	tree_init(&t);
	a = archive_write_new();
	fd = memfd_create("gz2", MFD_CLOEXEC);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	archive_write_open_fd(a, fd);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_write_header(a, e);
	while ((n = read(inner, buf, sizeof(buf))) > 0)
		archive_write_data(a, buf, (size_t)n);
	archive_entry_free(e);
	close(inner);
	tar_close(a, fd);
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "more than once") != NULL);
	tree_fini(&t);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 200 MiB of zeros in a few hundred KiB of gzip: stopped at the limit. */
TEST(test_gzip_bomb)
{
	struct tree t;
	struct stat sb;
	double t0;
	int fd;

	tree_init(&t);
	fd = TAR(ARCHIVE_FILTER_GZIP, { .name = "zeros", .len = 200u << 20 });
	fstat(fd, &sb);
	CHECK(sb.st_size < (2 << 20));
	t0 = now_s();
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 1 << 20, 0), -EFBIG);
	CHECK(now_s() - t0 < 2.0);
	CHECK(strstr(t.err, "zeros") != NULL);
	CHECK(t.st.bytes <= (1 << 20));
	tree_reset(&t);

	/* the same spread over files, each under the limit */
	struct archive *a = tar_open(ARCHIVE_FILTER_GZIP, &fd);
	char name[32];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		tar_add(a, &(struct ent){ .name = name, .len = 1u << 20 });
	}
	tar_close(a, fd);
	t0 = now_s();
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 10u << 20, 0), -EFBIG);
	CHECK(now_s() - t0 < 2.0);
	CHECK(t.st.bytes <= (10u << 20));
	CHECK_EQ(t.st.entries, 11);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

TEST(test_too_many_entries)
{
	struct tree t;
	struct archive *a;
	char name[32];
	int fd;

	tree_init(&t);
	a = tar_open(ARCHIVE_FILTER_NONE, &fd);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		tar_add(a, &(struct ent){ .name = name });
	}
	tar_close(a, fd);
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 10), -EFBIG);
	CHECK_EQ(t.st.entries, 10);
	CHECK(strstr(t.err, "f10") != NULL);
	tree_reset(&t);

	/* the folders made for an entry count too */
	fd = TAR(ARCHIVE_FILTER_NONE, FILE_("a/b/c/d/e/f/g/h/i/j/k", "x"));
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 5), -EFBIG);
	CHECK_EQ(mode_of(t.dest, "a/b/c/d/e"), 0);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

TEST(test_corrupt_streams)
{
	static const char garbage[] = "this is not a tar stream, nor gzip, nor zstd........";
	struct tree t;
	struct stat sb;
	char *zeros = calloc(1, 4096);
	int fd;

	tree_init(&t);
	/* truncated in the middle of a file's data */
	struct archive *a = tar_open(ARCHIVE_FILTER_GZIP, &fd);
	size_t rlen = 1u << 20;
	char *rnd = malloc(rlen);
	unsigned int seed = 1;
	for (size_t i = 0; i < rlen; i++)
		rnd[i] = (char)rand_r(&seed);
	tar_add(a, &(struct ent){ .name = "ok", .data = "x", .len = 1 });
	tar_add(a, &(struct ent){ .name = "random", .data = rnd, .len = rlen });
	tar_close(a, fd);
	free(rnd);
	fstat(fd, &sb);
	CHECK(ftruncate(fd, sb.st_size / 2) == 0);
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "random") != NULL);
	tree_reset(&t);

	/* truncated in a header */
	fd = TAR(ARCHIVE_FILTER_NONE, FILE_("a", "x"), FILE_("b", "y"));
	CHECK(ftruncate(fd, 512 + 512 + 100) == 0);
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_TAR, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "corrupt") != NULL);
	tree_reset(&t);

	CHECK_ERR(apply(&t, bytes_fd(garbage, sizeof(garbage)), OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "not a tar stream") != NULL);
	CHECK_ERR(apply(&t, bytes_fd("", 0), OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	/* a gzip magic and then nothing sensible */
	CHECK_ERR(
	    apply(&t, bytes_fd("\x1f\x8b\x08\x00garbagegarbage", 18), OCI_MEDIA_UNKNOWN, 0, 0),
	    -EINVAL);
	/* a zip is no tar */
	CHECK_ERR(
	    apply(&t, bytes_fd("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10), OCI_MEDIA_UNKNOWN, 0, 0),
	    -EINVAL);
	/* only zero blocks: an empty tar, which is a valid empty layer */
	CHECK_ERR(apply(&t, bytes_fd(zeros, 1024), OCI_MEDIA_LAYER_TAR, 0, 0), 0);
	CHECK(tree_outside_same(&t));
	free(zeros);
	tree_fini(&t);
}

/* oci_rm_tree: deeper than any descriptor budget, never through a symlink. */
TEST(test_rm_tree)
{
	struct rlimit old, low = { 64, 64 };
	struct tree t;
	int fd, r;

	tree_init(&t);
	fd = openat(t.dest, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 1500 && fd >= 0; i++) {
		int sub;

		CHECK(mkdirat(fd, "d", 0755) == 0);
		put_file(fd, "f", "x");
		CHECK(symlinkat(t.outside, fd, "out") == 0);
		CHECK(symlinkat("/", fd, "root") == 0);
		sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = sub;
	}
	close(fd);
	getrlimit(RLIMIT_NOFILE, &old);
	setrlimit(RLIMIT_NOFILE, &low);
	r = oci_rm_tree(t.topfd, "dest");
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK_ERR(r, 0);
	CHECK_EQ(mode_of(t.topfd, "dest"), 0);
	CHECK(mkdirat(t.topfd, "dest", 0755) == 0);
	close(t.dest);
	t.dest = openat(t.topfd, "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(tree_outside_same(&t));

	/* a symlink is removed, not what it names */
	CHECK(symlinkat(t.outside, t.dest, "link") == 0);
	CHECK_ERR(oci_rm_tree(t.dest, "link"), 0);
	CHECK(tree_outside_same(&t));
	CHECK_ERR(oci_rm_tree(t.dest, "missing"), -ENOENT);
	CHECK_ERR(oci_rm_tree(t.dest, ".."), -EINVAL);
	CHECK_ERR(oci_rm_tree(t.dest, "a/../.."), -EINVAL);
	CHECK_ERR(oci_rm_tree(t.dest, "/tmp"), -EINVAL);
	CHECK_ERR(oci_rm_tree(t.dest, ""), -EINVAL);
	/* a name with a folder: that folder reached with no symlink */
	CHECK(symlinkat(t.top, t.dest, "up") == 0);
	CHECK_ERR(oci_rm_tree(t.dest, "up/canary"), -ELOOP);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

/* Not root: device nodes are skipped and counted, the rest is the same. */
TEST(test_not_root)
{
	struct tree t;
	int status, fd;
	pid_t pid;

	if (geteuid() != 0)
		return; /* test_normal_layer ran this way */
	tree_init(&t);
	CHECK(fchown(t.dest, 65534, 65534) == 0);
	fd = TAR(ARCHIVE_FILTER_GZIP,
	         { .name = "dev/null", .type = AE_IFCHR, .mode = 0666, .maj = 1, .min = 3 },
	         { .name = "dev/fifo", .type = AE_IFIFO, .mode = 0600 }, FILE_("etc/a", "b"),
	         { .name = "bin/su", .mode = 04755, .data = "s", .len = 1 });
	pid = fork();
	if (pid == 0) {
		char x[64];

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		if (apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0) != 0)
			_exit(11);
		if (t.st.skipped_devices != 1 || mode_of(t.dest, "dev/null") != 0)
			_exit(12);
		if (strcmp(OVR("dev/fifo"), "0:0:0600:pipe") ||
		    strcmp(OVR("bin/su"), "0:0:04755:file"))
			_exit(13);
		if (mode_of(t.dest, "bin/su") != (S_IFREG | 0755))
			_exit(14);
		_exit(0);
	}
	close(fd);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_EQ(stat_of(t.dest, "etc/a").st_uid, 65534);
	tree_fini(&t);
}

CHECK_MAIN(CASE(test_norm), CASE(test_normal_layer), CASE(test_reserved_xattrs),
           CASE(test_later_entries_replace), CASE(test_whiteouts), CASE(test_utf8_name),
           CASE(test_media), CASE(test_double_gzip), CASE(test_gzip_bomb),
           CASE(test_too_many_entries), CASE(test_corrupt_streams), CASE(test_rm_tree),
           CASE(test_not_root))

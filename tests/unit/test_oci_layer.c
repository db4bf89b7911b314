// SPDX-License-Identifier: MIT
/*
 * test_oci_layer: oci_layer_apply (oci/layer*.c) on honest layers: names,
 * what lands on the host (modes, contents, links, mtimes, the override
 * xattr, user xattrs), later entries over earlier ones, whiteouts and
 * opaque folders, and the same unpacked by a user that is not root. The
 * stream (media types, limits, corrupt input) and oci_rm_tree are
 * test_oci_layer_stream.c's; hostile layers test_oci_layer_hostile.c's.
 */
#include "layer_rig.h"

#include <locale.h>
#include <sys/wait.h>

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
		{ "/etc/x", "etc/x", 0 },
		{ "//x", "x", 0 },
		{ "/", "", 0 },
		{ "/../x", NULL, -EPERM },
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
           CASE(test_not_root))

// SPDX-License-Identifier: MIT
/*
 * test_oci_layer_hostile: layers that try to write, link or chmod outside
 * their folder (oci/layer*.c): "..", symlinks made by an
 * earlier entry used as a folder, hard links to outside or through a
 * symlink, whiteouts of "." and "..". Each must fail with the code the
 * contract names, and leave everything beside the destination as it was:
 * a canary file beside it, and a folder "outside" that symlinks point at.
 * LAYER_SHOW=1 in the environment prints each case's message.
 */
#include "layer_rig.h"

struct hostile {
	const char *what;
	int rc;
	const char *named; /* what the message must name */
	struct ent v[4];
	size_t n;
};

/* run_case: h applied to a fresh dest; its code, message, and nothing
 * outside dest changed. */
static void run_case(int *failed, struct tree *t, const struct hostile *h)
{
	int fd;
	struct archive *a = tar_open(ARCHIVE_FILTER_GZIP, &fd);

	for (size_t i = 0; i < h->n; i++)
		tar_add(a, &h->v[i]);
	tar_close(a, fd);
	int r = apply(t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0);
	if (r != h->rc || (h->named && !strstr(t->err, h->named)))
		fprintf(stderr, "case \"%s\": %d, \"%s\"\n", h->what, r, t->err);
	if (getenv("LAYER_SHOW"))
		fprintf(stderr, "%-40s %d %s\n", h->what, r, t->err);
	CHECK_ERR(r, h->rc);
	if (h->named)
		CHECK(strstr(t->err, h->named) != NULL);
	CHECK(tree_outside_same(t));
	CHECK(access("/etc/x", F_OK) != 0);
	tree_reset(t);
}

#define CASE_(what_, rc_, named_, ...)                                                             \
	{                                                                                          \
		.what = (what_), .rc = (rc_), .named = (named_), .v = { __VA_ARGS__ },             \
		.n = sizeof((struct ent[]){ __VA_ARGS__ }) / sizeof(struct ent)                    \
	}

TEST(test_escapes)
{
	struct tree t;

	tree_init(&t);
	const struct hostile v[] = {
		CASE_("dotdot", -EPERM, "../x", FILE_("../x", "owned")),
		CASE_("inner dotdot", -EPERM, "a/../../x", DIR_("a/"), FILE_("a/../../x", "owned")),
		CASE_("dotdot folder", -EPERM, "..", DIR_("../")),
		CASE_("symlink to outside as a folder", -EPERM, "evil/x",
		      SYMLINK("evil", t.outside), FILE_("evil/x", "owned")),
		CASE_("symlink to .. as a folder", -EPERM, "evil/x", SYMLINK("evil", ".."),
		      FILE_("evil/x", "owned")),
		CASE_("symlink to /tmp as a folder", -EPERM, "evil/x", SYMLINK("evil", "/tmp"),
		      DIR_("evil/x/")),
		CASE_("symlink in a deeper folder", -EPERM, "a/evil/b/c", DIR_("a/"),
		      SYMLINK("a/evil", ".."), FILE_("a/evil/b/c", "owned")),
		CASE_("hard link to ..", -EPERM, "../canary", HARD("h", "../canary")),
		CASE_("hard link to /etc/passwd", -EPERM, "/etc/passwd", HARD("h", "/etc/passwd")),
		CASE_("hard link through a symlink", -EPERM, "through a symlink",
		      SYMLINK("evil", t.outside), HARD("h", "evil/secret")),
		CASE_("hard link through a symlink to ..", -EPERM, "through a symlink",
		      SYMLINK("evil", ".."), HARD("h", "evil/canary")),
		CASE_("hard link to nothing", -EPERM, "h", HARD("h", "missing")),
		CASE_("hard link to a folder", -EPERM, "h", DIR_("d/"), HARD("h", "d")),
		CASE_("hard link to the root", -EPERM, "h", HARD("h", "./")),
		CASE_("hard link to itself", -EPERM, "h", FILE_("h", "x"), HARD("h", "h")),
		CASE_("whiteout of ..", -EPERM, ".wh...", FILE_(".wh...", "")),
		CASE_("whiteout of .", -EPERM, "a/.wh..", DIR_("a/"), FILE_("a/.wh..", "")),
		CASE_("whiteout of nothing", -EPERM, ".wh.", FILE_(".wh.", "")),
		CASE_("whiteout as a folder", -EPERM, "a/.wh.b/c", FILE_("a/.wh.b/c", "")),
		CASE_("aufs folder not at the root", -EPERM, "a/.wh..wh.plnk/x",
		      FILE_("a/.wh..wh.plnk/x", "")),
		CASE_("whiteout through a symlink", -EPERM, "evil/.wh.secret",
		      SYMLINK("evil", t.outside), FILE_("evil/.wh.secret", "")),
		CASE_("opaque through a symlink", -EPERM, "evil/.wh..wh..opq",
		      SYMLINK("evil", t.outside), FILE_("evil/.wh..wh..opq", "")),
		CASE_("root as a symlink", -EPERM, "./", SYMLINK("./", "/")),
		CASE_("root as a file", -EPERM, ".", FILE_(".", "x")),
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		run_case(failed, &t, &v[i]);
	tree_fini(&t);
}

/* Absolute names, as umoci insert writes them ("/", "/etc/x"): inside the
 * layer, as GNU tar, docker and containerd read them; nothing outside. */
TEST(test_absolute_names_inside)
{
	struct tree t;
	char buf[16];
	int fd;

	tree_init(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = "/", .type = AE_IFDIR, .mode = 0755 },
	         DIR_("/etc/"), FILE_("/etc/x", "mine"), HARD("/etc/h", "/etc/x"));
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_TAR, 0, 0), 0);
	CHECK(tree_outside_same(&t));
	CHECK(access("/etc/x", F_OK) != 0);
	fd = openat(t.dest, "etc/h", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	tree_fini(&t);
}

/* Entries that replace a symlink an earlier entry made: the symlink goes,
 * what it names stays as it was. */
TEST(test_replace_symlink)
{
	struct tree t;
	char path[128], buf[128];
	int fd, out;

	tree_init(&t);
	snprintf(path, sizeof(path), "%s/secret", t.outside);
	fd = TAR(ARCHIVE_FILTER_NONE, SYMLINK("f", path), FILE_("f", "mine"),
	         SYMLINK("d", t.outside), { .name = "d/", .type = AE_IFDIR, .mode = 0777 },
	         SYMLINK("w", path), FILE_(".wh.w", ""), SYMLINK("h", path), FILE_("t", "t"),
	         HARD("h", "t"), SYMLINK("o", t.outside),
	         { .name = "o", .type = AE_IFIFO, .mode = 0666 });
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_TAR, 0, 0), 0);
	CHECK(tree_outside_same(&t));
	out = openat(t.topfd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = openat(out, "secret", O_RDONLY | O_CLOEXEC);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 7);
	close(fd);
	close(out);
	/* the whiteout of a name this layer has is no whiteout: w stays a symlink */
	CHECK_EQ(readlinkat(t.dest, "w", buf, sizeof(buf)), (ssize_t)strlen(path));
	tree_fini(&t);
}

/* A symlink made after a folder's entry, in the folder's place: the
 * folders' mtimes set at the end must not follow it. */
TEST(test_dir_times_after_replace)
{
	struct tree t;
	int fd;

	tree_init(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = "d/", .type = AE_IFDIR, .mtime = 1 },
	         { .name = "d/e/", .type = AE_IFDIR, .mtime = 1 }, SYMLINK("d", t.outside),
	         { .name = "x/", .type = AE_IFDIR, .mtime = 1 }, SYMLINK("x", "/tmp"));
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_TAR, 0, 0), 0);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

/* Names the host cannot hold are errors, not something else. */
TEST(test_bad_names)
{
	struct tree t;
	char longname[PATH_MAX + 16], longcomp[300];
	int fd;

	tree_init(&t);
	memset(longname, 'a', sizeof(longname) - 1);
	for (size_t i = 1; i < sizeof(longname) - 1; i += 2)
		longname[i] = '/';
	longname[sizeof(longname) - 1] = '\0';
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = longname });
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -ENAMETOOLONG);
	tree_reset(&t);
	memset(longcomp, 'b', sizeof(longcomp) - 1);
	longcomp[sizeof(longcomp) - 1] = '\0';
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = longcomp });
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -ENAMETOOLONG);
	tree_reset(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, SYMLINK("l", ""));
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	tree_reset(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = "f", .uid = 1ll << 33 });
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "uid or gid") != NULL);
	tree_reset(&t);
	fd = TAR(ARCHIVE_FILTER_NONE, { .name = "d/", .type = AE_IFDIR, .gid = 0xffffffffll });
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -EINVAL);
	CHECK(strstr(t.err, "uid or gid") != NULL);
	tree_reset(&t);
	/* a non-folder on the way */
	fd = TAR(ARCHIVE_FILTER_NONE, FILE_("f", "x"), FILE_("f/g", "y"));
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_UNKNOWN, 0, 0), -ENOTDIR);
	CHECK(tree_outside_same(&t));
	tree_fini(&t);
}

CHECK_MAIN(CASE(test_escapes), CASE(test_absolute_names_inside), CASE(test_replace_symlink),
           CASE(test_dir_times_after_replace), CASE(test_bad_names))

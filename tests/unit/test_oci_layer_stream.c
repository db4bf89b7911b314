// SPDX-License-Identifier: MIT
/*
 * test_oci_layer_stream: the stream side of oci_layer_apply (oci/layer.c):
 * the compression against the media type, where the stream is read from,
 * the limits against bombs, corrupt and truncated streams; and
 * oci_rm_tree on trees deeper than any descriptor budget.
 */
#include "layer_rig.h"

#include <sys/resource.h>
#include <time.h>

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

/* The stream is read from the file's start, wherever its offset is (as
 * pull.c hands over the descriptor it wrote the blob through); a pipe from
 * where it is. */
TEST(test_offset_and_pipe)
{
	struct tree t;
	char buf[65536];
	int fd, p[2];
	ssize_t n;

	tree_init(&t);
	fd = TAR(ARCHIVE_FILTER_GZIP, FILE_("f", "x"));
	CHECK(lseek(fd, 0, SEEK_END) > 0);
	CHECK_ERR(apply(&t, fd, OCI_MEDIA_LAYER_GZIP, 0, 0), 0);
	CHECK_EQ(mode_of(t.dest, "f"), S_IFREG | 0644);
	tree_reset(&t);
	fd = TAR(ARCHIVE_FILTER_GZIP, FILE_("g", "y"));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK(n > 0 && n < (ssize_t)sizeof(buf) && pipe(p) == 0);
	CHECK_EQ(write(p[1], buf, (size_t)n), n);
	close(p[1]);
	CHECK_ERR(apply(&t, p[0], OCI_MEDIA_LAYER_GZIP, 0, 0), 0);
	CHECK_EQ(mode_of(t.dest, "g"), S_IFREG | 0644);
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

CHECK_MAIN(CASE(test_media), CASE(test_offset_and_pipe), CASE(test_double_gzip),
           CASE(test_gzip_bomb), CASE(test_too_many_entries), CASE(test_corrupt_streams),
           CASE(test_rm_tree))

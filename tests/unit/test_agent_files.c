// SPDX-License-Identifier: MIT
/*
 * Unit tests of the agent's file operations (guest-agent/server_files.c,
 * server_xfer.c, server_tree.c; docs/protocol.md "File operations") over
 * a socketpair, rooted in a temporary folder, through raw frames and the
 * client library (proto/client_fs.c): awkward names, missing paths,
 * permission errors as nobody, a file swapped for a symlink mid-write, a
 * 64 MiB transfer in bounded memory, listings, removal, the one-shot ops.
 * Trees as tar: test_agent_tar.c. The rig: test_agent_files.h.
 */
#define _GNU_SOURCE
#include "test_agent_files.h"
#include "check.h"

#include <sys/resource.h>

/* ASan's quarantine keeps freed chunks resident: the bound means nothing there. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUND_KIB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_BOUND_KIB 0
#endif
#endif
#ifndef RSS_BOUND_KIB
#define RSS_BOUND_KIB (24 * 1024)
#endif

/* roundtrip: write text to the guest path with the library, read it back. */
static int roundtrip(struct frig *r, const char *path, const char *text)
{
	struct proto_why why = { "" };
	char out[256] = "";
	int p[2], err;
	ssize_t n;

	if (pipe(p) < 0)
		return -errno;
	if (write(p[1], text, strlen(text)) < 0)
		return -errno;
	close(p[1]);
	err = proto_client_fs_write(&r->pc, path, 0640, p[0], NULL, &why);
	close(p[0]);
	if (err)
		return err;
	if (pipe(p) < 0)
		return -errno;
	err = proto_client_fs_read(&r->pc, path, p[1], NULL, &why);
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	if (err)
		return err;
	return n == (ssize_t)strlen(text) && memcmp(out, text, (size_t)n) == 0 ? 0 : -EIO;
}

TEST(awkward_names)
{
	char name[300], path[310], buf[64], p[4200];
	struct proto_fs_stat st;
	struct proto_why why = { "" };
	struct frig r;
	struct stat hs;

	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(roundtrip(&r, "/a b\nc \xc3\xa9\xe2\x82\xac", "spaces, newline, UTF-8"), 0);
	CHECK(slurp(&r, "a b\nc \xc3\xa9\xe2\x82\xac", buf, sizeof(buf)) > 0);
	/* The exact mode (0640) whatever our umask. */
	CHECK(stat(at(&r, "a b\nc \xc3\xa9\xe2\x82\xac", p, sizeof(p)), &hs) == 0 &&
	      (hs.st_mode & 07777) == 0640);
	CHECK_EQ(proto_client_fs_stat(&r.pc, "/a b\nc \xc3\xa9\xe2\x82\xac", false, &st, &why), 0);
	CHECK(strcmp(st.kind, "file") == 0 && st.size == 22 && st.mode == 0640 && st.nlink == 1);
	/* Not UTF-8: the base64 form both ways. */
	CHECK_EQ(roundtrip(&r, "/bin\xff\xfe", "bytes"), 0);
	CHECK(slurp(&r, "bin\xff\xfe", buf, sizeof(buf)) == 5);
	/* A 255-byte name is the longest; 256 is ENAMETOOLONG. */
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(path, sizeof(path), "/%s", name);
	CHECK_EQ(roundtrip(&r, path, "long"), 0);
	strcat(path, "x");
	CHECK_ERR(roundtrip(&r, path, "too long"), -ENAMETOOLONG);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(missing_paths)
{
	struct frig r;
	json_t *m;

	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(answer(&r, "{\"id\":1,\"type\":\"request\",\"op\":\"fs.stat\",\"path\":\"/nope\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "code"), "not_found") == 0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	CHECK(strcmp(err_field(m, "path"), "/nope") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r,
	                "{\"id\":2,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/no/dir/f\","
	                "\"eof\":true}",
	                "x", 1, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r, "{\"id\":3,\"type\":\"request\",\"op\":\"fs.read\",\"path\":\"/nope\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r, "{\"id\":4,\"type\":\"request\",\"op\":\"fs.list\",\"path\":\"/nope\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r,
	                "{\"id\":5,\"type\":\"request\",\"op\":\"fs.remove\",\"path\":\"/nope\","
	                "\"recursive\":true}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	json_decref(m);
	/* A request that is wrong is bad_request, without errno. */
	CHECK_EQ(answer(&r, "{\"id\":6,\"type\":\"request\",\"op\":\"fs.read\"}", NULL, 0, &m), 0);
	CHECK(strcmp(err_field(m, "code"), "bad_request") == 0 && !*err_field(m, "errno"));
	json_decref(m);
	CHECK_EQ(answer(&r,
	                "{\"id\":7,\"type\":\"request\",\"op\":\"fs.stat\",\"path\":{\"base64\":"
	                "\"YQBi\"}}",
	                NULL, 0, &m),
	         0); /* "a\0b": a NUL is refused */
	CHECK(strcmp(err_field(m, "code"), "bad_request") == 0);
	json_decref(m);
	CHECK_EQ(
	    answer(&r,
	           "{\"id\":8,\"type\":\"request\",\"op\":\"fs.data\",\"xfer_id\":77,\"eof\":true}",
	           "x", 1, &m),
	    0);
	CHECK(strcmp(err_field(m, "code"), "not_found") == 0);
	json_decref(m);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(permission_errors)
{
	struct proto_why why = { "" };
	char p[4200];
	struct frig r;
	int fd;

	/* Root ignores modes: the server runs as nobody, the files are root's. */
	CHECK_EQ(frig_start(&r, NOBODY), 0);
	CHECK(mkdir(at(&r, "private", p, sizeof(p)), 0700) == 0);
	CHECK_EQ(put(&r, "private/f", "secret"), 0);
	CHECK_EQ(put(&r, "ro", "read-only"), 0);
	fd = open(at(&r, "ro", p, sizeof(p)), O_RDONLY | O_NOFOLLOW);
	CHECK(fd >= 0 && fchmod(fd, 0444) == 0);
	close(fd);
	CHECK_ERR(proto_client_fs_read(&r.pc, "/private/f", STDERR_FILENO, NULL, &why), -EACCES);
	CHECK_ERR(roundtrip(&r, "/ro", "x"), -EACCES);
	CHECK_ERR(roundtrip(&r, "/private/new", "x"), -EACCES);
	CHECK_ERR(proto_client_fs_mkdir(&r.pc, "/private/d", 0755, false, &why), -EACCES);
	CHECK_ERR(proto_client_fs_remove(&r.pc, "/ro", false, &why), -EACCES); /* root's folder */
	CHECK_EQ(slurp(&r, "ro", p, sizeof(p)), 9);
	CHECK_EQ(frig_stop(&r), 0);
}

/* A file swapped for a symlink while it is written: the write stays on the file it opened. */
TEST(symlink_swap_mid_write)
{
	char a[4200], b[4200], buf[64];
	struct frig r;
	json_t *m;

	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(put(&r, "victim", "untouched"), 0);
	CHECK_EQ(answer(&r, "{\"id\":1,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/f\"}",
	                "first ", 6, &m),
	         0);
	CHECK(strcmp(str_of(m, "type"), "reply") == 0);
	json_decref(m);
	CHECK(rename(at(&r, "f", a, sizeof(a)), at(&r, "moved", b, sizeof(b))) == 0);
	CHECK(symlink(at(&r, "victim", b, sizeof(b)), a) == 0);
	CHECK_EQ(
	    answer(&r,
	           "{\"id\":2,\"type\":\"request\",\"op\":\"fs.data\",\"xfer_id\":1,\"eof\":true}",
	           "second", 6, &m),
	    0);
	CHECK_EQ(json_integer_value(json_object_get(m, "size")), 12);
	json_decref(m);
	CHECK_EQ(slurp(&r, "victim", buf, sizeof(buf)), 9);
	CHECK(strcmp(buf, "untouched") == 0);
	CHECK_EQ(slurp(&r, "moved", buf, sizeof(buf)), 12);
	/* A write to the symlink itself is refused (ELOOP) unless follow. */
	CHECK_EQ(
	    answer(
	        &r,
	        "{\"id\":3,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/f\",\"eof\":true}",
	        "x", 1, &m),
	    0);
	CHECK(strcmp(err_field(m, "errno"), "ELOOP") == 0);
	json_decref(m);
	CHECK_EQ(slurp(&r, "victim", buf, sizeof(buf)), 9);
	/* A symlink out of the root resolves inside it (fs_root is the guest's "/"). */
	CHECK(symlink("/etc", at(&r, "up", a, sizeof(a))) == 0);
	CHECK_EQ(
	    answer(&r, "{\"id\":4,\"type\":\"request\",\"op\":\"fs.stat\",\"path\":\"/up/passwd\"}",
	           NULL, 0, &m),
	    0);
	CHECK(strcmp(err_field(m, "errno"), "ENOENT") == 0);
	json_decref(m);
	CHECK_EQ(frig_stop(&r), 0);
}

/* rss_peak_kib: a process's VmHWM. */
static long rss_peak_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* sink_entry: counts the entries of a list. */
static int sink_entry(const json_t *e, void *opaque)
{
	(void)e;
	(*(int *)opaque)++;
	return 0;
}

TEST(big_file_bounded)
{
	const size_t total = 64u << 20;
	struct proto_fs_status st = { 0 };
	struct proto_why why = { "" };
	uint64_t want = 1469598103934665603ull;
	uint8_t *blk = malloc(1 << 20);
	struct frig r;
	int fd, pp[2];

	for (size_t i = 0; i < (1u << 20); i++)
		blk[i] = (uint8_t)(i * 7 + (i >> 13));
	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	CHECK(fd >= 0);
	for (size_t i = 0; i < total; i += 1u << 20) {
		blk[0] = (uint8_t)(i >> 20); /* each MiB differs */
		CHECK(write(fd, blk, 1u << 20) == 1 << 20);
		want = fnv1a(want, blk, 1u << 20);
	}
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(proto_client_fs_write(&r.pc, "/big", 0600, fd, &st, &why), 0);
	CHECK_EQ(st.bytes, total);
	close(fd);
	memset(&st, 0, sizeof(st));
	/* Read it back through a pipe drained slowly by a child: the agent
	 * may not read ahead of what the pipe takes. */
	CHECK(pipe(pp) == 0);
	pid_t reader = fork();
	if (reader == 0) {
		uint64_t h = 1469598103934665603ull, n = 0;
		ssize_t k;

		close(pp[1]);
		usleep(300000);
		while ((k = read(pp[0], blk, 1u << 20)) > 0) {
			h = fnv1a(h, blk, (size_t)k);
			n += (uint64_t)k;
		}
		_exit(h == want && n == total ? 0 : 1);
	}
	close(pp[0]);
	CHECK_EQ(proto_client_fs_read(&r.pc, "/big", pp[1], &st, &why), 0);
	close(pp[1]);
	int status = -1;
	waitpid(reader, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(st.bytes, total);
	/* The agent held chunks, never the file: its peak stays far below 64 MiB. */
	long peak = rss_peak_kib(r.c.server);
	CHECK(peak > 0 && (!RSS_BOUND_KIB || peak < RSS_BOUND_KIB));
	if (!(peak > 0 && (!RSS_BOUND_KIB || peak < RSS_BOUND_KIB)))
		fprintf(stderr, "agent peak RSS %ld KiB\n", peak);
	free(blk);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(read_range_and_list)
{
	struct proto_fs_status st = { 0 };
	struct proto_why why = { "" };
	char p[4200], buf[64] = "";
	struct frig r;
	int n = 0, pp[2];

	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(put(&r, "f", "0123456789"), 0);
	CHECK(pipe(pp) == 0);
	CHECK_EQ(send_json(&r.c,
	                   "{\"id\":1,\"type\":\"request\",\"op\":\"fs.read\",\"path\":\"/f\","
	                   "\"offset\":3,\"length\":4}",
	                   NULL, 0),
	         0);
	for (;;) {
		struct proto_frame f = { 0 };

		CHECK_EQ(recv_frame(&r.c, &f), 1);
		if (strcmp(str_of(f.msg, "event"), "fs.data") == 0)
			strncat(buf, (const char *)f.body, f.body_len);
		bool done = strcmp(str_of(f.msg, "type"), "reply") == 0;
		if (done)
			CHECK_EQ(json_integer_value(json_object_get(f.msg, "size")), 4);
		proto_frame_clear(&f);
		if (done || !f.msg)
			break;
	}
	CHECK(strcmp(buf, "3456") == 0);
	close(pp[0]);
	close(pp[1]);
	/* A tree of 3 levels: one level lists 2, recursive 5, limit 3 truncates. */
	CHECK(mkdir(at(&r, "d", p, sizeof(p)), 0755) == 0);
	CHECK(mkdir(at(&r, "d/e", p, sizeof(p)), 0755) == 0);
	CHECK_EQ(put(&r, "d/x", "x"), 0);
	CHECK_EQ(put(&r, "d/e/y", "y"), 0);
	CHECK(symlink("/nowhere", at(&r, "d/e/l", p, sizeof(p))) == 0);
	CHECK_EQ(proto_client_fs_list(&r.pc, "/d", false, 0, sink_entry, &n, &st, &why), 0);
	CHECK_EQ(n, 2);
	n = 0;
	CHECK_EQ(proto_client_fs_list(&r.pc, "/d", true, 0, sink_entry, &n, &st, &why), 0);
	CHECK_EQ(n, 4);
	CHECK(!st.truncated);
	n = 0;
	CHECK_EQ(proto_client_fs_list(&r.pc, "/d", true, 3, sink_entry, &n, &st, &why), 0);
	CHECK(n == 3 && st.truncated);
	CHECK_ERR(proto_client_fs_list(&r.pc, "/f", false, 0, sink_entry, &n, &st, &why), -ENOTDIR);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(one_shot_ops)
{
	struct proto_why why = { "" };
	char p[4200];
	struct stat hs;
	struct frig r;
	json_t *m;

	CHECK_EQ(frig_start(&r, 0), 0);
	CHECK_EQ(proto_client_fs_mkdir(&r.pc, "/a/b/c", 0750, true, &why), 0);
	CHECK_EQ(proto_client_fs_mkdir(&r.pc, "/a/b/c", 0750, true, &why), 0);
	CHECK_ERR(proto_client_fs_mkdir(&r.pc, "/a/b/c", 0750, false, &why), -EEXIST);
	CHECK(stat(at(&r, "a/b/c", p, sizeof(p)), &hs) == 0 && (hs.st_mode & 07777) == 0750);
	CHECK_EQ(put(&r, "a/f", "f"), 0);
	CHECK_ERR(proto_client_fs_mkdir(&r.pc, "/a/f", 0750, true, &why), -EEXIST);
	CHECK_ERR(proto_client_fs_remove(&r.pc, "/a", false, &why), -ENOTEMPTY);
	CHECK_EQ(answer(&r,
	                "{\"id\":50,\"type\":\"request\",\"op\":\"fs.rename\",\"from\":\"/a/f\","
	                "\"to\":\"/a/g\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(str_of(m, "type"), "reply") == 0);
	json_decref(m);
	CHECK_EQ(put(&r, "a/h", "h"), 0);
	CHECK_EQ(answer(&r,
	                "{\"id\":51,\"type\":\"request\",\"op\":\"fs.rename\",\"from\":\"/a/g\","
	                "\"to\":\"/a/h\",\"overwrite\":false}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "EEXIST") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r,
	                "{\"id\":52,\"type\":\"request\",\"op\":\"fs.chmod\",\"path\":\"/a/g\","
	                "\"mode\":1537}",
	                NULL, 0, &m),
	         0); /* 03001 */
	json_decref(m);
	CHECK(stat(at(&r, "a/g", p, sizeof(p)), &hs) == 0 && (hs.st_mode & 07777) == 03001);
	CHECK_EQ(answer(&r,
	                "{\"id\":53,\"type\":\"request\",\"op\":\"fs.chown\",\"path\":\"/a/g\","
	                "\"uid\":1234,\"gid\":4321}",
	                NULL, 0, &m),
	         0);
	json_decref(m);
	CHECK(stat(p, &hs) == 0 && hs.st_uid == 1234 && hs.st_gid == 4321);
	CHECK(symlink("g", at(&r, "a/l", p, sizeof(p))) == 0);
	CHECK_EQ(answer(&r,
	                "{\"id\":54,\"type\":\"request\",\"op\":\"fs.chmod\",\"path\":\"/a/l\","
	                "\"mode\":511}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "errno"), "EOPNOTSUPP") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r, "{\"id\":55,\"type\":\"request\",\"op\":\"fs.stat\",\"path\":\"/a/l\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(str_of(m, "type"), "reply") == 0 && strcmp(str_of(m, "target"), "g") == 0);
	json_decref(m);
	/* A recursive remove of a tree bigger than one batch; the symlink's target stays. */
	CHECK(mkdir(at(&r, "a/many", p, sizeof(p)), 0755) == 0);
	for (int i = 0; i < 700; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "a/many/f%d", i);
		CHECK_EQ(put(&r, rel, "x"), 0);
	}
	CHECK(symlink("/outside-kept", at(&r, "a/many/l", p, sizeof(p))) == 0);
	CHECK(mkdir(at(&r, "outside-kept", p, sizeof(p)), 0755) == 0);
	CHECK_EQ(answer(&r,
	                "{\"id\":56,\"type\":\"request\",\"op\":\"fs.remove\",\"path\":\"/a\","
	                "\"recursive\":true}",
	                NULL, 0, &m),
	         0);
	CHECK(json_integer_value(json_object_get(m, "removed")) ==
	      708); /* a, b, c, g, h, l, many, many/l and 700 */
	json_decref(m);
	CHECK(stat(at(&r, "a", p, sizeof(p)), &hs) < 0 && errno == ENOENT);
	CHECK(stat(at(&r, "outside-kept", p, sizeof(p)), &hs) == 0);
	CHECK_EQ(frig_stop(&r), 0);
}

TEST(too_many_transfers)
{
	struct frig r;
	char text[256];
	json_t *m;

	CHECK_EQ(frig_start(&r, 0), 0);
	for (int i = 0; i < 64; i++) {
		snprintf(text, sizeof(text),
		         "{\"id\":%d,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/f%d\"}",
		         i + 1, i);
		CHECK_EQ(answer(&r, text, NULL, 0, &m), 0);
		CHECK(strcmp(str_of(m, "type"), "reply") == 0);
		json_decref(m);
	}
	CHECK_EQ(answer(&r, "{\"id\":999,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/g\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "code"), "too_large") == 0);
	json_decref(m);
	CHECK_EQ(answer(&r, "{\"id\":1,\"type\":\"request\",\"op\":\"fs.write\",\"path\":\"/g\"}",
	                NULL, 0, &m),
	         0);
	CHECK(strcmp(err_field(m, "code"), "bad_request") == 0); /* id 1 is open */
	json_decref(m);
	CHECK_EQ(frig_stop(&r), 0);
}

CHECK_MAIN(CASE(awkward_names), CASE(missing_paths), CASE(permission_errors),
           CASE(symlink_swap_mid_write), CASE(big_file_bounded), CASE(read_range_and_list),
           CASE(one_shot_ops), CASE(too_many_transfers))

// SPDX-License-Identifier: MIT
/*
 * fs_cmd: kvmbox fs ls|cat|stat|rm|mkdir SOCKET PATH, the guest's files
 * through the control socket (docs/protocol.md, "File operations"), and
 * what kvmbox cp (cp_cmd.c) shares with it: the connection and the one
 * line that says what failed, in cp's words ("kvmbox cp: SOCKET:/x: No
 * such file or directory").
 */
#define _GNU_SOURCE
#include "proto/client_fs.h"
#include "proto/msg.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long one answer of the agent may take: it may be booting (60 s). */
#define FS_WAIT_MS 90000

int cli_fs_open(const char *prog, const char *sock, struct proto_client *c)
{
	char buf[PATH_MAX];
	int err = proto_client_open(c, cli_socket(sock, buf));

	if (err) {
		fprintf(stderr, "%s: control socket %s: %s\n", prog, sock, strerror(-err));
		return err;
	}
	c->wait_ms = FS_WAIT_MS;
	return 0;
}

void cli_fs_fail(const char *prog, const char *sock, const char *guest, const char *local, int err,
                 const struct proto_fs_status *st, const struct proto_why *why)
{
	const char *where = st && st->path[0] ? st->path : NULL;

	if (st && !st->remote) {
		/* This side: the local path, and the entry inside it. */
		fprintf(stderr, "%s: %s%s%s: %s%s%s\n", prog, local ? local : "", where ? "/" : "",
		        where ? where : "", strerror(-err), err == -EXDEV ? ": " : "",
		        err == -EXDEV ? why->text : "");
		return;
	}
	switch (err) {
	case -EIO:
	case -EHOSTUNREACH:
	case -ECONNABORTED:
	case -EPIPE:
	case -ETIMEDOUT:
	case -EPROTO:
		fprintf(stderr, "%s: %s: %s\n", prog, sock,
		        why->text[0] ? why->text : strerror(-err));
		return;
	default:
		fprintf(stderr, "%s: %s:%s: %s%s%s\n", prog, sock, where ? where : guest,
		        strerror(-err), err == -EXDEV ? ": " : "", err == -EXDEV ? why->text : "");
	}
}

/* Names of an fs ls, kept to print them sorted (one level) or printed at once. */
struct ls_state {
	bool longfmt, collect;
	char **lines;
	size_t n, cap;
};

/* ls_line: an entry as ls prints it: the name, or with -l its kind, mode, owner, size, time. */
static char *ls_line(const json_t *e, bool longfmt)
{
	char *name = NULL, *target = NULL, *line = NULL, when[32] = "";
	const json_t *t = json_object_get(e, "target");
	time_t mtime = (time_t)json_integer_value(json_object_get(e, "mtime"));
	struct tm tm;

	if (proto_bytes_get(json_object_get(e, "name"), "name", &name, NULL, PROTO_PATH_MAX, NULL))
		return NULL;
	if (!longfmt)
		return name;
	if (t && proto_bytes_get(t, "target", &target, NULL, PROTO_PATH_MAX, NULL))
		target = NULL;
	if (gmtime_r(&mtime, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	if (asprintf(&line, "%-7s %04" PRIo64 " %5" PRIu64 " %5" PRIu64 " %12" PRIu64 " %s %s%s%s",
	             json_string_value(json_object_get(e, "kind")) ?: "?",
	             (uint64_t)json_integer_value(json_object_get(e, "mode")),
	             (uint64_t)json_integer_value(json_object_get(e, "uid")),
	             (uint64_t)json_integer_value(json_object_get(e, "gid")),
	             (uint64_t)json_integer_value(json_object_get(e, "size")), when, name,
	             target ? " -> " : "", target ? target : "") < 0)
		line = NULL;
	free(name);
	free(target);
	return line;
}

static int ls_entry(const json_t *e, void *opaque)
{
	struct ls_state *s = opaque;
	char *line = ls_line(e, s->longfmt);

	if (!line)
		return -ENOMEM;
	if (!s->collect) {
		puts(line);
		free(line);
		return 0;
	}
	if (s->n == s->cap) {
		char **l = realloc(s->lines, (s->cap = s->cap ? 2 * s->cap : 64) * sizeof(*l));

		if (!l) {
			free(line);
			return -ENOMEM;
		}
		s->lines = l;
	}
	s->lines[s->n++] = line;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fs_ls: [-r] [-l] SOCKET PATH. */
static int fs_ls(struct proto_client *c, const char *sock, const char *path, bool recursive,
                 bool longfmt)
{
	struct ls_state s = { .longfmt = longfmt, .collect = !recursive };
	struct proto_fs_status st;
	struct proto_why why = { "" };
	int err = proto_client_fs_list(c, path, recursive, 0, ls_entry, &s, &st, &why);

	if (!err)
		qsort(s.lines, s.n, sizeof(*s.lines), by_name);
	for (size_t i = 0; i < s.n; i++) {
		if (!err)
			puts(s.lines[i]);
		free(s.lines[i]);
	}
	free(s.lines);
	if (err) {
		cli_fs_fail("kvmbox fs ls", sock, path, NULL, err, &st, &why);
		return 1;
	}
	if (st.truncated)
		fprintf(stderr, "kvmbox fs ls: %s:%s: stopped at %" PRIu64 " entries\n", sock, path,
		        st.entries);
	return 0;
}

/* fs_stat: SOCKET PATH as "kind mode uid gid size mtime". */
static int fs_stat(struct proto_client *c, const char *sock, const char *path)
{
	struct proto_fs_stat s;
	struct proto_why why = { "" };
	struct proto_fs_status st = { .remote = true };
	int err = proto_client_fs_stat(c, path, false, &s, &why);

	if (err) {
		cli_fs_fail("kvmbox fs stat", sock, path, NULL, err, &st, &why);
		return 1;
	}
	printf("kind %s\nsize %" PRIu64 "\nmode %04o\nuid %u\ngid %u\nnlink %" PRIu64
	       "\nmtime %" PRId64 ".%09u\n",
	       s.kind, s.size, s.mode, s.uid, s.gid, s.nlink, s.mtime, s.mtime_nsec);
	return 0;
}

static void fs_usage(FILE *f)
{
	fprintf(f, "usage: kvmbox fs ls [-r] [-l] SOCKET PATH\n"
	           "       kvmbox fs cat SOCKET PATH\n"
	           "       kvmbox fs stat SOCKET PATH\n"
	           "       kvmbox fs rm [-r] SOCKET PATH\n"
	           "       kvmbox fs mkdir [-p] SOCKET PATH\n"
	           "\n"
	           "  The files of the microVM whose control socket is SOCKET: list a folder\n"
	           "  (-r: the whole tree, -l: kind, mode, owner, size and time), print a\n"
	           "  file, describe one, remove one (-r: a folder with all it holds), make\n"
	           "  a folder (-p: and its parents; no error if it exists).\n");
}

int ctl_cmd_fs(int argc, char **argv)
{
	struct proto_client c = { .fd = -1 };
	struct proto_fs_status st;
	struct proto_why why = { "" };
	bool r = false, l = false, p = false;
	const char *verb = argc > 1 ? argv[1] : "", *sock, *path;
	char prog[32];
	int i = 2, err, status = 1;

	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		fs_usage(stdout);
		return 0;
	}
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		for (const char *o = argv[i] + 1; *o; o++) {
			if (*o == 'r' && (!strcmp(verb, "ls") || !strcmp(verb, "rm")))
				r = true;
			else if (*o == 'l' && !strcmp(verb, "ls"))
				l = true;
			else if (*o == 'p' && !strcmp(verb, "mkdir"))
				p = true;
			else
				goto usage;
		}
	}
	if (argc - i != 2 || (strcmp(verb, "ls") && strcmp(verb, "cat") && strcmp(verb, "stat") &&
	                      strcmp(verb, "rm") && strcmp(verb, "mkdir")))
		goto usage;
	sock = argv[i];
	path = argv[i + 1];
	snprintf(prog, sizeof(prog), "kvmbox fs %s", verb);
	if (cli_fs_open(prog, sock, &c))
		return 1;
	if (!strcmp(verb, "ls")) {
		status = fs_ls(&c, sock, path, r, l);
	} else if (!strcmp(verb, "stat")) {
		status = fs_stat(&c, sock, path);
	} else {
		if (!strcmp(verb, "cat"))
			err = proto_client_fs_read(&c, path, STDOUT_FILENO, &st, &why);
		else if (!strcmp(verb, "rm"))
			err = proto_client_fs_remove(&c, path, r, &why);
		else
			err = proto_client_fs_mkdir(&c, path, 0755, p, &why);
		if (err && strcmp(verb, "cat"))
			st = (struct proto_fs_status){ .remote = true };
		if (err)
			cli_fs_fail(prog, sock, path, "stdout", err, &st, &why);
		status = err ? 1 : 0;
	}
	proto_client_close(&c);
	return status;
usage:
	fs_usage(stderr);
	return 2;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_agent_files.h: the rig of the agent's file-op tests
 * (test_agent_files.c, test_agent_tar.c), on test_agent_exec.h's: a
 * server forked on a socketpair whose file ops are rooted in a fresh
 * temporary folder (agent_opts.fs_root), optionally as the user nobody,
 * so that no test touches the host's files and root's privileges can be
 * dropped to see permission errors. The test speaks raw frames through
 * struct client, or the client library through proto_client on the same
 * fd (one at a time). Folders are removed with rm -rf, which never
 * follows a symlink.
 */
#ifndef KVMBOX_TESTS_TEST_AGENT_FILES_H
#define KVMBOX_TESTS_TEST_AGENT_FILES_H

#include "proto/bytes.h"
#include "proto/client_fs.h"
#include "proto/tar.h"
#include "test_agent_exec.h"

#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>

#define NOBODY 65534

/* A server rooted in a temporary folder, and both ways to speak to it. */
struct frig {
	char root[64];
	struct client c;
	struct proto_client pc; /* on c.fd */
};

/* frig_start: a fresh root (mode 0755) and a server on it, as uid (0: as we are). */
static inline int frig_start(struct frig *r, uid_t uid)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	snprintf(r->root, sizeof(r->root), "/tmp/kvmbox-files-XXXXXX");
	if (!mkdtemp(r->root) || chmod(r->root, 0755) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	r->c.server = fork();
	if (r->c.server == 0) {
		const struct agent_opts opts = { .fs_root = r->root };
		struct agent_server *srv;
		int err = 0;

		close(sv[0]);
		if (uid && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		            setresuid(uid, uid, uid) < 0))
			_exit(3);
		err = agent_server_new(&srv, &opts);
		if (!err)
			err = agent_server_add_conn(srv, sv[1], NULL);
		if (!err)
			err = agent_server_run(srv);
		agent_server_free(srv);
		_exit(err ? 1 : 0);
	}
	close(sv[1]);
	r->c.fd = sv[0];
	proto_decoder_init(&r->c.dec);
	proto_client_adopt(&r->pc, sv[0]);
	r->pc.wait_ms = WAIT_MS;
	return r->c.server > 0 ? 0 : -EAGAIN;
}

/* frig_stop: end the server and remove the root; 0 when the server ended well. */
static inline int frig_stop(struct frig *r)
{
	char cmd[128];
	int err;

	proto_decoder_destroy(&r->pc.dec);
	err = client_stop(&r->c);
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", r->root);
	if (system(cmd) != 0)
		err = -EIO;
	return err;
}

/* at: root/rel in buf. */
static inline const char *at(const struct frig *r, const char *rel, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", r->root, rel);
	return buf;
}

/* put: a host file root/rel with text (rel's folder must exist). */
static inline int put(const struct frig *r, const char *rel, const char *text)
{
	char p[4200];
	int fd = open(at(r, rel, p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		err = -EIO;
	close(fd);
	return err;
}

/* slurp: the host file root/rel into buf (NUL-terminated); its length or -errno. */
static inline ssize_t slurp(const struct frig *r, const char *rel, char *buf, size_t cap)
{
	char p[4200];
	int fd = open(at(r, rel, p, sizeof(p)), O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/*
 * answer: send text (a request) with body and read frames until its answer;
 * the answer's message in *out (json_decref it). 0 or -errno.
 */
static inline int answer(struct frig *r, const char *text, const void *body, size_t len,
                         json_t **out)
{
	json_t *m = json_loads(text, 0, NULL);
	int64_t id = json_integer_value(json_object_get(m, "id"));
	int err = send_json(&r->c, text, body, len);

	json_decref(m);
	*out = NULL;
	while (!err) {
		struct proto_frame f = { 0 };
		const char *type;

		err = recv_frame(&r->c, &f);
		if (err != 1)
			return err ? err : -EPIPE;
		err = 0;
		type = str_of(f.msg, "type");
		if (json_integer_value(json_object_get(f.msg, "id")) == id &&
		    (strcmp(type, "reply") == 0 || strcmp(type, "error") == 0)) {
			*out = json_incref(f.msg);
			proto_frame_clear(&f);
			return 0;
		}
		proto_frame_clear(&f);
	}
	return err;
}

/* err_field: field key of an error answer's error object ("" if none). */
static inline const char *err_field(const json_t *m, const char *key)
{
	return str_of(json_object_get(m, "error"), key);
}

#endif

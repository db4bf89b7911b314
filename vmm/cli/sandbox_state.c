// SPDX-License-Identifier: MIT
/*
 * sandbox_state: named sandboxes' state folders (cli.h, docs/sandboxes.md).
 *
 * One folder per sandbox under the state root. Its mkdir is the lock of
 * `kvmbox create` (two creates of one name: one mkdir succeeds), and a
 * write lock on its file "lock", taken by the process that becomes the VMM
 * and kept across its exec, is the proof that the VMM lives: the kernel
 * drops it when that process dies, however it dies, where a pid file
 * outlives its process and its number may be reused.
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int sbx_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > SBX_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return -EINVAL;
	}
	return 0;
}

/*
 * sbx_root_check: path must be a real folder (not a link) owned by us and
 * writable by no one else: the fallback lives in the shared /tmp, where
 * another user could have made it first to catch our sockets.
 */
static int sbx_root_check(const char *path, bool quiet)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		if (!quiet)
			fprintf(
			    stderr,
			    "kvmbox: the sandboxes' folder %s is not a folder of ours that only "
			    "we may write: remove it, or set KVMBOX_SANDBOX_DIR\n",
			    path);
		return -EPERM;
	}
	return 0;
}

int sbx_root(char *buf, bool make, bool quiet)
{
	const char *own = getenv("KVMBOX_SANDBOX_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (own && own[0] == '/')
		n = snprintf(buf, PATH_MAX, "%s", own);
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, PATH_MAX, "%s/kvmbox", xdg);
	else
		n = snprintf(buf, PATH_MAX, "/tmp/kvmbox-%u", (unsigned int)geteuid());
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	if (make && mkdir(buf, 0700) < 0 && errno != EEXIST) {
		int err = -errno;

		if (!quiet)
			fprintf(stderr, "kvmbox: mkdir %s: %s\n", buf, strerror(-err));
		return err;
	}
	return sbx_root_check(buf, quiet);
}

int sbx_path(const char *name, const char *file, char *buf)
{
	char root[PATH_MAX];
	int err = sbx_root(root, false, true), n;

	if (err)
		return err;
	n = file ? snprintf(buf, PATH_MAX, "%s/%s/%s", root, name, file)
	         : snprintf(buf, PATH_MAX, "%s/%s", root, name);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	/* The control socket's path must fit a sockaddr_un (unix(7)). */
	if ((size_t)snprintf(NULL, 0, "%s/%s/%s", root, name, SBX_SOCK) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int sbx_join(char *buf, const char *dir, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int sbx_claim(const char *name)
{
	char root[PATH_MAX], dir[PATH_MAX];
	int err = sbx_root(root, true, false);

	if (err)
		return err;
	err = sbx_path(name, NULL, dir);
	if (err) {
		fprintf(stderr, "kvmbox: %s/%s/%s: %s\n", root, name, SBX_SOCK,
		        err == -ENAMETOOLONG ? "too long for a unix socket" : strerror(-err));
		return err;
	}
	if (mkdir(dir, 0700) == 0)
		return 0;
	err = -errno;
	if (err != -EEXIST)
		fprintf(stderr, "kvmbox: mkdir %s: %s\n", dir, strerror(-err));
	return err;
}

static int sbx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int sbx_remove(const char *name)
{
	char root[PATH_MAX], dir[PATH_MAX], gone[PATH_MAX];
	int err = sbx_root(root, false, true);

	if (!err)
		err = sbx_path(name, NULL, dir);
	if (err)
		return err;
	/* A dot name is never a sandbox's: the name is free from here on,
	 * even if the removal below stops half-way. */
	if (snprintf(gone, sizeof(gone), "%s/.rm-%s-%d", root, name, (int)getpid()) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (rename(dir, gone) < 0)
		return -errno;
	return nftw(gone, sbx_rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

/* sbx_strv_json: v as a JSON array of strings (NULL: none). */
static json_t *sbx_strv_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int sbx_config_write(const char *dir, const struct sbx_config *c)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	json_t *o = json_pack(
	    "{s:i, s:o, s:o, s:s, s:o, s:i, s:I, s:b, s:I}", "version", 1, "argv",
	    sbx_strv_json(c->argv), "image", c->image ? json_string(c->image) : json_null(), "cwd",
	    c->cwd, "env", sbx_strv_json(c->env), "cpus", (int)c->cpus, "memory_mib",
	    (json_int_t)c->mem_mib, "persistent", c->persistent, "created", (json_int_t)c->created);
	int err = 0;

	if (!o)
		return -ENOMEM;
	sbx_join(path, dir, SBX_CONFIG);
	snprintf(tmp, sizeof(tmp), "%s/" SBX_CONFIG ".tmp", dir);
	if (json_dump_file(o, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		err = -EIO;
	else if (rename(tmp, path) < 0)
		err = -errno;
	json_decref(o);
	return err;
}

/* sbx_json_strv: a JSON array of strings as a NULL-terminated vector. */
static int sbx_json_strv(const json_t *a, char ***out)
{
	size_t n = json_array_size(a);
	char **v;

	if (!json_is_array(a) || n > SBX_MAX_ARGS)
		return -EINVAL;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (!s || !(v[i] = strdup(s))) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return s ? -ENOMEM : -EINVAL;
		}
	}
	*out = v;
	return 0;
}

int sbx_config_read(const char *dir, struct sbx_config *c)
{
	char path[PATH_MAX];
	json_t *o, *argv = NULL, *env = NULL, *image = NULL;
	const char *cwd = NULL;
	json_int_t cpus = 0, mem = 0, created = 0;
	int persistent = 0, err;

	memset(c, 0, sizeof(*c));
	sbx_join(path, dir, SBX_CONFIG);
	o = json_load_file(path, 0, NULL);
	if (!o)
		return access(path, F_OK) < 0 ? -errno : -EINVAL;
	err = json_unpack(o, "{s:o, s:o, s:s, s:o, s:I, s:I, s:b, s:I}", "argv", &argv, "image",
	                  &image, "cwd", &cwd, "env", &env, "cpus", &cpus, "memory_mib", &mem,
	                  "persistent", &persistent, "created", &created)
	          ? -EINVAL
	          : 0;
	if (!err && !json_is_null(image) && !json_is_string(image))
		err = -EINVAL;
	if (!err)
		err = sbx_json_strv(argv, &c->argv);
	if (!err)
		err = sbx_json_strv(env, &c->env);
	if (!err && ((json_is_string(image) && !(c->image = strdup(json_string_value(image)))) ||
	             !(c->cwd = strdup(cwd))))
		err = -ENOMEM;
	c->cpus = (unsigned int)cpus;
	c->mem_mib = (uint64_t)mem;
	c->persistent = persistent;
	c->created = created;
	json_decref(o);
	if (err)
		sbx_config_free(c);
	return err;
}

static void sbx_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void sbx_config_free(struct sbx_config *c)
{
	sbx_strv_free(c->argv);
	sbx_strv_free(c->env);
	free(c->image);
	free(c->cwd);
	memset(c, 0, sizeof(*c));
}

int sbx_lock_take(const char *dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX];
	int fd;

	sbx_join(path, dir, SBX_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		int err = errno == EACCES ? -EAGAIN : -errno;

		close(fd);
		return err;
	}
	return fd;
}

int sbx_holder(const char *dir, pid_t *pid)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX];
	int fd, err = 0;

	sbx_join(path, dir, SBX_LOCK);
	/* Read-only: F_GETLK needs no write access, and this process never
	 * holds the lock, so closing the fd drops nothing of ours. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	if (fl.l_type == F_UNLCK)
		return 0;
	*pid = fl.l_pid;
	return 1;
}

enum sbx_state sbx_probe(const char *dir, pid_t *pid)
{
	char path[PATH_MAX];
	pid_t holder = 0;

	if (sbx_holder(dir, &holder) > 0) {
		*pid = holder;
		return SBX_RUNNING;
	}
	sbx_join(path, dir, SBX_CONFIG);
	if (access(path, F_OK) < 0)
		return SBX_CREATING;
	/* No VMM. The pid file goes when kvmbox stop saw it end; a VMM that
	 * ended by itself removed its control socket, one that was killed
	 * could not. */
	sbx_join(path, dir, SBX_PID);
	if (access(path, F_OK) < 0)
		return SBX_STOPPED;
	sbx_join(path, dir, SBX_SOCK);
	return access(path, F_OK) == 0 ? SBX_DEAD : SBX_EXITED;
}

int sbx_kill(const char *dir)
{
	pid_t pid = 0, again = 0;
	int fd, err = 0;

	if (sbx_holder(dir, &pid) <= 0)
		return 0;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH ? 0 : -errno;
	/* The pidfd names this process for good: if it still holds the lock,
	 * it is the VMM, and no other process can get the signal. */
	if (sbx_holder(dir, &again) > 0 && again == pid &&
	    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0)
		err = -errno;
	close(fd);
	return err;
}

const char *sbx_state_name(enum sbx_state s)
{
	static const char *const names[] = {
		[SBX_CREATING] = "creating", [SBX_RUNNING] = "running", [SBX_STOPPED] = "stopped",
		[SBX_EXITED] = "exited",     [SBX_DEAD] = "dead",
	};

	return names[s];
}

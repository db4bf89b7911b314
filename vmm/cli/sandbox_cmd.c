// SPDX-License-Identifier: MIT
/*
 * sandbox_cmd: `kvmbox create`, `start` and `ls` (cli.h,
 * docs/sandboxes.md): named microVMs that outlive the command that made
 * them. create reads kvmbox run's options with run.c's own parser, saves
 * them in the sandbox's folder, and starts `kvmbox run` on them in a
 * daemon (sandbox_spawn.c); start does the same from the saved config.
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long create and start wait for the guest, by default: a boot under
 * nested emulation takes seconds, an image pull longer. */
#define SBX_WAIT_S     180
#define SBX_WAIT_MAX_S 86400
/* The environment run's defaults read: saved by create, so that start
 * from another shell boots the same kernel and store. */
static const char *const sbx_env_keep[] = { "KVMBOX_KERNEL", "KVMBOX_KERNEL_DIR", "KVMBOX_HOME" };

static void sbx_create_usage(FILE *f)
{
	fprintf(f, "usage: kvmbox create --name NAME [--persistent] [--wait SECONDS]\n"
	           "                     [kvmbox run options] [IMAGE]\n"
	           "\n"
	           "  Start a named microVM in the background and return once its guest\n"
	           "  answers: kvmbox exec NAME -- CMD, stop, start, rm, ls, logs.\n"
	           "  --persistent keeps its writable layer across stop and start: a copy\n"
	           "  of the default root image, or a host folder under an IMAGE's layers.\n"
	           "  NAME: a letter or digit, then up to 62 of [a-zA-Z0-9_.-].\n");
}

/* sbx_copy_rw: the rest of in to out with read and write. */
static int sbx_copy_rw(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (ssize_t done = 0, w; done < n; done += w)
			if ((w = write(out, buf + done, (size_t)(n - done))) <= 0)
				return w < 0 ? -errno : -EIO;
	return n < 0 ? -errno : 0;
}

/* sbx_copy_file: src to dst (new), a reflink where the file system can. */
static int sbx_copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out, err = 0;
	struct stat st;

	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || fstat(in, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (ioctl(out, FICLONE, in) == 0)
		goto out;
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

		/* Across file systems (EXDEV since Linux 5.19): by hand. */
		if (n < 0 && left == st.st_size &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			err = sbx_copy_rw(in, out);
			break;
		}
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		left -= n;
	}
out:
	if (out >= 0 && close(out) < 0 && !err)
		err = -errno;
	close(in);
	return err;
}

/* What create reads of its own command line; the rest is run's. */
struct sbx_create {
	const char *name;
	bool persistent;
	uint64_t wait_s;
	char **run_argv; /* "create" then run's options, NULL-terminated */
	int run_argc;
	bool help;
};

/* sbx_create_args: --name, --persistent, --wait out of argv (before any
 * "--"), the rest kept for run. 0, 1 after --help, or 2 after a message. */
static int sbx_create_args(int argc, char **argv, struct sbx_create *a)
{
	bool dashes = false;

	a->wait_s = SBX_WAIT_S;
	a->run_argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!a->run_argv)
		return 2;
	a->run_argv[a->run_argc++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (dashes || strcmp(argv[i], "--") == 0) {
			dashes = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			sbx_create_usage(stdout);
			a->help = true;
			return 1;
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			a->name = argv[++i];
			continue;
		} else if (!strncmp(argv[i], "--name=", 7)) {
			a->name = argv[i] + 7;
			continue;
		} else if (!strcmp(argv[i], "--persistent")) {
			a->persistent = true;
			continue;
		} else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			if (cli_parse_u64("kvmbox create", "--wait", argv[++i], 1, SBX_WAIT_MAX_S,
			                  &a->wait_s))
				return 2;
			continue;
		}
		a->run_argv[a->run_argc++] = argv[i];
	}
	if (!a->name) {
		fprintf(stderr, "kvmbox create: --name NAME is needed\n");
		sbx_create_usage(stderr);
		return 2;
	}
	if (sbx_name_ok(a->name)) {
		fprintf(stderr,
		        "kvmbox create: %s: not a sandbox name (a letter or digit, then up to 62 "
		        "letters, digits, '_', '.' or '-')\n",
		        a->name);
		return 2;
	}
	return 0;
}

/*
 * sbx_create_check: run's parser over a copy of run's arguments (it cuts
 * some in place): the options are refused now if run would refuse them,
 * and c gets the image, CPUs and memory. *default_root: the guest's root
 * is the project's image. 0, or 2 after a message.
 */
static int sbx_create_check(const struct sbx_create *a, struct sbx_config *c, bool *default_root)
{
	struct run_opts o = { 0 };
	char **copy = calloc((size_t)a->run_argc + 1, sizeof(char *));
	int rc = 2;

	for (int i = 0; copy && i < a->run_argc; i++)
		if (!(copy[i] = strdup(a->run_argv[i])))
			goto out;
	optind = 0;
	if (!copy || run_parse(a->run_argc, copy, &o))
		goto out;
	if (o.command) {
		fprintf(stderr,
		        "kvmbox create: a sandbox runs no command of its own: create it, "
		        "then kvmbox exec %s -- CMD\n",
		        a->name);
	} else if (o.cfg.control_path || o.console_path) {
		fprintf(stderr, "kvmbox create: --control and --console are the sandbox's own "
		                "(kvmbox exec NAME, kvmbox logs NAME)\n");
	} else if (a->run_argc > SBX_MAX_ARGS) {
		fprintf(stderr, "kvmbox create: at most %d arguments\n", SBX_MAX_ARGS);
	} else {
		c->image = o.image ? strdup(o.image) : NULL;
		c->cpus = o.cfg.nr_cpus;
		c->mem_mib = o.cfg.mem_mib;
		c->persistent = a->persistent;
		*default_root = !o.image && !o.rootfs && !o.root_on_fs && !o.cfg.initrd_path;
		rc = 0;
	}
out:
	run_publish_free(&o);
	for (int i = 0; copy && i < a->run_argc; i++)
		free(copy[i]);
	free(copy);
	return rc;
}

/*
 * sbx_create_config: c's argv (run's, with the persistent layer's option
 * in front), folder and environment; the persistent layer made in dir.
 * 0 or -errno after a message.
 */
static int sbx_create_config(const struct sbx_create *a, const char *dir, bool default_root,
                             struct sbx_config *c)
{
	char path[PATH_MAX], *share = NULL;
	size_t n = 0, ne = 0;
	int err = 0;

	c->argv = calloc((size_t)a->run_argc + 3, sizeof(char *));
	c->env = calloc(sizeof(sbx_env_keep) / sizeof(sbx_env_keep[0]) + 1, sizeof(char *));
	c->cwd = getcwd(NULL, 0);
	if (!c->argv || !c->env || !c->cwd)
		return -ENOMEM;
	c->created = (int64_t)time(NULL);
	if (a->persistent && c->image) {
		/* The image's writable layer, a host folder over virtio-fs. */
		sbx_join(path, dir, SBX_UPPER);
		if (mkdir(path, 0700) < 0)
			err = -errno;
		c->argv[n++] = strdup("--upper");
		c->argv[n++] = strdup(path);
	} else if (a->persistent && default_root) {
		/* Its own copy of the root image, read-write. */
		share = cli_share("rootfs.ext4");
		sbx_join(path, dir, SBX_ROOTFS);
		err = share ? sbx_copy_file(share, path) : -ENOENT;
		c->argv[n++] = strdup("--rootfs");
		c->argv[n++] = strdup(path);
	}
	if (err) {
		fprintf(stderr, "kvmbox create: %s: the persistent layer %s: %s\n", a->name, path,
		        strerror(-err));
		free(share);
		return err;
	}
	free(share);
	for (int i = 1; i < a->run_argc; i++)
		c->argv[n++] = strdup(a->run_argv[i]);
	for (size_t i = 0; i < sizeof(sbx_env_keep) / sizeof(sbx_env_keep[0]); i++) {
		const char *v = getenv(sbx_env_keep[i]);

		if (v && asprintf(&c->env[ne], "%s=%s", sbx_env_keep[i], v) > 0)
			ne++;
	}
	for (size_t i = 0; i < n; i++)
		if (!c->argv[i])
			return -ENOMEM;
	return 0;
}

/*
 * sbx_boot: spawn the VMM of c in dir and wait until its guest is ready.
 * 0, or 1 after a message with the last lines of its logs (the VMM, if
 * it still runs, is killed: a sandbox is up or it is not).
 */
static int sbx_boot(const char *verb, const char *name, const char *dir, const struct sbx_config *c,
                    unsigned int wait_s)
{
	int err = sbx_spawn(name, dir, c);

	if (err)
		return 1;
	err = sbx_wait_ready(dir, wait_s);
	if (!err)
		return 0;
	fprintf(stderr, "kvmbox %s: %s: %s\n", verb, name,
	        err == -ESRCH ? "the VMM ended before the guest was ready"
	                      : "the guest was not ready in time (--wait): stopped");
	sbx_kill(dir);
	sbx_wait_exit(dir, 10);
	sbx_tail(dir, SBX_VMM_LOG, 10, "  vmm: ", stderr);
	sbx_tail(dir, SBX_CONSOLE, 10, "  console: ", stderr);
	return 1;
}

int sbx_cmd_create(int argc, char **argv)
{
	struct sbx_create a = { 0 };
	struct sbx_config c = { 0 };
	char dir[PATH_MAX];
	bool default_root = false;
	int rc = sbx_create_args(argc, argv, &a), err;

	if (rc == 1)
		rc = 0; /* --help */
	if (rc || a.help || (rc = sbx_create_check(&a, &c, &default_root)))
		goto out;
	rc = 1;
	err = sbx_claim(a.name);
	if (err == -EEXIST)
		fprintf(stderr, "kvmbox create: a sandbox named %s exists\n", a.name);
	if (err)
		goto out;
	if (sbx_path(a.name, NULL, dir))
		goto out_rm;
	err = sbx_create_config(&a, dir, default_root, &c);
	if (!err)
		err = sbx_config_write(dir, &c);
	if (err) {
		fprintf(stderr, "kvmbox create: %s: cannot save its config: %s\n", a.name,
		        strerror(-err));
		goto out_rm;
	}
	if (sbx_boot("create", a.name, dir, &c, (unsigned int)a.wait_s))
		goto out_rm;
	printf("%s\n", a.name);
	rc = 0;
	goto out;
out_rm:
	sbx_remove(a.name);
out:
	sbx_config_free(&c);
	free(a.run_argv);
	return rc;
}

/*
 * sbx_lookup: NAME's folder into dir, after one message naming prog when
 * it is not a sandbox's. 0 or -errno.
 */
int sbx_lookup(const char *prog, const char *name, char *dir)
{
	struct stat st;

	if (sbx_name_ok(name) || sbx_path(name, NULL, dir) || stat(dir, &st) < 0) {
		fprintf(stderr, "%s: no sandbox named %s\n", prog, name);
		return -ENOENT;
	}
	return 0;
}

int sbx_cmd_start(int argc, char **argv)
{
	struct sbx_config c;
	char dir[PATH_MAX];
	uint64_t wait_s = SBX_WAIT_S;
	enum sbx_state st;
	pid_t pid;
	int rc;

	if (argc == 4 && !strcmp(argv[1], "--wait")) {
		if (cli_parse_u64("kvmbox start", "--wait", argv[2], 1, SBX_WAIT_MAX_S, &wait_s))
			return 2;
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: kvmbox start [--wait SECONDS] NAME\n");
		return 2;
	}
	if (sbx_lookup("kvmbox start", argv[1], dir))
		return 1;
	st = sbx_probe(dir, &pid);
	if (st == SBX_RUNNING || st == SBX_CREATING) {
		fprintf(stderr, "kvmbox start: %s is %s\n", argv[1], sbx_state_name(st));
		return 1;
	}
	if (sbx_config_read(dir, &c)) {
		fprintf(stderr, "kvmbox start: %s: its config cannot be read\n", argv[1]);
		return 1;
	}
	rc = sbx_boot("start", argv[1], dir, &c, (unsigned int)wait_s);
	sbx_config_free(&c);
	return rc;
}

/* sbx_uptime: ms as "3d4h", "2h5m", "4m10s" or "12s". */
static void sbx_uptime(uint64_t ms, char *buf, size_t cap)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, cap, "%llud%lluh", (unsigned long long)(s / 86400),
		         (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, cap, "%lluh%llum", (unsigned long long)(s / 3600),
		         (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, cap, "%llum%llus", (unsigned long long)(s / 60),
		         (unsigned long long)(s % 60));
	else
		snprintf(buf, cap, "%llus", (unsigned long long)s);
}

/*
 * sbx_ls_one: NAME's line, or with out (ls --json) its object appended to
 * out; a running VMM is asked its uptime.
 */
static void sbx_ls_one(const char *name, json_t *out)
{
	char dir[PATH_MAX], up[32] = "-", mem[32] = "-", cpus[16] = "-";
	struct sbx_config c = { 0 };
	const char *state;
	json_t *reply, *o;
	json_int_t ms = -1;
	pid_t pid = 0;
	enum sbx_state st;
	bool have_config = false;

	if (sbx_path(name, NULL, dir))
		return;
	st = sbx_probe(dir, &pid);
	state = sbx_state_name(st);
	if (st != SBX_CREATING && sbx_config_read(dir, &c) == 0) {
		have_config = true;
		snprintf(cpus, sizeof(cpus), "%u", c.cpus);
		snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)c.mem_mib);
	}
	if (st == SBX_RUNNING) {
		if (sbx_status(dir, 3000, &reply) == 0) {
			ms = json_integer_value(json_object_get(reply, "uptime_ms"));
			sbx_uptime((uint64_t)ms, up, sizeof(up));
			json_decref(reply);
		} else {
			state = "unresponsive";
		}
	}
	if (out) {
		/* Absent facts are null, so that every object has every key. */
		o = json_pack("{s:s, s:s, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:o}", "name", name,
		              "dir", dir, "image", c.image ? json_string(c.image) : json_null(),
		              "persistent", c.persistent, "state", state, "cpus",
		              have_config ? json_integer(c.cpus) : json_null(), "memory_mib",
		              have_config ? json_integer((json_int_t)c.mem_mib) : json_null(),
		              "uptime_ms", ms >= 0 ? json_integer(ms) : json_null(), "pid",
		              st == SBX_RUNNING ? json_integer(pid) : json_null(), "created",
		              have_config ? json_integer(c.created) : json_null());
		if (o)
			json_array_append_new(out, o);
	} else {
		printf("%-20s %-24s %-12s %4s %8s %8s\n", name,
		       c.image ? c.image : (c.persistent ? "(root,persistent)" : "(root)"), state,
		       cpus, mem, up);
	}
	sbx_config_free(&c);
}

static int sbx_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sbx_cmd_ls(int argc, char **argv)
{
	char root[PATH_MAX], **names = NULL;
	size_t n = 0;
	struct dirent *e;
	json_t *out = NULL;
	DIR *d = NULL;

	if (argc == 2 && !strcmp(argv[1], "--json")) {
		out = json_array();
		if (!out)
			return 1;
	} else if (argc != 1) {
		fprintf(stderr, "usage: kvmbox ls [--json]\n");
		return 2;
	} else {
		printf("%-20s %-24s %-12s %4s %8s %8s\n", "NAME", "IMAGE", "STATE", "CPUS",
		       "MEMORY", "UPTIME");
	}
	/* No folder: no sandboxes. */
	if (sbx_root(root, false, false) == 0)
		d = opendir(root);
	while (d && (e = readdir(d)) != NULL) {
		char **more;

		if (sbx_name_ok(e->d_name))
			continue; /* ".", "..", and what rm is removing */
		more = realloc(names, (n + 1) * sizeof(*names));
		if (!more)
			break; /* out of memory: list what we have */
		names = more;
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), sbx_cmp);
	for (size_t i = 0; i < n; i++) {
		sbx_ls_one(names[i], out);
		free(names[i]);
	}
	free(names);
	if (out) {
		/* One JSON array on one line (docs/sandboxes.md). */
		char *text = json_dumps(out, JSON_COMPACT);

		json_decref(out);
		if (!text)
			return 1;
		puts(text);
		free(text);
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * jail_plan: the jail's pure parts (jail.h): its options read and checked,
 * and the list of paths it binds worked out. No mount, no namespace here:
 * the unit test calls all of it.
 */
#define _GNU_SOURCE
#include "vmm/confine/jail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel's bounds on cpu.max (kernel/sched/core.c: tg_set_cfs_bandwidth,
 * min_cfs_quota_period 1 ms, max_cfs_quota_period 1 s). */
#define JAIL_CPU_MIN_US     1000ull
#define JAIL_CPU_MAX_PERIOD 1000000ull
#define JAIL_CPU_PERIOD     100000ull

bool jail_limits_any(const struct jail_limits *l)
{
	return l->cpu_quota_us || l->memory_mib || l->pids;
}

/* jail_u64: s as a whole decimal number in [min, max]; -EINVAL. */
static int jail_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int jail_parse_id(const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;

	if (jail_u64(s, 0, UINT32_MAX - 1u, &v)) {
		fprintf(stderr, "kvmbox: %s %s: expected a number from 1 to %u\n", opt, s,
		        UINT32_MAX - 1u);
		return -EINVAL;
	}
	if (v == 0) {
		fprintf(stderr, "kvmbox: %s 0: the jail's %s must not be root\n", opt,
		        strcmp(opt, "--gid") == 0 ? "group" : "user");
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int jail_parse_cpu_max(const char *s, struct jail_limits *l)
{
	char buf[64], *slash;
	uint64_t q, p = JAIL_CPU_PERIOD;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (jail_u64(slash + 1, JAIL_CPU_MIN_US, JAIL_CPU_MAX_PERIOD, &p))
			goto bad;
	}
	/* A quota over the period is more than one CPU: allowed, as cpu.max
	 * allows it, up to a bound that keeps the arithmetic far from wrapping. */
	if (jail_u64(buf, JAIL_CPU_MIN_US, 1ull << 40, &q))
		goto bad;
	l->cpu_quota_us = q;
	l->cpu_period_us = p;
	return 0;
bad:
	fprintf(stderr,
	        "kvmbox: --cpu-max %s: expected QUOTA[/PERIOD] in microseconds (QUOTA at "
	        "least 1000, PERIOD 1000 to 1000000, default 100000)\n",
	        s);
	return -EINVAL;
}

int jail_check(const struct jail_config *c)
{
	struct stat st;

	if (!c->dir) {
		if (c->uid_set || c->gid_set || jail_limits_any(&c->lim)) {
			fprintf(stderr, "kvmbox: --uid, --gid, --cpu-max, --memory-max and "
			                "--pids-max go with --jail DIR\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!c->uid_set || !c->gid_set) {
		fprintf(stderr, "kvmbox: --jail needs --uid U and --gid G: the user and group "
		                "the VMM runs as\n");
		return -EINVAL;
	}
	if (c->dir[0] != '/') {
		fprintf(stderr, "kvmbox: --jail %s: expected an absolute path\n", c->dir);
		return -EINVAL;
	}
	if (stat(c->dir, &st) < 0) {
		fprintf(stderr, "kvmbox: --jail %s: %s\n", c->dir, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "kvmbox: --jail %s: not a folder\n", c->dir);
		return -EINVAL;
	}
	if (strcmp(c->dir, "/") == 0) {
		fprintf(stderr, "kvmbox: --jail /: the jail's folder cannot be the root\n");
		return -EINVAL;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kvmbox: --jail needs root (it makes namespaces and mounts, then "
		                "drops to --uid and --gid)\n");
		return -EPERM;
	}
	return 0;
}

int jail_path_norm(const char *cwd, const char *path, char *out, size_t size)
{
	char buf[8192];
	size_t len = 0;
	char *save = NULL, *comp;

	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", path[0] == '/' ? "" : cwd, path) >=
	    sizeof(buf))
		return -ENAMETOOLONG;
	if (size < 2)
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		size_t cl = strlen(comp);

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(out, '/');

			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
			continue;
		}
		if (len + 1 + cl + 1 > size)
			return -ENAMETOOLONG;
		out[len++] = '/';
		memcpy(out + len, comp, cl + 1);
		len += cl;
	}
	if (!len)
		strcpy(out, "/");
	return 0;
}

/* jail_beneath: whether path lies in the folder dir (or is dir). */
static bool jail_beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int jail_bind_cmp(const void *a, const void *b)
{
	const struct jail_bind *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	/* The same path twice: the read-write one first, and it stays. */
	return c ? c : (int)(x->flags & JAIL_RO) - (int)(y->flags & JAIL_RO);
}

int jail_plan(struct jail_bind *b, unsigned int *n, const char *cwd)
{
	char path[4096];
	unsigned int kept = 0;

	for (unsigned int i = 0; i < *n; i++)
		b[i].path = NULL;
	for (unsigned int i = 0; i < *n; i++) {
		int err = jail_path_norm(cwd, b[i].src, path, sizeof(path));

		if (err)
			return err;
		/* The host's root in the jail would be no jail, and would
		 * hide the jail's /proc. */
		if (strcmp(path, "/") == 0)
			return -EXDEV;
		b[i].path = strdup(path);
		if (!b[i].path)
			return -ENOMEM;
	}
	/* Sorted, a folder comes before everything in it ("/a" < "/a/..."). */
	qsort(b, *n, sizeof(*b), jail_bind_cmp);
	for (unsigned int i = 0; i < *n; i++) {
		bool covered = false;

		for (unsigned int j = 0; j < kept && !covered; j++) {
			const struct jail_bind *k = &b[j];

			if (!jail_beneath(b[i].path, k->path))
				continue;
			covered = (k->flags & JAIL_PROC) || strcmp(b[i].path, k->path) == 0 ||
			          !(k->flags & JAIL_RO) || (b[i].flags & JAIL_RO);
		}
		if (covered) {
			free(b[i].path);
			b[i].path = NULL;
			continue;
		}
		b[kept++] = b[i];
	}
	for (unsigned int i = kept; i < *n; i++)
		b[i].path = NULL;
	*n = kept;
	return 0;
}

void jail_plan_free(struct jail_bind *b, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(b[i].path);
		b[i].path = NULL;
	}
}

int jail_cgroup_path(const char *proc_cgroup, const char *mnt, pid_t pid, char *out, size_t size)
{
	const char *line = proc_cgroup, *p = NULL;
	size_t len = 0;

	/* cgroups(7), /proc/[pid]/cgroup: "hierarchy-ID:controllers:path", v2
	 * the one line with ID 0 and no controllers. */
	while (line && *line) {
		const char *nl = strchr(line, '\n');

		if (strncmp(line, "0::", 3) == 0) {
			p = line + 3;
			len = nl ? (size_t)(nl - p) : strlen(p);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!p)
		return -ENOENT;
	if (!len || p[0] != '/' || memmem(p, len, "/..", 3) || memchr(p, '\0', len))
		return -EINVAL;
	/* The root cgroup is "/": no slash twice. */
	if (len == 1)
		len = 0;
	if ((size_t)snprintf(out, size, "%s%.*s/kvmbox-%d", mnt, (int)len, p, (int)pid) >= size)
		return -ENAMETOOLONG;
	return 0;
}

bool jail_cgroup_has(const char *list, const char *controller)
{
	size_t n = strlen(controller);

	for (const char *p = list; (p = strstr(p, controller)) != NULL; p += n) {
		bool start = p == list || p[-1] == ' ' || p[-1] == '+';
		bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';

		if (start && end)
			return true;
	}
	return false;
}

// SPDX-License-Identifier: MIT
/*
 * guest-agent/volumes: virtio-fs volumes named on the kernel command line
 * (volumes.h).
 */
#define _GNU_SOURCE
#include "guest-agent/volumes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* volume_path_ok: absolute, no "." or ".." component, no empty one but the first. */
static bool volume_path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p + 1; *c;) {
		size_t n = strcspn(c, "/");

		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (n == 0 && c[1] != '\0') /* "//" inside; a trailing '/' is fine */
			return false;
		c += n + (c[n] == '/');
	}
	return true;
}

/* volume_parse_one: "TAG:PATH[:ro]" (len bytes at s) into v; 0 or -EINVAL. */
static int volume_parse_one(const char *s, size_t len, struct agent_volume *v)
{
	char item[sizeof(v->tag) + sizeof(v->path) + 4];
	char *path, *opt;

	if (len == 0 || len >= sizeof(item))
		return -EINVAL;
	memcpy(item, s, len);
	item[len] = '\0';
	path = strchr(item, ':');
	if (!path || path == item || (size_t)(path - item) > AGENT_TAG_MAX)
		return -EINVAL;
	*path++ = '\0';
	opt = strchr(path, ':');
	if (opt)
		*opt++ = '\0';
	if (opt && strcmp(opt, "ro") != 0)
		return -EINVAL;
	if (strlen(path) >= sizeof(v->path) || !volume_path_ok(path))
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	strcpy(v->tag, item);
	strcpy(v->path, path);
	v->read_only = opt != NULL;
	return 0;
}

int agent_volumes_parse(const char *spec, struct agent_volume *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = spec; *p;) {
		size_t len = strcspn(p, ",");
		int err;

		if (n == cap)
			return -E2BIG;
		err = volume_parse_one(p, len, &out[n]);
		if (err)
			return err;
		n++;
		p += len + (p[len] == ',');
	}
	return (int)n;
}

/* mkdir_parents: path and every folder above it (mkdir -p); 0 or -errno. */
static int mkdir_parents(const char *path)
{
	char buf[256];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *s = buf + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			return 0;
	}
}

/*
 * volumes_mnt_tmpfs: on a read-only root no mount point can be made, so
 * /mnt becomes a tmpfs (once, and only then): volumes under /mnt (and
 * /tmp, a tmpfs already) work whatever the root. On a writable root /mnt
 * stays as it is.
 */
static void volumes_mnt_tmpfs(void)
{
	struct statvfs sv;

	if (statvfs("/", &sv) < 0 || !(sv.f_flag & ST_RDONLY))
		return;
	if (mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		fprintf(stderr, "kvmbox-agent: tmpfs on /mnt: %s\n", strerror(errno));
}

int agent_init_volumes(const struct agent_volume *vols, size_t n)
{
	int first = 0;

	if (n)
		volumes_mnt_tmpfs();
	for (size_t i = 0; i < n; i++) {
		const struct agent_volume *v = &vols[i];
		/* As a bind mount of docker run -v: no nosuid or nodev, since the
		 * guest, not its kernel's mount flags, is the sandbox. */
		unsigned long flags = v->read_only ? MS_RDONLY : 0;
		int err = mkdir_parents(v->path);

		if (!err && mount(v->tag, v->path, "virtiofs", flags, NULL) < 0)
			err = -errno;
		if (err == -EROFS)
			fprintf(
			    stderr,
			    "kvmbox-agent: volume %s on %s: the root file system is read-only "
			    "and has no %s: use a path under /mnt or /tmp, or a writable root\n",
			    v->tag, v->path, v->path);
		else if (err)
			fprintf(stderr, "kvmbox-agent: volume %s on %s: %s\n", v->tag, v->path,
			        strerror(-err));
		if (err && !first)
			first = err;
	}
	return first;
}

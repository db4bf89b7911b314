/* SPDX-License-Identifier: MIT */
/*
 * fuse_rig.h: the share the FUSE tests run against (fuse_cases.h) and
 * their helpers. The share is <tmp>/share; <tmp>/outside holds a secret
 * that no request may read, change or learn about.
 *
 * The includer defines the transport: rig_send (an fc_send_fn),
 * rig_attach (set r->s, and r->dev if it likes, for the params) and
 * rig_detach, and RIG_OWN_FDS, the descriptors the transport itself holds.
 */
#ifndef KVMBOX_TESTS_FUSE_RIG_H
#define KVMBOX_TESTS_FUSE_RIG_H

#include "check.h"
#include "fuse_client.h"
#include "virtio/fuse.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct rig;
static uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room);
static int rig_attach(struct rig *r, const struct fuse_srv_params *p);
static void rig_detach(struct rig *r);

#define SECRET "outside-secret-contents"

struct rig {
	void *dev; /* the transport's (rig_attach) */
	char base[64], share[80], outside[80];
	int dfd; /* the share, for checks from the host side */
	struct fuse_srv *s;
	struct fc c;
};

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* rig_cut3: the request and the reply room in three iovecs each, cut at
 * odd places, so that no field is assumed to sit in one segment. */
static inline void rig_cut3(uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room,
                            struct iovec iv[3], struct iovec ov[3])
{
	uint32_t a = in_len < 7 ? in_len : 7, b = in_len < 45 ? in_len : 45;
	uint32_t x = room < 10 ? room : 10, y = room < 1000 ? room : 1000;

	iv[0] = (struct iovec){ in, a };
	iv[1] = (struct iovec){ in + a, b - a };
	iv[2] = (struct iovec){ in + b, in_len - b };
	ov[0] = (struct iovec){ out, x };
	ov[1] = (struct iovec){ out + x, y - x };
	ov[2] = (struct iovec){ out + y, room - y };
}

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* opendir's own */
}

static inline void put_file(int dfd, const char *name, const char *data)
{
	/* Never through a symlink: what the server made may point anywhere. */
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

static inline void rig_init_opts(struct rig *r, bool ro, enum fuse_owner_mode owner,
                                 uint32_t max_ino, uint32_t max_fh)
{
	struct fuse_srv_params p = {
		.read_only = ro, .owner = owner, .max_inodes = max_ino, .max_handles = max_fh
	};
	int ofd;

	memset(r, 0, sizeof(*r));
	strcpy(r->base, "/tmp/test_fuse.XXXXXX");
	if (!mkdtemp(r->base))
		abort();
	snprintf(r->share, sizeof(r->share), "%s/share", r->base);
	snprintf(r->outside, sizeof(r->outside), "%s/outside", r->base);
	if (mkdir(r->share, 0755) || mkdir(r->outside, 0755))
		abort();
	r->dfd = open(r->share, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ofd = open(r->outside, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->dfd < 0 || ofd < 0)
		abort();
	put_file(ofd, "secret", SECRET);
	close(ofd);
	p.root = r->share;
	fc_init(&r->c, rig_send, r);
	if (rig_attach(r, &p))
		abort();
}

static inline void rig_init(struct rig *r)
{
	rig_init_opts(r, false, FUSE_OWNER_PASSTHROUGH, 0, 0);
}

static inline void rig_fini(struct rig *r)
{
	rig_detach(r);
	fc_fini(&r->c);
	close(r->dfd);
	nftw(r->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* outside_intact: the secret is still there, alone, unchanged. */
static inline bool outside_intact(struct rig *r)
{
	char path[128], buf[64] = "";
	int fd, n = 0;
	DIR *d = opendir(r->outside);
	struct dirent *e;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/secret", r->outside);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return n == 1 && !strcmp(buf, SECRET);
}

/* reply_has: whether the last reply's bytes contain s (nothing learned). */
static inline bool reply_has(struct rig *r, const char *s)
{
	return memmem(r->c.reply, r->c.reply_len, s, strlen(s)) != NULL;
}

static inline bool host_exists(struct rig *r, const char *name)
{
	struct stat st;

	return fstatat(r->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* fsetxattr_path: an override_stat xattr on a share file, from the host. */
static inline int fsetxattr_path(struct rig *r, const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", r->share, name);
	return setxattr(path, "user.containers.override_stat", "0:0:0644:file", 13, 0);
}

static inline ssize_t getxattr_host(struct rig *r, const char *name, const char *attr, char *buf,
                                    size_t size)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", r->share, name);
	return lgetxattr(path, attr, buf, size);
}

static inline int xattr_op(struct rig *r, uint32_t op, uint64_t node, const char *name,
                           const char *val, uint32_t size)
{
	fc_start(&r->c, op, node);
	if (op == FUSE_SETXATTR) {
		struct fuse_setxattr_in in = { .size = (uint32_t)strlen(val) };

		fc_add(&r->c, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
		fc_str(&r->c, name);
		fc_add(&r->c, val, strlen(val));
	} else if (op == FUSE_REMOVEXATTR) {
		fc_str(&r->c, name);
	} else {
		struct fuse_getxattr_in in = { .size = size };

		fc_add(&r->c, &in, sizeof(in));
		if (name)
			fc_str(&r->c, name);
	}
	return fc_send(&r->c);
}

/* send_raw: bytes as they are, the header's len field included. */
static inline uint32_t send_raw(struct rig *r, void *in, uint32_t len, uint32_t room)
{
	return r->c.send(&r->c, in, len, r->c.reply, room);
}

#endif

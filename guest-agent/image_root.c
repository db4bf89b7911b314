// SPDX-License-Identifier: MIT
/*
 * guest-agent/image_root: an image's layers under an overlay as the root
 * (image_root.h). agent_overlay_data is pure; the mounts run only as PID 1.
 */
#define _GNU_SOURCE
#include "guest-agent/image_root.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int agent_overlay_data(unsigned int n, char *buf, size_t cap)
{
	size_t used;
	int len;

	if (n < 1 || n > AGENT_MAX_LAYERS)
		return -EINVAL;
	len = snprintf(buf, cap, "lowerdir=");
	if (len < 0 || (size_t)len >= cap)
		return -ENAMETOOLONG;
	used = (size_t)len;
	/* overlayfs lists lower layers top first (filesystems/overlayfs.rst,
	 * "Multiple lower layers"); the image's layers are bottom first. */
	for (unsigned int i = n; i-- > 0;) {
		len = snprintf(buf + used, cap - used, "%u%s", i, i ? ":" : "");
		if (len < 0 || (size_t)len >= cap - used)
			return -ENAMETOOLONG;
		used += (size_t)len;
	}
	len = snprintf(buf + used, cap - used,
	               ",upperdir=" AGENT_UPPER_DIR "/data,workdir=" AGENT_UPPER_DIR "/work");
	return len < 0 || (size_t)len >= cap - used ? -ENAMETOOLONG : 0;
}

/* mkdir_ok: mkdir that accepts a folder already there. */
static int mkdir_ok(const char *path, mode_t mode)
{
	return mkdir(path, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static int fail(const char *what, const char *arg, int err)
{
	fprintf(stderr, "kvmbox-agent: %s %s: %s\n", what, arg, strerror(-err));
	return err;
}

/* mount_upper: the writable layer and its two folders. */
static int mount_upper(const char *upper_tag)
{
	int err = mkdir_ok(AGENT_UPPER_DIR, 0755);

	if (err)
		return fail("mkdir", AGENT_UPPER_DIR, err);
	if (upper_tag[0] ? mount(upper_tag, AGENT_UPPER_DIR, "virtiofs", MS_NOATIME, NULL)
	                 : mount("tmpfs", AGENT_UPPER_DIR, "tmpfs", 0, "mode=0755"))
		return fail("mount", upper_tag[0] ? upper_tag : "the writable layer (tmpfs)",
		            -errno);
	err = mkdir_ok(AGENT_UPPER_DIR "/data", 0755);
	if (!err)
		err = mkdir_ok(AGENT_UPPER_DIR "/work", 0700);
	if (err) {
		umount2(AGENT_UPPER_DIR, MNT_DETACH);
		return fail("mkdir", AGENT_UPPER_DIR "/data, /work", err);
	}
	return 0;
}

int agent_image_root_mount(const char *tag, unsigned int n, const char *upper_tag,
                           const char *target)
{
	char data[4096];
	int err = agent_overlay_data(n, data, sizeof(data));

	if (err)
		return fail("kvmbox.layers:", "bad count", err);
	err = mkdir_ok(AGENT_IMAGE_DIR, 0755);
	if (err)
		return fail("mkdir", AGENT_IMAGE_DIR, err);
	if (mount(tag, AGENT_IMAGE_DIR, "virtiofs", MS_RDONLY, NULL) < 0)
		return fail("mount the image's layers, share", tag, -errno);
	err = mount_upper(upper_tag);
	if (err)
		goto out_image;
	/* The lower folders are named relative to the working directory, so
	 * that 500 of them fit in the one page of mount options. */
	if (chdir(AGENT_IMAGE_DIR) < 0) {
		err = fail("chdir", AGENT_IMAGE_DIR, -errno);
		goto out_upper;
	}
	if (mount("overlay", target, "overlay", 0, data) < 0)
		err = fail("mount the overlay on", target, -errno);
	if (chdir("/") < 0 && !err)
		err = -errno;
	if (!err)
		return 0;
	umount2(target, MNT_DETACH);
out_upper:
	umount2(AGENT_UPPER_DIR, MNT_DETACH);
out_image:
	umount2(AGENT_IMAGE_DIR, MNT_DETACH);
	return err;
}

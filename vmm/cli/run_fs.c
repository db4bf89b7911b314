// SPDX-License-Identifier: MIT
/*
 * run_fs: `kvmbox run`'s shared host folders, each a virtio-fs device
 * (virtio/fs.h): `--volume HOSTDIR:GUESTPATH[:OPTIONS]`, mounted by the
 * agent at GUESTPATH before the command runs, and `--rootfs-dir
 * DIR[,OPTIONS]`, the root file system as a host folder instead of an ext4
 * image. OPTIONS: ro or rw, cache=auto or cache=always. The agent
 * learns of them from the kernel command line (guest-agent/volumes.h and
 * init.h), which has no quoting it can rely on: guest paths with a space,
 * a comma or a colon are refused here, with the reason.
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device tags (virtio 1.2 §5.11.4): one per share, fixed so that the
 * guest's mount commands are predictable. */
static const char *const run_fs_tags[VM_MAX_SHARES] = {
	"vol0", "vol1", "vol2", "vol3", "vol4", "vol5", "vol6", "vol7",
};

#define RUN_FS_ROOT_TAG  "rootfs"
#define RUN_FS_IMAGE_TAG "image"
#define RUN_FS_UPPER_TAG "upper"

/* run_fs_guest_path_ok: absolute, not "/", short, nothing the command line
 * or the agent's parser cannot carry, no "." or ".." component. */
static bool run_fs_guest_path_ok(const char *p, const char **why)
{
	*why = "must be an absolute path other than /";
	if (p[0] != '/' || strspn(p, "/") == strlen(p))
		return false;
	*why = "is longer than 255 bytes";
	if (strlen(p) > 255)
		return false;
	*why = "may not hold a space, a comma or a colon (the kernel command line carries it)";
	if (strpbrk(p, " ,:\t\n\"'\\"))
		return false;
	*why = "may not have . or .. components";
	for (const char *c = p; *c;) {
		size_t n;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

/*
 * run_fs_opts: a share's options, comma-separated: "ro", "rw",
 * "cache=auto" or "cache=always" (virtio/fuse.h says what each keeps).
 * -EINVAL for an option it does not know, after one message unless quiet.
 * opts is left as it was.
 */
static int run_fs_opts(const char *opt, const char *arg, const char *opts, bool quiet, bool *ro,
                       enum fuse_cache *cache)
{
	for (const char *o = opts; *o;) {
		size_t n = strcspn(o, ",");

		if ((n == 2 && !strncmp(o, "ro", 2)) || (n == 2 && !strncmp(o, "rw", 2))) {
			*ro = o[1] == 'o';
		} else if (n == 10 && !strncmp(o, "cache=auto", n)) {
			*cache = FUSE_CACHE_AUTO;
		} else if (n == 12 && !strncmp(o, "cache=always", n)) {
			*cache = FUSE_CACHE_ALWAYS;
		} else if (n) {
			if (!quiet)
				fprintf(stderr,
				        "kvmbox: %s %s: unknown option %.*s (ro, rw, cache=auto, "
				        "cache=always)\n",
				        opt, arg, (int)n, o);
			return -EINVAL;
		}
		o += n + (o[n] == ',');
	}
	return 0;
}

/* run_fs_add: the next share; -EINVAL after one message when all are taken. */
static int run_fs_add(struct run_opts *o, const char *opt, const char *dir, bool ro,
                      enum fuse_cache cache, const char *tag, const char *guest)
{
	struct vm_config *cfg = &o->cfg;

	if (cfg->nr_shares == VM_MAX_SHARES) {
		fprintf(stderr, "kvmbox: %s: at most %d shared folders\n", opt, VM_MAX_SHARES);
		return -EINVAL;
	}
	if (!dir[0]) {
		fprintf(stderr, "kvmbox: %s needs a host folder\n", opt);
		return -EINVAL;
	}
	o->share_guest[cfg->nr_shares] = guest;
	cfg->shares[cfg->nr_shares++] = (struct vfs_params){
		.path = dir,
		.tag = tag,
		.read_only = ro,
		.cache = cache,
	};
	return 0;
}

/* run_fs_nr_volumes: the --volume shares so far (vol0, vol1, ... in order). */
static unsigned int run_fs_nr_volumes(const struct run_opts *o)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < o->cfg.nr_shares; i++)
		n += o->share_guest[i] != NULL;
	return n;
}

/*
 * run_fs_parse_volume: HOSTDIR:GUESTPATH[:OPTIONS]. A guest path starts
 * with '/', options never do: so a last field that does not is the
 * options, and the colon before the guest path is the last one left (a
 * host folder may hold colons, a guest path not).
 */
int run_fs_parse_volume(struct run_opts *o, char *arg)
{
	enum fuse_cache cache = FUSE_CACHE_AUTO;
	char *colon = strrchr(arg, ':'), *guest;
	bool ro = false;
	const char *why;

	if (colon && colon[1] != '/') {
		/* Options, unless there is no other colon: then it was meant as
		 * the guest path, and that is what the message should be about. */
		*colon = '\0';
		if (!strrchr(arg, ':') &&
		    run_fs_opts("--volume", arg, colon + 1, true, &ro, &cache))
			*colon = ':';
		else if (run_fs_opts("--volume", arg, colon + 1, false, &ro, &cache))
			return -EINVAL;
		colon = strrchr(arg, ':');
	}
	if (!colon) {
		fprintf(stderr, "kvmbox: --volume %s: expected HOSTDIR:GUESTPATH[:OPTIONS]\n", arg);
		return -EINVAL;
	}
	*colon = '\0';
	guest = colon + 1;
	if (!run_fs_guest_path_ok(guest, &why)) {
		fprintf(stderr, "kvmbox: --volume %s:%s: the guest path %s\n", arg, guest, why);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < o->cfg.nr_shares; i++) {
		if (o->share_guest[i] && strcmp(o->share_guest[i], guest) == 0) {
			fprintf(stderr, "kvmbox: --volume: two volumes on %s\n", guest);
			return -EINVAL;
		}
	}
	return run_fs_add(o, "--volume", arg, ro, cache, run_fs_tags[run_fs_nr_volumes(o)], guest);
}

/* run_fs_parse_rootfs_dir: DIR[,OPTIONS]. */
int run_fs_parse_rootfs_dir(struct run_opts *o, char *arg)
{
	enum fuse_cache cache = FUSE_CACHE_AUTO;
	char *comma = strchr(arg, ',');
	bool ro = false;

	if (o->root_on_fs) {
		fprintf(stderr, "kvmbox: --rootfs-dir given twice\n");
		return -EINVAL;
	}
	if (comma) {
		*comma = '\0';
		if (run_fs_opts("--rootfs-dir", arg, comma + 1, false, &ro, &cache))
			return -EINVAL;
	}
	if (run_fs_add(o, "--rootfs-dir", arg, ro, cache, RUN_FS_ROOT_TAG, NULL))
		return -EINVAL;
	o->root_on_fs = true;
	o->root_fs_ro = ro;
	return 0;
}

/* run_fs_append: printf-style text added to *s (malloc'd); 0 or -ENOMEM. */
__attribute__((format(printf, 2, 3))) static int run_fs_append(char **s, const char *fmt, ...)
{
	char *add, *t;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	n = asprintf(&t, "%s%s", *s, add);
	free(add);
	if (n < 0)
		return -ENOMEM;
	free(*s);
	*s = t;
	return 0;
}

int run_fs_add_image(struct run_opts *o)
{
	struct vfs_params *sh;

	if (o->img.nr_layers > FUSE_SRV_MAX_GRAFTS) {
		fprintf(stderr, "kvmbox: %s: %zu layers, at most %d\n", o->image, o->img.nr_layers,
		        FUSE_SRV_MAX_GRAFTS);
		return -EINVAL;
	}
	if (run_fs_add(o, o->image, o->img.share_root, true, FUSE_CACHE_ALWAYS, RUN_FS_IMAGE_TAG,
	               NULL))
		return -EINVAL;
	/*
	 * Read-only and never changed while the sandbox runs: the guest may
	 * cache it for good. Ownership from the xattrs oci/ wrote, whoever
	 * runs the VMM (oci_int.h, "How a layer is kept on the host").
	 */
	sh = &o->cfg.shares[o->cfg.nr_shares - 1];
	sh->owner = FUSE_OWNER_XATTR;
	sh->grafts = (const char *const *)o->img.layer_dirs;
	sh->nr_grafts = (uint32_t)o->img.nr_layers;
	sh->overlay_xattrs = true;
	/* --upper DIR: the writable layer on the host, kept across boots
	 * (kvmbox create --persistent), instead of the agent's tmpfs. */
	if (o->upper &&
	    run_fs_add(o, "--upper", o->upper, false, FUSE_CACHE_AUTO, RUN_FS_UPPER_TAG, NULL))
		return -EINVAL;
	return 0;
}

int run_fs_cmdline(const struct run_opts *o, char **out)
{
	char *s = strdup("");
	int err = s ? 0 : -ENOMEM;

	if (!err && o->have_img)
		err = run_fs_append(
		    &s, " kvmbox.root=%s kvmbox.rootfstype=virtiofs kvmbox.layers=%zu%s",
		    RUN_FS_IMAGE_TAG, o->img.nr_layers,
		    o->upper ? " kvmbox.upper=" RUN_FS_UPPER_TAG : "");
	if (!err && o->root_on_fs)
		err = run_fs_append(&s, " kvmbox.root=%s kvmbox.rootfstype=virtiofs%s",
		                    RUN_FS_ROOT_TAG, o->root_fs_ro ? " kvmbox.rootflags=ro" : "");
	for (unsigned int i = 0, n = 0; !err && i < o->cfg.nr_shares; i++) {
		const struct vfs_params *sh = &o->cfg.shares[i];

		if (!o->share_guest[i])
			continue;
		err = run_fs_append(&s, "%s%s:%s%s", n++ ? "," : " kvmbox.volumes=", sh->tag,
		                    o->share_guest[i], sh->read_only ? ":ro" : "");
	}
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

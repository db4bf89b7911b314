// SPDX-License-Identifier: MIT
/*
 * Unit tests of an image share (virtio/fuse.h: grafts and overlay_xattrs):
 * the root shows an image's layers as "0" .. "N-1" and nothing of the
 * folder that holds them, a layer's whiteout and opaque marks (as oci/
 * writes them) reach the guest as overlayfs reads them, and the guest can
 * neither see nor set the host's names for them.
 */
#define _GNU_SOURCE
#include "fuse_rig_direct.h"

/*
 * graft_init: <base>/share empty (the root), the layers <base>/l0 (a file
 * and a folder "d" with "old") and <base>/l1 (a whiteout of "f" and "d"
 * opaque with "new"), and <base>/outside/secret as the rig's.
 */
static void graft_init(struct rig *r, char paths[2][96])
{
	const char *grafts[2] = { paths[0], paths[1] };
	struct fuse_srv_params p = { .read_only = true,
		                     .owner = FUSE_OWNER_XATTR,
		                     .grafts = grafts,
		                     .nr_grafts = 2,
		                     .overlay_xattrs = true };
	char path[160];
	int fd;

	rig_init_opts(r, true, FUSE_OWNER_XATTR, 0, 0);
	rig_detach(r); /* again, with grafts */
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], 96, "%s/l%d", r->base, i);
		snprintf(path, sizeof(path), "%s/d", paths[i]);
		if (mkdir(paths[i], 0755) || mkdir(path, 0755))
			abort();
	}
	fd = open(paths[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
	put_file(fd, "f", "layer0");
	put_file(fd, "d/old", "old");
	close(fd);
	fd = open(paths[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	put_file(fd, "f", "");
	put_file(fd, "d/new", "new");
	close(fd);
	snprintf(path, sizeof(path), "%s/f", paths[1]);
	if (setxattr(path, "user.containers.override_stat", "0:0:0:char-0-0", 14, 0))
		abort();
	snprintf(path, sizeof(path), "%s/d", paths[1]);
	if (setxattr(path, "user.overlay.opaque", "y", 1, 0) ||
	    setxattr(path, "user.other", "1", 1, 0))
		abort();
	p.root = r->share;
	if (fuse_srv_create(&r->s, &p))
		abort();
}

TEST(test_graft_names)
{
	static const char *const absent[] = {
		"2", "00", "01", "-1", "a", "1a", "outside", "l0", "share", "99999999999999999999"
	};
	char paths[2][96];
	struct fuse_entry_out e, d;
	struct rig r;
	uint64_t fh = 0;

	graft_init(&r, paths);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "0", &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_ERR(fc_lookup(&r.c, e.nodeid, "f", &d), 0);
	CHECK(S_ISREG(d.attr.mode));
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "1", &e), 0);
	CHECK_ERR(fc_lookup(&r.c, e.nodeid, "d", &d), 0);
	CHECK_ERR(fc_lookup(&r.c, d.nodeid, "new", &d), 0);
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, absent[i], &e), -ENOENT);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "..", &e), -EINVAL);
	/* The root lists nothing: no layer of another image shows. */
	CHECK_ERR(fc_open(&r.c, FUSE_OPENDIR, FUSE_ROOT_ID, O_RDONLY, &fh), 0);
	fc_start(&r.c, FUSE_READDIR, FUSE_ROOT_ID);
	fc_add(&r.c, &(struct fuse_read_in){ .fh = fh, .size = 4096 }, sizeof(struct fuse_read_in));
	CHECK_ERR(fc_send(&r.c), 0);
	CHECK(!reply_has(&r, "l0") && !reply_has(&r, "outside"));
	CHECK_ERR(fc_release(&r.c, FUSE_RELEASEDIR, FUSE_ROOT_ID, fh), 0);
	/* Read-only: nothing is made in the root or a layer. */
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "2", 0755, &e), -EROFS);
	CHECK(outside_intact(&r));
	rig_fini(&r);
}

TEST(test_graft_overlay_marks)
{
	char paths[2][96], buf[8] = "";
	struct fuse_entry_out l1, f, d;
	struct rig r;

	graft_init(&r, paths);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_lookup(&r.c, FUSE_ROOT_ID, "1", &l1), 0);
	/* A whiteout: a character device 0/0, overlayfs's own mark. */
	CHECK_ERR(fc_lookup(&r.c, l1.nodeid, "f", &f), 0);
	CHECK(S_ISCHR(f.attr.mode));
	CHECK_EQ(f.attr.rdev, 0);
	/* An opaque folder: trusted.overlay.opaque is the host's user.overlay.opaque. */
	CHECK_ERR(fc_lookup(&r.c, l1.nodeid, "d", &d), 0);
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, d.nodeid, "trusted.overlay.opaque", NULL, 64), 0);
	CHECK_EQ(fc_payload_len(&r.c), 1);
	CHECK(!memcmp(fc_payload(&r.c), "y", 1));
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, f.nodeid, "trusted.overlay.opaque", NULL, 64),
	          -ENODATA);
	/* The host's name is not the guest's to read, list or change. */
	CHECK_ERR(xattr_op(&r, FUSE_GETXATTR, d.nodeid, "user.overlay.opaque", NULL, 64), -ENODATA);
	CHECK_ERR(xattr_op(&r, FUSE_LISTXATTR, d.nodeid, NULL, NULL, 64), 0);
	CHECK_EQ(fc_payload_len(&r.c), 11);
	CHECK(!memcmp(fc_payload(&r.c), "user.other", 11));
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, d.nodeid, "trusted.overlay.opaque", "n", 0), -EROFS);
	CHECK(getxattr(paths[1], "user.overlay.opaque", buf, sizeof(buf)) < 0);
	rig_fini(&r);
}

/* On a writable share (an overlay's upper folder) the mapping goes both ways. */
TEST(test_overlay_xattrs_rw)
{
	struct fuse_srv_params p = { .owner = FUSE_OWNER_XATTR, .overlay_xattrs = true };
	struct fuse_entry_out d;
	char buf[8] = "";
	struct rig r;

	rig_init_opts(&r, false, FUSE_OWNER_XATTR, 0, 0);
	rig_detach(&r);
	p.root = r.share;
	CHECK_ERR(fuse_srv_create(&r.s, &p), 0);
	CHECK_ERR(fc_init_session(&r.c), 0);
	CHECK_ERR(fc_mkdir(&r.c, FUSE_ROOT_ID, "d", 0755, &d), 0);
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, d.nodeid, "trusted.overlay.opaque", "y", 0), 0);
	CHECK(getxattr_host(&r, "d", "user.overlay.opaque", buf, sizeof(buf)) == 1 &&
	      buf[0] == 'y');
	CHECK_ERR(xattr_op(&r, FUSE_SETXATTR, d.nodeid, "user.overlay.opaque", "n", 0), -EPERM);
	CHECK_ERR(xattr_op(&r, FUSE_REMOVEXATTR, d.nodeid, "user.overlay.opaque", NULL, 0), -EPERM);
	CHECK_ERR(xattr_op(&r, FUSE_REMOVEXATTR, d.nodeid, "trusted.overlay.opaque", NULL, 0), 0);
	CHECK(getxattr_host(&r, "d", "user.overlay.opaque", buf, sizeof(buf)) < 0);
	rig_fini(&r);
}

TEST(test_graft_params)
{
	const char *grafts[1] = { "/nonexistent/kvmbox-graft" };
	const char *tmp[1] = { "/tmp" };
	struct fuse_srv_params p = {
		.root = "/tmp", .read_only = true, .grafts = grafts, .nr_grafts = 1
	};
	struct fuse_srv *s = NULL;

	CHECK_ERR(fuse_srv_create(&s, &p), -ENOENT);
	p.grafts = tmp;
	p.read_only = false; /* grafts are for read-only shares */
	CHECK_ERR(fuse_srv_create(&s, &p), -EINVAL);
	p.read_only = true;
	p.nr_grafts = FUSE_SRV_MAX_GRAFTS + 1;
	CHECK_ERR(fuse_srv_create(&s, &p), -EINVAL);
	p.nr_grafts = 1;
	p.grafts = NULL;
	CHECK_ERR(fuse_srv_create(&s, &p), -EINVAL);
}

CHECK_MAIN(CASE(test_graft_names), CASE(test_graft_overlay_marks), CASE(test_graft_params),
           CASE(test_overlay_xattrs_rw))

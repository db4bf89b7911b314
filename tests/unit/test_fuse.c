// SPDX-License-Identifier: MIT
/*
 * Unit tests of the FUSE passthrough server (virtio/fuse.h) over a temp
 * directory, driven with byte buffers split into odd iovecs, so that no
 * field is assumed to sit in one segment. The cases are in fuse_cases.h;
 * test_fs.c runs them again through the virtio-fs device.
 */
#define _GNU_SOURCE
#define RIG_OWN_FDS 0 /* descriptors the transport holds */
#include "fuse_cases.h"

/* rig_send: the request and reply room in three iovecs each, cut at odd
 * places. */
static uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t room)
{
	struct rig *r = c->opaque;
	struct iovec iv[3], ov[3];

	rig_cut3(in, in_len, out, room, iv, ov);
	return fuse_srv_handle(r->s, iv, 3, ov, 3);
}

static int rig_attach(struct rig *r, const struct fuse_srv_params *p)
{
	return fuse_srv_create(&r->s, p);
}

static void rig_detach(struct rig *r)
{
	fuse_srv_destroy(r->s);
}

CHECK_MAIN(FUSE_CASES)

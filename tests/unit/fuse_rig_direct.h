/* SPDX-License-Identifier: MIT */
/*
 * fuse_rig_direct.h: fuse_rig.h's transport straight into the server
 * (fuse_srv_handle), with the request and the reply room in three iovecs
 * each, cut at odd places, so that no field is assumed to sit in one
 * segment. test_fs.c's transport is the virtio-fs device instead.
 */
#ifndef KVMBOX_TESTS_FUSE_RIG_DIRECT_H
#define KVMBOX_TESTS_FUSE_RIG_DIRECT_H

#define RIG_OWN_FDS 0 /* descriptors the transport holds */
#include "fuse_rig.h"

static inline uint32_t rig_send(struct fc *c, uint8_t *in, uint32_t in_len, uint8_t *out,
                                uint32_t room)
{
	struct rig *r = c->opaque;
	struct iovec iv[3], ov[3];

	rig_cut3(in, in_len, out, room, iv, ov);
	return fuse_srv_handle(r->s, iv, 3, ov, 3);
}

static inline int rig_attach(struct rig *r, const struct fuse_srv_params *p)
{
	return fuse_srv_create(&r->s, p);
}

static inline void rig_detach(struct rig *r)
{
	fuse_srv_destroy(r->s);
}

#endif

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the FUSE passthrough server (virtio/fuse.h) over a temp
 * directory, driven with byte buffers split into odd iovecs, so that no
 * field is assumed to sit in one segment. The cases are in fuse_cases.h;
 * test_fs.c runs them again through the virtio-fs device.
 */
#define _GNU_SOURCE
#include "fuse_rig_direct.h" /* the transport, before the cases */

#include "fuse_cases.h"

CHECK_MAIN(FUSE_CASES)

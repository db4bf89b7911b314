/* SPDX-License-Identifier: MIT */
/*
 * fuse_cases.h: the FUSE request tests shared by test_fuse.c (the server
 * driven with byte buffers) and test_fs.c (the same requests through the
 * virtio-fs device and a simulated guest driver): each request type
 * (fuse_cases_ops.h) and the hostile cases of issue 10
 * (fuse_cases_hostile.h), over the share of fuse_rig.h, whose header says
 * what the includer defines.
 */
#ifndef KVMBOX_TESTS_FUSE_CASES_H
#define KVMBOX_TESTS_FUSE_CASES_H

#include "fuse_cases_hostile.h"
#include "fuse_cases_ops.h"

/* Every case, for CHECK_MAIN. */
#define FUSE_CASES                                                                                 \
	CASE(test_init), CASE(test_lookup_forget_hardlinks), CASE(test_hostile_names),             \
	    CASE(test_symlink_escape), CASE(test_link_rename_bad_ids), CASE(test_file_io),         \
	    CASE(test_setattr), CASE(test_dir_ops), CASE(test_readdir), CASE(test_readdir_large),  \
	    CASE(test_xattr), CASE(test_misc_ops), CASE(test_read_only), CASE(test_never_forgets), \
	    CASE(test_malformed), CASE(test_owner_xattr), CASE(test_rootless)

#endif

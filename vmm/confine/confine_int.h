/* SPDX-License-Identifier: MIT */
/*
 * confine_int: what the files of vmm/confine/ call of each other. Nothing
 * outside the folder includes it (tools/check-layers).
 */
#ifndef KVMBOX_VMM_CONFINE_CONFINE_INT_H
#define KVMBOX_VMM_CONFINE_CONFINE_INT_H

#include "vmm/confine/confine.h"

#include <seccomp.h>

/* confine_filters.c: kind's allow-list into ctx (default action set). 0 or -errno. */
__attribute__((warn_unused_result)) int confine_rules(scmp_filter_ctx ctx, enum confine_kind kind,
                                                      const struct confine_needs *needs);
/* The capabilities (bits, CAP_*) kind keeps at run time for needs. */
uint64_t confine_kind_caps(enum confine_kind kind, const struct confine_needs *needs);

/* confine_caps.c */
/*
 * confine_caps_drop: the calling thread's bounding set, ambient and
 * inheritable sets cleared, effective and permitted down to keep (of what
 * it has). A thread without CAP_SETPCAP (an ordinary user) has nothing to
 * drop from its bounding set that could ever be raised: not an error.
 * 0 or -errno.
 */
__attribute__((warn_unused_result)) int confine_caps_drop(uint64_t keep);
/* confine_limits: RLIMIT_CORE 0 (no guest memory in a core). 0 or -errno. */
__attribute__((warn_unused_result)) int confine_limits(void);

#endif

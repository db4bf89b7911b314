/* SPDX-License-Identifier: MIT */
/*
 * image_root: the root file system of a sandbox made from an image
 * (docs/images.md): the image's layers, read-only over virtio-fs as one
 * share whose root holds them as "0" (the bottom) .. "N-1", under an
 * overlay whose writable layer is a tmpfs, or a virtio-fs share the host
 * keeps (a persistent sandbox). Nothing of the image is copied.
 *
 * Kernel command line (vmm/cli/run_fs.c writes it):
 *   kvmbox.root=TAG kvmbox.rootfstype=virtiofs kvmbox.layers=N
 *   [kvmbox.upper=TAG]
 */
#ifndef KVMBOX_GUEST_AGENT_IMAGE_ROOT_H
#define KVMBOX_GUEST_AGENT_IMAGE_ROOT_H

#include <stddef.h>

#define AGENT_MAX_LAYERS 500 /* overlayfs' limit on lower layers */

/* Where the layers' share and the writable layer are mounted, in the
 * initramfs, before the switch to the overlay. */
#define AGENT_IMAGE_DIR "/image"
#define AGENT_UPPER_DIR "/upper"

/*
 * agent_overlay_data: the overlay's mount options for n layers, with lower
 * directories relative to AGENT_IMAGE_DIR (the caller's working directory
 * then), top first as overlayfs wants them: "lowerdir=N-1:...:0,
 * upperdir=/upper/data,workdir=/upper/work". -EINVAL for n out of 1..
 * AGENT_MAX_LAYERS, -ENAMETOOLONG when cap is too small.
 */
int agent_overlay_data(unsigned int n, char *buf, size_t cap);

/*
 * agent_image_root_mount: the layers' share tag (read-only) on
 * AGENT_IMAGE_DIR, the writable layer (upper_tag, or a tmpfs when it is
 * empty) on AGENT_UPPER_DIR, and the overlay of them on target. PID 1.
 * Returns 0 or -errno after a line on stderr; on failure what was mounted
 * is taken down.
 */
int agent_image_root_mount(const char *tag, unsigned int n, const char *upper_tag,
                           const char *target);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/volumes: the host folders the VMM shares over virtio-fs
 * (`kvmbox run --volume HOSTDIR:GUESTPATH[:ro]`), mounted by PID 1 once it
 * is in its root file system and before it serves commands.
 *
 * The VMM names them on the kernel command line as one parameter,
 *   kvmbox.volumes=TAG:GUESTPATH[:ro][,TAG:GUESTPATH[:ro]]...
 * where TAG is the virtio-fs device's tag (virtio 1.2 §5.11.4) and
 * GUESTPATH an absolute path. The kernel command line has no quoting the
 * agent can rely on, so the VMM refuses paths with a space, a comma or a
 * colon, and so does this parser; "." and ".." components are refused too.
 *
 * agent_volumes_parse is pure and testable anywhere; agent_init_volumes
 * mounts, only as PID 1 in the guest.
 */
#ifndef KVMBOX_AGENT_VOLUMES_H
#define KVMBOX_AGENT_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_MAX_VOLUMES 16
#define AGENT_TAG_MAX     36 /* §5.11.4: tag is 36 bytes, not NUL-terminated when full */

struct agent_volume {
	char tag[AGENT_TAG_MAX + 1];
	char path[256];
	bool read_only;
};

/*
 * agent_volumes_parse: spec (the value of kvmbox.volumes=) into out, at
 * most cap entries. Returns the number parsed, or -EINVAL for a malformed
 * entry (an empty or too long tag, a path that is not absolute, too long,
 * or has a "." or ".." component, an option other than "ro"), or -E2BIG
 * for more than cap entries. Nothing is mounted on an error.
 */
int agent_volumes_parse(const char *spec, struct agent_volume *out, size_t cap);

/*
 * agent_init_volumes: mount each volume (virtiofs, read-only if asked),
 * creating its mount point and the folders above it where the root lets
 * us. On a read-only root, /mnt becomes a tmpfs first, so that volumes
 * under /mnt (or /tmp) need no mount point in the image. PID 1, after
 * agent_init_switch_root. Returns 0 or the first -errno, having tried them
 * all (each failure is one line on stderr).
 */
int agent_init_volumes(const struct agent_volume *vols, size_t n);

#endif

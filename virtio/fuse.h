/* SPDX-License-Identifier: MIT */
/*
 * fuse: an in-VMM FUSE passthrough server over one host directory, the
 * backend of virtio-fs (virtio/fs.h). It knows no virtqueue: a request is
 * the bytes of a FUSE request (struct fuse_in_header, the op's arguments,
 * write data) in iovecs, a reply goes into the caller's iovecs, so that unit
 * tests and the fuzzer drive it with plain buffers.
 *
 * Protocol: <linux/fuse.h>, as spoken by Linux 6.1's virtio-fs driver (FUSE
 * 7.36); we answer INIT with our minor (7.31 at least is required). Opcodes
 * served are listed in fuse_server.c; anything else gets ENOSYS.
 *
 * Everything in a request is hostile. Confinement, in short (docs/virtio-fs.md
 * has the long form):
 *  - inodes are O_PATH file descriptors held in a bounded table; a node id
 *    is a table index with a generation, never a host pointer, and every
 *    node id and file handle from the guest is looked up and checked;
 *  - a name is one component: non-empty, at most NAME_MAX bytes, no '/',
 *    not "." or ".."; it is resolved beneath its parent's fd with openat2
 *    (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) or an
 *    *at call with AT_SYMLINK_NOFOLLOW, so that the host never follows a
 *    symlink the guest made;
 *  - the inode and handle tables are bounded (ENFILE when full), so a
 *    guest that never sends FORGET cannot exhaust the host's descriptors;
 *  - a read-only share answers EROFS to every request that would write.
 *
 * Threading: a server is used by one thread at a time (its scratch buffers
 * live in struct fuse_srv), but for the data path below (fuse_srv_io_*),
 * which may run on another. Every call is synchronous and may block in the
 * host file system, but for fuse_srv_io_prep and fuse_srv_io_done.
 */
#ifndef KVMBOX_VIRTIO_FUSE_H
#define KVMBOX_VIRTIO_FUSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define FUSE_SRV_MAX_INODES  65536u
#define FUSE_SRV_MAX_HANDLES 4096u
/* The largest WRITE (and READ) we offer in INIT: 256 pages, the most the
 * kernel's FUSE_MAX_PAGES allows (FUSE_MAX_MAX_PAGES). */
#define FUSE_SRV_MAX_WRITE (1u << 20)

/* Where guest-set ownership goes (see fuse_owner.c). */
enum fuse_owner_mode {
	FUSE_OWNER_AUTO = 0,    /* XATTR unless the VMM runs as root */
	FUSE_OWNER_PASSTHROUGH, /* chown/mknod for real (needs privileges) */
	FUSE_OWNER_XATTR,       /* user.containers.override_stat */
};

/*
 * How long the guest may trust what it cached (virtiofsd's cache= option):
 *  - AUTO: names and attributes for FUSE_TTL_AUTO_S, file data until the
 *    next open (close-to-open): a change made on the host shows within a
 *    second, or at the next open. For folders both sides write.
 *  - ALWAYS: names and attributes for FUSE_TTL_ALWAYS_S, file data kept
 *    across opens (FOPEN_KEEP_CACHE): for folders only the guest changes
 *    (a root file system, build inputs), where it saves a round trip per
 *    lookup, stat and open; a host change may stay unseen for that long.
 */
enum fuse_cache {
	FUSE_CACHE_AUTO = 0,
	FUSE_CACHE_ALWAYS,
};
#define FUSE_TTL_AUTO_S   1u
#define FUSE_TTL_ALWAYS_S 86400u

struct fuse_srv_params {
	const char *root; /* the shared directory (a host path: trusted) */
	bool read_only;
	enum fuse_cache cache;
	enum fuse_owner_mode owner;
	uint32_t max_inodes;  /* 0: FUSE_SRV_MAX_INODES; at least 2 */
	uint32_t max_handles; /* 0: FUSE_SRV_MAX_HANDLES */
	/*
	 * Grafts (an image's layers, docs/images.md): with nr_grafts > 0 the
	 * root's only names are "0" .. "N-1", each the host folder grafts[i]
	 * (trusted paths, opened at create), and the root folder itself
	 * should be empty, so that the guest sees these folders and no other
	 * of the one that holds them. Read-only shares only.
	 */
	const char *const *grafts;
	uint32_t nr_grafts; /* at most FUSE_SRV_MAX_GRAFTS */
	/*
	 * overlay_xattrs: the guest's trusted.overlay.* xattrs are the
	 * host's user.overlay.* (oci/ marks an opaque folder so, where an
	 * unprivileged user can), and the guest cannot name user.overlay.*.
	 */
	bool overlay_xattrs;
};
#define FUSE_SRV_MAX_GRAFTS 500 /* overlayfs' own limit on lower layers */

struct fuse_srv;

/*
 * fuse_srv_create: a server over p->root, before INIT. Opens the root and
 * /proc/self/fd (fuse_inode.c says why) and allocates the tables.
 * Returns 0 or -errno (-ENOTDIR, -ENOENT ... from opening the root).
 */
__attribute__((warn_unused_result)) int fuse_srv_create(struct fuse_srv **out,
                                                        const struct fuse_srv_params *p);

void fuse_srv_destroy(struct fuse_srv *s);

/*
 * fuse_srv_reset: forget every inode but the root, close every handle and
 * go back to waiting for INIT (a device reset, or DESTROY).
 */
void fuse_srv_reset(struct fuse_srv *s);

/*
 * fuse_srv_handle: serve one request. in/in_n: the request bytes (guest
 * memory, hostile, may change under us: each field is copied once); out /
 * out_n: where the reply goes. Returns the reply's length in bytes (the
 * used length to report), or 0 when the request takes no reply (FORGET,
 * BATCH_FORGET, INTERRUPT) or when out has no room for even a
 * struct fuse_out_header (such a request is not served at all: its
 * effects could never be reported).
 */
uint32_t fuse_srv_handle(struct fuse_srv *s, const struct iovec *in, unsigned int in_n,
                         const struct iovec *out, unsigned int out_n);

/*
 * The data path, split so that the caller can run the transfer where it
 * likes (virtio/fs.c: on the main loop's io_uring, straight between the
 * host file and the request's guest buffers). For READ and WRITE only.
 *
 * fuse_srv_io_prep checks the request (as fuse_srv_handle would) and, when
 * it is a plain transfer on a valid handle, fills io: the host descriptor,
 * the offset, and io->iov (the caller's room, io->iov_max entries) over
 * the request's data (WRITE) or the reply's data area (READ). It then
 * holds a reference on the handle, so that a RELEASE or a reset that comes
 * meanwhile leaves the descriptor open (and its number not reused) until
 * fuse_srv_io_done. Returns false, holding nothing, for anything else:
 * other opcodes, errors of any kind, empty transfers, before INIT; serve
 * those with fuse_srv_handle, which gives the same replies as always.
 *
 * fuse_srv_io_done: res is the transfer's result (bytes, or -errno);
 * writes the reply into the request's out iovecs, drops the reference and
 * returns the used length. Exactly once per successful prep.
 *
 * fuse_srv_io_sync: the transfer itself, with preadv/pwritev, for a
 * caller that has no ring at hand; returns bytes or -errno.
 *
 * Threading: prep and done may run on one thread while another runs
 * fuse_srv_handle (they share only the handle table, under its own lock,
 * never the server's scratch buffers).
 */
struct fuse_io {
	struct iovec *iov;    /* in: room for iov_max; out: the data */
	unsigned int iov_max; /* in */
	unsigned int iov_n;
	int fd;
	bool write;
	uint64_t offset;
	/* for fuse_srv_io_done */
	uint64_t unique;
	uint32_t slot;
	const struct iovec *out;
	unsigned int out_n;
};

bool fuse_srv_io_prep(struct fuse_srv *s, const struct iovec *in, unsigned int in_n,
                      const struct iovec *out, unsigned int out_n, struct fuse_io *io);
uint32_t fuse_srv_io_done(struct fuse_srv *s, struct fuse_io *io, int res);
int fuse_srv_io_sync(const struct fuse_io *io);

/* fuse_srv_stats: counters for tests and metrics. */
struct fuse_srv_stats {
	uint64_t requests, errors, malformed, unsupported;
	uint64_t io_requests;     /* of requests: READ and WRITE via fuse_srv_io_* */
	uint32_t inodes, handles; /* in use now (the root counts) */
};

void fuse_srv_get_stats(struct fuse_srv *s, struct fuse_srv_stats *st);

#endif

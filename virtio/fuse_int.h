/* SPDX-License-Identifier: MIT */
/*
 * fuse_int.h: private to virtio/fuse_*.c. Nothing outside includes it.
 *
 * fuse_server.c   struct fuse_srv, request parsing, dispatch, INIT, replies
 * fuse_inode.c    the inode and handle tables, names, lookup, attributes
 * fuse_owner.c    ownership: passthrough or the override_stat xattr
 * fuse_ops_node.c LOOKUP FORGET GETATTR SETATTR STATFS ACCESS READLINK
 * fuse_ops_dir.c  SYMLINK MKNOD MKDIR UNLINK RMDIR RENAME(2) LINK
 * fuse_ops_file.c OPEN CREATE READ WRITE FLUSH RELEASE FSYNC FALLOCATE
 *                 LSEEK COPY_FILE_RANGE
 * fuse_ops_readdir.c OPENDIR READDIR READDIRPLUS RELEASEDIR FSYNCDIR
 * fuse_ops_xattr.c   SETXATTR GETXATTR LISTXATTR REMOVEXATTR SYNCFS
 */
#ifndef KVMBOX_VIRTIO_FUSE_INT_H
#define KVMBOX_VIRTIO_FUSE_INT_H

#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "virtio/fuse.h"

/*
 * The most argument bytes (after fuse_in_header) copied out of a request:
 * SETXATTR's value (XATTR_SIZE_MAX, 64 KiB) with its name and struct is the
 * largest the kernel sends; WRITE data stays in guest memory.
 */
#define FUSE_ARG_MAX (72u << 10)
/* Scratch for replies built in host memory: READDIR(PLUS), GETXATTR,
 * LISTXATTR (XATTR_LIST_MAX 64 KiB), READLINK. */
#define FUSE_REPLY_MAX (128u << 10)
/* The most iovecs one data transfer uses (IOV_MAX). */
#define FUSE_IOV_MAX 1024u

/* Handler results beside -errno and a reply length. */
#define FUSE_NO_REPLY 0

struct fuse_inode {
	int fd;           /* O_PATH | O_NOFOLLOW; -1: the slot is free */
	uint32_t gen;     /* high half of the node id */
	uint32_t next;    /* hash chain when in use, free list when free */
	uint64_t nlookup; /* the kernel's lookup count (FORGET decrements) */
	dev_t dev;
	ino_t ino;
	mode_t type; /* S_IFMT of the host inode: fixed for its life */
};

/*
 * A file handle. The table is shared with the data path (fuse_io.c), which
 * may run on another thread: every access goes through handles_lock.
 * io_refs counts transfers in flight (fuse_srv_io_prep .. _done); a
 * RELEASE or reset that finds some leaves the handle a zombie: its fh no
 * longer valid, its descriptor open until the last transfer is done, so
 * that the number is not reused under a transfer still to be submitted.
 */
struct fuse_handle {
	int fd;        /* -1: free */
	uint32_t gen;  /* high half of the fh */
	uint32_t next; /* free list */
	uint32_t io_refs;
	bool dir;
	bool writable;
	bool zombie; /* released with io_refs > 0 */
};

struct fuse_srv {
	struct fuse_srv_params p;
	bool xattr_owner; /* ownership in override_stat (FUSE_OWNER_XATTR) */
	bool initialized; /* INIT seen */
	uint32_t minor;   /* the kernel's protocol minor */
	int proc_fd;      /* /proc/self/fd, O_PATH: fuse_inode_reopen */
	int root_dir_fd;  /* the root, O_RDONLY: SYNCFS */
	int *graft_fds;   /* [p.nr_grafts], O_PATH (p.grafts) */
	mode_t umask;     /* the process umask at create: undone after creates */
	bool no_xattrat;  /* the host kernel lacks getxattrat & co (< 6.13) */
	uint32_t ttl;     /* entry and attribute validity, s (p.cache) */
	uint32_t fopen;   /* FOPEN_* flags of OPEN and CREATE replies */

	struct fuse_inode *inodes; /* [p.max_inodes]; 0 is the root */
	uint32_t *buckets;         /* (dev, ino) hash -> index + 1, 0 empty */
	uint32_t nr_buckets;       /* a power of two */
	uint32_t inode_free;       /* free list head: index + 1, 0 empty */
	uint32_t nr_inodes;

	pthread_mutex_t handles_lock; /* the handle table and the io_ counters */
	bool handles_lock_ready;
	struct fuse_handle *handles; /* [p.max_handles] */
	uint32_t handle_free;
	uint32_t nr_handles; /* zombies included: they hold a descriptor */
	uint64_t io_requests, io_errors;

	struct fuse_srv_stats stats;
	/* Scratch, one request at a time (a worker pool gives each worker
	 * its own). */
	uint8_t arg[FUSE_ARG_MAX + 8];
	uint8_t reply[FUSE_REPLY_MAX];
	uint8_t dents[FUSE_REPLY_MAX];
	struct iovec iov[FUSE_IOV_MAX];
};

/* One request being served. */
struct fuse_req {
	struct fuse_srv *s;
	struct fuse_in_header h; /* copied, checked: h.len == in bytes */
	const uint8_t *arg;      /* s->arg: the op's arguments */
	uint32_t arg_len;        /* bytes of arg (WRITE: only fuse_write_in) */
	const struct iovec *in;  /* the whole request (WRITE data) */
	unsigned int in_n;
	const struct iovec *out; /* the reply's room */
	unsigned int out_n;
	uint32_t out_len; /* bytes of room, >= sizeof(struct fuse_out_header) */
};

/* fuse_wire_errno: err as a reply's error: a negative errno the kernel
 * accepts, -1 .. -511 (fuse_dev_do_write refuses anything below -512 as
 * a protocol error), else -EIO. */
static inline int fuse_wire_errno(int err)
{
	return err >= 0 || err <= -512 ? -EIO : err;
}

/* fuse_server.c: replies and iovec helpers. */
int fuse_reply(struct fuse_req *r, const void *payload, uint32_t len);
int fuse_reply_hdr(struct fuse_req *r, uint32_t payload_len);
int fuse_reply_ok(struct fuse_req *r, int err);
size_t fuse_iov_len(const struct iovec *iov, unsigned int n);
int fuse_iov_copy_in(const struct iovec *iov, unsigned int n, size_t off, void *dst, size_t len);
int fuse_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
                   struct iovec *dst, unsigned int max);
void fuse_iov_copy_out(const struct iovec *iov, unsigned int n, size_t off, const void *src,
                       size_t len);
const char *fuse_arg_name(const struct fuse_req *r, uint32_t off, uint32_t *next);
const char *fuse_arg_str(const struct fuse_req *r, uint32_t off, uint32_t max, uint32_t *next);

/* fuse_inode.c */
int fuse_tables_init(struct fuse_srv *s);
void fuse_tables_free(struct fuse_srv *s);
void fuse_tables_reset(struct fuse_srv *s);
uint64_t fuse_nodeid(const struct fuse_srv *s, const struct fuse_inode *ino);
struct fuse_inode *fuse_inode_get(struct fuse_srv *s, uint64_t nodeid);
void fuse_inode_forget(struct fuse_srv *s, uint64_t nodeid, uint64_t n);
bool fuse_name_ok(const char *name);
int fuse_lookup_fd(struct fuse_srv *s, struct fuse_inode *dir, const char *name, int *fd);
int fuse_inode_from_fd(struct fuse_srv *s, int fd, struct fuse_inode **out, struct stat *st);
int fuse_lookup_entry(struct fuse_srv *s, struct fuse_inode *dir, const char *name,
                      struct fuse_entry_out *e);
int fuse_inode_stat(struct fuse_srv *s, const struct fuse_inode *ino, struct stat *st);
int fuse_inode_attr(struct fuse_srv *s, struct fuse_inode *ino, struct fuse_attr *a);
void fuse_fill_attr(const struct stat *st, struct fuse_attr *a);
void fuse_fill_entry(struct fuse_srv *s, struct fuse_inode *ino, const struct stat *st,
                     struct fuse_entry_out *e);
int fuse_inode_reopen(struct fuse_srv *s, const struct fuse_inode *ino, int flags);
int fuse_proc_name(const struct fuse_inode *ino, char *buf, size_t size);
int fuse_handle_new(struct fuse_srv *s, int fd, bool dir, bool writable, uint64_t *fh);
struct fuse_handle *fuse_handle_get(struct fuse_srv *s, uint64_t fh, bool dir);
int fuse_handle_release(struct fuse_srv *s, uint64_t fh, bool dir);
int fuse_handle_io_get(struct fuse_srv *s, uint64_t fh, bool write, uint32_t *slot);
void fuse_handle_io_put(struct fuse_srv *s, uint32_t slot, bool failed);

/* fuse_ops_file.c: the checks READ and WRITE share with fuse_io.c. */
int fuse_read_span(const struct fuse_read_in *in, uint32_t room, uint32_t *len);
int fuse_write_span(const struct fuse_write_in *in, uint32_t data_len);

/* fuse_owner.c */
int fuse_owner_stat(struct fuse_srv *s, const struct fuse_inode *ino, struct stat *st);
int fuse_owner_chown(struct fuse_srv *s, const struct fuse_inode *ino, uid_t uid, gid_t gid);
int fuse_owner_chmod(struct fuse_srv *s, const struct fuse_inode *ino, mode_t mode);
int fuse_owner_created(struct fuse_srv *s, const struct fuse_inode *dir, int fd,
                       const struct fuse_in_header *h, mode_t mode, dev_t rdev);
bool fuse_owner_xattr_name(const char *name);

/* fuse_ops_xattr.c: xattrs of an inode, never following a symlink. */
ssize_t fuse_xattr_get(struct fuse_srv *s, const struct fuse_inode *ino, const char *name,
                       void *buf, size_t size);
int fuse_xattr_set(struct fuse_srv *s, const struct fuse_inode *ino, const char *name,
                   const void *val, size_t size, int flags);

int fuse_fsync_fh(struct fuse_req *r, bool dir);

/* The op handlers: -errno, FUSE_NO_REPLY, or the reply's length. */
typedef int fuse_op_fn(struct fuse_req *r);
fuse_op_fn fuse_op_lookup, fuse_op_forget, fuse_op_batch_forget, fuse_op_getattr, fuse_op_setattr,
    fuse_op_statfs, fuse_op_access, fuse_op_readlink;
fuse_op_fn fuse_op_symlink, fuse_op_mknod, fuse_op_mkdir, fuse_op_unlink, fuse_op_rmdir,
    fuse_op_rename, fuse_op_rename2, fuse_op_link;
fuse_op_fn fuse_op_open, fuse_op_create, fuse_op_read, fuse_op_write, fuse_op_flush,
    fuse_op_release, fuse_op_fsync, fuse_op_fallocate, fuse_op_lseek, fuse_op_copy_file_range;
fuse_op_fn fuse_op_opendir, fuse_op_readdir, fuse_op_readdirplus, fuse_op_releasedir,
    fuse_op_fsyncdir;
fuse_op_fn fuse_op_setxattr, fuse_op_getxattr, fuse_op_listxattr, fuse_op_removexattr,
    fuse_op_syncfs;

#endif

// SPDX-License-Identifier: MIT
/*
 * fuse_server: request parsing, dispatch, INIT and DESTROY, replies
 * (fuse.h). Layout facts: <linux/fuse.h>, the FUSE protocol as Linux
 * implements it (fs/fuse/, Documentation/filesystems/fuse.rst).
 */
#define _GNU_SOURCE
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The protocol minor we speak: Linux 6.1's. The kernel uses the smaller of
 * its and ours; nothing we parse changes layout between 7.31 and 7.38
 * unless a flag we never offer is negotiated (FUSE_SETXATTR_EXT ...). */
#define FUSE_SRV_MINOR     36u
#define FUSE_SRV_MIN_MINOR 31u /* virtio-fs came with 7.31 (Linux 5.4) */

/*
 * INIT flags we accept when the kernel offers them. Not offered, on
 * purpose: WRITEBACK_CACHE (the host's copy would lag the guest's),
 * EXPORT_SUPPORT (needs LOOKUP of "." and ".."), POSIX_ACL, ATOMIC_O_TRUNC,
 * SETXATTR_EXT and HANDLE_KILLPRIV(_V2) (argument layouts we do not parse),
 * DAX (no shared memory window yet).
 */
#define FUSE_SRV_FLAGS                                                                             \
	(FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |               \
	 FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_CACHE_SYMLINKS | FUSE_AUTO_INVAL_DATA)

enum {
	OP_WRITES = 1,   /* refused with EROFS on a read-only share */
	OP_NO_REPLY = 2, /* the kernel expects no reply */
	OP_NAME = 4,     /* min_in counts a trailing name too */
};

struct fuse_op_desc {
	fuse_op_fn *fn;
	uint32_t min_in;  /* argument bytes at least */
	uint32_t min_out; /* reply payload bytes at least */
	uint32_t flags;
};

static int fuse_op_init(struct fuse_req *r);
static int fuse_op_destroy(struct fuse_req *r);
static int fuse_op_interrupt(struct fuse_req *r);

#define ENTRY sizeof(struct fuse_entry_out)
#define NAME  ((size_t)2) /* one byte and its NUL */

static const struct fuse_op_desc fuse_ops[FUSE_SYNCFS + 1] = {
	[FUSE_INIT] = { fuse_op_init, 16, 0, 0 },
	[FUSE_DESTROY] = { fuse_op_destroy, 0, 0, 0 },
	[FUSE_INTERRUPT] = { fuse_op_interrupt, sizeof(struct fuse_interrupt_in), 0, OP_NO_REPLY },
	[FUSE_LOOKUP] = { fuse_op_lookup, NAME, ENTRY, 0 },
	[FUSE_FORGET] = { fuse_op_forget, sizeof(struct fuse_forget_in), 0, OP_NO_REPLY },
	[FUSE_BATCH_FORGET] = { fuse_op_batch_forget, sizeof(struct fuse_batch_forget_in), 0,
	                        OP_NO_REPLY },
	[FUSE_GETATTR] = { fuse_op_getattr, sizeof(struct fuse_getattr_in),
	                   sizeof(struct fuse_attr_out), 0 },
	[FUSE_SETATTR] = { fuse_op_setattr, sizeof(struct fuse_setattr_in),
	                   sizeof(struct fuse_attr_out), OP_WRITES },
	[FUSE_STATFS] = { fuse_op_statfs, 0, sizeof(struct fuse_statfs_out), 0 },
	[FUSE_ACCESS] = { fuse_op_access, sizeof(struct fuse_access_in), 0, 0 },
	[FUSE_READLINK] = { fuse_op_readlink, 0, 0, 0 },
	[FUSE_SYMLINK] = { fuse_op_symlink, 2 * NAME, ENTRY, OP_WRITES },
	[FUSE_MKNOD] = { fuse_op_mknod, sizeof(struct fuse_mknod_in) + NAME, ENTRY, OP_WRITES },
	[FUSE_MKDIR] = { fuse_op_mkdir, sizeof(struct fuse_mkdir_in) + NAME, ENTRY, OP_WRITES },
	[FUSE_UNLINK] = { fuse_op_unlink, NAME, 0, OP_WRITES },
	[FUSE_RMDIR] = { fuse_op_rmdir, NAME, 0, OP_WRITES },
	[FUSE_RENAME] = { fuse_op_rename, sizeof(struct fuse_rename_in) + 2 * NAME, 0, OP_WRITES },
	[FUSE_RENAME2] = { fuse_op_rename2, sizeof(struct fuse_rename2_in) + 2 * NAME, 0,
	                   OP_WRITES },
	[FUSE_LINK] = { fuse_op_link, sizeof(struct fuse_link_in) + NAME, ENTRY, OP_WRITES },
	[FUSE_OPEN] = { fuse_op_open, sizeof(struct fuse_open_in), sizeof(struct fuse_open_out),
	                0 },
	[FUSE_CREATE] = { fuse_op_create, sizeof(struct fuse_create_in) + NAME,
	                  ENTRY + sizeof(struct fuse_open_out), OP_WRITES },
	[FUSE_READ] = { fuse_op_read, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_WRITE] = { fuse_op_write, sizeof(struct fuse_write_in), sizeof(struct fuse_write_out),
	                 OP_WRITES },
	[FUSE_FLUSH] = { fuse_op_flush, sizeof(struct fuse_flush_in), 0, 0 },
	[FUSE_RELEASE] = { fuse_op_release, sizeof(struct fuse_release_in), 0, 0 },
	[FUSE_FSYNC] = { fuse_op_fsync, sizeof(struct fuse_fsync_in), 0, 0 },
	[FUSE_FALLOCATE] = { fuse_op_fallocate, sizeof(struct fuse_fallocate_in), 0, OP_WRITES },
	[FUSE_LSEEK] = { fuse_op_lseek, sizeof(struct fuse_lseek_in), sizeof(struct fuse_lseek_out),
	                 0 },
	[FUSE_COPY_FILE_RANGE] = { fuse_op_copy_file_range, sizeof(struct fuse_copy_file_range_in),
	                           sizeof(struct fuse_write_out), OP_WRITES },
	[FUSE_OPENDIR] = { fuse_op_opendir, sizeof(struct fuse_open_in),
	                   sizeof(struct fuse_open_out), 0 },
	[FUSE_READDIR] = { fuse_op_readdir, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_READDIRPLUS] = { fuse_op_readdirplus, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_RELEASEDIR] = { fuse_op_releasedir, sizeof(struct fuse_release_in), 0, 0 },
	[FUSE_FSYNCDIR] = { fuse_op_fsyncdir, sizeof(struct fuse_fsync_in), 0, 0 },
	/* Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat struct. */
	[FUSE_SETXATTR] = { fuse_op_setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE + NAME, 0, OP_WRITES },
	[FUSE_GETXATTR] = { fuse_op_getxattr, sizeof(struct fuse_getxattr_in) + NAME, 0, 0 },
	[FUSE_LISTXATTR] = { fuse_op_listxattr, sizeof(struct fuse_getxattr_in), 0, 0 },
	[FUSE_REMOVEXATTR] = { fuse_op_removexattr, NAME, 0, OP_WRITES },
	[FUSE_SYNCFS] = { fuse_op_syncfs, sizeof(struct fuse_syncfs_in), 0, 0 },
};

size_t fuse_iov_len(const struct iovec *iov, unsigned int n)
{
	size_t len = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (iov[i].iov_len > SIZE_MAX - len)
			return SIZE_MAX;
		len += iov[i].iov_len;
	}
	return len;
}

/* fuse_iov_copy_in: len bytes at off of iov into dst; -EINVAL if short. */
int fuse_iov_copy_in(const struct iovec *iov, unsigned int n, size_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		memcpy(d, (const uint8_t *)iov[i].iov_base + off, chunk);
		d += chunk;
		len -= chunk;
		off = 0;
	}
	return len ? -EINVAL : 0;
}

/* fuse_iov_copy_out: len bytes of src into iov at off; what fits. */
void fuse_iov_copy_out(const struct iovec *iov, unsigned int n, size_t off, const void *src,
                       size_t len)
{
	const uint8_t *p = src;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		memcpy((uint8_t *)iov[i].iov_base + off, p, chunk);
		p += chunk;
		len -= chunk;
		off = 0;
	}
}

/*
 * fuse_iov_slice: iovecs into dst (room for max) for len bytes from off of
 * iov; fewer bytes when iov is shorter. Returns the count or -E2BIG.
 */
int fuse_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
                   struct iovec *dst, unsigned int max)
{
	unsigned int cnt = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (cnt == max)
			return -E2BIG;
		chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		dst[cnt].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[cnt].iov_len = chunk;
		cnt++;
		len -= chunk;
		off = 0;
	}
	return (int)cnt;
}

/*
 * fuse_arg_str: the NUL-terminated string at off of the arguments, of at
 * most max bytes before its NUL; *next is the offset after the NUL.
 * NULL when it has no NUL within the arguments or is too long.
 */
const char *fuse_arg_str(const struct fuse_req *r, uint32_t off, uint32_t max, uint32_t *next)
{
	const char *p;
	size_t len;

	if (off >= r->arg_len)
		return NULL;
	p = (const char *)r->arg + off;
	len = strnlen(p, r->arg_len - off);
	if (len == r->arg_len - off || len > max)
		return NULL;
	if (next)
		*next = off + (uint32_t)len + 1;
	return p;
}

/* fuse_arg_name: a name (fuse_name_ok) at off; NULL when there is none. */
const char *fuse_arg_name(const struct fuse_req *r, uint32_t off, uint32_t *next)
{
	const char *name = fuse_arg_str(r, off, NAME_MAX, next);

	return name && fuse_name_ok(name) ? name : NULL;
}

/* fuse_reply_hdr: the out header for a reply of payload_len bytes already
 * in place after it. Returns the reply's length. */
int fuse_reply_hdr(struct fuse_req *r, uint32_t payload_len)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)sizeof(oh) + payload_len,
		.error = 0,
		.unique = r->h.unique,
	};

	fuse_iov_copy_out(r->out, r->out_n, 0, &oh, sizeof(oh));
	return (int)oh.len;
}

/* fuse_reply: header and payload; -ERANGE when the room is too small. */
int fuse_reply(struct fuse_req *r, const void *payload, uint32_t len)
{
	if (len > r->out_len - sizeof(struct fuse_out_header))
		return -ERANGE;
	fuse_iov_copy_out(r->out, r->out_n, sizeof(struct fuse_out_header), payload, len);
	return fuse_reply_hdr(r, len);
}

/* fuse_reply_ok: err when it is one, else an empty success reply. */
int fuse_reply_ok(struct fuse_req *r, int err)
{
	return err ? err : fuse_reply(r, NULL, 0);
}

static uint32_t fuse_reply_err(struct fuse_req *r, int err)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh),
		.error = err,
		.unique = r->h.unique,
	};

	oh.error = fuse_wire_errno(err);
	r->s->stats.errors++;
	fuse_iov_copy_out(r->out, r->out_n, 0, &oh, sizeof(oh));
	return sizeof(oh);
}

/*
 * fuse_op_init: negotiate (fuse.rst "FUSE_INIT"): major 7 only, minor at
 * least FUSE_SRV_MIN_MINOR; flags are the kernel's offer masked by ours.
 */
static int fuse_op_init(struct fuse_req *r)
{
	struct fuse_init_in in = { 0 };
	struct fuse_init_out o = { 0 };

	memcpy(&in, r->arg, r->arg_len < sizeof(in) ? r->arg_len : sizeof(in));
	if (__atomic_load_n(&r->s->initialized, __ATOMIC_ACQUIRE))
		return -EPROTO;
	if (in.major != FUSE_KERNEL_VERSION || in.minor < FUSE_SRV_MIN_MINOR)
		return -EPROTO;
	o.major = FUSE_KERNEL_VERSION;
	o.minor = FUSE_SRV_MINOR;
	o.max_readahead = in.max_readahead;
	o.flags = in.flags & FUSE_SRV_FLAGS;
	o.max_background = 64;
	o.congestion_threshold = 48;
	o.max_write = FUSE_SRV_MAX_WRITE;
	o.time_gran = 1;
	o.max_pages = FUSE_SRV_MAX_WRITE / 4096;
	r->s->minor = in.minor < FUSE_SRV_MINOR ? in.minor : FUSE_SRV_MINOR;
	__atomic_store_n(&r->s->initialized, true, __ATOMIC_RELEASE);
	return fuse_reply(r, &o, sizeof(o));
}

/* fuse_op_destroy: the guest unmounted: drop everything, wait for INIT. */
static int fuse_op_destroy(struct fuse_req *r)
{
	fuse_srv_reset(r->s);
	return fuse_reply(r, NULL, 0);
}

/*
 * fuse_op_interrupt: every request is finished before the next is read,
 * so the one to interrupt is already answered; an INTERRUPT takes no
 * reply of its own (fuse.rst "Interrupting filesystem operations").
 */
static int fuse_op_interrupt(struct fuse_req *r)
{
	(void)r;
	return FUSE_NO_REPLY;
}

/* fuse_copy_args: the op's arguments into s->arg, NUL-terminated after. */
static int fuse_copy_args(struct fuse_req *r, size_t in_len)
{
	size_t len = in_len - sizeof(struct fuse_in_header);

	/* WRITE data stays in guest memory: only its fuse_write_in is copied. */
	if (r->h.opcode == FUSE_WRITE && len > sizeof(struct fuse_write_in))
		len = sizeof(struct fuse_write_in);
	if (len > FUSE_ARG_MAX)
		return -E2BIG;
	if (fuse_iov_copy_in(r->in, r->in_n, sizeof(struct fuse_in_header), r->s->arg, len))
		return -EINVAL;
	memset(r->s->arg + len, 0, 8);
	r->arg = r->s->arg;
	r->arg_len = (uint32_t)len;
	return 0;
}

/* fuse_dispatch: checks common to all ops, then the op's handler. */
static int fuse_dispatch(struct fuse_req *r, size_t in_len)
{
	const struct fuse_op_desc *d =
	    r->h.opcode < sizeof(fuse_ops) / sizeof(fuse_ops[0]) ? &fuse_ops[r->h.opcode] : NULL;
	int err;

	if (!d || !d->fn) {
		r->s->stats.unsupported++;
		return -ENOSYS;
	}
	/* No room for even the out header: a request that takes a reply is
	 * not served at all (its effects could never be reported). */
	if (!(d->flags & OP_NO_REPLY) && r->out_len < sizeof(struct fuse_out_header))
		return -EINVAL;
	if (!__atomic_load_n(&r->s->initialized, __ATOMIC_ACQUIRE) && r->h.opcode != FUSE_INIT)
		return d->flags & OP_NO_REPLY ? FUSE_NO_REPLY : -EIO;
	err = fuse_copy_args(r, in_len);
	if (err)
		return err;
	if (r->arg_len < d->min_in ||
	    (d->min_out && d->min_out > r->out_len - sizeof(struct fuse_out_header))) {
		r->s->stats.malformed++;
		return d->flags & OP_NO_REPLY ? FUSE_NO_REPLY : -EINVAL;
	}
	if ((d->flags & OP_WRITES) && r->s->p.read_only)
		return -EROFS;
	return d->fn(r);
}

uint32_t fuse_srv_handle(struct fuse_srv *s, const struct iovec *in, unsigned int in_n,
                         const struct iovec *out, unsigned int out_n)
{
	struct fuse_req r = { .s = s, .in = in, .in_n = in_n, .out = out, .out_n = out_n };
	size_t in_len = fuse_iov_len(in, in_n), out_len = fuse_iov_len(out, out_n);
	int ret;

	s->stats.requests++;
	r.out_len = out_len > UINT32_MAX ? UINT32_MAX : (uint32_t)out_len;
	if (fuse_iov_copy_in(in, in_n, 0, &r.h, sizeof(r.h)) || r.h.len != in_len) {
		/* Truncated, or its length disagrees with the chain: we cannot
		 * trust where its arguments end. unique is whatever came. */
		s->stats.malformed++;
		if (in_len < sizeof(r.h))
			memset(&r.h, 0, sizeof(r.h));
		ret = -EINVAL;
	} else {
		ret = fuse_dispatch(&r, in_len);
	}
	if (ret == FUSE_NO_REPLY)
		return 0;
	if (r.out_len < sizeof(struct fuse_out_header))
		return 0; /* no room to say anything */
	if (ret < 0)
		return fuse_reply_err(&r, ret);
	return (uint32_t)ret;
}

/* fuse_grafts_open: an O_PATH descriptor on each of p->grafts. */
static int fuse_grafts_open(struct fuse_srv *s, const struct fuse_srv_params *p)
{
	if (!p->nr_grafts)
		return 0;
	s->graft_fds = malloc(p->nr_grafts * sizeof(*s->graft_fds));
	if (!s->graft_fds)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nr_grafts; i++)
		s->graft_fds[i] = -1;
	for (uint32_t i = 0; i < p->nr_grafts; i++) {
		s->graft_fds[i] = open(p->grafts[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->graft_fds[i] < 0)
			return -errno;
	}
	return 0;
}

int fuse_srv_create(struct fuse_srv **out, const struct fuse_srv_params *p)
{
	struct fuse_srv *s = calloc(1, sizeof(*s));
	int root = -1, err;
	mode_t m;

	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->p.root = NULL; /* not kept: the caller's strings */
	s->p.grafts = NULL;
	if (!s->p.max_inodes)
		s->p.max_inodes = FUSE_SRV_MAX_INODES;
	if (!s->p.max_handles)
		s->p.max_handles = FUSE_SRV_MAX_HANDLES;
	s->proc_fd = s->root_dir_fd = -1;
	err = -EINVAL;
	if (!p->root || (unsigned int)p->cache > FUSE_CACHE_ALWAYS || s->p.max_inodes < 2 ||
	    s->p.max_inodes > (1u << 24) || s->p.max_handles > (1u << 24) ||
	    p->nr_grafts > FUSE_SRV_MAX_GRAFTS || (p->nr_grafts && (!p->grafts || !p->read_only)))
		goto fail;
	s->xattr_owner = p->owner == FUSE_OWNER_XATTR || (p->owner == FUSE_OWNER_AUTO && geteuid());
	s->ttl = p->cache == FUSE_CACHE_ALWAYS ? FUSE_TTL_ALWAYS_S : FUSE_TTL_AUTO_S;
	s->fopen = p->cache == FUSE_CACHE_ALWAYS ? FOPEN_KEEP_CACHE : 0;
	/* The umask is process-wide: read it once, here, at setup (set and
	 * put back), so that creates can undo it (fuse_owner_created). */
	m = umask(0);
	umask(m);
	s->umask = m;
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0)
		goto fail_errno;
	root = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		goto fail_errno;
	s->root_dir_fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_dir_fd < 0)
		goto fail_errno;
	err = fuse_grafts_open(s, p);
	if (err)
		goto fail;
	err = fuse_tables_init(s);
	if (err)
		goto fail;
	err = fuse_inode_from_fd(s, root, NULL, NULL);
	root = -1; /* the table's now, or closed */
	if (err)
		goto fail;
	*out = s;
	return 0;
fail_errno:
	err = -errno;
fail:
	if (root >= 0)
		close(root);
	fuse_srv_destroy(s);
	return err;
}

void fuse_srv_reset(struct fuse_srv *s)
{
	fuse_tables_reset(s);
	__atomic_store_n(&s->initialized, false, __ATOMIC_RELEASE);
	s->minor = 0;
}

void fuse_srv_destroy(struct fuse_srv *s)
{
	if (!s)
		return;
	fuse_tables_free(s);
	if (s->proc_fd >= 0)
		close(s->proc_fd);
	if (s->root_dir_fd >= 0)
		close(s->root_dir_fd);
	for (uint32_t i = 0; s->graft_fds && i < s->p.nr_grafts; i++)
		if (s->graft_fds[i] >= 0)
			close(s->graft_fds[i]);
	free(s->graft_fds);
	free(s);
}

void fuse_srv_get_stats(struct fuse_srv *s, struct fuse_srv_stats *st)
{
	*st = s->stats;
	st->inodes = s->nr_inodes;
	pthread_mutex_lock(&s->handles_lock);
	st->handles = s->nr_handles;
	st->requests += s->io_requests;
	st->errors += s->io_errors;
	st->io_requests = s->io_requests;
	pthread_mutex_unlock(&s->handles_lock);
}

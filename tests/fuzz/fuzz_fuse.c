// SPDX-License-Identifier: MIT
/*
 * fuzz_fuse: the FUSE passthrough server (virtio/fuse.h) fed arbitrary
 * request bytes over a temporary share: <tmp>/share holds a file, a hard
 * link to it, a folder, a symlink to "/" and one to <tmp>/outside, whose
 * secret no request may change.
 *
 * Input: byte 0: bit 0 no automatic INIT first, bit 1 the read-only
 * server, bit 2 (without bit 1) the server keeping ownership in the
 * override_stat xattr (fuse_owner.c). Then records, as long as the input goes:
 *   u8 ctl, u8 room, le16 len, len bytes of request
 *   ctl bit 0: set the header's len to the bytes sent (else as given)
 *       bit 1: the header's node id becomes one the server handed out
 *              (its low byte picks which), so requests reach real inodes
 *       bit 2: the first 8 argument bytes (the fh of READ, WRITE, RELEASE,
 *              READDIR ...) become a handle the server handed out
 *       bit 3: the request and the reply room in odd iovec pieces
 *       bit 4: READ and WRITE through the data path (fuse_srv_io_*), as
 *              virtio-fs serves them on its ring
 *   room: an index into a table of reply sizes (0 bytes to 2 MiB)
 * The harness clamps FALLOCATE and COPY_FILE_RANGE lengths to 1 MiB so
 * that the fuzzer does not fill the disk (the server bounds a copy at
 * 64 MiB and FALLOCATE not at all: quotas are the host's business).
 *
 * Checked after each request: the reply fits the room, is a well-formed
 * fuse_out_header (len as returned; error 0 or -1..-511, an error reply
 * header-only). After each input: the secret is intact and alone, nothing
 * appeared beside the share, the server's descriptors are within its
 * table bounds, and after a reset none is left.
 * Each input starts from a freshly made share and a reset server.
 */
#define _GNU_SOURCE
#include "../unit/rig.h"
#include "virtio/fuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INODES  64u
#define MAX_HANDLES 16u
#define MAX_IDS     64u
#define SECRET      "fuzz-secret"
#define REQ_MAX     (2u << 20)

static const uint32_t rooms[] = { 0,       8,   16,   17,   40,    64,       120,
	                          144,     160, 4096, 8192, 65536, 1u << 20, (1u << 20) + 16,
	                          2u << 20 };
#define ROOM_MAX (2u << 20)

struct fuzz {
	char base[64], share[80], outside[80];
	struct fuse_srv *rw, *ro, *xa;
	uint8_t *req, *reply;
	uint64_t nodes[MAX_IDS], fhs[MAX_IDS];
	unsigned int nr_nodes, nr_fhs;
	int base_fds;
};

static struct fuzz fz;

/* share_fds: descriptors of this process on anything under fz.base (the
 * fuzzer's own descriptors come and go: they are not counted). */
static int share_fds(void)
{
	return test_fds_under(fz.base);
}

static void put(const char *dir, const char *name, const char *data)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* A new file, never through a symlink: the harness must not follow
	 * what the fuzzer made any more than the server does. */
	fd = open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return ftw->level ? rmdir(path) : 0;
	/* A folder the fuzzer made unreadable gets its mode back. Never
	 * chmod a symlink's path: chmod follows it, and the guest's symlinks
	 * point anywhere (a run of this fuzzer once chmodded the host's / and
	 * /etc/passwd that way). */
	if (flag == FTW_DNR) {
		/* Readable again, it is walked on its own (its own level 0
		 * is kept by rm_one), then removed. */
		if (fchmodat(AT_FDCWD, path, 0700, AT_SYMLINK_NOFOLLOW) < 0 ||
		    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
			return -1;
		return rmdir(path);
	}
	return unlink(path);
}

static int entries(const char *dir);

/* fresh_share: empty the share, then the fixtures. */
static void fresh_share(void)
{
	char path[200];

	/* The share itself is a real folder (the fuzzer cannot replace its
	 * root): chmod by path is safe here and nowhere else. */
	if (chmod(fz.share, 0755) || nftw(fz.share, rm_one, 16, FTW_DEPTH | FTW_PHYS) ||
	    entries(fz.share) != 0)
		abort(); /* never build fixtures over leftovers */
	put(fz.share, "f", "file contents");
	snprintf(path, sizeof(path), "%s/f", fz.share);
	{
		char p2[200];

		snprintf(p2, sizeof(p2), "%s/h", fz.share);
		if (link(path, p2))
			abort();
		snprintf(p2, sizeof(p2), "%s/d", fz.share);
		if (mkdir(p2, 0755))
			abort();
		put(p2, "inner", "x");
		snprintf(p2, sizeof(p2), "%s/root", fz.share);
		if (symlink("/", p2))
			abort();
		snprintf(p2, sizeof(p2), "%s/out", fz.share);
		if (symlink(fz.outside, p2))
			abort();
	}
}

static void setup(void)
{
	struct fuse_srv_params p = { .owner = FUSE_OWNER_PASSTHROUGH,
		                     .max_inodes = MAX_INODES,
		                     .max_handles = MAX_HANDLES };

	strcpy(fz.base, "/tmp/fuzz_fuse.XXXXXX");
	if (!mkdtemp(fz.base))
		abort();
	snprintf(fz.share, sizeof(fz.share), "%s/share", fz.base);
	snprintf(fz.outside, sizeof(fz.outside), "%s/outside", fz.base);
	if (mkdir(fz.share, 0755) || mkdir(fz.outside, 0755))
		abort();
	put(fz.outside, "secret", SECRET);
	fresh_share();
	fz.req = malloc(REQ_MAX);
	fz.reply = malloc(ROOM_MAX);
	fz.base_fds = share_fds();
	p.root = fz.share;
	if (!fz.req || !fz.reply || fuse_srv_create(&fz.rw, &p))
		abort();
	p.owner = FUSE_OWNER_XATTR;
	if (fuse_srv_create(&fz.xa, &p))
		abort();
	p.owner = FUSE_OWNER_PASSTHROUGH;
	p.read_only = true;
	if (fuse_srv_create(&fz.ro, &p))
		abort();
	fz.base_fds = share_fds();
}

/* entries: names in dir, "." and ".." aside. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* secret_intact: outside holds the secret alone, unchanged, and nothing
 * appeared beside the share. */
static bool secret_intact(void)
{
	char path[160], buf[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/secret", fz.outside);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == (ssize_t)strlen(SECRET) && !strcmp(buf, SECRET) && entries(fz.outside) == 1 &&
	       entries(fz.base) == 2;
}

/* learn: node ids and handles from a successful reply. */
static void learn(uint32_t opcode, const uint8_t *p, uint32_t len)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;

	switch (opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKDIR:
	case FUSE_MKNOD:
	case FUSE_SYMLINK:
	case FUSE_LINK:
	case FUSE_CREATE:
		if (len < sizeof(e))
			return;
		memcpy(&e, p, sizeof(e));
		fz.nodes[fz.nr_nodes++ % MAX_IDS] = e.nodeid;
		if (opcode != FUSE_CREATE || len < sizeof(e) + sizeof(o))
			return;
		memcpy(&o, p + sizeof(e), sizeof(o));
		fz.fhs[fz.nr_fhs++ % MAX_IDS] = o.fh;
		return;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		if (len < sizeof(o))
			return;
		memcpy(&o, p, sizeof(o));
		fz.fhs[fz.nr_fhs++ % MAX_IDS] = o.fh;
		return;
	default:
		return;
	}
}

/* clamp: keep the fuzzer from allocating the disk away. */
static void clamp(uint8_t *req, uint32_t len)
{
	struct fuse_in_header h;
	uint64_t v;
	size_t off;

	if (len < sizeof(h))
		return;
	memcpy(&h, req, sizeof(h));
	if (h.opcode == FUSE_FALLOCATE)
		off = sizeof(h) + offsetof(struct fuse_fallocate_in, length);
	else if (h.opcode == FUSE_COPY_FILE_RANGE)
		off = sizeof(h) + offsetof(struct fuse_copy_file_range_in, len);
	else
		return;
	if (len < off + 8)
		return;
	memcpy(&v, req + off, 8);
	v &= (1u << 20) - 1;
	memcpy(req + off, &v, 8);
}

/*
 * send_data_path: the request as virtio-fs serves it on its worker path:
 * READ and WRITE through fuse_srv_io_prep / _sync / _done when prep takes
 * them (their data iovecs must lie within the reply's data area or the
 * request's data), everything else through fuse_srv_handle.
 */
static uint32_t send_data_path(struct fuse_srv *s, const struct iovec *iv, unsigned int in_n,
                               const struct iovec *ov, unsigned int out_n, uint32_t room,
                               uint32_t len)
{
	struct iovec data[3];
	struct fuse_io io = { .iov = data, .iov_max = 3 };

	if (!fuse_srv_io_prep(s, iv, in_n, ov, out_n, &io))
		return fuse_srv_handle(s, iv, in_n, ov, out_n);
	for (unsigned int i = 0; i < io.iov_n; i++) {
		const uint8_t *p = data[i].iov_base;
		const uint8_t *lo =
		    io.write ? fz.req + sizeof(struct fuse_in_header) : fz.reply + 16;
		const uint8_t *hi = io.write ? fz.req + len : fz.reply + room;

		if (p < lo || p + data[i].iov_len > hi)
			abort();
	}
	return fuse_srv_io_done(s, &io, fuse_srv_io_sync(&io));
}

/* send_request: one request; checks the reply's shape. */
static void send_request(struct fuse_srv *s, uint8_t ctl, uint32_t room, uint32_t len)
{
	struct fuse_in_header h;
	struct fuse_out_header oh;
	struct iovec iv[3], ov[3];
	unsigned int in_n = 1, out_n = 1;
	uint32_t got;

	if (len >= sizeof(h)) {
		memcpy(&h, fz.req, sizeof(h));
		if (ctl & 1)
			h.len = len;
		if ((ctl & 2) && fz.nr_nodes)
			h.nodeid = fz.nodes[(h.nodeid & 0xff) %
			                    (fz.nr_nodes < MAX_IDS ? fz.nr_nodes : MAX_IDS)];
		memcpy(fz.req, &h, sizeof(h));
		if ((ctl & 4) && fz.nr_fhs && len >= sizeof(h) + 8) {
			uint64_t fh;

			memcpy(&fh, fz.req + sizeof(h), 8);
			fh = fz.fhs[(fh & 0xff) % (fz.nr_fhs < MAX_IDS ? fz.nr_fhs : MAX_IDS)];
			memcpy(fz.req + sizeof(h), &fh, 8);
		}
	}
	clamp(fz.req, len);
	iv[0] = (struct iovec){ fz.req, len };
	ov[0] = (struct iovec){ fz.reply, room };
	if (ctl & 8) {
		uint32_t a = len / 3, b = room / 5;

		iv[0].iov_len = a;
		iv[1] = (struct iovec){ fz.req + a, 1 < len - a ? 1 : len - a };
		iv[2] = (struct iovec){ fz.req + a + iv[1].iov_len, len - a - iv[1].iov_len };
		ov[0].iov_len = b;
		ov[1] = (struct iovec){ fz.reply + b, 0 };
		ov[2] = (struct iovec){ fz.reply + b, room - b };
		in_n = out_n = 3;
	}
	got = (ctl & 16) ? send_data_path(s, iv, in_n, ov, out_n, room, len)
	                 : fuse_srv_handle(s, iv, in_n, ov, out_n);
	if (got > room || (got && got < sizeof(oh)))
		abort();
	if (!got)
		return;
	memcpy(&oh, fz.reply, sizeof(oh));
	if (oh.len != got || oh.error > 0 || oh.error < -511 || (oh.error && got != sizeof(oh)))
		abort();
	if (!oh.error && len >= sizeof(h))
		learn(h.opcode, fz.reply + sizeof(oh), got - (uint32_t)sizeof(oh));
}

static void auto_init(struct fuse_srv *s)
{
	struct fuse_in_header h = { .len = sizeof(h) + sizeof(struct fuse_init_in),
		                    .opcode = FUSE_INIT,
		                    .unique = 1 };
	struct fuse_init_in in = { .major = 7, .minor = 36, .flags = 0xffffffffu };

	memcpy(fz.req, &h, sizeof(h));
	memcpy(fz.req + sizeof(h), &in, sizeof(in));
	send_request(s, 0, 4096, h.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_srv *s;
	struct fuse_srv_stats st;
	size_t pos = 1;

	if (!fz.req)
		setup();
	if (size < 1)
		return 0;
	s = data[0] & 2 ? fz.ro : data[0] & 4 ? fz.xa : fz.rw;
	fz.nr_nodes = fz.nr_fhs = 0;
	fz.nodes[fz.nr_nodes++] = FUSE_ROOT_ID;
	if (!(data[0] & 1))
		auto_init(s);
	while (pos + 4 <= size) {
		uint8_t ctl = data[pos];
		uint32_t room = rooms[data[pos + 1] % (sizeof(rooms) / sizeof(rooms[0]))];
		uint32_t len = (uint32_t)data[pos + 2] | (uint32_t)data[pos + 3] << 8;

		pos += 4;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		memcpy(fz.req, data + pos, len);
		pos += len;
		send_request(s, ctl, room, len);
	}
	fuse_srv_get_stats(s, &st);
	if (st.inodes > MAX_INODES || st.handles > MAX_HANDLES)
		abort();
	if (share_fds() > fz.base_fds + (int)(MAX_INODES + MAX_HANDLES))
		abort();
	fuse_srv_reset(s);
	if (share_fds() != fz.base_fds || !secret_intact()) {
		fprintf(stderr, "fds %d (at start %d), secret %s\n", share_fds(), fz.base_fds,
		        secret_intact() ? "intact" : "CHANGED");
		abort();
	}
	fresh_share();
	return 0;
}

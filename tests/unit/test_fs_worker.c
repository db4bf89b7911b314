// SPDX-License-Identifier: MIT
/*
 * Unit tests of virtio-fs (virtio/fs.c) on its worker path (fs.h): the
 * device is given a loop, requests are served on its worker thread, and
 * used entries come back only when the loop runs (fs_rig.h). First every
 * case of fuse_cases.h through that path; then what only the worker path
 * does: completion through the loop, a busy server that does not hold up
 * queue_notify, many requests against the VFS_JOBS bound, a device reset
 * with requests in flight, and vfs_destroy with requests queued.
 *
 * A "slow host file system" is played by a thread that holds fs->srv_lock,
 * the lock the worker takes around each request (struct hang): the worker
 * then blocks exactly as it would in a slow host call. A thread of its
 * own, so that the test thread, which plays the main thread, never holds
 * srv_lock while taking the transport lock (the device's lock order is
 * the other way round).
 */
#define _GNU_SOURCE
#define FS_RIG_WORKER 1
#include "fs_rig.h"

#include <pthread.h>
#include <time.h>

/* The reply buffer of each chain put_req made, by head. */
static uint64_t reply_gpa[RQ_SIZE];

/*
 * put_req: one request as an indirect chain of two buffers on q (header
 * and args readable, 256 bytes writable), so that a chain takes one
 * descriptor; the caller notifies. Returns the head.
 */
static uint16_t put_req(struct vdrv *q, uint32_t opcode, uint64_t unique, const void *arg,
                        uint32_t arg_len, const char *name)
{
	uint32_t name_len = name ? (uint32_t)strlen(name) + 1 : 0;
	struct fuse_in_header h = { .len = (uint32_t)sizeof(h) + arg_len + name_len,
		                    .opcode = opcode,
		                    .unique = unique,
		                    .nodeid = FUSE_ROOT_ID };
	uint64_t g = vdrv_alloc(q, h.len), o = vdrv_alloc(q, 256);
	struct vdrv_buf b[2] = { { g, h.len, false }, { o, 256, true } };
	uint8_t *p = vdrv_host(q, g, h.len);
	uint16_t head;

	memcpy(p, &h, sizeof(h));
	if (arg_len)
		memcpy(p + sizeof(h), arg, arg_len);
	if (name_len)
		memcpy(p + sizeof(h) + arg_len, name, name_len);
	head = vdrv_add_indirect(q, b, 2);
	reply_gpa[head % RQ_SIZE] = o;
	return head;
}

static uint16_t put_getattr(struct vdrv *q, uint64_t unique)
{
	struct fuse_getattr_in ga = { 0 };

	return put_req(q, FUSE_GETATTR, unique, &ga, sizeof(ga), NULL);
}

static uint16_t put_mkdir(struct vdrv *q, uint64_t unique, const char *name)
{
	struct fuse_mkdir_in mi = { .mode = 0755 };

	return put_req(q, FUSE_MKDIR, unique, &mi, sizeof(mi), name);
}

/* reply_unique: the unique of the reply to the put_req chain head. */
static uint64_t reply_unique(struct vdrv *q, uint16_t head)
{
	struct fuse_out_header oh;

	memcpy(&oh, vdrv_host(q, reply_gpa[head % RQ_SIZE], sizeof(oh)), sizeof(oh));
	return oh.unique;
}

/* after_rounds: true once *arg rounds of the loop went by. */
static bool after_rounds(struct dev *d, void *arg)
{
	int *n = arg;

	(void)d;
	return (*n)-- <= 0;
}

static bool none_in_flight(struct dev *d, void *arg)
{
	(void)arg;
	return d->fs.stats.inflight == 0;
}

/* gen_changed: whether fs's generation moves from `from` within ~10 s. */
static bool gen_changed(struct vfs *fs, uint32_t from)
{
	for (int i = 0; i < 10000; i++) {
		struct timespec ms = { .tv_nsec = 1000 * 1000 };

		if (__atomic_load_n(&fs->generation, __ATOMIC_ACQUIRE) != from)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* hang: a thread holding srv_lock from hang_start to hang_end. */
struct hang {
	struct vfs *fs;
	pthread_t thread;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int state; /* 0 starting, 1 holding, 2 asked to let go */
};

static void *hang_thread(void *opaque)
{
	struct hang *h = opaque;

	pthread_mutex_lock(&h->fs->srv_lock);
	pthread_mutex_lock(&h->m);
	h->state = 1;
	pthread_cond_broadcast(&h->cv);
	while (h->state != 2)
		pthread_cond_wait(&h->cv, &h->m);
	pthread_mutex_unlock(&h->m);
	pthread_mutex_unlock(&h->fs->srv_lock);
	return NULL;
}

static void hang_start(struct hang *h, struct vfs *fs)
{
	*h = (struct hang){ .fs = fs };
	if (pthread_mutex_init(&h->m, NULL) || pthread_cond_init(&h->cv, NULL) ||
	    pthread_create(&h->thread, NULL, hang_thread, h))
		abort();
	pthread_mutex_lock(&h->m);
	while (h->state != 1)
		pthread_cond_wait(&h->cv, &h->m);
	pthread_mutex_unlock(&h->m);
}

static void hang_end(struct hang *h)
{
	pthread_mutex_lock(&h->m);
	h->state = 2;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->m);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->m);
}

/* Completions come back through the loop only; a busy server holds up
 * neither queue_notify nor the loop. */
TEST(test_wk_async)
{
	struct hang hang;
	struct drig t;
	struct vdrv *q;
	uint32_t id = 0, len = 0;
	uint16_t head;
	int rounds = 5;

	drig_init(&t);
	q = &t.d->rq;
	CHECK_ERR(fc_init_session(&t.c), 0);
	hang_start(&hang, &t.d->fs); /* the host file system hangs */
	head = put_getattr(q, 77);
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	CHECK_EQ(t.d->fs.stats.inflight, 1);
	CHECK(!vdrv_get_used(q, &id, &len));
	/* The loop keeps running meanwhile (the other devices' turn). */
	CHECK(fs_rig_wait(t.d, after_rounds, &rounds));
	CHECK_EQ(t.d->fs.stats.inflight, 1);
	CHECK(!vdrv_get_used(q, &id, &len));
	hang_end(&hang);
	CHECK(!vdrv_get_used(q, &id, &len)); /* served, maybe: not yet pushed */
	CHECK(fs_rig_wait(t.d, fs_rig_has_used, q));
	CHECK(vdrv_get_used(q, &id, &len));
	CHECK_EQ(id, head);
	CHECK(len > sizeof(struct fuse_out_header));
	CHECK_EQ(reply_unique(q, head), 77);
	CHECK_EQ(t.d->fs.stats.inflight, 0);
	CHECK(t.d->irqs > 0);
	drig_fini(&t);
}

/* More chains than jobs: the request queue's share of VFS_JOBS popped, the
 * rest when jobs come back, without another notification; every chain
 * answered once, rightly. */
TEST(test_wk_many)
{
	enum { N = 120 };
	struct drig t;
	struct vdrv *q;
	uint64_t unique_of[RQ_SIZE] = { 0 };
	bool seen[RQ_SIZE] = { false };
	unsigned int used = 0, bad = 0;
	uint16_t popped;
	uint32_t id = 0, len = 0;

	drig_init(&t);
	q = &t.d->rq;
	CHECK_ERR(fc_init_session(&t.c), 0);
	popped = t.d->fs.transport.queues[1].last_avail_idx;
	for (unsigned int i = 0; i < N; i++)
		unique_of[put_getattr(q, 5000 + i)] = 5000 + i;
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	CHECK_EQ((uint16_t)(t.d->fs.transport.queues[1].last_avail_idx - popped),
	         VFS_JOBS - VFS_HIPRIO_JOBS);
	CHECK_EQ(t.d->fs.stats.inflight, VFS_JOBS - VFS_HIPRIO_JOBS);
	CHECK(t.d->fs.stats.starved >= 1);
	while (used < N && fs_rig_wait(t.d, fs_rig_has_used, q)) {
		while (vdrv_get_used(q, &id, &len)) {
			bad += id >= RQ_SIZE || seen[id] || len <= sizeof(struct fuse_out_header) ||
			       reply_unique(q, (uint16_t)id) != unique_of[id];
			if (id < RQ_SIZE)
				seen[id] = true;
			used++;
		}
	}
	CHECK_EQ(used, N);
	CHECK_EQ(bad, 0);
	CHECK_EQ(t.d->fs.stats.max_inflight, VFS_JOBS - VFS_HIPRIO_JOBS);
	CHECK_EQ(t.d->fs.stats.inflight, 0);
	CHECK_EQ(t.d->fs.stats.dropped, 0);
	CHECK(fs_rig_wait(t.d, none_in_flight, NULL));
	CHECK_ERR(fc_getattr(&t.c, FUSE_ROOT_ID, NULL), 0);
	drig_fini(&t);
}

/* With the request queue's jobs all in flight behind a slow server, the
 * hiprio queue still gets its FORGETs popped. */
TEST(test_wk_hiprio_reserved)
{
	struct fuse_forget_in fi = { .nlookup = 1 };
	unsigned int used = 0, forgets = 0;
	uint32_t id = 0, len = 0;
	struct hang hang;
	struct drig t;
	uint16_t popped;

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	hang_start(&hang, &t.d->fs);
	for (unsigned int i = 0; i < VFS_JOBS + 8; i++)
		put_getattr(&t.d->rq, 7000 + i);
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	CHECK_EQ(t.d->fs.stats.inflight, VFS_JOBS - VFS_HIPRIO_JOBS);
	popped = t.d->fs.transport.queues[0].last_avail_idx;
	for (unsigned int i = 0; i < VFS_HIPRIO_JOBS; i++)
		put_req(&t.d->hq, FUSE_FORGET, 0, &fi, sizeof(fi), NULL);
	virtio_mmio_queue_notify(&t.d->fs.transport, 0);
	CHECK_EQ((uint16_t)(t.d->fs.transport.queues[0].last_avail_idx - popped), VFS_HIPRIO_JOBS);
	CHECK_EQ(t.d->fs.stats.inflight, VFS_JOBS);
	hang_end(&hang);
	while (used < VFS_JOBS + 8 && fs_rig_wait(t.d, fs_rig_has_used, &t.d->rq))
		while (vdrv_get_used(&t.d->rq, &id, &len))
			used++;
	CHECK_EQ(used, VFS_JOBS + 8);
	CHECK(fs_rig_wait(t.d, none_in_flight, NULL));
	while (vdrv_get_used(&t.d->hq, &id, &len))
		forgets += len == 0;
	CHECK_EQ(forgets, VFS_HIPRIO_JOBS);
	CHECK_ERR(fc_getattr(&t.c, FUSE_ROOT_ID, NULL), 0);
	drig_fini(&t);
}

/* READ and WRITE went to the loop's ring: each of fuse_cases.h's reads
 * and writes above ran this way too; here, that they did, and that a busy
 * server does not hold them up. */
TEST(test_wk_ring_io)
{
	struct fuse_entry_out e;
	struct hang hang;
	struct drig t;
	uint64_t fh = 0;
	uint64_t ring;

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_create(&t.c, FUSE_ROOT_ID, "f", O_RDWR, 0644, &e, &fh), 0);
	ring = t.d->fs.stats.ring_io;
	hang_start(&hang, &t.d->fs); /* metadata waits; data does not */
	CHECK_ERR(fc_write(&t.c, e.nodeid, fh, 0, "payload", 7), 7);
	CHECK_ERR(fc_read(&t.c, FUSE_READ, e.nodeid, fh, 0, 64), 7);
	CHECK(memcmp(fc_payload(&t.c), "payload", 7) == 0);
	hang_end(&hang);
	CHECK_EQ(t.d->fs.stats.ring_io, ring + 2);
	CHECK_EQ(t.d->fs.stats.sync_io, 0);
	CHECK_ERR(fc_release(&t.c, FUSE_RELEASE, e.nodeid, fh), 0);
	CHECK_ERR(fc_name_op(&t.c, FUSE_UNLINK, FUSE_ROOT_ID, "f"), 0);
	drig_fini(&t);
}

static void *do_reset(void *opaque)
{
	struct dev *d = opaque;

	vdrv_mmio_write(&d->bus, BASE, VIRTIO_MMIO_STATUS, 0);
	return NULL;
}

/* dirs_made: how many of d0..d<n-1> exist in the share. */
static int dirs_made(const char *dir, int n)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), made = 0;
	char name[16];
	struct stat st;

	if (dfd < 0)
		abort();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		made += fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	}
	close(dfd);
	return made;
}

/*
 * A device reset with requests in flight: the worker is busy (srv_lock
 * held) with the first of ten MKDIRs when the driver resets. None of them
 * may be served after the reset, none gets a used entry, the server is
 * reset, and the device works again after the driver sets it up anew.
 */
TEST(test_wk_reset_in_flight)
{
	struct hang hang;
	struct drig t;
	struct fuse_srv_stats st;
	struct fuse_entry_out e;
	pthread_t vcpu;
	uint32_t gen;
	char name[16];

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_mkdir(&t.c, FUSE_ROOT_ID, "before", 0755, &e), 0);
	hang_start(&hang, &t.d->fs);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		put_mkdir(&t.d->rq, 100 + (uint64_t)i, name);
	}
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	CHECK_EQ(t.d->fs.stats.inflight, 10);
	/* A vCPU resets the device: it takes the transport lock, bumps the
	 * generation and waits for the server. */
	gen = __atomic_load_n(&t.d->fs.generation, __ATOMIC_ACQUIRE);
	if (pthread_create(&vcpu, NULL, do_reset, t.d))
		abort();
	CHECK(gen_changed(&t.d->fs, gen));
	hang_end(&hang);
	pthread_join(vcpu, NULL);
	fuse_srv_get_stats(t.d->fs.srv, &st);
	CHECK_EQ(st.inodes, 1); /* the server was reset */
	CHECK(fs_rig_wait(t.d, none_in_flight, NULL));
	CHECK_EQ(t.d->fs.stats.skipped, 10);
	CHECK_EQ(t.d->fs.stats.dropped, 10);
	CHECK_EQ(dirs_made(t.dir, 10), 0);
	CHECK_EQ(vdrv_used_idx(&t.d->rq), t.d->rq.used_seen); /* no used entry */
	/* A new driver: INIT again, and the device serves it. */
	CHECK(dev_up(t.d) == 0);
	CHECK_ERR(fc_getattr(&t.c, e.nodeid, NULL), -EIO); /* no INIT yet */
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_getattr(&t.c, e.nodeid, NULL), -ESTALE);
	CHECK_ERR(fc_mkdir(&t.c, FUSE_ROOT_ID, "after", 0755, NULL), 0);
	CHECK_ERR(fc_name_op(&t.c, FUSE_RMDIR, FUSE_ROOT_ID, "after"), 0);
	CHECK_ERR(fc_name_op(&t.c, FUSE_RMDIR, FUSE_ROOT_ID, "before"), 0);
	drig_fini(&t);
}

/* A reset while nothing is held back: whatever the worker got to, no used
 * entry comes for the old chains, and the next session works. */
TEST(test_wk_reset_race)
{
	struct drig t;
	char name[16];

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		put_mkdir(&t.d->rq, 100 + (uint64_t)i, name);
	}
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	vdrv_mmio_write(&t.d->bus, BASE, VIRTIO_MMIO_STATUS, 0);
	CHECK(fs_rig_wait(t.d, none_in_flight, NULL));
	CHECK_EQ(t.d->fs.stats.dropped, 10);
	CHECK_EQ(vdrv_used_idx(&t.d->rq), t.d->rq.used_seen);
	CHECK(dev_up(t.d) == 0);
	CHECK_ERR(fc_init_session(&t.c), 0);
	CHECK_ERR(fc_getattr(&t.c, FUSE_ROOT_ID, NULL), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		(void)fc_name_op(&t.c, FUSE_RMDIR, FUSE_ROOT_ID, name);
	}
	drig_fini(&t);
}

static void *do_destroy(void *opaque)
{
	vfs_destroy(opaque);
	return NULL;
}

/* jobs_state: the pending list's length and the stop flag. */
static unsigned int jobs_state(struct vfs *fs, bool *stop)
{
	unsigned int n = 0;

	pthread_mutex_lock(&fs->jobs_lock);
	for (struct vfs_job *j = fs->pending; j; j = j->next)
		n++;
	*stop = fs->stop;
	pthread_mutex_unlock(&fs->jobs_lock);
	return n;
}

/* wait_jobs: until the pending list holds n jobs and stop is as wanted. */
static bool wait_jobs(struct vfs *fs, unsigned int n, bool stop)
{
	for (int i = 0; i < 10000; i++) {
		struct timespec ms = { .tv_nsec = 1000 * 1000 };
		bool s;

		if (jobs_state(fs, &s) == n && s == stop)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/*
 * vfs_destroy with requests queued: the worker is busy with the first of
 * 40 MKDIRs (srv_lock held) when destroy starts. Destroy waits for that
 * one, serves no other, and leaves no descriptor, thread or memory behind
 * (ASan's leak check in the sanitizer build).
 */
TEST(test_wk_destroy_pending)
{
	struct hang hang;
	int before = count_fds();
	struct drig t;
	pthread_t main2;
	char name[16];

	drig_init(&t);
	CHECK_ERR(fc_init_session(&t.c), 0);
	hang_start(&hang, &t.d->fs);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		put_mkdir(&t.d->rq, 100 + (uint64_t)i, name);
	}
	virtio_mmio_queue_notify(&t.d->fs.transport, 1);
	/* The worker took d0 and waits for the server: 39 left queued. Until
	 * srv_lock goes, destroy cannot get past the join, so jobs_lock stays
	 * usable here. */
	CHECK(wait_jobs(&t.d->fs, 39, false));
	if (pthread_create(&main2, NULL, do_destroy, &t.d->fs))
		abort();
	CHECK(wait_jobs(&t.d->fs, 39, true));
	hang_end(&hang);
	pthread_join(main2, NULL);
	CHECK_EQ(dirs_made(t.dir, 40), 1); /* the one in progress, d0 */
	CHECK_EQ(t.d->fs.nr_workers, 0);
	for (int i = 0; i < 40; i++) {
		int dfd = open(t.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

		snprintf(name, sizeof(name), "d%d", i);
		if (dfd >= 0) {
			(void)unlinkat(dfd, name, AT_REMOVEDIR);
			close(dfd);
		}
	}
	drig_fini(&t); /* vfs_destroy again: a no-op */
	CHECK_EQ(count_fds(), before);
}

CHECK_MAIN(FUSE_CASES, CASE(test_wk_async), CASE(test_wk_many), CASE(test_wk_hiprio_reserved),
           CASE(test_wk_ring_io), CASE(test_wk_reset_in_flight), CASE(test_wk_reset_race),
           CASE(test_wk_destroy_pending))

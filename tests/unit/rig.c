// SPDX-License-Identifier: MIT
/*
 * rig: the tests' shared set-up (rig.h).
 */
#include "rig.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *test_alloc_ram(size_t size)
{
	uint8_t *p = aligned_alloc(4096, size);

	if (!p)
		abort(); /* nothing to test without memory */
	memset(p, 0, size);
	return p;
}

void test_ram_init(struct test_ram *r, size_t size)
{
	r->buf = test_alloc_ram(size);
	r->size = size;
	if (gmem_init_buffer(&r->m, r->buf, size))
		abort();
}

void test_ram_fini(struct test_ram *r)
{
	free(r->buf);
	r->buf = NULL;
}

void test_rig_init(struct test_rig *t, size_t ram_size, unsigned int loop_entries)
{
	memset(t, 0, sizeof(*t));
	t->ram = test_alloc_ram(ram_size);
	t->ram_size = ram_size;
	bus_init(&t->bus);
	if (gmem_init_buffer(&t->m, t->ram, ram_size) || loop_init(&t->loop, loop_entries))
		abort();
}

void test_rig_fini(struct test_rig *t)
{
	loop_destroy(&t->loop);
	free(t->ram);
	t->ram = NULL;
}

static void test_rig_irq(void *opaque)
{
	((struct test_rig *)opaque)->irqs++;
}

struct virtio_mmio_params test_rig_params(struct test_rig *t, uint64_t base)
{
	return (struct virtio_mmio_params){
		.base = base, .gsi = 5, .irq = test_rig_irq, .irq_opaque = t
	};
}

static void test_rig_nop(void *opaque, int res, bool more)
{
	(void)opaque;
	(void)res;
	(void)more;
}

void test_rig_pump(struct test_rig *t, int rounds)
{
	static struct loop_op nop = { .cb = test_rig_nop };

	for (int i = 0; i < rounds; i++) {
		struct io_uring_sqe *sqe = loop_sqe(&t->loop, &nop);

		if (!sqe)
			abort();
		io_uring_prep_nop(sqe);
		if (loop_run_once(&t->loop) < 0)
			abort();
	}
}

int test_fds_under(const char *prefix)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char target[256];
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);

		if (len <= 0)
			continue;
		target[len] = 0;
		n += !strncmp(target, prefix, strlen(prefix));
	}
	closedir(d);
	return n;
}

void *test_pages_new(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	return p;
}

void test_pages_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

unsigned int test_resident_pages(const void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(uintptr_t)(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(uintptr_t)(pg - 1);
	unsigned char vec[1024];
	unsigned int n = 0;

	if (b <= a)
		return 0;
	if ((b - a) / pg > sizeof(vec) || mincore((void *)a, b - a, vec))
		abort();
	for (size_t i = 0; i < (b - a) / pg; i++)
		n += vec[i] & 1;
	return n;
}

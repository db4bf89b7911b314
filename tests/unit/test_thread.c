// SPDX-License-Identifier: MIT
/* Unit tests of the VMM's thread start (vmm/thread.c). */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/thread.h"

/* stack_of: the thread's own stack size, as its attributes say. */
static void *stack_of(void *arg)
{
	pthread_attr_t a;
	size_t *size = arg;
	void *base;

	*size = 0;
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		(void)pthread_attr_getstack(&a, &base, size);
		pthread_attr_destroy(&a);
	}
	return NULL;
}

/* A thread's stack is THREAD_STACK, below the 2 MiB of a huge page. */
TEST(small_stack)
{
	pthread_t t;
	size_t size = 0;

	CHECK_EQ(thread_start(&t, stack_of, &size), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(size >= THREAD_STACK && size < (2u << 20));
	/* The default would have been RLIMIT_STACK: 8 MiB on most hosts. */
	CHECK(THREAD_STACK < (2u << 20));
}

CHECK_MAIN(CASE(small_stack))

// SPDX-License-Identifier: MIT
/* thread: the VMM's threads, on small stacks (thread.h). */
#include "vmm/thread.h"

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	int err = pthread_attr_init(&a);

	if (err)
		return -err;
	err = pthread_attr_setstacksize(&a, THREAD_STACK);
	if (!err)
		err = pthread_create(t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return -err;
}

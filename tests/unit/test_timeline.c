// SPDX-License-Identifier: MIT
/* Unit tests of the boot timeline (vmm/timeline.c, vmm/timeline_insns.c). */
#include "check.h"
#include "vmm/timeline.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The report printed into a string (open_memstream). */
static char *timeline_text(const struct timeline *tl)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	timeline_print(tl, f);
	fclose(f);
	return buf;
}

/* Some work the counter must see: the volatile keeps the loop. */
static void busy(unsigned int n)
{
	volatile unsigned int x = 0;

	for (unsigned int i = 0; i < n; i++)
		x = x + i;
}

TEST(phases_first_mark_wins)
{
	struct timeline tl;

	timeline_init(&tl);
	CHECK_EQ(tl.insns_fd, -1);
	timeline_mark(&tl, TL_START);
	timeline_count_exit(&tl, 2 /* KVM_EXIT_IO */);
	timeline_mark(&tl, TL_LOADED);
	uint64_t first = tl.phase_ns[TL_LOADED];
	timeline_count_exit(&tl, 2);
	timeline_mark(&tl, TL_LOADED);
	CHECK_EQ(tl.phase_ns[TL_LOADED], first);
	CHECK_EQ(tl.phase_exits[TL_LOADED], 1);
	CHECK_EQ(timeline_total_exits(&tl), 2);
	/* Not asked for: no counter, no line about instructions. */
	char *text = timeline_text(&tl);
	CHECK(text && !strstr(text, "instructions"));
	free(text);
	timeline_mark(&tl, TL_NR_PHASES); /* out of range: ignored */
}

/*
 * With the counter asked for, either the host has one and the counts grow
 * phase by phase (a vCPU thread's own counter added to the first run), or
 * it has none and the report says why instead of a figure.
 */
TEST(instructions_counted_or_explained)
{
	struct timeline tl;

	timeline_init(&tl);
	timeline_insns_start(&tl);
	timeline_mark(&tl, TL_START);
	busy(100000);
	timeline_mark(&tl, TL_LOADED);
	busy(100000);
	timeline_mark(&tl, TL_VM_CREATED);
	int thread_fd = timeline_insns_open();
	busy(100000);
	timeline_insns_mark(&tl, TL_FIRST_RUN, thread_fd);
	timeline_mark(&tl, TL_FIRST_RUN); /* the thread's count stands */
	timeline_mark(&tl, TL_READY);     /* beyond the first run: not counted */
	char *text = timeline_text(&tl);
	CHECK(text != NULL);
	if (tl.insns_on) {
		uint64_t loaded = tl.phase_insns[TL_LOADED] - tl.phase_insns[TL_START];
		uint64_t created = tl.phase_insns[TL_VM_CREATED] - tl.phase_insns[TL_START];
		uint64_t first = tl.phase_insns[TL_FIRST_RUN] - tl.phase_insns[TL_START];

		printf("counted: %llu, %llu, %llu instructions\n", (unsigned long long)loaded,
		       (unsigned long long)created, (unsigned long long)first);
		CHECK(loaded >= 100000);
		CHECK(created >= loaded + 100000);
		CHECK(first >= created + 100000);
		CHECK_EQ(tl.phase_insns[TL_READY], 0);
		CHECK(text && strstr(text, "instructions in user space"));
		CHECK(timeline_insns_why(&tl) == NULL);
	} else {
		printf("not counted here: %s\n", timeline_insns_why(&tl));
		CHECK(tl.insns_err != 0);
		CHECK(thread_fd < 0);
		CHECK(timeline_insns_why(&tl) != NULL);
		CHECK(text && strstr(text, "instructions: not counted: "));
		CHECK_EQ(tl.phase_insns[TL_LOADED], 0);
	}
	free(text);
	if (thread_fd >= 0)
		close(thread_fd);
	timeline_insns_stop(&tl);
	CHECK_EQ(tl.insns_fd, -1);
	timeline_insns_stop(&tl); /* twice: harmless */
}

/* A software counter (task clock, in ns) for the hardware one, where there
 * is none: the same plumbing, start to the first run, whatever the host. */
static int task_clock_open(void)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

TEST(phase_counts_with_a_stand_in_counter)
{
	struct timeline tl;
	int thread_fd;

	timeline_init(&tl);
	tl.insns_fd = task_clock_open();
	if (tl.insns_fd < 0) {
		printf("no task clock counter here (%s): skipped\n", strerror(errno));
		return;
	}
	tl.insns_on = true;
	timeline_mark(&tl, TL_START);
	tl.phase_insns[TL_START] = timeline_insns_read(tl.insns_fd);
	busy(1000000);
	timeline_mark(&tl, TL_LOADED);
	busy(1000000);
	timeline_mark(&tl, TL_VM_CREATED);
	thread_fd = task_clock_open();
	CHECK(thread_fd >= 0);
	busy(1000000);
	timeline_insns_mark(&tl, TL_FIRST_RUN, thread_fd);
	uint64_t first = tl.phase_insns[TL_FIRST_RUN];
	timeline_mark(&tl, TL_FIRST_RUN);
	timeline_mark(&tl, TL_READY);
	CHECK(tl.phase_insns[TL_LOADED] > tl.phase_insns[TL_START]);
	CHECK(tl.phase_insns[TL_VM_CREATED] > tl.phase_insns[TL_LOADED]);
	/* The main thread's count and the thread's, which ran the last loop
	 * too: more than the main thread's alone would be. */
	CHECK(first > tl.phase_insns[TL_VM_CREATED] + timeline_insns_read(thread_fd) / 2);
	CHECK_EQ(tl.phase_insns[TL_FIRST_RUN], first);
	CHECK_EQ(tl.phase_insns[TL_READY], 0);
	char *text = timeline_text(&tl);
	CHECK(text && strstr(text, "instructions in user space") && strstr(text, "vm_created"));
	free(text);
	close(thread_fd);
	timeline_insns_stop(&tl);
}

TEST(insns_read_of_no_counter)
{
	CHECK_EQ(timeline_insns_read(-1), 0);
	struct timeline tl;

	timeline_init(&tl);
	tl.insns_err = EACCES;
	CHECK(strstr(timeline_insns_why(&tl), "perf_event_paranoid") != NULL);
	tl.insns_err = ENOENT;
	CHECK(strstr(timeline_insns_why(&tl), "no hardware") != NULL);
}

CHECK_MAIN(CASE(phases_first_mark_wins), CASE(instructions_counted_or_explained),
           CASE(phase_counts_with_a_stand_in_counter), CASE(insns_read_of_no_counter))

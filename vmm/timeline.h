/* SPDX-License-Identifier: MIT */
/*
 * timeline: the boot timeline and exit counters that `--timings` prints.
 *
 * Phases are CLOCK_MONOTONIC timestamps taken once each. Exits to userspace
 * are counted by reason and, for port I/O and MMIO, by address in a small
 * fixed table (addresses beyond its size are counted together as "other").
 * vCPU threads count concurrently: every counter is a relaxed atomic, since
 * only the totals matter and they are read after the vCPUs have stopped.
 */
#ifndef KVMBOX_VMM_TIMELINE_H
#define KVMBOX_VMM_TIMELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum timeline_phase {
	TL_START,      /* main() entered */
	TL_LOADED,     /* kernel, initrd and boot structures in guest RAM */
	TL_VM_CREATED, /* VM, memory slots, irqchip and vCPUs exist */
	TL_FIRST_RUN,  /* the first KVM_RUN is issued (kernel entry) */
	TL_READY,      /* the guest wrote "ready" to the debug port */
	TL_AGENT,      /* the first stream to the guest agent opened (control.c) */
	TL_CMD_SENT,   /* kvmbox run -- CMD: the exec request is written (it
	                * waits in the control socket for the agent's stream) */
	TL_CMD_DONE,   /* kvmbox run -- CMD: its exit status arrived */
	TL_EXIT,       /* the vCPUs have stopped */
	TL_NR_PHASES,
};

#define TL_MAX_ADDRS  64
#define TL_NR_REASONS 64 /* KVM_EXIT_* values are below this */

struct timeline_addr {
	_Atomic uint64_t addr_plus_one; /* 0 = free slot */
	_Atomic uint64_t count;
	bool is_mmio;
};

struct timeline_stat {
	char name[48];
	uint64_t value;
};

#define TL_MAX_STATS 48

struct timeline {
	_Atomic uint64_t phase_ns[TL_NR_PHASES]; /* 0 = not reached */
	/* Exits to userspace so far when each phase was reached. */
	_Atomic uint64_t phase_exits[TL_NR_PHASES];
	_Atomic uint64_t exits_by_reason[TL_NR_REASONS];
	_Atomic uint64_t exits_other_reason;
	_Atomic uint64_t unclaimed; /* accesses no device took */
	struct timeline_addr addrs[TL_MAX_ADDRS];
	_Atomic uint64_t addr_overflow;
	/* KVM's own counters (KVM_GET_STATS_FD), summed over vCPUs. */
	struct timeline_stat stats[TL_MAX_STATS];
	unsigned int nr_stats;
	const char *memory_backing; /* gmem's backing, a constant string; NULL: unknown */
	/* Instructions retired in user space (timeline_insns.c) when each
	 * phase up to the first KVM_RUN was reached: the main thread's, plus
	 * vCPU 0's thread's for TL_FIRST_RUN. insns_fd -1: not counted, and
	 * insns_err says why when the counter could not be opened. */
	_Atomic uint64_t phase_insns[TL_NR_PHASES];
	int insns_fd;
	int insns_err;
	bool insns_on; /* the main thread's counter opened */
};

void timeline_init(struct timeline *tl);
uint64_t timeline_now_ns(void);

/* timeline_mark: record a phase the first time it is reached. */
void timeline_mark(struct timeline *tl, enum timeline_phase phase);

/* timeline_total_exits: exits to userspace so far, all reasons. */
uint64_t timeline_total_exits(const struct timeline *tl);

/* timeline_count_exit: one exit to userspace; addr for PIO/MMIO exits. */
void timeline_count_exit(struct timeline *tl, uint32_t reason);
void timeline_count_addr(struct timeline *tl, uint64_t addr, bool is_mmio);

/* timeline_add_stat: add a KVM statistic's value to the named total. */
void timeline_add_stat(struct timeline *tl, const char *name, uint64_t value);

/*
 * Instruction counts (timeline_insns.c). timeline_insns_start opens the
 * calling thread's counter (vm_init, for --timings); timeline_insns_open
 * opens one for another thread (vCPU 0's, before its seccomp filter), fd
 * or -errno; timeline_insns_mark records phase (up to TL_FIRST_RUN) once:
 * the main thread's count plus thread_fd's (-1: none). timeline_mark calls
 * it with -1.
 */
void timeline_insns_start(struct timeline *tl);
void timeline_insns_stop(struct timeline *tl);
int timeline_insns_open(void);
uint64_t timeline_insns_read(int fd);
void timeline_insns_mark(struct timeline *tl, enum timeline_phase phase, int thread_fd);
const char *timeline_insns_why(const struct timeline *tl);

/* timeline_print: the human-readable report. */
void timeline_print(const struct timeline *tl, FILE *f);

/*
 * timeline_write_json: the same as one JSON object, written to fd (opened
 * by the caller before the boot, so that an unwritable path is found
 * before the guest runs); 0 or -errno.
 */
int timeline_write_json(const struct timeline *tl, int fd);

const char *timeline_phase_name(enum timeline_phase phase);

#endif

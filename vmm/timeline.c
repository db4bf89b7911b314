// SPDX-License-Identifier: MIT
/*
 * timeline: boot phases and exit counters (timeline.h).
 */
#include "vmm/timeline.h"

#include <errno.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const timeline_phase_names[TL_NR_PHASES] = {
	[TL_START] = "start",
	[TL_LOADED] = "kernel_loaded",
	[TL_VM_CREATED] = "vm_created",
	[TL_FIRST_RUN] = "first_kvm_run",
	[TL_READY] = "guest_ready",
	[TL_AGENT] = "agent_connected",
	[TL_CMD_SENT] = "command_sent",
	[TL_CMD_DONE] = "command_done",
	[TL_EXIT] = "exit",
};

const char *timeline_phase_name(enum timeline_phase phase)
{
	return phase < TL_NR_PHASES ? timeline_phase_names[phase] : "?";
}

/* Names of the exit reasons a VMM of ours can see (linux/kvm.h). */
static const char *timeline_reason_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:
		return "unknown";
	case KVM_EXIT_EXCEPTION:
		return "exception";
	case KVM_EXIT_IO:
		return "io";
	case KVM_EXIT_HYPERCALL:
		return "hypercall";
	case KVM_EXIT_DEBUG:
		return "debug";
	case KVM_EXIT_HLT:
		return "hlt";
	case KVM_EXIT_MMIO:
		return "mmio";
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return "irq_window_open";
	case KVM_EXIT_SHUTDOWN:
		return "shutdown";
	case KVM_EXIT_FAIL_ENTRY:
		return "fail_entry";
	case KVM_EXIT_INTR:
		return "intr";
	case KVM_EXIT_SET_TPR:
		return "set_tpr";
	case KVM_EXIT_TPR_ACCESS:
		return "tpr_access";
	case KVM_EXIT_NMI:
		return "nmi";
	case KVM_EXIT_INTERNAL_ERROR:
		return "internal_error";
	case KVM_EXIT_SYSTEM_EVENT:
		return "system_event";
	case KVM_EXIT_IOAPIC_EOI:
		return "ioapic_eoi";
	case KVM_EXIT_X86_RDMSR:
		return "x86_rdmsr";
	case KVM_EXIT_X86_WRMSR:
		return "x86_wrmsr";
	default:
		return NULL;
	}
}

uint64_t timeline_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void timeline_init(struct timeline *tl)
{
	memset(tl, 0, sizeof(*tl));
	tl->insns_fd = -1;
}

void timeline_mark(struct timeline *tl, enum timeline_phase phase)
{
	uint64_t zero = 0;

	if (phase >= TL_NR_PHASES)
		return;
	/* First writer wins: a phase is the first time it was reached. */
	if (atomic_compare_exchange_strong(&tl->phase_ns[phase], &zero, timeline_now_ns()))
		atomic_store(&tl->phase_exits[phase], timeline_total_exits(tl));
	timeline_insns_mark(tl, phase, -1);
}

void timeline_count_exit(struct timeline *tl, uint32_t reason)
{
	if (reason < TL_NR_REASONS)
		atomic_fetch_add_explicit(&tl->exits_by_reason[reason], 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&tl->exits_other_reason, 1, memory_order_relaxed);
}

/*
 * timeline_count_addr: count one access to addr in an open-addressed table.
 * A slot is claimed by compare-and-swap, so two vCPUs never take the same
 * slot for different addresses. PIO and MMIO addresses are kept apart by
 * setting bit 63 for MMIO (no guest MMIO address has it).
 */
void timeline_count_addr(struct timeline *tl, uint64_t addr, bool is_mmio)
{
	uint64_t key = (addr | (is_mmio ? 1ull << 63 : 0)) + 1;
	unsigned int start = (unsigned int)((key * 0x9e3779b97f4a7c15ull) >> 58) % TL_MAX_ADDRS;

	for (unsigned int i = 0; i < TL_MAX_ADDRS; i++) {
		struct timeline_addr *a = &tl->addrs[(start + i) % TL_MAX_ADDRS];
		uint64_t cur = atomic_load_explicit(&a->addr_plus_one, memory_order_relaxed);

		if (cur == 0) {
			if (atomic_compare_exchange_strong(&a->addr_plus_one, &cur, key))
				cur = key;
		}
		if (cur == key) {
			a->is_mmio = is_mmio;
			atomic_fetch_add_explicit(&a->count, 1, memory_order_relaxed);
			return;
		}
	}
	atomic_fetch_add_explicit(&tl->addr_overflow, 1, memory_order_relaxed);
}

void timeline_add_stat(struct timeline *tl, const char *name, uint64_t value)
{
	unsigned int i;

	for (i = 0; i < tl->nr_stats; i++) {
		if (strcmp(tl->stats[i].name, name) == 0) {
			tl->stats[i].value += value;
			return;
		}
	}
	if (tl->nr_stats == TL_MAX_STATS || strlen(name) >= sizeof(tl->stats[0].name))
		return;
	snprintf(tl->stats[i].name, sizeof(tl->stats[i].name), "%s", name);
	tl->stats[i].value = value;
	tl->nr_stats++;
}

uint64_t timeline_total_exits(const struct timeline *tl)
{
	uint64_t total = tl->exits_other_reason;

	for (unsigned int r = 0; r < TL_NR_REASONS; r++)
		total += tl->exits_by_reason[r];
	return total;
}

static double timeline_ms(const struct timeline *tl, enum timeline_phase p)
{
	return (double)(tl->phase_ns[p] - tl->phase_ns[TL_START]) / 1e6;
}

/* The instructions retired since the counter opened, up to phase p. */
static uint64_t timeline_insns(const struct timeline *tl, enum timeline_phase p)
{
	return tl->phase_insns[p] - tl->phase_insns[TL_START];
}

static void timeline_print_insns(const struct timeline *tl, FILE *f)
{
	const char *why = timeline_insns_why(tl);

	if (why) {
		fprintf(f, "instructions: not counted: %s\n", why);
		return;
	}
	if (!tl->insns_on)
		return;
	fprintf(f,
	        "instructions in user space (vm_init on; first_kvm_run adds vCPU 0's thread):\n");
	for (int p = TL_START + 1; p <= TL_FIRST_RUN; p++)
		if (tl->phase_insns[p])
			fprintf(f, "  %-16s %12llu\n", timeline_phase_names[p],
			        (unsigned long long)timeline_insns(tl, p));
}

void timeline_print(const struct timeline *tl, FILE *f)
{
	fprintf(f, "kvmbox timeline (ms since start):\n");
	for (int p = TL_START + 1; p < TL_NR_PHASES; p++) {
		if (tl->phase_ns[p])
			fprintf(f, "  %-16s %10.3f   (%llu exits to userspace so far)\n",
			        timeline_phase_names[p], timeline_ms(tl, p),
			        (unsigned long long)tl->phase_exits[p]);
		else
			fprintf(f, "  %-16s %10s\n", timeline_phase_names[p], "-");
	}
	if (tl->memory_backing)
		fprintf(f, "guest memory: %s\n", tl->memory_backing);
	timeline_print_insns(tl, f);
	fprintf(f, "exits to userspace: %llu\n", (unsigned long long)timeline_total_exits(tl));
	for (uint32_t r = 0; r < TL_NR_REASONS; r++) {
		const char *name = timeline_reason_name(r);

		if (tl->exits_by_reason[r])
			fprintf(f, "  %-16s %10llu\n", name ? name : "?",
			        (unsigned long long)tl->exits_by_reason[r]);
	}
	for (unsigned int i = 0; i < TL_MAX_ADDRS; i++) {
		const struct timeline_addr *a = &tl->addrs[i];

		if (a->addr_plus_one)
			fprintf(f, "  %s %#-12llx %8llu\n", a->is_mmio ? "mmio" : "pio ",
			        (unsigned long long)((a->addr_plus_one - 1) & ~(1ull << 63)),
			        (unsigned long long)a->count);
	}
	if (tl->unclaimed)
		fprintf(f, "  unclaimed accesses %llu\n", (unsigned long long)tl->unclaimed);
	if (tl->nr_stats) {
		fprintf(f, "KVM's counters (all vCPUs):\n");
		for (unsigned int i = 0; i < tl->nr_stats; i++)
			fprintf(f, "  %-24s %12llu\n", tl->stats[i].name,
			        (unsigned long long)tl->stats[i].value);
	}
}

/* timeline_json: the report as a jansson object (NULL when out of memory). */
static json_t *timeline_json(const struct timeline *tl)
{
	json_t *root = json_object(), *phases = json_object(), *reasons = json_object();
	json_t *addrs = json_array(), *stats = json_object(), *phase_exits = json_object();

	for (int p = TL_START + 1; p < TL_NR_PHASES; p++) {
		json_object_set_new(phases, timeline_phase_names[p],
		                    tl->phase_ns[p] ? json_real(timeline_ms(tl, p)) : json_null());
		json_object_set_new(phase_exits, timeline_phase_names[p],
		                    tl->phase_ns[p] ? json_integer((json_int_t)tl->phase_exits[p])
		                                    : json_null());
	}
	for (uint32_t r = 0; r < TL_NR_REASONS; r++) {
		const char *name = timeline_reason_name(r);
		char buf[16];

		if (!tl->exits_by_reason[r])
			continue;
		if (!name) {
			snprintf(buf, sizeof(buf), "%u", r);
			name = buf;
		}
		json_object_set_new(reasons, name,
		                    json_integer((json_int_t)tl->exits_by_reason[r]));
	}
	for (unsigned int i = 0; i < TL_MAX_ADDRS; i++) {
		const struct timeline_addr *a = &tl->addrs[i];

		if (!a->addr_plus_one)
			continue;
		json_array_append_new(
		    addrs, json_pack("{s:s, s:I, s:I}", "bus", a->is_mmio ? "mmio" : "pio", "addr",
		                     (json_int_t)((a->addr_plus_one - 1) & ~(1ull << 63)), "count",
		                     (json_int_t)a->count));
	}
	for (unsigned int i = 0; i < tl->nr_stats; i++)
		json_object_set_new(stats, tl->stats[i].name,
		                    json_integer((json_int_t)tl->stats[i].value));
	if (tl->memory_backing)
		json_object_set_new(root, "memory_backing", json_string(tl->memory_backing));
	if (timeline_insns_why(tl)) {
		json_object_set_new(root, "instructions_unavailable",
		                    json_string(timeline_insns_why(tl)));
	} else if (tl->insns_on) {
		json_t *insns = json_object();

		for (int p = TL_START + 1; p <= TL_FIRST_RUN; p++)
			json_object_set_new(insns, timeline_phase_names[p],
			                    tl->phase_insns[p]
			                        ? json_integer((json_int_t)timeline_insns(tl, p))
			                        : json_null());
		json_object_set_new(root, "instructions_at_phase", insns);
	}
	json_object_set_new(root, "phases_ms", phases);
	json_object_set_new(root, "exits_at_phase", phase_exits);
	json_object_set_new(root, "exits", json_integer((json_int_t)timeline_total_exits(tl)));
	json_object_set_new(root, "exits_by_reason", reasons);
	json_object_set_new(root, "exits_by_address", addrs);
	json_object_set_new(root, "unclaimed", json_integer((json_int_t)tl->unclaimed));
	json_object_set_new(root, "kvm_stats", stats);
	return root;
}

int timeline_write_json(const struct timeline *tl, int fd)
{
	json_t *root = timeline_json(tl);
	int err = 0;

	if (!root)
		return -ENOMEM;
	errno = 0;
	if (json_dumpfd(root, fd, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || write(fd, "\n", 1) != 1)
		err = errno ? -errno : -EIO;
	json_decref(root);
	return err;
}

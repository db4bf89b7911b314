/* SPDX-License-Identifier: MIT */
/*
 * bus: the port-I/O and MMIO buses through which vCPU exits reach devices.
 *
 * A bus is a small sorted table of non-overlapping [base, base + len)
 * ranges, each naming a device by its ops and opaque pointer. Devices see
 * offsets from their base, never absolute addresses.
 *
 * Threading: every bus_register happens before the vCPU threads start; after
 * that the table is read-only and bus_dispatch runs on many vCPU threads at
 * once with no lock of its own. Devices lock themselves.
 *
 * Addresses and lengths passed to bus_dispatch come from the guest (the
 * KVM_EXIT_IO / KVM_EXIT_MMIO exit): they are checked by subtraction, and a
 * guest value never indexes the table.
 */
#ifndef KVMBOX_VMM_BUS_H
#define KVMBOX_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_RANGES 32

/*
 * bus_ops: one device's handlers. offset is relative to the registered base
 * and offset + len never passes the registered length; data points to len
 * bytes (len >= 1, as the exit gave it: 1, 2, 4 or 8 in practice).
 * A read handler must fill all len bytes. Either handler may be NULL: a NULL
 * read yields all-ones bytes, a NULL write drops the access.
 */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name; /* for logs and --timings; not copied */
};

struct bus {
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base */
	unsigned int nr;
};

/* bus_init: an empty bus (a zeroed struct bus is one as well). */
void bus_init(struct bus *b);

/*
 * bus_register: claim [base, base + len) for a device.
 * Returns 0, -EINVAL (len 0, base + len wraps past 2^64, or ops NULL),
 * -EEXIST (overlaps a registered range) or -ENOSPC (table full).
 * Not thread-safe: call before the vCPU threads start.
 */
__attribute__((warn_unused_result)) int bus_register(struct bus *b, uint64_t base, uint64_t len,
                                                     const struct bus_ops *ops, void *opaque,
                                                     const char *name);

/*
 * bus_find: the range holding the whole of [addr, addr + len), or NULL.
 * addr and len may come from the guest.
 */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint64_t len);

/*
 * bus_dispatch: hand one guest access to the device that claims it.
 * addr and len come from the guest; data points to len bytes (the exit's
 * buffer). The whole access must lie inside one range.
 * Returns true when a device took it; false when none did, after filling a
 * read with all-ones bytes, like an unclaimed ISA bus (a write is dropped).
 * A len of 0 is claimed by no one.
 */
bool bus_dispatch(const struct bus *b, uint64_t addr, bool is_write, void *data, uint32_t len);

#endif

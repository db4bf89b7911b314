// SPDX-License-Identifier: MIT
/*
 * bus: sorted range tables for port I/O and MMIO, looked up by binary
 * search (bus.h).
 */
#include "vmm/bus.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

void bus_init(struct bus *b)
{
	memset(b, 0, sizeof(*b));
}

/*
 * bus_upper: the index of the first range whose base is above addr
 * (b->nr when there is none). The range that may hold addr is the one
 * just before it.
 */
static unsigned int bus_upper(const struct bus *b, uint64_t addr)
{
	unsigned int lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (b->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * bus_register: insert [base, base + len) keeping the table sorted.
 * The new range must end at or before the next range's base and start at
 * or after the previous range's end; both ends are compared as "last byte"
 * (base + len - 1) so that a range ending at 2^64 does not wrap.
 */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name)
{
	unsigned int pos;

	if (len == 0 || !ops || len - 1 > UINT64_MAX - base)
		return -EINVAL;
	pos = bus_upper(b, base);
	if (pos > 0) {
		const struct bus_range *prev = &b->ranges[pos - 1];

		/* prev->base <= base; overlap if base <= prev's last byte. */
		if (base - prev->base <= prev->len - 1)
			return -EEXIST;
	}
	if (pos < b->nr && b->ranges[pos].base - base <= len - 1)
		return -EEXIST; /* the next range starts inside the new one */
	if (b->nr >= BUS_MAX_RANGES)
		return -ENOSPC;
	memmove(&b->ranges[pos + 1], &b->ranges[pos], (b->nr - pos) * sizeof(b->ranges[0]));
	b->ranges[pos] = (struct bus_range){
		.base = base,
		.len = len,
		.ops = ops,
		.opaque = opaque,
		.name = name,
	};
	b->nr++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint64_t len)
{
	unsigned int pos;
	const struct bus_range *r;

	if (len == 0)
		return NULL;
	pos = bus_upper(b, addr);
	if (pos == 0)
		return NULL;
	r = &b->ranges[pos - 1];
	/* By subtraction: addr - base < r->len, then len fits in what is left. */
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

bool bus_dispatch(const struct bus *b, uint64_t addr, bool is_write, void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r) {
		if (!is_write && len)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}

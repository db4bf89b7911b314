// SPDX-License-Identifier: MIT
/*
 * fuzz_serial: the UART and the bus under a hostile guest and a chatty host.
 *
 * The input is a sequence of operations, each picked by one byte:
 *   0  guest OUT to COM1: offset byte, value byte
 *   1  guest IN from COM1: offset byte
 *   2  host input burst: length byte, then up to that many bytes
 *   3  any bus access: 8 address bytes, a length byte (0..8), a direction
 *      byte, then 8 data bytes
 *   4  serial_flush from the host side
 * The serial writes to /dev/null. Checked: the interrupt callback only ever
 * reports a change of level, and a device only ever sees offsets and
 * lengths inside its range.
 */
#define _GNU_SOURCE
#include "vmm/bus.h"
#include "vmm/platform/platform.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROBE_LEN 0x100

struct irq_state {
	bool level;
};

static void fuzz_set_irq(void *opaque, bool level)
{
	struct irq_state *s = opaque;

	if (s->level == level)
		abort(); /* a "change" that is none */
	s->level = level;
}

/* A device that checks what the bus hands it. */
static void probe_read(void *opaque, uint64_t offset, void *buf, uint32_t len)
{
	(void)opaque;
	if (len == 0 || len > 8 || offset >= PROBE_LEN || len > PROBE_LEN - offset)
		abort();
	memset(buf, 0x5a, len);
}

static void probe_write(void *opaque, uint64_t offset, const void *buf, uint32_t len)
{
	volatile uint8_t sink;

	(void)opaque;
	if (len == 0 || len > 8 || offset >= PROBE_LEN || len > PROBE_LEN - offset)
		abort();
	sink = ((const uint8_t *)buf)[len - 1];
	(void)sink;
}

static const struct bus_ops probe_ops = { .read = probe_read, .write = probe_write };

/* take: the next n input bytes, or NULL when fewer remain. */
static const uint8_t *take(const uint8_t **data, size_t *size, size_t n)
{
	const uint8_t *p = *data;

	if (*size < n)
		return NULL;
	*data += n;
	*size -= n;
	return p;
}

/* run_op: one operation; false when the input is used up. */
static bool run_op(struct bus *b, struct serial *s, const uint8_t **data, size_t *size)
{
	const uint8_t *op = take(data, size, 1), *p;
	uint8_t buf[8];
	uint64_t addr;

	if (!op)
		return false;
	switch (*op % 5) {
	case 0:
		if (!(p = take(data, size, 2)))
			return false;
		buf[0] = p[1];
		bus_dispatch(b, SERIAL_COM1_BASE + p[0] % 16, true, buf, 1);
		return true;
	case 1:
		if (!(p = take(data, size, 1)))
			return false;
		bus_dispatch(b, SERIAL_COM1_BASE + p[0] % 16, false, buf, 1);
		return true;
	case 2:
		if (!(p = take(data, size, 1)))
			return false;
		{
			size_t n = p[0] < *size ? p[0] : *size;
			int taken = serial_rx(s, take(data, size, n), n);

			if (taken < 0 || (size_t)taken > n || taken > SERIAL_RX_FIFO_SIZE)
				abort();
		}
		return true;
	case 3:
		if (!(p = take(data, size, 18)))
			return false;
		memcpy(&addr, p, 8);
		memcpy(buf, p + 10, 8);
		bus_dispatch(b, addr, p[9] & 1, buf, p[8] % 9);
		return true;
	default:
		serial_flush(s);
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct irq_state irq = { false };
	struct serial s;
	struct bus b;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || serial_init(&s, fd, fuzz_set_irq, &irq) != 0)
		abort();
	bus_init(&b);
	if (bus_register(&b, SERIAL_COM1_BASE, SERIAL_NR_PORTS, &serial_bus_ops, &s, "com1") ||
	    bus_register(&b, 0x1000, PROBE_LEN, &probe_ops, NULL, "probe") ||
	    bus_register(&b, 0x1100, PROBE_LEN, &probe_ops, NULL, "probe-next") ||
	    bus_register(&b, UINT64_MAX - (PROBE_LEN - 1), PROBE_LEN, &probe_ops, NULL, "top"))
		abort();
	while (run_op(&b, &s, &data, &size))
		;
	serial_destroy(&s);
	close(fd);
	return 0;
}

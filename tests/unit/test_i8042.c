// SPDX-License-Identifier: MIT
/* Unit tests of the i8042 reset line (vmm/i8042.c), through the bus. */
#include "check.h"
#include "vmm/platform/platform.h"

#include <errno.h>

static void count_reset(void *opaque)
{
	(*(unsigned int *)opaque)++;
}

static void outb(struct bus *b, uint16_t port, uint8_t v)
{
	bus_dispatch(b, port, true, &v, 1);
}

static uint8_t inb(struct bus *b, uint16_t port)
{
	uint8_t v = 0x5a;

	bus_dispatch(b, port, false, &v, 1);
	return v;
}

/* setup: a port bus with the controller on it. */
static void setup(struct bus *b, struct i8042 *k, unsigned int *resets, int *failed)
{
	bus_init(b);
	*resets = 0;
	CHECK_EQ(i8042_init(k, count_reset, resets), 0);
	CHECK_EQ(i8042_register(k, b), 0);
}

TEST(pulse_resets)
{
	struct bus b;
	struct i8042 k;
	unsigned int resets;

	setup(&b, &k, &resets, failed);
	/* Linux's BOOT_KBD: kb_wait() until status bit 1 clears, then 0xFE. */
	CHECK_EQ(inb(&b, I8042_CMD_PORT), 0);
	outb(&b, I8042_CMD_PORT, 0xfe);
	CHECK_EQ(resets, 1);
	outb(&b, I8042_CMD_PORT, 0xfe);
	CHECK_EQ(resets, 2);
	CHECK_EQ(k.resets, 2);
	i8042_destroy(&k);
}

TEST(write_output_port_resets)
{
	struct bus b;
	struct i8042 k;
	unsigned int resets;

	setup(&b, &k, &resets, failed);
	outb(&b, I8042_CMD_PORT, 0xd1);
	outb(&b, I8042_DATA_PORT, 0x03); /* bit 0 set: reset line stays high */
	CHECK_EQ(resets, 0);
	outb(&b, I8042_DATA_PORT, 0x02); /* no pending command any more */
	CHECK_EQ(resets, 0);
	outb(&b, I8042_CMD_PORT, 0xd1);
	outb(&b, I8042_DATA_PORT, 0xfe); /* bit 0 clear: reset */
	CHECK_EQ(resets, 1);
	/* Another command between 0xD1 and its data cancels the write. */
	outb(&b, I8042_CMD_PORT, 0xd1);
	outb(&b, I8042_CMD_PORT, 0xaa);
	outb(&b, I8042_DATA_PORT, 0x00);
	CHECK_EQ(resets, 1);
	i8042_destroy(&k);
}

TEST(other_accesses_ignored)
{
	struct bus b;
	struct i8042 k;
	unsigned int resets;
	uint8_t wide[4] = { 0xfe, 0xfe, 0xfe, 0xfe };

	setup(&b, &k, &resets, failed);
	for (unsigned int v = 0; v < 0x100; v++) {
		if (v != 0xfe && v != 0xd1)
			outb(&b, I8042_CMD_PORT, (uint8_t)v);
		outb(&b, I8042_DATA_PORT, (uint8_t)v);
	}
	CHECK_EQ(resets, 0);
	CHECK_EQ(inb(&b, I8042_DATA_PORT), 0);
	CHECK_EQ(inb(&b, I8042_CMD_PORT), 0);
	/* 0x61..0x63 are not ours; a wide access at 0x64 is not a command. */
	CHECK_EQ(inb(&b, 0x61), 0xff);
	CHECK(!bus_dispatch(&b, I8042_CMD_PORT, true, wide, 2));
	i8042_cmd_bus_ops.write(&k, 0, wide, 2);
	i8042_cmd_bus_ops.write(&k, 1, wide, 1);
	CHECK_EQ(resets, 0);
	i8042_destroy(&k);
}

TEST(no_callback)
{
	struct bus b;
	struct i8042 k;

	bus_init(&b);
	CHECK_EQ(i8042_init(&k, NULL, NULL), 0);
	CHECK_EQ(i8042_register(&k, &b), 0);
	CHECK_ERR(i8042_register(&k, &b), -EEXIST);
	outb(&b, I8042_CMD_PORT, 0xfe);
	CHECK_EQ(k.resets, 1);
	i8042_destroy(&k);
}

CHECK_MAIN(CASE(pulse_resets), CASE(write_output_port_resets), CASE(other_accesses_ignored),
           CASE(no_callback))

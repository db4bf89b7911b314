// SPDX-License-Identifier: MIT
/*
 * i8042: the keyboard controller's reset line (i8042.h).
 *
 * Command bytes from the IBM PC AT Technical Reference, "Keyboard
 * Controller" (commands to port 64h): D1h "Write Output Port" (the next
 * byte to port 60h goes to the output port, whose bit 0 drives the system
 * reset line, active low) and F0h-FFh "Pulse Output Port" (bits 3:0 of the
 * command select, active low, which output port bits to pulse; FEh pulses
 * bit 0, the reset line).
 */
#include "vmm/platform/platform.h"

#include <errno.h>
#include <string.h>

#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_CMD_PULSE_RESET  0xfe
#define I8042_OUT_RESET_N      0x01 /* output port bit 0: system reset, active low */

/*
 * i8042_port_write: one byte to the command (is_cmd) or data port.
 * Returns true when the byte requests a reset. v comes from the guest.
 */
static bool i8042_port_write(struct i8042 *k, bool is_cmd, uint8_t v)
{
	bool reset = false;

	pthread_mutex_lock(&k->lock);
	if (is_cmd) {
		/* A new command abandons one that waited for its data byte. */
		k->pending_cmd = v == I8042_CMD_WRITE_OUTPUT ? v : 0;
		reset = v == I8042_CMD_PULSE_RESET;
	} else if (k->pending_cmd == I8042_CMD_WRITE_OUTPUT) {
		k->pending_cmd = 0;
		reset = !(v & I8042_OUT_RESET_N);
	}
	if (reset)
		k->resets++;
	pthread_mutex_unlock(&k->lock);
	return reset;
}

/*
 * i8042_write: port handler. Only a one-byte access at offset 0 is the
 * port (a wider one would also cover the next ports, which are not ours).
 */
static void i8042_write(struct i8042 *k, bool is_cmd, uint64_t offset, const void *data,
                        uint32_t len)
{
	if (offset != 0 || len != 1)
		return;
	/* The callback runs unlocked: it may stop vCPUs, this one included. */
	if (i8042_port_write(k, is_cmd, *(const uint8_t *)data) && k->reset)
		k->reset(k->reset_opaque);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	i8042_write(opaque, false, offset, data, len);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	i8042_write(opaque, true, offset, data, len);
}

/* i8042_read: data and status both read 0 (buffers empty, no keyboard). */
static void i8042_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

const struct bus_ops i8042_data_bus_ops = {
	.read = i8042_read,
	.write = i8042_data_write,
};

const struct bus_ops i8042_cmd_bus_ops = {
	.read = i8042_read,
	.write = i8042_cmd_write,
};

int i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque)
{
	int err;

	memset(k, 0, sizeof(*k));
	err = pthread_mutex_init(&k->lock, NULL);
	if (err)
		return -err;
	k->reset = reset;
	k->reset_opaque = opaque;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

int i8042_register(struct i8042 *k, struct bus *pio)
{
	int err;

	err = bus_register(pio, I8042_DATA_PORT, 1, &i8042_data_bus_ops, k, "i8042-data");
	if (err)
		return err;
	return bus_register(pio, I8042_CMD_PORT, 1, &i8042_cmd_bus_ops, k, "i8042-cmd");
}

/* SPDX-License-Identifier: MIT */
/*
 * i8042: just enough of the PS/2 keyboard controller for the guest to reset
 * the machine (Linux `reboot=k`, arch/x86/kernel/reboot.c BOOT_KBD).
 *
 * Two ports: data at 0x60 and command/status at 0x64, registered as two
 * one-byte ranges so that 0x61..0x63 (the NMI status / speaker port and
 * friends) stay free for other devices. Each range has its own ops, since
 * both see offset 0.
 *
 * The status register reads 0: input buffer empty (so the kernel's
 * kb_wait() returns at once) and output buffer empty (so no keyboard is
 * found). A reset is requested by command 0xFE (pulse the output port's
 * reset line) or by command 0xD1 (write output port) followed by a data
 * byte with bit 0 (the system reset line, active low) clear. Everything else
 * is ignored; data reads give 0.
 *
 * The reset callback runs on the vCPU thread that wrote the port, without
 * the device lock held. Linux tries the pulse up to ten times, so it may be
 * called again before the VMM has stopped the vCPUs: make it idempotent.
 */
#ifndef KVMBOX_VMM_I8042_H
#define KVMBOX_VMM_I8042_H

#include "bus.h"

#include <pthread.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64

struct i8042 {
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *reset_opaque;
	uint8_t pending_cmd; /* a command awaiting its data byte, or 0 */
	uint64_t resets;     /* reset requests seen */
};

/* i8042_init: an idle controller calling reset(opaque) on a reset request. */
__attribute__((warn_unused_result)) int i8042_init(struct i8042 *k, void (*reset)(void *opaque),
                                                   void *opaque);

void i8042_destroy(struct i8042 *k);

/*
 * i8042_register: register both ports on the port-I/O bus.
 * Returns 0 or bus_register's -errno (the bus then may hold the data port:
 * a failure here is fatal to VM setup anyway).
 */
__attribute__((warn_unused_result)) int i8042_register(struct i8042 *k, struct bus *pio);

/* The port handlers, one per port; the opaque pointer is the struct i8042. */
extern const struct bus_ops i8042_data_bus_ops;
extern const struct bus_ops i8042_cmd_bus_ops;

#endif

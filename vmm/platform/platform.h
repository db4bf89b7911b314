/* SPDX-License-Identifier: MIT */
/*
 * platform/: the PC's legacy devices on the port-I/O bus, the public face
 * of the subsystem: the 8250/16550A UART that is the guest's console
 * (serial.c) and the i8042's reset line through which the guest reboots
 * (i8042.c). Each device sees offsets on the bus (vmm/bus.h), never
 * absolute ports; vmm/devices.c places them.
 */
#ifndef KVMBOX_VMM_PLATFORM_PLATFORM_H
#define KVMBOX_VMM_PLATFORM_PLATFORM_H

#include "vmm/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * console_tail: what the guest last wrote to its console, kept whatever
 * becomes of it (a file, /dev/null), and whether it was a kernel panic
 * (console_tail.c says how a panic is recognized). A quiet guest
 * (docs/architecture.md, "The console") writes only its emergencies, so
 * the tail is then all there is to show when it panics or triple-faults.
 * No locking: the owner (the UART) serializes.
 */
#define CONSOLE_TAIL_SIZE  2048 /* the last bytes kept */
#define CONSOLE_LINE_MAX   256  /* the bytes of each line searched for a panic */
#define CONSOLE_REASON_MAX 160

enum console_event {
	CONSOLE_NONE,
	CONSOLE_PANIC,     /* a line of a panic report (its first gives the reason) */
	CONSOLE_PANIC_END, /* the last line of one: the kernel will not reboot */
};

struct console_tail {
	uint8_t ring[CONSOLE_TAIL_SIZE];
	uint64_t total; /* bytes put in all; the next goes to ring[total % size] */
	char line[CONSOLE_LINE_MAX];
	size_t line_len;
	bool panicked;
	char reason[CONSOLE_REASON_MAX]; /* printable ASCII; "" until panicked */
};

void console_tail_init(struct console_tail *t);

/* console_tail_put: one byte the guest wrote; what its line, if it ended one, was. */
enum console_event console_tail_put(struct console_tail *t, uint8_t b);

/*
 * console_tail_read: the kept bytes from the first whole line on, as text
 * for a terminal ('\r' dropped, other control bytes and non-ASCII as '?'),
 * NUL-terminated in buf (cap bytes). Returns the length.
 */
size_t console_tail_read(const struct console_tail *t, char *buf, size_t cap);

/*
 * serial: an 8250/16550A UART, the guest's console (COM1).
 *
 * The device decodes the eight port offsets of the 16550A (National
 * Semiconductor PC16550D datasheet, "Register Summary"); the caller registers
 * it on the port-I/O bus at 0x3f8 with length SERIAL_NR_PORTS.
 *
 * Transmit never blocks the guest: LSR always reports THRE | TEMT, and the
 * bytes the guest writes to THR collect in a buffer that is written to the
 * output file descriptor at each '\n', when it fills, when the guest's
 * driver ends a burst (it turns the THR-empty interrupt off), and on
 * serial_flush() / serial_destroy().
 *
 * Receive: the host side feeds bytes with serial_rx() into a FIFO of
 * SERIAL_RX_FIFO_SIZE bytes; the guest reads them from RBR. serial_rx takes
 * what fits and says how many; the caller keeps the rest and may ask to be
 * told when the guest has drained the FIFO (serial_set_rx_notify).
 *
 * Threading: vCPU threads (port accesses) and the main thread (serial_rx,
 * serial_flush) share the device; a mutex inside struct serial serializes
 * them. The set_irq and rx-notify callbacks run with that mutex held, on
 * whichever thread changed the state: they must be brief and must not call
 * back into this device.
 *
 * Output policy: writes tolerate EINTR and short writes. Before each write
 * the device polls the fd for up to SERIAL_TX_WAIT_MS; a fd that stays
 * unwritable (or returns EAGAIN, or fails) makes the device drop the
 * buffered bytes and count them in tx_dropped, and later flushes no longer
 * wait until a write goes through again. A non-blocking fd therefore never
 * blocks a vCPU thread; a blocking fd blocks it at most while one write(2)
 * of up to SERIAL_TX_CHUNK bytes, which poll said fits, proceeds. The
 * process should ignore SIGPIPE (a closed reader then counts as dropped).
 */

#define SERIAL_COM1_BASE    0x3f8
#define SERIAL_COM1_IRQ     4
#define SERIAL_NR_PORTS     8
#define SERIAL_RX_FIFO_SIZE 64
#define SERIAL_TX_BUF_SIZE  4096
#define SERIAL_TX_CHUNK     512
#define SERIAL_TX_WAIT_MS   20

struct serial_stats {
	uint64_t tx_bytes;   /* written to the output fd */
	uint64_t tx_dropped; /* lost to a full, failing or non-blocking fd */
	uint64_t rx_bytes;   /* taken by serial_rx (and by loopback) */
	uint64_t rx_overrun; /* loopback bytes lost to a full FIFO */
};

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	void (*rx_notify)(void *opaque);
	void *rx_notify_opaque;

	/* Registers (PC16550D "Register Summary"). */
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;       /* only FIFO enable (bit 0) is kept */
	bool overrun;      /* LSR OE, until LSR is read */
	bool thre_pending; /* the THR-empty interrupt latch */
	uint8_t msr_delta; /* MSR bits 3:0, until MSR is read */
	bool irq_level;    /* last level handed to set_irq */
	bool tx_stalled;   /* the last flush timed out: do not wait again */
	bool out_nonblock; /* out_fd was O_NONBLOCK at init */
	uint64_t out_max;  /* bytes out_fd may take in all; 0: no limit */

	uint8_t rx_fifo[SERIAL_RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	uint8_t tx_buf[SERIAL_TX_BUF_SIZE];
	size_t tx_len;

	struct serial_stats stats;
	struct console_tail tail; /* every byte sent, loopback aside */
	void (*panic_notify)(void *opaque);
	void *panic_notify_opaque;
};

/*
 * serial_set_out_max: let out_fd take at most max bytes in all (0: no
 * limit); what the guest writes past it is dropped and counted, so that a
 * chatty guest cannot fill the host's disk through a console file.
 */
void serial_set_out_max(struct serial *s, uint64_t max);

/*
 * serial_init: a reset UART writing to out_fd (not owned: the caller closes
 * it after serial_destroy; -1 discards all output, counted as dropped).
 * set_irq (may be NULL) is called with the new level each time the
 * interrupt output changes; irq_opaque is its argument. The line starts low.
 * Returns 0 or -errno.
 */
__attribute__((warn_unused_result)) int
serial_init(struct serial *s, int out_fd, void (*set_irq)(void *, bool), void *irq_opaque);

/* serial_destroy: flush what is buffered, then free the mutex. */
void serial_destroy(struct serial *s);

/*
 * serial_set_rx_notify: call fn(opaque) when the guest empties the receive
 * FIFO, so the main thread can feed what serial_rx did not take (fn would
 * typically write an eventfd). Call before the vCPU threads start.
 */
void serial_set_rx_notify(struct serial *s, void (*fn)(void *opaque), void *opaque);

/*
 * serial_rx: queue up to n host bytes for the guest to read.
 * Returns how many were taken (0 when the FIFO is full); never more than
 * SERIAL_RX_FIFO_SIZE.
 */
int serial_rx(struct serial *s, const uint8_t *buf, size_t n);

/* serial_flush: write the buffered output now (e.g. from a timer). */
void serial_flush(struct serial *s);

/* serial_get_stats: a consistent copy of the counters. */
void serial_get_stats(struct serial *s, struct serial_stats *out);

/*
 * serial_set_panic_notify: call fn(opaque) when the guest ends a kernel
 * panic report without rebooting (CONSOLE_PANIC_END), so that the VMM can
 * stop rather than wait on a guest that spins. Runs on the vCPU thread with
 * the device's lock held. Call before the vCPU threads start.
 */
void serial_set_panic_notify(struct serial *s, void (*fn)(void *opaque), void *opaque);

/*
 * serial_panic: whether the guest has printed a kernel panic; if so, its
 * reason is copied to reason (cap bytes, NUL-terminated).
 */
bool serial_panic(struct serial *s, char *reason, size_t cap);

/* serial_tail: console_tail_read of what the guest sent, under the lock. */
size_t serial_tail(struct serial *s, char *buf, size_t cap);

/* The port handlers; the opaque pointer is the struct serial. */
extern const struct bus_ops serial_bus_ops;

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

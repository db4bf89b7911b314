// SPDX-License-Identifier: MIT
/*
 * serial: the 16550A UART model (serial.h).
 *
 * Register layout and interrupt rules from the National Semiconductor
 * PC16550D datasheet (June 1995): Table II "Summary of Registers",
 * Table IV "Interrupt Control Functions", §8.4 Line Status Register,
 * §8.5 FIFO Control Register, §8.6 Interrupt Identification Register,
 * §8.7 Interrupt Enable Register, §8.8 Modem Control Register,
 * §8.9 Modem Status Register.
 *
 * Simplifications, all invisible to Linux's 8250 driver: transmission is
 * instantaneous (THR and the transmitter are always empty), the receive
 * FIFO holds SERIAL_RX_FIFO_SIZE bytes whether or not FCR enabled the FIFOs,
 * and received data interrupts as soon as one byte waits (the trigger level
 * is ignored, as if the character timeout fired at once). Baud rate, word
 * length and parity are stored and have no effect.
 */
#define _GNU_SOURCE
#include "vmm/platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Port offsets (Table II); DLAB = LCR bit 7 maps DLL/DLM over 0 and 1. */
enum {
	UART_RBR_THR = 0, /* DLL when DLAB */
	UART_IER = 1,     /* DLM when DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI  0x04 /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */
#define UART_IER_MASK  0x0f /* bits 7:4 always read 0 */

/* IIR bits 3:0 (Table IV): bit 0 clear means an interrupt is pending. */
#define UART_IIR_NONE  0x01
#define UART_IIR_MSI   0x00
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_RLSI  0x06
#define UART_IIR_FIFOS 0xc0 /* bits 7:6 set when FCR0 is set */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f /* bits 7:5 always read 0 */

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

/* The divisor latch after reset: 12, 9600 baud from a 1.8432 MHz clock. */
#define UART_RESET_DIVISOR 12

/*
 * serial_iir_id: the highest-priority pending interrupt (Table IV:
 * line status > received data > THR empty > modem status), each masked by
 * its IER enable bit, or UART_IIR_NONE.
 */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & UART_IER_ELSI) && s->overrun)
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_ERBFI) && s->rx_count)
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_ETBEI) && s->thre_pending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_EDSSI) && s->msr_delta)
		return UART_IIR_MSI;
	return UART_IIR_NONE;
}

/* serial_update_irq: tell set_irq when the interrupt output changes. */
static void serial_update_irq(struct serial *s)
{
	bool level = serial_iir_id(s) != UART_IIR_NONE;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->set_irq)
		s->set_irq(s->irq_opaque, level);
}

/*
 * serial_tx_ready: poll out_fd for room, waiting up to SERIAL_TX_WAIT_MS
 * when wait is set. True when a write may proceed (or will fail at once:
 * POLLERR and POLLHUP count as ready so that write reports the error).
 */
static bool serial_tx_ready(const struct serial *s, bool wait)
{
	struct pollfd p = { .fd = s->out_fd, .events = POLLOUT };
	int r;

	do {
		r = poll(&p, 1, wait ? SERIAL_TX_WAIT_MS : 0);
	} while (r < 0 && errno == EINTR);
	return r > 0 && !(p.revents & POLLNVAL);
}

/*
 * serial_tx_write: one write(2) of up to n bytes to out_fd, retried on
 * EINTR. A blocking fd is written only once poll says it has room; a
 * non-blocking one that answers EAGAIN gets one bounded wait. Neither waits
 * while the device is stalled (an earlier wait ran out).
 * Returns the count written (> 0), or 0 when the bytes are to be dropped.
 */
static size_t serial_tx_write(struct serial *s, const uint8_t *p, size_t n)
{
	bool may_wait = !s->tx_stalled;

	if (!s->out_nonblock && !serial_tx_ready(s, may_wait)) {
		s->tx_stalled = true;
		return 0;
	}
	for (;;) {
		ssize_t w = write(s->out_fd, p, n);

		if (w > 0) {
			s->tx_stalled = false;
			return (size_t)w;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && may_wait) {
			may_wait = false;
			if (serial_tx_ready(s, true))
				continue;
		}
		/* EAGAIN after the wait, EPIPE, EIO, or a write of 0: give up. */
		s->tx_stalled = true;
		return 0;
	}
}

void serial_set_out_max(struct serial *s, uint64_t max)
{
	pthread_mutex_lock(&s->lock);
	s->out_max = max;
	pthread_mutex_unlock(&s->lock);
}

/* serial_tx_flush: write out tx_buf, dropping (and counting) what will not go. */
static void serial_tx_flush(struct serial *s)
{
	size_t done = 0;

	while (s->out_fd >= 0 && done < s->tx_len) {
		size_t chunk = s->tx_len - done, w;

		if (chunk > SERIAL_TX_CHUNK)
			chunk = SERIAL_TX_CHUNK;
		if (s->out_max && s->stats.tx_bytes + done + chunk > s->out_max)
			chunk = s->out_max - s->stats.tx_bytes - done;
		if (chunk == 0)
			break; /* the limit is reached: the rest is dropped */
		w = serial_tx_write(s, s->tx_buf + done, chunk);
		if (w == 0)
			break;
		done += w;
	}
	s->stats.tx_bytes += done;
	s->stats.tx_dropped += s->tx_len - done;
	s->tx_len = 0;
}

static void serial_rx_clear(struct serial *s)
{
	bool had = s->rx_count != 0;

	s->rx_head = 0;
	s->rx_count = 0;
	if (had && s->rx_notify)
		s->rx_notify(s->rx_notify_opaque);
}

static bool serial_rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= SERIAL_RX_FIFO_SIZE)
		return false;
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO_SIZE] = b;
	s->rx_count++;
	return true;
}

/* serial_rx_pop: the oldest received byte, or 0 when none waits. */
static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t b;

	if (s->rx_count == 0)
		return 0;
	b = s->rx_fifo[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO_SIZE;
	s->rx_count--;
	if (s->rx_count == 0 && s->rx_notify)
		s->rx_notify(s->rx_notify_opaque);
	return b;
}

/*
 * serial_msr_lines: MSR bits 7:4. In loopback (§8.8, MCR bit 4) they follow
 * the MCR outputs: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2. Otherwise a
 * connected, ready line: DCD, DSR and CTS asserted.
 */
static uint8_t serial_msr_lines(const struct serial *s)
{
	uint8_t v = 0;

	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (s->mcr & UART_MCR_RTS)
		v |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_DTR)
		v |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_OUT1)
		v |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		v |= UART_MSR_DCD;
	return v;
}

/* serial_mcr_write: store MCR; record MSR deltas (§8.9) its lines cause. */
static void serial_mcr_write(struct serial *s, uint8_t v)
{
	uint8_t before = serial_msr_lines(s), after, changed;

	s->mcr = v & UART_MCR_MASK;
	after = serial_msr_lines(s);
	changed = before ^ after;
	if (changed & UART_MSR_CTS)
		s->msr_delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		s->msr_delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		s->msr_delta |= UART_MSR_DDCD;
	if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
		s->msr_delta |= UART_MSR_TERI; /* trailing edge of RI */
}

/*
 * serial_thr_write: the guest sends one byte. It leaves THR at once, so the
 * THR-empty interrupt, cleared by this write (Table IV), is due again.
 * In loopback the byte comes back through the receiver instead.
 */
static void serial_thr_write(struct serial *s, uint8_t b)
{
	s->thre_pending = true;
	if (s->mcr & UART_MCR_LOOP) {
		if (serial_rx_push(s, b)) {
			s->stats.rx_bytes++;
		} else {
			s->overrun = true;
			s->stats.rx_overrun++;
		}
		return;
	}
	if (console_tail_put(&s->tail, b) == CONSOLE_PANIC_END && s->panic_notify)
		s->panic_notify(s->panic_notify_opaque);
	s->tx_buf[s->tx_len++] = b;
	if (b == '\n' || s->tx_len == sizeof(s->tx_buf))
		serial_tx_flush(s);
}

/*
 * serial_ier_write: enabling ETBEI while THR is empty (always, here) makes
 * the THR-empty interrupt pending. A driver turning ETBEI off has finished a
 * burst: flush, so that a prompt without '\n' shows.
 */
static void serial_ier_write(struct serial *s, uint8_t v)
{
	uint8_t old = s->ier;

	s->ier = v & UART_IER_MASK;
	if (!(old & UART_IER_ETBEI) && (s->ier & UART_IER_ETBEI))
		s->thre_pending = true;
	if ((old & UART_IER_ETBEI) && !(s->ier & UART_IER_ETBEI)) {
		s->thre_pending = false;
		serial_tx_flush(s);
	}
}

/* serial_fcr_write: changing FCR0 or setting FCR1 clears the RX FIFO (§8.5). */
static void serial_fcr_write(struct serial *s, uint8_t v)
{
	if (((s->fcr ^ v) & UART_FCR_ENABLE) || (v & UART_FCR_CLEAR_RX))
		serial_rx_clear(s);
	s->fcr = v & UART_FCR_ENABLE;
}

/* serial_reg_read: a guest read of register off (< 8), with its side effects. */
static uint8_t serial_reg_read(struct serial *s, unsigned int off)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RBR_THR:
		return dlab ? s->dll : serial_rx_pop(s);
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR_FCR:
		v = serial_iir_id(s);
		if (v == UART_IIR_THRI)
			s->thre_pending = false; /* reading IIR clears it (Table IV) */
		return v | ((s->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFOS : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT;
		if (s->rx_count)
			v |= UART_LSR_DR;
		if (s->overrun)
			v |= UART_LSR_OE;
		s->overrun = false; /* reading LSR clears OE (§8.4) */
		return v;
	case UART_MSR:
		v = serial_msr_lines(s) | s->msr_delta;
		s->msr_delta = 0;
		return v;
	case UART_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

/* serial_reg_write: a guest write of v to register off (< 8). */
static void serial_reg_write(struct serial *s, unsigned int off, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (off) {
	case UART_RBR_THR:
		if (dlab)
			s->dll = v;
		else
			serial_thr_write(s, v);
		break;
	case UART_IER:
		if (dlab)
			s->dlm = v;
		else
			serial_ier_write(s, v);
		break;
	case UART_IIR_FCR:
		serial_fcr_write(s, v);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		serial_mcr_write(s, v);
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR writes are factory tests: ignored */
	}
}

/*
 * serial_bus_read, serial_bus_write: port handlers. offset and len come
 * from the guest through the bus. A wider access is split into byte
 * accesses of consecutive registers, as the ISA bus does for an 8-bit
 * device; bytes past the eight registers read as 0xff.
 */
static void serial_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) {
		bool in = offset < SERIAL_NR_PORTS && i < SERIAL_NR_PORTS - offset;

		out[i] = in ? serial_reg_read(s, (unsigned int)(offset + i)) : 0xff;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (offset < SERIAL_NR_PORTS && i < SERIAL_NR_PORTS - offset)
			serial_reg_write(s, (unsigned int)(offset + i), in[i]);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

int serial_init(struct serial *s, int out_fd, void (*set_irq)(void *, bool), void *irq_opaque)
{
	int err, flags;

	memset(s, 0, sizeof(*s));
	if (out_fd >= 0) {
		flags = fcntl(out_fd, F_GETFL);
		if (flags < 0)
			return -errno;
		s->out_nonblock = flags & O_NONBLOCK;
	}
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return -err;
	s->out_fd = out_fd;
	s->set_irq = set_irq;
	s->irq_opaque = irq_opaque;
	s->dll = UART_RESET_DIVISOR;
	console_tail_init(&s->tail);
	return 0;
}

void serial_destroy(struct serial *s)
{
	serial_flush(s);
	pthread_mutex_destroy(&s->lock);
}

void serial_set_rx_notify(struct serial *s, void (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_notify = fn;
	s->rx_notify_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

int serial_rx(struct serial *s, const uint8_t *buf, size_t n)
{
	int taken = 0;

	pthread_mutex_lock(&s->lock);
	while ((size_t)taken < n && serial_rx_push(s, buf[taken]))
		taken++;
	s->stats.rx_bytes += (uint64_t)taken;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	serial_tx_flush(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_get_stats(struct serial *s, struct serial_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void serial_set_panic_notify(struct serial *s, void (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->panic_notify = fn;
	s->panic_notify_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

bool serial_panic(struct serial *s, char *reason, size_t cap)
{
	bool panicked;

	pthread_mutex_lock(&s->lock);
	panicked = s->tail.panicked;
	if (panicked && cap)
		snprintf(reason, cap, "%s", s->tail.reason);
	pthread_mutex_unlock(&s->lock);
	return panicked;
}

size_t serial_tail(struct serial *s, char *buf, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = console_tail_read(&s->tail, buf, cap);
	pthread_mutex_unlock(&s->lock);
	return n;
}

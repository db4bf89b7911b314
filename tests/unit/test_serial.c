// SPDX-License-Identifier: MIT
/* Unit tests of the 16550A UART (vmm/platform/serial.c), driven as a guest would. */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Registers by offset (PC16550D Table II). */
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

/* Records every level set_irq is given. */
struct irq_log {
	unsigned int calls;
	bool level;
};

static void log_irq(void *opaque, bool level)
{
	struct irq_log *l = opaque;

	l->calls++;
	l->level = level;
}

static void count_notify(void *opaque)
{
	(*(unsigned int *)opaque)++;
}

static uint8_t in8(struct serial *s, unsigned int off)
{
	uint8_t v = 0;

	serial_bus_ops.read(s, off, &v, 1);
	return v;
}

static void out8(struct serial *s, unsigned int off, uint8_t v)
{
	serial_bus_ops.write(s, off, &v, 1);
}

static void puts_thr(struct serial *s, const char *str)
{
	while (*str)
		out8(s, THR, (uint8_t)*str++);
}

/* pending: bytes waiting in a pipe. */
static int pending(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

TEST(tx_line_is_one_write)
{
	struct serial s;
	struct serial_stats st;
	char buf[16] = { 0 };
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	puts_thr(&s, "hello");
	CHECK_EQ(pending(p[0]), 0); /* buffered until the newline */
	out8(&s, THR, '\n');
	CHECK_EQ(pending(p[0]), 6);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "hello\n", 6) == 0);
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes, 6);
	CHECK_EQ(st.tx_dropped, 0);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

TEST(tx_flush_points)
{
	struct serial s;
	char buf[8] = { 0 };
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	puts_thr(&s, "$ ");
	CHECK_EQ(pending(p[0]), 0);
	serial_flush(&s);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	/* A driver switching the THRE interrupt off has finished a burst. */
	out8(&s, IER, 0x02);
	puts_thr(&s, "# ");
	CHECK_EQ(pending(p[0]), 0);
	out8(&s, IER, 0x00);
	CHECK_EQ(pending(p[0]), 2);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	/* And serial_destroy flushes what is left. */
	puts_thr(&s, "bye");
	serial_destroy(&s);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "bye", 3) == 0);
	close(p[0]);
	close(p[1]);
}

TEST(tx_buffer_full_flushes)
{
	struct serial s;
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 65536) >= 0);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	for (unsigned int i = 0; i < SERIAL_TX_BUF_SIZE + 10; i++)
		out8(&s, THR, 'x');
	CHECK_EQ(pending(p[0]), SERIAL_TX_BUF_SIZE);
	serial_destroy(&s);
	CHECK_EQ(pending(p[0]), SERIAL_TX_BUF_SIZE + 10);
	close(p[0]);
	close(p[1]);
}

/* fill: make a pipe's write side full (it is left non-blocking). */
static void fill(int fd)
{
	static const char junk[4096];

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (write(fd, junk, sizeof(junk)) > 0)
		;
	while (write(fd, junk, 1) > 0)
		;
}

TEST(tx_nonblocking_full_drops)
{
	struct serial s;
	struct serial_stats st;
	int p[2];

	CHECK_EQ(pipe(p), 0);
	fill(p[1]);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	puts_thr(&s, "lost\n");
	puts_thr(&s, "lost\n"); /* stalled now: no wait at all */
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes, 0);
	CHECK_EQ(st.tx_dropped, 10);
	/* Once the reader catches up, output flows again. */
	{
		char drain[4096];

		while (read(p[0], drain, sizeof(drain)) == sizeof(drain) && pending(p[0]) > 0)
			;
	}
	CHECK_EQ(pending(p[0]), 0);
	puts_thr(&s, "ok\n");
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes, 3);
	CHECK_EQ(pending(p[0]), 3);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

TEST(tx_blocking_full_times_out)
{
	struct serial s;
	struct serial_stats st;
	int p[2];

	CHECK_EQ(pipe(p), 0);
	fill(p[1]);
	fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) & ~O_NONBLOCK);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	puts_thr(&s, "a\n"); /* waits SERIAL_TX_WAIT_MS, then drops */
	puts_thr(&s, "b\n");
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_dropped, 4);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

/* Issue 14, item 7: a console file's growth is bounded. */
TEST(tx_out_max)
{
	struct serial s;
	struct serial_stats st;
	char buf[64];
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(serial_init(&s, p[1], NULL, NULL), 0);
	serial_set_out_max(&s, 8);
	puts_thr(&s, "hello\n");
	puts_thr(&s, "world\n");
	puts_thr(&s, "again\n");
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 8);
	CHECK(memcmp(buf, "hello\nwo", 8) == 0);
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes, 8);
	CHECK_EQ(st.tx_dropped, 10);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

TEST(tx_no_fd)
{
	struct serial s;
	struct serial_stats st;

	CHECK_EQ(serial_init(&s, -1, NULL, NULL), 0);
	puts_thr(&s, "x\n");
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_dropped, 2);
	serial_destroy(&s);
	CHECK_ERR(serial_init(&s, 1000000, NULL, NULL), -EBADF);
}

TEST(lsr_bits)
{
	struct serial s;
	const uint8_t b = 'k';

	CHECK_EQ(serial_init(&s, -1, NULL, NULL), 0);
	CHECK_EQ(in8(&s, LSR), 0x60); /* THRE | TEMT */
	CHECK_EQ(serial_rx(&s, &b, 1), 1);
	CHECK_EQ(in8(&s, LSR), 0x61); /* | DR */
	CHECK_EQ(in8(&s, RBR), 'k');
	CHECK_EQ(in8(&s, LSR), 0x60);
	CHECK_EQ(in8(&s, RBR), 0); /* nothing waits */
	puts_thr(&s, "still empty");
	CHECK_EQ(in8(&s, LSR), 0x60);
	serial_destroy(&s);
}

TEST(dlab_registers)
{
	struct serial s;
	struct serial_stats st;
	uint8_t two[2] = { 0 };

	CHECK_EQ(serial_init(&s, -1, NULL, NULL), 0);
	out8(&s, IER, 0x05);
	out8(&s, LCR, 0x83);        /* DLAB, 8N1 */
	CHECK_EQ(in8(&s, DLL), 12); /* reset divisor: 9600 baud */
	out8(&s, DLL, 0x01);
	out8(&s, DLM, 0x02);
	CHECK_EQ(in8(&s, DLL), 0x01);
	CHECK_EQ(in8(&s, DLM), 0x02);
	/* A 16-bit access covers DLL and DLM, as two byte cycles would. */
	serial_bus_ops.read(&s, DLL, two, 2);
	CHECK_EQ(two[0], 0x01);
	CHECK_EQ(two[1], 0x02);
	out8(&s, LCR, 0x03);
	CHECK_EQ(in8(&s, LCR), 0x03);
	CHECK_EQ(in8(&s, IER), 0x05); /* IER was not touched by DLM */
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes + st.tx_dropped, 0); /* DLL writes sent nothing */
	out8(&s, SCR, 0x5a);
	CHECK_EQ(in8(&s, SCR), 0x5a);
	out8(&s, IER, 0xff);
	CHECK_EQ(in8(&s, IER), 0x0f);
	out8(&s, MCR, 0xff);
	CHECK_EQ(in8(&s, MCR), 0x1f);
	serial_destroy(&s);
}

TEST(thre_interrupt)
{
	struct serial s;
	struct irq_log l = { 0 };

	CHECK_EQ(serial_init(&s, -1, log_irq, &l), 0);
	CHECK_EQ(in8(&s, IIR), 0x01);
	CHECK_EQ(l.calls, 0);
	out8(&s, IER, 0x02); /* ETBEI with THR empty: pending at once */
	CHECK_EQ(l.calls, 1);
	CHECK(l.level);
	CHECK_EQ(in8(&s, IIR), 0x02);
	CHECK_EQ(l.calls, 2); /* reading IIR cleared it */
	CHECK(!l.level);
	CHECK_EQ(in8(&s, IIR), 0x01);
	out8(&s, IER, 0x02); /* no change of ETBEI: no new interrupt */
	CHECK_EQ(in8(&s, IIR), 0x01);
	out8(&s, THR, 'x'); /* the byte leaves at once: THR empty again */
	CHECK(l.level);
	CHECK_EQ(l.calls, 3);
	out8(&s, THR, 'y'); /* still pending: no call */
	CHECK_EQ(l.calls, 3);
	out8(&s, IER, 0x00);
	CHECK(!l.level);
	CHECK_EQ(in8(&s, IIR), 0x01);
	out8(&s, IER, 0x02); /* off then on: pending again (Linux's THRE test) */
	CHECK(l.level);
	out8(&s, FCR, 0x07);
	CHECK_EQ(in8(&s, IIR), 0xc2); /* FIFOs enabled: bits 7:6 */
	CHECK(!l.level);
	serial_destroy(&s);
}

TEST(rx_interrupt_and_priority)
{
	struct serial s;
	struct irq_log l = { 0 };
	const uint8_t ab[2] = { 'a', 'b' };

	CHECK_EQ(serial_init(&s, -1, log_irq, &l), 0);
	CHECK_EQ(serial_rx(&s, ab, 2), 2);
	CHECK_EQ(l.calls, 0); /* ERBFI off */
	out8(&s, IER, 0x01);
	CHECK(l.level);
	CHECK_EQ(in8(&s, IIR), 0x04);
	CHECK_EQ(in8(&s, IIR), 0x04); /* reading IIR does not clear RX data */
	out8(&s, IER, 0x03);
	CHECK_EQ(in8(&s, IIR), 0x04); /* RX data outranks THR empty */
	CHECK_EQ(in8(&s, RBR), 'a');
	CHECK_EQ(in8(&s, RBR), 'b');
	CHECK(l.level); /* THRE still pending */
	CHECK_EQ(in8(&s, IIR), 0x02);
	CHECK(!l.level);
	CHECK_EQ(serial_rx(&s, ab, 1), 1);
	CHECK(l.level);
	CHECK_EQ(in8(&s, RBR), 'a');
	CHECK(!l.level);
	serial_destroy(&s);
}

TEST(rx_fifo_full)
{
	struct serial s;
	uint8_t buf[100];
	unsigned int notified = 0;

	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ(serial_init(&s, -1, NULL, NULL), 0);
	serial_set_rx_notify(&s, count_notify, &notified);
	CHECK_EQ(serial_rx(&s, buf, sizeof(buf)), SERIAL_RX_FIFO_SIZE);
	CHECK_EQ(serial_rx(&s, buf, sizeof(buf)), 0);
	CHECK_EQ(in8(&s, RBR), 0);
	CHECK_EQ(serial_rx(&s, buf + SERIAL_RX_FIFO_SIZE, 10), 1);
	for (unsigned int i = 1; i <= SERIAL_RX_FIFO_SIZE; i++)
		CHECK_EQ(in8(&s, RBR), i);
	CHECK_EQ(notified, 1);
	CHECK_EQ(in8(&s, LSR) & 0x01, 0);
	/* FCR bit 1 clears the receive FIFO. */
	CHECK_EQ(serial_rx(&s, buf, 5), 5);
	out8(&s, FCR, 0x03);
	CHECK_EQ(in8(&s, LSR) & 0x01, 0);
	CHECK_EQ(notified, 2);
	serial_destroy(&s);
}

TEST(loopback)
{
	struct serial s;
	struct serial_stats st;
	struct irq_log l = { 0 };

	CHECK_EQ(serial_init(&s, -1, log_irq, &l), 0);
	CHECK_EQ(in8(&s, MSR), 0xb0);        /* DCD, DSR, CTS: a ready line */
	out8(&s, MCR, 0x1a);                 /* LOOP | OUT2 | RTS, as Linux's 8250 probe does */
	CHECK_EQ(in8(&s, MSR) & 0xf0, 0x90); /* DCD | CTS */
	CHECK_EQ(in8(&s, MSR) & 0x0f, 0);    /* deltas cleared by the read */
	out8(&s, IER, 0x0c);                 /* line status and modem status interrupts */
	out8(&s, MCR, 0x1b);                 /* + DTR: DSR changes */
	CHECK(l.level);
	CHECK_EQ(in8(&s, IIR), 0x00); /* modem status */
	CHECK_EQ(in8(&s, MSR), 0xb2); /* DCD DSR CTS, DDSR */
	CHECK(!l.level);
	for (unsigned int i = 0; i < SERIAL_RX_FIFO_SIZE + 1; i++)
		out8(&s, THR, (uint8_t)i);
	CHECK_EQ(in8(&s, IIR), 0x06); /* overrun: line status */
	CHECK_EQ(in8(&s, LSR), 0x63); /* DR | OE | THRE | TEMT */
	CHECK_EQ(in8(&s, LSR), 0x61); /* OE cleared by reading */
	CHECK_EQ(in8(&s, RBR), 0);
	CHECK_EQ(in8(&s, RBR), 1);
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes + st.tx_dropped, 0); /* nothing left the UART */
	CHECK_EQ(st.rx_overrun, 1);
	out8(&s, MCR, 0x0b);
	CHECK_EQ(in8(&s, MSR) & 0xf0, 0xb0);
	serial_destroy(&s);
}

TEST(odd_accesses)
{
	struct serial s;
	uint8_t buf[8];

	CHECK_EQ(serial_init(&s, -1, NULL, NULL), 0);
	/* Offsets past the 8 registers (never sent by the bus) read 0xff. */
	memset(buf, 0, sizeof(buf));
	serial_bus_ops.read(&s, 6, buf, 4);
	CHECK_EQ(buf[0], 0xb0);
	CHECK_EQ(buf[2], 0xff);
	CHECK_EQ(buf[3], 0xff);
	serial_bus_ops.read(&s, UINT64_MAX, buf, 8);
	CHECK_EQ(buf[7], 0xff);
	serial_bus_ops.write(&s, UINT64_MAX - 1, buf, 8);
	out8(&s, LSR, 0); /* read-only: ignored */
	CHECK_EQ(in8(&s, LSR), 0x60);
	serial_destroy(&s);
}

/* A vCPU thread: lines through THR, reading LSR and IIR as a driver would. */
static void *vcpu_writer(void *arg)
{
	struct serial *s = arg;

	for (unsigned int i = 0; i < 2000; i++) {
		(void)in8(s, LSR);
		puts_thr(s, "0123456789\n");
		(void)in8(s, IIR);
		(void)in8(s, RBR);
	}
	return NULL;
}

TEST(threads)
{
	struct serial s;
	struct serial_stats st;
	struct irq_log l = { 0 };
	pthread_t t[2];
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	const uint8_t in[8] = "keys\n";

	CHECK(fd >= 0);
	CHECK_EQ(serial_init(&s, fd, log_irq, &l), 0);
	out8(&s, IER, 0x03);
	for (unsigned int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, vcpu_writer, &s), 0);
	for (unsigned int i = 0; i < 2000; i++) {
		(void)serial_rx(&s, in, sizeof(in));
		if (i % 100 == 0)
			serial_flush(&s);
	}
	for (unsigned int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	serial_get_stats(&s, &st);
	CHECK_EQ(st.tx_bytes, 2 * 2000 * 11);
	CHECK_EQ(st.tx_dropped, 0);
	serial_destroy(&s);
	close(fd);
}

CHECK_MAIN(CASE(tx_out_max), CASE(tx_line_is_one_write), CASE(tx_flush_points),
           CASE(tx_buffer_full_flushes), CASE(tx_nonblocking_full_drops),
           CASE(tx_blocking_full_times_out), CASE(tx_no_fd), CASE(lsr_bits), CASE(dlab_registers),
           CASE(thre_interrupt), CASE(rx_interrupt_and_priority), CASE(rx_fifo_full),
           CASE(loopback), CASE(odd_accesses), CASE(threads))

// SPDX-License-Identifier: MIT
/*
 * Unit tests of the console's tail and panic watch (vmm/platform/
 * console_tail.c), alone and as the UART feeds it (serial.c).
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/platform/platform.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define THR 0
#define MCR 4

/* What Linux 6.1's panic() prints, through the 8250 console ("\r\n"). */
#define PANIC_LINE                                                                                 \
	"[    0.912345] Kernel panic - not syncing: VFS: Unable to mount root fs on "              \
	"unknown-block(0,0)\r\n"
#define PANIC_END                                                                                  \
	"[    0.923456] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on "     \
	"unknown-block(0,0) ]---\r\n"

static enum console_event put_str(struct console_tail *t, const char *s)
{
	enum console_event last = CONSOLE_NONE, ev;

	while (*s)
		if ((ev = console_tail_put(t, (uint8_t)*s++)) != CONSOLE_NONE)
			last = ev;
	return last;
}

static void out8(struct serial *s, unsigned int off, uint8_t v)
{
	serial_bus_ops.write(s, off, &v, 1);
}

static void count_call(void *opaque)
{
	(*(unsigned int *)opaque)++;
}

TEST(reason_of_first_panic_line)
{
	struct console_tail t;

	console_tail_init(&t);
	CHECK_EQ(put_str(&t, "[    0.000000] Linux version 6.1\r\n"), CONSOLE_NONE);
	CHECK(!t.panicked);
	CHECK_EQ(put_str(&t, PANIC_LINE), CONSOLE_PANIC);
	CHECK(t.panicked);
	CHECK(strcmp(t.reason, "VFS: Unable to mount root fs on unknown-block(0,0)") == 0);
	/* A later panic (on another CPU) does not replace the first reason. */
	CHECK_EQ(put_str(&t, "Kernel panic - not syncing: Fatal exception\r\n"), CONSOLE_PANIC);
	CHECK(strcmp(t.reason, "VFS: Unable to mount root fs on unknown-block(0,0)") == 0);
	CHECK_EQ(put_str(&t, PANIC_END), CONSOLE_PANIC_END);
}

TEST(end_marker_alone)
{
	struct console_tail t;

	console_tail_init(&t);
	CHECK_EQ(put_str(&t, "---[ end Kernel panic - not syncing: Oops ]---\r\n"),
	         CONSOLE_PANIC_END);
	CHECK(strcmp(t.reason, "Oops") == 0);
}

TEST(reason_is_printable_and_bounded)
{
	struct console_tail t;
	char line[600];

	console_tail_init(&t);
	CHECK_EQ(put_str(&t, "Kernel panic - not syncing: a\033[31mb\xff\r\n"), CONSOLE_PANIC);
	CHECK(strcmp(t.reason, "a?[31mb?") == 0);
	/* A line longer than the search window: its start is still searched,
	 * and the reason is cut to its room. */
	console_tail_init(&t);
	memset(line, 'x', sizeof(line));
	memcpy(line, "Kernel panic - not syncing: ", 28);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	CHECK_EQ(put_str(&t, line), CONSOLE_PANIC);
	CHECK_EQ(strlen(t.reason), CONSOLE_REASON_MAX - 1);
}

TEST(tail_keeps_whole_last_lines)
{
	struct console_tail t;
	char buf[CONSOLE_TAIL_SIZE + 1], line[32];
	size_t n;

	console_tail_init(&t);
	CHECK_EQ(console_tail_read(&t, buf, sizeof(buf)), 0);
	CHECK_EQ(buf[0], '\0');
	for (unsigned int i = 0; i < 1000; i++) {
		snprintf(line, sizeof(line), "line %u\r\n", i);
		put_str(&t, line);
	}
	n = console_tail_read(&t, buf, sizeof(buf));
	CHECK(n > 0 && n < CONSOLE_TAIL_SIZE);
	CHECK(strncmp(buf, "line ", 5) == 0); /* starts at a whole line */
	CHECK(strchr(buf, '\r') == NULL);
	CHECK(n >= 9 && strcmp(buf + n - 9, "line 999\n") == 0);
	/* A small buffer takes the oldest kept bytes, NUL-terminated. */
	CHECK_EQ(console_tail_read(&t, buf, 4), 3);
	CHECK(strcmp(buf, "lin") == 0);
}

TEST(serial_reports_panic)
{
	struct serial s;
	unsigned int ends = 0;
	char reason[CONSOLE_REASON_MAX] = "", tail[CONSOLE_TAIL_SIZE + 1];
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ(serial_init(&s, fd, NULL, NULL), 0);
	serial_set_panic_notify(&s, count_call, &ends);
	CHECK(!serial_panic(&s, reason, sizeof(reason)));
	/* Loopback bytes never left the UART: not the guest's console. */
	out8(&s, MCR, 0x10);
	for (const char *p = PANIC_LINE; *p; p++)
		out8(&s, THR, (uint8_t)*p);
	CHECK(!serial_panic(&s, reason, sizeof(reason)));
	out8(&s, MCR, 0x00);
	for (const char *p = PANIC_LINE; *p; p++)
		out8(&s, THR, (uint8_t)*p);
	CHECK(serial_panic(&s, NULL, 0));
	CHECK(serial_panic(&s, reason, sizeof(reason)));
	CHECK(strcmp(reason, "VFS: Unable to mount root fs on unknown-block(0,0)") == 0);
	CHECK_EQ(ends, 0);
	for (const char *p = PANIC_END; *p; p++)
		out8(&s, THR, (uint8_t)*p);
	CHECK_EQ(ends, 1);
	CHECK(serial_tail(&s, tail, sizeof(tail)) > 0);
	CHECK(strstr(tail, "Kernel panic - not syncing: VFS") != NULL);
	serial_destroy(&s);
	close(fd);
}

CHECK_MAIN(CASE(reason_of_first_panic_line), CASE(end_marker_alone),
           CASE(reason_is_printable_and_bounded), CASE(tail_keeps_whole_last_lines),
           CASE(serial_reports_panic))

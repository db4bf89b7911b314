// SPDX-License-Identifier: MIT
/*
 * console_tail: the last bytes the guest wrote to its console, and the
 * kernel panic among them (platform.h).
 *
 * The markers are the lines Linux's panic() prints at KERN_EMERG
 * (kernel/panic.c, v6.1): "Kernel panic - not syncing: REASON" first, and,
 * only when it does not reboot (panic=0), "---[ end Kernel panic - not
 * syncing: REASON ]---" last. Each line may start with a printk time stamp
 * ("[    1.234567] ", CONFIG_PRINTK_TIME), so the marker is searched for
 * anywhere in the line. The guest can print these words itself; all it
 * gains is to report a panic of its own (exit status 5) instead of a reboot.
 */
#define _GNU_SOURCE
#include "vmm/platform/platform.h"

#include <string.h>

static const char console_panic_marker[] = "Kernel panic - not syncing: ";
static const char console_end_marker[] = "---[ end Kernel panic - not syncing: ";

void console_tail_init(struct console_tail *t)
{
	memset(t, 0, sizeof(*t));
}

/* console_printable: b as it may be shown on the host's terminal. */
static char console_printable(uint8_t b)
{
	return b >= 0x20 && b < 0x7f ? (char)b : '?';
}

/*
 * console_tail_line: one complete line (t->line, t->line_len bytes, the
 * '\n' not included). The first panic line gives the reason: what follows
 * the marker, printable ASCII only, without the trailing '\r' of the
 * console's "\r\n".
 */
static enum console_event console_tail_line(struct console_tail *t)
{
	const char *p;
	size_t n = 0;
	bool end;

	t->line[t->line_len] = '\0';
	end = strstr(t->line, console_end_marker) != NULL;
	p = strstr(t->line, console_panic_marker);
	if (!p)
		return CONSOLE_NONE;
	if (!t->panicked) {
		t->panicked = true;
		for (p += sizeof(console_panic_marker) - 1; *p && n < sizeof(t->reason) - 1; p++)
			if (*p != '\r')
				t->reason[n++] = console_printable((uint8_t)*p);
		/* Only an end marker seen first (the first line lost) has this. */
		if (end && n >= 5 && memcmp(t->reason + n - 5, " ]---", 5) == 0)
			n -= 5;
		while (n && t->reason[n - 1] == ' ')
			n--;
		t->reason[n] = '\0';
	}
	return end ? CONSOLE_PANIC_END : CONSOLE_PANIC;
}

enum console_event console_tail_put(struct console_tail *t, uint8_t b)
{
	enum console_event ev = CONSOLE_NONE;

	t->ring[t->total % CONSOLE_TAIL_SIZE] = b;
	t->total++;
	if (b == '\n') {
		ev = console_tail_line(t);
		t->line_len = 0;
	} else if (t->line_len < sizeof(t->line) - 1) {
		t->line[t->line_len++] = (char)b; /* the rest of a long line is not examined */
	}
	return ev;
}

size_t console_tail_read(const struct console_tail *t, char *buf, size_t cap)
{
	uint64_t kept = t->total < CONSOLE_TAIL_SIZE ? t->total : CONSOLE_TAIL_SIZE;
	uint64_t i = t->total - kept;
	size_t n = 0;

	if (!cap)
		return 0;
	/* Where the ring wrapped, its first line is cut: start at the next. */
	if (i > 0) {
		while (i < t->total && t->ring[i % CONSOLE_TAIL_SIZE] != '\n')
			i++;
		i++;
	}
	for (; i < t->total && n < cap - 1; i++) {
		uint8_t b = t->ring[i % CONSOLE_TAIL_SIZE];

		if (b == '\r')
			continue;
		buf[n++] = b == '\n' ? '\n' : console_printable(b);
	}
	buf[n] = '\0';
	return n;
}

// SPDX-License-Identifier: MIT
/*
 * cmdline: where parameters go on a kernel command line (boot.h).
 *
 * The kernel reads its own parameters up to the first "--" and hands what
 * follows to init as arguments (kernel/params.c, parse_args; init/main.c,
 * start_kernel). So a parameter the VMM needs (a virtio_mmio.device=, the
 * agent's kvmbox.root=) that lands after a user's "--" is lost to the
 * kernel: it goes in front of the "--" instead.
 */
#define _GNU_SOURCE
#include "vmm/boot/boot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* cmdline_space: the kernel's isspace() for the command line (lib/ctype.c). */
static bool cmdline_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * cmdline_is_dashes: whether the n bytes at p, one parameter, read "--" to
 * the kernel: next_arg() drops a leading quote, and then a trailing one.
 */
static bool cmdline_is_dashes(const char *p, size_t n)
{
	if (n && p[0] == '"') {
		p++;
		n--;
		if (n && p[n - 1] == '"')
			n--;
	}
	return n == 2 && p[0] == '-' && p[1] == '-';
}

size_t boot_cmdline_dashes(const char *s, size_t *rest)
{
	size_t i = 0, len = strlen(s);

	for (;;) {
		size_t start;
		bool quoted = false;

		while (i < len && cmdline_space(s[i]))
			i++;
		if (i == len)
			break;
		/* A parameter ends at a space outside quotes (next_arg). */
		for (start = i; i < len && (quoted || !cmdline_space(s[i])); i++)
			if (s[i] == '"')
				quoted = !quoted;
		if (cmdline_is_dashes(s + start, i - start)) {
			*rest = i;
			return start;
		}
	}
	*rest = len;
	return len;
}

int boot_cmdline_insert(const char *s, const char *params, char **out)
{
	size_t rest, at = boot_cmdline_dashes(s, &rest);

	if (!params[0])
		return asprintf(out, "%s", s) < 0 ? -ENOMEM : 0;
	if (asprintf(out, "%.*s%s%s%s%s", (int)at, s, at && !cmdline_space(s[at - 1]) ? " " : "",
	             params, at < rest ? " " : "", s + at) < 0)
		return -ENOMEM;
	return 0;
}

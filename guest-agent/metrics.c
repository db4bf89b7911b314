// SPDX-License-Identifier: MIT
/*
 * guest-agent/metrics: the guest's CPU, memory, disk and network counters
 * from /proc (metrics.h), for the "metrics" op.
 */
#define _GNU_SOURCE
#include "guest-agent/metrics.h"
#include "proto/bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* set_u64: field key of obj set to v; 0 or -ENOMEM. */
static int set_u64(json_t *obj, const char *key, uint64_t v)
{
	/* Counters stay below 2^63 in any real guest; clamp what does not. */
	json_t *n = json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v));

	return n && json_object_set_new(obj, key, n) == 0 ? 0 : -ENOMEM;
}

/* set_new: field key of obj set to v (consumed; NULL: out of memory); 0 or -ENOMEM. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

/* next_u64: the next decimal number of *p (spaces before it skipped); false at none. */
static bool next_u64(const char **p, uint64_t *v)
{
	char *end;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno)
		*v = UINT64_MAX;
	*p = end;
	return true;
}

/* line_next: the line after p (past its '\n'), or NULL at the end of text. */
static const char *line_next(const char *p)
{
	p = strchr(p, '\n');
	return p ? p + 1 : NULL;
}

int agent_metrics_stat(const char *text, long hz, json_t *out)
{
	static const char *const names[] = { "user_ms",   "nice_ms", "system_ms",  "idle_ms",
		                             "iowait_ms", "irq_ms",  "softirq_ms", "steal_ms" };
	uint64_t cpus = 0, v;
	json_t *cpu = NULL;
	int err = 0;

	if (hz <= 0)
		hz = 100; /* USER_HZ on every architecture Linux has (proc(5)) */
	for (const char *p = text; p && *p; p = line_next(p)) {
		if (strncmp(p, "cpu", 3) != 0)
			continue;
		if (p[3] >= '0' && p[3] <= '9') {
			cpus++;
			continue;
		}
		if (p[3] != ' ' || cpu)
			continue;
		p += 3;
		cpu = json_object();
		for (size_t i = 0; cpu && !err && i < sizeof(names) / sizeof(names[0]); i++) {
			/* Older kernels have fewer columns: the rest are 0. */
			if (!next_u64(&p, &v))
				v = 0;
			err = set_u64(cpu, names[i],
			              v / (uint64_t)hz * 1000u +
			                  v % (uint64_t)hz * 1000u / (uint64_t)hz);
		}
		if (!cpu)
			return -ENOMEM;
	}
	if (!cpu)
		return -EINVAL;
	if (!err)
		err = set_new(out, "cpu", cpu);
	else
		json_decref(cpu);
	return err ?: set_u64(out, "cpus", cpus);
}

/* meminfo_kb: the value in kB of field name ("MemTotal") of text; false if absent. */
static bool meminfo_kb(const char *text, const char *name, uint64_t *kb)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = line_next(p)) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			return next_u64(&p, kb);
		}
	}
	return false;
}

int agent_metrics_meminfo(const char *text, json_t *out)
{
	uint64_t total, free_kb = 0, avail, buffers = 0, cached = 0, used;
	json_t *m;
	int err;

	if (!meminfo_kb(text, "MemTotal", &total))
		return -EINVAL;
	meminfo_kb(text, "MemFree", &free_kb);
	meminfo_kb(text, "Buffers", &buffers);
	meminfo_kb(text, "Cached", &cached);
	if (!meminfo_kb(text, "MemAvailable", &avail)) {
		/* Before Linux 3.14: what free(1) called used then. */
		avail = free_kb + buffers + cached;
	}
	used = avail < total ? total - avail : 0;
	m = json_object();
	if (!m)
		return -ENOMEM;
	err = set_u64(m, "total_bytes", total * 1024);
	if (!err)
		err = set_u64(m, "free_bytes", free_kb * 1024);
	if (!err)
		err = set_u64(m, "available_bytes", avail * 1024);
	if (!err)
		err = set_u64(m, "used_bytes", used * 1024);
	if (!err)
		err = set_u64(m, "buffers_bytes", buffers * 1024);
	if (!err)
		err = set_u64(m, "cached_bytes", cached * 1024);
	if (err) {
		json_decref(m);
		return err;
	}
	return set_new(out, "memory", m);
}

/* device: one named device's counters as an object; NULL: out of memory. */
static json_t *device(const char *name, size_t len, const char *const *keys, const uint64_t *v,
                      size_t n)
{
	json_t *d = json_object();
	int err = d ? set_new(d, "name", proto_bytes_json(name, len)) : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++)
		err = set_u64(d, keys[i], v[i]);
	if (err) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* word: the next word of *p (spaces before it skipped), its length in *len. */
static const char *word(const char **p, size_t *len, const char *stop)
{
	const char *w;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	w = *p;
	*len = strcspn(w, stop);
	*p += *len;
	return w;
}

int agent_metrics_diskstats(const char *text, int block_fd, json_t *out)
{
	static const char *const keys[] = { "reads", "read_bytes", "writes", "write_bytes" };
	json_t *a = json_array();

	if (!a)
		return -ENOMEM;
	for (const char *p = text; p && *p; p = line_next(p)) {
		/* major minor name reads merged sectors ms writes merged sectors ... */
		uint64_t f[8], v[4];
		char name[64];
		const char *w;
		size_t len;
		bool ok = next_u64(&p, &f[0]) && next_u64(&p, &f[1]);

		w = word(&p, &len, " \t\n");
		for (int i = 0; ok && i < 8; i++)
			ok = next_u64(&p, &f[i]);
		if (!ok || !len || len >= sizeof(name) || memchr(w, '/', len))
			continue;
		memcpy(name, w, len);
		name[len] = '\0';
		if (block_fd >= 0 && faccessat(block_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* a partition: its disk counts it already */
		if (json_array_size(a) == AGENT_METRICS_MAX_DEVS)
			break;
		v[0] = f[0];
		v[1] = f[2] * 512u;
		v[2] = f[4];
		v[3] = f[6] * 512u;
		if (json_array_append_new(a, device(name, len, keys, v, 4))) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	return set_new(out, "disks", a);
}

int agent_metrics_netdev(const char *text, json_t *out)
{
	static const char *const keys[] = { "rx_bytes", "rx_packets", "tx_bytes", "tx_packets" };
	json_t *a = json_array();

	if (!a)
		return -ENOMEM;
	for (const char *p = text; p && *p; p = line_next(p)) {
		/* "  eth0: rx_bytes rx_packets errs drop fifo frame compressed
		 * multicast tx_bytes tx_packets ..."; the two header lines have
		 * no number after their '|'. */
		uint64_t f[10], v[4];
		const char *w;
		size_t len;
		bool ok;

		w = word(&p, &len, ":\n");
		if (*p != ':' || !len)
			continue;
		p++;
		ok = true;
		for (int i = 0; ok && i < 10; i++)
			ok = next_u64(&p, &f[i]);
		if (!ok)
			continue;
		if (json_array_size(a) == AGENT_METRICS_MAX_DEVS)
			break;
		v[0] = f[0];
		v[1] = f[1];
		v[2] = f[8];
		v[3] = f[9];
		if (json_array_append_new(a, device(w, len, keys, v, 4))) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	return set_new(out, "net", a);
}

int agent_metrics_uptime(const char *text, json_t *out)
{
	uint64_t s, frac = 0;
	const char *p = text;

	if (!next_u64(&p, &s))
		return -EINVAL;
	/* "12345.67": hundredths (proc(5)); take up to three digits. */
	if (*p == '.') {
		unsigned int scale = 100;

		for (p++; *p >= '0' && *p <= '9' && scale; p++, scale /= 10)
			frac += (uint64_t)(*p - '0') * scale;
	}
	return set_u64(out, "uptime_ms", s * 1000u + frac);
}

/* slurp: up to AGENT_METRICS_MAX_FILE bytes of dir/name, NUL-terminated; NULL on failure. */
static char *slurp(const char *dir, const char *name)
{
	char path[4096], *buf;
	size_t have = 0;
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	buf = malloc(AGENT_METRICS_MAX_FILE + 1);
	/* /proc files come in pieces of a page or so: read to the end. */
	while (buf && have < AGENT_METRICS_MAX_FILE &&
	       (n = read(fd, buf + have, AGENT_METRICS_MAX_FILE - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[have] = '\0';
	return buf;
}

int agent_metrics_read(const char *proc, const char *sys, json_t **out)
{
	static const char *const files[] = { "stat", "meminfo", "diskstats", "net/dev", "uptime" };
	char block[4096];
	json_t *m = json_object(), *missing = json_array();
	int block_fd = -1, err = m && missing ? 0 : -ENOMEM;

	proc = proc ? proc : "/proc";
	sys = sys ? sys : "/sys";
	if (snprintf(block, sizeof(block), "%s/block", sys) < (int)sizeof(block))
		block_fd = open(block, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; !err && i < sizeof(files) / sizeof(files[0]); i++) {
		char *text = slurp(proc, files[i]);
		int r = -ENOENT;

		if (text && i == 0)
			r = agent_metrics_stat(text, sysconf(_SC_CLK_TCK), m);
		else if (text && i == 1)
			r = agent_metrics_meminfo(text, m);
		else if (text && i == 2)
			r = agent_metrics_diskstats(text, block_fd, m);
		else if (text && i == 3)
			r = agent_metrics_netdev(text, m);
		else if (text)
			r = agent_metrics_uptime(text, m);
		free(text);
		if (r == -ENOMEM)
			err = r;
		else if (r)
			err = json_array_append_new(missing, json_string(files[i])) ? -ENOMEM : 0;
	}
	if (block_fd >= 0)
		close(block_fd);
	if (!err && json_array_size(missing))
		err = set_new(m, "missing", json_incref(missing));
	json_decref(missing);
	if (err) {
		json_decref(m);
		return err;
	}
	*out = m;
	return 0;
}

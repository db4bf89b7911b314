// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guest agent's metrics (guest-agent/metrics.c): the
 * parsers of /proc/stat, meminfo, diskstats, net/dev and uptime on fixed
 * text, and the "metrics" op over the agent's socketpair harness, from a
 * folder of fixed files and from the host's own /proc.
 */
#define _GNU_SOURCE
#include "check.h"
#include "guest-agent/metrics.h"
#include "test_agent_exec.h"

#include <fcntl.h>
#include <sys/stat.h>

static const char stat_text[] = "cpu  1000 20 300 40000 50 6 7 8 0 0\n"
                                "cpu0 500 10 150 20000 25 3 3 4 0 0\n"
                                "cpu1 500 10 150 20000 25 3 4 4 0 0\n"
                                "intr 12345 0 0\n"
                                "ctxt 999\n"
                                "procs_running 2\n";

static const char meminfo_text[] = "MemTotal:         262144 kB\n"
                                   "MemFree:          100000 kB\n"
                                   "MemAvailable:     200000 kB\n"
                                   "Buffers:            1000 kB\n"
                                   "Cached:            50000 kB\n"
                                   "SwapCached:            0 kB\n";

static const char diskstats_text[] =
    " 254       0 vda 120 0 4096 50 30 2 800 10 0 60 60 0 0 0 0 0 0\n"
    " 254       1 vda1 100 0 4000 40 30 2 800 10 0 50 50 0 0 0 0 0 0\n"
    " 254      16 vdb 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static const char netdev_text[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:    1234      10    0    0    0     0          0         0     1234      10    0 "
    "   0    0     0       0          0\n"
    "  eth0: 9000000    6000    1    0    0     0          0         3   700000    5000    0 "
    "   0    0     0       0          0\n";

static json_int_t int_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);

	return json_integer_value(b ? json_object_get(v, b) : v);
}

TEST(parse_stat)
{
	json_t *m = json_object();

	CHECK_EQ(agent_metrics_stat(stat_text, 100, m), 0);
	CHECK_EQ(int_at(m, "cpu", "user_ms"), 10000);
	CHECK_EQ(int_at(m, "cpu", "nice_ms"), 200);
	CHECK_EQ(int_at(m, "cpu", "system_ms"), 3000);
	CHECK_EQ(int_at(m, "cpu", "idle_ms"), 400000);
	CHECK_EQ(int_at(m, "cpu", "iowait_ms"), 500);
	CHECK_EQ(int_at(m, "cpu", "steal_ms"), 80);
	CHECK_EQ(int_at(m, "cpus", NULL), 2);
	json_decref(m);
	/* An old kernel's shorter line: the missing columns are 0. */
	m = json_object();
	CHECK_EQ(agent_metrics_stat("cpu 7 0 3 90\ncpu0 7 0 3 90\n", 250, m), 0);
	CHECK_EQ(int_at(m, "cpu", "user_ms"), 28);
	CHECK_EQ(int_at(m, "cpu", "steal_ms"), 0);
	json_decref(m);
	m = json_object();
	CHECK_ERR(agent_metrics_stat("intr 1\n", 100, m), -EINVAL);
	CHECK_ERR(agent_metrics_stat("", 100, m), -EINVAL);
	json_decref(m);
}

TEST(parse_meminfo)
{
	json_t *m = json_object();

	CHECK_EQ(agent_metrics_meminfo(meminfo_text, m), 0);
	CHECK_EQ(int_at(m, "memory", "total_bytes"), 262144ll * 1024);
	CHECK_EQ(int_at(m, "memory", "available_bytes"), 200000ll * 1024);
	CHECK_EQ(int_at(m, "memory", "used_bytes"), 62144ll * 1024);
	CHECK_EQ(int_at(m, "memory", "cached_bytes"), 50000ll * 1024);
	json_decref(m);
	/* No MemAvailable (before Linux 3.14): free, buffers and cache. */
	m = json_object();
	CHECK_EQ(agent_metrics_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\n"
	                               "Cached: 90 kB\n",
	                               m),
	         0);
	CHECK_EQ(int_at(m, "memory", "used_bytes"), 800 * 1024);
	json_decref(m);
	m = json_object();
	CHECK_ERR(agent_metrics_meminfo("MemFree: 100 kB\n", m), -EINVAL);
	json_decref(m);
}

TEST(parse_diskstats)
{
	char dir[] = "/tmp/kvmbox-metrics-XXXXXX";
	json_t *m = json_object(), *d;
	int fd;

	/* Without /sys/block, every line. */
	CHECK_EQ(agent_metrics_diskstats(diskstats_text, -1, m), 0);
	CHECK_EQ(json_array_size(json_object_get(m, "disks")), 3);
	json_decref(m);
	/* With it, the whole disks alone (a partition counts in its disk). */
	CHECK(mkdtemp(dir) != NULL);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(symlinkat("../devices/vda", fd, "vda"), 0);
	CHECK_EQ(mkdirat(fd, "vdb", 0755), 0);
	m = json_object();
	CHECK_EQ(agent_metrics_diskstats(diskstats_text, fd, m), 0);
	d = json_object_get(m, "disks");
	CHECK_EQ(json_array_size(d), 2);
	CHECK(strcmp(str_of(json_array_get(d, 0), "name"), "vda") == 0);
	CHECK_EQ(int_at(json_array_get(d, 0), "reads", NULL), 120);
	CHECK_EQ(int_at(json_array_get(d, 0), "read_bytes", NULL), 4096 * 512);
	CHECK_EQ(int_at(json_array_get(d, 0), "writes", NULL), 30);
	CHECK_EQ(int_at(json_array_get(d, 0), "write_bytes", NULL), 800 * 512);
	CHECK(strcmp(str_of(json_array_get(d, 1), "name"), "vdb") == 0);
	json_decref(m);
	unlinkat(fd, "vda", 0);
	unlinkat(fd, "vdb", AT_REMOVEDIR);
	close(fd);
	rmdir(dir);
	/* Garbage lines are skipped, not fatal. */
	m = json_object();
	CHECK_EQ(agent_metrics_diskstats("x\n1 2\n1 2 a/b 1 1 1 1 1 1 1 1\n\n", -1, m), 0);
	CHECK_EQ(json_array_size(json_object_get(m, "disks")), 0);
	json_decref(m);
}

TEST(parse_netdev_and_uptime)
{
	json_t *m = json_object(), *n;

	CHECK_EQ(agent_metrics_netdev(netdev_text, m), 0);
	n = json_object_get(m, "net");
	CHECK_EQ(json_array_size(n), 2);
	CHECK(strcmp(str_of(json_array_get(n, 1), "name"), "eth0") == 0);
	CHECK_EQ(int_at(json_array_get(n, 1), "rx_bytes", NULL), 9000000);
	CHECK_EQ(int_at(json_array_get(n, 1), "rx_packets", NULL), 6000);
	CHECK_EQ(int_at(json_array_get(n, 1), "tx_bytes", NULL), 700000);
	CHECK_EQ(int_at(json_array_get(n, 1), "tx_packets", NULL), 5000);
	CHECK_EQ(agent_metrics_uptime("123.45 200.00\n", m), 0);
	CHECK_EQ(int_at(m, "uptime_ms", NULL), 123450);
	CHECK_ERR(agent_metrics_uptime("x", m), -EINVAL);
	json_decref(m);
}

/* write_file: dir/name holding text; 0 or -errno. */
static int write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		err = -EIO;
	close(fd);
	return err;
}

/* metrics_of: send a metrics request with id and take its one answer into *f. */
static int metrics_of(struct client *c, uint64_t id, struct proto_frame *f)
{
	char req[96];
	int err;

	snprintf(req, sizeof(req), "{\"id\":%llu,\"type\":\"request\",\"op\":\"metrics\"}",
	         (unsigned long long)id);
	err = send_json(c, req, NULL, 0);
	return err ? err : recv_frame(c, f) == 1 ? 0 : -EIO;
}

TEST(op_from_fixed_files)
{
	char proc[] = "/tmp/kvmbox-proc-XXXXXX";
	char sys[] = "/tmp/kvmbox-sys-XXXXXX";
	struct proto_frame f = { 0 };
	struct agent_opts opts = { 0 };
	struct client c;
	char path[256];

	CHECK(mkdtemp(proc) && mkdtemp(sys));
	CHECK_EQ(write_file(proc, "stat", stat_text), 0);
	CHECK_EQ(write_file(proc, "meminfo", meminfo_text), 0);
	CHECK_EQ(write_file(proc, "uptime", "5.5 1.0\n"), 0);
	/* No diskstats, no net/: said in "missing", the rest still answered. */
	opts.proc_root = proc;
	opts.sys_root = sys;
	CHECK_EQ(client_start_opts(&c, &opts), 0);
	CHECK_EQ(metrics_of(&c, 3, &f), 0);
	CHECK(strcmp(str_of(f.msg, "type"), "reply") == 0);
	CHECK_EQ(int_at(f.msg, "id", NULL), 3);
	CHECK_EQ(int_at(f.msg, "cpu", "user_ms"), 10000);
	CHECK_EQ(int_at(f.msg, "memory", "total_bytes"), 262144ll * 1024);
	CHECK_EQ(int_at(f.msg, "uptime_ms", NULL), 5500);
	CHECK_EQ(json_array_size(json_object_get(f.msg, "missing")), 2);
	CHECK(json_object_get(f.msg, "disks") == NULL);
	proto_frame_clear(&f);
	/* A body is refused, as for every op that takes none. */
	CHECK_EQ(send_json(&c, "{\"id\":4,\"type\":\"request\",\"op\":\"metrics\"}", "x", 1), 0);
	CHECK_EQ(recv_frame(&c, &f), 1);
	CHECK(strcmp(str_of(json_object_get(f.msg, "error"), "code"), "bad_request") == 0);
	proto_frame_clear(&f);
	CHECK_EQ(client_stop(&c), 0);
	snprintf(path, sizeof(path), "%s/stat", proc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/meminfo", proc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/uptime", proc);
	unlink(path);
	rmdir(proc);
	rmdir(sys);
}

/* The host's own /proc: every part there, and CPU time moves when we burn some. */
TEST(op_from_host_proc)
{
	struct proto_frame f = { 0 };
	struct client c;
	json_int_t busy0, busy1;
	uint64_t end;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(metrics_of(&c, 1, &f), 0);
	CHECK(json_object_get(f.msg, "missing") == NULL);
	CHECK(int_at(f.msg, "cpus", NULL) >= 1);
	CHECK(int_at(f.msg, "memory", "total_bytes") > 0);
	CHECK(int_at(f.msg, "memory", "used_bytes") > 0);
	CHECK(int_at(f.msg, "uptime_ms", NULL) > 0);
	CHECK(json_is_array(json_object_get(f.msg, "disks")));
	CHECK(json_array_size(json_object_get(f.msg, "net")) >= 1); /* lo at least */
	busy0 = int_at(f.msg, "cpu", "user_ms") + int_at(f.msg, "cpu", "system_ms");
	proto_frame_clear(&f);
	for (end = mono_ms() + 300; mono_ms() < end;)
		;
	CHECK_EQ(metrics_of(&c, 2, &f), 0);
	busy1 = int_at(f.msg, "cpu", "user_ms") + int_at(f.msg, "cpu", "system_ms");
	CHECK(busy1 > busy0);
	proto_frame_clear(&f);
	CHECK_EQ(client_stop(&c), 0);
}

CHECK_MAIN(CASE(parse_stat), CASE(parse_meminfo), CASE(parse_diskstats),
           CASE(parse_netdev_and_uptime), CASE(op_from_fixed_files), CASE(op_from_host_proc))

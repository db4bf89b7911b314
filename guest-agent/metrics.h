/* SPDX-License-Identifier: MIT */
/*
 * guest-agent/metrics: what the guest uses, for the "metrics" op
 * (docs/protocol.md): CPU time, memory, disk and network bytes, read from
 * the kernel's own counters (proc(5)): /proc/stat, /proc/meminfo,
 * /proc/diskstats (Documentation/admin-guide/iostats.rst), /proc/net/dev
 * and /proc/uptime. The parsers take a file's text, so that they are
 * tested on fixed text; agent_metrics_read reads the files.
 *
 * Counters are cumulative (since the guest booted): a rate is the
 * difference of two samples over the time between them, which the VMM
 * and clients work out; the agent keeps no state between requests.
 */
#ifndef KVMBOX_AGENT_METRICS_H
#define KVMBOX_AGENT_METRICS_H

#include <jansson.h>

#define AGENT_METRICS_MAX_DEVS 64           /* disks, and interfaces: bounds the reply */
#define AGENT_METRICS_MAX_FILE (256u << 10) /* bytes read of one /proc file */

/*
 * agent_metrics_stat: /proc/stat's "cpu" line (USER_HZ ticks, hz of them a
 * second) as "cpu": {"user_ms", "nice_ms", "system_ms", "idle_ms",
 * "iowait_ms", "irq_ms", "softirq_ms", "steal_ms"} and its "cpuN" lines
 * as "cpus". 0, -EINVAL (no "cpu" line), -ENOMEM.
 */
__attribute__((warn_unused_result)) int agent_metrics_stat(const char *text, long hz, json_t *out);

/*
 * agent_metrics_meminfo: /proc/meminfo as "memory": {"total_bytes",
 * "free_bytes", "available_bytes", "used_bytes", "buffers_bytes",
 * "cached_bytes"}; used is total less available, as free(1) counts it
 * (total less free, buffers and cache on a kernel without MemAvailable).
 * 0, -EINVAL (no MemTotal), -ENOMEM.
 */
__attribute__((warn_unused_result)) int agent_metrics_meminfo(const char *text, json_t *out);

/*
 * agent_metrics_diskstats: /proc/diskstats as "disks": [{"name", "reads",
 * "read_bytes", "writes", "write_bytes"}], whole disks only when
 * block_fd (/sys/block, whose entries are the whole disks) is not -1, at
 * most AGENT_METRICS_MAX_DEVS. Sectors there are 512 bytes whatever the
 * device's own (iostats.rst). 0 or -ENOMEM.
 */
__attribute__((warn_unused_result)) int agent_metrics_diskstats(const char *text, int block_fd,
                                                                json_t *out);

/*
 * agent_metrics_netdev: /proc/net/dev as "net": [{"name", "rx_bytes",
 * "rx_packets", "tx_bytes", "tx_packets"}], every interface (lo too), at
 * most AGENT_METRICS_MAX_DEVS. 0 or -ENOMEM.
 */
__attribute__((warn_unused_result)) int agent_metrics_netdev(const char *text, json_t *out);

/* agent_metrics_uptime: /proc/uptime as "uptime_ms". 0, -EINVAL, -ENOMEM. */
__attribute__((warn_unused_result)) int agent_metrics_uptime(const char *text, json_t *out);

/*
 * agent_metrics_read: all of the above into *out (a new object), from the
 * files under proc (a /proc) and sys (a /sys; its block/ folder), NULL
 * for "/proc" and "/sys". A file that cannot be read or parsed leaves its
 * fields out (a kernel without block devices has no diskstats); the names
 * of what is missing go in "missing". 0 or -ENOMEM.
 */
__attribute__((warn_unused_result)) int agent_metrics_read(const char *proc, const char *sys,
                                                           json_t **out);

#endif

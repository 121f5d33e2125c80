/*
 * CPU time and resident memory of a process from /proc (Linux), for --watch-pid and for the
 * bench's own cost; an interface's byte counters in a process's network namespace
 * (--watch-net); the whole system's CPU time (--watch-system). Any thread.
 */
#ifndef S3LB_BENCH_PROC_H
#define S3LB_BENCH_PROC_H

#include <stdint.h>

/* User + system CPU seconds (all threads) and current RSS in KiB of pid (0: this process).
 * Returns 0, or a negative errno (the process is gone, or /proc is not readable). */
__attribute__((warn_unused_result)) int bench_proc_read(int pid, double *cpu_s, uint64_t *rss_kb);

/* Parses the text of /proc/PID/stat; exposed for the tests. */
int bench_proc_parse_stat(const char *text, double ticks_per_s, uint64_t page_kb, double *cpu_s,
                          uint64_t *rss_kb);

/* Counters of one network interface, as /proc/PID/net/dev shows them. */
typedef struct bench_netdev_s {
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
} bench_netdev_t;

/* Interface dev's counters in the network namespace of pid (0: this process's), from
 * /proc/PID/net/dev. Returns 0, -ENODEV when the namespace has no such interface, or a negative
 * errno (the process is gone). */
__attribute__((warn_unused_result)) int bench_netdev_read(int pid, const char *dev,
                                                          bench_netdev_t *out);

/* Parses the text of /proc/net/dev for dev; exposed for the tests. */
int bench_netdev_parse(const char *text, const char *dev, bench_netdev_t *out);

/* The whole system's CPU time in seconds, summed over the CPUs (the "cpu" line of /proc/stat).
 * busy is everything but idle and iowait. Not per namespace: in a VM, the whole VM. */
typedef struct bench_syscpu_s {
	double user, nice, system, idle, iowait, irq, softirq, steal;
} bench_syscpu_t;

double bench_syscpu_busy(const bench_syscpu_t *c);

__attribute__((warn_unused_result)) int bench_syscpu_read(bench_syscpu_t *out);

/* Parses the text of /proc/stat; exposed for the tests. */
int bench_syscpu_parse(const char *text, double ticks_per_s, bench_syscpu_t *out);

#endif

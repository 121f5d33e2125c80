/*
 * CPU time and resident memory of a process from /proc (Linux), for --watch-pid and for the
 * bench's own cost. Any thread.
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

#endif

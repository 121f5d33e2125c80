/*
 * Results of a whole run and their three forms: the text table (with ratios to the first
 * target), JSON and CSV. Built on the main thread after the workers are joined.
 */
#ifndef S3LB_BENCH_REPORT_H
#define S3LB_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/opts.h"
#include "bench/proc.h"
#include "bench/stats.h"

/* A watched process (or the bench itself, index 0) over a target's rounds. */
typedef struct bench_proc_res_s {
	char name[32];
	int pid; /* 0: the bench itself */
	bool ok; /* readable in every round */
	double cpu_s;
	uint64_t peak_rss_kb;
} bench_proc_res_t;

/* A watched interface (--watch-net) over a target's rounds: how much its counters grew from
 * before the first connection of each round to after its last one closed, and the body bytes
 * moved in that time (warm-up and the end included). */
typedef struct bench_net_res_s {
	char name[32];
	char dev[32];
	int pid;
	bool ok; /* readable in every round */
	bench_netdev_t d;
	uint64_t body_bytes;
} bench_net_res_t;

typedef struct bench_round_res_s {
	double seconds;
	uint64_t ops, errors, bytes;
	uint64_t p99_ns;
	uint64_t phase_bytes; /* body bytes of the whole round, warm-up and the end included */
	uint64_t net_tx[BENCH_MAX_WATCH],
	    net_rx[BENCH_MAX_WATCH]; /* per --watch-net, whole round */
	double sys_busy_s;           /* --watch-system, window */
} bench_round_res_t;

typedef struct bench_target_res_s {
	const bench_target_t *t;
	bench_stats_t *stats; /* the measured windows of every round */
	bench_stats_t *other; /* setup, prepare, warm-up, cleanup */
	double seconds;       /* measured time over the rounds */
	bench_round_res_t *rounds;
	unsigned nrounds;
	bench_proc_res_t procs[BENCH_MAX_WATCH + 1];
	unsigned nprocs;
	bench_net_res_t nets[BENCH_MAX_WATCH];
	unsigned nnets;
	bool sys_ok;        /* --watch-system given and /proc/stat readable in every round */
	bench_syscpu_t sys; /* the system's CPU time in the measured windows */
	uint64_t prepared;  /* objects written by the prepare phase */
	double prepare_s;
	bool bucket_created;
	/* --read-back: what the slots were expected to hold, and what was not found so */
	bool rb_done;
	uint64_t rb_present, rb_absent, rb_unknown, rb_lost, rb_unreadable;
} bench_target_res_t;

typedef struct bench_results_s {
	const bench_opts_t *o;
	char started[32]; /* UTC, ISO 8601 */
	bench_target_res_t targets[BENCH_MAX_TARGETS];
	unsigned ntargets;
} bench_results_t;

/* Figures of one operation kind (or the total) as the reports show them. */
typedef struct bench_figures_s {
	uint64_t ops, errors, requests, bytes;
	double ops_s, mb_s;
	double p50, p90, p99, p999, max, mean; /* latency, ms */
	double t50, t90, t99;                  /* time to first byte, ms */
} bench_figures_t;

void bench_figures(const bench_opstats_t *s, double seconds, bench_figures_t *f);

void bench_report_text(FILE *f, const bench_results_t *r);
__attribute__((warn_unused_result)) int
bench_report_json(const char *path, const bench_results_t *r, char *err, size_t errlen);
__attribute__((warn_unused_result)) int bench_report_csv(const char *path, const bench_results_t *r,
                                                         char *err, size_t errlen);

#endif

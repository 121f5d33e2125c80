/*
 * What a phase measured, per operation kind: counts, bytes, latency and time-to-first-byte
 * histograms, and errors by kind ("404 NoSuchKey", "verify", "timeout", ...). Each worker fills
 * its own; they are merged when the workers are done. Not thread-safe.
 */
#ifndef S3LB_BENCH_STATS_H
#define S3LB_BENCH_STATS_H

#include <stdint.h>

#include "bench/hist.h"
#include "bench/opts.h"

#define BENCH_ERR_SLOTS 12 /* distinct kinds kept per operation; more go to "other" */

typedef struct bench_errkind_s {
	char what[48];
	uint64_t n;
} bench_errkind_t;

typedef struct bench_opstats_s {
	uint64_t ops;      /* completed (successful or not) */
	uint64_t errors;   /* of which failed */
	uint64_t requests; /* HTTP requests (a multipart upload makes several) */
	uint64_t bytes;    /* body bytes moved (sent for writes, received for reads) */
	bench_hist_t lat;  /* ns, from the intended start to the end */
	bench_hist_t ttfb; /* ns, from the intended start to the first response byte */
	bench_errkind_t err[BENCH_ERR_SLOTS];
	char first_error[256]; /* the first failure in full, for the report */
} bench_opstats_t;

typedef struct bench_stats_s {
	bench_opstats_t op[BENCH_OP_KINDS];
	uint64_t missed; /* open loop: operations due but never started */
} bench_stats_t;

bench_stats_t *bench_stats_new(void);
void bench_stats_free(bench_stats_t *s);
void bench_stats_reset(bench_stats_t *s);
void bench_stats_merge(bench_stats_t *dst, const bench_stats_t *src);

/* Counts one error of a kind; detail (may be NULL) is kept when it is the first error. */
void bench_stats_error(bench_opstats_t *s, const char *what, const char *detail);

/* Sums over the public kinds (not the bucket's): ops, errors, requests, bytes, histograms. */
void bench_stats_total(const bench_stats_t *s, bench_opstats_t *out);
uint64_t bench_stats_errors(const bench_stats_t *s); /* every kind, bucket included */

#endif

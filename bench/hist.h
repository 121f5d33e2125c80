/*
 * Latency histogram with bounded relative error (log-linear buckets, as HdrHistogram does).
 *
 * Values below 2^(BENCH_HIST_SUB_BITS + 1) get one bucket each; above, every power-of-two range
 * [2^k, 2^(k+1)) is cut into 2^BENCH_HIST_SUB_BITS equal buckets. A bucket is therefore never
 * wider than 1/128 of the values it holds, and a percentile read back as the bucket's midpoint is
 * within 1/256 (0.4%) of a value that was recorded. Values at or above BENCH_HIST_MAX are
 * clamped into the last bucket (max still keeps the exact value).
 *
 * Fixed size, no allocation: a histogram can live in any struct and be merged by adding counts,
 * so each connection or thread records on its own and the results are combined at the end.
 * Not thread-safe; one owner at a time.
 */
#ifndef S3LB_BENCH_HIST_H
#define S3LB_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_MAX_LOG2 44 /* 2^44 ns is about 4.9 hours */
#define BENCH_HIST_MAX      (1ull << BENCH_HIST_MAX_LOG2)
#define BENCH_HIST_BUCKETS  ((BENCH_HIST_MAX_LOG2 - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

typedef struct bench_hist_s {
	uint64_t count;
	uint64_t min, max; /* exact; min is UINT64_MAX while empty */
	double sum;        /* for the mean */
	uint64_t counts[BENCH_HIST_BUCKETS];
} bench_hist_t;

void bench_hist_init(bench_hist_t *h);
void bench_hist_record(bench_hist_t *h, uint64_t v);
void bench_hist_merge(bench_hist_t *dst, const bench_hist_t *src);

/* The value at percentile p (0 < p <= 100): the midpoint of the bucket holding the
 * ceil(p/100 * count)-th smallest value, kept within [min, max]; 0 when empty. */
uint64_t bench_hist_percentile(const bench_hist_t *h, double p);
double bench_hist_mean(const bench_hist_t *h);

/* Bucket mapping, exposed for the tests. */
unsigned bench_hist_index(uint64_t v);
uint64_t bench_hist_bucket_low(unsigned i);
uint64_t bench_hist_bucket_width(unsigned i);

#endif

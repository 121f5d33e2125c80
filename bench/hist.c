/*
 * Log-linear histogram (see hist.h). Index of v: with g = max(0, msb(v) - SUB_BITS), the bucket is
 * (g << SUB_BITS) + (v >> g). For v < 2^(SUB_BITS+1) that is v itself; above, each group g holds
 * the values [2^(SUB_BITS+g), 2^(SUB_BITS+g+1)) in 2^SUB_BITS buckets of width 2^g.
 */
#include <math.h>
#include <string.h>

#include "bench/hist.h"

#define SUB (1u << BENCH_HIST_SUB_BITS)

unsigned bench_hist_index(uint64_t v)
{
	unsigned msb, g;
	if (v >= BENCH_HIST_MAX)
		return BENCH_HIST_BUCKETS - 1;
	if (v < 2 * SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	g = msb - BENCH_HIST_SUB_BITS;
	return (g << BENCH_HIST_SUB_BITS) + (unsigned)(v >> g);
}

/* Group of bucket i: buckets [0, 2*SUB) are group 0, then SUB per group. */
static unsigned group_of(unsigned i)
{
	return i < 2 * SUB ? 0 : (i >> BENCH_HIST_SUB_BITS) - 1;
}

uint64_t bench_hist_bucket_low(unsigned i)
{
	unsigned g = group_of(i);
	return (uint64_t)(i - (g << BENCH_HIST_SUB_BITS)) << g;
}

uint64_t bench_hist_bucket_width(unsigned i)
{
	return 1ull << group_of(i);
}

void bench_hist_init(bench_hist_t *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void bench_hist_record(bench_hist_t *h, uint64_t v)
{
	h->counts[bench_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void bench_hist_merge(bench_hist_t *dst, const bench_hist_t *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t bench_hist_percentile(const bench_hist_t *h, double p)
{
	uint64_t rank, seen = 0, v;
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		v = bench_hist_bucket_low(i) + bench_hist_bucket_width(i) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double bench_hist_mean(const bench_hist_t *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

/*
 * bench/hist.c: the bucket mapping covers every value exactly once with width at most 1/128 of
 * the value; percentiles stay within 1/256 of the exact order statistic; merging equals
 * recording everything in one histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/hist.h"
#include "bench/rand.h"

static bench_hist_t *new_hist(void)
{
	bench_hist_t *h = malloc(sizeof(*h));
	assert_non_null(h);
	bench_hist_init(h);
	return h;
}

static void mapping(void **state)
{
	bench_rng_t r;
	uint64_t prev_end = 0;
	(void)state;
	/* Buckets tile [0, MAX) without gaps or overlaps, in index order. */
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		uint64_t lo = bench_hist_bucket_low(i), w = bench_hist_bucket_width(i);
		assert_int_equal(lo, prev_end);
		assert_int_equal(bench_hist_index(lo), i);
		assert_int_equal(bench_hist_index(lo + w - 1), i);
		if (lo >= 256)
			assert_true(w * 128 <= lo);
		prev_end = lo + w;
	}
	assert_int_equal(prev_end, BENCH_HIST_MAX);
	/* Random values land in the bucket that holds them. */
	bench_rng_seed(&r, 7);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = bench_rng_next(&r) >> (bench_rng_next(&r) % 64);
		unsigned idx = bench_hist_index(v);
		if (v >= BENCH_HIST_MAX) {
			assert_int_equal(idx, BENCH_HIST_BUCKETS - 1);
			continue;
		}
		assert_true(bench_hist_bucket_low(idx) <= v);
		assert_true(v < bench_hist_bucket_low(idx) + bench_hist_bucket_width(idx));
	}
	for (uint64_t v = 0; v < 256; v++)
		assert_int_equal(bench_hist_index(v), v); /* small values are exact */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void relative_error(void **state)
{
	const int n = 200000;
	const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
	uint64_t *v = malloc(sizeof(*v) * (size_t)n);
	bench_hist_t *h = new_hist();
	bench_rng_t r;
	(void)state;

	assert_non_null(v);
	bench_rng_seed(&r, 42);
	for (int i = 0; i < n; i++) {
		/* log-uniform over 1 us .. 10 s in ns: many octaves */
		double e = 3.0 + 7.0 * bench_rng_unit(bench_rng_next(&r));
		v[i] = (uint64_t)__builtin_exp(e * 2.302585092994046);
		bench_hist_record(h, v[i]);
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)__builtin_ceil(ps[i] / 100.0 * n);
		double exact = (double)v[rank - 1], got = (double)bench_hist_percentile(h, ps[i]);
		assert_true(__builtin_fabs(got - exact) <= exact / 256.0 + 1.0);
	}
	assert_int_equal(bench_hist_percentile(h, 100), v[n - 1]);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	assert_int_equal(h->count, n);
	free(v);
	free(h);
}

static void merge(void **state)
{
	bench_hist_t *a = new_hist(), *b = new_hist(), *all = new_hist();
	bench_rng_t r;
	(void)state;
	bench_rng_seed(&r, 3);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = bench_rng_below(&r, 1 + bench_rng_below(&r, 1ull << 40));
		bench_hist_record(i % 3 ? a : b, v);
		bench_hist_record(all, v);
	}
	bench_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
	assert_int_equal(bench_hist_percentile(a, 99.9), bench_hist_percentile(all, 99.9));
	/* Merging an empty histogram changes nothing. */
	bench_hist_init(b);
	bench_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	free(a);
	free(b);
	free(all);
}

static void small_cases(void **state)
{
	bench_hist_t *h = new_hist();
	(void)state;
	assert_int_equal(bench_hist_percentile(h, 50), 0); /* empty */
	assert_true(bench_hist_mean(h) == 0.0);
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_record(h, v);
	assert_int_equal(bench_hist_percentile(h, 50), 50);
	assert_int_equal(bench_hist_percentile(h, 99), 99);
	assert_int_equal(bench_hist_percentile(h, 100), 100);
	assert_int_equal(bench_hist_percentile(h, 0.001), 1);
	assert_true(bench_hist_mean(h) == 50.5);
	/* One huge value: clamped into the last bucket, but max and percentiles stay exact. */
	bench_hist_init(h);
	bench_hist_record(h, BENCH_HIST_MAX * 4);
	assert_int_equal(h->counts[BENCH_HIST_BUCKETS - 1], 1);
	assert_int_equal(bench_hist_percentile(h, 50), BENCH_HIST_MAX * 4);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(mapping),
	    cmocka_unit_test(relative_error),
	    cmocka_unit_test(merge),
	    cmocka_unit_test(small_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

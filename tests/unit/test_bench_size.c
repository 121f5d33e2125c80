/* bench/size.c: parsing, bounds and the log-uniform shape of the size distribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/rand.h"
#include "bench/size.h"

static void parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t lo, hi;
	} cases[] = {
	    {"4KiB", 0, 4096, 4096},
	    {"0", 0, 0, 0},
	    {"1000", 0, 1000, 1000},
	    {"1KiB..64MiB", 0, 1024, 64ull << 20},
	    {"10kB..10MB", 0, 10000, 10000000},
	    {"5..5", 0, 5, 5},
	    {"0..1KiB", -1, 0, 0},
	    {"2KiB..1KiB", -1, 0, 0},
	    {"1KiB..", -1, 0, 0},
	    {"..1KiB", -1, 0, 0},
	    {"abc", -1, 0, 0},
	    {"4kiB", -1, 0, 0},
	    {"1KiB...2KiB", -1, 0, 0},
	    {"", -1, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bench_size_t d;
		const char *why = NULL;
		int rc = bench_size_parse(cases[i].in, &d, &why);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d", cases[i].in, rc);
		if (rc == 0) {
			assert_int_equal(d.lo, cases[i].lo);
			assert_int_equal(d.hi, cases[i].hi);
		} else {
			assert_non_null(why);
		}
	}
}

static void format(void **state)
{
	bench_size_t d = {4096, 4096};
	char buf[64];
	(void)state;
	bench_size_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "4KiB");
	d.lo = 1024;
	d.hi = 64ull << 20;
	bench_size_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "1KiB..64MiB");
}

static void bounds(void **state)
{
	const bench_size_t ds[] = {
	    {1, 1}, {1, 2}, {1024, 64ull << 20}, {1000, 1001}, {7, 1ull << 40}};
	bench_rng_t r;
	(void)state;
	bench_rng_seed(&r, 11);
	for (size_t k = 0; k < sizeof(ds) / sizeof(ds[0]); k++) {
		const bench_size_t *d = &ds[k];
		bool saw_lo = false, saw_hi = false;
		assert_true(bench_size_pick(d, 0) >= d->lo);
		assert_true(bench_size_pick(d, UINT64_MAX) <= d->hi);
		for (int i = 0; i < 200000; i++) {
			uint64_t s = bench_size_pick(d, bench_rng_next(&r));
			assert_true(s >= d->lo && s <= d->hi);
			saw_lo |= s == d->lo;
			saw_hi |= s == d->hi;
		}
		if (d->hi - d->lo < 4) { /* every value of a narrow range comes out */
			assert_true(saw_lo);
			assert_true(saw_hi);
		}
	}
}

static void log_uniform(void **state)
{
	/* 1KiB..1MiB is ten octaves: each should get a tenth of the draws. */
	const bench_size_t d = {1024, (1u << 20) - 1};
	unsigned octave[10] = {0};
	const int n = 200000;
	bench_rng_t r;
	double mean = 0;
	(void)state;
	bench_rng_seed(&r, 5);
	for (int i = 0; i < n; i++) {
		uint64_t s = bench_size_pick(&d, bench_rng_next(&r));
		int o = 63 - __builtin_clzll(s) - 10;
		assert_true(o >= 0 && o < 10);
		octave[o]++;
		mean += (double)s / n;
	}
	for (int o = 0; o < 10; o++)
		assert_true(octave[o] > n / 10 * 0.95 && octave[o] < n / 10 * 1.05);
	/* bench_size_mean agrees with the sample mean (within 2%). */
	assert_true(__builtin_fabs(mean - bench_size_mean(&d)) < 0.02 * mean);
	/* The same random value gives the same size: objects are reproducible. */
	assert_int_equal(bench_size_pick(&d, 12345), bench_size_pick(&d, 12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse),
	    cmocka_unit_test(format),
	    cmocka_unit_test(bounds),
	    cmocka_unit_test(log_uniform),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

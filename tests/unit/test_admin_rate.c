/*
 * Unit tests for admin/rate.c: the one-minute ring with fewer than 60 samples, full and wrapped
 * around several times, counters that restart from 0, and the rings by name across reloads
 * (series removed and added).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/rate.h"

#define assert_close(a, b) assert_true((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

static void test_empty_and_one(void **state)
{
	adm_ring_t r = {0};
	adm_rate_t x;
	(void)state;

	x = adm_ring_rate(&r);
	assert_close(x.req_s, 0);
	assert_close(x.err_s, 0);
	assert_close(x.window_s, 0);
	adm_ring_push(&r, 1000, 500, 7);
	x = adm_ring_rate(
	    &r); /* one sample: no interval yet, and a counter since start is no rate */
	assert_close(x.req_s, 0);
	assert_close(x.window_s, 0);
}

/* Fewer than 60 intervals: the rate over the time the ring covers. */
static void test_partial(void **state)
{
	adm_ring_t r = {0};
	adm_rate_t x;
	(void)state;

	for (unsigned i = 0; i <= 10; i++)
		adm_ring_push(&r, 5000 + i * 1000, 100 + i * 20, i / 2);
	assert_int_equal(r.n, 11);
	x = adm_ring_rate(&r);
	assert_close(x.window_s, 10);
	assert_close(x.req_s, 20);
	assert_close(x.err_s, 0.5);

	/* a sample at the same time as the previous adds no time and no division by zero */
	adm_ring_t s = {0};
	adm_ring_push(&s, 7000, 1, 1);
	adm_ring_push(&s, 7000, 9, 1);
	x = adm_ring_rate(&s);
	assert_close(x.req_s, 0);
	assert_close(x.window_s, 0);
}

/* Full, then wrapped around: only the last 61 samples (60 s) count. */
static void test_wrap(void **state)
{
	adm_ring_t r = {0};
	adm_rate_t x;
	uint64_t req = 0;
	(void)state;

	/* 100 s at 1000 req/s, then 150 s at 10 req/s: the ring wraps more than three times */
	for (unsigned t = 0; t <= 250; t++) {
		adm_ring_push(&r, (uint64_t)t * 1000, req, t);
		req += t < 100 ? 1000 : 10;
		if (t == 60) {
			x = adm_ring_rate(&r); /* exactly full */
			assert_int_equal(r.n, ADM_RATE_SLOTS);
			assert_close(x.window_s, 60);
			assert_close(x.req_s, 1000);
		}
		if (t == 130) {
			/* last 60 s: 100 -> 130 at 10/s after 70 -> 100 at 1000/s */
			x = adm_ring_rate(&r);
			assert_close(x.req_s, (30.0 * 1000 + 30.0 * 10) / 60);
		}
	}
	x = adm_ring_rate(&r);
	assert_int_equal(r.n, ADM_RATE_SLOTS);
	assert_close(x.window_s, 60);
	assert_close(x.req_s, 10);
	assert_close(x.err_s, 1);
	/* irregular ticks (a busy loop): the window is the real time covered */
	adm_ring_push(&r, 252500, req + 25, 252);
	x = adm_ring_rate(&r);
	assert_close(x.window_s, 61.5);
	assert_close(x.req_s, (60.0 * 10 + 25) / 61.5);
}

/* A counter that goes down restarted from 0: its new value is the increase. */
static void test_reset(void **state)
{
	adm_ring_t r = {0};
	adm_rate_t x;
	(void)state;

	adm_ring_push(&r, 0, 1000, 50);
	adm_ring_push(&r, 1000, 1010, 51);
	adm_ring_push(&r, 2000, 4, 0); /* restarted: 4 requests since */
	adm_ring_push(&r, 3000, 14, 2);
	x = adm_ring_rate(&r);
	assert_close(x.window_s, 3);
	assert_close(x.req_s, (10.0 + 4 + 10) / 3);
	assert_close(x.err_s, (1.0 + 0 + 2) / 3);
	/* never negative, even when everything went down */
	adm_ring_t s = {0};
	adm_ring_push(&s, 0, 900, 9);
	adm_ring_push(&s, 1000, 0, 0);
	x = adm_ring_rate(&s);
	assert_close(x.req_s, 0);
	assert_close(x.err_s, 0);
}

/* Rings by name: rounds, a removed node dropped, a re-added one starting afresh. */
static void test_rates_by_name(void **state)
{
	adm_rates_t *rs = adm_rates_new();
	adm_rate_t x;
	(void)state;

	for (unsigned t = 0; t <= 5; t++) {
		adm_rates_begin(rs, 10000 + t * 1000);
		adm_rates_put(rs, "p", NULL, t * 30, t);
		adm_rates_put(rs, "p", "a", t * 10, 0);
		adm_rates_put(rs, "p", "b", t * 20, t);
		adm_rates_put(rs, "q", "a", t * 5, 0); /* same node name, another pool */
		adm_rates_end(rs);
	}
	assert_int_equal(adm_rates_count(rs), 4);
	x = adm_rates_get(rs, "p", NULL);
	assert_close(x.req_s, 30);
	assert_close(x.err_s, 1);
	assert_close(x.window_s, 5);
	assert_close(adm_rates_get(rs, "p", "a").req_s, 10);
	assert_close(adm_rates_get(rs, "p", "b").req_s, 20);
	assert_close(adm_rates_get(rs, "q", "a").req_s, 5);
	assert_close(adm_rates_get(rs, "q", NULL).req_s, 0); /* never sampled */
	assert_close(adm_rates_get(rs, "nope", "a").window_s, 0);

	/* a reload removed p/a: dropped at the end of the round, the others keep their rings */
	adm_rates_begin(rs, 16000);
	adm_rates_put(rs, "p", NULL, 180, 6);
	adm_rates_put(rs, "p", "b", 120, 6);
	adm_rates_put(rs, "q", "a", 30, 0);
	adm_rates_end(rs);
	assert_int_equal(adm_rates_count(rs), 3);
	assert_close(adm_rates_get(rs, "p", "a").window_s, 0);
	assert_close(adm_rates_get(rs, "p", "b").req_s, 20);
	assert_close(adm_rates_get(rs, "p", "b").window_s, 6);
	assert_close(adm_rates_get(rs, "q", "a").req_s, 5);

	/* and back: a new ring, its old counter value is no burst */
	adm_rates_begin(rs, 17000);
	adm_rates_put(rs, "p", "a", 1000, 0);
	adm_rates_end(rs);
	assert_close(adm_rates_get(rs, "p", "a").req_s, 0);
	adm_rates_begin(rs, 18000);
	adm_rates_put(rs, "p", "a", 1003, 0);
	adm_rates_end(rs);
	assert_close(adm_rates_get(rs, "p", "a").req_s, 3);
	assert_int_equal(adm_rates_count(rs), 1);

	adm_rates_free(rs);
	adm_rates_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_and_one), cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_wrap),          cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_rates_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

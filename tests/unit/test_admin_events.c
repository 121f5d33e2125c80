/*
 * Unit tests for admin/events.c: the ring of the last health transitions, newest first, before
 * and after it wraps, with NULL and over-long strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/events.h"

static void test_order_and_wrap(void **state)
{
	static adm_events_t e; /* zeroed */
	char node[16];
	(void)state;

	assert_null(adm_events_get(&e, 0));
	adm_events_add(&e, 1000, "p", "n1", "up", "down", "probe: 2 x connection refused");
	assert_int_equal(e.n, 1);
	assert_int_equal(adm_events_get(&e, 0)->time_ms, 1000);
	assert_string_equal(adm_events_get(&e, 0)->reason, "probe: 2 x connection refused");
	assert_null(adm_events_get(&e, 1));

	for (unsigned i = 2; i <= ADM_EVENTS_MAX + 5; i++) {
		snprintf(node, sizeof(node), "n%u", i);
		adm_events_add(&e, i * 1000, "p", node, "down", "up", "probe: 2 x ok");
	}
	assert_int_equal(e.n, ADM_EVENTS_MAX);
	assert_string_equal(adm_events_get(&e, 0)->node, "n37");
	assert_int_equal(adm_events_get(&e, 0)->time_ms, 37000);
	assert_string_equal(adm_events_get(&e, ADM_EVENTS_MAX - 1)->node, "n6"); /* 1..5 dropped */
	assert_null(adm_events_get(&e, ADM_EVENTS_MAX));
	for (size_t i = 1; i < ADM_EVENTS_MAX; i++)
		assert_true(adm_events_get(&e, i)->time_ms < adm_events_get(&e, i - 1)->time_ms);
}

static void test_strings(void **state)
{
	static adm_events_t e;
	char long_reason[400];
	const adm_event_t *x;
	(void)state;

	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = 0;
	adm_events_add(&e, 5, NULL, "n", "up", "draining", long_reason);
	x = adm_events_get(&e, 0);
	assert_string_equal(x->pool, "");
	assert_string_equal(x->to, "draining");
	assert_int_equal(strlen(x->reason), sizeof(x->reason) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_wrap),
	    cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

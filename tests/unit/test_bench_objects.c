/* bench/objects.c: who may take which slot, and what a finished operation leaves behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/objects.h"

static void take_give(void **state)
{
	bench_objects_t t;
	bench_size_t sz = {1024, 1 << 20};
	bench_rng_t r;
	uint32_t slot, gen, s2, g2;
	char key[64];
	(void)state;
	bench_rng_seed(&r, 1);
	bench_objects_init(&t, 2, "p/", &sz, 9, true, false);
	assert_int_equal(bench_objects_key(&t, 1, key, sizeof(key)), 11);
	assert_string_equal(key, "p/o00000001");
	/* Nothing to read or delete while every slot is absent. */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_READ, &slot, &gen), -1);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_DELETE, &slot, &gen), -1);
	/* A write takes a slot alone and gets the next version. */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &slot, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &s2, &g2), 0);
	assert_int_not_equal(s2, slot);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &s2, &g2), -1);
	bench_objects_give(&t, slot, BENCH_TAKE_WRITE, true, gen);
	assert_int_equal(t.present, 1);
	/* Readers share; a writer or deleter waits for them. */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_READ, &s2, &g2), 0);
	assert_int_equal(s2, slot);
	assert_int_equal(g2, 1);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_READ, &s2, &g2), 0);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_DELETE, &s2, &g2), -1);
	bench_objects_give(&t, slot, BENCH_TAKE_READ, true, 1);
	bench_objects_give(&t, slot, BENCH_TAKE_READ, true, 1);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_DELETE, &s2, &g2), 0);
	assert_int_equal(s2, slot);
	bench_objects_give(&t, slot, BENCH_TAKE_DELETE, false, g2); /* failed: unknown */
	assert_int_equal(bench_objects_state(&t, slot), BENCH_OBJ_UNKNOWN);
	assert_int_equal(t.present, 0);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_READ, &s2, &g2), -1);
	/* Sizes are a function of (seed, slot, version). */
	assert_int_equal(bench_objects_size(&t, 0, 3), bench_objects_size(&t, 0, 3));
	assert_true(bench_objects_size(&t, 0, 3) >= 1024);
	bench_objects_free(&t);

	/* Read-only tables take no lock and never change. */
	bench_objects_init(&t, 4, "", &sz, 9, false, true);
	assert_int_equal(t.present, 4);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_READ, &slot, &gen), 0);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &slot, &gen), -1);
	bench_objects_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(take_give),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

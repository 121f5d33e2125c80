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

/* One slot through a sequence of operations: what --read-back must accept afterwards. */
static void expect_after(void **state)
{
	bench_objects_t t;
	bench_size_t sz = {1024, 1 << 20};
	bench_rng_t r;
	bench_obj_expect_t e;
	uint32_t slot, gen;
	(void)state;
	bench_rng_seed(&r, 1);
	bench_objects_init(&t, 1, "", &sz, 9, true, false);

	/* A failed prepare PUT: version 0, or nothing. */
	bench_objects_set(&t, 0, BENCH_OBJ_UNKNOWN);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.state, BENCH_OBJ_UNKNOWN);
	assert_int_equal(e.lo, 0);
	assert_int_equal(e.gen, 0);
	assert_true(e.maybe_absent);
	/* An acknowledged write: exactly its version. */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &slot, &gen), 0);
	assert_int_equal(gen, 1);
	bench_objects_give(&t, slot, BENCH_TAKE_WRITE, true, gen);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.state, BENCH_OBJ_PRESENT);
	assert_int_equal(e.lo, 1);
	assert_int_equal(e.gen, 1);
	assert_false(e.maybe_absent);
	/* Two failed writes over it: version 1, 2 or 3, never nothing. */
	for (uint32_t want = 2; want <= 3; want++) {
		assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &slot, &gen), 0);
		assert_int_equal(gen, want);
		bench_objects_give(&t, slot, BENCH_TAKE_WRITE, false, gen);
	}
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.state, BENCH_OBJ_UNKNOWN);
	assert_int_equal(e.lo, 1);
	assert_int_equal(e.gen, 3);
	assert_false(e.maybe_absent);
	/* A failed delete adds "nothing". */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_DELETE, &slot, &gen), 0);
	bench_objects_give(&t, slot, BENCH_TAKE_DELETE, false, gen);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.lo, 1);
	assert_int_equal(e.gen, 3);
	assert_true(e.maybe_absent);
	/* An acknowledged delete: nothing; then a failed write: that version or nothing. */
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_DELETE, &slot, &gen), 0);
	bench_objects_give(&t, slot, BENCH_TAKE_DELETE, true, gen);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.state, BENCH_OBJ_ABSENT);
	assert_int_equal(bench_objects_take(&t, &r, BENCH_TAKE_WRITE, &slot, &gen), 0);
	assert_int_equal(gen, 4);
	bench_objects_give(&t, slot, BENCH_TAKE_WRITE, false, gen);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.state, BENCH_OBJ_UNKNOWN);
	assert_int_equal(e.lo, 4);
	assert_int_equal(e.gen, 4);
	assert_true(e.maybe_absent);
	/* A failed cleanup DELETE keeps the versions and adds nothing. */
	bench_objects_set(&t, 0, BENCH_OBJ_UNKNOWN);
	bench_objects_expect(&t, 0, &e);
	assert_int_equal(e.lo, 4);
	assert_int_equal(e.gen, 4);
	assert_true(e.maybe_absent);
	bench_objects_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(take_give),
	    cmocka_unit_test(expect_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

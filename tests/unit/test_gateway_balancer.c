/* Unit tests for gateway/balancer.c: round-robin, least-requests (P2C) and rendezvous hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Included to reach the statics (ln_pos); its public symbols then come from here. */
#include "gateway/balancer.c"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void make_nodes(gw_lb_node_t *nodes, size_t n, const uint32_t *weights)
{
	static const char *const names[] = {"rgw1", "rgw2", "rgw3", "rgw4", "rgw5", "rgw6"};
	assert_true(n <= NELEM(names));
	for (size_t i = 0; i < n; i++) {
		nodes[i] = (gw_lb_node_t){
		    .name = names[i], .weight = weights[i], .outstanding = 0, .available = true};
	}
}

/* Fills nodes[] (all available, idle) and returns a balancer over them. */
static gw_balancer_t *setup(lb_balance_t kind, gw_lb_node_t *nodes, size_t n,
                            const uint32_t *weights)
{
	make_nodes(nodes, n, weights);
	gw_balancer_t *b = gw_balancer_new(kind, nodes, n);
	assert_non_null(b);
	return b;
}

static int pick(gw_balancer_t *b, const uint8_t *tried)
{
	return gw_balancer_pick(b, tried, NULL, 0);
}

static int pick_key(gw_balancer_t *b, const uint8_t *tried, const char *key)
{
	return gw_balancer_pick(b, tried, key, strlen(key));
}

static void key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "bucket-%d/objects/%08d.bin", i % 7, i);
}

/* ---- round-robin ---- */

static void test_rr_exact_proportions(void **state)
{
	const uint32_t w[] = {1, 2, 3};
	gw_lb_node_t nodes[3];
	gw_balancer_t *b = setup(LB_BALANCE_ROUND_ROBIN, nodes, 3, w);
	int count[3] = {0};
	int window[3] = {0};
	for (int i = 0; i < 600; i++) {
		int p = pick(b, NULL);
		assert_in_range(p, 0, 2);
		count[p]++;
		window[p]++;
		/* Smooth: every cycle of sum(weights) picks already has the exact proportions. */
		if ((i + 1) % 6 == 0) {
			assert_int_equal(window[0], 1);
			assert_int_equal(window[1], 2);
			assert_int_equal(window[2], 3);
			memset(window, 0, sizeof(window));
		}
	}
	assert_int_equal(count[0], 100);
	assert_int_equal(count[1], 200);
	assert_int_equal(count[2], 300);
	gw_balancer_free(b);
}

static void test_rr_not_bursty(void **state)
{
	/* {5,1,1} gives nginx's documented smooth sequence a a b a c a a, not a a a a a b c. */
	const uint32_t w[] = {5, 1, 1};
	const int want[7] = {0, 0, 1, 0, 2, 0, 0};
	gw_lb_node_t nodes[3];
	gw_balancer_t *b = setup(LB_BALANCE_ROUND_ROBIN, nodes, 3, w);
	for (int i = 0; i < 70; i++)
		assert_int_equal(pick(b, NULL), want[i % 7]);
	gw_balancer_free(b);
}

static void test_rr_skips_unavailable_and_tried(void **state)
{
	const uint32_t w[] = {1, 2, 3};
	gw_lb_node_t nodes[3];
	gw_balancer_t *b = setup(LB_BALANCE_ROUND_ROBIN, nodes, 3, w);

	nodes[2].available = false;
	int count[3] = {0};
	for (int i = 0; i < 300; i++)
		count[pick(b, NULL)]++;
	assert_int_equal(count[0], 100);
	assert_int_equal(count[1], 200);
	assert_int_equal(count[2], 0);

	nodes[2].available = true;
	uint8_t tried[3] = {0, 1, 0};
	memset(count, 0, sizeof(count));
	for (int i = 0; i < 400; i++)
		count[pick(b, tried)]++;
	assert_int_equal(count[1], 0);
	assert_int_equal(count[0], 100);
	assert_int_equal(count[2], 300);

	uint8_t all[3] = {1, 1, 1};
	assert_int_equal(pick(b, all), -1);
	nodes[0].available = nodes[1].available = nodes[2].available = false;
	assert_int_equal(pick(b, NULL), -1);
	gw_balancer_free(b);
}

/* ---- least outstanding requests, power of two choices ---- */

static void test_p2c_prefers_less_loaded(void **state)
{
	const uint32_t w[] = {1, 1, 1};
	gw_lb_node_t nodes[3];
	gw_balancer_t *b = setup(LB_BALANCE_LEAST_REQUESTS, nodes, 3, w);

	/* Two nodes: both are always the candidates, so the idle one always wins. */
	nodes[0].outstanding = 10;
	nodes[2].available = false;
	for (int i = 0; i < 100; i++)
		assert_int_equal(pick(b, NULL), 1);

	/* Three nodes loaded 0, 5, 10: the busiest loses every pair it is in; the idlest wins
	 * every pair it is in (2 of 3 pairs). */
	nodes[2].available = true;
	nodes[0].outstanding = 0;
	nodes[1].outstanding = 5;
	nodes[2].outstanding = 10;
	int count[3] = {0};
	for (int i = 0; i < 3000; i++)
		count[pick(b, NULL)]++;
	assert_int_equal(count[2], 0);
	assert_in_range(count[0], 1800, 2200);
	assert_in_range(count[1], 800, 1200);
	gw_balancer_free(b);
}

static void test_p2c_weighted(void **state)
{
	/* Load is outstanding / weight: 4 in flight on a weight-4 node beats 2 on a weight-1. */
	const uint32_t w[] = {1, 4};
	gw_lb_node_t nodes[2];
	make_nodes(nodes, 2, w);
	nodes[0].outstanding = 2;
	nodes[1].outstanding = 4;
	gw_balancer_t *b = gw_balancer_new(LB_BALANCE_LEAST_REQUESTS, nodes, 2);
	for (int i = 0; i < 50; i++)
		assert_int_equal(pick(b, NULL), 1);
	nodes[1].outstanding = 9;
	for (int i = 0; i < 50; i++)
		assert_int_equal(pick(b, NULL), 0);
	gw_balancer_free(b);
}

static void test_p2c_never_ineligible(void **state)
{
	const uint32_t w[] = {1, 2, 3, 1, 2, 3};
	gw_lb_node_t nodes[6];
	gw_balancer_t *b = setup(LB_BALANCE_LEAST_REQUESTS, nodes, 6, w);
	uint64_t x = 12345;
	int seen[6] = {0};
	int none = 0;
	for (int i = 0; i < 5000; i++) {
		uint8_t tried[6];
		size_t eligible = 0;
		for (size_t j = 0; j < 6; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			nodes[j].available = (x >> 33) % 3 != 0;
			tried[j] = (x >> 40) % 4 == 0;
			nodes[j].outstanding = (uint32_t)((x >> 45) % 8);
			eligible += nodes[j].available && !tried[j];
		}
		int p = pick(b, tried);
		if (eligible == 0) {
			assert_int_equal(p, -1);
			none++;
			continue;
		}
		assert_in_range(p, 0, 5);
		assert_true(nodes[p].available);
		assert_false(tried[p]);
		seen[p]++;
	}
	assert_true(none > 0);
	for (size_t j = 0; j < 6; j++)
		assert_true(seen[j] > 0);
	gw_balancer_free(b);
}

static void test_p2c_single_and_none(void **state)
{
	const uint32_t w[] = {1, 1, 1};
	gw_lb_node_t nodes[3];
	make_nodes(nodes, 3, w);
	nodes[0].available = false;
	nodes[2].outstanding = 0;
	nodes[1].outstanding = 100; /* busy, but the only candidate */
	gw_balancer_t *b = gw_balancer_new(LB_BALANCE_LEAST_REQUESTS, nodes, 3);
	uint8_t tried[3] = {0, 0, 1};
	for (int i = 0; i < 20; i++)
		assert_int_equal(pick(b, tried), 1);
	tried[1] = 1;
	assert_int_equal(pick(b, tried), -1);
	gw_balancer_free(b);

	gw_balancer_t *empty = gw_balancer_new(LB_BALANCE_LEAST_REQUESTS, nodes, 0);
	assert_int_equal(pick(empty, NULL), -1);
	gw_balancer_free(empty);
}

/* Issue 10: balancer.h promised a reseed that nothing called, so every instance made the same
 * least-requests choices. New instances differ; one seed gives one sequence. */
static void test_p2c_seed(void **state)
{
	const uint32_t w[] = {1, 1, 1, 1, 1};
	gw_lb_node_t nodes[5];
	gw_balancer_t *a = setup(LB_BALANCE_LEAST_REQUESTS, nodes, 5, w);
	gw_balancer_t *b = gw_balancer_new(LB_BALANCE_LEAST_REQUESTS, nodes, 5);
	int first[64];
	int differs = 0;
	for (int i = 0; i < 64; i++) {
		/* Equal loads: the winner is whichever candidate came first, i.e. the PRNG. */
		first[i] = pick(a, NULL);
		differs += pick(b, NULL) != first[i];
	}
	/* 64 picks of 5 equal nodes agreeing by chance: about 0.2^64 */
	assert_true(differs > 0);
	gw_balancer_seed(a, 42);
	gw_balancer_seed(b, 42);
	differs = 0;
	for (int i = 0; i < 64; i++) {
		int p = pick(a, NULL);
		assert_int_equal(pick(b, NULL), p);
		differs += p != first[i];
	}
	assert_true(differs > 0); /* a new seed is a new sequence */
	gw_balancer_free(a);
	gw_balancer_free(b);
}

/* ---- weighted rendezvous hashing ---- */

static void test_hash_stable(void **state)
{
	const uint32_t w[] = {1, 1, 2, 1, 3};
	gw_lb_node_t nodes[5];
	gw_balancer_t *a = setup(LB_BALANCE_HASH_KEY, nodes, 5, w);
	gw_balancer_t *b = gw_balancer_new(LB_BALANCE_HASH_KEY, nodes, 5);
	int count[5] = {0};
	for (int i = 0; i < 1000; i++) {
		char key[64];
		key_of(key, sizeof(key), i);
		int p = pick_key(a, NULL, key);
		assert_in_range(p, 0, 4);
		assert_int_equal(pick_key(a, NULL, key), p);
		assert_int_equal(pick_key(b, NULL, key), p);
		/* Load does not move keys. */
		nodes[(i + 1) % 5].outstanding += 3;
		assert_int_equal(pick_key(a, NULL, key), p);
		count[p]++;
	}
	for (int j = 0; j < 5; j++)
		assert_true(count[j] > 0);
	gw_balancer_free(a);
	gw_balancer_free(b);
}

static void test_hash_distribution(void **state)
{
	const uint32_t w[] = {1, 2, 3, 4};
	gw_lb_node_t nodes[4];
	gw_balancer_t *b = setup(LB_BALANCE_HASH_KEY, nodes, 4, w);
	enum { KEYS = 30000 };
	int count[4] = {0};
	for (int i = 0; i < KEYS; i++) {
		char key[64];
		key_of(key, sizeof(key), i);
		count[pick_key(b, NULL, key)]++;
	}
	for (int j = 0; j < 4; j++) {
		double want = KEYS * (double)w[j] / 10.0;
		if (count[j] < want * 0.85 || count[j] > want * 1.15)
			fail_msg("node %d (weight %u): %d keys, want %.0f +-15%%", j, w[j],
			         count[j], want);
	}
	gw_balancer_free(b);
}

static void test_hash_removal_moves_only_owned_keys(void **state)
{
	const uint32_t w[] = {1, 2, 1, 1};
	gw_lb_node_t four[4];
	make_nodes(four, 4, w);
	/* Without rgw2, in another order: identity is the name, not the index. */
	gw_lb_node_t three[3] = {four[3], four[2], four[0]};
	gw_balancer_t *b4 = gw_balancer_new(LB_BALANCE_HASH_KEY, four, 4);
	gw_balancer_t *b3 = gw_balancer_new(LB_BALANCE_HASH_KEY, three, 3);
	int moved = 0, owned_by_removed = 0;
	int moved_to[3] = {0};
	for (int i = 0; i < 5000; i++) {
		char key[64];
		key_of(key, sizeof(key), i);
		int p4 = pick_key(b4, NULL, key);
		int p3 = pick_key(b3, NULL, key);
		assert_in_range(p3, 0, 2);
		if (p4 == 1) {
			owned_by_removed++;
			moved_to[p3]++;
		} else if (strcmp(four[p4].name, three[p3].name) != 0) {
			moved++;
		}
	}
	assert_int_equal(moved, 0);
	assert_in_range(owned_by_removed, 1500, 2500); /* weight 2 of 5 */
	/* The orphans spread over the survivors rather than landing on one. */
	for (int j = 0; j < 3; j++)
		assert_true(moved_to[j] > owned_by_removed / 10);
	gw_balancer_free(b4);
	gw_balancer_free(b3);
}

static void test_hash_tried_next_best(void **state)
{
	const uint32_t w[] = {1, 1, 1, 1};
	gw_lb_node_t nodes[4];
	gw_balancer_t *b = setup(LB_BALANCE_HASH_KEY, nodes, 4, w);
	for (int i = 0; i < 1000; i++) {
		char key[64];
		key_of(key, sizeof(key), i);
		int first = pick_key(b, NULL, key);
		uint8_t tried[4] = {0};
		tried[first] = 1;
		int second = pick_key(b, tried, key);
		assert_in_range(second, 0, 3);
		assert_int_not_equal(second, first);
		assert_int_equal(pick_key(b, tried, key), second); /* consistent */

		/* The next best is the owner the key would have without the first node. */
		gw_lb_node_t rest[3];
		size_t k = 0;
		for (int j = 0; j < 4; j++) {
			if (j != first)
				rest[k++] = nodes[j];
		}
		gw_balancer_t *b3 = gw_balancer_new(LB_BALANCE_HASH_KEY, rest, 3);
		assert_string_equal(rest[pick_key(b3, NULL, key)].name, nodes[second].name);
		gw_balancer_free(b3);

		/* Unavailable behaves as tried. */
		nodes[first].available = false;
		assert_int_equal(pick_key(b, NULL, key), second);
		nodes[first].available = true;
	}
	uint8_t all[4] = {1, 1, 1, 1};
	assert_int_equal(pick_key(b, all, "b/k"), -1);
	gw_balancer_free(b);
}

static void test_ln(void **state)
{
	/* Reference values from a libm log(). */
	static const double ref[][2] = {
	    {0.5, -0.6931471805599453},
	    {0.9, -0.10536051565782628},
	    {0.1, -2.3025850929940455},
	    {1e-10, -23.025850929940457},
	    {0.999999, -1.000000500029089e-06},
	    {0.75, -0.2876820724517809},
	    {0.70710678, -0.3465735919580042},
	    {0.70710679, -0.3465735778158687},
	    {1.4142135, 0.3465735461755332},
	    {3.0, 1.0986122886681098},
	    {0.9999999999999999, -1.1102230246251565e-16},
	    {5.551115123125783e-17, -37.42994775023705},
	    {123456.789, 11.723646487185881},
	};
	for (size_t i = 0; i < NELEM(ref); i++) {
		double got = ln_pos(ref[i][0]);
		double err = (got - ref[i][1]) / ref[i][1];
		if (err < -1e-14 || err > 1e-14)
			fail_msg("ln(%.17g) = %.17g, want %.17g", ref[i][0], got, ref[i][1]);
	}
	assert_true(ln_pos(1.0) == 0.0);
}

static void test_kinds(void **state)
{
	const uint32_t w[] = {1};
	gw_lb_node_t nodes[1];
	make_nodes(nodes, 1, w);
	assert_null(gw_balancer_new((lb_balance_t)99, nodes, 1));
	const lb_balance_t kinds[] = {LB_BALANCE_ROUND_ROBIN, LB_BALANCE_LEAST_REQUESTS,
	                              LB_BALANCE_HASH_KEY};
	for (size_t i = 0; i < NELEM(kinds); i++) {
		gw_balancer_t *b = gw_balancer_new(kinds[i], nodes, 1);
		assert_non_null(b);
		assert_int_equal(pick_key(b, NULL, "b/k"), 0);
		assert_int_equal(gw_balancer_pick(b, NULL, NULL, 0), 0);
		gw_balancer_free(b);
		b = gw_balancer_new(kinds[i], nodes, 0);
		assert_int_equal(pick_key(b, NULL, "b/k"), -1);
		gw_balancer_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rr_exact_proportions),
	    cmocka_unit_test(test_rr_not_bursty),
	    cmocka_unit_test(test_rr_skips_unavailable_and_tried),
	    cmocka_unit_test(test_p2c_prefers_less_loaded),
	    cmocka_unit_test(test_p2c_weighted),
	    cmocka_unit_test(test_p2c_never_ineligible),
	    cmocka_unit_test(test_p2c_single_and_none),
	    cmocka_unit_test(test_p2c_seed),
	    cmocka_unit_test(test_hash_stable),
	    cmocka_unit_test(test_hash_distribution),
	    cmocka_unit_test(test_hash_removal_moves_only_owned_keys),
	    cmocka_unit_test(test_hash_tried_next_best),
	    cmocka_unit_test(test_ln),
	    cmocka_unit_test(test_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

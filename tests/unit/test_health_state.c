/* health/state.c: rise/fall as a table of probe outcomes, passive ejection and back-off, what
 * counts against a node (500s alone do not), the last usable node spared, drain from every
 * state, jitter bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "health/state.h"

typedef struct {
	const char *name;
	uint32_t rise, fall;
	const char *probes; /* '+' ok, '-' failed */
	const char *states; /* state after each probe: 'U' up, 'D' down */
	const char *flips;  /* '!' where the verdict flipped, '.' where not */
} row_t;

static const row_t rows[] = {
    /* starts UP one failure away from DOWN: a dead node is caught by the first probe */
    {"dead at start", 2, 2, "-", "D", "!"},
    {"alive at start", 2, 2, "++", "UU", ".."},
    {"rise 2 after down", 2, 2, "-++", "DDU", "!.!"},
    {"a failure during a rise restarts it", 2, 2, "-+-++", "DDDDU", "!...!"},
    {"fall 2 once up", 2, 2, "+--", "UUD", "..!"},
    {"a success during a fall restarts it", 2, 2, "+-+-+--", "UUUUUUD", "......!"},
    {"rise 3 fall 1", 3, 1, "+-+++-", "UDDDUD", ".!..!!"},
    {"rise 1 fall 3", 1, 3, "+---+", "UUUDU", "...!!"},
    {"flapping at rise 2 fall 2", 2, 2, "+-+-+-+-", "UUUUUUUU", "........"},
};

static void test_rise_fall_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const row_t *row = &rows[r];
		hc_fsm_t f;
		hc_fsm_init(&f, row->fall);
		for (size_t i = 0; row->probes[i]; i++) {
			bool flipped = hc_fsm_probe(&f, row->probes[i] == '+', row->rise, row->fall,
			                            1000 * i, 60000);
			if ((hc_fsm_state(&f) == HC_UP ? 'U' : 'D') != row->states[i] ||
			    flipped != (row->flips[i] == '!'))
				fail_msg(
				    "%s: after probe %zu ('%c') state %s flipped %d, want %c %c",
				    row->name, i, row->probes[i], hc_state_name(hc_fsm_state(&f)),
				    flipped, row->states[i], row->flips[i]);
		}
	}
}

static void test_moving_means_fast_interval(void **state)
{
	hc_fsm_t f;
	(void)state;
	hc_fsm_init(&f, 3);
	assert_true(hc_fsm_moving(&f)); /* first probes after start come fast */
	hc_fsm_probe(&f, true, 2, 3, 0, 0);
	assert_false(hc_fsm_moving(&f));
	hc_fsm_probe(&f, false, 2, 3, 0, 0);
	assert_true(hc_fsm_moving(&f)); /* falling */
	hc_fsm_probe(&f, false, 2, 3, 0, 0);
	hc_fsm_probe(&f, false, 2, 3, 0, 0);
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	assert_false(hc_fsm_moving(&f));
	hc_fsm_probe(&f, true, 2, 3, 0, 0);
	assert_true(hc_fsm_moving(&f)); /* rising */
}

static void test_passive_threshold_and_backoff(void **state)
{
	hc_fsm_t f;
	(void)state;
	hc_fsm_init(&f, 2);
	hc_fsm_probe(&f, true, 2, 2, 0, 60000);
	/* two failures, a success, two failures: no ejection at threshold 3 */
	assert_false(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 100));
	assert_false(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 100));
	assert_false(hc_fsm_passive(&f, HC_REQ_OK, true, 3, 2000, 30000, 100));
	assert_false(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 100));
	assert_false(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 100));
	assert_int_equal(hc_fsm_state(&f), HC_UP);
	/* the third in a row ejects; a first ejection holds probes back for nothing */
	assert_true(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 1000));
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	assert_int_equal(f.probe_after, 1000);
	/* back through active probes only: rise 2 */
	assert_false(hc_fsm_probe(&f, true, 2, 2, 3000, 60000));
	assert_true(hc_fsm_probe(&f, true, 2, 2, 4000, 60000));
	/* a flapping node: from the second ejection on, the back-off doubles, up to the maximum */
	uint64_t want[] = {2000, 4000, 8000, 16000, 30000};
	for (size_t k = 0; k < 5; k++) {
		uint64_t now = 10000 + 1000 * k;
		for (int i = 0; i < 2; i++)
			hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, now);
		assert_true(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, now));
		assert_int_equal(f.probe_after - now, want[k]);
		hc_fsm_probe(&f, true, 2, 2, now, 60000);
		hc_fsm_probe(&f, true, 2, 2, now, 60000);
		assert_int_equal(hc_fsm_state(&f), HC_UP);
	}
	/* up long enough (the forgive time) after the last ejection: the back-off starts over */
	hc_fsm_probe(&f, true, 2, 2, 14000 + 60000, 60000);
	assert_int_equal(f.ejections, 0);
	for (int i = 0; i < 3; i++)
		hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 80000);
	assert_int_equal(f.probe_after, 80000);
	/* threshold 0: passive health off */
	hc_fsm_init(&f, 2);
	for (int i = 0; i < 100; i++)
		assert_false(hc_fsm_passive(&f, HC_REQ_FAULT, true, 0, 2000, 30000, 0));
	assert_int_equal(hc_fsm_state(&f), HC_UP);
}

/* Defect 15 of issue 9: 500s the requests caused (RGW's ENAMETOOLONG for an over-long key)
 * ejected a healthy node. */
static void test_classify_reports(void **state)
{
	(void)state;
	assert_int_equal(hc_req_classify(true, NULL), HC_REQ_OK);
	assert_int_equal(hc_req_classify(false, "status 500"), HC_REQ_SOFT);
	assert_int_equal(hc_req_classify(false, "status 501"), HC_REQ_SOFT);
	assert_int_equal(hc_req_classify(false, "status 507"), HC_REQ_SOFT);
	assert_int_equal(hc_req_classify(false, "status 502"), HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, "status 503"), HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, "status 504"), HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, "connect failed: connection refused"),
	                 HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, "read timeout"), HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, "sent an invalid response"), HC_REQ_FAULT);
	assert_int_equal(hc_req_classify(false, NULL), HC_REQ_FAULT);
}

static void test_passive_500_alone_never_ejects(void **state)
{
	hc_fsm_t f;
	(void)state;
	hc_fsm_init(&f, 2);
	for (int i = 0; i < 100; i++)
		assert_int_equal(hc_fsm_passive(&f, HC_REQ_SOFT, true, 3, 2000, 30000, 0),
		                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_state(&f), HC_UP);
	assert_int_equal(f.passive_fails, 0);
	/* with other evidence (a fault in the same run) 500s count: fault, 500, 500 ejects */
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 0),
	                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_SOFT, true, 3, 2000, 30000, 0), HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_SOFT, true, 3, 2000, 30000, 0),
	                 HC_PASSIVE_EJECTED);
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	/* a success ends the run and its evidence: 500s alone again count for nothing */
	hc_fsm_probe(&f, true, 1, 2, 0, 60000);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 0),
	                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_OK, true, 3, 2000, 30000, 0), HC_PASSIVE_NONE);
	for (int i = 0; i < 10; i++)
		assert_int_equal(hc_fsm_passive(&f, HC_REQ_SOFT, true, 3, 2000, 30000, 0),
		                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_state(&f), HC_UP);
}

static void test_passive_spares_last_usable_node(void **state)
{
	hc_fsm_t f;
	(void)state;
	hc_fsm_init(&f, 2);
	/* the pool's last usable node: faults past the threshold never eject it, said once */
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 0),
	                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 0),
	                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 0),
	                 HC_PASSIVE_SPARED);
	for (int i = 0; i < 10; i++)
		assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 0),
		                 HC_PASSIVE_NONE);
	assert_int_equal(hc_fsm_state(&f), HC_UP);
	assert_int_equal(f.ejections, 0);
	/* once another node is usable again, the next fault of the run ejects */
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 5),
	                 HC_PASSIVE_EJECTED);
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	/* probes can still take it down whatever the pool: only passive health is held back */
	hc_fsm_probe(&f, true, 1, 1, 10, 60000);
	hc_fsm_probe(&f, false, 1, 1, 20, 60000);
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	/* a success ends a spared run: the next one is told again */
	hc_fsm_probe(&f, true, 1, 1, 30, 60000);
	for (int i = 0; i < 3; i++)
		hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 40);
	hc_fsm_passive(&f, HC_REQ_OK, false, 3, 2000, 30000, 40);
	hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 40);
	hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 40);
	assert_int_equal(hc_fsm_passive(&f, HC_REQ_FAULT, false, 3, 2000, 30000, 40),
	                 HC_PASSIVE_SPARED);
}

static void test_drain_from_every_state(void **state)
{
	hc_fsm_t f;
	(void)state;
	/* from UP */
	hc_fsm_init(&f, 2);
	assert_true(hc_fsm_drain(&f, true));
	assert_int_equal(hc_fsm_state(&f), HC_DRAINING);
	assert_false(hc_fsm_drain(&f, true)); /* again: nothing changes */
	/* probes go on while draining but never undrain */
	hc_fsm_probe(&f, false, 2, 2, 0, 0);
	hc_fsm_probe(&f, false, 2, 2, 0, 0);
	assert_int_equal(hc_fsm_state(&f), HC_DRAINING);
	/* undrain reveals the probes' verdict (down now) */
	assert_true(hc_fsm_drain(&f, false));
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
	/* from DOWN */
	assert_true(hc_fsm_drain(&f, true));
	assert_int_equal(hc_fsm_state(&f), HC_DRAINING);
	hc_fsm_probe(&f, true, 2, 2, 0, 0);
	hc_fsm_probe(&f, true, 2, 2, 0, 0);
	assert_int_equal(hc_fsm_state(&f), HC_DRAINING);
	assert_true(hc_fsm_drain(&f, false));
	assert_int_equal(hc_fsm_state(&f), HC_UP);
	/* undrain of a node that is not drained: no transition */
	assert_false(hc_fsm_drain(&f, false));
	/* passive ejection while draining: stays DRAINING, comes back DOWN */
	hc_fsm_drain(&f, true);
	for (int i = 0; i < 3; i++)
		hc_fsm_passive(&f, HC_REQ_FAULT, true, 3, 2000, 30000, 0);
	assert_int_equal(hc_fsm_state(&f), HC_DRAINING);
	hc_fsm_drain(&f, false);
	assert_int_equal(hc_fsm_state(&f), HC_DOWN);
}

static void test_jitter_bounds(void **state)
{
	uint64_t lo = UINT64_MAX, hi = 0, x = 88172645463325252ULL;
	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t v;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = hc_jittered(1000, 10, x);
		assert_true(v >= 900 && v <= 1100);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	/* the whole range is used, so probes spread out */
	assert_true(lo <= 905 && hi >= 1095);
	assert_int_equal(hc_jittered(1000, 0, x), 1000);
	assert_int_equal(hc_jittered(3, 10, x), 3); /* too short to jitter */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rise_fall_table),
	    cmocka_unit_test(test_moving_means_fast_interval),
	    cmocka_unit_test(test_passive_threshold_and_backoff),
	    cmocka_unit_test(test_classify_reports),
	    cmocka_unit_test(test_passive_500_alone_never_ejects),
	    cmocka_unit_test(test_passive_spares_last_usable_node),
	    cmocka_unit_test(test_drain_from_every_state),
	    cmocka_unit_test(test_jitter_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

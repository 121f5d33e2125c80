/* handoff/decide: the decision table, one row per case, and the reason names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "handoff/decide.h"

#define MiB (1ull << 20)

/* route configs the rows use */
enum { C_NONE, C_OFF, C_GET_HEAD, C_GET, C_HEAD, C_UNKNOWN_HANDOFF, C_MIN0, C_MIN0_PROXY };
static const lb_route_handoff_t confs[] = {
    [C_NONE] = {0},
    [C_OFF] = {.enabled = false, .ops = LB_HANDOFF_GET | LB_HANDOFF_HEAD, .min_size = MiB},
    [C_GET_HEAD] = {.enabled = true, .ops = LB_HANDOFF_GET | LB_HANDOFF_HEAD, .min_size = MiB},
    [C_GET] = {.enabled = true, .ops = LB_HANDOFF_GET, .min_size = MiB},
    [C_HEAD] = {.enabled = true, .ops = LB_HANDOFF_HEAD, .min_size = MiB},
    [C_UNKNOWN_HANDOFF] = {.enabled = true,
                           .ops = LB_HANDOFF_GET | LB_HANDOFF_HEAD,
                           .min_size = MiB,
                           .unknown_size = LB_HANDOFF_UNKNOWN_HANDOFF},
    [C_MIN0] = {.enabled = true,
                .ops = LB_HANDOFF_GET,
                .min_size = 0,
                .unknown_size = LB_HANDOFF_UNKNOWN_HANDOFF},
    [C_MIN0_PROXY] = {.enabled = true, .ops = LB_HANDOFF_GET, .min_size = 0},
};

#define EXACT(n)                                                                                   \
	{                                                                                          \
		HO_SIZE_EXACT, n                                                                   \
	}
#define AT_MOST(n)                                                                                 \
	{                                                                                          \
		HO_SIZE_AT_MOST, n                                                                 \
	}
#define UNKNOWN                                                                                    \
	{                                                                                          \
		HO_SIZE_UNKNOWN, 0                                                                 \
	}
#define BIG EXACT(8 * MiB)

typedef struct row_s {
	int line;
	int conf; /* -1: in.conf NULL */
	ho_op_t op;
	bool tls;
	size_t after;
	bool node_up, agent_up;
	ho_size_t size;
	ho_verdict_t verdict;
	ho_reason_t reason;
} row_t;

#define ROW(...)                                                                                   \
	{                                                                                          \
		__LINE__, __VA_ARGS__                                                              \
	}

static const row_t rows[] = {
    /* conf              op           tls    after node   agent  size          verdict     reason */
    ROW(-1, HO_OP_GET, false, 0, true, true, BIG, HO_PROXY, HO_REASON_ROUTE),
    ROW(C_NONE, HO_OP_GET, false, 0, true, true, BIG, HO_PROXY, HO_REASON_ROUTE),
    ROW(C_OFF, HO_OP_GET, false, 0, true, true, BIG, HO_PROXY, HO_REASON_ROUTE),
    /* the happy path, for each operation the route allows */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, BIG, HO_HANDOFF, HO_REASON_OK),
    ROW(C_GET_HEAD, HO_OP_HEAD, false, 0, true, true, BIG, HO_HANDOFF, HO_REASON_OK),
    ROW(C_GET, HO_OP_GET, false, 0, true, true, BIG, HO_HANDOFF, HO_REASON_OK),
    ROW(C_HEAD, HO_OP_HEAD, false, 0, true, true, BIG, HO_HANDOFF, HO_REASON_OK),
    /* operations */
    ROW(C_GET, HO_OP_HEAD, false, 0, true, true, BIG, HO_PROXY, HO_REASON_OPERATION),
    ROW(C_HEAD, HO_OP_GET, false, 0, true, true, BIG, HO_PROXY, HO_REASON_OPERATION),
    ROW(C_GET_HEAD, HO_OP_OTHER, false, 0, true, true, BIG, HO_PROXY, HO_REASON_OPERATION),
    ROW(C_MIN0, HO_OP_OTHER, false, 0, true, true, UNKNOWN, HO_PROXY, HO_REASON_OPERATION),
    /* TLS, before everything about the request's size */
    ROW(C_GET_HEAD, HO_OP_GET, true, 0, true, true, BIG, HO_PROXY, HO_REASON_TLS),
    ROW(C_GET_HEAD, HO_OP_GET, true, 10, false, false, EXACT(1), HO_PROXY, HO_REASON_TLS),
    /* pipelining: a single byte beyond the request is enough */
    ROW(C_GET_HEAD, HO_OP_GET, false, 1, true, true, BIG, HO_PROXY, HO_REASON_PIPELINED),
    ROW(C_GET_HEAD, HO_OP_GET, false, 4096, true, true, BIG, HO_PROXY, HO_REASON_PIPELINED),
    ROW(C_GET_HEAD, HO_OP_GET, false, 1, false, false, EXACT(1), HO_PROXY, HO_REASON_PIPELINED),
    /* sizes: exact, at the threshold and one byte below */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, EXACT(MiB), HO_HANDOFF, HO_REASON_OK),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, EXACT(MiB - 1), HO_PROXY, HO_REASON_SMALL),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, EXACT(0), HO_PROXY, HO_REASON_SMALL),
    ROW(C_GET_HEAD, HO_OP_HEAD, false, 0, true, true, EXACT(10), HO_PROXY, HO_REASON_SMALL),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, EXACT(UINT64_MAX), HO_HANDOFF, HO_REASON_OK),
    /* at most: below the threshold is small for sure, at or above it is unknown */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, AT_MOST(MiB - 1), HO_PROXY, HO_REASON_SMALL),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, AT_MOST(MiB), HO_PROXY,
        HO_REASON_UNKNOWN_SIZE),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_GET, false, 0, true, true, AT_MOST(MiB), HO_HANDOFF, HO_REASON_OK),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_GET, false, 0, true, true, AT_MOST(100), HO_PROXY,
        HO_REASON_SMALL),
    /* unknown: the route's policy */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, true, UNKNOWN, HO_PROXY, HO_REASON_UNKNOWN_SIZE),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_GET, false, 0, true, true, UNKNOWN, HO_HANDOFF, HO_REASON_OK),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_HEAD, false, 0, true, true, UNKNOWN, HO_HANDOFF, HO_REASON_OK),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_GET, false, 0, true, true, EXACT(5), HO_PROXY, HO_REASON_SMALL),
    /* min_size 0: every size, known or not, whatever unknown_size says */
    ROW(C_MIN0, HO_OP_GET, false, 0, true, true, EXACT(0), HO_HANDOFF, HO_REASON_OK),
    ROW(C_MIN0, HO_OP_GET, false, 0, true, true, UNKNOWN, HO_HANDOFF, HO_REASON_OK),
    ROW(C_MIN0_PROXY, HO_OP_GET, false, 0, true, true, UNKNOWN, HO_HANDOFF, HO_REASON_OK),
    ROW(C_MIN0_PROXY, HO_OP_GET, false, 0, true, true, AT_MOST(0), HO_HANDOFF, HO_REASON_OK),
    /* the size comes before the node and the agent */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, false, false, EXACT(1), HO_PROXY, HO_REASON_SMALL),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, false, false, UNKNOWN, HO_PROXY, HO_REASON_UNKNOWN_SIZE),
    /* node and agent */
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, false, true, BIG, HO_PROXY, HO_REASON_NODE_DOWN),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, false, false, BIG, HO_PROXY, HO_REASON_NODE_DOWN),
    ROW(C_GET_HEAD, HO_OP_GET, false, 0, true, false, BIG, HO_PROXY, HO_REASON_AGENT_DOWN),
    ROW(C_UNKNOWN_HANDOFF, HO_OP_HEAD, false, 0, true, false, UNKNOWN, HO_PROXY,
        HO_REASON_AGENT_DOWN),
};

static void test_table(void **state)
{
	bool seen[HO_REASON_COUNT] = {false};
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const row_t *r = &rows[i];
		ho_decide_in_t in = {
		    .conf = r->conf < 0 ? NULL : &confs[r->conf],
		    .op = r->op,
		    .tls = r->tls,
		    .buffered_after = r->after,
		    .node_up = r->node_up,
		    .agent_up = r->agent_up,
		    .size = r->size,
		};
		ho_decision_t d = ho_decide(&in);

		if (d.verdict != r->verdict || d.reason != r->reason) {
			print_error("row at line %d: got %s/%s, want %s/%s\n", r->line,
			            d.verdict == HO_HANDOFF ? "handoff" : "proxy",
			            ho_reason_name(d.reason),
			            r->verdict == HO_HANDOFF ? "handoff" : "proxy",
			            ho_reason_name(r->reason));
			failures++;
		}
		/* a handoff always says ok, a proxy never does */
		assert_true((d.verdict == HO_HANDOFF) == (d.reason == HO_REASON_OK));
		seen[r->reason] = true;
	}
	assert_int_equal(failures, 0);
	for (int i = 0; i < HO_REASON_COUNT; i++)
		if (!seen[i])
			fail_msg("no row for reason %s", ho_reason_name((ho_reason_t)i));
}

/* Label values: distinct, non-empty, [a-z_] only (Prometheus label values need not be, but
 * these are also written in the access log's `handoff` field). */
static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < HO_REASON_COUNT; i++) {
		const char *n = ho_reason_name((ho_reason_t)i);

		assert_non_null(n);
		assert_true(n[0] != '\0');
		assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, ho_reason_name((ho_reason_t)j));
	}
	assert_string_equal(ho_reason_name(HO_REASON_OK), "ok");
	assert_string_equal(ho_reason_name(HO_REASON_SMALL), "small");
	assert_string_equal(ho_reason_name((ho_reason_t)HO_REASON_COUNT), "invalid");
	assert_string_equal(ho_reason_name((ho_reason_t)-1), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for gateway/metrics.c: series made on first use and found again by name, the
 * request histogram's bucket choice, and the workers' sum (gw_metrics_add) of every counter,
 * the retry-budget and SlowDown counters included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/metrics.h"

static void test_series_by_name(void **state)
{
	gw_metrics_t *m;
	gw_node_stats_t *a;
	gw_pool_series_t *p;
	(void)state;

	assert_int_equal(gw_metrics_new(&m), 0);
	assert_null(gw_metrics_node_find(m, "p", "n1"));
	assert_null(gw_metrics_pool_find(m, "p"));
	a = gw_metrics_node(m, "p", "n1");
	assert_ptr_equal(gw_metrics_node(m, "p", "n1"), a);
	assert_ptr_equal(gw_metrics_node_find(m, "p", "n1"), a);
	assert_ptr_not_equal(gw_metrics_node(m, "q", "n1"), a);
	p = gw_metrics_pool(m, "p");
	assert_ptr_equal(gw_metrics_pool_find(m, "p"), p);
	assert_ptr_equal(gw_metrics_pool(m, "p"), p);
	/* node series keep the order they were made in (the config's) */
	assert_string_equal(m->nodes->node, "n1");
	assert_string_equal(m->nodes->pool, "p");
	assert_string_equal(m->nodes->next->pool, "q");
	gw_metrics_free(m);
}

static void test_request_buckets(void **state)
{
	gw_metrics_t *m;
	const gw_pool_series_t *p;
	(void)state;

	assert_int_equal(gw_metrics_new(&m), 0);
	gw_metrics_request(m, "p", LB_OP_READ, 200, 1, 2, 1000);     /* exactly 0.001: first */
	gw_metrics_request(m, "p", LB_OP_READ, 200, 1, 2, 1001);     /* above: second */
	gw_metrics_request(m, "p", LB_OP_READ, 503, 1, 2, 61000000); /* above 60 s: +Inf */
	p = gw_metrics_pool_find(m, "p");
	assert_non_null(p);
	assert_int_equal(p->lat_buckets[0], 1);
	assert_int_equal(p->lat_buckets[1], 1);
	assert_int_equal(p->lat_buckets[GW_LAT_BUCKETS], 1);
	assert_int_equal(p->lat_count, 3);
	assert_int_equal(p->bytes_in, 3);
	assert_int_equal(p->bytes_out, 6);
	gw_metrics_free(m);
}

/* Two workers' counters summed into a third: every field, series of one worker only too. */
static void test_add(void **state)
{
	gw_metrics_t *w[2], *sum;
	gw_node_stats_t *s;
	gw_pool_series_t *p;
	const gw_node_stats_t *t;
	const gw_pool_series_t *q;
	(void)state;

	for (int k = 0; k < 2; k++) {
		assert_int_equal(gw_metrics_new(&w[k]), 0);
		s = gw_metrics_node(w[k], "p", "n1");
		s->requests = 10u + (uint64_t)k;
		s->responses_5xx = 3;
		s->responses_503 = 2;
		s->connects = 4;
		s->connect_errors = 1;
		s->errors = 5;
		s->retries = 6;
		s->reused = 7;
		s->open = 2;
		s->idle = 1;
		s->outstanding = 1;
		p = gw_metrics_pool(w[k], "p");
		p->inflight = 3;
		p->retries_inflight = 1;
		p->retry_budget_exhausted = 4u + (uint64_t)k;
		p->slowdowns_sent = 2;
		gw_metrics_request(w[k], "p", LB_OP_WRITE, 503, 100, 200, 3000);
		w[k]->conns_accepted = 8;
		w[k]->reloads = 1;
		w[k]->open_conns = 2;
	}
	gw_metrics_pool(w[1], "-")->slowdowns_sent = 9; /* the connection limit, one worker */
	assert_int_equal(gw_metrics_new(&sum), 0);
	gw_metrics_add(sum, w[0]);
	gw_metrics_add(sum, w[1]);

	t = gw_metrics_node_find(sum, "p", "n1");
	assert_non_null(t);
	assert_int_equal(t->requests, 21);
	assert_int_equal(t->responses_5xx, 6);
	assert_int_equal(t->responses_503, 4);
	assert_int_equal(t->connects, 8);
	assert_int_equal(t->connect_errors, 2);
	assert_int_equal(t->errors, 10);
	assert_int_equal(t->retries, 12);
	assert_int_equal(t->reused, 14);
	assert_int_equal(t->open, 4);
	assert_int_equal(t->idle, 2);
	assert_int_equal(t->outstanding, 2);
	q = gw_metrics_pool_find(sum, "p");
	assert_non_null(q);
	assert_int_equal(q->inflight, 6);
	assert_int_equal(q->retries_inflight, 2);
	assert_int_equal(q->retry_budget_exhausted, 9);
	assert_int_equal(q->slowdowns_sent, 4);
	assert_int_equal(q->lat_count, 2);
	assert_int_equal(q->bytes_in, 200);
	q = gw_metrics_pool_find(sum, "-");
	assert_non_null(q);
	assert_int_equal(q->slowdowns_sent, 9);
	assert_int_equal(q->retry_budget_exhausted, 0);
	assert_int_equal(sum->conns_accepted, 16);
	assert_int_equal(sum->reloads, 2);
	assert_int_equal(sum->open_conns, 4);
	gw_metrics_free(sum);
	gw_metrics_free(w[0]);
	gw_metrics_free(w[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_series_by_name),
	    cmocka_unit_test(test_request_buckets),
	    cmocka_unit_test(test_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

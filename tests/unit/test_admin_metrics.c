/*
 * Unit tests for admin/metrics.c and admin/prom.c: the /metrics text from a hand-made server with
 * known counters (every family, sorting, label escaping, the histogram's cumulative buckets) and
 * health's families from a real health checker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/prom.h"
#include "admin/render.h"
#include "tests/unit/support/admin_fixture.h"
#include "tests/unit/support/prom_text.h"

/* The /metrics text for src, malloc'd. */
static char *render(const adm_sources_t *src)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	adm_render_metrics(src, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static const char *const want_lines[] = {
    "# HELP s3lb_requests_total Requests answered to clients, by pool, operation class and "
    "status.",
    "# TYPE s3lb_requests_total counter",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"read\",status=\"200\"} 2",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"write\",status=\"503\"} 1",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"mpu-part\",status=\"200\"} 1",
    "s3lb_requests_total{pool=\"we\\\"ird\\\\pool\\n\",op=\"list\",status=\"404\"} 1",
    "# TYPE s3lb_request_bytes_total counter",
    "s3lb_request_bytes_total{pool=\"ceph-a\"} 5111",
    "s3lb_response_bytes_total{pool=\"ceph-a\"} 1322",
    "s3lb_response_bytes_total{pool=\"we\\\"ird\\\\pool\\n\"} 8",
    "# TYPE s3lb_request_duration_seconds histogram",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.001\"} 1",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.0025\"} 1",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.005\"} 2",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"1\"} 2",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"2.5\"} 3",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"60\"} 3",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"+Inf\"} 4",
    "s3lb_request_duration_seconds_sum{pool=\"ceph-a\"} 122.003500",
    "s3lb_request_duration_seconds_count{pool=\"ceph-a\"} 4",
    "s3lb_request_duration_seconds_count{pool=\"we\\\"ird\\\\pool\\n\"} 1",
    "# TYPE s3lb_upstream_requests_total counter",
    "s3lb_upstream_requests_total{pool=\"ceph-a\",node=\"rgw1\"} 7",
    "s3lb_upstream_requests_total{pool=\"ceph-a\",node=\"rgw2\"} 0",
    "s3lb_upstream_requests_total{pool=\"minio\",node=\"m1\"} 0",
    "s3lb_upstream_connects_total{pool=\"ceph-a\",node=\"rgw1\"} 2",
    "s3lb_upstream_connect_errors_total{pool=\"ceph-a\",node=\"rgw2\"} 4",
    "s3lb_upstream_errors_total{pool=\"ceph-a\",node=\"rgw2\"} 2",
    "s3lb_upstream_retries_total{pool=\"ceph-a\",node=\"rgw2\"} 3",
    "s3lb_upstream_responses_5xx_total{pool=\"ceph-a\",node=\"rgw2\"} 1",
    "s3lb_upstream_reused_total{pool=\"ceph-a\",node=\"rgw1\"} 5",
    "# TYPE s3lb_node_up gauge",
    "s3lb_node_up{pool=\"ceph-a\",node=\"rgw1\"} 1",
    "s3lb_node_up{pool=\"ceph-a\",node=\"rgw2\"} 0",
    "s3lb_node_up{pool=\"minio\",node=\"m1\"} 0",
    "# TYPE s3lb_node_state gauge",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"up\"} 0",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"down\"} 1",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"draining\"} 0",
    "s3lb_node_state{pool=\"minio\",node=\"m1\",state=\"draining\"} 1",
    "s3lb_upstream_open_connections{pool=\"ceph-a\",node=\"rgw1\"} 3",
    "s3lb_upstream_idle_connections{pool=\"ceph-a\",node=\"rgw1\"} 1",
    "# TYPE s3lb_open_connections gauge",
    "s3lb_open_connections 5",
    "# TYPE s3lb_connections_accepted_total counter",
    "s3lb_connections_accepted_total 42",
    "s3lb_config_reloads_total 3",
    "s3lb_config_reload_errors_total 1",
};

/* Checks that the _bucket lines of one pool never decrease and end at _count. */
static void check_histogram(const char *text, const char *label)
{
	char prefix[128], count_line[160];
	const char *p = text;
	unsigned long long last = 0, v;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "s3lb_request_duration_seconds_bucket{pool=\"%s\",le=\"",
	         label);
	while ((p = strstr(p, prefix)) != NULL) {
		const char *sp = strchr(p, ' ');
		assert_non_null(sp);
		v = strtoull(sp + 1, NULL, 10);
		assert_true(v >= last);
		last = v;
		n++;
		p = sp;
	}
	assert_int_equal(n, GW_LAT_BUCKETS + 1);
	snprintf(count_line, sizeof(count_line),
	         "\ns3lb_request_duration_seconds_count{pool=\"%s\"} %llu\n", label, last);
	assert_non_null(strstr(text, count_line));
}

static void test_metrics(void **state)
{
	fixture_t *f = fixture_new(NULL);
	adm_sources_t src = {.srv = &f->srv};
	char *t;
	(void)state;

	feed(f);
	t = render(&src);
	prom_assert_lines(t, want_lines, sizeof(want_lines) / sizeof(want_lines[0]));
	/* sorted: ceph-a's series come before the odd pool's */
	assert_true(strstr(t, "s3lb_requests_total{pool=\"ceph-a\"") <
	            strstr(t, "s3lb_requests_total{pool=\"we"));
	check_histogram(t, "ceph-a");
	check_histogram(t, "we\\\"ird\\\\pool\\n");
	prom_assert_shape(t);
	/* no health checker: no health families */
	assert_null(strstr(t, "s3lb_health_"));
	free(t);
	fixture_free(f);
}

static void test_metrics_empty(void **state)
{
	gw_server_t srv;
	adm_sources_t src = {.srv = &srv};
	char *t;
	(void)state;

	memset(&srv, 0, sizeof(srv));
	assert_int_equal(gw_metrics_new(&srv.metrics), 0);
	t = render(&src);
	assert_non_null(strstr(t, "# TYPE s3lb_requests_total counter\n# HELP "));
	assert_non_null(strstr(t, "\ns3lb_open_connections 0\n"));
	free(t);
	gw_metrics_free(srv.metrics);
}

/* The alerts' counters: retries the budget refused and SlowDown answers (s3lb's, by pool, and
 * the nodes' 503s), with a series for every pool and node from the start. */
static void test_metrics_budget_slowdown(void **state)
{
	fixture_t *f = fixture_new(NULL);
	adm_sources_t src = {.srv = &f->srv};
	gw_metrics_t *m = f->srv.metrics;
	char *t;
	(void)state;

	feed(f);
	gw_metrics_pool(m, "ceph-a")->retry_budget_exhausted = 2;
	gw_metrics_pool(m, "ceph-a")->slowdowns_sent = 5;
	gw_metrics_pool(m, "-")->slowdowns_sent = 3;
	gw_metrics_node(m, "ceph-a", "rgw2")->responses_503 = 1;
	t = render(&src);
	assert_non_null(strstr(t, "# TYPE s3lb_retry_budget_exhausted_total counter\n"
	                          "s3lb_retry_budget_exhausted_total{pool=\"-\"} 0\n"
	                          "s3lb_retry_budget_exhausted_total{pool=\"ceph-a\"} 2\n"));
	assert_non_null(strstr(t, "# TYPE s3lb_slowdowns_sent_total counter\n"
	                          "s3lb_slowdowns_sent_total{pool=\"-\"} 3\n"
	                          "s3lb_slowdowns_sent_total{pool=\"ceph-a\"} 5\n"));
	assert_non_null(
	    strstr(t, "\ns3lb_upstream_responses_503_total{pool=\"ceph-a\",node=\"rgw2\"} 1\n"));
	assert_non_null(
	    strstr(t, "\ns3lb_upstream_responses_503_total{pool=\"minio\",node=\"m1\"} 0\n"));
	/* no director: no IPVS families */
	assert_null(strstr(t, "s3lb_ipvs_"));
	free(t);
	fixture_free(f);
}

/* health's families: one series per node (probes by result), the probe time only once known. */
static void test_metrics_health(void **state)
{
	uv_loop_t loop;
	fixture_t *f;
	hc_t *hc;
	adm_sources_t src;
	char *t;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	f = fixture_new(&loop);
	hc = fixture_health(f, &loop);
	src = (adm_sources_t){.srv = &f->srv, .hc = hc};
	t = render(&src);
	assert_non_null(strstr(t,
	                       "# HELP s3lb_health_probes_total Active health probes by result.\n"
	                       "# TYPE s3lb_health_probes_total counter\n"));
	assert_non_null(strstr(t, "\ns3lb_health_probes_total{pool=\"ceph-a\",node=\"rgw2\","
	                          "result=\"failed\"} 0\n"));
	assert_non_null(
	    strstr(t, "\ns3lb_health_transitions_total{pool=\"minio\",node=\"m1\"} 0\n"));
	assert_non_null(strstr(t, "\ns3lb_health_ejections{pool=\"ceph-a\",node=\"rgw1\"} 0\n"));
	assert_non_null(strstr(t, "# TYPE s3lb_health_last_probe_seconds gauge\n# HELP "));
	free(t);
	fixture_health_close(hc, &loop);
	fixture_free(f);
}

/* The writer itself: escaping of label values, no braces without labels. */
static void test_prom(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	(void)state;

	assert_non_null(f);
	adm_prom_family(f, "x_total", "counter", "Help text.");
	adm_prom_u64(f, "x_total", NULL, 18446744073709551615ull);
	adm_prom_u64(f, "x_total", (const char *const[]){"a", "q\"b\\c\nd", "e", "", NULL}, 1);
	adm_prom_f64(f, "y", (const char *const[]){NULL}, 0.5);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "# HELP x_total Help text.\n# TYPE x_total counter\n"
	                          "x_total 18446744073709551615\n"
	                          "x_total{a=\"q\\\"b\\\\c\\nd\",e=\"\"} 1\n"
	                          "y 0.500000\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_metrics_empty),
	    cmocka_unit_test(test_metrics_budget_slowdown),
	    cmocka_unit_test(test_metrics_health),
	    cmocka_unit_test(test_prom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

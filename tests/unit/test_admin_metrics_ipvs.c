/*
 * Unit tests for admin/metrics_ipvs.c: the s3lb_ipvs_* families from a hand-made director
 * snapshot (a kernel table with one of the config's services, a foreign one, a destination added
 * by hand), so every IPVS series is checked here, where no kernel IPVS is needed (the
 * integration test sees only the families' headers on a host without IPVS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/metrics_ipvs.h"
#include "tests/unit/support/prom_text.h"

static const char CFG[] = "pools:\n"
                          "  - name: ceph\n"
                          "    nodes:\n"
                          "      - { name: rgw1, addr: 10.0.0.11:8000, weight: 3 }\n"
                          "      - { name: rgw2, addr: 10.0.0.12:8000 }\n"
                          "frontends:\n"
                          "  - name: s3\n"
                          "    listen: [127.0.0.1:8080]\n"
                          "    routes:\n"
                          "      - { pool: ceph }\n"
                          "dr:\n"
                          "  - { vip: 192.0.2.10:80, pool: ceph }\n";

static void dest(dsr_dest_t *d, const char *text, uint32_t w, uint32_t act, uint32_t inact,
                 uint64_t base)
{
	assert_int_equal(dsr_dest_parse(text, d), 0);
	d->fwd = DSR_FWD_DR;
	d->weight = w;
	d->active = act;
	d->inactive = inact;
	d->stats = (dsr_stats_t){.conns = base, .inpkts = base + 1, .inbytes = base + 2};
}

/* The snapshot: our service (rgw1, rgw2 down at 0, a hand-added 10.0.0.99), a foreign one. */
static void snapshot(dsr_status_t *st)
{
	dsr_tsvc_t *s;
	memset(st, 0, sizeof(*st));
	st->available = true;
	st->reconciles = 12;
	st->reconcile_failures = 2;
	st->last_ok_unix = 1796300000.25;
	st->steps_done = 8;
	st->last_ms = 1.5;
	st->table.nsvcs = 2;
	st->table.svcs = calloc(2, sizeof(*st->table.svcs));
	assert_non_null(st->table.svcs);
	s = &st->table.svcs[0];
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:80", &s->svc.key), 0);
	snprintf(s->svc.sched, sizeof(s->svc.sched), "mh");
	s->svc.stats = (dsr_stats_t){.conns = 40, .inpkts = 400, .inbytes = 40000};
	s->ndests = 3;
	s->dests = calloc(3, sizeof(*s->dests));
	assert_non_null(s->dests);
	dest(&s->dests[0], "10.0.0.11:80", 3, 5, 1, 100);
	dest(&s->dests[1], "10.0.0.12:80", 0, 0, 2, 200);
	dest(&s->dests[2], "10.0.0.99:80", 1, 0, 0, 300);
	s = &st->table.svcs[1];
	assert_int_equal(dsr_svc_key_parse("TCP 198.51.100.1:80", &s->svc.key), 0);
	snprintf(s->svc.sched, sizeof(s->svc.sched), "rr");
	s->ndests = 1;
	s->dests = calloc(1, sizeof(*s->dests));
	assert_non_null(s->dests);
	dest(&s->dests[0], "10.9.0.1:80", 1, 7, 0, 900);
}

static char *render(const lb_config_t *cfg, const dsr_status_t *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	adm_metrics_ipvs(f, cfg, st);
	assert_int_equal(fclose(f), 0);
	return text;
}

#define SVC  "pool=\"ceph\",service=\"TCP 192.0.2.10:80\""
#define RGW1 "pool=\"ceph\",node=\"rgw1\",service=\"TCP 192.0.2.10:80\",dest=\"10.0.0.11:80\""
#define RGW2 "pool=\"ceph\",node=\"rgw2\",service=\"TCP 192.0.2.10:80\",dest=\"10.0.0.12:80\""
#define HAND "pool=\"ceph\",node=\"-\",service=\"TCP 192.0.2.10:80\",dest=\"10.0.0.99:80\""

static const char *const want_lines[] = {
    "# TYPE s3lb_ipvs_available gauge",
    "s3lb_ipvs_available 1",
    "# TYPE s3lb_ipvs_reconciles_total counter",
    "s3lb_ipvs_reconciles_total 12",
    "# TYPE s3lb_ipvs_reconcile_failures_total counter",
    "s3lb_ipvs_reconcile_failures_total 2",
    "# TYPE s3lb_ipvs_last_reconcile_success_timestamp_seconds gauge",
    "s3lb_ipvs_last_reconcile_success_timestamp_seconds 1796300000.250000",
    "s3lb_ipvs_last_reconcile_duration_seconds 0.001500",
    "s3lb_ipvs_changes_total 8",
    "# TYPE s3lb_ipvs_service_connections_total counter",
    "s3lb_ipvs_service_connections_total{" SVC "} 40",
    "s3lb_ipvs_service_packets_total{" SVC ",direction=\"in\"} 400",
    "s3lb_ipvs_service_packets_total{" SVC ",direction=\"out\"} 0",
    "s3lb_ipvs_service_bytes_total{" SVC ",direction=\"in\"} 40000",
    "# TYPE s3lb_ipvs_dest_weight gauge",
    "s3lb_ipvs_dest_weight{" RGW1 "} 3",
    "s3lb_ipvs_dest_weight{" RGW2 "} 0",
    "s3lb_ipvs_dest_weight{" HAND "} 1",
    "# TYPE s3lb_ipvs_dest_active_connections gauge",
    "s3lb_ipvs_dest_active_connections{" RGW1 "} 5",
    "s3lb_ipvs_dest_inactive_connections{" RGW2 "} 2",
    "# TYPE s3lb_ipvs_dest_connections_total counter",
    "s3lb_ipvs_dest_connections_total{" RGW2 "} 200",
    "s3lb_ipvs_dest_packets_total{" RGW1 ",direction=\"in\"} 101",
    "s3lb_ipvs_dest_packets_total{" RGW1 ",direction=\"out\"} 0",
    "s3lb_ipvs_dest_bytes_total{" HAND ",direction=\"in\"} 302",
    "s3lb_ipvs_dest_bytes_total{" HAND ",direction=\"out\"} 0",
};

static void test_snapshot(void **state)
{
	lb_config_t *cfg;
	dsr_status_t st;
	char err[256], *t;
	(void)state;

	assert_int_equal(lb_config_load_string("t.yaml", CFG, strlen(CFG), &cfg, err, sizeof(err)),
	                 0);
	snapshot(&st);
	t = render(cfg, &st);
	prom_assert_lines(t, want_lines, sizeof(want_lines) / sizeof(want_lines[0]));
	/* the foreign service and its destination are left out */
	assert_null(strstr(t, "198.51.100.1"));
	assert_null(strstr(t, "10.9.0.1"));
	prom_assert_shape(t);
	free(t);
	dsr_table_free(&st.table);
	lb_config_unref(cfg);
}

/* Before the first dump and without a running config: the director's figures, no series. */
static void test_empty(void **state)
{
	dsr_status_t st;
	char *t;
	(void)state;

	snapshot(&st);
	st.available = false;
	st.last_ok_unix = 0;
	t = render(NULL, &st);
	assert_non_null(strstr(t, "\ns3lb_ipvs_available 0\n"));
	assert_non_null(
	    strstr(t, "\ns3lb_ipvs_last_reconcile_success_timestamp_seconds 0.000000\n"));
	assert_non_null(strstr(t, "# TYPE s3lb_ipvs_dest_weight gauge\n"));
	assert_null(strstr(t, "s3lb_ipvs_dest_weight{"));
	assert_null(strstr(t, "s3lb_ipvs_service_connections_total{"));
	free(t);
	dsr_table_free(&st.table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

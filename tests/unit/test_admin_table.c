/*
 * Unit tests for admin/table.c: `s3lb status`'s table from fixture /status documents, compared
 * whole: pools and nodes with rates, states, ages against the document's time, reasons (control
 * characters shown as '?'), IPVS destinations; a document without rates, health or IPVS; and
 * inputs that are not /status documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/table.h"

/* The table of json, malloc'd; rc gets adm_status_table's result. */
static char *table(const char *json, int *rc, char *err, size_t errlen)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	*rc = adm_status_table(json, strlen(json), f, err, errlen);
	assert_int_equal(fclose(f), 0);
	return out;
}

static const char full_doc[] =
    "{\"version\":\"0.1.0\",\"uptime_s\":3725,\"time_ms\":1764000000000,\"workers\":2,"
    "\"connections\":12,\"config\":\"/etc/s3lb/s3lb.yaml\",\"reloads\":2,\"reload_errors\":1,"
    "\"pools\":[{\"name\":\"ceph-a\",\"balance\":\"least-requests\",\"inflight\":3,"
    "\"retries_inflight\":0,\"rate_1m\":{\"req_s\":120.5,\"err_s\":0.25,\"window_s\":60.0},"
    "\"nodes\":["
    "{\"name\":\"rgw1\",\"addr\":\"10.0.0.11:8000\",\"weight\":1,\"state\":\"up\","
    "\"outstanding\":2,\"conns\":5,\"idle\":3,"
    "\"rate_1m\":{\"req_s\":60.25,\"err_s\":0.0,\"window_s\":60.0},"
    "\"health\":{\"state\":\"up\",\"since_ms\":1763996275000,\"reason\":\"initial\"}},"
    "{\"name\":\"rgw2\",\"addr\":\"10.0.0.12:8000\",\"weight\":2,\"state\":\"down\","
    "\"outstanding\":0,\"conns\":0,\"idle\":0,"
    "\"rate_1m\":{\"req_s\":0.0,\"err_s\":0.5,\"window_s\":60.0},"
    "\"health\":{\"state\":\"down\",\"since_ms\":1763999965000,"
    "\"reason\":\"http probe: 2 x failed, last: timeout\\u001b[31m\"}}]},"
    "{\"name\":\"minio\",\"balance\":\"round-robin\",\"inflight\":0,\"retries_inflight\":0,"
    "\"rate_1m\":{\"req_s\":0,\"err_s\":0,\"window_s\":60},\"nodes\":["
    "{\"name\":\"m1\",\"addr\":\"10.0.1.1:9000\",\"weight\":1,\"state\":\"draining\","
    "\"outstanding\":11,\"conns\":0,\"idle\":0,"
    "\"rate_1m\":{\"req_s\":1234.5,\"err_s\":0,\"window_s\":60},"
    "\"health\":{\"state\":\"draining\",\"since_ms\":1763913600000,"
    "\"reason\":\"drained by operator\"}}]}],"
    "\"frontends\":[],"
    "\"ipvs\":{\"enabled\":true,\"available\":true,\"reconciles\":12,\"changes\":3,"
    "\"last_reconcile_ms\":0.4,\"error\":\"\",\"services\":["
    "{\"service\":\"TCP 192.0.2.10:80\",\"scheduler\":\"mh\",\"dests\":["
    "{\"dest\":\"10.0.0.11:80\",\"node\":\"rgw1\",\"health\":\"up\",\"weight\":1,"
    "\"active\":5,\"inactive\":1},"
    "{\"dest\":\"10.0.0.12:80\",\"node\":\"rgw2\",\"health\":\"down\",\"weight\":0,"
    "\"active\":0,\"inactive\":12}]}],"
    "\"sync\":{\"enabled\":true,\"vrrp\":\"MASTER\",\"daemons\":[{\"state\":\"master\","
    "\"interface\":\"eth1\",\"sync_id\":7,\"group\":\"224.0.0.81\",\"port\":8848,\"ttl\":1}],"
    "\"error\":\"\"}}}\n";

/* since: rgw1 3725 s, rgw2 35 s, m1 86400 s before time_ms */
static const char full_table[] =
    "s3lb 0.1.0, up 1h02m, 2 workers, 12 connections, 2 reloads (1 failed), config "
    "/etc/s3lb/s3lb.yaml\n"
    "REQ/S, ERR/S: per second over the last 60 s (ERR/S: 5xx answers for a pool, failed "
    "attempts for a node)\n"
    "\n"
    "POOL    BALANCE         INFLIGHT   REQ/S  ERR/S\n"
    "ceph-a  least-requests         3  120.50   0.25\n"
    "minio   round-robin            0    0.00   0.00\n"
    "\n"
    "POOL    NODE  ADDR            STATE     SINCE  WEIGHT  OUTST    REQ/S  ERR/S  REASON\n"
    "ceph-a  rgw1  10.0.0.11:8000  up        1h02m       1      2    60.25   0.00  initial\n"
    "ceph-a  rgw2  10.0.0.12:8000  down        35s       2      0     0.00   0.50  http "
    "probe: 2 x failed, last: timeout?[31m\n"
    "minio   m1    10.0.1.1:9000   draining  1d00h       1     11  1234.50   0.00  drained "
    "by operator\n"
    "\n"
    "IPVS: available, 12 reconciles, 3 changes, last 0.4 ms\n"
    "SERVICE            SCHED  DEST          NODE  HEALTH  WEIGHT  ACTIVE  INACTIVE\n"
    "TCP 192.0.2.10:80  mh     10.0.0.11:80  rgw1  up           1       5         1\n"
    "TCP 192.0.2.10:80  mh     10.0.0.12:80  rgw2  down         0       0        12\n"
    "IPVS sync: master daemon on eth1 (sync id 7, 224.0.0.81:8848, ttl 1), VRRP MASTER\n";

static void test_full(void **state)
{
	char err[256], *t;
	int rc;
	(void)state;

	t = table(full_doc, &rc, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(t, full_table);
	free(t);
}

/* Just started: no rates yet, no health, no IPVS, an IPVS error, a stopping server. */
static void test_sparse(void **state)
{
	static const char doc[] =
	    "{\"version\":\"0.1.0\",\"uptime_s\":0,\"time_ms\":5000,\"workers\":1,"
	    "\"connections\":0,\"config\":null,\"reloads\":0,\"reload_errors\":0,"
	    "\"pools\":[{\"name\":\"p\",\"balance\":\"round-robin\",\"inflight\":0,"
	    "\"rate_1m\":{\"req_s\":0.0,\"err_s\":0.0,\"window_s\":0.0},\"nodes\":["
	    "{\"name\":\"n1\",\"addr\":\"127.0.0.1:9\",\"weight\":1,\"state\":\"up\","
	    "\"outstanding\":0,\"rate_1m\":{\"req_s\":0.0,\"err_s\":0.0,\"window_s\":0.0}}]}],"
	    "\"ipvs\":{\"enabled\":false}}\n";
	static const char want[] =
	    "s3lb 0.1.0, up 0s, 1 workers, 0 connections, 0 reloads (0 failed), config -\n"
	    "REQ/S, ERR/S: no rates yet (sampled every second)\n"
	    "\n"
	    "POOL  BALANCE      INFLIGHT  REQ/S  ERR/S\n"
	    "p     round-robin         0   0.00   0.00\n"
	    "\n"
	    "POOL  NODE  ADDR         STATE  SINCE  WEIGHT  OUTST  REQ/S  ERR/S  REASON\n"
	    "p     n1    127.0.0.1:9  up         -       1      0   0.00   0.00  -\n"
	    "\n"
	    "IPVS: not in use (no dr: services)\n";
	static const char stopping[] =
	    "{\"version\":\"0.1.0\",\"uptime_s\":59,\"workers\":1,\"connections\":0,"
	    "\"pools\":[],\"frontends\":[],\"ipvs\":{\"enabled\":true,\"available\":false,"
	    "\"reconciles\":0,\"changes\":0,\"last_reconcile_ms\":0,"
	    "\"error\":\"ipvs: Protocol not available\",\"services\":[]}}";
	static const char want_stopping[] =
	    "s3lb 0.1.0, up 59s, 1 workers, 0 connections, 0 reloads (0 failed), config -\n"
	    "REQ/S, ERR/S: no rates yet (sampled every second)\n"
	    "\n"
	    "no pools\n"
	    "\n"
	    "IPVS: unavailable, 0 reconciles, 0 changes, last 0.0 ms, error: ipvs: Protocol not "
	    "available\n"
	    "no IPVS services\n";
	char err[256], *t;
	int rc;
	(void)state;

	t = table(doc, &rc, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(t, want);
	free(t);
	t = table(stopping, &rc, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(t, want_stopping);
	free(t);
}

static void test_not_status(void **state)
{
	char err[256], *t;
	int rc;
	(void)state;

	t = table("{\"version\":", &rc, err, sizeof(err));
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "not JSON (at byte "));
	assert_string_equal(t, "");
	free(t);
	t = table("[1,2]", &rc, err, sizeof(err));
	assert_int_equal(rc, -1);
	assert_string_equal(err, "not a /status document (no \"pools\")");
	free(t);
	t = table("{\"pools\":{}}", &rc, err, sizeof(err));
	assert_int_equal(rc, -1);
	free(t);
}

/* Ages at each unit's edges. */
static void test_ages(void **state)
{
	static const struct {
		uint64_t s;
		const char *shown;
	} cases[] = {{0, "0s"},        {59, "59s"},       {60, "1m00s"},     {61, "1m01s"},
	             {3599, "59m59s"}, {3600, "1h00m"},   {86399, "23h59m"}, {86400, "1d00h"},
	             {90061, "1d01h"}, {864000, "10d00h"}};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char doc[256], *t, err[128], want[64];
		int rc;
		snprintf(doc, sizeof(doc), "{\"uptime_s\":%llu,\"pools\":[]}",
		         (unsigned long long)cases[i].s);
		t = table(doc, &rc, err, sizeof(err));
		assert_int_equal(rc, 0);
		snprintf(want, sizeof(want), "s3lb -, up %s, ", cases[i].shown);
		if (strncmp(t, want, strlen(want)))
			fail_msg("%llu s: got '%.40s', want '%s'", (unsigned long long)cases[i].s,
			         t, want);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_sparse),
	    cmocka_unit_test(test_not_status),
	    cmocka_unit_test(test_ages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

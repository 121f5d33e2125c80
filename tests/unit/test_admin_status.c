/*
 * Unit tests for admin/status.c: the /status document rendered from a hand-made server (and a
 * real health checker for the per-node health objects), checked by substrings and, when python3
 * is there, as parsed JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "admin/render.h"
#include "core/version.h"
#include "tests/unit/support/admin_fixture.h"

/* Runs python3 on the JSON in body with a script that reads it as `d`; returns its exit code,
 * or -1 when python3 is missing. */
static int python_check(const char *body, const char *script)
{
	char path[] = "/tmp/s3lb-admin-XXXXXX", cmd[4096];
	int fd = mkstemp(path), rc;
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(body, fp);
	fclose(fp);
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		unlink(path);
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
	         "python3 -c 'import json,sys\nd=json.load(open(sys.argv[1]))\n%s' %s", script,
	         path);
	rc = system(cmd);
	unlink(path);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void test_status(void **state)
{
	fixture_t *f = fixture_new(NULL);
	adm_sources_t src = {.srv = &f->srv};
	size_t len;
	char *t;
	int rc;
	(void)state;

	feed(f);
	t = adm_render_status(&src, &len);
	assert_int_equal(strlen(t), len);
	assert_true(len > 0 && t[len - 1] == '\n' && !memchr(t, '\n', len - 1)); /* one line */
	assert_non_null(strstr(t, "\"config\":\"/etc/s3lb/\\\"odd\\\"\\\\name.yaml\""));
	assert_non_null(strstr(
	    t, "{\"name\":\"rgw1\",\"addr\":\"10.0.0.11:8000\",\"weight\":1,\"state\":\"up\","
	       "\"outstanding\":2,\"conns\":3,\"idle\":1,\"consecutive_failures\":0,"
	       "\"requests\":7,\"responses_5xx\":0,\"connects\":2,\"connect_errors\":0,"
	       "\"errors\":0,\"retries\":0,\"reused\":5,"
	       "\"rate_1m\":{\"req_s\":0.0,\"err_s\":0.0,\"window_s\":0.0}}"));
	rc = python_check(
	    t,
	    "assert d[\"version\"] == \"" S3LB_VERSION "\"\n"
	    "assert d[\"uptime_s\"] == 0 and d[\"connections\"] == 5, d\n"
	    "assert d[\"config\"] == \"/etc/s3lb/\\\"odd\\\"\\\\name.yaml\", d[\"config\"]\n"
	    "assert d[\"reloads\"] == 3 and d[\"reload_errors\"] == 1\n"
	    "p = d[\"pools\"]\n"
	    "assert [x[\"name\"] for x in p] == [\"ceph-a\", \"minio\"]\n"
	    "assert p[0][\"balance\"] == \"least-requests\" and p[1][\"balance\"] == "
	    "\"round-robin\"\n"
	    "assert p[0][\"inflight\"] == 2 and p[0][\"retries_inflight\"] == 1\n"
	    "n = p[0][\"nodes\"][1]\n"
	    "assert n == dict(name=\"rgw2\", addr=\"[fd00::12]:8000\", weight=2, state=\"down\", "
	    "outstanding=0, conns=0, idle=0, consecutive_failures=6, requests=0, responses_5xx=1, "
	    "connects=0, connect_errors=4, errors=2, retries=3, reused=0, "
	    "rate_1m=dict(req_s=0, err_s=0, window_s=0)), n\n"
	    "assert p[0][\"rate_1m\"] == dict(req_s=0, err_s=0, window_s=0), p[0]\n"
	    "import time\n"
	    "assert abs(d[\"time_ms\"] / 1000 - time.time()) < 60, d[\"time_ms\"]\n"
	    "assert p[1][\"nodes\"][0][\"state\"] == \"draining\"\n"
	    "fe = d[\"frontends\"]\n"
	    "assert fe[0] == dict(name=\"s3\", listen=[\"127.0.0.1:19080\", \"[::1]:19080\"], "
	    "tls=False, domains=[\"s3.example.com\"]), fe[0]\n"
	    "assert fe[1] == dict(name=\"plain\", listen=[\"127.0.0.1:19081\"], tls=False, "
	    "domains=[]), fe[1]\n");
	if (rc < 0)
		print_message("python3 missing: /status checked by substrings only\n");
	else
		assert_int_equal(rc, 0);
	free(t);

	/* a stopped server has no runtime: still valid JSON */
	f->srv.rt = NULL;
	t = adm_render_status(&src, &len);
	assert_non_null(strstr(
	    t, "\"pools\":[],\"frontends\":[],\"ipvs\":{\"enabled\":false},\"events\":[]}\n"));
	rc = python_check(t, "assert d[\"pools\"] == [] and d[\"frontends\"] == []\n");
	assert_true(rc <= 0);
	f->srv.rt = &f->rt;
	free(t);
	fixture_free(f);
}

/* Rates: sampled rounds of the summed counters show as each pool's and node's rate_1m. */
static void test_status_rates(void **state)
{
	fixture_t *f = fixture_new(NULL);
	adm_rates_t *rs = adm_rates_new();
	adm_sources_t src = {.srv = &f->srv, .rates = rs};
	gw_node_stats_t *rgw1, *rgw2;
	size_t len;
	char *t;
	int rc;
	(void)state;

	feed(f);
	rgw1 = gw_metrics_node(f->srv.metrics, "ceph-a", "rgw1");
	rgw2 = gw_metrics_node(f->srv.metrics, "ceph-a", "rgw2");
	for (unsigned s = 0; s <= 4; s++) {
		if (s) {
			rgw1->requests += 10;      /* 10/s */
			rgw2->connect_errors += 1; /* errors: 5xx + connect + others */
			rgw2->errors += s % 2;     /* 2 in 4 s */
			gw_metrics_request(f->srv.metrics, "ceph-a", LB_OP_READ, 200, 1, 1, 100);
			gw_metrics_request(f->srv.metrics, "ceph-a", LB_OP_READ, 503, 1, 1, 100);
			gw_metrics_request(f->srv.metrics, "minio", LB_OP_LIST, 499, 1, 1, 100);
		}
		adm_rates_sample(&src, rs, 1000 + s * 1000);
	}
	assert_int_equal(adm_rates_count(rs), 5); /* 2 pools, 3 nodes */
	t = adm_render_status(&src, &len);
	assert_non_null(strstr(t, "\"reused\":5,\"rate_1m\":{\"req_s\":10.0,\"err_s\":0.0,"
	                          "\"window_s\":4.0}"));
	assert_non_null(strstr(t, "\"retries_inflight\":1,\"rate_1m\":{\"req_s\":2.0,"
	                          "\"err_s\":1.0,\"window_s\":4.0}"));
	rc =
	    python_check(t, "p = d[\"pools\"]\n"
	                    "assert p[0][\"nodes\"][1][\"rate_1m\"] == dict(req_s=0, err_s=1.5, "
	                    "window_s=4), p[0]\n"
	                    "assert p[1][\"rate_1m\"] == dict(req_s=1, err_s=0, window_s=4), p[1]\n"
	                    "assert p[1][\"nodes\"][0][\"rate_1m\"][\"req_s\"] == 0, p[1]\n");
	assert_true(rc <= 0);
	free(t);

	/* stopping (no runtime): sampling keeps the rings as they were */
	f->srv.rt = NULL;
	adm_rates_sample(&src, rs, 9000);
	assert_int_equal(adm_rates_count(rs), 5);
	f->srv.rt = &f->rt;
	adm_rates_free(rs);
	fixture_free(f);
}

/* With health: every node carries its health object; ipvs says it is not in use. */
static void test_status_health(void **state)
{
	uv_loop_t loop;
	fixture_t *f;
	hc_t *hc;
	adm_sources_t src;
	char err[256], *t;
	size_t len;
	int rc;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	f = fixture_new(&loop);
	hc = fixture_health(f, &loop);
	assert_true(hc_drain(hc, "minio/m1", true, err, sizeof(err)) >= 0);
	static adm_events_t ev; /* what adm_new's subscription records */
	adm_events_add(&ev, 1000, "ceph-a", "rgw2", "up", "down", "probe: 2 x \"refused\"");
	adm_events_add(&ev, 2000, "minio", "m1", "up", "draining", "drained by operator");
	src = (adm_sources_t){.srv = &f->srv, .hc = hc, .events = &ev};
	t = adm_render_status(&src, &len);
	assert_non_null(
	    strstr(t, "\"events\":[{\"time_ms\":2000,\"pool\":\"minio\",\"node\":\"m1\","
	              "\"from\":\"up\",\"to\":\"draining\",\"reason\":\"drained by "
	              "operator\"},{\"time_ms\":1000,\"pool\":\"ceph-a\",\"node\":\"rgw2\","
	              "\"from\":\"up\",\"to\":\"down\",\"reason\":\"probe: 2 x "
	              "\\\"refused\\\"\"}]}\n"));
	assert_non_null(strstr(t, "\"health\":{\"state\":\"up\",\"since_ms\":"));
	assert_non_null(strstr(t, "\"reason\":\"drained by operator\""));
	rc = python_check(
	    t, "h = d[\"pools\"][0][\"nodes\"][0][\"health\"]\n"
	       "assert set(h) == {\"state\", \"since_ms\", \"probe\", \"last_probe_ms\", "
	       "\"last_probe_ok\", \"probes_ok\", \"probes_failed\", \"transitions\", "
	       "\"passive_failures\", \"ejections\", \"reason\", \"last_probe_error\"}, h\n"
	       "assert h[\"probe\"] == \"none\" and h[\"last_probe_ms\"] == -1, h\n"
	       "m = d[\"pools\"][1][\"nodes\"][0][\"health\"]\n"
	       "assert m[\"state\"] == \"draining\", m\n"
	       "assert d[\"ipvs\"] == {\"enabled\": False}\n");
	assert_true(rc <= 0);
	free(t);
	fixture_health_close(hc, &loop);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_status_rates),
	    cmocka_unit_test(test_status_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

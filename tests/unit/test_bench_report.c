/*
 * Unit tests for bench/report.c's JSON report: two targets with known figures (GET latencies,
 * an error kind, a watched process and interface, system CPU), read back with python3's json:
 * the structure the harness reads, figures rounded to 6 significant digits, ratios to the first
 * target, and null where a ratio is infinite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/report.h"

static void fill(bench_target_res_t *tr, const bench_target_t *t, uint64_t lat_ns, double cpu)
{
	bench_opstats_t *g;

	tr->t = t;
	tr->stats = bench_stats_new();
	tr->other = bench_stats_new();
	tr->seconds = 2.0004;
	g = &tr->stats->op[BENCH_OP_GET];
	for (int i = 0; i < 300; i++) {
		g->ops++;
		g->requests++;
		g->bytes += 4096;
		bench_hist_record(&g->lat, lat_ns);
		bench_hist_record(&g->ttfb, lat_ns / 2);
	}
	g->ops++;
	bench_stats_error(g, "http 503", "GET /b/k: 503 SlowDown");
	tr->rounds = calloc(1, sizeof(*tr->rounds));
	assert_non_null(tr->rounds);
	tr->nrounds = 1;
	tr->rounds[0] = (bench_round_res_t){
	    .seconds = 2.0004, .ops = 301, .errors = 1, .bytes = 300 * 4096, .p99_ns = lat_ns};
	tr->nprocs = 1;
	snprintf(tr->procs[0].name, sizeof(tr->procs[0].name), "s3lb");
	tr->procs[0].ok = true;
	tr->procs[0].pid = 42;
	tr->procs[0].cpu_s = cpu;
	tr->procs[0].peak_rss_kb = 9000;
	tr->nnets = 1;
	snprintf(tr->nets[0].name, sizeof(tr->nets[0].name), "director");
	snprintf(tr->nets[0].dev, sizeof(tr->nets[0].dev), "eth0");
	tr->nets[0].ok = true;
	tr->nets[0].d.tx_bytes = 1000;
	tr->nets[0].body_bytes = 300 * 4096;
	tr->sys_ok = true;
	tr->sys.user = 1.5;
}

static void test_json(void **state)
{
	bench_opts_t *o = calloc(1, sizeof(*o));
	bench_results_t *r = calloc(1, sizeof(*r));
	char path[] = "/tmp/s3lb-report-XXXXXX", err[256], cmd[4096];
	int fd = mkstemp(path), rc;
	(void)state;

	assert_non_null(o);
	assert_non_null(r);
	assert_true(fd >= 0);
	close(fd);
	snprintf(o->workload, sizeof(o->workload), "get");
	o->mix[BENCH_OP_GET] = 1;
	o->mix_total = 1;
	o->size.lo = o->size.hi = 4096;
	o->objects = 10;
	o->concurrency = 4;
	o->threads = 1;
	o->duration_ms = 2000;
	o->rounds = 1;
	o->watch_system = true;
	snprintf(o->cmdline, sizeof(o->cmdline), "s3lb-bench -w get \"quoted\"");
	o->ntargets = 2;
	snprintf(o->targets[0].name, sizeof(o->targets[0].name), "direct");
	snprintf(o->targets[0].url, sizeof(o->targets[0].url), "http://127.0.0.1:1");
	snprintf(o->targets[1].name, sizeof(o->targets[1].name), "s3lb");
	snprintf(o->targets[1].url, sizeof(o->targets[1].url), "http://127.0.0.1:2");
	r->o = o;
	snprintf(r->started, sizeof(r->started), "2026-12-02T10:00:00Z");
	r->ntargets = 2;
	fill(&r->targets[0], &o->targets[0], 1000000, 0);
	fill(&r->targets[1], &o->targets[1], 2000000, 0.25);

	assert_int_equal(bench_report_json(path, r, err, sizeof(err)), 0);
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("python3 missing: the report is checked for its first bytes only\n");
	} else {
		snprintf(
		    cmd, sizeof(cmd),
		    "python3 -c 'import json,sys\n"
		    "d=json.load(open(sys.argv[1]))\n"
		    "assert d[\"tool\"] == \"s3lb-bench\" and d[\"format\"] == 1, d\n"
		    "assert d[\"command\"] == \"s3lb-bench -w get \\\"quoted\\\"\"\n"
		    "w = d[\"workload\"]\n"
		    "assert w[\"name\"] == \"get\" and w[\"duration_s\"] == 2 and w[\"verify\"], "
		    "w\n"
		    "t0, t1 = d[\"targets\"]\n"
		    "assert t0[\"name\"] == \"direct\" and t0[\"seconds\"] == 2.0, "
		    "t0[\"seconds\"]\n"
		    "g = t0[\"ops\"][\"get\"]\n"
		    "assert g[\"ops\"] == 301 and g[\"errors\"] == 1, g\n"
		    "assert g[\"errors_by_kind\"] == {\"http 503\": 1}, g\n"
		    "assert g[\"first_error\"] == \"GET /b/k: 503 SlowDown\", g\n"
		    "assert g[\"ops_per_s\"] == float(\"%%.6g\" %% (301 / 2.0004)), g\n"
		    "assert 0.9 < g[\"latency_ms\"][\"p50\"] < 1.1, g\n"
		    "assert t0[\"ops\"][\"total\"][\"ops\"] == 301\n"
		    "assert t0[\"rounds\"][0][\"net_tx_bytes\"] == [0]\n"
		    "assert t0[\"processes\"][0] == dict(name=\"s3lb\", pid=42, readable=True, "
		    "cpu_s=0, cpu_us_per_request=0, cpu_s_per_gb=0, peak_rss_kib=9000), "
		    "t0[\"processes\"]\n"
		    "assert t0[\"net\"][0][\"dev\"] == \"eth0\" and "
		    "t0[\"system_cpu\"][\"readable\"]\n"
		    "assert \"ratio\" not in t0 and t1[\"ratio_to\"] == \"direct\"\n"
		    "x = t1[\"ratio\"]\n"
		    "assert 1.9 < x[\"get\"][\"p50\"] < 2.1 and x[\"total\"][\"ops_per_s\"] == 1, "
		    "x\n"
		    "assert x[\"processes\"][\"s3lb\"][\"cpu_s_per_gb\"] is None, x\n"
		    "assert x[\"net\"][\"director\"][\"tx_per_body_byte\"] == 1, x\n"
		    "assert d[\"errors\"] == 2 and d[\"passed\"] is False, d\n' %s",
		    path);
		rc = system(cmd);
		assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	}
	assert_int_equal(bench_report_json("/nonexistent/dir/r.json", r, err, sizeof(err)) < 0, 1);
	assert_non_null(strstr(err, "/nonexistent/dir/r.json: No such file or directory"));
	for (unsigned i = 0; i < 2; i++) {
		bench_stats_free(r->targets[i].stats);
		bench_stats_free(r->targets[i].other);
		free(r->targets[i].rounds);
	}
	unlink(path);
	free(r);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * s3lb: the director daemon and its command line.
 *   s3lb run -c FILE      run the gateway (SIGHUP reloads FILE, SIGTERM stops gracefully)
 *   s3lb check -c FILE    validate FILE and print the effective config, or FILE:LINE: key: message
 *   s3lb status [-a ADDR] ask a running s3lb's admin listener (default 127.0.0.1:9901)
 *   s3lb metrics [-a ADDR]
 *   s3lb drain NODE [-a ADDR] / s3lb undrain NODE [-a ADDR]   (NODE or POOL/NODE)
 *
 * `run` joins the parts: the gateway and health/ on one loop; health's transitions drive the
 * gateway's pools, the gateway's request outcomes feed passive health.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "gateway/admin.h"
#include "gateway/proxy.h"
#include "health/health.h"

#define S3LB_VERSION "0.1.0"

static int usage(FILE *out)
{
	fprintf(out, "usage: s3lb run -c FILE\n"
	             "       s3lb check -c FILE\n"
	             "       s3lb status [-a ADMIN_ADDR]\n"
	             "       s3lb metrics [-a ADMIN_ADDR]\n"
	             "       s3lb version\n");
	return out == stdout ? 0 : 2;
}

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int cmd_check(const char *path)
{
	lb_config_t *cfg;
	char err[1024];
	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	lb_config_dump(cfg, stdout);
	lb_config_unref(cfg);
	return 0;
}

/* ---- the glue between health/ and the gateway -------------------------------------------- */

static gw_node_state_t to_gw(hc_state_t s)
{
	return s == HC_UP ? GW_NODE_UP : s == HC_DOWN ? GW_NODE_DOWN : GW_NODE_DRAINING;
}

static void on_health_event(void *arg, const hc_event_t *ev)
{
	gw_server_node_state(arg, ev->pool, ev->node, to_gw(ev->to));
}

static void hook_passive(void *arg, const char *pool, const char *node, bool ok, const char *why)
{
	hc_passive(arg, pool, node, ok, why);
}

static int hook_reloading(void *arg, lb_config_t *cfg, char *err, size_t errlen)
{
	return hc_apply(arg, cfg, err, errlen);
}

static int hook_drain(void *arg, const char *node, bool on, char *err, size_t errlen)
{
	return hc_drain(arg, node, on, err, errlen);
}

static void hook_node_status(void *arg, const char *pool, const char *node, void *text)
{
	const hc_info_t *i = hc_info(arg, pool, node);
	gw_text_t *t = text;
	if (!i)
		return;
	gw_text_printf(t,
	               ",\"health\":{\"state\":\"%s\",\"since_ms\":%llu,\"probe\":\"%s\","
	               "\"last_probe_ms\":%.3f,\"last_probe_ok\":%s,\"probes_ok\":%llu,"
	               "\"probes_failed\":%llu,\"transitions\":%llu,\"passive_failures\":%u,"
	               "\"ejections\":%u,\"reason\":\"",
	               hc_state_name(i->state), (unsigned long long)i->since_ms, i->kind,
	               i->last_probe_ms, i->last_probe_ok ? "true" : "false",
	               (unsigned long long)i->probes_ok, (unsigned long long)i->probes_failed,
	               (unsigned long long)i->transitions, i->passive_fails, i->ejections);
	{
		char esc[400];
		size_t p = 0;
		lb_json_escape(esc, sizeof(esc), &p, i->reason, strlen(i->reason));
		gw_text_printf(t, "%s\",\"last_probe_error\":\"", esc);
		p = 0;
		lb_json_escape(esc, sizeof(esc), &p, i->last_probe_error,
		               strlen(i->last_probe_error));
		gw_text_printf(t, "%s\"}", esc);
	}
}

/* Pool and node names are [A-Za-z0-9._-] (config.c): no label escaping needed. */
static void metric_probes(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	gw_text_printf(arg,
	               "s3lb_health_probes_total{pool=\"%s\",node=\"%s\",result=\"ok\"} %llu\n",
	               pool, node, (unsigned long long)i->probes_ok);
	gw_text_printf(arg,
	               "s3lb_health_probes_total{pool=\"%s\",node=\"%s\",result=\"failed\"} %llu\n",
	               pool, node, (unsigned long long)i->probes_failed);
}

static void metric_latency(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	if (i->last_probe_ms >= 0)
		gw_text_printf(arg,
		               "s3lb_health_last_probe_seconds{pool=\"%s\",node=\"%s\"} %.6f\n",
		               pool, node, i->last_probe_ms / 1000);
}

static void metric_transitions(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	gw_text_printf(arg, "s3lb_health_transitions_total{pool=\"%s\",node=\"%s\"} %llu\n", pool,
	               node, (unsigned long long)i->transitions);
}

static void metric_ejections(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	gw_text_printf(arg, "s3lb_health_ejections{pool=\"%s\",node=\"%s\"} %u\n", pool, node,
	               i->ejections);
}

static void hook_metrics(void *arg, void *text)
{
	gw_text_t *t = text;
	gw_text_printf(t, "# HELP s3lb_health_probes_total Active health probes by result.\n"
	                  "# TYPE s3lb_health_probes_total counter\n");
	hc_each(arg, metric_probes, t);
	gw_text_printf(
	    t, "# HELP s3lb_health_last_probe_seconds Duration of the last finished probe.\n"
	       "# TYPE s3lb_health_last_probe_seconds gauge\n");
	hc_each(arg, metric_latency, t);
	gw_text_printf(t, "# HELP s3lb_health_transitions_total Health state changes of a node.\n"
	                  "# TYPE s3lb_health_transitions_total counter\n");
	hc_each(arg, metric_transitions, t);
	gw_text_printf(t,
	               "# HELP s3lb_health_ejections Consecutive passive ejections of a node (the "
	               "back-off grows with it).\n"
	               "# TYPE s3lb_health_ejections gauge\n");
	hc_each(arg, metric_ejections, t);
}

static int cmd_run(const char *path)
{
	lb_config_t *cfg;
	gw_server_t srv;
	uv_loop_t loop;
	hc_t *hc;
	char err[1024];
	int rc;

	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (lb_log_open(&cfg->log, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		lb_config_unref(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	if (hc_new(&loop, &hc) < 0)
		abort();
	if (hc_apply(hc, cfg, err, sizeof(err)) < 0 ||
	    gw_server_init(&srv, &loop, cfg, err, sizeof(err)) < 0) {
		LB_ERR("%s", err);
		hc_close(hc);
		gw_server_stop(&srv);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		gw_metrics_free(srv.metrics);
		free(srv.config_path);
		return 1;
	}
	srv.hooks = (gw_hooks_t){.arg = hc,
	                         .passive = hook_passive,
	                         .reloading = hook_reloading,
	                         .drain = hook_drain,
	                         .node_status = hook_node_status,
	                         .metrics = hook_metrics};
	if (hc_subscribe(hc, on_health_event, &srv) < 0)
		abort();
	LB_INFO("s3lb %s started with %s", S3LB_VERSION, path);
	srv.on_stop = (void (*)(void *))hc_close;
	srv.on_stop_arg = hc;
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		LB_WARN("loop closed with handles open: %s", uv_strerror(rc));
	gw_metrics_free(srv.metrics);
	free(srv.config_path);
	return 0;
}

static int cmd_fetch(const char *addr, const char *path)
{
	char err[512];
	if (gw_admin_fetch(addr ? addr : "127.0.0.1:9901", path, stdout, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	if (!cmd)
		return usage(stderr);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
		return usage(stdout);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("s3lb %s\n", S3LB_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run") || !strcmp(cmd, "check")) {
		const char *path = opt(argc, argv, "-c");
		if (!path)
			return usage(stderr);
		return !strcmp(cmd, "run") ? cmd_run(path) : cmd_check(path);
	}
	if (!strcmp(cmd, "status"))
		return cmd_fetch(opt(argc, argv, "-a"), "/status");
	if (!strcmp(cmd, "metrics"))
		return cmd_fetch(opt(argc, argv, "-a"), "/metrics");
	if ((!strcmp(cmd, "drain") || !strcmp(cmd, "undrain")) && argc > 2 && argv[2][0] != '-') {
		char path[256], err[512];
		const char *addr = opt(argc, argv, "-a");
		snprintf(path, sizeof(path), "/%s?node=%s", cmd, argv[2]);
		if (gw_admin_request(addr ? addr : "127.0.0.1:9901", "POST", path, stdout, err,
		                     sizeof(err)) < 0) {
			fprintf(stderr, "s3lb: %s\n", err);
			return 1;
		}
		return 0;
	}
	return usage(stderr);
}

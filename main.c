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
#include "net/rbuf.h"
#include "dsr/director.h"
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

/* ---- the glue: health/ drives the gateway's pools and the IPVS weights ------------------- */

typedef struct director_s {
	gw_server_t *srv;
	hc_t *hc;
	dsr_director_t *dsr; /* NULL until a config has `dr:` services */
	uv_loop_t *loop;
} director_t;

static gw_node_state_t to_gw(hc_state_t s)
{
	return s == HC_UP ? GW_NODE_UP : s == HC_DOWN ? GW_NODE_DOWN : GW_NODE_DRAINING;
}

static bool node_up(void *arg, const char *pool, const char *node)
{
	const hc_info_t *i = hc_info(arg, pool, node);
	return i && i->state == HC_UP;
}

/* The wanted IPVS table for cfg and the current health; starts the dsr thread on first use. */
static void dsr_update(director_t *d, const lb_config_t *cfg)
{
	dsr_table_t want;
	char err[512];

	if (!d->dsr && cfg->ndr == 0)
		return;
	if (!d->dsr && dsr_director_start(d->loop, cfg->dr_state, &d->dsr, err, sizeof(err)) < 0) {
		LB_ERR("ipvs: %s", err);
		d->dsr = NULL;
		return;
	}
	if (dsr_want_build(cfg, node_up, d->hc, &want, err, sizeof(err)) < 0) {
		LB_ERR("ipvs: %s", err);
		return;
	}
	dsr_director_want(d->dsr, &want);
}

static void on_health_event(void *arg, const hc_event_t *ev)
{
	director_t *d = arg;
	gw_server_node_state(d->srv, ev->pool, ev->node, to_gw(ev->to));
	if (d->srv->rt)
		dsr_update(d, d->srv->rt->cfg);
}

static void hook_passive(void *arg, const char *pool, const char *node, bool ok, const char *why)
{
	hc_passive(((director_t *)arg)->hc, pool, node, ok, why);
}

static int hook_reloading(void *arg, lb_config_t *cfg, char *err, size_t errlen)
{
	return hc_apply(((director_t *)arg)->hc, cfg, err, errlen);
}

static void hook_reloaded(void *arg, lb_config_t *cfg)
{
	dsr_update(arg, cfg);
}

static int hook_drain(void *arg, const char *node, bool on, char *err, size_t errlen)
{
	return hc_drain(((director_t *)arg)->hc, node, on, err, errlen);
}

static void json_str(gw_text_t *t, const char *s)
{
	char esc[1024];
	size_t p = 0;
	lb_json_escape(esc, sizeof(esc), &p, s, strlen(s));
	gw_text_printf(t, "\"%s\"", esc);
}

static void hook_node_status(void *arg, const char *pool, const char *node, void *text)
{
	const hc_info_t *i = hc_info(((director_t *)arg)->hc, pool, node);
	gw_text_t *t = text;
	if (!i)
		return;
	gw_text_printf(t,
	               ",\"health\":{\"state\":\"%s\",\"since_ms\":%llu,\"probe\":\"%s\","
	               "\"last_probe_ms\":%.3f,\"last_probe_ok\":%s,\"probes_ok\":%llu,"
	               "\"probes_failed\":%llu,\"transitions\":%llu,\"passive_failures\":%u,"
	               "\"ejections\":%u,\"reason\":",
	               hc_state_name(i->state), (unsigned long long)i->since_ms, i->kind,
	               i->last_probe_ms, i->last_probe_ok ? "true" : "false",
	               (unsigned long long)i->probes_ok, (unsigned long long)i->probes_failed,
	               (unsigned long long)i->transitions, i->passive_fails, i->ejections);
	json_str(t, i->reason);
	gw_text_printf(t, ",\"last_probe_error\":");
	json_str(t, i->last_probe_error);
	gw_text_printf(t, "}");
}

/* The node (pool/name) a DR destination is, for /status: matched by IP in the service's pool. */
static void dest_node(const lb_config_t *cfg, const dsr_svc_key_t *key, const dsr_dest_t *dest,
                      const char **pool, const char **node)
{
	char ip[64], want[64];
	*pool = *node = NULL;
	dsr_ip_format(&dest->addr, ip, sizeof(ip));
	for (size_t i = 0; i < cfg->ndr; i++) {
		const lb_dr_conf_t *dr = &cfg->dr[i];
		if (dr->has_vip) {
			dsr_ip_format(&key->addr, want, sizeof(want));
			if (key->fwmark || dr->vip.port != key->port || strcmp(want, dr->vip.host))
				continue;
		} else if (dr->fwmark != key->fwmark) {
			continue;
		}
		for (size_t j = 0; j < cfg->pools[dr->pool].nnodes; j++)
			if (!strcmp(cfg->pools[dr->pool].nodes[j].addr.host, ip)) {
				*pool = cfg->pools[dr->pool].name;
				*node = cfg->pools[dr->pool].nodes[j].name;
			}
	}
}

/* `"ipvs":{...}` in /status: the kernel's table with counters, next to each node's health. */
static void hook_status(void *arg, void *text)
{
	director_t *d = arg;
	gw_text_t *t = text;
	const dsr_status_t *st;
	const lb_config_t *cfg = d->srv->rt ? d->srv->rt->cfg : NULL;

	if (!d->dsr) {
		gw_text_printf(t, ",\n\"ipvs\":{\"enabled\":false}");
		return;
	}
	st = dsr_director_status(d->dsr);
	gw_text_printf(t,
	               ",\n\"ipvs\":{\"enabled\":true,\"available\":%s,\"reconciles\":%llu,"
	               "\"changes\":%llu,\"last_reconcile_ms\":%.1f,\"error\":",
	               st->available ? "true" : "false", (unsigned long long)st->reconciles,
	               (unsigned long long)st->steps_done, st->last_ms);
	json_str(t, st->error);
	gw_text_printf(t, ",\"services\":[");
	for (size_t i = 0; i < st->table.nsvcs; i++) {
		const dsr_tsvc_t *s = &st->table.svcs[i];
		char key[96], dest[96];
		dsr_svc_key_format(&s->svc.key, key, sizeof(key));
		gw_text_printf(t, "%s\n  {\"service\":", i ? "," : "");
		json_str(t, key);
		gw_text_printf(t, ",\"scheduler\":");
		json_str(t, s->svc.sched);
		gw_text_printf(t,
		               ",\"conns\":%llu,\"inbytes\":%llu,\"outbytes\":%llu,\"inpkts\":%llu,"
		               "\"outpkts\":%llu,\"dests\":[",
		               (unsigned long long)s->svc.stats.conns,
		               (unsigned long long)s->svc.stats.inbytes,
		               (unsigned long long)s->svc.stats.outbytes,
		               (unsigned long long)s->svc.stats.inpkts,
		               (unsigned long long)s->svc.stats.outpkts);
		for (size_t j = 0; j < s->ndests; j++) {
			const dsr_dest_t *x = &s->dests[j];
			const char *pool = NULL, *node = NULL;
			const hc_info_t *hi = NULL;
			if (cfg)
				dest_node(cfg, &s->svc.key, x, &pool, &node);
			if (pool)
				hi = hc_info(d->hc, pool, node);
			dsr_dest_format(x, dest, sizeof(dest));
			gw_text_printf(t, "%s\n    {\"dest\":", j ? "," : "");
			json_str(t, dest);
			gw_text_printf(
			    t,
			    ",\"node\":%s%s%s,\"health\":\"%s\",\"weight\":%u,"
			    "\"active\":%u,\"inactive\":%u,\"conns\":%llu,\"inbytes\":%llu,"
			    "\"outbytes\":%llu,\"inpkts\":%llu,\"outpkts\":%llu}",
			    node ? "\"" : "", node ? node : "null", node ? "\"" : "",
			    hi ? hc_state_name(hi->state) : "unknown", x->weight, x->active,
			    x->inactive, (unsigned long long)x->stats.conns,
			    (unsigned long long)x->stats.inbytes,
			    (unsigned long long)x->stats.outbytes,
			    (unsigned long long)x->stats.inpkts,
			    (unsigned long long)x->stats.outpkts);
		}
		gw_text_printf(t, "]}");
	}
	gw_text_printf(t, "]}");
}

static void on_stopped(void *arg)
{
	director_t *d = arg;
	hc_close(d->hc);
	if (d->dsr)
		dsr_director_stop(d->dsr);
	d->dsr = NULL;
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
	hc_t *hc = ((director_t *)arg)->hc;
	gw_text_printf(t, "# HELP s3lb_health_probes_total Active health probes by result.\n"
	                  "# TYPE s3lb_health_probes_total counter\n");
	hc_each(hc, metric_probes, t);
	gw_text_printf(
	    t, "# HELP s3lb_health_last_probe_seconds Duration of the last finished probe.\n"
	       "# TYPE s3lb_health_last_probe_seconds gauge\n");
	hc_each(hc, metric_latency, t);
	gw_text_printf(t, "# HELP s3lb_health_transitions_total Health state changes of a node.\n"
	                  "# TYPE s3lb_health_transitions_total counter\n");
	hc_each(hc, metric_transitions, t);
	gw_text_printf(t,
	               "# HELP s3lb_health_ejections Consecutive passive ejections of a node (the "
	               "back-off grows with it).\n"
	               "# TYPE s3lb_health_ejections gauge\n");
	hc_each(hc, metric_ejections, t);
}

static int cmd_run(const char *path)
{
	lb_config_t *cfg;
	gw_server_t srv;
	uv_loop_t loop;
	hc_t *hc;
	director_t dir = {0};
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
	dir.srv = &srv;
	dir.hc = hc;
	dir.loop = &loop;
	srv.hooks = (gw_hooks_t){.arg = &dir,
	                         .passive = hook_passive,
	                         .reloading = hook_reloading,
	                         .reloaded = hook_reloaded,
	                         .drain = hook_drain,
	                         .node_status = hook_node_status,
	                         .status = hook_status,
	                         .metrics = hook_metrics};
	if (hc_subscribe(hc, on_health_event, &dir) < 0)
		abort();
	dsr_update(&dir, cfg);
	LB_INFO("s3lb %s started with %s", S3LB_VERSION, path);
	srv.on_stop = on_stopped;
	srv.on_stop_arg = &dir;
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		LB_WARN("loop closed with handles open: %s", uv_strerror(rc));
	net_rbuf_spares_free();
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

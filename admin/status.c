/*
 * GET /status: one JSON document (yyjson) of the running config's pools, nodes and frontends,
 * each node with health's view, and the IPVS table with its counters. Pools, nodes and
 * frontends are in config order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yyjson.h>

#include "admin/render.h"
#include "core/version.h"

/* v rounded to 1/scale: the decimals /status showed before it went through a JSON library. */
static double rounded(double v, double scale)
{
	return round(v * scale) / scale;
}

static void add_str(yyjson_mut_doc *d, yyjson_mut_val *o, const char *key, const char *s)
{
	if (s)
		yyjson_mut_obj_add_strcpy(d, o, key, s);
	else
		yyjson_mut_obj_add_null(d, o, key);
}

static void node_health(yyjson_mut_doc *d, yyjson_mut_val *node, const hc_info_t *i)
{
	yyjson_mut_val *h = yyjson_mut_obj_add_obj(d, node, "health");
	yyjson_mut_obj_add_str(d, h, "state", hc_state_name(i->state));
	yyjson_mut_obj_add_uint(d, h, "since_ms", i->since_ms);
	add_str(d, h, "probe", i->kind);
	yyjson_mut_obj_add_real(d, h, "last_probe_ms", rounded(i->last_probe_ms, 1e3));
	yyjson_mut_obj_add_bool(d, h, "last_probe_ok", i->last_probe_ok);
	yyjson_mut_obj_add_uint(d, h, "probes_ok", i->probes_ok);
	yyjson_mut_obj_add_uint(d, h, "probes_failed", i->probes_failed);
	yyjson_mut_obj_add_uint(d, h, "transitions", i->transitions);
	yyjson_mut_obj_add_uint(d, h, "passive_failures", i->passive_fails);
	yyjson_mut_obj_add_uint(d, h, "ejections", i->ejections);
	add_str(d, h, "reason", i->reason);
	add_str(d, h, "last_probe_error", i->last_probe_error);
}

const gw_metrics_t *adm_metrics(const adm_sources_t *src, bool *owned)
{
	*owned = src->ws != NULL;
	return src->ws ? gw_workers_metrics(src->ws) : src->srv->metrics;
}

/* What a node's err/s counts: failed attempts (5xx answers, connect errors, resets, timeouts,
 * invalid responses). */
static uint64_t node_errors(const gw_node_stats_t *s)
{
	return s->responses_5xx + s->connect_errors + s->errors;
}

/* A pool's answers to clients and how many of them were 5xx (s3lb's own 503s included). */
static void pool_totals(const gw_metrics_t *m, const char *pool, uint64_t *req, uint64_t *err)
{
	*req = *err = 0;
	for (size_t h = 0; h < sizeof(m->req) / sizeof(m->req[0]); h++)
		for (const gw_req_series_t *s = m->req[h]; s; s = s->next)
			if (!strcmp(s->pool, pool)) {
				*req += s->count;
				if (s->status >= 500 && s->status <= 599)
					*err += s->count;
			}
}

void adm_rates_sample(const adm_sources_t *src, adm_rates_t *rs, uint64_t now_ms)
{
	const gw_runtime_t *rt = src->srv->rt;
	bool owned;
	const gw_metrics_t *m;

	if (!rt)
		return; /* stopping: keep the rings as they are */
	m = adm_metrics(src, &owned);
	adm_rates_begin(rs, now_ms);
	for (size_t i = 0; m && i < rt->npools; i++) {
		const gw_pool_t *p = &rt->pools[i];
		uint64_t req, err;
		pool_totals(m, p->conf->name, &req, &err);
		adm_rates_put(rs, p->conf->name, NULL, req, err);
		for (size_t j = 0; j < p->n; j++) {
			const char *node = p->nodes[j].conf->name;
			const gw_node_stats_t *s = gw_metrics_node_find(m, p->conf->name, node);
			adm_rates_put(rs, p->conf->name, node, s ? s->requests : 0,
			              s ? node_errors(s) : 0);
		}
	}
	adm_rates_end(rs);
	if (owned)
		gw_metrics_free((gw_metrics_t *)m);
}

/* `"rate_1m":{"req_s":R,"err_s":E,"window_s":W}` of (pool, node), or of pool (node NULL). */
static void add_rate(yyjson_mut_doc *d, yyjson_mut_val *o, const adm_sources_t *src,
                     const char *pool, const char *node)
{
	adm_rate_t r = adm_rates_get(src->rates, pool, node);
	yyjson_mut_val *x = yyjson_mut_obj_add_obj(d, o, "rate_1m");
	yyjson_mut_obj_add_real(d, x, "req_s", rounded(r.req_s, 100));
	yyjson_mut_obj_add_real(d, x, "err_s", rounded(r.err_s, 100));
	yyjson_mut_obj_add_real(d, x, "window_s", rounded(r.window_s, 10));
}

static void status_node(yyjson_mut_doc *d, yyjson_mut_val *arr, const adm_sources_t *src,
                        const gw_metrics_t *m, const gw_pool_t *p, size_t j)
{
	const gw_node_t *n = &p->nodes[j];
	static const gw_node_stats_t zero;
	const gw_node_stats_t *found =
	    m ? gw_metrics_node_find(m, p->conf->name, n->conf->name) : NULL;
	const gw_node_stats_t *s = found ? found : &zero;
	yyjson_mut_val *o = yyjson_mut_arr_add_obj(d, arr);
	const hc_info_t *i = src->hc ? hc_info(src->hc, p->conf->name, n->conf->name) : NULL;

	add_str(d, o, "name", n->conf->name);
	add_str(d, o, "addr", n->conf->addr.text);
	yyjson_mut_obj_add_uint(d, o, "weight", n->conf->weight);
	yyjson_mut_obj_add_str(d, o, "state", gw_node_state_name(n->state));
	/* gauges of every worker and runtime; consecutive failures: worker 0's */
	yyjson_mut_obj_add_uint(d, o, "outstanding", s->outstanding);
	yyjson_mut_obj_add_uint(d, o, "conns", s->open);
	yyjson_mut_obj_add_uint(d, o, "idle", s->idle);
	yyjson_mut_obj_add_uint(d, o, "consecutive_failures", n->consecutive_failures);
	yyjson_mut_obj_add_uint(d, o, "requests", s->requests);
	yyjson_mut_obj_add_uint(d, o, "responses_5xx", s->responses_5xx);
	yyjson_mut_obj_add_uint(d, o, "connects", s->connects);
	yyjson_mut_obj_add_uint(d, o, "connect_errors", s->connect_errors);
	yyjson_mut_obj_add_uint(d, o, "errors", s->errors);
	yyjson_mut_obj_add_uint(d, o, "retries", s->retries);
	yyjson_mut_obj_add_uint(d, o, "reused", s->reused);
	add_rate(d, o, src, p->conf->name, n->conf->name);
	if (i)
		node_health(d, o, i);
}

static void status_frontend(yyjson_mut_doc *d, yyjson_mut_val *arr, const lb_frontend_conf_t *fc)
{
	yyjson_mut_val *o = yyjson_mut_arr_add_obj(d, arr), *a;

	add_str(d, o, "name", fc->name);
	a = yyjson_mut_obj_add_arr(d, o, "listen");
	for (size_t k = 0; k < fc->nlisten; k++)
		yyjson_mut_arr_add_strcpy(d, a, fc->listen[k].text);
	yyjson_mut_obj_add_bool(d, o, "tls", fc->tls_cert != NULL);
	a = yyjson_mut_obj_add_arr(d, o, "domains");
	for (size_t k = 0; k < fc->ndomains; k++)
		yyjson_mut_arr_add_strcpy(d, a, fc->domains[k]);
}

static void add_ipvs_stats(yyjson_mut_doc *d, yyjson_mut_val *o, const dsr_stats_t *s)
{
	yyjson_mut_obj_add_uint(d, o, "conns", s->conns);
	yyjson_mut_obj_add_uint(d, o, "inbytes", s->inbytes);
	yyjson_mut_obj_add_uint(d, o, "outbytes", s->outbytes);
	yyjson_mut_obj_add_uint(d, o, "inpkts", s->inpkts);
	yyjson_mut_obj_add_uint(d, o, "outpkts", s->outpkts);
}

static void status_dest(yyjson_mut_doc *d, yyjson_mut_val *arr, const adm_sources_t *src,
                        const dsr_tsvc_t *s, const dsr_dest_t *x)
{
	const lb_config_t *cfg = src->srv->rt ? src->srv->rt->cfg : NULL;
	const char *pool = NULL, *node = NULL;
	const hc_info_t *hi = NULL;
	yyjson_mut_val *o = yyjson_mut_arr_add_obj(d, arr);
	char text[96];

	if (!cfg || !dsr_want_find(cfg, &s->svc.key, &x->addr, &pool, &node) || !node)
		pool = node = NULL; /* not one of the config's nodes */
	if (pool && src->hc)
		hi = hc_info(src->hc, pool, node);
	dsr_dest_format(x, text, sizeof(text));
	yyjson_mut_obj_add_strcpy(d, o, "dest", text);
	add_str(d, o, "node", node);
	yyjson_mut_obj_add_str(d, o, "health", hi ? hc_state_name(hi->state) : "unknown");
	yyjson_mut_obj_add_uint(d, o, "weight", x->weight);
	yyjson_mut_obj_add_uint(d, o, "active", x->active);
	yyjson_mut_obj_add_uint(d, o, "inactive", x->inactive);
	add_ipvs_stats(d, o, &x->stats);
}

/* `"sync":{...}` in "ipvs": the kernel's connection sync daemons as s3lb last saw them, with
 * keepalived's VRRP state (role auto) and the last failure (dsr/sync.h). */
static void status_sync(yyjson_mut_doc *d, yyjson_mut_val *ipvs, const dsr_status_t *st)
{
	yyjson_mut_val *o = yyjson_mut_obj_add_obj(d, ipvs, "sync"), *arr;

	yyjson_mut_obj_add_bool(d, o, "enabled", st->sync_enabled);
	if (!st->sync_enabled)
		return;
	if (st->vrrp[0])
		yyjson_mut_obj_add_strcpy(d, o, "vrrp", st->vrrp);
	arr = yyjson_mut_obj_add_arr(d, o, "daemons");
	for (size_t i = 0; i < st->ndaemons; i++) {
		const dsr_daemon_t *x = &st->daemons[i];
		yyjson_mut_val *e = yyjson_mut_arr_add_obj(d, arr);
		char group[64] = "";
		yyjson_mut_obj_add_str(d, e, "state",
		                       x->state == DSR_SYNC_MASTER ? "master" : "backup");
		yyjson_mut_obj_add_strcpy(d, e, "interface", x->ifname);
		yyjson_mut_obj_add_uint(d, e, "sync_id", x->sync_id);
		if (x->group.af)
			dsr_ip_format(&x->group, group, sizeof(group));
		yyjson_mut_obj_add_strcpy(d, e, "group", group);
		yyjson_mut_obj_add_uint(d, e, "port", x->port);
		yyjson_mut_obj_add_uint(d, e, "ttl", x->ttl);
	}
	yyjson_mut_obj_add_strcpy(d, o, "error", st->sync_error);
}

/* `"ipvs":{...}`: the kernel's table with counters, next to each node's health. */
static void status_ipvs(yyjson_mut_doc *d, yyjson_mut_val *root, const adm_sources_t *src)
{
	yyjson_mut_val *o = yyjson_mut_obj_add_obj(d, root, "ipvs"), *svcs;
	const dsr_status_t *st;

	yyjson_mut_obj_add_bool(d, o, "enabled", src->dsr != NULL);
	if (!src->dsr)
		return;
	st = dsr_director_status(src->dsr);
	yyjson_mut_obj_add_bool(d, o, "available", st->available);
	yyjson_mut_obj_add_uint(d, o, "reconciles", st->reconciles);
	yyjson_mut_obj_add_uint(d, o, "changes", st->steps_done);
	yyjson_mut_obj_add_real(d, o, "last_reconcile_ms", rounded(st->last_ms, 10));
	yyjson_mut_obj_add_strcpy(d, o, "error", st->error);
	svcs = yyjson_mut_obj_add_arr(d, o, "services");
	for (size_t i = 0; i < st->table.nsvcs; i++) {
		const dsr_tsvc_t *s = &st->table.svcs[i];
		yyjson_mut_val *so = yyjson_mut_arr_add_obj(d, svcs), *dests;
		char key[96];
		dsr_svc_key_format(&s->svc.key, key, sizeof(key));
		yyjson_mut_obj_add_strcpy(d, so, "service", key);
		yyjson_mut_obj_add_strcpy(d, so, "scheduler", s->svc.sched);
		add_ipvs_stats(d, so, &s->svc.stats);
		dests = yyjson_mut_obj_add_arr(d, so, "dests");
		for (size_t j = 0; j < s->ndests; j++)
			status_dest(d, dests, src, s, &s->dests[j]);
	}
	status_sync(d, o, st);
}

/* `"events":[...]`: the last health transitions, newest first. */
static void status_events(yyjson_mut_doc *d, yyjson_mut_val *root, const adm_sources_t *src)
{
	yyjson_mut_val *arr = yyjson_mut_obj_add_arr(d, root, "events");
	const adm_event_t *e;

	for (size_t i = 0; src->events && (e = adm_events_get(src->events, i)); i++) {
		yyjson_mut_val *o = yyjson_mut_arr_add_obj(d, arr);
		yyjson_mut_obj_add_uint(d, o, "time_ms", e->time_ms);
		yyjson_mut_obj_add_strcpy(d, o, "pool", e->pool);
		yyjson_mut_obj_add_strcpy(d, o, "node", e->node);
		yyjson_mut_obj_add_strcpy(d, o, "from", e->from);
		yyjson_mut_obj_add_strcpy(d, o, "to", e->to);
		yyjson_mut_obj_add_strcpy(d, o, "reason", e->reason);
	}
}

char *adm_render_status(const adm_sources_t *src, size_t *len)
{
	const gw_server_t *srv = src->srv;
	const gw_runtime_t *rt = srv->rt;
	bool owned;
	const gw_metrics_t *m = adm_metrics(src, &owned);
	uint64_t now = srv->loop ? uv_now(srv->loop) : srv->started_ms;
	yyjson_mut_doc *d = yyjson_mut_doc_new(NULL);
	yyjson_mut_val *root, *pools, *fes;
	struct timespec ts;
	char *out;

	if (!d)
		abort();
	root = yyjson_mut_obj(d);
	yyjson_mut_doc_set_root(d, root);
	yyjson_mut_obj_add_str(d, root, "version", S3LB_VERSION);
	yyjson_mut_obj_add_uint(d, root, "uptime_s",
	                        now > srv->started_ms ? (now - srv->started_ms) / 1000 : 0);
	/* the wall clock, against which health's since_ms are read */
	clock_gettime(CLOCK_REALTIME, &ts);
	yyjson_mut_obj_add_uint(d, root, "time_ms",
	                        (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	yyjson_mut_obj_add_uint(d, root, "workers", src->ws ? gw_workers_count(src->ws) : 1);
	if (src->ws) {
		yyjson_mut_val *per = yyjson_mut_obj_add_arr(d, root, "per_worker");
		for (unsigned k = 0; k < gw_workers_count(src->ws); k++) {
			const gw_metrics_t *wm = gw_workers_metrics_of(src->ws, k);
			yyjson_mut_val *o = yyjson_mut_arr_add_obj(d, per);
			yyjson_mut_obj_add_uint(d, o, "connections", GW_GET(wm->open_conns));
			yyjson_mut_obj_add_uint(d, o, "accepted", GW_GET(wm->conns_accepted));
		}
	}
	yyjson_mut_obj_add_uint(d, root, "connections", m ? m->open_conns : 0);
	add_str(d, root, "config", srv->config_path);
	yyjson_mut_obj_add_uint(d, root, "reloads", m ? m->reloads : 0);
	yyjson_mut_obj_add_uint(d, root, "reload_errors", m ? m->reload_errors : 0);
	pools = yyjson_mut_obj_add_arr(d, root, "pools");
	for (size_t i = 0; rt && i < rt->npools; i++) {
		const gw_pool_t *p = &rt->pools[i];
		yyjson_mut_val *po = yyjson_mut_arr_add_obj(d, pools), *nodes;
		add_str(d, po, "name", p->conf->name);
		yyjson_mut_obj_add_str(d, po, "balance", lb_balance_name(p->conf->balance));
		const gw_pool_series_t *ps = m ? gw_metrics_pool_find(m, p->conf->name) : NULL;
		yyjson_mut_obj_add_uint(d, po, "inflight", ps ? ps->inflight : 0);
		yyjson_mut_obj_add_uint(d, po, "retries_inflight", ps ? ps->retries_inflight : 0);
		add_rate(d, po, src, p->conf->name, NULL);
		nodes = yyjson_mut_obj_add_arr(d, po, "nodes");
		for (size_t j = 0; j < p->n; j++)
			status_node(d, nodes, src, m, p, j);
	}
	fes = yyjson_mut_obj_add_arr(d, root, "frontends");
	for (size_t i = 0; rt && i < rt->nfes; i++)
		status_frontend(d, fes, rt->fes[i].conf);
	status_ipvs(d, root, src);
	status_events(d, root, src);
	/* names, paths and error texts are whatever the config and the kernel hold: keep their
	 * bytes rather than fail the whole document on one invalid UTF-8 sequence */
	out = yyjson_mut_write(d, YYJSON_WRITE_ALLOW_INVALID_UNICODE | YYJSON_WRITE_NEWLINE_AT_END,
	                       len);
	if (!out)
		abort(); /* only on allocation failure */
	yyjson_mut_doc_free(d);
	if (owned)
		gw_metrics_free((gw_metrics_t *)m);
	return out;
}

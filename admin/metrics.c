/*
 * GET /metrics: the gateway's counters (gateway/metrics.h: kept across reloads, keyed by names),
 * gauges of the running config's nodes, and health's probe figures. Series are sorted (requests
 * by pool, op, status; per-pool series by pool name; node series in config order).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics_ipvs.h"
#include "admin/prom.h"
#include "admin/render.h"
#include "net/sock.h"

static int cmp_req(const void *a, const void *b)
{
	const gw_req_series_t *x = *(const gw_req_series_t *const *)a;
	const gw_req_series_t *y = *(const gw_req_series_t *const *)b;
	int c = strcmp(x->pool, y->pool);
	if (c)
		return c;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return (x->status > y->status) - (x->status < y->status);
}

static int cmp_pool(const void *a, const void *b)
{
	const gw_pool_series_t *x = *(const gw_pool_series_t *const *)a;
	const gw_pool_series_t *y = *(const gw_pool_series_t *const *)b;
	return strcmp(x->pool, y->pool);
}

static void metrics_requests(FILE *out, const gw_metrics_t *m)
{
	size_t n = 0, k = 0;
	const gw_req_series_t **v;

	adm_prom_family(out, "s3lb_requests_total", "counter",
	                "Requests answered to clients, by pool, operation class and status.");
	for (size_t h = 0; h < 256; h++)
		for (const gw_req_series_t *s = m->req[h]; s; s = s->next)
			n++;
	if (!n)
		return;
	v = malloc(n * sizeof(*v));
	if (!v)
		abort();
	for (size_t h = 0; h < 256; h++)
		for (const gw_req_series_t *s = m->req[h]; s; s = s->next)
			v[k++] = s;
	qsort(v, n, sizeof(*v), cmp_req);
	for (k = 0; k < n; k++) {
		char status[16];
		snprintf(status, sizeof(status), "%d", v[k]->status);
		adm_prom_u64(out, "s3lb_requests_total",
		             (const char *const[]){"pool", v[k]->pool, "op",
		                                   lb_op_name((lb_op_t)v[k]->op), "status", status,
		                                   NULL},
		             v[k]->count);
	}
	free(v);
}

/* Handoff (issue 12): only pools that had a request on a handoff route have these series, so a
 * config without `handoff:` shows the family and nothing else. */
static void metrics_handoff(FILE *out, const gw_pool_series_t *const *v, size_t n)
{
	adm_prom_family(out, "s3lb_handoff_decisions_total", "counter",
	                "Requests on handoff routes, by pool and by the decision's reason (ok: "
	                "handed off; any other: proxied, and why).");
	for (size_t k = 0; k < n; k++) {
		uint64_t sum = 0;
		for (size_t r = 0; r < HO_REASON_COUNT; r++)
			sum += v[k]->handoff_decisions[r];
		if (!sum)
			continue;
		for (size_t r = 0; r < HO_REASON_COUNT; r++)
			adm_prom_u64(out, "s3lb_handoff_decisions_total",
			             (const char *const[]){"pool", v[k]->pool, "reason",
			                                   ho_reason_name((ho_reason_t)r), NULL},
			             v[k]->handoff_decisions[r]);
	}
	adm_prom_family(out, "s3lb_handoff_fallbacks_total", "counter",
	                "Requests decided ok whose switch to the node failed (agent refused, no "
	                "READY in time, channel or steering failure): proxied.");
	for (size_t k = 0; k < n; k++) {
		if (v[k]->handoff_decisions[HO_REASON_OK] || v[k]->handoff_fallbacks)
			adm_prom_u64(out, "s3lb_handoff_fallbacks_total",
			             (const char *const[]){"pool", v[k]->pool, NULL},
			             v[k]->handoff_fallbacks);
	}
}

static void metrics_pools(FILE *out, const gw_metrics_t *m)
{
	size_t n = 0, k = 0;
	const gw_pool_series_t **v = NULL;

	for (const gw_pool_series_t *p = m->pools; p; p = p->next)
		n++;
	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			abort();
		for (const gw_pool_series_t *p = m->pools; p; p = p->next)
			v[k++] = p;
		qsort(v, n, sizeof(*v), cmp_pool);
	}
	adm_prom_family(out, "s3lb_request_bytes_total", "counter",
	                "Request bytes received from clients (head and body), by pool.");
	for (k = 0; k < n; k++)
		adm_prom_u64(out, "s3lb_request_bytes_total",
		             (const char *const[]){"pool", v[k]->pool, NULL}, v[k]->bytes_in);
	adm_prom_family(out, "s3lb_response_bytes_total", "counter",
	                "Response bytes sent to clients (head and body), by pool.");
	for (k = 0; k < n; k++)
		adm_prom_u64(out, "s3lb_response_bytes_total",
		             (const char *const[]){"pool", v[k]->pool, NULL}, v[k]->bytes_out);
	adm_prom_family(out, "s3lb_request_duration_seconds", "histogram",
	                "Time from a request's first byte to the end of its response, by pool.");
	for (k = 0; k < n; k++) {
		const char *pool[] = {"pool", v[k]->pool, NULL};
		uint64_t cum = 0;
		for (size_t b = 0; b <= GW_LAT_BUCKETS; b++) {
			char le[32];
			cum += v[k]->lat_buckets[b];
			if (b < GW_LAT_BUCKETS)
				snprintf(le, sizeof(le), "%g", gw_lat_bounds[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			adm_prom_u64(out, "s3lb_request_duration_seconds_bucket",
			             (const char *const[]){"pool", v[k]->pool, "le", le, NULL},
			             cum);
		}
		adm_prom_f64(out, "s3lb_request_duration_seconds_sum", pool, v[k]->lat_sum);
		adm_prom_u64(out, "s3lb_request_duration_seconds_count", pool, v[k]->lat_count);
	}
	adm_prom_family(out, "s3lb_retry_budget_exhausted_total", "counter",
	                "Retries a failed request was due that the pool's retry budget refused "
	                "(the client got the error).");
	for (k = 0; k < n; k++)
		adm_prom_u64(out, "s3lb_retry_budget_exhausted_total",
		             (const char *const[]){"pool", v[k]->pool, NULL},
		             v[k]->retry_budget_exhausted);
	adm_prom_family(out, "s3lb_slowdowns_sent_total", "counter",
	                "503 SlowDown answers made by s3lb itself, by pool (-: the client "
	                "connection limit, before routing).");
	for (k = 0; k < n; k++)
		adm_prom_u64(out, "s3lb_slowdowns_sent_total",
		             (const char *const[]){"pool", v[k]->pool, NULL}, v[k]->slowdowns_sent);
	metrics_handoff(out, v, n);
	free(v);
}

static const struct {
	const char *name;
	size_t off;
	const char *help;
} node_counters[] = {
    {"s3lb_upstream_requests_total", offsetof(gw_node_stats_t, requests),
     "Request attempts sent to a node."},
    {"s3lb_upstream_connects_total", offsetof(gw_node_stats_t, connects),
     "New connections opened to a node."},
    {"s3lb_upstream_connect_errors_total", offsetof(gw_node_stats_t, connect_errors),
     "Failed or timed out connects to a node."},
    {"s3lb_upstream_errors_total", offsetof(gw_node_stats_t, errors),
     "Resets, timeouts and invalid responses from a node after connect."},
    {"s3lb_upstream_retries_total", offsetof(gw_node_stats_t, retries),
     "Attempts on a node that were retries of a request that failed elsewhere."},
    {"s3lb_upstream_responses_5xx_total", offsetof(gw_node_stats_t, responses_5xx),
     "Responses with a 5xx status from a node."},
    {"s3lb_upstream_responses_503_total", offsetof(gw_node_stats_t, responses_503),
     "Responses with status 503 from a node: S3's SlowDown or ServiceUnavailable (the body "
     "that tells them apart is not read)."},
    {"s3lb_upstream_reused_total", offsetof(gw_node_stats_t, reused),
     "Requests sent to a node over a kept-alive connection."},
};

static void metrics_node_counters(FILE *out, const gw_metrics_t *m)
{
	for (size_t i = 0; i < sizeof(node_counters) / sizeof(node_counters[0]); i++) {
		adm_prom_family(out, node_counters[i].name, "counter", node_counters[i].help);
		for (const gw_node_series_t *s = m->nodes; s; s = s->next) {
			uint64_t v;
			memcpy(&v, (const char *)&s->stats + node_counters[i].off, sizeof(v));
			adm_prom_u64(out, node_counters[i].name,
			             (const char *const[]){"pool", s->pool, "node", s->node, NULL},
			             v);
		}
	}
}

typedef enum { G_UP, G_STATE, G_OPEN, G_IDLE } gauge_t;

static const struct {
	const char *name;
	const char *help;
} node_gauges[] = {
    [G_UP] = {"s3lb_node_up", "1 when a node is up (takes new requests), else 0."},
    [G_STATE] = {"s3lb_node_state",
                 "A node's health state: 1 for the current state, 0 for the others."},
    [G_OPEN] = {"s3lb_upstream_open_connections",
                "Connections to a node: connecting, busy or idle."},
    [G_IDLE] = {"s3lb_upstream_idle_connections", "Idle kept-alive connections to a node."},
};

/* Gauges of the current runtime's nodes (connections: every worker's and runtime's). */
static void metrics_node_gauge(FILE *out, const gw_runtime_t *rt, const gw_metrics_t *m,
                               gauge_t which)
{
	static const gw_node_state_t states[] = {GW_NODE_UP, GW_NODE_DOWN, GW_NODE_DRAINING};
	const char *name = node_gauges[which].name;

	adm_prom_family(out, name, "gauge", node_gauges[which].help);
	for (size_t i = 0; rt && i < rt->npools; i++) {
		const gw_pool_t *p = &rt->pools[i];
		for (size_t j = 0; j < p->n; j++) {
			const gw_node_t *n = &p->nodes[j];
			const char *pool = p->conf->name, *node = n->conf->name;
			if (which != G_STATE) {
				const gw_node_stats_t *s =
				    m ? gw_metrics_node_find(m, pool, node) : NULL;
				uint64_t v = which == G_UP     ? n->state == GW_NODE_UP
				             : !s              ? 0
				             : which == G_OPEN ? s->open
				                               : s->idle;
				adm_prom_u64(
				    out, name,
				    (const char *const[]){"pool", pool, "node", node, NULL}, v);
				continue;
			}
			for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
				adm_prom_u64(
				    out, name,
				    (const char *const[]){"pool", pool, "node", node, "state",
				                          gw_node_state_name(states[k]), NULL},
				    n->state == states[k]);
		}
	}
}

static void metrics_scalar(FILE *out, const char *name, const char *type, const char *help,
                           uint64_t v)
{
	adm_prom_family(out, name, type, help);
	adm_prom_u64(out, name, NULL, v);
}

/* ---- health ----------------------------------------------------------------------------- */

typedef enum { H_PROBES, H_LATENCY, H_TRANSITIONS, H_EJECTIONS } health_metric_t;

typedef struct {
	FILE *out;
	health_metric_t which;
} health_ctx_t;

static void health_sample(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	const health_ctx_t *h = arg;
	const char *pn[] = {"pool", pool, "node", node, NULL};

	switch (h->which) {
	case H_PROBES:
		adm_prom_u64(
		    h->out, "s3lb_health_probes_total",
		    (const char *const[]){"pool", pool, "node", node, "result", "ok", NULL},
		    i->probes_ok);
		adm_prom_u64(
		    h->out, "s3lb_health_probes_total",
		    (const char *const[]){"pool", pool, "node", node, "result", "failed", NULL},
		    i->probes_failed);
		break;
	case H_LATENCY:
		if (i->last_probe_ms >= 0)
			adm_prom_f64(h->out, "s3lb_health_last_probe_seconds", pn,
			             i->last_probe_ms / 1000);
		break;
	case H_TRANSITIONS:
		adm_prom_u64(h->out, "s3lb_health_transitions_total", pn, i->transitions);
		break;
	case H_EJECTIONS:
		adm_prom_u64(h->out, "s3lb_health_ejections", pn, i->ejections);
		break;
	}
}

static void metrics_health(FILE *out, hc_t *hc)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    [H_PROBES] = {"s3lb_health_probes_total", "counter", "Active health probes by result."},
	    [H_LATENCY] = {"s3lb_health_last_probe_seconds", "gauge",
	                   "Duration of the last finished probe."},
	    [H_TRANSITIONS] = {"s3lb_health_transitions_total", "counter",
	                       "Health state changes of a node."},
	    [H_EJECTIONS] =
	        {"s3lb_health_ejections", "gauge",
	         "Consecutive passive ejections of a node (the back-off grows with it)."},
	};
	for (health_metric_t w = H_PROBES; w <= H_EJECTIONS; w++) {
		health_ctx_t h = {out, w};
		adm_prom_family(out, fam[w].name, fam[w].type, fam[w].help);
		hc_each(hc, health_sample, &h);
	}
}

void adm_render_metrics(const adm_sources_t *src, FILE *out)
{
	const gw_server_t *srv = src->srv;
	bool owned;
	const gw_metrics_t *m = adm_metrics(src, &owned);

	if (m) {
		metrics_requests(out, m);
		metrics_pools(out, m);
		metrics_node_counters(out, m);
	}
	for (gauge_t g = G_UP; g <= G_IDLE; g++)
		metrics_node_gauge(out, srv->rt, m, g);
	metrics_scalar(out, "s3lb_workers", "gauge", "Event loops (threads) serving clients.",
	               src->ws ? gw_workers_count(src->ws) : 1);
	if (src->ws) {
		adm_prom_family(
		    out, "s3lb_worker_connections_accepted_total", "counter",
		    "Connections accepted by each worker (admin included on worker 0).");
		for (unsigned k = 0; k < gw_workers_count(src->ws); k++) {
			char w[16];
			snprintf(w, sizeof(w), "%u", k);
			adm_prom_u64(out, "s3lb_worker_connections_accepted_total",
			             (const char *const[]){"worker", w, NULL},
			             GW_GET(gw_workers_metrics_of(src->ws, k)->conns_accepted));
		}
	}
	metrics_scalar(out, "s3lb_open_connections", "gauge",
	               "Open client connections (admin connections not included).",
	               m ? m->open_conns : 0);
	metrics_scalar(out, "s3lb_connections_accepted_total", "counter",
	               "Connections accepted on every listener, admin included.",
	               m ? m->conns_accepted : 0);
	adm_prom_family(out, "s3lb_accept_errors_total", "counter",
	                "Connections refused at accept (emfile/enfile: the open file limit was "
	                "reached; other: any other accept error), every listener.");
	for (net_accept_reason_t r = 0; r < NET_ACCEPT_NREASONS; r++) {
		const char *lb[] = {"reason", net_accept_reason_name(r), NULL};
		adm_prom_u64(out, "s3lb_accept_errors_total", lb, net_sock_accept_errors(r));
	}
	metrics_scalar(out, "s3lb_spliced_responses_total", "counter",
	               "Response bodies moved from the node's socket to the client's by splice(2).",
	               m ? m->spliced_responses : 0);
	metrics_scalar(out, "s3lb_spliced_requests_total", "counter",
	               "Request bodies moved from the client's socket to the node's by splice(2).",
	               m ? m->spliced_requests : 0);
	metrics_scalar(out, "s3lb_spliced_bytes_total", "counter",
	               "Body bytes moved by splice(2), both directions, never copied through s3lb.",
	               m ? m->spliced_bytes : 0);
	metrics_scalar(
	    out, "s3lb_splice_fallbacks_total", "counter",
	    "Response bodies that would have been spliced but were copied (no pipe free).",
	    m ? m->splice_fallbacks : 0);
	metrics_scalar(out, "s3lb_config_reloads_total", "counter",
	               "Successful configuration reloads.", m ? m->reloads : 0);
	metrics_scalar(out, "s3lb_config_reload_errors_total", "counter",
	               "Configuration reloads that failed (the running config was kept).",
	               m ? m->reload_errors : 0);
	if (srv->rt && srv->rt->sizes) {
		ho_sizecache_stats_t st;
		ho_sizecache_stats(srv->rt->sizes, &st);
		metrics_scalar(out, "s3lb_handoff_size_cache_entries", "gauge",
		               "Objects whose size the handoff's size cache holds.", st.entries);
		metrics_scalar(out, "s3lb_handoff_size_cache_bytes", "gauge",
		               "Bytes of bucket names and keys the size cache holds.", st.bytes);
		metrics_scalar(out, "s3lb_handoff_size_cache_hits_total", "counter",
		               "Size cache lookups that found the object.", st.hits);
		metrics_scalar(out, "s3lb_handoff_size_cache_misses_total", "counter",
		               "Size cache lookups that did not.", st.misses);
		metrics_scalar(out, "s3lb_handoff_size_cache_evictions_total", "counter",
		               "Entries the size cache dropped to stay in its bounds.",
		               st.evictions);
	}
	if (src->hc)
		metrics_health(out, src->hc);
	if (src->dsr)
		adm_metrics_ipvs(out, srv->rt ? srv->rt->cfg : NULL, dsr_director_status(src->dsr));
	if (owned)
		gw_metrics_free((gw_metrics_t *)m);
}

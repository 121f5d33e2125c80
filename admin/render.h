/*
 * The bodies of GET /status (JSON) and GET /metrics (Prometheus text) for the running director:
 * the gateway's pools, nodes and counters, health's view of each node and, when IPVS is in use,
 * the kernel's table. Main loop only (they read the gateway's and health's state directly).
 */
#ifndef S3LB_ADMIN_RENDER_H
#define S3LB_ADMIN_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "admin/events.h"
#include "admin/rate.h"
#include "dsr/director.h"
#include "gateway/proxy.h"
#include "gateway/workers.h"
#include "health/health.h"

/* What the admin listener reports on. hc and dsr may be NULL (no health, no IPVS). */
typedef struct adm_sources_s {
	gw_server_t *srv; /* worker 0 (or the only server): config and node states */
	gw_workers_t *ws; /* every worker, whose counters are summed; NULL: srv's alone */
	hc_t *hc;
	dsr_director_t *dsr;        /* NULL until the config has `dr:` services */
	const adm_rates_t *rates;   /* the one-minute rates; NULL: every rate_1m is 0 */
	const adm_events_t *events; /* the last health transitions; NULL: "events":[] */
} adm_sources_t;

/* The /status document, one line of JSON and a newline; malloc'd, *len its length. */
char *adm_render_status(const adm_sources_t *src, size_t *len);
/* One sampling round of the rates: every pool's answers and 5xx answers, every node's attempts
 * and failed attempts, as the workers' sums now; now_ms is the loop's (monotonic) time. */
void adm_rates_sample(const adm_sources_t *src, adm_rates_t *rs, uint64_t now_ms);
/* The /metrics text, written to out. */
void adm_render_metrics(const adm_sources_t *src, FILE *out);
/* The counters to show: the workers' sum (*owned = true: the caller frees it) or srv's. */
const gw_metrics_t *adm_metrics(const adm_sources_t *src, bool *owned);

#endif

#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"

const double gw_lat_bounds[GW_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   60};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

int gw_metrics_new(gw_metrics_t **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -1;
}

void gw_metrics_free(gw_metrics_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < 256; i++)
		for (gw_req_series_t *s = m->req[i], *n; s; s = n) {
			n = s->next;
			free(s->pool);
			free(s);
		}
	for (gw_pool_series_t *s = m->pools, *n; s; s = n) {
		n = s->next;
		free(s->pool);
		free(s);
	}
	for (gw_node_series_t *s = m->nodes, *n; s; s = n) {
		n = s->next;
		free(s->pool);
		free(s->node);
		free(s);
	}
	free(m);
}

/* A series becomes visible to readers of other threads complete. */
#define PUBLISH(slot, s) __atomic_store_n(&(slot), (s), __ATOMIC_RELEASE)
#define FIRST(slot)      __atomic_load_n(&(slot), __ATOMIC_ACQUIRE)

const gw_node_stats_t *gw_metrics_node_find(const gw_metrics_t *m, const char *pool,
                                            const char *node)
{
	for (const gw_node_series_t *s = FIRST(m->nodes); s; s = FIRST(s->next))
		if (!strcmp(s->pool, pool) && !strcmp(s->node, node))
			return &s->stats;
	return NULL;
}

gw_node_stats_t *gw_metrics_node(gw_metrics_t *m, const char *pool, const char *node)
{
	gw_node_series_t *s, **tail = &m->nodes;
	const gw_node_stats_t *found = gw_metrics_node_find(m, pool, node);
	if (found)
		return (gw_node_stats_t *)found;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->pool = xstrdup(pool);
	s->node = xstrdup(node);
	/* appended, so listings keep the config's order */
	while (*tail)
		tail = &(*tail)->next;
	PUBLISH(*tail, s);
	return &s->stats;
}

const gw_pool_series_t *gw_metrics_pool_find(const gw_metrics_t *m, const char *pool)
{
	for (const gw_pool_series_t *p = FIRST(m->pools); p; p = FIRST(p->next))
		if (!strcmp(p->pool, pool))
			return p;
	return NULL;
}

gw_pool_series_t *gw_metrics_pool(gw_metrics_t *m, const char *pool)
{
	gw_pool_series_t *p = (gw_pool_series_t *)gw_metrics_pool_find(m, pool);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->pool = xstrdup(pool);
	p->next = m->pools;
	PUBLISH(m->pools, p);
	return p;
}

static unsigned hash_key(const char *pool, uint32_t op, int status)
{
	unsigned h = 2166136261u;
	for (const char *p = pool; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ op) * 16777619u;
	h = (h ^ (unsigned)status) * 16777619u;
	return h & 255;
}

static gw_req_series_t *req_series(gw_metrics_t *m, const char *pool, uint32_t op, int status)
{
	unsigned h = hash_key(pool, op, status);
	gw_req_series_t *s;
	for (s = FIRST(m->req[h]); s; s = FIRST(s->next))
		if (s->op == op && s->status == status && !strcmp(s->pool, pool))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->pool = xstrdup(pool);
	s->op = op;
	s->status = status;
	s->next = m->req[h];
	PUBLISH(m->req[h], s);
	return s;
}

static void lat_add(gw_pool_series_t *p, double secs)
{
	double sum;
	__atomic_load(&p->lat_sum, &sum, __ATOMIC_RELAXED);
	sum += secs;
	__atomic_store(&p->lat_sum, &sum, __ATOMIC_RELAXED);
}

void gw_metrics_request(gw_metrics_t *m, const char *pool, lb_op_t op, int status,
                        uint64_t bytes_in, uint64_t bytes_out, uint64_t duration_us)
{
	gw_pool_series_t *p = gw_metrics_pool(m, pool);
	double secs = (double)duration_us / 1e6;
	size_t b;

	GW_INC(req_series(m, pool, op, status)->count);
	GW_ADD(p->bytes_in, bytes_in);
	GW_ADD(p->bytes_out, bytes_out);
	GW_INC(p->lat_count);
	lat_add(p, secs);
	for (b = 0; b < GW_LAT_BUCKETS && secs > gw_lat_bounds[b]; b++)
		;
	GW_INC(p->lat_buckets[b]);
}

void gw_metrics_add(gw_metrics_t *dst, const gw_metrics_t *src)
{
	for (size_t h = 0; h < 256; h++)
		for (const gw_req_series_t *s = FIRST(src->req[h]); s; s = FIRST(s->next))
			req_series(dst, s->pool, s->op, s->status)->count += GW_GET(s->count);
	for (const gw_pool_series_t *s = FIRST(src->pools); s; s = FIRST(s->next)) {
		gw_pool_series_t *d = gw_metrics_pool(dst, s->pool);
		double sum;
		d->bytes_in += GW_GET(s->bytes_in);
		d->bytes_out += GW_GET(s->bytes_out);
		d->lat_count += GW_GET(s->lat_count);
		__atomic_load(&s->lat_sum, &sum, __ATOMIC_RELAXED);
		d->lat_sum += sum;
		for (size_t b = 0; b <= GW_LAT_BUCKETS; b++)
			d->lat_buckets[b] += GW_GET(s->lat_buckets[b]);
		d->inflight += GW_GET(s->inflight);
		d->retries_inflight += GW_GET(s->retries_inflight);
		d->retry_budget_exhausted += GW_GET(s->retry_budget_exhausted);
		d->slowdowns_sent += GW_GET(s->slowdowns_sent);
		for (size_t r = 0; r < HO_REASON_COUNT; r++)
			d->handoff_decisions[r] += GW_GET(s->handoff_decisions[r]);
		d->handoff_fallbacks += GW_GET(s->handoff_fallbacks);
	}
	for (const gw_node_series_t *s = FIRST(src->nodes); s; s = FIRST(s->next)) {
		gw_node_stats_t *d = gw_metrics_node(dst, s->pool, s->node);
		d->requests += GW_GET(s->stats.requests);
		d->responses_5xx += GW_GET(s->stats.responses_5xx);
		d->responses_503 += GW_GET(s->stats.responses_503);
		d->connects += GW_GET(s->stats.connects);
		d->connect_errors += GW_GET(s->stats.connect_errors);
		d->errors += GW_GET(s->stats.errors);
		d->retries += GW_GET(s->stats.retries);
		d->reused += GW_GET(s->stats.reused);
		d->open += GW_GET(s->stats.open);
		d->idle += GW_GET(s->stats.idle);
		d->outstanding += GW_GET(s->stats.outstanding);
	}
	dst->conns_accepted += GW_GET(src->conns_accepted);
	dst->spliced_responses += GW_GET(src->spliced_responses);
	dst->spliced_requests += GW_GET(src->spliced_requests);
	dst->spliced_bytes += GW_GET(src->spliced_bytes);
	dst->splice_fallbacks += GW_GET(src->splice_fallbacks);
	dst->reloads += GW_GET(src->reloads);
	dst->reload_errors += GW_GET(src->reload_errors);
	dst->open_conns += GW_GET(src->open_conns);
}

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

gw_node_stats_t *gw_metrics_node(gw_metrics_t *m, const char *pool, const char *node)
{
	gw_node_series_t *s;
	for (s = m->nodes; s; s = s->next)
		if (!strcmp(s->pool, pool) && !strcmp(s->node, node))
			return &s->stats;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->pool = xstrdup(pool);
	s->node = xstrdup(node);
	/* appended, so listings keep the config's order */
	gw_node_series_t **tail = &m->nodes;
	while (*tail)
		tail = &(*tail)->next;
	*tail = s;
	return &s->stats;
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

void gw_metrics_request(gw_metrics_t *m, const char *pool, lb_op_t op, int status,
                        uint64_t bytes_in, uint64_t bytes_out, uint64_t duration_us)
{
	unsigned h = hash_key(pool, op, status);
	gw_req_series_t *s;
	gw_pool_series_t *p;
	double secs = (double)duration_us / 1e6;
	size_t b;

	for (s = m->req[h]; s; s = s->next)
		if (s->op == (uint32_t)op && s->status == status && !strcmp(s->pool, pool))
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			abort();
		s->pool = xstrdup(pool);
		s->op = op;
		s->status = status;
		s->next = m->req[h];
		m->req[h] = s;
	}
	s->count++;
	for (p = m->pools; p; p = p->next)
		if (!strcmp(p->pool, pool))
			break;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			abort();
		p->pool = xstrdup(pool);
		p->next = m->pools;
		m->pools = p;
	}
	p->bytes_in += bytes_in;
	p->bytes_out += bytes_out;
	p->lat_count++;
	p->lat_sum += secs;
	for (b = 0; b < GW_LAT_BUCKETS && secs > gw_lat_bounds[b]; b++)
		;
	p->lat_buckets[b]++;
}

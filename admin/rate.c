#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "admin/rate.h"

void adm_ring_push(adm_ring_t *r, uint64_t t_ms, uint64_t req, uint64_t err)
{
	r->t_ms[r->next] = t_ms;
	r->req[r->next] = req;
	r->err[r->next] = err;
	r->next = (r->next + 1) % ADM_RATE_SLOTS;
	if (r->n < ADM_RATE_SLOTS)
		r->n++;
}

/* The increase of a counter from one sample to the next; a lower value is a restart from 0. */
static uint64_t increase(uint64_t from, uint64_t to)
{
	return to >= from ? to - from : to;
}

adm_rate_t adm_ring_rate(const adm_ring_t *r)
{
	adm_rate_t out = {0};
	unsigned first, k;
	uint64_t dreq = 0, derr = 0, span;

	if (r->n < 2)
		return out;
	first = (r->next + ADM_RATE_SLOTS - r->n) % ADM_RATE_SLOTS;
	for (unsigned i = 1; i < r->n; i++) {
		unsigned prev = (first + i - 1) % ADM_RATE_SLOTS;
		k = (first + i) % ADM_RATE_SLOTS;
		dreq += increase(r->req[prev], r->req[k]);
		derr += increase(r->err[prev], r->err[k]);
	}
	k = (r->next + ADM_RATE_SLOTS - 1) % ADM_RATE_SLOTS;
	span = r->t_ms[k] > r->t_ms[first] ? r->t_ms[k] - r->t_ms[first] : 0;
	if (span == 0)
		return out;
	out.window_s = (double)span / 1000.0;
	out.req_s = (double)dreq / out.window_s;
	out.err_s = (double)derr / out.window_s;
	return out;
}

typedef struct series_s {
	char *pool, *node; /* node NULL: the pool's own */
	bool seen;         /* put in the current round */
	adm_ring_t ring;
} series_t;

struct adm_rates_s {
	series_t *s;
	size_t n, cap;
	uint64_t t_ms; /* of the current round */
};

adm_rates_t *adm_rates_new(void)
{
	adm_rates_t *rs = calloc(1, sizeof(*rs));
	if (!rs)
		abort();
	return rs;
}

static void series_free(series_t *s)
{
	free(s->pool);
	free(s->node);
}

void adm_rates_free(adm_rates_t *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		series_free(&rs->s[i]);
	free(rs->s);
	free(rs);
}

static bool same(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

static series_t *find(const adm_rates_t *rs, const char *pool, const char *node)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->s[i].pool, pool) && same(rs->s[i].node, node))
			return &rs->s[i];
	return NULL;
}

static char *copy(const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		abort();
	return d;
}

void adm_rates_begin(adm_rates_t *rs, uint64_t t_ms)
{
	rs->t_ms = t_ms;
	for (size_t i = 0; i < rs->n; i++)
		rs->s[i].seen = false;
}

void adm_rates_put(adm_rates_t *rs, const char *pool, const char *node, uint64_t req, uint64_t err)
{
	series_t *s = find(rs, pool, node);
	if (!s) {
		if (rs->n == rs->cap) {
			rs->cap = rs->cap ? rs->cap * 2 : 16;
			rs->s = realloc(rs->s, rs->cap * sizeof(*rs->s));
			if (!rs->s)
				abort();
		}
		s = &rs->s[rs->n++];
		memset(s, 0, sizeof(*s));
		s->pool = copy(pool);
		s->node = copy(node);
	}
	s->seen = true;
	adm_ring_push(&s->ring, rs->t_ms, req, err);
}

void adm_rates_end(adm_rates_t *rs)
{
	size_t k = 0;
	for (size_t i = 0; i < rs->n; i++) {
		if (!rs->s[i].seen) {
			series_free(&rs->s[i]);
			continue;
		}
		if (k != i)
			rs->s[k] = rs->s[i];
		k++;
	}
	rs->n = k;
}

adm_rate_t adm_rates_get(const adm_rates_t *rs, const char *pool, const char *node)
{
	const series_t *s = rs ? find(rs, pool, node) : NULL;
	adm_rate_t zero = {0};
	return s ? adm_ring_rate(&s->ring) : zero;
}

size_t adm_rates_count(const adm_rates_t *rs)
{
	return rs->n;
}

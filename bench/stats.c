/* Per-phase measurements (see stats.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/stats.h"

bench_stats_t *bench_stats_new(void)
{
	bench_stats_t *s = malloc(sizeof(*s));
	if (!s)
		abort();
	bench_stats_reset(s);
	return s;
}

void bench_stats_free(bench_stats_t *s)
{
	free(s);
}

void bench_stats_reset(bench_stats_t *s)
{
	memset(s, 0, sizeof(*s));
	for (int k = 0; k < BENCH_OP_KINDS; k++) {
		bench_hist_init(&s->op[k].lat);
		bench_hist_init(&s->op[k].ttfb);
	}
}

static void add_kind(bench_opstats_t *s, const char *what, uint64_t n)
{
	int i;
	for (i = 0; i < BENCH_ERR_SLOTS - 1 && s->err[i].what[0]; i++)
		if (strcmp(s->err[i].what, what) == 0)
			break;
	if (i == BENCH_ERR_SLOTS - 1 && strcmp(s->err[i].what, what) != 0)
		what = "other"; /* the last slot collects the rest */
	if (!s->err[i].what[0])
		snprintf(s->err[i].what, sizeof(s->err[i].what), "%s", what);
	s->err[i].n += n;
}

void bench_stats_error(bench_opstats_t *s, const char *what, const char *detail)
{
	s->errors++;
	add_kind(s, what, 1);
	if (!s->first_error[0])
		snprintf(s->first_error, sizeof(s->first_error), "%s", detail ? detail : what);
}

static void merge_op(bench_opstats_t *d, const bench_opstats_t *s)
{
	d->ops += s->ops;
	d->errors += s->errors;
	d->requests += s->requests;
	d->bytes += s->bytes;
	bench_hist_merge(&d->lat, &s->lat);
	bench_hist_merge(&d->ttfb, &s->ttfb);
	for (int i = 0; i < BENCH_ERR_SLOTS && s->err[i].what[0]; i++)
		add_kind(d, s->err[i].what, s->err[i].n);
	if (!d->first_error[0])
		memcpy(d->first_error, s->first_error, sizeof(d->first_error));
}

void bench_stats_merge(bench_stats_t *dst, const bench_stats_t *src)
{
	for (int k = 0; k < BENCH_OP_KINDS; k++)
		merge_op(&dst->op[k], &src->op[k]);
	dst->missed += src->missed;
}

void bench_stats_total(const bench_stats_t *s, bench_opstats_t *out)
{
	memset(out, 0, sizeof(*out));
	bench_hist_init(&out->lat);
	bench_hist_init(&out->ttfb);
	for (int k = 0; k < BENCH_OP_PUBLIC; k++)
		merge_op(out, &s->op[k]);
}

uint64_t bench_stats_errors(const bench_stats_t *s)
{
	uint64_t n = 0;
	for (int k = 0; k < BENCH_OP_KINDS; k++)
		n += s->op[k].errors;
	return n;
}

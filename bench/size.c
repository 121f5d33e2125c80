/*
 * Size distributions (see size.h). Log-uniform: ln(size) is uniform on [ln lo, ln(hi + 1)), then
 * floored, so every integer in lo..hi can come out and nothing outside it can.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/rand.h"
#include "bench/size.h"
#include "core/parse.h"

int bench_size_parse(const char *s, bench_size_t *out, const char **why)
{
	const char *dots = strstr(s, "..");
	char lo[64];

	if (!dots) {
		if (lb_parse_size(s, &out->lo, why) < 0)
			return -1;
		out->hi = out->lo;
		return 0;
	}
	if ((size_t)(dots - s) >= sizeof(lo)) {
		*why = "lower bound too long";
		return -1;
	}
	memcpy(lo, s, (size_t)(dots - s));
	lo[dots - s] = '\0';
	if (lb_parse_size(lo, &out->lo, why) < 0 || lb_parse_size(dots + 2, &out->hi, why) < 0)
		return -1;
	if (out->lo == 0) {
		*why = "the lower bound of a range must be at least 1 byte";
		return -1;
	}
	if (out->hi < out->lo) {
		*why = "the upper bound is below the lower bound";
		return -1;
	}
	return 0;
}

uint64_t bench_size_pick(const bench_size_t *d, uint64_t r)
{
	double a, b, v;
	uint64_t n;

	if (d->lo == d->hi)
		return d->lo;
	a = log((double)d->lo);
	b = log((double)d->hi + 1.0);
	v = exp(a + (b - a) * bench_rng_unit(r));
	n = (uint64_t)v;
	if (n < d->lo) /* rounding at the edges */
		n = d->lo;
	if (n > d->hi)
		n = d->hi;
	return n;
}

void bench_size_format(const bench_size_t *d, char *buf, size_t len)
{
	char a[32], b[32];
	lb_format_size(d->lo, a, sizeof(a));
	if (d->lo == d->hi) {
		snprintf(buf, len, "%s", a);
		return;
	}
	lb_format_size(d->hi, b, sizeof(b));
	snprintf(buf, len, "%s..%s", a, b);
}

double bench_size_mean(const bench_size_t *d)
{
	double lo = (double)d->lo, hi = (double)d->hi + 1.0;
	if (d->lo == d->hi)
		return lo;
	/* E[exp(U)] for U uniform on [ln lo, ln hi] is (hi - lo) / (ln hi - ln lo). */
	return (hi - lo) / (log(hi) - log(lo));
}

/*
 * Object sizes: fixed ("4KiB") or log-uniform between two bounds ("1KiB..64MiB"), so each
 * power of two between the bounds gets the same share of objects, as in real buckets where
 * small objects are many and large ones carry the bytes. Sizes use core/parse.h's syntax.
 */
#ifndef S3LB_BENCH_SIZE_H
#define S3LB_BENCH_SIZE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct bench_size_s {
	uint64_t lo, hi; /* lo == hi: fixed */
} bench_size_t;

/* "SIZE" or "LO..HI" with 0 < LO <= HI (LO == HI is accepted as fixed); 0 is allowed only as a
 * fixed size. Returns 0, or -1 with a reason in *why. */
int bench_size_parse(const char *s, bench_size_t *out, const char **why);

/* The size for a 64-bit random value r (uniform): lo..hi inclusive, log-uniform. */
uint64_t bench_size_pick(const bench_size_t *d, uint64_t r);

/* "4KiB" or "1KiB..64MiB". */
void bench_size_format(const bench_size_t *d, char *buf, size_t len);

/* Mean object size of the distribution (for the report's "expected bytes"). */
double bench_size_mean(const bench_size_t *d);

#endif

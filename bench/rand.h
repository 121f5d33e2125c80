/*
 * Small deterministic generators shared by the workload, the size distributions and the body
 * generator. Not cryptographic: they only need to be fast, well mixed and reproducible.
 */
#ifndef S3LB_BENCH_RAND_H
#define S3LB_BENCH_RAND_H

#include <stddef.h>
#include <stdint.h>

/* The splitmix64 finaliser: a bijective 64-bit mix (every output bit depends on every input). */
static inline uint64_t bench_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A stream of 64-bit values: state += golden ratio, output mix(state). */
typedef struct bench_rng_s {
	uint64_t s;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed)
{
	r->s = bench_mix64(seed);
}

static inline uint64_t bench_rng_next(bench_rng_t *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return bench_mix64(r->s);
}

/* Uniform in [0, n) (n > 0), by multiply-shift; the bias is below 2^-32 for n < 2^32. */
static inline uint64_t bench_rng_below(bench_rng_t *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1) with 53 bits. */
static inline double bench_rng_unit(uint64_t x)
{
	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* FNV-1a over bytes, then mixed: a key's seed. */
static inline uint64_t bench_hash_bytes(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return bench_mix64(h);
}

#endif

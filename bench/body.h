/*
 * Object bodies as a pure function of (key, size): byte p of an object is byte (p mod 8) of
 * mix(seed + (p / 8) * golden), little-endian, with seed = hash(key, size). Any slice can be made
 * or checked on its own (Range GETs, multipart parts, streaming in chunks), and two objects that
 * differ in key or size differ in (nearly) every word, so a body served for the wrong key, a
 * stale version, a shifted offset or one flipped byte is caught.
 * Pure functions, any thread.
 */
#ifndef S3LB_BENCH_BODY_H
#define S3LB_BENCH_BODY_H

#include <stddef.h>
#include <stdint.h>

uint64_t bench_body_seed(const char *key, size_t key_len, uint64_t size);

/* Writes bytes [off, off + len) of the object into buf. */
void bench_body_fill(uint64_t seed, uint64_t off, void *buf, size_t len);

/* Compares buf with bytes [off, off + len) of the object: -1 when equal, else the index in buf of
 * the first byte that differs. */
int64_t bench_body_check(uint64_t seed, uint64_t off, const void *buf, size_t len);

#endif

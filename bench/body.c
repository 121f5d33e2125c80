/*
 * Body generator and verifier (see body.h). A word is one multiply and two xor-shifts of
 * seed ^ (index * golden): cheap enough that checking runs at several GB/s per core, and mixed
 * enough that neighbouring words, offsets and seeds never line up. Whole 8-byte words are made
 * and compared with memcpy (unaligned-safe, plain loads and stores); the check ORs the
 * differences of a block together and looks for the exact byte only when a block differs, so
 * the common path has no branch per word. Only a slice's ragged ends go byte by byte.
 */
#include <string.h>

#include "bench/body.h"
#include "bench/rand.h"

#define GOLDEN 0x9e3779b97f4a7c15ull
#define BLOCK  64 /* words compared before one branch */

static inline uint64_t word_at(uint64_t seed, uint64_t w)
{
	uint64_t z = seed ^ (w * GOLDEN);
	z ^= z >> 32;
	z *= 0xd6e8feb86659fd93ull;
	return z ^ (z >> 32);
}

static inline unsigned char byte_at(uint64_t seed, uint64_t p)
{
	return (unsigned char)(word_at(seed, p >> 3) >> ((p & 7) * 8));
}

uint64_t bench_body_seed(const char *key, size_t key_len, uint64_t size)
{
	return bench_hash_bytes(key, key_len, bench_mix64(size ^ 0x5333424c42454e43ull));
}

static inline uint64_t le64(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

void bench_body_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	unsigned char *b = buf;
	size_t i = 0;
	uint64_t w;

	for (; i < len && ((off + i) & 7); i++)
		b[i] = byte_at(seed, off + i);
	for (; i + 8 <= len; i += 8) {
		w = le64(word_at(seed, (off + i) >> 3));
		memcpy(b + i, &w, 8);
	}
	for (; i < len; i++)
		b[i] = byte_at(seed, off + i);
}

/* Checking is on every GET's path: on x86-64 an AVX2 copy is made too (picked at load time),
 * which compares a block of words in vector registers at about twice the speed. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CHECK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef CHECK_CLONES
#define CHECK_CLONES
#endif

CHECK_CLONES int64_t bench_body_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t i = 0;
	uint64_t w, got;

	for (; i < len && ((off + i) & 7); i++)
		if (b[i] != byte_at(seed, off + i))
			return (int64_t)i;
	for (; i + 8 * BLOCK <= len; i += 8 * BLOCK) {
		uint64_t diff = 0, w0 = (off + i) >> 3;
		for (unsigned k = 0; k < BLOCK; k++) {
			memcpy(&got, b + i + 8 * k, 8);
			diff |= got ^ le64(word_at(seed, w0 + k));
		}
		if (diff)
			break; /* the loops below find the byte */
	}
	for (; i + 8 <= len; i += 8) {
		w = le64(word_at(seed, (off + i) >> 3));
		memcpy(&got, b + i, 8);
		if (got != w)
			break;
	}
	for (; i < len; i++)
		if (b[i] != byte_at(seed, off + i))
			return (int64_t)i;
	return -1;
}

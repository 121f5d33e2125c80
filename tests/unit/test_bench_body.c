/*
 * bench/body.c: bodies are a function of (key, size); any slice is the same bytes as the whole
 * body at that offset; any changed byte is found at its exact position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/body.h"

#define N 4096

static void deterministic(void **state)
{
	unsigned char a[N], b[N];
	uint64_t s1 = bench_body_seed("k/o1", 4, N), s2 = bench_body_seed("k/o1", 4, N);
	(void)state;
	assert_int_equal(s1, s2);
	bench_body_fill(s1, 0, a, N);
	bench_body_fill(s2, 0, b, N);
	assert_memory_equal(a, b, N);
	/* Another key, or the same key with another size, gives other bytes nearly everywhere. */
	const uint64_t others[] = {bench_body_seed("k/o2", 4, N), bench_body_seed("k/o1", 4, N + 1),
	                           bench_body_seed("k/o1", 4, N - 1),
	                           bench_body_seed("K/o1", 4, N)};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		size_t same = 0;
		assert_int_not_equal(others[i], s1);
		bench_body_fill(others[i], 0, b, N);
		for (size_t j = 0; j < N; j++)
			same += a[j] == b[j];
		assert_true(same < N / 64); /* about 1/256 by chance */
		assert_int_not_equal(bench_body_check(s1, 0, b, N), -1);
	}
}

static void slices(void **state)
{
	unsigned char whole[N], part[N];
	uint64_t seed = bench_body_seed("slice", 5, 1 << 20);
	(void)state;
	bench_body_fill(seed, 0, whole, N);
	/* Every offset and length combination near the 8-byte word edges. */
	for (size_t off = 0; off < 40; off++)
		for (size_t len = 0; len < 70; len++) {
			memset(part, 0xee, sizeof(part));
			bench_body_fill(seed, off, part, len);
			assert_memory_equal(part, whole + off, len);
			assert_int_equal(part[len], 0xee); /* nothing written past the end */
			assert_int_equal(bench_body_check(seed, off, whole + off, len), -1);
		}
	/* A Range GET's bytes are checked at their object offset (and not at another). */
	assert_int_equal(bench_body_check(seed, 1000, whole + 1000, 3000), -1);
	assert_int_not_equal(bench_body_check(seed, 1008, whole + 1000, 3000), -1);
	/* Far into a large object. */
	bench_body_fill(seed, (1 << 20) - 13, part, 13);
	assert_int_equal(bench_body_check(seed, (1 << 20) - 13, part, 13), -1);
}

static void flipped_bytes(void **state)
{
	unsigned char buf[300];
	uint64_t seed = bench_body_seed("flip", 4, 300);
	(void)state;
	for (size_t off = 0; off < 9; off++) {
		bench_body_fill(seed, off, buf, sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++) {
			for (unsigned bit = 0; bit < 8; bit += 7) {
				buf[i] ^= (unsigned char)(1u << bit);
				assert_int_equal(bench_body_check(seed, off, buf, sizeof(buf)),
				                 (int64_t)i);
				buf[i] ^= (unsigned char)(1u << bit);
			}
		}
		assert_int_equal(bench_body_check(seed, off, buf, sizeof(buf)), -1);
	}
	/* Two bad bytes: the first is reported. */
	bench_body_fill(seed, 0, buf, sizeof(buf));
	buf[17] ^= 1;
	buf[250] ^= 1;
	assert_int_equal(bench_body_check(seed, 0, buf, sizeof(buf)), 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(deterministic),
	    cmocka_unit_test(slices),
	    cmocka_unit_test(flipped_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

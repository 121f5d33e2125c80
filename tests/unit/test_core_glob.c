/* Unit tests for core/glob.c (lb_glob_match). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/parse.h"

typedef struct {
	const char *pattern;
	const char *s;
	int want;
} glob_case_t;

static const glob_case_t cases[] = {
    {"", "", 1},
    {"", "a", 0},
    {"a", "", 0},
    {"*", "", 1},
    {"*", "anything at all", 1},
    {"**", "", 1},
    {"***", "abc", 1},
    {"?", "", 0},
    {"?", "a", 1},
    {"?", "ab", 0},
    {"??", "ab", 1},
    {"abc", "abc", 1},
    {"abc", "abd", 0},
    {"abc", "ab", 0},
    {"abc", "abcd", 0},
    {"ABC", "abc", 0}, /* case-sensitive */
    {"logs-*", "logs-", 1},
    {"logs-*", "logs-2024", 1},
    {"logs-*", "log-2024", 0},
    {"logs-*", "xlogs-2024", 0},
    {"*-tmp", "build-tmp", 1},
    {"*-tmp", "build-tmp2", 0},
    {"*.s3.example.com", "bucket.s3.example.com", 1},
    {"*.s3.example.com", "s3.example.com", 0},
    {"*.s3.example.com", "a.b.s3.example.com", 1},
    {"a*b*c", "abc", 1},
    {"a*b*c", "aXXbYYc", 1},
    {"a*b*c", "aXXbYY", 0},
    {"a*b*c", "acb", 0},
    {"a*b", "abab", 1}, /* the first 'b' is not the end: backtrack */
    {"a*ab", "aaab", 1},
    {"*a", "bbba", 1},
    {"*a", "bbab", 0},
    {"a?c", "abc", 1},
    {"a?c", "ac", 0},
    {"*?", "", 0},
    {"*?", "x", 1},
    {"?*?", "x", 0},
    {"?*?", "xy", 1},
    {"tmp-??", "tmp-01", 1},
    {"tmp-??", "tmp-1", 0},
    {"tmp-??", "tmp-001", 0},
    {"*x*", "abc", 0},
    {"*x*", "abxc", 1},
    {"mississippi*", "mississippi", 1},
    {"*sip*", "mississippi", 1},
    {"m*iss*ppi", "mississippi", 1},
    {"m*iss*ppx", "mississippi", 0},
};

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const glob_case_t *c = &cases[i];
		size_t len = strlen(c->s);
		/* An exact-size copy without a terminator: an over-read shows under ASan. */
		char *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, c->s, len);
		int got = lb_glob_match(c->pattern, copy, len);
		if (got != c->want)
			fail_msg("row %zu: glob \"%s\" on \"%s\": got %d, want %d", i, c->pattern,
			         c->s, got, c->want);
		free(copy);
	}
}

static void test_length_not_terminator(void **state)
{
	/* Only len bytes of s count, whatever follows them. */
	assert_int_equal(lb_glob_match("abc", "abcdef", 3), 1);
	assert_int_equal(lb_glob_match("abc*", "abcdef", 3), 1);
	assert_int_equal(lb_glob_match("abcd", "abcdef", 3), 0);
	assert_int_equal(lb_glob_match("*f", "abcdef", 5), 0);
	/* A NUL byte inside s is an ordinary byte, matched by '?' and '*' but no literal. */
	assert_int_equal(lb_glob_match("a?b", "a\0b", 3), 1);
	assert_int_equal(lb_glob_match("a*", "a\0b", 3), 1);
	assert_int_equal(lb_glob_match("ab", "a\0b", 3), 0);
}

static void test_high_bytes(void **state)
{
	/* Bytes >= 0x80 compare as bytes (UTF-8 is matched byte by byte). */
	assert_int_equal(lb_glob_match("caf\xc3\xa9-*", "caf\xc3\xa9-1", 7), 1);
	assert_int_equal(lb_glob_match("caf??", "caf\xc3\xa9", 5), 1);
	assert_int_equal(lb_glob_match("caf?", "caf\xc3\xa9", 5), 0);
}

static void test_pathological_is_fast(void **state)
{
	/* Recursive matchers take exponential time here; ours must be quick. */
	enum { N = 20000 };
	char *s = malloc(N);
	assert_non_null(s);
	memset(s, 'a', N);
	const char *pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lb_glob_match(pattern, s, N), 0);
	s[N - 1] = 'b';
	assert_int_equal(lb_glob_match(pattern, s, N), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.0); /* generous for sanitizer builds; a blow-up takes ages */
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_length_not_terminator),
	    cmocka_unit_test(test_high_bytes),
	    cmocka_unit_test(test_pathological_is_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

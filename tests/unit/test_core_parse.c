/*
 * core/parse.c: durations, sizes and addresses. Every input is placed right before a
 * PROT_NONE page, so reading past its terminating NUL crashes the test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/guard.h"

#include "core/parse.h"

static test_guard_t guard;

static int teardown(void **state)
{
	(void)state;
	test_unguard(&guard);
	return 0;
}

/* A copy of s whose NUL is the last byte before the guard page. */
static const char *guarded(const char *s)
{
	test_unguard(&guard);
	return test_guard(&guard, s, strlen(s) + 1);
}

typedef struct num_case_s {
	const char *in;
	uint64_t want;
	const char *why; /* NULL: must parse to want */
} num_case_t;

typedef int (*num_parser_t)(const char *s, uint64_t *out, const char **why);

static void run_num_cases(num_parser_t parse, const num_case_t *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		const char *why = NULL;
		int rc = parse(guarded(cases[i].in), &v, &why);

		if (cases[i].why == NULL && (rc != 0 || v != cases[i].want)) {
			print_error("'%s': rc %d value %llu, want %llu\n", cases[i].in, rc,
			            (unsigned long long)v, (unsigned long long)cases[i].want);
			failures++;
		} else if (cases[i].why != NULL &&
		           (rc != -1 || why == NULL || strcmp(why, cases[i].why) != 0)) {
			print_error("'%s': rc %d why '%s', want '%s'\n", cases[i].in, rc,
			            why ? why : "(null)", cases[i].why);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

#define DUR_UNIT_WHY  "unknown unit: use ms, s, m or h"
#define SIZE_UNIT_WHY "unknown unit: use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"

static void test_duration_parse(void **state)
{
	static const num_case_t cases[] = {
	    {"500ms", 500, NULL},
	    {"2s", 2000, NULL},
	    {"1m", 60000, NULL},
	    {"1h", 3600000, NULL},
	    {"1.5s", 1500, NULL},
	    {"0.5m", 30000, NULL},
	    {"1.25h", 4500000, NULL},
	    {"0.001s", 1, NULL},
	    {"1.500s", 1500, NULL},
	    {"0s", 0, NULL},
	    {"0ms", 0, NULL},
	    {"007s", 7000, NULL},
	    {"18446744073709551615ms", UINT64_MAX, NULL},
	    {"", 0, "empty value"},
	    {"5", 0, "missing unit: use ms, s, m or h"},
	    {"1.5", 0, "missing unit: use ms, s, m or h"},
	    {"5x", 0, DUR_UNIT_WHY},
	    {"5S", 0, DUR_UNIT_WHY},
	    {"5 s", 0, DUR_UNIT_WHY},
	    {"5s ", 0, DUR_UNIT_WHY},
	    {"5sec", 0, DUR_UNIT_WHY},
	    {"1m30s", 0, DUR_UNIT_WHY},
	    {"s", 0, "expected a number followed by a unit"},
	    {"-1s", 0, "expected a number followed by a unit"},
	    {"+1s", 0, "expected a number followed by a unit"},
	    {" 1s", 0, "expected a number followed by a unit"},
	    {".5s", 0, "expected a number followed by a unit"},
	    {"1.s", 0, "expected digits after '.'"},
	    {"1.5ms", 0, "not a whole number of milliseconds"},
	    {"0.0001s", 0, "not a whole number of milliseconds"},
	    {"1.0000000001s", 0, "too many digits after '.'"},
	    {"18446744073709551616ms", 0, "too large"},
	    {"18446744073709552s", 0, "too large"},
	    {"99999999999999999999999h", 0, "too large"},
	};

	run_num_cases(lb_parse_duration_ms, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_parse(void **state)
{
	static const num_case_t cases[] = {
	    {"512", 512, NULL},
	    {"0", 0, NULL},
	    {"100B", 100, NULL},
	    {"64KiB", 65536, NULL},
	    {"1MiB", 1 << 20, NULL},
	    {"2GiB", 2ull << 30, NULL},
	    {"1TiB", 1ull << 40, NULL},
	    {"10kB", 10000, NULL},
	    {"5MB", 5000000, NULL},
	    {"1GB", 1000000000, NULL},
	    {"2TB", 2000000000000ull, NULL},
	    {"1.5KiB", 1536, NULL},
	    {"0.5MiB", 524288, NULL},
	    {"18446744073709551615", UINT64_MAX, NULL},
	    {"", 0, "empty value"},
	    {"KiB", 0, "expected a number followed by a unit"},
	    {"-1", 0, "expected a number followed by a unit"},
	    {"1.5", 0, "not a whole number of bytes"},
	    {"1.3KiB", 0, "not a whole number of bytes"},
	    {"16KB", 0, SIZE_UNIT_WHY},
	    {"1kiB", 0, SIZE_UNIT_WHY},
	    {"1 KiB", 0, SIZE_UNIT_WHY},
	    {"1b", 0, SIZE_UNIT_WHY},
	    {"1k", 0, SIZE_UNIT_WHY},
	    {"1e3", 0, SIZE_UNIT_WHY},
	    {"16777216TiB", 0, "too large"},
	    {"18446744073709551616", 0, "too large"},
	};

	run_num_cases(lb_parse_size, cases, sizeof(cases) / sizeof(cases[0]));
}

typedef struct fmt_case_s {
	uint64_t v;
	const char *want;
} fmt_case_t;

typedef void (*formatter_t)(uint64_t v, char *buf, size_t len);

/* Formats each value, checks the text, and checks that parsing the text gives the value back. */
static void run_fmt_cases(formatter_t format, num_parser_t parse, const fmt_case_t *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		char buf[32];
		uint64_t back = 1;
		const char *why = NULL;

		format(cases[i].v, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want) != 0 || parse(guarded(buf), &back, &why) != 0 ||
		    back != cases[i].v) {
			print_error("%llu: formatted '%s' (want '%s'), parsed back %llu\n",
			            (unsigned long long)cases[i].v, buf, cases[i].want,
			            (unsigned long long)back);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_duration_format(void **state)
{
	static const fmt_case_t cases[] = {
	    {0, "0s"},
	    {1, "1ms"},
	    {999, "999ms"},
	    {1500, "1500ms"},
	    {2000, "2s"},
	    {60000, "1m"},
	    {90000, "90s"},
	    {3600000, "1h"},
	    {5400000, "90m"},
	    {86400000, "24h"},
	    {UINT64_MAX, "18446744073709551615ms"},
	};

	run_fmt_cases(lb_format_duration, lb_parse_duration_ms, cases,
	              sizeof(cases) / sizeof(cases[0]));
}

static void test_size_format(void **state)
{
	static const fmt_case_t cases[] = {
	    {0, "0"},
	    {1, "1"},
	    {512, "512"},
	    {1000, "1kB"},
	    {1024, "1KiB"},
	    {1536, "1536"},
	    {16384, "16KiB"},
	    {65536, "64KiB"},
	    {2048000, "2000KiB"},
	    {5000000, "5MB"},
	    {1 << 20, "1MiB"},
	    {1ull << 30, "1GiB"},
	    {3ull << 40, "3TiB"},
	    {UINT64_MAX, "18446744073709551615"},
	};

	run_fmt_cases(lb_format_size, lb_parse_size, cases, sizeof(cases) / sizeof(cases[0]));
}

/* A small buffer gets a truncated, terminated string. */
static void test_format_truncates(void **state)
{
	char buf[4] = "xxx";

	lb_format_duration(3600000 * 1000ull, buf, sizeof(buf));
	assert_string_equal(buf, "100");
	lb_format_size(1ull << 40, buf, sizeof(buf));
	assert_string_equal(buf, "1Ti");
}

typedef struct addr_case_s {
	const char *in;
	const char *text; /* NULL: must fail with why */
	const char *host;
	unsigned port;
	const char *why;
} addr_case_t;

static void test_addr_parse(void **state)
{
	static const addr_case_t cases[] = {
	    {"10.0.0.1:80", "10.0.0.1:80", "10.0.0.1", 80, NULL},
	    {"127.0.0.11:8000", "127.0.0.11:8000", "127.0.0.11", 8000, NULL},
	    {"0.0.0.0:65535", "0.0.0.0:65535", "0.0.0.0", 65535, NULL},
	    {"10.0.0.1:1", "10.0.0.1:1", "10.0.0.1", 1, NULL},
	    {"10.0.0.1:080", "10.0.0.1:80", "10.0.0.1", 80, NULL},
	    {"[::1]:80", "[::1]:80", "::1", 80, NULL},
	    {"[::]:443", "[::]:443", "::", 443, NULL},
	    {"[2001:DB8:0:0::1]:443", "[2001:db8::1]:443", "2001:db8::1", 443, NULL},
	    {"[::ffff:10.1.2.3]:9", "[::ffff:10.1.2.3]:9", "::ffff:10.1.2.3", 9, NULL},
	    {"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	     "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, NULL},
	    {"", NULL, NULL, 0, "empty value"},
	    {"10.0.0.1", NULL, NULL, 0, "missing port"},
	    {"10.0.0.1:", NULL, NULL, 0, "missing port"},
	    {"10.0.0.1:0", NULL, NULL, 0, "port out of range: 1 to 65535"},
	    {"10.0.0.1:65536", NULL, NULL, 0, "port out of range: 1 to 65535"},
	    {"10.0.0.1:123456", NULL, NULL, 0, "port out of range: 1 to 65535"},
	    {"10.0.0.1:8a", NULL, NULL, 0, "invalid port"},
	    {"10.0.0.1:-1", NULL, NULL, 0, "invalid port"},
	    {"10.0.0.1: 80", NULL, NULL, 0, "invalid port"},
	    {"10.0.0.256:80", NULL, NULL, 0, "invalid IPv4 address"},
	    {"1.2.3:80", NULL, NULL, 0, "invalid IPv4 address"},
	    {"1.2.3.4.5:80", NULL, NULL, 0, "invalid IPv4 address"},
	    {"localhost:80", NULL, NULL, 0,
	     "the host must be a numeric IP address: no DNS at load time"},
	    {"rgw1.example:80", NULL, NULL, 0,
	     "the host must be a numeric IP address: no DNS at load time"},
	    {":80", NULL, NULL, 0, "missing host: use 0.0.0.0 for every address"},
	    {"::1", NULL, NULL, 0, "an IPv6 address needs brackets, as in [::1]:80"},
	    {"::1:80", NULL, NULL, 0, "an IPv6 address needs brackets, as in [::1]:80"},
	    {"[::1]", NULL, NULL, 0, "missing port"},
	    {"[::1]:", NULL, NULL, 0, "missing port"},
	    {"[::1]80", NULL, NULL, 0, "expected ':' and a port after ']'"},
	    {"[::1:80", NULL, NULL, 0, "missing ']' after IPv6 address"},
	    {"[zz::1]:80", NULL, NULL, 0, "invalid IPv6 address"},
	    {"[10.0.0.1]:80", NULL, NULL, 0, "invalid IPv6 address"},
	    {"[fe80::1%eth0]:80", NULL, NULL, 0, "invalid IPv6 address"},
	    {"[]:80", NULL, NULL, 0, "invalid IPv6 address"},
	    {"[aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa]:80", NULL, NULL, 0,
	     "invalid IPv6 address"},
	};
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const addr_case_t *c = &cases[i];
		lb_addr_t a;
		const char *why = NULL;
		int rc;

		memset(&a, 0x5a, sizeof(a));
		rc = lb_parse_addr(guarded(c->in), &a, &why);
		if (c->text != NULL && (rc != 0 || strcmp(a.text, c->text) != 0 ||
		                        strcmp(a.host, c->host) != 0 || a.port != c->port)) {
			print_error("'%s': rc %d text '%s' host '%s' port %u\n", c->in, rc, a.text,
			            a.host, a.port);
			failures++;
		} else if (c->text == NULL &&
		           (rc != -1 || why == NULL || strcmp(why, c->why) != 0 || a.len != 0 ||
		            a.text[0] != '\0')) {
			print_error("'%s': rc %d why '%s', want '%s'\n", c->in, rc,
			            why ? why : "(null)", c->why);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* The sockaddr is ready for bind()/connect(): family, network-order port, length. */
static void test_addr_sockaddr(void **state)
{
	lb_addr_t a;
	const char *why = NULL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.ss;
	struct in6_addr loop6 = IN6ADDR_LOOPBACK_INIT;

	assert_int_equal(lb_parse_addr("127.0.0.1:8080", &a, &why), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 8080);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));

	assert_int_equal(lb_parse_addr("[::1]:9901", &a, &why), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9901);
	assert_memory_equal(&sin6->sin6_addr, &loop6, sizeof(loop6));
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
}

/* Canonical text parses back to the same address. */
static void test_addr_round_trip(void **state)
{
	static const char *const inputs[] = {"10.0.0.1:080", "[0:0::1]:80", "[2001:DB8::A]:1"};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		lb_addr_t a, b;
		const char *why = NULL;

		assert_int_equal(lb_parse_addr(inputs[i], &a, &why), 0);
		assert_int_equal(lb_parse_addr(guarded(a.text), &b, &why), 0);
		assert_string_equal(a.text, b.text);
		assert_memory_equal(&a.ss, &b.ss, a.len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_parse),   cmocka_unit_test(test_size_parse),
	    cmocka_unit_test(test_duration_format),  cmocka_unit_test(test_size_format),
	    cmocka_unit_test(test_format_truncates), cmocka_unit_test(test_addr_parse),
	    cmocka_unit_test(test_addr_sockaddr),    cmocka_unit_test(test_addr_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}

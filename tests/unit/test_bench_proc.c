/* bench/proc.c: /proc/PID/stat parsing (names with spaces and parentheses) and a live read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/proc.h"

static void parse(void **state)
{
	/* utime 150, stime 50 ticks; rss 300 pages */
	const char *stat =
	    "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 4 0 99 123456 300 "
	    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
	double cpu;
	uint64_t rss;
	(void)state;
	assert_int_equal(bench_proc_parse_stat(stat, 100, 4, &cpu, &rss), 0);
	assert_true(cpu == 2.0);
	assert_int_equal(rss, 1200);
	assert_int_not_equal(bench_proc_parse_stat("4242 (x) S 1 2", 100, 4, &cpu, &rss), 0);
	assert_int_not_equal(bench_proc_parse_stat("no paren", 100, 4, &cpu, &rss), 0);
}

static void live(void **state)
{
	double cpu;
	uint64_t rss;
	(void)state;
	assert_int_equal(bench_proc_read(0, &cpu, &rss), 0);
	assert_true(cpu >= 0);
	assert_true(rss > 0);
	assert_int_not_equal(bench_proc_read(0x7ffffff0, &cpu, &rss), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse),
	    cmocka_unit_test(live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

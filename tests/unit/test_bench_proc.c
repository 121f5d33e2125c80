/* bench/proc.c: /proc/PID/stat parsing (names with spaces and parentheses), /proc/net/dev and
 * /proc/stat parsing, and live reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

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
	double cpu2, own0, own1, start, end;
	uint64_t rss2;
	struct timespec ts;
	volatile uint64_t x = 1;
	char *mem;
	const size_t big = 64u << 20;
	(void)state;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	start = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	assert_int_equal(bench_proc_read(0, &cpu, &rss), 0);
	/* burn 0.3 s of CPU: the figure grows by that, within a clock tick or two */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	own0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	do {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		own1 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	} while (own1 - own0 < 0.3);
	/* touch 64 MiB: RSS grows by most of it */
	mem = malloc(big);
	assert_non_null(mem);
	memset(mem, 0x5a, big);
	assert_int_equal(bench_proc_read(0, &cpu2, &rss2), 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	/* at least the burn, at most what the process used between the two reads (the page faults
	 * of the 64 MiB count too: under ASan on a loaded machine they take a while), each within
	 * the clock ticks that /proc rounds to */
	assert_true(cpu2 - cpu >= own1 - own0 - 0.05 && cpu2 - cpu <= end - start + 0.05);
	assert_true(rss2 >= rss + (48u << 10)); /* kB */
	assert_true(mem[big - 1] == 0x5a);
	free(mem);
	assert_int_not_equal(bench_proc_read(0x7ffffff0, &cpu, &rss), 0);
}

static void netdev(void **state)
{
	/* a large count touches the colon; "eth0" must not match "veth0" or "eth01" */
	const char *dev =
	    "Inter-|   Receive                                                |  Transmit\n"
	    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	    "errs drop fifo colls carrier compressed\n"
	    "    lo:     100       2    0    0    0     0          0         0      100       2    "
	    "0    0    0     0       0          0\n"
	    " veth0:       1       1    0    0    0     0          0         0        1       1    "
	    "0    0    0     0       0          0\n"
	    "eth01:       7       7    0    0    0     0          0         0        7       7    "
	    "0    0    0     0       0          0\n"
	    "  eth0:12345678901 4242    0    0    0     0          0         0 98765 17    0    0 "
	    "   0     0       0          0\n";
	bench_netdev_t d;
	(void)state;
	assert_int_equal(bench_netdev_parse(dev, "eth0", &d), 0);
	assert_int_equal(d.rx_bytes, 12345678901ull);
	assert_int_equal(d.rx_packets, 4242);
	assert_int_equal(d.tx_bytes, 98765);
	assert_int_equal(d.tx_packets, 17);
	assert_int_equal(bench_netdev_parse(dev, "lo", &d), 0);
	assert_int_equal(d.tx_bytes, 100);
	assert_int_equal(bench_netdev_parse(dev, "eth1", &d), -ENODEV);
	assert_int_equal(bench_netdev_parse("  eth0: 1 2 3\n", "eth0", &d), -EINVAL);
	assert_int_equal(bench_netdev_read(0, "lo", &d), 0);
	assert_int_equal(bench_netdev_read(0, "no-such-if", &d), -ENODEV);
	assert_true(bench_netdev_read(0x7ffffff0, "lo", &d) < 0);
}

static void syscpu(void **state)
{
	bench_syscpu_t c;
	(void)state;
	assert_int_equal(bench_syscpu_parse("cpu  100 2 30 4000 5 6 70 8 0 0\ncpu0 1 2 3 4 5 6 7 8 "
	                                    "0 0\n",
	                                    100, &c),
	                 0);
	assert_true(c.user == 1.0 && c.nice == 0.02 && c.system == 0.3 && c.idle == 40.0);
	assert_true(c.iowait == 0.05 && c.irq == 0.06 && c.softirq == 0.7 && c.steal == 0.08);
	assert_true(bench_syscpu_busy(&c) > 2.159 && bench_syscpu_busy(&c) < 2.161);
	assert_int_equal(bench_syscpu_parse("cpu0 1 2 3 4 5 6 7 8\n", 100, &c), -EINVAL);
	assert_int_equal(bench_syscpu_parse("cpu  1 2 3\n", 100, &c), -EINVAL);
	assert_int_equal(bench_syscpu_read(&c), 0);
	assert_true(bench_syscpu_busy(&c) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse),
	    cmocka_unit_test(live),
	    cmocka_unit_test(netdev),
	    cmocka_unit_test(syscpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

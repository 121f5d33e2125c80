/*
 * /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses, so
 * fields are counted from the last ')': utime and stime are fields 14 and 15 (clock ticks), rss
 * field 24 (pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/proc.h"

int bench_proc_parse_stat(const char *text, double ticks_per_s, uint64_t page_kb, double *cpu_s,
                          uint64_t *rss_kb)
{
	const char *p = strrchr(text, ')');
	unsigned long long utime = 0, stime = 0, rss = 0;
	int field = 2; /* the ')' ends field 2 */

	if (!p)
		return -EINVAL;
	for (p++; *p && field < 24;) {
		char *end;
		unsigned long long v;
		while (*p == ' ')
			p++;
		field++;
		v = strtoull(p, &end, 10);
		if (field == 14)
			utime = v;
		else if (field == 15)
			stime = v;
		else if (field == 24)
			rss = v;
		while (*end && *end != ' ')
			end++;
		p = end;
	}
	if (field < 24)
		return -EINVAL;
	*cpu_s = (double)(utime + stime) / ticks_per_s;
	*rss_kb = rss * page_kb;
	return 0;
}

int bench_proc_read(int pid, double *cpu_s, uint64_t *rss_kb)
{
	char path[64], buf[2048];
	ssize_t n;
	int fd;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	return bench_proc_parse_stat(buf, (double)sysconf(_SC_CLK_TCK),
	                             (uint64_t)sysconf(_SC_PAGESIZE) / 1024, cpu_s, rss_kb);
}

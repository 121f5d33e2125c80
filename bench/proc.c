/*
 * /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses, so
 * fields are counted from the last ')': utime and stime are fields 14 and 15 (clock ticks), rss
 * field 24 (pages).
 *
 * /proc/PID/net/dev: two heading lines, then "  NAME: rx_bytes rx_packets errs drop fifo frame
 * compressed multicast tx_bytes tx_packets ..." per interface of PID's network namespace (a
 * large count may touch the colon).
 *
 * /proc/stat: "cpu  user nice system idle iowait irq softirq steal guest guest_nice" in clock
 * ticks, summed over the CPUs (guest time is already in user).
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

/* The whole of a small /proc file into buf (NUL-terminated); its length or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* n decimal numbers separated by blanks from p into v; 0 or -EINVAL. */
static int numbers(const char *p, unsigned long long *v, int n)
{
	for (int i = 0; i < n; i++) {
		char *end;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (end == p || errno)
			return -EINVAL;
		p = end;
	}
	return 0;
}

int bench_netdev_parse(const char *text, const char *dev, bench_netdev_t *out)
{
	size_t dlen = strlen(dev);

	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n'), *p = line;
		unsigned long long v[10];
		while (*p == ' ')
			p++;
		if (strncmp(p, dev, dlen) == 0 && p[dlen] == ':') {
			if (numbers(p + dlen + 1, v, 10) < 0)
				return -EINVAL;
			out->rx_bytes = v[0];
			out->rx_packets = v[1];
			out->tx_bytes = v[8];
			out->tx_packets = v[9];
			return 0;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return -ENODEV;
}

int bench_netdev_read(int pid, const char *dev, bench_netdev_t *out)
{
	char path[64], buf[16384];
	ssize_t n;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/net/dev", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/net/dev");
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return (int)n;
	return bench_netdev_parse(buf, dev, out);
}

double bench_syscpu_busy(const bench_syscpu_t *c)
{
	return c->user + c->nice + c->system + c->irq + c->softirq + c->steal;
}

int bench_syscpu_parse(const char *text, double ticks_per_s, bench_syscpu_t *out)
{
	unsigned long long v[8];

	if (strncmp(text, "cpu ", 4) != 0 || numbers(text + 4, v, 8) < 0)
		return -EINVAL;
	out->user = (double)v[0] / ticks_per_s;
	out->nice = (double)v[1] / ticks_per_s;
	out->system = (double)v[2] / ticks_per_s;
	out->idle = (double)v[3] / ticks_per_s;
	out->iowait = (double)v[4] / ticks_per_s;
	out->irq = (double)v[5] / ticks_per_s;
	out->softirq = (double)v[6] / ticks_per_s;
	out->steal = (double)v[7] / ticks_per_s;
	return 0;
}

int bench_syscpu_read(bench_syscpu_t *out)
{
	char buf[512]; /* the "cpu" line comes first */
	ssize_t n = read_small("/proc/stat", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return bench_syscpu_parse(buf, (double)sysconf(_SC_CLK_TCK), out);
}

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

lb_log_level_t lb_log_level = LB_LOG_INFO;

/* The descriptors lines go to: -1 for the access log when off. A reopen keeps the numbers. */
static int error_fd = 2;
static int access_fd = -1;
static int access_parked = -1; /* the access log's number while it is off (on /dev/null) */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void put(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a log that cannot be written must not stop the proxy */
		buf += n;
		len -= (size_t)n;
	}
}

void lb_log_write(lb_log_level_t level, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char line[2048];
	size_t n;
	int k;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] ", ts.tv_nsec / 1000000,
	                      level_names[level]);
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k
	                                      : sizeof(line) - n - 2; /* cut long lines */
	line[n++] = '\n';
	put(__atomic_load_n(&error_fd, __ATOMIC_RELAXED), line, n);
}

bool lb_log_access_on(void)
{
	return __atomic_load_n(&access_fd, __ATOMIC_ACQUIRE) >= 0;
}

void lb_log_access_line(const char *line, size_t len)
{
	int fd = __atomic_load_n(&access_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		put(fd, line, len);
}

/* A descriptor for dest ("stderr", "stdout" or a file, appended to); -1 with err set. */
static int open_dest(const char *dest, char *err, size_t errlen)
{
	int fd;
	if (strcmp(dest, "stderr") == 0)
		return dup(2);
	if (strcmp(dest, "stdout") == 0)
		return dup(1);
	fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		snprintf(err, errlen, "%s: cannot open: %s", dest, strerror(errno));
	return fd;
}

/* Puts fd under *slot's number (the first time: fd becomes the slot). */
static void install(int *slot, int fd, bool first_is_std)
{
	int cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (cur < 0 || (first_is_std && cur == 2)) {
		/* stderr itself is never replaced under other users of fd 2: the log gets its own
		 */
		__atomic_store_n(slot, fd, __ATOMIC_RELEASE);
		return;
	}
	(void)dup2(fd, cur);
	close(fd);
}

int lb_log_open(const lb_log_conf_t *conf, char *err, size_t errlen)
{
	int efd, afd = -1;
	bool access = conf->access && strcmp(conf->access, "off") != 0;

	efd = open_dest(conf->error ? conf->error : "stderr", err, errlen);
	if (efd < 0)
		return -1;
	if (access && (afd = open_dest(conf->access, err, errlen)) < 0) {
		close(efd);
		return -1;
	}
	install(&error_fd, efd, true);
	if (access && access_parked >= 0 && __atomic_load_n(&access_fd, __ATOMIC_ACQUIRE) < 0) {
		(void)dup2(afd, access_parked);
		close(afd);
		__atomic_store_n(&access_fd, access_parked, __ATOMIC_RELEASE);
		access_parked = -1;
	} else if (access) {
		install(&access_fd, afd, false);
	} else {
		int cur = __atomic_exchange_n(&access_fd, -1, __ATOMIC_ACQ_REL);
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		/* a writer that loaded cur just before may still write: it goes nowhere, and the
		 * descriptor number is not reused for anything else */
		if (cur >= 0 && null >= 0)
			(void)dup2(null, cur);
		if (cur >= 0)
			access_parked = cur;
		if (null >= 0)
			close(null);
	}
	__atomic_store_n(&lb_log_level, conf->level, __ATOMIC_RELAXED);
	return 0;
}

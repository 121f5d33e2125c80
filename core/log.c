#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

lb_log_level_t lb_log_level = LB_LOG_INFO;

static FILE *error_fp;  /* NULL: stderr */
static FILE *access_fp; /* NULL: off */
static bool access_owned, error_owned;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void lb_log_write(lb_log_level_t level, const char *fmt, ...)
{
	FILE *fp = error_fp ? error_fp : stderr;
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(fp, "%s.%03ldZ [%s] ", stamp, ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fputc('\n', fp);
	fflush(fp);
}

static FILE *open_dest(const char *dest, bool *owned, char *err, size_t errlen)
{
	FILE *fp;
	*owned = false;
	if (strcmp(dest, "stderr") == 0)
		return stderr;
	if (strcmp(dest, "stdout") == 0)
		return stdout;
	fp = fopen(dest, "a");
	if (!fp) {
		snprintf(err, errlen, "%s: cannot open: %s", dest, strerror(errno));
		return NULL;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	*owned = true;
	return fp;
}

int lb_log_open(const lb_log_conf_t *conf, char *err, size_t errlen)
{
	FILE *afp = NULL, *efp;
	bool aown = false, eown;

	efp = open_dest(conf->error ? conf->error : "stderr", &eown, err, errlen);
	if (!efp)
		return -1;
	if (conf->access && strcmp(conf->access, "off") != 0) {
		afp = open_dest(conf->access, &aown, err, errlen);
		if (!afp) {
			if (eown)
				fclose(efp);
			return -1;
		}
		if (afp == stdout)
			setvbuf(stdout, NULL, _IOLBF, 0);
	}
	if (error_owned && error_fp)
		fclose(error_fp);
	if (access_owned && access_fp)
		fclose(access_fp);
	error_fp = efp;
	error_owned = eown;
	access_fp = afp;
	access_owned = aown;
	lb_log_level = conf->level;
	return 0;
}

FILE *lb_log_access(void)
{
	return access_fp;
}

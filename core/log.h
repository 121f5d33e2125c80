/*
 * Error log and access log. Error-log macros check the level before evaluating their arguments.
 * Runs on the main loop's thread only (no locking).
 */
#ifndef S3LB_CORE_LOG_H
#define S3LB_CORE_LOG_H

#include <stdio.h>

#include "core/config.h"

extern lb_log_level_t lb_log_level;

void lb_log_write(lb_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LB_LOG(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((lvl) <= lb_log_level)                                                         \
			lb_log_write((lvl), __VA_ARGS__);                                          \
	} while (0)
#define LB_ERR(...)   LB_LOG(LB_LOG_ERROR, __VA_ARGS__)
#define LB_WARN(...)  LB_LOG(LB_LOG_WARN, __VA_ARGS__)
#define LB_INFO(...)  LB_LOG(LB_LOG_INFO, __VA_ARGS__)
#define LB_DEBUG(...) LB_LOG(LB_LOG_DEBUG, __VA_ARGS__)

/*
 * Opens the error and access logs named in the config ("stderr", "stdout", "off" or a path).
 * Called at start and on SIGHUP (reopens files, for logrotate). Returns 0 or -errno.
 */
int lb_log_open(const lb_log_conf_t *conf, char *err, size_t errlen);

/* The access log stream, or NULL when off. */
FILE *lb_log_access(void);

#endif

/*
 * Error log and access log. Error-log macros check the level before evaluating their arguments.
 * Any thread may write: each line goes out in one write(2) on a descriptor opened O_APPEND, so
 * lines of different workers never mix, and a reopen (SIGHUP, logrotate) puts the new file under
 * the same descriptor number (dup2), so a writer never holds a closed descriptor.
 */
#ifndef S3LB_CORE_LOG_H
#define S3LB_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/config.h"

extern lb_log_level_t lb_log_level;

void lb_log_write(lb_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LB_LOG(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((int)(lvl) <= (int)__atomic_load_n(&lb_log_level, __ATOMIC_RELAXED))           \
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

/* Whether the access log is on, and one line (with its newline) to it. */
bool lb_log_access_on(void);
void lb_log_access_line(const char *line, size_t len);

#endif

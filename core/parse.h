/*
 * The one syntax for durations, sizes and addresses, used by the config and the command line.
 *   durations: "500ms", "2s", "1m", "1h", "1.5s"; a bare number is rejected (units are required)
 *   sizes:     "512", "64KiB", "1MiB", "2GiB", "10kB", "5MB" (kB/MB/GB are powers of 10)
 *   addresses: "10.0.0.1:80", "[::1]:80", "localhost:80" is rejected (no DNS at load time)
 */
#ifndef S3LB_CORE_PARSE_H
#define S3LB_CORE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct lb_addr_s {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* canonical form: "10.0.0.1:80" or "[::1]:80" */
	char host[56]; /* host part without brackets or port: "10.0.0.1", "::1" */
	uint16_t port;
} lb_addr_t;

/* Each returns 0 on success, -1 with a short reason in *why (static string) on failure. */
int lb_parse_duration_ms(const char *s, uint64_t *ms, const char **why);
int lb_parse_size(const char *s, uint64_t *bytes, const char **why);
int lb_parse_addr(const char *s, lb_addr_t *addr, const char **why);

/* Formats back into the canonical syntax ("1500ms" -> "1500ms", 2000 -> "2s", 65536 -> "64KiB"). */
void lb_format_duration(uint64_t ms, char *buf, size_t len);
void lb_format_size(uint64_t bytes, char *buf, size_t len);

/* (implemented in core/glob.c) Glob match with '*' (any run, may be empty) and '?' (one byte);
 * case-sensitive. */
int lb_glob_match(const char *pattern, const char *s, size_t len);

#endif

/*
 * HTTP/1.1 response parser for the load generator: the only file of bench/ that includes llhttp.
 * It hands the decoded body (chunk framing removed) to a callback as it arrives, keeps the few
 * header values the workloads need (ETag for multipart parts), and stops right after each
 * message so keep-alive connections can go on. One parser per connection, reused for every
 * response; any thread, one owner.
 */
#ifndef S3LB_BENCH_HTTP_H
#define S3LB_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_http_s bench_http_t;

/* Decoded body bytes, in order; p is valid only during the call. */
typedef void (*bench_http_body_cb)(void *ud, const char *p, size_t len);

typedef enum {
	BENCH_HTTP_MORE = 0, /* all bytes consumed, the response goes on */
	BENCH_HTTP_DONE,     /* the response ended after *used bytes */
	BENCH_HTTP_ERROR,    /* not valid HTTP (bench_http_error says why) */
} bench_http_result_t;

bench_http_t *bench_http_new(void);
void bench_http_free(bench_http_t *h);

/* A new connection: forgets everything about the previous one (a parser that saw
 * "Connection: close" refuses any further byte). */
void bench_http_reset(bench_http_t *h);

/* Gets ready for the next response; head_request: it answers a HEAD (no body follows). */
void bench_http_begin(bench_http_t *h, bool head_request, bench_http_body_cb body, void *ud);

bench_http_result_t bench_http_feed(bench_http_t *h, const char *data, size_t len, size_t *used);
/* The server closed: DONE when the response was complete or runs until close, else ERROR. */
bench_http_result_t bench_http_eof(bench_http_t *h);

bool bench_http_started(const bench_http_t *h); /* some byte of the response was seen */
bool bench_http_head_done(const bench_http_t *h);
int bench_http_status(const bench_http_t *h);
/* After DONE: the connection may carry another request. */
bool bench_http_keep_alive(const bench_http_t *h);
/* Content-Length, or -1 when absent (chunked or until close). */
int64_t bench_http_content_length(const bench_http_t *h);
/* The ETag header's value as sent (with its quotes), "" when absent. */
const char *bench_http_etag(const bench_http_t *h);
const char *bench_http_error(const bench_http_t *h);

#endif

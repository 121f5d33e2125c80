/*
 * What the bench keeps of a response head (net/http.c parses it): the status, the
 * Content-Length (-1 when absent or chunked) and the ETag as sent (multipart parts).
 */
#ifndef S3LB_BENCH_RESP_H
#define S3LB_BENCH_RESP_H

#include <stdint.h>

#include "net/http.h"

#define BENCH_ETAG_CAP 128

typedef struct bench_resp_s {
	int status;
	int64_t clen;
	char etag[BENCH_ETAG_CAP]; /* cut to fit: only compared and sent back, never trusted */
} bench_resp_t;

/* Before a response: nothing known. */
void bench_resp_reset(bench_resp_t *r);
/* From a final head; msg: the head's first byte (net_client_cbs_t.on_head). */
void bench_resp_head(bench_resp_t *r, const net_http_t *h, const char *msg);

#endif

/*
 * S3 requests on the wire: the request head for an operation on the bench's bucket, addressed
 * path-style (/bucket/key, Host: endpoint) or virtual-hosted (/key, Host: bucket.domain), signed
 * with SigV4 in the Authorization header or presigned in the query. Plus the two XML values the
 * workloads read from responses (UploadId, and an error's Code).
 *
 * One bench_s3_t per worker thread (it owns a signer, which is not thread-safe).
 */
#ifndef S3LB_BENCH_S3_H
#define S3LB_BENCH_S3_H

#include <stddef.h>
#include <stdint.h>

#include "bench/opts.h"
#include "core/sigv4.h"

typedef struct bench_s3_cache_s bench_s3_cache_t;

typedef struct bench_s3_s {
	const bench_opts_t *o;
	lb_sigv4_t *sig;
	bench_s3_cache_t *cache; /* signed heads of this second (see bench_s3_head) */
	char host[512];          /* the Host header */
	char path_base[128];     /* "/bucket" (path-style) or "" (virtual-hosted) */
	char amz_date[17];       /* cached for date_sec */
	int64_t date_sec;
} bench_s3_t;

typedef struct bench_s3_req_s {
	const char *method;
	const char *key;          /* raw object key; NULL: the bucket itself */
	const char *query;        /* already URI-encoded; NULL or "": none */
	const char *range;        /* Range header value, or NULL */
	int64_t content_length;   /* -1: no Content-Length header */
	const char *payload_hash; /* hex SHA-256 of the body; NULL: unsigned (see sign_payload) */
} bench_s3_req_t;

__attribute__((warn_unused_result)) int bench_s3_init(bench_s3_t *s, const bench_opts_t *o,
                                                      const bench_target_t *t);
void bench_s3_free(bench_s3_t *s);

/*
 * Writes the request head (through the blank line) into out: its length, or a negative error
 * (UV_ENOBUFS when it does not fit). now_s: the wall clock for x-amz-date.
 *
 * The signed part of a head (request line, Host, x-amz-date, x-amz-content-sha256,
 * Authorization) depends only on the method, key, query, payload hash and the second, so it is
 * kept in a small cache and reused for the same request in the same second: the bytes sent are
 * exactly those a fresh signature would give, and the generator spends its CPU on I/O instead
 * of re-hashing. Range and Content-Length are not signed and are appended each time.
 */
int bench_s3_head(bench_s3_t *s, const bench_s3_req_t *r, int64_t now_s, char *out, size_t cap);

/* The text of the first <tag>...</tag> in xml[0, len) into out: 0, or -1 when absent or too
 * long. No entity decoding (the values read here never need it). */
int bench_xml_value(const char *xml, size_t len, const char *tag, char *out, size_t cap);

#endif

/*
 * AWS Signature Version 4 for S3 requests (OpenSSL HMAC-SHA256). Used by the s3 health probe.
 */
#ifndef S3LB_CORE_SIGV4_H
#define S3LB_CORE_SIGV4_H

#include <stddef.h>
#include <time.h>

typedef struct lb_sigv4_hdr_s {
	const char *name;  /* lowercase */
	const char *value; /* trimmed */
} lb_sigv4_hdr_t;

/* The empty payload's SHA-256, as x-amz-content-sha256 wants it. */
#define LB_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* "20130524T000000Z" for t (UTC). buf: 17 bytes. */
void lb_sigv4_amz_date(time_t t, char buf[17]);

/* Percent-encodes an object key for the canonical URI (unreserved bytes and '/' kept). */
void lb_sigv4_uri_encode(const char *s, char *out, size_t cap);

/*
 * Builds the Authorization header value for a request. uri: the canonical (already encoded)
 * path; query: the canonical query string ("" for none); hdrs: every signed header (host,
 * x-amz-date and x-amz-content-sha256 among them), in any order; amz_date: the x-amz-date value.
 * Returns 0, or -1 when out is too small or an argument is invalid.
 */
int lb_sigv4_authorization(const char *method, const char *uri, const char *query,
                           const lb_sigv4_hdr_t *hdrs, size_t nhdrs, const char *payload_hash,
                           const char *access_key, const char *secret_key, const char *region,
                           const char *service, const char *amz_date, char *out, size_t cap);

#endif

/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256): header authorization and presigned URLs, for
 * bench/'s requests and health/'s s3 probe. The only file of core/ that includes OpenSSL.
 *
 * A signer holds the credentials, the scope (region, service), the signing key of the day it
 * last signed for, and OpenSSL digest contexts it reuses; one signer per thread (it is not
 * thread-safe). Callers give the path and query exactly as they will be sent (already
 * URI-encoded, see lb_sigv4_uri_encode) and the headers to sign, which must include host and
 * x-amz-date (and x-amz-content-sha256 for S3).
 */
#ifndef S3LB_CORE_SIGV4_H
#define S3LB_CORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lb_sigv4_s lb_sigv4_t;

typedef struct lb_sigv4_hdr_s {
	const char *name; /* any case; signed in lower case */
	const char *value;
} lb_sigv4_hdr_t;

#define LB_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LB_SIGV4_UNSIGNED     "UNSIGNED-PAYLOAD"

/* Returns 0, or UV_EINVAL when a value is too long or OpenSSL has no SHA-256. */
__attribute__((warn_unused_result)) int lb_sigv4_new(const char *access_key, const char *secret,
                                                     const char *region, const char *service,
                                                     lb_sigv4_t **out);
void lb_sigv4_free(lb_sigv4_t *s);

/*
 * The Authorization header value for a request: "AWS4-HMAC-SHA256 Credential=.../aws4_request,
 * SignedHeaders=a;b, Signature=<hex>". amz_date: "YYYYMMDDTHHMMSSZ"; payload_hash: the hex
 * SHA-256 of the body or "UNSIGNED-PAYLOAD". Returns 0, or UV_ENOBUFS when it does not fit.
 */
__attribute__((warn_unused_result)) int
lb_sigv4_authorization(lb_sigv4_t *s, const char *method, const char *path, const char *query,
                       const lb_sigv4_hdr_t *hdrs, size_t nhdrs, const char *amz_date,
                       const char *payload_hash, char *out, size_t cap);

/*
 * A presigned request: writes the whole query string to send (the request's own parameters
 * plus X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders=host and -Signature), for
 * a request whose only signed header is host and whose payload is unsigned.
 */
__attribute__((warn_unused_result)) int lb_sigv4_presign(lb_sigv4_t *s, const char *method,
                                                         const char *path, const char *query,
                                                         const char *host, const char *amz_date,
                                                         unsigned expires, char *out, size_t cap);

/* Hex SHA-256 of data (65 bytes with the NUL). */
void lb_sigv4_sha256_hex(lb_sigv4_t *s, const void *data, size_t len, char hex[65]);

/* Incremental SHA-256 of a body made in pieces (PUT with a signed payload). */
void lb_sigv4_sha256_begin(lb_sigv4_t *s);
void lb_sigv4_sha256_update(lb_sigv4_t *s, const void *data, size_t len);
void lb_sigv4_sha256_end(lb_sigv4_t *s, char hex[65]);

/*
 * URI-encodes src[0, len) as SigV4 wants: unreserved characters (A-Z a-z 0-9 - . _ ~) as they
 * are, '/' as is when keep_slash (object key paths), everything else as %XX (upper-case hex).
 * Returns the length written (NUL-terminated), or -1 when it does not fit.
 */
int lb_sigv4_uri_encode(const char *src, size_t len, bool keep_slash, char *out, size_t cap);

/* "YYYYMMDDTHHMMSSZ" for a Unix time. */
void lb_sigv4_amz_date(int64_t unix_s, char out[17]);

#endif

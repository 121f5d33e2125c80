/*
 * The S3 request model: which bucket and key a request names and what class of operation it is,
 * from the method, the request target and the Host header. Pure functions, no allocation: bucket
 * and key point into the caller's target or host bytes, percent-encoding preserved (the key is
 * exactly the bytes of the path after the bucket, so "a%2Fb" stays "a%2Fb").
 */
#ifndef S3LB_GATEWAY_S3REQ_H
#define S3LB_GATEWAY_S3REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct gw_s3req_s {
	const char *bucket; /* NULL when the request names no bucket (ListBuckets, GET /) */
	size_t bucket_len;
	const char *key; /* NULL when the request names no object */
	size_t key_len;
	lb_op_t op;
	bool virtual_hosted; /* bucket came from the Host header */
} gw_s3req_t;

/*
 * method: as the client sent it ("GET"); target: origin-form request target including the query
 * ("/bucket/key?uploads"); host: Host header value (may carry ":port", compared case-insensitively
 * against domains, which are lowercase without port). Returns 0, or -1 when the target is not
 * origin-form (the caller answers 400).
 */
int gw_s3req_parse(gw_s3req_t *r, const char *method, size_t method_len, const char *target,
                   size_t target_len, const char *host, size_t host_len, char *const *domains,
                   size_t ndomains);

/* True when the query string of target has parameter `name` (with or without a value). */
bool gw_query_has(const char *target, size_t target_len, const char *name);

/*
 * Length of the host name at the start of a Host header value, that is without ":port"
 * ("[::1]:8080" -> 5, keeping the brackets of an IPv6 literal; "s3.local:80" -> 8).
 */
size_t gw_host_name_len(const char *host, size_t host_len);

#endif

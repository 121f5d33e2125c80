/*
 * Routing: the first route of a frontend whose bucket glob, op set and host glob all match.
 * Runs on the main loop for each request, after the header block; no allocation.
 */
#include "gateway/router.h"

#include <stdbool.h>

#include "core/parse.h"

/*
 * Longest host name we fold for matching: a DNS name is at most 253 bytes (plus a trailing dot),
 * an IPv6 literal far less. A longer Host matches no host glob (only routes without one).
 */
#define HOST_MAX 256

static bool route_matches(const lb_route_conf_t *rt, const gw_s3req_t *r, const char *host,
                          size_t host_len, bool host_ok)
{
	if (rt->bucket != NULL &&
	    (r->bucket == NULL || !lb_glob_match(rt->bucket, r->bucket, r->bucket_len)))
		return false;
	if (rt->ops != 0 && (rt->ops & (uint32_t)r->op) == 0)
		return false;
	if (rt->host != NULL && (!host_ok || !lb_glob_match(rt->host, host, host_len)))
		return false;
	return true;
}

int gw_route(const lb_frontend_conf_t *fe, const gw_s3req_t *r, const char *host, size_t host_len)
{
	char lower[HOST_MAX];
	size_t len = host != NULL ? gw_host_name_len(host, host_len) : 0;
	bool host_ok = len <= sizeof(lower);
	if (host_ok) {
		for (size_t i = 0; i < len; i++) {
			char c = host[i];
			lower[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
	}
	for (size_t i = 0; i < fe->nroutes; i++) {
		if (route_matches(&fe->routes[i], r, lower, len, host_ok))
			return (int)i;
	}
	return -1;
}

/*
 * The S3 request model: bucket, key and operation class of a request, from its method, target
 * and Host header. Pure functions over the caller's bytes: nothing is allocated, decoded or
 * copied, so the result stays valid exactly as long as the target and host buffers do.
 *
 * Addressing:
 *   path-style       GET /bucket/key?x          Host: s3.example.com (or any host)
 *   virtual-hosted   GET /key?x                 Host: bucket.s3.example.com
 * A Host whose name (port stripped, case folded) ends in ".<domain>" for a configured domain is
 * virtual-hosted, and everything before that suffix is the bucket (which may hold dots). When
 * several domains match ("eu.s3.example.com" and "s3.example.com"), the longest one wins. A Host
 * equal to a domain, or matching none, is path-style.
 *
 * The bucket of a virtual-hosted request keeps the case the client wrote in Host: S3 bucket
 * names are lowercase, so a client sending uppercase there has a bucket no route should match.
 */
#include "gateway/s3req.h"

#include <string.h>

#include "core/config.h"

/* Bucket-level sub-resources: a GET with one of these reads bucket configuration, not objects. */
static const char *const bucket_subresources[] = {
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "website",
};

static bool mem_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does host[0..hlen) end with ".<domain>" (case-insensitively) and leave a non-empty prefix? */
static bool host_has_domain_suffix(const char *host, size_t hlen, const char *domain, size_t dlen)
{
	if (hlen < dlen + 2)
		return false;
	const char *tail = host + hlen - dlen;
	if (tail[-1] != '.')
		return false;
	for (size_t i = 0; i < dlen; i++) {
		if (ascii_lower(tail[i]) != domain[i])
			return false;
	}
	return true;
}

static bool host_equals_domain(const char *host, size_t hlen, const char *domain, size_t dlen)
{
	if (hlen != dlen)
		return false;
	for (size_t i = 0; i < dlen; i++) {
		if (ascii_lower(host[i]) != domain[i])
			return false;
	}
	return true;
}

size_t gw_host_name_len(const char *host, size_t host_len)
{
	if (host_len > 0 && host[0] == '[') {
		/* IPv6 literal: the name is everything up to and including the ']'. */
		const char *end = memchr(host, ']', host_len);
		return end != NULL ? (size_t)(end - host) + 1 : host_len;
	}
	const char *colon = memchr(host, ':', host_len);
	return colon != NULL ? (size_t)(colon - host) : host_len;
}

/*
 * The bucket named by Host, or NULL for path-style. A trailing dot (fully qualified form,
 * "bucket.s3.example.com.") is ignored.
 */
static const char *vhost_bucket(const char *host, size_t host_len, char *const *domains,
                                size_t ndomains, size_t *bucket_len)
{
	if (host == NULL)
		return NULL;
	size_t hlen = gw_host_name_len(host, host_len);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	size_t best = 0;
	bool found = false;
	for (size_t i = 0; i < ndomains; i++) {
		size_t dlen = strlen(domains[i]);
		if (host_equals_domain(host, hlen, domains[i], dlen))
			return NULL;
		if (host_has_domain_suffix(host, hlen, domains[i], dlen) &&
		    (!found || dlen > best)) {
			best = dlen;
			found = true;
		}
	}
	if (!found)
		return NULL;
	*bucket_len = hlen - best - 1;
	return host;
}

bool gw_query_has(const char *target, size_t target_len, const char *name)
{
	const char *q = memchr(target, '?', target_len);
	if (q == NULL)
		return false;
	const char *end = target + target_len;
	size_t nlen = strlen(name);
	const char *p = q + 1;
	while (p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *param_end = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(param_end - p));
		const char *name_end = eq != NULL ? eq : param_end;
		if (mem_eq(p, (size_t)(name_end - p), name, nlen))
			return true;
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return false;
}

static bool query_has_any(const char *target, size_t target_len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (gw_query_has(target, target_len, names[i]))
			return true;
	}
	return false;
}

/* True when the query holds at least one parameter ("/b?" and "/b" have none). */
static bool query_nonempty(const char *target, size_t target_len)
{
	const char *q = memchr(target, '?', target_len);
	if (q == NULL)
		return false;
	for (const char *p = q + 1; p < target + target_len; p++) {
		if (*p != '&')
			return true;
	}
	return false;
}

typedef enum { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_OTHER } method_t;

/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
static method_t method_of(const char *m, size_t len)
{
	if (mem_eq(m, len, "GET", 3))
		return M_GET;
	if (mem_eq(m, len, "HEAD", 4))
		return M_HEAD;
	if (mem_eq(m, len, "PUT", 3))
		return M_PUT;
	if (mem_eq(m, len, "POST", 4))
		return M_POST;
	if (mem_eq(m, len, "DELETE", 6))
		return M_DELETE;
	return M_OTHER;
}

/* GET / (ListBuckets). HEAD behaves as GET without a body. */
static lb_op_t op_service(method_t m)
{
	return m == M_GET || m == M_HEAD ? LB_OP_LIST : LB_OP_OTHER;
}

static lb_op_t op_bucket(method_t m, const char *t, size_t tlen)
{
	switch (m) {
	case M_GET:
		/* ListObjects (v1, v2 with list-type=2), ListObjectVersions (?versions) and
		 * ListMultipartUploads (?uploads) are listings; ?acl, ?policy... read config. */
		if (query_has_any(t, tlen, bucket_subresources,
		                  sizeof(bucket_subresources) / sizeof(bucket_subresources[0])))
			return LB_OP_BUCKET;
		return LB_OP_LIST;
	case M_HEAD:
	case M_PUT:
	case M_DELETE:
		return LB_OP_BUCKET;
	case M_POST:
		if (gw_query_has(t, tlen, "delete"))
			return LB_OP_DELETE; /* DeleteObjects */
		if (!query_nonempty(t, tlen))
			return LB_OP_WRITE; /* browser-based form upload (POST Object) */
		return LB_OP_OTHER;
	default:
		return LB_OP_OTHER;
	}
}

static lb_op_t op_object(method_t m, const char *t, size_t tlen)
{
	bool upload_id = gw_query_has(t, tlen, "uploadId");
	switch (m) {
	case M_GET:
	case M_HEAD:
		return LB_OP_READ; /* incl. ListParts (?uploadId), ?acl, ?tagging, ?attributes */
	case M_PUT:
		/* UploadPart and UploadPartCopy carry uploadId; CopyObject is a plain PUT. */
		return upload_id ? LB_OP_MPU_PART : LB_OP_WRITE;
	case M_DELETE:
		return upload_id ? LB_OP_MPU_ABORT : LB_OP_DELETE;
	case M_POST:
		if (upload_id)
			return LB_OP_MPU_COMPLETE;
		if (gw_query_has(t, tlen, "uploads"))
			return LB_OP_MPU_CREATE;
		if (gw_query_has(t, tlen, "select"))
			return LB_OP_READ; /* SelectObjectContent only reads the object */
		if (gw_query_has(t, tlen, "restore") || !query_nonempty(t, tlen))
			return LB_OP_WRITE; /* RestoreObject makes a copy; POST Object uploads */
		return LB_OP_OTHER;
	default:
		return LB_OP_OTHER;
	}
}

int gw_s3req_parse(gw_s3req_t *r, const char *method, size_t method_len, const char *target,
                   size_t target_len, const char *host, size_t host_len, char *const *domains,
                   size_t ndomains)
{
	memset(r, 0, sizeof(*r));
	if (target_len == 0 || target[0] != '/')
		return -1; /* absolute-form, authority-form, asterisk-form */

	const char *q = memchr(target, '?', target_len);
	size_t path_len = q != NULL ? (size_t)(q - target) : target_len;
	/* Path without its leading '/'. */
	const char *path = target + 1;
	size_t plen = path_len - 1;

	size_t vb_len = 0;
	const char *vb = vhost_bucket(host, host_len, domains, ndomains, &vb_len);
	if (vb != NULL) {
		r->virtual_hosted = true;
		r->bucket = vb;
		r->bucket_len = vb_len;
		if (plen > 0) {
			r->key = path;
			r->key_len = plen;
		}
	} else if (plen > 0) {
		const char *slash = memchr(path, '/', plen);
		size_t blen = slash != NULL ? (size_t)(slash - path) : plen;
		if (blen == 0) {
			/* "//x": an empty bucket name is no S3 request we can classify. */
			r->op = LB_OP_OTHER;
			return 0;
		}
		r->bucket = path;
		r->bucket_len = blen;
		if (slash != NULL && plen > blen + 1) {
			r->key = slash + 1;
			r->key_len = plen - blen - 1;
		}
	}

	method_t m = method_of(method, method_len);
	if (r->bucket == NULL)
		r->op = op_service(m);
	else if (r->key == NULL)
		r->op = op_bucket(m, target, target_len);
	else
		r->op = op_object(m, target, target_len);
	return 0;
}

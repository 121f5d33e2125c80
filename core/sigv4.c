#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/sigv4.h"

void lb_sigv4_amz_date(time_t t, char buf[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void lb_sigv4_uri_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t p = 0;
	for (; *s && p + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			out[p++] = (char)c;
		} else {
			out[p++] = '%';
			out[p++] = hex[c >> 4];
			out[p++] = hex[c & 15];
		}
	}
	out[p] = 0;
}

static void hexify(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = 0;
}

static void hmac(const unsigned char *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static int cmp_hdr(const void *a, const void *b)
{
	return strcmp(((const lb_sigv4_hdr_t *)a)->name, ((const lb_sigv4_hdr_t *)b)->name);
}

int lb_sigv4_authorization(const char *method, const char *uri, const char *query,
                           const lb_sigv4_hdr_t *hdrs, size_t nhdrs, const char *payload_hash,
                           const char *access_key, const char *secret_key, const char *region,
                           const char *service, const char *amz_date, char *out, size_t cap)
{
	char creq[8192], sts[512], scope[128], signed_names[1024], date[9], hash[65], sig[65];
	unsigned char digest[32], k[32];
	char kdate_key[256];
	lb_sigv4_hdr_t sorted[32];
	size_t p = 0, sp = 0;
	int n;

	if (nhdrs > 32 || strlen(amz_date) < 8 || strlen(secret_key) > 200)
		return -1;
	memcpy(sorted, hdrs, nhdrs * sizeof(*hdrs));
	qsort(sorted, nhdrs, sizeof(*sorted), cmp_hdr);
	memcpy(date, amz_date, 8);
	date[8] = 0;
	signed_names[0] = 0;
	n = snprintf(creq, sizeof(creq), "%s\n%s\n%s\n", method, uri, query);
	if (n < 0 || (size_t)n >= sizeof(creq))
		return -1;
	p = (size_t)n;
	for (size_t i = 0; i < nhdrs; i++) {
		n = snprintf(creq + p, sizeof(creq) - p, "%s:%s\n", sorted[i].name,
		             sorted[i].value);
		if (n < 0 || (size_t)n >= sizeof(creq) - p)
			return -1;
		p += (size_t)n;
		n = snprintf(signed_names + sp, sizeof(signed_names) - sp, "%s%s", i ? ";" : "",
		             sorted[i].name);
		if (n < 0 || (size_t)n >= sizeof(signed_names) - sp)
			return -1;
		sp += (size_t)n;
	}
	n = snprintf(creq + p, sizeof(creq) - p, "\n%s\n%s", signed_names, payload_hash);
	if (n < 0 || (size_t)n >= sizeof(creq) - p)
		return -1;
	SHA256((const unsigned char *)creq, strlen(creq), digest);
	hexify(digest, 32, hash);
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hash);
	snprintf(kdate_key, sizeof(kdate_key), "AWS4%s", secret_key);
	hmac((const unsigned char *)kdate_key, strlen(kdate_key), date, k);
	hmac(k, 32, region, k);
	hmac(k, 32, service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts, digest);
	hexify(digest, 32, sig);
	n = snprintf(out, cap, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	             access_key, scope, signed_names, sig);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

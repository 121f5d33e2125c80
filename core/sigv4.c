/*
 * SigV4 (see sigv4.h). The steps, as AWS documents them:
 *
 *   canonical request = METHOD \n path \n sorted query \n lower-case headers "name:value\n",
 *                       sorted \n signed header names "a;b" \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n amz-date \n date/region/service/aws4_request \n
 *                       hex(SHA-256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 *                       "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * The signing key depends only on the date, so it is kept until the date changes. HMAC is made
 * from the SHA-256 digest (RFC 2104) with one reused EVP_MD_CTX: no per-call algorithm fetch.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <uv.h>

#include "core/sbuf.h"
#include "core/sigv4.h"

#define MAX_HDRS   32
#define MAX_PARAMS 32
#define CREQ_CAP   8192

/*
 * The sizes are far above real values (AWS: keys up to 128 bytes, secrets 40). Secrets go up to
 * 200 bytes and regions past 100, as the health probe's signer took them before it used this one.
 */
struct lb_sigv4_s {
	char access_key[256];
	char secret[4 + 200 + 1]; /* "AWS4" + secret */
	char region[128];
	char service[32];
	char key_date[9]; /* YYYYMMDD of key[], "" before the first signature */
	unsigned char key[32];
	EVP_MD *md;
	EVP_MD_CTX *ctx;  /* scratch for one digest at a time */
	EVP_MD_CTX *body; /* lb_sigv4_sha256_begin .. end */
};

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256(lb_sigv4_t *s, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char out[32])
{
	EVP_DigestInit_ex2(s->ctx, s->md, NULL);
	EVP_DigestUpdate(s->ctx, a, alen);
	if (blen)
		EVP_DigestUpdate(s->ctx, b, blen);
	EVP_DigestFinal_ex(s->ctx, out, NULL);
}

static void hmac(lb_sigv4_t *s, const void *key, size_t klen, const void *msg, size_t mlen,
                 unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	size_t i;

	if (klen > sizeof(k))
		sha256(s, key, klen, NULL, 0, k);
	else
		memcpy(k, key, klen);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256(s, pad, 64, msg, mlen, inner);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256(s, pad, 64, inner, 32, out);
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int lb_sigv4_new(const char *access_key, const char *secret, const char *region,
                 const char *service, lb_sigv4_t **out)
{
	lb_sigv4_t *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	*out = NULL;
	memcpy(s->secret, "AWS4", 4);
	if (copy_str(s->access_key, sizeof(s->access_key), access_key) < 0 ||
	    copy_str(s->secret + 4, sizeof(s->secret) - 4, secret) < 0 ||
	    copy_str(s->region, sizeof(s->region), region) < 0 ||
	    copy_str(s->service, sizeof(s->service), service) < 0)
		goto fail;
	s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->ctx = EVP_MD_CTX_new();
	s->body = EVP_MD_CTX_new();
	if (!s->md || !s->ctx || !s->body)
		goto fail;
	*out = s;
	return 0;

fail:
	lb_sigv4_free(s);
	return UV_EINVAL;
}

void lb_sigv4_free(lb_sigv4_t *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->body);
	EVP_MD_CTX_free(s->ctx);
	EVP_MD_free(s->md);
	OPENSSL_cleanse(s->secret, sizeof(s->secret));
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

void lb_sigv4_sha256_hex(lb_sigv4_t *s, const void *data, size_t len, char hex[65])
{
	unsigned char d[32];
	sha256(s, data, len, NULL, 0, d);
	to_hex(d, 32, hex);
}

void lb_sigv4_sha256_begin(lb_sigv4_t *s)
{
	EVP_DigestInit_ex2(s->body, s->md, NULL);
}

void lb_sigv4_sha256_update(lb_sigv4_t *s, const void *data, size_t len)
{
	EVP_DigestUpdate(s->body, data, len);
}

void lb_sigv4_sha256_end(lb_sigv4_t *s, char hex[65])
{
	unsigned char d[32];
	EVP_DigestFinal_ex(s->body, d, NULL);
	to_hex(d, 32, hex);
}

static void signing_key(lb_sigv4_t *s, const char *amz_date)
{
	unsigned char k[32];
	if (memcmp(s->key_date, amz_date, 8) == 0 && s->key_date[0])
		return;
	hmac(s, s->secret, strlen(s->secret), amz_date, 8, k);
	hmac(s, k, 32, s->region, strlen(s->region), k);
	hmac(s, k, 32, s->service, strlen(s->service), k);
	hmac(s, k, 32, "aws4_request", 12, s->key);
	memcpy(s->key_date, amz_date, 8);
	s->key_date[8] = '\0';
}

int lb_sigv4_uri_encode(const char *src, size_t len, bool keep_slash, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
		    (c == '/' && keep_slash)) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '%';
			out[o++] = "0123456789ABCDEF"[c >> 4];
			out[o++] = "0123456789ABCDEF"[c & 15];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (int)o;
}

void lb_sigv4_amz_date(int64_t unix_s, char out[17])
{
	struct tm tm;
	time_t t = (time_t)unix_s;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- canonical parts ------------------------------------------------------------------------ */

typedef struct span_s {
	const char *p;
	size_t len;  /* whole "k=v" */
	size_t klen; /* key part */
} span_t;

static int span_cmp(const span_t *a, const span_t *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->p, b->p, n);
	if (c || a->klen != b->klen)
		return c ? c : (a->klen < b->klen ? -1 : 1);
	/* same key: by value */
	{
		const char *av = a->p + a->klen, *bv = b->p + b->klen;
		size_t al = a->len - a->klen, bl = b->len - b->klen;
		n = al < bl ? al : bl;
		c = memcmp(av, bv, n);
		return c ? c : (al < bl ? -1 : al > bl);
	}
}

/* Splits query on '&' and appends its parameters sorted, each as "k=v" ("k" becomes "k="). */
static int add_sorted_query(lb_sbuf_t *b, const char *q)
{
	span_t sp[MAX_PARAMS], t;
	size_t n = 0, i, j;
	const char *p = q, *amp, *eq;

	while (*p) {
		amp = strchr(p, '&');
		if (!amp)
			amp = p + strlen(p);
		if (amp > p) {
			if (n == MAX_PARAMS)
				return -1;
			eq = memchr(p, '=', (size_t)(amp - p));
			sp[n].p = p;
			sp[n].len = (size_t)(amp - p);
			sp[n].klen = eq ? (size_t)(eq - p) : sp[n].len;
			n++;
		}
		p = *amp ? amp + 1 : amp;
	}
	for (i = 1; i < n; i++) /* insertion sort: a handful of parameters */
		for (j = i; j > 0 && span_cmp(&sp[j - 1], &sp[j]) > 0; j--) {
			t = sp[j];
			sp[j] = sp[j - 1];
			sp[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if (i)
			lb_sbuf_putc(b, '&');
		lb_sbuf_add(b, sp[i].p, sp[i].len);
		if (sp[i].klen == sp[i].len)
			lb_sbuf_putc(b, '=');
	}
	return 0;
}

/* Lower-cases the names and sorts the headers by name. */
typedef struct lhdr_s {
	char name[64];
	const char *value;
} lhdr_t;

static int sort_headers(const lb_sigv4_hdr_t *hdrs, size_t n, lhdr_t *out)
{
	lhdr_t t;
	size_t i, j, k;
	if (n > MAX_HDRS)
		return -1;
	for (i = 0; i < n; i++) {
		for (k = 0; hdrs[i].name[k]; k++) {
			if (k + 1 >= sizeof(out[i].name))
				return -1;
			out[i].name[k] = (char)tolower((unsigned char)hdrs[i].name[k]);
		}
		out[i].name[k] = '\0';
		out[i].value = hdrs[i].value;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(out[j - 1].name, out[j].name) > 0; j--) {
			t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return 0;
}

/* A header value trimmed, with runs of blanks inside folded to one space. */
static void add_trimmed(lb_sbuf_t *b, const char *v)
{
	bool blank = false, any = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = any;
			continue;
		}
		if (blank)
			lb_sbuf_putc(b, ' ');
		blank = false;
		any = true;
		lb_sbuf_putc(b, *v);
	}
}

static void add_signed_names(lb_sbuf_t *b, const lhdr_t *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			lb_sbuf_putc(b, ';');
		lb_sbuf_puts(b, h[i].name);
	}
}

/* "YYYYMMDD/region/service/aws4_request" */
static void add_scope(lb_sbuf_t *b, const lb_sigv4_t *s, const char *amz_date)
{
	lb_sbuf_add(b, amz_date, 8);
	lb_sbuf_putc(b, '/');
	lb_sbuf_puts(b, s->region);
	lb_sbuf_putc(b, '/');
	lb_sbuf_puts(b, s->service);
	lb_sbuf_puts(b, "/aws4_request");
}

static void add_method_path(lb_sbuf_t *b, const char *method, const char *path)
{
	lb_sbuf_puts(b, method);
	lb_sbuf_putc(b, '\n');
	lb_sbuf_puts(b, path);
	lb_sbuf_putc(b, '\n');
}

/* hex(HMAC(key of the day, string to sign)) for a canonical request. */
static void signature(lb_sigv4_t *s, const char *creq, size_t creq_len, const char *amz_date,
                      char sig[65])
{
	char sts[512], h[65];
	unsigned char d[32];
	lb_sbuf_t b;

	lb_sigv4_sha256_hex(s, creq, creq_len, h);
	lb_sbuf_init(&b, sts, sizeof(sts));
	lb_sbuf_puts(&b, "AWS4-HMAC-SHA256\n");
	lb_sbuf_puts(&b, amz_date);
	lb_sbuf_putc(&b, '\n');
	add_scope(&b, s, amz_date);
	lb_sbuf_putc(&b, '\n');
	lb_sbuf_puts(&b, h);
	signing_key(s, amz_date);
	hmac(s, s->key, 32, b.p, b.len, d);
	to_hex(d, 32, sig);
}

int lb_sigv4_authorization(lb_sigv4_t *s, const char *method, const char *path, const char *query,
                           const lb_sigv4_hdr_t *hdrs, size_t nhdrs, const char *amz_date,
                           const char *payload_hash, char *out, size_t cap)
{
	char creq[CREQ_CAP], sig[65];
	lhdr_t lh[MAX_HDRS];
	lb_sbuf_t b, o;

	if (strlen(amz_date) != 16 || sort_headers(hdrs, nhdrs, lh) < 0)
		return UV_EINVAL;
	lb_sbuf_init(&b, creq, sizeof(creq));
	add_method_path(&b, method, path);
	if (add_sorted_query(&b, query ? query : "") < 0)
		return UV_ENOBUFS;
	lb_sbuf_putc(&b, '\n');
	for (size_t i = 0; i < nhdrs; i++) {
		lb_sbuf_puts(&b, lh[i].name);
		lb_sbuf_putc(&b, ':');
		add_trimmed(&b, lh[i].value);
		lb_sbuf_putc(&b, '\n');
	}
	lb_sbuf_putc(&b, '\n');
	add_signed_names(&b, lh, nhdrs);
	lb_sbuf_putc(&b, '\n');
	lb_sbuf_puts(&b, payload_hash);
	if (b.over)
		return UV_ENOBUFS;
	signature(s, b.p, b.len, amz_date, sig);

	lb_sbuf_init(&o, out, cap);
	lb_sbuf_puts(&o, "AWS4-HMAC-SHA256 Credential=");
	lb_sbuf_puts(&o, s->access_key);
	lb_sbuf_putc(&o, '/');
	add_scope(&o, s, amz_date);
	lb_sbuf_puts(&o, ", SignedHeaders=");
	add_signed_names(&o, lh, nhdrs);
	lb_sbuf_puts(&o, ", Signature=");
	lb_sbuf_puts(&o, sig);
	return o.over ? UV_ENOBUFS : 0;
}

int lb_sigv4_presign(lb_sigv4_t *s, const char *method, const char *path, const char *query,
                     const char *host, const char *amz_date, unsigned expires, char *out,
                     size_t cap)
{
	char creq[CREQ_CAP], params[2048], cred[256], sig[65];
	lb_sbuf_t b, p, o;
	size_t qstart;

	if (strlen(amz_date) != 16)
		return UV_EINVAL;
	/* The credential goes in the query, so its slashes are encoded. */
	lb_sbuf_init(&p, params, sizeof(params));
	lb_sbuf_puts(&p, s->access_key);
	lb_sbuf_putc(&p, '/');
	add_scope(&p, s, amz_date);
	if (p.over || lb_sigv4_uri_encode(params, p.len, false, cred, sizeof(cred)) < 0)
		return UV_ENOBUFS;
	lb_sbuf_init(&p, params, sizeof(params));
	if (query && *query)
		lb_sbuf_printf(&p, "%s&", query);
	lb_sbuf_printf(&p,
	               "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s"
	               "&X-Amz-Expires=%u&X-Amz-SignedHeaders=host",
	               cred, amz_date, expires);
	if (p.over)
		return UV_ENOBUFS;

	lb_sbuf_init(&b, creq, sizeof(creq));
	add_method_path(&b, method, path);
	qstart = b.len;
	if (add_sorted_query(&b, params) < 0)
		return UV_ENOBUFS;
	lb_sbuf_putc(&b, '\n');
	lb_sbuf_puts(&b, "host:");
	add_trimmed(&b, host);
	lb_sbuf_puts(&b, "\n\nhost\n" LB_SIGV4_UNSIGNED);
	if (b.over)
		return UV_ENOBUFS;
	signature(s, b.p, b.len, amz_date, sig);

	/* Sent in the canonical (sorted) order, then the signature. */
	lb_sbuf_init(&o, out, cap);
	lb_sbuf_add(&o, creq + qstart, (size_t)(strchr(creq + qstart, '\n') - (creq + qstart)));
	lb_sbuf_printf(&o, "&X-Amz-Signature=%s", sig);
	return o.over ? UV_ENOBUFS : 0;
}

/* S3 request heads (see s3.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "bench/rand.h"
#include "bench/s3.h"
#include "core/sbuf.h"

#define PRESIGN_EXPIRES 3600

#define CACHE_SLOTS  256
#define CACHE_ID     512 /* method, key, query, payload hash: longer ones are not cached */
#define CACHE_PREFIX 1536

struct bench_s3_cache_s {
	int64_t sec; /* -1: empty */
	uint16_t id_len, len;
	char id[CACHE_ID];
	char prefix[CACHE_PREFIX];
};

int bench_s3_init(bench_s3_t *s, const bench_opts_t *o, const bench_target_t *t)
{
	int rc;
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->date_sec = -1;
	if (o->vhost_domain[0]) {
		const char *port = t->authority[0] == '[' ? strstr(t->authority, "]:")
		                                          : strrchr(t->authority, ':');
		if (port && port[0] == ']')
			port++;
		snprintf(s->host, sizeof(s->host), "%s.%s%s", o->bucket, o->vhost_domain,
		         port ? port : "");
	} else {
		snprintf(s->host, sizeof(s->host), "%s", t->authority);
		snprintf(s->path_base, sizeof(s->path_base), "/%s", o->bucket);
	}
	s->cache = calloc(CACHE_SLOTS, sizeof(*s->cache));
	if (!s->cache)
		abort();
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		s->cache[i].sec = -1;
	if ((rc = lb_sigv4_new(o->access_key, o->secret_key, o->region, "s3", &s->sig)) < 0)
		return rc;
	return 0;
}

void bench_s3_free(bench_s3_t *s)
{
	lb_sigv4_free(s->sig);
	s->sig = NULL;
	free(s->cache);
	s->cache = NULL;
}

/* The signed part: request line, Host, and (header auth) the x-amz headers and Authorization. */
static int signed_prefix(bench_s3_t *s, const bench_s3_req_t *r, const char *ph, lb_sbuf_t *b)
{
	char path[1200], ekey[1024], auth[512], q[3072];
	const char *query = r->query ? r->query : "";
	lb_sbuf_t pb;
	int rc;

	lb_sbuf_init(&pb, path, sizeof(path));
	lb_sbuf_puts(&pb, s->path_base);
	lb_sbuf_putc(&pb, '/');
	if (r->key) {
		if (lb_sigv4_uri_encode(r->key, strlen(r->key), true, ekey, sizeof(ekey)) < 0)
			return UV_ENOBUFS;
		lb_sbuf_puts(&pb, ekey);
	}
	if (pb.over)
		return UV_ENOBUFS;
	lb_sbuf_puts(b, r->method);
	lb_sbuf_putc(b, ' ');
	lb_sbuf_puts(b, path);
	if (s->o->presign) {
		rc = lb_sigv4_presign(s->sig, r->method, path, query, s->host, s->amz_date,
		                      PRESIGN_EXPIRES, q, sizeof(q));
		if (rc < 0)
			return rc;
		lb_sbuf_putc(b, '?');
		lb_sbuf_puts(b, q);
		lb_sbuf_puts(b, " HTTP/1.1\r\nHost: ");
		lb_sbuf_puts(b, s->host);
		lb_sbuf_puts(b, "\r\n");
		return 0;
	}
	lb_sigv4_hdr_t h[3] = {
	    {"host", s->host},
	    {"x-amz-content-sha256", ph},
	    {"x-amz-date", s->amz_date},
	};
	rc = lb_sigv4_authorization(s->sig, r->method, path, query, h, 3, s->amz_date, ph, auth,
	                            sizeof(auth));
	if (rc < 0)
		return rc;
	if (*query) {
		lb_sbuf_putc(b, '?');
		lb_sbuf_puts(b, query);
	}
	lb_sbuf_puts(b, " HTTP/1.1\r\nHost: ");
	lb_sbuf_puts(b, s->host);
	lb_sbuf_puts(b, "\r\nx-amz-date: ");
	lb_sbuf_puts(b, s->amz_date);
	lb_sbuf_puts(b, "\r\nx-amz-content-sha256: ");
	lb_sbuf_puts(b, ph);
	lb_sbuf_puts(b, "\r\nAuthorization: ");
	lb_sbuf_puts(b, auth);
	lb_sbuf_puts(b, "\r\n");
	return 0;
}

int bench_s3_head(bench_s3_t *s, const bench_s3_req_t *r, int64_t now_s, char *out, size_t cap)
{
	const char *ph = r->payload_hash          ? r->payload_hash
	                 : !s->o->sign_payload    ? LB_SIGV4_UNSIGNED
	                 : r->content_length <= 0 ? LB_SIGV4_EMPTY_SHA256
	                                          : LB_SIGV4_UNSIGNED;
	const char *parts[4] = {r->method, r->key ? r->key : "", r->query ? r->query : "", ph};
	bench_s3_cache_t *e = NULL;
	char id[CACHE_ID];
	lb_sbuf_t b, ib;
	uint64_t h;
	int rc;

	if (now_s != s->date_sec) {
		lb_sigv4_amz_date(now_s, s->amz_date);
		s->date_sec = now_s;
	}
	lb_sbuf_init(&ib, id, sizeof(id));
	for (int i = 0; i < 4; i++)
		lb_sbuf_add(&ib, parts[i], strlen(parts[i]) + 1); /* with the NUL: unambiguous */
	lb_sbuf_init(&b, out, cap);
	if (!ib.over) {
		h = bench_hash_bytes(id, ib.len, 0);
		e = &s->cache[h % CACHE_SLOTS];
	}
	if (e && e->sec == now_s && e->id_len == ib.len && memcmp(e->id, id, ib.len) == 0) {
		lb_sbuf_add(&b, e->prefix, e->len);
	} else {
		if ((rc = signed_prefix(s, r, ph, &b)) < 0)
			return rc;
		if (e && !b.over && b.len <= CACHE_PREFIX) {
			e->sec = now_s;
			e->id_len = (uint16_t)ib.len;
			memcpy(e->id, id, ib.len);
			e->len = (uint16_t)b.len;
			memcpy(e->prefix, out, b.len);
		}
	}
	if (r->range) {
		lb_sbuf_puts(&b, "Range: ");
		lb_sbuf_puts(&b, r->range);
		lb_sbuf_puts(&b, "\r\n");
	}
	if (r->content_length >= 0) {
		lb_sbuf_puts(&b, "Content-Length: ");
		lb_sbuf_putu(&b, (unsigned long long)r->content_length);
		lb_sbuf_puts(&b, "\r\n");
	}
	lb_sbuf_puts(&b, "\r\n");
	return b.over ? UV_ENOBUFS : (int)b.len;
}

int bench_xml_value(const char *xml, size_t len, const char *tag, char *out, size_t cap)
{
	char open[64], close[64];
	const char *a, *z;
	int no = snprintf(open, sizeof(open), "<%s>", tag);
	int nc = snprintf(close, sizeof(close), "</%s>", tag);

	if (no < 0 || (size_t)no >= sizeof(open) || nc < 0 || (size_t)nc >= sizeof(close))
		return -1;
	a = memmem(xml, len, open, (size_t)no);
	if (!a)
		return -1;
	a += no;
	z = memmem(a, len - (size_t)(a - xml), close, (size_t)nc);
	if (!z || (size_t)(z - a) >= cap)
		return -1;
	memcpy(out, a, (size_t)(z - a));
	out[z - a] = '\0';
	return 0;
}

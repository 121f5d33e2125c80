/*
 * Head rewriting (see head.h). Runs once per request and per response head; no state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/head.h"

static bool ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool name_eq(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

/*
 * Calls `fn` for each comma-separated token of every header named `name` (empty list elements
 * skipped, RFC 9110 5.6.1); stops and returns true when fn does.
 */
static bool each_token(const net_http_t *h, const char *msg, const char *name,
                       bool (*fn)(const char *t, size_t n, const void *arg), const void *arg)
{
	for (int i = net_http_find(h, msg, name, 0); i >= 0;
	     i = net_http_find(h, msg, name, (uint32_t)i + 1)) {
		const char *v = msg + h->hdrs[i].value_off, *end = v + h->hdrs[i].value_len;
		while (v < end) {
			const char *t, *te;
			while (v < end && (ows(*v) || *v == ','))
				v++;
			t = v;
			while (v < end && *v != ',')
				v++;
			te = v;
			while (te > t && ows(te[-1]))
				te--;
			if (te > t && fn(t, (size_t)(te - t), arg))
				return true;
		}
	}
	return false;
}

static bool token_is(const char *t, size_t n, const void *arg)
{
	const char *const *names = arg;
	for (; *names; names++)
		if (name_eq(t, n, *names))
			return true;
	return false;
}

static bool token_other_than_chunked(const char *t, size_t n, const void *arg)
{
	(void)arg;
	return !name_eq(t, n, "chunked");
}

static bool any_token(const char *t, size_t n, const void *arg)
{
	(void)t, (void)n, (void)arg;
	return true;
}

typedef struct {
	const char *msg;
	const net_hdr_t *hd;
} hdr_ref_t;

static bool token_names_hdr(const char *t, size_t n, const void *arg)
{
	const hdr_ref_t *r = arg;
	return n == r->hd->name_len && strncasecmp(t, r->msg + r->hd->name_off, n) == 0;
}

/* Hop-by-hop: the fixed set, and what Connection names, but never the framing fields or Host. */
static bool hop_by_hop(const net_http_t *h, const char *msg, uint32_t i)
{
	static const char *const fixed[] = {"connection", "keep-alive", "proxy-connection",
	                                    "te",         "upgrade",    NULL};
	static const char *const never[] = {"content-length", "transfer-encoding", "host", NULL};
	const net_hdr_t *hd = &h->hdrs[i];
	const char *name = msg + hd->name_off;
	hdr_ref_t ref = {msg, hd};
	if (token_is(name, hd->name_len, fixed))
		return true;
	if (token_is(name, hd->name_len, never))
		return false;
	return each_token(h, msg, "connection", token_names_hdr, &ref);
}

/* host [ ":" port ] of RFC 3986: an IP literal in brackets or a reg-name, digits after ':'. */
static bool valid_host(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return false;
	if (s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!strchr("0123456789abcdefABCDEF:.vV", s[i]))
				return false;
		if (i == n || i == 1)
			return false;
		i++;
	} else {
		for (; i < n && s[i] != ':'; i++) {
			unsigned char ch = (unsigned char)s[i];
			if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
			    !(ch >= '0' && ch <= '9') && !strchr("-._~%!$&'()*+,;=", ch))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	for (i++; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool refuse(gw_err_t *err, const char **why, gw_err_t e, const char *reason)
{
	*err = e;
	*why = reason;
	return false;
}

bool gw_head_check_request(const net_http_t *h, const char *msg, gw_err_t *err, const char **why)
{
	static const char *const framing[] = {"content-length", "transfer-encoding", "host", NULL};
	int major = net_http_major(h), minor = net_http_minor(h);
	int hi;

	if (major != 1 || minor > 1)
		return refuse(err, why, GW_ERR_HTTP_VERSION, "HTTP version not supported");
	hi = net_http_find(h, msg, "host", 0);
	if (hi < 0)
		return refuse(err, why, GW_ERR_INVALID_REQUEST, "no Host header");
	if (net_http_find(h, msg, "host", (uint32_t)hi + 1) >= 0)
		return refuse(err, why, GW_ERR_INVALID_REQUEST, "more than one Host header");
	if (!valid_host(msg + h->hdrs[hi].value_off, h->hdrs[hi].value_len))
		return refuse(err, why, GW_ERR_INVALID_REQUEST, "invalid Host header");
	if (each_token(h, msg, "connection", token_is, framing))
		return refuse(err, why, GW_ERR_INVALID_REQUEST,
		              "Connection names Content-Length, Transfer-Encoding or Host");
	if (net_http_find(h, msg, "transfer-encoding", 0) >= 0) {
		if (minor == 0)
			return refuse(err, why, GW_ERR_INVALID_REQUEST,
			              "Transfer-Encoding in an HTTP/1.0 request");
		if (each_token(h, msg, "transfer-encoding", token_other_than_chunked, NULL))
			return refuse(err, why, GW_ERR_NOT_IMPLEMENTED,
			              "transfer coding other than chunked");
		/* llhttp frames an empty one as no body while a node may not: never relay it */
		if (!each_token(h, msg, "transfer-encoding", any_token, NULL))
			return refuse(err, why, GW_ERR_INVALID_REQUEST, "empty Transfer-Encoding");
	}
	if (memchr(msg + h->url_off, '#', h->url_len))
		return refuse(err, why, GW_ERR_INVALID_REQUEST, "fragment in the request target");
	return true;
}

static void put(char *dst, size_t *p, const void *src, size_t n)
{
	memcpy(dst + *p, src, n);
	*p += n;
}

static void put_fields(const net_http_t *h, const char *msg, char *out, size_t *p,
                       bool drop_real_ip, bool drop_te)
{
	for (uint32_t i = 0; i < h->nhdrs; i++) {
		const net_hdr_t *hd = &h->hdrs[i];
		if (hop_by_hop(h, msg, i))
			continue;
		if (drop_real_ip && net_http_name_is(h, msg, i, "x-real-ip"))
			continue; /* ours replaces a client-supplied one */
		if (drop_te && net_http_name_is(h, msg, i, "transfer-encoding"))
			continue;
		put(out, p, msg + hd->name_off, hd->line_end - hd->name_off);
		put(out, p, "\r\n", 2);
	}
}

void gw_head_request(const net_http_t *h, const char *msg, const gw_head_req_opts_t *o, char **out,
                     size_t *out_len, size_t *target_off)
{
	size_t ip_len = o->client_ip ? strlen(o->client_ip) : 0;
	size_t cap = h->head_len + o->path_len + 2 * ip_len + 64, p = 0;
	char *b = malloc(cap);

	if (!b)
		abort(); /* bounded by the header limit */
	put(b, &p, msg + h->method_off, h->method_len);
	b[p++] = ' ';
	*target_off = p;
	if (o->path)
		put(b, &p, o->path, o->path_len);
	else
		put(b, &p, msg + h->url_off, h->url_len);
	p += (size_t)snprintf(b + p, cap - p, " HTTP/1.%d\r\n", net_http_minor(h));
	put_fields(h, msg, b, &p, o->x_real_ip, false);
	if (o->x_forwarded_for && ip_len)
		p += (size_t)snprintf(b + p, cap - p, "X-Forwarded-For: %s\r\n", o->client_ip);
	if (o->x_real_ip && ip_len)
		p += (size_t)snprintf(b + p, cap - p, "X-Real-IP: %s\r\n", o->client_ip);
	put(b, &p, "\r\n", 2);
	*out = b;
	*out_len = p;
}

bool gw_head_check_response(const net_http_t *h, const char **why)
{
	int status = net_http_status(h);
	if (status < 100 || status > 599) {
		*why = "sent a status code outside 100-599";
		return false;
	}
	if (net_http_major(h) != 1 || net_http_minor(h) > 1) {
		*why = "sent a response version other than HTTP/1.0 or 1.1";
		return false;
	}
	return true;
}

void gw_head_response(const net_http_t *h, const char *msg, gw_head_conn_t conn, char **out,
                      size_t *out_len)
{
	size_t cap = h->head_len + 64, p = 0;
	char *b = malloc(cap);

	if (!b)
		abort(); /* bounded by the buffer size */
	/* the status line rebuilt from its parts (a node may precede it with empty lines), with
	 * s3lb's own version: a proxy sends its own (RFC 9110 6.2), and the framing of what follows
	 * is s3lb's (a close-delimited body always goes with Connection: close) */
	p += (size_t)snprintf(b, cap, "HTTP/1.1 %03d ", net_http_status(h));
	put(b, &p, msg + h->status_off, h->status_len);
	put(b, &p, "\r\n", 2);
	put_fields(h, msg, b, &p, false, conn == GW_HEAD_CONN_CLOSE_UNCHUNKED);
	if (conn == GW_HEAD_CONN_CLOSE || conn == GW_HEAD_CONN_CLOSE_UNCHUNKED)
		put(b, &p, "Connection: close\r\n", 19);
	else if (conn == GW_HEAD_CONN_KEEP_ALIVE)
		put(b, &p, "Connection: keep-alive\r\n", 24);
	put(b, &p, "\r\n", 2);
	*out = b;
	*out_len = p;
}

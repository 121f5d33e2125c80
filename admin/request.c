#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "admin/request.h"
#include "net/http.h"

static void span_set(adm_span_t *s, const char *p, size_t len)
{
	if (s->count++ == 0) {
		s->p = p;
		s->len = len;
	}
}

int adm_parse(const char *buf, size_t len, adm_req_t *r)
{
	net_http_t h;
	size_t used = 0;
	net_http_result_t res;
	const char *url, *q;

	memset(r, 0, sizeof(*r));
	net_http_init(&h, HTTP_REQUEST, ADM_MAX_HEADERS, ADM_MAX_REQUEST);
	res = net_http_execute(&h, buf, len, 0, &used);
	if (res == NET_HTTP_MORE && len < ADM_MAX_REQUEST) {
		net_http_free(&h);
		return 0;
	}
	if (res == NET_HTTP_ERROR || res == NET_HTTP_MORE) {
		r->bad = res == NET_HTTP_MORE || h.err == NET_HTTP_E_TOO_LARGE ? 431 : 400;
		net_http_free(&h);
		return 1;
	}
	r->method = net_http_method(&h);
	url = buf + h.url_off;
	q = memchr(url, '?', h.url_len);
	span_set(&r->path, url, q ? (size_t)(q - url) : h.url_len);
	if (q)
		span_set(&r->query, q + 1, h.url_len - (size_t)(q + 1 - url));
	for (uint32_t i = 0; i < h.nhdrs; i++) {
		const char *v = buf + h.hdrs[i].value_off;
		size_t vl = h.hdrs[i].value_len;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (net_http_name_is(&h, buf, i, "host"))
			span_set(&r->host, v, vl);
		else if (net_http_name_is(&h, buf, i, "origin"))
			span_set(&r->origin, v, vl);
		else if (net_http_name_is(&h, buf, i, "authorization"))
			span_set(&r->authorization, v, vl);
	}
	net_http_free(&h);
	return 1;
}

static bool span_is(const adm_span_t *s, const char *want)
{
	return s->p && s->len == strlen(want) && !memcmp(s->p, want, s->len);
}

/* The value of query parameter `name` (not decoded; node names need no encoding). */
static bool query_param(const adm_span_t *q, const char *name, char *out, size_t cap)
{
	const char *p = q->p, *end;
	size_t nl = strlen(name);
	if (!p)
		return false; /* no query (q->p + 0 on NULL is undefined: found by the fuzzer) */
	end = p + q->len;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			size_t vl = (size_t)(e - p) - nl - 1;
			if (vl == 0 || vl >= cap)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = 0;
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

/* The listen address holds every local address (0.0.0.0, ::). */
static bool wildcard(const struct sockaddr_storage *ss)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return !memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, &any6, sizeof(any6));
}

/*
 * A Host the admin listener answers: localhost, a name in admin.allowed_hosts, or an IP literal
 * of admin.listen (any IP when it listens on a wildcard address), with any port. A page that
 * rebinds its own name to 127.0.0.1 still sends that name, so it fails here.
 */
static bool host_allowed(const adm_span_t *host, const lb_config_t *cfg)
{
	const char *h = host->p, *end = host->p + host->len, *port = NULL;
	char name[256];
	size_t n;
	unsigned char ip[16];
	int fam = 0;

	if (h[0] == '[') {
		const char *close = memchr(h, ']', host->len);
		if (!close)
			return false;
		n = (size_t)(close - h - 1);
		h++;
		if (close + 1 < end && close[1] != ':')
			return false;
		port = close + 1 < end ? close + 2 : NULL;
		fam = AF_INET6;
	} else {
		const char *colon = memchr(h, ':', host->len);
		n = colon ? (size_t)(colon - h) : host->len;
		port = colon ? colon + 1 : NULL;
	}
	if (port && (port == end || end - port > 5))
		return false;
	for (const char *p = port; p && p < end; p++)
		if (*p < '0' || *p > '9')
			return false;
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, h, n);
	name[n] = 0;
	if (fam == AF_INET6 ? inet_pton(AF_INET6, name, ip) == 1
	                    : (fam = AF_INET, inet_pton(AF_INET, name, ip) == 1)) {
		const struct sockaddr_storage *ss = &cfg->admin_listen.ss;
		if (!cfg->admin_enabled || ss->ss_family != fam)
			return false;
		if (wildcard(ss))
			return true;
		return fam == AF_INET
		           ? !memcmp(&((const struct sockaddr_in *)ss)->sin_addr, ip, 4)
		           : !memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, ip, 16);
	}
	if (fam == AF_INET6)
		return false; /* brackets around something that is no IPv6 address */
	if (!strcasecmp(name, "localhost"))
		return true;
	for (size_t i = 0; i < cfg->nadmin_hosts; i++)
		if (!strcasecmp(name, cfg->admin_hosts[i]))
			return true;
	return false;
}

static bool origin_allowed(const adm_span_t *o, const lb_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nadmin_origins; i++)
		if (span_is(o, cfg->admin_origins[i]))
			return true;
	return false;
}

/* Compares in time that depends on the presented token's length only, never on where the bytes
 * first differ or on the configured token. */
static bool token_equal(const char *got, size_t glen, const char *want)
{
	size_t wlen = strlen(want);
	unsigned char d = glen != wlen;
	for (size_t i = 0; i < glen; i++)
		d |= (unsigned char)got[i] ^ (unsigned char)want[i % wlen];
	return d == 0;
}

/* `Bearer TOKEN` (scheme case-insensitive) carrying cfg's token. */
static bool authorized(const adm_span_t *a, const lb_config_t *cfg)
{
	const char *p = a->p;
	size_t n = a->len;
	if (!p || a->count != 1 || n < 7 || strncasecmp(p, "Bearer ", 7))
		return false;
	p += 7;
	n -= 7;
	while (n && *p == ' ') {
		p++;
		n--;
	}
	return token_equal(p, n, cfg->admin_token);
}

/* A header value quoted in a message: printable ASCII, cut at 64 bytes. */
static void shown(char *out, size_t cap, const adm_span_t *s)
{
	size_t n = s->len < 64 ? s->len : 64, k = 0;
	for (size_t i = 0; i < n && k + 4 < cap; i++)
		out[k++] = s->p[i] >= ' ' && s->p[i] < 0x7f ? s->p[i] : '?';
	if (n < s->len && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = 0;
}

static void refuse(adm_verdict_t *v, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(adm_verdict_t *v, int status, const char *fmt, ...)
{
	va_list ap;
	v->action = ADM_REFUSE;
	v->status = status;
	v->message[0] = 0;
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
}

void adm_decide(const adm_req_t *r, const lb_config_t *cfg, adm_verdict_t *v)
{
	static const lb_config_t none = {0};
	bool drain, undrain;
	char val[80];

	memset(v, 0, sizeof(*v));
	v->status = 200;
	if (!cfg)
		cfg = &none;
	if (r->bad) {
		refuse(v, r->bad, NULL);
		return;
	}
	if (r->host.count > 1) {
		refuse(v, 400, "more than one Host header");
		return;
	}
	if (r->host.count && !host_allowed(&r->host, cfg)) {
		shown(val, sizeof(val), &r->host);
		refuse(v, 403,
		       "Host '%s' is not accepted here: use an IP address of admin.listen or "
		       "localhost, or list the name in admin.allowed_hosts",
		       val);
		return;
	}
	if (r->origin.count && (r->origin.count > 1 || !origin_allowed(&r->origin, cfg))) {
		shown(val, sizeof(val), &r->origin);
		refuse(v, 403,
		       "requests from web pages are refused: Origin '%s' is not in "
		       "admin.allowed_origins",
		       val);
		return;
	}
	drain = span_is(&r->path, "/drain");
	undrain = span_is(&r->path, "/undrain");
	if (!drain && !undrain) {
		if (!span_is(&r->path, "/status") && !span_is(&r->path, "/metrics"))
			refuse(v, 404, NULL);
		else if (strcmp(r->method, "GET"))
			refuse(v, 405, NULL);
		else
			v->action = span_is(&r->path, "/status") ? ADM_STATUS : ADM_METRICS;
		if (v->status == 405)
			v->allow = "GET";
		return;
	}
	if (strcmp(r->method, "POST")) {
		refuse(v, 405, NULL);
		v->allow = "POST";
		return;
	}
	if (!cfg->admin_token) {
		refuse(v, 403,
		       "state-changing admin requests are disabled: set admin.token_file in the "
		       "config to a file (mode 0600 or 0640) whose first line is the token, then "
		       "reload");
		return;
	}
	if (!authorized(&r->authorization, cfg)) {
		refuse(v, 401,
		       "%s token: send `Authorization: Bearer TOKEN` with the first line of "
		       "admin.token_file (`s3lb drain` reads it from the config)",
		       r->authorization.count ? "wrong" : "missing");
		v->challenge = true;
		return;
	}
	if (!query_param(&r->query, "node", v->node, sizeof(v->node))) {
		refuse(v, 400, "missing ?node=NODE (or POOL/NODE)");
		return;
	}
	v->action = drain ? ADM_DRAIN : ADM_UNDRAIN;
}

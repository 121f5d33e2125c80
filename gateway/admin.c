/*
 * The admin listener: GET /status (JSON) and GET /metrics (Prometheus text format 0.0.4), one
 * request per connection, answered and then closed. Main loop only.
 *
 * An admin connection:
 *
 *   accept --> READ --(head parsed, or invalid / too large: an answer)--> WRITE
 *                |                                                          |
 *                |                                           (written; FIN sent)
 *                |                                                          v
 *                +--(EOF, error, 10 s timeout, stop)--> CLOSING <------- LINGER
 *                                                              (peer's EOF, error, 2 s)
 *
 * LINGER reads and drops whatever the client still sends after our FIN, so that closing does not
 * reset the connection (a reset can destroy the answer in the client's receive queue).
 *
 * Memory per connection is one fixed 8 KiB request buffer plus the rendered body; at most
 * ADMIN_MAX_CONNS connections are served at once, later ones are closed on accept.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "gateway/admin.h"

#ifndef S3LB_VERSION
#define S3LB_VERSION "0.1.0"
#endif

#define ADMIN_MAX_REQUEST  8192
#define ADMIN_TIMEOUT_MS   10000
#define ADMIN_LINGER_MS    2000
#define ADMIN_MAX_CONNS    64
#define ADMIN_MAX_HEADERS  64
#define FETCH_TIMEOUT_MS   5000
#define FETCH_MAX_RESPONSE (64u << 20)

/* ---- text buffer ------------------------------------------------------------------------ */

/* Room for n more bytes and a NUL. Small control allocation: aborts on failure. */
static void text_reserve(gw_text_t *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 256;
	char *d;
	if (t->len + n + 1 <= t->cap)
		return;
	while (cap < t->len + n + 1)
		cap *= 2;
	d = realloc(t->data, cap);
	if (!d)
		abort();
	t->data = d;
	t->cap = cap;
}

static void text_append(gw_text_t *t, const char *s, size_t n)
{
	text_reserve(t, n);
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = 0;
}

void gw_text_printf(gw_text_t *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	text_reserve(t, 0);
	va_start(ap, fmt);
	n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= t->cap - t->len) {
		text_reserve(t, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

void gw_text_free(gw_text_t *t)
{
	free(t->data);
	t->data = NULL;
	t->len = t->cap = 0;
}

/* A JSON string with its quotes, or null. */
static void text_json(gw_text_t *t, const char *s)
{
	size_t n;
	if (!s) {
		text_append(t, "null", 4);
		return;
	}
	n = strlen(s);
	/* lb_json_escape needs 6 bytes per input byte at worst, and stops 7 short of cap */
	text_reserve(t, n * 6 + 10);
	t->data[t->len++] = '"';
	lb_json_escape(t->data, t->cap, &t->len, s, n);
	text_append(t, "\"", 1);
}

/* A Prometheus label value (without quotes): backslash, double quote and newline escaped. */
static void text_label(gw_text_t *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			text_append(t, "\\\\", 2);
		else if (*s == '"')
			text_append(t, "\\\"", 2);
		else if (*s == '\n')
			text_append(t, "\\n", 2);
		else
			text_append(t, s, 1);
	}
}

/* ---- /status ---------------------------------------------------------------------------- */

static void status_node(gw_text_t *t, const gw_server_t *srv, const gw_pool_t *p, size_t j)
{
	const gw_node_t *n = &p->nodes[j];
	gw_node_stats_t zero = {0};
	const gw_node_stats_t *s = n->stats ? n->stats : &zero;

	gw_text_printf(t, "%s\n    {\"name\":", j ? "," : "");
	text_json(t, n->conf->name);
	gw_text_printf(t, ",\"addr\":");
	text_json(t, n->conf->addr.text);
	gw_text_printf(
	    t,
	    ",\"weight\":%" PRIu32 ",\"state\":\"%s\",\"outstanding\":%" PRIu32
	    ",\"conns\":%" PRIu32 ",\"idle\":%" PRIu32 ",\"consecutive_failures\":%" PRIu32
	    ",\"requests\":%" PRIu64 ",\"responses_5xx\":%" PRIu64 ",\"connects\":%" PRIu64
	    ",\"connect_errors\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"retries\":%" PRIu64
	    ",\"reused\":%" PRIu64 "}",
	    n->conf->weight, gw_node_state_name(n->state), p->lbn ? p->lbn[j].outstanding : 0,
	    n->nconns, n->nidle, n->consecutive_failures, s->requests, s->responses_5xx,
	    s->connects, s->connect_errors, s->errors, s->retries, s->reused);
	if (srv && srv->hooks.node_status) {
		t->len--; /* reopen the node's object */
		srv->hooks.node_status(srv->hooks.arg, p->conf->name, n->conf->name, t);
		text_append(t, "}", 1);
	}
}

static void status_frontend(gw_text_t *t, const lb_frontend_conf_t *fc, bool first)
{
	gw_text_printf(t, "%s\n  {\"name\":", first ? "" : ",");
	text_json(t, fc->name);
	gw_text_printf(t, ",\"listen\":[");
	for (size_t k = 0; k < fc->nlisten; k++) {
		if (k)
			text_append(t, ",", 1);
		text_json(t, fc->listen[k].text);
	}
	gw_text_printf(t, "],\"tls\":%s,\"domains\":[", fc->tls_cert ? "true" : "false");
	for (size_t k = 0; k < fc->ndomains; k++) {
		if (k)
			text_append(t, ",", 1);
		text_json(t, fc->domains[k]);
	}
	gw_text_printf(t, "]}");
}

void gw_admin_render_status(gw_server_t *srv, gw_text_t *out)
{
	const gw_runtime_t *rt = srv->rt;
	const gw_metrics_t *m = srv->metrics;
	uint64_t now = srv->loop ? uv_now(srv->loop) : srv->started_ms;
	uint64_t uptime = now > srv->started_ms ? (now - srv->started_ms) / 1000 : 0;

	gw_text_printf(out,
	               "{\"version\":\"%s\",\"uptime_s\":%" PRIu64 ",\"connections\":%" PRIu32
	               ",\"config\":",
	               S3LB_VERSION, uptime, srv->nconns);
	text_json(out, srv->config_path);
	gw_text_printf(out, ",\"reloads\":%" PRIu64 ",\"reload_errors\":%" PRIu64 ",\n\"pools\":[",
	               m ? m->reloads : 0, m ? m->reload_errors : 0);
	for (size_t i = 0; rt && i < rt->npools; i++) {
		const gw_pool_t *p = &rt->pools[i];
		gw_text_printf(out, "%s\n  {\"name\":", i ? "," : "");
		text_json(out, p->conf->name);
		gw_text_printf(out,
		               ",\"balance\":\"%s\",\"inflight\":%" PRIu32
		               ",\"retries_inflight\":%" PRIu32 ",\"nodes\":[",
		               lb_balance_name(p->conf->balance), p->inflight, p->retries_inflight);
		for (size_t j = 0; j < p->n; j++)
			status_node(out, srv, p, j);
		gw_text_printf(out, "]}");
	}
	gw_text_printf(out, "],\n\"frontends\":[");
	for (size_t i = 0; rt && i < rt->nfes; i++)
		status_frontend(out, rt->fes[i].conf, i == 0);
	gw_text_printf(out, "]");
	if (srv->hooks.status)
		srv->hooks.status(srv->hooks.arg, out);
	gw_text_printf(out, "}\n");
}

/* ---- /metrics --------------------------------------------------------------------------- */

static void family(gw_text_t *t, const char *name, const char *type, const char *help)
{
	gw_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{pool="..."` and, with node, `,node="..."`; the caller closes the braces. */
static void series(gw_text_t *t, const char *name, const char *pool, const char *node)
{
	gw_text_printf(t, "%s{pool=\"", name);
	text_label(t, pool);
	if (node) {
		text_append(t, "\",node=\"", 8);
		text_label(t, node);
	}
	text_append(t, "\"", 1);
}

static int cmp_req(const void *a, const void *b)
{
	const gw_req_series_t *x = *(const gw_req_series_t *const *)a;
	const gw_req_series_t *y = *(const gw_req_series_t *const *)b;
	int c = strcmp(x->pool, y->pool);
	if (c)
		return c;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return (x->status > y->status) - (x->status < y->status);
}

static int cmp_pool(const void *a, const void *b)
{
	const gw_pool_series_t *x = *(const gw_pool_series_t *const *)a;
	const gw_pool_series_t *y = *(const gw_pool_series_t *const *)b;
	return strcmp(x->pool, y->pool);
}

static void metrics_requests(gw_text_t *t, const gw_metrics_t *m)
{
	size_t n = 0, k = 0;
	const gw_req_series_t **v;

	family(t, "s3lb_requests_total", "counter",
	       "Requests answered to clients, by pool, operation class and status.");
	for (size_t h = 0; h < 256; h++)
		for (const gw_req_series_t *s = m->req[h]; s; s = s->next)
			n++;
	if (!n)
		return;
	v = malloc(n * sizeof(*v));
	if (!v)
		abort();
	for (size_t h = 0; h < 256; h++)
		for (const gw_req_series_t *s = m->req[h]; s; s = s->next)
			v[k++] = s;
	qsort(v, n, sizeof(*v), cmp_req);
	for (k = 0; k < n; k++) {
		series(t, "s3lb_requests_total", v[k]->pool, NULL);
		gw_text_printf(t, ",op=\"%s\",status=\"%d\"} %" PRIu64 "\n",
		               lb_op_name((lb_op_t)v[k]->op), v[k]->status, v[k]->count);
	}
	free(v);
}

static void metrics_pools(gw_text_t *t, const gw_metrics_t *m)
{
	size_t n = 0, k = 0;
	const gw_pool_series_t **v = NULL;

	for (const gw_pool_series_t *p = m->pools; p; p = p->next)
		n++;
	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			abort();
		for (const gw_pool_series_t *p = m->pools; p; p = p->next)
			v[k++] = p;
		qsort(v, n, sizeof(*v), cmp_pool);
	}
	family(t, "s3lb_request_bytes_total", "counter",
	       "Request bytes received from clients (head and body), by pool.");
	for (k = 0; k < n; k++) {
		series(t, "s3lb_request_bytes_total", v[k]->pool, NULL);
		gw_text_printf(t, "} %" PRIu64 "\n", v[k]->bytes_in);
	}
	family(t, "s3lb_response_bytes_total", "counter",
	       "Response bytes sent to clients (head and body), by pool.");
	for (k = 0; k < n; k++) {
		series(t, "s3lb_response_bytes_total", v[k]->pool, NULL);
		gw_text_printf(t, "} %" PRIu64 "\n", v[k]->bytes_out);
	}
	family(t, "s3lb_request_duration_seconds", "histogram",
	       "Time from a request's first byte to the end of its response, by pool.");
	for (k = 0; k < n; k++) {
		uint64_t cum = 0;
		for (size_t b = 0; b <= GW_LAT_BUCKETS; b++) {
			cum += v[k]->lat_buckets[b];
			series(t, "s3lb_request_duration_seconds_bucket", v[k]->pool, NULL);
			if (b < GW_LAT_BUCKETS)
				gw_text_printf(t, ",le=\"%g\"} %" PRIu64 "\n", gw_lat_bounds[b],
				               cum);
			else
				gw_text_printf(t, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		series(t, "s3lb_request_duration_seconds_sum", v[k]->pool, NULL);
		gw_text_printf(t, "} %.6f\n", v[k]->lat_sum);
		series(t, "s3lb_request_duration_seconds_count", v[k]->pool, NULL);
		gw_text_printf(t, "} %" PRIu64 "\n", v[k]->lat_count);
	}
	free(v);
}

static const struct {
	const char *name;
	size_t off;
	const char *help;
} node_counters[] = {
    {"s3lb_upstream_requests_total", offsetof(gw_node_stats_t, requests),
     "Request attempts sent to a node."},
    {"s3lb_upstream_connects_total", offsetof(gw_node_stats_t, connects),
     "New connections opened to a node."},
    {"s3lb_upstream_connect_errors_total", offsetof(gw_node_stats_t, connect_errors),
     "Failed or timed out connects to a node."},
    {"s3lb_upstream_errors_total", offsetof(gw_node_stats_t, errors),
     "Resets, timeouts and invalid responses from a node after connect."},
    {"s3lb_upstream_retries_total", offsetof(gw_node_stats_t, retries),
     "Attempts on a node that were retries of a request that failed elsewhere."},
    {"s3lb_upstream_responses_5xx_total", offsetof(gw_node_stats_t, responses_5xx),
     "Responses with a 5xx status from a node."},
    {"s3lb_upstream_reused_total", offsetof(gw_node_stats_t, reused),
     "Requests sent to a node over a kept-alive connection."},
};

static void metrics_node_counters(gw_text_t *t, const gw_metrics_t *m)
{
	for (size_t i = 0; i < sizeof(node_counters) / sizeof(node_counters[0]); i++) {
		family(t, node_counters[i].name, "counter", node_counters[i].help);
		for (const gw_node_series_t *s = m->nodes; s; s = s->next) {
			const char *base = (const char *)&s->stats;
			uint64_t v;
			memcpy(&v, base + node_counters[i].off, sizeof(v));
			series(t, node_counters[i].name, s->pool, s->node);
			gw_text_printf(t, "} %" PRIu64 "\n", v);
		}
	}
}

/* Gauges of the current runtime's nodes. which: 0 up, 1 state, 2 open conns, 3 idle conns. */
static void metrics_node_gauge(gw_text_t *t, const gw_runtime_t *rt, const char *name, int which)
{
	static const gw_node_state_t states[] = {GW_NODE_UP, GW_NODE_DOWN, GW_NODE_DRAINING};
	for (size_t i = 0; rt && i < rt->npools; i++) {
		const gw_pool_t *p = &rt->pools[i];
		for (size_t j = 0; j < p->n; j++) {
			const gw_node_t *n = &p->nodes[j];
			if (which != 1) {
				uint32_t v = which == 0   ? n->state == GW_NODE_UP
				             : which == 2 ? n->nconns
				                          : n->nidle;
				series(t, name, p->conf->name, n->conf->name);
				gw_text_printf(t, "} %" PRIu32 "\n", v);
				continue;
			}
			for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
				series(t, name, p->conf->name, n->conf->name);
				gw_text_printf(t, ",state=\"%s\"} %d\n",
				               gw_node_state_name(states[k]),
				               n->state == states[k]);
			}
		}
	}
}

static void metrics_scalar(gw_text_t *t, const char *name, const char *type, const char *help,
                           uint64_t v)
{
	family(t, name, type, help);
	gw_text_printf(t, "%s %" PRIu64 "\n", name, v);
}

void gw_admin_render_metrics(gw_server_t *srv, gw_text_t *out)
{
	const gw_metrics_t *m = srv->metrics;
	const gw_runtime_t *rt = srv->rt;

	if (m) {
		metrics_requests(out, m);
		metrics_pools(out, m);
		metrics_node_counters(out, m);
	}
	family(out, "s3lb_node_up", "gauge", "1 when a node is up (takes new requests), else 0.");
	metrics_node_gauge(out, rt, "s3lb_node_up", 0);
	family(out, "s3lb_node_state", "gauge",
	       "A node's health state: 1 for the current state, 0 for the others.");
	metrics_node_gauge(out, rt, "s3lb_node_state", 1);
	family(out, "s3lb_upstream_open_connections", "gauge",
	       "Connections to a node: connecting, busy or idle.");
	metrics_node_gauge(out, rt, "s3lb_upstream_open_connections", 2);
	family(out, "s3lb_upstream_idle_connections", "gauge",
	       "Idle kept-alive connections to a node.");
	metrics_node_gauge(out, rt, "s3lb_upstream_idle_connections", 3);
	metrics_scalar(out, "s3lb_open_connections", "gauge",
	               "Open client connections (admin connections not included).", srv->nconns);
	metrics_scalar(out, "s3lb_connections_accepted_total", "counter",
	               "Connections accepted on every listener, admin included.",
	               m ? m->conns_accepted : 0);
	metrics_scalar(out, "s3lb_config_reloads_total", "counter",
	               "Successful configuration reloads.", m ? m->reloads : 0);
	metrics_scalar(out, "s3lb_config_reload_errors_total", "counter",
	               "Configuration reloads that failed (the running config was kept).",
	               m ? m->reload_errors : 0);
	if (srv->hooks.metrics)
		srv->hooks.metrics(srv->hooks.arg, out);
}

/* ---- the admin connection --------------------------------------------------------------- */

typedef enum { AS_READ, AS_WRITE, AS_LINGER, AS_CLOSING } admin_state_t;

typedef enum {
	EV_REQUEST,  /* the head is parsed, or is invalid: a->status says what to answer */
	EV_WRITTEN,  /* the answer is written (or failed: a->result < 0) */
	EV_SHUTDOWN, /* our FIN is sent (or failed) */
	EV_EOF,      /* the client closed its side or the read failed */
	EV_TIMEOUT,
	EV_STOP, /* the server is stopping */
} admin_event_t;

typedef struct admin_conn_s {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	gw_server_t *srv;
	struct admin_conn_s *prev, *next; /* srv->admin_conns */
	admin_state_t state;
	unsigned pending;  /* open handles and requests in flight; freed at 0 */
	int status;        /* the answer's status */
	int result;        /* of the last write or shutdown */
	const char *type;  /* the answer's Content-Type */
	const char *allow; /* with 405: the allowed method when not GET */
	char allow_hdr[32];
	net_http_t http;
	gw_text_t body;
	char head[256];
	size_t len;
	char buf[ADMIN_MAX_REQUEST];
} admin_conn_t;

static void do_next(admin_conn_t *a, admin_event_t ev);

static void release(admin_conn_t *a)
{
	if (--a->pending)
		return;
	net_http_free(&a->http);
	gw_text_free(&a->body);
	free(a);
}

static void on_handle_closed(uv_handle_t *h)
{
	release(h->data);
}

/* Idempotent; the write and shutdown callbacks still run (UV_ECANCELED) before the close ones. */
static void conn_close(admin_conn_t *a)
{
	if (a->state == AS_CLOSING)
		return;
	a->state = AS_CLOSING;
	if (a->prev)
		a->prev->next = a->next;
	else
		a->srv->admin_conns = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
	uv_close((uv_handle_t *)&a->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&a->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
	do_next(t->data, EV_TIMEOUT);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	admin_conn_t *a = h->data;
	(void)hint;
	if (a->state == AS_READ) {
		buf->base = a->buf + a->len;
		buf->len = sizeof(a->buf) - a->len;
	} else {
		/* LINGER: whatever comes now is dropped */
		buf->base = a->buf;
		buf->len = sizeof(a->buf);
	}
}

static const char *path_of(admin_conn_t *a, size_t *len)
{
	const char *url = a->buf + a->http.url_off;
	const char *q = memchr(url, '?', a->http.url_len);
	*len = q ? (size_t)(q - url) : a->http.url_len;
	return url;
}

static bool path_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && !memcmp(p, want, n);
}

/* The value of query parameter `name` (not decoded; node names need no encoding). */
static bool query_param(admin_conn_t *a, const char *name, char *out, size_t cap)
{
	const char *url = a->buf + a->http.url_off, *end = url + a->http.url_len;
	const char *q = memchr(url, '?', a->http.url_len);
	size_t nl = strlen(name);
	while (q && q < end) {
		const char *p = q + 1, *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			size_t vl = (size_t)(e - p) - nl - 1;
			if (vl == 0 || vl >= cap)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = 0;
			return true;
		}
		q = amp;
	}
	return false;
}

/* POST /drain?node=NAME and /undrain?node=NAME (NAME or POOL/NODE). */
static void route_drain(admin_conn_t *a, bool on)
{
	gw_hooks_t *h = &a->srv->hooks;
	char node[160], err[200];
	if (strcmp(net_http_method(&a->http), "POST")) {
		a->status = 405;
		a->allow = "POST";
		return;
	}
	if (!query_param(a, "node", node, sizeof(node))) {
		a->status = 400;
		return;
	}
	if (!h->drain) {
		a->status = 404;
		return;
	}
	if (h->drain(h->arg, node, on, err, sizeof(err)) < 0) {
		a->status = 404;
		return;
	}
	gw_text_printf(&a->body, "{\"node\":");
	text_json(&a->body, node);
	gw_text_printf(&a->body, ",\"state\":\"%s\"}\n", on ? "draining" : "undrained");
	LB_INFO("admin: %s %s", on ? "drain" : "undrain", node);
}

/* Decides the answer to a parsed head and renders its body. */
static void route(admin_conn_t *a)
{
	size_t n;
	const char *p = path_of(a, &n);
	bool status = path_is(p, n, "/status"), metrics = path_is(p, n, "/metrics");

	if (path_is(p, n, "/drain") || path_is(p, n, "/undrain")) {
		route_drain(a, path_is(p, n, "/drain"));
	} else if (!status && !metrics) {
		a->status = 404;
	} else if (strcmp(net_http_method(&a->http), "GET")) {
		a->status = 405;
	} else if (status) {
		gw_admin_render_status(a->srv, &a->body);
	} else {
		a->type = "text/plain; version=0.0.4; charset=utf-8";
		gw_admin_render_metrics(a->srv, &a->body);
	}
	LB_DEBUG("admin: %s %.*s -> %d", net_http_method(&a->http), (int)a->http.url_len,
	         a->buf + a->http.url_off, a->status);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	admin_conn_t *a = s->data;
	size_t used;
	(void)buf;

	if (nread < 0) {
		do_next(a, EV_EOF);
		return;
	}
	if (nread == 0 || a->state != AS_READ)
		return;
	switch (net_http_execute(&a->http, a->buf + a->len, (size_t)nread, a->len, &used)) {
	case NET_HTTP_HEAD:
	case NET_HTTP_DONE:
		a->status = 200;
		route(a);
		break;
	case NET_HTTP_ERROR:
		a->status = a->http.err == NET_HTTP_E_TOO_LARGE ? 431 : 400;
		break;
	case NET_HTTP_MORE:
		a->len += (size_t)nread;
		if (a->len < sizeof(a->buf))
			return;
		a->status = 431;
		break;
	}
	do_next(a, EV_REQUEST);
}

/* A write or the shutdown finished: `ev` for the state machine, unless it is already closing. */
static void request_done(admin_conn_t *a, int status, admin_event_t ev)
{
	a->result = status;
	if (a->state == AS_CLOSING) {
		release(a);
		return;
	}
	a->pending--;
	do_next(a, ev);
}

static void on_write_done(uv_write_t *req, int status)
{
	request_done(req->data, status, EV_WRITTEN);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
	request_done(req->data, status, EV_SHUTDOWN);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	}
	return "Error";
}

static int send_answer(admin_conn_t *a)
{
	uv_buf_t bufs[2];
	int n;

	if (a->status != 200) {
		a->body.len = 0;
		gw_text_printf(&a->body, "{\"error\":\"%s\",\"status\":%d}\n", reason(a->status),
		               a->status);
	}
	if (a->allow)
		snprintf(a->allow_hdr, sizeof(a->allow_hdr), "Allow: %s\r\n", a->allow);
	n = snprintf(a->head, sizeof(a->head),
	             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	             a->status, reason(a->status), a->type, a->body.len,
	             a->status == 405 ? (a->allow ? a->allow_hdr : "Allow: GET\r\n") : "");
	if (n < 0 || (size_t)n >= sizeof(a->head))
		return -1; /* cannot happen with these fixed strings */
	bufs[0] = uv_buf_init(a->head, (unsigned)n);
	bufs[1] = uv_buf_init(a->body.data, (unsigned)a->body.len);
	a->wreq.data = a;
	if (uv_write(&a->wreq, (uv_stream_t *)&a->tcp, bufs, 2, on_write_done) < 0)
		return -1;
	a->pending++;
	return 0;
}

/*
 * Every transition of an admin connection. Events that do not apply to the current state are
 * ignored (a late read after the answer, a timeout racing a close).
 */
static void do_next(admin_conn_t *a, admin_event_t ev)
{
	if (ev == EV_STOP || ev == EV_TIMEOUT) {
		conn_close(a);
		return;
	}
	switch (a->state) {
	case AS_READ:
		if (ev == EV_EOF) {
			conn_close(a); /* gone before asking anything */
			return;
		}
		if (ev != EV_REQUEST)
			return;
		uv_read_stop((uv_stream_t *)&a->tcp);
		a->state = AS_WRITE;
		if (send_answer(a) < 0)
			conn_close(a);
		return;
	case AS_WRITE:
		if (ev == EV_EOF) {
			/* the client half-closed after its request: keep writing */
			return;
		}
		if (ev != EV_WRITTEN)
			return;
		a->sreq.data = a;
		if (a->result < 0 ||
		    uv_shutdown(&a->sreq, (uv_stream_t *)&a->tcp, on_shutdown_done) < 0) {
			conn_close(a);
			return;
		}
		a->pending++;
		a->state = AS_LINGER;
		uv_timer_start(&a->timer, on_timeout, ADMIN_LINGER_MS, 0);
		return;
	case AS_LINGER:
		if (ev == EV_EOF || (ev == EV_SHUTDOWN && a->result < 0)) {
			conn_close(a);
			return;
		}
		if (ev == EV_SHUTDOWN &&
		    uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) < 0)
			conn_close(a);
		return;
	case AS_CLOSING:
		return;
	}
}

static size_t count_conns(gw_server_t *srv)
{
	size_t n = 0;
	for (admin_conn_t *a = srv->admin_conns; a; a = a->next)
		n++;
	return n;
}

void gw_admin_accept(gw_listener_t *l)
{
	gw_server_t *srv = l->srv;
	admin_conn_t *a = calloc(1, sizeof(*a));
	bool full = count_conns(srv) >= ADMIN_MAX_CONNS;
	int rc;

	if (!a)
		abort();
	a->srv = srv;
	a->state = AS_READ;
	a->type = "application/json";
	uv_tcp_init(srv->loop, &a->tcp);
	uv_timer_init(srv->loop, &a->timer);
	a->tcp.data = a->timer.data = a;
	a->pending = 2;
	net_http_init(&a->http, HTTP_REQUEST, ADMIN_MAX_HEADERS, ADMIN_MAX_REQUEST);
	a->next = srv->admin_conns;
	if (a->next)
		a->next->prev = a;
	srv->admin_conns = a;

	rc = uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&a->tcp);
	if (rc < 0) {
		LB_WARN("admin: accept on %s: %s", l->addr, uv_strerror(rc));
		conn_close(a);
		return;
	}
	if (full || srv->stopping) {
		LB_WARN("admin: %d connections open on %s, closing a new one", ADMIN_MAX_CONNS,
		        l->addr);
		conn_close(a);
		return;
	}
	uv_timer_start(&a->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);
	rc = uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read);
	if (rc < 0)
		conn_close(a);
}

void gw_admin_stop(gw_server_t *srv)
{
	while (srv->admin_conns)
		do_next(srv->admin_conns, EV_STOP);
}

/* ---- the blocking client for `s3lb status` ---------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	for (;;) {
		uint64_t now = mono_ms();
		int rc;
		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int fetch_connect(int fd, const lb_addr_t *a, uint64_t deadline)
{
	int rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -errno;
	return -soerr;
}

static int fetch_send(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		int rc;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads until the server closes (it always does after one answer). */
static int fetch_recv(int fd, gw_text_t *t, uint64_t deadline)
{
	for (;;) {
		ssize_t r;
		int rc;
		if (t->len >= FETCH_MAX_RESPONSE)
			return -EFBIG;
		text_reserve(t, 16384);
		r = recv(fd, t->data + t->len, t->cap - t->len - 1, 0);
		if (r > 0) {
			t->len += (size_t)r;
			continue;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}

/* Splits a complete response into status and body; -1 if it is not a whole HTTP response. */
static int fetch_parse(const gw_text_t *t, int *status, size_t *body_off)
{
	net_http_t h;
	size_t used = 0, used2 = 0;
	net_http_result_t r;
	int rc = -1;

	net_http_init(&h, HTTP_RESPONSE, 100, 65536);
	r = net_http_execute(&h, t->data, t->len, 0, &used);
	if (r != NET_HTTP_HEAD)
		goto out;
	*status = net_http_status(&h);
	*body_off = h.head_len;
	r = net_http_execute(&h, t->data + used, t->len - used, used, &used2);
	if (r == NET_HTTP_MORE)
		r = net_http_finish(&h);
	if (r == NET_HTTP_DONE)
		rc = 0;
out:
	net_http_free(&h);
	return rc;
}

int gw_admin_fetch(const char *addr, const char *path, FILE *out, char *err, size_t errlen)
{
	return gw_admin_request(addr, "GET", path, out, err, errlen);
}

int gw_admin_request(const char *addr, const char *method, const char *path, FILE *out, char *err,
                     size_t errlen)
{
	uint64_t deadline = mono_ms() + FETCH_TIMEOUT_MS;
	gw_text_t req = {0}, resp = {0};
	const char *why, *step;
	size_t body = 0;
	int fd, rc, status = 0;
	lb_addr_t a;

	if (lb_parse_addr(addr, &a, &why) < 0) {
		snprintf(err, errlen, "admin address '%s': %s", addr, why);
		return -1;
	}
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	gw_text_printf(&req,
	               "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: s3lb\r\nContent-Length: 0\r\n"
	               "Connection: close\r\n\r\n",
	               method, path, a.text);
	step = "connecting to";
	rc = fetch_connect(fd, &a, deadline);
	if (rc == 0) {
		step = "sending to";
		rc = fetch_send(fd, req.data, req.len, deadline);
	}
	if (rc == 0) {
		step = "reading from";
		rc = fetch_recv(fd, &resp, deadline);
	}
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s the admin listener at %s: %s", step, a.text,
		         rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
		goto out;
	}
	rc = -1;
	if (fetch_parse(&resp, &status, &body) < 0) {
		snprintf(err, errlen, "GET %s from %s: invalid or truncated HTTP response", path,
		         a.text);
		goto out;
	}
	if (status != 200) {
		size_t n = resp.len - body;
		while (n && (resp.data[body + n - 1] == '\n' || resp.data[body + n - 1] == '\r'))
			n--;
		snprintf(err, errlen, "GET %s from %s: HTTP %d %.*s", path, a.text, status,
		         (int)(n > 200 ? 200 : n), resp.data + body);
		goto out;
	}
	if (fwrite(resp.data + body, 1, resp.len - body, out) != resp.len - body) {
		snprintf(err, errlen, "writing the answer: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	gw_text_free(&req);
	gw_text_free(&resp);
	return rc;
}

/*
 * Admin connections: one request per connection, answered and then closed. Main loop only.
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
 *
 * GET / is the status page (admin/page.h), asked and allowed exactly as GET /status: the page
 * reads /status from the same origin, so whoever may load it may also read what it shows.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yyjson.h>

#include "admin/admin.h"
#include "admin/page.h"
#include "admin/request.h"
#include "core/log.h"
#include "net/sock.h"

#define ADMIN_TIMEOUT_MS 10000
#define ADMIN_LINGER_MS  2000
#define ADMIN_MAX_CONNS  64

typedef enum { AS_READ, AS_WRITE, AS_LINGER, AS_CLOSING } admin_state_t;

typedef enum {
	EV_REQUEST,  /* the head is parsed, or is invalid: c->v says what to answer */
	EV_WRITTEN,  /* the answer is written (or failed: c->result < 0) */
	EV_SHUTDOWN, /* our FIN is sent (or failed) */
	EV_EOF,      /* the client closed its side or the read failed */
	EV_TIMEOUT,
	EV_STOP, /* the server is stopping */
} admin_event_t;

typedef struct admin_conn_s admin_conn_t;

struct adm_s {
	adm_sources_t src;
	adm_rates_t *rates;  /* src.rates: sampled by adm_tick */
	adm_events_t events; /* src.events: health's transitions */
	admin_conn_t *conns; /* open connections, for stop */
	size_t nconns;
	bool stopping;
};

struct admin_conn_s {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	adm_t *adm;
	admin_conn_t *prev, *next; /* adm->conns */
	admin_state_t state;
	unsigned pending;  /* open handles and requests in flight; freed at 0 */
	int result;        /* of the last write or shutdown */
	const char *type;  /* the answer's Content-Type */
	const char *extra; /* more header lines (each ending in CRLF), or "" */
	adm_verdict_t v;   /* the answer: 200 with body, or a refusal */
	net_http_t http;   /* finds where the head ends (or that it is invalid) as bytes arrive */
	char *body;        /* malloc'd */
	size_t body_len;
	char head[768];
	size_t len;
	char buf[ADM_MAX_REQUEST];
};

static void do_next(admin_conn_t *c, admin_event_t ev);

static void release(admin_conn_t *c)
{
	if (--c->pending)
		return;
	net_http_free(&c->http);
	free(c->body);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	release(h->data);
}

/* Idempotent; the write and shutdown callbacks still run (UV_ECANCELED) before the close ones. */
static void conn_close(admin_conn_t *c)
{
	if (c->state == AS_CLOSING)
		return;
	c->state = AS_CLOSING;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->adm->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->adm->nconns--;
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
	do_next(t->data, EV_TIMEOUT);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	admin_conn_t *c = h->data;
	(void)hint;
	if (c->state == AS_READ) {
		buf->base = c->buf + c->len;
		buf->len = sizeof(c->buf) - c->len;
	} else {
		/* LINGER: whatever comes now is dropped */
		buf->base = c->buf;
		buf->len = sizeof(c->buf);
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	}
	return "Error";
}

/* A small JSON object as the body: key/value string pairs, then the status number if not 0. */
static void json_body(admin_conn_t *c, const char *const *kv, int status)
{
	yyjson_mut_doc *d = yyjson_mut_doc_new(NULL);
	yyjson_mut_val *o;
	if (!d)
		abort();
	o = yyjson_mut_obj(d);
	yyjson_mut_doc_set_root(d, o);
	for (; kv[0]; kv += 2) {
		if (!kv[1])
			continue;
		yyjson_mut_obj_add_str(d, o, kv[0], kv[1]);
		if (status && !strcmp(kv[0], "error"))
			yyjson_mut_obj_add_int(d, o, "status", status);
	}
	free(c->body);
	c->body = yyjson_mut_write(
	    d, YYJSON_WRITE_ALLOW_INVALID_UNICODE | YYJSON_WRITE_NEWLINE_AT_END, &c->body_len);
	if (!c->body)
		abort();
	yyjson_mut_doc_free(d);
}

static void render_metrics(admin_conn_t *c)
{
	FILE *f = open_memstream(&c->body, &c->body_len);
	if (!f)
		abort();
	adm_render_metrics(&c->adm->src, f);
	if (fclose(f) != 0)
		abort(); /* open_memstream fails only on allocation */
}

/* The page runs its own inline script and style and talks to this listener only. */
#define PAGE_HEADERS                                                                               \
	"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "                \
	"style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; "          \
	"form-action 'none'; frame-ancestors 'none'\r\n"                                           \
	"X-Content-Type-Options: nosniff\r\n"

/* adm_decide's verdict, with GET / (the status page) judged as GET /status. True for the page. */
static bool decide(const adm_req_t *r, const lb_config_t *cfg, adm_verdict_t *v)
{
	adm_req_t as = *r;
	bool page = !r->bad && r->path.len == 1 && r->path.p[0] == '/';

	if (page) {
		as.path.p = "/status";
		as.path.len = strlen("/status");
	}
	adm_decide(&as, cfg, v);
	return page && v->action == ADM_STATUS;
}

/* Carries out a request's verdict: renders the body, or drains through health. */
static void route(admin_conn_t *c, size_t len)
{
	adm_t *a = c->adm;
	const lb_config_t *cfg = a->src.srv->rt ? a->src.srv->rt->cfg : NULL;
	adm_req_t r;
	char err[200];
	bool on;

	if (adm_parse(c->buf, len, &r) == 0)
		r.bad = 400; /* the incremental parser saw a whole head: cannot happen */
	if (decide(&r, cfg, &c->v)) {
		c->type = "text/html; charset=utf-8";
		c->extra = PAGE_HEADERS;
		c->body_len = adm_page_html_len;
		c->body = malloc(adm_page_html_len);
		if (!c->body)
			abort();
		memcpy(c->body, adm_page_html, adm_page_html_len);
		LB_DEBUG("admin: GET / -> 200 (the status page)");
		return;
	}
	switch (c->v.action) {
	case ADM_STATUS:
		c->body = adm_render_status(&a->src, &c->body_len);
		break;
	case ADM_METRICS:
		c->type = "text/plain; version=0.0.4; charset=utf-8";
		render_metrics(c);
		break;
	case ADM_DRAIN:
	case ADM_UNDRAIN:
		on = c->v.action == ADM_DRAIN;
		if (!a->src.hc || hc_drain(a->src.hc, c->v.node, on, err, sizeof(err)) < 0) {
			c->v.action = ADM_REFUSE;
			c->v.status = 404;
			snprintf(c->v.message, sizeof(c->v.message), "%s",
			         a->src.hc ? err : "no health checker");
			break;
		}
		json_body(c,
		          (const char *const[]){"node", c->v.node, "state",
		                                on ? "draining" : "undrained", NULL},
		          0);
		LB_INFO("admin: %s %s", on ? "drain" : "undrain", c->v.node);
		break;
	case ADM_REFUSE:
		if (c->v.status == 401 || c->v.status == 403)
			LB_WARN("admin: %s %.*s refused (%d): %s", r.method ? r.method : "-",
			        (int)r.path.len, r.path.p ? r.path.p : "", c->v.status,
			        c->v.message);
		break;
	}
	LB_DEBUG("admin: %s %.*s -> %d", r.method ? r.method : "-", (int)r.path.len,
	         r.path.p ? r.path.p : "", c->v.status);
}

static void refuse_now(admin_conn_t *c, int status)
{
	memset(&c->v, 0, sizeof(c->v));
	c->v.status = status;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	admin_conn_t *c = s->data;
	size_t used;
	(void)buf;

	if (nread < 0) {
		do_next(c, EV_EOF);
		return;
	}
	if (nread == 0 || c->state != AS_READ)
		return;
	switch (net_http_execute(&c->http, c->buf + c->len, (size_t)nread, c->len, &used)) {
	case NET_HTTP_HEAD:
	case NET_HTTP_DONE:
		route(c, c->len + used);
		break;
	case NET_HTTP_ERROR:
		refuse_now(c, c->http.err == NET_HTTP_E_TOO_LARGE ? 431 : 400);
		break;
	case NET_HTTP_MORE:
		c->len += (size_t)nread;
		if (c->len < sizeof(c->buf))
			return;
		refuse_now(c, 431);
		break;
	}
	do_next(c, EV_REQUEST);
}

/* A write or the shutdown finished: `ev` for the state machine, unless it is already closing. */
static void request_done(admin_conn_t *c, int status, admin_event_t ev)
{
	c->result = status;
	if (c->state == AS_CLOSING) {
		release(c);
		return;
	}
	c->pending--;
	do_next(c, ev);
}

static void on_write_done(uv_write_t *req, int status)
{
	request_done(req->data, status, EV_WRITTEN);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
	request_done(req->data, status, EV_SHUTDOWN);
}

static int send_answer(admin_conn_t *c)
{
	const adm_verdict_t *v = &c->v;
	uv_buf_t bufs[2];
	int n;

	if (v->status != 200) {
		c->type = "application/json";
		json_body(c,
		          (const char *const[]){"error", reason(v->status), "message",
		                                v->message[0] ? v->message : NULL, NULL},
		          v->status);
	}
	n = snprintf(c->head, sizeof(c->head),
	             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s"
	             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	             v->status, reason(v->status), c->type, c->body_len, v->allow ? "Allow: " : "",
	             v->allow ? v->allow : "", v->allow ? "\r\n" : "",
	             v->challenge ? "WWW-Authenticate: Bearer realm=\"s3lb-admin\"\r\n" : "",
	             c->extra);
	if (n < 0 || (size_t)n >= sizeof(c->head))
		return -1; /* cannot happen with these fixed strings */
	bufs[0] = uv_buf_init(c->head, (unsigned)n);
	bufs[1] = uv_buf_init(c->body, (unsigned)c->body_len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, 2, on_write_done) < 0)
		return -1;
	c->pending++;
	return 0;
}

/*
 * Every transition of an admin connection. Events that do not apply to the current state are
 * ignored (a late read after the answer, a timeout racing a close).
 */
static void do_next(admin_conn_t *c, admin_event_t ev)
{
	if (ev == EV_STOP || ev == EV_TIMEOUT) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case AS_READ:
		if (ev == EV_EOF) {
			conn_close(c); /* gone before asking anything */
			return;
		}
		if (ev != EV_REQUEST)
			return;
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->state = AS_WRITE;
		if (send_answer(c) < 0)
			conn_close(c);
		return;
	case AS_WRITE:
		if (ev == EV_EOF) {
			/* the client half-closed after its request: keep writing */
			return;
		}
		if (ev != EV_WRITTEN)
			return;
		c->sreq.data = c;
		if (c->result < 0 ||
		    uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0) {
			conn_close(c);
			return;
		}
		c->pending++;
		c->state = AS_LINGER;
		uv_timer_start(&c->timer, on_timeout, ADMIN_LINGER_MS, 0);
		return;
	case AS_LINGER:
		if (ev == EV_EOF || (ev == EV_SHUTDOWN && c->result < 0)) {
			conn_close(c);
			return;
		}
		if (ev == EV_SHUTDOWN &&
		    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
			conn_close(c);
		return;
	case AS_CLOSING:
		return;
	}
}

/* health's subscription: every transition, as it happens (main loop). */
static void on_health_event(void *arg, const hc_event_t *ev)
{
	adm_t *a = arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	adm_events_add(&a->events, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
	               ev->pool, ev->node, hc_state_name(ev->from), hc_state_name(ev->to),
	               ev->reason);
}

adm_t *adm_new(gw_server_t *srv, hc_t *hc)
{
	adm_t *a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	a->src.srv = srv;
	a->src.hc = hc;
	a->rates = adm_rates_new();
	a->src.rates = a->rates;
	a->src.events = &a->events;
	if (hc && hc_subscribe(hc, on_health_event, a) < 0)
		LB_WARN("admin: cannot follow health's transitions: /status shows no events");
	return a;
}

void adm_tick(adm_t *a)
{
	const gw_server_t *srv = a->src.srv;
	adm_rates_sample(&a->src, a->rates, srv->loop ? uv_now(srv->loop) : 0);
}

void adm_set_workers(adm_t *a, gw_workers_t *ws)
{
	a->src.ws = ws;
}

void adm_set_director(adm_t *a, dsr_director_t *dsr)
{
	a->src.dsr = dsr;
}

void adm_accept(adm_t *a, uv_stream_t *listener, const char *addr)
{
	uv_loop_t *loop = listener->loop;
	admin_conn_t *c = calloc(1, sizeof(*c));
	bool full = a->nconns >= ADMIN_MAX_CONNS;
	int rc;

	if (!c)
		abort();
	c->adm = a;
	c->state = AS_READ;
	c->type = "application/json";
	c->extra = "";
	/* both cannot fail for a loop that is alive (they only fill in the handles) */
	(void)net_tcp_init(loop, &c->tcp); /* uv_tcp_init, libuv's silent reserve kept off */
	(void)uv_timer_init(loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->pending = 2;
	net_http_init(&c->http, HTTP_REQUEST, ADM_MAX_HEADERS, ADM_MAX_REQUEST);
	c->next = a->conns;
	if (c->next)
		c->next->prev = c;
	a->conns = c;
	a->nconns++;

	rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rc < 0) {
		LB_WARN("admin: accept on %s: %s", addr, uv_strerror(rc));
		conn_close(c);
		return;
	}
	if (full || a->stopping || a->src.srv->stopping) {
		if (full)
			LB_WARN("admin: %d connections open on %s, closing a new one",
			        ADMIN_MAX_CONNS, addr);
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc < 0)
		conn_close(c);
}

void adm_stop(adm_t *a)
{
	a->stopping = true;
	while (a->conns)
		do_next(a->conns, EV_STOP);
}

void adm_free(adm_t *a)
{
	adm_rates_free(a->rates);
	free(a);
}

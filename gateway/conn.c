/*
 * A client connection: parse a request head, route it, relay it to a node and the response back,
 * then the next request. Runs on the main loop. The node side of an attempt is a net/client
 * exchange on a pooled connection (upstream.c); this file is the client side and the join.
 *
 *              accept
 *                |
 *                v
 *   +-------->  HEAD  --(bad head, header timeout, no route)-----------+
 *   |            | head parsed and routed                              |
 *   |            v                                                     v
 *   |   +---> CONNECT --(no node, every attempt failed, budget)---->  ERROR  (our S3 XML error)
 *   |   |        | a node connection is ready                          |
 *   |   |        v                                                     |
 *   |   +----  PROXY    request body relay and response relay run     |
 *   |  retry     |      side by side (the request and response        |
 *   |            |      fields); a failure before any response byte    |
 *   |            |      and body byte went out goes back to CONNECT    |
 *   |            v                                                     |
 *   +-- keep-alive -- end of request <---------------------------------+
 *                        | close_after                | after our error, client still sending
 *                        v                            v
 *                     CLOSING  <-------------------- LINGER  (read and drop, bounded)
 *                     (handles closed; freed when the last one is)
 *
 * go() is the only place where the state changes; its switch holds what entering each state
 * does. In PROXY every event (bytes from the client, a write done on either side, a response
 * head or body bytes, the response's end) records what happened and calls proxy_next(), which
 * moves both directions on as far as they can go.
 *
 * Bytes are relayed without copies: the request body from the client buffer to the node, the
 * response body from the node connection's buffer to the client; a buffer is written from in
 * one piece at a time and read into only in its free tail, so memory per connection is bounded
 * by the two buffers (limits.buffer_size each). Reading stops when a buffer is full and restarts
 * when its write completes (backpressure both ways).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "gateway/access_log.h"
#include "gateway/head.h"
#include "gateway/internal.h"
#include "gateway/proxy.h"
#include "gateway/router.h"
#include "net/splice.h"

enum { CS_HEAD, CS_CONNECT, CS_PROXY, CS_ERROR, CS_LINGER, CS_CLOSING };

/* What the client's timer measures. */
enum { C_NONE = 0, C_IDLE, C_HEADER, C_BODY, C_SEND, C_LINGER };

/* Lingering close after an error (see go(CS_LINGER)): at most this long and this many bytes. */
#define LINGER_MS    5000
#define LINGER_BYTES (64u << 20)

/* Interim responses relayed per request at most; more is a node gone wrong. */
#define MAX_INTERIM 16

static void go(gw_conn_t *c, int state);
static void proxy_next(gw_conn_t *c);
static void send_error(gw_conn_t *c, gw_err_t err, bool close);
static void end_request(gw_conn_t *c);
static void client_read_start(gw_conn_t *c);
static const gw_upstream_ops_t up_ops;

static const lb_config_t *cfg_of(gw_conn_t *c)
{
	return c->rt->cfg;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void make_request_id(gw_conn_t *c)
{
	static _Thread_local uint64_t
	    seq; /* per worker thread; the worker's index keeps them apart */
	uint64_t n = ++seq * 1024 + c->srv->worker;
	uint64_t x = ((uint64_t)time(NULL) << 20) ^ (n * 0x9E3779B97F4A7C15ULL) ^ c->id;
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 29;
	snprintf(c->reqid, sizeof(c->reqid), "%016" PRIX64, x);
}

/* A failure of s3lb's own (its connection limit to the node, no fd, no memory, no local port),
 * not the node's: it does not count against the node's health. */
static bool local_error(int rc)
{
	return rc == UV_EBUSY || rc == UV_EMFILE || rc == UV_ENFILE || rc == UV_ENOMEM ||
	       rc == UV_ENOBUFS || rc == UV_EADDRNOTAVAIL;
}

/* Safe: a node that runs it late changes nothing (RFC 9110 9.2.1). */
static bool method_safe(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

static bool method_idempotent(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
	       !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

/* ---- the client's timer ----------------------------------------------------------------- */

static void on_client_timer(uv_timer_t *t);

static void client_timer(gw_conn_t *c, int kind, uint64_t ms)
{
	if (c->state == CS_CLOSING)
		return;
	c->timer_kind = kind;
	if (kind != C_NONE)
		uv_timer_start(&c->timer, on_client_timer, ms ? ms : 1, 0);
	else
		uv_timer_stop(&c->timer);
}

/* How long the client may now take for its next body byte: timeouts.client_body since the last
 * one, and the whole body within client_body plus one second per limits.min_body_rate bytes
 * received (after Apache's mod_reqtimeout MinRate): a client that trickles a body cannot hold
 * a node connection for ever. 0: the deadline has passed. */
static uint64_t body_timeout(gw_conn_t *c)
{
	const lb_config_t *cfg = cfg_of(c);
	uint64_t idle = cfg->timeouts.client_body, now = uv_now(c->srv->loop), deadline;
	if (!cfg->limits.min_body_rate)
		return idle;
	deadline = c->body_t0 + idle + c->body_rx * 1000 / cfg->limits.min_body_rate;
	if (deadline <= now)
		return 0;
	return deadline - now < idle ? deadline - now : idle;
}

/*
 * The client's timer while a request is relayed: it runs only while s3lb waits for the client
 * (the node's timers are net/client's and run only while s3lb waits for the node), so that a slow
 * client never looks like a slow node, whose failures count against its health, and the other
 * way round. A write to the client in flight: client_send; request body bytes awaited (the head
 * gone or going, no write of earlier ones to the node in flight): body_timeout; else none. It
 * restarts when what it measures changes or the client moved.
 */
static void proxy_timer(gw_conn_t *c)
{
	int kind = C_NONE;
	uint64_t ms = 0;
	bool moved = c->client_moved;
	c->client_moved = false;
	if (c->state != CS_PROXY)
		return;
	if (c->writing_down) {
		kind = C_SEND;
		ms = cfg_of(c)->timeouts.client_send;
	} else if (c->req_splice) {
		if (c->timer_kind == C_BODY)
			return; /* min_body_rate tripped (on_req_splice_progress): it fires */
		/* else the splice times the body (only while it waits for the client) */
	} else if (!c->req_done && !c->up_writing) {
		kind = C_BODY;
		ms = body_timeout(c);
	}
	if (kind != c->timer_kind || moved)
		client_timer(c, kind, ms);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void conn_free(gw_conn_t *c)
{
	gw_server_t *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->counted)
		gw__count_put(gw__client_count());
	GW_DEC(srv->metrics->open_conns);
	net_http_free(&c->req);
	net_rbuf_free(&c->rb);
	free(c->head);
	free(c->host);
	free(c->tried);
	free(c->pend);
	free(c->down_buf);
	free(c->err_buf);
	gw__runtime_unref(c->rt);
	free(c);
	if (srv->stopping && srv->nconns == 0)
		gw_server_stop(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
	gw_conn_t *c = h->data;
	if (--c->pending == 0)
		conn_free(c);
}

static void on_sock_closed(net_sock_t *s)
{
	gw_conn_t *c = s->data;
	if (--c->pending == 0)
		conn_free(c);
}

static void stop_splice(gw_conn_t *c)
{
	if (c->splice) {
		net_splice_close(c->splice); /* frees itself when closed */
		c->splice = NULL;
	}
	if (c->req_splice) {
		net_splice_close(c->req_splice);
		c->req_splice = NULL;
	}
}

/* Gives the node connection back: reused only when its exchange ended cleanly; reset when the
 * node has part of a request, so that it never takes it for a whole one. */
static void release_upstream(gw_conn_t *c, gw_release_t how)
{
	gw_node_t *node = c->node;
	if (c->rb.writing && c->up)
		net_rbuf_abandon(&c->rb); /* its bytes stay unreleased, for a retry */
	c->up_writing = c->up_head = false;
	stop_splice(c);
	if (c->up && c->dechunk) {
		c->up->cl.resp.body_cb = NULL; /* the node connection may serve another client */
		c->up->cl.resp.body_arg = NULL;
	}
	c->dechunk = false;
	if (c->up) {
		if (c->head_sent && !c->req_sent)
			how = GW_UP_ABORT;
		if (c->span) {
			/* lent bytes not relayed: the connection is lost for reuse */
			c->span = NULL;
			if (how == GW_UP_REUSE)
				how = GW_UP_CLOSE;
		}
		gw__upstream_release(c->up, how);
		c->up = NULL;
	}
	if (node) {
		gw_pool_t *pool = node->pool;
		if (pool->lbn[node->index].outstanding) {
			pool->lbn[node->index].outstanding--;
			GW_DEC(node->stats->outstanding);
		}
		if (c->retrying && pool->retries_inflight) {
			pool->retries_inflight--;
			GW_DEC(pool->series->retries_inflight);
		}
		c->retrying = false;
		c->node = NULL;
	}
}

static void conn_close(gw_conn_t *c, bool abort)
{
	if (c->state == CS_CLOSING)
		return;
	c->sock.abort_on_close = abort;
	go(c, CS_CLOSING);
}

void gw__conn_force_close(gw_conn_t *c)
{
	if (c->state != CS_HEAD || c->rb.len > c->rb.start) {
		if (!c->status)
			c->status = 499;
		if (c->method)
			gw_access_log(c);
	}
	conn_close(c, true);
}

void gw__conn_shutdown(gw_conn_t *c)
{
	c->close_after = true;
	if (c->state == CS_HEAD && c->rb.len == c->rb.start)
		conn_close(c, false);
}

/* ---- accept and reading ----------------------------------------------------------------- */

void gw__conn_accept(gw_listener_t *l)
{
	gw_server_t *srv = l->srv;
	gw_runtime_t *rt = srv->rt;
	gw_conn_t *c = calloc(1, sizeof(*c)); /* state CS_HEAD */
	const lb_config_t *cfg = rt->cfg;
	int rc;

	if (!c)
		abort();
	c->srv = srv;
	c->rt = rt;
	rt->refs++;
	c->fe = &rt->fes[l->fe_index];
	c->id = ++srv->next_conn_id;
	c->rb.cap = cfg->limits.buffer_size; /* allocated when the first bytes arrive */
	net_http_init(&c->req, HTTP_REQUEST, cfg->limits.max_headers, cfg->limits.max_header_size);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	GW_INC(srv->metrics->open_conns);
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->pending = 2;
	rc = net_sock_accept((uv_stream_t *)&l->tcp, &c->sock, c->fe->tls);
	c->sock.data = c;
	c->sock.q = &srv->sockq;
	if (rc < 0) {
		LB_WARN("accept failed: %s", uv_strerror(rc));
		conn_close(c, false);
		return;
	}
	net_sock_peer(&c->sock, c->client_ip, sizeof(c->client_ip));
	if (srv->stopping) {
		conn_close(c, false);
		return;
	}
	c->counted = gw__count_take(gw__client_count(), cfg->limits.max_connections);
	if (!c->counted) {
		c->t_start = uv_hrtime();
		make_request_id(c);
		LB_WARN("connection limit %u reached, client: %s", cfg->limits.max_connections,
		        c->client_ip);
		send_error(c, GW_ERR_SLOW_DOWN, true);
		return;
	}
	client_timer(c, C_IDLE, cfg->timeouts.client_idle);
	client_read_start(c);
}

static void on_client_alloc(net_sock_t *s, uv_buf_t *buf)
{
	gw_conn_t *c = s->data;
	if (c->state == CS_ERROR || c->state == CS_CLOSING) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	if (c->state == CS_LINGER)
		c->rb.start = c->rb.parsed = c->rb.len = 0; /* read only to be dropped */
	net_rbuf_space(&c->rb, buf);
}

static void parse_head(gw_conn_t *c);

static void on_client_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_conn_t *c = s->data;
	(void)buf;
	if (c->state == CS_CLOSING)
		return;
	if (c->state == CS_LINGER) {
		if (nread < 0 || (c->linger_bytes += (size_t)nread) > LINGER_BYTES)
			conn_close(c, false);
		return;
	}
	if (nread < 0) {
		c->client_eof = true;
		if (nread != UV_EOF) {
			conn_close(c, false);
			return;
		}
		switch (c->state) {
		case CS_HEAD:
			/* a partial head can never complete now */
			conn_close(c, false);
			return;
		case CS_CONNECT:
		case CS_PROXY:
			if (!c->req_done) {
				LB_INFO("client closed mid-request, client: %s, request_id: %s",
				        c->client_ip, c->reqid);
				c->status = 499;
				gw_access_log(c);
				conn_close(c, true);
				return;
			}
			c->close_after = true;
			return;
		default:
			c->close_after = true;
			return;
		}
	}
	c->rb.len += (size_t)nread;
	switch (c->state) {
	case CS_HEAD:
		parse_head(c);
		break;
	case CS_PROXY:
		if (!c->req_done) {
			c->client_moved = true;
			proxy_next(c);
		}
		break;
	default:
		break; /* buffered: parsed once the node connection is ready or the next request
		          starts */
	}
}

static void client_read_start(gw_conn_t *c)
{
	if (c->state == CS_CLOSING || c->state == CS_ERROR || c->req_splice)
		return; /* while the request body is spliced, the splice reads the client */
	if (net_sock_read_start(&c->sock, on_client_alloc, on_client_read) < 0)
		conn_close(c, false);
}

/* ---- request head ----------------------------------------------------------------------- */

/* The head as sent to nodes (head.c), and the S3 model pointing into it. `path` replaces an
 * absolute-form target (NULL: keep the original). */
static int build_request_head(gw_conn_t *c, const char *msg, const char *path, size_t path_len)
{
	const net_http_t *h = &c->req;
	const lb_frontend_conf_t *fe = c->fe->conf;
	gw_head_req_opts_t o = {.path = path,
	                        .path_len = path_len,
	                        .client_ip = c->client_ip,
	                        .x_forwarded_for = fe->x_forwarded_for,
	                        .x_real_ip = fe->x_real_ip};
	size_t target_off;

	gw_head_request(h, msg, &o, &c->head, &c->head_len, &target_off);
	return gw_s3req_parse(&c->s3, c->head, h->method_len, c->head + target_off,
	                      path ? path_len : h->url_len, c->host, strlen(c->host), fe->domains,
	                      fe->ndomains);
}

/* Absolute-form "http://host[:port]/path": accepted only for a host this frontend serves (the
 * Host header's), so s3lb is never an open proxy. Returns the path, or NULL to reject. */
static const char *absolute_target(gw_conn_t *c, const char *t, size_t n, size_t *path_len)
{
	size_t skip;
	const char *auth, *slash;
	if (n > 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else
		return NULL;
	auth = t + skip;
	slash = memchr(auth, '/', n - skip);
	if (!slash)
		return NULL;
	if ((size_t)(slash - auth) != strlen(c->host) ||
	    strncasecmp(auth, c->host, (size_t)(slash - auth)) != 0)
		return NULL;
	*path_len = n - (size_t)(slash - t);
	return slash;
}

/* The current runtime's index of the connection's frontend (by name), or -1: the frontend is
 * gone from the config. */
static int current_fe(const gw_conn_t *c)
{
	const gw_runtime_t *rt = c->srv->rt;
	if (c->rt == rt)
		return (int)(c->fe - c->rt->fes);
	for (size_t i = 0; rt && i < rt->nfes; i++)
		if (!strcmp(rt->fes[i].conf->name, c->fe->conf->name))
			return (int)i;
	return -1;
}

/*
 * Between requests a connection moves to the current runtime (after a reload), so each request
 * follows the config current when it begins, and a reload closes no kept-alive connection
 * (closing one races with the client's next request, which would be lost). False when its
 * frontend is gone: the connection ends.
 */
static bool follow_reload(gw_conn_t *c)
{
	gw_runtime_t *old = c->rt;
	int i;
	if (c->rt == c->srv->rt)
		return true;
	if ((i = current_fe(c)) < 0)
		return false;
	c->rt = c->srv->rt;
	c->rt->refs++;
	c->fe = &c->rt->fes[i];
	gw__runtime_unref(old);
	return true;
}

/* Whether the request asks for the frontend's healthz path (GET or HEAD, any query). */
static bool is_healthz(const gw_conn_t *c, const char *msg, const char *path, size_t path_len)
{
	const char *want = c->fe->conf->healthz, *t = path ? path : msg + c->req.url_off;
	size_t n = path ? path_len : c->req.url_len, k = 0;
	if (!want || c->req_has_body || (strcmp(c->method, "GET") && !c->is_head))
		return false;
	while (k < n && t[k] != '?')
		k++;
	return k == strlen(want) && !memcmp(t, want, k);
}

/*
 * GET /healthz (frontends[].healthz), answered here: 200 while a pool this frontend routes to
 * has a node up and s3lb is neither draining (SIGTERM, timeouts.shutdown_delay) nor stopping;
 * else 503 with the reason. For an L4 tier in front: it moves new connections away first.
 */
static void answer_healthz(gw_conn_t *c)
{
	const lb_frontend_conf_t *fe = c->fe->conf;
	const char *why = NULL;
	bool up = false;
	char *buf;
	int len;

	for (size_t i = 0; i < fe->nroutes && !up; i++) {
		const gw_pool_t *p = &c->rt->pools[fe->routes[i].pool];
		for (size_t j = 0; j < p->n && !up; j++)
			up = p->nodes[j].state == GW_NODE_UP;
	}
	if (c->srv->stopping || c->srv->draining)
		why = "stopping";
	else if (!up)
		why = "no node up";
	if (!c->client_keep_alive || c->client_eof || c->srv->stopping)
		c->close_after = true;
	c->status = why ? 503 : 200;
	len = asprintf(&buf,
	               "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	               "Cache-Control: no-store\r\n%s\r\n%s\n",
	               why ? "503 Service Unavailable" : "200 OK", strlen(why ? why : "ok") + 1,
	               c->close_after ? "Connection: close\r\n" : "",
	               c->is_head ? ""
	               : why      ? why
	                          : "ok");
	if (len < 0)
		abort();
	if (c->is_head) /* the same head, no body */
		len = (int)(strstr(buf, "\r\n\r\n") + 4 - buf);
	free(c->err_buf);
	c->err_buf = buf;
	c->err_len = (size_t)len;
	go(c, CS_ERROR);
}

/* A complete head: checked, rebuilt for the nodes, routed; then CONNECT. */
static void on_request_head(gw_conn_t *c)
{
	const char *msg = c->rb.data + c->rb.start;
	const net_http_t *h = &c->req;
	bool followed = follow_reload(c); /* a connection idle across a reload */
	const lb_frontend_conf_t *fe = c->fe->conf;
	const char *path = NULL;
	size_t path_len = 0;
	gw_err_t err;
	const char *why;
	int hi, ri;

	if (!followed)
		c->close_after =
		    true; /* its frontend is gone: this request on the old rules, the last */
	c->method = net_http_method(h);
	c->is_head = strcmp(c->method, "HEAD") == 0;
	c->req_has_body = net_http_has_body(h);
	c->req_done = h->msg_done; /* a body-less request ends with its head */
	c->client_keep_alive = net_http_keep_alive(h);
	c->req_minor = (uint8_t)net_http_minor(h); /* kept: a spliced body resets the parser */
	c->bytes_in = h->head_len;
	make_request_id(c);
	client_timer(c, C_NONE, 0);

	if (!strcmp(c->method, "CONNECT")) {
		LB_INFO("rejected CONNECT, client: %s", c->client_ip);
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
	if (!gw_head_check_request(h, msg, &err, &why)) {
		LB_INFO("bad request from %s: %s, request_id: %s", c->client_ip, why, c->reqid);
		send_error(c, err, true);
		return;
	}
	hi = net_http_find(h, msg, "host", 0);
	c->host = strndup(msg + h->hdrs[hi].value_off, h->hdrs[hi].value_len);
	if (!c->host)
		abort();
	if (h->url_len == 0 || msg[h->url_off] != '/') {
		path = absolute_target(c, msg + h->url_off, h->url_len, &path_len);
		if (!path) {
			LB_INFO("rejected request target '%.*s', client: %s", (int)h->url_len,
			        msg + h->url_off, c->client_ip);
			send_error(c, GW_ERR_INVALID_REQUEST, true);
			return;
		}
	}
	if (build_request_head(c, msg, path, path_len) < 0) {
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
	/* the head lives on in c->head; release its bytes from the client buffer */
	c->rb.start = c->rb.parsed;
	if (is_healthz(c, msg, path, path_len)) {
		answer_healthz(c);
		return;
	}

	ri = gw_route(fe, &c->s3, c->host, strlen(c->host));
	if (ri < 0) {
		LB_INFO("no route, client: %s, host: %s, bucket: %.*s, request_id: %s",
		        c->client_ip, c->host, (int)c->s3.bucket_len,
		        c->s3.bucket ? c->s3.bucket : "", c->reqid);
		send_error(c, GW_ERR_NO_SUCH_BUCKET, c->req_has_body);
		return;
	}
	c->pool = &c->rt->pools[fe->routes[ri].pool];
	c->tried = calloc(c->pool->n, 1);
	if (!c->tried)
		abort();
	c->pool->inflight++;
	GW_INC(c->pool->series->inflight);
	c->inflight = true;
	go(c, CS_CONNECT);
}

/* Parses buffered bytes for a request head. */
static void parse_head(gw_conn_t *c)
{
	net_rbuf_t *rb = &c->rb;
	while (c->state == CS_HEAD) {
		size_t used;
		net_http_result_t r;
		if (rb->parsed == rb->len && rb->len == rb->start)
			return;
		if (!c->t_start) {
			/* first byte of a new request: the header clock starts */
			c->t_start = uv_hrtime();
			client_timer(c, C_HEADER, cfg_of(c)->timeouts.client_header);
		}
		if (rb->parsed == rb->len)
			return;
		r = net_http_execute(&c->req, rb->data + rb->parsed, rb->len - rb->parsed,
		                     rb->parsed - rb->start, &used);
		rb->parsed += used;
		switch (r) {
		case NET_HTTP_MORE:
			break;
		case NET_HTTP_DONE:
			/* cannot happen: a head ends with HEAD and the request is followed from
			 * there */
			rb->start = rb->parsed;
			net_http_next(&c->req);
			break;
		case NET_HTTP_HEAD:
			on_request_head(c);
			return;
		case NET_HTTP_ERROR:
			make_request_id(c);
			LB_INFO("bad request from %s: %s, request_id: %s", c->client_ip,
			        c->req.why ? c->req.why : "invalid", c->reqid);
			send_error(c,
			           c->req.err == NET_HTTP_E_TOO_LARGE ? GW_ERR_HEADER_TOO_LARGE
			                                              : GW_ERR_INVALID_REQUEST,
			           true);
			return;
		}
	}
}

/* ---- attempts on nodes ------------------------------------------------------------------ */

/*
 * The attempt on c->node failed. reached: the node may have seen the request (its head was
 * written). Retries when it is safe: no response byte and no body byte went out, and the method
 * is idempotent or the node never got the request.
 */
static void attempt_failed(gw_conn_t *c, gw_err_t err, bool reached, const char *why)
{
	gw_node_t *node = c->node;
	bool stalled = c->stalled, local = c->local_fault;
	c->stalled = c->local_fault = false;
	LB_WARN("upstream %s, node: %s (%s), client: %s, method: %s, bucket: %.*s, attempt: %u, "
	        "request_id: %s",
	        why, node ? node->conf->name : "-", node ? node->conf->addr.text : "-",
	        c->client_ip, c->method, (int)c->s3.bucket_len, c->s3.bucket ? c->s3.bucket : "",
	        c->attempts, c->reqid);
	release_upstream(c, GW_UP_CLOSE);
	if (node && !local) {
		/* after the release: health may mark the node down and look for its requests */
		c->reporting = true;
		gw__node_report(node, false, why);
		c->reporting = false;
	}
	c->last_err = err;
	/* A node that is no longer up (it refused the connection, health ejected it or marked it
	 * down) makes the retry a failover, which the retry budget does not limit: the budget is
	 * there to keep retries from piling onto a cluster that is alive but struggling. */
	c->failover = !reached || (node && node->state != GW_NODE_UP);
	if (c->resp_started) {
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	/* a node that took the request and went quiet may still run it later: retrying a write
	 * elsewhere would let that late run undo what the client does next (a DELETE run after
	 * the client wrote the key again). Only safe methods move then. */
	if (!c->body_released &&
	    (!reached || method_safe(c->method) || (method_idempotent(c->method) && !stalled))) {
		go(c, CS_CONNECT);
		return;
	}
	send_error(c, err, true);
}

void gw__conn_node_down(gw_conn_t *c, gw_node_t *node)
{
	/* Health marked the node down (e.g. a stopped process that still holds its sockets): a
	 * request waiting on it that can be retried safely moves now instead of waiting for its
	 * timeout. Others keep their chance to complete. */
	if (c->node != node || c->reporting || (c->state != CS_CONNECT && c->state != CS_PROXY) ||
	    c->resp_started || c->body_released || (c->head_sent && !method_safe(c->method)) ||
	    (c->up && c->up->cl.final_head))
		return;
	attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, "node marked down by health");
}

/* Picks a node and gets a connection to it: PROXY at once when a kept-alive one is ready. */
static void start_attempt(gw_conn_t *c)
{
	gw_pool_t *pool = c->pool;
	char kbuf[1100];
	const char *key = NULL;
	size_t klen = 0;
	int idx, rc;
	bool ready = false;
	gw_upstream_t *up;

	if (c->attempts > 0) {
		uint32_t budget = pool->inflight * pool->conf->retry_budget_pct / 100;
		if (budget < 3)
			budget = 3;
		if (c->attempts > pool->conf->retries ||
		    (!c->failover && pool->retries_inflight >= budget)) {
			send_error(c, c->last_err, c->req_has_body);
			return;
		}
	}
	if (pool->conf->balance == LB_BALANCE_HASH_KEY && c->s3.bucket) {
		klen =
		    (size_t)snprintf(kbuf, sizeof(kbuf), "%.*s/%.*s", (int)c->s3.bucket_len,
		                     c->s3.bucket, (int)c->s3.key_len, c->s3.key ? c->s3.key : "");
		if (klen >= sizeof(kbuf))
			klen = sizeof(kbuf) - 1;
		key = kbuf;
	}
	idx = gw_balancer_pick(pool->bal, c->tried, key, klen);
	if (idx < 0) {
		gw_err_t err = c->attempts ? c->last_err : GW_ERR_SERVICE_UNAVAILABLE;
		if (!c->attempts) {
			for (size_t i = 0; i < pool->n; i++)
				if (pool->nodes[i].state == GW_NODE_UP)
					err = GW_ERR_SLOW_DOWN; /* up but at its connection limit */
			LB_WARN("no node available in pool %s, client: %s, request_id: %s",
			        pool->conf->name, c->client_ip, c->reqid);
		}
		send_error(c, err, c->req_has_body);
		return;
	}
	c->tried[idx] = 1;
	c->node = &pool->nodes[idx];
	c->node_name = c->node->conf->name;
	pool->lbn[idx].outstanding++;
	GW_INC(c->node->stats->outstanding);
	if (c->attempts++ > 0) {
		c->retrying = !c->failover; /* failovers do not count against the budget */
		if (c->retrying) {
			pool->retries_inflight++;
			GW_INC(pool->series->retries_inflight);
		}
		GW_INC(c->node->stats->retries);
	}
	rc = gw__upstream_get(c->node, &up_ops, c, c->is_head, &up, &ready);
	if (rc < 0) {
		c->local_fault = local_error(rc);
		attempt_failed(c, rc == UV_EBUSY ? GW_ERR_SLOW_DOWN : GW_ERR_SERVICE_UNAVAILABLE,
		               false, rc == UV_EBUSY ? "connection limit" : uv_strerror(rc));
		return;
	}
	c->up = up;
	if (ready)
		go(c, CS_PROXY);
}

/* ---- the exchange: what the node connection tells ---------------------------------------- */

static gw_conn_t *owner(gw_upstream_t *up)
{
	gw_conn_t *c = up->owner;
	return c && c->up == up ? c : NULL;
}

static void on_up_ready(gw_upstream_t *up)
{
	gw_conn_t *c = owner(up);
	if (c && c->state == CS_CONNECT)
		go(c, CS_PROXY);
}

static void on_up_written(gw_upstream_t *up)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	c->up_writing = false;
	if (c->up_head) {
		c->up_head = false;
		c->head_sent = true;
	}
	if (c->rb.writing) {
		c->bytes_in += net_rbuf_release(&c->rb);
		c->body_released = true;
		client_read_start(c);
	}
	proxy_next(c);
}

static void pend_add(gw_conn_t *c, const char *b, size_t n)
{
	if (!n)
		return;
	if (c->pend_len + n > c->pend_cap) {
		size_t cap = c->pend_len + n + 256;
		char *p = realloc(c->pend, cap);
		if (!p)
			abort(); /* bounded: MAX_INTERIM heads of at most buffer_size, or one lent
			          * buffer of decoded body (its span is held until written) */
		c->pend = p;
		c->pend_cap = cap;
	}
	memcpy(c->pend + c->pend_len, b, n);
	c->pend_len += n;
}

/* A response head from the node: interim ones are relayed (not to HTTP/1.0 clients, and not
 * without bound), a final one decides the connection's future and waits in pend for the body
 * bytes that come with it (one write, usually one packet, for a small object). */
static void pend_add(gw_conn_t *c, const char *b, size_t n);

/* The decoded body of a chunked response to an HTTP/1.0 client (net/http's body callback). */
static void on_dechunked(void *arg, const char *data, size_t len)
{
	gw_conn_t *c = arg;
	pend_add(c, data, len);
}

static void on_up_head(gw_upstream_t *up, const net_http_t *h, const char *msg)
{
	gw_conn_t *c = owner(up);
	int status = net_http_status(h);
	bool interim = status >= 100 && status < 200;
	gw_head_conn_t hc = GW_HEAD_CONN_NONE;
	const char *why;
	char *out;
	size_t len;

	if (!c)
		return;
	if (!gw_head_check_response(h, &why)) {
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, why);
		return;
	}
	if (status == 101) {
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent 101 Switching Protocols");
		return;
	}
	if (interim) {
		if (++c->interims > MAX_INTERIM) {
			attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent too many 1xx responses");
			return;
		}
		if (c->req_minor == 0)
			return; /* HTTP/1.0 has no interim responses (RFC 9110 15.2) */
	} else {
		c->status = status;
		if (status >= 500) {
			char why5[32];
			snprintf(why5, sizeof(why5), "status %d", status);
			GW_INC(c->node->stats->responses_5xx);
			c->reporting = true;
			gw__node_report(c->node, false, why5);
			c->reporting = false;
		} else {
			gw__node_report(c->node, true, NULL);
		}
		if (!c->client_keep_alive || c->client_eof || c->srv->stopping ||
		    current_fe(c) < 0 || net_http_needs_eof(h) || !c->req_done)
			c->close_after = true;
		if (c->req_minor == 0 && net_http_chunked(h)) {
			/* an HTTP/1.0 client cannot take chunks (RFC 9112 6.1): the body goes to
			 * it decoded, ended by the close */
			c->close_after = true;
			c->dechunk = true;
			c->up->cl.resp.body_cb = on_dechunked;
			c->up->cl.resp.body_arg = c;
			hc = GW_HEAD_CONN_CLOSE_UNCHUNKED;
		} else if (c->close_after) {
			hc = GW_HEAD_CONN_CLOSE;
		} else if (c->req_minor == 0) {
			hc = GW_HEAD_CONN_KEEP_ALIVE;
		}
	}
	gw_head_response(h, msg, hc, &out, &len);
	pend_add(c, out, len);
	free(out);
	c->resp_started = true;
	if (interim)
		proxy_next(c); /* relayed on its own */
}

static void on_up_body(gw_upstream_t *up, const char *data, size_t len)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	if (len) {
		c->span = data;
		/* decoding: the decoded bytes are in pend already (on_dechunked); the raw span is
		 * only held until they are written, for backpressure */
		c->span_len = c->dechunk ? 0 : len;
	}
	proxy_next(c);
}

static void on_up_done(gw_upstream_t *up, bool reusable)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	c->resp_done = true;
	c->up_reusable = reusable;
	proxy_next(c);
}

static void on_up_error(gw_upstream_t *up, net_client_err_t e, int status, const char *why)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	switch (e) {
	case NET_CLIENT_E_CONNECT:
		c->local_fault = local_error(status);
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, false, why);
		return;
	case NET_CLIENT_E_CONNECT_TIMEOUT:
		attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, false, why);
		return;
	case NET_CLIENT_E_SEND_TIMEOUT:
	case NET_CLIENT_E_HEAD_TIMEOUT:
	case NET_CLIENT_E_READ_TIMEOUT:
		GW_INC(c->node->stats->errors);
		c->stalled = true;
		attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, true, why);
		return;
	case NET_CLIENT_E_WRITE:
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, c->head_sent, why);
		return;
	case NET_CLIENT_E_READ:
	case NET_CLIENT_E_CLOSED:
	case NET_CLIENT_E_INVALID:
		GW_INC(c->node->stats->errors);
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, why);
		return;
	}
	(void)status;
}

static const gw_upstream_ops_t up_ops = {
    .ready = on_up_ready,
    .written = on_up_written,
    .head = on_up_head,
    .body = on_up_body,
    .done = on_up_done,
    .error = on_up_error,
};

/* ---- relaying --------------------------------------------------------------------------- */

/* Request side: parses the body bytes at hand and writes what is parsed to the node (the head
 * first, with the first body bytes when they are there). False when the request failed. */
static bool try_req_splice(gw_conn_t *c);

static bool pump_request(gw_conn_t *c)
{
	net_rbuf_t *rb = &c->rb;
	if (c->req_splice)
		return true;
	for (;;) {
		uv_buf_t b[2];
		unsigned nb = 0;
		int rc;
		if (!c->req_done) {
			size_t used;
			net_http_result_t r = net_http_execute(&c->req, rb->data + rb->parsed,
			                                       rb->len - rb->parsed, 0, &used);
			rb->parsed += used;
			c->body_rx += used;
			if (r == NET_HTTP_DONE) {
				c->req_done = true;
			} else if (r == NET_HTTP_ERROR || r == NET_HTTP_HEAD) {
				/* the node may have a part of the body: release_upstream resets its
				 * connection, so that it never completes a request the client did
				 * not send */
				LB_INFO("bad request body from %s: %s, request_id: %s",
				        c->client_ip, c->req.why ? c->req.why : "invalid",
				        c->reqid);
				release_upstream(c, GW_UP_ABORT);
				send_error(c, GW_ERR_INVALID_REQUEST, true);
				return false;
			}
		}
		if (c->up_writing)
			return true;
		if (!c->head_sent)
			b[nb++] = uv_buf_init(c->head, (unsigned)c->head_len);
		if (net_rbuf_take(rb, &b[nb]))
			nb++;
		if (!nb) {
			if (c->req_done && !c->req_sent) {
				c->req_sent = true;
				net_client_request_done(&c->up->cl);
			} else if (!c->req_done) {
				(void)try_req_splice(c);
			}
			return true;
		}
		c->up_head = !c->head_sent;
		rc = net_client_write(&c->up->cl, b, nb);
		if (rc < 0) {
			c->up_head = false;
			if (rb->writing)
				net_rbuf_abandon(rb);
			attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, c->head_sent,
			               uv_strerror(rc));
			return false;
		}
		if (rc == 0) {
			c->up_writing = true;
			return true; /* on in on_up_written */
		}
		/* written at once */
		if (c->up_head) {
			c->up_head = false;
			c->head_sent = true;
		}
		if (rb->writing) {
			c->bytes_in += net_rbuf_release(rb);
			c->body_released = true;
			client_read_start(c);
			if (c->state != CS_PROXY)
				return false;
		}
	}
}

/* Writes to the client: 0 in flight (on_client_write follows), 1 done at once (only with `now`:
 * no callback, the caller finishes the write itself), -1 failed. */
static void on_client_write(net_sock_t *s, int status);

static int write_down(gw_conn_t *c, const uv_buf_t *b, unsigned nb, bool now)
{
	size_t n = 0;
	int rc;
	rc = now ? net_sock_write_now(&c->sock, b, nb, on_client_write)
	         : net_sock_write(&c->sock, b, nb, on_client_write);
	if (rc < 0)
		return -1;
	for (unsigned i = 0; i < nb; i++)
		n += b[i].len;
	c->bytes_out += n;
	if (rc == 0)
		c->writing_down = true;
	c->client_moved = true;
	return rc;
}

/* The pending head bytes are written (the buffer goes; new heads start a new one). */
static char *pend_detach(gw_conn_t *c)
{
	char *p = c->pend;
	c->pend = NULL;
	c->pend_len = c->pend_cap = 0;
	return p;
}

/* Response side: writes the pending head bytes and the lent body bytes; false when the
 * connection is gone. */
static bool flush_down(gw_conn_t *c)
{
	while (!c->writing_down && (c->pend_len || c->span)) {
		uv_buf_t b[2];
		unsigned nb = 0;
		size_t np = c->pend_len;
		bool span = c->span != NULL;
		int rc;
		if (np)
			b[nb++] = uv_buf_init(c->pend, (unsigned)np);
		if (span && c->span_len)
			b[nb++] = uv_buf_init((char *)c->span, (unsigned)c->span_len);
		rc = nb ? write_down(c, b, nb, true) : 1; /* a decoded span may hold nothing */
		if (rc < 0) {
			if (!c->status)
				c->status = 499;
			gw_access_log(c);
			conn_close(c, true);
			return false;
		}
		if (rc == 0) {
			/* in flight: heads that come meanwhile go to a new buffer */
			c->down_buf = np ? pend_detach(c) : NULL;
			c->down_span = span;
			return true;
		}
		/* written at once: the node connection's buffer is free again and it reads on */
		if (np)
			free(pend_detach(c));
		if (span) {
			c->span = NULL;
			net_client_consumed(&c->up->cl); /* may lend more at once, or end */
			if (c->state != CS_PROXY)
				return false;
		}
	}
	return true;
}

/* ---- the body around user space ------------------------------------------------------------ */

/* The connection a splice belongs to, and whether it moves the request body (else the
 * response's); NULL for a splice already given up (closing). */
static gw_conn_t *splice_owner(net_splice_t *s, bool *req)
{
	gw_conn_t *c = s->data;
	if (!c || (c->splice != s && c->req_splice != s))
		return NULL;
	*req = c->req_splice == s;
	return c;
}

static void on_splice_progress(net_splice_t *s, uint64_t n)
{
	bool req;
	gw_conn_t *c = splice_owner(s, &req);
	if (!c)
		return;
	GW_ADD(c->srv->metrics->spliced_bytes, n);
	if (!req) {
		c->bytes_out += n;
		return;
	}
	c->body_rx += n;
	c->bytes_in += n;
	c->body_released = true; /* no retry: the node has body bytes */
	c->client_moved = true;
	/* limits.min_body_rate as in the copying path, checked as bytes come (the splice's own
	 * stall timer runs only while it waits for the client: a node slow to take the body is
	 * not the client's fault) */
	if (!c->resp_started && !body_timeout(c))
		client_timer(c, C_BODY, 1);
}

static void on_splice_done(net_splice_t *s)
{
	bool req;
	gw_conn_t *c = splice_owner(s, &req);
	if (!c)
		return;
	stop_splice(c);
	if (!req) {
		net_client_body_moved(&c->up->cl); /* on_up_done follows at once */
		return;
	}
	net_http_body_skipped(&c->req); /* every byte of the body went around the parser */
	c->req_done = true;
	c->req_sent = true;
	net_client_request_done(&c->up->cl);
	client_timer(c, C_NONE, 0);
	client_read_start(c); /* a pipelined request, or the client's close */
	if (c->state == CS_PROXY)
		proxy_next(c);
}

/*
 * Response: whichever side failed, the response has begun: the client's connection is reset,
 * never left with a short body that looks whole; a node that stopped sending is the node's
 * fault. Request: a client that goes away mid-body leaves the node a reset (it never completes
 * the request) and its connection ends; a node that fails to take the body is a failed write,
 * as in the copying path.
 */
static void splice_failed(gw_conn_t *c, bool req, net_splice_side_t side, const char *why,
                          bool timeout)
{
	stop_splice(c);
	if (req ? side == NET_SPLICE_DST : side == NET_SPLICE_SRC) {
		if (!req || timeout)
			GW_INC(c->node->stats->errors);
		attempt_failed(c,
		               !req      ? GW_ERR_BAD_GATEWAY
		               : timeout ? GW_ERR_GATEWAY_TIMEOUT
		                         : GW_ERR_SERVICE_UNAVAILABLE,
		               true, why);
		return;
	}
	if (req) {
		LB_INFO("client %s mid-request body, client: %s, received: %" PRIu64 " bytes, "
		        "request_id: %s",
		        why, c->client_ip, c->body_rx, c->reqid);
		release_upstream(c, GW_UP_ABORT);
		if (timeout && !c->resp_started) {
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
	} else {
		LB_INFO("client %s mid-response, client: %s, request_id: %s", why, c->client_ip,
		        c->reqid);
	}
	if (!c->status)
		c->status = 499;
	gw_access_log(c);
	conn_close(c, true);
}

static void on_splice_error(net_splice_t *s, net_splice_side_t side, int err)
{
	bool req;
	gw_conn_t *c = splice_owner(s, &req);
	if (c)
		splice_failed(c, req, side,
		              side == NET_SPLICE_SRC && err == UV_EOF
		                  ? (req ? "closed" : "closed mid-response")
		                  : uv_strerror(err),
		              false);
}

static void on_splice_stall(net_splice_t *s, net_splice_side_t side)
{
	bool req;
	gw_conn_t *c = splice_owner(s, &req);
	if (c)
		splice_failed(c, req, side,
		              side == NET_SPLICE_DST ? "send timeout"
		              : req                  ? "body timeout"
		                                     : "read timeout",
		              true);
}

static void on_splice_closed(net_splice_t *s)
{
	free(s);
}

static const net_splice_cbs_t splice_cbs = {
    .on_progress = on_splice_progress,
    .on_done = on_splice_done,
    .on_error = on_splice_error,
    .on_stall = on_splice_stall,
    .on_close = on_splice_closed,
};

/* ---- the request body by splice ------------------------------------------------------------ */

/*
 * The request side: once the head and every body byte read so far are written to the node, the
 * rest of a large Content-Length body goes from the client's socket to the node's through a pipe,
 * when both are plain TCP. Reading the client stops meanwhile (the splice reads it); the client's
 * timer keeps limits.min_body_rate; the node's response, should it come early, is relayed as
 * usual. True when it started.
 */
static bool try_req_splice(gw_conn_t *c)
{
	const lb_config_t *cfg = cfg_of(c);
	uint64_t left = net_http_body_left(&c->req);
	uv_os_fd_t cfd, nfd;
	net_splice_t *s;
	if (!cfg->limits.splice_min || c->no_req_splice || c->req_splice || c->splice ||
	    c->sock.tls || c->up->cl.sock.tls || !c->head_sent || c->up_writing || c->req_done ||
	    c->resp_started || c->rb.len != c->rb.parsed || c->rb.writing ||
	    left < cfg->limits.splice_min || uv_fileno((uv_handle_t *)&c->sock.tcp, &cfd) != 0 ||
	    uv_fileno((uv_handle_t *)&c->up->cl.sock.tcp, &nfd) != 0)
		return false;
	if (!(s = malloc(sizeof(*s))))
		abort();
	/* the source's stall timer is timeouts.client_body between bytes; min_body_rate is
	 * checked on progress */
	if (net_splice_start(c->srv->loop, s, &splice_cbs, c, cfd, nfd, left,
	                     cfg->timeouts.client_body, cfg->timeouts.upstream_read) < 0) {
		free(s);
		c->no_req_splice = true;
		GW_INC(c->srv->metrics->splice_fallbacks);
		return false;
	}
	GW_INC(c->srv->metrics->spliced_requests);
	c->req_splice = s;
	net_sock_read_stop(&c->sock);
	client_timer(c, C_NONE, 0); /* the splice times both sides */
	return true;
}

/*
 * Once the head and the bytes that came with it are written, the rest of a large Content-Length
 * body goes from the node's socket to the client's through a pipe (net/splice.h), when both are
 * plain TCP and the request is all sent. True when it started; when no pipe is free (or splice
 * fails to start) the relay copies as before.
 */
static bool try_splice(gw_conn_t *c)
{
	const lb_config_t *cfg = cfg_of(c);
	net_splice_t *s;
	uv_os_fd_t cfd;
	uint64_t left;
	int nfd;
	if (!cfg->limits.splice_min || c->no_splice || c->sock.tls || !c->req_sent ||
	    c->writing_down || c->pend_len || c->span ||
	    !net_client_body_left(&c->up->cl, &nfd, &left) || left < cfg->limits.splice_min ||
	    uv_fileno((uv_handle_t *)&c->sock.tcp, &cfd) != 0)
		return false;
	if (!(s = malloc(sizeof(*s))))
		abort();
	if (net_splice_start(c->srv->loop, s, &splice_cbs, c, nfd, cfd, left,
	                     cfg->timeouts.upstream_read, cfg->timeouts.client_send) < 0) {
		free(s);
		c->no_splice = true;
		GW_INC(c->srv->metrics->splice_fallbacks);
		return false;
	}
	GW_INC(c->srv->metrics->spliced_responses);
	net_client_body_taken(&c->up->cl);
	c->splice = s;
	client_timer(c, C_NONE, 0); /* the splice times both sides */
	return true;
}

/* The response is relayed whole: the node connection goes back (or not), then the next
 * request, unless the connection must close. */
static void finish_response(gw_conn_t *c)
{
	/* reused only when the node saw a persistent request: the Connection header is never
	 * relayed, so an HTTP/1.0 request ends its connection at the node */
	bool reuse = c->up_reusable && c->req_sent && c->req_minor == 1;
	if (!c->req_done)
		c->close_after = true; /* the rest of the body is still coming: no way to go on */
	release_upstream(c, reuse ? GW_UP_REUSE : GW_UP_CLOSE);
	end_request(c);
}

/* PROXY's do_next: moves the request and the response on as far as they go. */
static void proxy_next(gw_conn_t *c)
{
	bool finished = false;
	if (c->in_next) {
		c->again = true; /* an event inside the round: one more round */
		return;
	}
	c->in_next = true;
	do {
		c->again = false;
		if (c->state != CS_PROXY || !c->up || c->splice)
			break;
		if (!pump_request(c) || c->state != CS_PROXY)
			break;
		if (!flush_down(c) || c->state != CS_PROXY)
			break;
		if (try_splice(c))
			break;
		if (c->resp_done && !c->writing_down && !c->pend_len && !c->span &&
		    (c->req_sent || !c->req_done)) {
			finished =
			    true; /* a request whose body still comes ends now: close_after */
			break;
		}
	} while (c->again);
	c->in_next = false;
	if (finished)
		finish_response(c);
	else if (!c->splice)
		proxy_timer(c);
}

static void on_client_write(net_sock_t *s, int status)
{
	gw_conn_t *c = s->data;
	c->writing_down = false;
	if (c->state == CS_CLOSING)
		return;
	if (status < 0) {
		LB_INFO("client write failed: %s, client: %s, request_id: %s", uv_strerror(status),
		        c->client_ip, c->reqid);
		if (c->status == 0)
			c->status = 499;
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	c->client_moved = true;
	if (c->down_err) {
		c->down_err = false;
		free(c->err_buf);
		c->err_buf = NULL;
		end_request(c);
		return;
	}
	free(c->down_buf);
	c->down_buf = NULL;
	if (c->down_span) {
		c->down_span = false;
		c->span = NULL;
		if (c->up) {
			net_client_consumed(&c->up->cl); /* may lend more at once, or end */
			if (c->state != CS_PROXY)
				return;
		}
	}
	proxy_next(c);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_client_timer(uv_timer_t *t)
{
	gw_conn_t *c = t->data;
	int kind = c->timer_kind;
	c->timer_kind = C_NONE;
	switch (c->state) {
	case CS_HEAD:
		if (c->rb.len > c->rb.start) {
			make_request_id(c);
			LB_INFO("header timeout, client: %s, request_id: %s", c->client_ip,
			        c->reqid);
			send_error(c, GW_ERR_HEADER_TIMEOUT, true);
		} else {
			conn_close(c, false);
		}
		return;
	case CS_PROXY:
		if (kind == C_BODY && !c->resp_started) {
			LB_INFO("request body %s, client: %s, received: %" PRIu64 " bytes, "
			        "request_id: %s",
			        body_timeout(c) ? "timeout" : "slower than limits.min_body_rate",
			        c->client_ip, c->body_rx, c->reqid);
			release_upstream(c, GW_UP_ABORT);
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
		LB_INFO("client %s timeout, client: %s, request_id: %s",
		        kind == C_BODY ? "body" : "send", c->client_ip, c->reqid);
		if (!c->status)
			c->status = 499;
		gw_access_log(c);
		conn_close(c, true);
		return;
	case CS_LINGER:
		conn_close(c, false);
		return;
	default:
		conn_close(c, true);
		return;
	}
}

/* ---- errors and the end of a request ---------------------------------------------------- */

/* Answers the request with one of our S3 errors (ERROR), or aborts the connection when a
 * response has already begun. */
static void send_error(gw_conn_t *c, gw_err_t err, bool close)
{
	char resource[1100];
	if (c->state == CS_CLOSING)
		return;
	if (c->resp_started) {
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	release_upstream(c, GW_UP_CLOSE);
	if (close || !c->client_keep_alive || (c->req_has_body && !c->req_done) ||
	    c->srv->stopping || c->client_eof)
		c->close_after = true;
	c->linger = true;
	c->status = gw_err_status(err);
	if (c->s3.bucket)
		snprintf(resource, sizeof(resource), "/%.*s%s%.*s", (int)c->s3.bucket_len,
		         c->s3.bucket, c->s3.key ? "/" : "", (int)c->s3.key_len,
		         c->s3.key ? c->s3.key : "");
	else
		snprintf(resource, sizeof(resource), "/");
	free(c->err_buf);
	c->err_buf = NULL;
	if (gw_err_response(err, NULL, resource, c->reqid, !c->close_after, c->is_head, &c->err_buf,
	                    &c->err_len) < 0) {
		conn_close(c, true);
		return;
	}
	go(c, CS_ERROR);
}

/* The request is answered: the next one, or lingering, or the end of the connection. */
static void end_request(gw_conn_t *c)
{
	gw_access_log(c);
	release_upstream(c, GW_UP_CLOSE);
	if (c->inflight) {
		c->pool->inflight--;
		GW_DEC(c->pool->series->inflight);
		c->inflight = false;
	}
	if (c->close_after || c->srv->stopping || !follow_reload(c)) {
		if (c->linger && !c->client_eof)
			go(c, CS_LINGER);
		else
			conn_close(c, false);
		return;
	}
	go(c, CS_HEAD);
}

/* Forgets the request that ended, keeping what the client sent after it. */
static void reset_request(gw_conn_t *c)
{
	net_http_free(&c->req); /* the header index: an idle connection holds none */
	free(c->head);
	free(c->host);
	free(c->tried);
	free(c->pend);
	c->head = c->host = c->pend = NULL;
	c->tried = NULL;
	c->pend_len = c->pend_cap = 0;
	memset(&c->s3, 0, sizeof(c->s3));
	c->pool = NULL;
	c->method = NULL;
	c->node_name = NULL;
	c->attempts = c->interims = 0;
	c->failover = c->req_has_body = c->is_head = false;
	c->head_sent = c->up_writing = c->up_head = c->body_released = false;
	c->req_done = c->req_sent = false;
	c->resp_started = c->resp_done = c->up_reusable = c->linger = c->no_splice = false;
	c->no_req_splice = false;
	c->span = NULL;
	c->status = 0;
	c->bytes_in = c->bytes_out = 0;
	c->t_start = 0;
	c->body_t0 = c->body_rx = 0;
	if (c->req.msg_done || !c->req.head_done)
		net_http_next(&c->req);
	/* unparsed bytes are the next pipelined request(s) */
	c->rb.start = c->rb.parsed;
	net_rbuf_drop(&c->rb); /* an idle keep-alive connection holds no buffer */
	net_rbuf_compact(&c->rb);
}

/* The attempt starts afresh (a retry): nothing of the last one went to the client. */
static void reset_attempt(gw_conn_t *c)
{
	c->head_sent = c->up_writing = c->up_head = c->req_sent = false;
	c->resp_done = c->up_reusable = c->no_splice = false;
	c->span = NULL;
	free(c->pend);
	c->pend = NULL;
	c->pend_len = c->pend_cap = 0;
}

/* ---- the states ------------------------------------------------------------------------- */

/* The only place where c->state changes; what entering each state does. */
static void go(gw_conn_t *c, int state)
{
	int from = c->state;
	c->state = state;
	switch (state) {
	case CS_HEAD:
		/* the next request: what is buffered first, then the socket */
		reset_request(c);
		client_timer(c, C_IDLE, cfg_of(c)->timeouts.client_idle);
		if (c->rb.len > c->rb.start)
			parse_head(c);
		if (c->state == CS_HEAD)
			client_read_start(c);
		return;
	case CS_CONNECT:
		if (from != CS_HEAD)
			reset_attempt(c); /* a retry */
		client_timer(c, C_NONE, 0);
		start_attempt(c);
		return;
	case CS_PROXY:
		/* a node connection is ready: the head goes out with the body bytes at hand */
		GW_INC(c->node->stats->requests);
		if (c->up->reused)
			GW_INC(c->node->stats->reused);
		if (!c->body_t0)
			c->body_t0 = uv_now(c->srv->loop);
		c->timer_kind = C_NONE;
		proxy_next(c);
		return;
	case CS_ERROR: {
		uv_buf_t eb = uv_buf_init(c->err_buf, (unsigned)c->err_len);
		net_sock_read_stop(&c->sock);
		c->down_err = true;
		if (write_down(c, &eb, 1, false) < 0) {
			c->down_err = false;
			conn_close(c, true);
			return;
		}
		client_timer(c, C_SEND, cfg_of(c)->timeouts.client_send);
		return;
	}
	case CS_LINGER:
		/*
		 * After an error answered while the client may still be sending (a head over the
		 * limit, a body we refuse): closing at once would leave its bytes unread, and the
		 * kernel answers unread bytes with a reset that can destroy our response before the
		 * client has read it. So: close our side (the client sees the end of the
		 * response), read and drop what still comes for LINGER_MS and LINGER_BYTES at most,
		 * then close (nginx's lingering close).
		 */
		c->linger_bytes = 0;
		if (net_sock_shutdown(&c->sock) < 0) {
			conn_close(c, false);
			return;
		}
		client_timer(c, C_LINGER, LINGER_MS);
		client_read_start(c);
		return;
	case CS_CLOSING:
		release_upstream(c, GW_UP_CLOSE);
		if (c->inflight) {
			c->pool->inflight--;
			GW_DEC(c->pool->series->inflight);
			c->inflight = false;
		}
		uv_timer_stop(&c->timer);
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
		net_sock_close(&c->sock, on_sock_closed);
		return;
	}
}

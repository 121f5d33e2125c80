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
 *                     (the sock closed; freed in its close callback)
 *
 * HANDOFF (issue 12, routes with `handoff:` only): between the node's pick and the attempt on
 * it, when ho_decide says so, the connection is being switched to the node's agent
 * (gateway/handoff.c, handoff/director.h): reading stops; the switch done, the socket is the
 * node's and closes here in repair mode (nothing reaches the client; its access lines come with
 * the agent's CLOSED); the switch failed, the attempt on the same node goes on (CONNECT) as if
 * nothing had happened.
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
 *
 * Most connections are idle keep-alive ones, so an idle one holds only gw_conn_t (the socket,
 * a few links and flags, its timer's deadline): everything a request needs (parser, buffer,
 * head, attempt and response state) is a gw_req_t, made at the request's first byte and freed
 * when the connection goes idle; the client timers of a loop share one libuv timer.
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

enum { CS_HEAD, CS_HANDOFF, CS_CONNECT, CS_PROXY, CS_ERROR, CS_LINGER, CS_CLOSING };

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
static void handoff_head(gw_conn_t *c, const char *msg, const char *target, size_t target_len);
static void attempt_on_node(gw_conn_t *c);
static void conn_close(gw_conn_t *c, bool abort);
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
	snprintf(c->r->reqid, sizeof(c->r->reqid), "%016" PRIX64, x);
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

/*
 * One libuv timer per loop for every client connection (nginx keeps its timers in one tree the
 * same way): a uv_timer_t in each connection would be a quarter of an idle one's memory. The
 * connections whose timer runs are in a binary min-heap on their deadlines (uv_now clock, as
 * libuv's own timers; c->theap_i is 1 + the position, 0: not in it); the loop's timer is set for
 * the earliest deadline, moved only when an earlier one comes (when the earliest goes it fires
 * early, finds nothing due and is set again). Loop thread only.
 */
static void on_client_timer(gw_conn_t *c);

static void heap_put(gw_server_t *srv, uint32_t i, gw_conn_t *c)
{
	srv->theap[i] = c;
	c->theap_i = i + 1;
}

static void heap_up(gw_server_t *srv, uint32_t i)
{
	gw_conn_t *c = srv->theap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (srv->theap[parent]->deadline <= c->deadline)
			break;
		heap_put(srv, i, srv->theap[parent]);
		i = parent;
	}
	heap_put(srv, i, c);
}

static void heap_down(gw_server_t *srv, uint32_t i)
{
	gw_conn_t *c = srv->theap[i];
	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= srv->theap_n)
			break;
		if (k + 1 < srv->theap_n && srv->theap[k + 1]->deadline < srv->theap[k]->deadline)
			k++;
		if (srv->theap[k]->deadline >= c->deadline)
			break;
		heap_put(srv, i, srv->theap[k]);
		i = k;
	}
	heap_put(srv, i, c);
}

static void heap_remove(gw_server_t *srv, gw_conn_t *c)
{
	uint32_t i = c->theap_i - 1;
	gw_conn_t *last = srv->theap[--srv->theap_n];
	c->theap_i = 0;
	if (i < srv->theap_n) {
		heap_put(srv, i, last);
		heap_down(srv, i);
		heap_up(srv, last->theap_i - 1);
	}
}

static void heap_add(gw_server_t *srv, gw_conn_t *c)
{
	if (srv->theap_n == srv->theap_cap) {
		uint32_t cap = srv->theap_cap ? 2 * srv->theap_cap : 64;
		gw_conn_t **h = realloc(srv->theap, cap * sizeof(*h));
		if (!h)
			abort();
		srv->theap = h;
		srv->theap_cap = cap;
	}
	heap_put(srv, srv->theap_n++, c);
	heap_up(srv, srv->theap_n - 1);
}

static void on_loop_timer(uv_timer_t *t);

/* The loop's timer for the earliest deadline (stopped when none runs: it must not keep the loop
 * alive). */
static void timers_arm(gw_server_t *srv)
{
	uint64_t now, first;
	if (!srv->theap_n) {
		if (srv->timer_due) {
			uv_timer_stop(&srv->conn_timer);
			srv->timer_due = 0;
		}
		return;
	}
	first = srv->theap[0]->deadline;
	if (srv->timer_due && srv->timer_due <= first)
		return;
	now = uv_now(srv->loop);
	uv_timer_start(&srv->conn_timer, on_loop_timer, first > now ? first - now : 0, 0);
	srv->timer_due = first;
}

static void on_loop_timer(uv_timer_t *t)
{
	gw_server_t *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	srv->timer_due = 0;
	while (srv->theap_n && srv->theap[0]->deadline <= now) {
		gw_conn_t *c = srv->theap[0];
		heap_remove(srv, c);
		on_client_timer(c); /* may close c (freed later) or set any connection's timer */
	}
	timers_arm(srv);
}

void gw__conn_timers_init(gw_server_t *srv)
{
	uv_timer_init(srv->loop, &srv->conn_timer);
	srv->conn_timer.data = srv;
}

void gw__conn_timers_close(gw_server_t *srv)
{
	uv_close((uv_handle_t *)&srv->conn_timer, NULL);
	free(srv->theap);
	srv->theap = NULL;
	srv->theap_n = srv->theap_cap = 0;
}

static void client_timer(gw_conn_t *c, int kind, uint64_t ms)
{
	gw_server_t *srv = c->srv;
	if (c->state == CS_CLOSING)
		return;
	c->timer_kind = kind;
	if (kind == C_NONE) {
		if (c->theap_i)
			heap_remove(srv, c);
	} else {
		c->deadline = uv_now(srv->loop) + (ms ? ms : 1);
		if (c->theap_i) {
			heap_down(srv, c->theap_i - 1);
			heap_up(srv, c->theap_i - 1);
		} else {
			heap_add(srv, c);
		}
	}
	timers_arm(srv);
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
	deadline = c->r->body_t0 + idle + c->r->body_rx * 1000 / cfg->limits.min_body_rate;
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
	if (c->r->writing_down) {
		kind = C_SEND;
		ms = cfg_of(c)->timeouts.client_send;
	} else if (c->r->req_splice) {
		if (c->timer_kind == C_BODY)
			return; /* min_body_rate tripped (on_req_splice_progress): it fires */
		/* else the splice times the body (only while it waits for the client) */
	} else if (!c->r->req_done && !c->r->up_writing) {
		kind = C_BODY;
		ms = body_timeout(c);
	}
	if (kind != c->timer_kind || moved)
		client_timer(c, kind, ms);
}

/* ---- the request's memory ---------------------------------------------------------------- */

/* A fresh parser (per request: recreating it costs less than the idle connection keeping one),
 * the buffer's size and the peer as text. */
static void req_init(gw_conn_t *c, gw_req_t *r)
{
	const lb_config_t *cfg = cfg_of(c);
	net_http_init(&r->req, HTTP_REQUEST, cfg->limits.max_headers, cfg->limits.max_header_size);
	if (!r->rb.cap)
		r->rb.cap = cfg->limits.buffer_size; /* allocated when the first bytes arrive */
	net_peer_text(&c->peer, r->client_ip, sizeof(r->client_ip));
	r->ho_reason = -1;
}

/* A request begins: its first bytes are about to be read, or s3lb answers at once. */
static void req_new(gw_conn_t *c)
{
	gw_req_t *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	req_init(c, r);
	c->r = r;
}

/* What the request allocated, but its buffer. */
static void req_release(gw_req_t *r)
{
	net_http_free(&r->req);
	free(r->head);
	free(r->host);
	free(r->tried);
	free(r->pend);
	free(r->down_buf);
	free(r->err_buf);
}

static void req_free(gw_conn_t *c)
{
	if (!c->r)
		return;
	req_release(c->r);
	net_rbuf_free(&c->r->rb);
	free(c->r);
	c->r = NULL;
}

/* Bytes of a request are buffered (or a request is being answered). */
static bool conn_busy(const gw_conn_t *c)
{
	return (c->state != CS_HEAD && c->state != CS_CLOSING) ||
	       (c->r && c->r->rb.len > c->r->rb.start);
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
	if (c->theap_i) /* not expected: CLOSING took it out */
		heap_remove(srv, c);
	req_free(c);
	gw__runtime_unref(c->rt);
	free(c);
	if (srv->stopping && srv->nconns == 0)
		gw_server_stop(srv);
}

static void on_sock_closed(net_sock_t *s)
{
	conn_free(s->data); /* the sock is the connection's only handle */
}

static void stop_splice(gw_conn_t *c)
{
	if (c->r->splice) {
		net_splice_close(c->r->splice); /* frees itself when closed */
		c->r->splice = NULL;
	}
	if (c->r->req_splice) {
		net_splice_close(c->r->req_splice);
		c->r->req_splice = NULL;
	}
}

/* Gives the node connection back: reused only when its exchange ended cleanly; reset when the
 * node has part of a request, so that it never takes it for a whole one. */
static void release_upstream(gw_conn_t *c, gw_release_t how)
{
	gw_node_t *node;
	if (!c->r)
		return; /* idle: nothing to release */
	node = c->r->node;
	if (c->r->rb.writing && c->r->up)
		net_rbuf_abandon(&c->r->rb); /* its bytes stay unreleased, for a retry */
	c->r->up_writing = c->r->up_head = false;
	stop_splice(c);
	if (c->r->up && c->r->dechunk) {
		c->r->up->cl.resp.body_cb = NULL; /* the node connection may serve another client */
		c->r->up->cl.resp.body_arg = NULL;
	}
	c->r->dechunk = false;
	if (c->r->up) {
		if (c->r->head_sent && !c->r->req_sent)
			how = GW_UP_ABORT;
		if (c->r->span) {
			/* lent bytes not relayed: the connection is lost for reuse */
			c->r->span = NULL;
			if (how == GW_UP_REUSE)
				how = GW_UP_CLOSE;
		}
		gw__upstream_release(c->r->up, how);
		c->r->up = NULL;
	}
	if (node) {
		gw_pool_t *pool = node->pool;
		if (pool->lbn[node->index].outstanding) {
			pool->lbn[node->index].outstanding--;
			GW_DEC(node->stats->outstanding);
		}
		if (c->r->retrying && pool->retries_inflight) {
			pool->retries_inflight--;
			GW_DEC(pool->series->retries_inflight);
		}
		c->r->retrying = false;
		c->r->node = NULL;
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
	if (conn_busy(c)) {
		if (!c->r->status)
			c->r->status = 499;
		if (c->r->method)
			gw_access_log(c);
	}
	conn_close(c, true);
}

void gw__conn_shutdown(gw_conn_t *c)
{
	c->close_after = true;
	if (!conn_busy(c))
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
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	GW_INC(srv->metrics->open_conns);
	rc = net_sock_accept((uv_stream_t *)&l->tcp, &c->sock, c->fe->tls);
	c->sock.data = c;
	c->sock.q = &srv->sockq;
	if (rc < 0) {
		LB_WARN("accept failed: %s", uv_strerror(rc));
		conn_close(c, false);
		return;
	}
	net_sock_peer_addr(&c->sock, &c->peer);
	if (srv->stopping) {
		conn_close(c, false);
		return;
	}
	c->counted = gw__count_take(gw__client_count(), cfg->limits.max_connections);
	if (!c->counted) {
		req_new(c);
		c->r->t_start = uv_hrtime();
		make_request_id(c);
		LB_WARN("connection limit %u reached, client: %s", cfg->limits.max_connections,
		        c->r->client_ip);
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
	if (!c->r)
		req_new(c); /* the first bytes of a request */
	if (c->state == CS_LINGER)
		c->r->rb.start = c->r->rb.parsed = c->r->rb.len = 0; /* read only to be dropped */
	net_rbuf_space(&c->r->rb, buf);
}

static void parse_head(gw_conn_t *c);

static void on_client_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_conn_t *c = s->data;
	(void)buf;
	if (c->state == CS_CLOSING)
		return;
	if (c->state == CS_LINGER) {
		if (nread < 0 || (c->r->linger_bytes += (size_t)nread) > LINGER_BYTES)
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
			if (!c->r->req_done) {
				LB_INFO("client closed mid-request, client: %s, request_id: %s",
				        c->r->client_ip, c->r->reqid);
				c->r->status = 499;
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
	c->r->rb.len += (size_t)nread;
	switch (c->state) {
	case CS_HEAD:
		parse_head(c);
		break;
	case CS_PROXY:
		if (!c->r->req_done) {
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
	if (c->state == CS_CLOSING || c->state == CS_ERROR || (c->r && c->r->req_splice))
		return; /* while the request body is spliced, the splice reads the client */
	if (net_sock_read_start(&c->sock, on_client_alloc, on_client_read) < 0)
		conn_close(c, false);
}

/* ---- request head ----------------------------------------------------------------------- */

/* The head as sent to nodes (head.c), and the S3 model pointing into it. `path` replaces an
 * absolute-form target (NULL: keep the original). */
static int build_request_head(gw_conn_t *c, const char *msg, const char *path, size_t path_len)
{
	const net_http_t *h = &c->r->req;
	const lb_frontend_conf_t *fe = c->fe->conf;
	gw_head_req_opts_t o = {.path = path,
	                        .path_len = path_len,
	                        .client_ip = c->r->client_ip,
	                        .x_forwarded_for = fe->x_forwarded_for,
	                        .x_real_ip = fe->x_real_ip};
	size_t target_off;

	gw_head_request(h, msg, &o, &c->r->head, &c->r->head_len, &target_off);
	return gw_s3req_parse(&c->r->s3, c->r->head, h->method_len, c->r->head + target_off,
	                      path ? path_len : h->url_len, c->r->host, strlen(c->r->host),
	                      fe->domains, fe->ndomains);
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
	if ((size_t)(slash - auth) != strlen(c->r->host) ||
	    strncasecmp(auth, c->r->host, (size_t)(slash - auth)) != 0)
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
	const char *want = c->fe->conf->healthz, *t = path ? path : msg + c->r->req.url_off;
	size_t n = path ? path_len : c->r->req.url_len, k = 0;
	if (!want || c->r->req_has_body || (strcmp(c->r->method, "GET") && !c->r->is_head))
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
	if (!c->r->client_keep_alive || c->client_eof || c->srv->stopping || c->srv->draining)
		c->close_after = true;
	c->r->status = why ? 503 : 200;
	len = asprintf(&buf,
	               "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	               "Cache-Control: no-store\r\n%s\r\n%s\n",
	               why ? "503 Service Unavailable" : "200 OK", strlen(why ? why : "ok") + 1,
	               c->close_after ? "Connection: close\r\n" : "",
	               c->r->is_head ? ""
	               : why         ? why
	                             : "ok");
	if (len < 0)
		abort();
	if (c->r->is_head) /* the same head, no body */
		len = (int)(strstr(buf, "\r\n\r\n") + 4 - buf);
	free(c->r->err_buf);
	c->r->err_buf = buf;
	c->r->err_len = (size_t)len;
	go(c, CS_ERROR);
}

/* A complete head: checked, rebuilt for the nodes, routed; then CONNECT. */
static void on_request_head(gw_conn_t *c)
{
	const char *msg = c->r->rb.data + c->r->rb.start;
	const net_http_t *h = &c->r->req;
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
	c->r->method = net_http_method(h);
	c->r->is_head = strcmp(c->r->method, "HEAD") == 0;
	c->r->req_has_body = net_http_has_body(h);
	c->r->req_done = h->msg_done; /* a body-less request ends with its head */
	c->r->client_keep_alive = net_http_keep_alive(h);
	c->r->req_minor = (uint8_t)net_http_minor(h); /* kept: a spliced body resets the parser */
	c->r->bytes_in = h->head_len;
	make_request_id(c);
	client_timer(c, C_NONE, 0);

	if (!strcmp(c->r->method, "CONNECT")) {
		LB_INFO("rejected CONNECT, client: %s", c->r->client_ip);
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
	if (!gw_head_check_request(h, msg, &err, &why)) {
		LB_INFO("bad request from %s: %s, request_id: %s", c->r->client_ip, why,
		        c->r->reqid);
		send_error(c, err, true);
		return;
	}
	hi = net_http_find(h, msg, "host", 0);
	c->r->host = strndup(msg + h->hdrs[hi].value_off, h->hdrs[hi].value_len);
	if (!c->r->host)
		abort();
	if (h->url_len == 0 || msg[h->url_off] != '/') {
		path = absolute_target(c, msg + h->url_off, h->url_len, &path_len);
		if (!path) {
			LB_INFO("rejected request target '%.*s', client: %s", (int)h->url_len,
			        msg + h->url_off, c->r->client_ip);
			send_error(c, GW_ERR_INVALID_REQUEST, true);
			return;
		}
	}
	if (build_request_head(c, msg, path, path_len) < 0) {
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
	/* the head lives on in c->r->head; release its bytes from the client buffer (they stay
	 * there, unread, until the buffer moves: a handoff gives them back to the socket) */
	c->r->head_raw = c->r->rb.start;
	c->r->rb.start = c->r->rb.parsed;
	if (is_healthz(c, msg, path, path_len)) {
		answer_healthz(c);
		return;
	}

	ri = gw_route(fe, &c->r->s3, c->r->host, strlen(c->r->host));
	if (ri < 0) {
		LB_INFO("no route, client: %s, host: %s, bucket: %.*s, request_id: %s",
		        c->r->client_ip, c->r->host, (int)c->r->s3.bucket_len,
		        c->r->s3.bucket ? c->r->s3.bucket : "", c->r->reqid);
		send_error(c, GW_ERR_NO_SUCH_BUCKET, c->r->req_has_body);
		return;
	}
	c->r->route = &fe->routes[ri];
	c->r->pool = &c->rt->pools[fe->routes[ri].pool];
	handoff_head(c, msg, path ? path : msg + h->url_off, path ? path_len : h->url_len);
	c->r->tried = calloc(c->r->pool->n, 1);
	if (!c->r->tried)
		abort();
	c->r->pool->inflight++;
	GW_INC(c->r->pool->series->inflight);
	c->r->inflight = true;
	go(c, CS_CONNECT);
}

/* Parses buffered bytes for a request head. */
static void parse_head(gw_conn_t *c)
{
	net_rbuf_t *rb = &c->r->rb;
	while (c->state == CS_HEAD) {
		size_t used;
		net_http_result_t r;
		if (rb->parsed == rb->len && rb->len == rb->start)
			return;
		if (!c->r->t_start) {
			/* first byte of a new request: the header clock starts */
			c->r->t_start = uv_hrtime();
			client_timer(c, C_HEADER, cfg_of(c)->timeouts.client_header);
		}
		if (rb->parsed == rb->len)
			return;
		r = net_http_execute(&c->r->req, rb->data + rb->parsed, rb->len - rb->parsed,
		                     rb->parsed - rb->start, &used);
		rb->parsed += used;
		switch (r) {
		case NET_HTTP_MORE:
			break;
		case NET_HTTP_DONE:
			/* cannot happen: a head ends with HEAD and the request is followed from
			 * there */
			rb->start = rb->parsed;
			net_http_next(&c->r->req);
			break;
		case NET_HTTP_HEAD:
			on_request_head(c);
			return;
		case NET_HTTP_ERROR:
			make_request_id(c);
			LB_INFO("bad request from %s: %s, request_id: %s", c->r->client_ip,
			        c->r->req.why ? c->r->req.why : "invalid", c->r->reqid);
			send_error(c,
			           c->r->req.err == NET_HTTP_E_TOO_LARGE ? GW_ERR_HEADER_TOO_LARGE
			                                                 : GW_ERR_INVALID_REQUEST,
			           true);
			return;
		}
	}
}

/* ---- handoff: the size cache and the decision (issue 12) --------------------------------- */

/* What a request teaches the size cache once its response head is in (gw_req_t.ho_learn). */
enum { HL_NONE = 0, HL_READ, HL_PUT, HL_FORGET };

/* Query parameters of an object GET/HEAD that make it return something else than the current
 * object's bytes (a version, a part, a sub-resource): such a read neither teaches nor asks the
 * cache. Presigned URLs' X-Amz-* and response-* parameters do not change the size. */
static const char *const not_the_object[] = {
    "acl",    "attributes", "legal-hold", "partNumber", "restore",   "retention",
    "select", "tagging",    "torrent",    "uploadId",   "versionId",
};

static bool is_object_bytes(const char *target, size_t len)
{
	for (size_t i = 0; i < sizeof(not_the_object) / sizeof(not_the_object[0]); i++)
		if (gw_query_has(target, len, not_the_object[i]))
			return false;
	return true;
}

/* A header's value, or NULL. */
static const char *hdr_value(const net_http_t *h, const char *msg, const char *name, size_t *len)
{
	int i = net_http_find(h, msg, name, 0);
	if (i < 0)
		return NULL;
	*len = h->hdrs[i].value_len;
	return msg + h->hdrs[i].value_off;
}

/* A decimal byte count, digits only; -1 when it does not parse or overflows. */
static int64_t parse_count(const char *s, size_t n)
{
	int64_t v = 0;
	if (!s || !n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* The object's size a PUT leaves: its body's (aws-chunked: the decoded length), -1 unknown. */
static int64_t put_size(const net_http_t *h, const char *msg)
{
	size_t n = 0;
	const char *v = hdr_value(h, msg, "x-amz-decoded-content-length", &n);
	if (v)
		return parse_count(v, n);
	if (net_http_chunked(h))
		return -1;
	return (int64_t)net_http_body_left(h); /* at the head: the whole Content-Length (or 0) */
}

/* At the head, with the cache only (a config with a handoff route): what this request will
 * teach the cache, and for a read on a handoff route the bytes it returns. */
static void handoff_head(gw_conn_t *c, const char *msg, const char *target, size_t target_len)
{
	gw_req_t *r = c->r;
	const net_http_t *h = &r->req;
	size_t n = 0;
	const char *range;

	if (!c->rt->sizes || !r->s3.bucket || !r->s3.key)
		return;
	switch (r->s3.op) {
	case LB_OP_READ:
		if ((strcmp(r->method, "GET") && !r->is_head) ||
		    !is_object_bytes(target, target_len))
			return;
		r->ho_learn = HL_READ;
		if (!r->route->handoff.enabled)
			return;
		range = hdr_value(h, msg, "range", &n);
		r->ho_size = ho_sizecache_request(c->rt->sizes, r->s3.bucket, r->s3.bucket_len,
		                                  r->s3.key, r->s3.key_len, range, n);
		return;
	case LB_OP_WRITE:
		if (strcmp(r->method, "PUT")) {
			r->ho_learn = HL_FORGET; /* POST Object, RestoreObject */
			return;
		}
		if (gw_query_has(target, target_len, "acl") ||
		    gw_query_has(target, target_len, "tagging") ||
		    gw_query_has(target, target_len, "retention") ||
		    gw_query_has(target, target_len, "legal-hold"))
			return; /* the object's bytes stay */
		r->ho_put_size = net_http_find(h, msg, "x-amz-copy-source", 0) >= 0
		                     ? -1 /* a copy: the source's size, not known here */
		                     : put_size(h, msg);
		r->ho_learn = HL_PUT;
		return;
	case LB_OP_DELETE:
	case LB_OP_MPU_COMPLETE:
		r->ho_learn = HL_FORGET;
		return;
	default:
		return;
	}
}

/* A final response head from the node: what it teaches the size cache. */
static void handoff_learn(gw_conn_t *c, const net_http_t *h, const char *msg, int status)
{
	gw_req_t *r = c->r;
	const char *cl, *cr;
	size_t cl_len = 0, cr_len = 0;

	switch (r->ho_learn) {
	case HL_READ:
		cl = hdr_value(h, msg, "content-length", &cl_len);
		cr = hdr_value(h, msg, "content-range", &cr_len);
		ho_sizecache_learn(c->rt->sizes, r->s3.bucket, r->s3.bucket_len, r->s3.key,
		                   r->s3.key_len, status, cl, cl_len, cr, cr_len);
		return;
	case HL_PUT:
		if (status == 200 && r->ho_put_size >= 0 &&
		    ho_sizecache_put(c->rt->sizes, r->s3.bucket, r->s3.bucket_len, r->s3.key,
		                     r->s3.key_len, (uint64_t)r->ho_put_size) == 0)
			return;
		if (status >= 200 && status < 300)
			ho_sizecache_del(c->rt->sizes, r->s3.bucket, r->s3.bucket_len, r->s3.key,
			                 r->s3.key_len);
		return;
	case HL_FORGET:
		if (status >= 200 && status < 300)
			ho_sizecache_del(c->rt->sizes, r->s3.bucket, r->s3.bucket_len, r->s3.key,
			                 r->s3.key_len);
		return;
	default:
		return;
	}
}

/* On a handoff route, once the node is picked for the first attempt: hand off or proxy, and
 * why (counted per pool). */
static ho_decision_t handoff_decide(gw_conn_t *c)
{
	gw_req_t *r = c->r;
	ho_decide_in_t in = {
	    .conf = &r->route->handoff,
	    .op = r->ho_learn != HL_READ || r->req_has_body ? HO_OP_OTHER
	          : r->is_head                              ? HO_OP_HEAD
	                                                    : HO_OP_GET,
	    .tls = c->fe->tls != NULL,
	    .buffered_after = r->rb.len - r->rb.parsed,
	    .node_up = r->node->state == GW_NODE_UP,
	    .agent_up = gw__handoff_agent_up(r->node),
	    .size = r->ho_size,
	};
	ho_decision_t d = ho_decide(&in);
	r->ho_reason = (int)d.reason;
	GW_INC(r->pool->series->handoff_decisions[d.reason]);
	return d;
}

/* ---- attempts on nodes ------------------------------------------------------------------ */

/*
 * The attempt on c->r->node failed. reached: the node may have seen the request (its head was
 * written). Retries when it is safe: no response byte and no body byte went out, and the method
 * is idempotent or the node never got the request.
 */
static void attempt_failed(gw_conn_t *c, gw_err_t err, bool reached, const char *why)
{
	gw_node_t *node = c->r->node;
	bool stalled = c->r->stalled, local = c->r->local_fault;
	c->r->stalled = c->r->local_fault = false;
	LB_WARN("upstream %s, node: %s (%s), client: %s, method: %s, bucket: %.*s, attempt: %u, "
	        "request_id: %s",
	        why, node ? node->conf->name : "-", node ? node->conf->addr.text : "-",
	        c->r->client_ip, c->r->method, (int)c->r->s3.bucket_len,
	        c->r->s3.bucket ? c->r->s3.bucket : "", c->r->attempts, c->r->reqid);
	release_upstream(c, GW_UP_CLOSE);
	if (node && !local) {
		/* after the release: health may mark the node down and look for its requests */
		c->r->reporting = true;
		gw__node_report(node, false, why);
		c->r->reporting = false;
	}
	c->r->last_err = err;
	/* A node that is no longer up (it refused the connection, health ejected it or marked it
	 * down) makes the retry a failover, which the retry budget does not limit: the budget is
	 * there to keep retries from piling onto a cluster that is alive but struggling. */
	c->r->failover = !reached || (node && node->state != GW_NODE_UP);
	if (c->r->resp_started) {
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	/* a node that took the request and went quiet may still run it later: retrying a write
	 * elsewhere would let that late run undo what the client does next (a DELETE run after
	 * the client wrote the key again). Only safe methods move then. */
	if (!c->r->body_released && (!reached || method_safe(c->r->method) ||
	                             (method_idempotent(c->r->method) && !stalled))) {
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
	if (!c->r || c->r->node != node || c->r->reporting ||
	    (c->state != CS_CONNECT && c->state != CS_PROXY) || c->r->resp_started ||
	    c->r->body_released || (c->r->head_sent && !method_safe(c->r->method)) ||
	    (c->r->up && c->r->up->cl.final_head))
		return;
	attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, "node marked down by health");
}

/* The switch ended (gateway/handoff.c's done): the node has the connection, or it fell back
 * and the attempt on the same node goes on. */
static void on_handoff_done(void *arg, int status, const char *why)
{
	gw_conn_t *c = arg;
	gw_req_t *r = c->r;
	gw_ho_line_t line = {.handoff = "ok", .t_start = r->t_start};
	r->ho_sw = NULL;
	if (status < 0) {
		GW_INC(r->pool->series->handoff_fallbacks);
		LB_INFO("handoff fell back to proxying: %s, node: %s, client: %s, request_id: %s",
		        why, r->node->conf->name, r->client_ip, r->reqid);
		go(c, CS_CONNECT);
		return;
	}
	if (asprintf(&line.text, "%.*s%c%.*s%c%s%c%s", (int)r->s3.bucket_len, r->s3.bucket, 0,
	             (int)r->s3.key_len, r->s3.key, 0, r->pool->conf->name, 0,
	             r->node->conf->name) < 0)
		abort();
	line.bucket = line.text;
	line.key = line.bucket + strlen(line.bucket) + 1;
	line.pool = line.key + strlen(line.key) + 1;
	line.node = line.pool + strlen(line.pool) + 1;
	snprintf(line.client_ip, sizeof(line.client_ip), "%s", r->client_ip);
	snprintf(line.method, sizeof(line.method), "%s", r->method);
	snprintf(line.reqid, sizeof(line.reqid), "%s", r->reqid);
	gw__handoff_owned(c->rt, r->ho_conn_id, &line);
	conn_close(c, false); /* in repair mode: no FIN, no RST */
}

/* ho_decide said hand off: starts the switch (true: HANDOFF until on_handoff_done), or says
 * why not (false: the request is proxied). */
static bool handoff_start(gw_conn_t *c)
{
	gw_req_t *r = c->r;
	uv_os_fd_t fd;
	char msg[512];
	if (c->sock.tls || uv_fileno((uv_handle_t *)&c->sock.tcp, &fd) < 0 ||
	    gw__handoff_start(c->rt, r->node, fd, r->rb.data + r->head_raw, r->rb.len - r->head_raw,
	                      on_handoff_done, c, &r->ho_sw, &r->ho_conn_id, msg,
	                      sizeof(msg)) < 0) {
		GW_INC(r->pool->series->handoff_fallbacks);
		LB_INFO("handoff fell back to proxying: %s, node: %s, client: %s, request_id: %s",
		        c->sock.tls ? "TLS" : msg, r->node->conf->name, r->client_ip, r->reqid);
		return false;
	}
	go(c, CS_HANDOFF);
	return true;
}

/* Picks a node and gets a connection to it: PROXY at once when a kept-alive one is ready. */
static void start_attempt(gw_conn_t *c)
{
	gw_pool_t *pool = c->r->pool;
	char kbuf[1100];
	const char *key = NULL;
	size_t klen = 0;
	int idx;

	if (c->r->attempts > 0) {
		uint32_t budget = pool->inflight * pool->conf->retry_budget_pct / 100;
		if (budget < 3)
			budget = 3;
		if (c->r->attempts > pool->conf->retries ||
		    (!c->r->failover && pool->retries_inflight >= budget)) {
			if (c->r->attempts <= pool->conf->retries)
				GW_INC(pool->series->retry_budget_exhausted);
			send_error(c, c->r->last_err, c->r->req_has_body);
			return;
		}
	}
	if (pool->conf->balance == LB_BALANCE_HASH_KEY && c->r->s3.bucket) {
		klen = (size_t)snprintf(kbuf, sizeof(kbuf), "%.*s/%.*s", (int)c->r->s3.bucket_len,
		                        c->r->s3.bucket, (int)c->r->s3.key_len,
		                        c->r->s3.key ? c->r->s3.key : "");
		if (klen >= sizeof(kbuf))
			klen = sizeof(kbuf) - 1;
		key = kbuf;
	}
	idx = gw_balancer_pick(pool->bal, c->r->tried, key, klen);
	if (idx < 0) {
		gw_err_t err = c->r->attempts ? c->r->last_err : GW_ERR_SERVICE_UNAVAILABLE;
		if (!c->r->attempts) {
			for (size_t i = 0; i < pool->n; i++)
				if (pool->nodes[i].state == GW_NODE_UP)
					err = GW_ERR_SLOW_DOWN; /* up but at its connection limit */
			LB_WARN("no node available in pool %s, client: %s, request_id: %s",
			        pool->conf->name, c->r->client_ip, c->r->reqid);
		}
		send_error(c, err, c->r->req_has_body);
		return;
	}
	c->r->tried[idx] = 1;
	c->r->node = &pool->nodes[idx];
	c->r->node_name = c->r->node->conf->name;
	if (c->r->attempts == 0 && c->r->route->handoff.enabled &&
	    handoff_decide(c).verdict == HO_HANDOFF && handoff_start(c))
		return;
	attempt_on_node(c);
}

/* The attempt on the node picked: a connection to it. */
static void attempt_on_node(gw_conn_t *c)
{
	gw_pool_t *pool = c->r->pool;
	size_t idx = c->r->node->index;
	gw_upstream_t *up;
	bool ready = false;
	int rc;

	pool->lbn[idx].outstanding++;
	GW_INC(c->r->node->stats->outstanding);
	if (c->r->attempts++ > 0) {
		c->r->retrying = !c->r->failover; /* failovers do not count against the budget */
		if (c->r->retrying) {
			pool->retries_inflight++;
			GW_INC(pool->series->retries_inflight);
		}
		GW_INC(c->r->node->stats->retries);
	}
	rc = gw__upstream_get(c->r->node, &up_ops, c, c->r->is_head, &up, &ready);
	if (rc < 0) {
		c->r->local_fault = local_error(rc);
		attempt_failed(c, rc == UV_EBUSY ? GW_ERR_SLOW_DOWN : GW_ERR_SERVICE_UNAVAILABLE,
		               false, rc == UV_EBUSY ? "connection limit" : uv_strerror(rc));
		return;
	}
	c->r->up = up;
	if (ready)
		go(c, CS_PROXY);
}

/* ---- the exchange: what the node connection tells ---------------------------------------- */

static gw_conn_t *owner(gw_upstream_t *up)
{
	gw_conn_t *c = up->owner;
	return c && c->r->up == up ? c : NULL;
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
	c->r->up_writing = false;
	if (c->r->up_head) {
		c->r->up_head = false;
		c->r->head_sent = true;
	}
	if (c->r->rb.writing) {
		c->r->bytes_in += net_rbuf_release(&c->r->rb);
		c->r->body_released = true;
		client_read_start(c);
	}
	proxy_next(c);
}

static void pend_add(gw_conn_t *c, const char *b, size_t n)
{
	if (!n)
		return;
	if (c->r->pend_len + n > c->r->pend_cap) {
		size_t cap = c->r->pend_len + n + 256;
		char *p = realloc(c->r->pend, cap);
		if (!p)
			abort(); /* bounded: MAX_INTERIM heads of at most buffer_size, or one lent
			          * buffer of decoded body (its span is held until written) */
		c->r->pend = p;
		c->r->pend_cap = cap;
	}
	memcpy(c->r->pend + c->r->pend_len, b, n);
	c->r->pend_len += n;
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
		if (++c->r->interims > MAX_INTERIM) {
			attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent too many 1xx responses");
			return;
		}
		if (c->r->req_minor == 0)
			return; /* HTTP/1.0 has no interim responses (RFC 9110 15.2) */
	} else {
		c->r->status = status;
		if (c->r->ho_learn)
			handoff_learn(c, h, msg, status);
		if (status >= 500) {
			char why5[32];
			snprintf(why5, sizeof(why5), "status %d", status);
			GW_INC(c->r->node->stats->responses_5xx);
			if (status == 503)
				GW_INC(c->r->node->stats->responses_503);
			c->r->reporting = true;
			gw__node_report(c->r->node, false, why5);
			c->r->reporting = false;
		} else {
			gw__node_report(c->r->node, true, NULL);
		}
		/* draining (SIGTERM's shutdown_delay): a kept-alive client's next request goes on a
		 * new connection, which the L4 tier in front sends to another gateway */
		if (!c->r->client_keep_alive || c->client_eof || c->srv->stopping ||
		    c->srv->draining || current_fe(c) < 0 || net_http_needs_eof(h) ||
		    !c->r->req_done)
			c->close_after = true;
		if (c->r->req_minor == 0 && net_http_chunked(h)) {
			/* an HTTP/1.0 client cannot take chunks (RFC 9112 6.1): the body goes to
			 * it decoded, ended by the close */
			c->close_after = true;
			c->r->dechunk = true;
			c->r->up->cl.resp.body_cb = on_dechunked;
			c->r->up->cl.resp.body_arg = c;
			hc = GW_HEAD_CONN_CLOSE_UNCHUNKED;
		} else if (c->close_after) {
			hc = GW_HEAD_CONN_CLOSE;
		} else if (c->r->req_minor == 0) {
			hc = GW_HEAD_CONN_KEEP_ALIVE;
		}
	}
	gw_head_response(h, msg, hc, &out, &len);
	pend_add(c, out, len);
	free(out);
	c->r->resp_started = true;
	if (interim)
		proxy_next(c); /* relayed on its own */
}

static void on_up_body(gw_upstream_t *up, const char *data, size_t len)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	if (len) {
		c->r->span = data;
		/* decoding: the decoded bytes are in pend already (on_dechunked); the raw span is
		 * only held until they are written, for backpressure */
		c->r->span_len = c->r->dechunk ? 0 : len;
	}
	proxy_next(c);
}

static void on_up_done(gw_upstream_t *up, bool reusable)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	c->r->resp_done = true;
	c->r->up_reusable = reusable;
	proxy_next(c);
}

static void on_up_error(gw_upstream_t *up, net_client_err_t e, int status, const char *why)
{
	gw_conn_t *c = owner(up);
	if (!c)
		return;
	switch (e) {
	case NET_CLIENT_E_CONNECT:
		c->r->local_fault = local_error(status);
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, false, why);
		return;
	case NET_CLIENT_E_CONNECT_TIMEOUT:
		attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, false, why);
		return;
	case NET_CLIENT_E_SEND_TIMEOUT:
	case NET_CLIENT_E_HEAD_TIMEOUT:
	case NET_CLIENT_E_READ_TIMEOUT:
		GW_INC(c->r->node->stats->errors);
		c->r->stalled = true;
		attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, true, why);
		return;
	case NET_CLIENT_E_WRITE:
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, c->r->head_sent, why);
		return;
	case NET_CLIENT_E_READ:
	case NET_CLIENT_E_CLOSED:
	case NET_CLIENT_E_INVALID:
		GW_INC(c->r->node->stats->errors);
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
	net_rbuf_t *rb = &c->r->rb;
	if (c->r->req_splice)
		return true;
	for (;;) {
		uv_buf_t b[2];
		unsigned nb = 0;
		int rc;
		if (!c->r->req_done) {
			size_t used;
			net_http_result_t r = net_http_execute(&c->r->req, rb->data + rb->parsed,
			                                       rb->len - rb->parsed, 0, &used);
			rb->parsed += used;
			c->r->body_rx += used;
			if (r == NET_HTTP_DONE) {
				c->r->req_done = true;
			} else if (r == NET_HTTP_ERROR || r == NET_HTTP_HEAD) {
				/* the node may have a part of the body: release_upstream resets its
				 * connection, so that it never completes a request the client did
				 * not send */
				LB_INFO("bad request body from %s: %s, request_id: %s",
				        c->r->client_ip, c->r->req.why ? c->r->req.why : "invalid",
				        c->r->reqid);
				release_upstream(c, GW_UP_ABORT);
				send_error(c, GW_ERR_INVALID_REQUEST, true);
				return false;
			}
		}
		if (c->r->up_writing)
			return true;
		if (!c->r->head_sent)
			b[nb++] = uv_buf_init(c->r->head, (unsigned)c->r->head_len);
		if (net_rbuf_take(rb, &b[nb]))
			nb++;
		if (!nb) {
			if (c->r->req_done && !c->r->req_sent) {
				c->r->req_sent = true;
				net_client_request_done(&c->r->up->cl);
			} else if (!c->r->req_done) {
				(void)try_req_splice(c);
			}
			return true;
		}
		c->r->up_head = !c->r->head_sent;
		rc = net_client_write(&c->r->up->cl, b, nb);
		if (rc < 0) {
			c->r->up_head = false;
			if (rb->writing)
				net_rbuf_abandon(rb);
			attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, c->r->head_sent,
			               uv_strerror(rc));
			return false;
		}
		if (rc == 0) {
			c->r->up_writing = true;
			return true; /* on in on_up_written */
		}
		/* written at once */
		if (c->r->up_head) {
			c->r->up_head = false;
			c->r->head_sent = true;
		}
		if (rb->writing) {
			c->r->bytes_in += net_rbuf_release(rb);
			c->r->body_released = true;
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
	c->r->bytes_out += n;
	if (rc == 0)
		c->r->writing_down = true;
	c->client_moved = true;
	return rc;
}

/* The pending head bytes are written (the buffer goes; new heads start a new one). */
static char *pend_detach(gw_conn_t *c)
{
	char *p = c->r->pend;
	c->r->pend = NULL;
	c->r->pend_len = c->r->pend_cap = 0;
	return p;
}

/* Response side: writes the pending head bytes and the lent body bytes; false when the
 * connection is gone. */
static bool flush_down(gw_conn_t *c)
{
	while (!c->r->writing_down && (c->r->pend_len || c->r->span)) {
		uv_buf_t b[2];
		unsigned nb = 0;
		size_t np = c->r->pend_len;
		bool span = c->r->span != NULL;
		int rc;
		if (np)
			b[nb++] = uv_buf_init(c->r->pend, (unsigned)np);
		if (span && c->r->span_len)
			b[nb++] = uv_buf_init((char *)c->r->span, (unsigned)c->r->span_len);
		rc = nb ? write_down(c, b, nb, true) : 1; /* a decoded span may hold nothing */
		if (rc < 0) {
			if (!c->r->status)
				c->r->status = 499;
			gw_access_log(c);
			conn_close(c, true);
			return false;
		}
		if (rc == 0) {
			/* in flight: heads that come meanwhile go to a new buffer */
			c->r->down_buf = np ? pend_detach(c) : NULL;
			c->r->down_span = span;
			return true;
		}
		/* written at once: the node connection's buffer is free again and it reads on */
		if (np)
			free(pend_detach(c));
		if (span) {
			c->r->span = NULL;
			net_client_consumed(&c->r->up->cl); /* may lend more at once, or end */
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
	if (!c || !c->r || (c->r->splice != s && c->r->req_splice != s))
		return NULL;
	*req = c->r->req_splice == s;
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
		c->r->bytes_out += n;
		return;
	}
	c->r->body_rx += n;
	c->r->bytes_in += n;
	c->r->body_released = true; /* no retry: the node has body bytes */
	c->client_moved = true;
	/* limits.min_body_rate as in the copying path, checked as bytes come (the splice's own
	 * stall timer runs only while it waits for the client: a node slow to take the body is
	 * not the client's fault) */
	if (!c->r->resp_started && !body_timeout(c))
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
		net_client_body_moved(&c->r->up->cl); /* on_up_done follows at once */
		return;
	}
	net_http_body_skipped(&c->r->req); /* every byte of the body went around the parser */
	c->r->req_done = true;
	c->r->req_sent = true;
	net_client_request_done(&c->r->up->cl);
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
			GW_INC(c->r->node->stats->errors);
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
		        why, c->r->client_ip, c->r->body_rx, c->r->reqid);
		release_upstream(c, GW_UP_ABORT);
		if (timeout && !c->r->resp_started) {
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
	} else {
		LB_INFO("client %s mid-response, client: %s, request_id: %s", why, c->r->client_ip,
		        c->r->reqid);
	}
	if (!c->r->status)
		c->r->status = 499;
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
	uint64_t left = net_http_body_left(&c->r->req);
	uv_os_fd_t cfd, nfd;
	net_splice_t *s;
	if (!cfg->limits.splice_min || c->r->no_req_splice || c->r->req_splice || c->r->splice ||
	    c->sock.tls || c->r->up->cl.sock.tls || !c->r->head_sent || c->r->up_writing ||
	    c->r->req_done || c->r->resp_started || c->r->rb.len != c->r->rb.parsed ||
	    c->r->rb.writing || left < cfg->limits.splice_min ||
	    uv_fileno((uv_handle_t *)&c->sock.tcp, &cfd) != 0 ||
	    uv_fileno((uv_handle_t *)&c->r->up->cl.sock.tcp, &nfd) != 0)
		return false;
	if (!(s = malloc(sizeof(*s))))
		abort();
	/* the source's stall timer is timeouts.client_body between bytes; min_body_rate is
	 * checked on progress */
	if (net_splice_start(c->srv->loop, s, &splice_cbs, c, cfd, nfd, left,
	                     cfg->timeouts.client_body, cfg->timeouts.upstream_read) < 0) {
		free(s);
		c->r->no_req_splice = true;
		GW_INC(c->srv->metrics->splice_fallbacks);
		return false;
	}
	GW_INC(c->srv->metrics->spliced_requests);
	c->r->req_splice = s;
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
	if (!cfg->limits.splice_min || c->r->no_splice || c->sock.tls || !c->r->req_sent ||
	    c->r->writing_down || c->r->pend_len || c->r->span ||
	    !net_client_body_left(&c->r->up->cl, &nfd, &left) || left < cfg->limits.splice_min ||
	    uv_fileno((uv_handle_t *)&c->sock.tcp, &cfd) != 0)
		return false;
	if (!(s = malloc(sizeof(*s))))
		abort();
	if (net_splice_start(c->srv->loop, s, &splice_cbs, c, nfd, cfd, left,
	                     cfg->timeouts.upstream_read, cfg->timeouts.client_send) < 0) {
		free(s);
		c->r->no_splice = true;
		GW_INC(c->srv->metrics->splice_fallbacks);
		return false;
	}
	GW_INC(c->srv->metrics->spliced_responses);
	net_client_body_taken(&c->r->up->cl);
	c->r->splice = s;
	client_timer(c, C_NONE, 0); /* the splice times both sides */
	return true;
}

/* The response is relayed whole: the node connection goes back (or not), then the next
 * request, unless the connection must close. */
static void finish_response(gw_conn_t *c)
{
	/* reused only when the node saw a persistent request: the Connection header is never
	 * relayed, so an HTTP/1.0 request ends its connection at the node */
	bool reuse = c->r->up_reusable && c->r->req_sent && c->r->req_minor == 1;
	if (!c->r->req_done)
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
		if (c->state != CS_PROXY || !c->r->up || c->r->splice)
			break;
		if (!pump_request(c) || c->state != CS_PROXY)
			break;
		if (!flush_down(c) || c->state != CS_PROXY)
			break;
		if (try_splice(c))
			break;
		if (c->r->resp_done && !c->r->writing_down && !c->r->pend_len && !c->r->span &&
		    (c->r->req_sent || !c->r->req_done)) {
			finished =
			    true; /* a request whose body still comes ends now: close_after */
			break;
		}
	} while (c->again);
	c->in_next = false;
	if (finished)
		finish_response(c);
	else if (!c->r->splice)
		proxy_timer(c);
}

static void on_client_write(net_sock_t *s, int status)
{
	gw_conn_t *c = s->data;
	c->r->writing_down = false;
	if (c->state == CS_CLOSING)
		return;
	if (status < 0) {
		LB_INFO("client write failed: %s, client: %s, request_id: %s", uv_strerror(status),
		        c->r->client_ip, c->r->reqid);
		if (c->r->status == 0)
			c->r->status = 499;
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	c->client_moved = true;
	if (c->r->down_err) {
		c->r->down_err = false;
		free(c->r->err_buf);
		c->r->err_buf = NULL;
		end_request(c);
		return;
	}
	free(c->r->down_buf);
	c->r->down_buf = NULL;
	if (c->r->down_span) {
		c->r->down_span = false;
		c->r->span = NULL;
		if (c->r->up) {
			net_client_consumed(&c->r->up->cl); /* may lend more at once, or end */
			if (c->state != CS_PROXY)
				return;
		}
	}
	proxy_next(c);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_client_timer(gw_conn_t *c)
{
	int kind = c->timer_kind;
	c->timer_kind = C_NONE;
	switch (c->state) {
	case CS_HEAD:
		if (conn_busy(c)) {
			make_request_id(c);
			LB_INFO("header timeout, client: %s, request_id: %s", c->r->client_ip,
			        c->r->reqid);
			send_error(c, GW_ERR_HEADER_TIMEOUT, true);
		} else {
			conn_close(c, false);
		}
		return;
	case CS_PROXY:
		if (kind == C_BODY && !c->r->resp_started) {
			LB_INFO("request body %s, client: %s, received: %" PRIu64 " bytes, "
			        "request_id: %s",
			        body_timeout(c) ? "timeout" : "slower than limits.min_body_rate",
			        c->r->client_ip, c->r->body_rx, c->r->reqid);
			release_upstream(c, GW_UP_ABORT);
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
		LB_INFO("client %s timeout, client: %s, request_id: %s",
		        kind == C_BODY ? "body" : "send", c->r->client_ip, c->r->reqid);
		if (!c->r->status)
			c->r->status = 499;
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
	if (c->r->resp_started) {
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	release_upstream(c, GW_UP_CLOSE);
	if (close || !c->r->client_keep_alive || (c->r->req_has_body && !c->r->req_done) ||
	    c->srv->stopping || c->srv->draining || c->client_eof)
		c->close_after = true;
	c->r->linger = true;
	c->r->status = gw_err_status(err);
	if (err == GW_ERR_SLOW_DOWN) /* pool "-": refused before routing (connection limit) */
		GW_INC((c->r->pool ? c->r->pool->series : gw_metrics_pool(c->srv->metrics, "-"))
		           ->slowdowns_sent);
	if (c->r->s3.bucket)
		snprintf(resource, sizeof(resource), "/%.*s%s%.*s", (int)c->r->s3.bucket_len,
		         c->r->s3.bucket, c->r->s3.key ? "/" : "", (int)c->r->s3.key_len,
		         c->r->s3.key ? c->r->s3.key : "");
	else
		snprintf(resource, sizeof(resource), "/");
	free(c->r->err_buf);
	c->r->err_buf = NULL;
	if (gw_err_response(err, NULL, resource, c->r->reqid, !c->close_after, c->r->is_head,
	                    &c->r->err_buf, &c->r->err_len) < 0) {
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
	if (c->r->inflight) {
		c->r->pool->inflight--;
		GW_DEC(c->r->pool->series->inflight);
		c->r->inflight = false;
	}
	if (c->close_after || c->srv->stopping || !follow_reload(c)) {
		if (c->r->linger && !c->client_eof)
			go(c, CS_LINGER);
		else
			conn_close(c, false);
		return;
	}
	go(c, CS_HEAD);
}

/* Forgets the request that ended, keeping what the client sent after it: with nothing buffered
 * the request's memory goes (an idle keep-alive connection holds no buffer, parser or request
 * state); pipelined bytes begin the next request in the same memory. */
static void reset_request(gw_conn_t *c)
{
	gw_req_t *r = c->r;
	net_rbuf_t rb = r->rb;
	req_release(r);
	rb.start = rb.parsed; /* unparsed bytes are the next pipelined request(s) */
	if (!rb.writing && rb.start == rb.len) {
		net_rbuf_free(&rb);
		free(r);
		c->r = NULL;
		return;
	}
	memset(r, 0, sizeof(*r));
	r->rb = rb;
	net_rbuf_compact(&r->rb);
	req_init(c, r);
}

/* The attempt starts afresh (a retry): nothing of the last one went to the client. */
static void reset_attempt(gw_conn_t *c)
{
	c->r->head_sent = c->r->up_writing = c->r->up_head = c->r->req_sent = false;
	c->r->resp_done = c->r->up_reusable = c->r->no_splice = false;
	c->r->span = NULL;
	free(c->r->pend);
	c->r->pend = NULL;
	c->r->pend_len = c->r->pend_cap = 0;
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
		if (conn_busy(c))
			parse_head(c);
		if (c->state == CS_HEAD)
			client_read_start(c);
		return;
	case CS_HANDOFF:
		net_sock_read_stop(&c->sock); /* the client's bytes stay in the kernel's queue */
		client_timer(c, C_NONE, 0);
		return;
	case CS_CONNECT:
		if (from == CS_HANDOFF) { /* the switch fell back: the node picked is tried */
			client_read_start(c);
			attempt_on_node(c);
			return;
		}
		if (from != CS_HEAD)
			reset_attempt(c); /* a retry */
		client_timer(c, C_NONE, 0);
		start_attempt(c);
		return;
	case CS_PROXY:
		/* a node connection is ready: the head goes out with the body bytes at hand */
		GW_INC(c->r->node->stats->requests);
		if (c->r->up->reused)
			GW_INC(c->r->node->stats->reused);
		if (!c->r->body_t0)
			c->r->body_t0 = uv_now(c->srv->loop);
		c->timer_kind = C_NONE;
		proxy_next(c);
		return;
	case CS_ERROR: {
		uv_buf_t eb = uv_buf_init(c->r->err_buf, (unsigned)c->r->err_len);
		net_sock_read_stop(&c->sock);
		c->r->down_err = true;
		if (write_down(c, &eb, 1, false) < 0) {
			c->r->down_err = false;
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
		c->r->linger_bytes = 0;
		if (net_sock_shutdown(&c->sock) < 0) {
			conn_close(c, false);
			return;
		}
		client_timer(c, C_LINGER, LINGER_MS);
		client_read_start(c);
		return;
	case CS_CLOSING:
		if (c->r && c->r->ho_sw) { /* closed during a switch: undone, nothing told */
			ho_director_cancel(c->r->ho_sw);
			c->r->ho_sw = NULL;
		}
		release_upstream(c, GW_UP_CLOSE);
		if (c->r && c->r->inflight) {
			c->r->pool->inflight--;
			GW_DEC(c->r->pool->series->inflight);
			c->r->inflight = false;
		}
		if (c->theap_i) {
			heap_remove(c->srv, c);
			timers_arm(c->srv);
		}
		net_sock_close(&c->sock, on_sock_closed);
		return;
	}
}

/*
 * A client connection: parse a request head, route it, relay it to a node and the response back,
 * then the next request. Runs on the main loop.
 *
 *              accept
 *                |
 *                v
 *   +-------->  HEAD  --(bad input, header timeout)--------------------+
 *   |            | head complete, routed                               |
 *   |            v                                                     v
 *   |         CONNECT --(no node, all attempts failed, budget)----->  ERROR  (our S3 XML error)
 *   |            | upstream connected (or reused), head sent           |
 *   |            v                                                     |
 *   |          PROXY   request body relay and response relay run     |
 *   |            |     side by side (req_* and resp_* flags);        |
 *   |            |     a failure before any response byte and before |
 *   |            |     any body byte was released goes back to       |
 *   |            |     CONNECT on another node (retry)               |
 *   |            v                                                     |
 *   +-- keep-alive -- end of request <---------------------------------+
 *                        | close_after
 *                        v
 *                     CLOSING  (handles closed; freed when the last one is)
 *
 * Bytes are relayed without copies: the request body goes from the client buffer to the node,
 * the response body from the upstream buffer to the client; a buffer is written from in one
 * piece at a time and read into only in its free tail, so memory per connection is bounded by
 * the two buffers (limits.buffer_size each). Reading stops when a buffer is full and restarts
 * when its write completes (backpressure both ways).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "gateway/head.h"
#include "gateway/proxy.h"
#include "gateway/router.h"

enum { CS_HEAD, CS_CONNECT, CS_PROXY, CS_ERROR, CS_LINGER, CS_CLOSING };

/* Lingering close after an error (see linger_start): at most this long and this many bytes. */
#define LINGER_MS    5000
#define LINGER_BYTES (64u << 20)
enum { DOWN_HEAD = 1, DOWN_BODY = 2, DOWN_ERR = 4 }; /* what a client write carries */

static void process_head(gw_conn_t *c);
static void pump_request(gw_conn_t *c);
static void pump_response(gw_conn_t *c);
static void start_attempt(gw_conn_t *c);
static void send_error(gw_conn_t *c, gw_err_t err, bool close);
static void conn_close(gw_conn_t *c, bool abort);
static void end_request(gw_conn_t *c);
static void client_read_start(gw_conn_t *c);
static void access_log(gw_conn_t *c);

static const lb_config_t *cfg_of(gw_conn_t *c)
{
	return c->rt->cfg;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void make_request_id(gw_conn_t *c)
{
	static uint64_t seq;
	uint64_t x = ((uint64_t)time(NULL) << 20) ^ (++seq * 0x9E3779B97F4A7C15ULL) ^ c->id;
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 29;
	snprintf(c->reqid, sizeof(c->reqid), "%016" PRIX64, x);
}

static bool method_idempotent(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
	       !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

static void on_client_timer(uv_timer_t *t);
static void on_up_timer(uv_timer_t *t);

/* What the client's timer measures. */
enum { C_NONE = 0, C_IDLE, C_HEADER, C_BODY, C_SEND, C_LINGER };
/* What the upstream's timer measures while a request owns it. */
enum { U_NONE = 0, U_SEND, U_HEAD, U_READ };
/* Which side made progress (proxy_timers restarts that side's timer). */
enum { PROG_CLIENT = 1, PROG_NODE = 2 };

static void client_timer(gw_conn_t *c, int kind, uint64_t ms)
{
	if (c->state == CS_CLOSING)
		return;
	c->timer_kind = kind;
	if (kind != C_NONE)
		uv_timer_start(&c->timer, on_client_timer, ms, 0);
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
 * The timers of a request being relayed, from what each side owes: a timer runs only while
 * s3lb waits for its side, so that a slow client never looks like a slow node (whose failures
 * count against its health) and the other way round.
 *   client: a write to it in flight: client_send; request body bytes awaited (no write of
 *           earlier ones to the node in flight): body_timeout; else none.
 *   node:   a write to it in flight: upstream_read; the request sent and no response head:
 *           upstream_header; response bytes awaited (the client not holding us up):
 *           upstream_read; else none.
 * A timer restarts when what it measures changes or its side made progress.
 */
static void proxy_timers(gw_conn_t *c, unsigned progress)
{
	const lb_timeouts_t *to = &cfg_of(c)->timeouts;
	gw_upstream_t *up = c->up;
	bool relaying = c->state == CS_PROXY && up && c->head_sent;
	int ck = C_NONE, uk = U_NONE;
	uint64_t cms = 0, ums = 0;

	if (c->state != CS_PROXY)
		return;
	if (c->writing_down) {
		ck = C_SEND;
		cms = to->client_send;
	} else if (relaying && !c->req_done && !up->sock.writing) {
		ck = C_BODY;
		cms = body_timeout(c);
	}
	if (ck != c->timer_kind || (progress & PROG_CLIENT))
		client_timer(c, ck, cms ? cms : 1);
	if (!up)
		return;
	if (up->sock.writing) {
		uk = U_SEND;
		ums = to->upstream_read;
	} else if (c->resp_done) {
		uk = U_NONE;
	} else if (!up->resp.head_done) {
		uk = c->req_sent ? U_HEAD : U_NONE;
		ums = to->upstream_header;
	} else if (!c->writing_down) {
		uk = U_READ;
		ums = to->upstream_read;
	}
	if (uk != up->timer_kind || (progress & PROG_NODE)) {
		up->timer_kind = uk;
		if (uk != U_NONE)
			uv_timer_start(&up->timer, on_up_timer, ums, 0);
		else
			uv_timer_stop(&up->timer);
	}
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
	net_http_free(&c->req);
	free(c->rb.data);
	free(c->head);
	free(c->host);
	free(c->tried);
	free(c->resp_head);
	free(c->err_buf);
	gw_runtime_unref(c->rt);
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

static void release_upstream(gw_conn_t *c, bool reusable)
{
	gw_node_t *node = c->node;
	if (c->rb.writing && c->up)
		net_rbuf_abandon(&c->rb); /* its bytes stay unreleased, for a retry */
	if (c->up && c->head_sent && !c->req_sent)
		c->up->sock.abort_on_close = true; /* the node must never see the request end */
	if (c->up) {
		gw_upstream_release(c->up, reusable);
		c->up = NULL;
	}
	if (node) {
		gw_pool_t *pool = node->pool;
		if (pool->lbn[node->index].outstanding)
			pool->lbn[node->index].outstanding--;
		if (c->retrying && pool->retries_inflight)
			pool->retries_inflight--;
		c->retrying = false;
		c->node = NULL;
	}
}

static void conn_close(gw_conn_t *c, bool abort)
{
	if (c->state == CS_CLOSING)
		return;
	c->state = CS_CLOSING;
	release_upstream(c, false);
	if (c->inflight) {
		c->pool->inflight--;
		c->inflight = false;
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	c->sock.abort_on_close = abort;
	net_sock_close(&c->sock, on_sock_closed);
}

void gw_conn_force_close(gw_conn_t *c)
{
	if (c->state != CS_HEAD || c->rb.len > c->rb.start) {
		if (!c->status)
			c->status = 499;
		if (c->method)
			access_log(c);
	}
	conn_close(c, true);
}

void gw_conn_shutdown(gw_conn_t *c)
{
	c->close_after = true;
	if (c->state == CS_HEAD && c->rb.len == c->rb.start)
		conn_close(c, false);
}

/* ---- access log ------------------------------------------------------------------------- */

static void access_log(gw_conn_t *c)
{
	FILE *fp = lb_log_access();
	char line[4096], stamp[40];
	size_t p = 0;
	struct timespec ts;
	struct tm tm;
	double dur = (double)(uv_hrtime() - c->t_start) / 1e6;
	uint64_t dur_us = (uv_hrtime() - c->t_start) / 1000;
	const char *pool = c->pool ? c->pool->conf->name : "-";

	gw_metrics_request(c->srv->metrics, pool, c->s3.op ? c->s3.op : LB_OP_OTHER, c->status,
	                   c->bytes_in, c->bytes_out, dur_us);
	if (!fp)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	p = (size_t)snprintf(line, sizeof(line),
	                     "{\"time\":\"%s.%03ldZ\",\"client\":\"%s\",\"method\":\"", stamp,
	                     ts.tv_nsec / 1000000, c->client_ip);
	lb_json_escape(line, sizeof(line), &p, c->method ? c->method : "-",
	               c->method ? strlen(c->method) : 1);
	p += (size_t)snprintf(line + p, sizeof(line) - p, "\",\"bucket\":\"");
	if (c->s3.bucket)
		lb_json_escape(line, sizeof(line), &p, c->s3.bucket, c->s3.bucket_len);
	p += (size_t)snprintf(line + p, sizeof(line) - p, "\",\"key\":\"");
	if (c->s3.key)
		lb_json_escape(line, sizeof(line), &p, c->s3.key, c->s3.key_len);
	if (p < sizeof(line))
		p += (size_t)snprintf(
		    line + p, sizeof(line) - p,
		    "\",\"op\":\"%s\",\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		    ",\"duration_ms\":%.3f,\"pool\":\"%s\","
		    "\"node\":\"%s\",\"attempts\":%u,\"request_id\":\"%s\"}\n",
		    c->s3.op ? lb_op_name(c->s3.op) : "-", c->status, c->bytes_in, c->bytes_out,
		    dur, pool, c->node_name ? c->node_name : "-", c->attempts, c->reqid);
	if (p >= sizeof(line)) {
		p = sizeof(line) - 2;
		line[p++] = '\n';
	}
	fwrite(line, 1, p, fp);
}

/* ---- accept ----------------------------------------------------------------------------- */

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
				access_log(c);
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
		process_head(c);
		break;
	case CS_PROXY:
		if (!c->req_done)
			pump_request(c);
		break;
	default:
		break; /* buffered: parsed once the upstream is ready or the next request starts */
	}
}

void gw_conn_accept(gw_listener_t *l)
{
	gw_server_t *srv = l->srv;
	gw_runtime_t *rt = srv->rt;
	gw_conn_t *c = calloc(1, sizeof(*c));
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
	c->state = CS_HEAD;
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
	if (srv->nconns > cfg->limits.max_connections) {
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

static void client_read_start(gw_conn_t *c)
{
	if (c->state == CS_CLOSING || c->state == CS_ERROR)
		return;
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

static void on_request_head(gw_conn_t *c)
{
	const char *msg = c->rb.data + c->rb.start;
	const net_http_t *h = &c->req;
	const lb_frontend_conf_t *fe = c->fe->conf;
	const char *path = NULL;
	size_t path_len = 0;
	gw_err_t err;
	const char *why;
	int hi, ri;

	c->method = net_http_method(h);
	c->is_head = strcmp(c->method, "HEAD") == 0;
	c->req_has_body = net_http_has_body(h);
	c->client_keep_alive = net_http_keep_alive(h);
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
	c->inflight = true;
	c->state = CS_CONNECT;
	start_attempt(c);
}

static void process_head(gw_conn_t *c)
{
	net_rbuf_t *rb = &c->rb;
	while (c->state == CS_HEAD) {
		size_t used;
		net_http_result_t r;
		if (rb->parsed == rb->len) {
			if (rb->len > rb->start && !c->t_start) {
				/* first byte of a new request: the header clock starts */
				c->t_start = uv_hrtime();
				client_timer(c, C_HEADER, cfg_of(c)->timeouts.client_header);
			}
			return;
		}
		if (!c->t_start) {
			c->t_start = uv_hrtime();
			client_timer(c, C_HEADER, cfg_of(c)->timeouts.client_header);
		}
		r = net_http_execute(&c->req, rb->data + rb->parsed, rb->len - rb->parsed,
		                     rb->parsed - rb->start, &used);
		rb->parsed += used;
		switch (r) {
		case NET_HTTP_MORE:
			break;
		case NET_HTTP_DONE:
			/* the end of the previous body-less request, seen only now */
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

static void attempt_failed(gw_conn_t *c, gw_err_t err, bool reached, const char *why)
{
	gw_node_t *node = c->node;
	LB_WARN("upstream %s, node: %s (%s), client: %s, method: %s, bucket: %.*s, attempt: %u, "
	        "request_id: %s",
	        why, node ? node->conf->name : "-", node ? node->conf->addr.text : "-",
	        c->client_ip, c->method, (int)c->s3.bucket_len, c->s3.bucket ? c->s3.bucket : "",
	        c->attempts, c->reqid);
	release_upstream(c, false);
	if (node) {
		/* after the release: health may mark the node down and look for its requests */
		c->reporting = true;
		gw_node_report(node, false, why);
		c->reporting = false;
	}
	c->last_err = err;
	/* A node that is no longer up (it refused the connection, health ejected it or marked it
	 * down) makes the retry a failover, which the retry budget does not limit: the budget is
	 * there to keep retries from piling onto a cluster that is alive but struggling. */
	c->failover = !reached || (node && node->state != GW_NODE_UP);
	if (c->resp_started) {
		access_log(c);
		conn_close(c, true);
		return;
	}
	if (!c->body_released && (!reached || method_idempotent(c->method))) {
		c->state = CS_CONNECT;
		c->head_sent = false;
		c->req_sent = false;
		start_attempt(c);
		return;
	}
	send_error(c, err, true);
}

static void send_head(gw_conn_t *c);

void gw_conn_node_down(gw_conn_t *c, gw_node_t *node)
{
	/* Health marked the node down (e.g. a stopped process that still holds its sockets): a
	 * request waiting on it that can be retried safely moves now instead of waiting for its
	 * timeout. Others keep their chance to complete. */
	if (c->node != node || c->reporting || (c->state != CS_CONNECT && c->state != CS_PROXY) ||
	    c->resp_started || c->body_released || !method_idempotent(c->method) ||
	    (c->up && c->up->resp.head_done))
		return;
	attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, "node marked down by health");
}

void gw_conn_upstream_ready(gw_upstream_t *up, int status)
{
	gw_conn_t *c = up->conn;
	if (status < 0) {
		/* upstream.c closes it after this returns */
		c->up = NULL;
		attempt_failed(
		    c, status == UV_ETIMEDOUT ? GW_ERR_GATEWAY_TIMEOUT : GW_ERR_SERVICE_UNAVAILABLE,
		    false, status == UV_ETIMEDOUT ? "connect timeout" : uv_strerror(status));
		return;
	}
	send_head(c);
}

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
	if (c->attempts++ > 0) {
		c->retrying = !c->failover; /* failovers do not count against the budget */
		if (c->retrying)
			pool->retries_inflight++;
		c->node->stats->retries++;
	}
	rc = gw_upstream_get(c->node, c, &up, &ready);
	if (rc < 0) {
		attempt_failed(c, rc == UV_EBUSY ? GW_ERR_SLOW_DOWN : GW_ERR_SERVICE_UNAVAILABLE,
		               false, rc == UV_EBUSY ? "connection limit" : uv_strerror(rc));
		return;
	}
	c->up = up;
	if (ready)
		send_head(c);
}

/* ---- relaying the request --------------------------------------------------------------- */

static void on_up_alloc(net_sock_t *s, uv_buf_t *buf);
static void on_up_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_up_write(net_sock_t *s, int status)
{
	gw_upstream_t *up = s->data;
	gw_conn_t *c = up->conn;
	if (!c || c->up != up)
		return; /* the attempt was abandoned meanwhile */
	if (status < 0) {
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, uv_strerror(status));
		return;
	}
	if (!c->head_sent) {
		c->head_sent = true;
	} else {
		c->bytes_in += net_rbuf_release(&c->rb);
		c->body_released = true;
	}
	proxy_timers(c, PROG_NODE);
	pump_request(c);
	client_read_start(c);
}

static void send_head(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	uv_buf_t b = uv_buf_init(c->head, (unsigned)c->head_len);
	int rc;

	c->state = CS_PROXY;
	c->node->stats->requests++;
	if (up->reused)
		c->node->stats->reused++;
	if (!c->body_t0)
		c->body_t0 = uv_now(c->srv->loop);
	up->resp.skip_body = c->is_head;
	up->timer_kind = U_NONE;
	up->sock.data = up;
	if (net_sock_read_start(&up->sock, on_up_alloc, on_up_read) < 0 ||
	    (rc = net_sock_write(&up->sock, &b, 1, on_up_write)) < 0) {
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, false, "write failed");
		return;
	}
	proxy_timers(c, PROG_NODE);
}

static void pump_request(gw_conn_t *c)
{
	net_rbuf_t *rb = &c->rb;
	gw_upstream_t *up = c->up;
	unsigned prog = 0;
	uv_buf_t b;

	if (c->state != CS_PROXY || !c->head_sent || !up)
		return;
again:
	if (!c->req_done) {
		size_t used;
		net_http_result_t r = net_http_execute(&c->req, rb->data + rb->parsed,
		                                       rb->len - rb->parsed, 0, &used);
		rb->parsed += used;
		c->body_rx += used;
		if (used)
			prog = PROG_CLIENT;
		if (r == NET_HTTP_DONE) {
			c->req_done = true;
		} else if (r == NET_HTTP_ERROR || r == NET_HTTP_HEAD) {
			/* the node has part of a body: release_upstream aborts its connection, so
			 * that it never completes a request the client did not send */
			LB_INFO("bad request body from %s: %s, request_id: %s", c->client_ip,
			        c->req.why ? c->req.why : "invalid", c->reqid);
			release_upstream(c, false);
			send_error(c, GW_ERR_INVALID_REQUEST, true);
			return;
		}
	}
	if (rb->writing || up->sock.writing) {
		proxy_timers(c, prog);
		return;
	}
	if (net_rbuf_take(rb, &b)) {
		int rc = net_sock_write_now(&up->sock, &b, 1, on_up_write);
		if (rc < 0) {
			net_rbuf_abandon(rb);
			attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, "write failed");
			return;
		}
		if (rc == 0) {
			proxy_timers(c, prog);
			return; /* on in on_up_write */
		}
		/* Written at once: released, and the client's socket reads on. */
		c->bytes_in += net_rbuf_release(rb);
		c->body_released = true;
		client_read_start(c);
		if (c->state != CS_PROXY || c->up != up)
			return;
		goto again;
	}
	if (c->req_done && !c->req_sent) {
		c->req_sent = true;
		proxy_timers(c, prog);
		if (c->resp_done)
			pump_response(c); /* the node answered before the body ended */
		return;
	}
	proxy_timers(c, prog);
}

/* ---- relaying the response -------------------------------------------------------------- */

static void on_client_write(net_sock_t *s, int status);

/* Writes to the client: 0 in flight (on_client_write comes), 1 done at once (only with `now`:
 * no callback, the caller finishes the write itself), -1 failed. */
static int write_down(gw_conn_t *c, const uv_buf_t *b, unsigned nb, int kind, bool now)
{
	size_t n = 0;
	int rc;
	c->down_kind = kind;
	c->writing_down = true;
	rc = now ? net_sock_write_now(&c->sock, b, nb, on_client_write)
	         : net_sock_write(&c->sock, b, nb, on_client_write);
	if (rc < 0) {
		c->writing_down = false;
		return -1;
	}
	for (unsigned i = 0; i < nb; i++)
		n += b[i].len;
	c->bytes_out += n;
	if (rc == 1) {
		c->writing_down = false;
		return 1;
	}
	client_timer(c, C_SEND, cfg_of(c)->timeouts.client_send);
	return 0;
}

/* What on_response_head left to do. */
typedef enum {
	HEAD_FINAL, /* a final head is built and waits in resp_head, for the caller to write with
	             * the body bytes that came with it (one write, usually one packet for a small
	             * object) */
	HEAD_WAIT,  /* the attempt failed, or an interim (1xx) head is being written on its own */
	HEAD_SKIP,  /* an interim head was dropped (an HTTP/1.0 client): parse on */
} head_next_t;

/* Interim responses relayed per request at most; more is a node gone wrong. */
#define MAX_INTERIM 16

static head_next_t on_response_head(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	const char *msg = up->rb.data + up->rb.start;
	int status = net_http_status(&up->resp);
	bool interim = status >= 100 && status < 200;
	gw_head_conn_t hc = GW_HEAD_CONN_NONE;
	const char *why;

	if (!gw_head_check_response(&up->resp, &why)) {
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, why);
		return HEAD_WAIT;
	}
	if (status == 101) {
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent 101 Switching Protocols");
		return HEAD_WAIT;
	}
	if (interim) {
		if (++c->interims > MAX_INTERIM) {
			attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent too many 1xx responses");
			return HEAD_WAIT;
		}
		if (net_http_minor(&c->req) == 0) {
			/* HTTP/1.0 has no interim responses (RFC 9110 15.2) */
			up->rb.start = up->rb.parsed;
			return HEAD_SKIP;
		}
	} else {
		c->status = status;
		if (status >= 500) {
			char why5[32];
			snprintf(why5, sizeof(why5), "status %d", status);
			c->node->stats->responses_5xx++;
			c->reporting = true;
			gw_node_report(c->node, false, why5);
			c->reporting = false;
		} else {
			gw_node_report(c->node, true, NULL);
		}
		if (!c->client_keep_alive || c->client_eof || c->srv->stopping || c->rt->retired ||
		    net_http_needs_eof(&up->resp) || !c->req_done)
			c->close_after = true;
		if (c->close_after)
			hc = GW_HEAD_CONN_CLOSE;
		else if (net_http_minor(&c->req) == 0)
			hc = GW_HEAD_CONN_KEEP_ALIVE;
	}
	free(c->resp_head);
	gw_head_response(&up->resp, msg, hc, &c->resp_head, &c->resp_head_len);
	up->rb.start = up->rb.parsed; /* the node's head bytes are replaced by resp_head */
	c->resp_started = true;
	if (!interim)
		return HEAD_FINAL;
	uv_buf_t b = uv_buf_init(c->resp_head, (unsigned)c->resp_head_len);
	if (write_down(c, &b, 1, DOWN_HEAD, false) < 0)
		conn_close(c, true);
	else
		proxy_timers(c, 0);
	return HEAD_WAIT;
}

static void finish_response(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	bool reusable = c->req_sent && net_http_keep_alive(&up->resp) &&
	                !net_http_needs_eof(&up->resp) && up->rb.len == up->rb.parsed;
	int status = net_http_status(&up->resp);
	up->bodyless = c->is_head || status == 204 || status == 304;
	if (!c->req_done)
		c->close_after = true;
	release_upstream(c, reusable);
	end_request(c);
}

static void pump_response(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	net_rbuf_t *rb;
	bool head_pending = false; /* a final head waits to go out with the body at hand */

	while (up && c->state == CS_PROXY && !c->writing_down) {
		size_t used;
		net_http_result_t r;
		rb = &up->rb;
		/* with the head done, zero bytes still let the parser end a body-less message */
		if ((rb->parsed < rb->len || up->resp.head_done) && !c->resp_done) {
			r = net_http_execute(&up->resp, rb->data + rb->parsed, rb->len - rb->parsed,
			                     rb->parsed - rb->start, &used);
			rb->parsed += used;
			switch (r) {
			case NET_HTTP_MORE:
				if (!up->resp.head_done && rb->len == rb->cap && rb->start == 0) {
					attempt_failed(c, GW_ERR_BAD_GATEWAY, true,
					               "sent a response head over the buffer size");
					return;
				}
				break;
			case NET_HTTP_HEAD:
				switch (on_response_head(c)) {
				case HEAD_FINAL:
					head_pending = true;
					continue; /* the body bytes at hand go with the head */
				case HEAD_SKIP:
					continue;
				case HEAD_WAIT:
					return; /* failed, or an interim head: on when it is written
					         */
				}
				return;
			case NET_HTTP_DONE:
				if (c->status == 0) {
					/* an interim (1xx) response ended: a final one follows */
					bool skip = up->resp.skip_body;
					net_http_next(&up->resp);
					up->resp.skip_body = skip;
				} else {
					c->resp_done = true;
				}
				continue;
			case NET_HTTP_ERROR:
				attempt_failed(c, GW_ERR_BAD_GATEWAY, true,
				               up->resp.why ? up->resp.why : "invalid response");
				return;
			}
		}
		uv_buf_t b[2];
		unsigned nb = 0;
		int kind = 0;
		if (head_pending) {
			b[nb++] = uv_buf_init(c->resp_head, (unsigned)c->resp_head_len);
			kind |= DOWN_HEAD;
			head_pending = false;
		}
		if (net_rbuf_take(rb, &b[nb])) {
			nb++;
			kind |= DOWN_BODY;
		}
		if (nb) {
			int rc = write_down(c, b, nb, kind, true);
			if (rc < 0) {
				if (kind & DOWN_BODY)
					net_rbuf_abandon(rb);
				conn_close(c, true);
				return;
			}
			if (rc == 0) {
				proxy_timers(c, 0);
				return; /* on when on_client_write comes */
			}
			/* Written at once: the buffer is free again, the node's socket reads on. */
			if (kind & DOWN_HEAD) {
				free(c->resp_head);
				c->resp_head = NULL;
			}
			if (kind & DOWN_BODY)
				net_rbuf_release(rb);
			proxy_timers(c, PROG_CLIENT);
			if (!c->resp_done &&
			    net_sock_read_start(&up->sock, on_up_alloc, on_up_read) < 0) {
				conn_close(c, true);
				return;
			}
			continue;
		}
		if (c->resp_done) {
			if (c->req_done && !c->req_sent) {
				proxy_timers(c, 0);
				return; /* the rest of the request body goes out first */
			}
			finish_response(c);
			return;
		}
		proxy_timers(c, 0);
		return; /* needs more bytes from the node */
	}
}

static void on_up_alloc(net_sock_t *s, uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	net_rbuf_space(&up->rb, buf);
}

static void on_up_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	gw_conn_t *c = up->conn;
	(void)buf;
	if (!c || c->up != up)
		return;
	if (nread < 0) {
		net_http_result_t r = NET_HTTP_ERROR;
		if (nread == UV_EOF && up->resp.head_done && !c->writing_down)
			pump_response(c); /* relay what is buffered before deciding */
		if (c->state != CS_PROXY || c->up != up)
			return;
		if (nread == UV_EOF)
			r = net_http_finish(&up->resp);
		if (r == NET_HTTP_DONE) {
			c->resp_done = true;
			if (!c->writing_down)
				pump_response(c);
			return;
		}
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true,
		               nread == UV_EOF ? (up->resp.why ? up->resp.why : "closed")
		                               : uv_strerror((int)nread));
		return;
	}
	up->rb.len += (size_t)nread;
	proxy_timers(c, PROG_NODE);
	pump_response(c);
}

static void on_client_write(net_sock_t *s, int status)
{
	gw_conn_t *c = s->data;
	int kind = c->down_kind;
	c->writing_down = false;
	if (c->state == CS_CLOSING)
		return;
	if (status < 0) {
		LB_INFO("client write failed: %s, client: %s, request_id: %s", uv_strerror(status),
		        c->client_ip, c->reqid);
		if (c->status == 0)
			c->status = 499;
		access_log(c);
		conn_close(c, true);
		return;
	}
	if (kind & DOWN_ERR) {
		free(c->err_buf);
		c->err_buf = NULL;
		end_request(c);
		return;
	}
	if (kind & DOWN_HEAD) {
		free(c->resp_head);
		c->resp_head = NULL;
	}
	if (kind & DOWN_BODY)
		net_rbuf_release(&c->up->rb);
	proxy_timers(c, PROG_CLIENT);
	if (c->up && !c->resp_done)
		net_sock_read_start(&c->up->sock, on_up_alloc, on_up_read);
	pump_response(c);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_up_timer(uv_timer_t *t)
{
	gw_upstream_t *up = t->data;
	gw_conn_t *c = up->conn;
	const char *what;
	if (!c || c->up != up)
		return;
	what = up->timer_kind == U_SEND   ? "write timeout"
	       : up->timer_kind == U_HEAD ? "response head timeout"
	                                  : "read timeout";
	up->timer_kind = U_NONE;
	c->node->stats->errors++;
	if (c->resp_started) {
		LB_WARN("upstream %s mid-response, node: %s, request_id: %s", what,
		        c->node->conf->name, c->reqid);
		c->reporting = true;
		gw_node_report(c->node, false, what);
		c->reporting = false;
		if (c->state != CS_PROXY)
			return;
		access_log(c);
		conn_close(c, true);
		return;
	}
	attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, true, what);
}

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
			release_upstream(c, false);
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
		LB_INFO("client %s timeout, client: %s, request_id: %s",
		        kind == C_BODY ? "body" : "send", c->client_ip, c->reqid);
		if (!c->status)
			c->status = 499;
		access_log(c);
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

static void send_error(gw_conn_t *c, gw_err_t err, bool close)
{
	char resource[1100];
	if (c->state == CS_CLOSING)
		return;
	if (c->resp_started) {
		access_log(c);
		conn_close(c, true);
		return;
	}
	release_upstream(c, false);
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
	c->state = CS_ERROR;
	net_sock_read_stop(&c->sock);
	uv_buf_t eb = uv_buf_init(c->err_buf, (unsigned)c->err_len);
	if (write_down(c, &eb, 1, DOWN_ERR, false) < 0)
		conn_close(c, true);
}

/*
 * After an error answered while the client may still be sending (a head over the limit, a body
 * we refuse): closing at once would leave its bytes unread, and the kernel answers unread bytes
 * with a reset that can destroy our response before the client has read it. So: close our side
 * (the client sees the end of the response), read and drop what still comes for LINGER_MS and
 * LINGER_BYTES at most, then close (nginx's lingering close).
 */
static void linger_start(gw_conn_t *c)
{
	c->state = CS_LINGER;
	c->linger_bytes = 0;
	if (net_sock_shutdown(&c->sock) < 0) {
		conn_close(c, false);
		return;
	}
	client_timer(c, C_LINGER, LINGER_MS);
	client_read_start(c);
}

static void end_request(gw_conn_t *c)
{
	access_log(c);
	release_upstream(c, false);
	if (c->inflight) {
		c->pool->inflight--;
		c->inflight = false;
	}
	if (c->close_after || c->srv->stopping || c->rt->retired) {
		if (c->linger && !c->client_eof)
			linger_start(c);
		else
			conn_close(c, false);
		return;
	}
	free(c->head);
	free(c->host);
	free(c->tried);
	c->head = c->host = NULL;
	c->tried = NULL;
	memset(&c->s3, 0, sizeof(c->s3));
	c->pool = NULL;
	c->method = NULL;
	c->node_name = NULL;
	c->attempts = 0;
	c->interims = 0;
	c->failover = false;
	c->req_has_body = c->body_released = c->req_done = c->req_sent = c->head_sent = false;
	c->resp_started = c->resp_done = c->is_head = c->linger = false;
	c->status = 0;
	c->bytes_in = c->bytes_out = 0;
	c->t_start = 0;
	c->body_t0 = c->body_rx = 0;
	c->state = CS_HEAD;
	if (c->req.msg_done || !c->req.head_done)
		net_http_next(&c->req);
	/* unparsed bytes are the next pipelined request(s) */
	c->rb.start = c->rb.parsed;
	net_rbuf_drop(&c->rb); /* an idle keep-alive connection holds no buffer */
	net_rbuf_compact(&c->rb);
	client_timer(c, C_IDLE, cfg_of(c)->timeouts.client_idle);
	if (c->rb.len > c->rb.start)
		process_head(c);
	client_read_start(c);
}

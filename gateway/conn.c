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
#include "gateway/access_log.h"
#include "gateway/proxy.h"
#include "gateway/router.h"

enum { CS_HEAD, CS_CONNECT, CS_PROXY, CS_ERROR, CS_CLOSING };
enum { DOWN_HEAD = 1, DOWN_BODY = 2, DOWN_ERR = 4 }; /* what a client write carries */

static void process_head(gw_conn_t *c);
static void pump_request(gw_conn_t *c);
static void pump_response(gw_conn_t *c);
static void start_attempt(gw_conn_t *c);
static void send_error(gw_conn_t *c, gw_err_t err, bool close);
static void conn_close(gw_conn_t *c, bool abort);
static void end_request(gw_conn_t *c);
static void client_read_start(gw_conn_t *c);

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

static void client_timer(gw_conn_t *c, uint64_t ms)
{
	if (c->state == CS_CLOSING)
		return;
	if (ms)
		uv_timer_start(&c->timer, on_client_timer, ms, 0);
	else
		uv_timer_stop(&c->timer);
}

/* The client-side timeout that applies now: sending, reading a body, or none. */
static void client_timer_proxy(gw_conn_t *c)
{
	const lb_timeouts_t *to = &cfg_of(c)->timeouts;
	if (c->writing_down)
		client_timer(c, to->client_send);
	else if (!c->req_done)
		client_timer(c, to->client_body);
	else
		client_timer(c, 0);
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
	gw_http_free(&c->req);
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

static void on_sock_closed(gw_sock_t *s)
{
	gw_conn_t *c = s->data;
	if (--c->pending == 0)
		conn_free(c);
}

static void release_upstream(gw_conn_t *c, bool reusable)
{
	gw_node_t *node = c->node;
	if (c->rb.writing && c->up)
		gw_rbuf_abandon(&c->rb); /* its bytes stay unreleased, for a retry */
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
	gw_sock_close(&c->sock, on_sock_closed);
}

void gw_conn_force_close(gw_conn_t *c)
{
	if (c->state != CS_HEAD || c->rb.len > c->rb.start) {
		if (!c->status)
			c->status = 499;
		if (c->method)
			gw_access_log(c);
	}
	conn_close(c, true);
}

void gw_conn_shutdown(gw_conn_t *c)
{
	c->close_after = true;
	if (c->state == CS_HEAD && c->rb.len == c->rb.start)
		conn_close(c, false);
}

/* ---- accept ----------------------------------------------------------------------------- */

static void on_client_alloc(gw_sock_t *s, uv_buf_t *buf)
{
	gw_conn_t *c = s->data;
	if (c->state == CS_ERROR || c->state == CS_CLOSING) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	gw_rbuf_space(&c->rb, buf);
}

static void on_client_read(gw_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_conn_t *c = s->data;
	(void)buf;
	if (c->state == CS_CLOSING)
		return;
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
		process_head(c);
		break;
	case CS_PROXY:
		if (!c->req_done) {
			client_timer_proxy(c);
			pump_request(c);
		}
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
	gw_http_init(&c->req, HTTP_REQUEST, cfg->limits.max_headers, cfg->limits.max_header_size);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	c->state = CS_HEAD;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->pending = 2;
	rc = gw_sock_accept((uv_stream_t *)&l->tcp, &c->sock, c->fe->tls);
	c->sock.data = c;
	c->sock.q = &srv->sockq;
	if (rc < 0) {
		LB_WARN("accept failed: %s", uv_strerror(rc));
		conn_close(c, false);
		return;
	}
	gw_sock_peer(&c->sock, c->client_ip, sizeof(c->client_ip));
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
	client_timer(c, cfg->timeouts.client_idle);
	client_read_start(c);
}

static void client_read_start(gw_conn_t *c)
{
	if (c->state == CS_CLOSING || c->state == CS_ERROR)
		return;
	if (gw_sock_read_start(&c->sock, on_client_alloc, on_client_read) < 0)
		conn_close(c, false);
}

/* ---- request head ----------------------------------------------------------------------- */

static bool hop_by_hop(const gw_http_t *h, const char *msg, uint32_t i, const char *conn_tokens)
{
	static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te",
	                                  "upgrade"};
	const gw_hdr_t *hd = &h->hdrs[i];
	for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
		if (gw_http_name_is(h, msg, i, hop[k]))
			return true;
	/* headers named in Connection are hop-by-hop too (RFC 9110 7.6.1) */
	for (const char *t = conn_tokens; t && *t;) {
		size_t n;
		while (*t == ' ' || *t == ',' || *t == '\t')
			t++;
		n = strcspn(t, " ,\t");
		if (n && n == hd->name_len && strncasecmp(t, msg + hd->name_off, n) == 0)
			return true;
		t += n;
	}
	return false;
}

/* Joins every Connection header value into one lowercase-insensitive token list. */
static char *connection_tokens(const gw_http_t *h, const char *msg)
{
	size_t total = 0, p = 0;
	char *out;
	for (int i = gw_http_find(h, msg, "connection", 0); i >= 0;
	     i = gw_http_find(h, msg, "connection", (uint32_t)i + 1))
		total += h->hdrs[i].value_len + 1;
	if (!total)
		return NULL;
	out = malloc(total + 1);
	if (!out)
		abort();
	for (int i = gw_http_find(h, msg, "connection", 0); i >= 0;
	     i = gw_http_find(h, msg, "connection", (uint32_t)i + 1)) {
		memcpy(out + p, msg + h->hdrs[i].value_off, h->hdrs[i].value_len);
		p += h->hdrs[i].value_len;
		out[p++] = ',';
	}
	out[p] = 0;
	return out;
}

static void put(char *dst, size_t *p, const void *src, size_t n)
{
	memcpy(dst + *p, src, n);
	*p += n;
}

/*
 * The head sent to nodes: the client's request line and headers byte for byte, minus hop-by-hop
 * headers, plus X-Forwarded-For / X-Real-IP as configured. `path` replaces an absolute-form
 * target (NULL: keep the original line). Sets c->head and the s3 model pointing into it.
 */
static int build_request_head(gw_conn_t *c, const char *msg, const char *path, size_t path_len)
{
	const gw_http_t *h = &c->req;
	const lb_frontend_conf_t *fe = c->fe->conf;
	char *tokens = connection_tokens(h, msg);
	size_t cap = c->req.head_len + path_len + 2 * sizeof(c->client_ip) + 64, p = 0;
	const char *line_end =
	    memchr(msg + h->url_off + h->url_len, '\n', c->req.head_len - h->url_off - h->url_len);
	size_t target_off;
	char *out = malloc(cap);

	if (!out)
		abort();
	if (!line_end) {
		free(out);
		free(tokens);
		return -1;
	}
	/* request line */
	put(out, &p, msg, h->method_len);
	out[p++] = ' ';
	target_off = p;
	if (path)
		put(out, &p, path, path_len);
	else
		put(out, &p, msg + h->url_off, h->url_len);
	put(out, &p, msg + h->url_off + h->url_len,
	    (size_t)(line_end + 1 - (msg + h->url_off + h->url_len)));
	for (uint32_t i = 0; i < h->nhdrs; i++) {
		const gw_hdr_t *hd = &h->hdrs[i];
		if (hop_by_hop(h, msg, i, tokens))
			continue;
		if (fe->x_real_ip && gw_http_name_is(h, msg, i, "x-real-ip"))
			continue; /* ours replaces a client-supplied one */
		put(out, &p, msg + hd->name_off, hd->line_end - hd->name_off);
		put(out, &p, "\r\n", 2);
	}
	if (fe->x_forwarded_for)
		p += (size_t)snprintf(out + p, cap - p, "X-Forwarded-For: %s\r\n", c->client_ip);
	if (fe->x_real_ip)
		p += (size_t)snprintf(out + p, cap - p, "X-Real-IP: %s\r\n", c->client_ip);
	put(out, &p, "\r\n", 2);
	free(tokens);
	c->head = out;
	c->head_len = p;
	return gw_s3req_parse(&c->s3, out, h->method_len, out + target_off,
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
	const gw_http_t *h = &c->req;
	const lb_frontend_conf_t *fe = c->fe->conf;
	const char *path = NULL;
	size_t path_len = 0;
	int hi, ri;

	c->method = gw_http_method(h);
	c->is_head = strcmp(c->method, "HEAD") == 0;
	c->req_has_body = gw_http_has_body(h);
	c->client_keep_alive = gw_http_keep_alive(h);
	c->bytes_in = h->head_len;
	make_request_id(c);
	client_timer(c, 0);

	if (!strcmp(c->method, "CONNECT")) {
		LB_INFO("rejected CONNECT, client: %s", c->client_ip);
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
	hi = gw_http_find(h, msg, "host", 0);
	if (hi < 0 || gw_http_find(h, msg, "host", (uint32_t)hi + 1) >= 0) {
		LB_INFO("rejected request with %s Host header, client: %s",
		        hi < 0 ? "no" : "more than one", c->client_ip);
		send_error(c, GW_ERR_INVALID_REQUEST, true);
		return;
	}
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
	gw_rbuf_t *rb = &c->rb;
	while (c->state == CS_HEAD) {
		size_t used;
		gw_http_result_t r;
		if (rb->parsed == rb->len) {
			if (rb->len > rb->start && !c->t_start) {
				/* first byte of a new request: the header clock starts */
				c->t_start = uv_hrtime();
				client_timer(c, cfg_of(c)->timeouts.client_header);
			}
			return;
		}
		if (!c->t_start) {
			c->t_start = uv_hrtime();
			client_timer(c, cfg_of(c)->timeouts.client_header);
		}
		r = gw_http_execute(&c->req, rb->data + rb->parsed, rb->len - rb->parsed,
		                    rb->parsed - rb->start, &used);
		rb->parsed += used;
		switch (r) {
		case GW_HTTP_MORE:
			break;
		case GW_HTTP_DONE:
			/* the end of the previous body-less request, seen only now */
			rb->start = rb->parsed;
			gw_http_next(&c->req);
			break;
		case GW_HTTP_HEAD:
			on_request_head(c);
			return;
		case GW_HTTP_ERROR:
			make_request_id(c);
			LB_INFO("bad request from %s: %s, request_id: %s", c->client_ip,
			        c->req.why ? c->req.why : "invalid", c->reqid);
			send_error(c, c->req.err, true);
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
		gw_access_log(c);
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

static void on_up_timer(uv_timer_t *t);
static void on_up_alloc(gw_sock_t *s, uv_buf_t *buf);
static void on_up_read(gw_sock_t *s, ssize_t nread, const uv_buf_t *buf);

static void up_timer(gw_upstream_t *up, uint64_t ms)
{
	uv_timer_start(&up->timer, on_up_timer, ms, 0);
}

static void on_up_write(gw_sock_t *s, int status)
{
	gw_upstream_t *up = s->data;
	gw_conn_t *c = up->conn;
	const lb_timeouts_t *to;
	if (!c || c->up != up)
		return; /* the attempt was abandoned meanwhile */
	to = &cfg_of(c)->timeouts;
	if (status < 0) {
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, uv_strerror(status));
		return;
	}
	if (!c->head_sent) {
		c->head_sent = true;
	} else {
		c->bytes_in += gw_rbuf_release(&c->rb);
		c->body_released = true;
	}
	if (!c->resp_started)
		up_timer(up, to->upstream_read);
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
	up->resp.skip_body = c->is_head;
	up->sock.data = up;
	if (gw_sock_read_start(&up->sock, on_up_alloc, on_up_read) < 0 ||
	    (rc = gw_sock_write(&up->sock, &b, 1, on_up_write)) < 0) {
		attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, false, "write failed");
		return;
	}
	up_timer(up, cfg_of(c)->timeouts.upstream_read);
	client_timer_proxy(c);
}

static void pump_request(gw_conn_t *c)
{
	gw_rbuf_t *rb = &c->rb;
	gw_upstream_t *up = c->up;
	uv_buf_t b;

	if (c->state != CS_PROXY || !c->head_sent || !up)
		return;
again:
	if (!c->req_done) {
		size_t used;
		gw_http_result_t r =
		    gw_http_execute(&c->req, rb->data + rb->parsed, rb->len - rb->parsed, 0, &used);
		rb->parsed += used;
		if (r == GW_HTTP_DONE) {
			c->req_done = true;
			client_timer_proxy(c);
		} else if (r == GW_HTTP_ERROR || r == GW_HTTP_HEAD) {
			LB_INFO("bad request body from %s: %s, request_id: %s", c->client_ip,
			        c->req.why ? c->req.why : "invalid", c->reqid);
			release_upstream(c, false);
			send_error(c, GW_ERR_INVALID_REQUEST, true);
			return;
		}
	}
	if (rb->writing || up->sock.writing)
		return;
	if (gw_rbuf_take(rb, &b)) {
		int rc = gw_sock_write_now(&up->sock, &b, 1, on_up_write);
		if (rc < 0) {
			gw_rbuf_abandon(rb);
			attempt_failed(c, GW_ERR_SERVICE_UNAVAILABLE, true, "write failed");
			return;
		}
		if (rc == 0)
			return; /* on in on_up_write */
		/* Written at once: released, and the client's socket reads on. */
		c->bytes_in += gw_rbuf_release(rb);
		c->body_released = true;
		if (!c->resp_started)
			up_timer(up, cfg_of(c)->timeouts.upstream_read);
		client_read_start(c);
		if (c->state != CS_PROXY || c->up != up)
			return;
		goto again;
	}
	if (c->req_done && !c->req_sent) {
		c->req_sent = true;
		if (!c->resp_started)
			up_timer(up, cfg_of(c)->timeouts.upstream_header);
		if (c->resp_done)
			pump_response(c); /* the node answered before the body ended */
	}
}

/* ---- relaying the response -------------------------------------------------------------- */

static void on_client_write(gw_sock_t *s, int status);

/* Writes to the client: 0 in flight (on_client_write comes), 1 done at once (only with `now`:
 * no callback, the caller finishes the write itself), -1 failed. */
static int write_down(gw_conn_t *c, const uv_buf_t *b, unsigned nb, int kind, bool now)
{
	size_t n = 0;
	int rc;
	c->down_kind = kind;
	c->writing_down = true;
	rc = now ? gw_sock_write_now(&c->sock, b, nb, on_client_write)
	         : gw_sock_write(&c->sock, b, nb, on_client_write);
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
	client_timer(c, cfg_of(c)->timeouts.client_send);
	return 0;
}

static void build_response_head(gw_conn_t *c, const char *msg, bool interim)
{
	const gw_http_t *h = &c->up->resp;
	char *tokens = connection_tokens(h, msg);
	size_t cap = h->head_len + 64, p = 0;
	const char *line_end = memchr(msg, '\n', h->head_len);
	char *out = malloc(cap);
	if (!out || !line_end)
		abort(); /* llhttp accepted the head: it has a status line */
	put(out, &p, msg, (size_t)(line_end + 1 - msg));
	for (uint32_t i = 0; i < h->nhdrs; i++) {
		if (hop_by_hop(h, msg, i, tokens))
			continue;
		put(out, &p, msg + h->hdrs[i].name_off, h->hdrs[i].line_end - h->hdrs[i].name_off);
		put(out, &p, "\r\n", 2);
	}
	if (!interim) {
		if (c->close_after)
			put(out, &p, "Connection: close\r\n", 19);
		else if (gw_http_minor(&c->req) == 0)
			put(out, &p, "Connection: keep-alive\r\n", 24);
	}
	put(out, &p, "\r\n", 2);
	free(tokens);
	free(c->resp_head);
	c->resp_head = out;
	c->resp_head_len = p;
}

/* A response head was parsed. True: a final head is built and waits in resp_head, for the caller
 * to write with the body bytes that came with it (one write, usually one packet for a small
 * object). False: the attempt failed, or an interim (1xx) head was written on its own. */
static bool on_response_head(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	const char *msg = up->rb.data + up->rb.start;
	int status = gw_http_status(&up->resp);
	bool interim = status >= 100 && status < 200;

	if (status == 101) {
		attempt_failed(c, GW_ERR_BAD_GATEWAY, true, "sent 101 Switching Protocols");
		return false;
	}
	if (!interim) {
		c->status = status;
		if (status >= 500) {
			char why[32];
			snprintf(why, sizeof(why), "status %d", status);
			c->node->stats->responses_5xx++;
			c->reporting = true;
			gw_node_report(c->node, false, why);
			c->reporting = false;
		} else {
			gw_node_report(c->node, true, NULL);
		}
		if (!c->client_keep_alive || c->client_eof || c->srv->stopping || c->rt->retired ||
		    gw_http_needs_eof(&up->resp) || !c->req_done)
			c->close_after = true;
	}
	build_response_head(c, msg, interim);
	up->rb.start = up->rb.parsed; /* the node's head bytes are replaced by resp_head */
	c->resp_started = true;
	up_timer(up, cfg_of(c)->timeouts.upstream_read);
	if (!interim)
		return true;
	uv_buf_t b = uv_buf_init(c->resp_head, (unsigned)c->resp_head_len);
	if (write_down(c, &b, 1, DOWN_HEAD, false) < 0)
		conn_close(c, true);
	return false;
}

static void finish_response(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	bool reusable = c->req_sent && gw_http_keep_alive(&up->resp) &&
	                !gw_http_needs_eof(&up->resp) && up->rb.len == up->rb.parsed;
	if (!c->req_done)
		c->close_after = true;
	release_upstream(c, reusable);
	end_request(c);
}

static void pump_response(gw_conn_t *c)
{
	gw_upstream_t *up = c->up;
	gw_rbuf_t *rb;
	bool head_pending = false; /* a final head waits to go out with the body at hand */

	while (up && c->state == CS_PROXY && !c->writing_down) {
		size_t used;
		gw_http_result_t r;
		rb = &up->rb;
		/* with the head done, zero bytes still let the parser end a body-less message */
		if ((rb->parsed < rb->len || up->resp.head_done) && !c->resp_done) {
			r = gw_http_execute(&up->resp, rb->data + rb->parsed, rb->len - rb->parsed,
			                    rb->parsed - rb->start, &used);
			rb->parsed += used;
			switch (r) {
			case GW_HTTP_MORE:
				if (!up->resp.head_done && rb->len == rb->cap && rb->start == 0) {
					attempt_failed(c, GW_ERR_BAD_GATEWAY, true,
					               "sent a response head over the buffer size");
					return;
				}
				break;
			case GW_HTTP_HEAD:
				if (!(head_pending = on_response_head(c)))
					return; /* failed, or an interim head: on when it is written
					         */
				continue;       /* the body bytes at hand go with the head */
			case GW_HTTP_DONE:
				if (c->status == 0) {
					/* an interim (1xx) response ended: a final one follows */
					bool skip = up->resp.skip_body;
					gw_http_next(&up->resp);
					up->resp.skip_body = skip;
				} else {
					c->resp_done = true;
				}
				continue;
			case GW_HTTP_ERROR:
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
		if (gw_rbuf_take(rb, &b[nb])) {
			nb++;
			kind |= DOWN_BODY;
		}
		if (nb) {
			int rc = write_down(c, b, nb, kind, true);
			if (rc < 0) {
				if (kind & DOWN_BODY)
					gw_rbuf_abandon(rb);
				conn_close(c, true);
				return;
			}
			if (rc == 0)
				return; /* on when on_client_write comes */
			/* Written at once: the buffer is free again, the node's socket reads on. */
			if (kind & DOWN_HEAD) {
				free(c->resp_head);
				c->resp_head = NULL;
			}
			if (kind & DOWN_BODY)
				gw_rbuf_release(rb);
			client_timer_proxy(c);
			if (!c->resp_done &&
			    gw_sock_read_start(&up->sock, on_up_alloc, on_up_read) < 0) {
				conn_close(c, true);
				return;
			}
			continue;
		}
		if (c->resp_done) {
			if (c->req_done && !c->req_sent)
				return; /* the rest of the request body goes out first */
			finish_response(c);
			return;
		}
		return; /* needs more bytes from the node */
	}
}

static void on_up_alloc(gw_sock_t *s, uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	gw_rbuf_space(&up->rb, buf);
}

static void on_up_read(gw_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	gw_conn_t *c = up->conn;
	(void)buf;
	if (!c || c->up != up)
		return;
	if (nread < 0) {
		gw_http_result_t r = GW_HTTP_ERROR;
		if (nread == UV_EOF && up->resp.head_done && !c->writing_down)
			pump_response(c); /* relay what is buffered before deciding */
		if (c->state != CS_PROXY || c->up != up)
			return;
		if (nread == UV_EOF)
			r = gw_http_finish(&up->resp);
		if (r == GW_HTTP_DONE) {
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
	if (c->resp_started || up->resp.head_done)
		up_timer(up, cfg_of(c)->timeouts.upstream_read);
	pump_response(c);
}

static void on_client_write(gw_sock_t *s, int status)
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
		gw_access_log(c);
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
		gw_rbuf_release(&c->up->rb);
	client_timer_proxy(c);
	if (c->up && !c->resp_done)
		gw_sock_read_start(&c->up->sock, on_up_alloc, on_up_read);
	pump_response(c);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_up_timer(uv_timer_t *t)
{
	gw_upstream_t *up = t->data;
	gw_conn_t *c = up->conn;
	if (!c || c->up != up)
		return;
	if (c->resp_started) {
		LB_WARN("upstream read timeout mid-response, node: %s, request_id: %s",
		        c->node->conf->name, c->reqid);
		c->node->stats->errors++;
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	c->node->stats->errors++;
	attempt_failed(c, GW_ERR_GATEWAY_TIMEOUT, true,
	               c->req_sent ? "response head timeout" : "write timeout");
}

static void on_client_timer(uv_timer_t *t)
{
	gw_conn_t *c = t->data;
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
	case CS_CONNECT:
	case CS_PROXY:
		if (!c->writing_down && !c->req_done && !c->resp_started) {
			LB_INFO("request body timeout, client: %s, request_id: %s", c->client_ip,
			        c->reqid);
			release_upstream(c, false);
			send_error(c, GW_ERR_REQUEST_TIMEOUT, true);
			return;
		}
		LB_INFO("client send timeout, client: %s, request_id: %s", c->client_ip, c->reqid);
		if (!c->status)
			c->status = 499;
		gw_access_log(c);
		conn_close(c, true);
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
		gw_access_log(c);
		conn_close(c, true);
		return;
	}
	release_upstream(c, false);
	if (close || !c->client_keep_alive || (c->req_has_body && !c->req_done) ||
	    c->srv->stopping || c->client_eof)
		c->close_after = true;
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
	gw_sock_read_stop(&c->sock);
	uv_buf_t eb = uv_buf_init(c->err_buf, (unsigned)c->err_len);
	if (write_down(c, &eb, 1, DOWN_ERR, false) < 0)
		conn_close(c, true);
}

static void end_request(gw_conn_t *c)
{
	gw_access_log(c);
	release_upstream(c, false);
	if (c->inflight) {
		c->pool->inflight--;
		c->inflight = false;
	}
	if (c->close_after || c->srv->stopping || c->rt->retired) {
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
	c->failover = false;
	c->req_has_body = c->body_released = c->req_done = c->req_sent = c->head_sent = false;
	c->resp_started = c->resp_done = c->is_head = false;
	c->status = 0;
	c->bytes_in = c->bytes_out = 0;
	c->t_start = 0;
	c->state = CS_HEAD;
	if (c->req.msg_done || !c->req.head_done)
		gw_http_next(&c->req);
	/* unparsed bytes are the next pipelined request(s) */
	c->rb.start = c->rb.parsed;
	gw_rbuf_drop(&c->rb); /* an idle keep-alive connection holds no buffer */
	gw_rbuf_compact(&c->rb);
	client_timer(c, cfg_of(c)->timeouts.client_idle);
	if (c->rb.len > c->rb.start)
		process_head(c);
	client_read_start(c);
}

/*
 * The gateway's client connections and node pool in-process (gateway/conn.c, upstream.c,
 * server.c over net/client): a gw_server_t on one loop with scripted nodes and clients on the
 * same loop.
 *
 * The invariant: for every request the gateway accepts, the node receives exactly what the
 * client sent (method, target, version, header list minus the hop-by-hop fields, framing, body),
 * parsed by a separate strict llhttp parser on the node's side and compared with the same
 * parse of the client's bytes; for every request it refuses, the node never completes one. Each
 * case is sent whole and cut at every split point, with 16 clients interleaved on the loop and
 * node connections reused between them. Then: keep-alive reuse, failover to a live node, errors
 * as S3 XML, and a stop that leaves no handle behind (uv_loop_close() == 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <llhttp.h>

#include "core/log.h"
#include "gateway/proxy.h"
#include "net/rbuf.h"

#define MAXMSG 512

/* ---- a strict parse of one side's bytes into comparable messages ------------------------------
 */

typedef struct {
	char method[16], target[256];
	int major, minor, status;
	char headers[4096]; /* "name: value\n", value trimmed */
	size_t hlen;
	char body[4096];
	size_t blen;
	char trailers[512]; /* "name: value\n" of the trailer fields */
	size_t tlen;
	bool head_done;
	bool chunked;
	bool complete;
} msg_t;

typedef struct summary_s summary_t;
struct summary_s {
	llhttp_t p;
	llhttp_settings_t s;
	msg_t msgs[8];
	int n;
	char field[256], value[2048];
	size_t flen, vlen;
	bool in_value;
	unsigned head_mask; /* responses: bit i set when the i-th answers a HEAD */
	/* set: each complete message goes here (and the slot is reused) instead of msgs[n++] */
	void (*on_msg)(summary_t *m, msg_t *x);
	void *arg;
};

static msg_t *cur(summary_t *m)
{
	return &m->msgs[m->n];
}

static void flush_header(summary_t *m)
{
	msg_t *x = cur(m);
	while (m->vlen && (m->value[m->vlen - 1] == ' ' || m->value[m->vlen - 1] == '\t'))
		m->vlen--;
	if (m->flen && !x->head_done) {
		int k = snprintf(x->headers + x->hlen, sizeof(x->headers) - x->hlen, "%.*s: %.*s\n",
		                 (int)m->flen, m->field, (int)m->vlen, m->value);
		x->hlen += (size_t)k;
	} else if (m->flen) {
		int k = snprintf(x->trailers + x->tlen, sizeof(x->trailers) - x->tlen,
		                 "%.*s: %.*s\n", (int)m->flen, m->field, (int)m->vlen, m->value);
		x->tlen += (size_t)k;
	}
	m->flen = m->vlen = 0;
	m->in_value = false;
}

static summary_t *S(llhttp_t *p)
{
	return (summary_t *)p;
}

static int s_begin(llhttp_t *p)
{
	summary_t *m = S(p);
	memset(cur(m), 0, sizeof(msg_t));
	m->flen = m->vlen = 0;
	m->in_value = false;
	return 0;
}
static int s_method(llhttp_t *p, const char *at, size_t n)
{
	strncat(cur(S(p))->method, at, n);
	return 0;
}
static int s_url(llhttp_t *p, const char *at, size_t n)
{
	strncat(cur(S(p))->target, at, n);
	return 0;
}
static int s_field(llhttp_t *p, const char *at, size_t n)
{
	summary_t *m = S(p);
	if (m->in_value)
		flush_header(m);
	memcpy(m->field + m->flen, at, n);
	m->flen += n;
	return 0;
}
static int s_value(llhttp_t *p, const char *at, size_t n)
{
	summary_t *m = S(p);
	m->in_value = true;
	memcpy(m->value + m->vlen, at, n);
	m->vlen += n;
	return 0;
}
static int s_headers_done(llhttp_t *p)
{
	summary_t *m = S(p);
	msg_t *x = cur(m);
	if (m->in_value || m->flen)
		flush_header(m);
	x->major = p->http_major;
	x->minor = p->http_minor;
	x->status = p->status_code;
	x->chunked = (p->flags & F_CHUNKED) != 0;
	x->head_done = true;
	return p->type == HTTP_RESPONSE && m->n < 32 && (m->head_mask >> m->n & 1) ? 1 : 0;
}
static int s_body(llhttp_t *p, const char *at, size_t n)
{
	msg_t *x = cur(S(p));
	memcpy(x->body + x->blen, at, n);
	x->blen += n;
	return 0;
}
static int s_done(llhttp_t *p)
{
	summary_t *m = S(p);
	if (m->in_value || m->flen)
		flush_header(m); /* the last trailer field */
	cur(m)->complete = true;
	if (m->on_msg)
		m->on_msg(m, cur(m));
	else if (m->n < 7)
		m->n++;
	return 0;
}

static void summary_init(summary_t *m, llhttp_type_t type)
{
	memset(m, 0, sizeof(*m));
	llhttp_settings_init(&m->s);
	m->s.on_message_begin = s_begin;
	m->s.on_method = s_method;
	m->s.on_url = s_url;
	m->s.on_header_field = s_field;
	m->s.on_header_value = s_value;
	m->s.on_headers_complete = s_headers_done;
	m->s.on_body = s_body;
	m->s.on_message_complete = s_done;
	llhttp_init(&m->p, type, &m->s);
}

/* Drops the hop-by-hop fields (and those Connection names) from a client-side message, as the
 * gateway documents it does. */
static void drop_hop_by_hop(msg_t *x)
{
	char named[512] = "";
	char out[4096];
	size_t o = 0;
	for (char *l = x->headers; *l;) {
		char *e = strchr(l, '\n');
		if (!strncasecmp(l, "connection: ", 12)) {
			strncat(named, l + 12, (size_t)(e - l - 12));
			strcat(named, ",");
		}
		l = e + 1;
	}
	for (char *l = x->headers; *l;) {
		char *e = strchr(l, '\n'), *colon = strchr(l, ':');
		size_t nl = (size_t)(colon - l);
		bool hop = false;
		static const char *const fixed[] = {"connection", "keep-alive", "proxy-connection",
		                                    "te", "upgrade"};
		for (size_t k = 0; k < 5; k++)
			hop |= nl == strlen(fixed[k]) && !strncasecmp(l, fixed[k], nl);
		for (char *t = named; *t;) {
			size_t tl;
			while (*t == ' ' || *t == ',')
				t++;
			tl = strcspn(t, " ,");
			hop |= tl && tl == nl && !strncasecmp(t, l, nl);
			t += tl;
		}
		if (!hop) {
			memcpy(out + o, l, (size_t)(e - l + 1));
			o += (size_t)(e - l + 1);
		}
		l = e + 1;
	}
	out[o] = 0;
	memcpy(x->headers, out, o + 1);
	x->hlen = o;
}

/* ---- scripted nodes: record every request parsed, answer each ----------------------------------
 */

typedef struct node_s node_t;
typedef struct {
	uv_tcp_t tcp;
	node_t *node;
	summary_t sum;
	char buf[65536];
	bool closing;
} node_conn_t;

struct node_s {
	uv_tcp_t listener;
	int port;
	int conns;
	msg_t got[4096]; /* every complete request, in arrival order */
	int ngot;
	node_conn_t *open[256];
	int nopen;
};

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Node: 1\r\n\r\nok";
static const char ANSWER_HEAD[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Node: 1\r\n\r\n";

static void n_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	node_conn_t *nc = h->data;
	(void)n;
	*b = uv_buf_init(nc->buf, sizeof(nc->buf));
}

static void n_closed(uv_handle_t *h)
{
	node_conn_t *nc = h->data;
	node_t *n = nc->node;
	for (int i = 0; i < n->nopen; i++)
		if (n->open[i] == nc)
			n->open[i] = n->open[--n->nopen];
	free(nc);
}

static void n_close(node_conn_t *nc)
{
	if (!nc->closing) {
		nc->closing = true;
		uv_close((uv_handle_t *)&nc->tcp, n_closed);
	}
}

static void n_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

/* A complete request: kept, and answered. */
static void n_msg(summary_t *m, msg_t *x)
{
	node_conn_t *nc = m->arg;
	node_t *n = nc->node;
	bool head = !strcmp(x->method, "HEAD");
	uv_buf_t a = head ? uv_buf_init((char *)ANSWER_HEAD, sizeof(ANSWER_HEAD) - 1)
	                  : uv_buf_init((char *)ANSWER, sizeof(ANSWER) - 1);
	uv_write_t *w = malloc(sizeof(*w));
	assert_true(n->ngot < 4096);
	n->got[n->ngot++] = *x;
	assert_non_null(w);
	if (uv_write(w, (uv_stream_t *)&nc->tcp, &a, 1, n_written) < 0)
		free(w);
}

static void n_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	node_conn_t *nc = st->data;
	if (nread < 0 || llhttp_execute(&nc->sum.p, b->base, (size_t)nread) != HPE_OK)
		n_close(nc);
}

static void n_accept(uv_stream_t *l, int status)
{
	node_t *n = l->data;
	node_conn_t *nc = calloc(1, sizeof(*nc));
	assert_int_equal(status, 0);
	assert_non_null(nc);
	nc->node = n;
	summary_init(&nc->sum, HTTP_REQUEST);
	nc->sum.on_msg = n_msg;
	nc->sum.arg = nc;
	uv_tcp_init(l->loop, &nc->tcp);
	nc->tcp.data = nc;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&nc->tcp), 0);
	n->conns++;
	assert_true(n->nopen < 256);
	n->open[n->nopen++] = nc;
	uv_read_start((uv_stream_t *)&nc->tcp, n_alloc, n_read);
}

static int listen_any(uv_loop_t *loop, uv_tcp_t *t, void *data, uv_connection_cb cb)
{
	struct sockaddr_in a;
	int len = sizeof(a);
	uv_tcp_init(loop, t);
	t->data = data;
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(uv_tcp_bind(t, (const struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)t, 128, cb), 0);
	uv_tcp_getsockname(t, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

static void node_start(uv_loop_t *loop, node_t *n)
{
	memset(n, 0, sizeof(*n));
	n->port = listen_any(loop, &n->listener, n, n_accept);
}

static void node_stop(node_t *n)
{
	uv_close((uv_handle_t *)&n->listener, NULL);
	while (n->nopen)
		n_close(n->open[0]), n->open[0] = n->open[--n->nopen];
}

static int free_port(void)
{
	uv_loop_t l;
	uv_tcp_t t;
	int p;
	uv_loop_init(&l);
	p = listen_any(&l, &t, NULL, n_accept);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&l, UV_RUN_DEFAULT);
	uv_loop_close(&l);
	return p;
}

/* ---- the gateway under test --------------------------------------------------------------------
 */

typedef struct {
	uv_loop_t loop;
	gw_server_t srv;
	int port;
} gw_t;

static const char *gw_timeouts = "upstream_connect: 500ms"; /* of the next gw_start */

static void gw_start(gw_t *g, const char *pool_nodes, const char *extra)
{
	char yaml[4096], err[512];
	lb_config_t *cfg;
	g->port = free_port();
	snprintf(yaml, sizeof(yaml),
	         "admin: { listen: off }\n"
	         "log: { level: error, access: off }\n"
	         "limits: { max_header_size: 4KiB, buffer_size: 8KiB }\n"
	         "timeouts: { %s }\n"
	         "pools:\n"
	         "  - name: p\n"
	         "    balance: round-robin\n"
	         "    health: { kind: none, passive: { failures: 0 } }\n"
	         "%s"
	         "    nodes:\n%s"
	         "frontends:\n"
	         "  - name: s3\n"
	         "    listen: [127.0.0.1:%d]\n"
	         "    domains: [s3.local]\n"
	         "    x_forwarded_for: false\n"
	         "    routes:\n"
	         "      - { bucket: bkt, pool: p }\n",
	         gw_timeouts, extra, pool_nodes, g->port);
	if (lb_config_load_string("test.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	assert_int_equal(gw_server_init(&g->srv, &g->loop, cfg, err, sizeof(err)), 0);
}

static void show_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	print_error("open handle: %s%s\n", uv_handle_type_name(h->type),
	            uv_is_closing(h) ? " (closing)" : "");
}

static void gw_end(gw_t *g)
{
	/* the way SIGTERM stops it: listeners close, idle connections close, then the rest */
	uint64_t t0;
	uv_kill(getpid(), SIGTERM);
	uv_update_time(&g->loop);
	t0 = uv_now(&g->loop);
	while (uv_run(&g->loop, UV_RUN_NOWAIT) && uv_now(&g->loop) - t0 < 5000)
		uv_sleep(1);
	if (uv_loop_alive(&g->loop)) {
		uv_walk(&g->loop, show_handle, NULL);
		fail_msg("the loop is still alive 5 s after SIGTERM");
	}
	assert_int_equal(uv_loop_close(&g->loop), 0); /* nothing left behind */
	gw_metrics_free(g->srv.metrics);
	free(g->srv.config_path);
	net_rbuf_spares_free();
}

/* ---- clients: a request in two pieces, then read until the answers are in ----------------------
 */

typedef struct client_s client_t;
struct client_s {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t w1, w2;
	uv_timer_t gap;
	char raw[2048];
	size_t len, split;
	int want; /* responses expected; 0: an error then close */
	summary_t resp;
	bool done;
	int *running;
	void (*next)(void);
	int handles;
};

static void c_closed(uv_handle_t *h)
{
	client_t *c = h->data;
	if (--c->handles == 0) {
		c->done = true;
		(*c->running)--;
		if (c->next)
			c->next();
	}
}

static void c_end(client_t *c)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	uv_close((uv_handle_t *)&c->tcp, c_closed);
	uv_close((uv_handle_t *)&c->gap, c_closed);
}

static void c_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	static char buf[65536];
	(void)h;
	(void)n;
	*b = uv_buf_init(buf, sizeof(buf));
}

static void c_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	client_t *c = st->data;
	if (nread < 0) {
		c_end(c);
		return;
	}
	llhttp_execute(&c->resp.p, b->base, (size_t)nread);
	if (c->want && c->resp.n >= c->want)
		c_end(c);
}

static void c_gap(uv_timer_t *t)
{
	client_t *c = t->data;
	uv_buf_t b = uv_buf_init(c->raw + c->split, (unsigned)(c->len - c->split));
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_write(&c->w2, (uv_stream_t *)&c->tcp, &b, 1, NULL);
}

static void c_connected(uv_connect_t *r, int status)
{
	client_t *c = r->data;
	uv_buf_t b = uv_buf_init(c->raw, (unsigned)c->split);
	assert_int_equal(status, 0);
	uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
	assert_int_equal(uv_write(&c->w1, (uv_stream_t *)&c->tcp, &b, 1, NULL), 0);
	if (c->split < c->len)
		uv_timer_start(&c->gap, c_gap, 2, 0); /* the gateway reads the two pieces apart */
}

static void c_start(uv_loop_t *loop, client_t *c, int port)
{
	struct sockaddr_in a;
	summary_t mine;
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->gap);
	c->tcp.data = c->gap.data = c->creq.data = c;
	c->handles = 2;
	summary_init(&c->resp, HTTP_RESPONSE);
	/* which answers have no body: those to a HEAD */
	summary_init(&mine, HTTP_REQUEST);
	llhttp_execute(&mine.p, c->raw, c->len);
	for (int i = 0; i < mine.n; i++)
		if (!strcmp(mine.msgs[i].method, "HEAD"))
			c->resp.head_mask |= 1u << i;
	uv_ip4_addr("127.0.0.1", port, &a);
	(*c->running)++;
	assert_int_equal(
	    uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&a, c_connected), 0);
}

/* ---- the corpus --------------------------------------------------------------------------------
 */

typedef struct {
	const char *raw; /* @@@@@@@@ in targets becomes the exchange's id */
	int nreq;        /* requests in it; 0: must be refused */
} case_t;

static const case_t cases[] = {
    {"GET /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nX-Amz-Date: 20261202T000000Z\r\n\r\n", 1},
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nContent-Length: 11\r\n"
     "x-amz-meta-empty:\r\nx-amz-meta-ws: \t \r\n\r\nhello world",
     1},
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;ext=\"q\"\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAA\r\nx-t:\r\n\r\n",
     1},
    {"\r\n\r\nDELETE /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nConnection: keep-alive, "
     "X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nX-Keep:  two  spaces \r\n\r\n",
     1},
    {"HEAD /bkt/@@@@@@@@ HTTP/1.1\r\nHost: bkt.s3.local\r\nx-amz-meta-u: caf\xc3\xa9\r\n\r\n"
     "GET /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nRange: bytes=0-1\r\n\r\n",
     2},
    {"GET http://s3.local/bkt/@@@@@@@@?x=%2F HTTP/1.1\r\nHost: s3.local\r\nTE: trailers\r\n\r\n",
     1},
    {"GET /bkt/@@@@@@@@ HTTP/1.0\r\nHost: s3.local\r\nConnection: keep-alive\r\n\r\n", 1},
    /* refused: nothing of them may complete at a node */
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nContent-Length: 30\r\n"
     "Connection: Content-Length\r\n\r\nGET /bkt/smuggled HTTP/1.1\r\n\r\n",
     0},
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nContent-Length: 3\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     0},
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     "0\r\n\r\n",
     0},
    {"PUT /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\nzz\r\n\r\n",
     0},
    {"GET /bkt/@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\nConnection: host\r\n\r\n", 0},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

typedef struct {
	uv_loop_t *loop;
	int port;
	size_t ci, split; /* the next exchange to start */
	int running;
	client_t *clients;
	size_t nclients, started;
} plan_t;

static plan_t plan;

static void fill_ids(char *raw, size_t ci, size_t split)
{
	char id[16];
	char *p = raw;
	int k = 0;
	while ((p = strstr(p, "@@@@@@@@"))) {
		snprintf(id, sizeof(id), "%02zu%05zu%c", ci, split, 'a' + k++);
		memcpy(p, id, 8);
		p += 8;
	}
}

static void start_next(void)
{
	while (plan.running < 16 && plan.ci < NCASES) {
		const case_t *cs = &cases[plan.ci];
		size_t len = strlen(cs->raw);
		client_t *c = &plan.clients[plan.started++];
		assert_true(plan.started <= plan.nclients);
		memcpy(c->raw, cs->raw, len);
		c->len = len;
		c->split = plan.split ? plan.split : len; /* 0: whole */
		c->want = cs->nreq;
		c->running = &plan.running;
		c->next = start_next;
		fill_ids(c->raw, plan.ci, plan.split);
		c_start(plan.loop, c, plan.port);
		if (++plan.split >= len) {
			plan.split = 0;
			plan.ci++;
		}
	}
}

static msg_t *find(msg_t *m, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strstr(m[i].target, id))
			return &m[i];
	return NULL;
}

static void test_invariant_every_split_interleaved(void **state)
{
	gw_t g;
	static node_t n;
	char nodes[128];
	size_t total = 0;
	(void)state;
	memset(&g, 0, sizeof(g));
	uv_loop_init(&g.loop);
	node_start(&g.loop, &n);
	snprintf(nodes, sizeof(nodes), "      - { name: n1, addr: 127.0.0.1:%d }\n", n.port);
	gw_start(&g, nodes, "    max_conns_per_node: 16\n");
	for (size_t i = 0; i < NCASES; i++)
		total += strlen(cases[i].raw);
	memset(&plan, 0, sizeof(plan));
	plan.loop = &g.loop;
	plan.port = g.port;
	plan.nclients = total;
	plan.clients = calloc(total, sizeof(client_t));
	assert_non_null(plan.clients);
	start_next();
	while (plan.running)
		uv_run(&g.loop, UV_RUN_ONCE);
	/* every exchange: what the node got equals what the client sent, or nothing completed */
	for (size_t k = 0; k < plan.started; k++) {
		client_t *c = &plan.clients[k];
		summary_t mine;
		char id[16];
		summary_init(&mine, HTTP_REQUEST);
		llhttp_execute(&mine.p, c->raw, c->len);
		for (int r = 0; r < (c->want ? c->want : 1); r++) {
			msg_t *want = &mine.msgs[r], *got;
			const char *at = strstr(c->raw, "/bkt/") + 5;
			for (int s = 0; s < r; s++)
				at = strstr(at, "/bkt/") + 5;
			memcpy(id, at, 8);
			id[8] = 0;
			got = find(n.got, n.ngot, id);
			if (!c->want) {
				if (got)
					fail_msg("refused case %s reached the node: %s", id,
					         got->headers);
				if (!c->resp.n || c->resp.msgs[0].status < 400)
					fail_msg("refused case %s: no error answer", id);
				continue;
			}
			if (!got)
				fail_msg(
				    "case %s (split %zu) never reached the node; the client got %d "
				    "answers, the first %d %s",
				    id, c->split, c->resp.n, c->resp.msgs[0].status,
				    c->resp.msgs[0].body);
			drop_hop_by_hop(want);
			if (!strncmp(want->target, "http://", 7))
				memmove(want->target, strstr(want->target + 7, "/"),
				        strlen(strstr(want->target + 7, "/")) + 1);
			if (strcmp(want->method, got->method) ||
			    strcmp(want->target, got->target) || want->minor != got->minor ||
			    strcmp(want->headers, got->headers) || want->blen != got->blen ||
			    memcmp(want->body, got->body, want->blen) ||
			    want->chunked != got->chunked || strcmp(want->trailers, got->trailers))
				fail_msg(
				    "case %s split %zu:\nclient: %s %s 1.%d chunked=%d\n%s[%zu]\n"
				    "node:   %s %s 1.%d chunked=%d\n%s[%zu]",
				    id, c->split, want->method, want->target, want->minor,
				    want->chunked, want->headers, want->blen, got->method,
				    got->target, got->minor, got->chunked, got->headers, got->blen);
			if (c->resp.n < c->want || c->resp.msgs[r].status != 200)
				fail_msg("case %s: the client got %d answers", id, c->resp.n);
		}
	}
	/* nothing smuggled, ever; and node connections were reused throughout */
	for (int i = 0; i < n.ngot; i++)
		if (strstr(n.got[i].target, "smuggled"))
			fail_msg("a smuggled request reached the node: %s", n.got[i].target);
	assert_true(n.conns < n.ngot / 4);
	free(plan.clients);
	node_stop(&n);
	gw_end(&g);
}

/* Sequential requests reuse one node connection; a dead node's request moves to a live one. */
static void test_reuse_and_failover(void **state)
{
	gw_t g;
	static node_t live;
	char nodes[256];
	int dead = free_port();
	(void)state;
	memset(&g, 0, sizeof(g));
	uv_loop_init(&g.loop);
	node_start(&g.loop, &live);
	snprintf(nodes, sizeof(nodes),
	         "      - { name: dead, addr: 127.0.0.1:%d }\n"
	         "      - { name: live, addr: 127.0.0.1:%d }\n",
	         dead, live.port);
	gw_start(&g, nodes, "");
	memset(&plan, 0, sizeof(plan));
	plan.loop = &g.loop;
	plan.running = 0;
	for (int i = 0; i < 10; i++) {
		client_t *c = calloc(1, sizeof(*c));
		snprintf(c->raw, sizeof(c->raw),
		         "GET /bkt/r%07d HTTP/1.1\r\nHost: s3.local\r\n\r\n", i);
		c->len = c->split = strlen(c->raw);
		c->want = 1;
		c->running = &plan.running;
		c_start(&g.loop, c, g.port);
		while (plan.running)
			uv_run(&g.loop, UV_RUN_ONCE);
		assert_int_equal(c->resp.n, 1);
		assert_int_equal(c->resp.msgs[0].status, 200);
		free(c);
	}
	assert_int_equal(live.ngot, 10);
	assert_int_equal(live.conns, 1); /* kept alive and reused */
	node_stop(&live);
	gw_end(&g);
}

/* Our own answers are S3 XML with the right status; nothing reaches a node. */
static void test_errors(void **state)
{
	gw_t g;
	static node_t n;
	char nodes[128];
	static const struct {
		const char *req;
		int status;
		const char *code;
	} t[] = {
	    {"GET /other/k HTTP/1.1\r\nHost: s3.local\r\n\r\n", 404, "NoSuchBucket"},
	    {"GET /bkt/k HTTP/2.0\r\nHost: s3.local\r\n\r\n", 505, "HttpVersionNotSupported"},
	    {"PUT /bkt/k HTTP/1.1\r\nHost: s3.local\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	     501, "NotImplemented"},
	    {"GET /bkt/k HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "InvalidRequest"},
	};
	(void)state;
	memset(&g, 0, sizeof(g));
	uv_loop_init(&g.loop);
	node_start(&g.loop, &n);
	snprintf(nodes, sizeof(nodes), "      - { name: n1, addr: 127.0.0.1:%d }\n", n.port);
	gw_start(&g, nodes, "");
	memset(&plan, 0, sizeof(plan));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		client_t *c = calloc(1, sizeof(*c));
		snprintf(c->raw, sizeof(c->raw), "%s", t[i].req);
		c->len = c->split = strlen(c->raw);
		c->want = 1;
		c->running = &plan.running;
		c_start(&g.loop, c, g.port);
		while (plan.running)
			uv_run(&g.loop, UV_RUN_ONCE);
		assert_int_equal(c->resp.n, 1);
		assert_int_equal(c->resp.msgs[0].status, t[i].status);
		if (!strstr(c->resp.msgs[0].body, t[i].code))
			fail_msg("case %zu: body %s", i, c->resp.msgs[0].body);
		free(c);
	}
	assert_int_equal(n.ngot, 0);
	node_stop(&n);
	gw_end(&g);
}

/*
 * An idle keep-alive connection holds little: bounded sizes, no request state after its answer,
 * and its idle timeout still ends it (the loop's one timer: many connections at once, their
 * timers set, moved and stopped in any order by their requests).
 */
static void test_idle_connections(void **state)
{
	enum { N = 24 };
	gw_t g;
	static node_t n;
	char nodes[128];
	client_t *cl = calloc(N, sizeof(*cl));
	uint64_t t0;
	(void)state;
	/* what an idle connection is made of (x86_64: 448 and 344 bytes) */
	assert_true(sizeof(gw_conn_t) <= 464);
	assert_true(sizeof(net_sock_t) <= 352);
	assert_non_null(cl);
	memset(&g, 0, sizeof(g));
	uv_loop_init(&g.loop);
	node_start(&g.loop, &n);
	snprintf(nodes, sizeof(nodes), "      - { name: n1, addr: 127.0.0.1:%d }\n", n.port);
	gw_timeouts = "upstream_connect: 500ms, client_idle: 300ms";
	gw_start(&g, nodes, "");
	gw_timeouts = "upstream_connect: 500ms";
	memset(&plan, 0, sizeof(plan));
	for (int i = 0; i < N; i++) {
		client_t *c = &cl[i];
		/* a request, answered, then the connection stays open (want 0: read until EOF) */
		snprintf(c->raw, sizeof(c->raw),
		         "GET /bkt/i%07d HTTP/1.1\r\nHost: s3.local\r\n\r\n", i);
		c->len = strlen(c->raw);
		c->split = i % 2 ? c->len : (size_t)i + 1; /* some heads in two pieces */
		c->running = &plan.running;
		c_start(&g.loop, c, g.port);
		if (i % 3 == 0) /* some requests one after the other, some side by side */
			while (c->resp.n < 1)
				uv_run(&g.loop, UV_RUN_ONCE);
	}
	for (int i = 0; i < N; i++)
		while (cl[i].resp.n < 1)
			uv_run(&g.loop, UV_RUN_ONCE);
	uv_update_time(&g.loop);
	t0 = uv_now(&g.loop);
	assert_int_equal(g.srv.nconns, N);
	for (gw_conn_t *c = g.srv.conns; c; c = c->next) {
		assert_null(c->r);                   /* no parser, buffer or request state */
		assert_int_not_equal(c->theap_i, 0); /* the idle timer runs */
	}
	assert_int_equal(g.srv.theap_n, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(cl[i].resp.msgs[0].status, 200);
	/* each idle timeout closes its connection; none before it is due */
	while (plan.running && uv_now(&g.loop) - t0 < 5000) {
		uv_run(&g.loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(&g.loop);
	}
	if (plan.running)
		fail_msg("%d idle connections still open 5 s after their 300 ms timeout",
		         plan.running);
	assert_true(uv_now(&g.loop) - t0 >= 250);
	assert_int_equal(g.srv.nconns, 0);
	assert_int_equal(g.srv.theap_n, 0);
	assert_int_equal(n.ngot, N);
	free(cl);
	node_stop(&n);
	gw_end(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invariant_every_split_interleaved),
	    cmocka_unit_test(test_reuse_and_failover),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_idle_connections),
	};
	signal(SIGPIPE, SIG_IGN);
	lb_log_level = LB_LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

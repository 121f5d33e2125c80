/*
 * health/health.c on a real loop against fake HTTP nodes on 127.0.0.1 (ephemeral ports, served
 * by net/sock on the same loop, plain or TLS): rise and fall with their exact probe counts, the
 * probe connection kept alive between probes (or not, when the node closes it), a node that
 * accepts and never answers, one that trickles its answer past the probe's timeout, a refused
 * connection, a body over the 1 MiB a probe reads, a wrong status with a HEAD probe, TLS (a good
 * and a wrong CA), drain and undrain, a reload that removes, adds and moves nodes (and one
 * refused as a whole), and hc_close with probes in flight. Every test ends with
 * uv_loop_close() == 0: no handle left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "net/sock.h"
#include "net/tls.h"
#include "health/health.h"

/* ---- a fake node ----------------------------------------------------------------------------- */

typedef enum {
	ANSWER = 0, /* answers each request head with `status` */
	SILENT,     /* accepts and reads, never answers */
	TRICKLE,    /* sends a head and then one body byte every 10 ms, never the end */
	BIG,        /* answers `status` with a body of BIG_BODY bytes */
} mode_t_;

#define BIG_BODY (1500u * 1024) /* above the 1 MiB a probe reads */

static char big_body[BIG_BODY];

typedef struct srv_s srv_t;

typedef struct sconn_s {
	net_sock_t sock;
	srv_t *srv;
	char in[4096];
	size_t len;
	char out[256];
	bool writing, closing;
	bool asked; /* a request head came (TRICKLE sends only then) */
	struct sconn_s *next;
} sconn_t;

struct srv_s {
	uv_tcp_t listener;
	uv_timer_t trickle;
	net_tls_ctx_t *tls; /* NULL: plain */
	int port;
	mode_t_ mode;
	int status;
	bool close_after; /* answers with Connection: close, then closes */
	int accepted, requests;
	char last_req[512];
	sconn_t *conns;
};

static void sconn_closed(net_sock_t *s)
{
	sconn_t *c = s->data;
	sconn_t **pp = &c->srv->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c);
}

static void sconn_close(sconn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	net_sock_close(&c->sock, sconn_closed);
}

static void sconn_written(net_sock_t *s, int status)
{
	sconn_t *c = s->data;
	(void)status;
	c->writing = false;
	if (c->srv->close_after)
		sconn_close(c);
}

/* Sends text, then big_body when big. */
static void sconn_send(sconn_t *c, const char *text, bool big)
{
	uv_buf_t b[2];
	if (c->writing || c->closing)
		return; /* a trickle byte while the head is still in flight: skip it */
	snprintf(c->out, sizeof(c->out), "%s", text);
	b[0] = uv_buf_init(c->out, (unsigned)strlen(c->out));
	b[1] = uv_buf_init(big_body, sizeof(big_body));
	c->writing = true;
	if (net_sock_write(&c->sock, b, big ? 2 : 1, sconn_written) < 0)
		sconn_close(c);
}

static void sconn_alloc(net_sock_t *s, uv_buf_t *b)
{
	sconn_t *c = s->data;
	*b = uv_buf_init(c->in + c->len, (unsigned)(sizeof(c->in) - c->len));
}

static void sconn_read(net_sock_t *s, ssize_t n, const uv_buf_t *b)
{
	sconn_t *c = s->data;
	srv_t *srv = c->srv;
	char *end;
	(void)b;
	if (n < 0) {
		sconn_close(c);
		return;
	}
	c->len += (size_t)n;
	while ((end = memmem(c->in, c->len, "\r\n\r\n", 4))) {
		size_t hl = (size_t)(end + 4 - c->in);
		bool head = !strncmp(c->in, "HEAD ", 5);
		char resp[256];
		srv->requests++;
		c->asked = true;
		snprintf(srv->last_req, sizeof(srv->last_req), "%.*s", (int)hl, c->in);
		memmove(c->in, c->in + hl, c->len - hl);
		c->len -= hl;
		if (srv->mode == SILENT)
			continue;
		if (srv->mode == TRICKLE) {
			sconn_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", false);
			continue;
		}
		if (srv->mode == BIG) {
			snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: %u\r\n\r\n",
			         srv->status, BIG_BODY);
			sconn_send(c, resp, true);
			continue;
		}
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\n%s",
		         srv->status, srv->close_after ? "Connection: close\r\n" : "",
		         head ? "" : "ok");
		sconn_send(c, resp, false);
	}
}

static void srv_on_conn(uv_stream_t *l, int status)
{
	srv_t *srv = l->data;
	sconn_t *c = calloc(1, sizeof(*c));
	assert_int_equal(status, 0);
	assert_non_null(c);
	c->srv = srv;
	c->next = srv->conns;
	srv->conns = c;
	srv->accepted++;
	assert_int_equal(net_sock_accept(l, &c->sock, srv->tls), 0);
	c->sock.data = c;
	assert_int_equal(net_sock_read_start(&c->sock, sconn_alloc, sconn_read), 0);
}

static void on_trickle(uv_timer_t *t)
{
	srv_t *srv = t->data;
	if (srv->mode != TRICKLE)
		return;
	for (sconn_t *c = srv->conns; c; c = c->next)
		if (c->asked)
			sconn_send(c, "x", false);
}

static void srv_start(uv_loop_t *loop, srv_t *srv, int status)
{
	struct sockaddr_in a;
	int len = sizeof(a);
	memset(srv, 0, sizeof(*srv));
	srv->status = status;
	assert_int_equal(uv_tcp_init(loop, &srv->listener), 0);
	srv->listener.data = srv;
	assert_int_equal(uv_timer_init(loop, &srv->trickle), 0);
	srv->trickle.data = srv;
	assert_int_equal(uv_timer_start(&srv->trickle, on_trickle, 10, 10), 0);
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(uv_tcp_bind(&srv->listener, (const struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&srv->listener, 16, srv_on_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&a, &len), 0);
	srv->port = ntohs(a.sin_port);
}

/* Closes every connection the node holds (the listener stays). */
static void srv_drop_conns(srv_t *srv)
{
	for (sconn_t *c = srv->conns; c; c = c->next)
		sconn_close(c);
}

static void srv_stop(srv_t *srv)
{
	uv_close((uv_handle_t *)&srv->listener, NULL);
	uv_close((uv_handle_t *)&srv->trickle, NULL);
	srv_drop_conns(srv);
}

/* A port nothing listens on: bound, then closed (connections to it are refused). */
static int dead_port(uv_loop_t *loop)
{
	srv_t s;
	int port;
	srv_start(loop, &s, 200);
	port = s.port;
	srv_stop(&s);
	uv_run(loop, UV_RUN_NOWAIT);
	return port;
}

/* ---- certificates (the TLS test) --------------------------------------------------------------
 */

static char certdir[64], cert_pem[96], key_pem[96], other_pem[96];

/* A self-signed certificate for 127.0.0.1 (cert.pem, key.pem), and another (other.pem). */
static void make_certs(void)
{
	const char *paths[2] = {cert_pem, other_pem};
	snprintf(certdir, sizeof(certdir), "/tmp/s3lb-health-XXXXXX");
	assert_non_null(mkdtemp(certdir));
	snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", certdir);
	snprintf(key_pem, sizeof(key_pem), "%s/key.pem", certdir);
	snprintf(other_pem, sizeof(other_pem), "%s/other.pem", certdir);
	for (int i = 0; i < 2; i++) {
		EVP_PKEY *key = EVP_EC_gen("P-256");
		X509 *x = X509_new();
		X509_NAME *name = X509_get_subject_name(x);
		X509V3_CTX v;
		X509_EXTENSION *e;
		FILE *f;
		assert_non_null(key);
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
		X509_gmtime_adj(X509_getm_notBefore(x), -3600);
		X509_gmtime_adj(X509_getm_notAfter(x), 86400);
		X509_set_pubkey(x, key);
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		                           (const unsigned char *)"127.0.0.1", -1, -1, 0);
		X509_set_issuer_name(x, name);
		X509V3_set_ctx_nodb(&v);
		X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
		assert_non_null(
		    e = X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, "IP:127.0.0.1"));
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
		assert_true(X509_sign(x, key, EVP_sha256()) > 0);
		assert_non_null(f = fopen(paths[i], "w"));
		assert_int_equal(PEM_write_X509(f, x), 1);
		fclose(f);
		if (i == 0) {
			assert_non_null(f = fopen(key_pem, "w"));
			assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL),
			                 1);
			fclose(f);
		}
		X509_free(x);
		EVP_PKEY_free(key);
	}
}

static void remove_certs(void)
{
	unlink(cert_pem);
	unlink(key_pem);
	unlink(other_pem);
	rmdir(certdir);
}

/* ---- the fixture: a loop, the checker, its events -------------------------------------------- */

typedef struct {
	char node[32];
	hc_state_t from, to;
	char reason[160];
	uint64_t probes_ok, probes_failed; /* the node's counters at the transition */
} ev_t;

typedef struct {
	uv_loop_t loop;
	uv_timer_t poll;
	hc_t *hc;
	ev_t ev[32];
	int nev;
	bool (*pred)(void *fx);
	bool met;
} fx_t;

static void on_event(void *arg, const hc_event_t *e)
{
	fx_t *fx = arg;
	const hc_info_t *i = hc_info(fx->hc, e->pool, e->node);
	ev_t *ev;
	assert_true(fx->nev < 32);
	assert_non_null(i);
	ev = &fx->ev[fx->nev++];
	snprintf(ev->node, sizeof(ev->node), "%s", e->node);
	ev->from = e->from;
	ev->to = e->to;
	snprintf(ev->reason, sizeof(ev->reason), "%s", e->reason);
	ev->probes_ok = i->probes_ok;
	ev->probes_failed = i->probes_failed;
}

static lb_config_t *load(const char *yaml)
{
	lb_config_t *cfg;
	char err[256];
	int rc = lb_config_load_string("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s", err);
	return cfg;
}

/* Applies a config (the checker keeps its own reference). */
static void apply(fx_t *fx, const char *yaml)
{
	lb_config_t *cfg = load(yaml);
	char err[256];
	int rc = hc_apply(fx->hc, cfg, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s", err);
	lb_config_unref(cfg);
}

static void fx_init(fx_t *fx)
{
	memset(fx, 0, sizeof(*fx));
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->poll), 0);
	fx->poll.data = fx;
	assert_int_equal(hc_new(&fx->loop, &fx->hc), 0);
	assert_int_equal(hc_subscribe(fx->hc, on_event, fx), 0);
}

static void on_poll(uv_timer_t *t)
{
	fx_t *fx = t->data;
	if (fx->pred && fx->pred(fx)) {
		fx->met = true;
		uv_stop(&fx->loop);
	}
}

static void on_limit(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop until pred holds (checked every 2 ms) or limit_ms passed; true if it held. A
 * NULL pred runs for limit_ms. */
static bool run_until(fx_t *fx, bool (*pred)(void *), uint64_t limit_ms)
{
	uv_timer_t limit;
	fx->pred = pred;
	fx->met = false;
	assert_int_equal(uv_timer_init(&fx->loop, &limit), 0);
	assert_int_equal(uv_timer_start(&limit, on_limit, limit_ms, 0), 0);
	if (pred)
		assert_int_equal(uv_timer_start(&fx->poll, on_poll, 2, 2), 0);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&fx->poll);
	uv_close((uv_handle_t *)&limit, NULL);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	fx->pred = NULL;
	return fx->met;
}

/* Stops the checker and the nodes; nothing may be left on the loop. */
static void fx_done(fx_t *fx, srv_t *srvs, int nsrv)
{
	hc_close(fx->hc);
	for (int i = 0; i < nsrv; i++)
		srv_stop(&srvs[i]);
	uv_close((uv_handle_t *)&fx->poll, NULL);
	while (uv_run(&fx->loop, UV_RUN_DEFAULT))
		;
	assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* What the predicates look at (one test at a time). */
static const char *w_node = "a";
static const char *w_pool = "p";
static uint64_t w_count;
static hc_state_t w_state;
static srv_t *w_srv;

static const hc_info_t *info(fx_t *fx, const char *node)
{
	const hc_info_t *i = hc_info(fx->hc, "p", node);
	assert_non_null(i);
	return i;
}

static bool p_ok_at_least(void *arg)
{
	const hc_info_t *i = hc_info(((fx_t *)arg)->hc, w_pool, w_node);
	return i && i->probes_ok >= w_count;
}

static bool p_failed_at_least(void *arg)
{
	const hc_info_t *i = hc_info(((fx_t *)arg)->hc, w_pool, w_node);
	return i && i->probes_failed >= w_count;
}

static bool p_state(void *arg)
{
	const hc_info_t *i = hc_info(((fx_t *)arg)->hc, w_pool, w_node);
	return i && i->state == w_state;
}

static bool p_requests_at_least(void *arg)
{
	(void)arg;
	return w_srv->requests >= (int)w_count;
}

static void wait_ok(fx_t *fx, const char *node, uint64_t n)
{
	w_node = node;
	w_count = n;
	assert_true(run_until(fx, p_ok_at_least, 5000));
}

static void wait_failed(fx_t *fx, const char *node, uint64_t n)
{
	w_node = node;
	w_count = n;
	assert_true(run_until(fx, p_failed_at_least, 5000));
}

static void wait_state(fx_t *fx, const char *node, hc_state_t s)
{
	w_node = node;
	w_state = s;
	assert_true(run_until(fx, p_state, 5000));
}

static void wait_requests(fx_t *fx, srv_t *srv, int n)
{
	w_srv = srv;
	w_count = (uint64_t)n;
	assert_true(run_until(fx, p_requests_at_least, 5000));
}

/* interval 150ms, fast 20ms, timeout 120ms unless `extra` sets one (generous: a probe that
 * times out on a loaded machine would fail tests that are not about timeouts), no jitter; health
 * keys added by `extra`, one node per port. */
/* Every config's drain_state: a file of this run (main), never the default under /var/lib. */
static char drain_dir[64], drain_path[96];

static char *config(const char *extra, const char *names[], const int ports[], int n)
{
	static char buf[4096];
	int len = snprintf(buf, sizeof(buf),
	                   "drain_state: %s\n"
	                   "pools:\n"
	                   "  - name: p\n"
	                   "    health: { interval: 150ms, fast_interval: 20ms, jitter: 0%%%s%s }\n"
	                   "    nodes:\n",
	                   drain_path, strstr(extra, "timeout:") ? "" : ", timeout: 120ms", extra);
	for (int i = 0; i < n; i++)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
		                "      - { name: %s, addr: 127.0.0.1:%d }\n", names[i], ports[i]);
	snprintf(buf + len, sizeof(buf) - (size_t)len,
	         "frontends:\n  - name: s3\n    listen: [127.0.0.1:1]\n    routes:\n"
	         "      - { pool: p }\n");
	return buf;
}

/* Puts text into yaml (size bytes) right before the first `at` after `from`. */
static void insert(char *yaml, size_t size, const char *from, const char *at, const char *text)
{
	char *p = strstr(strstr(yaml, from), at);
	char tail[4096];
	assert_non_null(p);
	snprintf(tail, sizeof(tail), "%s", p);
	snprintf(p, size - (size_t)(p - yaml), "%s%s", text, tail);
}

/* The fixture with one node "a", a fake node answering `status`, the health keys of `extra`
 * (the first probe goes when the loop runs: the node's mode may still be set). */
static void fx_one(fx_t *fx, srv_t *s, int status, const char *extra)
{
	const char *names[] = {"a"};
	fx_init(fx);
	srv_start(&fx->loop, s, status);
	apply(fx, config(extra, names, &s->port, 1));
}

/* ---- the tests ------------------------------------------------------------------------------- */

/* DOWN after exactly `fall` failed probes, UP after exactly `rise` good ones; good probes share
 * one kept-alive connection, a failed one closes it. */
static void test_rise_fall(void **state)
{
	fx_t fx;
	srv_t s;
	uint64_t ok0;
	(void)state;
	fx_one(&fx, &s, 200, ", rise: 3, fall: 2, http: { path: /ready }");
	/* no verdict before the first probe ends (the director keeps the kernel's weight) */
	assert_false(info(&fx, "a")->verdict);
	wait_ok(&fx, "a", 1);
	assert_true(info(&fx, "a")->verdict);

	wait_ok(&fx, "a", 3);
	assert_int_equal(fx.nev, 0); /* UP from the start */
	assert_int_equal(info(&fx, "a")->state, HC_UP);
	assert_int_equal(s.accepted, 1); /* three probes, one connection */
	assert_true(s.requests >= 3);
	assert_non_null(strstr(s.last_req, "GET /ready HTTP/1.1\r\n"));
	assert_non_null(strstr(s.last_req, "Host: 127.0.0.1:"));
	assert_non_null(strstr(s.last_req, "User-Agent: s3lb-health\r\n"));

	/* the node fails: DOWN at the second failure, not the first */
	s.status = 503;
	wait_state(&fx, "a", HC_DOWN);
	assert_int_equal(fx.nev, 1);
	assert_int_equal(fx.ev[0].from, HC_UP);
	assert_int_equal(fx.ev[0].to, HC_DOWN);
	assert_int_equal(fx.ev[0].probes_failed, 2); /* none failed before the switch */
	assert_string_equal(fx.ev[0].reason, "http probe: 2 x failed, last: status 503");
	assert_string_equal(info(&fx, "a")->last_probe_error, "status 503");
	assert_false(info(&fx, "a")->last_probe_ok);
	/* the first failure ended the kept connection, the second ran on a new one */
	assert_int_equal(s.accepted, 2);

	/* it recovers: UP at the third good probe */
	s.status = 200;
	ok0 = info(&fx, "a")->probes_ok; /* none can succeed before the switch */
	wait_state(&fx, "a", HC_UP);
	assert_int_equal(fx.nev, 2);
	assert_int_equal(fx.ev[1].from, HC_DOWN);
	assert_int_equal(fx.ev[1].to, HC_UP);
	assert_int_equal(fx.ev[1].probes_ok, ok0 + 3);
	assert_string_equal(fx.ev[1].reason, "http probe: 3 x ok");
	assert_string_equal(info(&fx, "a")->reason, "http probe: 3 x ok");
	assert_true(info(&fx, "a")->last_probe_ok);
	assert_string_equal(info(&fx, "a")->last_probe_error, "");
	assert_true(info(&fx, "a")->last_probe_ms >= 0);
	assert_int_equal(info(&fx, "a")->transitions, 2);
	fx_done(&fx, &s, 1);
}

/* A node that closes after each answer: every probe connects anew and still succeeds. A node
 * that drops the kept connection between probes: the next probe opens another one. */
static void test_connection_not_kept(void **state)
{
	fx_t fx;
	srv_t s;
	int accepted;
	(void)state;
	fx_one(&fx, &s, 200, "");
	s.close_after = true;
	wait_ok(&fx, "a", 3);
	assert_int_equal(info(&fx, "a")->probes_failed, 0);
	assert_true(s.accepted >= 3);
	assert_int_equal(s.accepted, s.requests);

	s.close_after = false;
	wait_ok(&fx, "a", 5);
	accepted = s.accepted;
	srv_drop_conns(&s); /* the node ends the idle connection */
	wait_ok(&fx, "a", info(&fx, "a")->probes_ok + 2);
	assert_int_equal(info(&fx, "a")->probes_failed, 0);
	assert_int_equal(s.accepted, accepted + 1);
	assert_int_equal(fx.nev, 0);
	fx_done(&fx, &s, 1);
}

/* A node that accepts and never answers (SILENT), or one that sends a head and then trickles the
 * body (TRICKLE: net/client's read timer restarts at each byte, the probe's own deadline does
 * not): each probe fails at `timeout`, after the request was sent. */
static void check_timeout(mode_t_ mode)
{
	fx_t fx;
	srv_t s;
	const hc_info_t *i;
	fx_one(&fx, &s, 200, ", fall: 1, timeout: 50ms");
	s.mode = mode;
	wait_state(&fx, "a", HC_DOWN);
	i = info(&fx, "a");
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].reason, "http probe: 1 x failed, last: timeout (50 ms)");
	assert_string_equal(i->last_probe_error, "timeout (50 ms)");
	assert_true(i->last_probe_ms >= 45 && i->last_probe_ms < 1000);
	assert_int_equal(i->probes_ok, 0);
	assert_true(s.requests >= 1);
	fx_done(&fx, &s, 1);
}

static void test_timeout(void **state)
{
	(void)state;
	check_timeout(SILENT);
}

static void test_timeout_trickle(void **state)
{
	(void)state;
	check_timeout(TRICKLE);
}

/* A body over the 1 MiB a probe reads: the status decides, and the connection is not kept (the
 * rest of the body is not read). */
static void test_big_body(void **state)
{
	fx_t fx;
	srv_t s;
	(void)state;
	fx_one(&fx, &s, 200, ", fall: 1, rise: 1");
	s.mode = BIG;
	wait_ok(&fx, "a", 2);
	assert_int_equal(info(&fx, "a")->probes_failed, 0);
	assert_int_equal(s.accepted, s.requests); /* a connection per probe */
	assert_true(s.accepted >= 2);
	s.status = 404;
	wait_state(&fx, "a", HC_DOWN);
	assert_string_equal(info(&fx, "a")->last_probe_error, "response too large");
	fx_done(&fx, &s, 1);
}

/* Nothing listens: connection refused, DOWN at the first probe (a node starts one failure away
 * from DOWN), and a tcp probe sees the same. */
static void test_refused(void **state)
{
	fx_t fx;
	const char *names[] = {"a", "t"};
	char yaml[4096];
	int ports[2];
	(void)state;
	fx_init(&fx);
	ports[0] = dead_port(&fx.loop);
	do
		ports[1] = dead_port(&fx.loop); /* node addresses are unique */
	while (ports[1] == ports[0]);
	snprintf(yaml, sizeof(yaml), "%s", config("", names, ports, 2));
	/* node t probes with tcp */
	insert(yaml, sizeof(yaml), "{ name: t,", "}", ", health: { kind: tcp } ");
	apply(&fx, yaml);
	wait_state(&fx, "a", HC_DOWN);
	wait_state(&fx, "t", HC_DOWN);
	assert_string_equal(info(&fx, "a")->last_probe_error, "connection refused");
	assert_string_equal(info(&fx, "t")->last_probe_error, "connection refused");
	assert_string_equal(info(&fx, "a")->reason,
	                    "http probe: 2 x failed, last: connection refused");
	assert_string_equal(info(&fx, "t")->reason,
	                    "tcp probe: 2 x failed, last: connection refused");
	assert_string_equal(info(&fx, "t")->kind, "tcp");
	assert_int_equal(info(&fx, "a")->probes_ok, 0);
	fx_done(&fx, NULL, 0);
}

/* A tcp probe is a connect alone: UP with no request sent. */
static void test_tcp_probe(void **state)
{
	fx_t fx;
	srv_t s;
	(void)state;
	fx_one(&fx, &s, 500, ", kind: tcp");
	wait_ok(&fx, "a", 3);
	assert_int_equal(info(&fx, "a")->state, HC_UP);
	assert_true(s.accepted >= 3); /* one connection per probe */
	assert_int_equal(s.requests, 0);
	fx_done(&fx, &s, 1);
}

/* HEAD with an expected status: another status fails the probe; a response to HEAD has no body
 * (its Content-Length notwithstanding) and the connection is kept. */
static void test_wrong_status_head(void **state)
{
	fx_t fx;
	srv_t s;
	int accepted;
	(void)state;
	fx_one(&fx, &s, 200,
	       ", fall: 1, rise: 1, http: { method: HEAD, path: /minio/health/ready, "
	       "expect: [\"204\"] }");
	wait_state(&fx, "a", HC_DOWN);
	assert_string_equal(info(&fx, "a")->last_probe_error, "status 200");
	assert_non_null(strstr(s.last_req, "HEAD /minio/health/ready HTTP/1.1\r\n"));
	s.status = 204;
	wait_state(&fx, "a", HC_UP);
	wait_ok(&fx, "a", info(&fx, "a")->probes_ok + 3);
	assert_int_equal(fx.nev, 2);
	assert_string_equal(fx.ev[1].reason, "http probe: 1 x ok");
	/* good HEAD probes share a connection: the last four probes took at most one new one */
	accepted = s.accepted;
	wait_ok(&fx, "a", info(&fx, "a")->probes_ok + 4);
	assert_int_equal(s.accepted, accepted);
	fx_done(&fx, &s, 1);
}

/* A TLS node: UP through a verified handshake; with another CA the handshake fails and says why
 * (reload to the wrong CA). */
static void test_tls(void **state)
{
	fx_t fx;
	srv_t s;
	const char *names[] = {"a"};
	char err[256], yaml[4096], tls[512];
	(void)state;
	make_certs();
	fx_init(&fx);
	srv_start(&fx.loop, &s, 200);
	assert_int_equal(net_tls_server_ctx_new(cert_pem, key_pem, &s.tls, err, sizeof(err)), 0);
	snprintf(tls, sizeof(tls), "\n    tls: { enabled: true, ca: %s }", cert_pem);
	snprintf(yaml, sizeof(yaml), "%s", config(", fall: 1, rise: 1", names, &s.port, 1));
	insert(yaml, sizeof(yaml), "pools:", "\n    health:", tls);
	apply(&fx, yaml);
	wait_ok(&fx, "a", 3);
	assert_int_equal(info(&fx, "a")->state, HC_UP);
	assert_true(s.requests >= 3);
	assert_int_equal(s.accepted, 1); /* kept alive over TLS too */

	/* the same node, verified against a CA that did not sign it */
	{
		char *ca = strstr(yaml, "cert.pem }");
		memcpy(ca, "other.pem}", 10);
	}
	apply(&fx, yaml);
	srv_drop_conns(&s); /* a kept connection would go on (as before net/client) */
	wait_state(&fx, "a", HC_DOWN);
	assert_non_null(strstr(info(&fx, "a")->last_probe_error, "certificate verify failed"));
	fx_done(&fx, &s, 1);
	net_tls_ctx_unref(s.tls);
	remove_certs();
}

/* Drain overrides the probes both ways; undrain gives the probes' verdict back. */
static void test_drain(void **state)
{
	fx_t fx;
	srv_t s[2];
	const char *names[] = {"a", "b"};
	int ports[2];
	char err[128];
	(void)state;
	fx_init(&fx);
	srv_start(&fx.loop, &s[0], 200);
	srv_start(&fx.loop, &s[1], 200);
	ports[0] = s[0].port;
	ports[1] = s[1].port;
	apply(&fx, config(", rise: 1, fall: 1", names, ports, 2));
	wait_ok(&fx, "a", 1);

	assert_int_equal(hc_drain(fx.hc, "p/a", true, err, sizeof(err)), 1);
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].node, "a");
	assert_int_equal(fx.ev[0].from, HC_UP);
	assert_int_equal(fx.ev[0].to, HC_DRAINING);
	assert_string_equal(fx.ev[0].reason, "drained by operator");
	assert_int_equal(info(&fx, "a")->state, HC_DRAINING);
	assert_int_equal(info(&fx, "b")->state, HC_UP);
	/* draining again changes nothing but still matches */
	assert_int_equal(hc_drain(fx.hc, "a", true, err, sizeof(err)), 1);
	assert_int_equal(fx.nev, 1);

	/* the probes go on while draining, and their verdict does not show */
	s[0].status = 500;
	wait_failed(&fx, "a", 2);
	assert_int_equal(info(&fx, "a")->state, HC_DRAINING);
	assert_int_equal(fx.nev, 1);

	/* undrain: the verdict (down) applies */
	assert_int_equal(hc_drain(fx.hc, "a", false, err, sizeof(err)), 1);
	assert_int_equal(fx.nev, 2);
	assert_int_equal(fx.ev[1].from, HC_DRAINING);
	assert_int_equal(fx.ev[1].to, HC_DOWN);
	assert_string_equal(fx.ev[1].reason, "undrained by operator");
	s[0].status = 200;
	wait_state(&fx, "a", HC_UP);

	assert_int_equal(hc_drain(fx.hc, "nope", true, err, sizeof(err)), -1);
	assert_string_equal(err, "no node named 'nope'");
	assert_int_equal(hc_drain(fx.hc, "q/a", true, err, sizeof(err)), -1);
	fx_done(&fx, s, 2);
}

/* The whole text of path ("" when missing). */
static const char *file_text(const char *path)
{
	static char buf[2048];
	size_t n = 0;
	FILE *fp = fopen(path, "r");
	buf[0] = '\0';
	if (fp) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return buf;
}

#define DRAIN_HEAD "# nodes drained through s3lb, kept across restarts (written by s3lb)\n"

/* The drain file holds the header and exactly the nodes a and b ("pool/node" lines, in no
 * particular order; b may be NULL). */
static void assert_drained(const char *a, const char *b)
{
	const char *t = file_text(drain_path);
	char la[32], lb[32];
	snprintf(la, sizeof(la), "\n%s\n", a);
	snprintf(lb, sizeof(lb), "\n%s\n", b ? b : "");
	assert_int_equal(strncmp(t, DRAIN_HEAD, strlen(DRAIN_HEAD)), 0);
	assert_non_null(strstr(t + strlen(DRAIN_HEAD) - 1, la));
	if (b)
		assert_non_null(strstr(t + strlen(DRAIN_HEAD) - 1, lb));
	assert_int_equal(strlen(t), strlen(DRAIN_HEAD) + strlen(a) + 1 + (b ? strlen(b) + 1 : 0));
}

/* drain_state (issue 13 part 4): every drain and undrain rewrites the file; a new s3lb drains
 * what it names, skipping what does not parse or is no longer configured; a file that cannot be
 * read is an error with its path, and nothing is drained; a missing one is no drain. */
static void test_drain_state_file(void **state)
{
	const char *names[] = {"a", "b", "c"};
	const int ports[] = {1, 2, 3}; /* kind none: never connected to */
	char err[256] = "", junk[1200];
	fx_t fx;
	FILE *fp;
	(void)state;
	unlink(drain_path);
	fx_init(&fx);
	apply(&fx, config(", kind: none", names, ports, 3));
	assert_int_equal(hc_drain_restore(fx.hc, err, sizeof(err)), 0); /* missing: none */
	assert_int_equal(hc_drain(fx.hc, "p/a", true, err, sizeof(err)), 1);
	assert_drained("p/a", NULL);
	assert_int_equal(hc_drain(fx.hc, "c", true, err, sizeof(err)), 1);
	assert_drained("p/a", "p/c");
	assert_int_equal(hc_drain(fx.hc, "a", false, err, sizeof(err)), 1);
	assert_drained("p/c", NULL);
	fx_done(&fx, NULL, 0);

	/* a file written by hand, with what a crash, an editor or a disk may leave */
	memset(junk, 'x', sizeof(junk) - 1); /* longer than a line s3lb reads: read in pieces */
	junk[sizeof(junk) - 1] = '\0';
	assert_non_null(fp = fopen(drain_path, "w"));
	fprintf(fp, "# comment\n\np/b\r\nnot a node\nq/zz\np/\n/b\n\xff\xfe\x01\n%s\np/c", junk);
	fclose(fp);
	fx_init(&fx);
	apply(&fx, config(", kind: none", names, ports, 3));
	assert_int_equal(hc_drain_restore(fx.hc, err, sizeof(err)), 2);
	assert_int_equal(info(&fx, "a")->state, HC_UP);
	assert_int_equal(info(&fx, "b")->state, HC_DRAINING);
	assert_int_equal(info(&fx, "c")->state, HC_DRAINING);
	/* the subscribers heard of it (the gateway and IPVS) */
	assert_int_equal(fx.nev, 2);
	assert_int_equal(fx.ev[0].to, HC_DRAINING);
	/* rewritten with what holds */
	assert_drained("p/b", "p/c");
	fx_done(&fx, NULL, 0);

	/* unreadable (a directory in its place): an error naming it, nothing drained */
	unlink(drain_path);
	assert_int_equal(mkdir(drain_path, 0700), 0);
	fx_init(&fx);
	apply(&fx, config(", kind: none", names, ports, 3));
	assert_int_equal(hc_drain_restore(fx.hc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, drain_path));
	assert_int_equal(strncmp(err, "drain state ", 12), 0);
	assert_int_equal(info(&fx, "b")->state, HC_UP);
	assert_int_equal(fx.nev, 0);
	fx_done(&fx, NULL, 0);
	assert_int_equal(rmdir(drain_path), 0);
}

static int each_count;
static char each_names[64];

static void each_cb(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	(void)arg;
	(void)pool;
	(void)i;
	each_count++;
	strncat(each_names, node, sizeof(each_names) - strlen(each_names) - 1);
}

/* A reload keeps the state of nodes it keeps (drain included), probes new ones at once, stops
 * probing removed ones, moves a node whose address changed; a reload that cannot be applied
 * changes nothing. */
static void test_reload(void **state)
{
	fx_t fx;
	srv_t s[4];
	const char *names1[] = {"a", "b"}, *names2[] = {"a", "c"}, *names3[] = {"a", "c"};
	int ports[2];
	char err[256], yaml[4096];
	lb_config_t *bad;
	int nev, b_requests, a_requests;
	(void)state;
	fx_init(&fx);
	for (int i = 0; i < 4; i++)
		srv_start(&fx.loop, &s[i], 200);
	s[1].status = 503;
	ports[0] = s[0].port;
	ports[1] = s[1].port;
	apply(&fx, config(", rise: 1, fall: 1", names1, ports, 2));
	wait_state(&fx, "b", HC_DOWN);
	assert_int_equal(hc_drain(fx.hc, "a", true, err, sizeof(err)), 1);
	nev = fx.nev;

	/* b goes, c comes */
	ports[1] = s[2].port;
	apply(&fx, config(", rise: 1, fall: 1", names2, ports, 2));
	assert_null(hc_info(fx.hc, "p", "b"));
	assert_int_equal(info(&fx, "c")->state, HC_UP);
	assert_string_equal(info(&fx, "c")->reason, "initial");
	assert_int_equal(info(&fx, "a")->state, HC_DRAINING); /* kept across the reload */
	each_count = 0;
	each_names[0] = 0;
	hc_each(fx.hc, each_cb, NULL);
	assert_int_equal(each_count, 2);
	assert_true(!strcmp(each_names, "ac") || !strcmp(each_names, "ca"));
	wait_requests(&fx, &s[2], 1); /* c probed */
	b_requests = s[1].requests;
	wait_ok(&fx, "c", 3);
	assert_int_equal(s[1].requests, b_requests); /* b no longer probed */
	assert_int_equal(fx.nev, nev);

	/* a moves to another address: probed there, the old one left alone */
	ports[0] = s[3].port;
	apply(&fx, config(", rise: 1, fall: 1", names3, ports, 2));
	a_requests = s[0].requests;
	wait_requests(&fx, &s[3], 2);
	assert_int_equal(s[0].requests, a_requests);
	assert_int_equal(info(&fx, "a")->state, HC_DRAINING);

	/* a TLS CA that cannot be loaded: refused whole, nothing changes */
	snprintf(yaml, sizeof(yaml), "%s", config(", rise: 1, fall: 1", names1, ports, 2));
	insert(yaml, sizeof(yaml),
	       "pools:", "\n    health:", "\n    tls: { enabled: true, ca: /nonexistent/ca.pem }");
	bad = load(yaml);
	assert_int_equal(hc_apply(fx.hc, bad, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	lb_config_unref(bad);
	assert_null(hc_info(fx.hc, "p", "b"));
	assert_non_null(hc_info(fx.hc, "p", "c"));
	wait_ok(&fx, "c", info(&fx, "c")->probes_ok + 2); /* still probed */
	fx_done(&fx, s, 4);
}

/* hc_close while probes are in flight (connecting, waiting for an answer) and a connection is
 * kept: everything closes, no callback comes late (ASan), no handle stays. */
static void test_close_in_flight(void **state)
{
	fx_t fx;
	srv_t s[2];
	const char *names[] = {"a", "b"};
	int ports[2];
	(void)state;
	fx_init(&fx);
	srv_start(&fx.loop, &s[0], 200);
	srv_start(&fx.loop, &s[1], 200);
	s[1].mode = SILENT;
	ports[0] = s[0].port;
	ports[1] = s[1].port;
	apply(&fx, config("", names, ports, 2));
	wait_ok(&fx, "a", 1);         /* a: a kept connection */
	wait_requests(&fx, &s[1], 1); /* b: a probe waiting for its answer */
	assert_int_equal(info(&fx, "b")->probes_failed, 0);
	fx_done(&fx, s, 2);
	/* and at once after the first apply: probes still connecting */
	fx_init(&fx);
	srv_start(&fx.loop, &s[0], 200);
	ports[0] = s[0].port;
	apply(&fx, config("", names, ports, 1));
	uv_run(&fx.loop, UV_RUN_NOWAIT);
	fx_done(&fx, s, 1);
	assert_int_equal(s[0].requests, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rise_fall),
	    cmocka_unit_test(test_connection_not_kept),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_timeout_trickle),
	    cmocka_unit_test(test_big_body),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_tcp_probe),
	    cmocka_unit_test(test_wrong_status_head),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_drain),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_close_in_flight),
	    cmocka_unit_test(test_drain_state_file),
	};
	int rc;
	signal(SIGPIPE, SIG_IGN);
	snprintf(drain_dir, sizeof(drain_dir), "/tmp/s3lb-health-XXXXXX");
	if (!mkdtemp(drain_dir))
		return 1;
	snprintf(drain_path, sizeof(drain_path), "%s/drained", drain_dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(drain_path);
	rmdir(drain_dir);
	return rc;
}

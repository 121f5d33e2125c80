/*
 * The health checker: per node, a timer that alternates between waiting and probing.
 *
 *        +------ interval (fast_interval while rising/falling), +-jitter ------+
 *        v                                                                      |
 *      WAIT --(due; ejection back-off over)--> PROBE --(result or timeout)--> finish
 *                                                |                              |
 *                                      tcp: connect                   fsm, publish a
 *                                      http/s3: request on a kept-    transition, next
 *                                      alive connection or a new one  WAIT
 *
 * Every probe goes through net/client (net/client.h), the HTTP/1.1 client of the gateway's node
 * connections and of the bench: a tcp probe is its connect alone (with TLS, the handshake too),
 * then a close; an http or s3 probe is one exchange, on the connection the last probe left idle
 * (net_client_idle, until the next probe is due) or on a new one. The response body is read and
 * dropped, MAX_BODY at most. The probe's `timeout` bounds the whole probe through the node's
 * timer; net/client's own timers (connect, send, head, read) get the same value and only back it
 * up, since each of them restarts on progress (a node that trickles bytes would outlive them).
 *
 * Every probe ends in finish(), which records, publishes and reschedules. Probe connections are
 * heap objects of their own (hc_conn_t), detached from the node when they close, so a callback
 * that arrives late never touches a node that moved on. Main loop only.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sigv4.h"
#include "net/client.h"
#include "net/tls.h"
#include "health/health.h"

#define PROBE_BUF 16384      /* net/client's buffer: a response head must fit in it */
#define MAX_BODY  (1u << 20) /* a probe reads at most this much body, then gives up the conn */
#define MAX_SUBS  8

typedef struct hc_node_s hc_node_t;

typedef struct hc_conn_s {
	net_client_t cl;
	hc_node_t *node; /* NULL once detached (closing) */
	char req[2048];  /* the request, until written */
	size_t req_len;
	uint64_t timeout; /* the probe timeout its net/client timers were given */
	uint64_t body;    /* body bytes of this probe's response so far */
	int status;       /* of the last response head */
	bool idle;        /* kept alive between probes */
} hc_conn_t;

struct hc_node_s {
	hc_t *hc;
	char *pool, *name;
	const lb_pool_conf_t *pconf;
	const lb_node_conf_t *conf;
	net_tls_ctx_t *tls;
	hc_fsm_t fsm;
	hc_info_t info;
	uv_timer_t timer;
	hc_conn_t *conn;
	uint64_t t0; /* uv_hrtime of the probe start */
	bool probing;
	bool removed;
	bool seen;
	hc_node_t *next;
};

typedef struct hc_sub_s {
	hc_event_cb cb;
	void *arg;
} hc_sub_t;

struct hc_s {
	uv_loop_t *loop;
	lb_config_t *cfg;
	hc_node_t *nodes;
	hc_sub_t subs[MAX_SUBS];
	size_t nsubs;
	unsigned pending; /* node timers still closing */
	bool closing;
	uint64_t rng;
};

static void schedule(hc_node_t *n, uint64_t delay);
static void start_probe(hc_node_t *n);

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t rnd(hc_t *hc)
{
	uint64_t z = (hc->rng += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const lb_health_conf_t *hcfg(const hc_node_t *n)
{
	return &n->conf->health;
}

static void publish(hc_node_t *n, hc_state_t from, const char *reason)
{
	hc_event_t ev = {n->pool, n->name, from, hc_fsm_state(&n->fsm), reason};
	hc_t *hc = n->hc;
	snprintf(n->info.reason, sizeof(n->info.reason), "%s", reason);
	n->info.since_ms = wall_ms();
	n->info.state = ev.to;
	n->info.verdict = true;
	n->info.transitions++;
	if (ev.to == HC_UP)
		LB_INFO("node %s/%s (%s) is up: %s", n->pool, n->name, n->conf->addr.text, reason);
	else
		LB_WARN("node %s/%s (%s) is %s: %s", n->pool, n->name, n->conf->addr.text,
		        hc_state_name(ev.to), reason);
	for (size_t i = 0; i < hc->nsubs; i++)
		hc->subs[i].cb(hc->subs[i].arg, &ev);
}

/* ---- probe connections ------------------------------------------------------------------ */

static void conn_close(hc_node_t *n)
{
	hc_conn_t *c = n->conn;
	if (!c)
		return;
	n->conn = NULL;
	c->node = NULL;
	net_client_close(&c->cl, false); /* on_cl_close frees c */
}

static void finish(hc_node_t *n, bool ok, const char *why)
{
	const lb_health_conf_t *h = hcfg(n);
	hc_state_t before = hc_fsm_state(&n->fsm);
	uint64_t now = uv_now(n->hc->loop);
	char reason[160];

	if (!n->probing)
		return;
	n->probing = false;
	uv_timer_stop(&n->timer);
	if (!ok || !n->conn || !n->conn->idle)
		conn_close(n);
	n->info.last_probe_ms = (double)(uv_hrtime() - n->t0) / 1e6;
	n->info.last_probe_ok = ok;
	snprintf(n->info.last_probe_error, sizeof(n->info.last_probe_error), "%s", ok ? "" : why);
	if (ok)
		n->info.probes_ok++;
	else
		n->info.probes_failed++;
	n->info.verdict = true;
	LB_DEBUG("probe %s/%s: %s in %.1f ms%s%s", n->pool, n->name, ok ? "ok" : "failed",
	         n->info.last_probe_ms, ok ? "" : ": ", ok ? "" : why);
	if (hc_fsm_probe(&n->fsm, ok, h->rise, h->fall, now, 2 * h->passive_max_backoff)) {
		if (ok)
			snprintf(reason, sizeof(reason), "%s probe: %u x ok",
			         lb_probe_kind_name(h->kind), h->rise);
		else
			snprintf(reason, sizeof(reason), "%s probe: %u x failed, last: %s",
			         lb_probe_kind_name(h->kind), h->fall, why);
		if (hc_fsm_state(&n->fsm) != before)
			publish(n, before, reason);
	}
	n->info.ejections = n->fsm.ejections;
	n->info.passive_fails = n->fsm.passive_fails;
	schedule(n, hc_jittered(hc_fsm_moving(&n->fsm) ? h->fast_interval : h->interval,
	                        h->jitter_pct, rnd(n->hc)));
}

static bool status_expected(const lb_health_conf_t *h, int status)
{
	if (h->kind == LB_PROBE_S3)
		return status == 200; /* the canary object is there and readable */
	for (size_t i = 0; i < h->nexpect; i++)
		if (status >= h->expect[i].lo && status <= h->expect[i].hi)
			return true;
	return false;
}

static void timeout_failure(hc_node_t *n)
{
	char why[64];
	snprintf(why, sizeof(why), "timeout (%llu ms)", (unsigned long long)hcfg(n)->timeout);
	finish(n, false, why);
}

/*
 * Fills c->req. The s3 probe gets a signer of its own each time (credentials follow a reload;
 * probes are seconds apart); when signing fails the request goes without Authorization and the
 * node refuses it. Returns 0, or UV_ENOBUFS when the s3 key is too long to encode.
 */
static int build_request(hc_node_t *n, hc_conn_t *c)
{
	const lb_health_conf_t *h = hcfg(n);
	const char *host = h->http_host ? h->http_host : n->conf->addr.text;
	int len;

	if (h->kind == LB_PROBE_S3) {
		char uri[1200], key[1100], date[17], auth[512];
		lb_sigv4_hdr_t hdrs[3] = {{"host", host},
		                          {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
		                          {"x-amz-date", date}};
		lb_sigv4_t *sig = NULL;
		int rc;

		lb_sigv4_amz_date(time(NULL), date);
		if (lb_sigv4_uri_encode(h->s3_key, strlen(h->s3_key), true, key, sizeof(key)) < 0)
			return UV_ENOBUFS;
		snprintf(uri, sizeof(uri), "/%s/%s", h->s3_bucket, key);
		rc = lb_sigv4_new(h->s3_access_key, h->s3_secret_key, h->s3_region, "s3", &sig);
		if (rc < 0 || lb_sigv4_authorization(sig, "HEAD", uri, "", hdrs, 3, date,
		                                     LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)) < 0)
			auth[0] = 0;
		lb_sigv4_free(sig);
		len = snprintf(c->req, sizeof(c->req),
		               "HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: s3lb-health\r\n"
		               "x-amz-date: %s\r\nx-amz-content-sha256: %s\r\nAuthorization: %s\r\n"
		               "\r\n",
		               uri, host, date, LB_SIGV4_EMPTY_SHA256, auth);
	} else {
		len = snprintf(c->req, sizeof(c->req),
		               "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: s3lb-health\r\n\r\n",
		               h->http_method, h->http_path, host);
	}
	c->req_len = len < 0 || (size_t)len >= sizeof(c->req) ? sizeof(c->req) - 1 : (size_t)len;
	return 0;
}

/*
 * Starts the probe's exchange on n->conn, connected (new, or kept from the last probe). Returns
 * 0 (the probe is under way, or finished), or net_client_begin's error when a kept connection is
 * no longer usable (the node closed it or sent bytes nobody asked for): nothing was sent then.
 */
static int send_probe(hc_node_t *n)
{
	hc_conn_t *c = n->conn;
	const lb_health_conf_t *h = hcfg(n);
	uv_buf_t b;
	int rc;

	rc = net_client_begin(&c->cl, !strcmp(h->http_method, "HEAD") || h->kind == LB_PROBE_S3,
	                      NULL);
	if (rc < 0)
		return rc;
	c->idle = false;
	c->body = 0;
	c->status = 0;
	if (build_request(n, c) < 0) {
		finish(n, false, "s3 key too long to sign");
		return 0;
	}
	b = uv_buf_init(c->req, (unsigned)c->req_len);
	if (net_client_write(&c->cl, &b, 1) < 0) {
		finish(n, false, "write failed");
		return 0;
	}
	net_client_request_done(&c->cl);
	return 0;
}

/* net/client's callbacks: none comes after conn_close (which detaches c) but on_cl_close, so
 * c->node is set in every other one. */

static void on_cl_connect(net_client_t *cl, int status)
{
	hc_conn_t *c = cl->data;
	hc_node_t *n = c->node;
	int rc;
	(void)status; /* 0: failures come to on_cl_error */
	if (hcfg(n)->kind == LB_PROBE_TCP) {
		finish(n, true, "");
		return;
	}
	if ((rc = send_probe(n)) < 0)
		finish(n, false, uv_strerror(rc));
}

static void on_cl_written(net_client_t *cl)
{
	(void)cl;
}

static void on_cl_head(net_client_t *cl, const net_http_t *h, const char *msg)
{
	hc_conn_t *c = cl->data;
	(void)msg;
	c->status = net_http_status(h); /* interim heads are followed by the final one */
}

static void on_cl_body(net_client_t *cl, const char *data, size_t len)
{
	hc_conn_t *c = cl->data;
	hc_node_t *n = c->node;
	(void)data;
	if (!len)
		return;
	c->body += len;
	if (c->body > MAX_BODY) {
		/* not what a health endpoint sends: the status decides, the connection goes */
		if (status_expected(hcfg(n), c->status))
			finish(n, true, "");
		else
			finish(n, false, "response too large");
		return;
	}
	net_client_consumed(cl); /* may deliver more, or the end, at once */
}

static void on_cl_done(net_client_t *cl, bool reusable)
{
	hc_conn_t *c = cl->data;
	hc_node_t *n = c->node;
	char why[32];

	if (!status_expected(hcfg(n), c->status)) {
		snprintf(why, sizeof(why), "status %d", c->status);
		finish(n, false, why);
		return;
	}
	c->idle = reusable;
	finish(n, true, "");
	/* kept for the next probe; if that one is held back longer (ejection back-off), the
	 * connection ends and the probe opens a new one */
	if (n->conn == c && c->idle)
		net_client_idle(cl, uv_timer_get_due_in(&n->timer) + hcfg(n)->timeout);
}

static void on_cl_error(net_client_t *cl, net_client_err_t e, int status, const char *why)
{
	hc_conn_t *c = cl->data;
	hc_node_t *n = c->node;
	char buf[96];

	switch (e) {
	case NET_CLIENT_E_CONNECT:
		why = status == UV_EPROTO && net_tls_last_error(&cl->sock)[0]
		          ? net_tls_last_error(&cl->sock)
		          : uv_strerror(status);
		break;
	case NET_CLIENT_E_CONNECT_TIMEOUT:
	case NET_CLIENT_E_SEND_TIMEOUT:
	case NET_CLIENT_E_HEAD_TIMEOUT:
	case NET_CLIENT_E_READ_TIMEOUT:
		timeout_failure(n); /* the probe's deadline, whichever timer saw it first */
		return;
	case NET_CLIENT_E_CLOSED:
		why = "connection closed";
		break;
	case NET_CLIENT_E_INVALID:
		snprintf(buf, sizeof(buf), "invalid response: %s", why);
		why = buf;
		break;
	case NET_CLIENT_E_WRITE:
	case NET_CLIENT_E_READ:
		break; /* why: the libuv error */
	}
	finish(n, false, why);
}

static void on_cl_idle_end(net_client_t *cl, net_client_idle_t why)
{
	hc_conn_t *c = cl->data;
	(void)why; /* closed, stray bytes or idle too long: the next probe opens another */
	conn_close(c->node);
}

static void on_cl_close(net_client_t *cl)
{
	free(cl->data);
}

static const net_client_cbs_t probe_cbs = {
    .on_connect = on_cl_connect,
    .on_written = on_cl_written,
    .on_head = on_cl_head,
    .on_body = on_cl_body,
    .on_done = on_cl_done,
    .on_error = on_cl_error,
    .on_idle_end = on_cl_idle_end,
    .on_close = on_cl_close,
};

static void on_probe_timeout(uv_timer_t *t)
{
	timeout_failure(t->data);
}

static void start_probe(hc_node_t *n)
{
	const lb_health_conf_t *h = hcfg(n);
	net_client_conf_t cc = {.connect_ms = h->timeout,
	                        .send_ms = h->timeout,
	                        .head_ms = h->timeout,
	                        .read_ms = h->timeout,
	                        .buffer_size = PROBE_BUF,
	                        .max_headers = 200};
	hc_conn_t *c;
	int rc;

	n->probing = true;
	n->t0 = uv_hrtime();
	uv_timer_start(&n->timer, on_probe_timeout, h->timeout, 0);
	if (n->conn && n->conn->idle && n->conn->timeout == h->timeout && h->kind != LB_PROBE_TCP &&
	    send_probe(n) == 0)
		return;
	conn_close(n);
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->node = n;
	c->timeout = h->timeout;
	net_client_init(n->hc->loop, &c->cl, &probe_cbs, &cc, c);
	n->conn = c;
	rc = net_client_connect(&c->cl, (const struct sockaddr *)&n->conf->addr.ss, n->tls,
	                        n->pconf->tls.server_name);
	if (rc < 0)
		finish(n, false, uv_strerror(rc));
}

static void on_due(uv_timer_t *t)
{
	hc_node_t *n = t->data;
	const lb_health_conf_t *h = hcfg(n);
	uint64_t now = uv_now(n->hc->loop);

	if (n->fsm.probe_after > now) {
		schedule(n, n->fsm.probe_after - now);
		return;
	}
	if (h->kind == LB_PROBE_NONE) {
		/* no active probe: an ejected node comes back when its back-off is over */
		hc_state_t before = hc_fsm_state(&n->fsm);
		if (!n->fsm.up) {
			n->fsm.up = true;
			n->fsm.count = 0;
			if (hc_fsm_state(&n->fsm) != before)
				publish(n, before, "ejection back-off over (no active probe)");
		}
		return;
	}
	start_probe(n);
}

static void schedule(hc_node_t *n, uint64_t delay)
{
	if (n->removed || n->hc->closing)
		return;
	uv_timer_start(&n->timer, on_due, delay, 0);
}

/* ---- nodes ------------------------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
	hc_node_t *n = h->data;
	hc_t *hc = n->hc;
	if (n->tls)
		net_tls_ctx_unref(n->tls);
	free(n->pool);
	free(n->name);
	free(n);
	if (--hc->pending == 0 && hc->closing) {
		if (hc->cfg)
			lb_config_unref(hc->cfg);
		free(hc);
	}
}

static void node_remove(hc_node_t *n)
{
	n->removed = true;
	n->probing = false;
	conn_close(n);
	uv_timer_stop(&n->timer);
	uv_close((uv_handle_t *)&n->timer, on_timer_closed);
}

static hc_node_t *find(hc_t *hc, const char *pool, const char *node)
{
	for (hc_node_t *n = hc->nodes; n; n = n->next)
		if (!strcmp(n->pool, pool) && !strcmp(n->name, node))
			return n;
	return NULL;
}

int hc_new(uv_loop_t *loop, hc_t **out)
{
	hc_t *hc = calloc(1, sizeof(*hc));
	if (!hc)
		return UV_ENOMEM;
	hc->loop = loop;
	hc->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)hc;
	hc->pending = 1; /* hc itself, released by hc_close */
	*out = hc;
	return 0;
}

int hc_apply(hc_t *hc, lb_config_t *cfg, char *err, size_t errlen)
{
	net_tls_ctx_t **ctx = calloc(cfg->npools ? cfg->npools : 1, sizeof(*ctx));
	hc_node_t **pp, *n;

	if (!ctx)
		abort();
	/* everything that can fail first, so a failure changes nothing */
	for (size_t i = 0; i < cfg->npools; i++) {
		const lb_upstream_tls_t *t = &cfg->pools[i].tls;
		if (t->enabled &&
		    net_tls_client_ctx_new(t->ca_file, t->verify, &ctx[i], err, errlen) < 0) {
			for (size_t j = 0; j < i; j++)
				if (ctx[j])
					net_tls_ctx_unref(ctx[j]);
			free(ctx);
			return -1;
		}
	}
	for (n = hc->nodes; n; n = n->next)
		n->seen = false;
	for (size_t i = 0; i < cfg->npools; i++) {
		const lb_pool_conf_t *p = &cfg->pools[i];
		for (size_t j = 0; j < p->nnodes; j++) {
			const lb_node_conf_t *nc = &p->nodes[j];
			bool fresh = false;
			n = find(hc, p->name, nc->name);
			if (!n) {
				n = calloc(1, sizeof(*n));
				if (!n)
					abort();
				n->hc = hc;
				n->pool = strdup(p->name);
				n->name = strdup(nc->name);
				if (!n->pool || !n->name)
					abort();
				uv_timer_init(hc->loop, &n->timer);
				n->timer.data = n;
				hc->pending++;
				hc_fsm_init(&n->fsm, nc->health.fall);
				n->info.state = HC_UP;
				n->info.last_probe_ms = -1;
				n->info.since_ms = wall_ms();
				snprintf(n->info.reason, sizeof(n->info.reason), "initial");
				n->next = hc->nodes;
				hc->nodes = n;
				fresh = true;
			} else if (memcmp(&n->conf->addr.ss, &nc->addr.ss, sizeof(nc->addr.ss)) ||
			           n->conf->health.kind != nc->health.kind) {
				/* another address or probe kind: the kept connection is stale */
				conn_close(n);
				n->probing = false;
				fresh = true;
			}
			if (n->tls)
				net_tls_ctx_unref(n->tls);
			n->tls = ctx[i] ? net_tls_ctx_ref(ctx[i]) : NULL;
			n->pconf = p;
			n->conf = nc;
			n->info.kind = lb_probe_kind_name(nc->health.kind);
			if (nc->health.kind == LB_PROBE_NONE)
				n->info.verdict = true; /* nothing to wait for */
			n->seen = true;
			if (fresh || !n->probing) {
				uv_timer_stop(&n->timer);
				n->probing = false;
				if (nc->health.kind != LB_PROBE_NONE || !n->fsm.up)
					schedule(n, fresh ? 0
					                  : hc_jittered(nc->health.interval,
					                                nc->health.jitter_pct,
					                                rnd(hc)));
			}
		}
	}
	for (pp = &hc->nodes; (n = *pp);) {
		if (!n->seen) {
			*pp = n->next;
			node_remove(n);
		} else {
			pp = &n->next;
		}
	}
	for (size_t i = 0; i < cfg->npools; i++)
		if (ctx[i])
			net_tls_ctx_unref(ctx[i]);
	free(ctx);
	lb_config_ref(cfg);
	if (hc->cfg)
		lb_config_unref(hc->cfg);
	hc->cfg = cfg;
	return 0;
}

int hc_subscribe(hc_t *hc, hc_event_cb cb, void *arg)
{
	if (hc->nsubs == MAX_SUBS)
		return UV_ENOBUFS;
	hc->subs[hc->nsubs++] = (hc_sub_t){cb, arg};
	return 0;
}

/* Another node of n's pool takes traffic: ejecting n leaves the pool usable. */
static bool pool_has_other_up(const hc_node_t *n)
{
	for (const hc_node_t *o = n->hc->nodes; o; o = o->next)
		if (o != n && !strcmp(o->pool, n->pool) && hc_fsm_state(&o->fsm) == HC_UP)
			return true;
	return false;
}

void hc_passive(hc_t *hc, const char *pool, const char *node, bool ok, const char *why)
{
	hc_node_t *n = find(hc, pool, node);
	const lb_health_conf_t *h;
	hc_state_t before;
	hc_passive_t r;
	bool may_eject;
	char reason[160];

	if (!n)
		return;
	h = hcfg(n);
	before = hc_fsm_state(&n->fsm);
	/* Passive health never takes out a pool's last usable node: with it gone every client
	 * gets 503, where the node itself may be fine (its probes say so) and only some requests
	 * fail. The active probes can still mark it down. */
	may_eject = before != HC_UP || pool_has_other_up(n);
	r = hc_fsm_passive(&n->fsm, hc_req_classify(ok, why), may_eject, h->passive_failures,
	                   h->passive_backoff, h->passive_max_backoff, uv_now(hc->loop));
	if (r == HC_PASSIVE_SPARED) {
		LB_WARN(
		    "node %s/%s (%s) not ejected: %u consecutive failed requests, last: %s, but "
		    "it is the last usable node of its pool (passive health never empties a pool)",
		    n->pool, n->name, n->conf->addr.text, h->passive_failures, why ? why : "?");
	} else if (r == HC_PASSIVE_EJECTED) {
		snprintf(reason, sizeof(reason),
		         "passive: %u consecutive failed requests, last: %s", h->passive_failures,
		         why ? why : "?");
		n->info.ejections = n->fsm.ejections;
		if (hc_fsm_state(&n->fsm) != before)
			publish(n, before, reason);
		/* the next probe waits for the back-off */
		if (!n->probing)
			schedule(n, n->fsm.probe_after - uv_now(hc->loop));
	}
	n->info.passive_fails = n->fsm.passive_fails;
}

/* ---- drain kept across restarts ------------------------------------------------------------ */

/* Writes every drained node, "pool/node" a line, to cfg->drain_state (a new file renamed over
 * the old one, its directory made if missing). A failure is logged: the drain holds until the
 * restart all the same. */
static void drain_save(hc_t *hc)
{
	const char *path = hc->cfg ? hc->cfg->drain_state : NULL;
	char tmp[4096], dir[4096];
	FILE *f;
	bool ok;

	if (!path || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST) {
		LB_WARN("drain state %s: %s (drains are not kept across a restart)", path,
		        strerror(errno));
		return;
	}
	if (!(f = fopen(tmp, "w"))) {
		LB_WARN("drain state %s: %s (drains are not kept across a restart)", tmp,
		        strerror(errno));
		return;
	}
	fputs("# nodes drained through s3lb, kept across restarts (written by s3lb)\n", f);
	for (hc_node_t *n = hc->nodes; n; n = n->next)
		if (n->fsm.draining)
			fprintf(f, "%s/%s\n", n->pool, n->name);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok || rename(tmp, path) < 0) {
		LB_WARN("drain state %s: %s (drains are not kept across a restart)", path,
		        strerror(errno));
		unlink(tmp);
	}
}

int hc_drain_restore(hc_t *hc, char *err, size_t errlen)
{
	const char *path = hc->cfg ? hc->cfg->drain_state : NULL;
	char line[512], why[160];
	int restored = 0, lineno = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "r"))) {
		if (!path || errno == ENOENT)
			return 0;
		snprintf(err, errlen, "drain state %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");
		lineno++;
		line[len] = 0;
		if (!len || line[0] == '#')
			continue;
		if (!strchr(line, '/')) {
			LB_WARN("drain state %s:%d: not pool/node: '%s', skipped", path, lineno,
			        line);
			continue;
		}
		if (hc_drain(hc, line, true, why, sizeof(why)) < 0)
			LB_WARN("drain state %s:%d: %s (no longer configured), skipped", path,
			        lineno, why);
		else
			restored++;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "drain state %s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (restored)
		LB_INFO("drain state %s: %d node(s) drained as before the restart", path, restored);
	return restored;
}

int hc_drain(hc_t *hc, const char *name, bool on, char *err, size_t errlen)
{
	bool changed = false;
	const char *slash = strchr(name, '/');
	int matched = 0;
	for (hc_node_t *n = hc->nodes; n; n = n->next) {
		hc_state_t before;
		if (slash) {
			size_t pl = (size_t)(slash - name);
			if (strlen(n->pool) != pl || strncmp(n->pool, name, pl) ||
			    strcmp(n->name, slash + 1))
				continue;
		} else if (strcmp(n->name, name)) {
			continue;
		}
		matched++;
		before = hc_fsm_state(&n->fsm);
		if (hc_fsm_drain(&n->fsm, on)) {
			changed = true;
			publish(n, before, on ? "drained by operator" : "undrained by operator");
		}
	}
	if (!matched) {
		snprintf(err, errlen, "no node named '%s'", name);
		return -1;
	}
	if (changed)
		drain_save(hc);
	return matched;
}

const hc_info_t *hc_info(hc_t *hc, const char *pool, const char *node)
{
	hc_node_t *n = find(hc, pool, node);
	if (!n)
		return NULL;
	n->info.state = hc_fsm_state(&n->fsm);
	n->info.passive_fails = n->fsm.passive_fails;
	n->info.ejections = n->fsm.ejections;
	return &n->info;
}

void hc_each(hc_t *hc,
             void (*cb)(void *arg, const char *pool, const char *node, const hc_info_t *i),
             void *arg)
{
	for (hc_node_t *n = hc->nodes; n; n = n->next)
		cb(arg, n->pool, n->name, hc_info(hc, n->pool, n->name));
}

void hc_close(hc_t *hc)
{
	hc_node_t *n, *next;
	if (hc->closing)
		return;
	hc->closing = true;
	for (n = hc->nodes; n; n = next) {
		next = n->next;
		node_remove(n);
	}
	hc->nodes = NULL;
	if (--hc->pending == 0) {
		if (hc->cfg)
			lb_config_unref(hc->cfg);
		free(hc);
	}
}

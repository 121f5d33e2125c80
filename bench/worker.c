/*
 * A worker's loop: connections that run S3 operations one after the other on keep-alive
 * connections (net/client.h: plain or TLS; it parses the responses, and its body callback hands
 * over the decoded body for verification).
 *
 * Each connection carries one operation at a time; an operation is one or more HTTP exchanges
 * (a multipart upload: create, the parts, complete). One state enum and one do_next():
 *
 *            assign (scheduler)          sock open: send
 *   IDLE -----------------------> START --------------------> EXCHANGE
 *    ^                              |  sock none: connect       |  request written and
 *    |                              |  (back to START when up)  |  response parsed, or a
 *    |                              |  sock closing: wait       |  failure (timeout, I/O,
 *    |                              v                           v  bad HTTP)
 *    |                           AFTER <------------------------+
 *    |                              |  close the sock when it cannot be reused; wait for it
 *    |                              |  backoff after a connect failure
 *    |                              v
 *    +------ no work now ------- NEXT ---- more steps: START; op done: record, take the next
 *                                   |
 *                                   +---- no work ever (count phases) / stop --> DEAD
 *
 * The request and the response are tracked apart (req_done, resp_done): a server may answer
 * (and close) before a PUT's body is sent; the exchange then ends with the response and the
 * connection is closed, since the unsent rest would be taken for the next request.
 *
 * Timeouts: each exchange has one deadline (--timeout, from its start), checked by a sweep over
 * the connections; net/client's own timers are set behind it, as a backstop, and report the
 * same error.
 *
 * Load: closed loop, each connection starts its next operation when one ends; open loop, a 1 ms
 * tick starts the operations whose intended time has come on idle connections, and every
 * operation's latency counts from its intended start time, so queueing in the generator or the
 * server is measured, not hidden (no coordinated omission). The k-th operation of the worker is
 * due at t_start + k / rate; those not started by the end are reported as missed.
 *
 * Bodies: PUT bodies are made by the generator chunk by chunk; GET bodies are checked against it
 * as they arrive (a Range GET against its slice), so nothing is buffered whole.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/body.h"
#include "bench/resp.h"
#include "bench/s3.h"
#include "bench/worker.h"
#include "core/sbuf.h"
#include "net/client.h"
#include "net/rbuf.h"
#include "net/tls.h"

#define RBUF_CAP      (256 * 1024) /* shared: back to the spares whenever consumed */
#define MAX_HEADERS   200
#define WBUF_CAP      (64 * 1024) /* one per connection that sends bodies, made on first use */
#define HEAD_CAP      4096
#define XML_CAP       2048
#define BACKOFF_MS    50
#define RETRY_PICK_MS 1
#define TICK_MS       1
#define FLUSH_MS      200
#define SWEEP_MS      100    /* request timeouts are checked this often (at most) */
#define BUCKET_TMO_MS 120000 /* creating a bucket can take long (Ceph: new index objects) */
#define RB_ATTEMPTS   20     /* read-back: tries per object before it counts as unreadable */

typedef enum { C_IDLE, C_START, C_EXCHANGE, C_AFTER, C_BACKOFF, C_NEXT, C_DEAD } cstate_t;
typedef enum { S_NONE, S_CONNECTING, S_OPEN, S_CLOSING } sstate_t;
typedef enum { B_NONE, B_OBJECT, B_TEXT } body_src_t;

typedef struct op_s {
	bench_op_kind_t kind;
	unsigned step;
	bool took; /* holds a slot of the object table */
	bench_take_t take;
	uint32_t slot, gen;
	uint64_t size, seed;
	uint64_t t0;      /* intended start */
	uint64_t t_first; /* first response byte, 0 before */
	bool failed;
	bool aborting; /* multipart: the abort request after a failure */
	/* the current exchange */
	int status;
	bool check;       /* compare the response body with the object */
	uint64_t exp_off; /* object offset of the first expected body byte */
	uint64_t exp_len; /* expected body length */
	uint64_t got;     /* body bytes received */
	int64_t bad_at;   /* object offset of the first wrong byte, -1 */
	body_src_t src;   /* request body */
	uint64_t src_off, src_len;
	char *text; /* B_TEXT body (malloc'd) */
	size_t xml_len;
	/* multipart */
	unsigned nparts;
	char (*etags)[80];
	/* read-back */
	bench_obj_expect_t rb;
	bool rb_resolved; /* the version the body must be is known (or none fits) */
	bool rb_nomatch;  /* unknown slot: no version it may hold has this length */
	unsigned attempt;
	/* Text fields last: a new operation resets everything above and only their first bytes. */
	char key[512];
	char what[48];
	char detail[256];
	char upload_id[256];
	char xml[XML_CAP]; /* start of a response body that is not checked */
} op_t;

typedef struct conn_s {
	bench_worker_t *w;
	net_client_t cl;   /* initialised at each connect, until on_close */
	uv_timer_t timer;  /* backoff and retry waits */
	uint64_t deadline; /* of the exchange in START or EXCHANGE (uv_now ms) */
	cstate_t state;
	sstate_t sock_state;
	bool has_op;
	bool req_done, resp_done;
	bool must_close;
	bool backoff;
	bool head_req; /* the exchange's request is a HEAD: no body follows */
	bool timer_closed;
	uint64_t body_sent;
	size_t head_len;
	bench_resp_t resp; /* the final head of the exchange's response */
	char *wbuf;
	char head[HEAD_CAP];
	op_t op;
} conn_t;

struct bench_worker_s {
	bench_phase_t *ph;
	const bench_opts_t *o;
	unsigned id;
	unsigned nconns;
	double rate;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_timer_t tick, end, flush, sweep;
	net_sockq_t sockq; /* write completions (net/sock.h) */
	net_client_conf_t cconf;
	uv_async_t stop; /* bench_worker_stop, from the main thread */
	uv_mutex_t mu;   /* guards stop_open against the main thread */
	bool stop_open;  /* the async handle may still be signalled */
	bool timers_on;
	conn_t *conns;
	unsigned dead;
	unsigned *idle; /* stack of idle connections (open loop) */
	unsigned nidle;
	bench_s3_t s3;
	net_tls_ctx_t *tls;
	char sni[256];
	bench_rng_t rng;
	bool stopping;
	bool single_done; /* SETUP/TEARDOWN: the one operation was handed out */
	/* open loop */
	uint64_t interval; /* ns between intended starts */
	uint64_t started;  /* operations started so far */
	bench_stats_t *stats, *other;
	bench_hist_t *prog; /* latencies not yet merged into the phase's */
	atomic_uint_fast64_t p_ops, p_bytes, p_errors;
};

static void do_next(conn_t *c);

/* ---- time and accounting ------------------------------------------------------------------- */

static bool in_window(const bench_worker_t *w, uint64_t now)
{
	return w->ph->kind != BENCH_PH_RUN || (now >= w->ph->t_measure && now < w->ph->t_end);
}

static bench_stats_t *stats_at(bench_worker_t *w, uint64_t now)
{
	return in_window(w, now) ? w->stats : w->other;
}

/* The loop's time in ns (updated once per loop iteration, millisecond steps): precise enough
 * to place bytes and requests in the window, and free. Latencies use uv_hrtime. */
static uint64_t loop_ns(bench_worker_t *w)
{
	return uv_now(&w->loop) * 1000000ull;
}

static void count_bytes(conn_t *c, uint64_t n)
{
	bench_worker_t *w = c->w;
	stats_at(w, loop_ns(w))->op[c->op.kind].bytes += n;
	atomic_fetch_add_explicit(&w->p_bytes, n, memory_order_relaxed);
}

/* ---- operations ---------------------------------------------------------------------------- */

static void op_fail(op_t *op, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first failure of an operation is the one reported. */
static void op_fail(op_t *op, const char *what, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (op->failed)
		return;
	op->failed = true;
	snprintf(op->what, sizeof(op->what), "%s", what);
	n = snprintf(op->detail, sizeof(op->detail), "%s %s: ", bench_op_names[op->kind],
	             op->key[0] ? op->key : "(bucket)");
	if (n < 0 || (size_t)n >= sizeof(op->detail))
		return;
	va_start(ap, fmt);
	vsnprintf(op->detail + n, sizeof(op->detail) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void op_reset(op_t *op, bench_op_kind_t kind, uint64_t t0)
{
	free(op->text);
	free(op->etags);
	memset(op, 0, offsetof(op_t, key));
	op->key[0] = op->what[0] = op->detail[0] = op->upload_id[0] = '\0';
	op->kind = kind;
	op->t0 = t0;
	op->bad_at = -1;
}

static void op_key(bench_worker_t *w, op_t *op)
{
	bench_objects_key(w->ph->objs, op->slot, op->key, sizeof(op->key));
	op->seed = bench_body_seed(op->key, strlen(op->key), op->size);
}

/* Takes a slot for a workload operation of this kind; false when none qualifies now. */
static bool op_take(bench_worker_t *w, op_t *op, bench_op_kind_t kind)
{
	bench_objects_t *t = w->ph->objs;
	switch (kind) {
	case BENCH_OP_GET:
	case BENCH_OP_HEAD:
		op->take = BENCH_TAKE_READ;
		break;
	case BENCH_OP_PUT:
	case BENCH_OP_MULTIPART:
		op->take = BENCH_TAKE_WRITE;
		break;
	case BENCH_OP_DELETE:
		op->take = BENCH_TAKE_DELETE;
		break;
	default:
		return true; /* LIST: no object */
	}
	if (bench_objects_take(t, &w->rng, op->take, &op->slot, &op->gen) < 0)
		return false;
	op->took = true;
	op->size = bench_objects_size(t, op->slot, op->gen);
	op_key(w, op);
	return true;
}

static bool pick_run_op(bench_worker_t *w, op_t *op, uint64_t t0)
{
	const bench_opts_t *o = w->o;
	uint64_t r;
	int k;

	for (int attempt = 0; attempt < 4; attempt++) {
		r = bench_rng_below(&w->rng, o->mix_total);
		for (k = 0; k < BENCH_OP_PUBLIC; k++) {
			if (r < o->mix[k])
				break;
			r -= o->mix[k];
		}
		op_reset(op, (bench_op_kind_t)k, t0);
		if (op_take(w, op, (bench_op_kind_t)k))
			return true;
	}
	/* Nothing fit after a few draws (all objects deleted, or taken): any kind that can. */
	for (k = 0; k < BENCH_OP_PUBLIC; k++) {
		if (!o->mix[k])
			continue;
		op_reset(op, (bench_op_kind_t)k, t0);
		if (op_take(w, op, (bench_op_kind_t)k))
			return true;
	}
	return false;
}

/* The next operation for a connection in this phase; false when there is none (now). */
static bool next_op(conn_t *c, uint64_t t0)
{
	bench_worker_t *w = c->w;
	bench_phase_t *ph = w->ph;
	op_t *op = &c->op;
	unsigned slot;

	switch (ph->kind) {
	case BENCH_PH_RUN:
		return pick_run_op(w, op, t0);
	case BENCH_PH_PREPARE:
	case BENCH_PH_CLEANUP:
		for (;;) {
			slot = atomic_fetch_add(&ph->next_slot, 1);
			if (slot >= ph->objs->n)
				return false;
			if (ph->kind == BENCH_PH_CLEANUP &&
			    bench_objects_state(ph->objs, slot) == BENCH_OBJ_ABSENT)
				continue;
			break;
		}
		op_reset(op, ph->kind == BENCH_PH_PREPARE ? BENCH_OP_PUT : BENCH_OP_DELETE, t0);
		op->slot = slot;
		op->gen = 0;
		op->size = bench_objects_size(ph->objs, slot, 0);
		op_key(w, op);
		return true;
	case BENCH_PH_READBACK:
		slot = atomic_fetch_add(&ph->next_slot, 1);
		if (slot >= ph->objs->n)
			return false;
		op_reset(op, BENCH_OP_READBACK, t0);
		op->slot = slot;
		bench_objects_expect(ph->objs, slot, &op->rb);
		op->gen = op->rb.gen;
		op->size = bench_objects_size(ph->objs, slot, op->gen);
		op_key(w, op);
		return true;
	case BENCH_PH_SETUP:
	case BENCH_PH_TEARDOWN:
		if (w->single_done)
			return false;
		w->single_done = true;
		op_reset(op, BENCH_OP_BUCKET, t0);
		return true;
	}
	return false;
}

/* Gives the slot back and records the operation. */
static void op_end(conn_t *c)
{
	bench_worker_t *w = c->w;
	bench_phase_t *ph = w->ph;
	op_t *op = &c->op;
	uint64_t now = uv_hrtime();
	bench_stats_t *st = stats_at(w, now);
	bench_opstats_t *os = &st->op[op->kind];
	bool ok = !op->failed;

	if (op->took)
		bench_objects_give(ph->objs, op->slot, op->take, ok, op->gen);
	else if (ph->kind == BENCH_PH_PREPARE)
		bench_objects_set(ph->objs, op->slot, ok ? BENCH_OBJ_PRESENT : BENCH_OBJ_UNKNOWN);
	else if (ph->kind == BENCH_PH_CLEANUP)
		bench_objects_set(ph->objs, op->slot, ok ? BENCH_OBJ_ABSENT : BENCH_OBJ_UNKNOWN);
	op->took = false;

	os->ops++;
	bench_hist_record(&os->lat, now - op->t0);
	if (op->t_first)
		bench_hist_record(&os->ttfb, op->t_first - op->t0);
	if (st == w->stats && ph->kind == BENCH_PH_RUN)
		bench_hist_record(w->prog, now - op->t0);
	if (!ok) {
		bench_stats_error(os, op->what, op->detail);
		atomic_fetch_add_explicit(&w->p_errors, 1, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&w->p_ops, 1, memory_order_relaxed);
	c->has_op = false;
}

/* An operation cut off (a connection killed with work on it): not recorded, its slot is given
 * back (a write that may or may not have happened leaves the object unknown). */
static void op_abandon(conn_t *c)
{
	op_t *op = &c->op;
	if (op->took)
		bench_objects_give(c->w->ph->objs, op->slot, op->take, op->take == BENCH_TAKE_READ,
		                   op->gen);
	op->took = false;
	c->has_op = false;
}

/* ---- requests ------------------------------------------------------------------------------ */

static bool is_ok(int status)
{
	return status >= 200 && status < 300;
}

/* Builds the request of the operation's current step into c->head and sets what the response
 * must look like. Returns 0 or a negative error. */
static int build_request(conn_t *c)
{
	bench_worker_t *w = c->w;
	const bench_opts_t *o = w->o;
	op_t *op = &c->op;
	bench_s3_req_t r = {.content_length = -1};
	char query[1024], range[64], enc[600], hash[65];
	int n;

	op->status = 0;
	op->check = false;
	op->got = 0;
	op->exp_off = op->exp_len = 0;
	op->src = B_NONE;
	op->xml_len = 0;
	query[0] = '\0';
	r.key = op->key[0] ? op->key : NULL;

	if (op->aborting) {
		if (lb_sigv4_uri_encode(op->upload_id, strlen(op->upload_id), false, enc,
		                        sizeof(enc)) < 0)
			return UV_ENOBUFS;
		snprintf(query, sizeof(query), "uploadId=%s", enc);
		r.method = "DELETE";
		r.query = query;
		goto build;
	}
	switch (op->kind) {
	case BENCH_OP_GET:
		r.method = "GET";
		op->check = !o->no_verify;
		op->exp_len = op->size;
		if (o->range_size && op->size > 0) {
			uint64_t len = o->range_size < op->size ? o->range_size : op->size;
			op->exp_off = bench_rng_below(&w->rng, op->size - len + 1);
			op->exp_len = len;
			snprintf(range, sizeof(range), "bytes=%llu-%llu",
			         (unsigned long long)op->exp_off,
			         (unsigned long long)(op->exp_off + len - 1));
			r.range = range;
		}
		break;
	case BENCH_OP_HEAD:
		r.method = "HEAD";
		break;
	case BENCH_OP_READBACK:
		r.method = "GET";
		op->check = true;
		op->rb_resolved = op->rb_nomatch = false;
		op->exp_len = op->size;
		op->bad_at = -1;
		break;
	case BENCH_OP_PUT:
		r.method = "PUT";
		op->src = B_OBJECT;
		op->src_off = 0;
		op->src_len = op->size;
		break;
	case BENCH_OP_DELETE:
		r.method = "DELETE";
		break;
	case BENCH_OP_LIST:
		r.method = "GET";
		r.key = NULL;
		if (lb_sigv4_uri_encode(w->ph->objs->prefix, strlen(w->ph->objs->prefix), false,
		                        enc, sizeof(enc)) < 0)
			return UV_ENOBUFS;
		snprintf(query, sizeof(query), "list-type=2&max-keys=%u&prefix=%s",
		         o->list_max_keys, enc);
		r.query = query;
		break;
	case BENCH_OP_MULTIPART:
		if (op->step == 0) {
			r.method = "POST";
			r.query = "uploads";
			r.content_length = 0;
			break;
		}
		if (lb_sigv4_uri_encode(op->upload_id, strlen(op->upload_id), false, enc,
		                        sizeof(enc)) < 0)
			return UV_ENOBUFS;
		if (op->step <= op->nparts) {
			r.method = "PUT";
			snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", op->step, enc);
			r.query = query;
			op->src = B_OBJECT;
			op->src_off = (uint64_t)(op->step - 1) * o->part_size;
			op->src_len = op->size - op->src_off < o->part_size ? op->size - op->src_off
			                                                    : o->part_size;
			break;
		}
		r.method = "POST";
		snprintf(query, sizeof(query), "uploadId=%s", enc);
		r.query = query;
		op->src = B_TEXT;
		op->src_off = 0;
		op->src_len = strlen(op->text);
		break;
	case BENCH_OP_BUCKET:
		r.key = NULL;
		if (w->ph->kind == BENCH_PH_TEARDOWN)
			r.method = "DELETE";
		else if (op->step == 0)
			r.method = "HEAD";
		else {
			r.method = "PUT";
			r.content_length = 0;
		}
		break;
	default:
		return UV_EINVAL;
	}
build:
	if (op->src != B_NONE && !c->wbuf && !(c->wbuf = malloc(WBUF_CAP)))
		abort();
	if (op->src != B_NONE) {
		r.content_length = (int64_t)op->src_len;
		if (o->sign_payload && !o->presign) {
			lb_sigv4_sha256_begin(w->s3.sig);
			if (op->src == B_TEXT) {
				lb_sigv4_sha256_update(w->s3.sig, op->text, op->src_len);
			} else {
				for (uint64_t off = 0; off < op->src_len; off += WBUF_CAP) {
					size_t len = op->src_len - off < WBUF_CAP
					                 ? (size_t)(op->src_len - off)
					                 : WBUF_CAP;
					bench_body_fill(op->seed, op->src_off + off, c->wbuf, len);
					lb_sigv4_sha256_update(w->s3.sig, c->wbuf, len);
				}
			}
			lb_sigv4_sha256_end(w->s3.sig, hash);
			r.payload_hash = hash;
		}
	}
	n = bench_s3_head(&w->s3, &r, (int64_t)time(NULL), c->head, sizeof(c->head));
	if (n < 0)
		return n;
	c->head_len = (size_t)n;
	return 0;
}

/* Read-back of an unknown slot: which version the body must be, from its length (the versions
 * of a slot mostly differ in size; versions of one size have the same body). */
static void rb_resolve(conn_t *c)
{
	op_t *op = &c->op;
	const bench_objects_t *t = c->w->ph->objs;
	int64_t clen = c->resp.clen;

	op->rb_resolved = true;
	if (op->rb.state != BENCH_OBJ_UNKNOWN || !is_ok(op->status))
		return;
	for (uint32_t g = op->rb.lo;; g++) {
		uint64_t size = bench_objects_size(t, op->slot, g);
		if (clen >= 0 && size == (uint64_t)clen) {
			op->gen = g;
			op->size = op->exp_len = size;
			op->seed = bench_body_seed(op->key, strlen(op->key), size);
			return;
		}
		if (g == op->rb.gen)
			break;
	}
	op->rb_nomatch = true;
	op->check = false;
}

static void rb_lost(bench_phase_t *ph, op_t *op, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void rb_lost(bench_phase_t *ph, op_t *op, const char *what, const char *fmt, ...)
{
	char detail[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	op_fail(op, what, "%s", detail);
	atomic_fetch_add(&ph->rb_lost, 1);
}

/*
 * Read-back: the object must hold what the acknowledged operations left (present: that
 * version; absent: nothing; unknown: one of the versions it may hold, or nothing when a write
 * to an absent slot or a delete failed). No answer, or one that says nothing about the object
 * (5xx, 403, a cut connection), is tried again, up to RB_ATTEMPTS times, and then counts as
 * unreadable, not lost. Returns true when another try follows.
 */
static bool rb_done(conn_t *c)
{
	bench_phase_t *ph = c->w->ph;
	op_t *op = &c->op;
	const bench_obj_expect_t *e = &op->rb;
	bool may_be_absent = e->state == BENCH_OBJ_ABSENT || e->maybe_absent;

	if (op->failed || (op->status != 200 && op->status != 404)) {
		if (op->attempt + 1 < RB_ATTEMPTS) {
			op->attempt++;
			op->failed = false;
			op->what[0] = op->detail[0] = '\0';
			op->gen = e->gen;
			op->size = bench_objects_size(ph->objs, op->slot, e->gen);
			op_key(c->w, op);
			return true;
		}
		if (!op->failed)
			op_fail(op, "unreadable", "HTTP %d in each of %d tries", op->status,
			        RB_ATTEMPTS);
		atomic_fetch_add(&ph->rb_unreadable, 1);
		return false;
	}
	if (!op->rb_resolved)
		rb_resolve(c); /* an empty body: on_body never ran */
	if (op->status == 404) {
		if (!may_be_absent)
			rb_lost(ph, op, "lost",
			        "404 where version %u (%llu bytes) was acknowledged", e->gen,
			        (unsigned long long)op->size);
	} else if (e->state == BENCH_OBJ_ABSENT) {
		rb_lost(ph, op, "resurrected", "%llu bytes after an acknowledged DELETE",
		        (unsigned long long)op->got);
	} else if (op->rb_nomatch) {
		rb_lost(ph, op, "lost", "%llu bytes: no version it may hold (%u..%u) has that size",
		        (unsigned long long)op->got, e->lo, e->gen);
	} else if (op->got != op->exp_len) {
		rb_lost(ph, op, "lost", "%llu body bytes where version %u has %llu",
		        (unsigned long long)op->got, op->gen, (unsigned long long)op->exp_len);
	} else if (op->bad_at >= 0) {
		rb_lost(ph, op, "lost", "wrong content at offset %lld of version %u (%llu bytes)",
		        (long long)op->bad_at, op->gen, (unsigned long long)op->size);
	}
	return false;
}

/* Decides, from the response of the current step, whether the operation goes on (op->step
 * advanced) or is done (failed or not). Returns true when another exchange follows. */
static bool step_done(conn_t *c)
{
	bench_worker_t *w = c->w;
	const bench_opts_t *o = w->o;
	op_t *op = &c->op;
	int64_t clen = c->resp.clen;
	char code[64];

	if (op->aborting)
		return false; /* the failure was recorded already; the abort is best effort */
	if (op->kind == BENCH_OP_READBACK)
		return rb_done(c);
	if (op->failed)
		goto failed;
	if (!is_ok(op->status) && !(op->kind == BENCH_OP_BUCKET && op->status == 404 &&
	                            w->ph->kind == BENCH_PH_SETUP && op->step == 0)) {
		char what[80];
		if (bench_xml_value(op->xml, op->xml_len, "Code", code, sizeof(code)) < 0)
			code[0] = '\0';
		if (op->kind == BENCH_OP_BUCKET && op->status == 409 &&
		    strcmp(code, "BucketAlreadyOwnedByYou") == 0)
			return false; /* created meanwhile by us: fine */
		snprintf(what, sizeof(what), "%d%s%s", op->status, code[0] ? " " : "", code);
		op_fail(op, what, "HTTP %d %s", op->status, code);
		goto failed;
	}
	switch (op->kind) {
	case BENCH_OP_GET:
		if (op->status != (o->range_size && op->size > 0 ? 206 : 200)) {
			op_fail(op, "status", "HTTP %d where %d was expected", op->status,
			        o->range_size ? 206 : 200);
		} else if (op->got != op->exp_len || (clen >= 0 && (uint64_t)clen != op->exp_len)) {
			op_fail(op, "size",
			        "%llu body bytes (Content-Length %lld) where %llu were expected",
			        (unsigned long long)op->got, (long long)clen,
			        (unsigned long long)op->exp_len);
		} else if (op->bad_at >= 0) {
			op_fail(op, "verify", "wrong content at offset %lld (object of %llu bytes)",
			        (long long)op->bad_at, (unsigned long long)op->size);
		}
		break;
	case BENCH_OP_HEAD:
		if (clen != (int64_t)op->size)
			op_fail(op, "size", "Content-Length %lld where %llu was expected",
			        (long long)clen, (unsigned long long)op->size);
		break;
	case BENCH_OP_MULTIPART:
		if (op->step == 0) {
			if (bench_xml_value(op->xml, op->xml_len, "UploadId", op->upload_id,
			                    sizeof(op->upload_id)) < 0) {
				op_fail(op, "no UploadId", "no UploadId in the answer");
				break;
			}
			op->nparts =
			    op->size ? (unsigned)((op->size + o->part_size - 1) / o->part_size) : 1;
			op->etags = calloc(op->nparts, sizeof(*op->etags));
			if (!op->etags)
				abort();
		} else if (op->step <= op->nparts) {
			const char *etag = c->resp.etag;
			if (!etag[0]) {
				op_fail(op, "no ETag", "part %u: no ETag", op->step);
				break;
			}
			snprintf(op->etags[op->step - 1], sizeof(op->etags[0]), "%.*s",
			         (int)sizeof(op->etags[0]) - 1, etag); /* cut as before */
			if (op->step == op->nparts) { /* all parts sent: the completion's body */
				lb_sbuf_t b;
				size_t cap = 64 + (size_t)op->nparts * 128;
				op->text = malloc(cap);
				if (!op->text)
					abort();
				lb_sbuf_init(&b, op->text, cap);
				lb_sbuf_puts(&b, "<CompleteMultipartUpload>");
				for (unsigned i = 0; i < op->nparts; i++)
					lb_sbuf_printf(&b,
					               "<Part><PartNumber>%u</PartNumber>"
					               "<ETag>%s</ETag></Part>",
					               i + 1, op->etags[i]);
				lb_sbuf_puts(&b, "</CompleteMultipartUpload>");
			}
		} else if (memmem(op->xml, op->xml_len, "<Error>", 7)) {
			/* CompleteMultipartUpload may fail inside a 200. */
			if (bench_xml_value(op->xml, op->xml_len, "Code", code, sizeof(code)) < 0)
				snprintf(code, sizeof(code), "Error");
			op_fail(op, code, "complete: %s", code);
			break;
		} else {
			return false;
		}
		if (op->failed)
			goto failed;
		op->step++;
		return true;
	case BENCH_OP_BUCKET:
		if (w->ph->kind == BENCH_PH_SETUP && op->step == 0 && op->status == 404) {
			op->step = 1; /* missing: create it */
			return true;
		}
		if (w->ph->kind == BENCH_PH_SETUP && op->step == 1)
			atomic_store(&w->ph->bucket_created, 1);
		break;
	default:
		break;
	}
	return false;

failed:
	if (op->kind == BENCH_OP_MULTIPART && op->upload_id[0] && !op->aborting) {
		op->aborting = true; /* leave no parts behind */
		return true;
	}
	return false;
}

/* ---- the connection ------------------------------------------------------------------------ */

/* The decoded response body (net_http_t.body_cb): checked against the object, or the start of
 * it kept (an XML answer). */
static void on_decoded(void *ud, const char *p, size_t len)
{
	conn_t *c = ud;
	op_t *op = &c->op;
	int64_t bad;

	if (op->kind == BENCH_OP_READBACK && !op->rb_resolved)
		rb_resolve(c);
	if (op->check && is_ok(op->status)) {
		if (op->bad_at < 0 && op->got < op->exp_len) {
			size_t n =
			    op->exp_len - op->got < len ? (size_t)(op->exp_len - op->got) : len;
			bad = bench_body_check(op->seed, op->exp_off + op->got, p, n);
			if (bad >= 0)
				op->bad_at = (int64_t)(op->exp_off + op->got) + bad;
		}
	} else if (op->xml_len < sizeof(op->xml)) {
		size_t n =
		    sizeof(op->xml) - op->xml_len < len ? sizeof(op->xml) - op->xml_len : len;
		memcpy(op->xml + op->xml_len, p, n);
		op->xml_len += n;
	}
	op->got += len;
	if (op->kind == BENCH_OP_GET || op->kind == BENCH_OP_LIST)
		count_bytes(c, len);
}

static conn_t *C(net_client_t *cl)
{
	return cl->data;
}

static void close_sock(conn_t *c)
{
	if (c->sock_state == S_NONE || c->sock_state == S_CLOSING)
		return;
	c->sock_state = S_CLOSING;
	net_client_close(&c->cl, false);
}

/* Ends the current exchange (ok or failed); the state machine goes on from AFTER. */
static void exchange_end(conn_t *c)
{
	bench_worker_t *w = c->w;
	op_t *op = &c->op;
	if (c->state != C_EXCHANGE && c->state != C_START)
		return;
	stats_at(w, loop_ns(w))->op[op->kind].requests++;
	if (!c->req_done || !c->resp_done) /* cut short: the stream is out of step */
		c->must_close = true;
	c->state = C_AFTER;
}

static void exchange_fail(conn_t *c, const char *what, const char *detail)
{
	op_fail(&c->op, what, "%s", detail);
	exchange_end(c);
	do_next(c);
}

static void timeout_fail(conn_t *c)
{
	char why[64];
	snprintf(why, sizeof(why), "no answer within %llums",
	         (unsigned long long)c->w->o->timeout_ms);
	exchange_fail(c, "timeout", why);
}

static void connect_fail(conn_t *c, int status)
{
	const char *why = status == UV_EPROTO && c->cl.sock.tls ? net_tls_last_error(&c->cl.sock)
	                                                        : uv_strerror(status);
	c->backoff = true;
	exchange_fail(c, "connect", why);
}

static void on_connect(net_client_t *cl, int status)
{
	conn_t *c = C(cl);
	if (c->state == C_DEAD)
		return;
	if (status < 0) {
		connect_fail(c, status);
		return;
	}
	c->sock_state = S_OPEN;
	do_next(c);
}

/* The first response byte: time to first byte counts from the operation's start. */
static void on_recv(net_client_t *cl, size_t n)
{
	conn_t *c = C(cl);
	(void)n;
	if (!c->op.t_first)
		c->op.t_first = uv_hrtime();
}

static void on_head(net_client_t *cl, const net_http_t *h, const char *msg)
{
	conn_t *c = C(cl);
	int st = net_http_status(h);
	if (st >= 100 && st < 200 && st != 101)
		return; /* interim: the final head follows */
	bench_resp_head(&c->resp, h, msg);
	c->op.status = st;
}

/* The raw bytes are not needed: on_decoded saw the body. */
static void on_body(net_client_t *cl, const char *data, size_t len)
{
	(void)data;
	if (len)
		net_client_consumed(cl);
}

static void on_done(net_client_t *cl, bool reusable)
{
	conn_t *c = C(cl);
	if (c->state != C_EXCHANGE)
		return;
	c->resp_done = true;
	if (!reusable)
		c->must_close = true; /* Connection: close, a body until close, or answered early */
	exchange_end(c);
	do_next(c);
}

static void on_error(net_client_t *cl, net_client_err_t e, int status, const char *why)
{
	conn_t *c = C(cl);
	if (c->state != C_START && c->state != C_EXCHANGE) {
		close_sock(c);
		return;
	}
	switch (e) {
	case NET_CLIENT_E_CONNECT:
		connect_fail(c, status);
		return;
	case NET_CLIENT_E_CONNECT_TIMEOUT:
	case NET_CLIENT_E_SEND_TIMEOUT:
	case NET_CLIENT_E_HEAD_TIMEOUT:
	case NET_CLIENT_E_READ_TIMEOUT:
		timeout_fail(c);
		return;
	case NET_CLIENT_E_INVALID:
		exchange_fail(c, "http", why);
		return;
	case NET_CLIENT_E_CLOSED:
		exchange_fail(c, "closed",
		              cl->resp.head_done ? "connection closed mid-response"
		                                 : "connection closed before a response");
		return;
	case NET_CLIENT_E_WRITE:
	case NET_CLIENT_E_READ:
		break;
	}
	exchange_fail(c, "closed", why);
}

/* Never idled (net_client_idle is not used): a connection waits in READY, where the server's
 * close shows at the next net_client_begin. */
static void on_idle_end(net_client_t *cl, net_client_idle_t why)
{
	(void)why;
	close_sock(C(cl));
}

static void on_close(net_client_t *cl)
{
	conn_t *c = C(cl);
	c->sock_state = S_NONE;
	do_next(c);
}

static void send_body(conn_t *c);

static void on_written(net_client_t *cl)
{
	conn_t *c = C(cl);
	if (c->state == C_EXCHANGE)
		send_body(c);
}

static const net_client_cbs_t client_cbs = {
    .on_connect = on_connect,
    .on_written = on_written,
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
    .on_error = on_error,
    .on_idle_end = on_idle_end,
    .on_close = on_close,
    .on_recv = on_recv,
};

/* The next chunk of the request body (after the head went out with the first). */
static size_t fill_body(conn_t *c, size_t cap)
{
	op_t *op = &c->op;
	uint64_t left = op->src_len - c->body_sent;
	size_t len = left < cap ? (size_t)left : cap;
	if (op->src == B_TEXT)
		memcpy(c->wbuf, op->text + c->body_sent, len);
	else
		bench_body_fill(op->seed, op->src_off + c->body_sent, c->wbuf, len);
	c->body_sent += len;
	if (op->kind == BENCH_OP_PUT || (op->kind == BENCH_OP_MULTIPART && op->src == B_OBJECT))
		count_bytes(c, len);
	return len;
}

/* Writes request bytes; true when the kernel took them at once and more may follow. After the
 * last byte it returns false: the request is done, and the exchange may end (and the next one
 * begin) inside net_client_request_done. */
static bool write_out(conn_t *c, const uv_buf_t *b, unsigned n)
{
	bool last = c->body_sent == c->op.src_len;
	int rc = net_client_write(&c->cl, b, n);
	if (rc < 0) {
		exchange_fail(c, "closed", uv_strerror(rc));
		return false;
	}
	if (last) {
		c->req_done = true;
		net_client_request_done(&c->cl);
		return false;
	}
	return rc == 1;
}

/* The rest of the request body, chunk after chunk while the kernel takes them at once. */
static void send_body(conn_t *c)
{
	uv_buf_t b;
	do
		b = uv_buf_init(c->wbuf, (unsigned)fill_body(c, WBUF_CAP));
	while (write_out(c, &b, 1));
}

/* START with an open connection: the request goes out (head and the first body chunk
 * together). A connection the server closed (or sent bytes nobody asked for) while it waited is
 * closed, and the request waits in START for a new one. */
static void send_request(conn_t *c)
{
	op_t *op = &c->op;
	uv_buf_t b[2];
	unsigned n = 1;

	if (net_client_begin(&c->cl, c->head_req, NULL) < 0) {
		close_sock(c);
		return;
	}
	c->state = C_EXCHANGE;
	c->body_sent = 0;
	b[0] = uv_buf_init(c->head, (unsigned)c->head_len);
	if (op->src != B_NONE && op->src_len > 0) {
		b[1] = uv_buf_init(c->wbuf, (unsigned)fill_body(c, WBUF_CAP));
		n = 2;
	}
	if (write_out(c, b, n))
		send_body(c);
}

static void on_timer(uv_timer_t *t)
{
	conn_t *c = t->data;
	if (c->state == C_BACKOFF) {
		c->state = C_NEXT;
		do_next(c);
	}
}

/* Request timeouts: one sweep over the connections instead of a timer per request. */
static void on_sweep(uv_timer_t *t)
{
	bench_worker_t *w = t->data;
	uint64_t now = uv_now(&w->loop);
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_t *c = &w->conns[i];
		if ((c->state == C_START || c->state == C_EXCHANGE) && now >= c->deadline)
			timeout_fail(c);
	}
}

/* Prepares the exchange of the operation's current step and enters START. */
static void exchange_begin(conn_t *c)
{
	bench_worker_t *w = c->w;
	op_t *op = &c->op;
	bool head = (op->kind == BENCH_OP_HEAD && !op->aborting) ||
	            (op->kind == BENCH_OP_BUCKET && w->ph->kind == BENCH_PH_SETUP && op->step == 0);
	int rc;

	c->state = C_START;
	c->req_done = c->resp_done = c->must_close = false;
	if ((rc = build_request(c)) < 0) {
		op_fail(op, "request", "cannot build the request: %s", uv_strerror(rc));
		c->state = C_AFTER;
		return;
	}
	c->head_req = head;
	bench_resp_reset(&c->resp);
	c->deadline =
	    uv_now(&w->loop) + (op->kind == BENCH_OP_BUCKET && w->o->timeout_ms < BUCKET_TMO_MS
	                            ? BUCKET_TMO_MS
	                            : w->o->timeout_ms);
}

static void conn_kill(conn_t *c)
{
	if (c->has_op)
		op_abandon(c);
	c->state = C_DEAD;
	uv_timer_stop(&c->timer);
	close_sock(c);
	if (!c->timer_closed) {
		c->timer_closed = true;
		uv_close((uv_handle_t *)&c->timer, NULL);
	}
	do_next(c);
}

static void worker_conn_dead(bench_worker_t *w);

/* Assigns work to an idle connection (open loop) and runs it. */
static void conn_assign(conn_t *c, uint64_t t0)
{
	if (!next_op(c, t0)) {
		c->w->started--;      /* still due: the next try takes it */
		c->state = C_BACKOFF; /* nothing can start now: try again shortly */
		uv_timer_start(&c->timer, on_timer, RETRY_PICK_MS, 0);
		return;
	}
	c->has_op = true;
	exchange_begin(c);
	do_next(c);
}

static bool open_loop_due(bench_worker_t *w, uint64_t now, uint64_t *t0);

static void do_next(conn_t *c)
{
	bench_worker_t *w = c->w;
	uint64_t t0;

	for (;;) {
		switch (c->state) {
		case C_IDLE:
		case C_BACKOFF:
		case C_EXCHANGE:
			return; /* a callback or the scheduler moves on */
		case C_START:
			if (c->sock_state == S_CLOSING || c->sock_state == S_CONNECTING)
				return;
			if (c->sock_state == S_NONE) {
				int rc;
				c->sock_state = S_CONNECTING;
				net_client_init(&w->loop, &c->cl, &client_cbs, &w->cconf, c);
				c->cl.resp.body_cb = on_decoded;
				c->cl.resp.body_arg = c;
				rc = net_client_connect(&c->cl,
				                        (const struct sockaddr *)&w->ph->t->addr,
				                        w->tls, w->sni[0] ? w->sni : NULL);
				c->cl.sock.q = &w->sockq; /* set after the connect initialised it */
				if (rc < 0) {
					c->sock_state = S_OPEN; /* initialised: must be closed */
					c->backoff = true;
					op_fail(&c->op, "connect", "connect: %s", uv_strerror(rc));
					exchange_end(c);
					continue;
				}
				return;
			}
			send_request(c);
			continue;
		case C_AFTER:
			if (c->must_close)
				close_sock(c);
			if (c->sock_state == S_CLOSING)
				return; /* on_close comes */
			c->must_close = false;
			if (c->backoff) {
				c->backoff = false;
				c->state = C_BACKOFF;
				uv_timer_start(&c->timer, on_timer, BACKOFF_MS, 0);
				return;
			}
			c->state = C_NEXT;
			continue;
		case C_NEXT:
			if (c->has_op) {
				if (step_done(c)) { /* the next step, or a multipart abort */
					exchange_begin(c);
					continue;
				}
				op_end(c);
			}
			if (w->stopping) {
				conn_kill(c);
				return;
			}
			if (w->rate > 0) {
				if (!open_loop_due(w, uv_hrtime(), &t0)) {
					c->state = C_IDLE;
					w->idle[w->nidle++] = (unsigned)(c - w->conns);
					return;
				}
			} else {
				t0 = uv_hrtime();
			}
			if (!next_op(c, t0)) {
				if (w->rate > 0)
					w->started--; /* still due */
				if (w->ph->kind == BENCH_PH_RUN) {
					/* Nothing can start now (objects taken or gone): retry
					 * soon. */
					c->state = C_BACKOFF;
					uv_timer_start(&c->timer, on_timer, RETRY_PICK_MS, 0);
					return;
				}
				conn_kill(c); /* count phases: no work left */
				return;
			}
			c->has_op = true;
			exchange_begin(c);
			continue;
		case C_DEAD:
			if (c->sock_state == S_NONE && c->timer_closed && c->w) {
				c->w = NULL; /* counted once */
				worker_conn_dead(w);
			}
			return;
		}
	}
}

/* ---- the worker ---------------------------------------------------------------------------- */

static void flush_progress(bench_worker_t *w)
{
	if (w->prog->count == 0)
		return;
	uv_mutex_lock(&w->ph->mu);
	bench_hist_merge(&w->ph->prog, w->prog);
	uv_mutex_unlock(&w->ph->mu);
	bench_hist_init(w->prog);
}

static void on_flush(uv_timer_t *t)
{
	flush_progress(t->data);
}

/* Open loop: whether an operation is due by now; its intended start in *t0. */
static bool open_loop_due(bench_worker_t *w, uint64_t now, uint64_t *t0)
{
	uint64_t start = w->ph->t_start, t = start + w->started * w->interval;
	if (t > now || t >= w->ph->t_end)
		return false;
	*t0 = t;
	w->started++;
	return true;
}

static void on_tick(uv_timer_t *t)
{
	bench_worker_t *w = t->data;
	uint64_t now = uv_hrtime(), t0;
	while (w->nidle > 0 && !w->stopping) {
		if (!open_loop_due(w, now, &t0))
			return;
		conn_assign(&w->conns[w->idle[--w->nidle]], t0);
	}
}

static void stop_all(bench_worker_t *w)
{
	uint64_t due, start, mstart;
	w->stopping = true;
	if (w->rate > 0) {
		/* Operations due in the measured window that never started. */
		uint64_t end = uv_hrtime() < w->ph->t_end ? uv_hrtime() : w->ph->t_end;
		start = w->ph->t_start;
		mstart = w->ph->t_measure;
		due = end > start ? (end - start + w->interval - 1) / w->interval : 0;
		uint64_t first_measured = (mstart - start + w->interval - 1) / w->interval;
		uint64_t from = w->started > first_measured ? w->started : first_measured;
		if (from < due)
			w->stats->missed += due - from;
	}
	flush_progress(w);
	/* Idle connections end now; busy ones finish their operation first (recorded outside the
	 * window), so no write is left half done: no object in an unknown state, no multipart
	 * upload left open. Each request is still bounded by --timeout. With --no-drain (reads
	 * only) busy ones end now too: a window that cuts 64 GETs of 64 MiB need not wait for
	 * them; what they moved inside it is counted already. */
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_t *c = &w->conns[i];
		if (c->state == C_IDLE || (w->o->no_drain && c->state != C_DEAD &&
		                           c->state != C_BACKOFF && w->ph->kind == BENCH_PH_RUN)) {
			conn_kill(c);
		} else if (c->state == C_BACKOFF) {
			uv_timer_stop(&c->timer);
			c->state = C_NEXT; /* records a failed operation, then sees stopping */
			do_next(c);
		}
	}
}

static void on_end(uv_timer_t *t)
{
	stop_all(t->data);
}

static void on_stop(uv_async_t *a)
{
	bench_worker_t *w = a->data;
	if (!w->stopping)
		stop_all(w);
}

void bench_worker_stop(bench_worker_t *w)
{
	uv_mutex_lock(&w->mu);
	if (w->stop_open)
		uv_async_send(&w->stop);
	uv_mutex_unlock(&w->mu);
}

static void worker_conn_dead(bench_worker_t *w)
{
	if (++w->dead < w->nconns || !w->timers_on)
		return;
	w->timers_on = false;
	flush_progress(w);
	uv_mutex_lock(&w->mu);
	w->stop_open = false;
	uv_mutex_unlock(&w->mu);
	uv_close((uv_handle_t *)&w->stop, NULL);
	uv_close((uv_handle_t *)&w->tick, NULL);
	uv_close((uv_handle_t *)&w->end, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	uv_close((uv_handle_t *)&w->sweep, NULL);
	net_sockq_close(&w->sockq);
}

static void worker_main(void *arg)
{
	bench_worker_t *w = arg;
	bench_phase_t *ph = w->ph;
	uint64_t now = uv_hrtime(), sweep;

	uv_timer_init(&w->loop, &w->tick);
	uv_timer_init(&w->loop, &w->end);
	uv_timer_init(&w->loop, &w->flush);
	uv_timer_init(&w->loop, &w->sweep);
	net_sockq_init(&w->loop, &w->sockq);
	w->tick.data = w->end.data = w->flush.data = w->sweep.data = w;
	w->timers_on = true;
	uv_timer_start(&w->flush, on_flush, FLUSH_MS, FLUSH_MS);
	sweep = w->o->timeout_ms / 4 < SWEEP_MS ? w->o->timeout_ms / 4 : SWEEP_MS;
	uv_timer_start(&w->sweep, on_sweep, sweep ? sweep : 1, sweep ? sweep : 1);
	if (ph->kind == BENCH_PH_RUN) {
		uint64_t ms = ph->t_end > now ? (ph->t_end - now + 999999) / 1000000 : 0;
		uv_timer_start(&w->end, on_end, ms, 0);
	}
	if (w->rate > 0)
		uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_t *c = &w->conns[i];
		c->state = C_NEXT; /* takes its first operation (or goes idle) */
		do_next(c);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
	net_rbuf_spares_free();
	if (uv_loop_close(&w->loop) != 0)
		fprintf(stderr, "s3lb-bench: worker %u: handles left open at exit\n", w->id);
	atomic_fetch_add(&ph->workers_done, 1);
}

/* net/client's timers stand behind the exchange's deadline (the sweep finds it first). */
static net_client_conf_t client_conf(const bench_opts_t *o)
{
	uint64_t ms =
	    (o->timeout_ms > BUCKET_TMO_MS ? o->timeout_ms : BUCKET_TMO_MS) + 2 * SWEEP_MS;
	return (net_client_conf_t){.connect_ms = ms,
	                           .send_ms = ms,
	                           .head_ms = ms,
	                           .read_ms = ms,
	                           .buffer_size = RBUF_CAP,
	                           .max_headers = MAX_HEADERS,
	                           .share_buffer = true};
}

bench_worker_t *bench_worker_new(bench_phase_t *ph, unsigned id, unsigned nconns, double rate)
{
	bench_worker_t *w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->ph = ph;
	w->o = ph->o;
	w->id = id;
	w->nconns = nconns;
	w->rate = rate;
	w->interval = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
	w->cconf = client_conf(ph->o);
	if (rate > 0 && w->interval == 0)
		w->interval = 1;
	bench_rng_seed(&w->rng, ph->o->seed * 0x10001 + id + (uint64_t)ph->kind * 977 +
	                            (uint64_t)uv_hrtime());
	w->stats = bench_stats_new();
	w->other = bench_stats_new();
	w->prog = malloc(sizeof(*w->prog));
	w->conns = calloc(nconns, sizeof(*w->conns));
	w->idle = calloc(nconns, sizeof(*w->idle));
	if (!w->prog || !w->conns || !w->idle || uv_mutex_init(&w->mu) != 0)
		abort();
	bench_hist_init(w->prog);
	return w;
}

int bench_worker_start(bench_worker_t *w, char *err, size_t errlen)
{
	const bench_target_t *t = w->ph->t;
	struct in6_addr a6;
	int rc;

	if ((rc = uv_loop_init(&w->loop)) < 0) {
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
		return rc;
	}
	/* Before the thread runs the loop: nothing else touches it yet. */
	uv_async_init(&w->loop, &w->stop, on_stop);
	w->stop.data = w;
	w->stop_open = true;
	if ((rc = bench_s3_init(&w->s3, w->o, t)) < 0) {
		snprintf(err, errlen, "cannot set up SigV4 (values too long, or no SHA-256)");
		goto fail;
	}
	if (t->tls) {
		rc = net_tls_client_ctx_new(w->o->ca_file[0] ? w->o->ca_file : NULL,
		                            !w->o->insecure, &w->tls, err, errlen);
		if (rc < 0)
			goto fail;
		if (inet_pton(AF_INET6, t->host, &a6) != 1 && inet_pton(AF_INET, t->host, &a6) != 1)
			snprintf(w->sni, sizeof(w->sni), "%s", t->host);
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_t *c = &w->conns[i];
		c->w = w;
		uv_timer_init(&w->loop, &c->timer);
		c->timer.data = c;
		c->state = C_IDLE;
	}
	if ((rc = uv_thread_create(&w->thread, worker_main, w)) < 0) {
		snprintf(err, errlen, "uv_thread_create: %s", uv_strerror(rc));
		goto fail;
	}
	return 0;

fail:
	/* Nothing ran: close what was initialised and drain the loop. */
	w->stop_open = false;
	uv_close((uv_handle_t *)&w->stop, NULL);
	for (unsigned i = 0; i < w->nconns; i++)
		if (w->conns[i].w)
			uv_close((uv_handle_t *)&w->conns[i].timer, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&w->loop);
	return rc < 0 ? rc : UV_EINVAL;
}

void bench_worker_join(bench_worker_t *w)
{
	uv_thread_join(&w->thread);
}

void bench_worker_free(bench_worker_t *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_t *c = &w->conns[i];
		free(c->wbuf);
		free(c->op.text);
		free(c->op.etags);
	}
	bench_s3_free(&w->s3);
	net_tls_ctx_unref(w->tls);
	bench_stats_free(w->stats);
	bench_stats_free(w->other);
	free(w->prog);
	free(w->conns);
	free(w->idle);
	uv_mutex_destroy(&w->mu);
	free(w);
}

void bench_worker_progress(const bench_worker_t *w, uint64_t *ops, uint64_t *bytes,
                           uint64_t *errors)
{
	*ops = atomic_load_explicit(&w->p_ops, memory_order_relaxed);
	*bytes = atomic_load_explicit(&w->p_bytes, memory_order_relaxed);
	*errors = atomic_load_explicit(&w->p_errors, memory_order_relaxed);
}

const bench_stats_t *bench_worker_stats(const bench_worker_t *w)
{
	return w->stats;
}

const bench_stats_t *bench_worker_other(const bench_worker_t *w)
{
	return w->other;
}

/*
 * The driver and the strict parse shared by the HTTP fuzz targets (fuzz_http.h). Every buffer
 * handed to net/http.c is an exact-size heap copy of the bytes delivered so far, so a read past
 * what has arrived is a heap overflow for ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/fuzz/fuzz_http.h"

enum { FZ_METHOD = 1, FZ_TARGET, FZ_REASON, FZ_NAME, FZ_VALUE };

void fz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
	abort();
}

/* ---- the strict parse ----------------------------------------------------------------------- */

static fz_peer_t *P(llhttp_t *p)
{
	return (fz_peer_t *)p;
}

const char *fz_str(const fz_peer_t *m, fz_span_t s)
{
	return m->arena + s.off;
}

/* Appends to the span of kind `kind` (a new one when the callbacks moved on from it). */
static int add(fz_peer_t *m, int kind, fz_span_t *s, const char *at, size_t len)
{
	FZ_ASSERT(m->used + len <= sizeof(m->arena));
	if (m->last != kind) {
		s->off = (uint32_t)m->used;
		s->len = 0;
		m->last = kind;
	}
	FZ_ASSERT(s->off + s->len == m->used); /* the span being extended is the newest */
	memcpy(m->arena + m->used, at, len);
	m->used += len;
	s->len += (uint32_t)len;
	return 0;
}

static int p_begin(llhttp_t *p)
{
	fz_peer_t *m = P(p);
	m->nh = 0;
	m->used = 0;
	m->last = 0;
	m->head_done = false;
	memset(&m->method, 0, sizeof(m->method));
	memset(&m->target, 0, sizeof(m->target));
	memset(&m->reason, 0, sizeof(m->reason));
	m->body_len = 0;
	m->body_hash = 14695981039346656037ull;
	return 0;
}

static int p_method(llhttp_t *p, const char *at, size_t len)
{
	return add(P(p), FZ_METHOD, &P(p)->method, at, len);
}

static int p_url(llhttp_t *p, const char *at, size_t len)
{
	return add(P(p), FZ_TARGET, &P(p)->target, at, len);
}

static int p_status(llhttp_t *p, const char *at, size_t len)
{
	return add(P(p), FZ_REASON, &P(p)->reason, at, len);
}

static int p_field(llhttp_t *p, const char *at, size_t len)
{
	fz_peer_t *m = P(p);
	if (m->head_done)
		return 0; /* trailers are relayed as body bytes; not compared */
	if (m->last != FZ_NAME) {
		FZ_ASSERT(m->nh < FZ_MAXH);
		m->nh++;
		m->value[m->nh - 1].off = (uint32_t)m->used;
		m->value[m->nh - 1].len = 0;
	}
	return add(m, FZ_NAME, &m->name[m->nh - 1], at, len);
}

static int p_value(llhttp_t *p, const char *at, size_t len)
{
	fz_peer_t *m = P(p);
	if (m->head_done)
		return 0;
	return add(m, FZ_VALUE, &m->value[m->nh - 1], at, len);
}

static int p_span_done(llhttp_t *p)
{
	P(p)->last = 0;
	return 0;
}

static int p_headers_done(llhttp_t *p)
{
	fz_peer_t *m = P(p);
	m->head_done = true;
	m->last = 0;
	m->major = p->http_major;
	m->minor = p->http_minor;
	m->status = p->status_code;
	m->chunked = (p->flags & F_CHUNKED) != 0;
	m->has_cl = (p->flags & F_CONTENT_LENGTH) != 0;
	m->cl = p->content_length;
	m->needs_eof = !m->skip_body && llhttp_message_needs_eof(p);
	if (p->type == HTTP_RESPONSE && m->skip_body)
		return 1;
	return 0;
}

static int p_body(llhttp_t *p, const char *at, size_t len)
{
	fz_peer_t *m = P(p);
	for (size_t i = 0; i < len; i++)
		m->body_hash = (m->body_hash ^ (uint8_t)at[i]) * 1099511628211ull;
	m->body_len += len;
	return 0;
}

static int p_done(llhttp_t *p)
{
	P(p)->completed++;
	return 0;
}

void fz_peer_init(fz_peer_t *m, llhttp_type_t type)
{
	memset(m, 0, offsetof(fz_peer_t, arena));
	llhttp_settings_init(&m->s);
	m->s.on_message_begin = p_begin;
	m->s.on_method = p_method;
	m->s.on_url = p_url;
	m->s.on_status = p_status;
	m->s.on_header_field = p_field;
	m->s.on_header_value = p_value;
	m->s.on_method_complete = p_span_done;
	m->s.on_url_complete = p_span_done;
	m->s.on_status_complete = p_span_done;
	m->s.on_header_field_complete = p_span_done;
	m->s.on_header_value_complete = p_span_done;
	m->s.on_headers_complete = p_headers_done;
	m->s.on_body = p_body;
	m->s.on_message_complete = p_done;
	llhttp_init(&m->p, type, &m->s);
}

llhttp_errno_t fz_peer_feed(fz_peer_t *m, const char *data, size_t len)
{
	llhttp_errno_t e;
	if (m->err || m->upgraded)
		return m->err;
	e = llhttp_execute(&m->p, data, len);
	if (e == HPE_PAUSED_UPGRADE) {
		m->upgraded = true;
		return HPE_OK;
	}
	m->err = e;
	return e;
}

llhttp_errno_t fz_peer_finish(fz_peer_t *m)
{
	if (m->err || m->upgraded)
		return m->err;
	m->err = llhttp_finish(&m->p);
	return m->err;
}

/* ---- comparing heads ------------------------------------------------------------------------ */

static bool ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && strncasecmp(a, b, an) == 0;
}

static bool eqz(const char *a, size_t an, const char *z)
{
	return eq(a, an, z, strlen(z));
}

/* The value without the whitespace around it. */
static void trimmed(const fz_peer_t *m, uint32_t i, const char **v, size_t *n)
{
	const char *s = fz_str(m, m->value[i]);
	size_t len = m->value[i].len;
	while (len && ows(*s))
		s++, len--;
	while (len && ows(s[len - 1]))
		len--;
	*v = s;
	*n = len;
}

/* Does some Connection field of m list `name` among its comma-separated tokens? */
static bool connection_names(const fz_peer_t *m, const char *name, size_t nlen)
{
	for (uint32_t j = 0; j < m->nh; j++) {
		const char *v;
		size_t n, k = 0;
		if (!eqz(fz_str(m, m->name[j]), m->name[j].len, "connection"))
			continue;
		trimmed(m, j, &v, &n);
		while (k < n) {
			size_t t, te;
			while (k < n && (ows(v[k]) || v[k] == ','))
				k++;
			t = k;
			while (k < n && v[k] != ',')
				k++;
			te = k;
			while (te > t && ows(v[te - 1]))
				te--;
			if (te > t && eq(v + t, te - t, name, nlen))
				return true;
		}
	}
	return false;
}

static bool hop_by_hop(const fz_peer_t *m, uint32_t i)
{
	static const char *const fixed[] = {"connection", "keep-alive", "proxy-connection", "te",
	                                    "upgrade"};
	static const char *const never[] = {"content-length", "transfer-encoding", "host"};
	const char *name = fz_str(m, m->name[i]);
	size_t n = m->name[i].len;
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		if (eqz(name, n, fixed[k]))
			return true;
	for (size_t k = 0; k < sizeof(never) / sizeof(never[0]); k++)
		if (eqz(name, n, never[k]))
			return false;
	return connection_names(m, name, n);
}

static void same_field(const fz_peer_t *got, uint32_t g, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
	const char *v;
	size_t n;
	FZ_ASSERT(g < got->nh);
	FZ_ASSERT(got->name[g].len == nlen && !memcmp(fz_str(got, got->name[g]), name, nlen));
	trimmed(got, g, &v, &n);
	FZ_ASSERT(n == vlen && !memcmp(v, value, n));
}

void fz_same_head(const fz_peer_t *want, const fz_peer_t *got, const char *target, size_t tlen,
                  const char *drop, const fz_field_t *add_, size_t nadd)
{
	uint32_t g = 0;
	FZ_ASSERT(want->head_done && got->head_done);
	/* a request keeps its version; a response goes out with s3lb's own, HTTP/1.1 (RFC 9110
	 * 6.2), whatever the node's */
	if (want->p.type == HTTP_REQUEST)
		FZ_ASSERT(got->major == want->major && got->minor == want->minor);
	else
		FZ_ASSERT(got->major == 1 && got->minor == 1);
	if (want->p.type == HTTP_REQUEST) {
		if (!target) {
			target = fz_str(want, want->target);
			tlen = want->target.len;
		}
		FZ_ASSERT(got->p.method == want->p.method);
		FZ_ASSERT(got->method.len == want->method.len &&
		          !memcmp(fz_str(got, got->method), fz_str(want, want->method),
		                  want->method.len));
		FZ_ASSERT(got->target.len == tlen &&
		          !memcmp(fz_str(got, got->target), target, tlen));
	} else {
		FZ_ASSERT(got->status == want->status);
		FZ_ASSERT(got->reason.len == want->reason.len &&
		          !memcmp(fz_str(got, got->reason), fz_str(want, want->reason),
		                  want->reason.len));
	}
	for (uint32_t i = 0; i < want->nh; i++) {
		const char *v;
		size_t n;
		if (hop_by_hop(want, i))
			continue;
		if (drop && eqz(fz_str(want, want->name[i]), want->name[i].len, drop))
			continue;
		trimmed(want, i, &v, &n);
		same_field(got, g++, fz_str(want, want->name[i]), want->name[i].len, v, n);
	}
	for (size_t k = 0; k < nadd; k++)
		same_field(got, g++, add_[k].name, strlen(add_[k].name), add_[k].value,
		           strlen(add_[k].value));
	FZ_ASSERT(g == got->nh);
	FZ_ASSERT(got->chunked == want->chunked && got->has_cl == want->has_cl);
	FZ_ASSERT(!got->has_cl || got->cl == want->cl);
}

void fz_same_as_adapter(const fz_peer_t *want, const net_http_t *h, const char *msg)
{
	FZ_ASSERT(want->head_done);
	FZ_ASSERT(h->nhdrs == want->nh);
	FZ_ASSERT(net_http_major(h) == want->major && net_http_minor(h) == want->minor);
	if (want->p.type == HTTP_REQUEST) {
		FZ_ASSERT(
		    strlen(net_http_method(h)) == want->method.len &&
		    !memcmp(net_http_method(h), fz_str(want, want->method), want->method.len));
		FZ_ASSERT(h->url_len == want->target.len &&
		          !memcmp(msg + h->url_off, fz_str(want, want->target), h->url_len));
	} else {
		FZ_ASSERT(net_http_status(h) == want->status);
		FZ_ASSERT(h->status_len == want->reason.len &&
		          !memcmp(msg + h->status_off, fz_str(want, want->reason), h->status_len));
	}
	for (uint32_t i = 0; i < h->nhdrs; i++) {
		const net_hdr_t *hd = &h->hdrs[i];
		const char *v;
		size_t n;
		FZ_ASSERT(hd->name_off + hd->name_len <= h->head_len);
		FZ_ASSERT(hd->value_off + hd->value_len <= hd->line_end);
		FZ_ASSERT(hd->line_end + 2 <= h->head_len && msg[hd->line_end] == '\r');
		FZ_ASSERT(hd->name_len == want->name[i].len &&
		          !memcmp(msg + hd->name_off, fz_str(want, want->name[i]), hd->name_len));
		trimmed(want, i, &v, &n);
		FZ_ASSERT(hd->value_len == n && !memcmp(msg + hd->value_off, v, n));
	}
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void on_adapter_body(void *arg, const char *data, size_t len)
{
	fz_conn_t *c = arg;
	for (size_t i = 0; i < len; i++)
		c->body_hash = (c->body_hash ^ (uint8_t)data[i]) * 1099511628211ull;
	c->body_len += len;
}

static char *copy_of(const char *p, size_t n)
{
	char *b = malloc(n ? n : 1);
	if (!b)
		abort();
	memcpy(b, p, n);
	return b;
}

/* Body bytes the adapter consumed go to the peer, which must not be ahead of the adapter. */
static void relay(fz_conn_t *c, const char *b, size_t n)
{
	FZ_ASSERT(fz_peer_feed(c->peer, b, n) == HPE_OK);
}

void fz_message_done(fz_conn_t *c)
{
	/* the peer ended the same message on the same byte, with the same body */
	FZ_ASSERT(c->peer->completed == c->done + 1);
	FZ_ASSERT(c->peer->body_len == c->body_len && c->peer->body_hash == c->body_hash);
	c->done++;
	c->in_body = false;
}

/* The next segment of n bytes arrives on c: parse as the gateway does. */
static void step(fz_conn_t *c, const fz_ops_t *ops, size_t n)
{
	c->arrived += n;
	while (!c->dead) {
		bool pending = c->in_body && c->h.msg_done; /* DONE comes without a byte */
		net_http_result_t r;
		size_t used;
		char *b;
		if (c->parsed == c->arrived && !pending)
			return;
		if (!c->in_body) {
			/* the head: the message's bytes from its first, contiguous */
			b = copy_of(c->data + c->start, c->arrived - c->start);
			r = net_http_execute(&c->h, b + (c->parsed - c->start),
			                     c->arrived - c->parsed, c->parsed - c->start, &used);
			c->parsed += used;
			if (r == NET_HTTP_MORE) {
				FZ_ASSERT(c->parsed == c->arrived);
			} else if (r == NET_HTTP_HEAD) {
				FZ_ASSERT(c->h.head_len == c->parsed - c->start);
				if (!ops->head(c, b))
					c->dead =
					    true; /* refused: the gateway answers and closes */
				c->in_body = true;
				c->body_len = 0;
				c->body_hash = 14695981039346656037ull;
			} else {
				FZ_ASSERT(r == NET_HTTP_ERROR); /* DONE comes only after HEAD */
				FZ_ASSERT(c->h.err != NET_HTTP_E_NONE);
				c->dead = true;
			}
			free(b);
			continue;
		}
		b = copy_of(c->data + c->parsed, c->arrived - c->parsed);
		r = net_http_execute(&c->h, b, c->arrived - c->parsed, 0, &used);
		c->parsed += used;
		if (r == NET_HTTP_ERROR) {
			/* nothing of this call is relayed and the node connection is reset: the
			 * peer must not have completed the message */
			FZ_ASSERT(used == 0);
			FZ_ASSERT(c->peer->completed == c->done);
			c->dead = true;
		} else {
			FZ_ASSERT(r == NET_HTTP_MORE || r == NET_HTTP_DONE);
			relay(c, b, used);
			if (r == NET_HTTP_DONE) {
				fz_message_done(c);
				c->start = c->parsed;
				if (!ops->done(c))
					c->dead = true;
			} else {
				FZ_ASSERT(c->parsed == c->arrived);
				FZ_ASSERT(c->peer->completed == c->done);
			}
		}
		free(b);
	}
}

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static fz_peer_t peers[FZ_MAXSTREAMS];

void fz_run(const uint8_t *data, size_t size, llhttp_type_t type, const fz_ops_t *ops, void *arg)
{
	fz_conn_t conns[FZ_MAXSTREAMS];
	const char *piece[FZ_MAXSTREAMS];
	size_t plen[FZ_MAXSTREAMS];
	const char *p, *end;
	unsigned k, np = 0, small;
	uint64_t seed = 0;

	if (size < 5)
		return;
	k = (data[0] & 3) + 1;
	small = data[0] & 4;
	memcpy(&seed, data + 1, 4);
	p = (const char *)data + 5;
	end = (const char *)data + size;
	while (np < k) {
		const char *sep = memmem(p, (size_t)(end - p), FZ_SEP, sizeof(FZ_SEP) - 1);
		piece[np] = p;
		plen[np++] = (size_t)((sep ? sep : end) - p);
		if (!sep)
			break;
		p = sep + sizeof(FZ_SEP) - 1;
	}
	for (unsigned i = 0; i < k; i++) {
		fz_conn_t *c = &conns[i];
		memset(c, 0, sizeof(*c));
		c->data = piece[i % np];
		c->len = plen[i % np];
		c->flags = data[0];
		c->arg = arg;
		c->peer = &peers[i];
		fz_peer_init(c->peer, type);
		net_http_init(&c->h, type, small ? 8 : 100, small ? 256 : 16 << 10);
		c->h.body_cb = on_adapter_body;
		c->h.body_arg = c;
		if (ops->init)
			ops->init(c);
	}
	for (;;) {
		unsigned live = 0, i;
		size_t n;
		for (i = 0; i < k; i++)
			live += !conns[i].dead && conns[i].arrived < conns[i].len;
		if (!live)
			break;
		i = (unsigned)(next(&seed) % k);
		while (conns[i].dead || conns[i].arrived == conns[i].len)
			i = (i + 1) % k;
		n = 1 + (size_t)(next(&seed) % (1u << (next(&seed) % 13)));
		if (n > conns[i].len - conns[i].arrived)
			n = conns[i].len - conns[i].arrived;
		step(&conns[i], ops, n);
	}
	for (unsigned i = 0; i < k; i++) {
		if (!conns[i].dead && ops->end)
			ops->end(&conns[i]);
		net_http_free(&conns[i].h);
	}
}

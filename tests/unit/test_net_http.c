/*
 * gateway/http.c: every message is fed at every split point (two pieces) and byte by byte, the way
 * conn.c feeds it (a buffer that keeps the message's bytes, offsets from the message start), and
 * from the end of a page followed by a PROT_NONE page, so that any over-read crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/http.h"

typedef struct {
	int nmsgs;
	int heads; /* NET_HTTP_HEAD results */
	char method[16];
	char url[256];
	int status;
	uint32_t nhdrs;
	char hdr0[128];       /* "name: value" of the first header */
	char hdrlast[128];    /* raw line of the last header (name_off .. line_end) */
	char lines[16][128];  /* the first message's header lines, raw (name_off .. line_end) */
	char values[16][128]; /* and their values */
	size_t head_len;
	size_t body_raw;   /* raw body bytes between the head and the end of the message */
	size_t msg_end[4]; /* absolute offset of each message's end */
	bool has_body;
	bool keep_alive;
	bool error;
	net_http_err_t err;
} result_t;

/* Copies `in` to the end of a page whose next page is inaccessible. */
static char *guarded(const char *in, size_t len, void **map, size_t *maplen)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t pages = (len + (size_t)pg - 1) / (size_t)pg + 1;
	char *m = mmap(NULL, pages * (size_t)pg, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + (pages - 1) * (size_t)pg, (size_t)pg, PROT_NONE), 0);
	*map = m;
	*maplen = pages * (size_t)pg;
	memcpy(m + (pages - 1) * (size_t)pg - len, in, len);
	return m + (pages - 1) * (size_t)pg - len;
}

/* One parser fed the way conn.c feeds it: the bytes that "arrived" so far, offsets from the
 * message start, the message kept in place. */
typedef struct {
	net_http_t h;
	llhttp_type_t type;
	const char *buf;
	size_t len, start, parsed, head_end;
	bool skip_body;
	void *map;
	size_t maplen;
	result_t *res;
} driver_t;

static void driver_init(driver_t *d, llhttp_type_t type, const char *in, size_t len, bool skip_body,
                        result_t *res)
{
	memset(d, 0, sizeof(*d));
	memset(res, 0, sizeof(*res));
	d->type = type;
	d->len = len;
	d->skip_body = skip_body;
	d->res = res;
	d->buf = guarded(in, len, &d->map, &d->maplen);
	net_http_init(&d->h, type, 8, 1024);
	d->h.skip_body = skip_body;
}

static void record_head(driver_t *d)
{
	result_t *res = d->res;
	const net_http_t *h = &d->h;
	const char *msg = d->buf + d->start;
	res->head_len = h->head_len;
	res->nhdrs = h->nhdrs;
	res->status = net_http_status(h);
	res->has_body = net_http_has_body(h);
	snprintf(res->method, sizeof(res->method), "%s",
	         d->type == HTTP_REQUEST ? net_http_method(h) : "");
	snprintf(res->url, sizeof(res->url), "%.*s", (int)h->url_len, msg + h->url_off);
	for (uint32_t i = 0; i < h->nhdrs && i < 16; i++) {
		const net_hdr_t *hd = &h->hdrs[i];
		snprintf(res->lines[i], sizeof(res->lines[i]), "%.*s",
		         (int)(hd->line_end - hd->name_off), msg + hd->name_off);
		snprintf(res->values[i], sizeof(res->values[i]), "%.*s", (int)hd->value_len,
		         msg + hd->value_off);
	}
	if (h->nhdrs) {
		const net_hdr_t *hd = &h->hdrs[0];
		snprintf(res->hdr0, sizeof(res->hdr0), "%.*s: %.*s", (int)hd->name_len,
		         msg + hd->name_off, (int)hd->value_len, msg + hd->value_off);
		snprintf(res->hdrlast, sizeof(res->hdrlast), "%s",
		         res->lines[h->nhdrs <= 16 ? h->nhdrs - 1 : 15]);
	}
}

/* Parses what arrived up to `avail`. */
static void driver_feed(driver_t *d, size_t avail)
{
	result_t *res = d->res;
	while (!res->error) {
		size_t used;
		net_http_result_t r = net_http_execute(&d->h, d->buf + d->parsed, avail - d->parsed,
		                                       d->parsed - d->start, &used);
		d->parsed += used;
		if (r == NET_HTTP_MORE)
			return;
		if (r == NET_HTTP_ERROR) {
			res->error = true;
			res->err = d->h.err;
			return;
		}
		if (r == NET_HTTP_HEAD) {
			d->head_end = d->parsed;
			if (res->nmsgs == 0 && res->heads == 0)
				record_head(d);
			res->heads++;
			continue;
		}
		/* NET_HTTP_DONE */
		if (res->nmsgs == 0) {
			res->body_raw = d->parsed - d->head_end;
			res->keep_alive = net_http_keep_alive(&d->h);
		}
		if (res->nmsgs < 4)
			res->msg_end[res->nmsgs] = d->parsed;
		res->nmsgs++;
		net_http_next(&d->h);
		d->h.skip_body = d->skip_body;
		d->start = d->parsed;
	}
}

static void driver_end(driver_t *d)
{
	result_t *res = d->res;
	if (!res->error && d->type == HTTP_RESPONSE && net_http_needs_eof(&d->h) &&
	    d->h.head_done) {
		if (net_http_finish(&d->h) == NET_HTTP_DONE) {
			if (res->nmsgs == 0)
				res->body_raw = d->parsed - d->head_end;
			res->msg_end[res->nmsgs++] = d->parsed;
		}
	}
	net_http_free(&d->h);
	munmap(d->map, d->maplen);
}

/*
 * Feeds `in` in pieces ending at the offsets in cuts[] (the last piece ends at len). The parser
 * only ever sees bytes that "arrived" so far; skip_body makes every response a response to HEAD.
 */
static void drive(llhttp_type_t type, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  bool skip_body, result_t *res)
{
	driver_t d;
	driver_init(&d, type, in, len, skip_body, res);
	for (size_t piece = 0; piece <= ncuts && !res->error; piece++)
		driver_feed(&d, piece < ncuts ? cuts[piece] : len);
	driver_end(&d);
}

/* Runs `check` on the result of every way of cutting `in`: whole, at every split point, and
 * byte by byte. */
static void every_split(llhttp_type_t type, const char *in, bool skip_body,
                        void (*check)(const result_t *r))
{
	size_t len = strlen(in);
	size_t *cuts = malloc(len * sizeof(*cuts));
	result_t r;
	assert_non_null(cuts);
	drive(type, in, len, NULL, 0, skip_body, &r);
	check(&r);
	for (size_t i = 1; i < len; i++) {
		cuts[0] = i;
		drive(type, in, len, cuts, 1, skip_body, &r);
		check(&r);
	}
	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	drive(type, in, len, cuts, len - 1, skip_body, &r);
	check(&r);
	free(cuts);
}

/* ---- requests ---- */

static const char GET2[] = "GET /bucket/a%20b?list-type=2&prefix=x HTTP/1.1\r\n"
                           "Host: s3.local:8080\r\n"
                           "X-Amz-Date:20261126T000000Z\r\n"
                           "Authorization: AWS4-HMAC-SHA256 Credential=x\r\n"
                           "\r\n"
                           "HEAD /b/k HTTP/1.1\r\nHost: s3.local\r\n\r\n";

static void check_get2(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 2);
	assert_string_equal(r->method, "GET");
	assert_string_equal(r->url, "/bucket/a%20b?list-type=2&prefix=x");
	assert_int_equal(r->nhdrs, 3);
	assert_string_equal(r->hdr0, "Host: s3.local:8080");
	assert_string_equal(r->hdrlast, "Authorization: AWS4-HMAC-SHA256 Credential=x");
	assert_int_equal(r->head_len, strstr(GET2, "HEAD") - GET2);
	assert_false(r->has_body);
	assert_true(r->keep_alive);
	assert_int_equal(r->body_raw, 0);
	assert_int_equal(r->msg_end[0], strstr(GET2, "HEAD") - GET2);
	assert_int_equal(r->msg_end[1], strlen(GET2));
}

static void test_pipelined_gets(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST, GET2, false, check_get2);
}

static const char PUT_CL[] = "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                             "Expect: 100-continue\r\n\r\nhello world"
                             "GET /b/k HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

static void check_put_cl(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 2);
	assert_string_equal(r->method, "PUT");
	assert_true(r->has_body);
	assert_int_equal(r->body_raw, 11);
	assert_int_equal(r->msg_end[0], strstr(PUT_CL, "GET") - PUT_CL);
	assert_int_equal(r->msg_end[1], strlen(PUT_CL));
}

static void test_put_content_length(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST, PUT_CL, false, check_put_cl);
}

static const char PUT_CHUNKED[] =
    "PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-trailer: v\r\n\r\n"
    "DELETE /b/k HTTP/1.1\r\nHost: h\r\n\r\n";

static void check_put_chunked(const result_t *r)
{
	const char *body = strstr(PUT_CHUNKED, "\r\n\r\n") + 4;
	const char *next = strstr(PUT_CHUNKED, "DELETE");
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 2);
	assert_true(r->has_body);
	/* the raw framing, extensions and trailers included, is what gets relayed */
	assert_int_equal(r->body_raw, next - body);
	assert_int_equal(r->msg_end[0], next - PUT_CHUNKED);
}

static void test_put_chunked(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST, PUT_CHUNKED, false, check_put_chunked);
}

static void check_invalid(const result_t *r)
{
	assert_true(r->error);
	assert_int_equal(r->err, NET_HTTP_E_INVALID);
}

static void check_too_large(const result_t *r)
{
	assert_true(r->error);
	assert_int_equal(r->err, NET_HTTP_E_TOO_LARGE);
}

static void test_smuggling_rejected(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST,
	            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
	            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	            false, check_invalid);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"
	            "abcde",
	            false, check_invalid);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabcde", false,
	            check_invalid);
	every_split(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false, check_invalid);
	every_split(HTTP_REQUEST, "GET / HTTP/1.1\nHost: h\n\n", false, check_invalid);
}

static void test_bad_chunk_framing(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
	            false, check_invalid);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
	            false, check_invalid);
	/* chunk extensions are relayed raw: llhttp lets an empty name or value through */
	every_split(
	    HTTP_REQUEST,
	    "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;=b\r\nabc\r\n", false,
	    check_invalid);
	every_split(
	    HTTP_REQUEST,
	    "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a;\r\nabc\r\n", false,
	    check_invalid);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0;a=\r\n\r\n",
	            false, check_invalid);
}

static void check_one_valid(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 1);
}

static void test_chunk_extensions(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	            "3;a;bc=d;e=\"\"\r\nabc\r\n0;long-name=long-value\r\n\r\n",
	            false, check_one_valid);
}

static void test_header_limits(void **state)
{
	char big[1400];
	(void)state;
	/* 9 headers, the limit is 8 */
	every_split(
	    HTTP_REQUEST,
	    "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"
	    "I: 9\r\n\r\n",
	    false, check_too_large);
	/* a header block over 1024 bytes, whether it completes in one call or not */
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %01200d\r\n\r\n", 7);
	every_split(HTTP_REQUEST, big, false, check_too_large);
	snprintf(big, sizeof(big), "GET /%01100d HTTP/1.1\r\nHost: h\r\n\r\n", 7);
	every_split(HTTP_REQUEST, big, false, check_too_large);
}

/* ---- responses ---- */

static void check_continue_then_200(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 2); /* the 100 is a message of its own */
	assert_int_equal(r->status, 100);
	assert_int_equal(r->msg_end[1], strlen("HTTP/1.1 100 Continue\r\n\r\n"
	                                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
}

static void test_response_continue(void **state)
{
	(void)state;
	every_split(HTTP_RESPONSE,
	            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	            false, check_continue_then_200);
}

static void check_head_response(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 2);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->body_raw, 0); /* Content-Length: 1000 but no body: HEAD */
	assert_int_equal(r->msg_end[0], strlen("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
	                                       "ETag: \"x\"\r\n\r\n"));
}

static void test_response_to_head(void **state)
{
	(void)state;
	every_split(HTTP_RESPONSE,
	            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"x\"\r\n\r\n"
	            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
	            true, check_head_response);
}

static void check_until_eof(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 1);
	assert_int_equal(r->body_raw, 10);
	assert_false(r->keep_alive);
}

static void test_response_until_eof(void **state)
{
	(void)state;
	every_split(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789", false,
	            check_until_eof);
}

static void check_chunked_response(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 1);
	assert_true(r->keep_alive);
	assert_int_equal(r->body_raw, strlen("4\r\nabcd\r\n0\r\n\r\n"));
}

static void test_response_chunked(void **state)
{
	(void)state;
	every_split(HTTP_RESPONSE,
	            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
	            false, check_chunked_response);
}

static void test_truncated_response(void **state)
{
	net_http_t h;
	size_t used;
	const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
	(void)state;
	net_http_init(&h, HTTP_RESPONSE, 8, 1024);
	assert_int_equal(net_http_execute(&h, in, strlen(in), 0, &used), NET_HTTP_HEAD);
	assert_int_equal(net_http_execute(&h, in + used, strlen(in) - used, used, &used),
	                 NET_HTTP_MORE);
	/* the node closed 5 bytes short: never a complete message */
	assert_int_equal(net_http_finish(&h), NET_HTTP_ERROR);
	assert_int_equal(h.err, NET_HTTP_E_CLOSED);
	net_http_free(&h);
}

static void test_header_lookup(void **state)
{
	net_http_t h;
	size_t used;
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Foo\r\n"
	                 "connection: Upgrade\r\nX-Foo: 1\r\n\r\n";
	(void)state;
	net_http_init(&h, HTTP_REQUEST, 8, 1024);
	assert_int_equal(net_http_execute(&h, in, strlen(in), 0, &used), NET_HTTP_HEAD);
	assert_int_equal(net_http_find(&h, in, "HOST", 0), 0);
	assert_int_equal(net_http_find(&h, in, "connection", 0), 1);
	assert_int_equal(net_http_find(&h, in, "connection", 2), 2);
	assert_int_equal(net_http_find(&h, in, "x-foo", 0), 3);
	assert_int_equal(net_http_find(&h, in, "x-bar", 0), -1);
	assert_true(net_http_name_is(&h, in, 3, "X-FOO"));
	net_http_free(&h);
}

/* ---- what llhttp leaves to the adapter (issue 9, defects 1, 3, 5, 7) ---- */

static const char EMPTY_VALUES[] = "PUT /b/k HTTP/1.1\r\nX-Amz-Meta-A:\r\nX-B:   \r\n"
                                   "Host:  h \r\nx-c:\tv\t\r\nContent-Length: 3\r\n\r\nabc";

static void check_empty_values(const result_t *r)
{
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 1);
	assert_int_equal(r->nhdrs, 5);
	/* the raw line ends before its CRLF, however empty the value */
	assert_string_equal(r->lines[0], "X-Amz-Meta-A:");
	assert_string_equal(r->values[0], "");
	assert_string_equal(r->lines[1], "X-B:   ");
	assert_string_equal(r->values[1], "");
	assert_string_equal(r->lines[2], "Host:  h ");
	assert_string_equal(r->values[2], "h");
	assert_string_equal(r->lines[3], "x-c:\tv\t");
	assert_string_equal(r->values[3], "v");
	assert_string_equal(r->lines[4], "Content-Length: 3");
	assert_int_equal(r->body_raw, 3);
}

static void test_empty_values(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST, EMPTY_VALUES, false, check_empty_values);
}

static void check_refused_at_head(const result_t *r)
{
	assert_true(r->error);
	assert_int_equal(r->heads, 0); /* never handed out as a head to relay */
	assert_int_equal(r->err, NET_HTTP_E_INVALID);
}

static void test_framing_refused_at_head(void **state)
{
	(void)state;
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabcde", false,
	            check_refused_at_head);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	            false, check_refused_at_head);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
	            "0\r\n\r\n",
	            false, check_refused_at_head);
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	            "Content-Length: 5\r\n\r\n0\r\n\r\n",
	            false, check_refused_at_head);
}

/* 7 head fields of 8 allowed, a body over the head limit (1024), then 3 trailer fields: the
 * trailers have limits of their own, counted apart from the head's. */
static char TRAILERS[2048];

static void check_trailers(const result_t *r)
{
	const char *body = strstr(TRAILERS, "\r\n\r\n") + 4;
	assert_false(r->error);
	assert_int_equal(r->nmsgs, 1);
	assert_int_equal(r->nhdrs, 7);
	assert_int_equal(r->body_raw, strlen(body));
}

static void test_trailers_own_limits(void **state)
{
	char big[2048];
	(void)state;
	snprintf(TRAILERS, sizeof(TRAILERS),
	         "PUT / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
	         "Transfer-Encoding: chunked\r\n\r\n44c\r\n%01100d\r\n0\r\nT1: a\r\nT2:\r\n"
	         "T3: c\r\n\r\n",
	         0);
	every_split(HTTP_REQUEST, TRAILERS, false, check_trailers);
	/* 9 trailer fields, the limit is 8 */
	every_split(HTTP_REQUEST,
	            "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
	            "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n\r\n",
	            false, check_too_large);
	/* a trailer section over 1024 bytes */
	snprintf(big, sizeof(big),
	         "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
	         "T: %01100d\r\n\r\n",
	         0);
	every_split(HTTP_REQUEST, big, false, check_too_large);
}

static void assert_same_result(const result_t *a, const result_t *b)
{
	assert_int_equal(a->error, b->error);
	assert_int_equal(a->nmsgs, b->nmsgs);
	assert_int_equal(a->heads, b->heads);
	assert_string_equal(a->method, b->method);
	assert_string_equal(a->url, b->url);
	assert_int_equal(a->nhdrs, b->nhdrs);
	for (int i = 0; i < 16; i++) {
		assert_string_equal(a->lines[i], b->lines[i]);
		assert_string_equal(a->values[i], b->values[i]);
	}
	assert_int_equal(a->head_len, b->head_len);
	assert_int_equal(a->body_raw, b->body_raw);
	assert_memory_equal(a->msg_end, b->msg_end, sizeof(a->msg_end));
}

/* Two parsers on one thread, each stopped at every point of its message while the other runs:
 * no parsing state may be shared between them. */
static void test_interleaved_parsers(void **state)
{
	static const char *const msgs[] = {
	    "GET /a HTTP/1.1\r\nX-Long-Name: v\r\nHost: a\r\n\r\n",
	    "PUT /b HTTP/1.1\r\nHost: b\r\nX-Empty:\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	    "\r\nDELETE /c HTTP/1.1\r\nHost: c\r\nContent-Length: 2\r\n\r\nxy",
	};
	size_t n = sizeof(msgs) / sizeof(msgs[0]);
	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			size_t la = strlen(msgs[i]), lb = strlen(msgs[j]);
			result_t ra, rb, xa, xb;
			drive(HTTP_REQUEST, msgs[i], la, NULL, 0, false, &ra);
			drive(HTTP_REQUEST, msgs[j], lb, NULL, 0, false, &rb);
			assert_false(ra.error);
			assert_false(rb.error);
			for (size_t sa = 1; sa < la; sa++) {
				for (size_t sb = 1; sb < lb; sb++) {
					driver_t a, b;
					driver_init(&a, HTTP_REQUEST, msgs[i], la, false, &xa);
					driver_init(&b, HTTP_REQUEST, msgs[j], lb, false, &xb);
					driver_feed(&a, sa);
					driver_feed(&b, sb);
					driver_feed(&a, la);
					driver_feed(&b, lb);
					driver_end(&a);
					driver_end(&b);
					assert_same_result(&xa, &ra);
					assert_same_result(&xb, &rb);
				}
			}
		}
	}
}

/* The optional body callback gets the decoded body, chunk framing removed, however the message
 * is cut. */
typedef struct {
	char buf[64];
	size_t len;
} decoded_t;

static void collect(void *arg, const char *data, size_t len)
{
	decoded_t *d = arg;
	assert_true(d->len + len <= sizeof(d->buf));
	memcpy(d->buf + d->len, data, len);
	d->len += len;
}

static void test_body_callback(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                         "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n";
	size_t len = sizeof(in) - 1;
	(void)state;
	for (size_t cut = 1; cut < len; cut++) {
		net_http_t h;
		decoded_t d = {.len = 0};
		size_t used, pos = 0, avail = cut;
		net_http_result_t r = NET_HTTP_MORE;
		net_http_init(&h, HTTP_RESPONSE, 8, 1024);
		h.body_cb = collect;
		h.body_arg = &d;
		while (r != NET_HTTP_DONE) {
			r = net_http_execute(&h, in + pos, avail - pos, pos, &used);
			assert_int_not_equal(r, NET_HTTP_ERROR);
			pos += used;
			if (r == NET_HTTP_MORE)
				avail = len;
		}
		assert_int_equal(pos, len);
		assert_int_equal(d.len, 11);
		assert_memory_equal(d.buf, "hello world", 11);
		net_http_free(&h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipelined_gets),
	    cmocka_unit_test(test_put_content_length),
	    cmocka_unit_test(test_put_chunked),
	    cmocka_unit_test(test_smuggling_rejected),
	    cmocka_unit_test(test_bad_chunk_framing),
	    cmocka_unit_test(test_chunk_extensions),
	    cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_response_continue),
	    cmocka_unit_test(test_response_to_head),
	    cmocka_unit_test(test_response_until_eof),
	    cmocka_unit_test(test_response_chunked),
	    cmocka_unit_test(test_truncated_response),
	    cmocka_unit_test(test_header_lookup),
	    cmocka_unit_test(test_empty_values),
	    cmocka_unit_test(test_framing_refused_at_head),
	    cmocka_unit_test(test_trailers_own_limits),
	    cmocka_unit_test(test_interleaved_parsers),
	    cmocka_unit_test(test_body_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

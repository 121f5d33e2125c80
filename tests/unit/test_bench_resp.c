/*
 * bench/resp.c on the path the bench takes: net/http.c parses each response whole, at every
 * split point (two pieces) and byte by byte, from the end of a page followed by a PROT_NONE
 * page, so that any over-read crashes; the decoded body (net_http_t.body_cb), the status, ETag
 * and Content-Length that bench_resp_head takes from the head, keep-alive, and where the
 * response ends must not depend on the split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/resp.h"

typedef struct {
	char body[512];
	size_t body_len;
	bench_resp_t resp;
	bool keep_alive;
	bool done;
	bool error;
	size_t used_total; /* bytes consumed when the response ended */
} result_t;

static const char *guarded(const char *in, size_t len, void **map, size_t *maplen)
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

static void on_body(void *ud, const char *p, size_t len)
{
	result_t *r = ud;
	assert_true(r->body_len + len <= sizeof(r->body));
	memcpy(r->body + r->body_len, p, len);
	r->body_len += len;
}

/* Feeds `in` cut at the given offsets, as net/client.c does (again with no bytes once the head
 * is done); eof: the connection closes after the last byte. */
static void drive(net_http_t *h, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  bool head, bool eof, result_t *r)
{
	size_t pos = 0;
	memset(r, 0, sizeof(*r));
	bench_resp_reset(&r->resp);
	h->body_cb = on_body;
	h->body_arg = r;
	h->skip_body = head;
	for (size_t i = 0; i <= ncuts && !r->done && !r->error; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		while (!r->done && !r->error && (pos < end || h->head_done)) {
			size_t used;
			net_http_result_t res =
			    net_http_execute(h, in + pos, end - pos, pos, &used);
			pos += used;
			if (res == NET_HTTP_HEAD)
				bench_resp_head(&r->resp, h, in);
			else if (res == NET_HTTP_DONE)
				r->done = true;
			else if (res == NET_HTTP_ERROR)
				r->error = true;
			else
				break; /* every byte of the piece consumed */
		}
	}
	r->used_total = pos;
	if (eof && !r->done && !r->error) {
		if (h->head_done && net_http_needs_eof(h) && net_http_finish(h) == NET_HTTP_DONE)
			r->done = true;
		else
			r->error = true;
	}
	r->keep_alive = r->done && net_http_keep_alive(h) && !net_http_needs_eof(h);
}

typedef struct {
	const char *name;
	const char *in;
	bool head, eof;
	/* expected */
	bool error;
	int status;
	const char *body;
	int64_t clen;
	const char *etag;
	bool keep_alive;
	size_t extra; /* bytes after the response (not consumed) */
} case_t;

static const case_t cases[] = {
    {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n\r\nhello", false,
     false, false, 200, "hello", 5, "\"abc\"", true, 0},
    {"chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", false,
     false, false, 200, "abcde", -1, "", true, 0},
    {"chunked with trailers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nx-t: 1\r\n\r\n",
     false, false, false, 200, "abc", -1, "", true, 0},
    {"head", "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nEtag: x\r\n\r\n", true, false, false, 200,
     "", 4096, "x", true, 0},
    {"no content", "HTTP/1.1 204 No Content\r\nx-amz-request-id: 1\r\n\r\n", false, false, false,
     204, "", -1, "", true, 0},
    {"close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", false,
     false, false, 404, "abc", 3, "", false, 0},
    {"until eof", "HTTP/1.0 200 OK\r\n\r\nall of it", false, true, false, 200, "all of it", -1, "",
     false, 0},
    {"etag-like names",
     "HTTP/1.1 200 OK\r\nETags: no\r\nE: no\r\netag: \"yes\"\r\nContent-Length: 0\r\n\r\n", false,
     false, false, 200, "", 0, "\"yes\"", true, 0},
    {"pipelined extra", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200", false, false,
     false, 200, "ok", 2, "", true, 12},
    {"garbage", "HTTP/1.1 2x0 OK\r\n\r\n", false, false, true, 0, "", -1, "", false, 0},
    {"truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, true, true, 200, "abc",
     10, "", false, 0},
};

static void check(const case_t *c, const result_t *r, const char *how)
{
	if (c->error) {
		if (!r->error)
			fail_msg("%s (%s): expected an error", c->name, how);
		return;
	}
	if (r->error || !r->done)
		fail_msg("%s (%s): error %d done %d", c->name, how, r->error, r->done);
	assert_int_equal(r->resp.status, c->status);
	assert_int_equal(r->body_len, strlen(c->body));
	assert_memory_equal(r->body, c->body, r->body_len);
	assert_int_equal(r->resp.clen, c->clen);
	assert_string_equal(r->resp.etag, c->etag);
	assert_int_equal(r->keep_alive, c->keep_alive);
	assert_int_equal(r->used_total, strlen(c->in) - c->extra);
}

static void one(const case_t *c, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                const char *how)
{
	net_http_t h;
	result_t r;
	net_http_init(&h, HTTP_RESPONSE, 50, 4096);
	drive(&h, in, len, cuts, ncuts, c->head, c->eof, &r);
	check(c, &r, how);
	net_http_free(&h);
}

static void every_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const case_t *c = &cases[i];
		size_t len = strlen(c->in), maplen, *cuts = calloc(len + 1, sizeof(size_t));
		void *map;
		const char *in = guarded(c->in, len, &map, &maplen);
		char how[32];
		assert_non_null(cuts);
		for (size_t cut = 0; cut <= len; cut++) {
			cuts[0] = cut;
			snprintf(how, sizeof(how), "split at %zu", cut);
			one(c, in, len, cuts, 1, how);
		}
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		one(c, in, len, cuts, len, "byte by byte");
		munmap(map, maplen);
		free(cuts);
	}
}

/* Keep-alive: the second head's values are its own (no ETag carried over from the first). */
static void reuse(void **state)
{
	const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nETag: e1\r\n\r\nA"
	                  "HTTP/1.1 206 Partial Content\r\nContent-Length: 2\r\n\r\nBC";
	net_http_t h;
	result_t r;
	size_t first = strstr(two, "AHTTP") + 1 - two;
	(void)state;
	net_http_init(&h, HTTP_RESPONSE, 50, 4096);
	drive(&h, two, first, NULL, 0, false, false, &r);
	assert_true(r.done);
	assert_int_equal(r.resp.status, 200);
	assert_string_equal(r.resp.etag, "e1");
	net_http_next(&h);
	drive(&h, two + first, strlen(two) - first, NULL, 0, false, false, &r);
	assert_true(r.done);
	assert_int_equal(r.resp.status, 206);
	assert_int_equal(r.resp.clen, 2);
	assert_string_equal(r.resp.etag, "");
	assert_int_equal(r.body_len, 2);
	assert_memory_equal(r.body, "BC", 2);
	net_http_free(&h);
}

/* An ETag longer than the bench keeps is cut, never overrun. */
static void long_etag(void **state)
{
	char in[512], want[BENCH_ETAG_CAP];
	net_http_t h;
	result_t r;
	(void)state;
	memset(want, 'e', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nETag: %s%s\r\nContent-Length: 0\r\n\r\n", want,
	         "tail-that-is-cut");
	net_http_init(&h, HTTP_RESPONSE, 50, 4096);
	drive(&h, in, strlen(in), NULL, 0, false, false, &r);
	assert_true(r.done);
	assert_string_equal(r.resp.etag, want);
	net_http_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_split),
	    cmocka_unit_test(reuse),
	    cmocka_unit_test(long_etag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

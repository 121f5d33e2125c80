/*
 * bench/http.c: each response is fed whole, at every split point (two pieces) and byte by byte,
 * from the end of a page followed by a PROT_NONE page, so that any over-read crashes; the
 * decoded body, status, ETag, Content-Length and keep-alive must not depend on the split.
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

#include "bench/http.h"

typedef struct {
	char body[512];
	size_t body_len;
	int status;
	int64_t clen;
	char etag[128];
	bool keep_alive;
	bool done;
	bool error;
	size_t used_total; /* bytes consumed when DONE came */
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

/* Feeds `in` cut at the given offsets; eof: the connection closes after the last byte. */
static void drive(bench_http_t *h, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  bool head, bool eof, result_t *r)
{
	size_t start = 0, used;
	memset(r, 0, sizeof(*r));
	bench_http_begin(h, head, on_body, r);
	for (size_t i = 0; i <= ncuts && !r->done && !r->error; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		bench_http_result_t res = bench_http_feed(h, in + start, end - start, &used);
		if (res == BENCH_HTTP_ERROR)
			r->error = true;
		if (res == BENCH_HTTP_DONE) {
			r->done = true;
			r->used_total = start + used;
		}
		start = end;
	}
	if (eof && !r->done && !r->error) {
		if (bench_http_eof(h) == BENCH_HTTP_DONE) {
			r->done = true;
			r->used_total = len;
		} else {
			r->error = true;
		}
	}
	r->status = bench_http_status(h);
	r->clen = bench_http_content_length(h);
	snprintf(r->etag, sizeof(r->etag), "%s", bench_http_etag(h));
	r->keep_alive = r->done && bench_http_keep_alive(h);
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
	assert_int_equal(r->status, c->status);
	assert_int_equal(r->body_len, strlen(c->body));
	assert_memory_equal(r->body, c->body, r->body_len);
	assert_int_equal(r->clen, c->clen);
	assert_string_equal(r->etag, c->etag);
	assert_int_equal(r->keep_alive, c->keep_alive);
	assert_int_equal(r->used_total, strlen(c->in) - c->extra);
}

static void every_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const case_t *c = &cases[i];
		size_t len = strlen(c->in), maplen, *cuts = calloc(len + 1, sizeof(size_t));
		void *map;
		const char *in = guarded(c->in, len, &map, &maplen);
		result_t r;
		char how[32];
		assert_non_null(cuts);
		for (size_t cut = 0; cut <= len; cut++) {
			bench_http_t *h = bench_http_new();
			cuts[0] = cut;
			drive(h, in, len, cuts, 1, c->head, c->eof, &r);
			snprintf(how, sizeof(how), "split at %zu", cut);
			check(c, &r, how);
			bench_http_free(h);
		}
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		{
			bench_http_t *h = bench_http_new();
			drive(h, in, len, cuts, len, c->head, c->eof, &r);
			check(c, &r, "byte by byte");
			bench_http_free(h);
		}
		munmap(map, maplen);
		free(cuts);
	}
}

/* One parser across keep-alive responses, and a fresh start after an error. */
static void reuse(void **state)
{
	const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
	                  "HTTP/1.1 206 Partial Content\r\nContent-Length: 2\r\nETag: e2\r\n\r\nBC";
	bench_http_t *h = bench_http_new();
	result_t r;
	size_t used, first;
	(void)state;
	memset(&r, 0, sizeof(r));
	bench_http_begin(h, false, on_body, &r);
	assert_int_equal(bench_http_feed(h, two, strlen(two), &used), BENCH_HTTP_DONE);
	first = used;
	assert_int_equal(bench_http_status(h), 200);
	assert_string_equal(bench_http_etag(h), "");
	memset(&r, 0, sizeof(r));
	bench_http_begin(h, false, on_body, &r);
	assert_int_equal(bench_http_feed(h, two + first, strlen(two) - first, &used),
	                 BENCH_HTTP_DONE);
	assert_int_equal(first + used, strlen(two));
	assert_int_equal(bench_http_status(h), 206);
	assert_int_equal(bench_http_content_length(h), 2);
	assert_string_equal(bench_http_etag(h), "e2");
	assert_int_equal(r.body_len, 2);

	assert_int_equal(bench_http_feed(h, "junk\r\n", 6, &used), BENCH_HTTP_ERROR);
	assert_true(strlen(bench_http_error(h)) > 0);
	memset(&r, 0, sizeof(r));
	bench_http_begin(h, false, on_body, &r); /* a new connection: usable again */
	assert_int_equal(
	    bench_http_feed(h, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, &used),
	    BENCH_HTTP_DONE);
	assert_false(bench_http_started(h) == false);
	bench_http_free(h);

	/* After "Connection: close" the parser takes nothing more, until a new connection. */
	h = bench_http_new();
	bench_http_begin(h, false, NULL, NULL);
	assert_int_equal(bench_http_feed(h,
	                                 "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	                                 "Content-Length: 0\r\n\r\n",
	                                 57, &used),
	                 BENCH_HTTP_DONE);
	assert_false(bench_http_keep_alive(h));
	bench_http_begin(h, false, NULL, NULL);
	assert_int_equal(bench_http_feed(h, "HTTP/1.1 200 OK\r\n", 17, &used), BENCH_HTTP_ERROR);
	bench_http_reset(h);
	bench_http_begin(h, false, NULL, NULL);
	assert_int_equal(
	    bench_http_feed(h, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, &used),
	    BENCH_HTTP_DONE);
	bench_http_free(h);

	h = bench_http_new();
	bench_http_begin(h, false, NULL, NULL);
	assert_int_equal(bench_http_eof(h), BENCH_HTTP_ERROR);
	assert_string_equal(bench_http_error(h), "connection closed before a response");
	bench_http_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_split),
	    cmocka_unit_test(reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

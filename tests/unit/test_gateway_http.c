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

#include "gateway/http.h"

typedef struct {
	int nmsgs;
	char method[16];
	char url[256];
	int status;
	uint32_t nhdrs;
	char hdr0[128];    /* "name: value" of the first header */
	char hdrlast[128]; /* raw line of the last header (name_off .. line_end) */
	size_t head_len;
	size_t body_raw;   /* raw body bytes between the head and the end of the message */
	size_t msg_end[4]; /* absolute offset of each message's end */
	bool has_body;
	bool keep_alive;
	bool error;
	gw_err_t err;
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

/*
 * Feeds `in` in pieces ending at the offsets in cuts[] (the last piece ends at len). The parser
 * only ever sees bytes that "arrived" so far; skip_body makes every response a response to HEAD.
 */
static void drive(llhttp_type_t type, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  bool skip_body, result_t *res)
{
	gw_http_t h;
	size_t start = 0, parsed = 0, avail, head_end = 0;
	void *map;
	size_t maplen;
	const char *buf = guarded(in, len, &map, &maplen);

	memset(res, 0, sizeof(*res));
	gw_http_init(&h, type, 8, 1024);
	h.skip_body = skip_body;
	for (size_t piece = 0; piece <= ncuts && !res->error; piece++) {
		avail = piece < ncuts ? cuts[piece] : len;
		for (;;) {
			size_t used;
			gw_http_result_t r = gw_http_execute(&h, buf + parsed, avail - parsed,
			                                     parsed - start, &used);
			parsed += used;
			if (r == GW_HTTP_MORE)
				break;
			if (r == GW_HTTP_ERROR) {
				res->error = true;
				res->err = h.err;
				break;
			}
			if (r == GW_HTTP_HEAD) {
				const char *msg = buf + start;
				head_end = parsed;
				if (res->nmsgs == 0) {
					const gw_hdr_t *hd = &h.hdrs[0];
					res->head_len = h.head_len;
					res->nhdrs = h.nhdrs;
					res->status = gw_http_status(&h);
					res->has_body = gw_http_has_body(&h);
					snprintf(res->method, sizeof(res->method), "%s",
					         type == HTTP_REQUEST ? gw_http_method(&h) : "");
					snprintf(res->url, sizeof(res->url), "%.*s", (int)h.url_len,
					         msg + h.url_off);
					if (h.nhdrs) {
						snprintf(res->hdr0, sizeof(res->hdr0), "%.*s: %.*s",
						         (int)hd->name_len, msg + hd->name_off,
						         (int)hd->value_len, msg + hd->value_off);
						hd = &h.hdrs[h.nhdrs - 1];
						snprintf(res->hdrlast, sizeof(res->hdrlast), "%.*s",
						         (int)(hd->line_end - hd->name_off),
						         msg + hd->name_off);
					}
				}
				continue;
			}
			/* GW_HTTP_DONE */
			if (res->nmsgs == 0) {
				res->body_raw = parsed - head_end;
				res->keep_alive = gw_http_keep_alive(&h);
			}
			if (res->nmsgs < 4)
				res->msg_end[res->nmsgs] = parsed;
			res->nmsgs++;
			gw_http_next(&h);
			h.skip_body = skip_body;
			start = parsed;
		}
	}
	if (!res->error && type == HTTP_RESPONSE && gw_http_needs_eof(&h) && h.head_done) {
		if (gw_http_finish(&h) == GW_HTTP_DONE) {
			if (res->nmsgs == 0)
				res->body_raw = parsed - head_end;
			res->msg_end[res->nmsgs++] = parsed;
		}
	}
	gw_http_free(&h);
	munmap(map, maplen);
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
	assert_int_equal(r->err, GW_ERR_INVALID_REQUEST);
}

static void check_too_large(const result_t *r)
{
	assert_true(r->error);
	assert_int_equal(r->err, GW_ERR_HEADER_TOO_LARGE);
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
	gw_http_t h;
	size_t used;
	const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
	(void)state;
	gw_http_init(&h, HTTP_RESPONSE, 8, 1024);
	assert_int_equal(gw_http_execute(&h, in, strlen(in), 0, &used), GW_HTTP_HEAD);
	assert_int_equal(gw_http_execute(&h, in + used, strlen(in) - used, used, &used),
	                 GW_HTTP_MORE);
	/* the node closed 5 bytes short: never a complete message */
	assert_int_equal(gw_http_finish(&h), GW_HTTP_ERROR);
	assert_int_equal(h.err, GW_ERR_BAD_GATEWAY);
	gw_http_free(&h);
}

static void test_header_lookup(void **state)
{
	gw_http_t h;
	size_t used;
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Foo\r\n"
	                 "connection: Upgrade\r\nX-Foo: 1\r\n\r\n";
	(void)state;
	gw_http_init(&h, HTTP_REQUEST, 8, 1024);
	assert_int_equal(gw_http_execute(&h, in, strlen(in), 0, &used), GW_HTTP_HEAD);
	assert_int_equal(gw_http_find(&h, in, "HOST", 0), 0);
	assert_int_equal(gw_http_find(&h, in, "connection", 0), 1);
	assert_int_equal(gw_http_find(&h, in, "connection", 2), 2);
	assert_int_equal(gw_http_find(&h, in, "x-foo", 0), 3);
	assert_int_equal(gw_http_find(&h, in, "x-bar", 0), -1);
	assert_true(gw_http_name_is(&h, in, 3, "X-FOO"));
	gw_http_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipelined_gets),     cmocka_unit_test(test_put_content_length),
	    cmocka_unit_test(test_put_chunked),        cmocka_unit_test(test_smuggling_rejected),
	    cmocka_unit_test(test_bad_chunk_framing),  cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_response_continue),  cmocka_unit_test(test_response_to_head),
	    cmocka_unit_test(test_response_until_eof), cmocka_unit_test(test_response_chunked),
	    cmocka_unit_test(test_truncated_response), cmocka_unit_test(test_header_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

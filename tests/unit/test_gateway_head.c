/*
 * gateway/head.c: tables of request heads (the check, then the head sent to nodes) and response
 * heads (the head sent to clients), each parsed by the real adapter first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/head.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void parse_head(net_http_t *h, llhttp_type_t type, const char *in)
{
	size_t used;
	net_http_init(h, type, 100, 16384);
	assert_int_equal(net_http_execute(h, in, strlen(in), 0, &used), NET_HTTP_HEAD);
}

typedef struct {
	const char *in;
	bool ok;
	gw_err_t err;    /* when !ok */
	const char *out; /* when ok: the head for nodes, X-Forwarded-For: 10.0.0.1 appended */
} req_case_t;

static const req_case_t req_cases[] = {
    /* byte for byte, whitespace and case of the field lines included */
    {"GET /b/k?x=1 HTTP/1.1\r\nhost: s3.local\r\nX-Amz-Date:20261126T000000Z\r\n"
     "X-Weird:  two  spaces \r\n\r\n",
     true, 0,
     "GET /b/k?x=1 HTTP/1.1\r\nhost: s3.local\r\nX-Amz-Date:20261126T000000Z\r\n"
     "X-Weird:  two  spaces \r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    /* empty and whitespace-only values stay one line each (defect 1) */
    {"PUT /b/k HTTP/1.1\r\nX-Amz-Meta-A:\r\nX-B: \t \r\nHost: h\r\nContent-Length: 3\r\n\r\n", true,
     0,
     "PUT /b/k HTTP/1.1\r\nX-Amz-Meta-A:\r\nX-B: \t \r\nHost: h\r\nContent-Length: 3\r\n"
     "X-Forwarded-For: 10.0.0.1\r\n\r\n"},
    /* empty lines before the request line are not part of it (defect 4) */
    {"\r\n\r\nDELETE /b/k HTTP/1.1\r\nHost: h\r\n\r\n", true, 0,
     "DELETE /b/k HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    /* hop-by-hop fields go, and what Connection names */
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\n"
     "TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nX-Keep: 2\r\n\r\n",
     true, 0, "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: 2\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: ,, x-a ,\r\nconnection: X-B\r\nX-A: 1\r\n"
     "x-b: 2\r\nX-AB: 3\r\n\r\n",
     true, 0, "GET / HTTP/1.1\r\nHost: h\r\nX-AB: 3\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    {"GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true, 0,
     "GET / HTTP/1.0\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    {"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", true, 0,
     "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n"
     "X-Forwarded-For: 10.0.0.1\r\n\r\n"},
    {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", true, 0,
     "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
    /* framing fields and Host are never hop-by-hop: naming them is refused (defect 2) */
    {"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: Content-Length\r\n\r\n", false,
     GW_ERR_INVALID_REQUEST, NULL},
    {"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Connection: keep-alive, transfer-encoding\r\n\r\n",
     false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: b.s3.local\r\nConnection: HOST\r\n\r\n", false,
     GW_ERR_INVALID_REQUEST, NULL},
    /* Host: exactly one, a valid host[:port] */
    {"GET / HTTP/1.1\r\nX: 1\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost:   \r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
    /* transfer codings: chunked alone, and not in HTTP/1.0 (defect 7) */
    {"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false,
     GW_ERR_NOT_IMPLEMENTED, NULL},
    {"PUT / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", false,
     GW_ERR_INVALID_REQUEST, NULL},
    /* an empty Transfer-Encoding: llhttp reads no body, a node may read one (smuggling) */
    {"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", false, GW_ERR_INVALID_REQUEST,
     NULL},
    {"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", true, 0,
     "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n"
     "X-Forwarded-For: 10.0.0.1\r\n\r\n"},
    /* versions and targets */
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", false, GW_ERR_HTTP_VERSION, NULL},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", false, GW_ERR_HTTP_VERSION, NULL},
    {"GET /b/k#frag HTTP/1.1\r\nHost: h\r\n\r\n", false, GW_ERR_INVALID_REQUEST, NULL},
};

static void test_request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(req_cases); i++) {
		const req_case_t *t = &req_cases[i];
		net_http_t h;
		gw_err_t err = GW_ERR__COUNT;
		const char *why = NULL;
		bool ok;
		parse_head(&h, HTTP_REQUEST, t->in);
		ok = gw_head_check_request(&h, t->in, &err, &why);
		if (ok != t->ok)
			fail_msg("case %zu: check %s, want %s (%s)", i, ok ? "passed" : "refused",
			         t->ok ? "pass" : "refuse", why ? why : "");
		if (!ok) {
			assert_int_equal(err, t->err);
			assert_non_null(why);
		} else {
			gw_head_req_opts_t o = {.client_ip = "10.0.0.1", .x_forwarded_for = true};
			char *out;
			size_t len, target_off;
			gw_head_request(&h, t->in, &o, &out, &len, &target_off);
			if (len != strlen(t->out) || memcmp(out, t->out, len) != 0)
				fail_msg("case %zu: got '%.*s'", i, (int)len, out);
			assert_int_equal(out[target_off], '/');
			free(out);
		}
		net_http_free(&h);
	}
}

static void test_request_options(void **state)
{
	static const char in[] = "GET http://h/b/k HTTP/1.1\r\nHost: h\r\nX-Real-IP: 1.2.3.4\r\n"
	                         "x-real-ip: 5.6.7.8\r\nX-A: 1\r\n\r\n";
	net_http_t h;
	gw_head_req_opts_t o = {.path = "/b/k",
	                        .path_len = 4,
	                        .client_ip = "192.0.2.7",
	                        .x_forwarded_for = false,
	                        .x_real_ip = true};
	char *out;
	size_t len, target_off;
	const char *want = "GET /b/k HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Real-IP: 192.0.2.7\r\n\r\n";
	(void)state;
	parse_head(&h, HTTP_REQUEST, in);
	gw_head_request(&h, in, &o, &out, &len, &target_off);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	assert_int_equal(target_off, 4);
	free(out);
	net_http_free(&h);
}

typedef struct {
	const char *in;
	gw_head_conn_t conn;
	const char *out; /* NULL: gw_head_check_response refuses it */
} resp_case_t;

static const resp_case_t resp_cases[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"x\"\r\nx-amz-meta-a:\r\n\r\n",
     GW_HEAD_CONN_NONE,
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"x\"\r\nx-amz-meta-a:\r\n\r\n"},
    /* a node's empty lines before the status line, and a status line without a reason */
    {"\r\nHTTP/1.1 204\r\nX: 1\r\n\r\n", GW_HEAD_CONN_NONE, "HTTP/1.1 204 \r\nX: 1\r\n\r\n"},
    {"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=5\r\n"
     "Content-Length: 0\r\n\r\n",
     GW_HEAD_CONN_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", GW_HEAD_CONN_KEEP_ALIVE,
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"},
    /* Connection never takes the framing away from the client */
    {"HTTP/1.1 200 OK\r\nConnection: content-length, transfer-encoding\r\n"
     "Content-Length: 2\r\n\r\n",
     GW_HEAD_CONN_NONE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"},
    /* chunked to an HTTP/1.0 client: decoded, ended by the close */
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"e\"\r\n\r\n",
     GW_HEAD_CONN_CLOSE_UNCHUNKED, "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nConnection: close\r\n\r\n"},
    /* a node's HTTP/1.0 goes out as s3lb's own version (RFC 9110 6.2) */
    {"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", GW_HEAD_CONN_CLOSE,
     "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: close\r\n\r\n"},
    {"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", GW_HEAD_CONN_KEEP_ALIVE,
     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"},
    {"HTTP/1.1 100 Continue\r\n\r\n", GW_HEAD_CONN_NONE, "HTTP/1.1 100 Continue\r\n\r\n"},
    {"HTTP/1.1 099 Odd\r\n\r\n", GW_HEAD_CONN_NONE, NULL},
    {"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", GW_HEAD_CONN_NONE, NULL},
};

static void test_response_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(resp_cases); i++) {
		const resp_case_t *t = &resp_cases[i];
		net_http_t h;
		const char *why = NULL;
		bool ok;
		parse_head(&h, HTTP_RESPONSE, t->in);
		ok = gw_head_check_response(&h, &why);
		if (ok != (t->out != NULL))
			fail_msg("case %zu: check %s", i, ok ? "passed" : why);
		if (ok) {
			char *out;
			size_t len;
			gw_head_response(&h, t->in, t->conn, &out, &len);
			if (len != strlen(t->out) || memcmp(out, t->out, len) != 0)
				fail_msg("case %zu: got '%.*s'", i, (int)len, out);
			free(out);
		}
		net_http_free(&h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_table),
	    cmocka_unit_test(test_request_options),
	    cmocka_unit_test(test_response_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

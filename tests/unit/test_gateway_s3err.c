/* Unit tests for gateway/s3err.c: the error table, the XML body and the HTTP response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "gateway/s3err.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
	gw_err_t e;
	int status;
	const char *reason;
	const char *code;
} err_case_t;

static const err_case_t table[] = {
    {GW_ERR_NO_SUCH_BUCKET, 404, "Not Found", "NoSuchBucket"},
    {GW_ERR_SERVICE_UNAVAILABLE, 503, "Service Unavailable", "ServiceUnavailable"},
    {GW_ERR_SLOW_DOWN, 503, "Service Unavailable", "SlowDown"},
    {GW_ERR_REQUEST_TIMEOUT, 400, "Bad Request", "RequestTimeout"},
    {GW_ERR_INTERNAL, 500, "Internal Server Error", "InternalError"},
    {GW_ERR_BAD_GATEWAY, 502, "Bad Gateway", "ServiceUnavailable"},
    {GW_ERR_GATEWAY_TIMEOUT, 504, "Gateway Timeout", "ServiceUnavailable"},
    {GW_ERR_INVALID_REQUEST, 400, "Bad Request", "InvalidRequest"},
    {GW_ERR_HEADER_TOO_LARGE, 431, "Request Header Fields Too Large",
     "RequestHeaderSectionTooLarge"},
    {GW_ERR_HEADER_TIMEOUT, 408, "Request Timeout", "RequestTimeout"},
    {GW_ERR_METHOD_NOT_ALLOWED, 405, "Method Not Allowed", "MethodNotAllowed"},
    {GW_ERR_NOT_IMPLEMENTED, 501, "Not Implemented", "NotImplemented"},
    {GW_ERR_HTTP_VERSION, 505, "HTTP Version Not Supported", "HttpVersionNotSupported"},
};

static void test_table(void **state)
{
	assert_int_equal(NELEM(table), GW_ERR__COUNT);
	for (size_t i = 0; i < NELEM(table); i++) {
		const err_case_t *c = &table[i];
		assert_int_equal(gw_err_status(c->e), c->status);
		assert_string_equal(gw_err_reason(c->e), c->reason);
		assert_string_equal(gw_err_code(c->e), c->code);
		assert_non_null(gw_err_message(c->e));
		assert_true(strlen(gw_err_message(c->e)) > 10);
	}
	assert_string_equal(gw_err_message(GW_ERR_REQUEST_TIMEOUT),
	                    "Your socket connection to the server was not read from or written to "
	                    "within the timeout period.");
	assert_string_equal(gw_err_message(GW_ERR_NO_SUCH_BUCKET),
	                    "The specified bucket does not exist.");
	/* A value out of range is answered as an internal error rather than read out of bounds. */
	assert_int_equal(gw_err_status(GW_ERR__COUNT), 500);
	assert_int_equal(gw_err_status((gw_err_t)-1), 500);
	assert_string_equal(gw_err_code(GW_ERR__COUNT), "InternalError");
}

/* ---- XML ---- */

typedef struct {
	const char *code;
	const char *message;
	const char *resource;
	const char *request_id;
} fields_t;

/* Parses body (strictly: not well-formed fails the test) and compares every field. */
static void check_xml(const char *body, size_t len, const fields_t *want)
{
	static const char decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
	assert_true(len > sizeof(decl));
	assert_memory_equal(body, decl, sizeof(decl) - 1);
	assert_int_equal(strlen(body), len); /* terminated, no NUL inside */

	xmlDocPtr doc = xmlReadMemory(body, (int)len, "err.xml", NULL, XML_PARSE_NONET);
	if (doc == NULL)
		fail_msg("not well-formed XML:\n%s", body);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	assert_non_null(root);
	assert_string_equal((const char *)root->name, "Error");

	const char *names[] = {"Code", "Message", "Resource", "RequestId"};
	const char *values[] = {want->code, want->message, want->resource, want->request_id};
	xmlNodePtr child = xmlFirstElementChild(root);
	for (size_t i = 0; i < NELEM(names); i++) {
		if (values[i] == NULL)
			continue; /* NULL: the element is left out */
		assert_non_null(child);
		assert_string_equal((const char *)child->name, names[i]);
		xmlChar *text = xmlNodeGetContent(child);
		assert_string_equal((const char *)text, values[i]);
		xmlFree(text);
		child = xmlNextElementSibling(child);
	}
	assert_null(child); /* nothing else */
	xmlFreeDoc(doc);
}

static void test_xml_fields_and_escaping(void **state)
{
	const fields_t f = {
	    .code = "NoSuchBucket",
	    .message = "a < b && c > d; \"quoted\" 'single' ]]> <![CDATA[x]]>",
	    .resource = "/b\xc3\xa4"
	                "cket/\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87 \xe2\x9c\x93 \xf0\x9f\x98\x80",
	    .request_id = "req-<&>-1",
	};
	char *body;
	size_t len;
	assert_int_equal(gw_err_xml(f.code, f.message, f.resource, f.request_id, &body, &len), 0);
	check_xml(body, len, &f);
	/* The markup characters are escaped in the bytes, not merely parsed back. */
	assert_non_null(strstr(body, "a &lt; b &amp;&amp; c &gt; d"));
	assert_non_null(strstr(body, "<RequestId>req-&lt;&amp;&gt;-1</RequestId>"));
	assert_null(strstr(body, "<![CDATA["));
	/* Non-ASCII stays UTF-8 (not character references), as S3 sends it. */
	assert_non_null(strstr(body, f.resource));
	free(body);
}

static void test_xml_omits_null_fields(void **state)
{
	const fields_t f = {.code = "SlowDown", .message = "Please reduce your request rate."};
	char *body;
	size_t len;
	assert_int_equal(gw_err_xml(f.code, f.message, NULL, NULL, &body, &len), 0);
	check_xml(body, len, &f);
	assert_null(strstr(body, "Resource"));
	assert_null(strstr(body, "RequestId"));
	free(body);
}

static void test_xml_bytes_xml_cannot_hold(void **state)
{
	/* Invalid UTF-8 (lone continuation, truncated sequence, overlong, surrogate) and control
	 * characters become U+FFFD; tab, CR and LF are legal XML and survive. */
	const char *in = "a\xff"
	                 "b\x01"
	                 "c\xc3"
	                 "d\xc0\xaf"
	                 "e\xed\xa0\x80"
	                 "f\tg\r\nh\x7f";
	const char *rep = "\xef\xbf\xbd";
	char want[128];
	snprintf(want, sizeof(want), "a%sb%sc%sd%s%se%s%s%sf\tg\r\nh\x7f", rep, rep, rep, rep, rep,
	         rep, rep, rep);
	char *body;
	size_t len;
	assert_int_equal(gw_err_xml("InvalidRequest", "m", in, "id", &body, &len), 0);
	const fields_t f = {
	    .code = "InvalidRequest", .message = "m", .resource = want, .request_id = "id"};
	check_xml(body, len, &f);
	free(body);
}

/* ---- HTTP response ---- */

typedef struct {
	int status;
	char reason[64];
	char *headers[16]; /* "name: value" lines */
	size_t nheaders;
	const char *body;
	size_t body_len;
} http_resp_t;

static void parse_response(char *buf, size_t len, http_resp_t *r)
{
	memset(r, 0, sizeof(*r));
	char *end = strstr(buf, "\r\n\r\n");
	assert_non_null(end);
	end[2] = '\0'; /* the head, each line ending in CRLF */
	r->body = end + 4;
	r->body_len = len - (size_t)(r->body - buf);
	int n = 0;
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d %63[^\r]%n", &r->status, r->reason, &n), 2);
	char *line = buf + n;
	assert_memory_equal(line, "\r\n", 2);
	line += 2;
	while (*line != '\0') {
		char *eol = strstr(line, "\r\n");
		assert_non_null(eol);
		*eol = '\0';
		/* No bare CR or LF inside a header line. */
		assert_null(strchr(line, '\r'));
		assert_null(strchr(line, '\n'));
		assert_true(r->nheaders < NELEM(r->headers));
		r->headers[r->nheaders++] = line;
		line = eol + 2;
	}
}

/* The value of header `name`, or NULL; the name must appear at most once. */
static const char *header(const http_resp_t *r, const char *name)
{
	const char *found = NULL;
	size_t nlen = strlen(name);
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->headers[i];
		if (strncmp(h, name, nlen) == 0 && h[nlen] == ':' && h[nlen + 1] == ' ') {
			assert_null(found);
			found = h + nlen + 2;
		}
	}
	return found;
}

static void check_date(const char *value)
{
	assert_non_null(value);
	assert_int_equal(strlen(value), 29); /* "Sun, 06 Nov 1994 08:49:37 GMT" */
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_non_null(rest);
	assert_int_equal(*rest, '\0');
	time_t t = timegm(&tm);
	time_t now = time(NULL);
	assert_true(t <= now && t >= now - 5);
}

static void test_response_get(void **state)
{
	for (size_t i = 0; i < NELEM(table); i++) {
		const err_case_t *c = &table[i];
		char *out;
		size_t len;
		assert_int_equal(
		    gw_err_response(c->e, NULL, "/bucket/key", "req-42", true, false, &out, &len),
		    0);
		http_resp_t r;
		parse_response(out, len, &r);
		assert_int_equal(r.status, c->status);
		assert_string_equal(r.reason, c->reason);
		assert_string_equal(header(&r, "Content-Type"), "application/xml");
		char cl[32];
		snprintf(cl, sizeof(cl), "%zu", r.body_len);
		assert_string_equal(header(&r, "Content-Length"), cl);
		assert_string_equal(header(&r, "x-amz-request-id"), "req-42");
		assert_string_equal(header(&r, "Server"), "s3lb");
		check_date(header(&r, "Date"));
		assert_null(header(&r, "Connection"));
		assert_int_equal(r.nheaders, 5);
		const fields_t f = {.code = c->code,
		                    .message = gw_err_message(c->e),
		                    .resource = "/bucket/key",
		                    .request_id = "req-42"};
		check_xml(r.body, r.body_len, &f);
		free(out);
	}
}

static void test_response_close_and_message(void **state)
{
	char *out;
	size_t len;
	assert_int_equal(gw_err_response(GW_ERR_SLOW_DOWN, "too many connections & more", NULL,
	                                 "id-1", false, false, &out, &len),
	                 0);
	http_resp_t r;
	parse_response(out, len, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(header(&r, "Connection"), "close");
	assert_int_equal(r.nheaders, 6);
	const fields_t f = {
	    .code = "SlowDown", .message = "too many connections & more", .request_id = "id-1"};
	check_xml(r.body, r.body_len, &f);
	free(out);
}

static void test_response_head(void **state)
{
	char *get, *head;
	size_t get_len, head_len;
	assert_int_equal(gw_err_response(GW_ERR_NO_SUCH_BUCKET, NULL, "/nope", "rid", true, false,
	                                 &get, &get_len),
	                 0);
	assert_int_equal(gw_err_response(GW_ERR_NO_SUCH_BUCKET, NULL, "/nope", "rid", false, true,
	                                 &head, &head_len),
	                 0);
	http_resp_t g, h;
	parse_response(get, get_len, &g);
	parse_response(head, head_len, &h);
	assert_int_equal(h.status, 404);
	assert_int_equal(h.body_len, 0); /* ends right after the blank line */
	assert_int_equal(head[head_len], '\0');
	char cl[32];
	snprintf(cl, sizeof(cl), "%zu", g.body_len);
	assert_true(g.body_len > 0);
	/* Content-Length is what a GET would have carried. */
	assert_string_equal(header(&h, "Content-Length"), cl);
	assert_string_equal(header(&h, "Connection"), "close");
	free(get);
	free(head);
}

static void test_response_request_id_cannot_split_headers(void **state)
{
	const char *evil = "abc\r\nSet-Cookie: x=1";
	char *out;
	size_t len;
	assert_int_equal(
	    gw_err_response(GW_ERR_INTERNAL, NULL, NULL, evil, true, false, &out, &len), 0);
	http_resp_t r;
	parse_response(out, len, &r);
	assert_null(header(&r, "Set-Cookie"));
	assert_string_equal(header(&r, "x-amz-request-id"), "abcSet-Cookie:x=1");
	assert_int_equal(r.nheaders, 5);
	/* The body keeps the id as given, escaped. */
	const fields_t f = {.code = "InternalError",
	                    .message = gw_err_message(GW_ERR_INTERNAL),
	                    .request_id = evil};
	check_xml(r.body, r.body_len, &f);
	free(out);

	/* No id at all: no header, no element. */
	assert_int_equal(
	    gw_err_response(GW_ERR_INTERNAL, NULL, NULL, NULL, true, false, &out, &len), 0);
	parse_response(out, len, &r);
	assert_null(header(&r, "x-amz-request-id"));
	assert_int_equal(r.nheaders, 4);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_xml_fields_and_escaping),
	    cmocka_unit_test(test_xml_omits_null_fields),
	    cmocka_unit_test(test_xml_bytes_xml_cannot_hold),
	    cmocka_unit_test(test_response_get),
	    cmocka_unit_test(test_response_close_and_message),
	    cmocka_unit_test(test_response_head),
	    cmocka_unit_test(test_response_request_id_cannot_split_headers),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}

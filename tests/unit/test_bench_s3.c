/* bench/s3.c: request heads, path-style and virtual-hosted, header auth and presigned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <uv.h>

#include "bench/s3.h"

static bench_opts_t *opts(void)
{
	bench_opts_t *o = calloc(1, sizeof(*o));
	const char *why;
	assert_non_null(o);
	strcpy(o->access_key, "AKIAIOSFODNN7EXAMPLE");
	strcpy(o->secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	strcpy(o->region, "us-east-1");
	strcpy(o->bucket, "examplebucket");
	assert_int_equal(bench_target_parse("http://127.0.0.1:8080", 0, &o->targets[0], &why), 0);
	o->ntargets = 1;
	return o;
}

static void path_style(void **state)
{
	bench_opts_t *o = opts();
	bench_s3_t s;
	char head[2048];
	bench_s3_req_t r = {
	    .method = "GET", .key = "dir/a b.txt", .range = "bytes=0-9", .content_length = -1};
	int n;
	(void)state;
	assert_int_equal(bench_s3_init(&s, o, &o->targets[0]), 0);
	n = bench_s3_head(&s, &r, 1369353600, head, sizeof(head));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(head));
	assert_non_null(strstr(head, "GET /examplebucket/dir/a%20b.txt HTTP/1.1\r\n"));
	assert_non_null(strstr(head, "\r\nHost: 127.0.0.1:8080\r\n"));
	assert_non_null(strstr(head, "\r\nx-amz-date: 20130524T000000Z\r\n"));
	assert_non_null(strstr(head, "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
	assert_non_null(
	    strstr(head, "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
	                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));
	assert_non_null(strstr(head, "\r\nRange: bytes=0-9\r\n"));
	assert_null(strstr(head, "Content-Length"));
	assert_int_equal(strcmp(head + n - 4, "\r\n\r\n"), 0);

	/* A bucket request with a query, and a PUT with a signed payload hash. */
	r = (bench_s3_req_t){
	    .method = "GET", .query = "list-type=2&prefix=p%2F", .content_length = -1};
	assert_true(bench_s3_head(&s, &r, 1369353600, head, sizeof(head)) > 0);
	assert_non_null(strstr(head, "GET /examplebucket/?list-type=2&prefix=p%2F HTTP/1.1\r\n"));
	r = (bench_s3_req_t){
	    .method = "PUT",
	    .key = "k",
	    .content_length = 21,
	    .payload_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"};
	assert_true(bench_s3_head(&s, &r, 1369353600, head, sizeof(head)) > 0);
	assert_non_null(strstr(head, "x-amz-content-sha256: 44ce7dd67c959e0d"));
	assert_non_null(strstr(head, "\r\nContent-Length: 21\r\n"));
	assert_int_equal(bench_s3_head(&s, &r, 1369353600, head, 100), UV_ENOBUFS);
	bench_s3_free(&s);
	free(o);
}

static void virtual_hosted_presigned(void **state)
{
	bench_opts_t *o = opts();
	bench_s3_t s;
	char head[2048];
	bench_s3_req_t r = {.method = "GET", .key = "test.txt", .content_length = -1};
	(void)state;
	strcpy(o->vhost_domain, "s3.amazonaws.com");
	const char *why;
	assert_int_equal(bench_target_parse("http://127.0.0.1:80", 0, &o->targets[0], &why), 0);
	o->presign = true;
	assert_int_equal(bench_s3_init(&s, o, &o->targets[0]), 0);
	assert_true(bench_s3_head(&s, &r, 1369353600, head, sizeof(head)) > 0);
	/* The presigned example of the AWS documentation (only the expiry differs, 3600). */
	assert_non_null(strstr(head,
	                       "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	                       "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	                       "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=3600"
	                       "&X-Amz-SignedHeaders=host&X-Amz-Signature="));
	assert_non_null(strstr(head, "\r\nHost: examplebucket.s3.amazonaws.com\r\n"));
	assert_null(strstr(head, "Authorization"));
	bench_s3_free(&s);

	assert_int_equal(bench_target_parse("http://127.0.0.1:8080", 0, &o->targets[0], &why), 0);
	strcpy(o->vhost_domain, "s3.local");
	assert_int_equal(bench_s3_init(&s, o, &o->targets[0]), 0);
	assert_true(bench_s3_head(&s, &r, 1369353600, head, sizeof(head)) > 0);
	assert_non_null(strstr(head, "\r\nHost: examplebucket.s3.local:8080\r\n"));
	bench_s3_free(&s);
	free(o);
}

static void xml(void **state)
{
	const char *x = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>"
	                "<UploadId>2~abc.DEF</UploadId></InitiateMultipartUploadResult>";
	char out[64];
	(void)state;
	assert_int_equal(bench_xml_value(x, strlen(x), "UploadId", out, sizeof(out)), 0);
	assert_string_equal(out, "2~abc.DEF");
	assert_int_equal(bench_xml_value(x, strlen(x), "Code", out, sizeof(out)), -1);
	assert_int_equal(bench_xml_value(x, strlen(x), "UploadId", out, 4), -1);
	assert_int_equal(bench_xml_value(x, 80, "UploadId", out, sizeof(out)), -1); /* cut short */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(path_style),
	    cmocka_unit_test(virtual_hosted_presigned),
	    cmocka_unit_test(xml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

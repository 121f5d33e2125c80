/* Unit tests for gateway/s3req.c: bucket, key and operation class of S3 requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/guard.h"

#include "gateway/s3req.h"

static char *const no_domains[] = {NULL};
static char *const one_domain[] = {"s3.local"};
static char *const two_domains[] = {"s3.local", "eu.s3.local"};

typedef struct {
	const char *method;
	const char *target;
	const char *host; /* NULL: no Host header */
	char *const *domains;
	size_t ndomains;
	int rc;
	const char *bucket; /* NULL: none */
	const char *key;    /* NULL: none */
	lb_op_t op;
	bool vh;
} s3req_case_t;

#define D0 no_domains, 0
#define D1 one_domain, 1
#define D2 two_domains, 2

static const s3req_case_t cases[] = {
    /* Service level. */
    {"GET", "/", "s3.local", D1, 0, NULL, NULL, LB_OP_LIST, false},
    {"HEAD", "/", "s3.local", D1, 0, NULL, NULL, LB_OP_LIST, false},
    {"PUT", "/", "s3.local", D1, 0, NULL, NULL, LB_OP_OTHER, false},
    {"GET", "/?x-id=ListBuckets", "s3.local", D1, 0, NULL, NULL, LB_OP_LIST, false},
    /* Bucket level, path-style. */
    {"GET", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket/", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket?list-type=2&prefix=a%2F&delimiter=%2F", "s3.local", D1, 0, "bucket", NULL,
     LB_OP_LIST, false},
    {"GET", "/bucket?list-type=2&prefix=acl", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket?versions&key-marker=a", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket?uploads", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket?", "s3.local", D1, 0, "bucket", NULL, LB_OP_LIST, false},
    {"GET", "/bucket?acl", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"GET", "/bucket/?location", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"GET", "/bucket?tagging", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"GET", "/bucket?policy=", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"HEAD", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"PUT", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"PUT", "/bucket?versioning", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"DELETE", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"DELETE", "/bucket?cors", "s3.local", D1, 0, "bucket", NULL, LB_OP_BUCKET, false},
    {"POST", "/bucket?delete", "s3.local", D1, 0, "bucket", NULL, LB_OP_DELETE, false},
    {"POST", "/bucket?delete=&x-id=DeleteObjects", "s3.local", D1, 0, "bucket", NULL, LB_OP_DELETE,
     false},
    {"POST", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_WRITE, false},
    {"POST", "/bucket?deletex", "s3.local", D1, 0, "bucket", NULL, LB_OP_OTHER, false},
    {"OPTIONS", "/bucket", "s3.local", D1, 0, "bucket", NULL, LB_OP_OTHER, false},
    /* Object level, path-style. */
    {"GET", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"HEAD", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"PUT", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE, false},
    {"DELETE", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_DELETE, false},
    {"POST", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE, false},
    {"GET", "/bucket/key?acl", "s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"HEAD", "/bucket/key?versionId=3", "s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"PUT", "/bucket/key?tagging", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE, false},
    {"DELETE", "/bucket/key?tagging", "s3.local", D1, 0, "bucket", "key", LB_OP_DELETE, false},
    {"PUT", "/bucket/key?x-id=PutObject", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE, false},
    {"POST", "/bucket/key?uploads", "s3.local", D1, 0, "bucket", "key", LB_OP_MPU_CREATE, false},
    {"POST", "/bucket/key?uploads=", "s3.local", D1, 0, "bucket", "key", LB_OP_MPU_CREATE, false},
    {"PUT", "/bucket/key?partNumber=1&uploadId=abc", "s3.local", D1, 0, "bucket", "key",
     LB_OP_MPU_PART, false},
    {"PUT", "/bucket/key?uploadId=abc&partNumber=2", "s3.local", D1, 0, "bucket", "key",
     LB_OP_MPU_PART, false},
    {"POST", "/bucket/key?uploadId=abc", "s3.local", D1, 0, "bucket", "key", LB_OP_MPU_COMPLETE,
     false},
    {"DELETE", "/bucket/key?uploadId=abc", "s3.local", D1, 0, "bucket", "key", LB_OP_MPU_ABORT,
     false},
    {"GET", "/bucket/key?uploadId=abc&max-parts=10", "s3.local", D1, 0, "bucket", "key", LB_OP_READ,
     false},
    {"PUT", "/bucket/key?uploadIdMarker=abc", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE,
     false},
    {"POST", "/bucket/key?uploadsx", "s3.local", D1, 0, "bucket", "key", LB_OP_OTHER, false},
    {"POST", "/bucket/key?select&select-type=2", "s3.local", D1, 0, "bucket", "key", LB_OP_READ,
     false},
    {"POST", "/bucket/key?restore", "s3.local", D1, 0, "bucket", "key", LB_OP_WRITE, false},
    {"OPTIONS", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_OTHER, false},
    {"PATCH", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_OTHER, false},
    {"get", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_OTHER, false},
    {"GETX", "/bucket/key", "s3.local", D1, 0, "bucket", "key", LB_OP_OTHER, false},
    {"GET", "/admin/user", "s3.local", D1, 0, "admin", "user", LB_OP_READ, false},
    /* Key bytes: exactly as sent, percent-encoding preserved, query excluded. */
    {"GET", "/bucket/dir/sub/file.txt", "s3.local", D1, 0, "bucket", "dir/sub/file.txt", LB_OP_READ,
     false},
    {"GET", "/bucket/a%2Fb%20c", "s3.local", D1, 0, "bucket", "a%2Fb%20c", LB_OP_READ, false},
    {"GET", "/bucket/what%3Fis%3F?acl", "s3.local", D1, 0, "bucket", "what%3Fis%3F", LB_OP_READ,
     false},
    {"GET", "/bucket/caf%C3%A9", "s3.local", D1, 0, "bucket", "caf%C3%A9", LB_OP_READ, false},
    {"GET", "/bucket//key", "s3.local", D1, 0, "bucket", "/key", LB_OP_READ, false},
    {"GET", "/bucket/a//b/", "s3.local", D1, 0, "bucket", "a//b/", LB_OP_READ, false},
    {"GET", "//key", "s3.local", D1, 0, NULL, NULL, LB_OP_OTHER, false},
    {"GET", "/bucket/key?", "s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    /* Hosts that are not virtual-hosted. */
    {"GET", "/bucket/key", "[::1]:8080", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/", "[::1]:8080", D1, 0, NULL, NULL, LB_OP_LIST, false},
    {"GET", "/bucket/key", "127.0.0.1:9000", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "s3.local:80", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "S3.LOCAL", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "eu.s3.local", D2, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "b.other.example", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", ".s3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "xs3.local", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "s3.local.evil", D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", NULL, D1, 0, "bucket", "key", LB_OP_READ, false},
    {"GET", "/bucket/key", "b.s3.local", D0, 0, "bucket", "key", LB_OP_READ, false},
    /* Virtual-hosted. */
    {"GET", "/key", "photos.s3.local", D1, 0, "photos", "key", LB_OP_READ, true},
    {"GET", "/dir/key?acl", "photos.s3.local:9000", D1, 0, "photos", "dir/key", LB_OP_READ, true},
    {"PUT", "/a%2Fb", "photos.S3.Local", D1, 0, "photos", "a%2Fb", LB_OP_WRITE, true},
    {"GET", "/key", "PHOTOS.S3.LOCAL:80", D1, 0, "PHOTOS", "key", LB_OP_READ, true},
    {"GET", "/key", "my.dotted.bucket.s3.local", D1, 0, "my.dotted.bucket", "key", LB_OP_READ,
     true},
    {"GET", "/key", "b.eu.s3.local", D2, 0, "b", "key", LB_OP_READ, true},
    {"GET", "/key", "b.us.s3.local", D2, 0, "b.us", "key", LB_OP_READ, true},
    {"GET", "/key", "photos.s3.local.", D1, 0, "photos", "key", LB_OP_READ, true},
    {"GET", "/", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_LIST, true},
    {"GET", "/?list-type=2", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_LIST, true},
    {"GET", "/?acl", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_BUCKET, true},
    {"PUT", "/", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_BUCKET, true},
    {"POST", "/", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_WRITE, true},
    {"POST", "/?delete", "photos.s3.local", D1, 0, "photos", NULL, LB_OP_DELETE, true},
    {"GET", "//key", "photos.s3.local", D1, 0, "photos", "/key", LB_OP_READ, true},
    {"GET", "/bucket/key", "photos.s3.local", D1, 0, "photos", "bucket/key", LB_OP_READ, true},
    {"POST", "/k?uploads", "photos.s3.local", D1, 0, "photos", "k", LB_OP_MPU_CREATE, true},
    {"PUT", "/k?partNumber=3&uploadId=Z", "photos.s3.local", D1, 0, "photos", "k", LB_OP_MPU_PART,
     true},
    /* Not origin-form: the caller answers 400. */
    {"GET", "http://s3.local/bucket/key", "s3.local", D1, -1, NULL, NULL, 0, false},
    {"OPTIONS", "*", "s3.local", D1, -1, NULL, NULL, 0, false},
    {"CONNECT", "s3.local:443", "s3.local", D1, -1, NULL, NULL, 0, false},
    {"GET", "", "s3.local", D1, -1, NULL, NULL, 0, false},
};

static void check_part(size_t row, const char *what, const char *want, const char *got,
                       size_t got_len)
{
	if (want == NULL) {
		if (got != NULL)
			fail_msg("row %zu: %s: got \"%.*s\", want none", row, what, (int)got_len,
			         got);
		return;
	}
	if (got == NULL)
		fail_msg("row %zu: %s: got none, want \"%s\"", row, what, want);
	if (got_len != strlen(want) || memcmp(got, want, got_len) != 0)
		fail_msg("row %zu: %s: got \"%.*s\", want \"%s\"", row, what, (int)got_len, got,
		         want);
}

static void test_table(void **state)
{
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 40);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const s3req_case_t *c = &cases[i];
		test_guard_t m, t, h;
		size_t host_len = c->host != NULL ? strlen(c->host) : 0;
		test_guard(&m, c->method, strlen(c->method));
		test_guard(&t, c->target, strlen(c->target));
		test_guard(&h, c->host != NULL ? c->host : "", host_len);

		gw_s3req_t r;
		memset(&r, 0xa5, sizeof(r)); /* the parser must set every field */
		int rc = gw_s3req_parse(&r, m.data, strlen(c->method), t.data, strlen(c->target),
		                        c->host != NULL ? h.data : NULL, host_len, c->domains,
		                        c->ndomains);
		if (rc != c->rc)
			fail_msg("row %zu (%s %s): rc %d, want %d", i, c->method, c->target, rc,
			         c->rc);
		if (rc == 0) {
			check_part(i, "bucket", c->bucket, r.bucket, r.bucket_len);
			check_part(i, "key", c->key, r.key, r.key_len);
			if (r.op != c->op)
				fail_msg("row %zu (%s %s host %s): op 0x%x, want 0x%x", i,
				         c->method, c->target, c->host ? c->host : "-",
				         (unsigned)r.op, (unsigned)c->op);
			if (r.virtual_hosted != c->vh)
				fail_msg("row %zu: virtual_hosted %d, want %d", i, r.virtual_hosted,
				         c->vh);
			/* Pointers are into the caller's bytes, never copies. */
			if (r.bucket != NULL)
				assert_true(
				    (r.bucket >= t.data &&
				     r.bucket + r.bucket_len <= t.data + strlen(c->target)) ||
				    (r.bucket >= h.data &&
				     r.bucket + r.bucket_len <= h.data + host_len));
			if (r.key != NULL)
				assert_true(r.key > t.data &&
				            r.key + r.key_len <= t.data + strlen(c->target));
		}
		test_unguard(&m);
		test_unguard(&t);
		test_unguard(&h);
	}
}

typedef struct {
	const char *target;
	const char *name;
	bool want;
} query_case_t;

static const query_case_t query_cases[] = {
    {"/b/k?uploads", "uploads", true},
    {"/b/k?uploads=", "uploads", true},
    {"/b/k?uploadsx", "uploads", false},
    {"/b/k?xuploads", "uploads", false},
    {"/b/k?uploadIdMarker=1", "uploadId", false},
    {"/b/k?upload-id-marker=1&uploadId=2", "uploadId", true},
    {"/b/k?partNumber=1&uploadId=2", "uploadId", true},
    {"/b/k?partNumber=1&uploadId=2", "partNumber", true},
    {"/b/k?partNumber=uploadId", "uploadId", false}, /* values are not names */
    {"/b/k?a=1&&acl", "acl", true},
    {"/b/k?acl&", "acl", true},
    {"/b/k?ACL", "acl", false}, /* case-sensitive */
    {"/b/k", "acl", false},
    {"/b/k?", "acl", false},
    {"/b/acl", "acl", false}, /* the path is not the query */
    {"/b/k?x=a?acl", "acl", false},
    {"/b/k?prefix=a&delete", "delete", true},
};

static void test_query_has(void **state)
{
	for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
		const query_case_t *c = &query_cases[i];
		test_guard_t t;
		test_guard(&t, c->target, strlen(c->target));
		bool got = gw_query_has(t.data, strlen(c->target), c->name);
		if (got != c->want)
			fail_msg("query row %zu: \"%s\" has \"%s\": got %d, want %d", i, c->target,
			         c->name, got, c->want);
		test_unguard(&t);
	}
}

static void test_host_name_len(void **state)
{
	assert_int_equal(gw_host_name_len("s3.local", 8), 8);
	assert_int_equal(gw_host_name_len("s3.local:8080", 13), 8);
	assert_int_equal(gw_host_name_len("[::1]:8080", 10), 5);
	assert_int_equal(gw_host_name_len("[::1]", 5), 5);
	assert_int_equal(gw_host_name_len("[::1", 4), 4);
	assert_int_equal(gw_host_name_len("", 0), 0);
	assert_int_equal(gw_host_name_len("10.0.0.1:80", 11), 8);
	/* Only host_len bytes count. */
	assert_int_equal(gw_host_name_len("s3.local:80", 5), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_query_has),
	    cmocka_unit_test(test_host_name_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for gateway/router.c: first matching route by bucket glob, op set and host glob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/router.h"

static lb_route_conf_t routes[] = {
    {.bucket = "logs-*", .ops = 0, .host = NULL, .pool = 0},
    {.bucket = NULL, .ops = LB_OP_READ, .host = "*.eu.s3.local", .pool = 1},
    {.bucket = "tmp-??", .ops = LB_OP_WRITE | LB_OP_MULTIPART, .host = NULL, .pool = 2},
    {.bucket = NULL, .ops = LB_OP_LIST, .host = NULL, .pool = 3},
    {.bucket = "*", .ops = 0, .host = "internal.s3.local", .pool = 4},
    {.bucket = "data", .ops = 0, .host = NULL, .pool = 5},
    {.bucket = NULL, .ops = LB_OP_DELETE, .host = "[::1]", .pool = 6},
};

static lb_frontend_conf_t fe = {
    .name = "s3",
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
};

typedef struct {
	const char *bucket; /* NULL: request without a bucket */
	lb_op_t op;
	const char *host; /* NULL: no Host header */
	int want;
} route_case_t;

static const route_case_t cases[] = {
    {"logs-2024", LB_OP_WRITE, "s3.local", 0},
    {"logs-", LB_OP_READ, "s3.local", 0},
    {"logs-2024", LB_OP_READ, "x.eu.s3.local", 0}, /* 1 matches too: the first wins */
    {"logs", LB_OP_LIST, "s3.local", 3},
    {"photos", LB_OP_READ, "b.eu.s3.local", 1},
    {"photos", LB_OP_READ, "b.eu.s3.local:9000", 1},
    {"photos", LB_OP_READ, "B.EU.S3.LOCAL", 1},
    {"photos", LB_OP_READ, "eu.s3.local", -1},
    {"photos", LB_OP_WRITE, "b.eu.s3.local", -1},
    {"photos", LB_OP_READ, NULL, -1},
    {"tmp-01", LB_OP_MPU_PART, "s3.local", 2},
    {"tmp-01", LB_OP_WRITE, "s3.local", 2},
    {"tmp-01", LB_OP_MPU_COMPLETE, "s3.local", 2},
    {"tmp-01", LB_OP_READ, "s3.local", -1},
    {"tmp-001", LB_OP_WRITE, "s3.local", -1},
    {"Tmp-01", LB_OP_WRITE, "s3.local", -1}, /* bucket globs are case-sensitive */
    {NULL, LB_OP_LIST, "s3.local", 3},
    {NULL, LB_OP_LIST, "x.eu.s3.local", 3},
    {NULL, LB_OP_READ, "x.eu.s3.local", 1},
    {NULL, LB_OP_OTHER, "internal.s3.local", -1}, /* "*" needs a bucket */
    {"anything", LB_OP_OTHER, "internal.s3.local", 4},
    {"anything", LB_OP_OTHER, "internal.s3.local:80", 4},
    {"anything", LB_OP_OTHER, "INTERNAL.S3.Local", 4},
    {"anything", LB_OP_OTHER, "internal.s3.local.evil", -1},
    {"data", LB_OP_DELETE, NULL, 5},
    {"data", LB_OP_BUCKET, "[::1]:8080", 5},
    {"x", LB_OP_DELETE, "[::1]:8080", 6},
    {"x", LB_OP_DELETE, "[::1]", 6},
    {NULL, LB_OP_DELETE, "[::1]", 6},
    {"x", LB_OP_DELETE, "[::2]:8080", -1},
};

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const route_case_t *c = &cases[i];
		gw_s3req_t r = {.op = c->op};
		if (c->bucket != NULL) {
			r.bucket = c->bucket;
			r.bucket_len = strlen(c->bucket);
		}
		int got = gw_route(&fe, &r, c->host, c->host != NULL ? strlen(c->host) : 0);
		if (got != c->want)
			fail_msg("row %zu: bucket %s op 0x%x host %s: route %d, want %d", i,
			         c->bucket ? c->bucket : "-", (unsigned)c->op,
			         c->host ? c->host : "-", got, c->want);
	}
}

static void test_lengths_not_terminators(void **state)
{
	/* The bucket and host are byte ranges inside larger buffers. */
	const char *target = "/logs-2024/key";
	gw_s3req_t r = {.bucket = target + 1, .bucket_len = 9, .op = LB_OP_READ};
	assert_int_equal(gw_route(&fe, &r, "b.eu.s3.localXYZ", 13), 0);
	r.bucket_len = 4; /* "logs" */
	assert_int_equal(gw_route(&fe, &r, "b.eu.s3.localXYZ", 13), 1);
	assert_int_equal(gw_route(&fe, &r, "b.eu.s3.localXYZ", 16), -1);
}

static void test_empty_and_default(void **state)
{
	lb_frontend_conf_t empty = {.name = "none"};
	gw_s3req_t r = {.bucket = "b", .bucket_len = 1, .op = LB_OP_READ};
	assert_int_equal(gw_route(&empty, &r, "s3.local", 8), -1);

	lb_route_conf_t two[] = {
	    {.bucket = NULL, .ops = 0, .host = "*", .pool = 0},
	    {.bucket = NULL, .ops = 0, .host = NULL, .pool = 1},
	};
	lb_frontend_conf_t fe2 = {.name = "dflt", .routes = two, .nroutes = 2};
	assert_int_equal(gw_route(&fe2, &r, "s3.local", 8), 0);
	/* No Host: a host glob sees the empty name, which "*" matches. */
	assert_int_equal(gw_route(&fe2, &r, NULL, 0), 0);
	gw_s3req_t none = {.op = LB_OP_LIST};
	assert_int_equal(gw_route(&fe2, &none, "s3.local", 8), 0);
	/* A Host longer than any DNS name matches no host glob, only routes without one. */
	char big[600];
	memset(big, 'a', sizeof(big));
	assert_int_equal(gw_route(&fe2, &r, big, sizeof(big)), 1);
	assert_int_equal(gw_route(&fe2, &r, big, 256), 0);
}

static void test_with_parsed_request(void **state)
{
	char *domains[] = {"s3.local"};
	gw_s3req_t r;
	const char *t1 = "/logs-7/obj?acl";
	assert_int_equal(gw_s3req_parse(&r, "PUT", 3, t1, strlen(t1), "s3.local", 8, domains, 1),
	                 0);
	assert_int_equal(gw_route(&fe, &r, "s3.local", 8), 0);

	const char *t2 = "/obj?partNumber=1&uploadId=u";
	const char *h2 = "tmp-42.s3.local:9000";
	assert_int_equal(gw_s3req_parse(&r, "PUT", 3, t2, strlen(t2), h2, strlen(h2), domains, 1),
	                 0);
	assert_int_equal(gw_route(&fe, &r, h2, strlen(h2)), 2);

	const char *t3 = "/";
	assert_int_equal(gw_s3req_parse(&r, "GET", 3, t3, 1, "s3.local", 8, domains, 1), 0);
	assert_int_equal(gw_route(&fe, &r, "s3.local", 8), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_lengths_not_terminators),
	    cmocka_unit_test(test_empty_and_default),
	    cmocka_unit_test(test_with_parsed_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * core/sigv4.c against AWS's published examples:
 *  - Amazon S3 API Reference, "Signature Calculations for the Authorization Header: Transferring
 *    Payload in a Single Chunk" (examplebucket, AKIAIOSFODNN7EXAMPLE, 20130524T000000Z): GET
 *    Object with a Range, PUT Object, GET Bucket Lifecycle, GET Bucket (List Objects);
 *  - "Authenticating Requests: Using Query Parameters": the presigned GET of test.txt;
 *  - the Signature Version 4 test suite (AKIDEXAMPLE, service "service", 20150830T123600Z):
 *    get-vanilla, get-vanilla-query-order-key-case, post-vanilla.
 * The test_* cases are those of the health probe's former signer: the GET Object vector with
 * the headers as the probe gives them (lower case), its key encoding, a refused small buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <uv.h>

#include "core/sigv4.h"

#define S3_AK   "AKIAIOSFODNN7EXAMPLE"
#define S3_SK   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_CRED                                                                                    \
	"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
#define SUITE_AK  "AKIDEXAMPLE"
#define SUITE_SK  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DAY "20150830T123600Z"

static lb_sigv4_t *signer(const char *ak, const char *sk, const char *service)
{
	lb_sigv4_t *s = NULL;
	assert_int_equal(lb_sigv4_new(ak, sk, "us-east-1", service, &s), 0);
	return s;
}

static void s3_get_object(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	char auth[512];
	/* Header names in any case and order: the signer lower-cases and sorts them. */
	lb_sigv4_hdr_t h[] = {
	    {"x-amz-date", S3_DATE},
	    {"Range", "bytes=0-9"},
	    {"Host", S3_HOST},
	    {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
	};
	(void)state;
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/test.txt", "", h, 4, S3_DATE,
	                                        LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)),
	                 0);
	assert_string_equal(
	    auth,
	    S3_CRED "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	lb_sigv4_free(s);
}

static void s3_put_object(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	const char *body = "Welcome to Amazon S3.";
	char auth[512], hash[65], path[64];
	(void)state;

	lb_sigv4_sha256_hex(s, body, strlen(body), hash);
	assert_string_equal(hash,
	                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	/* The same digest made in pieces. */
	lb_sigv4_sha256_begin(s);
	lb_sigv4_sha256_update(s, body, 7);
	lb_sigv4_sha256_update(s, body + 7, strlen(body) - 7);
	lb_sigv4_sha256_end(s, hash);
	assert_string_equal(hash,
	                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

	path[0] = '/';
	assert_int_equal(
	    lb_sigv4_uri_encode("test$file.text", 14, true, path + 1, sizeof(path) - 1), 16);
	assert_string_equal(path, "/test%24file.text");
	lb_sigv4_hdr_t h[] = {
	    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
	    {"Host", S3_HOST},
	    {"x-amz-date", S3_DATE},
	    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
	    {"x-amz-content-sha256", hash},
	};
	assert_int_equal(
	    lb_sigv4_authorization(s, "PUT", path, NULL, h, 5, S3_DATE, hash, auth, sizeof(auth)),
	    0);
	assert_string_equal(
	    auth,
	    S3_CRED "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
	            "x-amz-storage-class, "
	            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	lb_sigv4_free(s);
}

static void s3_bucket_requests(void **state)
{
	static const struct {
		const char *query, *sig;
	} cases[] = {
	    /* A parameter without a value is signed as "lifecycle=". */
	    {"lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
	    /* Parameters are sorted by name. */
	    {"prefix=J&max-keys=2",
	     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	    {"max-keys=2&prefix=J",
	     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	};
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	lb_sigv4_hdr_t h[] = {
	    {"host", S3_HOST},
	    {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
	    {"x-amz-date", S3_DATE},
	};
	char auth[512];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(lb_sigv4_authorization(s, "GET", "/", cases[i].query, h, 3,
		                                        S3_DATE, LB_SIGV4_EMPTY_SHA256, auth,
		                                        sizeof(auth)),
		                 0);
		assert_non_null(strstr(auth, cases[i].sig));
	}
	lb_sigv4_free(s);
}

static void s3_presigned_get(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	char q[1024];
	(void)state;
	assert_int_equal(
	    lb_sigv4_presign(s, "GET", "/test.txt", "", S3_HOST, S3_DATE, 86400, q, sizeof(q)), 0);
	assert_string_equal(
	    q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
	       "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	       "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	       "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	/* The request's own parameters are signed and sent along, in canonical order. */
	assert_int_equal(lb_sigv4_presign(s, "PUT", "/test.txt", "uploadId=abc&partNumber=2",
	                                  S3_HOST, S3_DATE, 3600, q, sizeof(q)),
	                 0);
	assert_non_null(
	    strstr(q, "X-Amz-SignedHeaders=host&partNumber=2&uploadId=abc&X-Amz-Signature="));
	lb_sigv4_free(s);
}

static void suite_vectors(void **state)
{
	static const struct {
		const char *method, *query, *sig;
	} cases[] = {
	    {"GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
	    {"GET", "Param2=value2&Param1=value1",
	     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	    {"POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	};
	lb_sigv4_t *s = signer(SUITE_AK, SUITE_SK, "service");
	lb_sigv4_hdr_t h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DAY}};
	char auth[512], want[512];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(lb_sigv4_authorization(s, cases[i].method, "/", cases[i].query, h,
		                                        2, SUITE_DAY, LB_SIGV4_EMPTY_SHA256, auth,
		                                        sizeof(auth)),
		                 0);
		snprintf(want, sizeof(want),
		         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
		         "aws4_request, SignedHeaders=host;x-amz-date, Signature=%s",
		         cases[i].sig);
		assert_string_equal(auth, want);
	}
	lb_sigv4_free(s);
}

/* The signing key is kept per date: a new date must make a new one. */
static void key_follows_the_date(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	lb_sigv4_hdr_t h[] = {{"host", S3_HOST}, {"x-amz-date", SUITE_DAY}};
	lb_sigv4_hdr_t g[] = {
	    {"host", S3_HOST},
	    {"range", "bytes=0-9"},
	    {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
	    {"x-amz-date", S3_DATE},
	};
	char auth[512];
	(void)state;
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/", "", h, 2, SUITE_DAY,
	                                        LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)),
	                 0);
	assert_non_null(strstr(auth, "/20150830/"));
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/test.txt", "", g, 4, S3_DATE,
	                                        LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)),
	                 0);
	assert_non_null(
	    strstr(auth, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	lb_sigv4_free(s);
}

static void helpers(void **state)
{
	char out[64], d[17];
	(void)state;
	assert_int_equal(lb_sigv4_uri_encode("a b/c~d", 7, true, out, sizeof(out)), 9);
	assert_string_equal(out, "a%20b/c~d");
	assert_int_equal(lb_sigv4_uri_encode("a/b", 3, false, out, sizeof(out)), 5);
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(lb_sigv4_uri_encode("\xc3\xa9", 2, false, out, sizeof(out)), 6);
	assert_string_equal(out, "%C3%A9");
	assert_int_equal(lb_sigv4_uri_encode("abc", 3, false, out, 3),
	                 -1); /* no room for the NUL */
	lb_sigv4_amz_date(1369353600, d);
	assert_string_equal(d, "20130524T000000Z");
}

static void too_small(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	lb_sigv4_hdr_t h[] = {{"host", S3_HOST}, {"x-amz-date", S3_DATE}};
	char auth[64];
	lb_sigv4_t *bad = NULL;
	char longkey[300];
	(void)state;
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/", "", h, 2, S3_DATE, LB_SIGV4_UNSIGNED,
	                                        auth, sizeof(auth)),
	                 UV_ENOBUFS);
	assert_int_not_equal(lb_sigv4_authorization(s, "GET", "/", "", h, 2, "2013",
	                                            LB_SIGV4_UNSIGNED, auth, sizeof(auth)),
	                     0);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_not_equal(lb_sigv4_new(longkey, S3_SK, "us-east-1", "s3", &bad), 0);
	assert_null(bad);
	lb_sigv4_free(s);
}

/* The GET Object example as the health probe builds its headers. */
static void test_aws_get_object_example(void **state)
{
	lb_sigv4_t *s = signer(S3_AK, S3_SK, "s3");
	char auth[512];
	lb_sigv4_hdr_t h[] = {
	    {"range", "bytes=0-9"},
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
	};
	(void)state;
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/test.txt", "", h, 4, "20130524T000000Z",
	                                        LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)),
	                 0);
	assert_string_equal(
	    auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	          "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	lb_sigv4_free(s);
}

static void test_uri_encode_and_date(void **state)
{
	const char *k = "dir/a b+c%~_.-é";
	char out[128], date[17];
	(void)state;
	assert_int_equal(lb_sigv4_uri_encode(k, strlen(k), true, out, sizeof(out)), 26);
	assert_string_equal(out, "dir/a%20b%2Bc%25~_.-%C3%A9");
	lb_sigv4_amz_date(1369353600, date); /* 2013-05-24T00:00:00Z */
	assert_string_equal(date, "20130524T000000Z");
}

static void test_small_buffer_refused(void **state)
{
	lb_sigv4_t *s = signer("AK", "SK", "s3");
	char auth[40];
	lb_sigv4_hdr_t h[] = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
	(void)state;
	assert_int_equal(lb_sigv4_authorization(s, "GET", "/", "", h, 2, "20130524T000000Z",
	                                        LB_SIGV4_EMPTY_SHA256, auth, sizeof(auth)),
	                 UV_ENOBUFS);
	lb_sigv4_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(s3_get_object),
	    cmocka_unit_test(s3_put_object),
	    cmocka_unit_test(s3_bucket_requests),
	    cmocka_unit_test(s3_presigned_get),
	    cmocka_unit_test(suite_vectors),
	    cmocka_unit_test(key_follows_the_date),
	    cmocka_unit_test(helpers),
	    cmocka_unit_test(too_small),
	    cmocka_unit_test(test_aws_get_object_example),
	    cmocka_unit_test(test_uri_encode_and_date),
	    cmocka_unit_test(test_small_buffer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

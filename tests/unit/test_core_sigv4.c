/* core/sigv4.c against the example in the AWS S3 documentation ("Signature Calculations for the
 * Authorization Header", GET Object with a Range header). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/sigv4.h"

static void test_aws_get_object_example(void **state)
{
	char auth[512];
	lb_sigv4_hdr_t h[] = {
	    {"range", "bytes=0-9"},
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", LB_SIGV4_EMPTY_SHA256},
	};
	(void)state;
	assert_int_equal(lb_sigv4_authorization(
	                     "GET", "/test.txt", "", h, 4, LB_SIGV4_EMPTY_SHA256,
	                     "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	                     "us-east-1", "s3", "20130524T000000Z", auth, sizeof(auth)),
	                 0);
	assert_string_equal(
	    auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	          "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_uri_encode_and_date(void **state)
{
	char out[128], date[17];
	(void)state;
	lb_sigv4_uri_encode("dir/a b+c%~_.-é", out, sizeof(out));
	assert_string_equal(out, "dir/a%20b%2Bc%25~_.-%C3%A9");
	lb_sigv4_amz_date(1369353600, date); /* 2013-05-24T00:00:00Z */
	assert_string_equal(date, "20130524T000000Z");
}

static void test_small_buffer_refused(void **state)
{
	char auth[40];
	lb_sigv4_hdr_t h[] = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
	(void)state;
	assert_int_equal(lb_sigv4_authorization("GET", "/", "", h, 2, LB_SIGV4_EMPTY_SHA256, "AK",
	                                        "SK", "us-east-1", "s3", "20130524T000000Z", auth,
	                                        sizeof(auth)),
	                 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aws_get_object_example),
	    cmocka_unit_test(test_uri_encode_and_date),
	    cmocka_unit_test(test_small_buffer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

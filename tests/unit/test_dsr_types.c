/* Unit tests for dsr/types.c: addresses and service/destination keys, format <-> parse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsr/types.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_ip_parse_format(void **state)
{
	static const struct {
		const char *in;
		int af;
		const char *out;
	} rows[] = {
	    {"192.0.2.10", AF_INET, "192.0.2.10"},
	    {"2001:db8::1", AF_INET6, "2001:db8::1"},
	    {"2001:0db8:0:0:0:0:0:1", AF_INET6, "2001:db8::1"},
	    {"::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		dsr_ip_t ip;
		char buf[64];
		assert_int_equal(dsr_ip_parse(rows[i].in, &ip), 0);
		assert_int_equal(ip.af, rows[i].af);
		dsr_ip_format(&ip, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].out);
	}
	static const char *const bad[] = {"",      "192.0.2",      "192.0.2.256", "10.0.0.1:80",
	                                  "[::1]", "host.example", "1.2.3.4 "};
	for (size_t i = 0; i < NELEM(bad); i++) {
		dsr_ip_t ip;
		assert_int_equal(dsr_ip_parse(bad[i], &ip), -EINVAL);
	}
}

static void test_svc_key_roundtrip(void **state)
{
	static const char *const keys[] = {
	    "TCP 192.0.2.10:80", "TCP [2001:db8::1]:443", "UDP 10.0.0.1:53",    "SCTP 10.0.0.1:9",
	    "FWM 7 IPv4",        "FWM 4294967295 IPv6",   "PROTO33 10.0.0.1:1",
	};
	for (size_t i = 0; i < NELEM(keys); i++) {
		dsr_svc_key_t k;
		char buf[96];
		assert_int_equal(dsr_svc_key_parse(keys[i], &k), 0);
		dsr_svc_key_format(&k, buf, sizeof(buf));
		assert_string_equal(buf, keys[i]);
	}
	dsr_svc_key_t k;
	assert_int_equal(dsr_svc_key_parse("FWM 7 IPv4", &k), 0);
	assert_int_equal(k.fwmark, 7);
	assert_int_equal(k.af, AF_INET);
	assert_int_equal(k.protocol, IPPROTO_TCP);
	assert_int_equal(dsr_svc_key_parse("TCP [2001:db8::1]:443", &k), 0);
	assert_int_equal(k.af, AF_INET6);
	assert_int_equal(k.port, 443);

	static const char *const bad[] = {
	    "TCP",        "TCP 192.0.2.10",    "TCP 192.0.2.10:",    "TCP 192.0.2.10:65536",
	    "TCP ::1:80", "TCP [10.0.0.1]:80", "XYZ 10.0.0.1:80",    "FWM 0 IPv4",
	    "FWM 7 IPv5", "FWM 7 IPv4 x",      "TCP 192.0.2.10:80x", "PROTO0 10.0.0.1:1",
	};
	for (size_t i = 0; i < NELEM(bad); i++)
		assert_int_equal(dsr_svc_key_parse(bad[i], &k), -EINVAL);
}

static void test_svc_key_order(void **state)
{
	/* sorted: plain services first (by family, protocol, address, port), then by mark */
	static const char *const sorted[] = {
	    "TCP 10.0.0.1:80", "TCP 10.0.0.1:443", "TCP 10.0.0.2:80", "UDP 10.0.0.1:53",
	    "TCP [::1]:80",    "FWM 1 IPv4",       "FWM 1 IPv6",      "FWM 2 IPv4",
	};
	for (size_t i = 0; i + 1 < NELEM(sorted); i++) {
		dsr_svc_key_t a, b;
		assert_int_equal(dsr_svc_key_parse(sorted[i], &a), 0);
		assert_int_equal(dsr_svc_key_parse(sorted[i + 1], &b), 0);
		assert_true(dsr_svc_key_cmp(&a, &b) < 0);
		assert_true(dsr_svc_key_cmp(&b, &a) > 0);
		assert_int_equal(dsr_svc_key_cmp(&a, &a), 0);
	}
}

static void test_dest_roundtrip(void **state)
{
	dsr_dest_t a = {0}, b = {0};
	char buf[64];
	assert_int_equal(dsr_dest_parse("10.0.0.11:80", &a), 0);
	dsr_dest_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.11:80");
	assert_int_equal(dsr_dest_parse("[2001:db8::11]:8080", &b), 0);
	dsr_dest_format(&b, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::11]:8080");
	assert_true(dsr_dest_cmp(&a, &b) < 0);
	/* weights and counters are not part of the identity */
	dsr_dest_t c = a;
	c.weight = 5;
	c.active = 9;
	assert_int_equal(dsr_dest_cmp(&a, &c), 0);
	c.port = 81;
	assert_true(dsr_dest_cmp(&a, &c) < 0);
	assert_int_equal(dsr_dest_parse("10.0.0.11", &c), -EINVAL);
	assert_int_equal(dsr_dest_parse("[10.0.0.11]:80", &c), -EINVAL);
}

static void test_sched_known(void **state)
{
	static const char *const ok[] = {"rr", "wrr", "lc", "wlc", "sh", "mh"};
	for (size_t i = 0; i < NELEM(ok); i++)
		assert_true(dsr_sched_known(ok[i]));
	assert_false(dsr_sched_known("maglev"));
	assert_false(dsr_sched_known(""));
}

static void test_table_free(void **state)
{
	dsr_table_t t = {.nsvcs = 2};
	t.svcs = calloc(2, sizeof(*t.svcs));
	t.svcs[0].dests = calloc(3, sizeof(dsr_dest_t));
	t.svcs[0].ndests = 3;
	dsr_table_free(&t);
	assert_null(t.svcs);
	assert_int_equal(t.nsvcs, 0);
	dsr_table_free(&t); /* twice is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip_parse_format), cmocka_unit_test(test_svc_key_roundtrip),
	    cmocka_unit_test(test_svc_key_order),   cmocka_unit_test(test_dest_roundtrip),
	    cmocka_unit_test(test_sched_known),     cmocka_unit_test(test_table_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for dsr/rules.c: ipvsadm's rule format, read and written. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsr/rules.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What `ipvsadm -Sn` (1.31) printed for this table in the VM (tests/vm). */
static const char ipvsadm_save[] = "-A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port\n"
                                   "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1\n"
                                   "-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 3\n"
                                   "-a -t 192.0.2.10:80 -r 10.0.0.13:80 -g -w 0\n"
                                   "-a -t 192.0.2.10:80 -r 10.0.0.14:80 -m -w 1\n"
                                   "-A -t 192.0.2.11:80 -s sh -p 60 -M 255.255.255.0 -b sh-port\n"
                                   "-A -u 192.0.2.10:53 -s rr\n"
                                   "-A -t [2001:db8::10]:443 -s wrr -p 300\n"
                                   "-A -f 7 -s rr\n"
                                   "-a -f 7 -r 10.0.0.11:0 -g -w 1\n"
                                   "-A -f 8 -6 -s rr -p 10 -M 64\n";

static char *written(const dsr_table_t *t)
{
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	dsr_rules_write(t, f);
	fclose(f);
	return text;
}

static void test_ipvsadm_save_roundtrip(void **state)
{
	dsr_table_t t;
	char err[256];
	assert_int_equal(dsr_rules_parse(ipvsadm_save, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nsvcs, 6);
	const dsr_tsvc_t *s = &t.svcs[0];
	assert_string_equal(s->svc.sched, "mh");
	assert_int_equal(s->svc.flags, DSR_SVC_F_SCHED1 | DSR_SVC_F_SCHED2);
	assert_int_equal(s->ndests, 4);
	assert_int_equal(s->dests[1].weight, 3);
	assert_int_equal(s->dests[3].fwd, DSR_FWD_NAT);
	s = &t.svcs[1];
	assert_int_equal(s->svc.flags, DSR_SVC_F_PERSISTENT | DSR_SVC_F_SCHED2);
	assert_int_equal(s->svc.timeout, 60);
	assert_int_equal(s->svc.netmask, 24);
	assert_int_equal(t.svcs[2].svc.key.protocol, IPPROTO_UDP);
	s = &t.svcs[5];
	assert_int_equal(s->svc.key.fwmark, 8);
	assert_int_equal(s->svc.key.af, AF_INET6);
	assert_int_equal(s->svc.netmask, 64);
	char *text = written(&t);
	assert_string_equal(text, ipvsadm_save);
	free(text);
	dsr_table_free(&t);
}

static void test_defaults_and_extras(void **state)
{
	dsr_table_t t;
	char err[256];
	const char *in = "# a comment\n"
	                 "\n"
	                 "  -A -t [2001:db8::10]:443 -p\n"
	                 "-a -t [2001:db8::10]:443 -r [2001:db8::12] -w 5 -x 100 -y 10\n"
	                 "-a -t [2001:db8::10]:443 -r 2001:db8::11\n"
	                 "-A -t 192.0.2.20:80 -s lc -o -b flag-3\n";
	assert_int_equal(dsr_rules_parse(in, &t, err, sizeof(err)), 0);
	char *text = written(&t);
	assert_string_equal(
	    text, "-A -t 192.0.2.20:80 -s lc -b flag-3 -o\n"
	          "-A -t [2001:db8::10]:443 -s wlc -p 300\n"
	          "-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -g -w 1\n"
	          "-a -t [2001:db8::10]:443 -r [2001:db8::12]:443 -g -w 5 -x 100 -y 10\n");
	free(text);
	dsr_table_free(&t);
}

static void test_errors(void **state)
{
	static const struct {
		const char *in, *msg;
	} rows[] = {
	    {"-A -t 192.0.2.10:80\n-Z -t 1.2.3.4:80\n", "line 2: expected -A or -a: -Z"},
	    {"\n\n-A -t 192.0.2.10:80 -q\n", "line 3: unknown option: -q"},
	    {"-A -s rr\n", "line 1: no service (-t, -u or -f)"},
	    {"-A -t 192.0.2.10\n", "line 1: bad service address: 192.0.2.10"},
	    {"-A -f 0\n", "line 1: bad firewall mark: 0"},
	    {"-a -t 192.0.2.10:80 -r 10.0.0.1\n", "line 1: destination of a service not defined"},
	    {"-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80\n", "line 2: destination needs -r"},
	    {"-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 10.0.0.1 -w 70000\n",
	     "line 2: bad number: 70000"},
	    {"-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r host1\n",
	     "line 2: bad destination address: host1"},
	    {"-A -t 192.0.2.10:80\n-A -t 192.0.2.10:80 -s rr\n", "line 2: service defined twice"},
	    {"-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 10.0.0.1\n-a -t 192.0.2.10:80 -r "
	     "10.0.0.1:80\n",
	     "line 3: destination defined twice"},
	    {"-A -t 192.0.2.10:80 -p 60 -M 255.0.255.0\n", "line 1: bad persistence netmask"},
	    {"-A -t 192.0.2.10:80 -b mh-everything\n", "line 1: bad scheduler flags"},
	    {"-A -t 192.0.2.10:80 -s\n", "line 1: option needs a value: -s"},
	    {"-A -t 192.0.2.10:80 -s averyveryverylongname\n", "line 1: scheduler name too long"},
	    {"-A -t 192.0.2.10:80 -p 0\n", "line 1: bad persistence timeout: 0"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		dsr_table_t t = {0};
		char err[256] = "";
		assert_int_equal(dsr_rules_parse(rows[i].in, &t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, rows[i].msg))
			fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err, rows[i].msg);
		assert_null(t.svcs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipvsadm_save_roundtrip),
	    cmocka_unit_test(test_defaults_and_extras),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

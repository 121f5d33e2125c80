/* Unit tests for dsr/ipvsctl.c (s3lb-ipvs): the command line; the kernel part runs in tests/vm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsr/ipvsctl.h"

/* Runs s3lb-ipvs with up to 6 arguments; returns the exit status and both outputs. */
static int run(char **o, char **e, int argc, ...)
{
	char *argv[8] = {"s3lb-ipvs"};
	va_list ap;
	va_start(ap, argc);
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	size_t l1, l2;
	FILE *out = open_memstream(o, &l1), *err = open_memstream(e, &l2);
	int rc = dsr_ipvs_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return rc;
}

static void test_usage(void **state)
{
	char *o, *e;
	assert_int_equal(run(&o, &e, 1), 2);
	assert_non_null(strstr(e, "usage: s3lb-ipvs info | list | save"));
	free(o), free(e);
	assert_int_equal(run(&o, &e, 2, "--help"), 0);
	assert_non_null(strstr(o, "--state"));
	free(o), free(e);
	assert_int_equal(run(&o, &e, 2, "flush"), 2);
	assert_non_null(strstr(e, "unknown command flush"));
	free(o), free(e);
	assert_int_equal(run(&o, &e, 3, "list", "extra"), 2);
	assert_non_null(strstr(e, "too many arguments"));
	free(o), free(e);
	assert_int_equal(run(&o, &e, 4, "reconcile", "a", "b"), 2);
	free(o), free(e);
	assert_int_equal(run(&o, &e, 3, "reconcile", "--bogus"), 2);
	free(o), free(e);
}

/* Without IPVS in this kernel the tool says what is missing; with it, it answers. */
static void test_info(void **state)
{
	char *o, *e;
	int rc = run(&o, &e, 2, "info");
	if (rc == 0)
		assert_non_null(strstr(o, "IPVS 1."));
	else
		assert_non_null(strstr(e, "modprobe ip_vs"));
	free(o), free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

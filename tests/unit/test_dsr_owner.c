/* Unit tests for dsr/owner.c: the set of IPVS entries s3lb created, and its state file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dsr/owner.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/s3lb-owner-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static dsr_svc_key_t key(const char *s)
{
	dsr_svc_key_t k;
	assert_int_equal(dsr_svc_key_parse(s, &k), 0);
	return k;
}

static dsr_dest_t dest(const char *s)
{
	dsr_dest_t d = {0};
	assert_int_equal(dsr_dest_parse(s, &d), 0);
	return d;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_set_and_query(void **state)
{
	dsr_owned_t *o = dsr_owned_new(NULL);
	dsr_svc_key_t a = key("TCP 192.0.2.10:80"), b = key("TCP 192.0.2.10:8080");
	dsr_dest_t d1 = dest("10.0.0.11:80"), d2 = dest("10.0.0.12:80");
	assert_false(dsr_owned_svc(o, &a));
	dsr_owned_set_svc(o, &a, true);
	dsr_owned_set_svc(o, &a, true); /* a set: twice is once */
	dsr_owned_set_dest(o, &a, &d1, true);
	dsr_owned_set_dest(o, &a, &d2, true);
	dsr_owned_set_dest(o, &b, &d1, true);
	assert_int_equal(dsr_owned_count(o), 4);
	assert_true(dsr_owned_svc(o, &a));
	assert_false(dsr_owned_svc(o, &b));
	assert_true(dsr_owned_dest(o, &b, &d1));
	assert_false(dsr_owned_dest(o, &b, &d2));
	dsr_owned_set_dest(o, &a, &d2, false);
	assert_false(dsr_owned_dest(o, &a, &d2));
	/* dropping a service takes its destinations, not those of a key that shares a prefix */
	dsr_owned_drop_svc(o, &a);
	assert_false(dsr_owned_svc(o, &a));
	assert_false(dsr_owned_dest(o, &a, &d1));
	assert_true(dsr_owned_dest(o, &b, &d1));
	assert_int_equal(dsr_owned_count(o), 1);
	dsr_owned_free(o);
}

static void test_many_entries(void **state)
{
	dsr_owned_t *o = dsr_owned_new(NULL);
	dsr_svc_key_t k = key("TCP [2001:db8::10]:443");
	char a[64];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++) {
			snprintf(a, sizeof(a), "[2001:db8::%x]:443", i + 1);
			dsr_dest_t d = dest(a);
			dsr_owned_set_dest(o, &k, &d, true);
		}
		assert_int_equal(dsr_owned_count(o), 5000);
		for (int i = 0; i < 5000; i += 2) { /* tombstones, then reuse */
			snprintf(a, sizeof(a), "[2001:db8::%x]:443", i + 1);
			dsr_dest_t d = dest(a);
			dsr_owned_set_dest(o, &k, &d, false);
		}
		assert_int_equal(dsr_owned_count(o), 2500);
	}
	dsr_dest_t d = dest("[2001:db8::2]:443");
	assert_true(dsr_owned_dest(o, &k, &d));
	d = dest("[2001:db8::1]:443");
	assert_false(dsr_owned_dest(o, &k, &d));
	dsr_owned_free(o);
}

static void test_save_load_roundtrip(void **state)
{
	char path[128], err[256];
	path_of(path, sizeof(path), "run/s3lb/ipvs-owned"); /* directories are created */
	dsr_owned_t *o = dsr_owned_new(path);
	dsr_svc_key_t a = key("TCP 192.0.2.10:80"), f = key("FWM 7 IPv6");
	dsr_dest_t d = dest("10.0.0.11:80"), d6 = dest("[2001:db8::11]:0");
	dsr_owned_set_svc(o, &a, true);
	dsr_owned_set_dest(o, &a, &d, true);
	dsr_owned_set_svc(o, &f, true);
	dsr_owned_set_dest(o, &f, &d6, true);
	assert_int_equal(dsr_owned_save(o, err, sizeof(err)), 0);
	assert_string_equal(read_file(path),
	                    "# IPVS services and destinations created by s3lb (dsr/owner.h); s3lb "
	                    "deletes\n"
	                    "# only these, and only when its config no longer names them.\n"
	                    "dest FWM 7 IPv6 [2001:db8::11]:0\n"
	                    "dest TCP 192.0.2.10:80 10.0.0.11:80\n"
	                    "service FWM 7 IPv6\n"
	                    "service TCP 192.0.2.10:80\n");
	dsr_owned_free(o);

	assert_int_equal(dsr_owned_load(path, &o, err, sizeof(err)), 0);
	assert_int_equal(dsr_owned_count(o), 4);
	assert_true(dsr_owned_svc(o, &f));
	assert_true(dsr_owned_dest(o, &f, &d6));
	/* unchanged since load: save does not write (the file may even be gone) */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(dsr_owned_save(o, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), -1);
	dsr_owned_set_svc(o, &a, false);
	assert_int_equal(dsr_owned_save(o, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), 0);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	dsr_owned_free(o);
}

static void test_load_missing_is_empty(void **state)
{
	char path[128], err[256];
	dsr_owned_t *o;
	path_of(path, sizeof(path), "nothing-here");
	assert_int_equal(dsr_owned_load(path, &o, err, sizeof(err)), 0);
	assert_int_equal(dsr_owned_count(o), 0);
	dsr_owned_free(o);
}

static void test_load_rejects_foreign_lines(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} rows[] = {
	    {"service TCP 192.0.2.10:80\nservice TCP 192.0.2.10\n", ":2: not an s3lb ownership"},
	    {"# c\n\nsvc TCP 192.0.2.10:80\n", ":3: not an s3lb ownership"},
	    {"dest TCP 192.0.2.10:80\n", ":1: not an s3lb ownership"},
	    {"dest TCP 192.0.2.10:80 10.0.0.1\n", ":1: not an s3lb ownership"},
	    /* not canonical: written by hand, not by us */
	    {"service TCP  192.0.2.10:80\n", ":1: not an s3lb ownership"},
	    {"service TCP [2001:db8:0::1]:80\n", ":1: not an s3lb ownership"},
	};
	char path[128], err[256];
	path_of(path, sizeof(path), "bad");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dsr_owned_t *o = NULL;
		write_file(path, rows[i].text);
		assert_int_equal(dsr_owned_load(path, &o, err, sizeof(err)), -EINVAL);
		assert_null(o);
		assert_non_null(strstr(err, rows[i].msg));
		assert_non_null(strstr(err, path));
	}
}

static void test_save_failure_reports(void **state)
{
	char path[128], blocker[128], err[256];
	path_of(blocker, sizeof(blocker), "file");
	write_file(blocker, "x");
	path_of(path, sizeof(path), "file/ipvs-owned"); /* parent is a regular file */
	dsr_owned_t *o = dsr_owned_new(path);
	dsr_svc_key_t a = key("TCP 192.0.2.10:80");
	dsr_owned_set_svc(o, &a, true);
	assert_int_equal(dsr_owned_save(o, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "cannot save"));
	dsr_owned_free(o);
}

static void test_prune(void **state)
{
	dsr_owned_t *o = dsr_owned_new(NULL);
	dsr_svc_key_t a = key("TCP 192.0.2.10:80"), b = key("TCP 192.0.2.11:80");
	dsr_dest_t d1 = dest("10.0.0.11:80"), d2 = dest("10.0.0.12:80");
	dsr_owned_set_svc(o, &a, true);
	dsr_owned_set_dest(o, &a, &d1, true);
	dsr_owned_set_dest(o, &a, &d2, true);
	dsr_owned_set_svc(o, &b, true);
	dsr_owned_set_dest(o, &b, &d1, true);

	/* the kernel has a with d1 only; b is gone (deleted by hand) */
	dsr_tsvc_t t = {.dests = &d1, .ndests = 1};
	t.svc.key = a;
	dsr_table_t have = {.svcs = &t, .nsvcs = 1};
	dsr_owned_prune(o, &have);
	assert_true(dsr_owned_svc(o, &a));
	assert_true(dsr_owned_dest(o, &a, &d1));
	assert_false(dsr_owned_dest(o, &a, &d2));
	assert_false(dsr_owned_svc(o, &b));
	assert_false(dsr_owned_dest(o, &b, &d1));
	assert_int_equal(dsr_owned_count(o), 2);
	dsr_owned_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_query),
	    cmocka_unit_test(test_many_entries),
	    cmocka_unit_test(test_save_load_roundtrip),
	    cmocka_unit_test(test_load_missing_is_empty),
	    cmocka_unit_test(test_load_rejects_foreign_lines),
	    cmocka_unit_test(test_save_failure_reports),
	    cmocka_unit_test(test_prune),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

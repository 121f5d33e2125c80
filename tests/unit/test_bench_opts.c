/* bench/opts.c: the mix, targets and the command line, with the errors an operator would see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/opts.h"

static void mix(void **state)
{
	unsigned m[BENCH_OP_PUBLIC];
	const char *why;
	char buf[128];
	(void)state;
	assert_int_equal(bench_mix_parse("get=45,head=30,put=15,delete=10", m, &why), 0);
	assert_int_equal(m[BENCH_OP_GET], 45);
	assert_int_equal(m[BENCH_OP_HEAD], 30);
	assert_int_equal(m[BENCH_OP_PUT], 15);
	assert_int_equal(m[BENCH_OP_DELETE], 10);
	assert_int_equal(m[BENCH_OP_LIST], 0);
	bench_mix_format(m, buf, sizeof(buf));
	assert_string_equal(buf, "get=45,put=15,head=30,delete=10");
	assert_true(bench_mix_needs_objects(m));
	assert_true(bench_mix_writes(m));
	assert_int_equal(bench_mix_parse("stat=1,list=2,multipart=3", m, &why),
	                 0); /* warp's name */
	assert_int_equal(m[BENCH_OP_HEAD], 1);
	assert_int_equal(m[BENCH_OP_MULTIPART], 3);
	assert_int_equal(bench_mix_parse("get=1,head=2", m, &why), 0);
	assert_false(bench_mix_writes(m));
	const char *bad[] = {"",      "get",   "get=",         "get=x",
	                     "fly=1", "get=0", "get=1,,put=1", "get=-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (bench_mix_parse(bad[i], m, &why) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(why);
	}
}

static void targets(void **state)
{
	bench_target_t t;
	const char *why;
	(void)state;
	assert_int_equal(bench_target_parse("http://127.0.0.1:8080", 1, &t, &why), 0);
	assert_string_equal(t.name, "B");
	assert_string_equal(t.host, "127.0.0.1");
	assert_string_equal(t.authority, "127.0.0.1:8080");
	assert_int_equal(t.port, 8080);
	assert_false(t.tls);
	assert_int_equal(bench_target_parse("s3lb=https://127.0.0.1:443/", 0, &t, &why), 0);
	assert_string_equal(t.name, "s3lb");
	assert_true(t.tls);
	assert_string_equal(t.authority, "127.0.0.1"); /* default port: not in Host */
	assert_int_equal(bench_target_parse("direct=http://[::1]:9000", 0, &t, &why), 0);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.authority, "[::1]:9000");
	assert_int_equal(t.port, 9000);
	/* no name: unit tests never resolve (a fresh root has no /etc/hosts) */
	assert_int_equal(bench_target_parse("http://127.0.0.2", 0, &t, &why), 0);
	assert_int_equal(t.port, 80);
	assert_string_equal(t.authority, "127.0.0.2");
	const char *bad[] = {"127.0.0.1:80",          "ftp://x",           "http://127.0.0.1:0",
	                     "http://127.0.0.1/b",    "=http://127.0.0.1", "http://[::1",
	                     "http://127.0.0.1:99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bench_target_parse(bad[i], 0, &t, &why) == 0)
			fail_msg("accepted %s", bad[i]);
}

static int parse(bench_opts_t *o, char *err, const char *line)
{
	char *copy = strdup(line), *argv[64], *tok, *save = NULL;
	int argc = 0, rc;
	for (tok = strtok_r(copy, " ", &save); tok && argc < 63; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	rc = bench_opts_parse(argc, argv, o, err, 256);
	free(copy);
	return rc;
}

static void command_line(void **state)
{
	bench_opts_t *o = malloc(sizeof(*o));
	char err[256];
	(void)state;
	assert_non_null(o);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(parse(o, err, "b -e http://127.0.0.1:1 --access-key a --secret-key s"), 0);
	assert_string_equal(o->workload, "mixed");
	assert_int_equal(o->mix[BENCH_OP_GET], 45);
	assert_int_equal(o->size.lo, 4096);
	assert_int_equal(o->concurrency, 16);
	assert_int_equal(o->ntargets, 1);
	assert_null(strstr(o->cmdline, " s")); /* the secret is not kept for reports */
	assert_non_null(strstr(o->cmdline, "--secret-key ***"));

	assert_int_equal(
	    parse(o, err,
	          "b -t A=http://127.0.0.1:1 -t B=http://127.0.0.1:2 --rounds 3 -w get "
	          "-s 1KiB..64MiB -c 64 -T 2 -r 5000 -d 5s --warmup 0s --watch-pid "
	          "s3lb=123 --range 1KiB --access-key a --secret-key s --json /tmp/x "
	          "--watch-net director=77:eth0 --watch-system"),
	    0);
	assert_int_equal(o->ntargets, 2);
	assert_int_equal(o->rounds, 3);
	assert_int_equal(o->mix[BENCH_OP_GET], 1);
	assert_int_equal(o->mix_total, 1);
	assert_int_equal(o->size.hi, 64ull << 20);
	assert_true(o->rate == 5000);
	assert_int_equal(o->duration_ms, 5000);
	assert_int_equal(o->warmup_ms, 0);
	assert_int_equal(o->nwatch, 1);
	assert_int_equal(o->watch[0].pid, 123);
	assert_string_equal(o->watch[0].name, "s3lb");
	assert_int_equal(o->nnetwatch, 1);
	assert_string_equal(o->netwatch[0].name, "director");
	assert_int_equal(o->netwatch[0].pid, 77);
	assert_string_equal(o->netwatch[0].dev, "eth0");
	assert_true(o->watch_system);
	assert_int_equal(o->range_size, 1024);
	assert_false(o->shared_keys);

	/* --write-files needs neither a target nor credentials. */
	assert_int_equal(parse(o, err, "b --write-files /tmp/x -w get -n 3 -s 1MiB"), 0);
	assert_string_equal(o->write_files, "/tmp/x");
	assert_int_equal(o->objects, 3);
	assert_int_equal(
	    parse(o, err,
	          "b -t A=http://127.0.0.1:1 -t B=http://127.0.0.1:2 -w get --no-prepare "
	          "--shared-keys --keep --access-key a --secret-key s"),
	    0);
	assert_true(o->shared_keys);
	assert_true(o->no_prepare);
	assert_false(o->no_drain);
	assert_int_equal(parse(o, err,
	                       "b -e http://127.0.0.1:1 -w get --no-drain --access-key a "
	                       "--secret-key s"),
	                 0);
	assert_true(o->no_drain);

	static const struct {
		const char *line, *msg;
	} bad[] = {
	    {"b --access-key a --secret-key s", "no target"},
	    {"b -e http://127.0.0.1:1", "no credentials"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -d 5",
	     "--duration 5: missing unit"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -w fly", "unknown workload"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -w get --mix get=1",
	     "--mix goes with --workload mixed"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -c 2 -T 4", "more than"},
	    {"b -t A=http://127.0.0.1:1 -t A=http://127.0.0.1:2 --access-key a --secret-key s",
	     "used twice"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --bogus", "unknown option"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -c", "needs a value"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --watch-pid 12", "NAME=PID"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --watch-net d=12",
	     "NAME=PID:DEV"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --watch-net d=12:",
	     "NAME=PID:DEV"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --watch-net =12:eth0",
	     "NAME=PID:DEV"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --watch-net d=x:eth0",
	     "--watch-net"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --no-drain", "only read"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -s 0..1", "lower bound"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s --shared-keys", "only read"},
	    {"b -e http://127.0.0.1:1 --access-key a --secret-key s -w put --shared-keys",
	     "only read"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(o, err, bad[i].line) >= 0)
			fail_msg("accepted: %s", bad[i].line);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].line, err, bad[i].msg);
	}
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(mix),
	    cmocka_unit_test(targets),
	    cmocka_unit_test(command_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

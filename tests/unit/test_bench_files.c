/* bench/files.c: --write-files writes exactly the bodies the verifier expects, and a rerun
 * leaves right files alone but repairs wrong ones. */
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

#include "bench/body.h"
#include "bench/files.h"
#include "bench/objects.h"

static void check_all(const bench_opts_t *o, const char *dir)
{
	bench_objects_t t;
	char key[256], path[1024];
	bench_objects_init(&t, o->objects, o->prefix, &o->size, o->seed, false, true);
	for (uint32_t slot = 0; slot < t.n; slot++) {
		int klen = bench_objects_key(&t, slot, key, sizeof(key));
		uint64_t size = bench_objects_size(&t, slot, 0);
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, o->bucket, key);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal((uint64_t)st.st_size, size);
		char *buf = malloc(size ? size : 1);
		FILE *f = fopen(path, "rb");
		assert_non_null(buf);
		assert_non_null(f);
		assert_int_equal(fread(buf, 1, size, f), size);
		fclose(f);
		assert_int_equal(
		    bench_body_check(bench_body_seed(key, (size_t)klen, size), 0, buf, size), -1);
		free(buf);
	}
	bench_objects_free(&t);
}

static void write_files(void **state)
{
	char dir[] = "/tmp/s3lb-test-files-XXXXXX", err[256], path[1024], cmd[1200];
	bench_opts_t *o = calloc(1, sizeof(*o));
	(void)state;
	assert_non_null(o);
	assert_non_null(mkdtemp(dir));
	strcpy(o->bucket, "bkt");
	strcpy(o->prefix, "a/b/");
	o->objects = 5;
	o->size.lo = 1;
	o->size.hi = 3 << 20; /* log-uniform: several sizes, some above the 1 MiB chunk */
	o->seed = 7;
	o->quiet = true;
	assert_int_equal(bench_write_files(o, dir, err, sizeof(err)), 0);
	check_all(o, dir);

	/* A damaged file is rewritten on the next run. */
	snprintf(path, sizeof(path), "%s/bkt/a/b/o00000002", dir);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fputc('!', f);
	fclose(f);
	assert_int_equal(bench_write_files(o, dir, err, sizeof(err)), 0);
	check_all(o, dir);

	/* A directory that cannot be made is an error with its name. */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(bench_write_files(o, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "file"));

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(write_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

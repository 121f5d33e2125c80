/* handoff/keys: a pool's key file loaded and its errors reported at the config's key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff/keys.h"

static char dir[] = "/tmp/s3lb-keys-XXXXXX";
static char good[128], open_mode[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(good, sizeof(good), "%s/good.key", dir);
	snprintf(open_mode, sizeof(open_mode), "%s/open.key", dir);
	write_file(good, "0123456789abcdef0123456789abcdef-extra\n", 0600);
	write_file(open_mode, "0123456789abcdef0123456789abcdef\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(good);
	unlink(open_mode);
	rmdir(dir);
	return 0;
}

static lb_config_t *load(const char *key_file_a, const char *key_file_b)
{
	char yaml[2048], err[512] = "";
	lb_config_t *cfg = NULL;

	snprintf(yaml, sizeof(yaml),
	         "pools:\n"
	         "  - name: a\n"
	         "    handoff: { key_file: %s }\n"
	         "    nodes: [{ name: n1, addr: 127.0.0.11:8000 }]\n"
	         "  - name: b\n"
	         "    handoff:\n"
	         "      agent_port: 7000\n"
	         "      key_file: %s\n"
	         "    nodes: [{ name: n2, addr: 127.0.0.12:8000 }]\n"
	         "  - name: c\n"
	         "    nodes: [{ name: n3, addr: 127.0.0.13:8000 }]\n"
	         "frontends:\n"
	         "  - name: s3\n"
	         "    listen: [127.0.0.1:8080]\n"
	         "    routes: [{ pool: a, handoff: {} }, { pool: c }]\n",
	         key_file_a, key_file_b);
	assert_int_equal(
	    lb_config_load_string("s3lb.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)), 0);
	return cfg;
}

static void test_load(void **state)
{
	lb_config_t *cfg = load(good, good);
	char err[512] = "";
	ho_key_t key;

	(void)state;
	assert_int_equal(ho_pool_key_load(cfg, 0, &key, err, sizeof(err)), 0);
	assert_int_equal(key.len, 38); /* less the trailing newline */
	assert_memory_equal(key.bytes, "0123456789abcdef0123456789abcdef-extra", 38);
	assert_int_equal(ho_keys_check(cfg, err, sizeof(err)), 0);
	/* a pool without a key */
	assert_int_equal(ho_pool_key_load(cfg, 2, &key, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "s3lb.yaml:10: pools[2].handoff: no key_file");
	lb_config_unref(cfg);
}

static void test_errors(void **state)
{
	lb_config_t *cfg = load(good, open_mode);
	char err[512] = "", want[512];
	ho_key_t key;

	(void)state;
	assert_int_equal(ho_pool_key_load(cfg, 1, &key, err, sizeof(err)), HO_EKEYPERM);
	snprintf(want, sizeof(want),
	         "s3lb.yaml:8: pools[1].handoff.key_file: key file %s: mode 0644 gives group or "
	         "others access; chmod 600 it",
	         open_mode);
	assert_string_equal(err, want);
	/* the check finds the same, at the line of the key */
	err[0] = '\0';
	assert_int_equal(ho_keys_check(cfg, err, sizeof(err)), HO_EKEYPERM);
	assert_string_equal(err, want);
	lb_config_unref(cfg);

	cfg = load("/nonexistent/s3lb.key", good);
	assert_int_equal(ho_keys_check(cfg, err, sizeof(err)), HO_EKEYFILE);
	assert_string_equal(err, "s3lb.yaml:3: pools[0].handoff.key_file: key file "
	                         "/nonexistent/s3lb.key: No such file or directory");
	lb_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

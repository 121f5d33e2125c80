/*
 * Unit tests for gateway/access_log.c: the line's fields, in their fixed order, for a request
 * with a pool and node and for one that never got a method; JSON escaping of what the client
 * sent (quotes, control bytes), a key far longer than a log buffer, and the metrics each line is
 * counted in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "gateway/access_log.h"

static char path[] = "/tmp/s3lb-access-XXXXXX";

static int setup(void **state)
{
	lb_log_conf_t conf = {.level = LB_LOG_ERROR, .access = path, .error = "stderr"};
	char err[256];
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	close(fd);
	if (lb_log_open(&conf, err, sizeof(err)) < 0)
		fail_msg("lb_log_open: %s", err);
	return 0;
}

static int teardown(void **state)
{
	lb_log_conf_t conf = {.level = LB_LOG_ERROR, .access = "off", .error = "stderr"};
	char err[256];
	(void)state;

	assert_int_equal(lb_log_open(&conf, err, sizeof(err)), 0);
	unlink(path);
	return 0;
}

/* The access log's contents so far (the stream is flushed first); malloc'd. */
static char *contents(void)
{
	FILE *f;
	char *buf = malloc(1 << 20);
	size_t n;

	assert_non_null(buf);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_lines(void **state)
{
	gw_server_t srv;
	gw_pool_t pool;
	lb_pool_conf_t pconf;
	gw_conn_t c;
	gw_req_t r;
	char *key = malloc(20001), *text, *line2;
	int rc;
	(void)state;

	memset(&srv, 0, sizeof(srv));
	memset(&pool, 0, sizeof(pool));
	memset(&pconf, 0, sizeof(pconf));
	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	assert_int_equal(gw_metrics_new(&srv.metrics), 0);
	pconf.name = "ceph-a";
	pool.conf = &pconf;

	/* a GET of bucket/key with quotes and a control byte, through pool ceph-a, node rgw1 */
	c.srv = &srv;
	c.r = &r;
	r.t_start = uv_hrtime() - 12408000; /* 12.408 ms ago */
	r.method = "GET";
	r.s3.bucket = "photos";
	r.s3.bucket_len = 6;
	r.s3.key = "a\"b\\c\x01.jpg-not-this";
	r.s3.key_len = 10;
	r.s3.op = LB_OP_READ;
	r.status = 200;
	r.bytes_in = 312;
	r.bytes_out = 1048893;
	r.pool = &pool;
	r.node_name = "rgw1";
	r.attempts = 1;
	snprintf(r.client_ip, sizeof(r.client_ip), "192.0.2.7");
	snprintf(r.reqid, sizeof(r.reqid), "3F9A0C61B2D4E857");
	gw_access_log(&c);

	/* no method, no pool, and a 20,000-byte key: the whole key is in the line */
	assert_non_null(key);
	memset(key, 'k', 20000);
	key[20000] = 0;
	r.method = NULL;
	r.s3.bucket = NULL;
	r.s3.key = key;
	r.s3.key_len = 20000;
	r.s3.op = 0;
	r.status = 499;
	r.pool = NULL;
	r.node_name = NULL;
	r.attempts = 0;
	gw_access_log(&c);

	text = contents();
	assert_true(!strncmp(text, "{\"time\":\"", 9));
	assert_non_null(
	    strstr(text, "Z\",\"client\":\"192.0.2.7\",\"method\":\"GET\",\"bucket\":\"photos\","
	                 "\"key\":\"a\\\"b\\\\c\\u0001.jpg\",\"op\":\"read\",\"status\":200,"
	                 "\"bytes_in\":312,\"bytes_out\":1048893,\"duration_ms\":"));
	assert_non_null(strstr(text, ",\"pool\":\"ceph-a\",\"node\":\"rgw1\",\"attempts\":1,"
	                             "\"request_id\":\"3F9A0C61B2D4E857\"}\n"));
	line2 = strchr(text, '\n') + 1;
	assert_non_null(strstr(line2, "\"method\":\"-\",\"bucket\":\"\",\"key\":\"kkkk"));
	assert_non_null(strstr(line2, "kkkk\",\"op\":\"-\",\"status\":499,"));
	assert_non_null(strstr(line2, ",\"pool\":\"-\",\"node\":\"-\",\"attempts\":0,"));
	assert_int_equal(strlen(line2), strchr(line2, '\n') - line2 + 1);
	assert_true(strlen(line2) > 20000);
	/* each line parses as JSON; durations are milliseconds with 3 decimals at most */
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		char cmd[512];
		snprintf(
		    cmd, sizeof(cmd),
		    "python3 -c 'import json,sys\n"
		    "l=[json.loads(x) for x in open(sys.argv[1])]\n"
		    "assert len(l) == 2 and len(l[1][\"key\"]) == 20000\n"
		    "assert 12.408 <= l[0][\"duration_ms\"] < 1000, l[0]\n"
		    "assert round(l[0][\"duration_ms\"], 3) == l[0][\"duration_ms\"]\n"
		    "assert list(l[0]) == [\"time\", \"client\", \"method\", \"bucket\", \"key\", "
		    "\"op\", \"status\", \"bytes_in\", \"bytes_out\", \"duration_ms\", \"pool\", "
		    "\"node\", \"attempts\", \"request_id\"]' %s",
		    path);
		rc = system(cmd);
		assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	}
	/* counted: pool ceph-a read 200, pool - other 499 */
	assert_int_equal(srv.metrics->pools->next != NULL, 1);
	{
		uint64_t n = 0;
		for (size_t h = 0; h < 256; h++)
			for (const gw_req_series_t *s = srv.metrics->req[h]; s; s = s->next)
				n += s->count;
		assert_int_equal(n, 2);
	}
	free(text);
	free(key);
	gw_metrics_free(srv.metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

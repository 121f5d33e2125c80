/*
 * Unit tests for gateway/admin.c: the /status JSON and /metrics text rendered from a hand-made
 * server (config from YAML, runtime built like server.c's runtime_new, counters fed through the
 * metrics API), and the admin listener on a real loop answering a client thread that uses
 * gw_admin_fetch and raw sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "gateway/admin.h"

static const char yaml[] = "pools:\n"
                           "  - name: ceph-a\n"
                           "    balance: least-requests\n"
                           "    nodes:\n"
                           "      - { name: rgw1, addr: 10.0.0.11:8000 }\n"
                           "      - { name: rgw2, addr: '[fd00::12]:8000', weight: 2 }\n"
                           "  - name: minio\n"
                           "    nodes:\n"
                           "      - { name: m1, addr: 10.0.1.1:9000 }\n"
                           "frontends:\n"
                           "  - name: s3\n"
                           "    listen: [127.0.0.1:19080, '[::1]:19080']\n"
                           "    domains: [s3.example.com]\n"
                           "    routes:\n"
                           "      - { pool: ceph-a }\n"
                           "  - name: plain\n"
                           "    listen: [127.0.0.1:19081]\n"
                           "    routes:\n"
                           "      - { pool: minio }\n";

#define TOKEN "s3cr3t-t0ken-0123456789"

typedef struct {
	gw_server_t srv;
	gw_runtime_t rt;
	char token_path[64];
} fixture_t;

/* A token file holding TOKEN (mode 0600) at path, which the caller unlinks. */
static void write_token(char *path)
{
	int fd;
	strcpy(path, "/tmp/s3lb-admin-token-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, TOKEN "\n", sizeof(TOKEN)), (ssize_t)sizeof(TOKEN));
	close(fd);
}

/* The runtime as server.c builds it, without balancers or TLS (the renderers use neither). */
static fixture_t *fixture_new(uv_loop_t *loop)
{
	fixture_t *f = calloc(1, sizeof(*f));
	lb_config_t *cfg = NULL;
	char err[256];
	gw_runtime_t *rt = &f->rt;

	char text[2048];

	assert_non_null(f);
	write_token(f->token_path);
	snprintf(text, sizeof(text), "%sadmin: { token_file: %s }\n", yaml, f->token_path);
	if (lb_config_load_string("test.yaml", text, strlen(text), &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	f->srv.loop = loop;
	f->srv.started_ms = loop ? uv_now(loop) : 0;
	f->srv.config_path = strdup("/etc/s3lb/\"odd\"\\name.yaml");
	assert_int_equal(gw_metrics_new(&f->srv.metrics), 0);
	f->srv.rt = rt;
	rt->cfg = cfg;
	rt->srv = &f->srv;
	rt->refs = 1;
	rt->npools = cfg->npools;
	rt->pools = calloc(cfg->npools, sizeof(*rt->pools));
	rt->nfes = cfg->nfrontends;
	rt->fes = calloc(cfg->nfrontends, sizeof(*rt->fes));
	for (size_t i = 0; i < cfg->npools; i++) {
		gw_pool_t *p = &rt->pools[i];
		p->conf = &cfg->pools[i];
		p->rt = rt;
		p->n = p->conf->nnodes;
		p->nodes = calloc(p->n, sizeof(*p->nodes));
		p->lbn = calloc(p->n, sizeof(*p->lbn));
		for (size_t j = 0; j < p->n; j++) {
			gw_node_t *n = &p->nodes[j];
			n->conf = &p->conf->nodes[j];
			n->pool = p;
			n->index = j;
			n->stats = gw_metrics_node(f->srv.metrics, p->conf->name, n->conf->name);
			p->lbn[j].name = n->conf->name;
			p->lbn[j].weight = n->conf->weight;
		}
	}
	for (size_t i = 0; i < cfg->nfrontends; i++)
		rt->fes[i].conf = &cfg->frontends[i];
	return f;
}

static void fixture_free(fixture_t *f)
{
	for (size_t i = 0; i < f->rt.npools; i++) {
		free(f->rt.pools[i].nodes);
		free(f->rt.pools[i].lbn);
	}
	free(f->rt.pools);
	free(f->rt.fes);
	lb_config_unref(f->rt.cfg);
	gw_metrics_free(f->srv.metrics);
	free(f->srv.config_path);
	unlink(f->token_path);
	free(f);
}

/* Known counters and gauges. */
static void feed(fixture_t *f)
{
	gw_metrics_t *m = f->srv.metrics;
	gw_pool_t *a = &f->rt.pools[0];
	gw_node_stats_t *s;

	gw_metrics_request(m, "ceph-a", LB_OP_READ, 200, 100, 1000, 500);      /* le 0.001 */
	gw_metrics_request(m, "ceph-a", LB_OP_READ, 200, 10, 20, 3000);        /* le 0.005 */
	gw_metrics_request(m, "ceph-a", LB_OP_WRITE, 503, 5000, 300, 2000000); /* le 2.5 */
	gw_metrics_request(m, "ceph-a", LB_OP_MPU_PART, 200, 1, 2, 120000000); /* +Inf */
	gw_metrics_request(m, "we\"ird\\pool\n", LB_OP_LIST, 404, 7, 8, 1000); /* le 0.001 */
	m->conns_accepted = 42;
	m->reloads = 3;
	m->reload_errors = 1;
	f->srv.nconns = 5;

	s = gw_metrics_node(m, "ceph-a", "rgw1");
	s->requests = 7;
	s->connects = 2;
	s->reused = 5;
	s = gw_metrics_node(m, "ceph-a", "rgw2");
	s->connect_errors = 4;
	s->responses_5xx = 1;
	s->errors = 2;
	s->retries = 3;

	a->inflight = 2;
	a->retries_inflight = 1;
	a->lbn[0].outstanding = 2;
	a->nodes[0].nconns = 3;
	a->nodes[0].nidle = 1;
	a->nodes[1].state = GW_NODE_DOWN;
	a->nodes[1].consecutive_failures = 6;
	f->rt.pools[1].nodes[0].state = GW_NODE_DRAINING;
}

/* Runs python3 on the JSON in body with a script that reads it as `d`; returns its exit code,
 * or -1 when python3 is missing. */
static int python_check(const char *body, const char *script)
{
	char path[] = "/tmp/s3lb-admin-XXXXXX", cmd[4096];
	int fd = mkstemp(path), rc;
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(body, fp);
	fclose(fp);
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		unlink(path);
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
	         "python3 -c 'import json,sys\nd=json.load(open(sys.argv[1]))\n%s' %s", script,
	         path);
	rc = system(cmd);
	unlink(path);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void test_status(void **state)
{
	fixture_t *f = fixture_new(NULL);
	gw_text_t t = {0};
	int rc;
	(void)state;

	feed(f);
	gw_admin_render_status(&f->srv, &t);
	assert_non_null(strstr(t.data, "\"config\":\"/etc/s3lb/\\\"odd\\\"\\\\name.yaml\""));
	assert_non_null(strstr(
	    t.data, "{\"name\":\"rgw1\",\"addr\":\"10.0.0.11:8000\",\"weight\":1,\"state\":\"up\","
	            "\"outstanding\":2,\"conns\":3,\"idle\":1,\"consecutive_failures\":0,"
	            "\"requests\":7,\"responses_5xx\":0,\"connects\":2,\"connect_errors\":0,"
	            "\"errors\":0,\"retries\":0,\"reused\":5}"));
	rc = python_check(
	    t.data,
	    "assert d[\"version\"] == \"0.1.0\"\n"
	    "assert d[\"uptime_s\"] == 0 and d[\"connections\"] == 5, d\n"
	    "assert d[\"config\"] == \"/etc/s3lb/\\\"odd\\\"\\\\name.yaml\", d[\"config\"]\n"
	    "assert d[\"reloads\"] == 3 and d[\"reload_errors\"] == 1\n"
	    "p = d[\"pools\"]\n"
	    "assert [x[\"name\"] for x in p] == [\"ceph-a\", \"minio\"]\n"
	    "assert p[0][\"balance\"] == \"least-requests\" and p[1][\"balance\"] == "
	    "\"round-robin\"\n"
	    "assert p[0][\"inflight\"] == 2 and p[0][\"retries_inflight\"] == 1\n"
	    "n = p[0][\"nodes\"][1]\n"
	    "assert n == dict(name=\"rgw2\", addr=\"[fd00::12]:8000\", weight=2, state=\"down\", "
	    "outstanding=0, conns=0, idle=0, consecutive_failures=6, requests=0, responses_5xx=1, "
	    "connects=0, connect_errors=4, errors=2, retries=3, reused=0), n\n"
	    "assert p[1][\"nodes\"][0][\"state\"] == \"draining\"\n"
	    "fe = d[\"frontends\"]\n"
	    "assert fe[0] == dict(name=\"s3\", listen=[\"127.0.0.1:19080\", \"[::1]:19080\"], "
	    "tls=False, domains=[\"s3.example.com\"]), fe[0]\n"
	    "assert fe[1] == dict(name=\"plain\", listen=[\"127.0.0.1:19081\"], tls=False, "
	    "domains=[]), fe[1]\n");
	if (rc < 0)
		print_message("python3 missing: /status checked by substrings only\n");
	else
		assert_int_equal(rc, 0);
	gw_text_free(&t);

	/* a stopped server has no runtime: still valid JSON */
	f->srv.rt = NULL;
	gw_admin_render_status(&f->srv, &t);
	assert_non_null(strstr(t.data, "\"pools\":[],\n\"frontends\":[]}"));
	rc = python_check(t.data, "assert d[\"pools\"] == [] and d[\"frontends\"] == []\n");
	assert_true(rc <= 0);
	f->srv.rt = &f->rt;
	gw_text_free(&t);
	fixture_free(f);
}

static const char *const want_lines[] = {
    "# HELP s3lb_requests_total Requests answered to clients, by pool, operation class and "
    "status.",
    "# TYPE s3lb_requests_total counter",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"read\",status=\"200\"} 2",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"write\",status=\"503\"} 1",
    "s3lb_requests_total{pool=\"ceph-a\",op=\"mpu-part\",status=\"200\"} 1",
    "s3lb_requests_total{pool=\"we\\\"ird\\\\pool\\n\",op=\"list\",status=\"404\"} 1",
    "# TYPE s3lb_request_bytes_total counter",
    "s3lb_request_bytes_total{pool=\"ceph-a\"} 5111",
    "s3lb_response_bytes_total{pool=\"ceph-a\"} 1322",
    "s3lb_response_bytes_total{pool=\"we\\\"ird\\\\pool\\n\"} 8",
    "# TYPE s3lb_request_duration_seconds histogram",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.001\"} 1",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.0025\"} 1",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"0.005\"} 2",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"1\"} 2",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"2.5\"} 3",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"60\"} 3",
    "s3lb_request_duration_seconds_bucket{pool=\"ceph-a\",le=\"+Inf\"} 4",
    "s3lb_request_duration_seconds_sum{pool=\"ceph-a\"} 122.003500",
    "s3lb_request_duration_seconds_count{pool=\"ceph-a\"} 4",
    "s3lb_request_duration_seconds_count{pool=\"we\\\"ird\\\\pool\\n\"} 1",
    "# TYPE s3lb_upstream_requests_total counter",
    "s3lb_upstream_requests_total{pool=\"ceph-a\",node=\"rgw1\"} 7",
    "s3lb_upstream_requests_total{pool=\"ceph-a\",node=\"rgw2\"} 0",
    "s3lb_upstream_requests_total{pool=\"minio\",node=\"m1\"} 0",
    "s3lb_upstream_connects_total{pool=\"ceph-a\",node=\"rgw1\"} 2",
    "s3lb_upstream_connect_errors_total{pool=\"ceph-a\",node=\"rgw2\"} 4",
    "s3lb_upstream_errors_total{pool=\"ceph-a\",node=\"rgw2\"} 2",
    "s3lb_upstream_retries_total{pool=\"ceph-a\",node=\"rgw2\"} 3",
    "s3lb_upstream_responses_5xx_total{pool=\"ceph-a\",node=\"rgw2\"} 1",
    "s3lb_upstream_reused_total{pool=\"ceph-a\",node=\"rgw1\"} 5",
    "# TYPE s3lb_node_up gauge",
    "s3lb_node_up{pool=\"ceph-a\",node=\"rgw1\"} 1",
    "s3lb_node_up{pool=\"ceph-a\",node=\"rgw2\"} 0",
    "s3lb_node_up{pool=\"minio\",node=\"m1\"} 0",
    "# TYPE s3lb_node_state gauge",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"up\"} 0",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"down\"} 1",
    "s3lb_node_state{pool=\"ceph-a\",node=\"rgw2\",state=\"draining\"} 0",
    "s3lb_node_state{pool=\"minio\",node=\"m1\",state=\"draining\"} 1",
    "s3lb_upstream_open_connections{pool=\"ceph-a\",node=\"rgw1\"} 3",
    "s3lb_upstream_idle_connections{pool=\"ceph-a\",node=\"rgw1\"} 1",
    "# TYPE s3lb_open_connections gauge",
    "s3lb_open_connections 5",
    "# TYPE s3lb_connections_accepted_total counter",
    "s3lb_connections_accepted_total 42",
    "s3lb_config_reloads_total 3",
    "s3lb_config_reload_errors_total 1",
};

/* Checks that the _bucket lines of one pool never decrease and end at _count. */
static void check_histogram(const char *text, const char *label)
{
	char prefix[128], count_line[160];
	const char *p = text;
	unsigned long long last = 0, v;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "s3lb_request_duration_seconds_bucket{pool=\"%s\",le=\"",
	         label);
	while ((p = strstr(p, prefix)) != NULL) {
		const char *sp = strchr(p, ' ');
		assert_non_null(sp);
		v = strtoull(sp + 1, NULL, 10);
		assert_true(v >= last);
		last = v;
		n++;
		p = sp;
	}
	assert_int_equal(n, GW_LAT_BUCKETS + 1);
	snprintf(count_line, sizeof(count_line),
	         "\ns3lb_request_duration_seconds_count{pool=\"%s\"} %llu\n", label, last);
	assert_non_null(strstr(text, count_line));
}

static void test_metrics(void **state)
{
	fixture_t *f = fixture_new(NULL);
	gw_text_t t = {0}, nl = {0};
	(void)state;

	feed(f);
	gw_admin_render_metrics(&f->srv, &t);
	gw_text_printf(&nl, "\n%s", t.data);
	for (size_t i = 0; i < sizeof(want_lines) / sizeof(want_lines[0]); i++) {
		char line[512];
		snprintf(line, sizeof(line), "\n%s\n", want_lines[i]);
		if (!strstr(nl.data, line))
			fail_msg("missing line: %s\n--- got:\n%s", want_lines[i], t.data);
	}
	/* sorted: ceph-a's series come before the odd pool's */
	assert_true(strstr(t.data, "s3lb_requests_total{pool=\"ceph-a\"") <
	            strstr(t.data, "s3lb_requests_total{pool=\"we"));
	check_histogram(t.data, "ceph-a");
	check_histogram(t.data, "we\\\"ird\\\\pool\\n");
	/* every line is a comment or ends in a number, none is empty */
	for (const char *p = t.data; *p;) {
		const char *e = strchr(p, '\n');
		assert_non_null(e);
		assert_true(e > p);
		if (*p != '#')
			assert_true(e[-1] >= '0' && e[-1] <= '9');
		p = e + 1;
	}
	gw_text_free(&t);
	gw_text_free(&nl);
	fixture_free(f);
}

static void test_metrics_empty(void **state)
{
	gw_server_t srv;
	gw_text_t t = {0};
	(void)state;

	memset(&srv, 0, sizeof(srv));
	assert_int_equal(gw_metrics_new(&srv.metrics), 0);
	gw_admin_render_metrics(&srv, &t);
	assert_non_null(strstr(t.data, "# TYPE s3lb_requests_total counter\n# HELP "));
	assert_non_null(strstr(t.data, "\ns3lb_open_connections 0\n"));
	gw_text_free(&t);
	gw_metrics_free(srv.metrics);
}

static void test_text_printf_grows(void **state)
{
	gw_text_t t = {0};
	char big[1000];
	(void)state;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	for (int i = 0; i < 10; i++)
		gw_text_printf(&t, "%d:%s;", i, big);
	assert_int_equal(t.len, 10 * (sizeof(big) - 1 + 3));
	assert_int_equal(strlen(t.data), t.len);
	gw_text_free(&t);
	assert_null(t.data);
}

/* ---- the request decision ---------------------------------------------------------------- */

typedef struct {
	const char *admin; /* the config's admin: section, TOKEN_FILE replaced by a token file */
	const char *req;
	gw_admin_action_t action;
	int status;
	const char *allow;
	bool challenge;
	const char *message; /* a substring of the verdict's message; NULL: none */
	const char *node;
} decide_case_t;

#define TOKENED          "{ token_file: TOKEN_FILE }"
#define HOSTS            "{ token_file: TOKEN_FILE, allowed_hosts: [admin.example] }"
#define ORIGINS          "{ allowed_origins: ['https://grafana.example'] }"
#define WILDCARD         "{ listen: '0.0.0.0:9901' }"
#define V6               "{ listen: '[::1]:9901' }"
#define GET_STATUS(host) "GET /status HTTP/1.1\r\nHost: " host "\r\n\r\n"
#define POST_DRAIN(hdrs)                                                                           \
	"POST /drain?node=ceph-a/rgw1 HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n" hdrs "\r\n"

/* accepted; refused (status, message or NULL); 401 with a challenge; 405; a drain */
#define OK(admin, req, action)                                                                     \
	{                                                                                          \
		admin, req, action, 200, NULL, false, NULL, NULL                                   \
	}
#define NO(admin, req, status, msg)                                                                \
	{                                                                                          \
		admin, req, GW_ADMIN_REFUSE, status, NULL, false, msg, NULL                        \
	}
#define AUTH(admin, req, msg)                                                                      \
	{                                                                                          \
		admin, req, GW_ADMIN_REFUSE, 401, NULL, true, msg, NULL                            \
	}
#define METHOD(admin, req, allow)                                                                  \
	{                                                                                          \
		admin, req, GW_ADMIN_REFUSE, 405, allow, false, NULL, NULL                         \
	}
#define DRAIN(admin, req, act, node)                                                               \
	{                                                                                          \
		admin, req, act, 200, NULL, false, NULL, node                                      \
	}
#define BEARER "Authorization: Bearer " TOKEN "\r\n"

static const decide_case_t decide_cases[] = {
    /* Host: IP literals of admin.listen, localhost, allowed names; any port or none */
    OK("{}", GET_STATUS("127.0.0.1:9901"), GW_ADMIN_STATUS),
    OK("{}", GET_STATUS("127.0.0.1"), GW_ADMIN_STATUS),
    OK("{}", GET_STATUS("localhost:9901"), GW_ADMIN_STATUS),
    OK("{}", GET_STATUS("LocalHost"), GW_ADMIN_STATUS),
    OK("{}", "GET /status HTTP/1.0\r\n\r\n", GW_ADMIN_STATUS),
    NO("{}", GET_STATUS("rebind.example:9901"), 403,
       "Host 'rebind.example:9901' is not accepted here"),
    NO("{}", GET_STATUS("127.0.0.2:9901"), 403, "Host '127.0.0.2"),
    NO("{}", GET_STATUS("127.1:9901"), 403, NULL),
    NO("{}", GET_STATUS("localhost.:9901"), 403, NULL),
    NO("{}", GET_STATUS("127.0.0.1:99x"), 403, NULL),
    NO("{}", GET_STATUS("127.0.0.1:"), 403, NULL),
    NO("{}", GET_STATUS("127.0.0.1:123456"), 403, NULL),
    NO("{}", GET_STATUS("[::1]:9901"), 403, NULL),
    NO("{}", GET_STATUS(""), 403, NULL),
    OK(V6, GET_STATUS("[::1]:9901"), GW_ADMIN_STATUS),
    NO(V6, GET_STATUS("[::2]:9901"), 403, NULL),
    NO(V6, GET_STATUS("[localhost]:9901"), 403, NULL),
    NO(V6, GET_STATUS("[::1"), 403, NULL),
    NO(V6, GET_STATUS("[::1]x"), 403, NULL),
    NO(V6, GET_STATUS("127.0.0.1"), 403, NULL),
    OK(WILDCARD, GET_STATUS("192.0.2.7:9901"), GW_ADMIN_STATUS),
    NO(WILDCARD, GET_STATUS("rebind.example"), 403, NULL),
    OK(HOSTS, GET_STATUS("admin.example:9901"), GW_ADMIN_STATUS),
    OK(HOSTS, GET_STATUS("ADMIN.example"), GW_ADMIN_STATUS),
    NO(HOSTS, GET_STATUS("admin.example.rebind.example"), 403, NULL),
    NO("{}", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n", 400,
       "more than one Host"),
    /* Origin: only listed ones, for every request */
    NO("{}", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n", 403,
       "Origin 'http://evil.example' is not in"),
    NO("{}", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\n\r\n", 403, NULL),
    OK(ORIGINS,
       "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://grafana.example\r\n\r\n",
       GW_ADMIN_STATUS),
    NO(ORIGINS,
       "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://grafana.example.evil\r\n\r\n",
       403, NULL),
    NO(TOKENED, POST_DRAIN(BEARER "Origin: http://evil.example\r\n"), 403,
       "requests from web pages are refused"),
    /* the token */
    NO("{}", POST_DRAIN(""), 403,
       "state-changing admin requests are disabled: set "
       "admin.token_file"),
    NO("{}", POST_DRAIN(BEARER), 403, "disabled"),
    AUTH(TOKENED, POST_DRAIN(""), "missing token"),
    AUTH(TOKENED, POST_DRAIN("Authorization: Bearer s3cr3t-t0ken-0123456788\r\n"), "wrong token"),
    AUTH(TOKENED, POST_DRAIN("Authorization: Bearer s3cr3t-t0ken-012345678\r\n"), NULL),
    AUTH(TOKENED, POST_DRAIN("Authorization: Bearer " TOKEN "0\r\n"), NULL),
    AUTH(TOKENED, POST_DRAIN("Authorization: Basic " TOKEN "\r\n"), NULL),
    AUTH(TOKENED, POST_DRAIN("Authorization: Bearer\r\n"), NULL),
    AUTH(TOKENED, POST_DRAIN(BEARER BEARER), NULL),
    DRAIN(TOKENED, POST_DRAIN(BEARER), GW_ADMIN_DRAIN, "ceph-a/rgw1"),
    DRAIN(TOKENED, POST_DRAIN("authorization: bearer   " TOKEN "  \r\n"), GW_ADMIN_DRAIN,
          "ceph-a/rgw1"),
    DRAIN(TOKENED, "POST /undrain?x=1&node=rgw2 HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n",
          GW_ADMIN_UNDRAIN, "rgw2"),
    NO(TOKENED, "POST /drain HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n", 400, "missing ?node="),
    NO(TOKENED, "POST /drain?node= HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n", 400, NULL),
    /* paths and methods */
    METHOD(TOKENED, "GET /drain?node=rgw1 HTTP/1.1\r\nHost: localhost\r\n\r\n", "POST"),
    METHOD("{}", "POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", "GET"),
    OK("{}", "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", GW_ADMIN_METRICS),
    NO("{}", "GET /status/x HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, NULL),
    NO("{}", "GARBAGE\r\n\r\n", 400, NULL),
};

static void test_decide(void **state)
{
	char token_path[64];
	int failures = 0;
	(void)state;

	write_token(token_path);
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const decide_case_t *c = &decide_cases[i];
		char text[2048], admin[256], err[256];
		const char *tf = strstr(c->admin, "TOKEN_FILE");
		lb_config_t *cfg = NULL;
		gw_admin_req_t r;
		gw_admin_verdict_t v;

		if (tf)
			snprintf(admin, sizeof(admin), "%.*s%s%s", (int)(tf - c->admin), c->admin,
			         token_path, tf + 10);
		else
			snprintf(admin, sizeof(admin), "%s", c->admin);
		snprintf(text, sizeof(text), "%sadmin: %s\n", yaml, admin);
		if (lb_config_load_string("test.yaml", text, strlen(text), &cfg, err, sizeof(err)) <
		    0)
			fail_msg("case %zu: config: %s", i, err);
		assert_int_equal(gw_admin_parse(c->req, strlen(c->req), &r), 1);
		gw_admin_decide(&r, cfg, &v);
		if (v.action != c->action || v.status != c->status ||
		    (c->allow ? !v.allow || strcmp(v.allow, c->allow) : v.allow != NULL) ||
		    v.challenge != c->challenge || (c->message && !strstr(v.message, c->message)) ||
		    (c->node && strcmp(v.node, c->node))) {
			print_error("case %zu: %s\n  got action %d status %d allow %s challenge %d "
			            "message '%s' node '%s'\n",
			            i, c->req, v.action, v.status, v.allow ? v.allow : "-",
			            v.challenge, v.message, v.node);
			failures++;
		}
		lb_config_unref(cfg);
	}
	unlink(token_path);
	assert_int_equal(failures, 0);
}

/* An incomplete head is not decided yet; without a config nothing changes state. */
static void test_decide_edges(void **state)
{
	static const char part[] = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	static const char post[] = POST_DRAIN("Authorization: Bearer " TOKEN "\r\n");
	gw_admin_req_t r;
	gw_admin_verdict_t v;
	(void)state;

	assert_int_equal(gw_admin_parse(part, sizeof(part) - 1, &r), 0);
	assert_int_equal(gw_admin_parse(post, sizeof(post) - 1, &r), 1);
	gw_admin_decide(&r, NULL, &v);
	assert_int_equal(v.status, 403);
}

/* ---- the listener on a real loop -------------------------------------------------------- */

typedef struct {
	fixture_t *f;
	gw_listener_t l;
	uv_async_t done, stop;
	char addr[64];
	pthread_t thread;
	int failures;
	char why[512];
} loop_ctx_t;

static loop_ctx_t *ctx;

/* The drain hook: records what it was asked (on the loop thread; read after uv_run). */
static char drained[8][64];
static int ndrained;

static int fake_drain(void *arg, const char *node, bool on, char *err, size_t errlen)
{
	(void)arg;
	if (!strcmp(node, "nope")) {
		snprintf(err, errlen, "no node 'nope'");
		return -1;
	}
	if (ndrained < 8)
		snprintf(drained[ndrained++], sizeof(drained[0]), "%s %s", on ? "drain" : "undrain",
		         node);
	return 0;
}

static void on_admin_connection(uv_stream_t *s, int status)
{
	gw_listener_t *l = s->data;
	assert_int_equal(status, 0);
	l->srv->metrics->conns_accepted++;
	gw_admin_accept(l);
}

static void on_done(uv_async_t *a)
{
	loop_ctx_t *c = a->data;
	uv_close((uv_handle_t *)&c->l.tcp, NULL);
	uv_close((uv_handle_t *)&c->done, NULL);
	uv_close((uv_handle_t *)&c->stop, NULL);
}

static void on_stop(uv_async_t *a)
{
	loop_ctx_t *c = a->data;
	gw_admin_stop(&c->f->srv);
	assert_null(c->f->srv.admin_conns);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(ctx->why, sizeof(ctx->why), "line %d: %s", __LINE__, #cond);      \
			ctx->failures++;                                                           \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/* A blocking client socket connected to the admin listener, or -1. */
static int admin_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(strrchr(ctx->addr, ':') + 1));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends req and our FIN on a new connection and reads the answer until the server closes. */
static int raw_request(const char *req, size_t len, char *resp, size_t cap)
{
	int fd = admin_connect();
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	if (len && send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while (n + 1 < cap && (r = recv(fd, resp + n, cap - 1 - n, 0)) > 0)
		n += (size_t)r;
	resp[n] = 0;
	close(fd);
	return (int)n;
}

#define RAW(s, resp) raw_request(s, sizeof(s) - 1, resp, sizeof(resp))

static void *client_main(void *arg)
{
	char err[512], resp[16384];
	char *body = NULL;
	size_t body_len = 0;
	FILE *out;
	char *big;
	(void)arg;

	/* the blocking client: 200 with the body printed */
	out = open_memstream(&body, &body_len);
	CHECK(gw_admin_fetch(ctx->addr, "/status", out, err, sizeof(err)) == 0);
	fclose(out);
	CHECK(strstr(body, "{\"version\":\"0.1.0\"") == body);
	CHECK(strstr(body, "\"name\":\"rgw2\""));
	free(body);
	body = NULL;
	out = open_memstream(&body, &body_len);
	CHECK(gw_admin_fetch(ctx->addr, "/metrics?x=1", out, err, sizeof(err)) == 0);
	fclose(out);
	CHECK(strstr(body, "\ns3lb_connections_accepted_total 2\n"));
	free(body);
	body = NULL;

	/* non-200 is an error naming the status */
	out = open_memstream(&body, &body_len);
	CHECK(gw_admin_fetch(ctx->addr, "/nope", out, err, sizeof(err)) == -1);
	fclose(out);
	CHECK(body_len == 0);
	CHECK(strstr(err, "HTTP 404"));
	free(body);
	body = NULL;
	CHECK(gw_admin_fetch("127.0.0.1", "/status", stdout, err, sizeof(err)) == -1);
	CHECK(strstr(err, "admin address"));

	/* raw answers */
	CHECK(RAW("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 200 OK\r\n", 17));
	CHECK(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	CHECK(strstr(resp, "\r\nConnection: close\r\n"));
	CHECK(RAW("POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 405 Method Not Allowed\r\n", 33));
	CHECK(strstr(resp, "\r\nAllow: GET\r\n"));
	CHECK(strstr(resp, "\r\nContent-Type: application/json\r\n"));
	CHECK(strstr(resp, "\r\n\r\n{\"error\":\"Method Not Allowed\",\"status\":405}\n"));
	CHECK(RAW("GET /status/x HTTP/1.0\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 404 Not Found\r\n", 24));
	CHECK(RAW("GARBAGE\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 400 Bad Request\r\n", 26));
	big = malloc(20000);
	CHECK(big);
	memset(big, 'a', 20000);
	memcpy(big, "GET /status HTTP/1.1\r\nX: ", 25);
	CHECK(raw_request(big, 20000, resp, sizeof(resp)) > 0);
	free(big);
	CHECK(!strncmp(resp, "HTTP/1.1 431 ", 13));
	/* drain: the CLI's request with the token works; without, or from a web page, it does not
	 */
	out = open_memstream(&body, &body_len);
	CHECK(gw_admin_request(ctx->addr, "POST", "/drain?node=ceph-a/rgw1", TOKEN, out, err,
	                       sizeof(err)) == 0);
	fclose(out);
	CHECK(!strcmp(body, "{\"node\":\"ceph-a/rgw1\",\"state\":\"draining\"}\n"));
	free(body);
	body = NULL;
	CHECK(gw_admin_request(ctx->addr, "POST", "/undrain?node=rgw1", "wrong-token-0123456789",
	                       stdout, err, sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 401"));
	CHECK(strstr(err, "wrong token"));
	CHECK(gw_admin_request(ctx->addr, "POST", "/undrain?node=rgw1", NULL, stdout, err,
	                       sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 401"));
	CHECK(gw_admin_request(ctx->addr, "POST", "/drain?node=nope", TOKEN, stdout, err,
	                       sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 404"));
	CHECK(strstr(err, "no node 'nope'"));
	CHECK(RAW("POST /drain?node=rgw2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 401 Unauthorized\r\n", 27));
	CHECK(strstr(resp, "\r\nWWW-Authenticate: Bearer realm=\"s3lb-admin\"\r\n"));
	CHECK(RAW("POST /drain?node=rgw2 HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: "
	          "http://evil.example\r\n"
	          "Authorization: Bearer " TOKEN "\r\nContent-Type: text/plain\r\n"
	          "Content-Length: 0\r\n\r\n",
	          resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24));
	CHECK(strstr(resp, "\r\n\r\n{\"error\":\"Forbidden\",\"status\":403,\"message\":"
	                   "\"requests from web pages are refused: Origin 'http://evil.example' "
	                   "is not in admin.allowed_origins\"}\n"));
	CHECK(RAW("GET /status HTTP/1.1\r\nHost: rebind.example:9901\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24));
	CHECK(strstr(resp, "Host 'rebind.example:9901' is not accepted here"));

	/* the client closes without asking: no answer, no leak */
	CHECK(RAW("", resp) == 0);

	/* stop closes a connection that is still reading */
	{
		int fd = admin_connect();
		CHECK(fd >= 0);
		CHECK(send(fd, "GET /sta", 8, MSG_NOSIGNAL) == 8);
		usleep(100 * 1000);
		uv_async_send(&ctx->stop);
		CHECK(recv(fd, resp, sizeof(resp), 0) == 0);
		close(fd);
	}
out:
	free(body);
	uv_async_send(&ctx->done);
	return NULL;
}

static void test_loop(void **state)
{
	uv_loop_t loop;
	struct sockaddr_storage ss;
	struct sockaddr_in sa;
	int len = sizeof(ss);
	loop_ctx_t c;
	(void)state;

	memset(&c, 0, sizeof(c));
	ctx = &c;
	assert_int_equal(uv_loop_init(&loop), 0);
	c.f = fixture_new(&loop);
	feed(c.f);
	c.f->srv.metrics->conns_accepted = 0;
	c.f->srv.hooks.drain = fake_drain;
	ndrained = 0;
	c.l.srv = &c.f->srv;
	c.l.admin = true;
	assert_int_equal(uv_tcp_init(&loop, &c.l.tcp), 0);
	c.l.tcp.data = &c.l;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&c.l.tcp, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&c.l.tcp, 16, on_admin_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&c.l.tcp, (struct sockaddr *)&ss, &len), 0);
	snprintf(c.addr, sizeof(c.addr), "127.0.0.1:%d",
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	snprintf(c.l.addr, sizeof(c.l.addr), "%s", c.addr);
	assert_int_equal(uv_async_init(&loop, &c.done, on_done), 0);
	assert_int_equal(uv_async_init(&loop, &c.stop, on_stop), 0);
	c.done.data = c.stop.data = &c;
	assert_int_equal(pthread_create(&c.thread, NULL, client_main, NULL), 0);

	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	pthread_join(c.thread, NULL);
	if (c.failures)
		fail_msg("client: %s", c.why);
	/* only the request with the right token reached health */
	assert_int_equal(ndrained, 1);
	assert_string_equal(drained[0], "drain ceph-a/rgw1");
	gw_admin_stop(&c.f->srv);
	assert_null(c.f->srv.admin_conns);
	assert_int_equal(uv_loop_close(&loop), 0);
	fixture_free(c.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_printf_grows),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_metrics_empty),
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_decide_edges),
	    cmocka_unit_test(test_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

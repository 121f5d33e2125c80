/*
 * Unit tests for admin/request.c: what an admin request asks and whether it may, as a table of
 * raw requests under small admin: sections (Host and Origin checks, the token, paths and
 * methods).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/request.h"
#include "tests/unit/support/admin_fixture.h"

typedef struct {
	const char *admin; /* the config's admin: section, TOKEN_FILE replaced by a token file */
	const char *req;
	adm_action_t action;
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
		admin, req, ADM_REFUSE, status, NULL, false, msg, NULL                             \
	}
#define AUTH(admin, req, msg)                                                                      \
	{                                                                                          \
		admin, req, ADM_REFUSE, 401, NULL, true, msg, NULL                                 \
	}
#define METHOD(admin, req, allow)                                                                  \
	{                                                                                          \
		admin, req, ADM_REFUSE, 405, allow, false, NULL, NULL                              \
	}
#define DRAIN(admin, req, act, node)                                                               \
	{                                                                                          \
		admin, req, act, 200, NULL, false, NULL, node                                      \
	}
#define BEARER "Authorization: Bearer " TOKEN "\r\n"

static const decide_case_t decide_cases[] = {
    /* Host: IP literals of admin.listen, localhost, allowed names; any port or none */
    OK("{}", GET_STATUS("127.0.0.1:9901"), ADM_STATUS),
    OK("{}", GET_STATUS("127.0.0.1"), ADM_STATUS),
    OK("{}", GET_STATUS("localhost:9901"), ADM_STATUS),
    OK("{}", GET_STATUS("LocalHost"), ADM_STATUS),
    OK("{}", "GET /status HTTP/1.0\r\n\r\n", ADM_STATUS),
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
    OK(V6, GET_STATUS("[::1]:9901"), ADM_STATUS),
    NO(V6, GET_STATUS("[::2]:9901"), 403, NULL),
    NO(V6, GET_STATUS("[localhost]:9901"), 403, NULL),
    NO(V6, GET_STATUS("[::1"), 403, NULL),
    NO(V6, GET_STATUS("[::1]x"), 403, NULL),
    NO(V6, GET_STATUS("127.0.0.1"), 403, NULL),
    OK(WILDCARD, GET_STATUS("192.0.2.7:9901"), ADM_STATUS),
    NO(WILDCARD, GET_STATUS("rebind.example"), 403, NULL),
    OK(HOSTS, GET_STATUS("admin.example:9901"), ADM_STATUS),
    OK(HOSTS, GET_STATUS("ADMIN.example"), ADM_STATUS),
    NO(HOSTS, GET_STATUS("admin.example.rebind.example"), 403, NULL),
    NO("{}", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n", 400,
       "more than one Host"),
    /* Origin: only listed ones, for every request */
    NO("{}", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n", 403,
       "Origin 'http://evil.example' is not in"),
    NO("{}", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\n\r\n", 403, NULL),
    OK(ORIGINS,
       "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://grafana.example\r\n\r\n",
       ADM_STATUS),
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
    DRAIN(TOKENED, POST_DRAIN(BEARER), ADM_DRAIN, "ceph-a/rgw1"),
    DRAIN(TOKENED, POST_DRAIN("authorization: bearer   " TOKEN "  \r\n"), ADM_DRAIN, "ceph-a/rgw1"),
    DRAIN(TOKENED, "POST /undrain?x=1&node=rgw2 HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n",
          ADM_UNDRAIN, "rgw2"),
    NO(TOKENED, "POST /drain HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n", 400, "missing ?node="),
    NO(TOKENED, "POST /drain?node= HTTP/1.1\r\nHost: localhost\r\n" BEARER "\r\n", 400, NULL),
    /* paths and methods */
    METHOD(TOKENED, "GET /drain?node=rgw1 HTTP/1.1\r\nHost: localhost\r\n\r\n", "POST"),
    METHOD("{}", "POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", "GET"),
    OK("{}", "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", ADM_METRICS),
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
		adm_req_t r;
		adm_verdict_t v;

		if (tf)
			snprintf(admin, sizeof(admin), "%.*s%s%s", (int)(tf - c->admin), c->admin,
			         token_path, tf + 10);
		else
			snprintf(admin, sizeof(admin), "%s", c->admin);
		snprintf(text, sizeof(text), "%sadmin: %s\n", fixture_yaml, admin);
		if (lb_config_load_string("test.yaml", text, strlen(text), &cfg, err, sizeof(err)) <
		    0)
			fail_msg("case %zu: config: %s", i, err);
		assert_int_equal(adm_parse(c->req, strlen(c->req), &r), 1);
		adm_decide(&r, cfg, &v);
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
	adm_req_t r;
	adm_verdict_t v;
	(void)state;

	assert_int_equal(adm_parse(part, sizeof(part) - 1, &r), 0);
	assert_int_equal(adm_parse(post, sizeof(post) - 1, &r), 1);
	adm_decide(&r, NULL, &v);
	assert_int_equal(v.status, 403);
}

/* A request over the 8 KiB head limit: 431; a head cut anywhere is not decided. */
static void test_parse_limits(void **state)
{
	static const char req[] = "POST /drain?node=rgw1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Authorization: Bearer " TOKEN "\r\n\r\n";
	char *big = malloc(ADM_MAX_REQUEST + 100);
	adm_req_t r;
	(void)state;

	assert_non_null(big);
	memset(big, 'a', ADM_MAX_REQUEST + 100);
	memcpy(big, "GET /status HTTP/1.1\r\nX: ", 25);
	assert_int_equal(adm_parse(big, ADM_MAX_REQUEST + 100, &r), 1);
	assert_int_equal(r.bad, 431);
	free(big);
	for (size_t n = 0; n + 1 < sizeof(req); n++)
		assert_int_equal(adm_parse(req, n, &r), 0);
	assert_int_equal(adm_parse(req, sizeof(req) - 1, &r), 1);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.path.len, 6);
	assert_int_equal(r.query.len, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_decide_edges),
	    cmocka_unit_test(test_parse_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

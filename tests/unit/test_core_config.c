/*
 * core/config.c: loading, defaults, every error with its exact "FILE:LINE: key: message",
 * the dump (load -> dump -> load -> dump is stable), the example etc/s3lb.yaml, and that
 * docs/config.md documents exactly the keys of the key tables. Includes the .c for the tables.
 */
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

/* Before cmocka.h, whose fail() macro would rename the file's own fail(). */
#include "core/config.c"

#include <cmocka.h>

/* The smallest valid config: lines 1-4 and 5-8. Error cases append from line 9 on. */
#define POOL                                                                                       \
	"pools:\n"                                                                                 \
	"  - name: ceph\n"                                                                         \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 127.0.0.11:8000 }\n"
#define FRONT                                                                                      \
	"frontends:\n"                                                                             \
	"  - name: s3\n"                                                                           \
	"    listen: [127.0.0.1:8080]\n"                                                           \
	"    routes: [{ pool: ceph }]\n"
#define MINIMAL POOL FRONT

static lb_config_t *load_ok(const char *yaml)
{
	lb_config_t *cfg = NULL;
	char err[512] = "";
	int rc = lb_config_load_string("s3lb.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));

	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	return cfg;
}

static void assert_str_or_null_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Equal values, and a deep copy: no string or list is shared. */
static void assert_health_equal(const lb_health_conf_t *a, const lb_health_conf_t *b)
{
	const char *const sa[] = {a->http_method, a->http_path,     a->http_host,     a->s3_bucket,
	                          a->s3_key,      a->s3_access_key, a->s3_secret_key, a->s3_region};
	const char *const sb[] = {b->http_method, b->http_path,     b->http_host,     b->s3_bucket,
	                          b->s3_key,      b->s3_access_key, b->s3_secret_key, b->s3_region};

	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->interval, b->interval);
	assert_int_equal(a->fast_interval, b->fast_interval);
	assert_int_equal(a->timeout, b->timeout);
	assert_int_equal(a->rise, b->rise);
	assert_int_equal(a->fall, b->fall);
	assert_int_equal(a->jitter_pct, b->jitter_pct);
	assert_int_equal(a->passive_failures, b->passive_failures);
	assert_int_equal(a->passive_backoff, b->passive_backoff);
	assert_int_equal(a->passive_max_backoff, b->passive_max_backoff);
	for (size_t i = 0; i < sizeof(sa) / sizeof(sa[0]); i++) {
		assert_str_or_null_equal(sa[i], sb[i]);
		if (sa[i] != NULL)
			assert_ptr_not_equal(sa[i], sb[i]);
	}
	assert_int_equal(a->nexpect, b->nexpect);
	assert_memory_equal(a->expect, b->expect, a->nexpect * sizeof(*a->expect));
	assert_ptr_not_equal(a->expect, b->expect);
}

typedef struct err_case_s {
	const char *yaml;
	const char *err;
} err_case_t;

/* Runs every case, prints each mismatch, then fails once: one run shows every broken case. */
static void run_err_cases(const err_case_t *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		lb_config_t *cfg = (lb_config_t *)&failures;
		char err[512] = "";
		int rc = lb_config_load_string("s3lb.yaml", cases[i].yaml, strlen(cases[i].yaml),
		                               &cfg, err, sizeof(err));

		if (rc >= 0 || cfg != NULL || strcmp(err, cases[i].err) != 0) {
			print_error("case %zu:\n%s\n  want: %s\n  got:  %s (rc %d)\n", i,
			            cases[i].yaml, cases[i].err, err, rc);
			failures++;
		}
		if (rc >= 0)
			lb_config_unref(cfg);
	}
	assert_int_equal(failures, 0);
}

#define RUN_CASES(cases) run_err_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_defaults(void **state)
{
	lb_config_t *cfg = load_ok(MINIMAL);
	const lb_pool_conf_t *p = &cfg->pools[0];
	const lb_frontend_conf_t *f = &cfg->frontends[0];

	assert_string_equal(cfg->path, "s3lb.yaml");
	assert_int_equal(cfg->refs, 1);
	assert_true(cfg->admin_enabled);
	assert_string_equal(cfg->admin_listen.text, "127.0.0.1:9901");
	assert_int_equal(cfg->log.level, LB_LOG_INFO);
	assert_string_equal(cfg->log.access, "stdout");
	assert_string_equal(cfg->log.error, "stderr");

	assert_int_equal(cfg->limits.max_connections, 10000);
	assert_int_equal(cfg->limits.max_header_size, 16384);
	assert_int_equal(cfg->limits.max_headers, 100);
	assert_int_equal(cfg->limits.buffer_size, 65536);

	assert_int_equal(cfg->timeouts.client_header, 10000);
	assert_int_equal(cfg->timeouts.client_idle, 60000);
	assert_int_equal(cfg->timeouts.client_body, 60000);
	assert_int_equal(cfg->timeouts.client_send, 60000);
	assert_int_equal(cfg->timeouts.upstream_connect, 2000);
	assert_int_equal(cfg->timeouts.upstream_header, 60000);
	assert_int_equal(cfg->timeouts.upstream_read, 60000);
	assert_int_equal(cfg->timeouts.upstream_idle, 30000);
	assert_int_equal(cfg->timeouts.shutdown_grace, 30000);

	assert_int_equal(cfg->npools, 1);
	assert_string_equal(p->name, "ceph");
	assert_int_equal(p->line, 2);
	assert_int_equal(p->balance, LB_BALANCE_ROUND_ROBIN);
	assert_int_equal(p->retries, 2);
	assert_int_equal(p->retry_budget_pct, 20);
	assert_int_equal(p->max_conns_per_node, 512);
	assert_int_equal(p->max_idle_per_node, 64);
	assert_false(p->tls.enabled);
	assert_true(p->tls.verify);
	assert_null(p->tls.ca_file);
	assert_null(p->tls.server_name);
	assert_int_equal(p->nnodes, 1);
	assert_string_equal(p->nodes[0].name, "rgw1");
	assert_string_equal(p->nodes[0].addr.text, "127.0.0.11:8000");
	assert_int_equal(p->nodes[0].weight, 1);
	assert_int_equal(p->nodes[0].line, 4);
	assert_int_equal(p->health.kind, LB_PROBE_HTTP);
	assert_int_equal(p->health.interval, 1000);
	assert_int_equal(p->health.fast_interval, 250);
	assert_int_equal(p->health.timeout, 500);
	assert_int_equal(p->health.rise, 2);
	assert_int_equal(p->health.fall, 2);
	assert_int_equal(p->health.jitter_pct, 10);
	assert_string_equal(p->health.http_method, "GET");
	assert_string_equal(p->health.http_path, "/");
	assert_null(p->health.http_host);
	assert_int_equal(p->health.nexpect, 1);
	assert_int_equal(p->health.expect[0].lo, 200);
	assert_int_equal(p->health.expect[0].hi, 399);
	assert_null(p->health.s3_bucket);
	assert_null(p->health.s3_key);
	assert_null(p->health.s3_access_key);
	assert_null(p->health.s3_secret_key);
	assert_string_equal(p->health.s3_region, "us-east-1");
	assert_int_equal(p->health.passive_failures, 3);
	assert_int_equal(p->health.passive_backoff, 2000);
	assert_int_equal(p->health.passive_max_backoff, 30000);
	assert_health_equal(&p->nodes[0].health, &p->health);

	assert_int_equal(cfg->nfrontends, 1);
	assert_string_equal(f->name, "s3");
	assert_int_equal(f->line, 6);
	assert_int_equal(f->nlisten, 1);
	assert_string_equal(f->listen[0].text, "127.0.0.1:8080");
	assert_null(f->tls_cert);
	assert_null(f->tls_key);
	assert_int_equal(f->ndomains, 0);
	assert_true(f->x_forwarded_for);
	assert_false(f->x_real_ip);
	assert_int_equal(f->nroutes, 1);
	assert_null(f->routes[0].bucket);
	assert_null(f->routes[0].host);
	assert_int_equal(f->routes[0].ops, 0);
	assert_int_equal(f->routes[0].pool, 0);
	assert_int_equal(f->routes[0].line, 8);

	assert_string_equal(cfg->dr_state, "/run/s3lb/ipvs-owned");
	assert_int_equal(cfg->ndr, 0);
	lb_config_unref(cfg);
}

/* Every key set to something other than its default. */
static const char full_yaml[] =
    "admin:\n"                              /* 1 */
    "  listen: \"[::1]:9902\"\n"            /* 2 */
    "log:\n"                                /* 3 */
    "  level: debug\n"                      /* 4 */
    "  access: /var/log/s3 lb/access.log\n" /* 5 */
    "  error: /var/log/s3lb/error.log\n"    /* 6 */
    "limits:\n"                             /* 7 */
    "  max_connections: 500\n"              /* 8 */
    "  max_header_size: 8KiB\n"             /* 9 */
    "  max_headers: 50\n"                   /* 10 */
    "  buffer_size: 1.5MiB\n"               /* 11 */
    "timeouts:\n"                           /* 12 */
    "  client_header: 5s\n"                 /* 13 */
    "  client_idle: 2m\n"                   /* 14 */
    "  client_body: 30s\n"                  /* 15 */
    "  client_send: 45s\n"                  /* 16 */
    "  upstream_connect: 500ms\n"           /* 17 */
    "  upstream_header: 1.5s\n"             /* 18 */
    "  upstream_read: 90s\n"                /* 19 */
    "  upstream_idle: 1h\n"                 /* 20 */
    "  shutdown_grace: 10s\n"               /* 21 */
    "pools:\n"                              /* 22 */
    "  - name: ceph\n"                      /* 23 */
    "    balance: hash-key\n"               /* 24 */
    "    retries: 0\n"                      /* 25 */
    "    retry_budget: 50\n"                /* 26 */
    "    max_conns_per_node: 100\n"         /* 27 */
    "    max_idle_per_node: 0\n"            /* 28 */
    "    tls: { enabled: true, ca: /etc/ca.pem, verify: no, server_name: rgw.example }\n"
    "    nodes:\n"                                               /* 30 */
    "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 3 }\n" /* 31 */
    "      - name: rgw2\n"                                       /* 32 */
    "        addr: \"[::1]:8000\"\n"                             /* 33 */
    "        weight: 1000\n"                                     /* 34 */
    "  - name: other\n"                                          /* 35 */
    "    balance: least-requests\n"                              /* 36 */
    "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n"       /* 37 */
    "frontends:\n"                                               /* 38 */
    "  - name: s3\n"                                             /* 39 */
    "    listen: [127.0.0.1:8080, \"[::1]:8080\"]\n"             /* 40 */
    "    tls: { cert: /etc/cert.pem, key: /etc/key.pem }\n"      /* 41 */
    "    domains: [s3.local, s3-2.example.com]\n"                /* 42 */
    "    x_forwarded_for: false\n"                               /* 43 */
    "    x_real_ip: yes\n"                                       /* 44 */
    "    routes:\n"                                              /* 45 */
    "      - { bucket: \"logs-*\", op: [read, list], host: \"*.internal\", pool: other }\n"
    "      - { op: [multipart, delete], pool: ceph }\n" /* 47 */
    "      - bucket: \"a?b \\\"q\\\"\"\n"               /* 48 */
    "        pool: ceph\n"                              /* 49 */
    "  - name: fe_2\n"                                  /* 50 */
    "    listen: [127.0.0.2:8080]\n"                    /* 51 */
    "    routes: [{ pool: other }]\n";                  /* 52 */

static void test_full(void **state)
{
	lb_config_t *cfg = load_ok(full_yaml);
	const lb_pool_conf_t *p = &cfg->pools[0];
	const lb_frontend_conf_t *f = &cfg->frontends[0];

	assert_true(cfg->admin_enabled);
	assert_string_equal(cfg->admin_listen.text, "[::1]:9902");
	assert_int_equal(cfg->log.level, LB_LOG_DEBUG);
	assert_string_equal(cfg->log.access, "/var/log/s3 lb/access.log");
	assert_string_equal(cfg->log.error, "/var/log/s3lb/error.log");
	assert_int_equal(cfg->limits.max_connections, 500);
	assert_int_equal(cfg->limits.max_header_size, 8192);
	assert_int_equal(cfg->limits.max_headers, 50);
	assert_int_equal(cfg->limits.buffer_size, 1572864);
	assert_int_equal(cfg->timeouts.client_header, 5000);
	assert_int_equal(cfg->timeouts.client_idle, 120000);
	assert_int_equal(cfg->timeouts.client_body, 30000);
	assert_int_equal(cfg->timeouts.client_send, 45000);
	assert_int_equal(cfg->timeouts.upstream_connect, 500);
	assert_int_equal(cfg->timeouts.upstream_header, 1500);
	assert_int_equal(cfg->timeouts.upstream_read, 90000);
	assert_int_equal(cfg->timeouts.upstream_idle, 3600000);
	assert_int_equal(cfg->timeouts.shutdown_grace, 10000);

	assert_int_equal(cfg->npools, 2);
	assert_int_equal(p->line, 23);
	assert_int_equal(p->balance, LB_BALANCE_HASH_KEY);
	assert_int_equal(p->retries, 0);
	assert_int_equal(p->retry_budget_pct, 50);
	assert_int_equal(p->max_conns_per_node, 100);
	assert_int_equal(p->max_idle_per_node, 0);
	assert_true(p->tls.enabled);
	assert_false(p->tls.verify);
	assert_string_equal(p->tls.ca_file, "/etc/ca.pem");
	assert_string_equal(p->tls.server_name, "rgw.example");
	assert_int_equal(p->nnodes, 2);
	assert_int_equal(p->nodes[0].weight, 3);
	assert_int_equal(p->nodes[0].line, 31);
	assert_string_equal(p->nodes[1].addr.text, "[::1]:8000");
	assert_int_equal(p->nodes[1].weight, 1000);
	assert_int_equal(p->nodes[1].line, 32);
	assert_int_equal(cfg->pools[1].balance, LB_BALANCE_LEAST_REQUESTS);
	assert_int_equal(cfg->pools[1].line, 35);

	assert_int_equal(cfg->nfrontends, 2);
	assert_int_equal(f->nlisten, 2);
	assert_string_equal(f->listen[1].text, "[::1]:8080");
	assert_string_equal(f->tls_cert, "/etc/cert.pem");
	assert_string_equal(f->tls_key, "/etc/key.pem");
	assert_int_equal(f->ndomains, 2);
	assert_string_equal(f->domains[0], "s3.local");
	assert_string_equal(f->domains[1], "s3-2.example.com");
	assert_false(f->x_forwarded_for);
	assert_true(f->x_real_ip);
	assert_int_equal(f->nroutes, 3);
	assert_string_equal(f->routes[0].bucket, "logs-*");
	assert_string_equal(f->routes[0].host, "*.internal");
	assert_int_equal(f->routes[0].ops, LB_OP_READ | LB_OP_LIST);
	assert_int_equal(f->routes[0].pool, 1);
	assert_int_equal(f->routes[0].line, 46);
	assert_int_equal(f->routes[1].ops, LB_OP_MULTIPART | LB_OP_DELETE);
	assert_int_equal(f->routes[1].pool, 0);
	assert_string_equal(f->routes[2].bucket, "a?b \"q\"");
	assert_int_equal(f->routes[2].line, 48);
	assert_string_equal(cfg->frontends[1].name, "fe_2");
	assert_int_equal(cfg->frontends[1].line, 50);
	lb_config_unref(cfg);
}

static char *dump_to_string(const lb_config_t *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	lb_config_dump(cfg, fp);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* The effective config of MINIMAL, every default spelled out in canonical form. */
static const char minimal_dump[] = "admin:\n"
                                   "  listen: 127.0.0.1:9901\n"
                                   "  allowed_hosts: []\n"
                                   "  allowed_origins: []\n"
                                   "log:\n"
                                   "  level: info\n"
                                   "  access: stdout\n"
                                   "  error: stderr\n"
                                   "limits:\n"
                                   "  max_connections: 10000\n"
                                   "  max_header_size: 16KiB\n"
                                   "  max_headers: 100\n"
                                   "  buffer_size: 64KiB\n"
                                   "  min_body_rate: 4KiB\n"
                                   "  splice_min: 128KiB\n"
                                   "timeouts:\n"
                                   "  client_header: 10s\n"
                                   "  client_idle: 1m\n"
                                   "  client_body: 1m\n"
                                   "  client_send: 1m\n"
                                   "  upstream_connect: 2s\n"
                                   "  upstream_header: 1m\n"
                                   "  upstream_read: 1m\n"
                                   "  upstream_idle: 30s\n"
                                   "  shutdown_grace: 30s\n"
                                   "  shutdown_delay: 0s\n"
                                   "pools:\n"
                                   "  - name: ceph\n"
                                   "    balance: round-robin\n"
                                   "    retries: 2\n"
                                   "    retry_budget: 20%\n"
                                   "    max_conns_per_node: 512\n"
                                   "    max_idle_per_node: 64\n"
                                   "    tls:\n"
                                   "      enabled: false\n"
                                   "      verify: true\n"
                                   "    health:\n"
                                   "      kind: http\n"
                                   "      interval: 1s\n"
                                   "      fast_interval: 250ms\n"
                                   "      timeout: 500ms\n"
                                   "      rise: 2\n"
                                   "      fall: 2\n"
                                   "      jitter: 10%\n"
                                   "      http:\n"
                                   "        method: GET\n"
                                   "        path: /\n"
                                   "        expect: [200-399]\n"
                                   "      s3:\n"
                                   "        region: us-east-1\n"
                                   "      passive:\n"
                                   "        failures: 3\n"
                                   "        backoff: 2s\n"
                                   "        max_backoff: 30s\n"
                                   "    nodes:\n"
                                   "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 1 }\n"
                                   "frontends:\n"
                                   "  - name: s3\n"
                                   "    listen:\n"
                                   "      - 127.0.0.1:8080\n"
                                   "    domains: []\n"
                                   "    x_forwarded_for: true\n"
                                   "    x_real_ip: false\n"
                                   "    routes:\n"
                                   "      - { pool: ceph }\n"
                                   "workers: auto\n"
                                   "dr_state: /run/s3lb/ipvs-owned\n"
                                   "drain_state: /var/lib/s3lb/drained\n"
                                   "dr: []\n";

/* A token file with `content` and `mode`; its path in `path` (the caller unlinks it). */
static void token_file(char *path, const char *content, mode_t mode)
{
	int fd;

	strcpy(path, "/tmp/s3lb-token-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* admin.token_file is read at load: its first line, from a file others cannot read. */
static void test_admin_token(void **state)
{
	static const struct {
		const char *content;
		mode_t mode;
		const char
		    *err; /* after "s3lb.yaml:11: admin.token_file: " and the path; NULL: ok */
	} cases[] = {
	    {"0123456789abcdef0123\n", 0600, NULL},
	    {"0123456789abcdef0123\r\nsecond line\n", 0640, NULL},
	    {"0123456789abcdef0123", 0400, NULL},
	    {"0123456789abcdef0123\n", 0644, "' is readable or writable by others (mode 0644)"},
	    {"0123456789abcdef0123\n", 0602, "' is readable or writable by others (mode 0602)"},
	    {"short\n", 0600, "' is 5 characters: a token needs at least 16"},
	    {"\n", 0600, "' is 0 characters: a token needs at least 16"},
	    {"0123456789 abcdef0123\n", 0600, "' must be printable ASCII without spaces"},
	};
	char path[64], yaml[512], err[512];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lb_config_t *cfg = NULL;
		int rc;

		token_file(path, cases[i].content, cases[i].mode);
		snprintf(yaml, sizeof(yaml),
		         MINIMAL "admin:\n  listen: 127.0.0.1:9901\n"
		                 "  token_file: %s\n",
		         path);
		rc = lb_config_load_string("s3lb.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));
		if (!cases[i].err) {
			if (rc < 0)
				fail_msg("case %zu: %s", i, err);
			assert_string_equal(cfg->admin_token, "0123456789abcdef0123");
			assert_string_equal(cfg->admin_token_file, path);
			lb_config_unref(cfg);
		} else {
			char want[256];
			snprintf(want, sizeof(want), "s3lb.yaml:11: admin.token_file: ");
			if (rc >= 0 || strncmp(err, want, strlen(want)) || !strstr(err, path) ||
			    !strstr(err, cases[i].err))
				fail_msg("case %zu: want ...%s..., got: %s", i, cases[i].err, err);
		}
		unlink(path);
	}
	/* a missing file, a directory */
	snprintf(yaml, sizeof(yaml), MINIMAL "admin:\n  token_file: /nonexistent/token\n");
	{
		lb_config_t *cfg = NULL;
		assert_true(lb_config_load_string("s3lb.yaml", yaml, strlen(yaml), &cfg, err,
		                                  sizeof(err)) < 0);
		assert_string_equal(err, "s3lb.yaml:10: admin.token_file: cannot open "
		                         "'/nonexistent/token': No such file or directory");
		snprintf(yaml, sizeof(yaml), MINIMAL "admin:\n  token_file: /tmp\n");
		assert_true(lb_config_load_string("s3lb.yaml", yaml, strlen(yaml), &cfg, err,
		                                  sizeof(err)) < 0);
		assert_string_equal(err,
		                    "s3lb.yaml:10: admin.token_file: '/tmp' is not a regular file");
	}
}

static void test_admin_keys(void **state)
{
	static const err_case_t cases[] = {
	    {MINIMAL "admin:\n  token: abcdefabcdefabcdef\n",
	     "s3lb.yaml:10: admin.token: not supported: the config file is printed by `s3lb "
	     "check` and is often readable by everyone; put the token in a file only s3lb and "
	     "its operators can read and set admin.token_file"},
	    {MINIMAL "admin:\n  allowed_hosts: [Admin.example]\n",
	     "s3lb.yaml:10: admin.allowed_hosts[0]: domain 'Admin.example' must be lowercase"},
	    {MINIMAL "admin:\n  allowed_hosts: [a.example, 'a.example:9901']\n",
	     "s3lb.yaml:10: admin.allowed_hosts[1]: domain 'a.example:9901' must not contain a "
	     "port"},
	    {MINIMAL "admin:\n  allowed_hosts: [a.example, a.example]\n",
	     "s3lb.yaml:10: admin.allowed_hosts[1]: duplicate 'a.example' (also "
	     "allowed_hosts[0])"},
	    {MINIMAL "admin:\n  allowed_origins: [grafana.example]\n",
	     "s3lb.yaml:10: admin.allowed_origins[0]: origin 'grafana.example' must be "
	     "http://HOST or https://HOST[:PORT]"},
	    {MINIMAL "admin:\n  allowed_origins: ['https://grafana.example/']\n",
	     "s3lb.yaml:10: admin.allowed_origins[0]: origin 'https://grafana.example/': "
	     "lowercase host and port only, no path or trailing '/'"},
	};
	lb_config_t *cfg;
	char *text;
	(void)state;

	run_err_cases(cases, sizeof(cases) / sizeof(cases[0]));
	cfg = load_ok(MINIMAL "admin:\n  allowed_hosts: [admin.example]\n"
	                      "  allowed_origins: ['https://grafana.example:3000']\n");
	assert_int_equal(cfg->nadmin_hosts, 1);
	assert_string_equal(cfg->admin_hosts[0], "admin.example");
	assert_int_equal(cfg->nadmin_origins, 1);
	assert_null(cfg->admin_token);
	text = dump_to_string(cfg);
	assert_non_null(strstr(text, "admin:\n  listen: 127.0.0.1:9901\n  allowed_hosts:\n"
	                             "    - admin.example\n  allowed_origins:\n"
	                             "    - https://grafana.example:3000\nlog:\n"));
	free(text);
	lb_config_unref(cfg);
}

static void test_dump_minimal(void **state)
{
	lb_config_t *cfg = load_ok(MINIMAL);
	char *text = dump_to_string(cfg);

	assert_string_equal(text, minimal_dump);
	free(text);
	lb_config_unref(cfg);
}

/* Every health key at the pool, and nodes that override some (or, rgw3, repeat the pool's). */
static const char health_yaml[] =
    "pools:\n"             /* 1 */
    "  - name: ceph\n"     /* 2 */
    "    health:\n"        /* 3 */
    "      kind: http\n"   /* 4 */
    "      interval: 2s\n" /* 5 */
    "      fast_interval: 500ms\n"
    "      timeout: 1500ms\n"
    "      rise: 3\n"
    "      fall: 4\n"
    "      jitter: 20%\n" /* 10 */
    "      http: { method: HEAD, path: /minio/health/ready, host: rgw.example,\n"
    "              expect: [\"200\", 2xx, 200-204, 500-599] }\n"
    "      s3: { bucket: canary, key: health/object, access_key: AK, secret_key: \"S K/+x\",\n"
    "            region: eu-west-1 }\n"
    "      passive: { failures: 0, backoff: 1s, max_backoff: 1m }\n" /* 15 */
    "    nodes:\n"
    "      - { name: rgw1, addr: 127.0.0.11:8000 }\n"
    "      - name: rgw2\n"
    "        addr: 127.0.0.12:8000\n"
    "        health: { http: { path: /other } }\n" /* 20 */
    "      - name: rgw3\n"
    "        addr: 127.0.0.13:8000\n"
    "        weight: 5\n"
    "        health:\n"
    "          kind: s3\n" /* 25 */
    "          interval: 3s\n"
    "          rise: 3\n"
    "          http: { expect: [204], path: /minio/health/ready }\n"
    "          s3: { key: other/object }\n"
    "          passive: { failures: 5 }\n" /* 30 */
    "  - name: tcp\n"
    "    health: { kind: tcp, s3: { bucket: ignored } }\n"
    "    nodes:\n"
    "      - { name: a, addr: 127.0.0.21:8000, health: { kind: none } }\n" FRONT;

/* The pools part of health_yaml's dump: the pool's section in full, a node's differences. */
static const char health_dump[] = "    health:\n"
                                  "      kind: http\n"
                                  "      interval: 2s\n"
                                  "      fast_interval: 500ms\n"
                                  "      timeout: 1500ms\n"
                                  "      rise: 3\n"
                                  "      fall: 4\n"
                                  "      jitter: 20%\n"
                                  "      http:\n"
                                  "        method: HEAD\n"
                                  "        path: /minio/health/ready\n"
                                  "        host: rgw.example\n"
                                  "        expect: [200, 2xx, 200-204, 5xx]\n"
                                  "      s3:\n"
                                  "        bucket: canary\n"
                                  "        key: health/object\n"
                                  "        access_key: AK\n"
                                  "        secret_key: \"S K/+x\"\n"
                                  "        region: eu-west-1\n"
                                  "      passive:\n"
                                  "        failures: 0\n"
                                  "        backoff: 1s\n"
                                  "        max_backoff: 1m\n"
                                  "    nodes:\n"
                                  "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 1 }\n"
                                  "      - name: rgw2\n"
                                  "        addr: 127.0.0.12:8000\n"
                                  "        weight: 1\n"
                                  "        health:\n"
                                  "          http:\n"
                                  "            path: /other\n"
                                  "      - name: rgw3\n"
                                  "        addr: 127.0.0.13:8000\n"
                                  "        weight: 5\n"
                                  "        health:\n"
                                  "          kind: s3\n"
                                  "          interval: 3s\n"
                                  "          http:\n"
                                  "            expect: [204]\n"
                                  "          s3:\n"
                                  "            key: other/object\n"
                                  "          passive:\n"
                                  "            failures: 5\n"
                                  "  - name: tcp\n";

static void test_health(void **state)
{
	lb_config_t *cfg = load_ok(health_yaml);
	const lb_pool_conf_t *p = &cfg->pools[0];
	const lb_health_conf_t *h = &p->health, *n2 = &p->nodes[1].health,
	                       *n3 = &p->nodes[2].health;
	char *text = dump_to_string(cfg);

	assert_int_equal(h->kind, LB_PROBE_HTTP);
	assert_int_equal(h->interval, 2000);
	assert_int_equal(h->fast_interval, 500);
	assert_int_equal(h->timeout, 1500);
	assert_int_equal(h->rise, 3);
	assert_int_equal(h->fall, 4);
	assert_int_equal(h->jitter_pct, 20);
	assert_string_equal(h->http_method, "HEAD");
	assert_string_equal(h->http_path, "/minio/health/ready");
	assert_string_equal(h->http_host, "rgw.example");
	assert_int_equal(h->nexpect, 4);
	assert_int_equal(h->expect[0].lo, 200);
	assert_int_equal(h->expect[0].hi, 200);
	assert_int_equal(h->expect[1].lo, 200);
	assert_int_equal(h->expect[1].hi, 299);
	assert_int_equal(h->expect[2].lo, 200);
	assert_int_equal(h->expect[2].hi, 204);
	assert_int_equal(h->expect[3].lo, 500);
	assert_int_equal(h->expect[3].hi, 599);
	assert_string_equal(h->s3_bucket, "canary");
	assert_string_equal(h->s3_key, "health/object");
	assert_string_equal(h->s3_access_key, "AK");
	assert_string_equal(h->s3_secret_key, "S K/+x");
	assert_string_equal(h->s3_region, "eu-west-1");
	assert_int_equal(h->passive_failures, 0);
	assert_int_equal(h->passive_backoff, 1000);
	assert_int_equal(h->passive_max_backoff, 60000);

	/* A node without a section gets a deep copy of the pool's. */
	assert_health_equal(&p->nodes[0].health, h);

	/* One key laid over the pool's; everything else inherited. */
	assert_string_equal(n2->http_path, "/other");
	assert_string_equal(n2->http_method, "HEAD");
	assert_string_equal(n2->http_host, "rgw.example");
	assert_int_equal(n2->interval, 2000);
	assert_int_equal(n2->nexpect, 4);

	/* expect replaces the whole list; the s3 keys merge one by one. */
	assert_int_equal(n3->kind, LB_PROBE_S3);
	assert_int_equal(n3->interval, 3000);
	assert_int_equal(n3->fast_interval, 500);
	assert_int_equal(n3->timeout, 1500);
	assert_int_equal(n3->rise, 3);
	assert_int_equal(n3->fall, 4);
	assert_int_equal(n3->nexpect, 1);
	assert_int_equal(n3->expect[0].lo, 204);
	assert_int_equal(n3->expect[0].hi, 204);
	assert_string_equal(n3->s3_bucket, "canary");
	assert_string_equal(n3->s3_key, "other/object");
	assert_string_equal(n3->s3_secret_key, "S K/+x");
	assert_int_equal(n3->passive_failures, 5);
	assert_int_equal(n3->passive_backoff, 1000);
	assert_int_equal(p->nodes[2].weight, 5);

	/* s3 keys are allowed, and kept, with another kind. */
	assert_int_equal(cfg->pools[1].health.kind, LB_PROBE_TCP);
	assert_string_equal(cfg->pools[1].health.s3_bucket, "ignored");
	assert_int_equal(cfg->pools[1].nodes[0].health.kind, LB_PROBE_NONE);

	assert_non_null(strstr(text, health_dump));
	assert_non_null(strstr(text, "  - name: tcp\n"
	                             "    balance: round-robin\n"));
	assert_non_null(strstr(text, "      kind: tcp\n"));
	assert_non_null(strstr(text, "      - name: a\n"
	                             "        addr: 127.0.0.21:8000\n"
	                             "        weight: 1\n"
	                             "        health:\n"
	                             "          kind: none\n"
	                             "frontends:\n"));
	free(text);
	lb_config_unref(cfg);
}

/* A fast_interval that a section does not set follows a smaller interval down; one it sets
 * must not exceed it (see test_errors_health). */
static void test_health_fast_interval_follows(void **state)
{
	lb_config_t *cfg = load_ok("pools:\n"
	                           "  - name: ceph\n"
	                           "    health: { interval: 200ms, timeout: 100ms }\n"
	                           "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n"
	                           "  - name: b\n"
	                           "    health: { fast_interval: 400ms }\n"
	                           "    nodes:\n"
	                           "      - { name: n1, addr: 127.0.0.11:8000 }\n"
	                           "      - name: n2\n"
	                           "        addr: 127.0.0.12:8000\n"
	                           "        health: { interval: 300ms, timeout: 100ms }\n" FRONT);

	assert_int_equal(cfg->pools[0].health.fast_interval, 200);
	assert_int_equal(cfg->pools[0].nodes[0].health.fast_interval, 200);
	assert_int_equal(cfg->pools[1].health.fast_interval, 400);
	assert_int_equal(cfg->pools[1].nodes[0].health.fast_interval, 400);
	assert_int_equal(cfg->pools[1].nodes[1].health.fast_interval, 300);
	lb_config_unref(cfg);
}

/* Both kinds of DR service, both families, every key; the frontend shares the VIPs' address on
 * other ports, and a service without upper_threshold may set lower_threshold. */
static const char dr_yaml[] =
    "pools:\n"                                       /* 1 */
    "  - name: ceph\n"                               /* 2 */
    "    nodes:\n"                                   /* 3 */
    "      - { name: rgw1, addr: 10.0.0.11:8000 }\n" /* 4 */
    "      - { name: rgw2, addr: 10.0.0.12:8000 }\n" /* 5 */
    "  - name: v6\n"                                 /* 6 */
    "    nodes: [{ name: rgw1, addr: \"[2001:db8::11]:8000\" }]\n"
    "frontends:\n"   /* 8 */
    "  - name: s3\n" /* 9 */
    "    listen: [192.0.2.10:8080, \"[2001:db8::10]:80\"]\n"
    "    routes: [{ pool: ceph }]\n"       /* 11 */
    "dr_state: /var/lib/s3lb/ipvs-owned\n" /* 12 */
    "dr:\n"                                /* 13 */
    "  - vip: 192.0.2.10:80\n"             /* 14 */
    "    pool: ceph\n"                     /* 15 */
    "  - vip: \"[2001:db8:0::10]:443\"\n"  /* 16 */
    "    pool: v6\n"                       /* 17 */
    "    scheduler: wlc\n"                 /* 18 */
    "    mh_fallback: no\n"                /* 19 */
    "    mh_port: yes\n"                   /* 20 */
    "    persistence: 300s\n"              /* 21 */
    "    upper_threshold: 100\n"           /* 22 */
    "    lower_threshold: 100\n"           /* 23 */
    "  - { fwmark: 7, port: 80, pool: ceph, scheduler: sh, persistence: 0s }\n"
    "  - fwmark: 7\n"          /* 25 */
    "    family: ipv6\n"       /* 26 */
    "    port: 8080\n"         /* 27 */
    "    pool: v6\n"           /* 28 */
    "    lower_threshold: 5\n" /* 29 */
    "  - { fwmark: 4294967295, family: ipv4, port: 65535, pool: ceph, scheduler: rr }\n";

/* The dr part of dr_yaml's dump: every key of every service, defaults filled in. */
static const char dr_dump[] = "dr_state: /var/lib/s3lb/ipvs-owned\n"
                              "drain_state: /var/lib/s3lb/drained\n"
                              "dr:\n"
                              "  - vip: 192.0.2.10:80\n"
                              "    pool: ceph\n"
                              "    scheduler: mh\n"
                              "    mh_fallback: true\n"
                              "    mh_port: false\n"
                              "    persistence: 0s\n"
                              "    upper_threshold: 0\n"
                              "    lower_threshold: 0\n"
                              "  - vip: \"[2001:db8::10]:443\"\n"
                              "    pool: v6\n"
                              "    scheduler: wlc\n"
                              "    mh_fallback: false\n"
                              "    mh_port: true\n"
                              "    persistence: 5m\n"
                              "    upper_threshold: 100\n"
                              "    lower_threshold: 100\n"
                              "  - fwmark: 7\n"
                              "    family: ipv4\n"
                              "    port: 80\n"
                              "    pool: ceph\n"
                              "    scheduler: sh\n"
                              "    mh_fallback: true\n"
                              "    mh_port: false\n"
                              "    persistence: 0s\n"
                              "    upper_threshold: 0\n"
                              "    lower_threshold: 0\n"
                              "  - fwmark: 7\n"
                              "    family: ipv6\n"
                              "    port: 8080\n"
                              "    pool: v6\n"
                              "    scheduler: mh\n"
                              "    mh_fallback: true\n"
                              "    mh_port: false\n"
                              "    persistence: 0s\n"
                              "    upper_threshold: 0\n"
                              "    lower_threshold: 5\n"
                              "  - fwmark: 4294967295\n"
                              "    family: ipv4\n"
                              "    port: 65535\n"
                              "    pool: ceph\n"
                              "    scheduler: rr\n"
                              "    mh_fallback: true\n"
                              "    mh_port: false\n"
                              "    persistence: 0s\n"
                              "    upper_threshold: 0\n"
                              "    lower_threshold: 0\n";

/* Equal values (line aside: a dump puts a service on another line). */
static void assert_dr_equal(const lb_dr_conf_t *a, const lb_dr_conf_t *b)
{
	assert_int_equal(a->has_vip, b->has_vip);
	assert_string_equal(a->vip.text, b->vip.text);
	assert_int_equal(a->fwmark, b->fwmark);
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->pool, b->pool);
	assert_string_equal(a->scheduler, b->scheduler);
	assert_int_equal(a->mh_fallback, b->mh_fallback);
	assert_int_equal(a->mh_port, b->mh_port);
	assert_int_equal(a->persistence, b->persistence);
	assert_int_equal(a->upper_threshold, b->upper_threshold);
	assert_int_equal(a->lower_threshold, b->lower_threshold);
}

static void test_dr(void **state)
{
	/* In dr_yaml's order: a vip service with every default; one with every key set (its vip
	 * in canonical form); fwmark services, ipv4 by default, the same mark in each family being
	 * two services, lower_threshold allowed without upper_threshold; the largest mark. */
	static const lb_dr_conf_t want[] = {
	    {true,
	     {.text = "192.0.2.10:80"},
	     0,
	     AF_INET,
	     80,
	     0,
	     "mh",
	     true,
	     false,
	     0,
	     0,
	     0,
	     {false, 0},
	     14},
	    {true,
	     {.text = "[2001:db8::10]:443"},
	     0,
	     AF_INET6,
	     443,
	     1,
	     "wlc",
	     false,
	     true,
	     300000,
	     100,
	     100,
	     {false, 0},
	     16},
	    {false, {.text = ""}, 7, AF_INET, 80, 0, "sh", true, false, 0, 0, 0, {false, 0}, 24},
	    {false, {.text = ""}, 7, AF_INET6, 8080, 1, "mh", true, false, 0, 0, 5, {false, 0}, 25},
	    {false,
	     {.text = ""},
	     UINT32_MAX,
	     AF_INET,
	     65535,
	     0,
	     "rr",
	     true,
	     false,
	     0,
	     0,
	     0,
	     {false, 0},
	     30},
	};
	lb_config_t *cfg = load_ok(dr_yaml);
	char *text = dump_to_string(cfg);
	const char *tail = strstr(text, "dr_state:");

	assert_string_equal(cfg->dr_state, "/var/lib/s3lb/ipvs-owned");
	assert_int_equal(cfg->ndr, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < cfg->ndr; i++) {
		assert_dr_equal(&cfg->dr[i], &want[i]);
		assert_int_equal(cfg->dr[i].line, want[i].line);
	}
	assert_non_null(tail);
	assert_string_equal(tail, dr_dump);
	free(text);
	lb_config_unref(cfg);
}

/* dr_sync: absent (left out of the dump, the daemons left alone), the defaults, every key. */
static void test_dr_sync(void **state)
{
	lb_config_t *cfg = load_ok(MINIMAL);
	char *text = dump_to_string(cfg);

	assert_false(cfg->dr_sync.enabled);
	assert_null(strstr(text, "dr_sync"));
	free(text);
	lb_config_unref(cfg);

	cfg = load_ok(MINIMAL "dr_sync: { interface: eth1 }\n");
	assert_true(cfg->dr_sync.enabled);
	assert_string_equal(cfg->dr_sync.interface, "eth1");
	assert_int_equal(cfg->dr_sync.sync_id, 0);
	assert_int_equal(cfg->dr_sync.role, LB_SYNC_AUTO);
	assert_string_equal(cfg->dr_sync.state_file, "/run/s3lb/vrrp-state");
	assert_null(cfg->dr_sync.mcast_group);
	assert_int_equal(cfg->dr_sync.mcast_port, 0);
	assert_int_equal(cfg->dr_sync.mcast_ttl, 0);
	text = dump_to_string(cfg);
	assert_non_null(strstr(text, "dr_sync:\n  interface: eth1\n  sync_id: 0\n  role: auto\n"
	                             "  state_file: /run/s3lb/vrrp-state\n  mcast_port: 0\n"
	                             "  mcast_ttl: 0\n"));
	free(text);
	lb_config_unref(cfg);

	cfg = load_ok(MINIMAL "dr_sync:\n  interface: bond0.42\n  sync_id: 255\n  role: master\n"
	                      "  state_file: /run/keepalived/s3lb\n  mcast_group: \"ff02::81\"\n"
	                      "  mcast_port: 9000\n  mcast_ttl: 2\n");
	assert_string_equal(cfg->dr_sync.interface, "bond0.42");
	assert_int_equal(cfg->dr_sync.sync_id, 255);
	assert_int_equal(cfg->dr_sync.role, LB_SYNC_MASTER);
	assert_string_equal(cfg->dr_sync.state_file, "/run/keepalived/s3lb");
	assert_string_equal(cfg->dr_sync.mcast_group, "ff02::81");
	assert_int_equal(cfg->dr_sync.mcast_port, 9000);
	assert_int_equal(cfg->dr_sync.mcast_ttl, 2);
	lb_config_unref(cfg);

	cfg =
	    load_ok(MINIMAL "dr_sync: { interface: eth1, role: backup, mcast_group: 239.0.0.9 }\n");
	assert_int_equal(cfg->dr_sync.role, LB_SYNC_BACKUP);
	assert_string_equal(cfg->dr_sync.mcast_group, "239.0.0.9");
	lb_config_unref(cfg);
}

/* An L4-only director (the tier in front of gateways): dr: services and no frontend. */
static void test_dr_only_director(void **state)
{
	lb_config_t *cfg = load_ok(POOL "dr: [{ vip: 10.0.0.1:8000, pool: ceph }]\n");

	(void)state;
	assert_int_equal(cfg->nfrontends, 0);
	assert_int_equal(cfg->ndr, 1);
	lb_config_unref(cfg);
	cfg = load_ok(POOL "frontends: []\ndr: [{ vip: 10.0.0.1:8000, pool: ceph }]\n");
	assert_int_equal(cfg->nfrontends, 0);
	lb_config_unref(cfg);
}

/* A vip may take the admin listener's default address once the admin listener is off. */
static void test_dr_admin_off(void **state)
{
	lb_config_t *cfg = load_ok("admin: { listen: off }\n" MINIMAL
	                           "dr: [{ vip: 127.0.0.1:9901, pool: ceph }]\n");

	assert_int_equal(cfg->ndr, 1);
	assert_string_equal(cfg->dr[0].vip.text, "127.0.0.1:9901");
	lb_config_unref(cfg);
}

/* load -> dump -> load -> dump gives the same text, and the same values. */
static void test_dump_round_trip(void **state)
{
	static const char *const inputs[] = {
	    MINIMAL,
	    full_yaml,
	    "admin: { listen: off }\n" MINIMAL,
	    health_yaml,
	    dr_yaml,
	    POOL "dr: [{ vip: 10.0.0.1:8000, pool: ceph }]\n",
	    MINIMAL "dr_sync: { interface: eth1, sync_id: 3, role: backup, mcast_group: 239.0.0.9, "
	            "mcast_port: 9000, mcast_ttl: 2 }\n"};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		lb_config_t *a = load_ok(inputs[i]);
		char *text_a = dump_to_string(a);
		lb_config_t *b = load_ok(text_a);
		char *text_b = dump_to_string(b);

		assert_string_equal(text_a, text_b);
		assert_int_equal(a->admin_enabled, b->admin_enabled);
		assert_memory_equal(&a->limits, &b->limits, sizeof(a->limits));
		assert_memory_equal(&a->timeouts, &b->timeouts, sizeof(a->timeouts));
		assert_int_equal(a->nfrontends, b->nfrontends);
		if (a->nfrontends)
			assert_int_equal(a->frontends[0].routes[0].ops,
			                 b->frontends[0].routes[0].ops);
		assert_int_equal(a->npools, b->npools);
		for (size_t k = 0; k < a->npools; k++) {
			assert_int_equal(a->pools[k].nnodes, b->pools[k].nnodes);
			assert_health_equal(&a->pools[k].health, &b->pools[k].health);
			for (size_t m = 0; m < a->pools[k].nnodes; m++)
				assert_health_equal(&a->pools[k].nodes[m].health,
				                    &b->pools[k].nodes[m].health);
		}
		assert_string_equal(a->dr_state, b->dr_state);
		assert_int_equal(a->dr_sync.enabled, b->dr_sync.enabled);
		assert_int_equal(a->dr_sync.sync_id, b->dr_sync.sync_id);
		assert_int_equal(a->dr_sync.role, b->dr_sync.role);
		assert_int_equal(a->dr_sync.mcast_port, b->dr_sync.mcast_port);
		assert_int_equal(a->ndr, b->ndr);
		for (size_t k = 0; k < a->ndr; k++)
			assert_dr_equal(&a->dr[k], &b->dr[k]);
		free(text_a);
		free(text_b);
		lb_config_unref(a);
		lb_config_unref(b);
	}
}

/* The smallest buffer, with the largest head limit it can enforce (one byte less: see
 * test_errors_values). */
static void test_limits_smallest_buffer(void **state)
{
	lb_config_t *cfg =
	    load_ok(MINIMAL "limits: { buffer_size: 4KiB, max_header_size: 4095 }\n");

	assert_int_equal(cfg->limits.buffer_size, 4096);
	assert_int_equal(cfg->limits.max_header_size, 4095);
	lb_config_unref(cfg);
}

/* Without max_idle_per_node, its default (64) gives way to a smaller max_conns_per_node. */
static void test_idle_default_clamped(void **state)
{
	lb_config_t *cfg = load_ok("pools:\n  - name: ceph\n    max_conns_per_node: 10\n"
	                           "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT);

	assert_int_equal(cfg->pools[0].max_conns_per_node, 10);
	assert_int_equal(cfg->pools[0].max_idle_per_node, 10);
	lb_config_unref(cfg);
}

static void test_admin_off(void **state)
{
	/* With the admin listener off, a frontend may take its default address. */
	lb_config_t *cfg = load_ok("admin:\n  listen: off\n" POOL "frontends:\n  - name: s3\n"
	                           "    listen: [127.0.0.1:9901]\n    routes: [{ pool: ceph }]\n");

	assert_false(cfg->admin_enabled);
	assert_string_equal(cfg->frontends[0].listen[0].text, "127.0.0.1:9901");
	lb_config_unref(cfg);
}

/* Aliases are YAML; lines inside an aliased subtree fall back to the alias's line. */
static void test_alias(void **state)
{
	lb_config_t *cfg = load_ok("pools:\n"
	                           "  - name: ceph\n"
	                           "    nodes: &n [{ name: rgw1, addr: 127.0.0.11:8000 }]\n"
	                           "  - name: b\n"
	                           "    nodes: *n\n" FRONT);

	assert_int_equal(cfg->npools, 2);
	assert_string_equal(cfg->pools[1].nodes[0].addr.text, "127.0.0.11:8000");
	assert_int_equal(cfg->pools[1].nodes[0].line, 5);
	lb_config_unref(cfg);
}

static void test_errors_structure(void **state)
{
	static const err_case_t cases[] = {
	    {MINIMAL "colour: blue\n", "s3lb.yaml:9: colour: unknown key"},
	    {MINIMAL "timeouts:\n  client_timeout: 5s\n",
	     "s3lb.yaml:10: timeouts.client_timeout: unknown key"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    nodes:\n"
	     "      - name: rgw1\n"
	     "        addr: 127.0.0.11:8000\n"
	     "      - name: rgw2\n"
	     "        adr: 127.0.0.12:8000\n" FRONT,
	     "s3lb.yaml:7: pools[0].nodes[1].adr: unknown key"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    tls: { enabled: true, cafile: /ca.pem }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].tls.cafile: unknown key"},
	    {MINIMAL "a.b: 1\n", "s3lb.yaml:9: yaml: unknown key 'a.b'"},
	    {"pools:\n  - name: ceph\n    nodes:\n      - name rgw1: x\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0]: unknown key 'name rgw1'"},
	    {MINIMAL "log:\n  level: info\n  level: debug\n",
	     "s3lb.yaml:11: log.level: duplicate key (first at line 10)"},
	    {MINIMAL "log:\n  level: info\nlog:\n  level: warn\n",
	     "s3lb.yaml:11: log: duplicate key (first at line 9)"},
	    {"pools:\n  - name: ceph\n    nodes: rgw1\n" FRONT,
	     "s3lb.yaml:3: pools[0].nodes: expected a list, got a single value"},
	    {POOL
	     "frontends:\n  - name: s3\n    listen: 127.0.0.1:8080\n    routes: [{pool: ceph}]\n",
	     "s3lb.yaml:7: frontends[0].listen: expected a list, got a single value"},
	    {MINIMAL "admin: [127.0.0.1:9901]\n",
	     "s3lb.yaml:9: admin: expected a mapping, got a list"},
	    {MINIMAL "log:\n  level: [info]\n",
	     "s3lb.yaml:10: log.level: expected a single value, got a list"},
	    {"- pools\n", "s3lb.yaml:1: yaml: expected a mapping, got a list"},
	    {"just text\n", "s3lb.yaml:1: yaml: expected a mapping, got a single value"},
	    {MINIMAL "---\nlog: {}\n", "s3lb.yaml:9: yaml: only one YAML document is allowed"},
	    {"pools:\n  - name: ceph\n    nodes: *nodes\n" FRONT,
	     "s3lb.yaml:3: pools[0].nodes: unknown alias 'nodes'"},
	    {MINIMAL "? [a, b]\n: c\n", "s3lb.yaml:9: yaml: mapping keys must be plain strings"},
	};

	RUN_CASES(cases);
}

static void test_errors_syntax(void **state)
{
	static const err_case_t cases[] = {
	    {MINIMAL "timeouts:\n\tclient_idle: 5s\n",
	     "s3lb.yaml:10: yaml: syntax error: found character that cannot start any token"},
	    {"pools:\n  - name: ceph\n  nodes\n: x\n",
	     "s3lb.yaml:3: yaml: syntax error: could not find expected ':'"},
	    {MINIMAL "log:\n  level: info\n access: stdout\n",
	     "s3lb.yaml:11: yaml: syntax error: did not find expected key (while parsing a block "
	     "mapping from line 1)"},
	    {POOL "frontends:\n  - name: s3\n    listen: [127.0.0.1:8080\n    routes: []\n",
	     "s3lb.yaml:8: yaml: syntax error: did not find expected ',' or ']' (while parsing a "
	     "flow sequence from line 7)"},
	    {MINIMAL "log: {level: \"info}\n",
	     "s3lb.yaml:10: yaml: syntax error: found unexpected end of stream (while scanning a "
	     "quoted scalar from line 9)"},
	};

	RUN_CASES(cases);
}

static void test_errors_required(void **state)
{
	static const err_case_t cases[] = {
	    {"", "s3lb.yaml:1: pools: at least one pool is required"},
	    {"# nothing\n", "s3lb.yaml:1: pools: at least one pool is required"},
	    {"log:\n  level: info\n" FRONT, "s3lb.yaml:1: pools: at least one pool is required"},
	    {"log: {}\npools: []\n" FRONT, "s3lb.yaml:2: pools: at least one pool is required"},
	    {POOL, "s3lb.yaml:1: frontends: at least one frontend (or a dr: service) is required"},
	    {POOL "frontends: []\n",
	     "s3lb.yaml:5: frontends: at least one frontend (or a dr: service) is required"},
	    {POOL "dr: []\n",
	     "s3lb.yaml:1: frontends: at least one frontend (or a dr: service) is required"},
	    {"pools:\n  - name: ceph\n" FRONT,
	     "s3lb.yaml:2: pools[0].nodes: at least one node is required"},
	    {"pools:\n  - nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:2: pools[0].name: missing"},
	    {"pools:\n  - name: ceph\n    nodes:\n      - { name: rgw1 }\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].addr: missing"},
	    {"pools:\n  - name: ceph\n    nodes:\n      - addr: 127.0.0.11:8000\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].name: missing"},
	    {POOL "frontends:\n  - name: s3\n    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:6: frontends[0].listen: at least one address is required"},
	    {POOL "frontends:\n  - name: s3\n    listen: []\n    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:7: frontends[0].listen: at least one address is required"},
	    {POOL "frontends:\n  - name: s3\n    listen: [127.0.0.1:8080]\n",
	     "s3lb.yaml:6: frontends[0].routes: at least one route is required"},
	    {POOL "frontends:\n  - listen: [127.0.0.1:8080]\n    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:6: frontends[0].name: missing"},
	    {POOL "frontends:\n  - name: s3\n    listen: [127.0.0.1:8080]\n"
	          "    routes:\n      - bucket: logs\n",
	     "s3lb.yaml:9: frontends[0].routes[0].pool: missing"},
	};

	RUN_CASES(cases);
}

static void test_errors_values(void **state)
{
	static const err_case_t cases[] = {
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    nodes:\n"
	     "      - name: rgw1\n"
	     "        addr: 10.0.0.1\n" FRONT,
	     "s3lb.yaml:5: pools[0].nodes[0].addr: invalid address '10.0.0.1' (missing port)"},
	    {"pools:\n  - name: ceph\n    nodes: [{ name: rgw1, addr: \"rgw1:80\" }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].nodes[0].addr: invalid address 'rgw1:80' (the host must be a "
	     "numeric IP address: no DNS at load time)"},
	    {MINIMAL "admin:\n  listen: 127.0.0.1:0\n",
	     "s3lb.yaml:10: admin.listen: invalid address '127.0.0.1:0' (port out of range: 1 to "
	     "65535)"},
	    {POOL "frontends:\n  - name: s3\n    listen:\n      - 127.0.0.1:8080\n      - ::1:80\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:9: frontends[0].listen[1]: invalid address '::1:80' (an IPv6 address "
	     "needs brackets, as in [::1]:80)"},
	    {MINIMAL "timeouts:\n  client_idle: 60\n",
	     "s3lb.yaml:10: timeouts.client_idle: invalid duration '60' (missing unit: use ms, s, "
	     "m or h)"},
	    {MINIMAL "timeouts:\n  upstream_read: 1.5ms\n",
	     "s3lb.yaml:10: timeouts.upstream_read: invalid duration '1.5ms' (not a whole number "
	     "of milliseconds)"},
	    {MINIMAL "timeouts:\n  upstream_connect: 0s\n",
	     "s3lb.yaml:10: timeouts.upstream_connect: must be at least 1ms"},
	    {MINIMAL "timeouts:\n  shutdown_grace: 0ms\n",
	     "s3lb.yaml:10: timeouts.shutdown_grace: must be at least 1ms"},
	    {MINIMAL "limits:\n  buffer_size: 64KB\n",
	     "s3lb.yaml:10: limits.buffer_size: invalid size '64KB' (unknown unit: use B, KiB, "
	     "MiB, GiB, TiB, kB, MB, GB or TB)"},
	    {MINIMAL "limits:\n  max_header_size: 0\n",
	     "s3lb.yaml:10: limits.max_header_size: must be between 1 and 1GiB"},
	    {MINIMAL "limits:\n  buffer_size: 2GiB\n",
	     "s3lb.yaml:10: limits.buffer_size: must be between 4KiB and 1GiB"},
	    /* A buffer smaller than a head: every request timed out (408) instead of a 431. */
	    {MINIMAL "limits:\n  buffer_size: 1\n",
	     "s3lb.yaml:10: limits.buffer_size: must be between 4KiB and 1GiB"},
	    {MINIMAL "limits:\n  buffer_size: 4095\n",
	     "s3lb.yaml:10: limits.buffer_size: must be between 4KiB and 1GiB"},
	    {MINIMAL "limits:\n  max_header_size: 1MiB\n",
	     "s3lb.yaml:10: limits.max_header_size: must be less than buffer_size (64KiB)"},
	    {MINIMAL "limits:\n  buffer_size: 16KiB\n",
	     "s3lb.yaml:10: limits.buffer_size: must be greater than max_header_size (16KiB)"},
	    {MINIMAL "limits:\n  buffer_size: 8KiB\n  max_header_size: 8KiB\n",
	     "s3lb.yaml:11: limits.max_header_size: must be less than buffer_size (8KiB)"},
	    {MINIMAL "limits:\n  max_connections: 10k\n",
	     "s3lb.yaml:10: limits.max_connections: invalid number '10k' (expected a whole "
	     "number)"},
	    {MINIMAL "limits:\n  max_headers: -1\n",
	     "s3lb.yaml:10: limits.max_headers: invalid number '-1' (expected a whole number)"},
	    {MINIMAL "limits:\n  max_connections: 0\n",
	     "s3lb.yaml:10: limits.max_connections: must be at least 1"},
	    {MINIMAL "limits:\n  max_connections: 4294967296\n",
	     "s3lb.yaml:10: limits.max_connections: must be at most 4294967295"},
	    {MINIMAL "workers: 0\n",
	     "s3lb.yaml:9: workers: invalid value '0' (auto, or a number from 1 to 1024)"},
	    {MINIMAL "workers: many\n",
	     "s3lb.yaml:9: workers: invalid value 'many' (auto, or a number from 1 to 1024)"},
	    {MINIMAL "workers: 1025\n",
	     "s3lb.yaml:9: workers: invalid value '1025' (auto, or a number from 1 to 1024)"},
	    {MINIMAL "workers: [2]\n", "s3lb.yaml:9: workers: expected a single value, got a list"},
	    {MINIMAL "log:\n  level: verbose\n",
	     "s3lb.yaml:10: log.level: invalid level 'verbose' (expected error, warn, info or "
	     "debug)"},
	    {MINIMAL "log:\n  access: \"\"\n", "s3lb.yaml:10: log.access: must not be empty"},
	    {MINIMAL "log:\n  error: off\n",
	     "s3lb.yaml:10: log.error: invalid value 'off' (expected stderr or a file path)"},
	    {MINIMAL "log:\n  error: stdout\n",
	     "s3lb.yaml:10: log.error: invalid value 'stdout' (expected stderr or a file path)"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    balance: random\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].balance: invalid balance 'random' (expected round-robin, "
	     "least-requests or hash-key)"},
	    {"pools:\n  - name: ceph\n    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 0 }\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].weight: must be between 1 and 1000"},
	    {"pools:\n  - name: ceph\n    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000 }\n"
	     "      - { name: rgw2, addr: 127.0.0.12:8000, weight: 1001 }\n" FRONT,
	     "s3lb.yaml:5: pools[0].nodes[1].weight: must be between 1 and 1000"},
	    {"pools:\n  - name: ceph\n    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 0x10 }\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].weight: invalid number '0x10' (expected a whole "
	     "number)"},
	    {"pools:\n  - name: ceph\n    retry_budget: 101%\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].retry_budget: must be between 0% and 100%"},
	    {"pools:\n  - name: ceph\n    retry_budget: lots\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].retry_budget: invalid percentage 'lots' (expected 0 to 100, "
	     "as 20%)"},
	    {"pools:\n  - name: ceph\n    max_conns_per_node: 10\n    max_idle_per_node: 11\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:4: pools[0].max_idle_per_node: must not exceed max_conns_per_node (10)"},
	    {"pools:\n  - name: ceph\n    tls:\n      enabled: ture\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:4: pools[0].tls.enabled: invalid boolean 'ture' (expected true or false)"},
	    {"pools:\n  - name: ceph\n    tls: { ca: \"\" }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].tls.ca: must not be empty"},
	    {POOL "frontends:\n  - name: s3\n    listen: [127.0.0.1:8080]\n"
	          "    x_forwarded_for: maybe\n    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].x_forwarded_for: invalid boolean 'maybe' (expected true "
	     "or false)"},
	    {"pools:\n  - name: my pool\n    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 "
	     "}]\n" FRONT,
	     "s3lb.yaml:2: pools[0].name: invalid name 'my pool' (letters, digits, '.', '_' and "
	     "'-' only)"},
	    {"pools:\n  - name: \"\"\n    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:2: pools[0].name: must be 1 to 64 characters"},
	    {"pools:\n  - name: ceph\n    nodes: [{ name: \"rgw\\n1\", addr: 127.0.0.11:8000 "
	     "}]\n" FRONT,
	     "s3lb.yaml:3: pools[0].nodes[0].name: invalid name 'rgw?1' (letters, digits, '.', "
	     "'_' and '-' only)"},
	};

	RUN_CASES(cases);
}

static void test_errors_duplicates(void **state)
{
	static const err_case_t cases[] = {
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    nodes: [{ name: a, addr: 127.0.0.11:8000 }]\n"
	     "  - name: ceph\n"
	     "    nodes: [{ name: a, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:4: pools[1].name: duplicate pool name 'ceph' (first at line 2)"},
	    {"pools:\n  - name: ceph\n    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000 }\n"
	     "      - { name: rgw2, addr: 127.0.0.12:8000 }\n"
	     "      - { name: rgw1, addr: 127.0.0.13:8000 }\n" FRONT,
	     "s3lb.yaml:6: pools[0].nodes[2].name: duplicate node name 'rgw1' (first at line 4)"},
	    {"pools:\n  - name: ceph\n    nodes:\n"
	     "      - { name: rgw1, addr: \"[::1]:8000\" }\n"
	     "      - name: rgw2\n"
	     "        addr: \"[0:0::1]:8000\"\n" FRONT,
	     "s3lb.yaml:6: pools[0].nodes[1].addr: duplicate node address [::1]:8000 (also node "
	     "'rgw1')"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes: [{ pool: ceph }]\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8081]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:9: frontends[1].name: duplicate frontend name 's3' (first at line 6)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080, 127.0.0.1:8080]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:7: frontends[0].listen[1]: address 127.0.0.1:8080 is already used by "
	     "frontends[0].listen[0]"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes: [{ pool: ceph }]\n"
	          "  - name: s3b\n"
	          "    listen:\n"
	          "      - 127.0.0.1:8081\n"
	          "      - 127.0.0.1:8080\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:12: frontends[1].listen[1]: address 127.0.0.1:8080 is already used by "
	     "frontends[0].listen[0]"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:9901]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:7: frontends[0].listen[0]: address 127.0.0.1:9901 is already used by "
	     "admin.listen"},
	    {"admin:\n  listen: \"[::1]:80\"\n" POOL "frontends:\n"
	     "  - name: s3\n"
	     "    listen: [\"[0::1]:80\"]\n"
	     "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:9: frontends[0].listen[0]: address [::1]:80 is already used by "
	     "admin.listen"},
	};

	RUN_CASES(cases);
}

static void test_errors_frontend(void **state)
{
	static const err_case_t cases[] = {
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes:\n"
	          "      - pool: ceph\n"
	          "      - pool: x\n",
	     "s3lb.yaml:10: frontends[0].routes[1].pool: unknown pool 'x'"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    tls:\n"
	          "      cert: /etc/cert.pem\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].tls.key: missing (tls needs both cert and key)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    tls: { key: /etc/key.pem }\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].tls.cert: missing (tls needs both cert and key)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains:\n"
	          "      - s3.local\n"
	          "      - s3.local:8080\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:10: frontends[0].domains[1]: domain 's3.local:8080' must not contain a "
	     "port"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains: [S3.Local]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].domains[0]: domain 'S3.Local' must be lowercase"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains: [.s3.local]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].domains[0]: domain '.s3.local' must not start or end "
	     "with '.'"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains: [\"s3_local\"]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].domains[0]: invalid domain 's3_local' (letters, digits, "
	     "'.' and '-' only)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains: [a.local, b.local, a.local]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].domains[2]: duplicate domain 'a.local' (also domains[0])"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    domains: [\"\"]\n"
	          "    routes: [{ pool: ceph }]\n",
	     "s3lb.yaml:8: frontends[0].domains[0]: must not be empty"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes:\n"
	          "      - { op: [read, get], pool: ceph }\n",
	     "s3lb.yaml:9: frontends[0].routes[0].op[1]: unknown operation 'get' (expected read, "
	     "write, delete, list, bucket, mpu-create, mpu-part, mpu-complete, mpu-abort, "
	     "multipart or other)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes:\n"
	          "      - { op: [], pool: ceph }\n",
	     "s3lb.yaml:9: frontends[0].routes[0].op: empty list (leave op out to match every "
	     "operation)"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes:\n"
	          "      - { bucket: \"\", pool: ceph }\n",
	     "s3lb.yaml:9: frontends[0].routes[0].bucket: must not be empty"},
	    {POOL "frontends:\n"
	          "  - name: s3\n"
	          "    listen: [127.0.0.1:8080]\n"
	          "    routes:\n"
	          "      - pool: ceph\n"
	          "        host: \"*.Internal\"\n",
	     "s3lb.yaml:10: frontends[0].routes[0].host: host glob '*.Internal' must be lowercase"},
	};

	RUN_CASES(cases);
}

/* MINIMAL, then `dr:` at line 9: the first service starts at line 10. */
#define DR_HEAD MINIMAL "dr:\n"
/* MINIMAL with a second frontend (lines 9-11). */
#define DR_FRONTS                                                                                  \
	POOL FRONT "  - name: s3b\n"                                                               \
	           "    listen: [127.0.0.1:8081]\n"                                                \
	           "    routes: [{ pool: ceph }]\n"
/* POOL and a frontend listening on LISTEN; `dr:` at line 9. */
#define DR_WILD(listen)                                                                            \
	POOL "frontends:\n"                                                                        \
	     "  - name: s3\n"                                                                      \
	     "    listen: [" listen "]\n"                                                          \
	     "    routes: [{ pool: ceph }]\n"
/* Pools of IPv4 nodes, of IPv6 nodes, and of two nodes on one host; `dr:` at line 15. */
#define DR_POOLS                                                                                   \
	"pools:\n"                                                                                 \
	"  - name: ceph\n"                                                                         \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 127.0.0.11:8000 }\n"                                          \
	"  - name: v6\n"                                                                           \
	"    nodes: [{ name: a, addr: \"[::1]:8000\" }]\n"                                         \
	"  - name: host\n"                                                                         \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 127.0.0.11:8000 }\n"                                          \
	"      - { name: rgw2, addr: 127.0.0.11:8001 }\n" FRONT "dr:\n"

static void test_errors_dr(void **state)
{
	static const err_case_t cases[] = {
	    /* Structure. */
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, sched: mh }\n",
	     "s3lb.yaml:10: dr[0].sched: unknown key"},
	    {MINIMAL "dr_sate: /run/x\n", "s3lb.yaml:9: dr_sate: unknown key"},
	    {MINIMAL "dr: { vip: 192.0.2.10:80, pool: ceph }\n",
	     "s3lb.yaml:9: dr: expected a list, got a mapping"},
	    {MINIMAL "dr_state: [/run/x]\n",
	     "s3lb.yaml:9: dr_state: expected a single value, got a list"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: ceph\n    pool: ceph\n",
	     "s3lb.yaml:12: dr[0].pool: duplicate key (first at line 11)"},

	    /* vip or fwmark, and what goes with each. */
	    {DR_HEAD "  - pool: ceph\n",
	     "s3lb.yaml:10: dr[0].vip: missing (a service needs a vip or a fwmark)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    fwmark: 7\n    pool: ceph\n",
	     "s3lb.yaml:11: dr[0].fwmark: not allowed with vip (a service has a vip or a fwmark)"},
	    {DR_HEAD "  - vip: 192.0.2.10\n    pool: ceph\n",
	     "s3lb.yaml:10: dr[0].vip: invalid address '192.0.2.10' (missing port)"},
	    {DR_HEAD "  - { fwmark: 0, port: 80, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].fwmark: must be at least 1"},
	    {DR_HEAD "  - { fwmark: 4294967296, port: 80, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].fwmark: must be at most 4294967295"},
	    {DR_HEAD "  - { fwmark: 0x7, port: 80, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].fwmark: invalid number '0x7' (expected a whole number)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    family: ipv4\n    pool: ceph\n",
	     "s3lb.yaml:11: dr[0].family: only allowed with fwmark (a vip has its own family)"},
	    {DR_HEAD "  - { fwmark: 7, family: inet6, port: 80, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].family: invalid family 'inet6' (expected ipv4 or ipv6)"},
	    {DR_HEAD "  - fwmark: 7\n    pool: ceph\n",
	     "s3lb.yaml:10: dr[0].port: missing (a fwmark service needs the port its nodes get)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: ceph\n    port: 80\n",
	     "s3lb.yaml:12: dr[0].port: not allowed with vip (the service's port is the vip's)"},
	    {DR_HEAD "  - { fwmark: 7, port: 0, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].port: must be between 1 and 65535"},
	    {DR_HEAD "  - fwmark: 7\n    port: 65536\n    pool: ceph\n",
	     "s3lb.yaml:11: dr[0].port: must be between 1 and 65535"},
	    {DR_HEAD "  - { fwmark: 7, port: http, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].port: invalid number 'http' (expected a whole number)"},

	    /* The pool, and its nodes as real servers. */
	    {DR_HEAD "  - vip: 192.0.2.10:80\n", "s3lb.yaml:10: dr[0].pool: missing"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: rgw\n",
	     "s3lb.yaml:11: dr[0].pool: unknown pool 'rgw'"},
	    {DR_POOLS "  - vip: \"[2001:db8::10]:80\"\n    pool: ceph\n",
	     "s3lb.yaml:17: dr[0].pool: node 'rgw1' (127.0.0.11:8000) of pool 'ceph' is not ipv6 "
	     "like the service (DR cannot change the address family)"},
	    {DR_POOLS "  - { fwmark: 7, port: 80, pool: v6 }\n",
	     "s3lb.yaml:16: dr[0].pool: node 'a' ([::1]:8000) of pool 'v6' is not ipv4 like the "
	     "service (DR cannot change the address family)"},
	    {DR_POOLS "  - vip: 192.0.2.10:80\n    pool: host\n",
	     "s3lb.yaml:17: dr[0].pool: nodes 'rgw1' and 'rgw2' of pool 'host' share the address "
	     "127.0.0.11 (DR sends to each node's address on the service's port)"},

	    /* The other keys. */
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, scheduler: lblc }\n",
	     "s3lb.yaml:10: dr[0].scheduler: invalid scheduler 'lblc' (expected rr, wrr, lc, wlc, "
	     "sh or mh)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, scheduler: MH }\n",
	     "s3lb.yaml:10: dr[0].scheduler: invalid scheduler 'MH' (expected rr, wrr, lc, wlc, "
	     "sh or mh)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: ceph\n    mh_fallback: maybe\n",
	     "s3lb.yaml:12: dr[0].mh_fallback: invalid boolean 'maybe' (expected true or false)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, mh_port: 1 }\n",
	     "s3lb.yaml:10: dr[0].mh_port: invalid boolean '1' (expected true or false)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, persistence: 300 }\n",
	     "s3lb.yaml:10: dr[0].persistence: invalid duration '300' (missing unit: use ms, s, m "
	     "or h)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: ceph\n    persistence: 1500ms\n",
	     "s3lb.yaml:12: dr[0].persistence: must be a whole number of seconds (IPVS counts in "
	     "seconds)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, persistence: 4294967296s }\n",
	     "s3lb.yaml:10: dr[0].persistence: must be between 0s and 4294967295s"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, upper_threshold: -1 }\n",
	     "s3lb.yaml:10: dr[0].upper_threshold: invalid number '-1' (expected a whole number)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, upper_threshold: 4294967296 }\n",
	     "s3lb.yaml:10: dr[0].upper_threshold: must be at most 4294967295"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph, lower_threshold: 10k }\n",
	     "s3lb.yaml:10: dr[0].lower_threshold: invalid number '10k' (expected a whole number)"},
	    {DR_HEAD "  - vip: 192.0.2.10:80\n    pool: ceph\n    upper_threshold: 10\n"
	             "    lower_threshold: 11\n",
	     "s3lb.yaml:13: dr[0].lower_threshold: must not exceed upper_threshold (10)"},

	    /* Duplicates, and addresses s3lb listens on. */
	    {DR_HEAD "  - { vip: 192.0.2.10:80, pool: ceph }\n"
	             "  - { fwmark: 7, port: 80, pool: ceph }\n"
	             "  - vip: 192.0.2.10:80\n    pool: ceph\n",
	     "s3lb.yaml:12: dr[2].vip: duplicate service 192.0.2.10:80 (first at line 10)"},
	    {DR_POOLS "  - { vip: \"[::1]:80\", pool: v6 }\n"
	              "  - { vip: \"[0:0::1]:80\", pool: v6 }\n",
	     "s3lb.yaml:17: dr[1].vip: duplicate service [::1]:80 (first at line 16)"},
	    {DR_HEAD "  - { fwmark: 7, port: 80, pool: ceph }\n"
	             "  - fwmark: 7\n    family: ipv4\n    port: 8080\n    pool: ceph\n",
	     "s3lb.yaml:11: dr[1].fwmark: duplicate service fwmark 7 ipv4 (first at line 10)"},
	    {DR_HEAD "  - { vip: 127.0.0.1:8080, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].vip: address 127.0.0.1:8080 is already used by "
	     "frontends[0].listen[0] (IPVS would take the connections s3lb listens for)"},
	    {DR_FRONTS "dr:\n  - { vip: 127.0.0.1:8081, pool: ceph }\n",
	     "s3lb.yaml:13: dr[0].vip: address 127.0.0.1:8081 is already used by "
	     "frontends[1].listen[0] (IPVS would take the connections s3lb listens for)"},
	    {DR_HEAD "  - { vip: 127.0.0.1:9901, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].vip: address 127.0.0.1:9901 is already used by admin.listen "
	     "(IPVS would take the connections s3lb listens for)"},
	    /* a wildcard listen at the vip's port is the vip's too */
	    {DR_WILD("0.0.0.0:8080") "dr:\n  - { vip: 192.0.2.10:8080, pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].vip: address 192.0.2.10:8080 is already used by "
	     "frontends[0].listen[0] (0.0.0.0:8080) (IPVS would take the connections s3lb "
	     "listens for)"},
	    {DR_WILD("\"[::]:8080\"") "dr:\n  - { vip: \"[2001:db8::10]:8080\", pool: ceph }\n",
	     "s3lb.yaml:10: dr[0].vip: address [2001:db8::10]:8080 is already used by "
	     "frontends[0].listen[0] ([::]:8080) (IPVS would take the connections s3lb "
	     "listens for)"},

	    /* dr_state. */
	    {MINIMAL "dr_state: run/s3lb/ipvs-owned\n",
	     "s3lb.yaml:9: dr_state: invalid path 'run/s3lb/ipvs-owned' (must be absolute)"},
	    {MINIMAL "dr_state: \"\"\n", "s3lb.yaml:9: dr_state: must not be empty"},
	    {MINIMAL "drain_state: var/drained\n",
	     "s3lb.yaml:9: drain_state: invalid path 'var/drained' (must be absolute)"},

	    /* dr_sync. */
	    {MINIMAL "dr_sync: {}\n",
	     "s3lb.yaml:9: dr_sync.interface: missing (the interface the sync daemon multicasts "
	     "on)"},
	    {MINIMAL "dr_sync: { sync_id: 1 }\n",
	     "s3lb.yaml:9: dr_sync.interface: missing (the interface the sync daemon multicasts "
	     "on)"},
	    {MINIMAL "dr_sync: { interface: abcdefghijklmnop }\n",
	     "s3lb.yaml:9: dr_sync.interface: invalid interface name 'abcdefghijklmnop' (at most "
	     "15 characters, no '/', ':' or spaces)"},
	    {MINIMAL "dr_sync: { interface: \"eth0:1\" }\n",
	     "s3lb.yaml:9: dr_sync.interface: invalid interface name 'eth0:1' (at most 15 "
	     "characters, no '/', ':' or spaces)"},
	    {MINIMAL "dr_sync: { interface: eth1, sync_id: 256 }\n",
	     "s3lb.yaml:9: dr_sync.sync_id: must be between 0 and 255"},
	    {MINIMAL "dr_sync: { interface: eth1, role: primary }\n",
	     "s3lb.yaml:9: dr_sync.role: invalid role 'primary' (expected auto, master or backup)"},
	    {MINIMAL "dr_sync: { interface: eth1, state_file: run/vrrp }\n",
	     "s3lb.yaml:9: dr_sync.state_file: invalid path 'run/vrrp' (must be absolute)"},
	    {MINIMAL "dr_sync: { interface: eth1, mcast_group: 239.1.1 }\n",
	     "s3lb.yaml:9: dr_sync.mcast_group: invalid address '239.1.1' (an IPv4 or IPv6 "
	     "address, no port)"},
	    {MINIMAL "dr_sync: { interface: eth1, mcast_group: 10.0.0.1 }\n",
	     "s3lb.yaml:9: dr_sync.mcast_group: '10.0.0.1' is not a multicast address"},
	    {MINIMAL "dr_sync: { interface: eth1, mcast_group: \"2001:db8::1\" }\n",
	     "s3lb.yaml:9: dr_sync.mcast_group: '2001:db8::1' is not a multicast address"},
	    {MINIMAL "dr_sync: { interface: eth1, mcast_port: 65536 }\n",
	     "s3lb.yaml:9: dr_sync.mcast_port: must be between 0 and 65535"},
	    {MINIMAL "dr_sync: { interface: eth1, mcast_ttl: 256 }\n",
	     "s3lb.yaml:9: dr_sync.mcast_ttl: must be between 0 and 255"},
	    {MINIMAL "dr_sync: { interface: eth1, group: 239.0.0.1 }\n",
	     "s3lb.yaml:9: dr_sync.group: unknown key"},
	};

	RUN_CASES(cases);
}

/* A pool whose health section starts at line 4; HC_NODES closes it. */
#define HC_HEAD  "pools:\n  - name: ceph\n    health:\n"
#define HC_NODES "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT
/* Two nodes; the second one's lines follow from line 7 on. */
#define HC_NODE2                                                                                   \
	"pools:\n"                                                                                 \
	"  - name: ceph\n"                                                                         \
	"    health: { interval: 1s }\n"                                                           \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 127.0.0.11:8000 }\n"                                          \
	"      - name: rgw2\n"                                                                     \
	"        addr: 127.0.0.12:8000\n"

/* With two mistakes in one entry, the one that names the entry (a dr service's vip, pool or
 * scheduler) is reported, wherever the other is. */
static void test_errors_first(void **state)
{
	static const err_case_t cases[] = {
	    {DR_HEAD "  - mh_port: maybe\n    vip: 192.0.2.10\n    pool: ceph\n",
	     "s3lb.yaml:11: dr[0].vip: invalid address '192.0.2.10' (missing port)"},
	    {DR_HEAD "  - { vip: 192.0.2.10:80, mh_fallback: 2, pool: nope }\n",
	     "s3lb.yaml:10: dr[0].pool: unknown pool 'nope'"},
	    {DR_HEAD
	     "  - { vip: 192.0.2.10:80, pool: ceph, upper_threshold: x, scheduler: lblc }\n",
	     "s3lb.yaml:10: dr[0].scheduler: invalid scheduler 'lblc' (expected rr, wrr, lc, wlc, "
	     "sh or mh)"},
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_errors_health(void **state)
{
	static const err_case_t cases[] = {
	    {HC_HEAD "      intervall: 1s\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.intervall: unknown key"},
	    {HC_HEAD "      http: { method: GET, verb: GET }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.verb: unknown key"},
	    {HC_HEAD "      s3:\n        bucket: b\n        secret: x\n" HC_NODES,
	     "s3lb.yaml:6: pools[0].health.s3.secret: unknown key"},
	    {HC_HEAD "      passive: { failure: 3 }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.passive.failure: unknown key"},
	    {"pools:\n  - name: ceph\n    health: [http]\n" HC_NODES,
	     "s3lb.yaml:3: pools[0].health: expected a mapping, got a list"},
	    {HC_HEAD "      http: { expect: 200 }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect: expected a list, got a single value"},
	    {HC_HEAD "      kind: icmp\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.kind: invalid kind 'icmp' (expected http, tcp, s3 or "
	     "none)"},
	    {HC_HEAD "      interval: 1\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.interval: invalid duration '1' (missing unit: use ms, "
	     "s, "
	     "m or h)"},
	    {HC_HEAD "      timeout: 0s\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.timeout: must be at least 1ms"},
	    {HC_HEAD "      rise: 0\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.rise: must be at least 1"},
	    {HC_HEAD "      rise: 2\n      fall: 0\n" HC_NODES,
	     "s3lb.yaml:5: pools[0].health.fall: must be at least 1"},
	    {HC_HEAD "      fall: two\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.fall: invalid number 'two' (expected a whole number)"},
	    {HC_HEAD "      kind: http\n      interval: 1s\n      fast_interval: 250ms\n"
	             "      timeout: 1s\n" HC_NODES,
	     "s3lb.yaml:7: pools[0].health.timeout: must be less than interval (1s)"},
	    {HC_HEAD "      timeout: 2s\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.timeout: must be less than interval (1s)"},
	    {HC_HEAD "      interval: 500ms\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.interval: must be greater than timeout (500ms)"},
	    {HC_HEAD "      fast_interval: 1001ms\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.fast_interval: must not exceed interval (1s)"},
	    {HC_HEAD "      jitter: 51%\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.jitter: must be between 0% and 50%"},
	    {HC_HEAD "      jitter: 10.5%\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.jitter: invalid percentage '10.5%' (expected 0 to 100, "
	     "as 20%)"},
	    {HC_HEAD "      http:\n        expect:\n          - 200\n          - 600\n" HC_NODES,
	     "s3lb.yaml:7: pools[0].health.http.expect[1]: invalid status '600' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [99] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '99' (expected a status "
	     "from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [6xx] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '6xx' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [2XX] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '2XX' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [200-] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '200-' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [200-2xx] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '200-2xx' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [\"\"] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[0]: invalid status '' (expected a "
	     "status from 100 to 599 as 200, a class as 2xx, or a range as 200-204)"},
	    {HC_HEAD "      http: { expect: [200, 204-200] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect[1]: invalid range '204-200' (the first "
	     "status is above the second)"},
	    {HC_HEAD "      http: { expect: [] }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.expect: empty list (at least one status is "
	     "required)"},
	    {HC_HEAD "      http: { method: POST }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.method: invalid method 'POST' (expected GET or "
	     "HEAD)"},
	    {HC_HEAD "      http: { method: get }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.method: invalid method 'get' (expected GET or "
	     "HEAD)"},
	    {HC_HEAD "      http:\n        path: health\n" HC_NODES,
	     "s3lb.yaml:5: pools[0].health.http.path: invalid path 'health' (must start with '/' "
	     "and contain no spaces)"},
	    {HC_HEAD "      http: { path: \"/a b\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.path: invalid path '/a b' (must start with '/' and "
	     "contain no spaces)"},
	    {HC_HEAD "      http: { path: \"\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.path: must not be empty"},
	    {HC_HEAD "      http: { host: \"rgw example\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.host: invalid host 'rgw example' (must contain no "
	     "spaces)"},
	    {HC_HEAD "      http: { host: \"rgw\\r\\nX: 1\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.http.host: must not contain control characters"},
	    {HC_HEAD "      s3: { access_key: \"A\\tK\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.s3.access_key: must not contain control characters"},
	    {HC_HEAD "      kind: s3\n" HC_NODES,
	     "s3lb.yaml:3: pools[0].health.s3.bucket: missing (kind s3 needs bucket, key, "
	     "access_key and secret_key)"},
	    {HC_HEAD "      kind: s3\n      s3:\n        bucket: b\n        key: k\n"
	             "        access_key: AK\n" HC_NODES,
	     "s3lb.yaml:5: pools[0].health.s3.secret_key: missing (kind s3 needs bucket, key, "
	     "access_key and secret_key)"},
	    {HC_HEAD "      s3: { region: \"\" }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.s3.region: must not be empty"},
	    {HC_HEAD "      passive: { failures: -1 }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.passive.failures: invalid number '-1' (expected a whole "
	     "number)"},
	    {HC_HEAD "      passive: { backoff: 1m }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.passive.backoff: must not exceed max_backoff (30s)"},
	    {HC_HEAD "      passive:\n        max_backoff: 1s\n" HC_NODES,
	     "s3lb.yaml:5: pools[0].health.passive.max_backoff: must be at least backoff (2s)"},
	    {HC_HEAD "      passive: { backoff: 0s }\n" HC_NODES,
	     "s3lb.yaml:4: pools[0].health.passive.backoff: must be at least 1ms"},
	    {HC_HEAD "      interval: 1s\n      interval: 2s\n" HC_NODES,
	     "s3lb.yaml:5: pools[0].health.interval: duplicate key (first at line 4)"},

	    /* A node's keys, checked over the pool's and reported at the node's lines. */
	    {HC_NODE2 "        health:\n          timeout: 1s\n" FRONT,
	     "s3lb.yaml:9: pools[0].nodes[1].health.timeout: must be less than interval (1s)"},
	    {HC_NODE2 "        health: { interval: 400ms }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.interval: must be greater than timeout "
	     "(500ms)"},
	    {HC_NODE2 "        health: { fast_interval: 2s }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.fast_interval: must not exceed interval (1s)"},
	    {HC_NODE2 "        health: { http: { paht: /x } }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.http.paht: unknown key"},
	    {HC_NODE2 "        health: { rise: 0 }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.rise: must be at least 1"},
	    {HC_NODE2 "        health:\n          http: { expect: [200, 2xy] }\n" FRONT,
	     "s3lb.yaml:9: pools[0].nodes[1].health.http.expect[1]: invalid status '2xy' "
	     "(expected a status from 100 to 599 as 200, a class as 2xx, or a range as "
	     "200-204)"},
	    {HC_NODE2 "        health:\n          kind: s3\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.s3.bucket: missing (kind s3 needs bucket, "
	     "key, access_key and secret_key)"},
	    {HC_NODE2 "        health: { http: { method: PUT } }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.http.method: invalid method 'PUT' (expected "
	     "GET or HEAD)"},
	    {HC_NODE2 "        health: { passive: { max_backoff: 1s } }\n" FRONT,
	     "s3lb.yaml:8: pools[0].nodes[1].health.passive.max_backoff: must be at least backoff "
	     "(2s)"},
	};

	RUN_CASES(cases);
}

static void test_file_errors(void **state)
{
	char path[] = "/tmp/s3lb-test-config-XXXXXX";
	char err[512] = "";
	lb_config_t *cfg = (lb_config_t *)&err;
	const char *bad = MINIMAL "limits:\n  max_headers: many\n";
	int fd;

	assert_int_equal(lb_config_load("/nonexistent/s3lb.yaml", &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_string_equal(err, "/nonexistent/s3lb.yaml: cannot open: No such file or directory");

	assert_true(lb_config_load("/tmp", &cfg, err, sizeof(err)) < 0);
	assert_string_equal(err, "/tmp: cannot read: Is a directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	assert_int_equal(lb_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(
	    err + strlen(path),
	    ":10: limits.max_headers: invalid number 'many' (expected a whole number)");

	/* A short buffer gets a cut, terminated message. */
	assert_int_equal(lb_config_load(path, &cfg, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	unlink(path);
}

static void test_load_file_ok(void **state)
{
	char path[] = "/tmp/s3lb-test-config-XXXXXX";
	char err[512] = "";
	lb_config_t *cfg = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, MINIMAL, strlen(MINIMAL)), (ssize_t)strlen(MINIMAL));
	close(fd);
	assert_int_equal(lb_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->path, path);
	unlink(path);

	/* Each user holds a reference; the last unref frees (ASan checks the rest). */
	assert_ptr_equal(lb_config_ref(cfg), cfg);
	assert_int_equal(cfg->refs, 2);
	lb_config_unref(cfg);
	assert_int_equal(cfg->refs, 1);
	lb_config_unref(cfg);
	lb_config_unref(NULL);
}

/* The shipped example loads and says what the docs say it says. */
/* A file of the source tree: under $S3LB_SRC, else beside this test's own path. */
static void src_path(char *buf, size_t len, const char *rel)
{
	const char *src = getenv("S3LB_SRC");

	if (src != NULL)
		snprintf(buf, len, "%s/%s", src, rel);
	else /* __FILE__ is .../tests/unit/test_core_config.c */
		snprintf(buf, len, "%.*s/%s",
		         (int)(strlen(__FILE__) - strlen("/tests/unit/test_core_config.c")),
		         __FILE__, rel);
}

static void test_example_config(void **state)
{
	char path[1024];
	char err[512] = "";
	lb_config_t *cfg = NULL;

	src_path(path, sizeof(path), "etc/s3lb.yaml");
	if (lb_config_load(path, &cfg, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_non_null(cfg);
	assert_string_equal(cfg->admin_listen.text, "127.0.0.1:9901");
	assert_int_equal(cfg->npools, 1);
	assert_string_equal(cfg->pools[0].name, "ceph");
	assert_int_equal(cfg->pools[0].nnodes, 3);
	assert_string_equal(cfg->pools[0].nodes[0].addr.text, "127.0.0.11:8000");
	assert_string_equal(cfg->pools[0].nodes[1].addr.text, "127.0.0.12:8000");
	assert_string_equal(cfg->pools[0].nodes[2].addr.text, "127.0.0.13:8000");
	assert_int_equal(cfg->pools[0].health.kind, LB_PROBE_HTTP);
	assert_int_equal(cfg->pools[0].health.interval, 1000);
	assert_int_equal(cfg->pools[0].health.fast_interval, 250);
	assert_int_equal(cfg->pools[0].health.timeout, 500);
	assert_int_equal(cfg->pools[0].health.rise, 2);
	assert_int_equal(cfg->pools[0].health.fall, 2);
	assert_int_equal(cfg->pools[0].health.jitter_pct, 10);
	assert_string_equal(cfg->pools[0].health.http_method, "GET");
	assert_string_equal(cfg->pools[0].health.http_path, "/");
	assert_int_equal(cfg->pools[0].health.nexpect, 1);
	assert_int_equal(cfg->pools[0].health.expect[0].lo, 200);
	assert_int_equal(cfg->pools[0].health.expect[0].hi, 399);
	assert_null(cfg->pools[0].health.s3_bucket);
	assert_int_equal(cfg->pools[0].health.passive_failures, 3);
	assert_int_equal(cfg->pools[0].health.passive_backoff, 2000);
	assert_int_equal(cfg->pools[0].health.passive_max_backoff, 30000);
	assert_health_equal(&cfg->pools[0].nodes[2].health, &cfg->pools[0].health);
	assert_int_equal(cfg->nfrontends, 1);
	assert_string_equal(cfg->frontends[0].name, "s3");
	assert_string_equal(cfg->frontends[0].listen[0].text, "127.0.0.1:8080");
	assert_int_equal(cfg->frontends[0].ndomains, 1);
	assert_string_equal(cfg->frontends[0].domains[0], "s3.local");
	assert_string_equal(cfg->dr_state, "/run/s3lb/ipvs-owned");
	assert_int_equal(cfg->ndr, 0);
	lb_config_unref(cfg);
}

/* A set of key paths ("pools[].nodes[].addr"), each with whether it holds a value (a leaf). */
typedef struct keyset_s {
	char *path[512];
	bool leaf[512];
	size_t n;
} keyset_t;

static void keyset_add(keyset_t *s, const char *path, bool leaf)
{
	assert_true(s->n < sizeof(s->path) / sizeof(s->path[0]));
	s->path[s->n] = strdup(path);
	assert_non_null(s->path[s->n]);
	s->leaf[s->n++] = leaf;
}

static bool keyset_has(const keyset_t *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->path[i], path) == 0)
			return true;
	return false;
}

/* Every key of sec under prefix; a section met a second time (a node's `health`, the pool's
 * keys) is one key, documented once where it first appears. */
static void declared_keys(keyset_t *s, const csec_t *sec, const char *prefix, const csec_t **seen,
                          size_t *nseen)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		bool section = k->type == T_MAP || k->type == T_MAPS, again = false;
		char path[256];

		snprintf(path, sizeof(path), "%s%s", prefix, k->name);
		keyset_add(s, path, !section);
		for (size_t j = 0; section && j < *nseen; j++)
			again = again || seen[j] == k->sub;
		if (!section || again)
			continue;
		seen[(*nseen)++] = k->sub;
		strcat(path, k->type == T_MAPS ? "[]." : ".");
		declared_keys(s, k->sub, path, seen, nseen);
	}
}

/*
 * The key tables of docs/config.md: each follows a line `<!-- keys: PREFIX -->` (PREFIX
 * "(top level)" for none), has `key` as its first column, and a row per key, `| \`name\` |`;
 * the key's path is PREFIX followed by the name.
 */
static void documented_keys(keyset_t *s, FILE *fp)
{
	char line[4096], prefix[128] = "";
	bool pending = false, in_table = false;

	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "<!-- keys: %127s -->", prefix) == 1) {
			if (strcmp(prefix, "(top") == 0)
				prefix[0] = '\0';
			pending = true;
			continue;
		}
		if (strncmp(line, "| key |", 7) == 0) {
			if (!pending)
				print_error("docs/config.md: key table without <!-- keys: -->: %s",
				            line);
			assert_true(pending);
			pending = false;
			in_table = true;
			continue;
		}
		if (line[0] != '|') {
			in_table = false;
			continue;
		}
		if (in_table && strncmp(line, "| `", 3) == 0) {
			char path[256];
			size_t n = strcspn(line + 3, "`");

			snprintf(path, sizeof(path), "%s%.*s", prefix, (int)n, line + 3);
			keyset_add(s, path, true);
		}
	}
}

/* docs/config.md documents every key that holds a value, and no key that does not exist. */
static void test_docs_keys(void **state)
{
	keyset_t declared = {0}, documented = {0};
	const csec_t *seen[32];
	size_t nseen = 0;
	int failures = 0;
	char path[1024];
	FILE *fp;

	src_path(path, sizeof(path), "docs/config.md");
	fp = fopen(path, "r");
	assert_non_null(fp);
	documented_keys(&documented, fp);
	fclose(fp);
	declared_keys(&declared, &top_sec, "", seen, &nseen);
	assert_true(documented.n > 50);
	for (size_t i = 0; i < declared.n; i++) {
		if (declared.leaf[i] && !keyset_has(&documented, declared.path[i])) {
			print_error("key %s is not documented in docs/config.md\n",
			            declared.path[i]);
			failures++;
		}
	}
	for (size_t i = 0; i < documented.n; i++) {
		if (!keyset_has(&declared, documented.path[i])) {
			print_error("docs/config.md documents %s, which is no key\n",
			            documented.path[i]);
			failures++;
		}
	}
	for (size_t i = 0; i < declared.n; i++)
		free(declared.path[i]);
	for (size_t i = 0; i < documented.n; i++)
		free(documented.path[i]);
	assert_int_equal(failures, 0);
	(void)state;
}

static void test_names(void **state)
{
	static const struct {
		lb_op_t op;
		const char *name;
	} ops[] = {
	    {LB_OP_READ, "read"},           {LB_OP_WRITE, "write"},
	    {LB_OP_DELETE, "delete"},       {LB_OP_LIST, "list"},
	    {LB_OP_BUCKET, "bucket"},       {LB_OP_MPU_CREATE, "mpu-create"},
	    {LB_OP_MPU_PART, "mpu-part"},   {LB_OP_MPU_COMPLETE, "mpu-complete"},
	    {LB_OP_MPU_ABORT, "mpu-abort"}, {LB_OP_OTHER, "other"},
	};
	uint32_t bits = 0, all = 0;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		assert_string_equal(lb_op_name(ops[i].op), ops[i].name);
		assert_int_equal(lb_op_parse(ops[i].name, &bits), 0);
		assert_int_equal(bits, ops[i].op);
		all |= bits;
	}
	assert_int_equal(all, LB_OP_ALL);
	assert_int_equal(lb_op_parse("multipart", &bits), 0);
	assert_int_equal(bits, LB_OP_MULTIPART);
	assert_int_equal(lb_op_parse("READ", &bits), -1);
	assert_int_equal(lb_op_parse("", &bits), -1);
	assert_string_equal(lb_op_name(LB_OP_READ | LB_OP_WRITE), "unknown");
	assert_string_equal(lb_op_name((lb_op_t)0), "unknown");

	assert_string_equal(lb_balance_name(LB_BALANCE_ROUND_ROBIN), "round-robin");
	assert_string_equal(lb_balance_name(LB_BALANCE_LEAST_REQUESTS), "least-requests");
	assert_string_equal(lb_balance_name(LB_BALANCE_HASH_KEY), "hash-key");
	assert_string_equal(lb_balance_name((lb_balance_t)7), "unknown");

	assert_string_equal(lb_probe_kind_name(LB_PROBE_HTTP), "http");
	assert_string_equal(lb_probe_kind_name(LB_PROBE_TCP), "tcp");
	assert_string_equal(lb_probe_kind_name(LB_PROBE_S3), "s3");
	assert_string_equal(lb_probe_kind_name(LB_PROBE_NONE), "none");
	assert_string_equal(lb_probe_kind_name((lb_probe_kind_t)9), "unknown");
}

/* ---- handoff (issue 12): a route's policy, a pool's agent port and key file, a node's agent */

static const char handoff_yaml[] =
    "pools:\n"         /* 1 */
    "  - name: ceph\n" /* 2 */
    "    handoff: { agent_port: 7000, key_file: /etc/s3lb/handoff.key }\n"
    "    nodes:\n"                                       /* 4 */
    "      - { name: rgw1, addr: 127.0.0.11:8000 }\n"    /* 5 */
    "      - name: rgw2\n"                               /* 6 */
    "        addr: \"[::1]:8000\"\n"                     /* 7 */
    "      - name: rgw3\n"                               /* 8 */
    "        addr: 127.0.0.13:8000\n"                    /* 9 */
    "        handoff: { agent: 10.9.9.9:7001 }\n"        /* 10 */
    "  - name: other\n"                                  /* 11 */
    "    nodes: [{ name: o1, addr: 127.0.0.21:8000 }]\n" /* 12 */
    "frontends:\n"                                       /* 13 */
    "  - name: s3\n"                                     /* 14 */
    "    listen: [127.0.0.1:8080]\n"                     /* 15 */
    "    routes:\n"                                      /* 16 */
    "      - bucket: \"big-*\"\n"                        /* 17 */
    "        pool: ceph\n"                               /* 18 */
    "        handoff: { operations: [get], min_size: 4MiB, unknown_size: handoff }\n"
    "      - { bucket: \"any-*\", pool: ceph, handoff: {} }\n" /* 20 */
    "      - { bucket: \"o-*\", pool: other }\n"               /* 21 */
    "      - { pool: ceph }\n";                                /* 22 */

static void test_handoff(void **state)
{
	lb_config_t *cfg = load_ok(handoff_yaml);
	const lb_pool_conf_t *p = &cfg->pools[0];
	const lb_route_conf_t *r = cfg->frontends[0].routes;

	assert_int_equal(p->handoff.agent_port, 7000);
	assert_string_equal(p->handoff.key_file, "/etc/s3lb/handoff.key");
	assert_int_equal(p->handoff.key_file_line, 3);
	/* agents: the node's IP at the pool's port, unless the node names its own */
	assert_string_equal(p->nodes[0].handoff.agent.text, "127.0.0.11:7000");
	assert_false(p->nodes[0].handoff.agent_set);
	assert_string_equal(p->nodes[1].handoff.agent.text, "[::1]:7000");
	assert_string_equal(p->nodes[2].handoff.agent.text, "10.9.9.9:7001");
	assert_true(p->nodes[2].handoff.agent_set);
	/* a pool without a handoff section: the default port, no key */
	assert_int_equal(cfg->pools[1].handoff.agent_port, 9902);
	assert_null(cfg->pools[1].handoff.key_file);
	assert_string_equal(cfg->pools[1].nodes[0].handoff.agent.text, "127.0.0.21:9902");
	/* routes */
	assert_true(r[0].handoff.enabled);
	assert_int_equal(r[0].handoff.ops, LB_HANDOFF_GET);
	assert_int_equal(r[0].handoff.min_size, 4 << 20);
	assert_int_equal(r[0].handoff.unknown_size, LB_HANDOFF_UNKNOWN_HANDOFF);
	assert_true(r[1].handoff.enabled); /* an empty section: the defaults */
	assert_int_equal(r[1].handoff.ops, LB_HANDOFF_GET | LB_HANDOFF_HEAD);
	assert_int_equal(r[1].handoff.min_size, 1 << 20);
	assert_int_equal(r[1].handoff.unknown_size, LB_HANDOFF_UNKNOWN_PROXY);
	assert_false(r[2].handoff.enabled); /* no section: no handoff */
	assert_false(r[3].handoff.enabled);
	lb_config_unref(cfg);
}

/* The dump writes a route's and a node's handoff only where the config has one, and a pool's
 * when it differs from the default; load -> dump -> load -> dump is stable. */
static void test_handoff_dump(void **state)
{
	lb_config_t *a = load_ok(handoff_yaml), *b;
	char *text_a = dump_to_string(a), *text_b;

	assert_non_null(strstr(text_a, "    handoff:\n"
	                               "      agent_port: 7000\n"
	                               "      key_file: /etc/s3lb/handoff.key\n"
	                               "      ready_timeout: 20ms\n"
	                               "    nodes:\n"
	                               "      - { name: rgw1, addr: 127.0.0.11:8000, weight: 1 }\n"
	                               "      - { name: rgw2, addr: \"[::1]:8000\", weight: 1 }\n"
	                               "      - name: rgw3\n"
	                               "        addr: 127.0.0.13:8000\n"
	                               "        weight: 1\n"
	                               "        handoff:\n"
	                               "          agent: 10.9.9.9:7001\n"));
	assert_non_null(strstr(text_a, "      - bucket: \"big-*\"\n"
	                               "        pool: ceph\n"
	                               "        handoff:\n"
	                               "          operations: [get]\n"
	                               "          min_size: 4MiB\n"
	                               "          unknown_size: handoff\n"
	                               "      - bucket: \"any-*\"\n"
	                               "        pool: ceph\n"
	                               "        handoff:\n"
	                               "          operations: [get, head]\n"
	                               "          min_size: 1MiB\n"
	                               "          unknown_size: proxy\n"
	                               "      - { bucket: \"o-*\", pool: other }\n"
	                               "      - { pool: ceph }\n"));
	/* the pool without handoff keeps its short form */
	{
		const char *other = strstr(text_a, "  - name: other\n");
		const char *h = strstr(other, "handoff");

		assert_true(h == NULL || h > strstr(other, "frontends:\n"));
	}
	b = load_ok(text_a);
	text_b = dump_to_string(b);
	assert_string_equal(text_a, text_b);
	for (size_t i = 0; i < a->frontends[0].nroutes; i++)
		assert_memory_equal(&a->frontends[0].routes[i].handoff,
		                    &b->frontends[0].routes[i].handoff, sizeof(lb_route_handoff_t));
	for (size_t i = 0; i < a->pools[0].nnodes; i++)
		assert_string_equal(a->pools[0].nodes[i].handoff.agent.text,
		                    b->pools[0].nodes[i].handoff.agent.text);
	free(text_a);
	free(text_b);
	lb_config_unref(a);
	lb_config_unref(b);

	/* only the port set: still written, so that it survives the round trip */
	a = load_ok("pools:\n"
	            "  - name: ceph\n"
	            "    handoff: { agent_port: 7777 }\n"
	            "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT);
	text_a = dump_to_string(a);
	assert_non_null(strstr(
	    text_a,
	    "    handoff:\n      agent_port: 7777\n      ready_timeout: 20ms\n    nodes:\n"));
	free(text_a);
	lb_config_unref(a);
}

#define HO_POOL                                                                                    \
	"pools:\n"                                                                                 \
	"  - name: ceph\n"                                                                         \
	"    handoff: { key_file: /etc/k }\n"                                                      \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 127.0.0.11:8000 }\n"
#define HO_FRONT                                                                                   \
	"frontends:\n"                                                                             \
	"  - name: s3\n"                                                                           \
	"    listen: [127.0.0.1:8080]\n"                                                           \
	"    routes:\n"

static void test_errors_handoff(void **state)
{
	static const err_case_t cases[] = {
	    /* route: operations */
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { operations: [get, put] } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.operations[1]: unknown operation 'put' "
	     "(expected get or head: only object reads are handed off)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { operations: [read] } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.operations[0]: unknown operation "
	     "'read' (expected get or head: only object reads are handed off)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { operations: [] } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.operations: empty list (leave "
	     "operations out for get and head)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { operations: get } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.operations: expected a list, got a "
	     "single value"},
	    /* route: min_size, unknown_size, unknown keys, shape */
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { min_size: 1MB5 } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.min_size: invalid size '1MB5' "
	     "(unknown unit: use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { min_size: -1 } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.min_size: invalid size '-1' "
	     "(expected a number followed by a unit)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { unknown_size: maybe } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.unknown_size: invalid unknown_size "
	     "'maybe' (expected proxy or handoff)"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: { enabled: true } }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff.enabled: unknown key"},
	    {HO_POOL HO_FRONT "      - { pool: ceph, handoff: true }\n",
	     "s3lb.yaml:10: frontends[0].routes[0].handoff: expected a mapping, got a single "
	     "value"},
	    /* route: what the pool and the frontend must give */
	    {POOL HO_FRONT "      - { pool: ceph, handoff: {} }\n",
	     "s3lb.yaml:9: frontends[0].routes[0].handoff: pool 'ceph' has no handoff.key_file "
	     "(the director and the agents authenticate every message with that key)"},
	    {HO_POOL "frontends:\n"
	             "  - name: s3\n"
	             "    listen: [127.0.0.1:8443]\n"
	             "    tls: { cert: /etc/c.pem, key: /etc/k.pem }\n"
	             "    routes:\n"
	             "      - { pool: ceph }\n"
	             "      - { pool: ceph, handoff: { min_size: 0 } }\n",
	     "s3lb.yaml:12: frontends[0].routes[1].handoff: frontend 's3' serves TLS, and TLS "
	     "connections are always proxied (the TLS session cannot move to the node): leave "
	     "handoff out"},
	    /* pool */
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    handoff: { key_file: etc/k }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].handoff.key_file: invalid path 'etc/k' (must be absolute)"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    handoff: { key_file: \"\" }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].handoff.key_file: must not be empty"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    handoff: { agent_port: 0 }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].handoff.agent_port: must be between 1 and 65535"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    handoff: { agent_port: 65536 }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].handoff.agent_port: must be between 1 and 65535"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    handoff: { agent: 127.0.0.1:1 }\n"
	     "    nodes: [{ name: rgw1, addr: 127.0.0.11:8000 }]\n" FRONT,
	     "s3lb.yaml:3: pools[0].handoff.agent: unknown key"},
	    /* node */
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000, handoff: { agent: 10.0.0.1 } }\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].handoff.agent: invalid address '10.0.0.1' "
	     "(missing port)"},
	    {"pools:\n"
	     "  - name: ceph\n"
	     "    nodes:\n"
	     "      - { name: rgw1, addr: 127.0.0.11:8000, handoff: { agent_port: 1 } }\n" FRONT,
	     "s3lb.yaml:4: pools[0].nodes[0].handoff.agent_port: unknown key"},
	};

	RUN_CASES(cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_dump_minimal),
	    cmocka_unit_test(test_admin_token),
	    cmocka_unit_test(test_admin_keys),
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_health_fast_interval_follows),
	    cmocka_unit_test(test_dr),
	    cmocka_unit_test(test_dr_sync),
	    cmocka_unit_test(test_dr_admin_off),
	    cmocka_unit_test(test_dr_only_director),
	    cmocka_unit_test(test_dump_round_trip),
	    cmocka_unit_test(test_idle_default_clamped),
	    cmocka_unit_test(test_limits_smallest_buffer),
	    cmocka_unit_test(test_admin_off),
	    cmocka_unit_test(test_alias),
	    cmocka_unit_test(test_errors_structure),
	    cmocka_unit_test(test_errors_syntax),
	    cmocka_unit_test(test_errors_required),
	    cmocka_unit_test(test_errors_values),
	    cmocka_unit_test(test_errors_duplicates),
	    cmocka_unit_test(test_errors_frontend),
	    cmocka_unit_test(test_errors_health),
	    cmocka_unit_test(test_errors_dr),
	    cmocka_unit_test(test_errors_first),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_load_file_ok),
	    cmocka_unit_test(test_example_config),
	    cmocka_unit_test(test_docs_keys),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_handoff),
	    cmocka_unit_test(test_handoff_dump),
	    cmocka_unit_test(test_errors_handoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

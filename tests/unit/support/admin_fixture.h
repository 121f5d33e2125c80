/*
 * The admin tests' server: a config from YAML (with a token file), a runtime built the way
 * gateway/server.c builds it (without balancers or TLS: the admin code uses neither) and known
 * counters. Included by the tests/unit/test_admin_*.c programs.
 */
#ifndef S3LB_TESTS_SUPPORT_ADMIN_FIXTURE_H
#define S3LB_TESTS_SUPPORT_ADMIN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "gateway/proxy.h"
#include "health/health.h"

static const char fixture_yaml[] = "pools:\n"
                                   "  - name: ceph-a\n"
                                   "    balance: least-requests\n"
                                   "    health: { kind: none }\n"
                                   "    nodes:\n"
                                   "      - { name: rgw1, addr: 10.0.0.11:8000 }\n"
                                   "      - { name: rgw2, addr: '[fd00::12]:8000', weight: 2 }\n"
                                   "  - name: minio\n"
                                   "    health: { kind: none }\n"
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
	char drain_path[80]; /* drain_state: this test's own file, never /var/lib/s3lb/drained */
} fixture_t;

/* A token file holding TOKEN (mode 0600) at path, which the caller unlinks. */
static inline void write_token(char *path)
{
	int fd;
	strcpy(path, "/tmp/s3lb-admin-token-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, TOKEN "\n", sizeof(TOKEN)), (ssize_t)sizeof(TOKEN));
	close(fd);
}

/* The runtime as server.c builds it, without balancers or TLS (the renderers use neither). */
static inline fixture_t *fixture_new(uv_loop_t *loop)
{
	fixture_t *f = calloc(1, sizeof(*f));
	lb_config_t *cfg = NULL;
	char err[256];
	gw_runtime_t *rt = &f->rt;

	char text[2048];

	assert_non_null(f);
	write_token(f->token_path);
	snprintf(f->drain_path, sizeof(f->drain_path), "%s.drained", f->token_path);
	snprintf(text, sizeof(text), "%sadmin: { token_file: %s }\ndrain_state: %s\n", fixture_yaml,
	         f->token_path, f->drain_path);
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

static inline void fixture_free(fixture_t *f)
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
	unlink(f->drain_path);
	free(f);
}

/* Known counters and gauges. */
static inline void feed(fixture_t *f)
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
	m->open_conns = 5;

	s = gw_metrics_node(m, "ceph-a", "rgw1");
	s->requests = 7;
	s->connects = 2;
	s->reused = 5;
	s->open = 3;
	s->idle = 1;
	s->outstanding = 2;
	s = gw_metrics_node(m, "ceph-a", "rgw2");
	s->connect_errors = 4;
	s->responses_5xx = 1;
	s->errors = 2;
	s->retries = 3;

	a->inflight = 2;
	a->retries_inflight = 1;
	gw_metrics_pool(m, "ceph-a")->inflight = 2;
	gw_metrics_pool(m, "ceph-a")->retries_inflight = 1;
	a->lbn[0].outstanding = 2;
	a->nodes[0].nconns = 3;
	a->nodes[0].nidle = 1;
	a->nodes[1].state = GW_NODE_DOWN;
	a->nodes[1].consecutive_failures = 6;
	f->rt.pools[1].nodes[0].state = GW_NODE_DRAINING;
}

/* A health checker on loop for f's config (probes off: `kind: none`). */
static inline hc_t *fixture_health(fixture_t *f, uv_loop_t *loop)
{
	hc_t *hc;
	char err[256];
	assert_int_equal(hc_new(loop, &hc), 0);
	if (hc_apply(hc, f->rt.cfg, err, sizeof(err)) < 0)
		fail_msg("hc_apply: %s", err);
	return hc;
}

/* Closes hc, runs the loop until every handle is closed and closes it. */
static inline void fixture_health_close(hc_t *hc, uv_loop_t *loop)
{
	hc_close(hc);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

#endif

/* dsr/director.c: the wanted IPVS table = config (dr: services tied to pools) x health. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "dsr/director.h"
#include "dsr/owner.h"
#include "dsr/reconcile.h"

static const char CFG[] =
    "pools:\n"
    "  - name: ceph\n"
    "    nodes:\n"
    "      - { name: rgw1, addr: 10.0.0.11:8000, weight: 3 }\n"
    "      - { name: rgw2, addr: 10.0.0.12:8000 }\n"
    "  - name: v6\n"
    "    nodes:\n"
    "      - { name: a, addr: \"[2001:db8::11]:80\" }\n"
    "frontends:\n"
    "  - name: s3\n"
    "    listen: [127.0.0.1:8080]\n"
    "    routes:\n"
    "      - { pool: ceph }\n"
    "dr:\n"
    "  - { vip: 192.0.2.10:80, pool: ceph }\n"
    "  - { fwmark: 7, port: 8000, pool: ceph, scheduler: wlc, persistence: 300s }\n"
    "  - { vip: \"[2001:db8::10]:80\", pool: v6, scheduler: sh, mh_port: true }\n";

/* A config with one pool of one node (NODE, a flow mapping) and one DR service over it. */
#define ONE_NODE(node)                                                                             \
	"pools:\n  - name: p\n    nodes:\n      - " node "\n"                                      \
	"frontends:\n  - name: s3\n    listen: [127.0.0.1:8080]\n    routes:\n      - { pool: p "  \
	"}\n"                                                                                      \
	"dr:\n  - { vip: 192.0.2.10:80, pool: p }\n"

static const char *down_node;

static const char *unknown_node; /* no verdict yet */

static dsr_node_t up(void *arg, const char *pool, const char *node)
{
	(void)arg;
	(void)pool;
	if (unknown_node && !strcmp(node, unknown_node))
		return DSR_NODE_UNKNOWN;
	return !down_node || strcmp(node, down_node) != 0 ? DSR_NODE_UP : DSR_NODE_DOWN;
}

static void test_want_from_config_and_health(void **state)
{
	lb_config_t *cfg;
	dsr_table_t t;
	char err[256], key[96], dest[96];
	(void)state;
	assert_int_equal(lb_config_load_string("t.yaml", CFG, strlen(CFG), &cfg, err, sizeof(err)),
	                 0);
	down_node = "rgw2";
	assert_int_equal(dsr_want_build(cfg, up, NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nsvcs, 3);

	/* the vip service: mh with fallback by default; node IPs on the VIP's port (DR) */
	dsr_svc_key_format(&t.svcs[0].svc.key, key, sizeof(key));
	assert_string_equal(key, "TCP 192.0.2.10:80");
	assert_string_equal(t.svcs[0].svc.sched, "mh");
	assert_int_equal(t.svcs[0].svc.flags, DSR_SVC_F_SCHED1);
	assert_int_equal(t.svcs[0].svc.timeout, 0);
	assert_int_equal(t.svcs[0].ndests, 2);
	dsr_dest_format(&t.svcs[0].dests[0], dest, sizeof(dest));
	assert_string_equal(dest, "10.0.0.11:80");
	assert_int_equal(t.svcs[0].dests[0].fwd, DSR_FWD_DR);
	assert_int_equal(t.svcs[0].dests[0].weight, 3); /* up: its configured weight */
	assert_int_equal(t.svcs[0].dests[1].weight, 0); /* down: 0, never removed */

	/* the fwmark service: the configured port, persistence in seconds */
	dsr_svc_key_format(&t.svcs[1].svc.key, key, sizeof(key));
	assert_string_equal(key, "FWM 7 IPv4");
	assert_string_equal(t.svcs[1].svc.sched, "wlc");
	assert_int_equal(t.svcs[1].svc.timeout, 300);
	assert_int_equal(t.svcs[1].svc.flags, DSR_SVC_F_PERSISTENT); /* no sh/mh flags for wlc */
	dsr_dest_format(&t.svcs[1].dests[1], dest, sizeof(dest));
	assert_string_equal(dest, "10.0.0.12:8000");

	/* IPv6 */
	dsr_svc_key_format(&t.svcs[2].svc.key, key, sizeof(key));
	assert_string_equal(key, "TCP [2001:db8::10]:80");
	assert_int_equal(t.svcs[2].svc.flags, DSR_SVC_F_SCHED1 | DSR_SVC_F_SCHED2);
	dsr_dest_format(&t.svcs[2].dests[0], dest, sizeof(dest));
	assert_string_equal(dest, "[2001:db8::11]:80");
	dsr_table_free(&t);

	/* every node up */
	down_node = NULL;
	assert_int_equal(dsr_want_build(cfg, up, NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.svcs[0].dests[1].weight, 1);
	assert_false(t.svcs[0].dests[0].keep_weight);
	assert_false(t.svcs[0].dests[1].keep_weight);
	dsr_table_free(&t);

	/* rgw1 without a verdict yet: its weight is a ceiling (the kernel's kept while lower) */
	unknown_node = "rgw1";
	assert_int_equal(dsr_want_build(cfg, up, NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.svcs[0].dests[0].weight, 3);
	assert_true(t.svcs[0].dests[0].keep_weight);
	assert_false(t.svcs[0].dests[1].keep_weight);
	unknown_node = NULL;
	dsr_table_free(&t);
	lb_config_unref(cfg);
}

/*
 * What a node's IPVS weight becomes in the first reconcile after a (re)start, for each health
 * state x what the kernel holds (s3lb's want through the reconciler's plan). A drained node is
 * DOWN here (main.c: anything but up is down for IPVS), and drains are restored before the first
 * want is built (health/health.h, hc_drain_restore), so a drained node never gets UNKNOWN's
 * ceiling with its configured weight. The rule: no weight rises before a verdict.
 */
static dsr_node_t table_state;

static dsr_node_t one_state(void *arg, const char *pool, const char *node)
{
	(void)arg;
	(void)pool;
	(void)node;
	return table_state;
}

static void test_first_weight_table(void **state)
{
	static const char one[] = ONE_NODE("{ name: a, addr: 10.0.0.11:8000, weight: 5 }");
	enum { ABSENT = -1 };
	static const struct {
		dsr_node_t health;
		int kernel; /* the kernel's weight, or ABSENT */
		int after;  /* the weight after the first reconcile */
	} rows[] = {
	    /* no verdict yet: the kernel's weight while not above the configured one; added at 0 */
	    {DSR_NODE_UNKNOWN, ABSENT, 0},
	    {DSR_NODE_UNKNOWN, 0, 0},
	    {DSR_NODE_UNKNOWN, 2, 2},
	    {DSR_NODE_UNKNOWN, 5, 5},
	    {DSR_NODE_UNKNOWN, 9, 5},
	    /* first verdict up: the configured weight */
	    {DSR_NODE_UP, ABSENT, 5},
	    {DSR_NODE_UP, 0, 5},
	    {DSR_NODE_UP, 2, 5},
	    {DSR_NODE_UP, 5, 5},
	    {DSR_NODE_UP, 9, 5},
	    /* first verdict down, or drained: 0 */
	    {DSR_NODE_DOWN, ABSENT, 0},
	    {DSR_NODE_DOWN, 0, 0},
	    {DSR_NODE_DOWN, 2, 0},
	    {DSR_NODE_DOWN, 5, 0},
	    {DSR_NODE_DOWN, 9, 0},
	};
	lb_config_t *cfg;
	char err[256];
	(void)state;
	assert_int_equal(lb_config_load_string("t.yaml", one, strlen(one), &cfg, err, sizeof(err)),
	                 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dsr_table_t want, have;
		dsr_owned_t *owned = dsr_owned_new(NULL);
		dsr_plan_t plan;
		int after = rows[i].kernel;

		table_state = rows[i].health;
		assert_int_equal(dsr_want_build(cfg, one_state, NULL, &want, err, sizeof(err)), 0);
		/* the kernel: the same service, with the node at the row's weight (or without it)
		 */
		dsr_table_copy(&want, &have);
		have.svcs[0].svc.netmask = 32;
		if (rows[i].kernel == ABSENT) {
			have.svcs[0].ndests = 0;
		} else {
			have.svcs[0].dests[0].weight = (uint32_t)rows[i].kernel;
			have.svcs[0].dests[0].keep_weight = false;
		}
		assert_int_equal(dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err)), 0);
		for (size_t k = 0; k < plan.n; k++)
			if (plan.steps[k].kind == DSR_STEP_DEST_ADD ||
			    plan.steps[k].kind == DSR_STEP_DEST_EDIT)
				after = (int)plan.steps[k].dest.weight;
		if (after != rows[i].after)
			fail_msg("row %zu (health %d, kernel %d): weight %d, want %d", i,
			         (int)rows[i].health, rows[i].kernel, after, rows[i].after);
		/* never above the kernel's before a verdict */
		if (rows[i].health == DSR_NODE_UNKNOWN)
			assert_true(after <= (rows[i].kernel == ABSENT ? 0 : rows[i].kernel));
		dsr_plan_free(&plan);
		dsr_owned_free(owned);
		dsr_table_free(&want);
		dsr_table_free(&have);
	}
	lb_config_unref(cfg);
}

static void test_family_mismatch_refused(void **state)
{
	static const char bad[] = ONE_NODE("{ name: a, addr: \"[2001:db8::11]:80\" }");
	lb_config_t *cfg;
	dsr_table_t t;
	const char *why;
	char err[256];
	(void)state;
	/* the config loader refuses it ... */
	assert_int_not_equal(
	    lb_config_load_string("t.yaml", bad, strlen(bad), &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "dr[0].pool"));
	/* ... and the builder does not trust that: a node of the other family is refused */
	assert_int_equal(lb_config_load_string("t.yaml", CFG, strlen(CFG), &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(lb_parse_addr("[2001:db8::99]:80", &cfg->pools[0].nodes[1].addr, &why), 0);
	assert_int_equal(dsr_want_build(cfg, up, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ceph/rgw2"));
	lb_config_unref(cfg);
}

/* From a kernel table back to the config: which services are s3lb's, which node a dest is. */
static void test_want_find(void **state)
{
	lb_config_t *cfg;
	dsr_svc_key_t key;
	dsr_dest_t dest;
	const char *pool, *node;
	char err[256];
	(void)state;
	assert_int_equal(lb_config_load_string("t.yaml", CFG, strlen(CFG), &cfg, err, sizeof(err)),
	                 0);
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:80", &key), 0);
	assert_int_equal(dsr_dest_parse("10.0.0.12:80", &dest), 0);
	assert_true(dsr_want_find(cfg, &key, &dest.addr, &pool, &node));
	assert_string_equal(pool, "ceph");
	assert_string_equal(node, "rgw2");
	/* a destination added by hand to our service: the pool, no node */
	assert_int_equal(dsr_dest_parse("10.0.0.99:80", &dest), 0);
	assert_true(dsr_want_find(cfg, &key, &dest.addr, &pool, &node));
	assert_string_equal(pool, "ceph");
	assert_null(node);
	/* the service alone */
	assert_true(dsr_want_find(cfg, &key, NULL, &pool, &node));
	assert_null(node);
	/* firewall mark, per family; IPv6 */
	assert_int_equal(dsr_svc_key_parse("FWM 7 IPv4", &key), 0);
	assert_int_equal(dsr_dest_parse("10.0.0.11:8000", &dest), 0);
	assert_true(dsr_want_find(cfg, &key, &dest.addr, &pool, &node));
	assert_string_equal(node, "rgw1");
	assert_int_equal(dsr_svc_key_parse("FWM 7 IPv6", &key), 0);
	assert_false(dsr_want_find(cfg, &key, &dest.addr, &pool, &node));
	assert_null(pool);
	assert_int_equal(dsr_svc_key_parse("TCP [2001:db8::10]:80", &key), 0);
	assert_int_equal(dsr_dest_parse("[2001:db8::11]:80", &dest), 0);
	assert_true(dsr_want_find(cfg, &key, &dest.addr, &pool, &node));
	assert_string_equal(pool, "v6");
	assert_string_equal(node, "a");
	/* someone else's services: another port, another VIP, another mark */
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:81", &key), 0);
	assert_false(dsr_want_find(cfg, &key, NULL, &pool, &node));
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.11:80", &key), 0);
	assert_false(dsr_want_find(cfg, &key, NULL, &pool, &node));
	assert_int_equal(dsr_svc_key_parse("FWM 8 IPv4", &key), 0);
	assert_false(dsr_want_find(cfg, &key, NULL, &pool, &node));
	lb_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_want_from_config_and_health),
	    cmocka_unit_test(test_first_weight_table),
	    cmocka_unit_test(test_family_mismatch_refused),
	    cmocka_unit_test(test_want_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for dsr/announce.c: the decision table (drain, IPVS, health), the states of routes
 * shared by several services, the plan from the kernel's routes (adds, deletes, keeps, routes no
 * conf names), the confs from a loaded config, the config's checks, and the rtnetlink requests
 * (parsed back: type, flags, table, protocol, scope, destination, device) and the recognition of
 * s3lb's routes in a dump. Includes the .c for its statics; no socket is opened.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsr/announce.c"

#include <cmocka.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static dsr_route_t route4(const char *ip, uint32_t table)
{
	dsr_route_t r = {.table = table};
	assert_int_equal(dsr_ip_parse(ip, &r.vip), 0);
	return r;
}

static dsr_announce_conf_t conf4(const char *ip, uint16_t port, uint32_t table)
{
	dsr_announce_conf_t c = {.route = route4(ip, table)};
	c.key.af = AF_INET;
	c.key.protocol = IPPROTO_TCP;
	c.key.addr = c.route.vip;
	c.key.port = port;
	return c;
}

/* A want with one service per conf; health[i] "u" up, "d" down, "?" no verdict per node. */
static void want_of(const dsr_announce_conf_t *confs, const char *const *health, size_t n,
                    dsr_table_t *t)
{
	t->nsvcs = n;
	t->svcs = calloc(n, sizeof(*t->svcs));
	assert_non_null(t->svcs);
	for (size_t i = 0; i < n; i++) {
		size_t nd = strlen(health[i]);
		t->svcs[i].svc.key = confs[i].key;
		t->svcs[i].ndests = nd;
		t->svcs[i].dests = calloc(nd ? nd : 1, sizeof(dsr_dest_t));
		assert_non_null(t->svcs[i].dests);
		for (size_t j = 0; j < nd; j++) {
			dsr_dest_t *d = &t->svcs[i].dests[j];
			d->weight = health[i][j] == 'd' ? 0 : 1;
			d->keep_weight = health[i][j] == '?';
		}
	}
}

static void test_decide(void **state)
{
	static const struct {
		bool draining, ipvs_ok;
		size_t nup, nunknown;
		dsr_ann_t want;
	} rows[] = {
	    {false, true, 1, 0, DSR_ANN_ANNOUNCE},  {false, true, 1, 1, DSR_ANN_ANNOUNCE},
	    {false, true, 0, 1, DSR_ANN_KEEP},      {false, true, 0, 0, DSR_ANN_WITHDRAW},
	    {false, false, 1, 0, DSR_ANN_WITHDRAW}, {false, false, 0, 1, DSR_ANN_WITHDRAW},
	    {true, true, 1, 0, DSR_ANN_WITHDRAW},   {true, true, 0, 1, DSR_ANN_WITHDRAW},
	    {true, false, 0, 0, DSR_ANN_WITHDRAW},
	};
	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++)
		if (dsr_announce_decide(rows[i].draining, rows[i].ipvs_ok, rows[i].nup,
		                        rows[i].nunknown) != rows[i].want)
			fail_msg("row %zu", i);
}

static void test_states(void **state)
{
	/* two services on one VIP (ports 80, 443) and one on another VIP */
	dsr_announce_conf_t c[] = {conf4("10.0.0.100", 80, 100), conf4("10.0.0.100", 443, 100),
	                           conf4("10.0.0.101", 80, 100)};
	const char *h1[] = {"dd", "du", "dd"};
	const char *h2[] = {"d?", "dd", "u?"};
	dsr_table_t t = {0};
	dsr_ann_t a[3];
	(void)state;

	want_of(c, h1, 3, &t);
	dsr_announce_states(c, 3, &t, false, true, a);
	/* the VIP's route stays while 443 can serve */
	assert_int_equal(a[0], DSR_ANN_ANNOUNCE);
	assert_int_equal(a[1], DSR_ANN_ANNOUNCE);
	assert_int_equal(a[2], DSR_ANN_WITHDRAW);
	dsr_announce_states(c, 3, &t, true, true, a);
	assert_int_equal(a[0], DSR_ANN_WITHDRAW);
	assert_int_equal(a[1], DSR_ANN_WITHDRAW);
	dsr_table_free(&t);

	want_of(c, h2, 3, &t);
	dsr_announce_states(c, 3, &t, false, true, a);
	assert_int_equal(a[0], DSR_ANN_KEEP);
	assert_int_equal(a[2], DSR_ANN_ANNOUNCE);
	dsr_table_free(&t);

	/* no want yet, or a want without the service: as without verdict */
	dsr_announce_states(c, 3, NULL, false, true, a);
	assert_int_equal(a[0], DSR_ANN_KEEP);
	memset(&t, 0, sizeof(t));
	dsr_announce_states(c, 1, &t, false, true, a);
	assert_int_equal(a[0], DSR_ANN_KEEP);
}

/* The plan as text: "+10.0.0.100/32 table 100 -..." */
static void plan_text(const dsr_announce_conf_t *c, size_t nc, const dsr_table_t *want,
                      bool draining, const dsr_route_t *have, size_t nhave, char *buf, size_t len)
{
	dsr_route_step_t *steps;
	size_t n;
	buf[0] = '\0';
	dsr_announce_plan(c, nc, want, draining, true, have, nhave, &steps, &n);
	for (size_t i = 0; i < n; i++) {
		char r[96];
		size_t l = strlen(buf);
		dsr_route_format(&steps[i].route, r, sizeof(r));
		snprintf(buf + l, len - l, "%s%c%s", i ? " " : "", steps[i].add ? '+' : '-', r);
	}
	free(steps);
}

static void test_plan(void **state)
{
	dsr_announce_conf_t c[] = {conf4("10.0.0.100", 80, 100), conf4("10.0.0.100", 443, 100),
	                           conf4("10.0.0.101", 80, 7)};
	const char *up[] = {"uu", "uu", "ud"}, *down[] = {"dd", "dd", "d?"};
	dsr_route_t have[] = {route4("10.0.0.100", 100), route4("10.0.0.101", 7),
	                      route4("10.0.0.200", 100)};
	dsr_table_t t = {0};
	char text[512];
	(void)state;

	want_of(c, up, 3, &t);
	/* from nothing: one add per route, not per service */
	plan_text(c, 3, &t, false, NULL, 0, text, sizeof(text));
	assert_string_equal(text, "+10.0.0.100/32 table 100 +10.0.0.101/32 table 7");
	/* in place: nothing, but the route no conf names goes */
	plan_text(c, 3, &t, false, have, 2, text, sizeof(text));
	assert_string_equal(text, "");
	plan_text(c, 3, &t, false, have, 3, text, sizeof(text));
	assert_string_equal(text, "-10.0.0.200/32 table 100");
	/* a route in another table than the conf's is not the conf's */
	{
		dsr_route_t other = route4("10.0.0.100", 101);
		plan_text(c, 1, &t, false, &other, 1, text, sizeof(text));
		assert_string_equal(text, "-10.0.0.100/32 table 101 +10.0.0.100/32 table 100");
	}
	/* draining: every route of ours goes */
	plan_text(c, 3, &t, true, have, 3, text, sizeof(text));
	assert_string_equal(
	    text, "-10.0.0.100/32 table 100 -10.0.0.101/32 table 7 -10.0.0.200/32 table 100");
	dsr_table_free(&t);

	/* every node down: withdrawn; no verdict: kept as the kernel has it (present or not) */
	want_of(c, down, 3, &t);
	plan_text(c, 3, &t, false, have, 2, text, sizeof(text));
	assert_string_equal(text, "-10.0.0.100/32 table 100");
	plan_text(c, 3, &t, false, NULL, 0, text, sizeof(text));
	assert_string_equal(text, "");
	dsr_table_free(&t);

	/* no conf (announce removed by a reload): every route of ours goes */
	plan_text(NULL, 0, NULL, false, have, 1, text, sizeof(text));
	assert_string_equal(text, "-10.0.0.100/32 table 100");
	/* IPVS unreachable: withdrawn */
	{
		dsr_route_step_t *steps;
		size_t n;
		want_of(c, up, 3, &t);
		dsr_announce_plan(c, 3, &t, false, false, have, 2, &steps, &n);
		assert_int_equal(n, 2);
		assert_false(steps[0].add);
		assert_false(steps[1].add);
		free(steps);
		dsr_table_free(&t);
	}
}

#define BASE                                                                                       \
	"pools:\n"                                                                                 \
	"  - name: p\n"                                                                            \
	"    nodes: [{ name: a, addr: 10.0.0.11:80 }]\n"

static void test_conf_from(void **state)
{
	static const char with[] =
	    BASE "dr:\n"
	         "  - { vip: 10.0.0.100:80, pool: p, announce: { table: 100 } }\n"
	         "  - { vip: 10.0.0.100:81, pool: p }\n"
	         "  - { vip: \"[2001:db8::1]:80\", pool: p6, "
	         "announce: { table: 1000 } }\n"
	         "  - { fwmark: 7, port: 80, pool: p }\n";
	static const char six[] = "  - name: p6\n"
	                          "    nodes: [{ name: b, addr: \"[2001:db8::11]:80\" }]\n";
	char text[1024], err[256], r[96];
	lb_config_t *cfg;
	dsr_announce_conf_t *c;
	size_t n;
	(void)state;

	snprintf(text, sizeof(text), BASE "%s%s", six, with + strlen(BASE));
	if (lb_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	dsr_announce_conf_from(cfg, &c, &n);
	assert_int_equal(n, 2);
	dsr_route_format(&c[0].route, r, sizeof(r));
	assert_string_equal(r, "10.0.0.100/32 table 100");
	assert_int_equal(c[0].key.port, 80);
	assert_int_equal(c[0].key.protocol, IPPROTO_TCP);
	dsr_route_format(&c[1].route, r, sizeof(r));
	assert_string_equal(r, "2001:db8::1/128 table 1000");
	free(c);
	lb_config_unref(cfg);

	/* none */
	snprintf(text, sizeof(text), BASE "dr: [{ vip: 10.0.0.100:80, pool: p }]\n");
	if (lb_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	dsr_announce_conf_from(cfg, &c, &n);
	assert_int_equal(n, 0);
	assert_null(c);
	lb_config_unref(cfg);
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *dr, *want;
	} rows[] = {
	    {"dr: [{ vip: 10.0.0.100:80, pool: p, announce: {} }]\n",
	     "dr[0].announce.table: missing"},
	    {"dr: [{ vip: 10.0.0.100:80, pool: p, announce: { table: 254 } }]\n",
	     "dr[0].announce.table: table 254 is the kernel's main table"},
	    {"dr: [{ vip: 10.0.0.100:80, pool: p, announce: { table: 255 } }]\n",
	     "dr[0].announce.table: table 255 is the kernel's local table"},
	    {"dr: [{ vip: 10.0.0.100:80, pool: p, announce: { table: 0 } }]\n",
	     "dr[0].announce.table: missing"},
	    {"dr: [{ fwmark: 7, port: 80, pool: p, announce: { table: 100 } }]\n",
	     "dr[0].announce: only for a vip service"},
	    {"dr: [{ vip: 10.0.0.100:80, pool: p, announce: { table: 100, metric: 5 } }]\n",
	     "metric"},
	};
	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		char text[512], err[512] = "";
		lb_config_t *cfg = NULL;
		snprintf(text, sizeof(text), BASE "%s", rows[i].dr);
		if (lb_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err)) ==
		    0) {
			lb_config_unref(cfg);
			fail_msg("row %zu loaded", i);
		}
		if (!strstr(err, rows[i].want))
			fail_msg("row %zu: '%s', want '%s'", i, err, rows[i].want);
	}
}

/* ---- netlink requests ---- */

static struct rtmsg *parse_msg(struct nl_msg *m, struct nlattr **tb)
{
	struct nlmsghdr *h = nlmsg_hdr(m);
	assert_int_equal(nlmsg_parse(h, sizeof(struct rtmsg), tb, RTA_MAX, NULL), 0);
	return nlmsg_data(h);
}

static void test_route_msg(void **state)
{
	dsr_route_step_t add = {.add = true, .route = route4("10.0.0.100", 100)};
	dsr_route_step_t del = {.add = false, .route = route4("10.0.0.100", 1000)};
	struct nlattr *tb[RTA_MAX + 1];
	struct nl_msg *m;
	struct rtmsg *rt;
	uint8_t want4[4] = {10, 0, 0, 100};
	(void)state;

	assert_int_equal(route_msg(&add, 1, &m), 0);
	assert_int_equal(nlmsg_hdr(m)->nlmsg_type, RTM_NEWROUTE);
	assert_true(nlmsg_hdr(m)->nlmsg_flags & NLM_F_CREATE);
	assert_true(nlmsg_hdr(m)->nlmsg_flags & NLM_F_EXCL);
	assert_false(nlmsg_hdr(m)->nlmsg_flags & NLM_F_REPLACE);
	rt = parse_msg(m, tb);
	assert_int_equal(rt->rtm_family, AF_INET);
	assert_int_equal(rt->rtm_dst_len, 32);
	assert_int_equal(rt->rtm_table, 100);
	assert_int_equal(rt->rtm_protocol, DSR_RTPROT);
	assert_int_equal(rt->rtm_scope, RT_SCOPE_LINK);
	assert_int_equal(rt->rtm_type, RTN_UNICAST);
	assert_non_null(tb[RTA_DST]);
	assert_int_equal(nla_len(tb[RTA_DST]), 4);
	assert_memory_equal(nla_data(tb[RTA_DST]), want4, 4);
	assert_non_null(tb[RTA_OIF]);
	assert_int_equal(nla_get_u32(tb[RTA_OIF]), 1);
	assert_null(tb[RTA_GATEWAY]);
	nlmsg_free(m);

	/* a table above 255 travels in RTA_TABLE; a delete names the protocol */
	assert_int_equal(route_msg(&del, 1, &m), 0);
	assert_int_equal(nlmsg_hdr(m)->nlmsg_type, RTM_DELROUTE);
	assert_false(nlmsg_hdr(m)->nlmsg_flags & NLM_F_CREATE);
	rt = parse_msg(m, tb);
	assert_int_equal(rt->rtm_protocol, DSR_RTPROT);
	assert_non_null(tb[RTA_TABLE]);
	assert_int_equal(nla_get_u32(tb[RTA_TABLE]), 1000);
	nlmsg_free(m);

	/* IPv6: a /128 */
	add.route.table = 100;
	assert_int_equal(dsr_ip_parse("2001:db8::1", &add.route.vip), 0);
	assert_int_equal(route_msg(&add, 1, &m), 0);
	rt = parse_msg(m, tb);
	assert_int_equal(rt->rtm_family, AF_INET6);
	assert_int_equal(rt->rtm_dst_len, 128);
	assert_int_equal(nla_len(tb[RTA_DST]), 16);
	assert_memory_equal(nla_data(tb[RTA_DST]), add.route.vip.u.raw, 16);
	nlmsg_free(m);
}

/* A dumped route: the object route_object builds is ours; others are not. */
static void test_route_ours(void **state)
{
	dsr_route_t r = route4("10.0.0.100", 4000), got;
	struct rtnl_route *o;
	struct nl_addr *gw;
	char text[96];
	(void)state;

	o = route_object(&r, 1);
	assert_true(route_ours(o, 1, &got));
	assert_int_equal(dsr_route_cmp(&r, &got), 0);
	dsr_route_format(&got, text, sizeof(text));
	assert_string_equal(text, "10.0.0.100/32 table 4000");
	/* on another device than lo */
	assert_false(route_ours(o, 2, &got));
	/* of another protocol (BIRD's, the operator's static one) */
	rtnl_route_set_protocol(o, RTPROT_STATIC);
	assert_false(route_ours(o, 1, &got));
	rtnl_route_set_protocol(o, DSR_RTPROT);
	/* not a host route */
	{
		struct nl_addr *net;
		assert_int_equal(nl_addr_parse("10.0.0.0/24", AF_INET, &net), 0);
		assert_int_equal(rtnl_route_set_dst(o, net), 0);
		nl_addr_put(net);
		assert_false(route_ours(o, 1, &got));
	}
	rtnl_route_put(o);
	/* with a gateway */
	o = route_object(&r, 1);
	assert_int_equal(nl_addr_parse("10.0.0.1", AF_INET, &gw), 0);
	rtnl_route_nh_set_gateway(rtnl_route_nexthop_n(o, 0), gw);
	nl_addr_put(gw);
	assert_false(route_ours(o, 1, &got));
	rtnl_route_put(o);
	/* a blackhole is not ours */
	o = route_object(&r, 1);
	rtnl_route_set_type(o, RTN_BLACKHOLE);
	assert_false(route_ours(o, 1, &got));
	rtnl_route_put(o);
}

static void test_format(void **state)
{
	dsr_route_t a = route4("10.0.0.1", 5), b = route4("10.0.0.2", 5), c = route4("10.0.0.1", 6);
	(void)state;
	assert_true(dsr_route_cmp(&a, &b) < 0);
	assert_true(dsr_route_cmp(&a, &c) < 0);
	assert_true(dsr_route_cmp(&c, &b) > 0);
	assert_int_equal(dsr_route_cmp(&a, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),        cmocka_unit_test(test_states),
	    cmocka_unit_test(test_plan),          cmocka_unit_test(test_conf_from),
	    cmocka_unit_test(test_config_errors), cmocka_unit_test(test_route_msg),
	    cmocka_unit_test(test_route_ours),    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

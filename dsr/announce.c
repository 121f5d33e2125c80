/*
 * The announce decision and plan (pure), and the routes over rtnetlink (libnl-route).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>

#include "dsr/announce.h"
#include "dsr/director.h"

/* ---- pure ------------------------------------------------------------------------------- */

int dsr_route_cmp(const dsr_route_t *a, const dsr_route_t *b)
{
	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	return dsr_ip_cmp(&a->vip, &b->vip);
}

void dsr_route_format(const dsr_route_t *r, char *buf, size_t len)
{
	char ip[64];
	dsr_ip_format(&r->vip, ip, sizeof(ip));
	snprintf(buf, len, "%s/%d table %u", ip, r->vip.af == AF_INET6 ? 128 : 32, r->table);
}

void dsr_announce_conf_from(const lb_config_t *cfg, dsr_announce_conf_t **out, size_t *n)
{
	size_t k = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < cfg->ndr; i++)
		k += cfg->dr[i].has_vip && cfg->dr[i].announce.enabled;
	if (k == 0)
		return;
	*out = calloc(k, sizeof(**out));
	if (!*out)
		abort();
	for (size_t i = 0; i < cfg->ndr; i++) {
		const lb_dr_conf_t *dr = &cfg->dr[i];
		dsr_announce_conf_t *c;
		if (!dr->has_vip || !dr->announce.enabled)
			continue;
		c = &(*out)[(*n)++];
		dsr_ip_from_addr(&dr->vip, &c->route.vip);
		c->route.table = dr->announce.table;
		/* the want's key for this service (dsr_want_build) */
		c->key.af = dr->vip.ss.ss_family;
		c->key.protocol = IPPROTO_TCP;
		c->key.addr = c->route.vip;
		c->key.port = dr->vip.port;
	}
}

dsr_ann_t dsr_announce_decide(bool draining, bool ipvs_ok, size_t nup, size_t nunknown)
{
	if (draining || !ipvs_ok)
		return DSR_ANN_WITHDRAW;
	if (nup > 0)
		return DSR_ANN_ANNOUNCE;
	return nunknown > 0 ? DSR_ANN_KEEP : DSR_ANN_WITHDRAW;
}

/* Whether the want's service key has a node up (*up) or a node without verdict (*unknown).
 * A service missing from the want counts as without verdict (no want yet). */
static void svc_health(const dsr_table_t *want, const dsr_svc_key_t *key, bool *up, bool *unknown)
{
	*up = *unknown = false;
	if (!want) {
		*unknown = true;
		return;
	}
	for (size_t i = 0; i < want->nsvcs; i++) {
		const dsr_tsvc_t *t = &want->svcs[i];
		if (dsr_svc_key_cmp(&t->svc.key, key) != 0)
			continue;
		for (size_t j = 0; j < t->ndests; j++) {
			if (t->dests[j].keep_weight)
				*unknown = true;
			else if (t->dests[j].weight > 0)
				*up = true;
		}
		return;
	}
	*unknown = true;
}

void dsr_announce_states(const dsr_announce_conf_t *confs, size_t nconfs, const dsr_table_t *want,
                         bool draining, bool ipvs_ok, dsr_ann_t *ann)
{
	for (size_t i = 0; i < nconfs; i++) {
		size_t nup = 0, nunknown = 0;
		/* every service on the same route counts */
		for (size_t j = 0; j < nconfs; j++) {
			bool up, unknown;
			if (dsr_route_cmp(&confs[i].route, &confs[j].route) != 0)
				continue;
			svc_health(want, &confs[j].key, &up, &unknown);
			nup += up;
			nunknown += unknown;
		}
		ann[i] = dsr_announce_decide(draining, ipvs_ok, nup, nunknown);
	}
}

static bool route_in(const dsr_route_t *r, const dsr_route_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (dsr_route_cmp(r, &set[i]) == 0)
			return true;
	return false;
}

void dsr_announce_plan(const dsr_announce_conf_t *confs, size_t nconfs, const dsr_table_t *want,
                       bool draining, bool ipvs_ok, const dsr_route_t *have, size_t nhave,
                       dsr_route_step_t **out, size_t *n)
{
	dsr_ann_t *ann = calloc(nconfs ? nconfs : 1, sizeof(*ann));
	dsr_route_step_t *steps = calloc(nhave + nconfs + 1, sizeof(*steps));
	size_t k = 0;

	if (!ann || !steps)
		abort();
	dsr_announce_states(confs, nconfs, want, draining, ipvs_ok, ann);
	/* deletes: routes of ours that no conf names, or whose conf withdraws */
	for (size_t i = 0; i < nhave; i++) {
		bool named = false, keep = false;
		if (route_in(&have[i], have, i))
			continue; /* listed twice (never, but one step is enough) */
		for (size_t j = 0; j < nconfs; j++) {
			if (dsr_route_cmp(&have[i], &confs[j].route) != 0)
				continue;
			named = true;
			keep = ann[j] != DSR_ANN_WITHDRAW;
			break;
		}
		if (!named || !keep)
			steps[k++] = (dsr_route_step_t){.add = false, .route = have[i]};
	}
	/* adds: announced routes the kernel does not have (once per route) */
	for (size_t j = 0; j < nconfs; j++) {
		bool seen = false;
		if (ann[j] != DSR_ANN_ANNOUNCE || route_in(&confs[j].route, have, nhave))
			continue;
		for (size_t m = 0; m < j; m++)
			seen |= dsr_route_cmp(&confs[m].route, &confs[j].route) == 0;
		if (!seen)
			steps[k++] = (dsr_route_step_t){.add = true, .route = confs[j].route};
	}
	free(ann);
	*out = steps;
	*n = k;
}

/* ---- netlink ---------------------------------------------------------------------------- */

struct dsr_rtnl_s {
	struct nl_sock *sk;
	int lo; /* the loopback interface's index */
	char error[256];
};

static struct nl_addr *route_dst(const dsr_route_t *r)
{
	struct nl_addr *a = nl_addr_build(r->vip.af, r->vip.u.raw, r->vip.af == AF_INET6 ? 16 : 4);
	if (!a)
		abort();
	nl_addr_set_prefixlen(a, r->vip.af == AF_INET6 ? 128 : 32);
	return a;
}

/* The route object for r, as s3lb adds it: unicast, scope link (no gateway), protocol
 * DSR_RTPROT, one next hop: dev lo. */
static struct rtnl_route *route_object(const dsr_route_t *r, int lo)
{
	struct rtnl_route *o = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = route_dst(r);
	if (!o || !nh)
		abort();
	rtnl_route_set_family(o, (uint8_t)r->vip.af);
	if (rtnl_route_set_dst(o, dst) < 0)
		abort();
	nl_addr_put(dst);
	rtnl_route_set_table(o, r->table);
	rtnl_route_set_protocol(o, DSR_RTPROT);
	rtnl_route_set_scope(o, RT_SCOPE_LINK);
	rtnl_route_set_type(o, RTN_UNICAST);
	rtnl_route_nh_set_ifindex(nh, lo);
	rtnl_route_add_nexthop(o, nh);
	return o;
}

/* The request for one step (NLM_F_CREATE | NLM_F_EXCL on add: a route in the way is reported,
 * not replaced). A delete names the protocol, so the kernel deletes only s3lb's route. */
static int route_msg(const dsr_route_step_t *s, int lo, struct nl_msg **out)
{
	struct rtnl_route *o = route_object(&s->route, lo);
	int rc = s->add ? rtnl_route_build_add_request(o, NLM_F_CREATE | NLM_F_EXCL, out)
	                : rtnl_route_build_del_request(o, 0, out);
	rtnl_route_put(o);
	return rc < 0 ? -ENOMEM : 0;
}

/* Whether a dumped route is one of s3lb's, and which. */
static bool route_ours(struct rtnl_route *o, int lo, dsr_route_t *out)
{
	struct nl_addr *dst = rtnl_route_get_dst(o);
	int af = rtnl_route_get_family(o);
	unsigned full = af == AF_INET6 ? 128 : 32;
	struct rtnl_nexthop *nh;

	if (rtnl_route_get_protocol(o) != DSR_RTPROT || (af != AF_INET && af != AF_INET6) || !dst ||
	    nl_addr_get_prefixlen(dst) != full || nl_addr_get_len(dst) != full / 8 ||
	    rtnl_route_get_type(o) != RTN_UNICAST || rtnl_route_get_nnexthops(o) != 1)
		return false;
	nh = rtnl_route_nexthop_n(o, 0);
	if (!nh || rtnl_route_nh_get_ifindex(nh) != lo || rtnl_route_nh_get_gateway(nh))
		return false;
	memset(out, 0, sizeof(*out));
	out->vip.af = (uint16_t)af;
	memcpy(out->vip.u.raw, nl_addr_get_binary_addr(dst), full / 8);
	out->table = rtnl_route_get_table(o);
	return true;
}

int dsr_rtnl_open(dsr_rtnl_t **out, char *err, size_t errlen)
{
	dsr_rtnl_t *h = calloc(1, sizeof(*h));
	int rc;
	if (!h)
		abort();
	h->lo = (int)if_nametoindex("lo");
	if (h->lo == 0) {
		snprintf(err, errlen, "no loopback interface: %s", strerror(errno));
		free(h);
		return -ENODEV;
	}
	h->sk = nl_socket_alloc();
	if (!h->sk)
		abort();
	if ((rc = nl_connect(h->sk, NETLINK_ROUTE)) < 0) {
		snprintf(err, errlen, "rtnetlink: %s", nl_geterror(rc));
		nl_socket_free(h->sk);
		free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

void dsr_rtnl_close(dsr_rtnl_t *h)
{
	if (!h)
		return;
	nl_socket_free(h->sk);
	free(h);
}

const char *dsr_rtnl_error(const dsr_rtnl_t *h)
{
	return h->error;
}

typedef struct {
	dsr_rtnl_t *h;
	dsr_route_t *routes;
	size_t n, cap;
} dump_ctx_t;

static void on_route(struct nl_object *obj, void *arg)
{
	dump_ctx_t *c = arg;
	dsr_route_t r;
	if (!route_ours((struct rtnl_route *)obj, c->h->lo, &r))
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->routes = realloc(c->routes, c->cap * sizeof(*c->routes));
		if (!c->routes)
			abort();
	}
	c->routes[c->n++] = r;
}

int dsr_rtnl_dump(dsr_rtnl_t *h, dsr_route_t **out, size_t *n)
{
	static const int families[] = {AF_INET, AF_INET6};
	dump_ctx_t c = {.h = h};

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < 2; i++) {
		struct nl_cache *cache = NULL;
		/* every table (a dump is not filtered by table) */
		int rc = rtnl_route_alloc_cache(h->sk, families[i], 0, &cache);
		if (rc < 0) {
			snprintf(h->error, sizeof(h->error), "dumping routes: %s", nl_geterror(rc));
			free(c.routes);
			return -EIO;
		}
		nl_cache_foreach(cache, on_route, &c);
		nl_cache_free(cache);
	}
	*out = c.routes;
	*n = c.n;
	return 0;
}

/* libnl's error codes for what the kernel answers to route requests */
static int errno_of(int nlerr)
{
	switch (-nlerr) {
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OBJ_NOTFOUND:
		return -ESRCH;
	case NLE_PERM:
		return -EPERM;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_INVAL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int dsr_rtnl_apply(dsr_rtnl_t *h, const dsr_route_step_t *steps, size_t n,
                   void (*cb)(void *ud, const dsr_route_step_t *s, int rc, const char *msg),
                   void *ud)
{
	int first = 0;
	for (size_t i = 0; i < n; i++) {
		struct nl_msg *msg = NULL;
		const char *why = NULL;
		int rc = route_msg(&steps[i], h->lo, &msg);
		if (rc == 0) {
			int nrc = nl_send_sync(h->sk, msg); /* frees msg */
			rc = nrc < 0 ? errno_of(nrc) : 0;
			if (nrc < 0)
				why = nl_geterror(nrc);
		}
		if (rc == -ESRCH && !steps[i].add) { /* gone already */
			rc = 0;
			why = NULL;
		}
		if (rc == -EEXIST)
			why = "a route that is not s3lb's is in the way";
		if (rc < 0) {
			char r[96];
			dsr_route_format(&steps[i].route, r, sizeof(r));
			snprintf(h->error, sizeof(h->error), "%s route %s: %s",
			         steps[i].add ? "adding" : "deleting", r, why ? why : "failed");
			if (!first)
				first = rc;
		}
		if (cb)
			cb(ud, &steps[i], rc, why);
	}
	return first;
}

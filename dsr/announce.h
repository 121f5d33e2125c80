/*
 * Route announcement for active-active directors (ECMP): for each `dr:` service with
 * `announce: { table: N }`, s3lb keeps a host route "VIP/32 dev lo proto 83" (VIP/128 for IPv6)
 * in routing table N while the service can serve, and deletes it when it cannot. A routing
 * daemon (BIRD's kernel protocol with `learn`, docs/operations.md) imports that table and
 * announces the VIP to the routers, which spread flows over every director announcing it.
 * Table N is used by no ip rule: the route only tells the routing daemon, it steers nothing.
 *
 *   draining (SIGTERM)  IPVS reachable  one of the VIP's services ...    route
 *   yes                 -               -                                withdrawn
 *   no                  no              -                                withdrawn
 *   no                  yes             has a node up                    announced
 *   no                  yes             else: has a node without verdict kept as it is
 *   no                  yes             else (every node down/drained)   withdrawn
 *
 * "Kept as it is" covers s3lb's start: a route from before a restart stays until health has
 * spoken, and none is added before. Several services on one VIP (ports 80 and 443) share one
 * route per table: announced while any of them can serve.
 *
 * Ownership: the routes s3lb adds carry the protocol DSR_RTPROT; at start (and on every refresh)
 * s3lb dumps the kernel's routes and manages only host routes of that protocol on lo, so a route
 * put there by the operator or a routing daemon is never deleted (and one in the way of s3lb's
 * is left alone and reported). Nothing of this runs for a config without `announce:`.
 *
 * Pure except the dsr_rtnl_* functions (netlink); those run on the dsr thread (dsr/director.c).
 */
#ifndef S3LB_DSR_ANNOUNCE_H
#define S3LB_DSR_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "dsr/types.h"

/* rtm_protocol of s3lb's routes (`ip route` shows "proto 83"; /etc/iproute2/rt_protos can name
 * it). Unassigned in the kernel's and iproute2's lists. */
#define DSR_RTPROT 83

/* A route s3lb announces: the VIP as a host route, in a routing table. */
typedef struct dsr_route_s {
	dsr_ip_t vip;
	uint32_t table;
} dsr_route_t;

int dsr_route_cmp(const dsr_route_t *a, const dsr_route_t *b);
/* "10.0.0.100/32 table 100" */
void dsr_route_format(const dsr_route_t *r, char *buf, size_t len);

/* One `dr:` service with `announce:`: its route and the service (a key of the want table). */
typedef struct dsr_announce_conf_s {
	dsr_route_t route;
	dsr_svc_key_t key;
} dsr_announce_conf_t;

/* From cfg's `dr:` list, in order; *out NULL when none announces (free it with free). */
void dsr_announce_conf_from(const lb_config_t *cfg, dsr_announce_conf_t **out, size_t *n);

/* A service as the decision needs it, from the want table (dsr/director.h): a destination with
 * weight > 0 is up, one with keep_weight has had no verdict, one with weight 0 is down. */
typedef enum {
	DSR_ANN_WITHDRAW = 0,
	DSR_ANN_ANNOUNCE,
	DSR_ANN_KEEP, /* no verdict yet: leave the kernel's route as it is */
} dsr_ann_t;

/* The table at the top, for one route: nup services with a node up, nunknown services with a
 * node without verdict (among the route's services). */
dsr_ann_t dsr_announce_decide(bool draining, bool ipvs_ok, size_t nup, size_t nunknown);

/* A step: add or delete one route. */
typedef struct dsr_route_step_s {
	bool add;
	dsr_route_t route;
} dsr_route_step_t;

/*
 * The steps from have (s3lb's routes in the kernel, dsr_rtnl_dump) to what confs, the want
 * table and the state call for: adds for routes announced and missing, deletes for routes
 * withdrawn (or no longer configured) and present. want NULL: no want yet (every service as
 * without verdict). *out is allocated (free it), *n steps; deletes come first.
 */
void dsr_announce_plan(const dsr_announce_conf_t *confs, size_t nconfs, const dsr_table_t *want,
                       bool draining, bool ipvs_ok, const dsr_route_t *have, size_t nhave,
                       dsr_route_step_t **out, size_t *n);

/* The whole set of routes confs should have given the same inputs (for /status and logs):
 * fills ann[i] for each conf i. */
void dsr_announce_states(const dsr_announce_conf_t *confs, size_t nconfs, const dsr_table_t *want,
                         bool draining, bool ipvs_ok, dsr_ann_t *ann);

/* ---- netlink (libnl-route), on the dsr thread -------------------------------------------- */

typedef struct dsr_rtnl_s dsr_rtnl_t;

/* Opens an rtnetlink socket; returns 0 or a negative errno with a message in err. */
int dsr_rtnl_open(dsr_rtnl_t **out, char *err, size_t errlen);
void dsr_rtnl_close(dsr_rtnl_t *h);

/* s3lb's routes in the kernel: host routes of protocol DSR_RTPROT on lo, in any table (IPv4 and
 * IPv6). *out allocated (free it). Returns 0 or a negative errno (message: dsr_rtnl_error). */
int dsr_rtnl_dump(dsr_rtnl_t *h, dsr_route_t **out, size_t *n);

/* Carries out the steps, on past a failure; an add answered EEXIST or a delete answered
 * ESRCH/ENOENT counts as done. cb after each (rc 0 or negative errno). Returns 0 or the first
 * failure. */
int dsr_rtnl_apply(dsr_rtnl_t *h, const dsr_route_step_t *steps, size_t n,
                   void (*cb)(void *ud, const dsr_route_step_t *s, int rc, const char *msg),
                   void *ud);

const char *dsr_rtnl_error(const dsr_rtnl_t *h);

#endif

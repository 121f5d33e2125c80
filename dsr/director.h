/*
 * The director's IPVS side at run time: wanted state = config (`dr:` services, each tied to a
 * pool) x health (a node up gets its weight, down or draining gets 0), reconciled into the
 * kernel by a thread of its own, so that netlink never blocks the gateway's loop.
 *
 *   main loop                          dsr thread
 *   ---------                          ----------
 *   dsr_want_build(cfg, health) --+
 *   dsr_director_want(d, want) ---+--> (latest want wins) --> dsr_reconcile: dump, plan, apply
 *                                                             every few seconds: dump counters
 *   /status <-- dsr_director_status <---- uv_async <--------- snapshot of the kernel table
 *
 * Nothing is flushed, ever: a start, a restart or a reload reconciles to the wanted state and
 * leaves established DR connections and foreign services alone (dsr/reconcile.h, dsr/owner.h).
 */
#ifndef S3LB_DSR_DIRECTOR_H
#define S3LB_DSR_DIRECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "dsr/ipvs.h"
#include "dsr/types.h"

/* Health as the director needs it: (pool, node) is up, down (or drained), or has had no verdict
 * yet (s3lb has just started and its first probe has not ended). */
typedef enum { DSR_NODE_DOWN = 0, DSR_NODE_UP, DSR_NODE_UNKNOWN } dsr_node_t;
typedef dsr_node_t (*dsr_node_fn)(void *arg, const char *pool, const char *node);

/*
 * The wanted IPVS table for cfg's `dr:` list: one DR service per entry, the pool's nodes as
 * destinations (node IP, the service's port), weight = the node's weight when up, 0 when down.
 * A node without a verdict gets its weight as a ceiling (dest.keep_weight): the kernel's weight
 * is kept while lower, and a destination the kernel does not have is added with weight 0, so a
 * restart never raises a weight before health has spoken (a down node kept at 0 does not get
 * traffic in the first milliseconds). Pure; out is freed with dsr_table_free. Returns 0 or
 * -EINVAL with err (a node address whose family differs from the service's).
 */
int dsr_want_build(const lb_config_t *cfg, dsr_node_fn state, void *arg, dsr_table_t *out,
                   char *err, size_t errlen);

/*
 * The inverse of dsr_want_build, for reports on a kernel table: whether the service named key is
 * one of cfg's `dr:` entries and, if so, its pool and the node whose address is ip (*node NULL:
 * none of the pool's nodes, or ip NULL). Pure.
 */
bool dsr_want_find(const lb_config_t *cfg, const dsr_svc_key_t *key, const dsr_ip_t *ip,
                   const char **pool, const char **node);

/* The IP of a config address (its port aside). */
void dsr_ip_from_addr(const lb_addr_t *a, dsr_ip_t *ip);

typedef struct dsr_director_s dsr_director_t;

/* Starts the thread. state_path: the ownership file (dsr/owner.h). Runs on the main loop. */
int dsr_director_start(uv_loop_t *loop, const char *state_path, dsr_director_t **out, char *err,
                       size_t errlen);

/* Hands over a new wanted table (taken over: the caller must not free it). Never blocks on
 * netlink; the thread applies the latest one. */
void dsr_director_want(dsr_director_t *d, dsr_table_t *want);

/* The IPVS sync daemons as cfg's `dr_sync:` wants them (dsr/sync.h); without `dr_sync:` the
 * thread leaves them alone. In role auto the thread reads the VRRP state file every second and
 * switches the daemons on a change. Never blocks; runs on the main loop. */
void dsr_director_sync(dsr_director_t *d, const lb_config_t *cfg);

/* The routes cfg's `dr:` services with `announce:` want (dsr/announce.h), following the wanted
 * table's health. Never blocks; runs on the main loop (call it with every want). */
void dsr_director_announce(dsr_director_t *d, const lb_config_t *cfg);

/* s3lb is draining (SIGTERM): every announced route is withdrawn now, and stays withdrawn.
 * Runs on the main loop. (dsr_director_stop withdraws them too.) */
void dsr_director_drain(dsr_director_t *d);

/* What /status shows: the kernel's table as last dumped (services this s3lb manages and the
 * others), whether IPVS is reachable, the last error, and the time of the last reconcile. */
typedef struct dsr_status_s {
	bool available;
	char error[384];
	uint64_t reconciles; /* completed reconcile cycles */
	uint64_t steps_done; /* kernel changes made since start */
	double last_ms;      /* duration of the last reconcile */
	/* cycles with a want to put in place that did not (IPVS unreachable, a step failed) */
	uint64_t reconcile_failures;
	double last_ok_unix; /* wall clock (s) of the last reconcile without a failure; 0: none */
	dsr_table_t table;   /* the kernel's table, with counters */
	/* `dr_sync:` (dsr/sync.h): whether it is set, keepalived's state as last read (role
	 * auto), the kernel's sync daemons as last dumped, and the last failure ("" when none) */
	bool sync_enabled;
	char vrrp[8];
	dsr_daemon_t daemons[2];
	size_t ndaemons;
	char sync_error[384];
} dsr_status_t;
const dsr_status_t *dsr_director_status(dsr_director_t *d);

/* Waits for the thread to finish its current cycle and stop; frees after the async handle is
 * closed (the loop must run). Runs on the main loop. */
void dsr_director_stop(dsr_director_t *d);

#endif

/*
 * The gateway on every core: N workers, each a gw_server_t with its own libuv loop, its own
 * listening sockets (SO_REUSEPORT: the kernel spreads connections), node connection pools,
 * balancers and counters. Worker 0 runs on the main loop, beside health, admin and IPVS; the
 * others each on a thread of their own. Nothing of a worker is shared with another but the
 * immutable config, the TLS contexts (reference-counted atomically) and the metrics, which only
 * their own worker writes (gateway/metrics.h).
 *
 * Everything that crosses threads goes through a mailbox (a locked list and a uv_async):
 * health's verdicts and reloads from the main loop to the workers, passive health reports and
 * "stopped" from the workers to the main loop. A verdict reaches every worker within one
 * iteration of its loop.
 *
 * Per worker, by design: limits.max_connections, max_conns_per_node and max_idle_per_node are
 * divided by the number of workers (at least 1 each); the retry budget is a share of each
 * worker's own requests in flight; the balancer's choices are each worker's.
 */
#ifndef S3LB_GATEWAY_WORKERS_H
#define S3LB_GATEWAY_WORKERS_H

#include "gateway/proxy.h"

typedef struct gw_workers_s gw_workers_t;

/* The number of workers for `workers: N`, or for `auto` (0): the CPUs this process may run on. */
unsigned gw_workers_wanted(unsigned configured);

/*
 * Starts n workers on cfg (takes the caller's reference, also on failure) with the hooks of the
 * rest of the director; they all run on loop's thread (passive reports and admin connections
 * come there). SIGHUP reloads, SIGTERM/SIGINT stop; on_stop(arg) runs on loop once every worker
 * has stopped. Returns 0, or -1 with err set (nothing is left running).
 */
int gw_workers_start(uv_loop_t *loop, lb_config_t *cfg, unsigned n, const gw_hooks_t *hooks,
                     void (*on_stop)(void *arg), void *arg, gw_workers_t **out, char *err,
                     size_t errlen);
/* Worker 0 (on the main loop): its runtime is the current config; its node states are health's. */
gw_server_t *gw_workers_main(gw_workers_t *ws);
unsigned gw_workers_count(const gw_workers_t *ws);
/* Health's verdict for (pool, node): worker 0 now, the others through their mailboxes. */
void gw_workers_node_state(gw_workers_t *ws, const char *pool, const char *node,
                           gw_node_state_t state);
/* SIGHUP: all workers and health take the new config, or none does. */
int gw_workers_reload(gw_workers_t *ws, char *err, size_t errlen);
/* SIGTERM: every worker stops accepting and drains; with timeouts.shutdown_delay, first every
 * worker's healthz answers 503 for that long while everything else is served. */
void gw_workers_stop(gw_workers_t *ws);
/* The sum of every worker's counters and gauges, made now; the caller frees it. */
gw_metrics_t *gw_workers_metrics(const gw_workers_t *ws);
/* Worker k's own counters (read them with GW_GET: the worker writes them meanwhile). */
const gw_metrics_t *gw_workers_metrics_of(const gw_workers_t *ws, unsigned k);
/* After loop has ended: joins the threads and frees everything. */
void gw_workers_free(gw_workers_t *ws);

#endif

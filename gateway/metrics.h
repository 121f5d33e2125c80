/*
 * Counters for /status and /metrics. They live in the server (one per worker), not in a runtime,
 * so they survive reloads; series are keyed by names (pool, node), not by pointers.
 *
 * Each worker's counters are written by that worker's thread only and read by the admin on the
 * main thread, which sums the workers' at scrape time (gw_metrics_add). So every write and every
 * foreign read is a relaxed atomic (GW_ADD / GW_GET: a plain load, add and store on x86-64, no
 * locked instruction, nothing shared between workers), and a new series is linked only once it
 * is complete (a release store) and never unlinked before the metrics are freed.
 */
#ifndef S3LB_GATEWAY_METRICS_H
#define S3LB_GATEWAY_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "handoff/decide.h"

#define GW_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define GW_ADD(field, n) __atomic_store_n(&(field), GW_GET(field) + (n), __ATOMIC_RELAXED)
#define GW_SUB(field, n) __atomic_store_n(&(field), GW_GET(field) - (n), __ATOMIC_RELAXED)
#define GW_INC(field)    GW_ADD(field, 1)
#define GW_DEC(field)    GW_SUB(field, 1)

/* Per-node counters, looked up by pool and node name. */
typedef struct gw_node_stats_s {
	uint64_t requests;       /* attempts sent to this node */
	uint64_t responses_5xx;  /* responses with a 5xx status from the node */
	uint64_t responses_503;  /* of those, 503: S3's SlowDown or ServiceUnavailable (the body
	                          * that tells them apart is not read) */
	uint64_t connects;       /* new upstream connections opened */
	uint64_t connect_errors; /* connect failures and timeouts */
	uint64_t errors;         /* resets, timeouts and invalid responses after connect */
	uint64_t retries;        /* attempts on this node that were retries */
	uint64_t reused;         /* requests sent over a kept-alive connection */
	/* gauges, summed over runtimes and workers */
	uint64_t open;        /* connections: connecting, busy or idle */
	uint64_t idle;        /* idle kept-alive connections */
	uint64_t outstanding; /* requests at the node now (what least-requests balances) */
} gw_node_stats_t;

/* Upper bounds (seconds) of the request duration histogram; the last bucket is +Inf. */
#define GW_LAT_BUCKETS 14
extern const double gw_lat_bounds[GW_LAT_BUCKETS];

typedef struct gw_req_series_s {
	char *pool;
	uint32_t op; /* one lb_op_t bit */
	int status;
	uint64_t count;
	struct gw_req_series_s *next;
} gw_req_series_t;

typedef struct gw_pool_series_s {
	char *pool;
	uint64_t bytes_in, bytes_out;
	uint64_t lat_count;
	double lat_sum;                           /* seconds */
	uint64_t lat_buckets[GW_LAT_BUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t inflight, retries_inflight;      /* gauges (the runtimes' pools) */
	uint64_t retry_budget_exhausted;          /* retries wanted, refused by the budget */
	uint64_t slowdowns_sent;                  /* 503 SlowDown answers s3lb made itself */
	/* requests on handoff routes, by ho_decide's reason */
	uint64_t handoff_decisions[HO_REASON_COUNT];
	uint64_t handoff_fallbacks; /* decided `ok`, then proxied: the switch failed */
	struct gw_pool_series_s *next;
} gw_pool_series_t;

typedef struct gw_node_series_s {
	char *pool, *node;
	gw_node_stats_t stats;
	struct gw_node_series_s *next;
} gw_node_series_t;

typedef struct gw_metrics_s {
	gw_req_series_t *req[256]; /* hash buckets */
	gw_pool_series_t *pools;
	gw_node_series_t *nodes;
	uint64_t conns_accepted;
	uint64_t spliced_responses; /* response bodies moved socket to socket (splice) */
	uint64_t spliced_requests;  /* request bodies moved socket to socket */
	uint64_t spliced_bytes;
	uint64_t splice_fallbacks; /* would have spliced, copied instead (no pipe free) */
	/* spliced_bytes counts both directions */
	uint64_t reloads, reload_errors;
	uint64_t open_conns; /* gauge: open client connections (admin not included) */
} gw_metrics_t;

int gw_metrics_new(gw_metrics_t **out);
void gw_metrics_free(gw_metrics_t *m);
/* The series of (pool, node) or of pool, made on first use (by the metrics' own thread). */
gw_node_stats_t *gw_metrics_node(gw_metrics_t *m, const char *pool, const char *node);
gw_pool_series_t *gw_metrics_pool(gw_metrics_t *m, const char *pool);
/* Looks up without making; NULL when (pool, node) has no series. */
const gw_node_stats_t *gw_metrics_node_find(const gw_metrics_t *m, const char *pool,
                                            const char *node);
const gw_pool_series_t *gw_metrics_pool_find(const gw_metrics_t *m, const char *pool);
/* Adds src's figures to dst's (dst is the caller's, src may be written meanwhile by its worker:
 * each figure is read once, atomically). */
void gw_metrics_add(gw_metrics_t *dst, const gw_metrics_t *src);
void gw_metrics_request(gw_metrics_t *m, const char *pool, lb_op_t op, int status,
                        uint64_t bytes_in, uint64_t bytes_out, uint64_t duration_us);

#endif

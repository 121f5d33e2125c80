/*
 * health/: one health state per node (pool + node name), owned here and published on transitions
 * only, to any number of subscribers (the gateway's pools; IPVS weights later). health/ knows
 * nothing of its subscribers.
 *
 * Active probes run on the main libuv loop and never block it: tcp (connect), http (a request,
 * the status checked against `expect`, the connection kept alive between probes when the node
 * allows it) and s3 (a SigV4-signed HEAD of a canary object). Passive reports from the gateway
 * eject a node after consecutive failures (never the last usable node of a pool); it comes back
 * only through active probes, after a back-off that doubles with each ejection. An operator's
 * drain overrides both.
 */
#ifndef S3LB_HEALTH_HEALTH_H
#define S3LB_HEALTH_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "health/state.h"

typedef struct hc_s hc_t;

typedef struct hc_event_s {
	const char *pool;
	const char *node;
	hc_state_t from, to;
	const char *reason; /* "probe: 2 x connection refused", "passive: 3 consecutive failures",
	                     * "drained by operator", ... */
} hc_event_t;

/* Runs on the loop, synchronously inside the call that caused the transition. */
typedef void (*hc_event_cb)(void *arg, const hc_event_t *ev);

/* What /status shows of a node. */
typedef struct hc_info_s {
	hc_state_t state;
	bool verdict;         /* health has judged the node: a probe ended, a transition happened,
	                       * or it has no active probe; false just after start */
	char reason[160];     /* of the last transition (or "initial") */
	uint64_t since_ms;    /* wall-clock ms of the last transition */
	double last_probe_ms; /* duration of the last finished probe, -1 before the first */
	bool last_probe_ok;
	char last_probe_error[96];
	uint64_t probes_ok, probes_failed;
	uint64_t transitions;
	uint32_t passive_fails; /* current run of failed requests */
	uint32_t ejections;     /* consecutive passive ejections */
	const char *kind;       /* probe kind name */
} hc_info_t;

int hc_new(uv_loop_t *loop, hc_t **out);

/*
 * Takes the nodes (and their health settings) of cfg: nodes already known (same pool and node
 * name) keep their state; new ones start UP and are probed at once; removed ones stop. Takes a
 * reference on cfg (released on the next apply or at close). Returns 0, or -1 with err (a TLS
 * CA file that cannot be loaded); nothing changes then.
 */
int hc_apply(hc_t *hc, lb_config_t *cfg, char *err, size_t errlen);

int hc_subscribe(hc_t *hc, hc_event_cb cb, void *arg);

/* The gateway's view of one request to a node: ok, or a failure with why ("status NNN" for a
 * 5xx response, else the attempt's error). hc_req_classify() decides what counts against the
 * node; a node that is its pool's last usable one is never ejected (state.h, hc_fsm_passive). */
void hc_passive(hc_t *hc, const char *pool, const char *node, bool ok, const char *why);

/* Drains (on) or undrains a node: `name` is "node" (every pool's node of that name) or
 * "pool/node". Returns the number of nodes changed state or matched, or -1 with err when no node
 * has that name. */
int hc_drain(hc_t *hc, const char *name, bool on, char *err, size_t errlen);

/* Drains survive a restart: every change hc_drain makes is written to the config's
 * `drain_state` file (the drained nodes, "pool/node" a line). hc_drain_restore drains what that
 * file names, as hc_drain does (call it after hc_subscribe, so subscribers hear of it); names no
 * longer configured are skipped with a warning. Returns how many were drained, or -1 with err
 * when the file exists but cannot be read. */
int hc_drain_restore(hc_t *hc, char *err, size_t errlen);

/* NULL when the node is unknown. Valid until the next hc_apply. */
const hc_info_t *hc_info(hc_t *hc, const char *pool, const char *node);

/* Calls cb for every node, in no particular order. */
void hc_each(hc_t *hc,
             void (*cb)(void *arg, const char *pool, const char *node, const hc_info_t *i),
             void *arg);

/* Stops every probe; the handles close asynchronously and hc frees itself after them. */
void hc_close(hc_t *hc);

#endif

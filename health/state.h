/*
 * The health verdict of one node as a pure state machine: rise/fall as one counter, passive
 * ejection with a doubling back-off, and the operator's drain on top. Published state:
 * DRAINING if drained, else UP or DOWN from the verdict. No I/O, no clock: callers pass `now`.
 */
#ifndef S3LB_HEALTH_STATE_H
#define S3LB_HEALTH_STATE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { HC_UP = 0, HC_DOWN, HC_DRAINING } hc_state_t;
const char *hc_state_name(hc_state_t s);

typedef struct hc_fsm_s {
	bool up;        /* the verdict of the probes (and passive ejection) */
	bool draining;  /* the operator's drain */
	uint32_t count; /* consecutive results against the verdict (rise or fall progress) */
	uint32_t passive_fails; /* consecutive failed requests seen by the gateway */
	bool passive_fault;     /* that run holds a node fault (not only 500s) */
	bool passive_spared;    /* that run reached the threshold on the pool's last usable node */
	uint32_t ejections;     /* consecutive passive ejections, for the back-off */
	uint64_t probe_after;   /* no active probe before this time (ms): ejection back-off */
	uint64_t ejected_at;    /* time of the last passive ejection (ms) */
} hc_fsm_t;

/* Starts as UP, one failure away from DOWN (so a dead node at start is caught by the first
 * probe, and a live one takes no traffic hit). */
void hc_fsm_init(hc_fsm_t *f, uint32_t fall);
hc_state_t hc_fsm_state(const hc_fsm_t *f);
/* In transition: a rise or a fall has started (probes go at the fast interval). */
bool hc_fsm_moving(const hc_fsm_t *f);

/* An active probe's result at `now`. Returns true when the verdict flipped. The ejection
 * back-off starts over only once the node has stayed up for `forgive` ms after its last
 * ejection, so a flapping node keeps being held back longer. */
bool hc_fsm_probe(hc_fsm_t *f, bool ok, uint32_t rise, uint32_t fall, uint64_t now,
                  uint64_t forgive);

/*
 * What one request's outcome says about its node (the passive-health rule, docs/operations.md):
 * OK: the node answered below 500. FAULT: the node itself failed: a connect error, a reset, a
 * timeout, an invalid or cut response, or 502/503/504 (the node says it cannot serve). SOFT: any
 * other 5xx (500, 501, 505, ...): RGW answers 500 for requests that are themselves wrong (an
 * over-long key: ENAMETOOLONG), so a 500 alone proves nothing about the node.
 */
typedef enum { HC_REQ_OK = 0, HC_REQ_FAULT, HC_REQ_SOFT } hc_req_t;

/* Classifies the gateway's report (gw_node_report: ok, or why = "status NNN" for a 5xx
 * response, any other text for a failed attempt). */
hc_req_t hc_req_classify(bool ok, const char *why);

typedef enum {
	HC_PASSIVE_NONE = 0, /* nothing to tell */
	HC_PASSIVE_EJECTED,  /* the verdict went DOWN */
	HC_PASSIVE_SPARED,   /* the threshold was reached, but the node is its pool's last usable
	                      * one: it stays UP (said once per run of failures) */
} hc_passive_t;

/*
 * A request's outcome seen by the gateway. A run of `threshold` failures ejects the node (the
 * verdict goes DOWN; it comes back through active probes). FAULTs count; a SOFT failure counts
 * only in a run that already holds a FAULT, and otherwise neither counts nor ends the run; OK
 * ends the run. `may_eject` false (the node is the last usable one of its pool) spares the node:
 * passive health never empties a pool, only the active probes can. The first ejection does not
 * delay the probes; each further one before the node was forgiven holds the next probe back for
 * backoff x 2^(n-2) for the n-th, at most max_backoff. threshold 0: passive health is off.
 */
hc_passive_t hc_fsm_passive(hc_fsm_t *f, hc_req_t r, bool may_eject, uint32_t threshold,
                            uint64_t backoff, uint64_t max_backoff, uint64_t now);

/* Drain on or off; returns true when the published state changed. */
bool hc_fsm_drain(hc_fsm_t *f, bool on);

/* interval +- jitter% (uniform over r, any 64-bit random number), so that probes to many nodes
 * do not fire in lock-step. */
uint64_t hc_jittered(uint64_t interval, uint32_t jitter_pct, uint64_t r);

#endif

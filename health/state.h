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
 * A request's outcome seen by the gateway. `threshold` consecutive failures eject the node (the
 * verdict goes DOWN; it comes back through active probes). The first ejection does not delay the
 * probes; each further one before the node was forgiven holds the next probe back for
 * backoff x 2^(n-2) for the n-th, at most max_backoff. A success resets the count. Returns true
 * when the verdict flipped. threshold 0: passive health is off.
 */
bool hc_fsm_passive(hc_fsm_t *f, bool ok, uint32_t threshold, uint64_t backoff,
                    uint64_t max_backoff, uint64_t now);

/* Drain on or off; returns true when the published state changed. */
bool hc_fsm_drain(hc_fsm_t *f, bool on);

/* interval +- jitter% (uniform over r, any 64-bit random number), so that probes to many nodes
 * do not fire in lock-step. */
uint64_t hc_jittered(uint64_t interval, uint32_t jitter_pct, uint64_t r);

#endif

/*
 * Request and error rates over the last minute, for /status, `s3lb status` and the status page.
 * Counters are cumulative; once a second the main loop samples them (admin.h, adm_tick) into one
 * ring per series (a pool, or a pool's node), 61 samples: 60 one-second intervals. A rate is the
 * increase from the oldest sample to the newest over the time between them, so it covers less
 * than a minute until the ring has filled (window_s says how much). A counter that goes down
 * started again from 0 (a series made anew), and only its new value counts for that interval.
 * Pure code: no loop, no clock; main loop only (not thread-safe).
 */
#ifndef S3LB_ADMIN_RATE_H
#define S3LB_ADMIN_RATE_H

#include <stddef.h>
#include <stdint.h>

#define ADM_RATE_SLOTS 61

typedef struct adm_ring_s {
	uint64_t t_ms[ADM_RATE_SLOTS]; /* when each sample was taken (a monotonic clock) */
	uint64_t req[ADM_RATE_SLOTS], err[ADM_RATE_SLOTS];
	unsigned n;    /* samples held, at most ADM_RATE_SLOTS */
	unsigned next; /* the slot the next sample goes to */
} adm_ring_t;

typedef struct adm_rate_s {
	double req_s, err_s; /* per second; 0 with fewer than two samples */
	double window_s;     /* the time the rates cover: 60 once the ring is full */
} adm_rate_t;

/* Adds a sample of the cumulative counters req and err taken at t_ms, dropping the oldest
 * when the ring is full. A ring starts zeroed ({0}). */
void adm_ring_push(adm_ring_t *r, uint64_t t_ms, uint64_t req, uint64_t err);
adm_rate_t adm_ring_rate(const adm_ring_t *r);

/* Rings by name: a pool's (node NULL) and each of its nodes'. */
typedef struct adm_rates_s adm_rates_t;

adm_rates_t *adm_rates_new(void);
void adm_rates_free(adm_rates_t *rs);
/* One sampling round at t_ms: put every series of the running config, then end. A series not
 * put in a round (its node or pool was removed by a reload) is dropped at the end; put again
 * later, it starts a new ring. */
void adm_rates_begin(adm_rates_t *rs, uint64_t t_ms);
void adm_rates_put(adm_rates_t *rs, const char *pool, const char *node, uint64_t req, uint64_t err);
void adm_rates_end(adm_rates_t *rs);
/* The rates of (pool, node) or of pool (node NULL); all 0 for a series never sampled. */
adm_rate_t adm_rates_get(const adm_rates_t *rs, const char *pool, const char *node);
/* How many series are held (for tests). */
size_t adm_rates_count(const adm_rates_t *rs);

#endif

/*
 * The last health transitions, newest first, for /status's "events" (the status page's "Last
 * transitions"): a fixed ring of ADM_EVENTS_MAX, fed by health's subscription (admin.h), each
 * event copied (names and reason cut to fit). Pure code; main loop only.
 */
#ifndef S3LB_ADMIN_EVENTS_H
#define S3LB_ADMIN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define ADM_EVENTS_MAX 32

typedef struct adm_event_s {
	uint64_t time_ms; /* wall clock */
	char pool[64], node[64];
	char from[12], to[12]; /* state names */
	char reason[160];
} adm_event_t;

typedef struct adm_events_s {
	adm_event_t ev[ADM_EVENTS_MAX];
	size_t n;    /* held, at most ADM_EVENTS_MAX */
	size_t next; /* the slot the next one goes to */
} adm_events_t;

/* Adds a transition (strings copied; NULL as ""), dropping the oldest when full. A ring starts
 * zeroed ({0}). */
void adm_events_add(adm_events_t *e, uint64_t time_ms, const char *pool, const char *node,
                    const char *from, const char *to, const char *reason);
/* The i-th newest (0: the latest), or NULL when i >= e->n. */
const adm_event_t *adm_events_get(const adm_events_t *e, size_t i);

#endif

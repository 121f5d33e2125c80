#include <stdio.h>

#include "admin/events.h"

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src) ? (src) : "")

void adm_events_add(adm_events_t *e, uint64_t time_ms, const char *pool, const char *node,
                    const char *from, const char *to, const char *reason)
{
	adm_event_t *x = &e->ev[e->next];
	x->time_ms = time_ms;
	COPY(x->pool, pool);
	COPY(x->node, node);
	COPY(x->from, from);
	COPY(x->to, to);
	COPY(x->reason, reason);
	e->next = (e->next + 1) % ADM_EVENTS_MAX;
	if (e->n < ADM_EVENTS_MAX)
		e->n++;
}

const adm_event_t *adm_events_get(const adm_events_t *e, size_t i)
{
	if (i >= e->n)
		return NULL;
	return &e->ev[(e->next + ADM_EVENTS_MAX - 1 - i) % ADM_EVENTS_MAX];
}

#include <stdlib.h>
#include <string.h>

#include "health/state.h"

const char *hc_state_name(hc_state_t s)
{
	switch (s) {
	case HC_UP:
		return "up";
	case HC_DOWN:
		return "down";
	case HC_DRAINING:
		return "draining";
	}
	return "?";
}

void hc_fsm_init(hc_fsm_t *f, uint32_t fall)
{
	*f = (hc_fsm_t){.up = true, .count = fall > 0 ? fall - 1 : 0};
}

hc_state_t hc_fsm_state(const hc_fsm_t *f)
{
	if (f->draining)
		return HC_DRAINING;
	return f->up ? HC_UP : HC_DOWN;
}

bool hc_fsm_moving(const hc_fsm_t *f)
{
	return f->count > 0;
}

bool hc_fsm_probe(hc_fsm_t *f, bool ok, uint32_t rise, uint32_t fall, uint64_t now,
                  uint64_t forgive)
{
	if (ok == f->up) {
		f->count = 0;
		if (ok && f->ejections && now >= f->ejected_at + forgive)
			f->ejections = 0;
		return false;
	}
	if (++f->count < (f->up ? fall : rise))
		return false;
	f->up = !f->up;
	f->count = 0;
	if (f->up) {
		f->passive_fails = 0;
		f->passive_fault = false;
		f->passive_spared = false;
	}
	return true;
}

hc_req_t hc_req_classify(bool ok, const char *why)
{
	static const char prefix[] = "status ";
	if (ok)
		return HC_REQ_OK;
	if (why && !strncmp(why, prefix, sizeof(prefix) - 1)) {
		int status = atoi(why + sizeof(prefix) - 1);
		if (status == 502 || status == 503 || status == 504)
			return HC_REQ_FAULT;
		if (status >= 500 && status <= 599)
			return HC_REQ_SOFT;
	}
	return HC_REQ_FAULT;
}

hc_passive_t hc_fsm_passive(hc_fsm_t *f, hc_req_t r, bool may_eject, uint32_t threshold,
                            uint64_t backoff, uint64_t max_backoff, uint64_t now)
{
	uint64_t wait = backoff;
	if (threshold == 0)
		return HC_PASSIVE_NONE;
	if (r == HC_REQ_OK) {
		f->passive_fails = 0;
		f->passive_fault = false;
		f->passive_spared = false;
		return HC_PASSIVE_NONE;
	}
	if (r == HC_REQ_FAULT)
		f->passive_fault = true;
	else if (!f->passive_fault)
		return HC_PASSIVE_NONE; /* only 500s so far: the requests may be at fault */
	if (f->passive_fails < threshold)
		f->passive_fails++;
	if (f->passive_fails < threshold || !f->up)
		return HC_PASSIVE_NONE;
	if (!may_eject) {
		if (f->passive_spared)
			return HC_PASSIVE_NONE;
		f->passive_spared = true;
		return HC_PASSIVE_SPARED;
	}
	f->up = false;
	f->count = 0;
	f->passive_fails = 0;
	f->passive_fault = false;
	f->passive_spared = false;
	/* The first ejection holds nothing back: a node that died once and restarts is probed
	 * back at once. Ejections that follow before the node was forgiven wait backoff, then
	 * twice that, and so on: a flapping node is not hammered. */
	if (f->ejections == 0)
		wait = 0;
	for (uint32_t i = 1; i < f->ejections && wait < max_backoff; i++)
		wait *= 2;
	if (wait > max_backoff)
		wait = max_backoff;
	f->ejections++;
	f->ejected_at = now;
	f->probe_after = now + wait;
	return HC_PASSIVE_EJECTED;
}

bool hc_fsm_drain(hc_fsm_t *f, bool on)
{
	hc_state_t before = hc_fsm_state(f);
	f->draining = on;
	return hc_fsm_state(f) != before;
}

uint64_t hc_jittered(uint64_t interval, uint32_t jitter_pct, uint64_t r)
{
	uint64_t span = interval * jitter_pct / 100;
	if (span == 0)
		return interval;
	return interval - span + r % (2 * span + 1);
}

/*
 * Object table (see objects.h). Picking: a few random probes, then a scan from a random start,
 * so a crowded table still finds the last free slot and an empty one answers fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/objects.h"

#define PROBES 8

void bench_objects_init(bench_objects_t *t, uint32_t n, const char *prefix,
                        const bench_size_t *size, uint64_t seed, bool locking, bool assume_present)
{
	memset(t, 0, sizeof(*t));
	t->o = calloc(n, sizeof(*t->o));
	if (!t->o)
		abort();
	t->n = n;
	t->locking = locking;
	t->seed = seed;
	t->size = *size;
	snprintf(t->prefix, sizeof(t->prefix), "%s", prefix);
	if (assume_present) {
		for (uint32_t i = 0; i < n; i++)
			t->o[i].state = BENCH_OBJ_PRESENT;
		t->present = n;
	}
	if (uv_mutex_init(&t->mu) != 0)
		abort();
}

void bench_objects_free(bench_objects_t *t)
{
	if (!t->o)
		return;
	uv_mutex_destroy(&t->mu);
	free(t->o);
	t->o = NULL;
}

uint64_t bench_objects_size(const bench_objects_t *t, uint32_t slot, uint32_t gen)
{
	uint64_t r = bench_mix64(t->seed ^ bench_mix64(((uint64_t)gen << 32) | slot));
	return bench_size_pick(&t->size, r);
}

int bench_objects_key(const bench_objects_t *t, uint32_t slot, char *buf, size_t cap)
{
	size_t n = strlen(t->prefix);
	char num[16];
	int d = 0;

	/* "<prefix>o%08u" without printf: this runs for every operation. */
	do {
		num[d++] = (char)('0' + slot % 10);
		slot /= 10;
	} while (slot);
	while (d < 8)
		num[d++] = '0';
	if (n + 1 + (size_t)d >= cap)
		return snprintf(buf, cap, "%s", t->prefix) + 1 +
		       d; /* truncated, as snprintf would */
	memcpy(buf, t->prefix, n);
	buf[n++] = 'o';
	while (d > 0)
		buf[n++] = num[--d];
	buf[n] = '\0';
	return (int)n;
}

static bool fits(const bench_obj_t *o, bench_take_t how)
{
	if (o->writer)
		return false;
	switch (how) {
	case BENCH_TAKE_READ:
		return o->state == BENCH_OBJ_PRESENT;
	case BENCH_TAKE_DELETE:
		return o->state != BENCH_OBJ_ABSENT && o->readers == 0;
	case BENCH_TAKE_WRITE:
		return o->readers == 0;
	}
	return false;
}

static int64_t find(bench_objects_t *t, bench_rng_t *rng, bench_take_t how)
{
	uint32_t i, s;
	int64_t any = -1;

	for (i = 0; i < PROBES; i++) {
		s = (uint32_t)bench_rng_below(rng, t->n);
		if (!fits(&t->o[s], how))
			continue;
		if (how != BENCH_TAKE_WRITE || t->o[s].state == BENCH_OBJ_ABSENT)
			return s;
		any = s;
	}
	/* Writes prefer absent slots, so PUTs refill what DELETEs emptied. */
	if (how == BENCH_TAKE_WRITE && t->present == t->n && any >= 0)
		return any;
	s = (uint32_t)bench_rng_below(rng, t->n);
	for (i = 0; i < t->n; i++, s = s + 1 == t->n ? 0 : s + 1) {
		if (!fits(&t->o[s], how))
			continue;
		if (how != BENCH_TAKE_WRITE || t->o[s].state == BENCH_OBJ_ABSENT)
			return s;
		if (any < 0)
			any = s;
	}
	return any;
}

int bench_objects_take(bench_objects_t *t, bench_rng_t *rng, bench_take_t how, uint32_t *slot,
                       uint32_t *gen)
{
	int64_t s;
	bench_obj_t *o;

	if (!t->locking) { /* read-only mix: nothing changes, any present slot will do */
		if (how != BENCH_TAKE_READ || t->present == 0)
			return -1;
		s = (int64_t)bench_rng_below(rng, t->n);
		if (t->o[s].state != BENCH_OBJ_PRESENT && (s = find(t, rng, how)) < 0)
			return -1;
		*slot = (uint32_t)s;
		*gen = t->o[s].gen;
		return 0;
	}
	uv_mutex_lock(&t->mu);
	if ((s = find(t, rng, how)) < 0) {
		uv_mutex_unlock(&t->mu);
		return -1;
	}
	o = &t->o[s];
	if (how == BENCH_TAKE_READ) {
		o->readers++;
		*gen = o->gen;
	} else {
		o->writer = 1;
		*gen = how == BENCH_TAKE_WRITE ? o->gen + 1 : o->gen;
	}
	*slot = (uint32_t)s;
	uv_mutex_unlock(&t->mu);
	return 0;
}

/* gen: the version the slot now holds (present) or the newest it may hold (unknown). What an
 * unknown slot may hold grows with each failed operation: a failed write adds its version (to
 * nothing, when the slot was absent), a failed delete adds nothing. */
static void set_state(bench_objects_t *t, bench_obj_t *o, bench_obj_state_t st, uint32_t gen,
                      bool by_delete)
{
	if (st == BENCH_OBJ_UNKNOWN) {
		if (o->state == BENCH_OBJ_ABSENT) {
			o->lo = gen;
			o->maybe_absent = 1;
		} else if (o->state == BENCH_OBJ_PRESENT) {
			o->lo = o->gen;
			o->maybe_absent = 0;
		}
		if (by_delete)
			o->maybe_absent = 1;
	} else {
		o->lo = gen;
		o->maybe_absent = 0;
	}
	o->gen = gen;
	if (o->state == BENCH_OBJ_PRESENT)
		t->present--;
	if (st == BENCH_OBJ_PRESENT)
		t->present++;
	o->state = (uint8_t)st;
}

void bench_objects_give(bench_objects_t *t, uint32_t slot, bench_take_t how, bool ok, uint32_t gen)
{
	bench_obj_t *o = &t->o[slot];
	if (!t->locking)
		return;
	uv_mutex_lock(&t->mu);
	switch (how) {
	case BENCH_TAKE_READ:
		o->readers--;
		break;
	case BENCH_TAKE_WRITE:
		o->writer = 0;
		set_state(t, o, ok ? BENCH_OBJ_PRESENT : BENCH_OBJ_UNKNOWN, gen, false);
		break;
	case BENCH_TAKE_DELETE:
		o->writer = 0;
		set_state(t, o, ok ? BENCH_OBJ_ABSENT : BENCH_OBJ_UNKNOWN, o->gen, true);
		break;
	}
	uv_mutex_unlock(&t->mu);
}

void bench_objects_set(bench_objects_t *t, uint32_t slot, bench_obj_state_t state)
{
	bench_obj_t *o = &t->o[slot];
	uv_mutex_lock(&t->mu);
	/* Prepare writes version 0 to an absent slot; cleanup deletes whatever is there. */
	bool cleanup = state != BENCH_OBJ_PRESENT && o->state != BENCH_OBJ_ABSENT;
	set_state(t, o, state, cleanup ? o->gen : 0, cleanup);
	uv_mutex_unlock(&t->mu);
}

void bench_objects_expect(const bench_objects_t *t, uint32_t slot, bench_obj_expect_t *e)
{
	const bench_obj_t *o = &t->o[slot];
	e->state = (bench_obj_state_t)o->state;
	e->gen = o->gen;
	e->lo = o->state == BENCH_OBJ_UNKNOWN ? o->lo : o->gen;
	e->maybe_absent = o->state == BENCH_OBJ_UNKNOWN && o->maybe_absent;
}

bench_obj_state_t bench_objects_state(const bench_objects_t *t, uint32_t slot)
{
	return (bench_obj_state_t)t->o[slot].state;
}

/*
 * The working set of one target: --objects slots, each a key (<prefix>[<target>/]o<slot>) with a
 * version. A slot's size is drawn from the size distribution by (seed, slot, version), and its
 * body is the generator's function of (key, size), so any reader knows what to expect without
 * asking anyone.
 *
 * Operations take a slot for the time they run: readers (GET, HEAD) share it, writers (PUT,
 * multipart, DELETE) hold it alone, so a GET never races a PUT of the same key and every body
 * can be checked. The table is shared by the worker threads: with writers in the mix, every
 * acquire and release takes the mutex; a read-only mix never changes it and takes no lock.
 *
 * For --read-back, a slot also says what it may hold: present, exactly version gen; absent,
 * nothing; unknown (writes failed midway, which may or may not have happened), any version from
 * lo to gen, or nothing when maybe_absent.
 */
#ifndef S3LB_BENCH_OBJECTS_H
#define S3LB_BENCH_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bench/rand.h"
#include "bench/size.h"

typedef enum {
	BENCH_OBJ_ABSENT = 0,
	BENCH_OBJ_PRESENT,
	BENCH_OBJ_UNKNOWN, /* a write failed midway: neither read nor assumed gone */
} bench_obj_state_t;

typedef struct bench_obj_s {
	uint32_t gen;
	uint32_t lo; /* unknown: the oldest version it may hold */
	uint16_t readers;
	uint8_t state;
	uint8_t writer;
	uint8_t maybe_absent; /* unknown: it may hold nothing */
} bench_obj_t;

typedef enum {
	BENCH_TAKE_READ,   /* present, no writer; shared */
	BENCH_TAKE_DELETE, /* present (or unknown), idle; exclusive */
	BENCH_TAKE_WRITE,  /* idle; absent ones first; exclusive */
} bench_take_t;

typedef struct bench_objects_s {
	bench_obj_t *o;
	uint32_t n;
	bool locking;
	uv_mutex_t mu;
	uint32_t present; /* slots in BENCH_OBJ_PRESENT */
	uint64_t seed;
	bench_size_t size;
	char prefix[300]; /* key prefix, namespace included */
} bench_objects_t;

/* All slots start absent (or present at version 0: assume_present, for --no-prepare). */
void bench_objects_init(bench_objects_t *t, uint32_t n, const char *prefix,
                        const bench_size_t *size, uint64_t seed, bool locking, bool assume_present);
void bench_objects_free(bench_objects_t *t);

uint64_t bench_objects_size(const bench_objects_t *t, uint32_t slot, uint32_t gen);
/* The slot's key; returns its length. */
int bench_objects_key(const bench_objects_t *t, uint32_t slot, char *buf, size_t cap);

/* Takes a slot for an operation: 0 with *slot and *gen (for a write, the version it will
 * write), or -1 when no slot qualifies right now. */
int bench_objects_take(bench_objects_t *t, bench_rng_t *rng, bench_take_t how, uint32_t *slot,
                       uint32_t *gen);
/* Gives it back. ok: the operation succeeded (a write then made `gen` present, a delete made it
 * absent); a failed write or delete leaves the slot unknown. */
void bench_objects_give(bench_objects_t *t, uint32_t slot, bench_take_t how, bool ok, uint32_t gen);

/* For setup and cleanup, which visit every slot once: marks the slot as written (version 0) or
 * deleted, without locking rules (one visitor per slot). */
void bench_objects_set(bench_objects_t *t, uint32_t slot, bench_obj_state_t state);
bench_obj_state_t bench_objects_state(const bench_objects_t *t, uint32_t slot);

/* What the slot may hold (for --read-back, after the rounds: no operation runs on it). */
typedef struct bench_obj_expect_s {
	bench_obj_state_t state;
	uint32_t lo, gen; /* present: gen; unknown: lo..gen */
	bool maybe_absent;
} bench_obj_expect_t;
void bench_objects_expect(const bench_objects_t *t, uint32_t slot, bench_obj_expect_t *e);

#endif

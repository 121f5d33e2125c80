/*
 * Workers: one thread and one libuv loop each, with a share of the connections. A phase (bucket
 * setup, prepare, the measured run, cleanup, bucket teardown) runs the same number of workers
 * against one target; the main thread starts them, watches their progress counters and joins
 * them. Everything a worker touches is its own except the phase (read-only but for the atomics
 * and the progress histogram under its mutex) and the object table (which locks itself).
 */
#ifndef S3LB_BENCH_WORKER_H
#define S3LB_BENCH_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bench/hist.h"
#include "bench/objects.h"
#include "bench/opts.h"
#include "bench/stats.h"

typedef enum {
	BENCH_PH_SETUP,    /* HEAD the bucket, create it when missing */
	BENCH_PH_PREPARE,  /* PUT every slot once */
	BENCH_PH_RUN,      /* the workload, warm-up then the measured window */
	BENCH_PH_READBACK, /* --read-back: GET every slot, compare with what it may hold */
	BENCH_PH_CLEANUP,  /* DELETE every slot that may exist */
	BENCH_PH_TEARDOWN, /* DELETE the bucket */
} bench_phase_kind_t;

typedef struct bench_phase_s {
	const bench_opts_t *o;
	const bench_target_t *t;
	bench_objects_t *objs;
	bench_phase_kind_t kind;
	uint64_t t_start, t_measure, t_end; /* uv_hrtime ns; RUN: [t_measure, t_end) is measured */
	atomic_uint next_slot;              /* PREPARE and CLEANUP: the next slot to visit */
	atomic_int bucket_created;          /* SETUP: 1 when this run created the bucket */
	atomic_uint workers_done;
	atomic_uint_fast64_t rb_lost;       /* READBACK: acknowledged writes not found intact */
	atomic_uint_fast64_t rb_unreadable; /* READBACK: no answer after every retry */
	uv_mutex_t mu;                      /* guards prog */
	bench_hist_t prog; /* latencies in the measured window so far, for the progress line */
} bench_phase_t;

typedef struct bench_worker_s bench_worker_t;

/* nconns connections; rate: this worker's share of --rate (0: closed loop). The worker's
 * errors at start (TLS context) come back from bench_worker_start. */
bench_worker_t *bench_worker_new(bench_phase_t *ph, unsigned id, unsigned nconns, double rate);
__attribute__((warn_unused_result)) int bench_worker_start(bench_worker_t *w, char *err,
                                                           size_t errlen);
void bench_worker_join(bench_worker_t *w);
void bench_worker_free(bench_worker_t *w);

/* Asks a running worker to stop now (any thread): no operation starts any more; idle connections
 * close, operations in flight finish (each within --timeout) and are recorded outside the window,
 * except with --no-drain in a measured round, where they are abandoned, not counted. Safe to call
 * more than once and after the worker ended. */
void bench_worker_stop(bench_worker_t *w);

/* Live counters (any thread): operations and errors finished, body bytes moved. */
void bench_worker_progress(const bench_worker_t *w, uint64_t *ops, uint64_t *bytes,
                           uint64_t *errors);

/* After join: what the worker measured in the window (the whole phase outside RUN), and what
 * happened outside it (warm-up, operations cut off at the end). */
const bench_stats_t *bench_worker_stats(const bench_worker_t *w);
const bench_stats_t *bench_worker_other(const bench_worker_t *w);

#endif

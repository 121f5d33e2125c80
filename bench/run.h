/*
 * The whole benchmark (setup, prepare, interleaved rounds, cleanup, reports), on the calling
 * thread, which also prints the progress lines and samples the watched processes.
 */
#ifndef S3LB_BENCH_RUN_H
#define S3LB_BENCH_RUN_H

#include "bench/opts.h"

/* The exit status: 0 all well, 1 more errors than --max-errors, 2 the run could not be made
 * (bucket unusable, nothing could be prepared, a report could not be written), 130 interrupted
 * (after the cleanup and the reports of what was measured). */
int bench_run(const bench_opts_t *o);

#endif

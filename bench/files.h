/*
 * --write-files DIR: the working set written as plain files, DIR/<bucket>/<key>, with the bodies
 * the verifier expects (version 0 of every slot, as --no-prepare assumes). A static web server
 * serving DIR is then a backend that any GET round can read and check, with no S3 server in the
 * way (bench/harness uses nginx).
 */
#ifndef S3LB_BENCH_FILES_H
#define S3LB_BENCH_FILES_H

#include <stddef.h>

#include "bench/opts.h"

/* Writes every object of the working set under dir (directories made as needed; files already
 * there with the right size are rewritten only when their content differs). 0, or -1 with a
 * message in err. */
int bench_write_files(const bench_opts_t *o, const char *dir, char *err, size_t errlen);

#endif

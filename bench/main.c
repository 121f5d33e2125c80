/* s3lb-bench: the S3 load generator (bench/run.h does the work). */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include "bench/files.h"
#include "bench/opts.h"
#include "bench/run.h"

static bench_opts_t opts;

int main(int argc, char **argv)
{
	struct rlimit rl;
	char err[512];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* One descriptor per connection: allow as many as the hard limit does. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	rc = bench_opts_parse(argc, argv, &opts, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "s3lb-bench: %s\n", err);
		return 2;
	}
	if (opts.write_files[0]) {
		if (bench_write_files(&opts, opts.write_files, err, sizeof(err)) < 0) {
			fprintf(stderr, "s3lb-bench: --write-files: %s\n", err);
			return 2;
		}
		return 0;
	}
	return bench_run(&opts);
}

/*
 * s3lb-bench's command line: what to run, against which targets, and how to report. Parsed once
 * on the main thread; read-only afterwards (workers read it from their threads).
 */
#ifndef S3LB_BENCH_OPTS_H
#define S3LB_BENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench/size.h"

typedef enum {
	BENCH_OP_GET,
	BENCH_OP_PUT,
	BENCH_OP_HEAD,
	BENCH_OP_DELETE,
	BENCH_OP_LIST,
	BENCH_OP_MULTIPART,
	BENCH_OP_PUBLIC,                   /* the kinds a workload can ask for */
	BENCH_OP_BUCKET = BENCH_OP_PUBLIC, /* internal: bucket check/create/delete */
	BENCH_OP_READBACK,                 /* internal: --read-back's GET of every object */
	BENCH_OP_KINDS
} bench_op_kind_t;

extern const char *const bench_op_names[BENCH_OP_KINDS];

#define BENCH_MAX_TARGETS 8
#define BENCH_MAX_WATCH   8

typedef struct bench_target_s {
	char name[32];
	char url[256];
	bool tls;
	char host[256]; /* as in the URL, without brackets: connect address or name, TLS name */
	uint16_t port;
	char authority[272]; /* host[:port] as a Host header says it (port only when not default) */
	struct sockaddr_storage addr;
} bench_target_t;

typedef struct bench_watch_s {
	char name[32];
	int pid;
} bench_watch_t;

/* --watch-net NAME=PID:DEV: interface DEV in the network namespace of process PID. */
typedef struct bench_netwatch_s {
	char name[32];
	int pid;
	char dev[32];
} bench_netwatch_t;

typedef struct bench_opts_s {
	bench_target_t targets[BENCH_MAX_TARGETS];
	unsigned ntargets;
	bench_watch_t watch[BENCH_MAX_WATCH];
	unsigned nwatch;
	bench_netwatch_t netwatch[BENCH_MAX_WATCH];
	unsigned nnetwatch;
	bool watch_system; /* the whole system's CPU time (/proc/stat) */

	char access_key[128];
	char secret_key[128];
	char region[64];
	char bucket[64];
	char prefix[256];
	char vhost_domain[200]; /* "": path-style; else Host: <bucket>.<domain>[:port] */
	bool presign;           /* query-string auth instead of the Authorization header */
	bool sign_payload;      /* x-amz-content-sha256: the body's SHA-256, not UNSIGNED-PAYLOAD */
	char ca_file[256];
	bool insecure; /* https without certificate verification */

	char workload[16];
	unsigned mix[BENCH_OP_PUBLIC]; /* weights */
	unsigned mix_total;
	bench_size_t size;
	uint64_t part_size;
	uint64_t range_size; /* GETs ask for a random range of this many bytes; 0: whole object */
	uint32_t objects;
	uint32_t list_max_keys;

	unsigned concurrency;
	unsigned threads;
	double rate; /* ops/s in all; 0: closed loop */
	uint64_t duration_ms, warmup_ms, timeout_ms;
	unsigned rounds;
	uint64_t seed;

	bool keep;
	bool no_prepare;
	bool shared_keys;      /* every target reads the same keys (no per-target namespace) */
	char write_files[256]; /* --write-files DIR: write the working set as files, then exit */
	bool no_verify;
	bool read_back; /* after the rounds, GET every object: acknowledged writes must be there */
	bool no_drain;  /* busy connections are closed at the end of a measured window */
	bool quiet;
	uint64_t max_errors;
	char json_path[256];
	char csv_path[256];
	char cmdline[2048];
} bench_opts_t;

/* 0 ok, 1 --help or --version printed (exit 0), -1 error with a message in err. */
int bench_opts_parse(int argc, char **argv, bench_opts_t *o, char *err, size_t errlen);

/* "get=45,head=30,put=15,delete=10" into weights (others 0); -1 with *why on error. */
int bench_mix_parse(const char *s, unsigned mix[BENCH_OP_PUBLIC], const char **why);

/* "NAME=URL" or "URL" (name "A", "B", ... by position): parses and resolves the address. */
int bench_target_parse(const char *s, unsigned index, bench_target_t *t, const char **why);

/* The mix as text, e.g. "get=45,head=30,put=15,delete=10". */
void bench_mix_format(const unsigned mix[BENCH_OP_PUBLIC], char *buf, size_t len);

/* Whether the mix reads objects (GET, HEAD or DELETE need them to exist: a prepare phase). */
bool bench_mix_needs_objects(const unsigned mix[BENCH_OP_PUBLIC]);
/* Whether the mix changes objects (PUT, DELETE, multipart: the object table is locked). */
bool bench_mix_writes(const unsigned mix[BENCH_OP_PUBLIC]);

void bench_usage(FILE *f);

#endif

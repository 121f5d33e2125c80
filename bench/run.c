/*
 * A whole benchmark on the main thread:
 *
 *   for each target: bucket setup (HEAD, PUT when missing), prepare (PUT every object)
 *   for each round:  for each target: the workload (warm-up, then the measured window)
 *   --read-back:     for each target: GET every object, compare with what it may hold
 *   for each target: cleanup (DELETE the objects, and the bucket when this run created it)
 *
 * Rounds interleave the targets (A B A B ...) so that drifts of the machine (caches, other
 * load, thermal) hit them alike. While the workers of a phase run, this thread prints a progress
 * line every second and, in measured windows, samples the watched processes: CPU time at the
 * window's start and end, resident memory every 100 ms for the peak; the system's CPU time at
 * the same two edges. The watched interfaces' counters are read before the phase's first
 * connection opens and after its last one closed, so that no byte of it is in flight at either
 * reading: they are set against every body byte of the phase (warm-up and the end included).
 *
 * Ctrl-C (SIGINT or SIGTERM) ends the current round and skips the rest, then the cleanup and
 * the reports run as usual on what was measured; a second one ends the program at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/proc.h"
#include "bench/report.h"
#include "bench/run.h"
#include "bench/worker.h"

#define MS            1000000ull
#define PROGRESS_NS   (1000 * MS)
#define RSS_SAMPLE_NS (100 * MS)
#define POLL_NS       (20 * MS)

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
	signal(sig, SIG_DFL); /* the next one ends the program */
}

typedef struct run_s {
	const bench_opts_t *o;
	bench_results_t res;
	bench_objects_t objs[BENCH_MAX_TARGETS];
} run_t;

static const char *phase_name(bench_phase_kind_t k)
{
	switch (k) {
	case BENCH_PH_SETUP:
		return "setup";
	case BENCH_PH_PREPARE:
		return "prepare";
	case BENCH_PH_RUN:
		return "run";
	case BENCH_PH_READBACK:
		return "read-back";
	case BENCH_PH_CLEANUP:
		return "cleanup";
	case BENCH_PH_TEARDOWN:
		return "teardown";
	}
	return "?";
}

static void sleep_until(uint64_t t)
{
	uint64_t now = uv_hrtime();
	struct timespec ts;
	if (t <= now)
		return;
	t -= now;
	ts.tv_sec = (time_t)(t / 1000000000ull);
	ts.tv_nsec = (long)(t % 1000000000ull);
	nanosleep(&ts, NULL);
}

/* The watched processes of a round: CPU at the window's edges, RSS peak in between. */
typedef struct watch_s {
	unsigned n;
	int pid[BENCH_MAX_WATCH + 1];
	double cpu0[BENCH_MAX_WATCH + 1], cpu1[BENCH_MAX_WATCH + 1];
	uint64_t peak[BENCH_MAX_WATCH + 1];
	bool ok[BENCH_MAX_WATCH + 1];
	unsigned nnet;
	int net_pid[BENCH_MAX_WATCH];
	const char *net_dev[BENCH_MAX_WATCH];
	bench_netdev_t net0[BENCH_MAX_WATCH], net1[BENCH_MAX_WATCH];
	bool net_ok[BENCH_MAX_WATCH];
	bool sys, sys_ok;
	bench_syscpu_t sys0, sys1;
	bool started, ended;
} watch_t;

static void watch_sample(watch_t *wt, double *cpu)
{
	for (unsigned i = 0; i < wt->n; i++) {
		double c;
		uint64_t rss;
		if (bench_proc_read(wt->pid[i], &c, &rss) < 0) {
			wt->ok[i] = false;
			continue;
		}
		if (cpu)
			cpu[i] = c;
		if (rss > wt->peak[i])
			wt->peak[i] = rss;
	}
}

/* The window's edges: CPU of the processes and of the system. */
static void watch_edge(watch_t *wt, bool end)
{
	watch_sample(wt, end ? wt->cpu1 : wt->cpu0);
	if (wt->sys && bench_syscpu_read(end ? &wt->sys1 : &wt->sys0) < 0)
		wt->sys_ok = false;
}

/* The phase's edges: the interfaces' counters. */
static void watch_net(watch_t *wt, bool end)
{
	for (unsigned i = 0; i < wt->nnet; i++)
		if (bench_netdev_read(wt->net_pid[i], wt->net_dev[i],
		                      end ? &wt->net1[i] : &wt->net0[i]) < 0)
			wt->net_ok[i] = false;
}

typedef struct progress_s {
	uint64_t ops, bytes, errors;
	uint64_t t;
} progress_t;

static void progress_read(bench_worker_t **w, unsigned n, progress_t *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < n; i++) {
		uint64_t a, b, c;
		bench_worker_progress(w[i], &a, &b, &c);
		p->ops += a;
		p->bytes += b;
		p->errors += c;
	}
	p->t = uv_hrtime();
}

static void progress_line(const run_t *x, bench_phase_t *ph, unsigned round, const progress_t *prev,
                          const progress_t *cur)
{
	double dt = (double)(cur->t - prev->t) / 1e9;
	double ops = dt > 0 ? (double)(cur->ops - prev->ops) / dt : 0;
	double mb = dt > 0 ? (double)(cur->bytes - prev->bytes) / 1e6 / dt : 0;
	uint64_t p99;

	if (x->o->quiet || ph->kind == BENCH_PH_SETUP || ph->kind == BENCH_PH_TEARDOWN)
		return;
	if (ph->kind != BENCH_PH_RUN) {
		fprintf(stderr, "[%s %s] %llu ops, %.0f ops/s, %.2f MB/s, errors %llu\n",
		        phase_name(ph->kind), ph->t->name, (unsigned long long)cur->ops, ops, mb,
		        (unsigned long long)cur->errors);
		return;
	}
	uv_mutex_lock(&ph->mu);
	p99 = bench_hist_percentile(&ph->prog, 99);
	uv_mutex_unlock(&ph->mu);
	if (cur->t < ph->t_measure)
		fprintf(stderr, "[%s %u/%u warm-up %2.0fs] %8.0f ops/s %9.2f MB/s errors %llu\n",
		        ph->t->name, round + 1, x->o->rounds, (double)(cur->t - ph->t_start) / 1e9,
		        ops, mb, (unsigned long long)cur->errors);
	else
		fprintf(
		    stderr, "[%s %u/%u %3.0fs] %8.0f ops/s %9.2f MB/s errors %llu p99 %.3f ms\n",
		    ph->t->name, round + 1, x->o->rounds, (double)(cur->t - ph->t_measure) / 1e9,
		    ops, mb, (unsigned long long)cur->errors, (double)p99 / 1e6);
}

/*
 * Runs one phase against target ti and merges what it measured: RUN into the target's stats
 * (and the round's figures), everything else into the target's "other". Returns 0, or -1 when
 * the workers could not start (the reason is printed).
 */
static int phase(run_t *x, unsigned ti, bench_phase_kind_t kind, unsigned round)
{
	const bench_opts_t *o = x->o;
	bench_target_res_t *tr = &x->res.targets[ti];
	bool single = kind == BENCH_PH_SETUP || kind == BENCH_PH_TEARDOWN;
	unsigned nthreads = single ? 1 : o->threads, conc = single ? 1 : o->concurrency;
	unsigned started = 0;
	bench_worker_t *w[256];
	bench_phase_t *ph = calloc(1, sizeof(*ph));
	bench_stats_t *st = bench_stats_new();
	progress_t prev, cur;
	watch_t wt;
	uint64_t next_print, next_rss, wake, t_stop = UINT64_MAX, phase_bytes = 0;
	char err[256];
	int rc = 0;

	if (!ph)
		abort();
	ph->o = o;
	ph->t = tr->t;
	ph->objs = &x->objs[ti];
	ph->kind = kind;
	if (uv_mutex_init(&ph->mu) != 0)
		abort();
	bench_hist_init(&ph->prog);
	ph->t_start = uv_hrtime();
	ph->t_measure = ph->t_start + (kind == BENCH_PH_RUN ? o->warmup_ms * MS : 0);
	ph->t_end = kind == BENCH_PH_RUN ? ph->t_measure + o->duration_ms * MS : UINT64_MAX;

	memset(&wt, 0, sizeof(wt));
	wt.n = tr->nprocs;
	for (unsigned i = 0; i < wt.n; i++) {
		wt.pid[i] = tr->procs[i].pid;
		wt.ok[i] = true;
	}
	wt.nnet = tr->nnets;
	for (unsigned i = 0; i < wt.nnet; i++) {
		wt.net_pid[i] = tr->nets[i].pid;
		wt.net_dev[i] = tr->nets[i].dev;
		wt.net_ok[i] = true;
	}
	wt.sys = wt.sys_ok = o->watch_system;
	if (kind == BENCH_PH_RUN)
		watch_net(&wt, false);

	for (unsigned i = 0; i < nthreads; i++) {
		unsigned n = conc / nthreads + (i < conc % nthreads);
		double rate = kind == BENCH_PH_RUN && o->rate > 0 ? o->rate / nthreads : 0;
		w[i] = bench_worker_new(ph, i, n, rate);
		if (bench_worker_start(w[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "s3lb-bench: %s %s: %s\n", phase_name(kind), tr->t->name,
			        err);
			bench_worker_free(w[i]);
			rc = -1;
			break;
		}
		started++;
	}

	progress_read(w, started, &prev);
	next_print = ph->t_start + PROGRESS_NS;
	next_rss = ph->t_measure;
	while (atomic_load(&ph->workers_done) < started) {
		uint64_t now = uv_hrtime();
		if (interrupted && t_stop == UINT64_MAX &&
		    (kind == BENCH_PH_RUN || kind == BENCH_PH_PREPARE)) {
			t_stop = now;
			for (unsigned i = 0; i < started; i++)
				bench_worker_stop(w[i]);
		}
		if (kind == BENCH_PH_RUN && !wt.started && now >= ph->t_measure) {
			watch_edge(&wt, false);
			wt.started = true;
			next_rss = now + RSS_SAMPLE_NS;
		}
		if (wt.started && !wt.ended && now >= ph->t_end) {
			watch_edge(&wt, true);
			wt.ended = true;
		}
		if (wt.started && !wt.ended && now >= next_rss) {
			watch_sample(&wt, NULL);
			next_rss += RSS_SAMPLE_NS;
		}
		if (now >= next_print) {
			progress_read(w, started, &cur);
			progress_line(x, ph, round, &prev, &cur);
			prev = cur;
			next_print += PROGRESS_NS;
		}
		wake = next_print;
		if (kind == BENCH_PH_RUN && !wt.started && ph->t_measure < wake)
			wake = ph->t_measure;
		if (wt.started && !wt.ended) {
			if (ph->t_end < wake)
				wake = ph->t_end;
			if (next_rss < wake)
				wake = next_rss;
		}
		if (wake > now + POLL_NS)
			wake = now + POLL_NS; /* notice the workers ending */
		sleep_until(wake);
	}
	for (unsigned i = 0; i < started; i++) {
		uint64_t ops, bytes, errors;
		bench_worker_join(w[i]);
		bench_worker_progress(w[i], &ops, &bytes, &errors);
		phase_bytes += bytes;
		bench_stats_merge(st, bench_worker_stats(w[i]));
		bench_stats_merge(tr->other, bench_worker_other(w[i]));
		bench_worker_free(w[i]);
	}
	if (kind == BENCH_PH_RUN && wt.started && !wt.ended)
		watch_edge(&wt, true); /* the workers stopped early */
	if (kind == BENCH_PH_RUN)
		watch_net(&wt, true); /* every connection of the phase is closed */

	if (kind == BENCH_PH_RUN) {
		bench_round_res_t *rr = &tr->rounds[tr->nrounds++];
		bench_opstats_t *tot = malloc(sizeof(*tot));
		if (!tot)
			abort();
		bench_stats_total(st, tot);
		if (t_stop < ph->t_end) /* interrupted: what was measured */
			rr->seconds =
			    t_stop > ph->t_measure ? (double)(t_stop - ph->t_measure) / 1e9 : 0;
		else
			rr->seconds = (double)o->duration_ms / 1e3;
		rr->ops = tot->ops;
		rr->errors = bench_stats_errors(st);
		rr->bytes = tot->bytes;
		rr->p99_ns = bench_hist_percentile(&tot->lat, 99);
		free(tot);
		tr->seconds += rr->seconds;
		bench_stats_merge(tr->stats, st);
		rr->phase_bytes = phase_bytes;
		for (unsigned i = 0; i < wt.n; i++) {
			bench_proc_res_t *p = &tr->procs[i];
			p->ok = p->ok && wt.ok[i] && wt.started;
			p->cpu_s += wt.cpu1[i] - wt.cpu0[i];
			if (wt.peak[i] > p->peak_rss_kb)
				p->peak_rss_kb = wt.peak[i];
		}
		for (unsigned i = 0; i < wt.nnet; i++) {
			bench_net_res_t *nr = &tr->nets[i];
			nr->ok = nr->ok && wt.net_ok[i];
			if (!nr->ok)
				continue;
			nr->body_bytes += phase_bytes;
			rr->net_tx[i] = wt.net1[i].tx_bytes - wt.net0[i].tx_bytes;
			rr->net_rx[i] = wt.net1[i].rx_bytes - wt.net0[i].rx_bytes;
			nr->d.tx_bytes += rr->net_tx[i];
			nr->d.rx_bytes += rr->net_rx[i];
			nr->d.tx_packets += wt.net1[i].tx_packets - wt.net0[i].tx_packets;
			nr->d.rx_packets += wt.net1[i].rx_packets - wt.net0[i].rx_packets;
		}
		tr->sys_ok = tr->sys_ok && wt.sys_ok && wt.started;
		if (tr->sys_ok) {
			bench_syscpu_t *a = &wt.sys0, *b = &wt.sys1, *t = &tr->sys;
			rr->sys_busy_s = bench_syscpu_busy(b) - bench_syscpu_busy(a);
			t->user += b->user - a->user;
			t->nice += b->nice - a->nice;
			t->system += b->system - a->system;
			t->idle += b->idle - a->idle;
			t->iowait += b->iowait - a->iowait;
			t->irq += b->irq - a->irq;
			t->softirq += b->softirq - a->softirq;
			t->steal += b->steal - a->steal;
		}
	} else {
		if (kind == BENCH_PH_PREPARE) {
			tr->prepared = st->op[BENCH_OP_PUT].ops - st->op[BENCH_OP_PUT].errors;
			tr->prepare_s = (double)(uv_hrtime() - ph->t_start) / 1e9;
		}
		if (kind == BENCH_PH_SETUP)
			tr->bucket_created = atomic_load(&ph->bucket_created) != 0;
		if (kind == BENCH_PH_READBACK) {
			tr->rb_done = true;
			tr->rb_lost = atomic_load(&ph->rb_lost);
			tr->rb_unreadable = atomic_load(&ph->rb_unreadable);
		}
		bench_stats_merge(tr->other, st);
		if (bench_stats_errors(st)) { /* shown even with --quiet */
			for (int k = 0; k < BENCH_OP_KINDS; k++)
				if (st->op[k].errors) {
					fprintf(stderr,
					        "s3lb-bench: %s %s: %llu errors; first: %s\n",
					        phase_name(kind), tr->t->name,
					        (unsigned long long)st->op[k].errors,
					        st->op[k].first_error);
					break;
				}
		}
	}
	if (kind == BENCH_PH_SETUP && bench_stats_errors(st))
		rc = -1;
	uv_mutex_destroy(&ph->mu);
	free(ph);
	bench_stats_free(st);
	return rc;
}

/* After the rounds: every slot of the target is read and compared with what it may hold. */
static int read_back(run_t *x, unsigned ti)
{
	bench_target_res_t *tr = &x->res.targets[ti];
	const bench_objects_t *t = &x->objs[ti];
	int rc;

	for (uint32_t s = 0; s < t->n; s++)
		switch (bench_objects_state(t, s)) {
		case BENCH_OBJ_PRESENT:
			tr->rb_present++;
			break;
		case BENCH_OBJ_ABSENT:
			tr->rb_absent++;
			break;
		case BENCH_OBJ_UNKNOWN:
			tr->rb_unknown++;
			break;
		}
	rc = phase(x, ti, BENCH_PH_READBACK, 0);
	if (!x->o->quiet && rc == 0)
		fprintf(stderr,
		        "s3lb-bench: %s: read back %u objects: %llu lost, %llu unreadable\n",
		        tr->t->name, t->n, (unsigned long long)tr->rb_lost,
		        (unsigned long long)tr->rb_unreadable);
	return rc;
}

static void target_init(run_t *x, unsigned ti)
{
	const bench_opts_t *o = x->o;
	bench_target_res_t *tr = &x->res.targets[ti];
	char prefix[400];

	tr->t = &o->targets[ti];
	tr->stats = bench_stats_new();
	tr->other = bench_stats_new();
	tr->rounds = calloc(o->rounds, sizeof(*tr->rounds));
	if (!tr->rounds)
		abort();
	snprintf(tr->procs[0].name, sizeof(tr->procs[0].name), "s3lb-bench");
	tr->procs[0].ok = true;
	tr->nprocs = 1;
	for (unsigned i = 0; i < o->nwatch; i++) {
		bench_proc_res_t *p = &tr->procs[tr->nprocs++];
		snprintf(p->name, sizeof(p->name), "%s", o->watch[i].name);
		p->pid = o->watch[i].pid;
		p->ok = true;
	}
	for (unsigned i = 0; i < o->nnetwatch; i++) {
		bench_net_res_t *nr = &tr->nets[tr->nnets++];
		snprintf(nr->name, sizeof(nr->name), "%s", o->netwatch[i].name);
		snprintf(nr->dev, sizeof(nr->dev), "%s", o->netwatch[i].dev);
		nr->pid = o->netwatch[i].pid;
		nr->ok = true;
	}
	tr->sys_ok = o->watch_system;
	/* With several targets each has its own keys, in case they share a backend (unless they
	 * only read, and asked to share). */
	if (o->ntargets > 1 && !o->shared_keys)
		snprintf(prefix, sizeof(prefix), "%s%s/", o->prefix, tr->t->name);
	else
		snprintf(prefix, sizeof(prefix), "%s", o->prefix);
	bench_objects_init(&x->objs[ti], o->objects, prefix, &o->size, o->seed,
	                   bench_mix_writes(o->mix), o->no_prepare);
}

static void target_free(run_t *x, unsigned ti)
{
	bench_target_res_t *tr = &x->res.targets[ti];
	bench_stats_free(tr->stats);
	bench_stats_free(tr->other);
	free(tr->rounds);
	bench_objects_free(&x->objs[ti]);
}

int bench_run(const bench_opts_t *o)
{
	run_t *x = calloc(1, sizeof(*x));
	bool prepare = bench_mix_needs_objects(o->mix) && !o->no_prepare;
	uint64_t errors = 0;
	char err[512];
	time_t now = time(NULL);
	struct tm tm;
	int rc = 0;

	if (!x)
		abort();
	x->o = o;
	x->res.o = o;
	x->res.ntargets = o->ntargets;
	gmtime_r(&now, &tm);
	strftime(x->res.started, sizeof(x->res.started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (unsigned ti = 0; ti < o->ntargets; ti++)
		target_init(x, ti);
	interrupted = 0;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	for (unsigned ti = 0; ti < o->ntargets; ti++) {
		bench_target_res_t *tr = &x->res.targets[ti];
		if (phase(x, ti, BENCH_PH_SETUP, 0) < 0) {
			fprintf(stderr, "s3lb-bench: %s: cannot use bucket %s\n", tr->t->name,
			        o->bucket);
			rc = 2;
			goto cleanup;
		}
		if (!prepare)
			continue;
		if (phase(x, ti, BENCH_PH_PREPARE, 0) < 0 || tr->prepared == 0) {
			if (interrupted)
				break;
			fprintf(stderr, "s3lb-bench: %s: could not write any object\n",
			        tr->t->name);
			rc = 2;
			goto cleanup;
		}
		if (!o->quiet)
			fprintf(stderr, "s3lb-bench: %s: prepared %llu objects in %.2f s\n",
			        tr->t->name, (unsigned long long)tr->prepared, tr->prepare_s);
	}
	if (interrupted)
		goto cleanup;
	for (unsigned r = 0; r < o->rounds && !interrupted; r++)
		for (unsigned ti = 0; ti < o->ntargets && !interrupted; ti++)
			if (phase(x, ti, BENCH_PH_RUN, r) < 0) {
				rc = 2;
				goto cleanup;
			}
	for (unsigned ti = 0; ti < o->ntargets && o->read_back && !interrupted; ti++)
		if (read_back(x, ti) < 0) {
			rc = 2;
			goto cleanup;
		}

cleanup:
	if (interrupted)
		fprintf(stderr,
		        "s3lb-bench: interrupted: cleaning up (Ctrl-C again to quit now)\n");
	/* Every target's objects first, then the buckets: targets may share a backend (and so a
	 * bucket, which only the first one created). */
	for (unsigned ti = 0; ti < (o->shared_keys ? 1 : o->ntargets) && !o->keep; ti++)
		(void)phase(x, ti, BENCH_PH_CLEANUP, 0); /* shared keys: deleted once */
	for (unsigned ti = 0; ti < o->ntargets && !o->keep; ti++)
		if (x->res.targets[ti].bucket_created)
			(void)phase(x, ti, BENCH_PH_TEARDOWN, 0);
	if (interrupted && rc == 0 && x->res.targets[0].nrounds == 0)
		rc = 130; /* nothing was measured: no report */
	if (rc == 0) {
		bench_report_text(stdout, &x->res);
		fflush(stdout);
		if (o->json_path[0] &&
		    bench_report_json(o->json_path, &x->res, err, sizeof(err)) < 0) {
			fprintf(stderr, "s3lb-bench: --json %s\n", err);
			rc = 2;
		}
		if (o->csv_path[0] &&
		    bench_report_csv(o->csv_path, &x->res, err, sizeof(err)) < 0) {
			fprintf(stderr, "s3lb-bench: --csv %s\n", err);
			rc = 2;
		}
	}
	for (unsigned ti = 0; ti < o->ntargets; ti++)
		errors += bench_stats_errors(x->res.targets[ti].stats) +
		          bench_stats_errors(x->res.targets[ti].other);
	if (rc == 0 && errors > o->max_errors) {
		fprintf(stderr, "s3lb-bench: %llu errors (more than --max-errors %llu)\n",
		        (unsigned long long)errors, (unsigned long long)o->max_errors);
		rc = 1;
	}
	if (rc == 0 && interrupted)
		rc = 130;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	for (unsigned ti = 0; ti < o->ntargets; ti++)
		target_free(x, ti);
	free(x);
	return rc;
}

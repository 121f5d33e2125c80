/*
 * Reports (see report.h). The three forms are made from the same figures (bench_figures), so
 * the table, the JSON and the CSV never disagree. Ratios are target / first target for every
 * figure; for latencies and CPU cost lower is better, for rates higher is better.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yyjson.h>

#include "bench/report.h"
#include "bench/size.h"
#include "core/log.h"
#include "core/parse.h"

#define NS_MS 1e6

void bench_figures(const bench_opstats_t *s, double seconds, bench_figures_t *f)
{
	memset(f, 0, sizeof(*f));
	f->ops = s->ops;
	f->errors = s->errors;
	f->requests = s->requests;
	f->bytes = s->bytes;
	if (seconds > 0) {
		f->ops_s = (double)s->ops / seconds;
		f->mb_s = (double)s->bytes / 1e6 / seconds;
	}
	f->p50 = (double)bench_hist_percentile(&s->lat, 50) / NS_MS;
	f->p90 = (double)bench_hist_percentile(&s->lat, 90) / NS_MS;
	f->p99 = (double)bench_hist_percentile(&s->lat, 99) / NS_MS;
	f->p999 = (double)bench_hist_percentile(&s->lat, 99.9) / NS_MS;
	f->max = (double)s->lat.max / NS_MS;
	f->mean = bench_hist_mean(&s->lat) / NS_MS;
	f->t50 = (double)bench_hist_percentile(&s->ttfb, 50) / NS_MS;
	f->t90 = (double)bench_hist_percentile(&s->ttfb, 90) / NS_MS;
	f->t99 = (double)bench_hist_percentile(&s->ttfb, 99) / NS_MS;
	if (s->lat.count == 0)
		f->max = 0;
}

/* The rows a target shows: the kinds that ran, then the total when more than one did. */
static int rows(const bench_stats_t *s, int *kinds)
{
	int n = 0;
	for (int k = 0; k < BENCH_OP_PUBLIC; k++)
		if (s->op[k].ops || s->op[k].errors)
			kinds[n++] = k;
	return n;
}

static void row_figures(const bench_target_res_t *tr, int kind, bench_figures_t *f)
{
	bench_opstats_t *tot;
	if (kind >= 0) {
		bench_figures(&tr->stats->op[kind], tr->seconds, f);
		return;
	}
	tot = malloc(sizeof(*tot));
	if (!tot)
		abort();
	bench_stats_total(tr->stats, tot);
	bench_figures(tot, tr->seconds, f);
	free(tot);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : (a > 0 ? INFINITY : 1.0);
}

/* ---- text ---------------------------------------------------------------------------------- */

static void describe(FILE *f, const bench_opts_t *o)
{
	char mix[160], size[64], d[32], wu[32];
	bench_mix_format(o->mix, mix, sizeof(mix));
	bench_size_format(&o->size, size, sizeof(size));
	lb_format_duration(o->duration_ms, d, sizeof(d));
	lb_format_duration(o->warmup_ms, wu, sizeof(wu));
	fprintf(f, "s3lb-bench: %s (%s), size %s, %u objects", o->workload, mix, size, o->objects);
	if (o->range_size)
		fprintf(f, ", ranges of %llu bytes", (unsigned long long)o->range_size);
	fprintf(f, "\n  ");
	if (o->rate > 0)
		fprintf(f, "open loop at %.0f ops/s (up to %u in flight)", o->rate, o->concurrency);
	else
		fprintf(f, "closed loop, %u in flight", o->concurrency);
	fprintf(f, ", %u thread%s; %s measured x %u round%s, warm-up %s%s; %s, %s%s; verify %s\n",
	        o->threads, o->threads > 1 ? "s" : "", d, o->rounds, o->rounds > 1 ? "s" : "", wu,
	        o->no_drain ? ", operations in flight at the end cut" : "",
	        o->presign        ? "presigned URLs"
	        : o->sign_payload ? "header auth (signed payload)"
	                          : "header auth (UNSIGNED-PAYLOAD)",
	        o->vhost_domain[0] ? "virtual-hosted " : "path-style", o->vhost_domain,
	        o->no_verify ? "off" : "on");
}

static void table_head(FILE *f)
{
	fprintf(f, "  %-10s %10s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "op", "ops/s", "MB/s",
	        "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "ttfb p50", "ttfb p99",
	        "errors");
}

static void table_row(FILE *f, const char *name, int kind, const bench_figures_t *x)
{
	fprintf(f, "  %-10s %10.1f %9.2f %9.3f %9.3f %9.3f %9.3f %9.3f ", name, x->ops_s, x->mb_s,
	        x->p50, x->p90, x->p99, x->p999, x->max);
	if (kind == BENCH_OP_GET)
		fprintf(f, "%9.3f %9.3f", x->t50, x->t99);
	else
		fprintf(f, "%9s %9s", "-", "-");
	fprintf(f, " %8llu\n", (unsigned long long)x->errors);
}

/* One ratio cell: "1.234x", or "-" when both figures are 0 (nothing to compare). */
static void ratio_cell(FILE *f, double a, double b)
{
	if (a == 0 && b == 0)
		fprintf(f, " %9s", "-");
	else
		fprintf(f, " %8.3fx", ratio(a, b));
}

static void ratio_row(FILE *f, const char *name, int kind, const bench_figures_t *x,
                      const bench_figures_t *b)
{
	fprintf(f, "  %-10s ", name); /* ops/s is one column wider than the others */
	ratio_cell(f, x->ops_s, b->ops_s);
	ratio_cell(f, x->mb_s, b->mb_s);
	ratio_cell(f, x->p50, b->p50);
	ratio_cell(f, x->p90, b->p90);
	ratio_cell(f, x->p99, b->p99);
	ratio_cell(f, x->p999, b->p999);
	ratio_cell(f, x->max, b->max);
	if (kind == BENCH_OP_GET) {
		ratio_cell(f, x->t50, b->t50);
		ratio_cell(f, x->t99, b->t99);
	} else {
		fprintf(f, " %9s %9s", "-", "-");
	}
	fputc('\n', f);
}

static void error_lines(FILE *f, const bench_stats_t *s, const char *where)
{
	for (int k = 0; k < BENCH_OP_KINDS; k++) {
		const bench_opstats_t *os = &s->op[k];
		if (!os->errors)
			continue;
		fprintf(f, "  errors%s, %s:", where, bench_op_names[k]);
		for (int i = 0; i < BENCH_ERR_SLOTS && os->err[i].what[0]; i++)
			fprintf(f, "%s %s x%llu", i ? "," : "", os->err[i].what,
			        (unsigned long long)os->err[i].n);
		fprintf(f, "\n    first: %s\n", os->first_error);
	}
}

/* CPU cost of a process per request and per GB moved in the target's measured windows. */
static void proc_cost(const bench_target_res_t *tr, const bench_proc_res_t *p, double *us_req,
                      double *s_gb)
{
	bench_opstats_t *tot = malloc(sizeof(*tot));
	if (!tot)
		abort();
	bench_stats_total(tr->stats, tot);
	*us_req = tot->requests ? p->cpu_s * 1e6 / (double)tot->requests : 0;
	*s_gb = tot->bytes ? p->cpu_s / ((double)tot->bytes / 1e9) : 0;
	free(tot);
}

static void proc_lines(FILE *f, const bench_target_res_t *tr, const bench_target_res_t *base)
{
	for (unsigned i = 0; i < tr->nprocs; i++) {
		const bench_proc_res_t *p = &tr->procs[i];
		double us, sgb, bus, bsgb;
		if (!p->ok) {
			fprintf(f, "  cpu %-12s (pid %d): not readable during every round\n",
			        p->name, p->pid);
			continue;
		}
		proc_cost(tr, p, &us, &sgb);
		fprintf(f,
		        "  cpu %-12s %8.2f CPU-s %10.1f CPU-us/request %9.3f CPU-s/GB  peak RSS "
		        "%.1f MiB",
		        p->name, p->cpu_s, us, sgb, (double)p->peak_rss_kb / 1024.0);
		if (base && i < base->nprocs && base->procs[i].ok) {
			proc_cost(base, &base->procs[i], &bus, &bsgb);
			if (bus > 0 && bsgb > 0)
				fprintf(f, "  (%.3fx, %.3fx of %s)", us / bus, sgb / bsgb,
				        base->t->name);
		}
		fputc('\n', f);
	}
}

/* Body bytes moved in the target's measured windows (the denominator of CPU-s per GB). */
static uint64_t body_bytes(const bench_target_res_t *tr)
{
	bench_opstats_t *tot = malloc(sizeof(*tot));
	uint64_t b;
	if (!tot)
		abort();
	bench_stats_total(tr->stats, tot);
	b = tot->bytes;
	free(tot);
	return b;
}

static double per_byte(uint64_t n, uint64_t body)
{
	return body ? (double)n / (double)body : 0;
}

/* An interface's bytes sent (tx) or received per body byte moved in the same time. */
static double net_per_byte(const bench_net_res_t *n, bool tx)
{
	return per_byte(tx ? n->d.tx_bytes : n->d.rx_bytes, n->body_bytes);
}

static double sys_s_per_gb(const bench_target_res_t *tr)
{
	uint64_t body = body_bytes(tr);
	return body ? bench_syscpu_busy(&tr->sys) / ((double)body / 1e9) : 0;
}

static void net_lines(FILE *f, const bench_opts_t *o, const bench_target_res_t *tr,
                      const bench_target_res_t *base)
{
	for (unsigned i = 0; i < tr->nnets; i++) {
		const bench_net_res_t *n = &tr->nets[i], *b = base ? &base->nets[i] : NULL;
		if (!n->ok) {
			fprintf(f, "  net %s:%s (pid %d): not readable during every round\n",
			        n->name, n->dev, n->pid);
			continue;
		}
		fprintf(f,
		        "  net %s:%s  tx %.2f MB (%.4f per body byte, %llu packets)  rx %.2f MB "
		        "(%.4f, %llu packets); %.2f MB of bodies in the whole rounds",
		        n->name, n->dev, (double)n->d.tx_bytes / 1e6, net_per_byte(n, true),
		        (unsigned long long)n->d.tx_packets, (double)n->d.rx_bytes / 1e6,
		        net_per_byte(n, false), (unsigned long long)n->d.rx_packets,
		        (double)n->body_bytes / 1e6);
		if (b && i < base->nnets && b->ok && net_per_byte(b, true) > 0 &&
		    net_per_byte(b, false) > 0)
			fprintf(f, "  (%.3fx, %.3fx of %s)",
			        net_per_byte(n, true) / net_per_byte(b, true),
			        net_per_byte(n, false) / net_per_byte(b, false), base->t->name);
		fputc('\n', f);
	}
	if (tr->sys_ok) {
		const bench_syscpu_t *c = &tr->sys;
		double busy = bench_syscpu_busy(c), sgb = sys_s_per_gb(tr);
		fprintf(
		    f,
		    "  cpu system       user %.2f  nice %.2f  system %.2f  irq %.2f  softirq %.2f  "
		    "steal %.2f: %.2f of %.2f CPU-s %9.3f CPU-s/GB",
		    c->user, c->nice, c->system, c->irq, c->softirq, c->steal, busy,
		    busy + c->idle + c->iowait, sgb);
		if (base && base->sys_ok && sys_s_per_gb(base) > 0)
			fprintf(f, "  (%.3fx of %s)", sgb / sys_s_per_gb(base), base->t->name);
		fputc('\n', f);
	} else if (o->watch_system) {
		fprintf(f, "  cpu system: /proc/stat not readable during every round\n");
	}
}

void bench_report_text(FILE *f, const bench_results_t *r)
{
	const bench_opts_t *o = r->o;
	const bench_target_res_t *base = &r->targets[0];
	bench_figures_t x, b;
	int kinds[BENCH_OP_PUBLIC], n;

	describe(f, o);
	for (unsigned ti = 0; ti < r->ntargets; ti++) {
		const bench_target_res_t *tr = &r->targets[ti];
		fprintf(f, "\ntarget %s = %s (%.1f s measured)\n", tr->t->name, tr->t->url,
		        tr->seconds);
		table_head(f);
		n = rows(tr->stats, kinds);
		for (int i = 0; i < n; i++) {
			row_figures(tr, kinds[i], &x);
			table_row(f, bench_op_names[kinds[i]], kinds[i], &x);
		}
		if (n != 1) {
			row_figures(tr, -1, &x);
			table_row(f, "total", -1, &x);
		}
		if (tr->stats->missed)
			fprintf(f,
			        "  open loop: %llu operations were due but never started (too few "
			        "connections for the rate, or the target fell behind)\n",
			        (unsigned long long)tr->stats->missed);
		error_lines(f, tr->stats, "");
		error_lines(f, tr->other, " outside the measured window");
		if (tr->rb_done)
			fprintf(
			    f,
			    "  read-back: %llu objects (%llu present, %llu absent, %llu unknown): "
			    "%llu lost, %llu unreadable\n",
			    (unsigned long long)(tr->rb_present + tr->rb_absent + tr->rb_unknown),
			    (unsigned long long)tr->rb_present, (unsigned long long)tr->rb_absent,
			    (unsigned long long)tr->rb_unknown, (unsigned long long)tr->rb_lost,
			    (unsigned long long)tr->rb_unreadable);
		proc_lines(f, tr, ti > 0 ? base : NULL);
		net_lines(f, o, tr, ti > 0 ? base : NULL);
	}
	if (r->ntargets < 2)
		return;
	for (unsigned ti = 1; ti < r->ntargets; ti++) {
		const bench_target_res_t *tr = &r->targets[ti];
		fprintf(f,
		        "\nratio %s / %s (rates: higher is better; latencies: lower is better)\n",
		        tr->t->name, base->t->name);
		table_head(f);
		n = rows(tr->stats, kinds);
		for (int i = 0; i < n; i++) {
			row_figures(tr, kinds[i], &x);
			row_figures(base, kinds[i], &b);
			ratio_row(f, bench_op_names[kinds[i]], kinds[i], &x, &b);
		}
		if (n != 1) {
			row_figures(tr, -1, &x);
			row_figures(base, -1, &b);
			ratio_row(f, "total", -1, &x, &b);
		}
	}
}

/* ---- JSON ---------------------------------------------------------------------------------- */

typedef yyjson_mut_doc jdoc_t;
typedef yyjson_mut_val jval_t;

/* A figure with 6 significant digits, as the report always showed them; JSON has no inf/nan:
 * they become null. */
static void jnum(jdoc_t *d, jval_t *o, const char *key, double v)
{
	char buf[32];
	if (!isfinite(v)) {
		yyjson_mut_obj_add_null(d, o, key);
		return;
	}
	snprintf(buf, sizeof(buf), "%.6g", v);
	yyjson_mut_obj_add_real(d, o, key, strtod(buf, NULL));
}

/* A figure with three decimals (seconds to the millisecond, the rate). */
static void jfixed3(jdoc_t *d, jval_t *o, const char *key, double v)
{
	yyjson_mut_obj_add_real(d, o, key, round(v * 1e3) / 1e3);
}

static void json_figures(jdoc_t *d, jval_t *o, const bench_figures_t *x)
{
	jval_t *lat, *ttfb;
	yyjson_mut_obj_add_uint(d, o, "ops", x->ops);
	yyjson_mut_obj_add_uint(d, o, "errors", x->errors);
	yyjson_mut_obj_add_uint(d, o, "requests", x->requests);
	yyjson_mut_obj_add_uint(d, o, "bytes", x->bytes);
	jnum(d, o, "ops_per_s", x->ops_s);
	jnum(d, o, "mb_per_s", x->mb_s);
	lat = yyjson_mut_obj_add_obj(d, o, "latency_ms");
	jnum(d, lat, "p50", x->p50);
	jnum(d, lat, "p90", x->p90);
	jnum(d, lat, "p99", x->p99);
	jnum(d, lat, "p99.9", x->p999);
	jnum(d, lat, "max", x->max);
	jnum(d, lat, "mean", x->mean);
	ttfb = yyjson_mut_obj_add_obj(d, o, "ttfb_ms");
	jnum(d, ttfb, "p50", x->t50);
	jnum(d, ttfb, "p90", x->t90);
	jnum(d, ttfb, "p99", x->t99);
}

static void json_errors(jdoc_t *d, jval_t *o, const bench_opstats_t *os)
{
	jval_t *by = yyjson_mut_obj_add_obj(d, o, "errors_by_kind");
	for (int i = 0; i < BENCH_ERR_SLOTS && os->err[i].what[0]; i++)
		yyjson_mut_obj_add_val(d, by, os->err[i].what, yyjson_mut_uint(d, os->err[i].n));
	yyjson_mut_obj_add_str(d, o, "first_error", os->first_error);
}

static void json_ratio(jdoc_t *d, jval_t *o, const bench_figures_t *x, const bench_figures_t *b)
{
	const struct {
		const char *k;
		double a, z;
	} v[] = {
	    {"ops_per_s", x->ops_s, b->ops_s}, {"mb_per_s", x->mb_s, b->mb_s},
	    {"p50", x->p50, b->p50},           {"p90", x->p90, b->p90},
	    {"p99", x->p99, b->p99},           {"p99.9", x->p999, b->p999},
	    {"max", x->max, b->max},           {"ttfb_p50", x->t50, b->t50},
	    {"ttfb_p99", x->t99, b->t99},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		jnum(d, o, v[i].k, ratio(v[i].a, v[i].z));
}

static void json_net(jdoc_t *d, jval_t *t, const bench_opts_t *o, const bench_target_res_t *tr)
{
	if (tr->nnets) {
		jval_t *arr = yyjson_mut_obj_add_arr(d, t, "net");
		for (unsigned i = 0; i < tr->nnets; i++) {
			const bench_net_res_t *n = &tr->nets[i];
			jval_t *x = yyjson_mut_arr_add_obj(d, arr);
			yyjson_mut_obj_add_str(d, x, "name", n->name);
			yyjson_mut_obj_add_str(d, x, "dev", n->dev);
			yyjson_mut_obj_add_int(d, x, "pid", n->pid);
			yyjson_mut_obj_add_bool(d, x, "readable", n->ok);
			yyjson_mut_obj_add_uint(d, x, "tx_bytes", n->d.tx_bytes);
			yyjson_mut_obj_add_uint(d, x, "rx_bytes", n->d.rx_bytes);
			yyjson_mut_obj_add_uint(d, x, "tx_packets", n->d.tx_packets);
			yyjson_mut_obj_add_uint(d, x, "rx_packets", n->d.rx_packets);
			yyjson_mut_obj_add_uint(d, x, "body_bytes", n->body_bytes);
			jnum(d, x, "tx_per_body_byte", net_per_byte(n, true));
			jnum(d, x, "rx_per_body_byte", net_per_byte(n, false));
		}
	}
	if (o->watch_system) {
		const bench_syscpu_t *c = &tr->sys;
		const struct {
			const char *k;
			double v;
		} v[] = {
		    {"user_s", c->user},
		    {"nice_s", c->nice},
		    {"system_s", c->system},
		    {"irq_s", c->irq},
		    {"softirq_s", c->softirq},
		    {"steal_s", c->steal},
		    {"idle_s", c->idle},
		    {"iowait_s", c->iowait},
		    {"busy_s", bench_syscpu_busy(c)},
		    {"busy_s_per_gb", sys_s_per_gb(tr)},
		};
		jval_t *x = yyjson_mut_obj_add_obj(d, t, "system_cpu");
		yyjson_mut_obj_add_bool(d, x, "readable", tr->sys_ok);
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			jnum(d, x, v[i].k, v[i].v);
	}
}

static void json_net_ratio(jdoc_t *d, jval_t *ratio_o, const bench_opts_t *o,
                           const bench_target_res_t *tr, const bench_target_res_t *base)
{
	if (tr->nnets) {
		jval_t *net = yyjson_mut_obj_add_obj(d, ratio_o, "net");
		for (unsigned i = 0; i < tr->nnets && i < base->nnets; i++) {
			const bench_net_res_t *n = &tr->nets[i], *b = &base->nets[i];
			jval_t *x = yyjson_mut_obj(d);
			yyjson_mut_obj_add_val(d, net, n->name, x);
			jnum(d, x, "tx_per_body_byte",
			     ratio(net_per_byte(n, true), net_per_byte(b, true)));
			jnum(d, x, "rx_per_body_byte",
			     ratio(net_per_byte(n, false), net_per_byte(b, false)));
		}
	}
	if (o->watch_system) {
		jval_t *x = yyjson_mut_obj_add_obj(d, ratio_o, "system_cpu");
		jnum(d, x, "busy_s_per_gb", ratio(sys_s_per_gb(tr), sys_s_per_gb(base)));
	}
}

static void json_rounds(jdoc_t *d, jval_t *t, const bench_results_t *r,
                        const bench_target_res_t *tr)
{
	jval_t *arr = yyjson_mut_obj_add_arr(d, t, "rounds");
	for (unsigned i = 0; i < tr->nrounds; i++) {
		const bench_round_res_t *rr = &tr->rounds[i];
		jval_t *x = yyjson_mut_arr_add_obj(d, arr);
		jfixed3(d, x, "seconds", rr->seconds);
		yyjson_mut_obj_add_uint(d, x, "ops", rr->ops);
		yyjson_mut_obj_add_uint(d, x, "errors", rr->errors);
		jnum(d, x, "ops_per_s", rr->seconds > 0 ? (double)rr->ops / rr->seconds : 0);
		jnum(d, x, "mb_per_s", rr->seconds > 0 ? (double)rr->bytes / 1e6 / rr->seconds : 0);
		jnum(d, x, "p99_ms", (double)rr->p99_ns / NS_MS);
		if (tr->nnets) {
			jval_t *tx, *rx;
			yyjson_mut_obj_add_uint(d, x, "round_body_bytes", rr->phase_bytes);
			tx = yyjson_mut_obj_add_arr(d, x, "net_tx_bytes");
			rx = yyjson_mut_obj_add_arr(d, x, "net_rx_bytes");
			for (unsigned j = 0; j < tr->nnets; j++) {
				yyjson_mut_arr_add_uint(d, tx, rr->net_tx[j]);
				yyjson_mut_arr_add_uint(d, rx, rr->net_rx[j]);
			}
		}
		if (r->o->watch_system)
			jnum(d, x, "system_busy_s", rr->sys_busy_s);
	}
}

static void json_processes(jdoc_t *d, jval_t *t, const bench_target_res_t *tr)
{
	jval_t *arr = yyjson_mut_obj_add_arr(d, t, "processes");
	for (unsigned i = 0; i < tr->nprocs; i++) {
		const bench_proc_res_t *p = &tr->procs[i];
		jval_t *x = yyjson_mut_arr_add_obj(d, arr);
		double us, sgb;
		proc_cost(tr, p, &us, &sgb);
		yyjson_mut_obj_add_str(d, x, "name", p->name);
		yyjson_mut_obj_add_int(d, x, "pid", p->pid);
		yyjson_mut_obj_add_bool(d, x, "readable", p->ok);
		jnum(d, x, "cpu_s", p->cpu_s);
		jnum(d, x, "cpu_us_per_request", us);
		jnum(d, x, "cpu_s_per_gb", sgb);
		yyjson_mut_obj_add_uint(d, x, "peak_rss_kib", p->peak_rss_kb);
	}
}

static void json_target_ratio(jdoc_t *d, jval_t *t, const bench_results_t *r,
                              const bench_target_res_t *tr, const bench_target_res_t *base)
{
	bench_figures_t x, b;
	int kinds[BENCH_OP_PUBLIC], n = rows(tr->stats, kinds);
	jval_t *ro, *procs;

	yyjson_mut_obj_add_str(d, t, "ratio_to", base->t->name);
	ro = yyjson_mut_obj_add_obj(d, t, "ratio");
	for (int i = 0; i < n; i++) {
		row_figures(tr, kinds[i], &x);
		row_figures(base, kinds[i], &b);
		json_ratio(d, yyjson_mut_obj_add_obj(d, ro, bench_op_names[kinds[i]]), &x, &b);
	}
	row_figures(tr, -1, &x);
	row_figures(base, -1, &b);
	json_ratio(d, yyjson_mut_obj_add_obj(d, ro, "total"), &x, &b);
	procs = yyjson_mut_obj_add_obj(d, ro, "processes");
	for (unsigned i = 0; i < tr->nprocs && i < base->nprocs; i++) {
		double us, sgb, bus, bsgb;
		jval_t *p = yyjson_mut_obj(d);
		proc_cost(tr, &tr->procs[i], &us, &sgb);
		proc_cost(base, &base->procs[i], &bus, &bsgb);
		yyjson_mut_obj_add_val(d, procs, tr->procs[i].name, p);
		jnum(d, p, "cpu_us_per_request", ratio(us, bus));
		jnum(d, p, "cpu_s_per_gb", ratio(sgb, bsgb));
	}
	json_net_ratio(d, ro, r->o, tr, base);
}

static void json_target(jdoc_t *d, jval_t *arr, const bench_results_t *r, unsigned ti)
{
	const bench_target_res_t *tr = &r->targets[ti];
	bench_figures_t x;
	int kinds[BENCH_OP_PUBLIC], n = rows(tr->stats, kinds);
	jval_t *t = yyjson_mut_arr_add_obj(d, arr), *ops, *other;

	yyjson_mut_obj_add_str(d, t, "name", tr->t->name);
	yyjson_mut_obj_add_str(d, t, "url", tr->t->url);
	jfixed3(d, t, "seconds", tr->seconds);
	yyjson_mut_obj_add_uint(d, t, "missed", tr->stats->missed);
	yyjson_mut_obj_add_uint(d, t, "prepared", tr->prepared);
	if (tr->rb_done) {
		jval_t *rb = yyjson_mut_obj_add_obj(d, t, "read_back");
		yyjson_mut_obj_add_uint(d, rb, "present", tr->rb_present);
		yyjson_mut_obj_add_uint(d, rb, "absent", tr->rb_absent);
		yyjson_mut_obj_add_uint(d, rb, "unknown", tr->rb_unknown);
		yyjson_mut_obj_add_uint(d, rb, "lost", tr->rb_lost);
		yyjson_mut_obj_add_uint(d, rb, "unreadable", tr->rb_unreadable);
	}
	ops = yyjson_mut_obj_add_obj(d, t, "ops");
	for (int i = 0; i < n; i++) {
		jval_t *x_o = yyjson_mut_obj_add_obj(d, ops, bench_op_names[kinds[i]]);
		row_figures(tr, kinds[i], &x);
		json_figures(d, x_o, &x);
		json_errors(d, x_o, &tr->stats->op[kinds[i]]);
	}
	row_figures(tr, -1, &x);
	json_figures(d, yyjson_mut_obj_add_obj(d, ops, "total"), &x);
	yyjson_mut_obj_add_uint(d, t, "other_errors", bench_stats_errors(tr->other));
	other = yyjson_mut_obj_add_obj(d, t, "other");
	for (int k = 0; k < BENCH_OP_KINDS; k++)
		if (tr->other->op[k].errors)
			json_errors(d, yyjson_mut_obj_add_obj(d, other, bench_op_names[k]),
			            &tr->other->op[k]);
	json_rounds(d, t, r, tr);
	json_processes(d, t, tr);
	json_net(d, t, r->o, tr);
	if (ti > 0)
		json_target_ratio(d, t, r, tr, &r->targets[0]);
}

int bench_report_json(const char *path, const bench_results_t *r, char *err, size_t errlen)
{
	const bench_opts_t *o = r->o;
	char mix[160], size[64];
	uint64_t errors = 0;
	yyjson_mut_doc *d = yyjson_mut_doc_new(NULL);
	yyjson_mut_val *root, *w, *targets;
	yyjson_write_err werr;

	if (!d)
		abort();
	for (unsigned ti = 0; ti < r->ntargets; ti++)
		errors += bench_stats_errors(r->targets[ti].stats) +
		          bench_stats_errors(r->targets[ti].other);
	bench_mix_format(o->mix, mix, sizeof(mix));
	bench_size_format(&o->size, size, sizeof(size));
	root = yyjson_mut_obj(d);
	yyjson_mut_doc_set_root(d, root);
	yyjson_mut_obj_add_str(d, root, "tool", "s3lb-bench");
	yyjson_mut_obj_add_int(d, root, "format", 1);
	yyjson_mut_obj_add_str(d, root, "started", r->started);
	yyjson_mut_obj_add_str(d, root, "command", o->cmdline);
	w = yyjson_mut_obj_add_obj(d, root, "workload");
	yyjson_mut_obj_add_str(d, w, "name", o->workload);
	yyjson_mut_obj_add_str(d, w, "mix", mix);
	yyjson_mut_obj_add_str(d, w, "size", size);
	yyjson_mut_obj_add_uint(d, w, "objects", o->objects);
	yyjson_mut_obj_add_uint(d, w, "concurrency", o->concurrency);
	yyjson_mut_obj_add_uint(d, w, "threads", o->threads);
	jfixed3(d, w, "rate", o->rate);
	jfixed3(d, w, "duration_s", (double)o->duration_ms / 1e3);
	jfixed3(d, w, "warmup_s", (double)o->warmup_ms / 1e3);
	yyjson_mut_obj_add_uint(d, w, "rounds", o->rounds);
	yyjson_mut_obj_add_uint(d, w, "range", o->range_size);
	yyjson_mut_obj_add_bool(d, w, "verify", !o->no_verify);
	yyjson_mut_obj_add_bool(d, w, "drain", !o->no_drain);
	yyjson_mut_obj_add_str(d, w, "auth", o->presign ? "presigned" : "header");
	yyjson_mut_obj_add_str(d, w, "addressing", o->vhost_domain[0] ? "virtual-hosted" : "path");
	targets = yyjson_mut_obj_add_arr(d, root, "targets");
	for (unsigned ti = 0; ti < r->ntargets; ti++)
		json_target(d, targets, r, ti);
	yyjson_mut_obj_add_uint(d, root, "errors", errors);
	yyjson_mut_obj_add_uint(d, root, "max_errors", o->max_errors);
	yyjson_mut_obj_add_bool(d, root, "passed", errors <= o->max_errors);
	/* names and the command line are whatever the user gave: their bytes are kept */
	if (!yyjson_mut_write_file(path, d,
	                           YYJSON_WRITE_PRETTY_TWO_SPACES | YYJSON_WRITE_NEWLINE_AT_END |
	                               YYJSON_WRITE_ALLOW_INVALID_UNICODE,
	                           NULL, &werr)) {
		snprintf(err, errlen, "%s: %s", path,
		         werr.code == YYJSON_WRITE_ERROR_FILE_OPEN ||
		                 werr.code == YYJSON_WRITE_ERROR_FILE_WRITE
		             ? strerror(errno)
		             : werr.msg);
		yyjson_mut_doc_free(d);
		return -EIO;
	}
	yyjson_mut_doc_free(d);
	return 0;
}

/* ---- CSV ----------------------------------------------------------------------------------- */

static void csv_row(FILE *f, const char *target, const char *op, const bench_figures_t *x,
                    const bench_figures_t *b)
{
	fprintf(f, "%s,%s,%llu,%llu,%llu,%llu,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f",
	        target, op, (unsigned long long)x->ops, (unsigned long long)x->errors,
	        (unsigned long long)x->requests, (unsigned long long)x->bytes, x->ops_s, x->mb_s,
	        x->p50, x->p90, x->p99, x->p999, x->max, x->mean, x->t50, x->t99);
	if (b)
		fprintf(f, ",%.4f,%.4f,%.4f\n", ratio(x->ops_s, b->ops_s), ratio(x->mb_s, b->mb_s),
		        ratio(x->p99, b->p99));
	else
		fputs(",1,1,1\n", f);
}

int bench_report_csv(const char *path, const bench_results_t *r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	const bench_target_res_t *base = &r->targets[0];
	bench_figures_t x, b;
	int kinds[BENCH_OP_PUBLIC], n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	fputs("target,op,ops,errors,requests,bytes,ops_per_s,mb_per_s,p50_ms,p90_ms,p99_ms,"
	      "p999_ms,max_ms,mean_ms,ttfb_p50_ms,ttfb_p99_ms,ratio_ops_per_s,ratio_mb_per_s,"
	      "ratio_p99\n",
	      f);
	for (unsigned ti = 0; ti < r->ntargets; ti++) {
		const bench_target_res_t *tr = &r->targets[ti];
		n = rows(tr->stats, kinds);
		for (int i = 0; i <= n; i++) {
			int k = i < n ? kinds[i] : -1;
			row_figures(tr, k, &x);
			row_figures(base, k, &b);
			csv_row(f, tr->t->name, k >= 0 ? bench_op_names[k] : "total", &x,
			        ti ? &b : NULL);
		}
	}
	if (fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

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

static void json_str(FILE *f, const char *s)
{
	char buf[1024];
	size_t pos = 0;
	lb_json_escape(buf, sizeof(buf), &pos, s, strlen(s));
	fprintf(f, "\"%.*s\"", (int)pos, buf);
}

/* A finite number (JSON has no inf/nan: they become null). */
static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_figures(FILE *f, const bench_figures_t *x)
{
	fprintf(f, "{\"ops\": %llu, \"errors\": %llu, \"requests\": %llu, \"bytes\": %llu, ",
	        (unsigned long long)x->ops, (unsigned long long)x->errors,
	        (unsigned long long)x->requests, (unsigned long long)x->bytes);
	fputs("\"ops_per_s\": ", f);
	json_num(f, x->ops_s);
	fputs(", \"mb_per_s\": ", f);
	json_num(f, x->mb_s);
	fputs(", \"latency_ms\": {\"p50\": ", f);
	json_num(f, x->p50);
	fputs(", \"p90\": ", f);
	json_num(f, x->p90);
	fputs(", \"p99\": ", f);
	json_num(f, x->p99);
	fputs(", \"p99.9\": ", f);
	json_num(f, x->p999);
	fputs(", \"max\": ", f);
	json_num(f, x->max);
	fputs(", \"mean\": ", f);
	json_num(f, x->mean);
	fputs("}, \"ttfb_ms\": {\"p50\": ", f);
	json_num(f, x->t50);
	fputs(", \"p90\": ", f);
	json_num(f, x->t90);
	fputs(", \"p99\": ", f);
	json_num(f, x->t99);
	fputs("}", f);
}

static void json_errors(FILE *f, const bench_opstats_t *os)
{
	fputs("\"errors_by_kind\": {", f);
	for (int i = 0; i < BENCH_ERR_SLOTS && os->err[i].what[0]; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, os->err[i].what);
		fprintf(f, ": %llu", (unsigned long long)os->err[i].n);
	}
	fputs("}, \"first_error\": ", f);
	json_str(f, os->first_error);
}

static void json_ratio(FILE *f, const bench_figures_t *x, const bench_figures_t *b)
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
	fputc('{', f);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "", v[i].k);
		json_num(f, ratio(v[i].a, v[i].z));
	}
	fputc('}', f);
}

static void json_net(FILE *f, const bench_opts_t *o, const bench_target_res_t *tr)
{
	if (tr->nnets)
		fputs(",\n     \"net\": [", f);
	for (unsigned i = 0; i < tr->nnets; i++) {
		const bench_net_res_t *n = &tr->nets[i];
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		json_str(f, n->name);
		fputs(", \"dev\": ", f);
		json_str(f, n->dev);
		fprintf(f,
		        ", \"pid\": %d, \"readable\": %s, \"tx_bytes\": %llu, \"rx_bytes\": %llu, "
		        "\"tx_packets\": %llu, \"rx_packets\": %llu, \"body_bytes\": %llu, "
		        "\"tx_per_body_byte\": ",
		        n->pid, n->ok ? "true" : "false", (unsigned long long)n->d.tx_bytes,
		        (unsigned long long)n->d.rx_bytes, (unsigned long long)n->d.tx_packets,
		        (unsigned long long)n->d.rx_packets, (unsigned long long)n->body_bytes);
		json_num(f, net_per_byte(n, true));
		fputs(", \"rx_per_body_byte\": ", f);
		json_num(f, net_per_byte(n, false));
		fputc('}', f);
	}
	if (tr->nnets)
		fputc(']', f);
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
		fprintf(f, ",\n     \"system_cpu\": {\"readable\": %s",
		        tr->sys_ok ? "true" : "false");
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			fprintf(f, ", \"%s\": ", v[i].k);
			json_num(f, v[i].v);
		}
		fputc('}', f);
	}
}

static void json_net_ratio(FILE *f, const bench_opts_t *o, const bench_target_res_t *tr,
                           const bench_target_res_t *base)
{
	if (tr->nnets)
		fputs(", \"net\": {", f);
	for (unsigned i = 0; i < tr->nnets && i < base->nnets; i++) {
		const bench_net_res_t *n = &tr->nets[i], *b = &base->nets[i];
		fputs(i ? ", " : "", f);
		json_str(f, n->name);
		fputs(": {\"tx_per_body_byte\": ", f);
		json_num(f, ratio(net_per_byte(n, true), net_per_byte(b, true)));
		fputs(", \"rx_per_body_byte\": ", f);
		json_num(f, ratio(net_per_byte(n, false), net_per_byte(b, false)));
		fputc('}', f);
	}
	if (tr->nnets)
		fputc('}', f);
	if (o->watch_system) {
		fputs(", \"system_cpu\": {\"busy_s_per_gb\": ", f);
		json_num(f, ratio(sys_s_per_gb(tr), sys_s_per_gb(base)));
		fputc('}', f);
	}
}

static void json_target(FILE *f, const bench_results_t *r, unsigned ti)
{
	const bench_target_res_t *tr = &r->targets[ti], *base = &r->targets[0];
	bench_figures_t x, b;
	int kinds[BENCH_OP_PUBLIC], n = rows(tr->stats, kinds);

	fputs("    {\"name\": ", f);
	json_str(f, tr->t->name);
	fputs(", \"url\": ", f);
	json_str(f, tr->t->url);
	fprintf(f, ", \"seconds\": %.3f, \"missed\": %llu, \"prepared\": %llu,\n", tr->seconds,
	        (unsigned long long)tr->stats->missed, (unsigned long long)tr->prepared);
	if (tr->rb_done)
		fprintf(
		    f,
		    "     \"read_back\": {\"present\": %llu, \"absent\": %llu, \"unknown\": %llu, "
		    "\"lost\": %llu, \"unreadable\": %llu},\n",
		    (unsigned long long)tr->rb_present, (unsigned long long)tr->rb_absent,
		    (unsigned long long)tr->rb_unknown, (unsigned long long)tr->rb_lost,
		    (unsigned long long)tr->rb_unreadable);
	fputs("     \"ops\": {", f);
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s\n       \"%s\": ", i ? "," : "", bench_op_names[kinds[i]]);
		row_figures(tr, kinds[i], &x);
		json_figures(f, &x);
		fputs(", ", f);
		json_errors(f, &tr->stats->op[kinds[i]]);
		fputc('}', f);
	}
	row_figures(tr, -1, &x);
	fprintf(f, "%s\n       \"total\": ", n ? "," : "");
	json_figures(f, &x);
	fputs("}},\n", f);

	fprintf(f, "     \"other_errors\": %llu, \"other\": {",
	        (unsigned long long)bench_stats_errors(tr->other));
	n = 0;
	for (int k = 0; k < BENCH_OP_KINDS; k++) {
		if (!tr->other->op[k].errors)
			continue;
		fprintf(f, "%s\"%s\": {", n++ ? ", " : "", bench_op_names[k]);
		json_errors(f, &tr->other->op[k]);
		fputc('}', f);
	}
	fputs("},\n     \"rounds\": [", f);
	for (unsigned i = 0; i < tr->nrounds; i++) {
		const bench_round_res_t *rr = &tr->rounds[i];
		fprintf(f, "%s{\"seconds\": %.3f, \"ops\": %llu, \"errors\": %llu, \"ops_per_s\": ",
		        i ? ", " : "", rr->seconds, (unsigned long long)rr->ops,
		        (unsigned long long)rr->errors);
		json_num(f, rr->seconds > 0 ? (double)rr->ops / rr->seconds : 0);
		fputs(", \"mb_per_s\": ", f);
		json_num(f, rr->seconds > 0 ? (double)rr->bytes / 1e6 / rr->seconds : 0);
		fputs(", \"p99_ms\": ", f);
		json_num(f, (double)rr->p99_ns / NS_MS);
		if (tr->nnets) {
			fprintf(f, ", \"round_body_bytes\": %llu, \"net_tx_bytes\": [",
			        (unsigned long long)rr->phase_bytes);
			for (unsigned j = 0; j < tr->nnets; j++)
				fprintf(f, "%s%llu", j ? ", " : "",
				        (unsigned long long)rr->net_tx[j]);
			fputs("], \"net_rx_bytes\": [", f);
			for (unsigned j = 0; j < tr->nnets; j++)
				fprintf(f, "%s%llu", j ? ", " : "",
				        (unsigned long long)rr->net_rx[j]);
			fputc(']', f);
		}
		if (r->o->watch_system) {
			fputs(", \"system_busy_s\": ", f);
			json_num(f, rr->sys_busy_s);
		}
		fputc('}', f);
	}
	fputs("],\n     \"processes\": [", f);
	for (unsigned i = 0; i < tr->nprocs; i++) {
		const bench_proc_res_t *p = &tr->procs[i];
		double us, sgb;
		proc_cost(tr, p, &us, &sgb);
		fputs(i ? ", " : "", f);
		fputs("{\"name\": ", f);
		json_str(f, p->name);
		fprintf(f, ", \"pid\": %d, \"readable\": %s, \"cpu_s\": ", p->pid,
		        p->ok ? "true" : "false");
		json_num(f, p->cpu_s);
		fputs(", \"cpu_us_per_request\": ", f);
		json_num(f, us);
		fputs(", \"cpu_s_per_gb\": ", f);
		json_num(f, sgb);
		fprintf(f, ", \"peak_rss_kib\": %llu}", (unsigned long long)p->peak_rss_kb);
	}
	fputs("]", f);
	json_net(f, r->o, tr);
	if (ti > 0) {
		fprintf(f, ",\n     \"ratio_to\": \"%s\", \"ratio\": {", base->t->name);
		n = rows(tr->stats, kinds);
		for (int i = 0; i < n; i++) {
			row_figures(tr, kinds[i], &x);
			row_figures(base, kinds[i], &b);
			fprintf(f, "\"%s\": ", bench_op_names[kinds[i]]);
			json_ratio(f, &x, &b);
			fputs(", ", f);
		}
		row_figures(tr, -1, &x);
		row_figures(base, -1, &b);
		fputs("\"total\": ", f);
		json_ratio(f, &x, &b);
		fputs(", \"processes\": {", f);
		for (unsigned i = 0; i < tr->nprocs && i < base->nprocs; i++) {
			double us, sgb, bus, bsgb;
			proc_cost(tr, &tr->procs[i], &us, &sgb);
			proc_cost(base, &base->procs[i], &bus, &bsgb);
			fputs(i ? ", " : "", f);
			json_str(f, tr->procs[i].name);
			fputs(": {\"cpu_us_per_request\": ", f);
			json_num(f, ratio(us, bus));
			fputs(", \"cpu_s_per_gb\": ", f);
			json_num(f, ratio(sgb, bsgb));
			fputc('}', f);
		}
		fputc('}', f);
		json_net_ratio(f, r->o, tr, base);
		fputc('}', f);
	}
	fputs("}", f);
}

int bench_report_json(const char *path, const bench_results_t *r, char *err, size_t errlen)
{
	const bench_opts_t *o = r->o;
	FILE *f = fopen(path, "w");
	char mix[160], size[64];
	uint64_t errors = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	for (unsigned ti = 0; ti < r->ntargets; ti++)
		errors += bench_stats_errors(r->targets[ti].stats) +
		          bench_stats_errors(r->targets[ti].other);
	bench_mix_format(o->mix, mix, sizeof(mix));
	bench_size_format(&o->size, size, sizeof(size));
	fputs("{\n  \"tool\": \"s3lb-bench\", \"format\": 1, \"started\": ", f);
	json_str(f, r->started);
	fputs(", \"command\": ", f);
	json_str(f, o->cmdline);
	fputs(",\n  \"workload\": {\"name\": ", f);
	json_str(f, o->workload);
	fputs(", \"mix\": ", f);
	json_str(f, mix);
	fputs(", \"size\": ", f);
	json_str(f, size);
	fprintf(f,
	        ", \"objects\": %u, \"concurrency\": %u, \"threads\": %u, \"rate\": %.3f, "
	        "\"duration_s\": %.3f, \"warmup_s\": %.3f, \"rounds\": %u, \"range\": %llu, "
	        "\"verify\": %s, \"drain\": %s, \"auth\": \"%s\", \"addressing\": \"%s\"},\n",
	        o->objects, o->concurrency, o->threads, o->rate, (double)o->duration_ms / 1e3,
	        (double)o->warmup_ms / 1e3, o->rounds, (unsigned long long)o->range_size,
	        o->no_verify ? "false" : "true", o->no_drain ? "false" : "true",
	        o->presign ? "presigned" : "header",
	        o->vhost_domain[0] ? "virtual-hosted" : "path");
	fputs("  \"targets\": [\n", f);
	for (unsigned ti = 0; ti < r->ntargets; ti++) {
		json_target(f, r, ti);
		fputs(ti + 1 < r->ntargets ? ",\n" : "\n", f);
	}
	fprintf(f, "  ],\n  \"errors\": %llu, \"max_errors\": %llu, \"passed\": %s\n}\n",
	        (unsigned long long)errors, (unsigned long long)o->max_errors,
	        errors <= o->max_errors ? "true" : "false");
	if (fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
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

/* s3lb-ipvs (see ipvsctl.h). */
#include "dsr/ipvsctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsr/ipvs.h"
#include "dsr/owner.h"
#include "dsr/reconcile.h"
#include "dsr/rules.h"

#define MAX_RULES_BYTES (64u << 20)

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: s3lb-ipvs info | list | save\n"
	        "       s3lb-ipvs reconcile [--state FILE] [--dry-run] [--quiet] [RULES|-]\n"
	        "  RULES: ipvsadm's rule format (-A/-a lines, as ipvsadm -Sn prints them)\n"
	        "  --state: what s3lb created, deleted when RULES drop it (default " DSR_OWNED_PATH
	        ")\n");
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads a whole file ("-": standard input). Returns NULL with errno set. */
static char *slurp(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			if (cap >= MAX_RULES_BYTES) {
				errno = EFBIG;
				free(buf);
				buf = NULL;
				break;
			}
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static const char *fwd_name(dsr_fwd_t f)
{
	switch (f) {
	case DSR_FWD_DR:
		return "DR";
	case DSR_FWD_TUNNEL:
		return "tunnel";
	case DSR_FWD_LOCAL:
		return "local";
	default:
		return "NAT";
	}
}

static void print_stats(FILE *out, const dsr_stats_t *s)
{
	fprintf(out, "conns %llu in %llu pkts %llu B out %llu pkts %llu B",
	        (unsigned long long)s->conns, (unsigned long long)s->inpkts,
	        (unsigned long long)s->inbytes, (unsigned long long)s->outpkts,
	        (unsigned long long)s->outbytes);
}

static void list(const dsr_table_t *t, FILE *out)
{
	dsr_table_t s;
	dsr_table_copy(t, &s);
	dsr_table_sort(&s);
	for (size_t i = 0; i < s.nsvcs; i++) {
		const dsr_svc_t *v = &s.svcs[i].svc;
		char k[96];
		dsr_svc_key_format(&v->key, k, sizeof(k));
		fprintf(out, "%s %s flags 0x%x", k, v->sched, v->flags);
		if (v->timeout)
			fprintf(out, " persistent %u", v->timeout);
		fprintf(out, ": ");
		print_stats(out, &v->stats);
		fputc('\n', out);
		for (size_t j = 0; j < s.svcs[i].ndests; j++) {
			const dsr_dest_t *d = &s.svcs[i].dests[j];
			char a[64];
			dsr_dest_format(d, a, sizeof(a));
			fprintf(out, "  -> %s %s weight %u active %u inactive %u: ", a,
			        fwd_name(d->fwd), d->weight, d->active, d->inactive);
			print_stats(out, &d->stats);
			fputc('\n', out);
		}
	}
	dsr_table_free(&s);
}

typedef struct step_print_s {
	FILE *out;
	bool quiet;
} step_print_t;

static void on_step(void *ud, const dsr_step_t *st, int rc, const char *msg)
{
	step_print_t *p = ud;
	char line[256];
	if (p->quiet && rc == 0)
		return;
	dsr_step_format(st, line, sizeof(line));
	if (rc == 0)
		fprintf(p->out, "+ %s\n", line);
	else
		fprintf(p->out, "! %s: %s\n", line, msg);
}

static int reconcile(dsr_ipvs_t *h, const char *rules, const char *state, bool dry, bool quiet,
                     FILE *out, FILE *errout)
{
	char err[512];
	dsr_table_t want = {0};
	dsr_owned_t *owned = NULL;
	int rc = 1;
	char *text = slurp(rules);
	if (!text) {
		fprintf(errout, "s3lb-ipvs: %s: %s\n", rules, strerror(errno));
		return 1;
	}
	if (dsr_rules_parse(text, &want, err, sizeof(err)) < 0) {
		fprintf(errout, "s3lb-ipvs: %s: %s\n", rules, err);
		goto out;
	}
	if (dsr_owned_load(state, &owned, err, sizeof(err)) < 0) {
		fprintf(errout, "s3lb-ipvs: %s\n", err);
		goto out;
	}
	if (dry) {
		dsr_table_t have;
		dsr_plan_t plan;
		if (dsr_ipvs_dump(h, &have) < 0) {
			fprintf(errout, "s3lb-ipvs: %s\n", dsr_ipvs_last_error(h));
			goto out;
		}
		dsr_owned_prune(owned, &have);
		int prc = dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err));
		dsr_table_free(&have);
		if (prc < 0) {
			fprintf(errout, "s3lb-ipvs: %s\n", err);
			goto out;
		}
		for (size_t i = 0; i < plan.n; i++) {
			char line[256];
			dsr_step_format(&plan.steps[i], line, sizeof(line));
			fprintf(out, "%s\n", line);
		}
		fprintf(out, "plan: %zu steps\n", plan.n);
		dsr_plan_free(&plan);
		rc = 0;
		goto out;
	}
	step_print_t p = {.out = out, .quiet = quiet};
	dsr_apply_result_t res;
	double t0 = now_ms();
	int rrc = dsr_reconcile(h, &want, owned, on_step, &p, &res);
	double ms = now_ms() - t0;
	fprintf(out, "reconcile: %zu steps: %zu done, %zu already, %zu failed in %.1f ms\n",
	        res.planned, res.done, res.already, res.failed, ms);
	if (rrc < 0)
		fprintf(errout, "s3lb-ipvs: %s\n", res.first);
	rc = rrc < 0 ? 1 : 0;
out:
	dsr_owned_free(owned);
	dsr_table_free(&want);
	free(text);
	return rc;
}

int dsr_ipvs_main(int argc, char **argv, FILE *out, FILE *errout)
{
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, 's'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = DSR_OWNED_PATH;
	bool dry = false, quiet = false;
	char err[512];
	int c;
	optind = 1;
	opterr = 0;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? errout : out);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	while ((c = getopt_long(argc - 1, argv + 1, "q", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			state = optarg;
			break;
		case 'n':
			dry = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(out);
			return 0;
		default:
			fprintf(errout, "s3lb-ipvs: unknown option or missing value\n");
			usage(errout);
			return 2;
		}
	}
	int nargs = argc - 1 - optind;
	bool is_rec = strcmp(cmd, "reconcile") == 0;
	if (!is_rec && strcmp(cmd, "info") != 0 && strcmp(cmd, "list") != 0 &&
	    strcmp(cmd, "save") != 0) {
		fprintf(errout, "s3lb-ipvs: unknown command %s\n", cmd);
		usage(errout);
		return 2;
	}
	if (nargs > (is_rec ? 1 : 0)) {
		fprintf(errout, "s3lb-ipvs: too many arguments\n");
		return 2;
	}
	dsr_ipvs_t *h;
	if (dsr_ipvs_open(&h, err, sizeof(err)) < 0) {
		fprintf(errout, "s3lb-ipvs: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (is_rec) {
		rc = reconcile(h, nargs ? argv[1 + optind] : "-", state, dry, quiet, out, errout);
	} else if (strcmp(cmd, "info") == 0) {
		dsr_info_t info;
		if (dsr_ipvs_info(h, &info) < 0) {
			fprintf(errout, "s3lb-ipvs: %s\n", dsr_ipvs_last_error(h));
			rc = 1;
		} else {
			fprintf(out, "IPVS %u.%u.%u, connection table %u entries\n",
			        info.version >> 16, (info.version >> 8) & 0xff, info.version & 0xff,
			        info.conn_tab_size);
		}
	} else {
		dsr_table_t t;
		if (dsr_ipvs_dump(h, &t) < 0) {
			fprintf(errout, "s3lb-ipvs: %s\n", dsr_ipvs_last_error(h));
			rc = 1;
		} else {
			if (strcmp(cmd, "save") == 0)
				dsr_rules_write(&t, out);
			else
				list(&t, out);
			dsr_table_free(&t);
		}
	}
	dsr_ipvs_close(h);
	return rc;
}

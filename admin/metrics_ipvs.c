#include <stddef.h>
#include <string.h>

#include "admin/metrics_ipvs.h"
#include "admin/prom.h"

/* A family over the destinations: a uint32 field of dsr_dest_t, or a counter of its stats. */
typedef enum { F_U32, F_STAT } field_kind_t;

static const struct {
	const char *name, *type, *help;
	field_kind_t kind;
	size_t off, off_out; /* F_STAT with off_out: direction "in" at off, "out" at off_out */
} dest_fams[] = {
    {"s3lb_ipvs_dest_weight", "gauge",
     "A DR destination's weight in the kernel (0: no new connections, the node is down or "
     "draining).",
     F_U32, offsetof(dsr_dest_t, weight), 0},
    {"s3lb_ipvs_dest_active_connections", "gauge",
     "Established connections the kernel sends to a DR destination.", F_U32,
     offsetof(dsr_dest_t, active), 0},
    {"s3lb_ipvs_dest_inactive_connections", "gauge",
     "Connections to a DR destination in other TCP states (closing, SYN received).", F_U32,
     offsetof(dsr_dest_t, inactive), 0},
    {"s3lb_ipvs_dest_connections_total", "counter",
     "Connections the kernel scheduled to a DR destination.", F_STAT,
     offsetof(dsr_dest_t, stats) + offsetof(dsr_stats_t, conns), 0},
    {"s3lb_ipvs_dest_packets_total", "counter",
     "Packets forwarded to a DR destination (in: from clients; out: from the node through the "
     "director, 0 with direct return).",
     F_STAT, offsetof(dsr_dest_t, stats) + offsetof(dsr_stats_t, inpkts),
     offsetof(dsr_dest_t, stats) + offsetof(dsr_stats_t, outpkts)},
    {"s3lb_ipvs_dest_bytes_total", "counter",
     "Bytes forwarded to a DR destination (in: from clients; out: from the node through the "
     "director, 0 with direct return).",
     F_STAT, offsetof(dsr_dest_t, stats) + offsetof(dsr_stats_t, inbytes),
     offsetof(dsr_dest_t, stats) + offsetof(dsr_stats_t, outbytes)},
};

static const struct {
	const char *name, *help;
	size_t off, off_out;
} svc_fams[] = {
    {"s3lb_ipvs_service_connections_total", "Connections the kernel scheduled on a DR service.",
     offsetof(dsr_stats_t, conns), 0},
    {"s3lb_ipvs_service_packets_total",
     "Packets of a DR service (in: from clients; out: through the director, 0 with direct "
     "return).",
     offsetof(dsr_stats_t, inpkts), offsetof(dsr_stats_t, outpkts)},
    {"s3lb_ipvs_service_bytes_total",
     "Bytes of a DR service (in: from clients; out: through the director, 0 with direct "
     "return).",
     offsetof(dsr_stats_t, inbytes), offsetof(dsr_stats_t, outbytes)},
};

static uint64_t u64_at(const void *base, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* One sample, or two (direction "in" at off, "out" at off_out) when off_out is set. labels has
 * two free slots before its NULL for the direction. */
static void sample(FILE *out, const char *name, const char **labels, size_t nl, const void *base,
                   size_t off, size_t off_out)
{
	if (!off_out) {
		adm_prom_u64(out, name, labels, u64_at(base, off));
		return;
	}
	labels[nl] = "direction";
	labels[nl + 1] = "in";
	adm_prom_u64(out, name, labels, u64_at(base, off));
	labels[nl + 1] = "out";
	adm_prom_u64(out, name, labels, u64_at(base, off_out));
	labels[nl] = NULL;
}

/* labels: pool, service (+ direction) */
static void svc_series(FILE *out, size_t f, const char *pool, const char *svc, const dsr_stats_t *s)
{
	const char *lb[] = {"pool", pool, "service", svc, NULL, NULL, NULL};
	sample(out, svc_fams[f].name, lb, 4, s, svc_fams[f].off, svc_fams[f].off_out);
}

/* labels: pool, node ("-": not one of the pool's nodes), service, dest (+ direction) */
static void dest_series(FILE *out, size_t f, const char *pool, const char *node, const char *svc,
                        const dsr_dest_t *x)
{
	char dest[96];
	const char *lb[] = {"pool", pool, "node", node, "service", svc,
	                    "dest", dest, NULL,   NULL, NULL};
	uint32_t w;

	dsr_dest_format(x, dest, sizeof(dest));
	if (dest_fams[f].kind == F_U32) {
		memcpy(&w, (const char *)x + dest_fams[f].off, sizeof(w));
		adm_prom_u64(out, dest_fams[f].name, lb, w);
		return;
	}
	sample(out, dest_fams[f].name, lb, 8, x, dest_fams[f].off, dest_fams[f].off_out);
}

static void scalar(FILE *out, const char *name, const char *type, const char *help, uint64_t v)
{
	adm_prom_family(out, name, type, help);
	adm_prom_u64(out, name, NULL, v);
}

void adm_metrics_ipvs(FILE *out, const lb_config_t *cfg, const dsr_status_t *st)
{
	const dsr_table_t *t = &st->table;

	scalar(out, "s3lb_ipvs_available", "gauge",
	       "1 when the kernel's IPVS answered the last request of the director, else 0.",
	       st->available);
	scalar(out, "s3lb_ipvs_reconciles_total", "counter",
	       "Reconcile cycles run (dump, plan, apply), failed ones included.", st->reconciles);
	scalar(out, "s3lb_ipvs_reconcile_failures_total", "counter",
	       "Cycles that did not put the wanted DR services in place (IPVS unreachable, a "
	       "change refused).",
	       st->reconcile_failures);
	adm_prom_family(out, "s3lb_ipvs_last_reconcile_success_timestamp_seconds", "gauge",
	                "Unix time of the last reconcile without a failure (0: none yet).");
	adm_prom_f64(out, "s3lb_ipvs_last_reconcile_success_timestamp_seconds", NULL,
	             st->last_ok_unix);
	adm_prom_family(out, "s3lb_ipvs_last_reconcile_duration_seconds", "gauge",
	                "Duration of the last reconcile cycle.");
	adm_prom_f64(out, "s3lb_ipvs_last_reconcile_duration_seconds", NULL, st->last_ms / 1000);
	scalar(out, "s3lb_ipvs_changes_total", "counter",
	       "Changes made to the kernel's IPVS table (services and destinations added, edited, "
	       "deleted).",
	       st->steps_done);

	for (size_t f = 0; f < sizeof(svc_fams) / sizeof(svc_fams[0]); f++) {
		adm_prom_family(out, svc_fams[f].name, "counter", svc_fams[f].help);
		for (size_t i = 0; cfg && i < t->nsvcs; i++) {
			const char *pool, *node;
			char svc[96];
			if (!dsr_want_find(cfg, &t->svcs[i].svc.key, NULL, &pool, &node))
				continue;
			dsr_svc_key_format(&t->svcs[i].svc.key, svc, sizeof(svc));
			svc_series(out, f, pool, svc, &t->svcs[i].svc.stats);
		}
	}
	for (size_t f = 0; f < sizeof(dest_fams) / sizeof(dest_fams[0]); f++) {
		adm_prom_family(out, dest_fams[f].name, dest_fams[f].type, dest_fams[f].help);
		for (size_t i = 0; cfg && i < t->nsvcs; i++) {
			const dsr_tsvc_t *s = &t->svcs[i];
			char svc[96];
			dsr_svc_key_format(&s->svc.key, svc, sizeof(svc));
			for (size_t j = 0; j < s->ndests; j++) {
				const char *pool, *node;
				if (!dsr_want_find(cfg, &s->svc.key, &s->dests[j].addr, &pool,
				                   &node))
					break; /* not one of ours: none of its destinations is */
				dest_series(out, f, pool, node ? node : "-", svc, &s->dests[j]);
			}
		}
	}
}

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yyjson.h>

#include "admin/table.h"

/* ---- a text table: columns sized to their widest cell, numbers right-aligned ---------------- */

#define MAX_COLS 10

typedef struct table_s {
	size_t ncols;
	const char *head[MAX_COLS];
	bool right[MAX_COLS];
	char **cells; /* nrows x ncols, malloc'd */
	size_t nrows, cap;
} table_t;

/* Columns from "NAME" (left-aligned) and ">NAME" (right-aligned), up to a NULL. */
static void table_init(table_t *t, const char *const *cols)
{
	memset(t, 0, sizeof(*t));
	for (; *cols && t->ncols < MAX_COLS; cols++, t->ncols++) {
		t->right[t->ncols] = (*cols)[0] == '>';
		t->head[t->ncols] = *cols + t->right[t->ncols];
	}
}

/* Appends a row of t->ncols cells (copied). */
static void table_row(table_t *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
		if (!t->cells)
			abort();
	}
	for (size_t k = 0; k < t->ncols; k++) {
		char *c = strdup(cells[k] ? cells[k] : "-");
		if (!c)
			abort();
		t->cells[t->nrows * t->ncols + k] = c;
	}
	t->nrows++;
}

static void print_cell(FILE *out, const char *s, size_t w, bool right, bool last)
{
	size_t n = strlen(s);
	if (right)
		fprintf(out, "%*s%s", (int)(w - n), "", s);
	else if (last)
		fputs(s, out);
	else
		fprintf(out, "%s%*s", s, (int)(w - n), "");
}

/* Prints the table and frees its cells. */
static void table_print(table_t *t, FILE *out)
{
	size_t w[MAX_COLS];
	for (size_t k = 0; k < t->ncols; k++) {
		w[k] = strlen(t->head[k]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + k]);
			if (n > w[k])
				w[k] = n;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t k = 0; k < t->ncols; k++) {
			const char *s = r == 0 ? t->head[k] : t->cells[(r - 1) * t->ncols + k];
			if (k)
				fputs("  ", out);
			print_cell(out, s, w[k], t->right[k], k + 1 == t->ncols);
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- reading the document ----------------------------------------------------------------- */

/* A string member for the terminal: control characters as '?', cut to cap. NULL: "-". */
static const char *text(yyjson_val *o, const char *key, char *buf, size_t cap)
{
	const char *s = yyjson_get_str(yyjson_obj_get(o, key));
	size_t k = 0;
	if (!s || !*s)
		return "-";
	for (; s[k] && k + 1 < cap; k++)
		buf[k] = (unsigned char)s[k] < 0x20 || s[k] == 0x7f ? '?' : s[k];
	buf[k] = 0;
	return buf;
}

static uint64_t num(yyjson_val *o, const char *key)
{
	yyjson_val *v = yyjson_obj_get(o, key);
	return yyjson_is_uint(v) ? yyjson_get_uint(v) : 0;
}

static double real(yyjson_val *o, const char *key)
{
	yyjson_val *v = yyjson_obj_get(o, key);
	return yyjson_is_num(v) ? yyjson_get_num(v) : 0;
}

static const char *fmt(char *buf, size_t cap, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static const char *fmt(char *buf, size_t cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, cap, f, ap);
	va_end(ap);
	return buf;
}

/* A duration in seconds the way people read one: 42s, 5m07s, 3h05m, 2d04h. */
static const char *age(uint64_t s, char *buf, size_t cap)
{
	if (s < 60)
		return fmt(buf, cap, "%" PRIu64 "s", s);
	if (s < 3600)
		return fmt(buf, cap, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	if (s < 86400)
		return fmt(buf, cap, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	return fmt(buf, cap, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* How long ago a health since_ms was, against the document's time_ms. */
static const char *since(yyjson_val *health, uint64_t now_ms, char *buf, size_t cap)
{
	uint64_t t = num(health, "since_ms");
	if (!health || !t || !now_ms)
		return "-";
	return age(now_ms > t ? (now_ms - t) / 1000 : 0, buf, cap);
}

static double window_of(yyjson_val *o)
{
	return real(yyjson_obj_get(o, "rate_1m"), "window_s");
}

static void pools_table(yyjson_val *pools, FILE *out)
{
	static const char *const cols[] = {"POOL",   "BALANCE", ">INFLIGHT",
	                                   ">REQ/S", ">ERR/S",  NULL};
	table_t t;
	yyjson_val *p;
	size_t i, n;

	table_init(&t, cols);
	yyjson_arr_foreach(pools, i, n, p)
	{
		yyjson_val *r = yyjson_obj_get(p, "rate_1m");
		char name[96], bal[32], inf[24], rq[32], er[32];
		table_row(&t, (const char *const[]){
		                  text(p, "name", name, sizeof(name)),
		                  text(p, "balance", bal, sizeof(bal)),
		                  fmt(inf, sizeof(inf), "%" PRIu64, num(p, "inflight")),
		                  fmt(rq, sizeof(rq), "%.2f", real(r, "req_s")),
		                  fmt(er, sizeof(er), "%.2f", real(r, "err_s")),
		              });
	}
	table_print(&t, out);
}

static void nodes_table(yyjson_val *pools, uint64_t now_ms, FILE *out)
{
	static const char *const cols[] = {"POOL",   "NODE",    "ADDR",   "STATE",
	                                   ">SINCE", ">WEIGHT", ">OUTST", ">REQ/S",
	                                   ">ERR/S", "REASON",  NULL};
	table_t t;
	yyjson_val *p, *x;
	size_t i, n, j, m;

	table_init(&t, cols);
	yyjson_arr_foreach(pools, i, n, p)
	{
		char buf[96];
		const char *pool = text(p, "name", buf, sizeof(buf));
		yyjson_arr_foreach(yyjson_obj_get(p, "nodes"), j, m, x)
		{
			yyjson_val *h = yyjson_obj_get(x, "health"),
			           *r = yyjson_obj_get(x, "rate_1m");
			char name[96], addr[96], st[24], ago[24], w[24], o[24], rq[32], er[32];
			char why[192];
			table_row(&t, (const char *const[]){
			                  pool,
			                  text(x, "name", name, sizeof(name)),
			                  text(x, "addr", addr, sizeof(addr)),
			                  text(x, "state", st, sizeof(st)),
			                  since(h, now_ms, ago, sizeof(ago)),
			                  fmt(w, sizeof(w), "%" PRIu64, num(x, "weight")),
			                  fmt(o, sizeof(o), "%" PRIu64, num(x, "outstanding")),
			                  fmt(rq, sizeof(rq), "%.2f", real(r, "req_s")),
			                  fmt(er, sizeof(er), "%.2f", real(r, "err_s")),
			                  h ? text(h, "reason", why, sizeof(why)) : "-",
			              });
		}
	}
	table_print(&t, out);
}

/* `dr_sync:` (ipvs.sync): "IPVS sync: master daemon on eth0 (sync id 7, 224.0.0.81:8848, ttl 1),
 * VRRP MASTER", one line; nothing when dr_sync is not set. */
static void sync_line(yyjson_val *sync, FILE *out)
{
	yyjson_val *d;
	size_t i, n;
	char v[16], e[256];

	if (!yyjson_get_bool(yyjson_obj_get(sync, "enabled")))
		return;
	fputs("IPVS sync:", out);
	if (!yyjson_arr_size(yyjson_obj_get(sync, "daemons")))
		fputs(" no daemon running", out);
	yyjson_arr_foreach(yyjson_obj_get(sync, "daemons"), i, n, d)
	{
		char st[16], ifn[32], g[64];
		fprintf(out,
		        "%s %s daemon on %s (sync id %" PRIu64 ", %s:%" PRIu64 ", ttl %" PRIu64 ")",
		        i ? "," : "", text(d, "state", st, sizeof(st)),
		        text(d, "interface", ifn, sizeof(ifn)), num(d, "sync_id"),
		        text(d, "group", g, sizeof(g)), num(d, "port"), num(d, "ttl"));
	}
	if (strcmp(text(sync, "vrrp", v, sizeof(v)), "-"))
		fprintf(out, ", VRRP %s", v);
	if (strcmp(text(sync, "error", e, sizeof(e)), "-"))
		fprintf(out, ", error: %s", e);
	fputc('\n', out);
}

static void ipvs_table(yyjson_val *ipvs, FILE *out)
{
	static const char *const cols[] = {"SERVICE", "SCHED",   "DEST",      "NODE", "HEALTH",
	                                   ">WEIGHT", ">ACTIVE", ">INACTIVE", NULL};
	yyjson_val *s, *x;
	table_t t;
	size_t i, n, j, m;
	char e[256];

	if (!yyjson_get_bool(yyjson_obj_get(ipvs, "enabled"))) {
		fputs("IPVS: not in use (no dr: services)\n", out);
		return;
	}
	fprintf(out, "IPVS: %s, %" PRIu64 " reconciles, %" PRIu64 " changes, last %.1f ms",
	        yyjson_get_bool(yyjson_obj_get(ipvs, "available")) ? "available" : "unavailable",
	        num(ipvs, "reconciles"), num(ipvs, "changes"), real(ipvs, "last_reconcile_ms"));
	if (strcmp(text(ipvs, "error", e, sizeof(e)), "-"))
		fprintf(out, ", error: %s", e);
	fputc('\n', out);
	table_init(&t, cols);
	yyjson_arr_foreach(yyjson_obj_get(ipvs, "services"), i, n, s)
	{
		char b1[96], b2[24];
		const char *svc = text(s, "service", b1, sizeof(b1));
		const char *sched = text(s, "scheduler", b2, sizeof(b2));
		yyjson_arr_foreach(yyjson_obj_get(s, "dests"), j, m, x)
		{
			char dest[96], node[96], hl[24], w[24], a[24], in[24];
			table_row(&t, (const char *const[]){
			                  svc,
			                  sched,
			                  text(x, "dest", dest, sizeof(dest)),
			                  text(x, "node", node, sizeof(node)),
			                  text(x, "health", hl, sizeof(hl)),
			                  fmt(w, sizeof(w), "%" PRIu64, num(x, "weight")),
			                  fmt(a, sizeof(a), "%" PRIu64, num(x, "active")),
			                  fmt(in, sizeof(in), "%" PRIu64, num(x, "inactive")),
			              });
		}
	}
	if (t.nrows)
		table_print(&t, out);
	else
		fputs("no IPVS services\n", out);
	free(t.cells);
	sync_line(yyjson_obj_get(ipvs, "sync"), out);
}

int adm_status_table(const char *json, size_t len, FILE *out, char *err, size_t errlen)
{
	yyjson_read_err rerr;
	yyjson_doc *doc =
	    yyjson_read_opts((char *)json, len, YYJSON_READ_ALLOW_INVALID_UNICODE, NULL, &rerr);
	yyjson_val *root = yyjson_doc_get_root(doc), *pools, *p;
	uint64_t now_ms;
	double window = 0;
	size_t i, n;
	char ver[32], up[24], cfg[256];

	if (!doc) {
		snprintf(err, errlen, "not JSON (at byte %zu: %s)", rerr.pos, rerr.msg);
		return -1;
	}
	pools = yyjson_obj_get(root, "pools");
	if (!yyjson_is_obj(root) || !yyjson_is_arr(pools)) {
		snprintf(err, errlen, "not a /status document (no \"pools\")");
		yyjson_doc_free(doc);
		return -1;
	}
	now_ms = num(root, "time_ms");
	fprintf(out,
	        "s3lb %s, up %s, %" PRIu64 " workers, %" PRIu64 " connections, %" PRIu64
	        " reloads (%" PRIu64 " failed), config %s\n",
	        text(root, "version", ver, sizeof(ver)), age(num(root, "uptime_s"), up, sizeof(up)),
	        num(root, "workers"), num(root, "connections"), num(root, "reloads"),
	        num(root, "reload_errors"), text(root, "config", cfg, sizeof(cfg)));
	yyjson_arr_foreach(pools, i, n, p)
	{
		if (window_of(p) > window)
			window = window_of(p);
	}
	if (window > 0)
		fprintf(out,
		        "REQ/S, ERR/S: per second over the last %.0f s (ERR/S: 5xx answers for a "
		        "pool, failed attempts for a node)\n",
		        window);
	else
		fputs("REQ/S, ERR/S: no rates yet (sampled every second)\n", out);
	fputc('\n', out);
	if (yyjson_arr_size(pools) == 0) {
		fputs("no pools\n", out);
	} else {
		pools_table(pools, out);
		fputc('\n', out);
		nodes_table(pools, now_ms, out);
	}
	fputc('\n', out);
	ipvs_table(yyjson_obj_get(root, "ipvs"), out);
	yyjson_doc_free(doc);
	return 0;
}

/*
 * s3lb: the director daemon and its command line.
 *   s3lb run -c FILE      run the gateway (SIGHUP reloads FILE, SIGTERM stops gracefully)
 *   s3lb check -c FILE    validate FILE and print the effective config, or FILE:LINE: key: message
 *   s3lb status [--json] [--watch [SECS]] [-c FILE] [-a ADDR]   ask a running s3lb's admin
 *                         listener: a table, or the /status JSON; again every SECS seconds
 *   s3lb metrics [-c FILE] [-a ADDR]
 *   s3lb drain NODE [-c FILE] [-a ADDR] / s3lb undrain NODE ...   (NODE or POOL/NODE)
 * The admin commands find the listener (admin.listen) and the token (admin.token_file) in the
 * config, FILE or else /etc/s3lb/s3lb.yaml when it exists; -a overrides the address.
 *
 * `run` joins the parts: the gateway, health/ and admin/ on one loop; health's transitions drive
 * the gateway's pools and the IPVS weights, the gateway's request outcomes feed passive health,
 * and the gateway hands admin connections to admin/.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/client.h"
#include "core/config.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/version.h"
#include "gateway/proxy.h"
#include "gateway/workers.h"
#include "net/rbuf.h"
#include "net/splice.h"
#include "dsr/director.h"
#include "health/health.h"

static int usage(FILE *out)
{
	fprintf(out,
	        "usage: s3lb run -c FILE\n"
	        "       s3lb check -c FILE\n"
	        "       s3lb status [--json] [--watch [SECS]] [-c FILE] [-a ADMIN_ADDR]\n"
	        "       s3lb metrics [-c FILE] [-a ADMIN_ADDR]\n"
	        "       s3lb drain NODE [-c FILE] [-a ADMIN_ADDR]     (NODE or POOL/NODE)\n"
	        "       s3lb undrain NODE [-c FILE] [-a ADMIN_ADDR]\n"
	        "       s3lb version\n"
	        "The admin commands read admin.listen and admin.token_file from -c FILE, or from\n"
	        "%s when it exists; -a overrides the address.\n",
	        ADM_DEFAULT_CONFIG);
	return out == stdout ? 0 : 2;
}

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int cmd_check(const char *path)
{
	lb_config_t *cfg;
	char err[1024];
	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	lb_config_dump(cfg, stdout);
	lb_config_unref(cfg);
	return 0;
}

/* ---- the glue: health/ drives the gateway's pools and the IPVS weights ------------------- */

typedef struct director_s {
	gw_workers_t *ws;
	gw_server_t *srv; /* worker 0: the current config, health's node states */
	hc_t *hc;
	dsr_director_t *dsr; /* NULL until a config has `dr:` services */
	adm_t *adm;
	uv_loop_t *loop;
	/* While a `dr:` node has had no health verdict yet (just after start), its want is only a
	 * ceiling over the kernel's weight (dsr/director.h); its first probe may change nothing
	 * (no event), so the want is built again every VERDICT_MS until every node has one. */
	uv_timer_t verdicts;
	bool unknown; /* the last want had a node without a verdict */
	/* systemd (core/notify.h): READY once the listeners are bound and every node has had its
	 * first verdict; STOPPING from SIGTERM/SIGINT (the gateway's own handlers drain) */
	uv_timer_t ready_timer;
	uv_signal_t sig_term, sig_int;
	bool ready;
	uv_timer_t rates; /* each second: admin/'s one-minute rates sample the counters */
} director_t;

#define VERDICT_MS 100

static gw_node_state_t to_gw(hc_state_t s)
{
	return s == HC_UP ? GW_NODE_UP : s == HC_DOWN ? GW_NODE_DOWN : GW_NODE_DRAINING;
}

static dsr_node_t node_state(void *arg, const char *pool, const char *node)
{
	director_t *d = arg;
	const hc_info_t *i = hc_info(d->hc, pool, node);
	if (!i || !i->verdict) {
		d->unknown = true;
		return DSR_NODE_UNKNOWN;
	}
	return i->state == HC_UP ? DSR_NODE_UP : DSR_NODE_DOWN;
}

static void dsr_update(director_t *d, const lb_config_t *cfg);

static void on_verdicts(uv_timer_t *t)
{
	director_t *d = t->data;
	if (d->srv->rt)
		dsr_update(d, d->srv->rt->cfg);
}

/* The wanted IPVS table for cfg and the current health; starts the dsr thread on first use. */
static void dsr_update(director_t *d, const lb_config_t *cfg)
{
	dsr_table_t want;
	char err[512];

	if (!d->dsr && cfg->ndr == 0 && !cfg->dr_sync.enabled)
		return;
	if (!d->dsr) {
		if (dsr_director_start(d->loop, cfg->dr_state, &d->dsr, err, sizeof(err)) < 0) {
			LB_ERR("ipvs: %s", err);
			d->dsr = NULL;
			return;
		}
		adm_set_director(d->adm, d->dsr);
	}
	d->unknown = false;
	if (dsr_want_build(cfg, node_state, d, &want, err, sizeof(err)) < 0) {
		LB_ERR("ipvs: %s", err);
		return;
	}
	dsr_director_want(d->dsr, &want);
	dsr_director_sync(d->dsr, cfg);
	dsr_director_announce(d->dsr, cfg);
	if (d->unknown)
		uv_timer_start(&d->verdicts, on_verdicts, VERDICT_MS, 0);
}

static void on_health_event(void *arg, const hc_event_t *ev)
{
	director_t *d = arg;
	gw_workers_node_state(d->ws, ev->pool, ev->node, to_gw(ev->to));
	if (d->srv->rt)
		dsr_update(d, d->srv->rt->cfg);
}

static void hook_passive(void *arg, const char *pool, const char *node, bool ok, const char *why)
{
	hc_passive(((director_t *)arg)->hc, pool, node, ok, why);
}

/* A reload that fails before this (the config does not load) changes nothing and is not told:
 * systemd's ExecReload runs `s3lb check` before it sends SIGHUP. */
static int hook_reloading(void *arg, lb_config_t *cfg, char *err, size_t errlen)
{
	director_t *d = arg;
	int rc;
	if (d->ready)
		(void)lb_notify(LB_NOTIFY_RELOADING, "reloading");
	rc = hc_apply(d->hc, cfg, err, errlen);
	if (rc != 0 && d->ready)
		(void)lb_notify(LB_NOTIFY_READY, "reload failed, running the previous config");
	return rc;
}

static void hook_reloaded(void *arg, lb_config_t *cfg)
{
	director_t *d = arg;
	dsr_update(d, cfg);
	if (d->ready)
		(void)lb_notify(LB_NOTIFY_READY, "serving (reloaded)");
}

static void hook_admin_accept(void *arg, uv_stream_t *listener, const char *addr)
{
	adm_accept(((director_t *)arg)->adm, listener, addr);
}

static void hook_admin_stop(void *arg)
{
	adm_stop(((director_t *)arg)->adm);
}

/* The gateway's node states at start: health's, which holds the drains restored from before a
 * restart (hc_drain_restore runs before the workers start, so none of them sends a request to a
 * drained node, even in its first milliseconds). Runs on the workers' threads while the main
 * thread waits in gw_workers_start. */
static gw_node_state_t hook_initial_state(void *arg, const char *pool, const char *node)
{
	const hc_info_t *i = hc_info(((director_t *)arg)->hc, pool, node);
	return i ? to_gw(i->state) : GW_NODE_UP;
}

static void count_unprobed(void *arg, const char *pool, const char *node, const hc_info_t *i)
{
	(void)pool;
	(void)node;
	if (!i->verdict)
		++*(unsigned *)arg;
}

/* health/ publishes transitions only, and a first probe that agrees with the initial UP is none:
 * look every 10 ms until each node has its first verdict (the probe timeout bounds the wait). */
static void on_ready_poll(uv_timer_t *t)
{
	director_t *d = t->data;
	unsigned unprobed = 0;
	char status[128];
	hc_each(d->hc, count_unprobed, &unprobed);
	if (unprobed)
		return;
	uv_timer_stop(t);
	if (d->unknown && d->srv->rt)
		dsr_update(d, d->srv->rt->cfg); /* every weight may follow health now */
	d->ready = true;
	snprintf(status, sizeof(status), "serving: %zu pools, %zu frontends, %u workers",
	         d->srv->rt->cfg->npools, d->srv->rt->cfg->nfrontends, gw_workers_count(d->ws));
	(void)lb_notify(LB_NOTIFY_READY, status);
}

static void on_rates_tick(uv_timer_t *t)
{
	adm_tick(((director_t *)t->data)->adm);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	director_t *d = h->data;
	(void)signum;
	if (d->dsr)
		dsr_director_drain(d->dsr); /* announced routes go first (dsr/announce.h) */
	(void)lb_notify(LB_NOTIFY_STOPPING, "draining");
}

static void on_stopped(void *arg)
{
	director_t *d = arg;
	uv_close((uv_handle_t *)&d->verdicts, NULL);
	uv_close((uv_handle_t *)&d->ready_timer, NULL);
	uv_close((uv_handle_t *)&d->rates, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	hc_close(d->hc);
	if (d->dsr)
		dsr_director_stop(d->dsr);
	d->dsr = NULL;
	adm_set_director(d->adm, NULL);
}

static int cmd_run(const char *path)
{
	lb_config_t *cfg;
	uv_loop_t loop;
	hc_t *hc;
	director_t dir = {0};
	gw_hooks_t hooks = {.arg = &dir,
	                    .passive = hook_passive,
	                    .reloading = hook_reloading,
	                    .reloaded = hook_reloaded,
	                    .admin_accept = hook_admin_accept,
	                    .admin_stop = hook_admin_stop,
	                    .initial_state = hook_initial_state};
	char err[1024];
	unsigned n;
	int rc;

	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (lb_log_open(&cfg->log, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		lb_config_unref(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	if (hc_new(&loop, &hc) < 0)
		abort();
	/* health first: it may refuse the config (a pool's tls.ca that cannot be read), and then
	 * there is no server to stop yet */
	if (hc_apply(hc, cfg, err, sizeof(err)) < 0) {
		LB_ERR("%s", err);
		hc_close(hc);
		lb_config_unref(cfg);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	dir.hc = hc;
	dir.loop = &loop;
	/* before the workers start: they take their node states from health (hook_initial_state),
	 * and the first IPVS want below reads them too */
	if (hc_drain_restore(hc, err, sizeof(err)) < 0)
		LB_WARN("%s: drains from before the restart are lost", err);
	uv_timer_init(&loop, &dir.verdicts);
	dir.verdicts.data = &dir;
	n = gw_workers_wanted(cfg->workers);
	if (gw_workers_start(&loop, cfg, n, &hooks, on_stopped, &dir, &dir.ws, err, sizeof(err)) <
	    0) {
		LB_ERR("%s", err);
		uv_close((uv_handle_t *)&dir.verdicts, NULL);
		hc_close(hc);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	dir.srv = gw_workers_main(dir.ws);
	dir.adm = adm_new(dir.srv, hc);
	adm_set_workers(dir.adm, dir.ws);
	if (hc_subscribe(hc, on_health_event, &dir) < 0)
		abort();
	dsr_update(&dir, dir.srv->rt->cfg);
	uv_timer_init(&loop, &dir.ready_timer);
	dir.ready_timer.data = &dir;
	uv_timer_start(&dir.ready_timer, on_ready_poll, 0, 10);
	uv_timer_init(&loop, &dir.rates);
	dir.rates.data = &dir;
	uv_timer_start(&dir.rates, on_rates_tick, 0, 1000);
	uv_signal_init(&loop, &dir.sig_term);
	uv_signal_init(&loop, &dir.sig_int);
	dir.sig_term.data = dir.sig_int.data = &dir;
	uv_signal_start(&dir.sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&dir.sig_int, on_stop_signal, SIGINT);
	LB_INFO("s3lb %s started with %s", S3LB_VERSION, path);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		LB_WARN("loop closed with handles open: %s", uv_strerror(rc));
	adm_free(dir.adm);
	gw_workers_free(dir.ws);
	net_rbuf_spares_free();
	net_splice_pipes_close();
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	int rc;
	if (!cmd)
		return usage(stderr);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
		return usage(stdout);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("s3lb %s\n", S3LB_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run") || !strcmp(cmd, "check")) {
		const char *path = opt(argc, argv, "-c");
		if (!path)
			return usage(stderr);
		return !strcmp(cmd, "run") ? cmd_run(path) : cmd_check(path);
	}
	rc = adm_cli(argc, argv);
	return rc >= 0 ? rc : usage(stderr);
}

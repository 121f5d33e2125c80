/*
 * The dsr thread and the want builder. Shared between the threads, under `lock`: the pending
 * want, the stop flag, and the status snapshot the thread publishes. The main loop copies the
 * snapshot out in the async callback, so /status never waits on the thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "dsr/announce.h"
#include "dsr/director.h"
#include "dsr/ipvs.h"
#include "dsr/owner.h"
#include "dsr/reconcile.h"
#include "dsr/sync.h"

#define REFRESH_MS   2000 /* counters for /status, and a reconcile that catches outside changes */
#define VRRP_POLL_MS 1000 /* dr_sync role auto: how often the VRRP state file is read */

struct dsr_director_s {
	uv_loop_t *loop;
	uv_thread_t thread;
	uv_mutex_t lock;
	uv_cond_t cond;
	uv_async_t async;
	char *state_path;
	/* under lock */
	dsr_table_t *pending; /* the latest want not yet taken by the thread */
	bool stop;
	dsr_status_t shared; /* published by the thread */
	bool shared_new;
	dsr_sync_conf_t sync_pending; /* the latest dr_sync, when sync_new */
	bool sync_new;
	dsr_announce_conf_t *ann_pending; /* the latest announce confs, when ann_new */
	size_t nann_pending;
	bool ann_new;
	bool draining; /* SIGTERM: withdraw every route (dsr/announce.h) */
	/* thread only */
	dsr_sync_conf_t sync;
	dsr_vrrp_t vrrp;
	bool sync_dirty;     /* a new conf or VRRP state: plan the daemons at once */
	char sync_said[384]; /* the last sync failure logged, so a lasting one is logged once */
	dsr_table_t *want;   /* the want being kept in place */
	dsr_announce_conf_t *ann; /* the services with `announce:` */
	size_t nann;
	bool ann_used;      /* announce has been configured: routes are managed from then on */
	bool ann_drain;     /* the thread's copy of draining */
	dsr_rtnl_t *rt;     /* rtnetlink, opened on first use */
	char ann_said[384]; /* the last announce failure logged */
	dsr_ipvs_t *h;
	dsr_owned_t *owned;
	bool said_unavailable;
	/* main loop only */
	dsr_sync_conf_t sync_given; /* the last dr_sync handed over, when sync_given_set */
	bool sync_given_set;
	dsr_announce_conf_t *ann_given; /* the last announce confs handed over */
	size_t nann_given;
	bool ann_given_set;
	dsr_status_t status;
	bool started;
};

/* ---- want ------------------------------------------------------------------------------- */

void dsr_ip_from_addr(const lb_addr_t *a, dsr_ip_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->af = a->ss.ss_family;
	if (ip->af == AF_INET)
		ip->u.v4 = ((const struct sockaddr_in *)&a->ss)->sin_addr;
	else
		ip->u.v6 = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
}

int dsr_want_build(const lb_config_t *cfg, dsr_node_fn state, void *arg, dsr_table_t *out,
                   char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (cfg->ndr == 0)
		return 0;
	out->svcs = calloc(cfg->ndr, sizeof(*out->svcs));
	if (!out->svcs)
		abort();
	out->nsvcs = cfg->ndr;
	for (size_t i = 0; i < cfg->ndr; i++) {
		const lb_dr_conf_t *dr = &cfg->dr[i];
		const lb_pool_conf_t *pool = &cfg->pools[dr->pool];
		dsr_tsvc_t *t = &out->svcs[i];
		dsr_svc_t *s = &t->svc;

		s->key.protocol = IPPROTO_TCP;
		if (dr->has_vip) {
			s->key.af = dr->vip.ss.ss_family;
			dsr_ip_from_addr(&dr->vip, &s->key.addr);
			s->key.port = dr->vip.port;
		} else {
			s->key.af = (uint16_t)dr->family;
			s->key.fwmark = dr->fwmark;
		}
		snprintf(s->sched, sizeof(s->sched), "%s", dr->scheduler);
		/* the sched flags mean something else (or nothing) to other schedulers */
		if (dr->mh_fallback &&
		    (!strcmp(dr->scheduler, "mh") || !strcmp(dr->scheduler, "sh")))
			s->flags |= DSR_SVC_F_SCHED1;
		if (dr->mh_port && (!strcmp(dr->scheduler, "mh") || !strcmp(dr->scheduler, "sh")))
			s->flags |= DSR_SVC_F_SCHED2;
		s->timeout = (uint32_t)(dr->persistence / 1000);
		if (s->timeout)
			s->flags |= DSR_SVC_F_PERSISTENT;
		t->dests = calloc(pool->nnodes, sizeof(*t->dests));
		if (!t->dests)
			abort();
		t->ndests = pool->nnodes;
		for (size_t j = 0; j < pool->nnodes; j++) {
			const lb_node_conf_t *n = &pool->nodes[j];
			dsr_dest_t *d = &t->dests[j];
			if ((int)n->addr.ss.ss_family != (int)s->key.af) {
				snprintf(err, errlen,
				         "dr service %zu: node %s/%s (%s) is not of the service's "
				         "address family",
				         i, pool->name, n->name, n->addr.text);
				dsr_table_free(out);
				return -EINVAL;
			}
			dsr_ip_from_addr(&n->addr, &d->addr);
			d->port = dr->has_vip ? dr->vip.port : dr->port;
			d->fwd = DSR_FWD_DR;
			switch (state(arg, pool->name, n->name)) {
			case DSR_NODE_UP:
				d->weight = n->weight;
				break;
			case DSR_NODE_UNKNOWN:
				d->weight = n->weight;
				d->keep_weight = true;
				break;
			case DSR_NODE_DOWN:
				d->weight = 0;
				break;
			}
			d->u_thresh = dr->upper_threshold;
			d->l_thresh = dr->lower_threshold;
		}
	}
	return 0;
}

bool dsr_want_find(const lb_config_t *cfg, const dsr_svc_key_t *key, const dsr_ip_t *ip,
                   const char **pool, const char **node)
{
	*pool = *node = NULL;
	for (size_t i = 0; i < cfg->ndr; i++) {
		const lb_dr_conf_t *dr = &cfg->dr[i];
		const lb_pool_conf_t *p = &cfg->pools[dr->pool];
		dsr_ip_t vip;
		if (dr->has_vip) {
			dsr_ip_from_addr(&dr->vip, &vip);
			if (key->fwmark || key->port != dr->vip.port ||
			    dsr_ip_cmp(&vip, &key->addr))
				continue;
		} else if (!key->fwmark || key->fwmark != dr->fwmark ||
		           (int)key->af != dr->family) {
			continue;
		}
		*pool = p->name;
		for (size_t j = 0; ip && j < p->nnodes; j++) {
			dsr_ip_t a;
			dsr_ip_from_addr(&p->nodes[j].addr, &a);
			if (!dsr_ip_cmp(&a, ip))
				*node = p->nodes[j].name;
		}
		return true;
	}
	return false;
}

/* ---- the thread ------------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void table_free_ptr(dsr_table_t *t)
{
	if (t) {
		dsr_table_free(t);
		free(t);
	}
}

static void on_step(void *ud, const dsr_step_t *step, int rc, const char *msg)
{
	char line[384];
	(void)ud;
	dsr_step_format(step, line, sizeof(line));
	if (rc == 0)
		LB_INFO("ipvs: %s", line);
	else
		LB_WARN("ipvs: %s: %s", line, msg ? msg : "failed");
}

/* What a cycle did about the want, for the failure counter and the last success's time. */
typedef enum { CY_NONE, CY_OK, CY_FAILED } cycle_result_t;

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Publishes what the thread knows; the main loop picks it up in on_async. */
static void publish(dsr_director_t *d, bool available, const char *error, dsr_table_t *table,
                    uint64_t steps, double ms, bool reconciled, cycle_result_t result)
{
	uv_mutex_lock(&d->lock);
	d->shared.available = available;
	snprintf(d->shared.error, sizeof(d->shared.error), "%s", error ? error : "");
	if (reconciled) {
		d->shared.reconciles++;
		d->shared.last_ms = ms;
	}
	if (result == CY_FAILED)
		d->shared.reconcile_failures++;
	else if (result == CY_OK)
		d->shared.last_ok_unix = wall_s();
	d->shared.steps_done += steps;
	if (table) {
		dsr_table_free(&d->shared.table);
		d->shared.table = *table;
		memset(table, 0, sizeof(*table));
	}
	d->shared_new = true;
	uv_mutex_unlock(&d->lock);
	uv_async_send(&d->async);
}

static void cycle(dsr_director_t *d, bool have_new_want)
{
	char err[384] = "";
	dsr_table_t now = {0};
	uint64_t t0 = mono_ms();
	dsr_apply_result_t res;
	int rc;

	if (!d->h && dsr_ipvs_open(&d->h, err, sizeof(err)) < 0) {
		d->h = NULL;
		if (!d->said_unavailable) /* once, not every retry */
			LB_ERR("ipvs: %s; the DR services are not in place (retrying)", err);
		d->said_unavailable = true;
		publish(d, false, err, NULL, 0, 0, false,
		        d->want && d->want->nsvcs ? CY_FAILED : CY_NONE);
		return;
	}
	if (d->said_unavailable)
		LB_INFO("ipvs: available");
	d->said_unavailable = false;
	if (!d->owned) {
		if (dsr_owned_load(d->state_path, &d->owned, err, sizeof(err)) < 0) {
			/* a file we cannot read: keep going in memory, never delete unknown entries
			 */
			LB_ERR("ipvs: %s (ownership starts empty)", err);
			d->owned = dsr_owned_new(d->state_path);
		}
	}
	if (d->want && (have_new_want || d->want->nsvcs)) {
		memset(&res, 0, sizeof(res));
		rc = dsr_reconcile(d->h, d->want, d->owned, on_step, d, &res);
		if (rc < 0 && res.first[0])
			snprintf(err, sizeof(err), "%s", res.first);
		else if (rc < 0)
			snprintf(err, sizeof(err), "reconcile failed: %s",
			         dsr_ipvs_last_error(d->h));
		if (rc == -ENOPROTOOPT || rc == -ENOENT) {
			/* IPVS went away (module removed?): reopen next time */
			dsr_ipvs_close(d->h);
			d->h = NULL;
		}
		if (d->h && dsr_ipvs_dump(d->h, &now) < 0)
			memset(&now, 0, sizeof(now));
		publish(d, d->h != NULL, err, &now, res.done, (double)(mono_ms() - t0), true,
		        rc < 0 ? CY_FAILED : CY_OK);
		return;
	}
	if (dsr_ipvs_dump(d->h, &now) < 0) {
		snprintf(err, sizeof(err), "%s", dsr_ipvs_last_error(d->h));
		dsr_ipvs_close(d->h);
		d->h = NULL;
		publish(d, false, err, NULL, 0, 0, false, CY_NONE);
		return;
	}
	publish(d, true, "", &now, 0, 0, false, CY_NONE);
}

/* ---- the sync daemons (dsr/sync.h), on the thread -------------------------------------- */

/* A failure is logged by sync_cycle, once while it lasts (it is retried every refresh). */
static void on_sync_step(void *ud, const dsr_sync_step_t *s, int rc, const char *msg)
{
	char line[256];
	(void)ud;
	(void)msg;
	dsr_sync_step_format(s, line, sizeof(line));
	if (rc == 0)
		LB_INFO("ipvs sync: %s", line);
}

static void publish_sync(dsr_director_t *d, const dsr_daemon_t *have, size_t n, const char *error)
{
	uv_mutex_lock(&d->lock);
	d->shared.sync_enabled = d->sync.enabled;
	snprintf(d->shared.vrrp, sizeof(d->shared.vrrp), "%s",
	         d->sync.enabled && d->sync.role == LB_SYNC_AUTO ? dsr_vrrp_name(d->vrrp) : "");
	memset(d->shared.daemons, 0, sizeof(d->shared.daemons));
	if (have)
		memcpy(d->shared.daemons, have, n * sizeof(*have));
	d->shared.ndaemons = have ? n : 0;
	snprintf(d->shared.sync_error, sizeof(d->shared.sync_error), "%s", error);
	d->shared_new = true;
	uv_mutex_unlock(&d->lock);
	uv_async_send(&d->async);
}

/* Reads the VRRP state (role auto), and when it changed, the conf is new, or `due` (the
 * periodic refresh: a daemon stopped by hand comes back), brings the daemons in line. */
static void sync_cycle(dsr_director_t *d, bool due)
{
	dsr_daemon_t have[2];
	dsr_sync_step_t steps[DSR_SYNC_MAX_STEPS];
	char err[384] = "", verr[256] = "";
	size_t nhave = 0, n;

	if (!d->sync.enabled) {
		/* dr_sync removed: the daemons run on, /status stops showing them */
		if (d->sync_dirty)
			publish_sync(d, NULL, 0, "");
		d->sync_dirty = false;
		return;
	}
	if (d->sync.role == LB_SYNC_AUTO) {
		dsr_vrrp_t v;
		/* unreadable: as if keepalived had not told (backup), and said in the status */
		if (dsr_vrrp_read(d->sync.state_file, &v, verr, sizeof(verr)) < 0)
			v = DSR_VRRP_NONE;
		if (v != d->vrrp) {
			LB_INFO("ipvs sync: VRRP state %s -> %s (%s)", dsr_vrrp_name(d->vrrp),
			        dsr_vrrp_name(v), d->sync.state_file);
			d->vrrp = v;
			d->sync_dirty = true;
		}
	}
	if (!d->sync_dirty && !due)
		return;
	if (!d->h) {
		publish_sync(d, NULL, 0, "IPVS not available");
		return;
	}
	if (dsr_ipvs_daemons(d->h, have, &nhave) < 0) {
		snprintf(err, sizeof(err), "%s", dsr_ipvs_last_error(d->h));
	} else {
		n = dsr_sync_plan(&d->sync.daemon, dsr_sync_wanted(d->sync.role, d->vrrp), have,
		                  nhave, steps);
		if (n && dsr_sync_apply(d->h, steps, n, on_sync_step, d) < 0)
			snprintf(err, sizeof(err), "%s", dsr_ipvs_last_error(d->h));
		if (n && dsr_ipvs_daemons(d->h, have, &nhave) < 0)
			nhave = 0;
	}
	if (!err[0] && verr[0])
		snprintf(err, sizeof(err), "%s (taken as BACKUP)", verr);
	if (err[0] && strcmp(err, d->sync_said) != 0)
		LB_WARN("ipvs sync: %s", err);
	snprintf(d->sync_said, sizeof(d->sync_said), "%s", err);
	d->sync_dirty = false;
	publish_sync(d, have, nhave, err);
}

/* ---- route announcement (dsr/announce.h), on the thread ------------------------------- */

static const char *ann_why(const dsr_director_t *d, const dsr_route_step_t *s)
{
	if (s->add)
		return "a node is up";
	if (d->ann_drain)
		return "draining";
	if (!d->h)
		return "IPVS unreachable";
	for (size_t i = 0; i < d->nann; i++)
		if (dsr_route_cmp(&d->ann[i].route, &s->route) == 0)
			return "no node up";
	return "no longer configured";
}

static void on_route_step(void *ud, const dsr_route_step_t *s, int rc, const char *msg)
{
	dsr_director_t *d = ud;
	char r[128];
	(void)msg;
	dsr_route_format(&s->route, r, sizeof(r));
	if (rc == 0)
		LB_INFO("announce: %s route %s (%s)", s->add ? "added" : "withdrew", r,
		        ann_why(d, s));
}

/* Brings s3lb's routes in line with the want, IPVS's reachability and draining. Touches no
 * route until a config has had `announce:` (then a reload removing it withdraws). */
static void announce_cycle(dsr_director_t *d)
{
	char err[384] = "";
	dsr_route_t *have = NULL;
	dsr_route_step_t *steps = NULL;
	size_t nhave = 0, n = 0;

	if (d->nann)
		d->ann_used = true;
	if (!d->ann_used)
		return;
	if (!d->rt && dsr_rtnl_open(&d->rt, err, sizeof(err)) < 0)
		d->rt = NULL;
	if (d->rt && dsr_rtnl_dump(d->rt, &have, &nhave) < 0) {
		snprintf(err, sizeof(err), "%s", dsr_rtnl_error(d->rt));
	} else if (d->rt) {
		dsr_announce_plan(d->ann, d->nann, d->want, d->ann_drain, d->h != NULL, have, nhave,
		                  &steps, &n);
		if (n && dsr_rtnl_apply(d->rt, steps, n, on_route_step, d) < 0)
			snprintf(err, sizeof(err), "%s", dsr_rtnl_error(d->rt));
	}
	if (err[0] && strcmp(err, d->ann_said) != 0)
		LB_WARN("announce: %s (retrying)", err);
	snprintf(d->ann_said, sizeof(d->ann_said), "%s", err);
	free(have);
	free(steps);
}

static void thread_main(void *arg)
{
	dsr_director_t *d = arg;
	uint64_t next_refresh = 0, next_poll = 0;

	for (;;) {
		dsr_table_t *fresh = NULL;
		uint64_t wake;
		bool due, ann_changed;
		uv_mutex_lock(&d->lock);
		for (;;) {
			bool polls = d->sync.enabled && d->sync.role == LB_SYNC_AUTO;
			uint64_t now = mono_ms();
			wake = polls && next_poll < next_refresh ? next_poll : next_refresh;
			if (d->stop || d->pending || d->sync_new || d->ann_new ||
			    d->draining != d->ann_drain || now >= wake)
				break;
			uv_cond_timedwait(&d->cond, &d->lock, (wake - now) * 1000000ull);
		}
		if (d->stop) {
			uv_mutex_unlock(&d->lock);
			break;
		}
		fresh = d->pending;
		d->pending = NULL;
		ann_changed = d->ann_new || d->draining != d->ann_drain;
		if (d->ann_new) {
			free(d->ann);
			d->ann = d->ann_pending;
			d->nann = d->nann_pending;
			d->ann_pending = NULL;
			d->ann_new = false;
		}
		d->ann_drain = d->draining;
		if (d->sync_new) {
			d->sync = d->sync_pending;
			d->sync_new = false;
			d->sync_dirty = true;
		}
		uv_mutex_unlock(&d->lock);
		if (fresh) {
			table_free_ptr(d->want);
			d->want = fresh;
		}
		due = mono_ms() >= next_refresh;
		/* a refresh also reconciles: an entry removed by hand comes back */
		if (fresh || due) {
			cycle(d, fresh != NULL);
			next_refresh = mono_ms() + REFRESH_MS;
		}
		if (fresh || due || ann_changed)
			announce_cycle(d);
		sync_cycle(d, due);
		next_poll = mono_ms() + VRRP_POLL_MS;
	}
	/* s3lb stops: its routes go, so the routers send this director nothing more */
	d->ann_drain = true;
	announce_cycle(d);
	dsr_rtnl_close(d->rt);
	d->rt = NULL;
	free(d->ann);
	d->ann = NULL;
	table_free_ptr(d->want);
	d->want = NULL;
	if (d->h)
		dsr_ipvs_close(d->h);
	if (d->owned)
		dsr_owned_free(d->owned);
}

/* ---- main loop side --------------------------------------------------------------------- */

static void on_async(uv_async_t *a)
{
	dsr_director_t *d = a->data;
	uv_mutex_lock(&d->lock);
	if (d->shared_new) {
		dsr_table_free(&d->status.table);
		d->status = d->shared;
		/* the thread's copy gives its table over to ours */
		memset(&d->shared.table, 0, sizeof(d->shared.table));
		d->shared_new = false;
	}
	uv_mutex_unlock(&d->lock);
}

int dsr_director_start(uv_loop_t *loop, const char *state_path, dsr_director_t **out, char *err,
                       size_t errlen)
{
	dsr_director_t *d = calloc(1, sizeof(*d));
	int rc;
	if (!d)
		abort();
	d->loop = loop;
	d->state_path = strdup(state_path ? state_path : DSR_OWNED_PATH);
	if (!d->state_path)
		abort();
	snprintf(d->status.error, sizeof(d->status.error), "not reconciled yet");
	uv_mutex_init(&d->lock);
	uv_cond_init(&d->cond);
	uv_async_init(loop, &d->async, on_async);
	d->async.data = d;
	if ((rc = uv_thread_create(&d->thread, thread_main, d)) < 0) {
		snprintf(err, errlen, "cannot start the dsr thread: %s", uv_strerror(rc));
		uv_close((uv_handle_t *)&d->async, NULL);
		return rc; /* d leaks deliberately: its async handle closes later */
	}
	d->started = true;
	*out = d;
	return 0;
}

void dsr_director_want(dsr_director_t *d, dsr_table_t *want)
{
	dsr_table_t *copy = malloc(sizeof(*copy));
	if (!copy)
		abort();
	*copy = *want;
	memset(want, 0, sizeof(*want));
	uv_mutex_lock(&d->lock);
	table_free_ptr(d->pending);
	d->pending = copy;
	uv_cond_signal(&d->cond);
	uv_mutex_unlock(&d->lock);
}

void dsr_director_sync(dsr_director_t *d, const lb_config_t *cfg)
{
	dsr_sync_conf_t conf;
	char err[256];
	if (dsr_sync_conf_from(cfg, &conf, err, sizeof(err)) < 0)
		LB_ERR("ipvs sync: %s (the sync daemons are left alone)", err);
	/* called on every health change: only a new dr_sync (start, reload) goes to the thread
	 * (conf is zeroed before it is filled, so memcmp compares what matters) */
	if (d->sync_given_set && memcmp(&conf, &d->sync_given, sizeof(conf)) == 0)
		return;
	d->sync_given = conf;
	d->sync_given_set = true;
	uv_mutex_lock(&d->lock);
	d->sync_pending = conf;
	d->sync_new = true;
	uv_cond_signal(&d->cond);
	uv_mutex_unlock(&d->lock);
}

void dsr_director_announce(dsr_director_t *d, const lb_config_t *cfg)
{
	dsr_announce_conf_t *conf;
	size_t n;
	dsr_announce_conf_from(cfg, &conf, &n);
	/* called on every health change: only new confs (start, reload) go to the thread (they
	 * are calloc'ed, so memcmp compares what matters) */
	if (d->ann_given_set && n == d->nann_given &&
	    (n == 0 || memcmp(conf, d->ann_given, n * sizeof(*conf)) == 0)) {
		free(conf);
		return;
	}
	free(d->ann_given);
	d->ann_given = NULL;
	if (n) {
		d->ann_given = malloc(n * sizeof(*conf));
		if (!d->ann_given)
			abort();
		memcpy(d->ann_given, conf, n * sizeof(*conf));
	}
	d->nann_given = n;
	d->ann_given_set = true;
	uv_mutex_lock(&d->lock);
	free(d->ann_pending);
	d->ann_pending = conf;
	d->nann_pending = n;
	d->ann_new = true;
	uv_cond_signal(&d->cond);
	uv_mutex_unlock(&d->lock);
}

void dsr_director_drain(dsr_director_t *d)
{
	uv_mutex_lock(&d->lock);
	d->draining = true;
	uv_cond_signal(&d->cond);
	uv_mutex_unlock(&d->lock);
}

const dsr_status_t *dsr_director_status(dsr_director_t *d)
{
	on_async(&d->async); /* whatever the thread published since */
	return &d->status;
}

static void on_async_closed(uv_handle_t *h)
{
	dsr_director_t *d = h->data;
	dsr_table_free(&d->status.table);
	dsr_table_free(&d->shared.table);
	table_free_ptr(d->pending);
	free(d->ann_pending);
	free(d->ann_given);
	uv_mutex_destroy(&d->lock);
	uv_cond_destroy(&d->cond);
	free(d->state_path);
	free(d);
}

void dsr_director_stop(dsr_director_t *d)
{
	uv_mutex_lock(&d->lock);
	d->stop = true;
	uv_cond_signal(&d->cond);
	uv_mutex_unlock(&d->lock);
	uv_thread_join(&d->thread);
	uv_close((uv_handle_t *)&d->async, on_async_closed);
}

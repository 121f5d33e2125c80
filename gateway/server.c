/*
 * The server: listeners, the current runtime (pools, balancers, TLS contexts built from one
 * config), reload on SIGHUP and graceful stop on SIGTERM/SIGINT. Main loop only.
 *
 * Reload builds a complete new runtime first; only when every part of it (config, TLS files,
 * listeners) is ready does it become current. A failed reload changes nothing and is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gateway/proxy.h"
#include "net/tls.h"

const char *gw_node_state_name(gw_node_state_t s)
{
	switch (s) {
	case GW_NODE_UP:
		return "up";
	case GW_NODE_DOWN:
		return "down";
	case GW_NODE_DRAINING:
		return "draining";
	}
	return "?";
}

/* ---- runtime ---------------------------------------------------------------------------- */

static void runtime_free(gw_runtime_t *rt)
{
	for (size_t i = 0; i < rt->npools; i++) {
		gw_pool_t *p = &rt->pools[i];
		gw_balancer_free(p->bal);
		if (p->tls)
			net_tls_ctx_unref(p->tls);
		free(p->nodes);
		free(p->lbn);
	}
	for (size_t i = 0; i < rt->nfes; i++)
		if (rt->fes[i].tls)
			net_tls_ctx_unref(rt->fes[i].tls);
	free(rt->pools);
	free(rt->fes);
	lb_config_unref(rt->cfg);
	free(rt);
}

void gw_runtime_unref(gw_runtime_t *rt)
{
	if (--rt->refs == 0)
		runtime_free(rt);
}

/* A node keeps its health state across reloads when its pool and name are unchanged. */
static gw_node_state_t carried_state(gw_runtime_t *old, const char *pool, const char *node)
{
	if (!old)
		return GW_NODE_UP;
	for (size_t i = 0; i < old->npools; i++) {
		if (strcmp(old->pools[i].conf->name, pool))
			continue;
		for (size_t j = 0; j < old->pools[i].n; j++)
			if (!strcmp(old->pools[i].nodes[j].conf->name, node))
				return old->pools[i].nodes[j].state;
	}
	return GW_NODE_UP;
}

static int runtime_new(gw_server_t *srv, lb_config_t *cfg, gw_runtime_t **out, char *err,
                       size_t errlen)
{
	gw_runtime_t *rt = calloc(1, sizeof(*rt));
	if (!rt)
		abort();
	rt->cfg = cfg;
	rt->srv = srv;
	rt->refs = 1;
	rt->npools = cfg->npools;
	rt->pools = calloc(cfg->npools, sizeof(*rt->pools));
	rt->nfes = cfg->nfrontends;
	rt->fes = calloc(cfg->nfrontends, sizeof(*rt->fes));
	if (!rt->pools || !rt->fes)
		abort();
	for (size_t i = 0; i < cfg->npools; i++) {
		const lb_pool_conf_t *pc = &cfg->pools[i];
		gw_pool_t *p = &rt->pools[i];
		p->conf = pc;
		p->rt = rt;
		p->n = pc->nnodes;
		p->nodes = calloc(p->n, sizeof(*p->nodes));
		p->lbn = calloc(p->n, sizeof(*p->lbn));
		if (!p->nodes || !p->lbn)
			abort();
		for (size_t j = 0; j < p->n; j++) {
			gw_node_t *n = &p->nodes[j];
			n->conf = &pc->nodes[j];
			n->pool = p;
			n->index = j;
			n->state = carried_state(srv->rt, pc->name, n->conf->name);
			n->stats = gw_metrics_node(srv->metrics, pc->name, n->conf->name);
			p->lbn[j].name = n->conf->name;
			p->lbn[j].weight = n->conf->weight;
			p->lbn[j].available = n->state == GW_NODE_UP;
		}
		p->bal = gw_balancer_new(pc->balance, p->lbn, p->n);
		if (!p->bal)
			abort();
		if (pc->tls.enabled && net_tls_client_ctx_new(pc->tls.ca_file, pc->tls.verify,
		                                              &p->tls, err, errlen) < 0) {
			runtime_free(rt);
			return -1;
		}
	}
	for (size_t i = 0; i < cfg->nfrontends; i++) {
		const lb_frontend_conf_t *fc = &cfg->frontends[i];
		rt->fes[i].conf = fc;
		if (fc->tls_cert && net_tls_server_ctx_new(fc->tls_cert, fc->tls_key,
		                                           &rt->fes[i].tls, err, errlen) < 0) {
			runtime_free(rt);
			return -1;
		}
	}
	*out = rt;
	return 0;
}

/* ---- listeners -------------------------------------------------------------------------- */

static void on_refused_closed(uv_handle_t *h)
{
	free(h);
}

/* No admin server is attached (a gateway on its own): accept and close at once. */
static void refuse_admin(gw_listener_t *l)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	if (!t)
		abort();
	uv_tcp_init(l->srv->loop, t);
	(void)uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	gw_listener_t *l = server->data;
	if (status < 0) {
		char msg[256];
		if (net_sock_accept_error(server, status, msg, sizeof(msg)))
			LB_WARN("accept on %s: %s", l->addr, msg);
		return;
	}
	l->srv->metrics->conns_accepted++;
	if (!l->admin)
		gw_conn_accept(l);
	else if (l->srv->hooks.admin_accept)
		l->srv->hooks.admin_accept(l->srv->hooks.arg, server, l->addr);
	else
		refuse_admin(l);
}

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

static int listener_open(gw_server_t *srv, const lb_addr_t *addr, bool admin, gw_listener_t **out,
                         char *err, size_t errlen)
{
	gw_listener_t *l = calloc(1, sizeof(*l));
	int rc;
	if (!l)
		abort();
	l->srv = srv;
	l->admin = admin;
	snprintf(l->addr, sizeof(l->addr), "%s", addr->text);
	uv_tcp_init(srv->loop, &l->tcp);
	l->tcp.data = l;
	rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr->ss,
	                 addr->ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = net_sock_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr->text, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		return rc;
	}
	*out = l;
	return 0;
}

static gw_listener_t *listener_find(gw_server_t *srv, const char *addr, bool admin)
{
	for (gw_listener_t *l = srv->listeners; l; l = l->next)
		if (l->admin == admin && !strcmp(l->addr, addr))
			return l;
	return NULL;
}

/*
 * Makes the listeners match cfg: keeps those whose address is unchanged (no connection is
 * refused during a reload), opens new ones, closes the rest. On failure the new ones are closed
 * again and the old set stays as it was.
 */
static int listeners_apply(gw_server_t *srv, const lb_config_t *cfg, char *err, size_t errlen)
{
	gw_listener_t *added = NULL, *l, *next, **pp;
	size_t nfe = cfg->nfrontends;

	for (l = srv->listeners; l; l = l->next)
		l->seen = false;
	for (size_t i = 0; i <= nfe; i++) {
		bool admin = i == nfe;
		size_t nl = admin ? (cfg->admin_enabled ? 1 : 0) : cfg->frontends[i].nlisten;
		for (size_t j = 0; j < nl; j++) {
			const lb_addr_t *a =
			    admin ? &cfg->admin_listen : &cfg->frontends[i].listen[j];
			l = listener_find(srv, a->text, admin);
			if (!l) {
				for (gw_listener_t *x = added; x; x = x->next)
					if (x->admin == admin && !strcmp(x->addr, a->text))
						l = x;
			}
			if (!l) {
				if (listener_open(srv, a, admin, &l, err, errlen) < 0) {
					for (l = added; l; l = next) {
						next = l->next;
						uv_close((uv_handle_t *)&l->tcp,
						         on_listener_closed);
					}
					return -1;
				}
				l->next = added;
				added = l;
			}
			l->seen = true;
			l->fe_index = i;
		}
	}
	/* close what the new config no longer has, then adopt the new ones */
	for (pp = &srv->listeners; (l = *pp);) {
		if (!l->seen) {
			*pp = l->next;
			uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		} else {
			pp = &l->next;
		}
	}
	for (l = added; l; l = next) {
		next = l->next;
		l->next = srv->listeners;
		srv->listeners = l;
		LB_INFO("listening on %s%s", l->addr, l->admin ? " (admin)" : "");
	}
	return 0;
}

/* ---- signals, reload, stop -------------------------------------------------------------- */

static void retire(gw_runtime_t *rt)
{
	rt->retired = true;
	for (size_t i = 0; i < rt->npools; i++)
		for (size_t j = 0; j < rt->pools[i].n; j++)
			gw_upstream_close_idle(&rt->pools[i].nodes[j]);
	gw_runtime_unref(rt);
}

int gw_server_reload(gw_server_t *srv, char *err, size_t errlen)
{
	lb_config_t *cfg;
	gw_runtime_t *rt, *old = srv->rt;

	if (lb_config_load(srv->config_path, &cfg, err, errlen) < 0)
		goto fail;
	if (runtime_new(srv, cfg, &rt, err, errlen) < 0) {
		/* runtime_new took the config and freed it */
		goto fail;
	}
	if (srv->hooks.reloading && srv->hooks.reloading(srv->hooks.arg, cfg, err, errlen) != 0) {
		runtime_free(rt);
		goto fail;
	}
	if (listeners_apply(srv, cfg, err, errlen) < 0) {
		runtime_free(rt);
		goto fail;
	}
	if (lb_log_open(&cfg->log, err, errlen) < 0)
		LB_ERR("reload: %s (logs unchanged)", err);
	srv->rt = rt;
	if (old)
		retire(old);
	srv->metrics->reloads++;
	if (srv->hooks.reloaded)
		srv->hooks.reloaded(srv->hooks.arg, cfg);
	LB_INFO("reloaded %s: %zu pools, %zu frontends", srv->config_path, cfg->npools,
	        cfg->nfrontends);
	return 0;
fail:
	srv->metrics->reload_errors++;
	LB_ERR("reload failed, keeping the running config: %s", err);
	return -1;
}

static void on_sighup(uv_signal_t *h, int signum)
{
	char err[512];
	(void)signum;
	(void)gw_server_reload(h->data, err, sizeof(err));
}

static void on_grace_expired(uv_timer_t *t)
{
	gw_server_t *srv = t->data;
	LB_WARN("shutdown grace time over: closing %u connections", srv->nconns);
	for (gw_conn_t *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw_conn_force_close(c);
	}
}

static void begin_stop(gw_server_t *srv)
{
	gw_listener_t *l, *next;
	if (srv->stopping)
		return;
	srv->stopping = true;
	LB_INFO("stopping: %u connections open, grace %llu ms", srv->nconns,
	        (unsigned long long)srv->rt->cfg->timeouts.shutdown_grace);
	for (l = srv->listeners; l; l = next) {
		next = l->next;
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
	}
	srv->listeners = NULL;
	if (srv->hooks.admin_stop)
		srv->hooks.admin_stop(srv->hooks.arg);
	for (gw_conn_t *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw_conn_shutdown(c);
	}
	if (srv->nconns == 0) {
		gw_server_stop(srv);
		return;
	}
	uv_timer_start(&srv->grace_timer, on_grace_expired, srv->rt->cfg->timeouts.shutdown_grace,
	               0);
}

static void on_sigterm(uv_signal_t *h, int signum)
{
	(void)signum;
	begin_stop(h->data);
}

void gw_server_stop(gw_server_t *srv)
{
	if (srv->stopped)
		return;
	srv->stopped = true;
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->grace_timer, NULL);
	net_sockq_close(&srv->sockq);
	if (srv->rt) {
		retire(srv->rt);
		srv->rt = NULL;
	}
	if (srv->on_stop)
		srv->on_stop(srv->on_stop_arg);
	LB_INFO("stopped");
}

int gw_server_init(gw_server_t *srv, uv_loop_t *loop, lb_config_t *cfg, char *err, size_t errlen)
{
	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->config_path = strdup(cfg->path);
	srv->started_ms = uv_now(loop);
	if (!srv->config_path || gw_metrics_new(&srv->metrics) < 0)
		abort();
	/* handles first, so that gw_server_stop can always close them */
	uv_signal_init(loop, &srv->sig_hup);
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	uv_timer_init(loop, &srv->grace_timer);
	net_sockq_init(loop, &srv->sockq);
	srv->sig_hup.data = srv->sig_term.data = srv->sig_int.data = srv;
	srv->grace_timer.data = srv;
	if (runtime_new(srv, cfg, &srv->rt, err, errlen) < 0)
		return -1;
	if (listeners_apply(srv, cfg, err, errlen) < 0)
		return -1;
	uv_signal_start(&srv->sig_hup, on_sighup, SIGHUP);
	uv_signal_start(&srv->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&srv->sig_int, on_sigterm, SIGINT);
	return 0;
}

void gw_node_report(gw_node_t *node, bool ok, const char *why)
{
	gw_server_t *srv = node->pool->rt->srv;
	if (ok)
		node->consecutive_failures = 0;
	else
		node->consecutive_failures++;
	/* health/ decides about ejection; it answers through gw_server_node_state */
	if (srv->hooks.passive)
		srv->hooks.passive(srv->hooks.arg, node->pool->conf->name, node->conf->name, ok,
		                   why);
}

void gw_server_node_state(gw_server_t *srv, const char *pool, const char *node,
                          gw_node_state_t state)
{
	gw_runtime_t *rt = srv->rt;
	for (size_t i = 0; rt && i < rt->npools; i++) {
		if (strcmp(rt->pools[i].conf->name, pool))
			continue;
		for (size_t j = 0; j < rt->pools[i].n; j++) {
			gw_node_t *n = &rt->pools[i].nodes[j];
			if (strcmp(n->conf->name, node))
				continue;
			gw_node_set_state(n, state);
			if (state != GW_NODE_DOWN)
				continue;
			for (gw_conn_t *c = srv->conns, *next; c; c = next) {
				next = c->next; /* a retry never frees c, but be safe */
				gw_conn_node_down(c, n);
			}
		}
	}
}

/*
 * The server: listeners, the current runtime (pools, balancers, TLS contexts built from one
 * config), the two steps of a config becoming current, and the graceful stop of one worker.
 * Each server runs on its worker's loop (gateway/workers.c owns SIGHUP and the workers).
 *
 * A config becomes current in two steps. gw_build_new, on the main thread, does everything that
 * can fail: TLS files, and one listening socket per worker (SO_REUSEPORT) for each address not
 * open yet. Then each worker adopts the build on its own loop (gw_server_adopt), which cannot
 * fail: a reload is all or nothing, for every worker and for health (which applies the config
 * between the two steps). Open connections keep the runtime they were accepted with.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "gateway/internal.h"
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
	gw__handoff_free(rt);
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

void gw__runtime_unref(gw_runtime_t *rt)
{
	if (--rt->refs == 0)
		runtime_free(rt);
}

/* A node keeps its health state across reloads when its pool and name are unchanged; at start
 * it has health's (a drain restored from before a restart), or is up. */
static gw_node_state_t carried_state(gw_runtime_t *old, const gw_build_t *b, const char *pool,
                                     const char *node)
{
	if (!old && b->start_hooks && b->start_hooks->initial_state)
		return b->start_hooks->initial_state(b->start_hooks->arg, pool, node);
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

/* ---- counts shared by the workers ---------------------------------------------------------- */

static uint32_t shared_clients; /* client connections of every worker (limits.max_connections) */

bool gw__count_take(uint32_t *count, uint32_t limit)
{
	uint32_t cur = __atomic_load_n(count, __ATOMIC_RELAXED);
	do {
		if (cur >= limit)
			return false;
	} while (!__atomic_compare_exchange_n(count, &cur, cur + 1, true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
	return true;
}

void gw__count_put(uint32_t *count)
{
	__atomic_sub_fetch(count, 1, __ATOMIC_RELAXED);
}

uint32_t *gw__client_count(void)
{
	return &shared_clients;
}

/* This worker's share of a limit for the whole process: at least 1. */
static uint32_t share(uint32_t limit, unsigned nworkers)
{
	uint32_t n = nworkers ? nworkers : 1;
	return limit / n + (limit % n != 0);
}

/* The runtime of b for this server; it cannot fail (b holds whatever could). */
static gw_runtime_t *runtime_new(gw_server_t *srv, const gw_build_t *b)
{
	lb_config_t *cfg = b->cfg;
	gw_runtime_t *rt = calloc(1, sizeof(*rt));
	if (!rt)
		abort();
	rt->cfg = lb_config_ref(cfg);
	rt->srv = srv;
	rt->refs = 1;
	rt->sizes = b->sizes;
	rt->npools = cfg->npools;
	rt->pools = calloc(cfg->npools, sizeof(*rt->pools));
	rt->nfes = cfg->nfrontends;
	rt->fes = calloc(cfg->nfrontends + 1, sizeof(*rt->fes)); /* none: a dr:-only director */
	if (!rt->pools || !rt->fes)
		abort();
	for (size_t i = 0; i < cfg->npools; i++) {
		const lb_pool_conf_t *pc = &cfg->pools[i];
		gw_pool_t *p = &rt->pools[i];
		p->conf = pc;
		p->rt = rt;
		p->n = pc->nnodes;
		p->series = gw_metrics_pool(srv->metrics, pc->name);
		p->max_conns = share(pc->max_conns_per_node, srv->nworkers);
		p->max_idle = share(pc->max_idle_per_node, srv->nworkers);
		p->nodes = calloc(p->n, sizeof(*p->nodes));
		p->lbn = calloc(p->n, sizeof(*p->lbn));
		if (!p->nodes || !p->lbn)
			abort();
		for (size_t j = 0; j < p->n; j++) {
			gw_node_t *n = &p->nodes[j];
			n->conf = &pc->nodes[j];
			n->pool = p;
			n->index = j;
			n->state = carried_state(srv->rt, b, pc->name, n->conf->name);
			n->stats = gw_metrics_node(srv->metrics, pc->name, n->conf->name);
			p->lbn[j].name = n->conf->name;
			p->lbn[j].weight = n->conf->weight;
			p->lbn[j].available = n->state == GW_NODE_UP;
		}
		p->bal = gw_balancer_new(pc->balance, p->lbn, p->n);
		if (!p->bal)
			abort();
		p->tls = b->pool_tls[i] ? net_tls_ctx_ref(b->pool_tls[i]) : NULL;
	}
	for (size_t i = 0; i < cfg->nfrontends; i++) {
		rt->fes[i].conf = &cfg->frontends[i];
		rt->fes[i].tls = b->fe_tls[i] ? net_tls_ctx_ref(b->fe_tls[i]) : NULL;
	}
	gw__handoff_setup(rt);
	return rt;
}

/* ---- builds ------------------------------------------------------------------------------ */

/* A listening socket on a, with SO_REUSEPORT for the workers' sockets of one address (the
 * kernel spreads the connections over them). */
static int listen_socket(const lb_addr_t *a, bool reuseport, int *out, char *err, size_t errlen)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
	socklen_t len =
	    a->ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (const struct sockaddr *)&a->ss, len) < 0 || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

static gw_listener_t *listener_find(const gw_server_t *srv, const char *addr, bool admin);

/* Binds nworkers sockets (the admin listener: one) for a, unless have listens on it already. */
static int build_bind(gw_build_t *b, const gw_server_t *have, const lb_addr_t *a, bool admin,
                      char *err, size_t errlen)
{
	gw_bind_t *x;
	unsigned n = admin ? 1 : b->nworkers;
	if (have && listener_find(have, a->text, admin))
		return 0;
	x = &b->binds[b->nbinds++];
	snprintf(x->addr, sizeof(x->addr), "%s", a->text);
	x->admin = admin;
	x->fds = malloc(b->nworkers * sizeof(*x->fds));
	if (!x->fds)
		abort();
	for (unsigned k = 0; k < b->nworkers; k++)
		x->fds[k] = -1;
	for (unsigned k = 0; k < n; k++)
		if (listen_socket(a, !admin, &x->fds[k], err, errlen) < 0)
			return -1;
	return 0;
}

int gw_build_new(lb_config_t *cfg, unsigned nworkers, const gw_server_t *have, gw_build_t **out,
                 char *err, size_t errlen)
{
	gw_build_t *b = calloc(1, sizeof(*b));
	size_t nl = cfg->admin_enabled ? 1 : 0;
	if (!b)
		abort();
	for (size_t i = 0; i < cfg->nfrontends; i++)
		nl += cfg->frontends[i].nlisten;
	b->cfg = lb_config_ref(cfg);
	b->nworkers = nworkers ? nworkers : 1;
	b->pool_tls = calloc(cfg->npools + 1, sizeof(*b->pool_tls));
	b->fe_tls = calloc(cfg->nfrontends + 1, sizeof(*b->fe_tls));
	b->binds = calloc(nl + 1, sizeof(*b->binds));
	if (!b->pool_tls || !b->fe_tls || !b->binds)
		abort();
	for (size_t i = 0; i < cfg->npools; i++) {
		const lb_pool_conf_t *pc = &cfg->pools[i];
		if (pc->tls.enabled && net_tls_client_ctx_new(pc->tls.ca_file, pc->tls.verify,
		                                              &b->pool_tls[i], err, errlen) < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->nfrontends; i++) {
		const lb_frontend_conf_t *fc = &cfg->frontends[i];
		if (fc->tls_cert && net_tls_server_ctx_new(fc->tls_cert, fc->tls_key, &b->fe_tls[i],
		                                           err, errlen) < 0)
			goto fail;
		for (size_t j = 0; j < fc->nlisten; j++)
			if (build_bind(b, have, &fc->listen[j], false, err, errlen) < 0)
				goto fail;
	}
	if (cfg->admin_enabled && build_bind(b, have, &cfg->admin_listen, true, err, errlen) < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	gw_build_free(b);
	return -1;
}

void gw_build_free(gw_build_t *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->cfg->npools; i++)
		if (b->pool_tls[i])
			net_tls_ctx_unref(b->pool_tls[i]);
	for (size_t i = 0; i < b->cfg->nfrontends; i++)
		if (b->fe_tls[i])
			net_tls_ctx_unref(b->fe_tls[i]);
	for (size_t i = 0; i < b->nbinds; i++) {
		for (unsigned k = 0; k < b->nworkers; k++)
			if (b->binds[i].fds[k] >= 0)
				close(b->binds[i].fds[k]);
		free(b->binds[i].fds);
	}
	free(b->pool_tls);
	free(b->fe_tls);
	free(b->binds);
	lb_config_unref(b->cfg);
	free(b);
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
	(void)net_tcp_init(l->srv->loop, t);
	(void)uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_refused_closed);
}

/*
 * At the fd limit. A listener whose accept fails with neither the reserve nor a free fd
 * (NET_ACCEPT_STUCK) is called back by libuv again and again without returning to the loop, so
 * this worker would serve nothing, and serving is what frees fds (with every worker stuck, the
 * process would hang for good). Such a callback first yields a millisecond: another worker is
 * usually refusing with the reserve and will give an fd back at once. After STUCK_YIELDS of them
 * in a row the listener pauses: its handle is closed (which ends libuv's accept loop; `spare`, a
 * second descriptor of the socket, keeps the socket and its listen queue) and every RESUME_MS the
 * resume timer tries to listen again, which takes a free fd for the next spare: while there is
 * none, it stays paused and its queue waits. A listener without a spare (its dup failed) only
 * yields.
 */
#define STUCK_YIELDS 20
#define RESUME_MS    100

static void listener_free_if_done(gw_listener_t *l)
{
	if (l->closing && l->handles == 0) {
		if (l->spare >= 0)
			close(l->spare);
		free(l);
	}
}

static void on_listener_closed(uv_handle_t *h)
{
	gw_listener_t *l = h->data;
	l->handles--;
	listener_free_if_done(l);
}

static void on_paused_closed(uv_handle_t *h)
{
	gw_listener_t *l = h->data;
	l->handles--;
	l->lstate = GW_LISTEN_PAUSED;
	listener_free_if_done(l);
}

static void listener_close(gw_listener_t *l)
{
	l->closing = true;
	uv_close((uv_handle_t *)&l->resume, on_listener_closed);
	if (l->lstate == GW_LISTEN_OPEN)
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

static void on_connection(uv_stream_t *server, int status);

/* Listens on fd with l's handle (initialised here); fd is then the handle's. */
static int listener_listen(gw_listener_t *l, int fd)
{
	int rc;
	(void)net_tcp_init(l->srv->loop, &l->tcp);
	l->tcp.data = l;
	l->handles++;
	l->lstate = GW_LISTEN_OPEN;
	if ((rc = uv_tcp_open(&l->tcp, fd)) < 0)
		close(fd);
	else
		rc = net_sock_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
	return rc;
}

static void on_resume(uv_timer_t *t)
{
	gw_listener_t *l = t->data;
	int next, rc;
	if (l->closing)
		return;
	if (l->lstate != GW_LISTEN_PAUSED || (next = fcntl(l->spare, F_DUPFD_CLOEXEC, 0)) < 0) {
		uv_timer_start(&l->resume, on_resume, RESUME_MS, 0); /* no fd free yet */
		return;
	}
	rc = listener_listen(l, l->spare);
	l->spare = next;
	l->stuck = 0;
	if (rc < 0) {
		/* a bug, said loudly: the listener stays paused */
		LB_ERR("listener %s: cannot listen again: %s", l->addr, uv_strerror(rc));
		l->lstate = GW_LISTEN_PAUSING;
		uv_close((uv_handle_t *)&l->tcp, on_paused_closed);
		return;
	}
	if (l->npaused == 0) /* the pause was logged */
		LB_INFO("accept on %s: listening again", l->addr);
}

static void listener_pause(gw_listener_t *l)
{
	uint64_t now = uv_now(l->srv->loop);
	l->npaused++;
	if (!l->pause_logged || now - l->pause_logged >= 1000) {
		LB_WARN("accept on %s: no fd left to refuse connections with: paused (%u time(s) "
		        "since the last such line), they wait in the listen queue",
		        l->addr, l->npaused);
		l->pause_logged = now;
		l->npaused = 0;
	}
	l->lstate = GW_LISTEN_PAUSING;
	uv_close((uv_handle_t *)&l->tcp, on_paused_closed);
	uv_timer_start(&l->resume, on_resume, RESUME_MS, 0);
}

static void on_connection(uv_stream_t *server, int status)
{
	gw_listener_t *l = server->data;
	if (status < 0) {
		char msg[256];
		int r = net_sock_accept_error(server, status, msg, sizeof(msg));
		if (r & NET_ACCEPT_LOG)
			LB_WARN("accept on %s: %s", l->addr, msg);
		if (!(r & NET_ACCEPT_STUCK)) {
			l->stuck = 0;
		} else if (++l->stuck <= STUCK_YIELDS || l->spare < 0 || l->closing) {
			usleep(1000);
		} else {
			listener_pause(l);
		}
		return;
	}
	l->stuck = 0;
	if (l->admin && !net_sock_accept_keep()) {
		refuse_admin(l); /* it took the fd that refusing needs */
		return;
	}
	GW_INC(l->srv->metrics->conns_accepted);
	if (!l->admin)
		gw__conn_accept(l);
	else if (l->srv->hooks.admin_accept)
		l->srv->hooks.admin_accept(l->srv->hooks.arg, server, l->addr);
	else
		refuse_admin(l);
}

/* A listener on the socket fd (bound and listening already): it cannot fail but for memory. */
static gw_listener_t *listener_adopt(gw_server_t *srv, const char *addr, bool admin, int fd)
{
	gw_listener_t *l = calloc(1, sizeof(*l));
	int rc;
	if (!l)
		abort();
	l->srv = srv;
	l->admin = admin;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	uv_timer_init(srv->loop, &l->resume);
	l->resume.data = l;
	l->handles = 1;
	l->spare = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* -1: this listener cannot pause */
	if ((rc = listener_listen(l, fd)) < 0) {
		/* only for a descriptor that is not a listening socket: a bug, said loudly */
		LB_ERR("listener %s: %s", addr, uv_strerror(rc));
		listener_close(l);
		return NULL;
	}
	return l;
}

static gw_listener_t *listener_find(const gw_server_t *srv, const char *addr, bool admin)
{
	for (gw_listener_t *l = srv->listeners; l; l = l->next)
		if (l->admin == admin && !strcmp(l->addr, addr))
			return l;
	return NULL;
}

/* This worker's socket for addr in b (taken: the build no longer closes it), or -1. */
static int build_take(gw_build_t *b, const char *addr, bool admin, unsigned worker)
{
	for (size_t i = 0; i < b->nbinds; i++) {
		gw_bind_t *x = &b->binds[i];
		if (x->admin == admin && !strcmp(x->addr, addr)) {
			int fd = x->fds[worker];
			x->fds[worker] = -1;
			return fd;
		}
	}
	return -1;
}

/*
 * Makes the listeners match b's config: keeps those whose address is unchanged (no connection is
 * refused during a reload), takes the new sockets from b, closes the rest. The admin listener is
 * worker 0's.
 */
static void listeners_apply(gw_server_t *srv, gw_build_t *b)
{
	const lb_config_t *cfg = b->cfg;
	gw_listener_t *l, **pp;
	size_t nfe = cfg->nfrontends;

	for (l = srv->listeners; l; l = l->next)
		l->seen = false;
	for (size_t i = 0; i <= nfe; i++) {
		bool admin = i == nfe;
		size_t nl = admin ? (cfg->admin_enabled && srv->worker == 0 ? 1 : 0)
		                  : cfg->frontends[i].nlisten;
		for (size_t j = 0; j < nl; j++) {
			const lb_addr_t *a =
			    admin ? &cfg->admin_listen : &cfg->frontends[i].listen[j];
			l = listener_find(srv, a->text, admin);
			if (!l) {
				int fd = build_take(b, a->text, admin, srv->worker);
				if (fd < 0 || !(l = listener_adopt(srv, a->text, admin, fd))) {
					LB_ERR("worker %u: no socket for %s", srv->worker, a->text);
					continue;
				}
				l->next = srv->listeners;
				srv->listeners = l;
				if (srv->worker == 0)
					LB_INFO("listening on %s%s", l->addr,
					        l->admin ? " (admin)" : "");
			}
			l->seen = true;
			l->fe_index = i;
		}
	}
	/* close what the new config no longer has */
	for (pp = &srv->listeners; (l = *pp);) {
		if (!l->seen) {
			*pp = l->next;
			listener_close(l);
		} else {
			pp = &l->next;
		}
	}
}

/* ---- signals, reload, stop -------------------------------------------------------------- */

static void retire(gw_runtime_t *rt)
{
	rt->retired = true;
	for (size_t i = 0; i < rt->npools; i++)
		for (size_t j = 0; j < rt->pools[i].n; j++)
			gw__upstream_close_idle(&rt->pools[i].nodes[j]);
	gw__runtime_unref(rt);
}

void gw_server_adopt(gw_server_t *srv, gw_build_t *b)
{
	gw_runtime_t *old = srv->rt;
	listeners_apply(srv, b);
	srv->rt = runtime_new(srv, b);
	if (old)
		retire(old);
}

static void on_grace_expired(uv_timer_t *t)
{
	gw_server_t *srv = t->data;
	LB_WARN("shutdown grace time over: closing %u connections", srv->nconns);
	for (gw_conn_t *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw__conn_force_close(c);
	}
}

void gw_server_begin_stop(gw_server_t *srv)
{
	gw_listener_t *l, *next;
	if (srv->stopping)
		return;
	srv->stopping = true;
	LB_INFO("%sstopping: %u connections open, grace %llu ms",
	        srv->nworkers > 1 ? "worker " : "", srv->nconns,
	        (unsigned long long)srv->rt->cfg->timeouts.shutdown_grace);
	for (l = srv->listeners; l; l = next) {
		next = l->next;
		listener_close(l);
	}
	srv->listeners = NULL;
	if (srv->hooks.admin_stop)
		srv->hooks.admin_stop(srv->hooks.arg);
	for (gw_conn_t *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw__conn_shutdown(c);
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
	gw_server_begin_stop(h->data);
}

void gw_server_stop(gw_server_t *srv)
{
	if (srv->stopped)
		return;
	srv->stopped = true;
	if (srv->own_signals) {
		uv_close((uv_handle_t *)&srv->sig_term, NULL);
		uv_close((uv_handle_t *)&srv->sig_int, NULL);
	}
	uv_close((uv_handle_t *)&srv->grace_timer, NULL);
	gw__conn_timers_close(srv);
	net_sockq_close(&srv->sockq);
	if (srv->rt) {
		retire(srv->rt);
		srv->rt = NULL;
	}
	if (srv->nworkers <= 1)
		LB_INFO("stopped");
	if (srv->on_stop)
		srv->on_stop(srv->on_stop_arg);
}

static void server_setup(gw_server_t *srv, uv_loop_t *loop, const char *path, unsigned worker,
                         unsigned nworkers)
{
	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->worker = worker;
	srv->nworkers = nworkers;
	srv->config_path = strdup(path);
	srv->started_ms = uv_now(loop);
	if (!srv->config_path || gw_metrics_new(&srv->metrics) < 0)
		abort();
	/* handles first, so that gw_server_stop can always close them */
	uv_timer_init(loop, &srv->grace_timer);
	gw__conn_timers_init(srv);
	net_sockq_init(loop, &srv->sockq);
	srv->grace_timer.data = srv;
}

void gw_server_init_worker(gw_server_t *srv, uv_loop_t *loop, gw_build_t *b, unsigned worker,
                           unsigned nworkers)
{
	server_setup(srv, loop, b->cfg->path, worker, nworkers);
	gw_server_adopt(srv, b);
}

int gw_server_init(gw_server_t *srv, uv_loop_t *loop, lb_config_t *cfg, char *err, size_t errlen)
{
	gw_build_t *b;
	int rc;

	server_setup(srv, loop, cfg->path, 0, 1);
	srv->own_signals = true;
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	srv->sig_term.data = srv->sig_int.data = srv;
	rc = gw_build_new(cfg, 1, NULL, &b, err, errlen);
	lb_config_unref(cfg); /* the caller's reference: the build and the runtime hold theirs */
	if (rc < 0)
		return -1;
	gw_server_adopt(srv, b);
	gw_build_free(b);
	uv_signal_start(&srv->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&srv->sig_int, on_sigterm, SIGINT);
	return 0;
}

void gw__node_report(gw_node_t *node, bool ok, const char *why)
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
			gw__node_set_state(n, state);
			if (state != GW_NODE_DOWN)
				continue;
			for (gw_conn_t *c = srv->conns, *next; c; c = next) {
				next = c->next; /* a retry never frees c, but be safe */
				gw__conn_node_down(c, n);
			}
		}
	}
}

/*
 * Workers and their mailboxes (see workers.h). The main loop's side: signals, reload, stop and
 * the relay of health's verdicts; a worker thread's side: its loop, its server and its mailbox.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gateway/s3err.h"
#include "gateway/workers.h"
#include "net/rbuf.h"
#include "net/splice.h"

typedef enum { M_STATE, M_ADOPT, M_DRAIN, M_STOP, M_PASSIVE, M_STOPPED } msg_kind_t;

/* A build adopted by several workers: the last one to take it frees it. */
typedef struct shared_build_s {
	gw_build_t *b;
	unsigned refs;
} shared_build_t;

typedef struct msg_s {
	msg_kind_t kind;
	struct msg_s *next;
	char *pool, *node, *why;
	gw_node_state_t state;
	bool ok;
	shared_build_t *build;
} msg_t;

typedef struct mailbox_s {
	uv_async_t async;
	pthread_mutex_t mu;
	msg_t *head, **tail;
	bool closed; /* no more deliveries: posts are dropped */
	void (*deliver)(struct mailbox_s *box, msg_t *m);
	void *owner;
} mailbox_t;

typedef struct worker_s {
	gw_workers_t *ws;
	unsigned index;
	gw_server_t srv;
	uv_loop_t loop; /* workers other than 0 */
	pthread_t thread;
	bool started;
	mailbox_t box;
	shared_build_t *first; /* the build it starts with */
	uv_sem_t ready;
} worker_t;

struct gw_workers_s {
	uv_loop_t *loop;
	unsigned n;
	worker_t *w; /* [n]; w[0] runs on loop */
	gw_hooks_t hooks;
	void (*on_stop)(void *arg);
	void *arg;
	mailbox_t box; /* to the main loop */
	uv_signal_t sig_hup, sig_term, sig_int;
	uv_timer_t delay; /* timeouts.shutdown_delay: SIGTERM's first phase */
	unsigned running; /* workers not stopped yet */
	bool draining;
	bool stopping;
	char *config_path;
	/* the handoff's object size cache, one for every worker (handoff/sizecache.h says why):
	 * made on the main loop's thread the first time a config has a handoff route, handed to
	 * the workers in their builds (the mailbox orders it), freed after the threads joined */
	ho_sizecache_t *sizes;
};

/* Bounds of the size cache: the entries' own ~64 bytes each come on top of the names. */
#define SIZES_MAX_ENTRIES (256u * 1024)
#define SIZES_MAX_BYTES   (32u << 20)

static bool wants_sizes(const lb_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nfrontends; i++)
		for (size_t j = 0; j < cfg->frontends[i].nroutes; j++)
			if (cfg->frontends[i].routes[j].handoff.enabled)
				return true;
	return false;
}

/* A build of a config with a handoff route gets the cache (made now if it is the first);
 * one without leaves its runtime without, so routes without handoff cost nothing. */
static void give_sizes(gw_workers_t *ws, gw_build_t *b)
{
	if (!wants_sizes(b->cfg))
		return;
	if (!ws->sizes && ho_sizecache_new(SIZES_MAX_ENTRIES, SIZES_MAX_BYTES, &ws->sizes) < 0)
		abort(); /* a few hundred bytes at start or reload */
	b->sizes = ws->sizes;
}

/* ---- mailboxes -------------------------------------------------------------------------- */

static void msg_free(msg_t *m)
{
	free(m->pool);
	free(m->node);
	free(m->why);
	free(m);
}

/* Every message waiting in box, in order, taken under its lock; closing: none may come after. */
static msg_t *mailbox_take(mailbox_t *box, bool closing)
{
	msg_t *list;
	pthread_mutex_lock(&box->mu);
	if (closing)
		box->closed = true;
	list = box->head;
	box->head = NULL;
	box->tail = &box->head;
	pthread_mutex_unlock(&box->mu);
	return list;
}

static void on_mail(uv_async_t *a)
{
	mailbox_t *box = a->data;
	msg_t *list = mailbox_take(box, false);
	while (list) {
		msg_t *m = list;
		list = m->next;
		box->deliver(box, m);
	}
}

static void mailbox_init(mailbox_t *box, uv_loop_t *loop, void (*deliver)(mailbox_t *box, msg_t *m),
                         void *owner)
{
	box->head = NULL;
	box->tail = &box->head;
	box->closed = false;
	box->deliver = deliver;
	box->owner = owner;
	pthread_mutex_init(&box->mu, NULL);
	uv_async_init(loop, &box->async, on_mail);
	box->async.data = box;
}

static void release_build(shared_build_t *sb);

/* From any thread. A closed mailbox drops what comes (its worker has stopped). */
static void post(mailbox_t *box, msg_t *m)
{
	pthread_mutex_lock(&box->mu);
	if (box->closed) {
		pthread_mutex_unlock(&box->mu);
		if (m->build)
			release_build(m->build);
		msg_free(m);
		return;
	}
	m->next = NULL;
	*box->tail = m;
	box->tail = &m->next;
	uv_async_send(&box->async);
	pthread_mutex_unlock(&box->mu);
}

/* On the mailbox's loop: what is still queued is dropped, later posts too. */
static void mailbox_close(mailbox_t *box)
{
	msg_t *list = mailbox_take(box, true);
	while (list) {
		msg_t *m = list;
		list = m->next;
		if (m->build)
			release_build(m->build);
		msg_free(m);
	}
	uv_close((uv_handle_t *)&box->async, NULL);
}

static msg_t *msg_new(msg_kind_t kind)
{
	msg_t *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->kind = kind;
	return m;
}

static char *dup_or_null(const char *s)
{
	char *d;
	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		abort();
	return d;
}

/* ---- builds shared by the workers --------------------------------------------------------- */

static void release_build(shared_build_t *sb)
{
	if (__atomic_sub_fetch(&sb->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		gw_build_free(sb->b);
		free(sb);
	}
}

static shared_build_t *share_build(gw_build_t *b, unsigned refs)
{
	shared_build_t *sb = malloc(sizeof(*sb));
	if (!sb)
		abort();
	sb->b = b;
	sb->refs = refs;
	return sb;
}

/* ---- a worker's side ---------------------------------------------------------------------- */

static void worker_passive(void *arg, const char *pool, const char *node, bool ok, const char *why)
{
	worker_t *w = arg;
	msg_t *m = msg_new(M_PASSIVE);
	m->pool = dup_or_null(pool);
	m->node = dup_or_null(node);
	m->why = dup_or_null(why);
	m->ok = ok;
	post(&w->ws->box, m);
}

static void worker_deliver(mailbox_t *box, msg_t *m)
{
	worker_t *w = box->owner;
	switch (m->kind) {
	case M_STATE:
		gw_server_node_state(&w->srv, m->pool, m->node, m->state);
		break;
	case M_ADOPT:
		if (!w->srv.stopping)
			gw_server_adopt(&w->srv, m->build->b);
		release_build(m->build);
		break;
	case M_DRAIN:
		w->srv.draining = true;
		break;
	case M_STOP:
		gw_server_begin_stop(&w->srv);
		break;
	case M_PASSIVE:
	case M_STOPPED:
		break;
	}
	msg_free(m);
}

/* A worker's server has stopped (on its loop): its loop ends once the mailbox is closed. */
static void worker_stopped(void *arg)
{
	worker_t *w = arg;
	if (w->index > 0) {
		mailbox_close(&w->box);
		post(&w->ws->box, msg_new(M_STOPPED));
		return;
	}
	/* worker 0 shares the main loop: it tells the controller directly */
	w->ws->box.deliver(&w->ws->box, msg_new(M_STOPPED));
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	int rc;

	uv_loop_init(&w->loop);
	mailbox_init(&w->box, &w->loop, worker_deliver, w);
	gw_server_init_worker(&w->srv, &w->loop, w->first->b, w->index, w->ws->n);
	release_build(w->first);
	w->first = NULL;
	w->srv.hooks = (gw_hooks_t){.arg = w, .passive = worker_passive};
	w->srv.on_stop = worker_stopped;
	w->srv.on_stop_arg = w;
	uv_sem_post(&w->ready); /* from here the controller may read w->srv.metrics */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&w->loop);
	if (rc != 0)
		LB_WARN("worker %u: loop closed with handles open: %s", w->index, uv_strerror(rc));
	net_rbuf_spares_free();
	net_splice_pipes_close();
	return NULL;
}

/* ---- the main loop's side ----------------------------------------------------------------- */

static void all_stopped(gw_workers_t *ws)
{
	uv_close((uv_handle_t *)&ws->sig_hup, NULL);
	uv_close((uv_handle_t *)&ws->sig_term, NULL);
	uv_close((uv_handle_t *)&ws->sig_int, NULL);
	uv_close((uv_handle_t *)&ws->delay, NULL);
	mailbox_close(&ws->box);
	LB_INFO("stopped");
	if (ws->on_stop)
		ws->on_stop(ws->arg);
}

static void main_deliver(mailbox_t *box, msg_t *m)
{
	gw_workers_t *ws = box->owner;
	switch (m->kind) {
	case M_PASSIVE:
		if (ws->hooks.passive && !ws->stopping)
			ws->hooks.passive(ws->hooks.arg, m->pool, m->node, m->ok, m->why);
		break;
	case M_STOPPED:
		if (--ws->running == 0)
			all_stopped(ws);
		break;
	case M_STATE:
	case M_ADOPT:
	case M_DRAIN:
	case M_STOP:
		break;
	}
	msg_free(m);
}

unsigned gw_workers_wanted(unsigned configured)
{
	cpu_set_t set;
	int n;
	if (configured)
		return configured;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return (unsigned)n;
	return 1;
}

gw_server_t *gw_workers_main(gw_workers_t *ws)
{
	return &ws->w[0].srv;
}

unsigned gw_workers_count(const gw_workers_t *ws)
{
	return ws->n;
}

void gw_workers_node_state(gw_workers_t *ws, const char *pool, const char *node,
                           gw_node_state_t state)
{
	gw_server_node_state(&ws->w[0].srv, pool, node, state);
	for (unsigned k = 1; k < ws->n; k++) {
		msg_t *m = msg_new(M_STATE);
		m->pool = dup_or_null(pool);
		m->node = dup_or_null(node);
		m->state = state;
		post(&ws->w[k].box, m);
	}
}

int gw_workers_reload(gw_workers_t *ws, char *err, size_t errlen)
{
	gw_server_t *w0 = &ws->w[0].srv;
	lb_config_t *cfg;
	gw_build_t *b;
	shared_build_t *sb;

	if (ws->stopping) {
		snprintf(err, errlen, "stopping");
		goto fail;
	}
	if (lb_config_load(ws->config_path, &cfg, err, errlen) < 0)
		goto fail;
	if (gw_build_new(cfg, ws->n, w0, &b, err, errlen) < 0) {
		lb_config_unref(cfg);
		goto fail;
	}
	lb_config_unref(cfg); /* b holds it */
	give_sizes(ws, b);
	if (b->cfg->workers && gw_workers_wanted(b->cfg->workers) != ws->n)
		LB_WARN("reload: workers: %u takes effect at the next start (running %u)",
		        b->cfg->workers, ws->n);
	/* health is the last thing that may refuse; after it nothing can fail */
	if (ws->hooks.reloading && ws->hooks.reloading(ws->hooks.arg, b->cfg, err, errlen) != 0) {
		gw_build_free(b);
		goto fail;
	}
	if (lb_log_open(&b->cfg->log, err, errlen) < 0)
		LB_ERR("reload: %s (logs unchanged)", err);
	sb = share_build(b, ws->n);
	gw_server_adopt(w0, b);
	for (unsigned k = 1; k < ws->n; k++) {
		msg_t *m = msg_new(M_ADOPT);
		m->build = sb;
		post(&ws->w[k].box, m);
	}
	GW_INC(w0->metrics->reloads);
	if (ws->hooks.reloaded)
		ws->hooks.reloaded(ws->hooks.arg, w0->rt->cfg);
	LB_INFO("reloaded %s: %zu pools, %zu frontends, %u workers", ws->config_path,
	        w0->rt->cfg->npools, w0->rt->cfg->nfrontends, ws->n);
	release_build(sb); /* worker 0's share */
	return 0;
fail:
	GW_INC(w0->metrics->reload_errors);
	LB_ERR("reload failed, keeping the running config: %s", err);
	return -1;
}

static void stop_now(gw_workers_t *ws)
{
	for (unsigned k = 1; k < ws->n; k++)
		post(&ws->w[k].box, msg_new(M_STOP));
	gw_server_begin_stop(&ws->w[0].srv);
}

static void on_delay(uv_timer_t *t)
{
	stop_now(t->data);
}

void gw_workers_stop(gw_workers_t *ws)
{
	uint64_t delay = ws->w[0].srv.rt ? ws->w[0].srv.rt->cfg->timeouts.shutdown_delay : 0;
	if (ws->stopping)
		return;
	ws->stopping = true;
	if (!delay) {
		stop_now(ws);
		return;
	}
	/* first, every healthz says 503 while everything else is served: an L4 tier in front
	 * moves new connections away before the listeners close */
	LB_INFO("stopping in %llu ms: healthz answers 503 meanwhile", (unsigned long long)delay);
	ws->w[0].srv.draining = true;
	for (unsigned k = 1; k < ws->n; k++)
		post(&ws->w[k].box, msg_new(M_DRAIN));
	uv_timer_start(&ws->delay, on_delay, delay, 0);
}

static void on_sighup(uv_signal_t *h, int signum)
{
	char err[512];
	(void)signum;
	(void)gw_workers_reload(h->data, err, sizeof(err));
}

static void on_sigterm(uv_signal_t *h, int signum)
{
	(void)signum;
	gw_workers_stop(h->data);
}

gw_metrics_t *gw_workers_metrics(const gw_workers_t *ws)
{
	gw_metrics_t *m;
	if (gw_metrics_new(&m) < 0)
		abort();
	for (unsigned k = 0; k < ws->n; k++)
		gw_metrics_add(m, ws->w[k].srv.metrics);
	return m;
}

const gw_metrics_t *gw_workers_metrics_of(const gw_workers_t *ws, unsigned k)
{
	return ws->w[k].srv.metrics;
}

int gw_workers_start(uv_loop_t *loop, lb_config_t *cfg, unsigned n, const gw_hooks_t *hooks,
                     void (*on_stop)(void *arg), void *arg, gw_workers_t **out, char *err,
                     size_t errlen)
{
	gw_workers_t *ws = calloc(1, sizeof(*ws));
	gw_build_t *b;
	shared_build_t *sb;
	worker_t *w0;

	if (!ws)
		abort();
	gw_err_init(); /* before the threads */
	n = n ? n : 1;
	ws->config_path = strdup(cfg->path);
	ws->w = calloc(n, sizeof(*ws->w));
	if (!ws->config_path || !ws->w)
		abort();
	if (gw_build_new(cfg, n, NULL, &b, err, errlen) < 0) {
		lb_config_unref(cfg);
		free(ws->w);
		free(ws->config_path);
		free(ws);
		return -1;
	}
	lb_config_unref(cfg); /* b holds it */
	give_sizes(ws, b);
	ws->loop = loop;
	ws->n = n;
	ws->hooks = *hooks;
	b->start_hooks = &ws->hooks; /* read while the workers start, below */
	ws->on_stop = on_stop;
	ws->arg = arg;
	ws->running = n;
	mailbox_init(&ws->box, loop, main_deliver, ws);
	uv_signal_init(loop, &ws->sig_hup);
	uv_signal_init(loop, &ws->sig_term);
	uv_signal_init(loop, &ws->sig_int);
	uv_timer_init(loop, &ws->delay);
	ws->sig_hup.data = ws->sig_term.data = ws->sig_int.data = ws->delay.data = ws;

	sb = share_build(b, n);
	w0 = &ws->w[0];
	w0->ws = ws;
	gw_server_init_worker(&w0->srv, loop, b, 0, n);
	w0->srv.hooks = *hooks;
	w0->srv.hooks.reloading = NULL; /* reloads are the controller's */
	w0->srv.hooks.reloaded = NULL;
	w0->srv.on_stop = worker_stopped;
	w0->srv.on_stop_arg = w0;
	for (unsigned k = 1; k < n; k++) {
		worker_t *w = &ws->w[k];
		w->ws = ws;
		w->index = k;
		w->first = sb;
		uv_sem_init(&w->ready, 0);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			abort(); /* no thread at start: nothing sensible to run on */
		w->started = true;
		uv_sem_wait(&w->ready);
		uv_sem_destroy(&w->ready);
	}
	b->start_hooks = NULL; /* the build may outlive this call (a worker's share) */
	release_build(sb);     /* worker 0's share */
	uv_signal_start(&ws->sig_hup, on_sighup, SIGHUP);
	uv_signal_start(&ws->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&ws->sig_int, on_sigterm, SIGINT);
	if (n > 1)
		LB_INFO("%u workers", n);
	*out = ws;
	return 0;
}

void gw_workers_free(gw_workers_t *ws)
{
	if (!ws)
		return;
	for (unsigned k = 1; k < ws->n; k++)
		if (ws->w[k].started)
			pthread_join(ws->w[k].thread, NULL);
	for (unsigned k = 0; k < ws->n; k++) {
		gw_metrics_free(ws->w[k].srv.metrics);
		free(ws->w[k].srv.config_path);
		if (k > 0)
			pthread_mutex_destroy(&ws->w[k].box.mu);
	}
	pthread_mutex_destroy(&ws->box.mu);
	ho_sizecache_free(ws->sizes);
	free(ws->w);
	free(ws->config_path);
	free(ws);
}

/*
 * The gateway's use of the handoff director (issue 12; handoff/director.h): per runtime with a
 * handoff route, on the worker's loop, a director with one channel per node agent, the nft
 * steering (handoff/steer.h) and the pools' keys; the marks of the nodes; the access log lines
 * and metrics of the requests the nodes served, from the agents' CLOSED records.
 *
 * The steering mark of a node is derived, not configured: 0x534c0000 | (pool index + 1) << 8 |
 * (node index + 1), in config order ("SL" in the high half), so pools and nodes beyond the 255th
 * are not handed off. The route to the node for that mark (an `ip rule fwmark` on the host
 * kernel, an IPVS fwmark DR service) is the operator's (docs/handoff.md).
 *
 * Lifetimes: everything here belongs to the runtime; a retired runtime closes its director when
 * its last connection ends, and the keys go once the director is closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gateway/access_log.h"
#include "gateway/internal.h"
#include "handoff/keys.h"
#include "handoff/steer.h"

#define MARK_BASE 0x534c0000u

/* A handed-off request, until its CLOSED: what its access log lines need. */
typedef struct owned_s {
	uint64_t conn_id;
	gw_ho_line_t line;
	struct owned_s *next;
} owned_t;

typedef struct gw_ho_s {
	gw_runtime_t *rt;
	ho_director_t *d;
	ho_steer_t *steer;
	ho_director_steer_t vt;
	ho_key_t *keys; /* [npools] */
	owned_t *owned;
} gw_ho_t;

uint32_t gw__handoff_mark(size_t pool, size_t node)
{
	if (pool >= 255 || node >= 255)
		return 0;
	return MARK_BASE | (uint32_t)(pool + 1) << 8 | (uint32_t)(node + 1);
}

/* The steering is opened at the first freeze, not at start: a director whose agents are never
 * reached never touches the firewall (and the first handoff pays libnftables' cold start). */
static int steer_of(gw_ho_t *h, char *msg, size_t n)
{
	ho_steer_opts_t so = {0};
	if (h->steer)
		return 0;
	int rc = ho_steer_open(&so, &h->steer, msg, n);
	if (rc < 0)
		h->steer = NULL;
	return rc;
}

static int st_freeze(void *ctx, const ho_flow_t *f, char *msg, size_t n)
{
	gw_ho_t *h = ctx;
	int rc = steer_of(h, msg, n);
	return rc < 0 ? rc : ho_steer_freeze(h->steer, f, msg, n);
}
static int st_thaw(void *ctx, const ho_flow_t *f, char *msg, size_t n)
{
	return ho_steer_thaw(((gw_ho_t *)ctx)->steer, f, msg, n);
}
static int st_steer(void *ctx, const ho_flow_t *f, uint32_t mark, char *msg, size_t n)
{
	return ho_steer_switch(((gw_ho_t *)ctx)->steer, f, mark, msg, n);
}
static int st_remove(void *ctx, const ho_flow_t *f, char *msg, size_t n)
{
	return ho_steer_remove(((gw_ho_t *)ctx)->steer, f, msg, n);
}

/* CLOSED (m) or the channel lost (NULL): one access line and one metrics sample per report. */
static void on_closed(void *arg, uint64_t conn_id, const char *agent, const ho_msg_t *m)
{
	gw_ho_t *h = arg;
	owned_t **p = &h->owned, *o;
	(void)agent;
	while (*p && (*p)->conn_id != conn_id)
		p = &(*p)->next;
	if (!(o = *p))
		return;
	*p = o->next;
	if (!m || !m->nreports) {
		o->line.handoff = m ? "closed" : "unreported";
		gw_access_log_handoff(h->rt->srv, &o->line, NULL, 0);
	}
	for (uint32_t i = 0; m && i < m->nreports; i++) {
		o->line.handoff = "ok";
		gw_access_log_handoff(h->rt->srv, &o->line, &m->reports[i], i);
	}
	free(o->line.text);
	free(o);
}

static void on_director_closed(void *arg)
{
	gw_ho_t *h = arg;
	if (h->steer)
		ho_steer_close(h->steer);
	while (h->owned) {
		owned_t *o = h->owned;
		h->owned = o->next;
		free(o->line.text);
		free(o);
	}
	free(h->keys);
	free(h);
}

void gw__handoff_setup(gw_runtime_t *rt)
{
	const lb_config_t *cfg = rt->cfg;
	ho_director_opts_t o = {0};
	char msg[512];
	gw_ho_t *h;

	if (!rt->sizes)
		return; /* no handoff route */
	if (!(h = calloc(1, sizeof(*h))) || !(h->keys = calloc(cfg->npools + 1, sizeof(*h->keys))))
		abort();
	h->rt = rt;
	h->vt = (ho_director_steer_t){
	    .ctx = h, .freeze = st_freeze, .thaw = st_thaw, .steer = st_steer, .remove = st_remove};
	o.steer = &h->vt;
	o.on_closed = on_closed;
	o.arg = h;
	o.max_skew_ms = 60000;
	if (ho_director_new(rt->srv->loop, &o, &h->d) < 0)
		abort();
	for (size_t i = 0; i < rt->npools; i++) {
		gw_pool_t *p = &rt->pools[i];
		if (!p->conf->handoff.key_file)
			continue;
		if (ho_pool_key_load(cfg, i, &h->keys[i], msg, sizeof(msg)) < 0) {
			LB_ERR("handoff: pool %s: %s: its reads are proxied", p->conf->name, msg);
			continue;
		}
		for (size_t j = 0; j < p->n; j++) {
			gw_node_t *n = &p->nodes[j];
			char name[160];
			n->ho_mark = gw__handoff_mark(i, j);
			if (!n->ho_mark)
				continue;
			snprintf(name, sizeof(name), "%s/%s", p->conf->name, n->conf->name);
			if (ho_director_add(h->d, name,
			                    (struct sockaddr *)&n->conf->handoff.agent.ss,
			                    &h->keys[i], &n->ho_agent) < 0)
				n->ho_agent = NULL;
			else
				ho_agent_set_ready_ms(n->ho_agent, p->conf->handoff.ready_timeout);
		}
	}
	rt->ho = h;
}

void gw__handoff_free(gw_runtime_t *rt)
{
	if (rt->ho)
		ho_director_close(rt->ho->d, on_director_closed, rt->ho);
	rt->ho = NULL;
}

int gw__handoff_start(gw_runtime_t *rt, gw_node_t *n, int fd, const void *unread, size_t len,
                      ho_switch_cb done, void *arg, ho_switch_t **out, uint64_t *conn_id, char *msg,
                      size_t msglen)
{
	gw_ho_t *h = rt->ho;
	if (!h || !n->ho_agent) {
		snprintf(msg, msglen, "no director");
		return UV_ENOTCONN;
	}
	return ho_director_switch(h->d, n->ho_agent, fd, n->ho_mark, unread, len, done, arg, out,
	                          conn_id, msg, msglen);
}

void gw__handoff_owned(gw_runtime_t *rt, uint64_t conn_id, gw_ho_line_t *line)
{
	owned_t *o = calloc(1, sizeof(*o));
	if (!o)
		abort();
	o->conn_id = conn_id;
	o->line = *line; /* takes its strings */
	o->next = rt->ho->owned;
	rt->ho->owned = o;
}

bool gw__handoff_agent_up(const gw_node_t *n)
{
	return n->ho_agent && ho_agent_up(n->ho_agent);
}

/*
 * Node connections: one net_client_t each (net/client.h owns their callbacks and timers), kept
 * in per-node keep-alive pools (LIFO, so the warmest connection is reused and the coldest ones
 * expire), with the node's connection limit and its health state. The request that owns a busy
 * connection gets the exchange's events through the gw_upstream_ops_t it gave (conn.c); this
 * file knows nothing of it. Runs on the main loop. Each upstream holds a reference to the runtime
 * its node belongs to, so a retired runtime lives until its last connection is closed.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gateway/internal.h"
#include "gateway/proxy.h"

static void node_refresh(gw_node_t *node)
{
	gw_pool_t *pool = node->pool;
	pool->lbn[node->index].available =
	    node->state == GW_NODE_UP && (node->nidle > 0 || node->nconns < pool->max_conns);
}

static void idle_unlink(gw_upstream_t *up)
{
	gw_node_t *node = up->node;
	if (!up->idle)
		return;
	if (up->prev_idle)
		up->prev_idle->next_idle = up->next_idle;
	else
		node->idle = up->next_idle;
	if (up->next_idle)
		up->next_idle->prev_idle = up->prev_idle;
	up->next_idle = up->prev_idle = NULL;
	up->idle = false;
	node->nidle--;
	GW_DEC(node->stats->idle);
}

static void up_close(gw_upstream_t *up, bool abort)
{
	gw_node_t *node = up->node;
	if (up->closing)
		return;
	up->closing = true;
	up->owner = NULL;
	idle_unlink(up);
	node->nconns--;
	GW_DEC(node->stats->open);
	node_refresh(node);
	net_client_close(&up->cl, abort);
}

/*
 * A node may send bytes after a response that has no body (a HEAD's, a 204's), a body it should
 * not have sent: the next request on that connection would read them as its response. net/client
 * finds them when they arrive while the connection idles or sits in the socket when the next
 * exchange begins; either way the node is marked, and from then on its connections are not
 * reused after a body-less response, since bytes still in flight could be found by nothing.
 */
static void mark_stray(gw_node_t *node)
{
	if (node->stray_after_bodyless)
		return;
	node->stray_after_bodyless = true;
	LB_WARN("node %s (%s) sent bytes after a response without a body (HEAD, 204, 304): its "
	        "connections are not reused after such responses",
	        node->conf->name, node->conf->addr.text);
}

/* ---- net/client's callbacks ------------------------------------------------------------------ */

static gw_upstream_t *UP(net_client_t *cl)
{
	return cl->data;
}

static void on_connect(net_client_t *cl, int status)
{
	gw_upstream_t *up = UP(cl);
	int rc;
	(void)status;
	if (!up->owner) {
		up_close(up, false); /* released while connecting */
		return;
	}
	if ((rc = net_client_begin(cl, up->head_request, NULL)) < 0) {
		up->ops->error(up, NET_CLIENT_E_CONNECT, rc, uv_strerror(rc));
		return;
	}
	up->ops->ready(up);
}

static void on_written(net_client_t *cl)
{
	gw_upstream_t *up = UP(cl);
	if (up->owner)
		up->ops->written(up);
}

static void on_head(net_client_t *cl, const net_http_t *h, const char *msg)
{
	gw_upstream_t *up = UP(cl);
	if (up->owner)
		up->ops->head(up, h, msg);
}

static void on_body(net_client_t *cl, const char *data, size_t len)
{
	gw_upstream_t *up = UP(cl);
	if (up->owner)
		up->ops->body(up, data, len);
}

static void on_done(net_client_t *cl, bool reusable)
{
	gw_upstream_t *up = UP(cl);
	if (up->owner)
		up->ops->done(up, reusable);
}

static void on_error(net_client_t *cl, net_client_err_t e, int status, const char *why)
{
	gw_upstream_t *up = UP(cl);
	if (e == NET_CLIENT_E_CONNECT || e == NET_CLIENT_E_CONNECT_TIMEOUT) {
		GW_INC(up->node->stats->connect_errors);
		LB_DEBUG("connect to node %s (%s) failed: %s", up->node->conf->name,
		         up->node->conf->addr.text, why);
	}
	if (up->owner)
		up->ops->error(up, e, status, why);
	else
		up_close(up, false);
}

static void on_idle_end(net_client_t *cl, net_client_idle_t why)
{
	gw_upstream_t *up = UP(cl);
	if (why == NET_CLIENT_IDLE_STRAY && cl->bodyless)
		mark_stray(up->node);
	LB_DEBUG("idle connection to node %s ended: %s", up->node->conf->name,
	         why == NET_CLIENT_IDLE_TIMEOUT ? "idle timeout"
	         : why == NET_CLIENT_IDLE_STRAY ? "unexpected bytes"
	                                        : "closed");
	up_close(up, false);
}

static void on_close(net_client_t *cl)
{
	gw_upstream_t *up = UP(cl);
	gw_runtime_t *rt = up->node->pool->rt;
	free(up);
	gw__runtime_unref(rt);
}

static const net_client_cbs_t client_cbs = {
    .on_connect = on_connect,
    .on_written = on_written,
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
    .on_error = on_error,
    .on_idle_end = on_idle_end,
    .on_close = on_close,
};

/* ---- the pool ------------------------------------------------------------------------------ */

int gw__upstream_get(gw_node_t *node, const gw_upstream_ops_t *ops, void *owner, bool head_request,
                     gw_upstream_t **out, bool *ready)
{
	gw_pool_t *pool = node->pool;
	const lb_config_t *cfg = pool->rt->cfg;
	gw_upstream_t *up;
	net_client_conf_t cc;
	int rc;

	while ((up = node->idle)) {
		bool stray;
		idle_unlink(up);
		if (net_client_begin(&up->cl, head_request, &stray) == 0) {
			up->ops = ops;
			up->owner = owner;
			up->reused = true;
			node_refresh(node);
			*out = up;
			*ready = true;
			return 0;
		}
		if (stray && up->cl.bodyless)
			mark_stray(node);
		up_close(up, false);
	}
	if (node->nconns >= pool->max_conns)
		return UV_EBUSY;
	up = calloc(1, sizeof(*up));
	if (!up)
		abort();
	up->node = node;
	up->ops = ops;
	up->owner = owner;
	up->head_request = head_request;
	cc = (net_client_conf_t){.connect_ms = cfg->timeouts.upstream_connect,
	                         .send_ms = cfg->timeouts.upstream_read,
	                         .head_ms = cfg->timeouts.upstream_header,
	                         .read_ms = cfg->timeouts.upstream_read,
	                         .buffer_size = cfg->limits.buffer_size,
	                         .max_headers = 1000};
	net_client_init(pool->rt->srv->loop, &up->cl, &client_cbs, &cc, up);
	pool->rt->refs++;
	node->nconns++;
	GW_INC(node->stats->open);
	GW_INC(node->stats->connects);
	node_refresh(node);
	rc = net_client_connect(&up->cl, (const struct sockaddr *)&node->conf->addr.ss, pool->tls,
	                        pool->conf->tls.server_name ? pool->conf->tls.server_name
	                                                    : node->conf->addr.host);
	up->cl.sock.q = &pool->rt->srv->sockq; /* set after the connect initialised it */
	if (rc < 0) {
		GW_INC(node->stats->connect_errors);
		up_close(up, false);
		return rc;
	}
	*out = up;
	*ready = false;
	return 0;
}

void gw__upstream_release(gw_upstream_t *up, gw_release_t how)
{
	gw_node_t *node = up->node;
	gw_pool_t *pool = node->pool;

	up->owner = NULL;
	if (up->closing)
		return;
	if (up->cl.bodyless && up->cl.rb.len > up->cl.rb.parsed)
		mark_stray(node);
	if (how == GW_UP_REUSE && up->cl.bodyless && node->stray_after_bodyless)
		how = GW_UP_CLOSE;
	if (how != GW_UP_REUSE || up->cl.state != NCL_READY || pool->rt->retired ||
	    node->state != GW_NODE_UP || node->nidle >= pool->max_idle) {
		up_close(up, how == GW_UP_ABORT);
		return;
	}
	up->next_idle = node->idle;
	up->prev_idle = NULL;
	if (node->idle)
		node->idle->prev_idle = up;
	node->idle = up;
	node->nidle++;
	GW_INC(node->stats->idle);
	up->idle = true;
	net_client_idle(&up->cl, pool->rt->cfg->timeouts.upstream_idle);
	node_refresh(node);
}

void gw__upstream_close_idle(gw_node_t *node)
{
	while (node->idle)
		up_close(node->idle, false);
}

void gw__node_set_state(gw_node_t *node, gw_node_state_t state)
{
	node->state = state;
	if (state != GW_NODE_UP)
		gw__upstream_close_idle(node);
	node_refresh(node);
}

/*
 * Upstream connections to nodes: connect with a timeout, keep-alive pools per node (LIFO, so the
 * warmest connection is reused and the coldest ones expire), idle expiry, and detection of a node
 * closing an idle connection. Runs on the main loop. Each upstream holds a reference to the
 * runtime its node belongs to, so a retired runtime lives until its last connection is closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "gateway/proxy.h"

static void node_refresh(gw_node_t *node)
{
	gw_pool_t *pool = node->pool;
	pool->lbn[node->index].available =
	    node->state == GW_NODE_UP &&
	    (node->nidle > 0 || node->nconns < pool->conf->max_conns_per_node);
}

static void up_free(gw_upstream_t *up)
{
	gw_runtime_t *rt = up->node->pool->rt;
	net_http_free(&up->resp);
	free(up->rb.data);
	free(up);
	gw_runtime_unref(rt);
}

static void on_up_handle_closed(uv_handle_t *h)
{
	gw_upstream_t *up = h->data;
	if (--up->pending == 0)
		up_free(up);
}

static void on_up_sock_closed(net_sock_t *s)
{
	gw_upstream_t *up = s->data;
	if (--up->pending == 0)
		up_free(up);
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
}

static void up_close(gw_upstream_t *up)
{
	gw_node_t *node = up->node;
	if (up->closing)
		return;
	up->closing = true;
	up->conn = NULL;
	idle_unlink(up);
	node->nconns--;
	node_refresh(node);
	uv_timer_stop(&up->timer);
	uv_close((uv_handle_t *)&up->timer, on_up_handle_closed);
	up->sock.data = up;
	net_sock_close(&up->sock, on_up_sock_closed);
}

static void on_connect_timeout(uv_timer_t *t)
{
	gw_upstream_t *up = t->data;
	gw_conn_t *owner = up->conn;
	up->node->stats->connect_errors++;
	LB_DEBUG("connect timeout to node %s (%s)", up->node->conf->name,
	         up->node->conf->addr.text);
	if (owner)
		gw_conn_upstream_ready(up, UV_ETIMEDOUT);
	up_close(up);
}

static void on_connected(net_sock_t *s, int status)
{
	gw_upstream_t *up = s->data;
	if (up->closing)
		return; /* released (owner gone) while connecting */
	uv_timer_stop(&up->timer);
	if (status < 0) {
		up->node->stats->connect_errors++;
		LB_DEBUG("connect to node %s (%s) failed: %s", up->node->conf->name,
		         up->node->conf->addr.text, uv_strerror(status));
		if (up->conn)
			gw_conn_upstream_ready(up, status);
		up_close(up);
		return;
	}
	up->connected = true;
	if (up->conn)
		gw_conn_upstream_ready(up, 0);
	else
		up_close(up);
}

/*
 * A node may send bytes after a response that has no body (a HEAD's, a 204's), a body it should
 * not have sent: the next request on that connection would read them as its response. Such
 * bytes that arrive while the connection idles end it (on_idle_read); ones already in the socket
 * when the next request takes it are found here (one recv, MSG_PEEK, only after a body-less
 * response on plain TCP). Either way the node is marked: from then on its connections are not
 * reused after a body-less response, since bytes still in flight can be found by nothing.
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

static bool stale(gw_upstream_t *up)
{
	uv_os_fd_t fd;
	char b;
	ssize_t n;
	if (!up->bodyless)
		return false;
	up->bodyless = false;
	if (up->sock.tls || uv_fileno((uv_handle_t *)&up->sock.tcp, &fd) != 0)
		return false;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		mark_stray(up->node);
	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

int gw_upstream_get(gw_node_t *node, gw_conn_t *owner, gw_upstream_t **out, bool *ready)
{
	gw_pool_t *pool = node->pool;
	const lb_config_t *cfg = pool->rt->cfg;
	gw_upstream_t *up;
	int rc;

	while ((up = node->idle) && stale(up)) {
		LB_DEBUG("idle connection to node %s has bytes after a body-less response: closed",
		         node->conf->name);
		up_close(up);
	}
	if (up) {
		idle_unlink(up);
		uv_timer_stop(&up->timer);
		/* no read stop: the owner swaps in its read callbacks before the loop runs again,
		 * which saves two epoll_ctl calls per reused connection */
		up->conn = owner;
		up->reused = true;
		node_refresh(node);
		*out = up;
		*ready = true;
		return 0;
	}
	if (node->nconns >= pool->conf->max_conns_per_node)
		return UV_EBUSY;
	up = calloc(1, sizeof(*up));
	if (!up)
		abort();
	up->rb.cap = cfg->limits.buffer_size;
	up->rb.data = malloc(up->rb.cap);
	if (!up->rb.data)
		abort();
	up->node = node;
	up->conn = owner;
	net_http_init(&up->resp, HTTP_RESPONSE, 1000, up->rb.cap);
	uv_timer_init(owner->srv->loop, &up->timer);
	up->timer.data = up;
	up->pending = 2;
	pool->rt->refs++;
	node->nconns++;
	node->stats->connects++;
	node_refresh(node);
	rc = net_sock_connect(
	    owner->srv->loop, &up->sock, (const struct sockaddr *)&node->conf->addr.ss, pool->tls,
	    pool->conf->tls.server_name ? pool->conf->tls.server_name : node->conf->addr.host,
	    on_connected);
	up->sock.data = up;
	up->sock.q = &owner->srv->sockq;
	if (rc < 0) {
		node->stats->connect_errors++;
		up->conn = NULL;
		up_close(up);
		return rc;
	}
	uv_timer_start(&up->timer, on_connect_timeout, cfg->timeouts.upstream_connect, 0);
	*out = up;
	*ready = false;
	return 0;
}

static void on_idle_timeout(uv_timer_t *t)
{
	up_close(t->data);
}

static void on_idle_alloc(net_sock_t *s, uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	buf->base = up->rb.data;
	buf->len = up->rb.cap;
}

/* Anything from an idle connection (EOF, reset, stray bytes) ends it. */
static void on_idle_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	gw_upstream_t *up = s->data;
	(void)buf;
	if (nread == 0)
		return;
	if (nread > 0 && up->bodyless)
		mark_stray(up->node);
	LB_DEBUG("idle connection to node %s ended: %s", up->node->conf->name,
	         nread < 0 ? uv_strerror((int)nread) : "unexpected bytes");
	up_close(up);
}

void gw_upstream_release(gw_upstream_t *up, bool reusable)
{
	gw_node_t *node = up->node;
	gw_pool_t *pool = node->pool;

	up->conn = NULL;
	if (up->closing)
		return;
	if (up->bodyless && up->rb.len > up->rb.parsed)
		mark_stray(node);
	if (up->bodyless && node->stray_after_bodyless)
		reusable = false;
	if (!reusable || !up->connected || pool->rt->retired || node->state != GW_NODE_UP ||
	    node->nidle >= pool->conf->max_idle_per_node || up->sock.writing) {
		up_close(up);
		return;
	}
	up->rb.start = up->rb.parsed = up->rb.len = 0;
	up->rb.writing = false;
	net_http_next(&up->resp);
	up->next_idle = node->idle;
	up->prev_idle = NULL;
	if (node->idle)
		node->idle->prev_idle = up;
	node->idle = up;
	node->nidle++;
	up->idle = true;
	up->sock.data = up;
	if (net_sock_read_start(&up->sock, on_idle_alloc, on_idle_read) < 0) {
		up_close(up);
		return;
	}
	uv_timer_start(&up->timer, on_idle_timeout, pool->rt->cfg->timeouts.upstream_idle, 0);
	node_refresh(node);
}

void gw_upstream_close_idle(gw_node_t *node)
{
	while (node->idle)
		up_close(node->idle);
}

void gw_node_set_state(gw_node_t *node, gw_node_state_t state)
{
	node->state = state;
	if (state != GW_NODE_UP)
		gw_upstream_close_idle(node);
	node_refresh(node);
}

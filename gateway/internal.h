/*
 * What the gateway's files (server.c, conn.c, upstream.c) call of each other: internal to
 * gateway/, hence the double underscore (as libuv marks its cross-file internals). Nothing
 * outside gateway/ includes this.
 */
#ifndef S3LB_GATEWAY_INTERNAL_H
#define S3LB_GATEWAY_INTERNAL_H

#include "gateway/proxy-t.h"
#include "handoff/director.h"

/* server.c */
void gw__runtime_unref(gw_runtime_t *rt);
/* A count shared by the workers: take one if below limit (true), put it back. */
bool gw__count_take(uint32_t *count, uint32_t limit);
void gw__count_put(uint32_t *count);
/* Client connections of every worker, against limits.max_connections. */
uint32_t *gw__client_count(void);
/* One request's outcome on a node, for passive health (through the server's hooks). */
void gw__node_report(gw_node_t *node, bool ok, const char *why);

/* conn.c */
void gw__conn_accept(gw_listener_t *l);
void gw__conn_shutdown(gw_conn_t *c); /* SIGTERM: close if idle, else after the current request */
void gw__conn_force_close(gw_conn_t *c); /* grace time over: abort whatever is in flight */
void gw__conn_node_down(gw_conn_t *c, gw_node_t *node);
/* The loop's timer of the client connections: made with the server, closed when it stops. */
void gw__conn_timers_init(gw_server_t *srv);
void gw__conn_timers_close(gw_server_t *srv);

/* handoff.c (only for a runtime with a handoff route; issue 12) */
void gw__handoff_setup(gw_runtime_t *rt); /* the director and steering, else rt->ho NULL */
void gw__handoff_free(gw_runtime_t *rt);
uint32_t gw__handoff_mark(size_t pool, size_t node); /* 0: none (beyond 255) */
bool gw__handoff_agent_up(const gw_node_t *n);
/* ho_director_switch for the connection's fd towards node n (0: done follows). */
int gw__handoff_start(gw_runtime_t *rt, gw_node_t *n, int fd, const void *unread, size_t len,
                      ho_switch_cb done, void *arg, ho_switch_t **out, uint64_t *conn_id, char *msg,
                      size_t msglen);
/* The node has the connection: its access lines are written at CLOSED (takes line's text). */
void gw__handoff_owned(gw_runtime_t *rt, uint64_t conn_id, gw_ho_line_t *line);

/* upstream.c */
/* Gets a connection to node for owner: an idle kept-alive one whose exchange has begun (*ready =
 * true, usable now) or a new one (*ready = false; ops->ready or ops->error follows).
 * head_request: the response has no body. Returns 0 or a negative error (UV_EBUSY: the node is
 * at its connection limit). */
int gw__upstream_get(gw_node_t *node, const gw_upstream_ops_t *ops, void *owner, bool head_request,
                     gw_upstream_t **out, bool *ready);
/* The owner is done with it. */
void gw__upstream_release(gw_upstream_t *up, gw_release_t how);
void gw__upstream_close_idle(gw_node_t *node);
/* Health's entry point: UP, DOWN or DRAINING; not UP closes idle connections and stops picks. */
void gw__node_set_state(gw_node_t *node, gw_node_state_t state);

#endif

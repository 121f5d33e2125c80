/*
 * The gateway's API for the rest of the director (main.c, admin/, tests): a server (one worker),
 * its builds and reloads, health's verdicts. The types are in gateway/proxy-t.h; what the
 * gateway's own files share with each other is in gateway/internal.h (gw__ names).
 */
#ifndef S3LB_GATEWAY_PROXY_H
#define S3LB_GATEWAY_PROXY_H

#include "gateway/proxy-t.h"

const char *gw_node_state_name(gw_node_state_t s);

/* server.c */
/* A server on its own (one worker that stops on SIGTERM/SIGINT; reloads are gateway/workers.c's);
 * it takes the caller's reference to cfg, also on failure. */
int gw_server_init(gw_server_t *srv, uv_loop_t *loop, lb_config_t *cfg, char *err, size_t errlen);
/* Everything that can fail before cfg becomes current: TLS contexts, and nworkers listening
 * sockets for each address that have (a server, NULL: none) does not listen on yet. Takes its
 * own reference to cfg. */
int gw_build_new(lb_config_t *cfg, unsigned nworkers, const gw_server_t *have, gw_build_t **out,
                 char *err, size_t errlen);
void gw_build_free(gw_build_t *b);
/* Worker `worker` of nworkers starts on loop with b (its loop's thread). */
void gw_server_init_worker(gw_server_t *srv, uv_loop_t *loop, gw_build_t *b, unsigned worker,
                           unsigned nworkers);
/* b becomes current (on the server's thread; it cannot fail): listeners, then the runtime. */
void gw_server_adopt(gw_server_t *srv, gw_build_t *b);
/* SIGTERM: stop accepting, finish what is open, then gw_server_stop (on_stop runs). */
void gw_server_begin_stop(gw_server_t *srv);
void gw_server_stop(gw_server_t *srv);
/* Health's verdict for (pool, node) in the current runtime; unknown names are ignored. */
void gw_server_node_state(gw_server_t *srv, const char *pool, const char *node,
                          gw_node_state_t state);

#endif

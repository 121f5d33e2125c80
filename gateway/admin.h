/*
 * The admin listener (default 127.0.0.1:9901): GET /status (JSON) and GET /metrics (Prometheus
 * text). Main loop only; its connections are not counted as client connections.
 */
#ifndef S3LB_GATEWAY_ADMIN_H
#define S3LB_GATEWAY_ADMIN_H

#include <stdio.h>

#include "gateway/proxy.h"

/* A connection arrived on an admin listener. */
void gw_admin_accept(gw_listener_t *l);
/* SIGTERM: close the admin connections still open. */
void gw_admin_stop(gw_server_t *srv);

/* A growable text buffer for the renderers. */
typedef struct gw_text_s {
	char *data;
	size_t len, cap;
} gw_text_t;
void gw_text_printf(gw_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_text_free(gw_text_t *t);

/* The bodies of /status and /metrics for the server's current state. */
void gw_admin_render_status(gw_server_t *srv, gw_text_t *out);
void gw_admin_render_metrics(gw_server_t *srv, gw_text_t *out);

/* `s3lb status`: a blocking GET of path from the admin listener at addr ("127.0.0.1:9901"),
 * body written to out. Returns 0, or -1 with a message in err. */
int gw_admin_fetch(const char *addr, const char *path, FILE *out, char *err, size_t errlen);
/* The same with another method (`s3lb drain`: POST /drain?node=NAME). */
int gw_admin_request(const char *addr, const char *method, const char *path, FILE *out, char *err,
                     size_t errlen);

#endif

/*
 * The admin listener's server side (default 127.0.0.1:9901): GET / (the status page, HTML),
 * GET /status (JSON), GET /metrics (Prometheus text), POST /drain and /undrain, one request per
 * connection. Who may ask is
 * admin/request.h's decision. The listening socket itself is the gateway's (gateway/server.c
 * binds it with the other listeners, so a reload stays all or nothing) and hands each accepted
 * connection over through its admin_accept hook. Main loop only; admin connections are not
 * client connections.
 */
#ifndef S3LB_ADMIN_ADMIN_H
#define S3LB_ADMIN_ADMIN_H

#include <uv.h>

#include "admin/render.h"

typedef struct adm_s adm_t;

/* What it reports on and drains: srv (required) and hc (NULL: no drain, no health figures; else
 * adm follows hc's transitions for /status's "events" from now on). */
adm_t *adm_new(gw_server_t *srv, hc_t *hc);
/* The gateway runs as these workers (gateway/workers.h): counters are their sum. */
void adm_set_workers(adm_t *a, gw_workers_t *ws);
/* IPVS came into use (dsr/director.h): /status shows its table from now on. */
void adm_set_director(adm_t *a, dsr_director_t *dsr);
/* Once a second, on the main loop: samples the counters into the one-minute rates that /status
 * shows (admin/rate.h). */
void adm_tick(adm_t *a);
/* A connection is waiting on the admin listener `listener` (bound to addr, for log lines). */
void adm_accept(adm_t *a, uv_stream_t *listener, const char *addr);
/* SIGTERM: closes the admin connections still open; later ones are refused. */
void adm_stop(adm_t *a);
/* After the loop has run the closes: frees a. */
void adm_free(adm_t *a);

#endif

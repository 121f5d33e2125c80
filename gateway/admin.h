/*
 * The admin listener (default 127.0.0.1:9901): GET /status (JSON), GET /metrics (Prometheus
 * text), POST /drain and /undrain. Main loop only; its connections are not counted as client
 * connections.
 *
 * Who may ask: every request must carry a Host the listener accepts (an IP literal of
 * admin.listen, localhost or a name in admin.allowed_hosts: a DNS-rebinding page sends its own
 * name) and no Origin header unless admin.allowed_origins lists it (a browser sends one on a
 * cross-site POST). State changes also need `Authorization: Bearer TOKEN` with the first line of
 * admin.token_file; with no token configured they are refused.
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

/* ---- the request decision: pure functions of the bytes and the config (fuzzed) ----------- */

typedef struct gw_admin_span_s {
	const char *p; /* into the request buffer; NULL: absent */
	size_t len;
	unsigned count; /* how many such headers (a span is the first one) */
} gw_admin_span_t;

/* One request head, parsed from scratch (the caller waits for the head to be complete). */
typedef struct gw_admin_req_s {
	int bad; /* 0: a valid head; 400 or 431: the answer to an invalid or too large one */
	const char *method;
	gw_admin_span_t path, query; /* the target split at '?'; query without the '?' */
	gw_admin_span_t host, origin, authorization;
} gw_admin_req_t;

typedef enum {
	GW_ADMIN_REFUSE = 0, /* answer v->status with v->message */
	GW_ADMIN_STATUS,
	GW_ADMIN_METRICS,
	GW_ADMIN_DRAIN,
	GW_ADMIN_UNDRAIN,
} gw_admin_action_t;

typedef struct gw_admin_verdict_s {
	gw_admin_action_t action;
	int status;        /* 200, or the refusal's status */
	const char *allow; /* with 405: the method the path takes */
	bool challenge;    /* with 401: send WWW-Authenticate */
	char message[320]; /* with a refusal: why, for the answer's body and the log */
	char node[160];    /* with DRAIN and UNDRAIN: NODE or POOL/NODE */
} gw_admin_verdict_t;

/* Parses buf[0, len) as one request head. Returns 1 with *r filled (r->bad says whether it is
 * valid), or 0 when the head is not complete yet. Pointers in *r point into buf. */
int gw_admin_parse(const char *buf, size_t len, gw_admin_req_t *r);
/* What to do with a parsed request under cfg (NULL: no config, nothing state-changing allowed).
 * Checks, in order: validity, Host, Origin, path and method, then the token for state changes. */
void gw_admin_decide(const gw_admin_req_t *r, const lb_config_t *cfg, gw_admin_verdict_t *v);

/* `s3lb status`: a blocking GET of path from the admin listener at addr ("127.0.0.1:9901"),
 * body written to out. Returns 0, or -1 with a message in err. */
int gw_admin_fetch(const char *addr, const char *path, FILE *out, char *err, size_t errlen);
/* The same with another method (`s3lb drain`: POST /drain?node=NAME) and, unless NULL, a token
 * sent as `Authorization: Bearer TOKEN`. */
int gw_admin_request(const char *addr, const char *method, const char *path, const char *token,
                     FILE *out, char *err, size_t errlen);

#endif

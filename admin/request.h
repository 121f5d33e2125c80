/*
 * What an admin request asks and whether it may: pure functions of the request's bytes and the
 * config, so that they can be tested as tables and fuzzed (tests/fuzz/fuzz_admin_request.c).
 *
 * Who may ask: every request must carry a Host the listener accepts (an IP literal of
 * admin.listen, localhost or a name in admin.allowed_hosts: a DNS-rebinding page sends its own
 * name) and no Origin header unless admin.allowed_origins lists it (a browser sends one on a
 * cross-site POST). State changes also need `Authorization: Bearer TOKEN` with the first line of
 * admin.token_file; with no token configured they are refused.
 */
#ifndef S3LB_ADMIN_REQUEST_H
#define S3LB_ADMIN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define ADM_MAX_REQUEST 8192 /* request head limit: 431 above */
#define ADM_MAX_HEADERS 64

typedef struct adm_span_s {
	const char *p; /* into the request buffer; NULL: absent */
	size_t len;
	unsigned count; /* how many such headers (a span is the first one) */
} adm_span_t;

/* One request head, parsed from scratch (the caller waits for the head to be complete). */
typedef struct adm_req_s {
	int bad; /* 0: a valid head; 400 or 431: the answer to an invalid or too large one */
	const char *method;
	adm_span_t path, query; /* the target split at '?'; query without the '?' */
	adm_span_t host, origin, authorization;
} adm_req_t;

typedef enum {
	ADM_REFUSE = 0, /* answer v->status with v->message */
	ADM_STATUS,
	ADM_METRICS,
	ADM_DRAIN,
	ADM_UNDRAIN,
} adm_action_t;

typedef struct adm_verdict_s {
	adm_action_t action;
	int status;        /* 200, or the refusal's status */
	const char *allow; /* with 405: the method the path takes */
	bool challenge;    /* with 401: send WWW-Authenticate */
	char message[320]; /* with a refusal: why, for the answer's body and the log */
	char node[160];    /* with DRAIN and UNDRAIN: NODE or POOL/NODE */
} adm_verdict_t;

/* Parses buf[0, len) as one request head. Returns 1 with *r filled (r->bad says whether it is
 * valid), or 0 when the head is not complete yet. Pointers in *r point into buf. */
int adm_parse(const char *buf, size_t len, adm_req_t *r);
/* What to do with a parsed request under cfg (NULL: no config, nothing state-changing allowed).
 * Checks, in order: validity, Host, Origin, path and method, then the token for state changes. */
void adm_decide(const adm_req_t *r, const lb_config_t *cfg, adm_verdict_t *v);

#endif

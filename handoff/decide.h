/*
 * The handoff decision (issue 12): for one parsed request, either hand the connection off to
 * the chosen node's agent or proxy the request as usual, and why. Pure: no I/O, no state; the
 * gateway gathers the inputs on its worker and calls it after routing and picking the node,
 * before anything of the request is forwarded.
 *
 * The checks run in a fixed order and the first that fails names the reason: what the route
 * allows, then what the request and its connection are, then the object's size, then the
 * node and its agent. So a small read is counted as `small` whether or not its node's agent
 * is up, and the agent's reasons count only reads that would have been handed off.
 */
#ifndef S3LB_HANDOFF_DECIDE_H
#define S3LB_HANDOFF_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "handoff/sizecache.h"

/* The request, as far as the decision cares. */
typedef enum {
	HO_OP_GET = 0, /* GET of an object (LB_OP_READ with method GET) */
	HO_OP_HEAD,    /* HEAD of an object */
	HO_OP_OTHER,   /* anything else: never handed off */
} ho_op_t;

typedef enum {
	HO_PROXY = 0,
	HO_HANDOFF,
} ho_verdict_t;

/* Why; the names (ho_reason_name) are metric label values. */
typedef enum {
	HO_REASON_OK = 0,       /* handed off */
	HO_REASON_ROUTE,        /* the route has no `handoff:` */
	HO_REASON_OPERATION,    /* not one of the route's handoff.operations */
	HO_REASON_TLS,          /* the client connection is TLS: the session cannot move */
	HO_REASON_PIPELINED,    /* request bytes beyond this request are already read */
	HO_REASON_SMALL,        /* fewer bytes than handoff.min_size: cheaper to proxy */
	HO_REASON_UNKNOWN_SIZE, /* size unknown and handoff.unknown_size is proxy */
	HO_REASON_NODE_DOWN,    /* the chosen node is not up */
	HO_REASON_AGENT_DOWN,   /* the node's agent is not reachable */
} ho_reason_t;
#define HO_REASON_COUNT (HO_REASON_AGENT_DOWN + 1)

typedef struct ho_decide_in_s {
	const lb_route_handoff_t *conf; /* the matched route's; NULL or !enabled: none */
	ho_op_t op;
	bool tls;              /* the client connection is TLS */
	size_t buffered_after; /* bytes read from the client beyond the end of this request */
	bool node_up;          /* the chosen node is UP (not down, not draining) */
	bool agent_up;         /* its agent's channel is connected (or believed reachable) */
	ho_size_t size;        /* ho_sizecache_request() for this request */
} ho_decide_in_t;

typedef struct ho_decision_s {
	ho_verdict_t verdict;
	ho_reason_t reason;
} ho_decision_t;

ho_decision_t ho_decide(const ho_decide_in_t *in);

/* "ok", "route", "operation", "tls", "pipelined", "small", "unknown_size", "node_down",
 * "agent_down"; "invalid" for a value outside the enum. */
const char *ho_reason_name(ho_reason_t r);

#endif

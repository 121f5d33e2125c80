/*
 * The director's side of the handoff (issue 12) on a gateway worker's loop: one authenticated
 * channel (handoff/channel) per node agent, kept open and reconnected with backoff, so that
 * the decision (handoff/decide) knows whether an agent is reachable before it moves anything.
 *
 * Per agent: connect (with a timeout: a SYN to a dead host would otherwise wait for minutes),
 * TCP keepalive on the channel (an agent whose host vanished is noticed within ~30 s), and on
 * any end (refused, reset, a refused record, the timeout) a new attempt after a backoff that
 * doubles from backoff_min_ms to backoff_max_ms, back to the minimum once connected. An agent
 * is up only while its channel is connected.
 *
 * The switch (ho_director_switch), in HANDOFF.md's order: freeze the flow, dump the socket
 * (net_repair_dump), put back in front of its receive queue the request bytes the gateway read
 * (net_repair_unread), STATE, READY within ready_ms, steer the flow to the node's mark, GO; the
 * caller then closes its handle of the socket, still in repair mode (no FIN, no RST). Any
 * failure before the switch (freeze, dump, a REFUSE, no READY in time, the channel ending, the
 * steering) undoes what was done: repair mode off (the socket carries on with its queues
 * untouched), the freeze ended, a REFUSE to the agent so that it drops what it restored; the
 * caller serves the request as it would have. After the switch the connection is the node's:
 * CLOSED from the agent goes to on_closed (the reports), and the steering entry is removed
 * linger_ms later (the last FIN/ACK still comes through the director).
 *
 * Steering is behind a small vtable (ho_director_steer_t) so that this file does not link
 * libnftables (the gateway gives handoff/steer's calls; tests a fake).
 *
 * Loop thread only. A director lives as long as its loop runs it; ho_director_close() ends
 * every channel, and the director's memory goes when the last handle has closed.
 */
#ifndef S3LB_HANDOFF_DIRECTOR_H
#define S3LB_HANDOFF_DIRECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "handoff/channel.h"
#include "handoff/record.h"
#include "handoff/steer.h" /* types only: ho_flow_t */

typedef struct ho_director_s ho_director_t;
typedef struct ho_agent_s ho_agent_t;

/* The flow's steering (handoff/steer.h's calls, with the caller's context); 0 or < 0. */
typedef struct ho_director_steer_s {
	void *ctx;
	int (*freeze)(void *ctx, const ho_flow_t *f, char *msg, size_t msglen);
	int (*thaw)(void *ctx, const ho_flow_t *f, char *msg, size_t msglen);
	int (*steer)(void *ctx, const ho_flow_t *f, uint32_t mark, char *msg, size_t msglen);
	int (*remove)(void *ctx, const ho_flow_t *f, char *msg, size_t msglen);
} ho_director_steer_t;

typedef struct ho_director_opts_s {
	const ho_director_steer_t *steer; /* borrowed; NULL: no steering (loopback tests only) */
	uint64_t ready_ms;                /* STATE to READY at most; 0: 20 */
	uint64_t linger_ms;               /* CLOSED to the steering entry's removal; 0: 2000 */
	/* CLOSED from an agent for a switched connection (conn_id as ho_director_switch gave it),
	 * with the agent's per-request reports; or m NULL when the channel ended before (the
	 * reports are lost; the steering entry is removed after linger_ms all the same) */
	void (*on_closed)(void *arg, uint64_t conn_id, const char *agent, const ho_msg_t *m);
	void *arg;
	uint64_t connect_timeout_ms; /* 0: 1000 */
	uint64_t backoff_min_ms;     /* 0: 100 */
	uint64_t backoff_max_ms;     /* 0: 5000 */
	uint64_t max_skew_ms;        /* the channels' first-nonce check (0: off) */
} ho_director_opts_t;

/* Counts of one director's channels (loop thread). */
typedef struct ho_director_stats_s {
	ho_channel_stats_t channel; /* records and refusals, every channel */
	uint64_t connects;          /* channels that came up */
	uint64_t connect_failures;  /* attempts refused, failed or timed out */
	uint64_t disconnects;       /* channels that were up and ended */
	uint64_t switched;          /* connections handed to a node */
	uint64_t fallbacks;         /* switches that failed before the switch: proxied */
	uint64_t closed;            /* CLOSED records for switched connections */
} ho_director_stats_t;

__attribute__((warn_unused_result)) int
ho_director_new(uv_loop_t *loop, const ho_director_opts_t *opts, ho_director_t **out);
/*
 * Keeps a channel to the agent at addr (name: for the log, e.g. "pool/node"), authenticated
 * with key (borrowed: it must outlive the director). The first attempt starts now; *out is
 * the agent's handle for ho_agent_up, valid until the director has closed.
 */
__attribute__((warn_unused_result)) int ho_director_add(ho_director_t *d, const char *name,
                                                        const struct sockaddr *addr,
                                                        const ho_key_t *key, ho_agent_t **out);
/* How long a switch to a waits for READY (0: the director's ready_ms). */
void ho_agent_set_ready_ms(ho_agent_t *a, uint64_t ms);
/* The agent's channel is connected now. */
bool ho_agent_up(const ho_agent_t *a);
const ho_director_stats_t *ho_director_stats(const ho_director_t *d);
/*
 * One switch under way (ho_director_switch); the caller's handle until done or cancel.
 * done(arg, 0, NULL): switched, GO sent: the caller closes its handle of fd now (it is in
 * repair mode: nothing goes to the client) and forgets the connection. done(arg, < 0, why):
 * fell back: fd is out of repair mode and thawed, the caller serves the request. done never
 * runs inside ho_director_switch.
 */
typedef struct ho_switch_s ho_switch_t;
typedef void (*ho_switch_cb)(void *arg, int status, const char *why);
/*
 * Hands the ESTABLISHED plain TCP socket fd to agent a (its channel must be up), steering to
 * mark. unread: the last n bytes the caller read from fd and has not consumed (the request),
 * which go back in front of the receive queue. Returns 0 (done follows; *conn_id names the
 * connection in on_closed) or < 0 with msg filled, having undone everything (the caller
 * serves; done never runs).
 */
__attribute__((warn_unused_result)) int ho_director_switch(ho_director_t *d, ho_agent_t *a, int fd,
                                                           uint32_t mark, const void *unread,
                                                           size_t n, ho_switch_cb done, void *arg,
                                                           ho_switch_t **out, uint64_t *conn_id,
                                                           char *msg, size_t msglen);
/* The caller's connection went away before done (it closes fd itself): the switch is undone
 * as for a fallback, with no callback. */
void ho_director_cancel(ho_switch_t *s);
/* Ends every channel and stops reconnecting; done(arg) runs once everything is closed and the
 * director freed (never inside this call). */
void ho_director_close(ho_director_t *d, void (*done)(void *arg), void *arg);

#endif

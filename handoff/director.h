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
 * Not built yet: the switch itself (freeze, dump, STATE, READY, steer, GO; tests/tools/
 * ho_director.c shows it) and its fallbacks. Records that arrive meanwhile are dropped.
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

typedef struct ho_director_s ho_director_t;
typedef struct ho_agent_s ho_agent_t;

typedef struct ho_director_opts_s {
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
/* The agent's channel is connected now. */
bool ho_agent_up(const ho_agent_t *a);
const ho_director_stats_t *ho_director_stats(const ho_director_t *d);
/* Ends every channel and stops reconnecting; done(arg) runs once everything is closed and the
 * director freed (never inside this call). */
void ho_director_close(ho_director_t *d, void (*done)(void *arg), void *arg);

#endif

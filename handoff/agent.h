/*
 * The storage node's side of the handoff (`s3lb-node agent`): takes over client connections
 * that the director moves here, serves them from the node's local S3 server, and reports each.
 *
 * Per connection (docs/handoff.md "Agent"):
 *   STATE    the local address must be one of the VIPs; the socket is rebuilt (net/repair.h) and
 *            left in repair mode, and a connection to the local S3 server is made; then READY
 *            (the director waits for it), or REFUSE with a reason, nothing left open.
 *   GO       repair mode off; the relay starts: the request bytes the director had received are
 *            in the rebuilt receive queue and go to the S3 server like any later ones; the
 *            responses go to the client, their bodies by splice when framed by Content-Length
 *            (at least 64 KiB), else copied through a bounded buffer with backpressure. Every
 *            request on the kept-alive connection is served here until the connection ends.
 *   REFUSE   (the director gave up before GO) or no GO in conf.go_ms: the socket is dropped in
 *            repair mode, nothing is sent to the client.
 *   end      CLOSED to the director with how it ended and one report per request (status, bytes
 *            in and out, duration), so the director can log and count it.
 * With conf.handback, after each response (nothing of a next request read yet) the agent hands
 * the connection back: HANDBACK with its state (repair mode: it stops sending); the director
 * freezes the flow and answers GO; the agent dumps again (bytes that came meanwhile are in it),
 * sends that final HANDBACK, closes silently and sends CLOSED (reason handback). A REFUSE or no
 * GO in conf.go_ms: repair mode off, the agent goes on serving the connection.
 * A channel that ends drops the connections it had not said GO for; connections being served
 * go on (their CLOSED cannot be sent: counted as unreported).
 *
 * Needs CAP_NET_ADMIN (TCP_REPAIR, SO_*BUFFORCE). One loop; everything runs on it.
 */
#ifndef S3LB_HANDOFF_AGENT_H
#define S3LB_HANDOFF_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "handoff/channel.h"
#include "handoff/record.h"

#define HO_AGENT_MAX_VIPS 16

/* REFUSE reasons the agent sends (record's reason field) */
typedef enum {
	HO_REFUSE_VIP = 1,  /* the connection's local address is not a VIP of this node */
	HO_REFUSE_RESTORE,  /* the socket could not be rebuilt (the log says which step) */
	HO_REFUSE_S3,       /* the local S3 server did not accept a connection in time */
	HO_REFUSE_BUSY,     /* conf.max_conns connections already */
	HO_REFUSE_DUP,      /* a connection of that id is already here */
	HO_REFUSE_UNSUPP,   /* a message the agent does not take (HANDBACK to the agent) */
	HO_REFUSE_STOPPING, /* the agent is shutting down */
	HO_REFUSE_NREASONS
} ho_refuse_t;
const char *ho_refuse_name(unsigned reason); /* "vip", "restore", ... */

/* CLOSED's reason: how a served connection ended */
typedef enum {
	HO_END_CLIENT = 0, /* the client closed (or the server did, after a complete response) */
	HO_END_S3,         /* the S3 server failed or closed mid-response */
	HO_END_CLIENT_ERR, /* the client connection failed (reset, write error) */
	HO_END_IDLE,       /* nothing moved for conf.idle_ms */
	HO_END_PROTOCOL,   /* invalid HTTP from either side */
	HO_END_LEAVE,      /* leaving repair mode failed after GO */
	HO_END_STOPPING,   /* the agent shut down */
	HO_END_HANDBACK,   /* handed back to the director (conf.handback) */
	HO_END_NREASONS
} ho_end_t;
const char *ho_end_name(unsigned reason);

typedef struct ho_agent_conf_s {
	struct sockaddr_storage listen; /* the channel's listener: the node's own address */
	struct sockaddr_storage s3;     /* the local S3 server */
	struct sockaddr_storage admin;  /* the counters endpoint (ss_family 0: none) */
	struct sockaddr_storage vips[HO_AGENT_MAX_VIPS]; /* ports unused */
	unsigned nvips;
	ho_key_t key;
	uint64_t go_ms;       /* READY -> GO (0: 2000) */
	uint64_t connect_ms;  /* connecting to the S3 server, before READY (0: 1000) */
	uint64_t idle_ms;     /* a served connection with nothing moving (0: 300000) */
	uint64_t max_skew_ms; /* the channel's first-nonce clock check (0: off) */
	unsigned max_conns;   /* at once (0: 10000) */
	uint64_t splice_min;  /* response bodies at least this long go by splice (0: 64 KiB) */
	bool handback;        /* hand every connection back after each response */
} ho_agent_conf_t;

typedef struct ho_agent_stats_s {
	uint64_t channels, channels_total;
	uint64_t pending; /* restored, waiting for GO */
	uint64_t active;  /* being served */
	uint64_t taken;   /* GO received: connections served here */
	uint64_t refused[HO_REFUSE_NREASONS];
	uint64_t aborted;     /* the director refused after READY, or its channel ended first */
	uint64_t go_timeouts; /* no GO in go_ms */
	uint64_t ended[HO_END_NREASONS];
	uint64_t requests, bytes_in, bytes_out, bytes_spliced;
	uint64_t handbacks;       /* connections handed back to the director */
	uint64_t handback_failed; /* hand-backs the director refused or did not answer */
	uint64_t unreported;      /* CLOSED not sent: the director's channel was gone */
	uint64_t reports_dropped; /* beyond HO_REPORTS_MAX on one connection */
	ho_channel_stats_t ch;
} ho_agent_stats_t;

typedef struct ho_agent_s ho_agent_t;

/* Listens (channel, admin) on loop. err names what failed. */
__attribute__((warn_unused_result)) int ho_agent_start(uv_loop_t *loop, const ho_agent_conf_t *conf,
                                                       ho_agent_t **out, char *err, size_t errlen);
/* Stops listening, drops pending connections, ends served ones (CLOSED sent where possible),
 * closes every handle; cb runs when all are closed, then the agent is freed. */
void ho_agent_stop(ho_agent_t *a, void (*cb)(void *arg), void *arg);
const ho_agent_stats_t *ho_agent_stats(const ho_agent_t *a);
/* The counters as one JSON object (what the admin endpoint serves). Length, or -1 if too long. */
int ho_agent_stats_json(const ho_agent_t *a, char *buf, size_t len);

/* `s3lb-node agent ...`: argv[0] is "agent". Exit status 0, 1 failed, 2 usage. */
int ho_agent_main(int argc, char **argv, FILE *out, FILE *errout);

#endif

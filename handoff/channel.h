/*
 * The director <-> agent channel: handoff records (handoff/record.h) over one libuv TCP stream,
 * used by both ends. Records are read incrementally (a record may arrive in any number of
 * pieces; the buffer grows with the bytes that actually came, never ahead of them); every
 * record is authenticated and must carry a nonce greater than the last one on this direction.
 * A record that fails any check (MAC, replay, version, type, field) ends the channel: it is
 * logged once with the peer's address, counted in the owner's stats, and the stream is closed.
 *
 * Deadlines: the owner says which connection it awaits an answer for (ho_channel_expect) and
 * for how long; any record about that connection meets it; a missed one is reported by
 * on_timeout and the channel stays open (the owner decides). A record whose first bytes came
 * must be complete within conf.record_ms, else the channel ends with UV_ETIMEDOUT.
 *
 * Nonces sent start at the wall clock in microseconds and grow by at least one per record; with
 * conf.max_skew_ms, the first record received must carry a nonce within that far of this
 * host's clock, so that a recorded channel replayed on a new connection later is refused.
 *
 * Loop thread only. Callbacks never run inside a call of the owner's into this module; after
 * ho_channel_close only on_close comes.
 */
#ifndef S3LB_HANDOFF_CHANNEL_H
#define S3LB_HANDOFF_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "handoff/record.h"

typedef struct ho_channel_s ho_channel_t;

/* Counters of the channels of one owner (shared by them; loop thread). */
typedef struct ho_channel_stats_s {
	uint64_t records_in, records_out;
	uint64_t bad_mac;     /* HO_EMAC: wrong key or altered */
	uint64_t bad_replay;  /* HO_EREPLAY, or a first nonce outside max_skew_ms */
	uint64_t bad_version; /* HO_EVERSION */
	uint64_t bad_record;  /* HO_ETYPE, HO_EFIELD, HO_ETOOBIG */
	uint64_t timeouts;    /* awaited answers that did not come, and stalled records */
} ho_channel_stats_t;

typedef struct ho_channel_conf_s {
	uint64_t record_ms;   /* from a record's first byte to its last (0: 5000) */
	uint64_t max_skew_ms; /* 0: the first nonce is not checked against the clock */
} ho_channel_conf_t;

typedef struct ho_channel_cbs_s {
	/* a record passed every check; *m is the callee's to free (ho_msg_free) */
	void (*on_msg)(ho_channel_t *ch, ho_msg_t *m);
	/* no record about conn_id came in the time given to ho_channel_expect */
	void (*on_timeout)(ho_channel_t *ch, uint64_t conn_id);
	/* the channel ended: UV_EOF (peer closed), a read or write error, UV_ETIMEDOUT (a record
	 * stalled) or the HO_E* code of a refused record; on_close follows */
	void (*on_end)(ho_channel_t *ch, int err);
	/* the handles are closed: the memory may go */
	void (*on_close)(ho_channel_t *ch);
} ho_channel_cbs_t;

typedef struct ho_expect_s {
	uint64_t conn_id;
	uint64_t deadline; /* uv_now() */
} ho_expect_t;

struct ho_channel_s {
	uv_tcp_t tcp;
	uv_timer_t timer;
	void *data; /* the owner's */
	const ho_key_t *key;
	const ho_channel_cbs_t *cb;
	ho_channel_stats_t *stats;
	ho_channel_conf_t conf;
	char peer[64]; /* "ADDR:PORT", for the log */
	ho_replay_t rx;
	uint64_t tx_nonce;
	uint8_t *buf; /* bytes received, not yet a whole record */
	size_t len, cap;
	uint64_t record_deadline; /* while len > 0 */
	ho_expect_t *exp;
	size_t nexp, exp_cap;
	uv_connect_t creq;
	void (*on_connect)(ho_channel_t *ch, int status);
	unsigned handles;
	bool reading, started, closing, ended;
};

/* Initialises the handles on loop. Then the owner either accepts into &ch->tcp and calls
 * ho_channel_start, or calls ho_channel_connect. stats may be shared by many channels. */
__attribute__((warn_unused_result)) int ho_channel_init(uv_loop_t *loop, ho_channel_t *ch,
                                                        const ho_key_t *key,
                                                        const ho_channel_conf_t *conf,
                                                        const ho_channel_cbs_t *cb,
                                                        ho_channel_stats_t *stats, void *data);
/* Starts reading an accepted (or uv_tcp_open'ed) stream. */
__attribute__((warn_unused_result)) int ho_channel_start(ho_channel_t *ch);
/* Connects to addr and starts reading; cb runs once (status < 0: the channel is unusable, the
 * owner closes it). */
__attribute__((warn_unused_result)) int
ho_channel_connect(ho_channel_t *ch, const struct sockaddr *addr,
                   void (*cb)(ho_channel_t *ch, int status));
/* Sends m (its nonce is set here). 0, or a negative error (the channel is ending). */
__attribute__((warn_unused_result)) int ho_channel_send(ho_channel_t *ch, ho_msg_t *m);
/* Awaits a record about conn_id within ms (replaces an earlier deadline for it; 0 cancels). */
void ho_channel_expect(ho_channel_t *ch, uint64_t conn_id, uint64_t ms);
/* Closes (idempotent); no on_end, on_close follows. Pending writes are dropped. */
void ho_channel_close(ho_channel_t *ch);

#endif

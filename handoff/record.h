/*
 * The director <-> agent channel's record: one message, authenticated with HMAC-SHA256 under a
 * pre-shared key, carrying a per-sender nonce that the receiver requires to grow. Layout (all
 * integers big-endian, nothing memcpy'd from a struct; docs/handoff.md "State record"):
 *
 *   version u8 | type u8 | reserved u16 (0) | nonce u64 | payload length u32 | payload | mac[32]
 *
 * The MAC covers everything before it. The payload is a fixed sequence of fields for the type,
 * each `length u32 | bytes`; integer fields have exactly their size.
 *
 * Pure code: no I/O except ho_key_load. Decoding never reads outside [buf, buf + len).
 */
#ifndef S3LB_HANDOFF_RECORD_H
#define S3LB_HANDOFF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/repair.h"

#define HO_RECORD_VERSION 1
#define HO_HEADER_LEN     16
#define HO_MAC_LEN        32
#define HO_KEY_MIN        32
#define HO_KEY_MAX        1024
/* both queues at their limit plus the fixed fields */
#define HO_PAYLOAD_MAX (2 * NET_REPAIR_MAX_QUEUE + 4096)

typedef enum {
	HO_STATE = 1,    /* director -> agent: a connection to take over */
	HO_READY = 2,    /* agent: restored, in repair mode, waiting for GO */
	HO_GO = 3,       /* director: steering switched, leave repair mode */
	HO_REFUSE = 4,   /* either side: will not take it (reason) */
	HO_CLOSED = 5,   /* agent: the connection ended (steering entry can go) */
	HO_HANDBACK = 6, /* agent -> director: take this connection back (its state) */
} ho_type_t;
#define HO_TYPE_MAX HO_HANDBACK

/* Decoding and key errors: a block of our own, apart from errno values. */
#define HO_ETRUNC    (-7001) /* input ends before the record does (read more) */
#define HO_EVERSION  (-7002) /* unknown version byte */
#define HO_ETYPE     (-7003) /* unknown message type */
#define HO_ETOOBIG   (-7004) /* a length beyond its limit */
#define HO_EMAC      (-7005) /* the MAC does not match */
#define HO_EREPLAY   (-7006) /* nonce not greater than the last accepted one */
#define HO_EFIELD    (-7007) /* a field of the wrong size or value, or bytes left over */
#define HO_EKEYPERM  (-7008) /* key file readable or writable by group or others */
#define HO_EKEYSHORT (-7009) /* key shorter than HO_KEY_MIN bytes */
#define HO_EKEYFILE  (-7010) /* key file missing, not a regular file, too long or unreadable */

typedef struct ho_key_s {
	uint8_t bytes[HO_KEY_MAX];
	size_t len;
} ho_key_t;

/* CLOSED: one served request (the agent's access-log facts for the director). */
typedef struct ho_report_s {
	uint16_t status;    /* the response's status code (0: none, the request failed) */
	uint64_t bytes_in;  /* request bytes read from the client (head and body) */
	uint64_t bytes_out; /* response bytes written to the client */
	uint64_t usec;      /* first request byte (or GO) to the last response byte */
} ho_report_t;
#define HO_REPORTS_MAX 4096 /* per CLOSED record; beyond it the agent counts them as dropped */

typedef struct ho_msg_s {
	ho_type_t type;
	uint64_t nonce;
	uint64_t conn_id; /* the director's name for the connection, in every message */
	uint32_t reason;  /* REFUSE: why (the refusing side's code); CLOSED: how it ended */
	/* CLOSED: the requests served, in order (malloc, nreports of them; ho_msg_free) */
	ho_report_t *reports;
	uint32_t nreports;
	/* STATE and HANDBACK: the connection (owns its queues: net_repair_state_free) */
	net_repair_state_t st;
} ho_msg_t;

/* Replay guard of one channel direction: a nonce is accepted only if greater than the last. */
typedef struct ho_replay_s {
	uint64_t last;
	bool any;
} ho_replay_t;

/* Encodes m into a new buffer (*out, malloc; *out_len bytes). 0 or -ENOMEM / -EINVAL. */
__attribute__((warn_unused_result)) int ho_record_encode(const ho_key_t *key, const ho_msg_t *m,
                                                         uint8_t **out, size_t *out_len);

/* Decodes the record at the start of buf. On success fills *m (queues copied: free them) and
 * *used (bytes consumed), and moves rw forward; on failure returns an HO_E* code (or -ENOMEM)
 * and leaves m without allocations and rw unchanged. Checks in this order: header complete,
 * version, type, reserved, length limit, record complete, MAC, nonce, fields. */
__attribute__((warn_unused_result)) int ho_record_decode(const ho_key_t *key, ho_replay_t *rw,
                                                         const uint8_t *buf, size_t len,
                                                         ho_msg_t *m, size_t *used);

/* Frees what a decoded (or built) message owns: the state's queues, the reports. */
void ho_msg_free(ho_msg_t *m);

/* Loads the pre-shared key from path: the file's bytes less one trailing newline. Refuses a file
 * with any group/other permission bit, not a regular file, or a key shorter than HO_KEY_MIN
 * (msg says which, with the path). */
__attribute__((warn_unused_result)) int ho_key_load(const char *path, ho_key_t *key, char *msg,
                                                    size_t msglen);

/* "truncated record" etc. for the HO_E* codes, strerror for the others. */
const char *ho_strerror(int err);

#endif

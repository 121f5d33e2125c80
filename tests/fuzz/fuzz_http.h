/*
 * What fuzz_request.c and fuzz_response.c share: the input's layout, a driver that feeds several
 * streams through net/http.c parsers in random segments, interleaved on one thread (as the
 * gateway's connections are on one loop), and an independent strict llhttp parse of each side's
 * bytes to compare what s3lb relays with what it was sent.
 *
 * Input: byte 0 flags (bits 0-1: number of streams - 1; bit 2: small limits, 8 headers and 256
 * bytes; the targets own bits 3-7), bytes 1-4 the seed of the segmentation and interleaving, the
 * rest the streams' bytes separated by FZ_SEP (a stream with no bytes of its own repeats one that
 * has, cut differently).
 */
#ifndef S3LB_TESTS_FUZZ_HTTP_H
#define S3LB_TESTS_FUZZ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "net/http.h"

#define FZ_SEP        "\x00\x00"
#define FZ_MAXSTREAMS 4
#define FZ_MAXH       256       /* above every max_headers the targets use */
#define FZ_ARENA      (1 << 17) /* above the bytes of every head the targets accept */

/* Aborts with a message: a property failed (libFuzzer keeps the input). */
#define FZ_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fz_fail(__FILE__, __LINE__, #cond);                                        \
	} while (0)
__attribute__((noreturn)) void fz_fail(const char *file, int line, const char *what);

typedef struct {
	uint32_t off, len;
} fz_span_t;

/* One side's bytes parsed by llhttp with its default (strict) settings. */
typedef struct fz_peer_s {
	llhttp_t p;
	llhttp_settings_t s;
	/* the current message's head */
	fz_span_t method, target, reason;
	fz_span_t name[FZ_MAXH], value[FZ_MAXH];
	uint32_t nh;
	int last; /* the span callbacks are appending to (FZ_NAME, FZ_VALUE...), or 0 */
	bool head_done;
	int major, minor, status;
	bool chunked, has_cl, needs_eof;
	uint64_t cl;
	bool skip_body;     /* a response to HEAD */
	bool upgraded;      /* llhttp stopped for an upgrade: bytes after it are not HTTP */
	unsigned completed; /* messages completed since init */
	uint64_t body_len, body_hash; /* decoded body of the current message */
	llhttp_errno_t err;
	size_t used; /* of the arena */
	char arena[FZ_ARENA];
} fz_peer_t;

void fz_peer_init(fz_peer_t *m, llhttp_type_t type);
/* HPE_OK, or the error that stopped the parser (kept in m->err; later feeds do nothing). */
llhttp_errno_t fz_peer_feed(fz_peer_t *m, const char *data, size_t len);
llhttp_errno_t fz_peer_finish(fz_peer_t *m);
const char *fz_str(const fz_peer_t *m, fz_span_t s);

/* A field line s3lb adds to what it relays. */
typedef struct {
	const char *name, *value;
} fz_field_t;

/*
 * got must be want minus its hop-by-hop fields (the fixed set and what Connection names, never
 * Content-Length, Transfer-Encoding or Host) and minus fields named `drop` (NULL: none), plus
 * `add`, with the same request line (target: want's unless given) or status line, version and
 * framing. Aborts otherwise.
 */
void fz_same_head(const fz_peer_t *want, const fz_peer_t *got, const char *target, size_t tlen,
                  const char *drop, const fz_field_t *add, size_t nadd);
/* The adapter's record of the head at msg (offsets, trimmed values) equals the strict parse. */
void fz_same_as_adapter(const fz_peer_t *want, const net_http_t *h, const char *msg);

typedef struct fz_conn_s fz_conn_t;
typedef struct {
	/* Optional: a stream starts (its parsers are initialised). */
	void (*init)(fz_conn_t *c);
	/* A head the adapter returned (msg: the message's first byte): relays it into c->peer and
	 * returns true, or refuses it (nothing relayed) and returns false. */
	bool (*head)(fz_conn_t *c, const char *msg);
	/* A message the adapter completed and the peer with it: false ends the stream (the
	 * connection closes); else the target readies c->h for the next message. */
	bool (*done)(fz_conn_t *c);
	/* The stream's bytes ran out (the peer closed) with the connection still open. */
	void (*end)(fz_conn_t *c);
} fz_ops_t;

struct fz_conn_s {
	const char *data; /* the whole stream */
	size_t len;
	size_t arrived, start, parsed; /* bytes delivered so far, current message's first, parsed */
	net_http_t h;
	fz_peer_t *peer; /* parses what s3lb relays of this stream */
	bool in_body;    /* the head was relayed, the body is being relayed */
	bool dead;
	unsigned done; /* messages the adapter completed and relayed */
	uint64_t body_len, body_hash;
	bool until_eof; /* the relayed message's body runs to the end of the stream (at its head:
	                 * llhttp's flags may change in a trailer section) */
	unsigned flags; /* the input's byte 0 */
	void *arg;
};

/* Splits the input, runs every stream to its end or its connection's, and frees the parsers. */
void fz_run(const uint8_t *data, size_t size, llhttp_type_t type, const fz_ops_t *ops, void *arg);

/* The driver's check after a DONE, usable by `end` too (net_http_finish gave DONE). */
void fz_message_done(fz_conn_t *c);

#endif

/*
 * The llhttp adapter: the only file that includes llhttp. It parses one message at a time out of
 * the caller's buffer and records where the head's parts are (offsets from the start of the
 * message, so the caller may move its buffer between calls), stops right after the head and right
 * after the message, and tells where the raw body bytes end, so bodies can be relayed byte for
 * byte (chunk framing included) without copying.
 *
 * Every piece of parsing state lives in net_http_t: any number of parsers may be fed in any
 * interleaving on one thread.
 */
#ifndef S3LB_NET_HTTP_H
#define S3LB_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

/*
 * One field line of the head, as offsets from the message start: the name, the value without
 * leading or trailing whitespace (value_len 0 for an empty or whitespace-only value), and
 * line_end, the offset of the CR that ends the line, so that [name_off, line_end) is the line as
 * the peer sent it.
 */
typedef struct net_hdr_s {
	uint32_t name_off, name_len, value_off, value_len, line_end;
} net_hdr_t;

/* Why a message was refused (with NET_HTTP_ERROR). */
typedef enum {
	NET_HTTP_E_NONE = 0,
	NET_HTTP_E_INVALID,   /* not valid HTTP/1.x, or framing llhttp refuses */
	NET_HTTP_E_TOO_LARGE, /* over the header (or trailer) limits given at init */
	NET_HTTP_E_CLOSED,    /* the peer closed before the message was complete */
} net_http_err_t;

typedef enum {
	NET_HTTP_MORE = 0, /* every byte consumed, the message goes on */
	NET_HTTP_HEAD,     /* stopped right after the head */
	NET_HTTP_DONE,     /* stopped right after the end of the message */
	NET_HTTP_ERROR,    /* invalid; h->err says how to answer */
} net_http_result_t;

typedef struct net_http_s {
	llhttp_t p;
	size_t head_len; /* length of the head once NET_HTTP_HEAD was returned */
	uint32_t method_off, method_len, url_off, url_len, status_off, status_len;
	net_hdr_t *hdrs;
	uint32_t nhdrs, hdr_cap, max_headers;
	uint64_t max_head; /* header block limit in bytes; trailers have the same limit apart */
	uint64_t trailer_bytes;
	uint32_t ntrailers;
	/* the execute call in progress: its bytes and their offset from the message start */
	const char *cur_data;
	size_t cur_pos;
	bool in_field;    /* inside a field name (llhttp may report it in several pieces) */
	uint32_t ext_len; /* bytes of the chunk extension name or value being parsed */
	bool head_done;
	bool msg_done;
	bool skip_body; /* set before the head completes: a response to HEAD has no body */
	/* optional: the decoded body (chunk framing removed), in order, as it is parsed; data is
	 * valid during the call only. For callers that read bodies themselves (the bench); the
	 * relay does not need it. */
	void (*body_cb)(void *arg, const char *data, size_t len);
	void *body_arg;
	net_http_err_t err; /* with NET_HTTP_ERROR */
	const char *why;    /* with NET_HTTP_ERROR: the parser's reason, for the log */
} net_http_t;

/* type: HTTP_REQUEST or HTTP_RESPONSE. */
void net_http_init(net_http_t *h, llhttp_type_t type, uint32_t max_headers, uint64_t max_head);
void net_http_free(net_http_t *h);
/* Ready for the next message on the same connection (keep-alive). */
void net_http_next(net_http_t *h);

/*
 * Parses data[0, len). `pos` is the offset of data[0] from the start of the current message (the
 * caller keeps the message's bytes contiguous until the head is done; after it, pos is unused).
 * *used is how many bytes were consumed: with NET_HTTP_HEAD and NET_HTTP_DONE the parser stops
 * right there and the caller calls again with the rest (after net_http_resume, which the adapter
 * does itself). NET_HTTP_HEAD comes only for a head whose framing llhttp accepts as a whole (a
 * Transfer-Encoding or Content-Length it refuses is a NET_HTTP_ERROR before any body byte), so a
 * head is never relayed that the parser would refuse a moment later.
 */
net_http_result_t net_http_execute(net_http_t *h, const char *data, size_t len, size_t pos,
                                   size_t *used);
/* For a response read until EOF: the node closed; returns NET_HTTP_DONE or NET_HTTP_ERROR. */
net_http_result_t net_http_finish(net_http_t *h);

/* Header lookup (case-insensitive name), msg: the message's first byte. Returns the index of the
 * first match at or after `from`, or -1. */
int net_http_find(const net_http_t *h, const char *msg, const char *name, uint32_t from);
bool net_http_name_is(const net_http_t *h, const char *msg, uint32_t i, const char *name);

bool net_http_has_body(const net_http_t *h); /* request: Content-Length > 0 or chunked */
bool net_http_chunked(const net_http_t *h);
bool net_http_keep_alive(const net_http_t *h);
bool net_http_needs_eof(const net_http_t *h); /* response body runs until the node closes */
int net_http_status(const net_http_t *h);
/* Body bytes still to come of a message framed by Content-Length (0: none, or not framed so). */
uint64_t net_http_body_left(const net_http_t *h);
/* The rest of a Content-Length body was relayed without the parser (splice): the message is
 * complete and the parser ready for the next one. */
void net_http_body_skipped(net_http_t *h);
const char *net_http_method(const net_http_t *h);
int net_http_major(const net_http_t *h);
int net_http_minor(const net_http_t *h);

#endif

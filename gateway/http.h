/*
 * The llhttp adapter: the only file that includes llhttp. It parses one message at a time out of
 * the caller's buffer and records where the head's parts are (offsets from the start of the
 * message, so the caller may move its buffer between calls), stops right after the head and right
 * after the message, and tells where the raw body bytes end, so bodies can be relayed byte for
 * byte (chunk framing included) without copying.
 */
#ifndef S3LB_GATEWAY_HTTP_H
#define S3LB_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "gateway/s3err.h"

typedef struct gw_hdr_s {
	uint32_t name_off, name_len, value_off, value_len, line_end;
} gw_hdr_t;

typedef enum {
	GW_HTTP_MORE = 0, /* every byte consumed, the message goes on */
	GW_HTTP_HEAD,     /* stopped right after the head */
	GW_HTTP_DONE,     /* stopped right after the end of the message */
	GW_HTTP_ERROR,    /* invalid; h->err says how to answer */
} gw_http_result_t;

typedef struct gw_http_s {
	llhttp_t p;
	llhttp_settings_t settings;
	size_t base;     /* offset of the parser's position from the message start */
	size_t head_len; /* length of the head once GW_HTTP_HEAD was returned */
	uint32_t method_off, method_len, url_off, url_len, status_off, status_len;
	gw_hdr_t *hdrs;
	uint32_t nhdrs, hdr_cap, max_headers;
	uint64_t max_head; /* header block limit in bytes */
	bool in_value;
	bool head_done;
	bool msg_done;
	bool skip_body;  /* set before the head completes: a response to HEAD has no body */
	gw_err_t err;    /* with GW_HTTP_ERROR */
	const char *why; /* with GW_HTTP_ERROR: the parser's reason, for the log */
} gw_http_t;

/* type: HTTP_REQUEST or HTTP_RESPONSE. */
void gw_http_init(gw_http_t *h, llhttp_type_t type, uint32_t max_headers, uint64_t max_head);
void gw_http_free(gw_http_t *h);
/* Ready for the next message on the same connection (keep-alive). */
void gw_http_next(gw_http_t *h);

/*
 * Parses data[0, len). `pos` is the offset of data[0] from the start of the current message (the
 * caller keeps the message's bytes contiguous until the head is done). *used is how many bytes
 * were consumed: with GW_HTTP_HEAD and GW_HTTP_DONE the parser stops right there and the caller
 * calls again with the rest (after gw_http_resume, which the adapter does itself).
 */
gw_http_result_t gw_http_execute(gw_http_t *h, const char *data, size_t len, size_t pos,
                                 size_t *used);
/* For a response read until EOF: the node closed; returns GW_HTTP_DONE or GW_HTTP_ERROR. */
gw_http_result_t gw_http_finish(gw_http_t *h);

/* Header lookup (case-insensitive name), msg: the message's first byte. Returns the index of the
 * first match at or after `from`, or -1. */
int gw_http_find(const gw_http_t *h, const char *msg, const char *name, uint32_t from);
bool gw_http_name_is(const gw_http_t *h, const char *msg, uint32_t i, const char *name);

bool gw_http_has_body(const gw_http_t *h); /* request: Content-Length > 0 or chunked */
bool gw_http_keep_alive(const gw_http_t *h);
bool gw_http_needs_eof(const gw_http_t *h); /* response body runs until the node closes */
int gw_http_status(const gw_http_t *h);
const char *gw_http_method(const gw_http_t *h);
int gw_http_minor(const gw_http_t *h);

#endif

/*
 * Head rewriting, pure functions over a parsed head (gateway/http.h): what a client's request
 * head must satisfy before anything of it leaves for a node, the request head as sent to nodes,
 * and the response head as sent to the client.
 *
 * What is relayed: the request line rebuilt from its parsed parts (method, target, version; the
 * same bytes for every head llhttp accepts except for redundant spaces), every field line byte
 * for byte as the peer sent it, minus the hop-by-hop fields (Connection, Keep-Alive,
 * Proxy-Connection, TE, Upgrade and those that Connection names). Content-Length,
 * Transfer-Encoding and Host are never hop-by-hop: a request whose Connection names them is
 * refused, a response's Connection naming them is ignored, so that every hop parses the same
 * framing.
 */
#ifndef S3LB_GATEWAY_HEAD_H
#define S3LB_GATEWAY_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "net/http.h"
#include "gateway/s3err.h"

/*
 * A request head that llhttp accepted, checked against what s3lb relays: HTTP/1.0 or 1.1; exactly
 * one Host with a valid host[:port]; Transfer-Encoding only as the single coding `chunked`, not
 * empty, never in HTTP/1.0; no Connection token naming Content-Length, Transfer-Encoding or Host;
 * no fragment in the target. True when it passes; else *err is the answer and *why the reason for
 * the log.
 */
bool gw_head_check_request(const net_http_t *h, const char *msg, gw_err_t *err, const char **why);

typedef struct gw_head_req_opts_s {
	const char *path; /* replaces an absolute-form target (origin-form path); NULL: keep it */
	size_t path_len;
	const char *client_ip;
	bool x_forwarded_for; /* append X-Forwarded-For: client_ip */
	bool x_real_ip;       /* drop the client's X-Real-IP and append ours */
} gw_head_req_opts_t;

/*
 * The head to send to nodes, malloc'd into *out (*out_len bytes, not NUL-terminated);
 * *target_off is the offset of the request target in it. msg: the message's first byte.
 */
void gw_head_request(const net_http_t *h, const char *msg, const gw_head_req_opts_t *o, char **out,
                     size_t *out_len, size_t *target_off);

/* A response head from a node that s3lb relays: a status code of 100-599. */
bool gw_head_check_response(const net_http_t *h, const char **why);

typedef enum {
	GW_HEAD_CONN_NONE = 0,   /* add nothing (interim responses; HTTP/1.1 keep-alive) */
	GW_HEAD_CONN_CLOSE,      /* add Connection: close */
	GW_HEAD_CONN_KEEP_ALIVE, /* add Connection: keep-alive (an HTTP/1.0 client stays) */
	/* Connection: close, and no Transfer-Encoding: the body goes decoded, ended by the close
	 * (a chunked response to an HTTP/1.0 client, which cannot take chunks: RFC 9112 6.1) */
	GW_HEAD_CONN_CLOSE_UNCHUNKED,
} gw_head_conn_t;

/* The response head to send to the client, malloc'd into *out. */
void gw_head_response(const net_http_t *h, const char *msg, gw_head_conn_t conn, char **out,
                      size_t *out_len);

#endif

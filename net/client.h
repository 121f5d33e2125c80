/*
 * One HTTP/1.1 client connection, plain or TLS, carrying one exchange at a time: connect, send a
 * request whose bytes the caller owns (head, then body pieces), parse the response and lend its
 * bytes to the caller as they arrive, then stay for the next exchange. The gateway's node
 * connections, the health probes and the bench all use it; pooling is the caller's.
 *
 * Every callback and timer of the connection lives here. The timers follow what the connection
 * waits for (so that a slow caller never looks like a slow server):
 *   connecting                                   -> conf.connect_ms
 *   a write of the caller's in flight            -> conf.send_ms   (the server does not read)
 *   request done, no final response head yet    -> conf.head_ms
 *   head seen, body going on, nothing lent       -> conf.read_ms   (the server does not send)
 *   idle (net_client_idle)                       -> the idle time given there
 * and restart whenever their side makes progress. While the caller holds lent bytes, no read
 * timer runs: the caller is the one being waited for.
 *
 * The response is relayed raw: on_body lends the bytes as they came (chunk framing and trailers
 * included), from the connection's own buffer, until net_client_consumed; reading goes on into
 * the free part of the buffer and stops when it is full (backpressure). A caller that wants the
 * decoded body sets resp.body_cb (net/http.h).
 *
 * Callbacks run on the loop, never inside a call of the caller's into this module except where
 * said; any callback may close the connection (net_client_close), after which no other comes but
 * on_close. Lifetime: the caller embeds or allocates net_client_t and frees it in on_close.
 */
#ifndef S3LB_NET_CLIENT_H
#define S3LB_NET_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "net/http.h"
#include "net/rbuf.h"
#include "net/sock.h"

typedef struct net_client_s net_client_t;

/* Why an exchange failed (on_error); the connection is unusable afterwards. */
typedef enum {
	NET_CLIENT_E_CONNECT = 1, /* the connection could not be made (status has the cause) */
	NET_CLIENT_E_CONNECT_TIMEOUT,
	NET_CLIENT_E_SEND_TIMEOUT, /* a write did not complete in conf.send_ms */
	NET_CLIENT_E_HEAD_TIMEOUT, /* no response head conf.head_ms after the request */
	NET_CLIENT_E_READ_TIMEOUT, /* the response body stalled for conf.read_ms */
	NET_CLIENT_E_WRITE,        /* a write failed (status has the cause) */
	NET_CLIENT_E_READ,         /* reading failed: reset, TLS error (status has the cause) */
	NET_CLIENT_E_CLOSED,       /* the server closed before the response was complete */
	NET_CLIENT_E_INVALID,      /* the response is not valid HTTP (or over the limits) */
} net_client_err_t;
const char *net_client_err_name(net_client_err_t e);

/* Why an idle connection ended (on_idle_end). */
typedef enum {
	NET_CLIENT_IDLE_TIMEOUT = 1,
	NET_CLIENT_IDLE_CLOSED, /* the server closed it, or reading failed */
	NET_CLIENT_IDLE_STRAY,  /* the server sent bytes no request asked for */
} net_client_idle_t;

typedef struct net_client_conf_s {
	uint64_t connect_ms, send_ms, head_ms, read_ms;
	size_t buffer_size;   /* the response buffer; a response head must fit in it */
	uint32_t max_headers; /* per response head */
	/* The buffer goes back to the thread's spares (net/rbuf.h) whenever every byte in it was
	 * consumed, and is taken again when bytes come: connections that read in turn then share
	 * a few buffers that stay in cache. For callers that consume at once (the bench); the
	 * gateway keeps its buffers. */
	bool share_buffer;
} net_client_conf_t;

typedef struct net_client_cbs_s {
	/* The connection is up (status 0; TLS handshake done) or could not be made. */
	void (*on_connect)(net_client_t *cl, int status);
	/* A write net_client_write left in flight completed. */
	void (*on_written)(net_client_t *cl);
	/* A response head, interim (1xx) or final; h and msg (the head's first byte) are valid
	 * during the call only. After a final head on_body always follows at once, with the body
	 * bytes that came with it (len 0 when none: nothing is lent then), so the caller can send
	 * the head and those bytes together. */
	void (*on_head)(net_client_t *cl, const net_http_t *h, const char *msg);
	/* Body bytes lent until net_client_consumed (len > 0); none other comes meanwhile. */
	void (*on_body)(net_client_t *cl, const char *data, size_t len);
	/* The response is complete (every byte was lent and consumed). reusable: the connection
	 * may carry another exchange (keep-alive, request done, no stray bytes). */
	void (*on_done)(net_client_t *cl, bool reusable);
	/* The exchange failed; status: the libuv error behind E_CONNECT/E_WRITE/E_READ, else 0. */
	void (*on_error)(net_client_t *cl, net_client_err_t e, int status, const char *why);
	/* An idle connection (net_client_idle) ended. */
	void (*on_idle_end)(net_client_t *cl, net_client_idle_t why);
	/* The last callback: the memory may go. */
	void (*on_close)(net_client_t *cl);
	/* Optional (NULL: none): n > 0 bytes came from the server during an exchange, head,
	 * framing and body alike, before they are parsed; for callers that time the first
	 * response byte or count bytes on the wire (the bench). */
	void (*on_recv)(net_client_t *cl, size_t n);
} net_client_cbs_t;

enum { NCL_NEW = 0, NCL_CONNECTING, NCL_READY, NCL_EXCHANGE, NCL_IDLE, NCL_FAILED, NCL_CLOSING };

struct net_client_s {
	net_sock_t sock;
	void *data; /* the caller's */
	const net_client_cbs_t *cb;
	net_client_conf_t conf;
	uv_timer_t timer;
	net_http_t resp; /* resp.body_cb may be set by the caller */
	net_rbuf_t rb;
	int state; /* NCL_* */
	int timer_kind;
	unsigned handles; /* sock and timer still open; on_close at 0 */
	/* the exchange in progress */
	bool req_done;  /* the caller wrote the last request byte (net_client_request_done) */
	bool writing;   /* a write left in flight by net_client_write */
	bool lent;      /* on_body bytes not consumed yet */
	bool resp_done; /* the response is complete (on_done may wait for consumption) */
	bool eof;       /* the server closed its side */
	int read_err;   /* a read error waiting to be reported, 0 if none */
	bool bodyless;  /* the last response had no body (HEAD, 204, 304) */
	bool in_advance;
	bool final_head; /* the final head of this exchange was delivered */
	bool taken;      /* the rest of the body is the caller's (net_client_body_taken) */
};

/* Initialises cl (no I/O yet). */
void net_client_init(uv_loop_t *loop, net_client_t *cl, const net_client_cbs_t *cb,
                     const net_client_conf_t *conf, void *data);
/* Connects; on_connect follows (never inside this call). tls NULL: plain; sni: name to send
 * and verify. A negative return means nothing started: close it. */
__attribute__((warn_unused_result)) int net_client_connect(net_client_t *cl,
                                                           const struct sockaddr *addr,
                                                           net_tls_ctx_t *tls, const char *sni);
/*
 * Starts an exchange on a connected connection (new, or idle after on_done(reusable)):
 * head_request says that the response has no body whatever its head says. On a connection that
 * idled after a body-less response, first looks for stray bytes: UV_ECONNRESET then (and
 * *stray tells whether bytes were there, not only the end): close it and take another.
 */
__attribute__((warn_unused_result)) int net_client_begin(net_client_t *cl, bool head_request,
                                                         bool *stray);
/* Writes request bytes (they live until written): 1 written at once (no on_written), 0 in
 * flight (on_written follows), < 0 failed (the exchange is lost: close). One write at a time. */
__attribute__((warn_unused_result)) int net_client_write(net_client_t *cl, const uv_buf_t *bufs,
                                                         unsigned n);
/* The caller wrote its last request byte (or will once the write in flight completes). */
void net_client_request_done(net_client_t *cl);
/* The bytes of the last on_body are no longer needed. May call on_body/on_done at once. */
void net_client_consumed(net_client_t *cl);
/* After on_done(reusable): the connection idles for at most idle_ms; whatever the server sends
 * or does meanwhile ends it (on_idle_end). */
void net_client_idle(net_client_t *cl, uint64_t idle_ms);
/*
 * The rest of a response body can go around this connection's buffer (net/splice.h) when the
 * connection is plain TCP, the final head has a Content-Length, and every byte buffered so far
 * was lent and consumed: then *fd is the socket and *left the bytes still to come. Nothing
 * changes; net_client_body_taken commits.
 */
bool net_client_body_left(const net_client_t *cl, int *fd, uint64_t *left);
/* The caller moves the rest of the body itself: reading and the timers stop. */
void net_client_body_taken(net_client_t *cl);
/* Every byte of it was moved: the response is complete (on_done follows at once). On failure
 * the caller closes the connection instead. */
void net_client_body_moved(net_client_t *cl);
/* Closes (idempotent); abort: with a reset, so that the server never takes a partial request
 * for a complete one. on_close follows. */
void net_client_close(net_client_t *cl, bool abort);

#endif

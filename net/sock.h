/*
 * A byte stream over one TCP handle, plain or TLS (server side for clients, client side towards
 * nodes). The connection code above it sees plaintext only and never touches OpenSSL.
 *
 * Contract (main loop only):
 *  - The owner gives the read buffer through alloc_cb each time (free space of its own fixed
 *    buffer); a zero-length buffer means "no space": the sock stops reading until read_start.
 *  - read_cb gets plaintext bytes placed in that buffer; nread < 0 is UV_EOF or an error
 *    (TLS failures are UV_EPROTO). After an error no more read_cb.
 *  - At most one write in flight; the bytes passed to net_sock_write must live until its callback.
 *    The callback never runs inside net_sock_write. With a completion queue (s->q, plain TCP
 *    only), a write the kernel takes whole at once is done right away (uv_try_write) and its
 *    callback runs later in the same loop iteration: no request is queued in libuv, and so no
 *    epoll_ctl to re-arm the socket after it (libuv 1.44 does one per completed uv_write).
 *  - net_sock_close is idempotent; a pending write's callback fires (UV_ECANCELED or its real
 *    status) before close_cb; close_cb is the last callback, after which the owner may free.
 *  - TLS: connect_cb fires once the handshake is done (UV_EPROTO on failure, the reason in
 *    net_tls_last_error, gateway/tls.h); a server handshake runs while the owner reads or has a
 *    write waiting; close sends close_notify when it can (not with abort_on_close).
 */
#ifndef S3LB_NET_SOCK_H
#define S3LB_NET_SOCK_H

#include <stdbool.h>
#include <uv.h>

typedef struct net_sock_s net_sock_t;
typedef struct net_sockq_s net_sockq_t;
typedef struct net_tls_s net_tls_t;         /* per-connection TLS state (gateway/tls.c) */
typedef struct net_tls_ctx_s net_tls_ctx_t; /* shared context: server cert/key or client CA */

typedef void (*net_sock_alloc_cb)(net_sock_t *s, uv_buf_t *buf);
typedef void (*net_sock_read_cb)(net_sock_t *s, ssize_t nread, const uv_buf_t *buf);
typedef void (*net_sock_write_cb)(net_sock_t *s, int status);
typedef void (*net_sock_connect_cb)(net_sock_t *s, int status);
typedef void (*net_sock_close_cb)(net_sock_t *s);

struct net_sock_s {
	uv_tcp_t tcp; /* tcp.data points back at this struct */
	void *data;   /* the owner's */
	net_tls_t *tls;
	net_sock_alloc_cb alloc_cb;
	net_sock_read_cb read_cb;
	net_sock_write_cb write_cb;
	net_sock_connect_cb connect_cb;
	net_sock_close_cb close_cb;
	/* Allocated only while in use (an idle connection holds neither): the write request while a
	 * write is queued in libuv (plain, or a ciphertext write with TLS), freed in its callback;
	 * the connect request, freed in its callback. TLS's idle handle is in the engine. */
	uv_write_t *wreq;
	net_sockq_t *q;     /* the loop's completion queue (set by the owner), or NULL */
	net_sock_t *q_next; /* in q while a done write waits for its callback */
	/* Internal to sock.c (TLS only): UV_EOF or an error waiting for the owner (or connect_cb).
	 */
	int read_err;
	unsigned char
	    handles; /* handles still open (tcp, and idle with TLS); close_cb comes at 0 */
	bool q_queued;
	bool reading;
	bool writing;
	bool closing;
	bool abort_on_close; /* close with RST (SO_LINGER 0): an aborted response must look aborted
	                      */
	/* Internal to sock.c. */
	bool connected; /* TCP is up (accepted, or connect succeeded) */
	/* TLS only: reading is the owner's wish; these track the ciphertext side. */
	bool read_done;     /* read_err was delivered: no more read_cb */
	bool net_reading;   /* uv_read_start is on */
	bool net_eof;       /* the peer closed its side of the TCP stream */
	bool tx_busy;       /* a ciphertext write (wreq) is in flight */
	bool tx_ends_write; /* ... and it carries the end of the owner's write */
};

/* Write completions that net_sock_write finished at once, delivered from a check handle (after
 * the I/O callbacks of the iteration) and an idle handle (so that the loop does not block in
 * poll while some wait). One per loop; the owner closes it before closing the loop. */
struct net_sockq_s {
	uv_check_t check;
	uv_idle_t idle;
	net_sock_t *head, *tail;
	bool open;
};
int net_sockq_init(uv_loop_t *loop, net_sockq_t *q);
void net_sockq_close(net_sockq_t *q);

/*
 * Listening at the fd limit. When accept(2) fails with EMFILE or ENFILE, libuv on its own closes
 * a reserve fd, accepts and closes every pending connection and says nothing to the program: the
 * clients are refused and no log or metric shows it. net_sock_listen takes that over: it gives
 * libuv's reserve up (every net_sock_t does again: libuv reopens it in uv_tcp_init) and keeps
 * one of its own (one per process), so the connection callback gets
 * UV_EMFILE / UV_ENFILE and hands it to net_sock_accept_error, which refuses the pending
 * connections the same way, counts them and says when to log (at most one line a second). The
 * kernel's listen queue keeps clients until then; without the reserve (another thread took the
 * freed fd) libuv calls back at once again, as it does itself when its reserve is gone: see
 * NET_ACCEPT_STUCK.
 */
typedef enum {
	NET_ACCEPT_EMFILE = 0,
	NET_ACCEPT_ENFILE,
	NET_ACCEPT_OTHER,
	NET_ACCEPT_NREASONS
} net_accept_reason_t;
const char *net_accept_reason_name(net_accept_reason_t r); /* "emfile", "enfile", "other" */

/* uv_listen on the loop's thread, with the reserve fd above. */
__attribute__((warn_unused_result)) int net_sock_listen(uv_stream_t *server, int backlog,
                                                        uv_connection_cb cb);
/* uv_tcp_init for a TCP handle on a loop that listens by net_sock_listen but that is not a
 * net_sock_t (a listener's own handle, an admin connection): uv_tcp_init turns libuv's silent
 * reserve back on for its loop (above), which would refuse that loop's next connections at the fd
 * limit unseen, until the next net_sock_t. This gives it up again. Same result as uv_tcp_init. */
int net_tcp_init(uv_loop_t *loop, uv_tcp_t *tcp);
/* What net_sock_accept_error asks of the caller (bits). */
enum {
	NET_ACCEPT_LOG = 1, /* a log line is due, its text in msg */
	/* At the fd limit with neither the reserve nor a free fd (another thread is refusing with
	 * the reserve, or it could not be taken back): nothing was refused, the connection waits in
	 * the listen queue, and libuv calls back at once again, without returning to the loop, for
	 * as long as the queue holds one. The caller yields a moment; if that lasts, it steps out
	 * of accept by closing the listening handle (a second descriptor of the socket keeps the
	 * socket and its queue) and listens again once an fd is free: its loop goes on serving, and
	 * serving frees fds. */
	NET_ACCEPT_STUCK = 2,
};
/* A connection callback's status < 0 on server. Counts it; at the fd limit refuses what waits in
 * the listen queue (counted one each). Returns NET_ACCEPT_* bits; with NET_ACCEPT_LOG (at most
 * once a second, every thread together) msg holds the line (the error, how many since the last
 * line, the limit). */
int net_sock_accept_error(uv_stream_t *server, int status, char *msg, size_t msglen);
/* After a successful accept on a listener of net_sock_listen whose connection does not go through
 * net_sock_accept (the admin listener): false when that connection took the fd that refusing
 * needs; the caller closes it at once (counted here as refused). */
bool net_sock_accept_keep(void);
/* Connections refused or accept errors since start, every thread together. */
uint64_t net_sock_accept_errors(net_accept_reason_t r);

/* Internal: uv_tcp_init, replaced by tests to make it fail. */
extern int (*net__tcp_init)(uv_loop_t *loop, uv_tcp_t *tcp);

/* Accepts a connection from server into s (initialised here). tls_ctx NULL: plain. On an error
 * s must still be closed with net_sock_close (its close_cb comes at once when the TCP handle
 * could not even be initialised). */
__attribute__((warn_unused_result)) int net_sock_accept(uv_stream_t *server, net_sock_t *s,
                                                        net_tls_ctx_t *tls_ctx);

/* Starts a connection to addr; cb runs once, after TCP connect and (with TLS) the handshake.
 * sni: the server name to send and verify (NULL: none). */
__attribute__((warn_unused_result)) int net_sock_connect(uv_loop_t *loop, net_sock_t *s,
                                                         const struct sockaddr *addr,
                                                         net_tls_ctx_t *tls_ctx, const char *sni,
                                                         net_sock_connect_cb cb);

int net_sock_read_start(net_sock_t *s, net_sock_alloc_cb alloc_cb, net_sock_read_cb read_cb);
int net_sock_read_stop(net_sock_t *s);
__attribute__((warn_unused_result)) int net_sock_write(net_sock_t *s, const uv_buf_t *bufs,
                                                       unsigned nbufs, net_sock_write_cb cb);
/* Like net_sock_write, but 1 when the kernel took all of it at once (plain TCP): then no callback
 * comes and the caller may reuse the bytes and go on (a relay loop releases its buffer and reads
 * on, instead of stopping reading until a callback). 0: in flight, cb comes. < 0: error. */
__attribute__((warn_unused_result)) int net_sock_write_now(net_sock_t *s, const uv_buf_t *bufs,
                                                           unsigned nbufs, net_sock_write_cb cb);
void net_sock_close(net_sock_t *s, net_sock_close_cb cb);
/* Ends the sending side now: shutdown(SHUT_WR), with TLS after close_notify (UV_EBUSY while
 * ciphertext is still queued: the caller may close instead). Reading goes on. Only with no write
 * in flight. 0 or a negative error. */
int net_sock_shutdown(net_sock_t *s);

/* The peer's address as text ("10.0.0.1" or "::1"), into buf. */
void net_sock_peer(net_sock_t *s, char *buf, size_t len);

/* The same in 17 bytes, for an owner that keeps it for the connection's life and formats it
 * only when it needs the text (family 0: unknown, the text is ""). */
typedef struct net_peer_s {
	unsigned char family; /* AF_INET, AF_INET6 or 0 */
	unsigned char addr[16];
} net_peer_t;
void net_sock_peer_addr(net_sock_t *s, net_peer_t *p);
void net_peer_text(const net_peer_t *p, char *buf, size_t len);

#endif

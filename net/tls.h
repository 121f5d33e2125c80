/*
 * TLS for net_sock_t: the only file that includes OpenSSL for the data path (tls.c).
 *
 * Two parts. Contexts (net_tls_ctx_t) are built at setup and on reload, refcounted: every TLS
 * connection holds a reference, so a reload swaps in a new context while existing connections
 * keep theirs. Engines (net_tls_t) are one per connection and only transform bytes between
 * memory buffers (ciphertext in/out, plaintext in/out); they never touch a socket. sock.c does
 * the I/O and calls the engine when s->tls is set.
 *
 * Everything here runs on the main loop's thread (refcounts are not atomic).
 */
#ifndef S3LB_NET_TLS_H
#define S3LB_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net/sock.h"

/* Most ciphertext one net_tls_stage() hands out (two full records with room for overhead). */
#define NET_TLS_STAGE_CAP (2 * (16384 + 1024))

/*
 * Server context for a frontend: certificate chain and key (PEM files), TLS 1.2 and later with
 * OpenSSL's default ciphers, ALPN "http/1.1" only (a client offering only h2 gets no ALPN and
 * still speaks HTTP/1.1), session tickets and a session cache. On error, err holds one line
 * naming the file and the reason ("cert.pem: No such file or directory").
 */
__attribute__((warn_unused_result)) int net_tls_server_ctx_new(const char *cert_file,
                                                               const char *key_file,
                                                               net_tls_ctx_t **out, char *err,
                                                               size_t errlen);

/*
 * Client context towards nodes: TLS 1.2 and later, ALPN "http/1.1". With verify, the node's
 * chain is verified against ca_file (NULL: the system's default store) and its name against the
 * sni given to net_sock_connect (or the node's IP address without sni).
 */
__attribute__((warn_unused_result)) int net_tls_client_ctx_new(const char *ca_file, bool verify,
                                                               net_tls_ctx_t **out, char *err,
                                                               size_t errlen);

net_tls_ctx_t *net_tls_ctx_ref(net_tls_ctx_t *ctx);
/* Drops a reference; the last one frees the context. NULL is ignored. */
void net_tls_ctx_unref(net_tls_ctx_t *ctx);

/* ---- for logs: all accept a plain sock and then answer false / "" ----------------------- */

bool net_tls_active(const net_sock_t *s);
/* "TLSv1.3", "" before the handshake completes. */
const char *net_tls_version(const net_sock_t *s);
/* "TLS_AES_256_GCM_SHA384", "" before the handshake completes. */
const char *net_tls_cipher(const net_sock_t *s);
/* The negotiated ALPN protocol ("http/1.1"), "" when none. */
const char *net_tls_alpn(const net_sock_t *s);
/* Why the last handshake or record failed ("certificate verify failed: hostname mismatch"). */
const char *net_tls_last_error(const net_sock_t *s);

/* ---- the engine (sock.c only) ------------------------------------------------------------- */

/*
 * A connection's TLS state, holding a reference on ctx. Server contexts accept, client contexts
 * connect; peer_name (client only, may be NULL) is sent as SNI when it is a host name and
 * verified as a host name or an IP address.
 */
__attribute__((warn_unused_result)) int net_tls_new(net_tls_ctx_t *ctx, const char *peer_name,
                                                    net_tls_t **out);
/* Frees the engine; its idle handle (below) must be closed by then. */
void net_tls_free(net_tls_t *t);
/* sock.c's idle handle of this connection (it hands over plaintext kept in the engine): lives
 * here, so that a plain connection carries none. sock.c inits and closes it. */
uv_idle_t *net_tls_idle(net_tls_t *t);

/*
 * Ciphertext read from the network. The bytes are only borrowed: net_tls_feed_end() must be
 * called before they are overwritten; it copies what the engine has not consumed yet.
 */
__attribute__((warn_unused_result)) int net_tls_feed(net_tls_t *t, const char *p, size_t len);
__attribute__((warn_unused_result)) int net_tls_feed_end(net_tls_t *t);
/* True when nothing more can be decrypted or handshaken without more ciphertext. */
bool net_tls_want_input(net_tls_t *t);
/* Drives the handshake: 0 done (also when it was already), UV_EAGAIN more input needed, or
 * UV_EPROTO. */
__attribute__((warn_unused_result)) int net_tls_handshake(net_tls_t *t);
bool net_tls_handshake_done(net_tls_t *t);
/* Decrypts into out: >0 bytes, 0 more input needed, UV_EOF (close_notify) or UV_EPROTO. */
__attribute__((warn_unused_result)) ssize_t net_tls_read(net_tls_t *t, char *out, size_t cap);
/* Records a failure not seen by OpenSSL (e.g. the peer closed mid-handshake) for
 * net_tls_last_error. */
void net_tls_set_error(net_tls_t *t, const char *why);

/*
 * Outgoing side. net_tls_write_begin() takes the owner's plaintext (the array is copied, the bytes
 * must live until the write ends); net_tls_stage() fills the staging buffer with pending
 * handshake output first, then, once the handshake is done, encrypts plaintext while it fits.
 * It returns 1 when the staged bytes complete the owner's write, 0 otherwise, or UV_EPROTO;
 * out->len 0: nothing to send. The staged bytes stay put until net_tls_sent(); no stage between.
 */
__attribute__((warn_unused_result)) int net_tls_write_begin(net_tls_t *t, const uv_buf_t *bufs,
                                                            unsigned nbufs);
__attribute__((warn_unused_result)) int net_tls_stage(net_tls_t *t, uv_buf_t *out);
void net_tls_sent(net_tls_t *t);
/* Ciphertext produced but not staged yet (reading stops above a limit, to bound memory). */
size_t net_tls_out_pending(net_tls_t *t);
/* Drops the owner's plaintext not encrypted yet (the write failed or the sock closes). */
void net_tls_write_abort(net_tls_t *t);
/* The session failed (handshake or record error): nothing more will be encrypted. */
bool net_tls_failed(net_tls_t *t);
/* Makes close_notify when the session is in a state to send it, and takes it with any output
 * still pending into out; 0 when there is nothing to send or it does not fit. */
size_t net_tls_close_notify(net_tls_t *t, char *out, size_t cap);

#endif

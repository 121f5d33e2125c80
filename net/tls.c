/*
 * The OpenSSL adapter: contexts and the per-connection engine over memory BIOs.
 *
 * Inbound, the network's bytes are not copied: net_tls_feed() points a read-only memory BIO at the
 * caller's buffer, OpenSSL decrypts straight from it, and net_tls_feed_end() copies only what is
 * left when the owner stopped reading (at most one read's worth). Outbound, SSL writes records
 * into a memory BIO that never holds more than about one record: net_tls_stage() encrypts one
 * record at a time and moves it to the staging buffer the socket writes from. The staging buffer
 * is allocated while output is pending and freed when the connection goes quiet, and OpenSSL
 * releases its record buffers when idle (SSL_MODE_RELEASE_BUFFERS), so an idle keep-alive
 * connection costs little more than the SSL object.
 *
 * OpenSSL's error queue is per thread: every call that may fail starts from a clear queue and
 * leaves it clear, so one connection's error never shows up as another's.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

#define RECORD_MAX   16384          /* plaintext per record, and per SSL_write */
#define RECORD_ROOM  (16384 + 1024) /* what one SSL_write can add to the write BIO, at most */
#define WBUFS_INLINE 4

static const unsigned char alpn_http11[] = "\x08http/1.1";

struct net_tls_ctx_s {
	SSL_CTX *ssl_ctx;
	unsigned refs;
	bool verify; /* client: verify the peer's chain and name */
};

struct net_tls_s {
	uv_idle_t idle; /* sock.c's (see net_tls_idle) */
	SSL *ssl;
	BIO *rbio; /* owned by ssl; read-only over the caller's bytes while borrowed */
	BIO *wbio; /* owned by ssl */
	net_tls_ctx_t *ctx;
	char *stage; /* NET_TLS_STAGE_CAP bytes while output is pending, else NULL */
	size_t stage_len;
	uv_buf_t *wbufs; /* the owner's write: wsmall or malloc'd */
	uv_buf_t wsmall[WBUFS_INLINE];
	unsigned wn, wi; /* buffers, and the one being encrypted */
	size_t woff;     /* bytes of wbufs[wi] already encrypted */
	bool wactive;
	bool borrowed; /* rbio reads the bytes given to net_tls_feed */
	bool starved;  /* OpenSSL asked for more input since the last feed */
	bool hs_done;
	bool failed;
	char alpn[32];
	char err[192];
};

/* ---- errors ------------------------------------------------------------------------------ */

/* The reason of the earliest error in OpenSSL's queue, which is the root cause. */
static const char *queue_reason(unsigned long e)
{
	const char *r;
	if (e == 0)
		return "unknown error";
	if (ERR_GET_LIB(e) == ERR_LIB_SYS)
		return strerror(ERR_GET_REASON(e));
	r = ERR_reason_error_string(e);
	return r ? r : "unknown error";
}

/* Fills err with "file: reason" from OpenSSL's queue; `what` replaces a parse failure's reason. */
static void setup_error(char *err, size_t errlen, const char *file, const char *what)
{
	unsigned long e = ERR_peek_error();
	int lib = ERR_GET_LIB(e);
	if (e != 0 && what && (lib == ERR_LIB_PEM || lib == ERR_LIB_OSSL_DECODER))
		snprintf(err, errlen, "%s: %s (%s)", file, what, queue_reason(e));
	else
		snprintf(err, errlen, "%s: %s", file, queue_reason(e));
	ERR_clear_error();
}

static bool key_mismatch(void)
{
	unsigned long e = ERR_peek_error();
	return ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
	                                          ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

/* Records why the session failed, for net_tls_last_error, and clears the queue. */
static void session_error(net_tls_t *t)
{
	long vr = SSL_get_verify_result(t->ssl);
	if (!t->hs_done && (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) && vr != X509_V_OK)
		snprintf(t->err, sizeof(t->err), "certificate verify failed: %s",
		         X509_verify_cert_error_string(vr));
	else
		snprintf(t->err, sizeof(t->err), "%s", queue_reason(ERR_peek_error()));
	ERR_clear_error();
	t->failed = true;
}

void net_tls_set_error(net_tls_t *t, const char *why)
{
	snprintf(t->err, sizeof(t->err), "%s", why);
}

/* ---- contexts ---------------------------------------------------------------------------- */

/* Only http/1.1 is spoken: a client that does not offer it gets no ALPN rather than an alert. */
static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned i = 0;
	(void)ssl;
	(void)arg;
	while (i < inlen && i + 1 + in[i] <= inlen) {
		if (in[i] == alpn_http11[0] &&
		    memcmp(in + i, alpn_http11, sizeof(alpn_http11) - 1) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1u + in[i];
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int ctx_new(const SSL_METHOD *method, net_tls_ctx_t **out, char *err, size_t errlen)
{
	net_tls_ctx_t *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		abort();
	ERR_clear_error();
	if (!(ctx->ssl_ctx = SSL_CTX_new(method))) {
		setup_error(err, errlen, "TLS", NULL);
		free(ctx);
		return UV_ENOMEM;
	}
	ctx->refs = 1;
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	/* Renegotiation would let a peer make us read before we write: never needed for HTTP. */
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	*out = ctx;
	return 0;
}

int net_tls_server_ctx_new(const char *cert_file, const char *key_file, net_tls_ctx_t **out,
                           char *err, size_t errlen)
{
	net_tls_ctx_t *ctx;
	SSL_CTX *c;
	int rc;

	*out = NULL;
	if ((rc = ctx_new(TLS_server_method(), &ctx, err, errlen)) < 0)
		return rc;
	c = ctx->ssl_ctx;
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(c, on_alpn_select, NULL);
	SSL_CTX_set_session_id_context(c, (const unsigned char *)"s3lb", 4);
	if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
		setup_error(err, errlen, cert_file, "no PEM certificate found");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
		if (key_mismatch())
			goto mismatch;
		setup_error(err, errlen, key_file, "no PEM private key found");
		goto fail;
	}
	/* A key of another type than the certificate's loads fine and only fails here. */
	if (SSL_CTX_check_private_key(c) != 1)
		goto mismatch;
	*out = ctx;
	return 0;

mismatch:
	ERR_clear_error();
	snprintf(err, errlen, "%s: key does not match certificate %s", key_file, cert_file);
fail:
	net_tls_ctx_unref(ctx);
	return UV_EINVAL;
}

int net_tls_client_ctx_new(const char *ca_file, bool verify, net_tls_ctx_t **out, char *err,
                           size_t errlen)
{
	net_tls_ctx_t *ctx;
	SSL_CTX *c;
	int rc;

	*out = NULL;
	if ((rc = ctx_new(TLS_client_method(), &ctx, err, errlen)) < 0)
		return rc;
	c = ctx->ssl_ctx;
	ctx->verify = verify;
	/* set_alpn_protos is the one OpenSSL call that returns 0 on success. */
	if (SSL_CTX_set_alpn_protos(c, alpn_http11, sizeof(alpn_http11) - 1) != 0) {
		setup_error(err, errlen, "TLS", NULL);
		goto fail;
	}
	SSL_CTX_set_verify(c, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (verify && ca_file && SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
		setup_error(err, errlen, ca_file, "no PEM certificate found");
		goto fail;
	}
	if (verify && !ca_file && SSL_CTX_set_default_verify_paths(c) != 1) {
		setup_error(err, errlen, "system CA store", NULL);
		goto fail;
	}
	*out = ctx;
	return 0;

fail:
	net_tls_ctx_unref(ctx);
	return UV_EINVAL;
}

net_tls_ctx_t *net_tls_ctx_ref(net_tls_ctx_t *ctx)
{
	__atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED); /* shared by the workers */
	return ctx;
}

void net_tls_ctx_unref(net_tls_ctx_t *ctx)
{
	if (!ctx || __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* ---- for logs ---------------------------------------------------------------------------- */

bool net_tls_active(const net_sock_t *s)
{
	return s->tls != NULL;
}

const char *net_tls_version(const net_sock_t *s)
{
	return s->tls && s->tls->hs_done ? SSL_get_version(s->tls->ssl) : "";
}

const char *net_tls_cipher(const net_sock_t *s)
{
	return s->tls && s->tls->hs_done ? SSL_get_cipher_name(s->tls->ssl) : "";
}

const char *net_tls_alpn(const net_sock_t *s)
{
	return s->tls ? s->tls->alpn : "";
}

const char *net_tls_last_error(const net_sock_t *s)
{
	return s->tls ? s->tls->err : "";
}

/* ---- the engine -------------------------------------------------------------------------- */

static bool is_ip_literal(const char *name)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* Client side: SNI for host names (RFC 6066 forbids IP literals there), and the identity the
 * certificate must carry. */
static int set_peer_name(net_tls_t *t, const char *name)
{
	bool ip = is_ip_literal(name);
	if (!ip && SSL_set_tlsext_host_name(t->ssl, name) != 1)
		return UV_EINVAL;
	if (!t->ctx->verify)
		return 0;
	SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) != 1
	       : SSL_set1_host(t->ssl, name) != 1)
		return UV_EINVAL;
	return 0;
}

int net_tls_new(net_tls_ctx_t *ctx, const char *peer_name, net_tls_t **out)
{
	net_tls_t *t = calloc(1, sizeof(*t));
	int rc = UV_ENOMEM;

	if (!t)
		abort();
	ERR_clear_error();
	t->ctx = net_tls_ctx_ref(ctx);
	if (!(t->ssl = SSL_new(ctx->ssl_ctx)))
		goto fail;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	/* An empty memory BIO asks to retry rather than reporting EOF: the socket tells EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	if (SSL_is_server(t->ssl)) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (peer_name && (rc = set_peer_name(t, peer_name)) < 0)
			goto fail;
	}
	*out = t;
	return 0;

fail:
	ERR_clear_error();
	net_tls_free(t);
	*out = NULL;
	return rc;
}

static void write_release(net_tls_t *t)
{
	if (t->wbufs != t->wsmall)
		free(t->wbufs);
	t->wbufs = NULL;
	t->wn = t->wi = 0;
	t->woff = 0;
	t->wactive = false;
}

uv_idle_t *net_tls_idle(net_tls_t *t)
{
	return &t->idle;
}

void net_tls_free(net_tls_t *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	write_release(t);
	free(t->stage);
	net_tls_ctx_unref(t->ctx);
	free(t);
}

int net_tls_feed(net_tls_t *t, const char *p, size_t len)
{
	BIO *b;
	assert(len <= INT_MAX && !t->borrowed);
	t->starved = false;
	if (BIO_ctrl_pending(t->rbio) > 0) {
		/* Bytes kept back earlier: append (rbio is a writable copy then). */
		return BIO_write(t->rbio, p, (int)len) == (int)len ? 0 : UV_ENOMEM;
	}
	if (!(b = BIO_new_mem_buf(p, (int)len)))
		return UV_ENOMEM;
	BIO_set_mem_eof_return(b, -1);
	SSL_set0_rbio(t->ssl, b);
	t->rbio = b;
	t->borrowed = true;
	return 0;
}

int net_tls_feed_end(net_tls_t *t)
{
	char tmp[4096];
	BIO *b;
	int n;

	if (!t->borrowed)
		return 0;
	t->borrowed = false;
	if (BIO_ctrl_pending(t->rbio) == 0)
		return 0; /* the empty view stays until the next feed replaces it; it reads nothing
		           */
	if (!(b = BIO_new(BIO_s_mem())))
		return UV_ENOMEM;
	BIO_set_mem_eof_return(b, -1);
	while ((n = BIO_read(t->rbio, tmp, sizeof(tmp))) > 0) {
		if (BIO_write(b, tmp, n) != n) {
			BIO_free(b);
			return UV_ENOMEM;
		}
	}
	SSL_set0_rbio(t->ssl, b);
	t->rbio = b;
	return 0;
}

bool net_tls_want_input(net_tls_t *t)
{
	return t->starved || (BIO_ctrl_pending(t->rbio) == 0 && !SSL_has_pending(t->ssl));
}

static void handshake_finished(net_tls_t *t)
{
	const unsigned char *p;
	unsigned len;
	t->hs_done = true;
	SSL_get0_alpn_selected(t->ssl, &p, &len);
	if (len >= sizeof(t->alpn))
		len = 0;
	if (len)
		memcpy(t->alpn, p, len);
	t->alpn[len] = 0;
}

int net_tls_handshake(net_tls_t *t)
{
	int r;
	if (t->hs_done)
		return 0;
	if (t->failed)
		return UV_EPROTO;
	ERR_clear_error();
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		handshake_finished(t);
		return 0;
	}
	if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ) {
		t->starved = true;
		return UV_EAGAIN;
	}
	session_error(t);
	return UV_EPROTO;
}

bool net_tls_handshake_done(net_tls_t *t)
{
	return t->hs_done;
}

bool net_tls_failed(net_tls_t *t)
{
	return t->failed;
}

ssize_t net_tls_read(net_tls_t *t, char *out, size_t cap)
{
	int r;
	if (t->failed)
		return UV_EPROTO;
	ERR_clear_error();
	if ((r = SSL_read(t->ssl, out, cap > INT_MAX ? INT_MAX : (int)cap)) > 0)
		return r;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		t->starved = true;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return UV_EOF;
	default:
		session_error(t);
		return UV_EPROTO;
	}
}

int net_tls_write_begin(net_tls_t *t, const uv_buf_t *bufs, unsigned nbufs)
{
	assert(!t->wactive);
	t->wbufs = t->wsmall;
	if (nbufs > WBUFS_INLINE && !(t->wbufs = malloc(nbufs * sizeof(*bufs))))
		return UV_ENOMEM;
	if (nbufs)
		memcpy(t->wbufs, bufs, nbufs * sizeof(*bufs));
	t->wn = nbufs;
	t->wi = 0;
	t->woff = 0;
	t->wactive = true;
	return 0;
}

void net_tls_write_abort(net_tls_t *t)
{
	write_release(t);
}

size_t net_tls_out_pending(net_tls_t *t)
{
	return BIO_ctrl_pending(t->wbio);
}

static void stage_drain(net_tls_t *t)
{
	int n = BIO_read(t->wbio, t->stage + t->stage_len, (int)(NET_TLS_STAGE_CAP - t->stage_len));
	if (n > 0)
		t->stage_len += (size_t)n;
}

int net_tls_stage(net_tls_t *t, uv_buf_t *out)
{
	bool encrypt = t->hs_done && !t->failed;
	size_t len;
	int r;

	assert(t->stage_len == 0);
	*out = uv_buf_init(NULL, 0);
	while (t->wactive && t->wi < t->wn && t->wbufs[t->wi].len == 0)
		t->wi++;
	if (BIO_ctrl_pending(t->wbio) == 0 && !(encrypt && t->wactive && t->wi < t->wn))
		goto done;
	if (!t->stage && !(t->stage = malloc(NET_TLS_STAGE_CAP)))
		return UV_ENOMEM;
	stage_drain(t);
	while (encrypt && t->wactive && t->wi < t->wn &&
	       NET_TLS_STAGE_CAP - t->stage_len >= RECORD_ROOM) {
		len = t->wbufs[t->wi].len - t->woff;
		if (len > RECORD_MAX)
			len = RECORD_MAX;
		ERR_clear_error();
		if ((r = SSL_write(t->ssl, t->wbufs[t->wi].base + t->woff, (int)len)) <= 0) {
			session_error(t);
			return UV_EPROTO;
		}
		t->woff += (size_t)r;
		while (t->wi < t->wn && t->woff == t->wbufs[t->wi].len) {
			t->wi++;
			t->woff = 0;
		}
		stage_drain(t);
	}
	*out = uv_buf_init(t->stage, (unsigned)t->stage_len);
done:
	if (t->wactive && t->wi == t->wn && BIO_ctrl_pending(t->wbio) == 0) {
		write_release(t);
		return 1;
	}
	return 0;
}

/* Quiet again: the staging buffer goes, and so does a write BIO that grew (it keeps its largest
 * size otherwise), so an idle connection holds no record-sized buffer. */
void net_tls_sent(net_tls_t *t)
{
	BUF_MEM *bm = NULL;
	BIO *b;

	t->stage_len = 0;
	if (t->wactive || BIO_ctrl_pending(t->wbio) > 0)
		return;
	free(t->stage);
	t->stage = NULL;
	BIO_get_mem_ptr(t->wbio, &bm);
	if (bm && bm->max > 4096 && (b = BIO_new(BIO_s_mem()))) {
		BIO_set_mem_eof_return(b, -1);
		SSL_set0_wbio(t->ssl, b);
		t->wbio = b;
	}
}

size_t net_tls_close_notify(net_tls_t *t, char *out, size_t cap)
{
	size_t n;
	if (!t->hs_done || t->failed)
		return 0;
	ERR_clear_error();
	SSL_shutdown(t->ssl);
	ERR_clear_error();
	if ((n = BIO_ctrl_pending(t->wbio)) == 0 || n > cap)
		return 0;
	return BIO_read(t->wbio, out, (int)n) == (int)n ? n : 0;
}

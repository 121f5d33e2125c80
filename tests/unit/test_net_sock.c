/*
 * net_sock_t over a real loop on loopback, plain and TLS: echo, bulk transfer through tiny owner
 * buffers, plaintext kept in the engine while the owner stops reading, verification and name
 * failures, ALPN, context errors, close ordering, RST vs close_notify. Certificates are made
 * here with OpenSSL into a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/sock.h"
#include "net/tls.h"

/* ---- certificates ---------------------------------------------------------------------------- */

static char dir[64];

static const char *path(const char *name)
{
	static char bufs[8][128];
	static unsigned i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void add_ext(X509 *x, X509V3_CTX *v, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A CA when issuer is NULL (self-signed), else a leaf for san signed by the issuer. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v, NID_basic_constraints, issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
	add_ext(x, &v, NID_subject_key_identifier, "hash");
	if (!issuer)
		add_ext(x, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (san)
		add_ext(x, &v, NID_subject_alt_name, san);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path(name), "w");
	assert_non_null(f);
	if (x)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (key)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static const char *files[] = {"ca.pem", "ca2.pem", "srv.pem", "srv.key", "other.key", "junk.pem"};

static int group_setup(void **state)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *ca2_key = EVP_EC_gen("P-256");
	EVP_PKEY *srv_key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *ca, *ca2, *srv;
	FILE *f;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/s3lb-sock-XXXXXX");
	assert_non_null(mkdtemp(dir));
	ca = make_cert(ca_key, "s3lb test CA", NULL, NULL, NULL);
	ca2 = make_cert(ca2_key, "s3lb other CA", NULL, NULL, NULL);
	srv = make_cert(srv_key, "localhost", ca, ca_key, "DNS:localhost,IP:127.0.0.1");
	write_pem("ca.pem", ca, NULL);
	write_pem("ca2.pem", ca2, NULL);
	write_pem("srv.pem", srv, NULL);
	write_pem("srv.key", NULL, srv_key);
	write_pem("other.key", NULL, other);
	assert_non_null(f = fopen(path("junk.pem"), "w"));
	fputs("not a certificate\n", f);
	fclose(f);
	X509_free(ca);
	X509_free(ca2);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(other);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path(files[i]));
	rmdir(dir);
	return 0;
}

static net_tls_ctx_t *server_ctx(void)
{
	net_tls_ctx_t *ctx;
	char err[256];
	assert_int_equal(
	    net_tls_server_ctx_new(path("srv.pem"), path("srv.key"), &ctx, err, sizeof(err)), 0);
	return ctx;
}

static net_tls_ctx_t *client_ctx(const char *ca)
{
	net_tls_ctx_t *ctx;
	char err[256];
	assert_int_equal(net_tls_client_ctx_new(path(ca), true, &ctx, err, sizeof(err)), 0);
	return ctx;
}

/* ---- the fixture: one loop, one listener, a few peers ------------------------------------ */

#define MAX_PEERS 4

typedef struct peer_s peer_t;
struct peer_s {
	net_sock_t sock;
	char *rbuf, *wbuf;
	size_t rcap, rlen, wcap, wlen;
	uint64_t rx_total, rx_expect, tx_total, tx_goal;
	uv_timer_t timer;
	bool timer_on;
	bool lazy; /* consume from a timer: zero-length allocs, read_start without new bytes */
	bool writing;
	bool closing;
	bool closed;
	int read_status;
	int write_status;
	int connect_status;
	char events[8]; /* 'W' write callback, 'C' close callback, in order */
};

static uv_loop_t loop;
static uv_tcp_t listener;
static uv_timer_t watchdog;
static struct sockaddr_in addr;
static net_tls_ctx_t *accept_ctx; /* NULL: plain */
static void (*on_accepted)(peer_t *p);
static peer_t peers[MAX_PEERS];
static int npeers, nclosed, want_closed;
static bool done;
static bool with_q; /* the plain sockets use a completion queue (uv_try_write fast path) */
static net_sockq_t sq;

static unsigned char pat(uint64_t i)
{
	return (unsigned char)(i * 31 + (i >> 11));
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	fail_msg("timeout");
}

static peer_t *peer_new(size_t rcap, size_t wcap)
{
	peer_t *p;
	assert_true(npeers < MAX_PEERS);
	p = &peers[npeers++];
	p->rcap = rcap;
	p->wcap = wcap;
	p->rbuf = malloc(rcap);
	p->wbuf = malloc(wcap);
	assert_non_null(p->rbuf);
	assert_non_null(p->wbuf);
	uv_timer_init(&loop, &p->timer);
	p->timer.data = p;
	return p;
}

static void event(peer_t *p, char e)
{
	size_t n = strlen(p->events);
	if (n + 1 < sizeof(p->events))
		p->events[n] = e;
}

static void on_peer_closed(net_sock_t *s)
{
	peer_t *p = s->data;
	event(p, 'C');
	p->closed = true;
	if (++nclosed == want_closed && !done) {
		done = true;
		if (with_q)
			net_sockq_close(&sq);
		uv_close((uv_handle_t *)&listener, NULL);
		uv_close((uv_handle_t *)&watchdog, NULL);
	}
}

static void peer_close(peer_t *p)
{
	if (p->closing)
		return;
	p->closing = true;
	uv_close((uv_handle_t *)&p->timer, NULL);
	net_sock_close(&p->sock, on_peer_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	peer_t *p = peer_new(1024, 1024);
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_accept(server, &p->sock, accept_ctx), 0);
	p->sock.data = p;
	if (with_q)
		p->sock.q = &sq;
	on_accepted(p);
}

static void fx_start(net_tls_ctx_t *ctx, void (*accepted)(peer_t *), int closes)
{
	int len = sizeof(addr);
	memset(peers, 0, sizeof(peers));
	npeers = nclosed = 0;
	done = false;
	want_closed = closes;
	accept_ctx = ctx;
	on_accepted = accepted;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init(&loop, &listener), 0);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&listener, (struct sockaddr *)&addr, &len), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&listener, 16, on_connection), 0);
	uv_timer_init(&loop, &watchdog);
	uv_timer_start(&watchdog, on_watchdog, 30000, 0);
	uv_unref((uv_handle_t *)&watchdog);
	if (with_q)
		assert_int_equal(net_sockq_init(&loop, &sq), 0);
}

static void fx_run(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&loop), 0);
	net_tls_ctx_unref(accept_ctx);
	for (int i = 0; i < npeers; i++) {
		free(peers[i].rbuf);
		free(peers[i].wbuf);
	}
}

/* Takes the caller's reference on ctx: the sock holds its own from here. */
static peer_t *connect_peer(net_tls_ctx_t *ctx, const char *sni, size_t rcap, size_t wcap,
                            net_sock_connect_cb cb)
{
	peer_t *p = peer_new(rcap, wcap);
	assert_int_equal(net_sock_connect(&loop, &p->sock, (struct sockaddr *)&addr, ctx, sni, cb),
	                 0);
	p->sock.data = p;
	if (with_q)
		p->sock.q = &sq;
	net_tls_ctx_unref(ctx);
	return p;
}

/* ---- echo server: reads into 1 KiB, writes it back, one write at a time ------------------- */

static void echo_kick(peer_t *p);

/* The free tail of the owner's buffer (zero-length when full: the sock stops reading). */
static void owner_alloc(net_sock_t *s, uv_buf_t *buf)
{
	peer_t *p = s->data;
	*buf = uv_buf_init(p->rbuf + p->rlen, (unsigned)(p->rcap - p->rlen));
}

static void echo_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	if (nread < 0) {
		p->read_status = (int)nread;
	} else {
		assert_ptr_equal(buf->base, p->rbuf + p->rlen);
		assert_true(nread > 0 && (size_t)nread <= p->rcap - p->rlen);
		p->rlen += (size_t)nread;
		p->rx_total += (uint64_t)nread;
	}
	echo_kick(p);
}

static void echo_written(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	assert_int_equal(status, 0);
	p->writing = false;
	p->tx_total += p->wlen;
	echo_kick(p);
}

static void echo_kick(peer_t *p)
{
	uv_buf_t b;
	if (p->closing)
		return;
	if (!p->writing && p->rlen > 0) {
		memcpy(p->wbuf, p->rbuf, p->rlen);
		p->wlen = p->rlen;
		p->rlen = 0;
		b = uv_buf_init(p->wbuf, (unsigned)p->wlen);
		assert_int_equal(net_sock_write(&p->sock, &b, 1, echo_written), 0);
		p->writing = true;
	}
	if (p->read_status == 0)
		assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, echo_read), 0);
	else if (!p->writing && p->rlen == 0)
		peer_close(p);
}

static void echo_accepted(peer_t *p)
{
	echo_kick(p);
}

/* ---- bulk client: writes tx_goal bytes of pattern, checks rx_expect bytes back ------------- */

static void bulk_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf);

static void bulk_maybe_done(peer_t *p)
{
	if (p->rx_total == p->rx_expect && p->tx_total == p->tx_goal && !p->writing)
		peer_close(p);
}

static void bulk_consume(peer_t *p)
{
	for (size_t i = 0; i < p->rlen; i++)
		if ((unsigned char)p->rbuf[i] != pat(p->rx_total + i))
			fail_msg("byte %llu differs", (unsigned long long)(p->rx_total + i));
	p->rx_total += p->rlen;
	p->rlen = 0;
	bulk_maybe_done(p);
}

static void on_bulk_timer(uv_timer_t *t)
{
	peer_t *p = t->data;
	p->timer_on = false;
	bulk_consume(p);
	if (!p->closing)
		assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, bulk_read), 0);
}

static void bulk_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	if (nread < 0)
		fail_msg("read: %s (%s)", uv_strerror((int)nread), net_tls_last_error(s));
	assert_ptr_equal(buf->base, p->rbuf + p->rlen);
	p->rlen += (size_t)nread;
	if (!p->lazy) {
		bulk_consume(p);
	} else if (!p->timer_on) {
		p->timer_on = true;
		uv_timer_start(&p->timer, on_bulk_timer, 0, 0);
	}
}

static void bulk_send(peer_t *p);

static void bulk_written(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	assert_int_equal(status, 0);
	p->writing = false;
	p->tx_total += p->wlen;
	bulk_send(p);
	bulk_maybe_done(p);
}

static void bulk_send(peer_t *p)
{
	uv_buf_t b[2];
	size_t n = p->tx_goal - p->tx_total < p->wcap ? p->tx_goal - p->tx_total : p->wcap;
	if (n == 0 || p->closing)
		return;
	for (size_t i = 0; i < n; i++)
		p->wbuf[i] = (char)pat(p->tx_total + i);
	p->wlen = n;
	/* Two buffers, to check that every one of them goes out, in order. */
	b[0] = uv_buf_init(p->wbuf, (unsigned)(n / 3));
	b[1] = uv_buf_init(p->wbuf + n / 3, (unsigned)(n - n / 3));
	assert_int_equal(net_sock_write(&p->sock, b, 2, bulk_written), 0);
	p->writing = true;
}

static void bulk_connected(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	if (status < 0)
		fail_msg("connect: %s (%s)", uv_strerror(status), net_tls_last_error(s));
	if (net_tls_active(s)) {
		assert_string_equal(net_tls_alpn(s), "http/1.1");
		assert_string_equal(net_tls_version(s), "TLSv1.3");
		assert_true(strlen(net_tls_cipher(s)) > 0);
	}
	bulk_send(p);
	assert_int_equal(net_sock_read_start(s, owner_alloc, bulk_read), 0);
}

/* A bulk client against the server `accepted` sets up: sends tx bytes, expects rx back. */
static void run_bulk(net_tls_ctx_t *sctx, void (*accepted)(peer_t *), net_tls_ctx_t *cctx,
                     const char *sni, size_t rcap, uint64_t tx, uint64_t rx, bool lazy)
{
	peer_t *c;
	fx_start(sctx, accepted, 2);
	c = connect_peer(cctx, sni, rcap, 64 * 1024, bulk_connected);
	c->tx_goal = tx;
	c->rx_expect = rx;
	c->lazy = lazy;
	fx_run();
	assert_true(c->closed);
	assert_int_equal(c->rx_total, rx);
}

static void run_echo(net_tls_ctx_t *sctx, net_tls_ctx_t *cctx, uint64_t total, size_t rcap,
                     bool lazy)
{
	run_bulk(sctx, echo_accepted, cctx, "localhost", rcap, total, total, lazy);
	assert_int_equal(peers[1].rx_total, total);
	assert_int_equal(peers[1].tx_total, total);
	assert_int_equal(peers[1].read_status, UV_EOF);
}

static void test_plain_echo(void **state)
{
	(void)state;
	run_echo(NULL, NULL, 100 * 1000, 64 * 1024, false);
}

static void test_tls_echo(void **state)
{
	(void)state;
	run_echo(server_ctx(), client_ctx("ca.pem"), 100 * 1000, 64 * 1024, false);
}

static void test_plain_bulk_tiny_buffers(void **state)
{
	(void)state;
	run_echo(NULL, NULL, 10 << 20, 1024, true);
}

/* 10 MiB each way through 1 KiB owner buffers on both sides: zero-length allocs, read_start with
 * plaintext pending in the engine, writes of many records. */
static void test_tls_bulk_tiny_buffers(void **state)
{
	(void)state;
	run_echo(server_ctx(), client_ctx("ca.pem"), 10 << 20, 1024, true);
}

/* A server that drops its reference right after accepting keeps serving: the connection holds
 * its own (what a reload's swap relies on). */
static void unref_accepted(peer_t *p)
{
	net_tls_ctx_unref(accept_ctx);
	accept_ctx = NULL;
	echo_kick(p);
}

static void test_tls_ctx_outlives_owner_ref(void **state)
{
	(void)state;
	run_bulk(server_ctx(), unref_accepted, client_ctx("ca.pem"), "localhost", 4096, 50000,
	         50000, false);
}

/* ---- plaintext pending in the engine with nothing more coming from the network ----------- */

static void burst_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	uv_buf_t b;
	(void)buf;
	if (nread < 0) {
		peer_close(p);
		return;
	}
	p->rlen = 0;
	if (p->writing || p->tx_total)
		return;
	/* One 64 KiB write, then silence (the connection stays open) until the client closes. */
	free(p->wbuf);
	p->wbuf = malloc(64 * 1024);
	for (size_t i = 0; i < 64 * 1024; i++)
		p->wbuf[i] = (char)pat(i);
	p->wlen = 64 * 1024;
	b = uv_buf_init(p->wbuf, (unsigned)p->wlen);
	assert_int_equal(net_sock_write(s, &b, 1, echo_written), 0);
	p->writing = true;
}

static void burst_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, burst_read), 0);
}

static void test_tls_pending_plaintext_delivered(void **state)
{
	(void)state;
	run_bulk(server_ctx(), burst_accepted, client_ctx("ca.pem"), "localhost", 1000, 1,
	         64 * 1024, true);
}

/* ---- a server that writes before reading (e.g. an error on accept): the write waits for the
 * handshake, which runs for it although the owner never reads */

static void greeter_written(net_sock_t *s, int status)
{
	assert_int_equal(status, 0);
	peer_close(s->data);
}

static void greeter_accepted(peer_t *p)
{
	uv_buf_t b = uv_buf_init(p->wbuf, 5);
	for (size_t i = 0; i < 5; i++)
		p->wbuf[i] = (char)pat(i);
	assert_int_equal(net_sock_write(&p->sock, &b, 1, greeter_written), 0);
}

static void test_tls_server_writes_first(void **state)
{
	(void)state;
	run_bulk(server_ctx(), greeter_accepted, client_ctx("ca.pem"), "localhost", 1024, 0, 5,
	         false);
}

/* ---- shutdown with TLS: close_notify and FIN, reading goes on ---------------------------------
 * The server answers and ends its sending side (as gateway/conn.c does before lingering after an
 * error): the client must see the end of the stream while the server is still open and reading,
 * and the server then reads the client's own end. Before close_notify went with the shutdown,
 * the client waited for the server's close and the server for the client's: the watchdog. */

static void sd_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	(void)buf;
	if (nread > 0) {
		p->rx_total += (uint64_t)nread;
		return;
	}
	p->read_status = (int)nread;
	peer_close(p); /* the client: at the server's end; the server: at the client's */
}

static void sd_server_written(net_sock_t *s, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_shutdown(s), 0);
	assert_int_equal(net_sock_read_start(s, owner_alloc, sd_read), 0);
}

static void sd_accepted(peer_t *p)
{
	uv_buf_t b = uv_buf_init(p->wbuf, 5);
	memcpy(p->wbuf, "hello", 5);
	assert_int_equal(net_sock_write(&p->sock, &b, 1, sd_server_written), 0);
}

static void sd_connected(net_sock_t *s, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_read_start(s, owner_alloc, sd_read), 0);
}

static void test_tls_shutdown_ends_the_stream(void **state)
{
	peer_t *c;
	(void)state;
	fx_start(server_ctx(), sd_accepted, 2);
	c = connect_peer(client_ctx("ca.pem"), "localhost", 1024, 1024, sd_connected);
	fx_run();
	assert_int_equal(c->rx_total, 5);
	assert_int_equal(c->read_status, UV_EOF);
	assert_int_equal(peers[1].read_status, UV_EOF); /* the server read on to the client's end */
}

/* ---- handshake failures ---------------------------------------------------------------------- */

static void failing_connected(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	p->connect_status = status;
	snprintf(p->events, sizeof(p->events), "%s", status < 0 ? "F" : "");
	if (status < 0)
		assert_true(strlen(net_tls_last_error(s)) > 0);
	peer_close(p);
}

static char last_error[256];

static void failing_connected_keep(net_sock_t *s, int status)
{
	snprintf(last_error, sizeof(last_error), "%s", net_tls_last_error(s));
	failing_connected(s, status);
}

static void check_failure(net_tls_ctx_t *cctx, const char *sni, const char *why)
{
	peer_t *c;
	last_error[0] = 0;
	fx_start(server_ctx(), echo_accepted, 2);
	c = connect_peer(cctx, sni, 1024, 1024, failing_connected_keep);
	fx_run();
	assert_int_equal(c->connect_status, UV_EPROTO);
	assert_true(peers[1].read_status < 0);
	if (!strstr(last_error, why))
		fail_msg("error '%s' lacks '%s'", last_error, why);
}

static void test_tls_wrong_ca(void **state)
{
	(void)state;
	check_failure(client_ctx("ca2.pem"), "localhost", "certificate verify failed");
}

static void test_tls_hostname_mismatch(void **state)
{
	(void)state;
	check_failure(client_ctx("ca.pem"), "wrong.example", "hostname mismatch");
}

static void test_tls_ip_mismatch(void **state)
{
	(void)state;
	check_failure(client_ctx("ca.pem"), "10.9.8.7", "IP address mismatch");
}

/* Without a name the certificate must carry the node's IP address (it does: IP:127.0.0.1). */
static void test_tls_ip_verified_without_sni(void **state)
{
	(void)state;
	run_bulk(server_ctx(), echo_accepted, client_ctx("ca.pem"), NULL, 4096, 1000, 1000, false);
}

/* A TLS client against a plain server fails as a handshake error, not a hang. */
static void test_tls_client_plain_server(void **state)
{
	peer_t *c;
	(void)state;
	last_error[0] = 0;
	fx_start(NULL, echo_accepted, 2);
	c = connect_peer(client_ctx("ca.pem"), "localhost", 1024, 1024, failing_connected_keep);
	fx_run();
	assert_true(c->connect_status < 0);
}

/* ---- ALPN: a client offering only h2 gets none and still talks ------------------------------ */

static int raw_ok;
static char raw_alpn[32];

static void *raw_h2_client(void *arg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	const unsigned char *proto;
	unsigned len;
	char buf[4];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)arg;
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	SSL_get0_alpn_selected(ssl, &proto, &len);
	snprintf(raw_alpn, sizeof(raw_alpn), "%.*s", (int)len, proto ? (const char *)proto : "");
	if (SSL_write(ssl, "ping", 4) != 4 || SSL_read(ssl, buf, 4) != 4 || memcmp(buf, "ping", 4))
		goto out;
	/* Our close_notify, then the server's: a clean bidirectional shutdown. */
	if (SSL_shutdown(ssl) != 0 || SSL_shutdown(ssl) != 1)
		goto out;
	raw_ok = 1;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return NULL;
}

static char srv_alpn[32] = "unset";

static void alpn_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	snprintf(srv_alpn, sizeof(srv_alpn), "%s", net_tls_alpn(s));
	echo_read(s, nread, buf);
}

static void alpn_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, alpn_read), 0);
}

static void test_tls_alpn_h2_only_client(void **state)
{
	pthread_t th;
	(void)state;
	raw_ok = 0;
	fx_start(server_ctx(), alpn_accepted, 1);
	assert_int_equal(pthread_create(&th, NULL, raw_h2_client, NULL), 0);
	fx_run();
	pthread_join(th, NULL);
	assert_int_equal(raw_ok, 1);
	assert_string_equal(raw_alpn, "");
	assert_string_equal(srv_alpn, "");
}

/* ---- shutdown: the peer reads the end of the stream while we still read ---------------------- */

/* A raw client (plain or TLS): sends "ping", reads "pong" and then must see the end of the stream
 * (EOF; with TLS, close_notify) within 2 s while the server has not closed; then it closes. */
static int shut_ok;

static void *shut_client(void *arg)
{
	bool tls = arg != NULL;
	SSL_CTX *ctx = tls ? SSL_CTX_new(TLS_client_method()) : NULL;
	SSL *ssl = NULL;
	char buf[8];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n;
	struct timeval tv = {.tv_sec = 2};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		goto out;
	if (tls) {
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_connect(ssl) != 1 || SSL_write(ssl, "ping", 4) != 4)
			goto out;
	} else if (write(fd, "ping", 4) != 4) {
		goto out;
	}
	for (;;) {
		n = tls ? SSL_read(ssl, buf + got, (int)(sizeof(buf) - got))
		        : (int)read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* the end of the stream, not the 2 s timeout: TLS says so with close_notify */
	if (got == 4 && !memcmp(buf, "pong", 4) &&
	    (tls ? SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN : n == 0))
		shut_ok = 1;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return NULL;
}

static void shut_written(net_sock_t *s, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_shutdown(s), 0);
}

static void shut_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	(void)buf;
	if (nread < 0) {
		/* the client closed after it saw our end: only now do we close */
		p->read_status = (int)nread;
		peer_close(p);
		return;
	}
	p->rlen += (size_t)nread;
	if (p->rlen == 4) {
		uv_buf_t b = uv_buf_init((char *)"pong", 4);
		assert_int_equal(net_sock_write(s, &b, 1, shut_written), 0);
	}
}

static void shut_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, shut_read), 0);
}

static void run_shutdown(bool tls)
{
	pthread_t th;
	shut_ok = 0;
	fx_start(tls ? server_ctx() : NULL, shut_accepted, 1);
	assert_int_equal(pthread_create(&th, NULL, shut_client, tls ? (void *)1 : NULL), 0);
	fx_run();
	pthread_join(th, NULL);
	assert_int_equal(shut_ok, 1);
	assert_int_equal(peers[0].read_status, UV_EOF);
}

static void test_plain_shutdown(void **state)
{
	(void)state;
	run_shutdown(false);
}

/* With TLS, shutdown sends close_notify and the FIN (it once did nothing: a client reading to the
 * end waited for the close, 5 s later after a lingering error response) */
static void test_tls_shutdown(void **state)
{
	(void)state;
	run_shutdown(true);
}

/* ---- context errors ---------------------------------------------------------------------------
 */

static void expect_ctx_error(const char *cert, const char *key, const char *want1,
                             const char *want2)
{
	net_tls_ctx_t *ctx = (net_tls_ctx_t *)1;
	char err[256] = "";
	assert_true(net_tls_server_ctx_new(cert, key, &ctx, err, sizeof(err)) < 0);
	assert_null(ctx);
	if (!strstr(err, want1) || (want2 && !strcasestr(err, want2)))
		fail_msg("error '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_ctx_errors(void **state)
{
	net_tls_ctx_t *ctx = (net_tls_ctx_t *)1;
	char err[256] = "";
	(void)state;
	expect_ctx_error(path("missing.pem"), path("srv.key"), "missing.pem", "no such file");
	expect_ctx_error(path("srv.pem"), path("missing.key"), "missing.key", "no such file");
	expect_ctx_error(path("srv.pem"), path("other.key"), "other.key",
	                 "key does not match certificate");
	expect_ctx_error(path("junk.pem"), path("srv.key"), "junk.pem", "no PEM certificate");
	expect_ctx_error(path("srv.pem"), path("junk.pem"), "junk.pem", "no PEM private key");
	/* The CA file of a client context. */
	assert_true(net_tls_client_ctx_new(path("nope-ca.pem"), true, &ctx, err, sizeof(err)) < 0);
	assert_null(ctx);
	assert_non_null(strstr(err, "nope-ca.pem"));
	/* Without verification the CA does not matter; NULL means the system store. */
	assert_int_equal(net_tls_client_ctx_new(NULL, false, &ctx, err, sizeof(err)), 0);
	net_tls_ctx_unref(ctx);
	assert_int_equal(net_tls_client_ctx_new(NULL, true, &ctx, err, sizeof(err)), 0);
	net_tls_ctx_unref(net_tls_ctx_ref(ctx));
	net_tls_ctx_unref(ctx);
	net_tls_ctx_unref(NULL);
}

/* ---- closing ------------------------------------------------------------------------------- */

static void never_alloc(net_sock_t *s, uv_buf_t *buf)
{
	(void)s;
	*buf = uv_buf_init(NULL, 0);
}

static void never_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)s;
	(void)buf;
	fail_msg("read_cb after a zero-length buffer: %zd", nread);
}

/* The server takes the handshake but no data, so a big write stays pending. */
static void sink_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, never_alloc, never_read), 0);
}

static void pending_written(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	assert_true(
	    p->closing); /* 64 MiB cannot fit in loopback buffers: pending until the close */
	p->write_status = status;
	event(p, 'W');
}

/* Closes the client (twice: idempotent) and the server. */
static void on_close_timer(uv_timer_t *t)
{
	peer_t *p = t->data;
	peer_close(p);
	net_sock_close(&p->sock, on_peer_closed);
	peer_close(&peers[1]);
}

static void pending_connected(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	uv_buf_t b = uv_buf_init(p->wbuf, (unsigned)p->wcap);
	assert_int_equal(status, 0);
	memset(p->wbuf, 'x', p->wcap);
	assert_int_equal(net_sock_write(s, &b, 1, pending_written), 0);
	uv_timer_start(&p->timer, on_close_timer, 200, 0);
}

static void run_close_pending_write(net_tls_ctx_t *sctx, net_tls_ctx_t *cctx)
{
	peer_t *c;
	fx_start(sctx, sink_accepted, 2);
	c = connect_peer(cctx, "localhost", 16, 64 << 20, pending_connected);
	fx_run();
	assert_string_equal(c->events, "WC");
	assert_int_equal(c->write_status, UV_ECANCELED);
}

static void test_plain_close_pending_write(void **state)
{
	(void)state;
	run_close_pending_write(NULL, NULL);
}

static void test_tls_close_pending_write(void **state)
{
	(void)state;
	run_close_pending_write(server_ctx(), client_ctx("ca.pem"));
}

/* Closing while the client handshake runs still gives connect_cb (UV_ECANCELED) first. */
static void hold_accepted(peer_t *p)
{
	(void)p; /* never reads: the handshake cannot complete */
}

static void cancel_connected(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	p->connect_status = status;
	event(p, 'K');
}

static void test_tls_close_during_handshake(void **state)
{
	peer_t *c;
	(void)state;
	fx_start(server_ctx(), hold_accepted, 2);
	c = connect_peer(client_ctx("ca.pem"), "localhost", 16, 16, cancel_connected);
	uv_timer_start(&c->timer, on_close_timer, 100, 0);
	fx_run();
	assert_string_equal(c->events, "KC");
	assert_int_equal(c->connect_status, UV_ECANCELED);
}

/* The server reads one byte then closes, gracefully or with abort_on_close; the client sees
 * UV_EOF (close_notify, or FIN) or UV_ECONNRESET. */
static bool abort_close;

static void on_closer_timer(uv_timer_t *t)
{
	peer_t *p = t->data;
	p->sock.abort_on_close = abort_close;
	peer_close(p);
}

/* Closes a little later: a reset arriving right behind data the client has not read yet (TLS 1.3
 * session tickets) may be reported by the kernel as a plain EOF. */
static void closer_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	(void)buf;
	assert_true(nread > 0);
	uv_timer_start(&p->timer, on_closer_timer, 50, 0);
}

static void closer_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, closer_read), 0);
}

static void probe_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	(void)buf;
	assert_true(nread < 0);
	p->read_status = (int)nread;
	peer_close(p);
}

static void probe_written(net_sock_t *s, int status)
{
	assert_int_equal(status, 0);
	(void)s;
}

/* An empty write completes too; then one byte after an empty buffer. */
static void probe_empty_written(net_sock_t *s, int status)
{
	uv_buf_t b[2] = {uv_buf_init(NULL, 0), uv_buf_init("x", 1)};
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_write(s, b, 2, probe_written), 0);
}

static void probe_connected(net_sock_t *s, int status)
{
	uv_buf_t b = uv_buf_init(NULL, 0);
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_write(s, &b, 1, probe_empty_written), 0);
	assert_int_equal(net_sock_read_start(s, owner_alloc, probe_read), 0);
}

static void run_close_kind(net_tls_ctx_t *sctx, net_tls_ctx_t *cctx, bool abort, int want)
{
	peer_t *c;
	abort_close = abort;
	fx_start(sctx, closer_accepted, 2);
	c = connect_peer(cctx, "localhost", 1024, 16, probe_connected);
	fx_run();
	assert_int_equal(c->read_status, want);
}

static void test_plain_close_kinds(void **state)
{
	(void)state;
	run_close_kind(NULL, NULL, false, UV_EOF);
	run_close_kind(NULL, NULL, true, UV_ECONNRESET);
}

static void test_tls_close_kinds(void **state)
{
	(void)state;
	run_close_kind(server_ctx(), client_ctx("ca.pem"), false, UV_EOF);
	run_close_kind(server_ctx(), client_ctx("ca.pem"), true, UV_ECONNRESET);
}

/* The same plain cases with the completion queue: writes done at once by uv_try_write. */
static void test_queue_echo_bulk_close(void **state)
{
	(void)state;
	with_q = true;
	run_echo(NULL, NULL, 100 * 1000, 64 * 1024, false);
	run_echo(NULL, NULL, 10 << 20, 1024, true);
	run_close_pending_write(NULL, NULL); /* partial try_write, the rest queued in libuv */
	run_close_kind(NULL, NULL, false, UV_EOF);
	run_close_kind(NULL, NULL, true, UV_ECONNRESET);
	with_q = false;
}

static void queued_written(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	p->write_status = status;
	event(p, 'W');
}

/* The server side of the next test: reads and drops, closes at EOF (writes nothing back, so the
 * client's close is clean). */
static void discard_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	peer_t *p = s->data;
	(void)buf;
	if (nread >= 0) {
		p->rx_total += (uint64_t)nread;
		return;
	}
	p->read_status = (int)nread;
	peer_close(p);
}

static void discard_accepted(peer_t *p)
{
	assert_int_equal(net_sock_read_start(&p->sock, owner_alloc, discard_read), 0);
}

/* A write done at once: its callback never runs inside net_sock_write, and a close right after
 * still delivers it (status 0: the bytes went out) before the close callback. */
static void queued_connected(net_sock_t *s, int status)
{
	peer_t *p = s->data;
	uv_buf_t b = uv_buf_init("hello", 5);
	assert_int_equal(status, 0);
	assert_int_equal(net_sock_write(s, &b, 1, queued_written), 0);
	assert_string_equal(p->events, "");
	assert_true(s->q_queued);
	peer_close(p);
}

static void test_queue_close_with_done_write(void **state)
{
	peer_t *c;
	(void)state;
	with_q = true;
	fx_start(NULL, discard_accepted, 2);
	c = connect_peer(NULL, NULL, 64, 64, queued_connected);
	fx_run();
	with_q = false;
	assert_string_equal(c->events, "WC");
	assert_int_equal(c->write_status, 0);
	assert_int_equal(peers[1].read_status, UV_EOF);
	assert_int_equal(peers[1].rx_total, 5);
}

/* Issue 10: when uv_tcp_init failed, the close path called uv_close on a handle never
 * initialised. Now the owner's close_cb comes once and the loop has nothing left. */
static int failing_tcp_init(uv_loop_t *loop, uv_tcp_t *tcp)
{
	(void)loop;
	(void)tcp;
	return UV_ENOMEM;
}

static int init_fail_closes;

static void on_init_fail_closed(net_sock_t *s)
{
	(void)s;
	init_fail_closes++;
}

static void test_tcp_init_failure_closes(void **state)
{
	uv_loop_t loop;
	net_sock_t s;
	struct sockaddr_in addr;
	int (*saved)(uv_loop_t *, uv_tcp_t *) = net__tcp_init;
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_ip4_addr("127.0.0.1", 9, &addr);
	net__tcp_init = failing_tcp_init;
	assert_int_equal(
	    net_sock_connect(&loop, &s, (const struct sockaddr *)&addr, NULL, NULL, NULL),
	    UV_ENOMEM);
	net__tcp_init = saved;
	init_fail_closes = 0;
	net_sock_close(&s, on_init_fail_closed);
	net_sock_close(&s, on_init_fail_closed); /* idempotent */
	assert_int_equal(init_fail_closes, 1);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the fd limit ---------------------------------------------------------------------------- */

static unsigned limit_refused_cb, limit_stuck;

static void on_limit_connection(uv_stream_t *server, int status)
{
	char msg[256];
	if (status >= 0) {
		fail_msg("a connection was accepted at the fd limit");
		return;
	}
	limit_refused_cb++;
	if (net_sock_accept_error(server, status, msg, sizeof(msg)) & NET_ACCEPT_STUCK)
		limit_stuck++;
}

static void on_limit_closed(uv_handle_t *h)
{
	(void)h;
}

/* At the fd limit, a listening loop refuses every waiting connection itself, counted, even when
 * another TCP handle (as an admin connection is) was initialised on that loop after the listener:
 * uv_tcp_init there would turn libuv's own reserve back on, and libuv would refuse them silently
 * (no callback, no count). */
static void test_fd_limit_refusals_counted_after_another_handle(void **state)
{
	enum { NCLIENTS = 5 };
	uv_loop_t loop;
	uv_tcp_t srv, other;
	struct sockaddr_in addr;
	int namelen = sizeof(addr), clients[NCLIENTS], fillers[4096], nfill = 0;
	struct rlimit saved, low;
	uint64_t before = net_sock_accept_errors(NET_ACCEPT_EMFILE);
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(net_tcp_init(&loop, &srv), 0);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&srv, (struct sockaddr *)&addr, &namelen), 0);
	assert_int_equal(net_sock_listen((uv_stream_t *)&srv, 64, on_limit_connection), 0);
	assert_int_equal(net_tcp_init(&loop, &other), 0);
	for (int i = 0; i < NCLIENTS; i++)
		assert_true((clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);

	/* every fd below the limit taken: the next accept fails with EMFILE */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)clients[NCLIENTS - 1] + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < (int)(sizeof(fillers) / sizeof(fillers[0]))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fillers[nfill++] = fd;
	}
	for (int i = 0; i < NCLIENTS; i++)
		assert_int_equal(connect(clients[i], (struct sockaddr *)&addr, sizeof(addr)), 0);

	limit_refused_cb = limit_stuck = 0;
	for (int i = 0; i < 200 && net_sock_accept_errors(NET_ACCEPT_EMFILE) - before < NCLIENTS;
	     i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	while (nfill > 0)
		close(fillers[--nfill]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

	assert_true(limit_refused_cb >= 1);
	assert_int_equal(limit_stuck, 0);
	assert_int_equal(net_sock_accept_errors(NET_ACCEPT_EMFILE) - before, NCLIENTS);
	for (int i = 0; i < NCLIENTS; i++) {
		char c;
		struct timeval tv = {.tv_sec = 2};
		setsockopt(clients[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(recv(clients[i], &c, 1, 0), 0); /* refused: closed by s3lb */
		close(clients[i]);
	}
	uv_close((uv_handle_t *)&other, on_limit_closed);
	uv_close((uv_handle_t *)&srv, on_limit_closed);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_echo),
	    cmocka_unit_test(test_tcp_init_failure_closes),
	    cmocka_unit_test(test_tls_echo),
	    cmocka_unit_test(test_plain_bulk_tiny_buffers),
	    cmocka_unit_test(test_tls_bulk_tiny_buffers),
	    cmocka_unit_test(test_tls_ctx_outlives_owner_ref),
	    cmocka_unit_test(test_tls_pending_plaintext_delivered),
	    cmocka_unit_test(test_tls_server_writes_first),
	    cmocka_unit_test(test_tls_shutdown_ends_the_stream),
	    cmocka_unit_test(test_tls_wrong_ca),
	    cmocka_unit_test(test_tls_hostname_mismatch),
	    cmocka_unit_test(test_tls_ip_mismatch),
	    cmocka_unit_test(test_tls_ip_verified_without_sni),
	    cmocka_unit_test(test_tls_client_plain_server),
	    cmocka_unit_test(test_tls_alpn_h2_only_client),
	    cmocka_unit_test(test_plain_shutdown),
	    cmocka_unit_test(test_tls_shutdown),
	    cmocka_unit_test(test_ctx_errors),
	    cmocka_unit_test(test_plain_close_pending_write),
	    cmocka_unit_test(test_tls_close_pending_write),
	    cmocka_unit_test(test_tls_close_during_handshake),
	    cmocka_unit_test(test_plain_close_kinds),
	    cmocka_unit_test(test_tls_close_kinds),
	    cmocka_unit_test(test_queue_echo_bulk_close),
	    cmocka_unit_test(test_queue_close_with_done_write),
	    cmocka_unit_test(test_fd_limit_refusals_counted_after_another_handle),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

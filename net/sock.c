/*
 * net_sock_t: a byte stream over one uv_tcp_t, plain or TLS. Main loop only.
 *
 * Plain: thin over libuv. TLS: the engine (gateway/tls.c) converts bytes in memory and this file
 * moves the ciphertext:
 *
 *   network --uv_read--> rx (shared, lent to the engine) --SSL_read--> owner's buffer (alloc_cb)
 *   owner's bufs --SSL_write--> engine's staging buffer --uv_write(wreq)--> network
 *
 * One ciphertext write is in flight at a time, whatever produced it (the owner's data, handshake
 * messages, session tickets, key updates, alerts), so bytes leave in the order OpenSSL made them;
 * the owner's write callback fires once the write carrying its last byte completes, and the
 * owner's own one-write rule is untouched by the sock's internal flushes.
 *
 * The network is read only while the engine needs input and someone waits for it (the owner
 * reads, a client handshake runs, or an owner's write waits for the handshake), and not while
 * more than a staging buffer of ciphertext waits to be sent. Plaintext the owner had no room for
 * stays in the engine (at most one rx chunk); read_start hands it over from the idle handle,
 * since no network event may ever come for it. So a connection's memory is bounded by the
 * staging buffer, that chunk and OpenSSL's record buffers.
 *
 * Read side (TLS):
 *
 *   handshake --ok--> open: plaintext to read_cb while the owner gives room
 *       |               |     (clients get connect_cb(0) at "ok")
 *       |               +--EOF / error--> read_err --> delivered once (read_done): to a
 *       +---------error / EOF---------------^          pending connect_cb, else to read_cb
 *                                                      when the owner reads
 *
 * Closing: close_notify is sent with one uv_try_write when every earlier byte is already in the
 * kernel (never with abort_on_close, which resets); then tcp and idle close. close_cb runs when
 * both are closed, after any callback the owner still waits for, and the engine is freed after
 * it, so the owner can still log the session's details in close_cb.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <assert.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/sock.h"
#include "net/tls.h"

/* Ciphertext from the network, lent to the engine only within on_tls_read (see net_tls_feed). */
static _Thread_local char rx[64 * 1024];

static void finish_write(net_sock_t *s, int status)
{
	s->writing = false;
	s->write_cb(s, status);
}

/* The write request of a write queued in libuv: made for it, freed in its callback (or when
 * uv_write fails), so that a connection without a write in libuv's queue holds none. */
static uv_write_t *wreq_new(net_sock_t *s)
{
	assert(!s->wreq);
	if (!(s->wreq = malloc(sizeof(*s->wreq))))
		abort();
	s->wreq->data = s;
	return s->wreq;
}

static void wreq_free(net_sock_t *s)
{
	free(s->wreq);
	s->wreq = NULL;
}

static void finish_connect(net_sock_t *s, int status)
{
	net_sock_connect_cb cb = s->connect_cb;
	s->connect_cb = NULL;
	cb(s, status);
}

/* ---- TLS ---------------------------------------------------------------------------------- */

static void on_tls_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_tx_done(uv_write_t *req, int status);
static void on_idle(uv_idle_t *idle);
static void on_close(uv_handle_t *h);

static void on_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(rx, sizeof(rx));
}

static void tls_update_reading(net_sock_t *s)
{
	net_tls_t *t = s->tls;
	bool waiting = s->reading || s->connect_cb || (s->writing && !net_tls_handshake_done(t));
	bool want = s->connected && !s->closing && !s->net_eof && !s->read_err && waiting &&
	            net_tls_want_input(t) && net_tls_out_pending(t) < NET_TLS_STAGE_CAP;
	int rc;

	if (want && !s->net_reading) {
		if ((rc = uv_read_start((uv_stream_t *)&s->tcp, on_tls_alloc, on_tls_read)) == 0) {
			s->net_reading = true;
		} else {
			s->read_err = rc; /* reported from the idle handle, outside the caller */
			uv_idle_start(net_tls_idle(s->tls), on_idle);
		}
	} else if (!want && s->net_reading) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->net_reading = false;
	}
}

/* Stages the engine's output and writes it; no callback on failure (the caller decides). */
static int tls_send(net_sock_t *s)
{
	uv_buf_t b;
	int ends, rc;

	if ((ends = net_tls_stage(s->tls, &b)) < 0)
		return ends;
	if (b.len == 0 && !ends)
		return 0;
	if ((rc = uv_write(wreq_new(s), (uv_stream_t *)&s->tcp, &b, 1, on_tx_done)) < 0) {
		wreq_free(s);
		net_tls_sent(s->tls);
		return rc;
	}
	s->tx_busy = true;
	s->tx_ends_write = ends > 0;
	return 0;
}

/* From callbacks: sends what is pending; an owner's write that cannot go on fails here. */
static void tls_flush(net_sock_t *s)
{
	int rc;
	if (s->tx_busy || s->closing)
		return;
	rc = tls_send(s);
	if (rc == 0 && !s->tx_busy && s->writing && net_tls_failed(s->tls))
		rc = UV_EPROTO;
	if (rc < 0 && s->writing) {
		net_tls_write_abort(s->tls);
		finish_write(s, rc);
	}
}

static void on_tx_done(uv_write_t *req, int status)
{
	net_sock_t *s = req->data;
	bool ends = s->tx_ends_write;

	wreq_free(s);
	s->tx_busy = false;
	s->tx_ends_write = false;
	net_tls_sent(s->tls);
	if (status == 0 && s->closing && !ends)
		status = UV_ECANCELED; /* the rest of the owner's write will not go */
	if (status < 0) {
		if (s->writing) {
			net_tls_write_abort(s->tls);
			finish_write(s, status);
		}
		return;
	}
	if (ends)
		finish_write(s, 0); /* the owner may write again from here */
	tls_flush(s);
	if (!s->closing)
		tls_update_reading(s);
}

/* Hands read_err over once: to a pending connect_cb, else to read_cb when the owner reads. */
static void tls_report(net_sock_t *s)
{
	uv_buf_t none = uv_buf_init(NULL, 0);

	if (s->read_done || s->closing)
		return;
	if (s->connect_cb) {
		s->read_done = true;
		finish_connect(s, s->read_err);
		return;
	}
	if (s->writing && !s->tx_busy && !net_tls_handshake_done(s->tls)) {
		/* The write waited for a handshake that will not complete. */
		net_tls_write_abort(s->tls);
		finish_write(s, s->read_err == UV_EOF ? UV_ECONNRESET : s->read_err);
		if (s->closing)
			return;
	}
	if (!s->reading)
		return;
	s->read_done = true;
	s->reading = false;
	s->read_cb(s, s->read_err, &none);
}

/* Moves everything that can move without more network input: the handshake, then plaintext
 * into the owner's buffers while it gives room, then a pending EOF or error. */
static void tls_pump(net_sock_t *s)
{
	net_tls_t *t = s->tls;
	uv_buf_t buf;
	ssize_t n;
	int rc;

	if (s->closing)
		return;
	if (!s->read_err && !net_tls_handshake_done(t)) {
		rc = net_tls_handshake(t);
		if (rc == UV_EAGAIN && s->net_eof) {
			net_tls_set_error(t, "connection closed by the peer during the handshake");
			rc = s->connect_cb ? UV_EPROTO : UV_EOF;
		}
		if (rc < 0 && rc != UV_EAGAIN)
			s->read_err = rc;
		tls_flush(s); /* handshake messages or an alert, and a write waiting for them */
		if (rc == 0 && s->connect_cb)
			finish_connect(s, 0);
		if (s->closing)
			return;
	}
	while (!s->read_err && s->reading && net_tls_handshake_done(t) && !net_tls_want_input(t)) {
		s->alloc_cb(s, &buf);
		if (buf.len == 0) {
			s->reading = false; /* the owner has no room: until read_start */
			break;
		}
		n = net_tls_read(t, buf.base, buf.len);
		if (net_tls_out_pending(t) > 0)
			tls_flush(s); /* e.g. a key update answered while reading */
		if (n < 0)
			s->read_err = (int)n;
		if (n <= 0)
			break;
		s->read_cb(s, n, &buf);
		if (s->closing)
			return;
	}
	if (!s->read_err && s->net_eof && net_tls_handshake_done(t) && net_tls_want_input(t))
		s->read_err = UV_EOF; /* the peer closed without close_notify: HTTP frames itself */
	if (s->read_err)
		tls_report(s);
	if (!s->closing)
		tls_update_reading(s);
}

static void on_idle(uv_idle_t *idle)
{
	net_sock_t *s = idle->data;
	uv_idle_stop(idle);
	tls_pump(s);
}

static void on_tls_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	net_sock_t *s = stream->data;
	int rc;

	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(stream);
		s->net_reading = false;
		if (nread == UV_EOF)
			s->net_eof = true;
		else
			s->read_err = (int)nread;
		tls_pump(s);
		return;
	}
	if ((rc = net_tls_feed(s->tls, buf->base, (size_t)nread)) == 0) {
		tls_pump(s);
		rc = net_tls_feed_end(s->tls);
	}
	if (rc < 0 && !s->read_err) {
		s->read_err = rc;
		tls_report(s);
		if (!s->closing)
			tls_update_reading(s);
	}
}

static int tls_init(net_sock_t *s, net_tls_ctx_t *ctx, const char *peer_name)
{
	int rc;
	if ((rc = net_tls_new(ctx, peer_name, &s->tls)) < 0)
		return rc;
	uv_idle_init(s->tcp.loop, net_tls_idle(s->tls));
	net_tls_idle(s->tls)->data = s;
	s->handles++;
	return 0;
}

static void tls_read_start(net_sock_t *s)
{
	if (s->read_done || s->closing)
		return;
	if (!s->reading) {
		s->reading = true;
		if (s->read_err || (net_tls_handshake_done(s->tls) && !net_tls_want_input(s->tls)))
			uv_idle_start(net_tls_idle(s->tls), on_idle);
	}
	tls_update_reading(s);
}

static int tls_write(net_sock_t *s, const uv_buf_t *bufs, unsigned nbufs)
{
	int rc;
	if (net_tls_failed(s->tls))
		return UV_EPROTO;
	if ((rc = net_tls_write_begin(s->tls, bufs, nbufs)) < 0)
		return rc;
	s->writing = true;
	if (!s->tx_busy && (rc = tls_send(s)) < 0) {
		net_tls_write_abort(s->tls);
		s->writing = false;
		return rc;
	}
	tls_update_reading(s);
	return 0;
}

/* close_notify, never waiting: only when every byte before it is in the kernel (a ciphertext
 * write's callback may still be pending), so the stream stays in order. 0 when it went (or there
 * was nothing to send: not yet in a session, or sent before). */
static int tls_close_notify(net_sock_t *s)
{
	char notify[256];
	uv_buf_t b;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) != 0)
		return UV_EBUSY;
	b = uv_buf_init(notify, (unsigned)net_tls_close_notify(s->tls, notify, sizeof(notify)));
	if (b.len > 0 && uv_try_write((uv_stream_t *)&s->tcp, &b, 1) != (int)b.len)
		return UV_EAGAIN;
	return 0;
}

/* close_notify, best effort; then the handles close. */
static void tls_close(net_sock_t *s)
{
	if (s->connected && !s->abort_on_close)
		(void)tls_close_notify(s);
	uv_close((uv_handle_t *)net_tls_idle(s->tls), on_close);
}

/* ---- plain, and the common entry points ---------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	net_sock_t *s = h->data;
	(void)suggested;
	s->alloc_cb(s, buf);
	/* A zero-length buffer means the owner has no space: libuv then calls on_read with
	 * UV_ENOBUFS, where reading stops (not here: uv_read_stop clears the read callback that
	 * libuv is about to call). */
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	net_sock_t *s = stream->data;
	if (nread == UV_ENOBUFS) {
		uv_read_stop(stream);
		s->reading = false;
		return;
	}
	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(stream);
		s->reading = false;
	}
	s->read_cb(s, nread, buf);
}

/* ---- listening at the fd limit ------------------------------------------------------------ */

/*
 * The fd given up to refuse connections at EMFILE: one per process (the fd table is the
 * process's; any worker's loop may give it up or take it back), once the process listens. Rule:
 * whenever libuv may call accept(2), either the reserve is held or one fd is free; otherwise EMFILE
 * comes back at once from every accept and libuv calls the connection callback again and again
 * without returning to the loop. So the refusal gives the reserve up and leaves the slot free; the
 * loop's check handle (net_sockq) takes it back after the poll phase; a connection that libuv
 * accepts into the free slot before that is itself refused when the reserve cannot be taken back;
 * an outgoing connect fails with UV_EMFILE.
 */
static _Atomic int reserve_fd = -1;
static _Atomic bool reserve_wanted;
static _Atomic uint64_t accept_errors[NET_ACCEPT_NREASONS];
/* Rate limit of the log line, every thread together: the second of the last line, and what was
 * refused since then without a line. */
static _Atomic uint64_t accept_log_sec;
static _Atomic uint64_t accept_unlogged;

const char *net_accept_reason_name(net_accept_reason_t r)
{
	static const char *const names[] = {"emfile", "enfile", "other"};
	return r < NET_ACCEPT_NREASONS ? names[r] : "?";
}

uint64_t net_sock_accept_errors(net_accept_reason_t r)
{
	return r < NET_ACCEPT_NREASONS ? atomic_load(&accept_errors[r]) : 0;
}

/* false: this thread listens and the reserve cannot be held (no fd free). */
static bool reserve_take(void)
{
	int fd, none = -1;
	if (!atomic_load(&reserve_wanted) || atomic_load(&reserve_fd) >= 0)
		return true;
	if ((fd = open("/", O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	if (!atomic_compare_exchange_strong(&reserve_fd, &none, fd))
		close(fd); /* another thread took it back first */
	return true;
}

/* libuv keeps a reserve of its own for the same purpose, but refuses with it silently, before
 * any callback. It reopens it in every uv_tcp_init while it has none; every socket of ours gives
 * it up again (an open and a close of "/" per socket), and so does net_tcp_init for the other TCP
 * handles on a listening loop (listeners, admin connections): one left on would refuse that
 * loop's connections at the limit uncounted and unlogged until the next socket of ours, which at
 * the limit may never come. */
static void libuv_reserve_off(uv_loop_t *loop)
{
	if (loop->emfile_fd != -1) {
		close(loop->emfile_fd);
		loop->emfile_fd = -1;
	}
}

int net_tcp_init(uv_loop_t *loop, uv_tcp_t *tcp)
{
	int rc = uv_tcp_init(loop, tcp);
	libuv_reserve_off(loop);
	return rc;
}

int net_sock_listen(uv_stream_t *server, int backlog, uv_connection_cb cb)
{
	reserve_wanted = true;
	(void)reserve_take();
	libuv_reserve_off(server->loop);
	return uv_listen(server, backlog, cb);
}

static void count_refused(net_accept_reason_t r, uint64_t n)
{
	atomic_fetch_add(&accept_errors[r], n);
	atomic_fetch_add(&accept_unlogged, n);
}

int net_sock_accept_error(uv_stream_t *server, int status, char *msg, size_t msglen)
{
	net_accept_reason_t r = status == UV_EMFILE   ? NET_ACCEPT_EMFILE
	                        : status == UV_ENFILE ? NET_ACCEPT_ENFILE
	                                              : NET_ACCEPT_OTHER;
	uint64_t n = 1, sec, last, total;
	int ret = 0;
	struct timespec now;
	struct rlimit rl = {0, 0};
	uv_os_fd_t fd;

	/* one clock for every thread: each loop's uv_now has its own origin */
	clock_gettime(CLOCK_MONOTONIC, &now);
	sec = (uint64_t)now.tv_sec + 1;
	libuv_reserve_off(server->loop);
	int spare = r != NET_ACCEPT_OTHER ? atomic_exchange(&reserve_fd, -1) : -1;
	if (spare >= 0 && uv_fileno((uv_handle_t *)server, &fd) == 0) {
		/* What nginx and libuv do: free one fd, accept and close what waits. The slot stays
		 * free until the check handle takes the reserve back (see above). */
		close(spare);
		n = 0;
		for (;;) {
			int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c >= 0) {
				close(c);
				n++;
			} else if (errno != EINTR && errno != ECONNABORTED) {
				break;
			}
		}
	}
	if (r != NET_ACCEPT_OTHER && spare < 0) {
		/* nothing was refused: the connection waits in the listen queue */
		n = 0;
		ret |= NET_ACCEPT_STUCK;
	}
	count_refused(r, n);
	last = atomic_load(&accept_log_sec);
	if (last == sec || !atomic_compare_exchange_strong(&accept_log_sec, &last, sec))
		return ret;
	if ((total = atomic_exchange(&accept_unlogged, 0)) == 0)
		return ret; /* nothing refused yet (stuck): the caller says what it does */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 0;
	snprintf(msg, msglen,
	         "%s: %llu connection(s) refused or failed since the last such line (open file "
	         "limit %llu)",
	         uv_strerror(status), (unsigned long long)total, (unsigned long long)rl.rlim_cur);
	return ret | NET_ACCEPT_LOG;
}

bool net_sock_accept_keep(void)
{
	if (reserve_take())
		return true;
	count_refused(NET_ACCEPT_EMFILE, 1);
	return false;
}

int (*net__tcp_init)(uv_loop_t *loop, uv_tcp_t *tcp) = uv_tcp_init;

static int sock_init(uv_loop_t *loop, net_sock_t *s)
{
	int rc;
	memset(s, 0, sizeof(*s));
	/* on failure handles stays 0: net_sock_close then has no handle to close */
	if ((rc = net__tcp_init(loop, &s->tcp)) < 0)
		return rc;
	libuv_reserve_off(loop);
	s->tcp.data = s;
	s->handles = 1;
	return 0;
}

int net_sock_accept(uv_stream_t *server, net_sock_t *s, net_tls_ctx_t *tls_ctx)
{
	int rc;
	if ((rc = sock_init(server->loop, s)) < 0)
		return rc;
	if ((rc = uv_accept(server, (uv_stream_t *)&s->tcp)) < 0)
		return rc;
	if (!net_sock_accept_keep())
		return UV_EMFILE; /* it took the free slot that the next refusal needs: refused */
	uv_tcp_nodelay(&s->tcp, 1);
	s->connected = true;
	/* A server handshake starts when the owner reads: the client speaks first. */
	return tls_ctx ? tls_init(s, tls_ctx, NULL) : 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	net_sock_t *s = req->data;
	free(req); /* its callback comes once, also after a close (UV_ECANCELED) */
	if (status == 0) {
		uv_tcp_nodelay(&s->tcp, 1);
		s->connected = true;
	}
	if (status < 0 || !s->tls)
		finish_connect(s, status);
	else
		tls_pump(s); /* ClientHello; connect_cb comes when the handshake ends */
}

int net_sock_connect(uv_loop_t *loop, net_sock_t *s, const struct sockaddr *addr,
                     net_tls_ctx_t *tls_ctx, const char *sni, net_sock_connect_cb cb)
{
	char ip[INET6_ADDRSTRLEN] = "";
	uv_connect_t *creq;
	int rc;
	if ((rc = sock_init(loop, s)) < 0)
		return rc;
	if (!reserve_take())
		return UV_EMFILE; /* the fd would be the one that refusing connections needs */
	if (tls_ctx) {
		/* Without a name, the node's certificate must carry its IP address. */
		if (!sni && addr->sa_family == AF_INET)
			uv_ip4_name((const struct sockaddr_in *)addr, ip, sizeof(ip));
		else if (!sni && addr->sa_family == AF_INET6)
			uv_ip6_name((const struct sockaddr_in6 *)addr, ip, sizeof(ip));
		if ((rc = tls_init(s, tls_ctx, sni ? sni : ip[0] ? ip : NULL)) < 0)
			return rc;
	}
	/* the connect request is needed only until its callback: not part of the sock */
	if (!(creq = malloc(sizeof(*creq))))
		abort();
	creq->data = s;
	if ((rc = uv_tcp_connect(creq, &s->tcp, addr, on_connect)) < 0) {
		free(creq);
		return rc;
	}
	s->connect_cb = cb;
	return 0;
}

int net_sock_read_start(net_sock_t *s, net_sock_alloc_cb alloc_cb, net_sock_read_cb read_cb)
{
	int rc;
	s->alloc_cb = alloc_cb;
	s->read_cb = read_cb;
	if (s->tls) {
		tls_read_start(s);
		return 0;
	}
	if (s->reading || s->closing)
		return 0;
	if ((rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read)) == 0)
		s->reading = true;
	return rc;
}

int net_sock_read_stop(net_sock_t *s)
{
	if (s->tls) {
		s->reading = false;
		if (!s->closing) {
			uv_idle_stop(net_tls_idle(s->tls));
			tls_update_reading(s);
		}
		return 0;
	}
	if (!s->reading)
		return 0;
	s->reading = false;
	return uv_read_stop((uv_stream_t *)&s->tcp);
}

static void on_write(uv_write_t *req, int status)
{
	net_sock_t *s = req->data;
	wreq_free(s);
	finish_write(s, status);
}

/* ---- completion queue -------------------------------------------------------------------- */

static void on_q_idle(uv_idle_t *h);

static void q_push(net_sockq_t *q, net_sock_t *s)
{
	s->q_next = NULL;
	s->q_queued = true;
	if (q->tail)
		q->tail->q_next = s;
	else
		q->head = s;
	q->tail = s;
	uv_idle_start(&q->idle, on_q_idle);
}

static void q_unlink(net_sockq_t *q, net_sock_t *s)
{
	net_sock_t **pp = &q->head, *prev = NULL;
	while (*pp && *pp != s) {
		prev = *pp;
		pp = &(*pp)->q_next;
	}
	if (!*pp)
		return;
	*pp = s->q_next;
	if (q->tail == s)
		q->tail = prev;
	s->q_next = NULL;
	s->q_queued = false;
}

/* Delivers the completions queued before this pass; those queued by the callbacks wait for the
 * next pass (next iteration: the idle handle keeps poll from blocking meanwhile). */
static void q_run(net_sockq_t *q)
{
	net_sock_t *s = q->head, *last = q->tail;
	q->head = q->tail = NULL;
	while (s) {
		net_sock_t *next = s->q_next;
		bool end = s == last;
		s->q_next = NULL;
		s->q_queued = false;
		finish_write(s, 0);
		if (end)
			break;
		s = next;
	}
	if (!q->head)
		uv_idle_stop(&q->idle);
}

static void on_q_check(uv_check_t *h)
{
	(void)reserve_take(); /* after the poll phase, where a refusal gave it up */
	q_run(h->data);
}

static void on_q_idle(uv_idle_t *h)
{
	q_run(h->data);
}

int net_sockq_init(uv_loop_t *loop, net_sockq_t *q)
{
	memset(q, 0, sizeof(*q));
	uv_check_init(loop, &q->check);
	uv_idle_init(loop, &q->idle);
	q->check.data = q->idle.data = q;
	uv_check_start(&q->check, on_q_check);
	uv_unref((uv_handle_t *)&q->check); /* only waiting completions keep the loop alive */
	q->open = true;
	return 0;
}

void net_sockq_close(net_sockq_t *q)
{
	if (!q->open)
		return;
	q_run(q);
	q->open = false;
	uv_close((uv_handle_t *)&q->check, NULL);
	uv_close((uv_handle_t *)&q->idle, NULL);
}

/* ---- writes ---------------------------------------------------------------------------------- */

#define TRY_BUFS 8

static int sock_write(net_sock_t *s, const uv_buf_t *bufs, unsigned nbufs, net_sock_write_cb cb,
                      bool now)
{
	uv_buf_t rest[TRY_BUFS];
	int rc;
	assert(!s->writing);
	if (s->closing)
		return UV_ECANCELED;
	s->write_cb = cb;
	if (s->tls)
		return tls_write(s, bufs, nbufs);
	if ((now || (s->q && s->q->open)) && nbufs <= TRY_BUFS) {
		/* Try now: usually the kernel takes it all and libuv never queues a request. */
		size_t total = 0, done;
		int n = uv_try_write((uv_stream_t *)&s->tcp, bufs, nbufs);
		for (unsigned i = 0; i < nbufs; i++)
			total += bufs[i].len;
		done = n > 0 ? (size_t)n : 0;
		if (done == total) {
			if (now)
				return 1; /* the caller goes on at once; no callback */
			s->writing = true;
			q_push(s->q, s);
			return 0;
		}
		/* The rest (or all of it, after EAGAIN or an error, which uv_write reports) through
		 * libuv's queue. */
		unsigned k = 0;
		for (unsigned i = 0; i < nbufs; i++) {
			if (done >= bufs[i].len) {
				done -= bufs[i].len;
				continue;
			}
			rest[k++] =
			    uv_buf_init(bufs[i].base + done, (unsigned)(bufs[i].len - done));
			done = 0;
		}
		bufs = rest;
		nbufs = k;
	}
	if ((rc = uv_write(wreq_new(s), (uv_stream_t *)&s->tcp, bufs, nbufs, on_write)) == 0)
		s->writing = true;
	else
		wreq_free(s);
	return rc;
}

int net_sock_write(net_sock_t *s, const uv_buf_t *bufs, unsigned nbufs, net_sock_write_cb cb)
{
	return sock_write(s, bufs, nbufs, cb, false);
}

int net_sock_write_now(net_sock_t *s, const uv_buf_t *bufs, unsigned nbufs, net_sock_write_cb cb)
{
	return sock_write(s, bufs, nbufs, cb, true);
}

/* Runs for each handle; the last one ends the sock. */
static void on_close(uv_handle_t *h)
{
	net_sock_t *s = h->data;
	net_tls_t *t = s->tls;

	if (--s->handles > 0)
		return;
	/* libuv has run the callbacks of queued requests; these were waiting on the sock itself. A
	 * write done at once was done: its status is 0. */
	if (s->q_queued) {
		q_unlink(s->q, s);
		finish_write(s, 0);
	} else if (s->writing) {
		finish_write(s, UV_ECANCELED);
	}
	if (s->connect_cb)
		finish_connect(s, UV_ECANCELED);
	if (s->close_cb)
		s->close_cb(s);
	net_tls_free(t);
}

void net_sock_close(net_sock_t *s, net_sock_close_cb cb)
{
	if (s->closing)
		return;
	s->closing = true;
	s->reading = false;
	s->close_cb = cb;
	if (s->handles == 0) {
		/* uv_tcp_init failed: nothing was opened, nothing can be pending; the owner still
		 * gets its one close_cb (here, from inside this call) */
		if (cb)
			cb(s);
		return;
	}
	if (s->tls)
		tls_close(s);
	if (s->abort_on_close) {
		uv_os_fd_t fd;
		if (uv_fileno((uv_handle_t *)&s->tcp, &fd) == 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
	}
	uv_close((uv_handle_t *)&s->tcp, on_close);
}

int net_sock_shutdown(net_sock_t *s)
{
	uv_os_fd_t fd;
	int rc;
	if (s->closing || s->writing)
		return UV_EINVAL;
	if (uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0)
		return UV_EBADF;
	/* TLS: close_notify first, so that the peer sees the end of the stream as it does with
	 * plain TCP (a client that reads to the end would otherwise wait for our close) */
	if (s->tls && (rc = tls_close_notify(s)) < 0)
		return rc;
	if (shutdown(fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

void net_sock_peer_addr(net_sock_t *s, net_peer_t *p)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	memset(p, 0, sizeof(*p));
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		p->family = AF_INET;
		memcpy(p->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		p->family = AF_INET6;
		memcpy(p->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	}
}

void net_peer_text(const net_peer_t *p, char *buf, size_t len)
{
	buf[0] = 0;
	if (p->family && uv_inet_ntop(p->family, p->addr, buf, len) != 0)
		buf[0] = 0;
}

void net_sock_peer(net_sock_t *s, char *buf, size_t len)
{
	net_peer_t p;
	net_sock_peer_addr(s, &p);
	net_peer_text(&p, buf, len);
}

/*
 * net/client.c against a scripted server on the same loop (loopback): responses whole and in
 * pieces, chunked with trailers, interim heads, HEAD, truncation, every timer (and that each runs
 * only while the connection waits for the server), backpressure through lent bytes, keep-alive
 * reuse, and what an idle connection does with stray bytes or the server's close. Every test
 * ends with uv_loop_close() == 0: no handle left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/client.h"

/* ---- the scripted server ----------------------------------------------------------------------
 */

typedef struct {
	uv_tcp_t listener;
	uv_tcp_t conn;
	bool have_conn, conn_closed;
	char got[1 << 16]; /* what the server received */
	size_t got_len;
	const char *answer; /* sent once a request head has arrived (NULL: silent) */
	size_t answer_len;
	bool read;        /* the server reads (false: it never reads, the client's writes pile) */
	bool close_after; /* close after answering */
	int port;
	uv_write_t wreq;
	uv_timer_t later; /* sends `later_bytes` after later_ms */
	const char *later_bytes;
	uint64_t later_ms;
} server_t;

static void srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	server_t *s = h->data;
	(void)n;
	*b = uv_buf_init(s->got + s->got_len, (unsigned)(sizeof(s->got) - s->got_len));
}

static void srv_closed(uv_handle_t *h)
{
	server_t *s = h->data;
	s->conn_closed = true;
}

static void srv_close_conn(server_t *s)
{
	if (s->have_conn && !uv_is_closing((uv_handle_t *)&s->conn))
		uv_close((uv_handle_t *)&s->conn, srv_closed);
}

static void srv_written(uv_write_t *w, int status)
{
	server_t *s = w->data;
	(void)status;
	if (s->close_after)
		srv_close_conn(s);
}

static void srv_send(server_t *s, const char *b, size_t n)
{
	uv_buf_t buf = uv_buf_init((char *)b, (unsigned)n);
	s->wreq.data = s;
	assert_int_equal(uv_write(&s->wreq, (uv_stream_t *)&s->conn, &buf, 1, srv_written), 0);
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	server_t *s = st->data;
	(void)b;
	if (n < 0) {
		srv_close_conn(s);
		return;
	}
	s->got_len += (size_t)n;
	if (s->answer && memmem(s->got, s->got_len, "\r\n\r\n", 4)) {
		const char *a = s->answer;
		s->answer = NULL;
		srv_send(s, a, s->answer_len);
	}
}

static void on_later(uv_timer_t *t)
{
	server_t *s = t->data;
	if (s->have_conn && !uv_is_closing((uv_handle_t *)&s->conn))
		srv_send(s, s->later_bytes, strlen(s->later_bytes));
}

static void srv_accept(uv_stream_t *l, int status)
{
	server_t *s = l->data;
	assert_int_equal(status, 0);
	assert_false(s->have_conn);
	uv_tcp_init(l->loop, &s->conn);
	s->conn.data = s;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&s->conn), 0);
	s->have_conn = true;
	if (s->read)
		uv_read_start((uv_stream_t *)&s->conn, srv_alloc, srv_read);
	if (s->later_bytes)
		uv_timer_start(&s->later, on_later, s->later_ms, 0);
}

static void srv_start(uv_loop_t *loop, server_t *s, const char *answer)
{
	struct sockaddr_in a;
	int len = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->read = true;
	s->answer = answer;
	s->answer_len = answer ? strlen(answer) : 0;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	uv_timer_init(loop, &s->later);
	s->later.data = s;
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, srv_accept), 0);
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
}

static void srv_stop(server_t *s)
{
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_close((uv_handle_t *)&s->later, NULL);
	srv_close_conn(s);
}

/* ---- the client under test, and what it reported ----------------------------------------------
 */

typedef struct {
	net_client_t cl;
	uv_loop_t *loop;
	server_t *srv;
	int connected; /* 1 ok, < 0 failed */
	int heads;
	int statuses[4];
	char body[1 << 20];
	size_t body_len;
	bool hold; /* keep lent bytes instead of consuming them */
	bool done, reusable, closed;
	net_client_err_t err;
	const char *why;
	net_client_idle_t idle_why;
	int written;
	bool stop_on_done; /* stop the loop at on_done */
	/* on_recv (test_recv_and_decoded_body) */
	size_t recv_bytes;
	int recv_calls;
	int heads_at_first_recv;
	char decoded[256];
	size_t decoded_len;
} probe_t;

static probe_t *P(net_client_t *cl)
{
	return cl->data;
}

static void on_connect(net_client_t *cl, int status)
{
	P(cl)->connected = status < 0 ? status : 1;
	uv_stop(P(cl)->loop);
}

static void on_written(net_client_t *cl)
{
	P(cl)->written++;
}

static void on_head(net_client_t *cl, const net_http_t *h, const char *msg)
{
	probe_t *p = P(cl);
	(void)msg;
	assert_true(p->heads < 4);
	p->statuses[p->heads++] = net_http_status(h);
}

static void on_body(net_client_t *cl, const char *data, size_t len)
{
	probe_t *p = P(cl);
	assert_true(p->body_len + len <= sizeof(p->body));
	if (len)
		memcpy(p->body + p->body_len, data, len);
	p->body_len += len;
	if (!p->hold && len)
		net_client_consumed(cl);
	if (p->hold && len)
		uv_stop(p->loop);
}

static void on_done(net_client_t *cl, bool reusable)
{
	P(cl)->done = true;
	P(cl)->reusable = reusable;
	uv_stop(P(cl)->loop);
}

static void on_error(net_client_t *cl, net_client_err_t e, int status, const char *why)
{
	(void)status;
	P(cl)->err = e;
	P(cl)->why = why;
	uv_stop(P(cl)->loop);
}

static void on_idle_end(net_client_t *cl, net_client_idle_t why)
{
	P(cl)->idle_why = why;
	uv_stop(P(cl)->loop);
}

static void on_close(net_client_t *cl)
{
	P(cl)->closed = true;
}

static const net_client_cbs_t cbs = {on_connect, on_written,  on_head,  on_body, on_done,
                                     on_error,   on_idle_end, on_close, NULL};

static void on_recv(net_client_t *cl, size_t n)
{
	probe_t *p = P(cl);
	if (p->recv_calls++ == 0)
		p->heads_at_first_recv = p->heads;
	p->recv_bytes += n;
}

static const net_client_cbs_t cbs_recv = {on_connect, on_written,  on_head,  on_body, on_done,
                                          on_error,   on_idle_end, on_close, on_recv};

static void on_decoded(void *arg, const char *data, size_t len)
{
	probe_t *p = arg;
	assert_true(p->decoded_len + len <= sizeof(p->decoded));
	memcpy(p->decoded + p->decoded_len, data, len);
	p->decoded_len += len;
}

static const net_client_conf_t conf = {.connect_ms = 1000,
                                       .send_ms = 1000,
                                       .head_ms = 1000,
                                       .read_ms = 1000,
                                       .buffer_size = 4096,
                                       .max_headers = 50};

/* A loop, a server answering `answer`, and a connected client. */
static void setup_ex(uv_loop_t *loop, server_t *s, probe_t *p, const char *answer,
                     size_t answer_len, const net_client_conf_t *c, bool server_reads)
{
	struct sockaddr_in a;
	memset(p, 0, sizeof(*p));
	assert_int_equal(uv_loop_init(loop), 0);
	srv_start(loop, s, answer);
	s->answer_len = answer_len;
	s->read = server_reads;
	p->loop = loop;
	p->srv = s;
	net_client_init(loop, &p->cl, &cbs, c ? c : &conf, p);
	uv_ip4_addr("127.0.0.1", s->port, &a);
	assert_int_equal(net_client_connect(&p->cl, (const struct sockaddr *)&a, NULL, NULL), 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(p->connected, 1);
	while (!s->have_conn)
		uv_run(loop, UV_RUN_ONCE); /* the server's side of the connection too */
}

static void setup(uv_loop_t *loop, server_t *s, probe_t *p, const char *answer,
                  const net_client_conf_t *c)
{
	setup_ex(loop, s, p, answer, answer ? strlen(answer) : 0, c, true);
}

static void on_deadline(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop for ms, or until a callback stops it first. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, on_deadline, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

/* Runs until a callback stops the loop (10 s at most: a hang fails the test). */
static void run_until_stop(probe_t *p)
{
	uint64_t t0 = uv_now(p->loop);
	run_for(p->loop, 10000);
	assert_true(uv_now(p->loop) - t0 < 10000);
}

static void teardown(uv_loop_t *loop, server_t *s, probe_t *p)
{
	net_client_close(&p->cl, false);
	srv_stop(s);
	/* (a uv_stop from a callback run outside uv_run would end the first run at once) */
	while (uv_run(loop, UV_RUN_DEFAULT))
		;
	assert_true(p->closed);
	assert_int_equal(uv_loop_close(loop), 0); /* nothing left behind */
}

static void request(probe_t *p, bool head, const char *req)
{
	uv_buf_t b = uv_buf_init((char *)req, (unsigned)strlen(req));
	assert_int_equal(net_client_begin(&p->cl, head, NULL), 0);
	assert_true(net_client_write(&p->cl, &b, 1) >= 0);
	net_client_request_done(&p->cl);
}

/* ---- the tests --------------------------------------------------------------------------------
 */

static void test_get_then_reuse(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", NULL);
	request(&p, false, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_true(p.reusable);
	assert_int_equal(p.heads, 1);
	assert_int_equal(p.statuses[0], 200);
	assert_int_equal(p.body_len, 5);
	assert_memory_equal(p.body, "hello", 5);
	assert_true(memmem(s.got, s.got_len, "GET /a HTTP/1.1", 15) != NULL);
	/* the same connection again */
	p.done = false;
	p.heads = 0;
	p.body_len = 0;
	s.answer = "HTTP/1.1 204 No Content\r\n\r\n";
	s.answer_len = strlen(s.answer);
	s.got_len = 0;
	request(&p, false, "DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_int_equal(p.statuses[0], 204);
	assert_true(p.cl.bodyless);
	/* idle, then the server closes it */
	net_client_idle(&p.cl, 5000);
	srv_close_conn(&s);
	run_until_stop(&p);
	assert_int_equal(p.idle_why, NET_CLIENT_IDLE_CLOSED);
	teardown(&loop, &s, &p);
}

static void test_chunked_raw_with_trailers(void **state)
{
	static const char resp[] =
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum: AAAA\r\n\r\n";
	uv_loop_t loop;
	server_t s;
	probe_t p;
	const char *body = strstr(resp, "\r\n\r\n") + 4;
	(void)state;
	setup(&loop, &s, &p, resp, NULL);
	request(&p, false, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_true(p.reusable);
	/* the body is lent raw: framing and trailers as the server sent them */
	assert_int_equal(p.body_len, strlen(body));
	assert_memory_equal(p.body, body, p.body_len);
	teardown(&loop, &s, &p);
}

/* on_recv sees every byte of the response (head, framing, trailers) as it arrives, the first
 * before the head is complete, while resp.body_cb gets the decoded body: what the bench needs to
 * time the first byte and verify a chunked body. */
static void test_recv_and_decoded_body(void **state)
{
	static const char part1[] = "HTTP/1.1 200 OK\r\nTransfer-Enc";
	static const char part2[] =
	    "oding: chunked\r\n\r\n"
	    "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum: AAAA\r\n\r\n";
	static const char second[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, part1, NULL);
	p.cl.cb = &cbs_recv; /* the same callbacks, and on_recv */
	p.cl.resp.body_cb = on_decoded;
	p.cl.resp.body_arg = &p;
	s.later_bytes = part2;
	request(&p, false, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	uv_timer_start(&s.later, on_later, 30, 0); /* the rest of the head comes later */
	run_until_stop(&p);
	assert_true(p.done);
	assert_true(p.reusable);
	assert_true(p.recv_calls >= 2);
	assert_int_equal(p.heads_at_first_recv, 0);
	assert_int_equal(p.recv_bytes, strlen(part1) + strlen(part2));
	assert_int_equal(p.decoded_len, 11);
	assert_memory_equal(p.decoded, "hello world", 11);
	/* a second exchange counts its own bytes: the caller resets, on_recv only adds */
	p.done = false;
	p.recv_bytes = 0;
	p.decoded_len = 0;
	s.answer = second;
	s.answer_len = strlen(second);
	request(&p, false, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_int_equal(p.recv_bytes, strlen(second));
	assert_memory_equal(p.decoded, "abc", 3);
	teardown(&loop, &s, &p);
}

/* share_buffer: a buffer whose bytes were all consumed goes back to the spares (and comes back
 * for the next bytes); one with lent bytes, or a partial head, stays. */
static void test_share_buffer(void **state)
{
	static const char part1[] = "HTTP/1.1 200 OK\r\nContent-Le";
	static const char part2[] = "ngth: 5\r\n\r\nhello";
	net_client_conf_t c = conf;
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	c.share_buffer = true;
	setup(&loop, &s, &p, part1, &c);
	s.later_bytes = part2;
	request(&p, false, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
	uv_timer_start(&s.later, on_later, 30, 0);
	while (p.cl.rb.len == 0) /* the first part only: a partial head keeps its buffer */
		uv_run(&loop, UV_RUN_ONCE);
	assert_false(p.done);
	assert_non_null(p.cl.rb.data);
	run_until_stop(&p);
	assert_true(p.done);
	assert_true(p.reusable);
	assert_memory_equal(p.body, "hello", 5);
	assert_null(p.cl.rb.data); /* consumed: given back */
	/* lent bytes keep it */
	p.done = false;
	p.body_len = 0;
	p.hold = true;
	s.answer = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	s.answer_len = strlen(s.answer);
	request(&p, false, "GET /t HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_int_equal(p.body_len, 3);
	assert_non_null(p.cl.rb.data);
	p.hold = false;
	net_client_consumed(&p.cl);
	assert_true(p.done);
	assert_null(p.cl.rb.data);
	teardown(&loop, &s, &p);
	net_rbuf_spares_free();
}

static void test_interim_then_final(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p,
	      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	      NULL);
	request(&p, false, "PUT /i HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_int_equal(p.heads, 3);
	assert_int_equal(p.statuses[0], 100);
	assert_int_equal(p.statuses[1], 102);
	assert_int_equal(p.statuses[2], 200);
	assert_memory_equal(p.body, "ok", 2);
	teardown(&loop, &s, &p);
}

static void test_head_then_stray_bytes(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	bool stray;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NULL);
	request(&p, true, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_true(p.reusable);
	assert_int_equal(p.body_len, 0);
	assert_true(p.cl.bodyless);
	/* the server sends what a HEAD response must not carry, while nobody reads */
	net_client_idle(&p.cl, 5000);
	srv_send(&s, "oops", 4);
	run_until_stop(&p);
	assert_int_equal(p.idle_why, NET_CLIENT_IDLE_STRAY);
	teardown(&loop, &s, &p);
	/* bytes already in the socket when the next exchange begins: refused, with stray set */
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NULL);
	request(&p, true, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	net_client_idle(&p.cl, 5000);
	net_sock_read_stop(&p.cl.sock); /* as if the loop had not read them yet */
	srv_send(&s, "oops", 4);
	run_for(&loop, 50);
	assert_int_equal(net_client_begin(&p.cl, false, &stray), UV_ECONNRESET);
	assert_true(stray);
	teardown(&loop, &s, &p);
}

static void test_truncated(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", NULL);
	s.close_after = true;
	request(&p, false, "GET /t HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	/* the five bytes are relayed, then the end is an error, never a complete response */
	assert_false(p.done);
	assert_int_equal(p.err, NET_CLIENT_E_CLOSED);
	assert_int_equal(p.body_len, 5);
	teardown(&loop, &s, &p);
}

static void test_until_eof(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end", NULL);
	s.close_after = true;
	request(&p, false, "GET /e HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.done);
	assert_false(p.reusable);
	assert_int_equal(p.body_len, 10);
	teardown(&loop, &s, &p);
}

static void test_invalid_response(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	      NULL);
	request(&p, false, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_int_equal(p.err, NET_CLIENT_E_INVALID);
	assert_int_equal(p.heads, 0);
	teardown(&loop, &s, &p);
}

static void test_head_timer_waits_for_the_request(void **state)
{
	net_client_conf_t c = conf;
	uv_loop_t loop;
	server_t s;
	probe_t p;
	static const char req[] = "PUT /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
	uv_buf_t b = uv_buf_init((char *)req, sizeof(req) - 1);
	uint64_t t0;
	(void)state;
	c.head_ms = 60;
	setup(&loop, &s, &p, NULL, &c);
	assert_int_equal(net_client_begin(&p.cl, false, NULL), 0);
	assert_true(net_client_write(&p.cl, &b, 1) >= 0);
	/* the body is not all there yet: the caller is waited for, not the server */
	run_for(&loop, 200);
	assert_int_equal(p.err, 0);
	t0 = uv_now(&loop);
	b = uv_buf_init("abc", 3);
	assert_true(net_client_write(&p.cl, &b, 1) >= 0);
	net_client_request_done(&p.cl);
	run_until_stop(&p);
	assert_int_equal(p.err, NET_CLIENT_E_HEAD_TIMEOUT);
	assert_true(uv_now(&loop) - t0 >= 55);
	teardown(&loop, &s, &p);
}

static void test_read_timer_not_while_lent(void **state)
{
	net_client_conf_t c = conf;
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	c.read_ms = 60;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst", &c);
	p.hold = true;
	request(&p, false, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p); /* the first bytes are lent */
	assert_int_equal(p.body_len, 5);
	/* the caller holds them for 4 read timeouts: the caller is slow, not the server */
	run_for(&loop, 250);
	assert_int_equal(p.err, 0);
	p.hold = false;
	net_client_consumed(&p.cl);
	run_until_stop(&p); /* now the server is waited for, and stalls */
	assert_int_equal(p.err, NET_CLIENT_E_READ_TIMEOUT);
	teardown(&loop, &s, &p);
}

static void test_backpressure(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	enum { N = 100000 };
	static char answer[N + 128];
	size_t hl;
	(void)state;
	hl = (size_t)snprintf(answer, sizeof(answer),
	                      "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", N);
	memset(answer + hl, 'b', N);
	setup_ex(&loop, &s, &p, answer, hl + N, NULL, true);
	p.hold = true;
	request(&p, false, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	/* lent bytes are never more than one buffer (4096): the rest waits in the kernel */
	while (!p.done && !p.err) {
		size_t before = p.body_len;
		run_for(&loop, 20);
		assert_true(p.body_len - before <= conf.buffer_size);
		net_client_consumed(&p.cl);
	}
	assert_true(p.done);
	assert_int_equal(p.body_len, N);
	teardown(&loop, &s, &p);
}

static void test_send_timeout(void **state)
{
	net_client_conf_t c = conf;
	uv_loop_t loop;
	server_t s;
	probe_t p;
	char *huge = malloc(64 << 20);
	uv_buf_t b = uv_buf_init(huge, 64 << 20);
	int rc;
	(void)state;
	c.send_ms = 100;
	memset(huge, 'x', 64 << 20);
	setup_ex(&loop, &s, &p, NULL, 0, &c, false); /* the server takes nothing */
	assert_int_equal(net_client_begin(&p.cl, false, NULL), 0);
	rc = net_client_write(&p.cl, &b, 1);
	assert_int_equal(rc, 0); /* in flight */
	run_until_stop(&p);
	assert_int_equal(p.err, NET_CLIENT_E_SEND_TIMEOUT);
	teardown(&loop, &s, &p);
	free(huge);
}

static void test_early_response_not_reusable(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	static const char req[] = "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
	uv_buf_t b = uv_buf_init((char *)req, sizeof(req) - 1);
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", NULL);
	assert_int_equal(net_client_begin(&p.cl, false, NULL), 0);
	assert_true(net_client_write(&p.cl, &b, 1) >= 0);
	run_until_stop(&p);
	/* answered before the request ended: the connection cannot carry another one */
	assert_true(p.done);
	assert_false(p.reusable);
	assert_int_equal(p.statuses[0], 403);
	teardown(&loop, &s, &p);
}

static void test_connect_refused(void **state)
{
	uv_loop_t loop;
	probe_t p;
	server_t s;
	struct sockaddr_in a;
	int port;
	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(uv_loop_init(&loop), 0);
	srv_start(&loop, &s, NULL);
	port = s.port;
	srv_stop(&s); /* nothing listens there any more */
	uv_run(&loop, UV_RUN_DEFAULT);
	p.loop = &loop;
	net_client_init(&loop, &p.cl, &cbs, &conf, &p);
	uv_ip4_addr("127.0.0.1", port, &a);
	assert_int_equal(net_client_connect(&p.cl, (const struct sockaddr *)&a, NULL, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(p.err, NET_CLIENT_E_CONNECT);
	assert_int_equal(p.connected, 0);
	net_client_close(&p.cl, false);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(p.closed);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_idle_timeout(void **state)
{
	uv_loop_t loop;
	server_t s;
	probe_t p;
	(void)state;
	setup(&loop, &s, &p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL);
	request(&p, false, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	run_until_stop(&p);
	assert_true(p.reusable);
	net_client_idle(&p.cl, 30);
	run_until_stop(&p);
	assert_int_equal(p.idle_why, NET_CLIENT_IDLE_TIMEOUT);
	teardown(&loop, &s, &p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_then_reuse),
	    cmocka_unit_test(test_chunked_raw_with_trailers),
	    cmocka_unit_test(test_recv_and_decoded_body),
	    cmocka_unit_test(test_share_buffer),
	    cmocka_unit_test(test_interim_then_final),
	    cmocka_unit_test(test_head_then_stray_bytes),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_until_eof),
	    cmocka_unit_test(test_invalid_response),
	    cmocka_unit_test(test_head_timer_waits_for_the_request),
	    cmocka_unit_test(test_read_timer_not_while_lent),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_send_timeout),
	    cmocka_unit_test(test_early_response_not_reusable),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_idle_timeout),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

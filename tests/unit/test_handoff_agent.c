/*
 * handoff/agent on loopback, one loop per test (uv_loop_close() == 0): a live client connection
 * is dumped by the test (the director's part), its STATE sent over a channel, and the agent
 * serves it from a scripted S3 server (a thread: `GET /N` answers N pattern bytes, kept alive);
 * a small response is copied, a large one spliced, and CLOSED reports both. Refusals: not a
 * VIP, S3 server down, no GO in time, wrong key. Needs CAP_NET_ADMIN (TCP_REPAIR): else 77.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "handoff/agent.h"
#include "handoff/channel.h"
#include "net/repair.h"
#include "net/splice.h"

static bool skipped;
static ho_key_t key, other_key;

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* ---- the scripted S3 server ---- */

typedef struct s3srv_s {
	int l;
	uint16_t port;
	pthread_t th;
} s3srv_t;

static uint8_t body[1 << 20]; /* pat(i), filled once */

static void *s3_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[4096];
	size_t len = 0;
	for (;;) {
		char *end;
		while (!(end = memmem(req, len, "\r\n\r\n", 4))) {
			ssize_t n = read(fd, req + len, sizeof(req) - len);
			if (n <= 0)
				goto out;
			len += (size_t)n;
		}
		unsigned long size = strtoul(strchr(req, '/') + 1, NULL, 10);
		char head[128];
		int hl = snprintf(head, sizeof(head),
		                  "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n", size);
		if (write(fd, head, (size_t)hl) != hl)
			goto out;
		bool is_head = strncmp(req, "HEAD", 4) == 0;
		for (unsigned long off = 0; !is_head && off < size;) {
			size_t at = off % sizeof(body), n = sizeof(body) - at;
			if (n > size - off)
				n = size - off;
			ssize_t w = write(fd, body + at, n);
			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
		size_t used = (size_t)(end + 4 - req);
		memmove(req, req + used, len - used);
		len -= used;
	}
out:
	close(fd);
	return NULL;
}

static void *s3_accept(void *arg)
{
	s3srv_t *s = arg;
	for (;;) {
		int fd = accept(s->l, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		pthread_create(&t, NULL, s3_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static int listen_lo(uint16_t *port)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(listen(l, 16), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return l;
}

static uint16_t free_port(void)
{
	uint16_t p;
	close(listen_lo(&p));
	return p;
}

/* ---- the test's director ---- */

typedef struct t_s {
	uv_loop_t loop;
	ho_agent_t *agent;
	ho_agent_conf_t conf;
	s3srv_t s3;
	ho_channel_t ch;
	ho_channel_stats_t chst;
	ho_msg_t got[8];
	int ngot, ended, closed, connected;
	bool stopped;
} t_t;

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	t_t *t = ch->data;
	assert_true(t->ngot < 8);
	t->got[t->ngot++] = *m;
}

static void on_end(ho_channel_t *ch, int err)
{
	((t_t *)ch->data)->ended = err;
}

static void on_close(ho_channel_t *ch)
{
	((t_t *)ch->data)->closed++;
}

static const ho_channel_cbs_t cbs = {on_msg, NULL, on_end, on_close};

static void on_connected(ho_channel_t *ch, int status)
{
	assert_int_equal(status, 0);
	((t_t *)ch->data)->connected = 1;
}

#define RUN_UNTIL(t, cond)                                                                         \
	do {                                                                                       \
		for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                                     \
			uv_run(&(t)->loop, UV_RUN_NOWAIT);                                         \
			if (!(cond))                                                               \
				usleep(1000);                                                      \
		}                                                                                  \
	} while (0)

static void sin_lo(struct sockaddr_storage *ss, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(port);
}

static void start(t_t *t, const ho_key_t *director_key)
{
	char err[256];
	assert_int_equal(ho_agent_start(&t->loop, &t->conf, &t->agent, err, sizeof(err)), 0);
	assert_int_equal(ho_channel_init(&t->loop, &t->ch, director_key, NULL, &cbs, &t->chst, t),
	                 0);
	assert_int_equal(
	    ho_channel_connect(&t->ch, (const struct sockaddr *)&t->conf.listen, on_connected), 0);
	RUN_UNTIL(t, t->connected);
	assert_true(t->connected);
}

static int setup(void **state)
{
	t_t *t = calloc(1, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	t->s3.l = listen_lo(&t->s3.port);
	pthread_create(&t->s3.th, NULL, s3_accept, &t->s3);
	sin_lo(&t->conf.listen, free_port());
	sin_lo(&t->conf.s3, t->s3.port);
	sin_lo(&t->conf.vips[0], 0);
	t->conf.nvips = 1;
	t->conf.key = key;
	t->conf.max_skew_ms = 60000;
	*state = t;
	return 0;
}

static void on_stopped(void *arg)
{
	((t_t *)arg)->stopped = true;
}

static int teardown(void **state)
{
	t_t *t = *state;
	ho_channel_close(&t->ch);
	if (t->agent)
		ho_agent_stop(t->agent, on_stopped, t);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_true(!t->agent || t->stopped);
	for (int i = 0; i < t->ngot; i++)
		ho_msg_free(&t->got[i]);
	shutdown(t->s3.l, SHUT_RDWR);
	pthread_join(t->s3.th, NULL);
	close(t->s3.l);
	net_splice_pipes_close();
	assert_int_equal(uv_loop_close(&t->loop), 0);
	free(t);
	return 0;
}

/* A client connected to a listener on 127.0.0.1 with its request in the accepted socket's
 * receive queue; the accepted socket dumped and closed in repair mode (the 4-tuple is free for
 * the agent's restore on this host). */
static int client_dumped(const char *req, net_repair_state_t *st)
{
	uint16_t port;
	int l = listen_lo(&port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss;
	sin_lo(&ss, port);
	assert_int_equal(connect(c, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	int d = accept(l, NULL, NULL);
	close(l);
	assert_int_equal(write(c, req, strlen(req)), (ssize_t)strlen(req));
	struct pollfd p = {d, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 1000), 1);
	usleep(250 * 1000); /* quiet: no segment of the client's in the gap (docs/handoff.md) */
	char msg[256];
	int rc = net_repair_dump(d, st, msg, sizeof(msg));
	if (rc == -EPERM) {
		close(d);
		close(c);
		return -1;
	}
	assert_int_equal(rc, 0);
	net_repair_abort_close(d);
	return c;
}

static ho_msg_t *wait_msg(t_t *t, int n)
{
	RUN_UNTIL(t, t->ngot >= n);
	assert_int_equal(t->ngot, n);
	return &t->got[n - 1];
}

/* reads one response of `size` pattern bytes from the client socket, running the loop */
static void read_response(t_t *t, int c, unsigned long size)
{
	char head[128];
	int hl =
	    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n", size);
	size_t want = (size_t)hl + size, got = 0;
	uint8_t *buf = malloc(want);
	for (int i = 0; i < 20000 && got < want; i++) {
		ssize_t n = recv(c, buf + got, want - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		uv_run(&t->loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	assert_int_equal(got, want);
	assert_memory_equal(buf, head, (size_t)hl);
	for (size_t i = 0; i < size; i++)
		if (buf[hl + i] != pat(i % (1 << 20)))
			fail_msg("byte %zu of the body differs", i);
	free(buf);
}

static void test_serves_keep_alive(void **state)
{
	t_t *t = *state;
	start(t, &key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 11};
	const char *req1 = "GET /1000 HTTP/1.1\r\nHost: x\r\n\r\n";
	int c = client_dumped(req1, &m.st);
	if (c < 0) {
		skipped = true;
		skip();
	}
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	net_repair_state_free(&m.st);
	ho_msg_t *r = wait_msg(t, 1);
	assert_int_equal(r->type, HO_READY);
	assert_int_equal(r->conn_id, 11);
	assert_int_equal(ho_agent_stats(t->agent)->pending, 1);
	ho_msg_t go = {.type = HO_GO, .conn_id = 11};
	assert_int_equal(ho_channel_send(&t->ch, &go), 0);
	read_response(t, c, 1000);
	/* the next request on the connection: a body long enough to be spliced */
	const char *req2 = "GET /900000 HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(write(c, req2, strlen(req2)), (ssize_t)strlen(req2));
	read_response(t, c, 900000);
	const ho_agent_stats_t *s = ho_agent_stats(t->agent);
	assert_int_equal(s->active, 1);
	assert_int_equal(s->taken, 1);
	assert_true(s->bytes_spliced > 800000);
	close(c);
	r = wait_msg(t, 2);
	assert_int_equal(r->type, HO_CLOSED);
	assert_int_equal(r->conn_id, 11);
	assert_int_equal(r->reason, HO_END_CLIENT);
	assert_int_equal(r->nreports, 2);
	assert_int_equal(r->reports[0].status, 200);
	assert_int_equal(r->reports[0].bytes_in, strlen(req1));
	assert_int_equal(r->reports[0].bytes_out, 41 + 1000); /* head and body */
	assert_int_equal(r->reports[1].bytes_in, strlen(req2));
	assert_int_equal(r->reports[1].bytes_out, 43 + 900000);
	assert_int_equal(s->active, 0);
	assert_int_equal(s->requests, 2);
	assert_int_equal(s->ended[HO_END_CLIENT], 1);
	char json[4096];
	assert_true(ho_agent_stats_json(t->agent, json, sizeof(json)) > 0);
	assert_non_null(strstr(json, "\"taken\":1,"));
	assert_non_null(strstr(json, "\"requests\":2,"));
}

/* a made-up connection to a port nobody uses: restoring it sends nothing */
static void fake_state(net_repair_state_t *st, uint8_t local_last)
{
	memset(st, 0, sizeof(*st));
	st->family = AF_INET;
	st->tcp_state = 1;
	uint8_t lo[4] = {127, 0, 0, local_last};
	memcpy(st->local_addr, lo, 4);
	memcpy(st->peer_addr, (uint8_t[]){127, 0, 0, 1}, 4);
	st->local_port = free_port();
	st->peer_port = free_port();
	st->snd_seq = 1000;
	st->rcv_seq = 5000;
	st->snd_wl1 = 5000;
	st->snd_wnd = st->max_window = st->rcv_wnd = 65535;
	st->rcv_wup = 5000;
	st->mss = 1460;
}

static void test_refuses_non_vip(void **state)
{
	t_t *t = *state;
	start(t, &key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 5};
	fake_state(&m.st, 9); /* 127.0.0.9: not the VIP */
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	ho_msg_t *r = wait_msg(t, 1);
	assert_int_equal(r->type, HO_REFUSE);
	assert_int_equal(r->reason, HO_REFUSE_VIP);
	assert_int_equal(ho_agent_stats(t->agent)->refused[HO_REFUSE_VIP], 1);
}

static void test_refuses_s3_down(void **state)
{
	t_t *t = *state;
	sin_lo(&t->conf.s3, free_port());
	start(t, &key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 6};
	fake_state(&m.st, 1);
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	ho_msg_t *r = wait_msg(t, 1);
	if (r->type == HO_REFUSE && r->reason == HO_REFUSE_RESTORE) {
		skipped = true; /* no CAP_NET_ADMIN */
		skip();
	}
	assert_int_equal(r->type, HO_REFUSE);
	assert_int_equal(r->reason, HO_REFUSE_S3);
	const ho_agent_stats_t *s = ho_agent_stats(t->agent);
	assert_int_equal(s->refused[HO_REFUSE_S3], 1);
	RUN_UNTIL(t, s->pending == 0);
	assert_int_equal(s->pending, 0);
}

static void test_drops_without_go(void **state)
{
	t_t *t = *state;
	t->conf.go_ms = 100;
	start(t, &key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 7};
	fake_state(&m.st, 1);
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	ho_msg_t *r = wait_msg(t, 1);
	if (r->type == HO_REFUSE && r->reason == HO_REFUSE_RESTORE) {
		skipped = true;
		skip();
	}
	assert_int_equal(r->type, HO_READY);
	const ho_agent_stats_t *s = ho_agent_stats(t->agent);
	RUN_UNTIL(t, s->go_timeouts == 1);
	assert_int_equal(s->go_timeouts, 1);
	assert_int_equal(s->pending, 0);
	/* a GO after that finds nothing; a second STATE of the same id is taken again */
	ho_msg_t go = {.type = HO_GO, .conn_id = 7};
	assert_int_equal(ho_channel_send(&t->ch, &go), 0);
	/* the director gives up on another one before GO */
	ho_msg_t m2 = {.type = HO_STATE, .conn_id = 8};
	fake_state(&m2.st, 1);
	assert_int_equal(ho_channel_send(&t->ch, &m2), 0);
	r = wait_msg(t, 2);
	assert_int_equal(r->type, HO_READY);
	ho_msg_t no = {.type = HO_REFUSE, .conn_id = 8, .reason = 1};
	assert_int_equal(ho_channel_send(&t->ch, &no), 0);
	RUN_UNTIL(t, s->aborted == 1);
	assert_int_equal(s->aborted, 1);
	assert_int_equal(s->taken, 0);
}

static void test_wrong_key(void **state)
{
	t_t *t = *state;
	start(t, &other_key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 5};
	fake_state(&m.st, 1);
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	RUN_UNTIL(t, t->ended);
	assert_int_equal(t->ended, UV_EOF);
	assert_int_equal(t->ngot, 0);
	const ho_agent_stats_t *s = ho_agent_stats(t->agent);
	assert_int_equal(s->ch.bad_mac, 1);
	assert_int_equal(s->pending, 0);
}

/* --handback: after the response the agent asks; the client's next request, sent before the
 * director's GO, goes with the final state; the connection goes on from the rebuilt socket */
static void test_handback(void **state)
{
	t_t *t = *state;
	t->conf.handback = true;
	start(t, &key);
	ho_msg_t m = {.type = HO_STATE, .conn_id = 21};
	const char *req1 = "GET /2000 HTTP/1.1\r\nHost: x\r\n\r\n";
	int c = client_dumped(req1, &m.st);
	if (c < 0) {
		skipped = true;
		skip();
	}
	uint16_t port = m.st.local_port;
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	net_repair_state_free(&m.st);
	assert_int_equal(wait_msg(t, 1)->type, HO_READY);
	ho_msg_t go = {.type = HO_GO, .conn_id = 21};
	assert_int_equal(ho_channel_send(&t->ch, &go), 0);
	read_response(t, c, 2000);
	ho_msg_t *r = wait_msg(t, 2);
	assert_int_equal(r->type, HO_HANDBACK);
	assert_int_equal(r->st.local_port, port);
	assert_int_equal(r->st.rcvq_len, 0);
	/* the next request comes before the freeze: the agent does not read it */
	const char *req2 = "GET /7 HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(write(c, req2, strlen(req2)), (ssize_t)strlen(req2));
	for (int i = 0; i < 100; i++) {
		uv_run(&t->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	ho_msg_t go2 = {.type = HO_GO, .conn_id = 21};
	assert_int_equal(ho_channel_send(&t->ch, &go2), 0);
	ho_msg_t *cl = wait_msg(t, 4); /* the final state and CLOSED come together */
	r = &t->got[2];
	assert_int_equal(r->type, HO_HANDBACK);
	assert_int_equal(r->st.rcvq_len, strlen(req2));
	assert_memory_equal(r->st.rcvq, req2, strlen(req2));
	assert_int_equal(cl->type, HO_CLOSED);
	assert_int_equal(cl->reason, HO_END_HANDBACK);
	assert_int_equal(cl->nreports, 1);
	assert_int_equal(cl->reports[0].bytes_out, 41 + 2000);
	const ho_agent_stats_t *s = ho_agent_stats(t->agent);
	assert_int_equal(s->handbacks, 1);
	assert_int_equal(s->active, 0);
	/* the director's side: rebuild it here, read the request, answer */
	int fd;
	char msg[256];
	assert_int_equal(net_repair_restore(&r->st, &fd, msg, sizeof(msg)), 0);
	assert_int_equal(net_repair_leave(fd, &r->st, msg, sizeof(msg)), 0);
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)strlen(req2));
	assert_memory_equal(buf, req2, strlen(req2));
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	assert_int_equal(write(fd, resp, strlen(resp)), (ssize_t)strlen(resp));
	struct pollfd p = {c, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recv(c, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)strlen(resp));
	assert_memory_equal(buf, resp, strlen(resp));
	close(fd);
	close(c);
}

int main(void)
{
	key.len = other_key.len = 32;
	for (int i = 0; i < 32; i++)
		key.bytes[i] = other_key.bytes[i] = (uint8_t)(i + 100);
	other_key.bytes[5] ^= 1;
	lb_log_level = LB_LOG_ERROR;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = pat(i);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_serves_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_non_vip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_s3_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drops_without_go, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handback, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc ? rc : skipped ? 77 : 0;
}

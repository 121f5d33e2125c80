/*
 * handoff/channel on loopback, one loop per test (uv_loop_close() == 0 at the end): a raw peer
 * socket writes records in every split, with a wrong key, replayed, with a wrong version, or
 * stalls; two channels (connect + accept) exchange records both ways.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "handoff/channel.h"

static ho_key_t key_a, key_b;

typedef struct t_s {
	uv_loop_t loop;
	ho_channel_t ch;
	ho_channel_stats_t stats;
	int raw; /* the peer's end, blocking */
	ho_msg_t got[8];
	int ngot;
	int ended, end_err, closed, timeouts;
	uint64_t timeout_id;
} t_t;

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	t_t *t = ch->data;
	assert_true(t->ngot < 8);
	t->got[t->ngot++] = *m;
}

static void on_timeout(ho_channel_t *ch, uint64_t id)
{
	t_t *t = ch->data;
	t->timeouts++;
	t->timeout_id = id;
}

static void on_end(ho_channel_t *ch, int err)
{
	t_t *t = ch->data;
	t->ended++;
	t->end_err = err;
}

static void on_close(ho_channel_t *ch)
{
	t_t *t = ch->data;
	t->closed++;
}

static const ho_channel_cbs_t cbs = {on_msg, on_timeout, on_end, on_close};

static void free_got(t_t *t)
{
	for (int i = 0; i < t->ngot; i++)
		ho_msg_free(&t->got[i]);
	t->ngot = 0;
}

/* a connected loopback pair: *a and *b, blocking */
static void tcp_pair(int *a, int *b)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*a, (struct sockaddr *)&sa, sl), 0);
	*b = accept(l, NULL, NULL);
	assert_true(*b >= 0);
	int one = 1;
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static int setup(void **state)
{
	t_t *t = calloc(1, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	int fd;
	tcp_pair(&t->raw, &fd);
	ho_channel_conf_t conf = {.record_ms = 200, .max_skew_ms = 60000};
	assert_int_equal(ho_channel_init(&t->loop, &t->ch, &key_a, &conf, &cbs, &t->stats, t), 0);
	assert_int_equal(uv_tcp_open(&t->ch.tcp, fd), 0);
	assert_int_equal(ho_channel_start(&t->ch), 0);
	assert_string_not_equal(t->ch.peer, "?");
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	t_t *t = *state;
	ho_channel_close(&t->ch);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->closed, 1);
	free_got(t);
	close(t->raw);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	free(t);
	return 0;
}

static uint64_t nonce_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint8_t *record(const ho_key_t *key, ho_type_t type, uint64_t nonce, uint64_t id,
                       uint32_t qlen, size_t *len)
{
	ho_msg_t m = {.type = type, .nonce = nonce, .conn_id = id};
	if (type == HO_STATE) {
		net_repair_state_t *st = &m.st;
		st->family = AF_INET;
		st->tcp_state = TCP_ESTABLISHED;
		st->local_addr[0] = 10;
		st->peer_addr[0] = 192;
		st->local_port = 80;
		st->peer_port = 40000;
		st->rcvq_len = qlen;
		st->rcvq = malloc(qlen);
		for (uint32_t i = 0; i < qlen; i++)
			st->rcvq[i] = (uint8_t)(i * 13 + 1);
	}
	uint8_t *buf;
	assert_int_equal(ho_record_encode(key, &m, &buf, len), 0);
	ho_msg_free(&m);
	return buf;
}

static void put(t_t *t, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(t->raw, p, n);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* runs the loop until cond or about a second */
#define RUN_UNTIL(t, cond)                                                                         \
	do {                                                                                       \
		for (int i_ = 0; i_ < 1000 && !(cond); i_++) {                                     \
			uv_run(&(t)->loop, UV_RUN_NOWAIT);                                         \
			if (!(cond))                                                               \
				usleep(1000);                                                      \
		}                                                                                  \
	} while (0)

static void spin(t_t *t, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&t->loop, UV_RUN_NOWAIT);
}

/* every split point of a STATE record, on one channel (nonces growing) */
static void test_split_at_every_byte(void **state)
{
	t_t *t = *state;
	uint64_t n0 = nonce_now();
	size_t len;
	uint8_t *probe = record(&key_a, HO_STATE, n0, 1, 200, &len);
	free(probe);
	for (size_t k = 1; k < len; k++) {
		size_t l2;
		uint8_t *r = record(&key_a, HO_STATE, n0 + k, k, 200, &l2);
		assert_int_equal(l2, len);
		put(t, r, k);
		spin(t, 3);
		assert_int_equal(t->ngot, 0);
		put(t, r + k, len - k);
		RUN_UNTIL(t, t->ngot == 1);
		assert_int_equal(t->ngot, 1);
		assert_int_equal(t->got[0].type, HO_STATE);
		assert_int_equal(t->got[0].conn_id, k);
		assert_int_equal(t->got[0].st.rcvq_len, 200);
		assert_int_equal(t->got[0].st.rcvq[199], (uint8_t)(199 * 13 + 1));
		free_got(t);
		free(r);
	}
	/* one byte at a time, then two records in one write */
	size_t l1, l2;
	uint8_t *r1 = record(&key_a, HO_GO, n0 + len + 1, 77, 0, &l1);
	for (size_t i = 0; i < l1; i++) {
		put(t, r1 + i, 1);
		spin(t, 2);
	}
	RUN_UNTIL(t, t->ngot == 1);
	assert_int_equal(t->got[0].conn_id, 77);
	free_got(t);
	free(r1);
	r1 = record(&key_a, HO_READY, n0 + len + 2, 8, 0, &l1);
	uint8_t *r2 = record(&key_a, HO_GO, n0 + len + 3, 9, 0, &l2);
	uint8_t both[256];
	memcpy(both, r1, l1);
	memcpy(both + l1, r2, l2);
	put(t, both, l1 + l2);
	RUN_UNTIL(t, t->ngot == 2);
	assert_int_equal(t->got[0].conn_id, 8);
	assert_int_equal(t->got[1].conn_id, 9);
	assert_int_equal(t->stats.records_in, len - 1 + 3);
	assert_int_equal(t->ended, 0);
	free(r1);
	free(r2);
}

/* a big record (a 4 MiB queue) in pieces: the buffer follows it and is let go afterwards */
static void test_big_record(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_STATE, nonce_now(), 5, 4u << 20, &len);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 100000 ? len - off : 100000;
		put(t, r + off, n);
		off += n;
		spin(t, 2);
	}
	RUN_UNTIL(t, t->ngot == 1);
	assert_int_equal(t->got[0].st.rcvq_len, 4u << 20);
	assert_null(t->ch.buf);
	free(r);
}

/* the peer sees the channel close: EOF on its end */
static void assert_peer_sees_close(t_t *t)
{
	char c;
	struct pollfd p = {t->raw, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 1000), 1);
	ssize_t n = read(t->raw, &c, 1);
	assert_true(n <= 0);
}

static void refused(t_t *t, const uint8_t *r, size_t len, int err)
{
	put(t, r, len);
	RUN_UNTIL(t, t->ended);
	assert_int_equal(t->ended, 1);
	assert_int_equal(t->end_err, err);
	assert_int_equal(t->ngot, 0);
	RUN_UNTIL(t, t->closed);
	assert_int_equal(t->closed, 1);
	assert_peer_sees_close(t);
}

static void test_bad_mac(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_b, HO_STATE, nonce_now(), 1, 10, &len);
	refused(t, r, len, HO_EMAC);
	assert_int_equal(t->stats.bad_mac, 1);
	free(r);
}

static void test_replay(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_GO, nonce_now(), 1, 0, &len);
	put(t, r, len);
	RUN_UNTIL(t, t->ngot == 1);
	free_got(t);
	refused(t, r, len, HO_EREPLAY);
	assert_int_equal(t->stats.bad_replay, 1);
	assert_int_equal(t->stats.records_in, 1);
	free(r);
}

/* a first nonce far from the clock: an old channel replayed on a new connection */
static void test_stale_first_nonce(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_GO, nonce_now() - 3600ull * 1000000u, 1, 0, &len);
	refused(t, r, len, HO_EREPLAY);
	assert_int_equal(t->stats.bad_replay, 1);
	free(r);
}

static void test_wrong_version(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_GO, nonce_now(), 1, 0, &len);
	r[0] = 2;
	refused(t, r, len, HO_EVERSION);
	assert_int_equal(t->stats.bad_version, 1);
	free(r);
}

static void test_garbled(void **state)
{
	t_t *t = *state;
	uint8_t junk[64];
	memset(junk, 'G', sizeof(junk));
	junk[0] = 1;
	junk[1] = 42; /* no such type */
	refused(t, junk, sizeof(junk), HO_ETYPE);
	assert_int_equal(t->stats.bad_record, 1);
}

/* the peer stops in the middle of a record: the channel ends after record_ms */
static void test_stalled_record(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_STATE, nonce_now(), 1, 100, &len);
	uint64_t t0 = uv_now(&t->loop);
	put(t, r, len / 2);
	RUN_UNTIL(t, t->ended);
	uv_update_time(&t->loop);
	assert_int_equal(t->end_err, UV_ETIMEDOUT);
	assert_true(uv_now(&t->loop) - t0 >= 200);
	assert_int_equal(t->stats.timeouts, 1);
	assert_peer_sees_close(t);
	free(r);
}

/* an awaited answer that does not come: on_timeout, the channel stays; one that comes in time
 * cancels its deadline */
static void test_deadline(void **state)
{
	t_t *t = *state;
	uv_update_time(&t->loop);
	uint64_t t0 = uv_now(&t->loop);
	ho_channel_expect(&t->ch, 41, 30);
	ho_channel_expect(&t->ch, 42, 60);
	ho_channel_expect(&t->ch, 43, 0); /* none: nothing */
	size_t len;
	uint8_t *r = record(&key_a, HO_READY, nonce_now(), 41, 0, &len);
	put(t, r, len);
	RUN_UNTIL(t, t->timeouts);
	uv_update_time(&t->loop);
	assert_int_equal(t->timeouts, 1);
	assert_int_equal(t->timeout_id, 42);
	assert_true(uv_now(&t->loop) - t0 >= 60);
	assert_int_equal(t->ngot, 1);
	assert_int_equal(t->ended, 0);
	assert_int_equal(t->ch.nexp, 0);
	free(r);
}

/* two channels on one loop: connect and accept, both directions, then the peer closes */
typedef struct pair_s {
	t_t *t;
	uv_tcp_t server;
	ho_channel_t srv;
	int connected;
} pair_t;

static void on_conn(uv_stream_t *s, int status)
{
	pair_t *p = s->data;
	assert_int_equal(status, 0);
	assert_int_equal(uv_accept(s, (uv_stream_t *)&p->srv.tcp), 0);
	assert_int_equal(ho_channel_start(&p->srv), 0);
}

static void on_connected(ho_channel_t *ch, int status)
{
	assert_int_equal(status, 0);
	((t_t *)ch->data)->timeouts += 100; /* marks the connect */
}

static void test_connect_and_exchange(void **state)
{
	t_t *t = *state;
	pair_t p = {.t = t};
	t_t st = {0};
	ho_channel_stats_t sstats = {0};
	assert_int_equal(uv_tcp_init(&t->loop, &p.server), 0);
	p.server.data = &p;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&p.server, (struct sockaddr *)&sa, 0), 0);
	int sl = sizeof(sa);
	assert_int_equal(uv_tcp_getsockname(&p.server, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&p.server, 4, on_conn), 0);
	assert_int_equal(ho_channel_init(&t->loop, &p.srv, &key_a, NULL, &cbs, &sstats, &st), 0);

	ho_channel_t cli;
	t_t ct = {0};
	ho_channel_stats_t cstats = {0};
	assert_int_equal(ho_channel_init(&t->loop, &cli, &key_a, NULL, &cbs, &cstats, &ct), 0);
	assert_int_equal(ho_channel_connect(&cli, (struct sockaddr *)&sa, on_connected), 0);
	RUN_UNTIL(t, ct.timeouts == 100 && p.srv.started);

	ho_msg_t m = {.type = HO_STATE, .conn_id = 7};
	m.st.family = AF_INET6;
	m.st.tcp_state = TCP_ESTABLISHED;
	assert_int_equal(ho_channel_send(&cli, &m), 0);
	ho_msg_t g = {.type = HO_GO, .conn_id = 7};
	assert_int_equal(ho_channel_send(&cli, &g), 0);
	assert_true(g.nonce > m.nonce);
	RUN_UNTIL(t, st.ngot == 2);
	assert_int_equal(st.got[0].type, HO_STATE);
	assert_int_equal(st.got[0].st.family, AF_INET6);
	assert_int_equal(st.got[1].type, HO_GO);
	ho_report_t rep = {200, 100, 5000, 42};
	ho_msg_t c = {.type = HO_CLOSED, .conn_id = 7, .reports = &rep, .nreports = 1};
	assert_int_equal(ho_channel_send(&p.srv, &c), 0);
	RUN_UNTIL(t, ct.ngot == 1);
	assert_int_equal(ct.got[0].nreports, 1);
	assert_int_equal(ct.got[0].reports[0].bytes_out, 5000);
	assert_int_equal(cstats.records_out, 2);
	assert_int_equal(sstats.records_in, 2);

	/* the director goes away: the agent's side ends with EOF */
	ho_channel_close(&cli);
	RUN_UNTIL(t, st.ended);
	assert_int_equal(st.end_err, UV_EOF);
	assert_int_equal(ho_channel_send(&p.srv, &c), UV_ECANCELED);
	uv_close((uv_handle_t *)&p.server, NULL);
	RUN_UNTIL(t, st.closed && ct.closed && uv_is_closing((uv_handle_t *)&p.server));
	spin(t, 2);
	assert_int_equal(st.closed, 1);
	assert_int_equal(ct.closed, 1);
	free_got(&st);
	free_got(&ct);
}

/* closing with a write pending and a record half read: nothing leaks (ASan), on_close once */
static void test_close_with_pending(void **state)
{
	t_t *t = *state;
	size_t len;
	uint8_t *r = record(&key_a, HO_STATE, nonce_now(), 1, 1000, &len);
	put(t, r, len - 10);
	spin(t, 3);
	ho_msg_t m = {.type = HO_READY, .conn_id = 1};
	assert_int_equal(ho_channel_send(&t->ch, &m), 0);
	ho_channel_expect(&t->ch, 1, 1000);
	ho_channel_close(&t->ch);
	ho_channel_close(&t->ch);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->ended, 0);
	free(r);
}

int main(void)
{
	key_a.len = key_b.len = 32;
	for (size_t i = 0; i < 32; i++)
		key_a.bytes[i] = key_b.bytes[i] = (uint8_t)(i * 5 + 3);
	key_b.bytes[0] ^= 0x80;
	lb_log_level = LB_LOG_ERROR; /* the refusals' warnings are expected */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_split_at_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_mac, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_first_nonce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stalled_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_and_exchange, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_with_pending, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

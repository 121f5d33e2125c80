/*
 * handoff/director's agent channels on loopback, one loop per test (uv_loop_close() == 0 at the
 * end): a fake agent (a libuv listener whose accepted connections become ho_channels) comes and
 * goes; the director's agent is up exactly while a channel is connected, reconnects with
 * backoff after the agent closed it, keeps retrying while nothing listens, and closes cleanly
 * with an attempt pending. The switch on a loopback connection (the fake agent restores
 * nothing: one host cannot hold both ends of a 4-tuple; test_handoff_gateway does it in
 * namespaces): the STATE carries the request bytes the caller read, READY leads to the steering
 * with the node's mark and GO, CLOSED's reports reach on_closed and the steering entry goes
 * after linger_ms; a REFUSE, no READY in time and the channel ending fall back with the socket
 * out of repair mode and unfrozen, still carrying bytes both ways. Needs CAP_NET_ADMIN
 * (TCP_REPAIR) for those: skipped without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "handoff/director.h"
#include "net/repair.h"

static ho_key_t key;

/* The fake agent: accepts channels, keeps the last one. */
typedef struct fake_s {
	uv_loop_t loop;
	uv_tcp_t lis;
	bool listening;
	struct sockaddr_in addr;
	ho_channel_t chs[8];
	ho_channel_stats_t stats;
	int naccepted, nclosed;
	ho_director_t *d;
	ho_agent_t *a;
	bool done;
	uv_timer_t t;
	/* the switch */
	enum { ANSWER_READY, ANSWER_REFUSE, ANSWER_NONE, ANSWER_HANGUP } answer;
	ho_msg_t state; /* the STATE received */
	int nstate, ngo, nrefuse;
	int sw_done, sw_status;
	char sw_why[128];
	int steer_calls[4]; /* freeze, thaw, steer, remove */
	uint32_t mark;
	int nclosed_cb;
	uint16_t closed_status;
	bool closed_null;
} fake_t;

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	fake_t *f = ch->data;
	if (m->type == HO_STATE) {
		f->nstate++;
		f->state = *m; /* keeps the queues; freed by the test */
		if (f->answer == ANSWER_READY || f->answer == ANSWER_REFUSE) {
			ho_msg_t r = {.type = f->answer == ANSWER_READY ? HO_READY : HO_REFUSE,
			              .conn_id = m->conn_id,
			              .reason = 2};
			assert_int_equal(ho_channel_send(ch, &r), 0);
		} else if (f->answer == ANSWER_HANGUP) {
			ho_channel_close(ch);
		}
		return;
	}
	if (m->type == HO_GO)
		f->ngo++;
	if (m->type == HO_REFUSE)
		f->nrefuse++;
	ho_msg_free(m);
}

static void on_close(ho_channel_t *ch)
{
	fake_t *f = ch->data;
	f->nclosed++;
}

static const ho_channel_cbs_t cbs = {.on_msg = on_msg, .on_close = on_close};

static void on_conn(uv_stream_t *s, int status)
{
	fake_t *f = s->data;
	assert_int_equal(status, 0);
	assert_true(f->naccepted < 8);
	ho_channel_t *ch = &f->chs[f->naccepted++];
	assert_int_equal(ho_channel_init(&f->loop, ch, &key, NULL, &cbs, &f->stats, f), 0);
	assert_int_equal(uv_accept(s, (uv_stream_t *)&ch->tcp), 0);
	assert_int_equal(ho_channel_start(ch), 0);
}

static void listen_on(fake_t *f)
{
	assert_int_equal(uv_tcp_init(&f->loop, &f->lis), 0);
	f->lis.data = f;
	assert_int_equal(uv_tcp_bind(&f->lis, (struct sockaddr *)&f->addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->lis, 16, on_conn), 0);
	int len = sizeof(f->addr);
	assert_int_equal(uv_tcp_getsockname(&f->lis, (struct sockaddr *)&f->addr, &len), 0);
	f->listening = true;
}

static void unlisten(fake_t *f)
{
	if (!f->listening)
		return;
	uv_close((uv_handle_t *)&f->lis, NULL);
	f->listening = false;
}

static int setup(void **state)
{
	fake_t *f = calloc(1, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->t), 0);
	f->addr.sin_family = AF_INET;
	f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_on(f);
	ho_director_opts_t o = {.backoff_min_ms = 10, .backoff_max_ms = 40, .max_skew_ms = 60000};
	assert_int_equal(ho_director_new(&f->loop, &o, &f->d), 0);
	*state = f;
	return 0;
}

static void on_done(void *arg)
{
	fake_t *f = arg;
	f->done = true;
}

static int teardown(void **state)
{
	fake_t *f = *state;
	ho_director_close(f->d, on_done, f);
	assert_false(f->done); /* never inside the call */
	unlisten(f);
	for (int i = 0; i < f->naccepted; i++)
		ho_channel_close(&f->chs[i]);
	uv_close((uv_handle_t *)&f->t, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(f->done);
	assert_int_equal(f->nclosed, f->naccepted);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until cond holds or ms pass; returns cond. */
#define RUN_UNTIL(f, cond, ms)                                                                     \
	({                                                                                         \
		uint64_t end_ = uv_now(&(f)->loop) + (ms);                                         \
		uv_timer_start(&(f)->t, on_tick, 2, 2);                                            \
		while (!(cond) && uv_now(&(f)->loop) < end_)                                       \
			uv_run(&(f)->loop, UV_RUN_ONCE);                                           \
		uv_timer_stop(&(f)->t);                                                            \
		(cond);                                                                            \
	})

static void test_up_then_reconnect(void **state)
{
	fake_t *f = *state;
	assert_int_equal(ho_director_add(f->d, "p/n1", (struct sockaddr *)&f->addr, &key, &f->a),
	                 0);
	assert_false(ho_agent_up(f->a)); /* connecting */
	assert_true(RUN_UNTIL(f, ho_agent_up(f->a) && f->naccepted == 1, 2000));
	assert_int_equal(ho_director_stats(f->d)->connects, 1);

	/* the agent closes its end: down, then up again on a new channel after the backoff */
	ho_channel_close(&f->chs[0]);
	assert_true(RUN_UNTIL(f, !ho_agent_up(f->a), 2000));
	assert_true(RUN_UNTIL(f, ho_agent_up(f->a) && f->naccepted == 2, 2000));
	assert_int_equal(ho_director_stats(f->d)->disconnects, 1);
	assert_int_equal(ho_director_stats(f->d)->connects, 2);
}

static void test_nothing_listens(void **state)
{
	fake_t *f = *state;
	unlisten(f);
	RUN_UNTIL(f, false, 20); /* the listener is gone */
	assert_int_equal(ho_director_add(f->d, "p/n1", (struct sockaddr *)&f->addr, &key, &f->a),
	                 0);
	RUN_UNTIL(f, false, 300);
	const ho_director_stats_t *st = ho_director_stats(f->d);
	assert_false(ho_agent_up(f->a));
	/* 10, 20, 40, 40...: between 5 and 12 attempts in 300 ms, not a busy loop */
	assert_true(st->connect_failures >= 4);
	assert_true(st->connect_failures <= 12);
	assert_int_equal(st->connects, 0);

	/* the agent starts: the next attempt finds it */
	listen_on(f);
	assert_true(RUN_UNTIL(f, ho_agent_up(f->a), 2000));
}

static void test_wrong_key(void **state)
{
	fake_t *f = *state;
	static ho_key_t other;
	other = key;
	other.bytes[0] ^= 1;
	/* the channel connects (TCP), so the agent is up until a record shows the key is wrong:
	 * that is the switch's business (the first STATE is refused and the gateway proxies) */
	assert_int_equal(ho_director_add(f->d, "p/n1", (struct sockaddr *)&f->addr, &other, &f->a),
	                 0);
	assert_true(RUN_UNTIL(f, ho_agent_up(f->a), 2000));
}

static void test_close_while_connecting(void **state)
{
	fake_t *f = *state;
	assert_int_equal(ho_director_add(f->d, "p/n1", (struct sockaddr *)&f->addr, &key, &f->a),
	                 0);
	/* teardown closes at once, with the connect in flight */
}

/* ---- the switch ------------------------------------------------------------------------- */

static int fake_freeze(void *ctx, const ho_flow_t *fl, char *msg, size_t n)
{
	(void)fl, (void)msg, (void)n;
	((fake_t *)ctx)->steer_calls[0]++;
	return 0;
}
static int fake_thaw(void *ctx, const ho_flow_t *fl, char *msg, size_t n)
{
	(void)fl, (void)msg, (void)n;
	((fake_t *)ctx)->steer_calls[1]++;
	return 0;
}
static int fake_steer(void *ctx, const ho_flow_t *fl, uint32_t mark, char *msg, size_t n)
{
	(void)msg, (void)n;
	fake_t *f = ctx;
	assert_int_equal(fl->family, AF_INET);
	f->steer_calls[2]++;
	f->mark = mark;
	return 0;
}
static int fake_remove(void *ctx, const ho_flow_t *fl, char *msg, size_t n)
{
	(void)fl, (void)msg, (void)n;
	((fake_t *)ctx)->steer_calls[3]++;
	return 0;
}

static ho_director_steer_t fake_steering = {
    .freeze = fake_freeze, .thaw = fake_thaw, .steer = fake_steer, .remove = fake_remove};

static void on_closed(void *arg, uint64_t conn_id, const char *agent, const ho_msg_t *m)
{
	fake_t *f = arg;
	(void)conn_id;
	assert_string_equal(agent, "p/n1");
	f->nclosed_cb++;
	f->closed_null = m == NULL;
	if (m && m->nreports)
		f->closed_status = m->reports[0].status;
}

static void on_switched(void *arg, int status, const char *why)
{
	fake_t *f = arg;
	f->sw_done++;
	f->sw_status = status;
	snprintf(f->sw_why, sizeof(f->sw_why), "%s", why ? why : "");
}

static int setup_switch(void **state)
{
	setup(state);
	fake_t *f = *state;
	/* a director with the fake steering and short deadlines instead of setup's */
	ho_director_close(f->d, NULL, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	fake_steering.ctx = f;
	ho_director_opts_t o = {.steer = &fake_steering,
	                        .ready_ms = 50,
	                        .linger_ms = 30,
	                        .on_closed = on_closed,
	                        .arg = f,
	                        .backoff_min_ms = 10,
	                        .max_skew_ms = 60000};
	assert_int_equal(ho_director_new(&f->loop, &o, &f->d), 0);
	assert_int_equal(ho_director_add(f->d, "p/n1", (struct sockaddr *)&f->addr, &key, &f->a),
	                 0);
	assert_true(RUN_UNTIL(f, ho_agent_up(f->a) && f->naccepted == 1, 2000));
	return 0;
}

static int teardown_switch(void **state)
{
	fake_t *f = *state;
	if (f->nstate)
		ho_msg_free(&f->state);
	return teardown(state);
}

/* A connected loopback pair: *cli (the client, blocking) and *srv (the gateway's end), with
 * the request sent by the client and read by the gateway. */
static const char REQ[] = "GET /b/k HTTP/1.1\r\nHost: s3.local\r\n\r\n";

static void pair_with_request(int *cli, int *srv)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	char buf[256];
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*srv >= 0);
	close(l);
	assert_int_equal(send(*cli, REQ, strlen(REQ), 0), (ssize_t)strlen(REQ));
	size_t got = 0;
	while (got < strlen(REQ)) {
		ssize_t n = recv(*srv, buf + got, sizeof(buf) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	usleep(50000); /* the client's ACKs are in: the connection is quiet */
}

static void loop_time(fake_t *f)
{
	uv_update_time(&f->loop); /* after the sleep: the READY deadline counts from now */
}

/* Switches srv; skips the test without CAP_NET_ADMIN. */
static void start_switch(fake_t *f, int srv)
{
	ho_switch_t *sw;
	uint64_t id;
	char msg[256];
	loop_time(f);
	int rc = ho_director_switch(f->d, f->a, srv, 7, REQ, strlen(REQ), on_switched, f, &sw, &id,
	                            msg, sizeof(msg));
	if (rc == -EPERM) {
		print_message("SKIPPED: TCP_REPAIR needs CAP_NET_ADMIN (%s)\n", msg);
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(f->steer_calls[0], 1); /* frozen first */
}

/* After a fallback, the socket carries bytes both ways as before. */
static void still_works(int cli, int srv)
{
	char buf[16];
	assert_int_equal(send(srv, "hello", 5, 0), 5);
	assert_int_equal(recv(cli, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(send(cli, "x", 1, 0), 1);
	assert_int_equal(recv(srv, buf, sizeof(buf), 0), 1);
}

/* The agent answers `answer`: the switch falls back with why containing `want`, the socket
 * thawed and out of repair mode, carrying bytes both ways; the STATE carried the request the
 * gateway had read, in front of the receive queue. */
static void fallback_case(fake_t *f, int answer, const char *want)
{
	int cli, srv;
	f->answer = answer;
	pair_with_request(&cli, &srv);
	start_switch(f, srv);
	assert_true(RUN_UNTIL(f, f->sw_done == 1, 2000));
	assert_true(f->sw_status < 0);
	assert_non_null(strstr(f->sw_why, want));
	assert_int_equal(f->nstate, 1);
	assert_int_equal(f->state.st.rcvq_len, strlen(REQ));
	assert_memory_equal(f->state.st.rcvq, REQ, strlen(REQ));
	assert_int_equal(f->steer_calls[1], 1); /* thawed */
	assert_int_equal(f->steer_calls[2], 0); /* never steered */
	assert_int_equal(ho_director_stats(f->d)->fallbacks, 1);
	still_works(cli, srv);
	close(cli);
	close(srv);
}

static void test_switch_refused(void **state)
{
	fallback_case(*state, ANSWER_REFUSE, "refused by the agent (reason 2)");
}

static void test_switch_no_ready(void **state)
{
	fake_t *f = *state;
	fallback_case(f, ANSWER_NONE, "no READY within 50 ms");
	assert_true(RUN_UNTIL(f, f->nrefuse == 1, 2000)); /* the agent is told to drop it */
}

static void test_switch_channel_ends(void **state)
{
	fallback_case(*state, ANSWER_HANGUP, "channel to the agent ended");
}

static void test_switch_ok(void **state)
{
	fake_t *f = *state;
	int cli, srv;
	char buf[16];
	f->answer = ANSWER_READY;
	pair_with_request(&cli, &srv);
	start_switch(f, srv);
	assert_true(RUN_UNTIL(f, f->sw_done == 1, 2000));
	assert_int_equal(f->sw_status, 0);
	assert_int_equal(f->steer_calls[2], 1); /* steered, */
	assert_int_equal(f->mark, 7);           /* to the node's mark */
	assert_int_equal(f->steer_calls[1], 0); /* (the steering ends the freeze) */
	assert_true(RUN_UNTIL(f, f->ngo == 1, 2000));
	net_repair_abort_close(srv); /* what the caller does: nothing goes to the client */
	usleep(20000);
	assert_int_equal(recv(cli, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ho_director_stats(f->d)->switched, 1);

	/* CLOSED with one report: on_closed, then the steering entry goes after linger_ms */
	ho_report_t rep = {.status = 200, .bytes_in = 40, .bytes_out = 1000, .usec = 5};
	ho_msg_t c = {
	    .type = HO_CLOSED, .conn_id = f->state.conn_id, .reports = &rep, .nreports = 1};
	assert_int_equal(ho_channel_send(&f->chs[0], &c), 0);
	assert_true(RUN_UNTIL(f, f->nclosed_cb == 1, 2000));
	assert_false(f->closed_null);
	assert_int_equal(f->closed_status, 200);
	assert_int_equal(f->steer_calls[3], 0);
	assert_true(RUN_UNTIL(f, f->steer_calls[3] == 1, 2000));
	close(cli);
}

static void test_switch_agent_down(void **state)
{
	fake_t *f = *state;
	int cli, srv;
	ho_switch_t *sw;
	uint64_t id;
	char msg[128];
	ho_channel_close(&f->chs[0]);
	assert_true(RUN_UNTIL(f, !ho_agent_up(f->a), 2000));
	pair_with_request(&cli, &srv);
	assert_true(ho_director_switch(f->d, f->a, srv, 7, REQ, strlen(REQ), on_switched, f, &sw,
	                               &id, msg, sizeof(msg)) < 0);
	assert_int_equal(f->steer_calls[0], 0); /* nothing was touched */
	still_works(cli, srv);
	close(cli);
	close(srv);
}

static void test_bad_address(void **state)
{
	fake_t *f = *state;
	struct sockaddr sa = {.sa_family = AF_UNIX};
	assert_int_equal(ho_director_add(f->d, "p/n1", &sa, &key, &f->a), UV_EINVAL);
}

int main(void)
{
	key.len = 32;
	for (size_t i = 0; i < 32; i++)
		key.bytes[i] = (uint8_t)(i * 7 + 1);
	lb_log_level = LB_LOG_ERROR; /* the connect failures' warnings are expected */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_up_then_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_listens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_while_connecting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_switch_refused, setup_switch, teardown_switch),
	    cmocka_unit_test_setup_teardown(test_switch_no_ready, setup_switch, teardown_switch),
	    cmocka_unit_test_setup_teardown(test_switch_channel_ends, setup_switch,
	                                    teardown_switch),
	    cmocka_unit_test_setup_teardown(test_switch_ok, setup_switch, teardown_switch),
	    cmocka_unit_test_setup_teardown(test_switch_agent_down, setup_switch, teardown_switch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

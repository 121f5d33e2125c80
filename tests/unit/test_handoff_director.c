/*
 * handoff/director's agent channels on loopback, one loop per test (uv_loop_close() == 0 at the
 * end): a fake agent (a libuv listener whose accepted connections become ho_channels) comes and
 * goes; the director's agent is up exactly while a channel is connected, reconnects with
 * backoff after the agent closed it, keeps retrying while nothing listens, and closes cleanly
 * with an attempt pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "handoff/director.h"

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
} fake_t;

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	(void)ch;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

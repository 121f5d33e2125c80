/*
 * net/splice.c over real loopback TCP connections on one loop: bytes moved exactly at several
 * sizes, a destination that stops reading (backpressure, then the rest), a source that ends
 * early or resets, a destination that goes away, stall timers on either side, and the pipe pool:
 * bounded, reused, and no descriptor left behind. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/splice.h"

/* A connected pair of TCP sockets on loopback: a (client side) and b (accepted). */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	(void)connect(*a, (struct sockaddr *)&sa, sizeof(sa));
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	assert_true(*b >= 0);
	close(l);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- a scenario: writer -> [src_w | src_r] -> splice -> [dst_w | dst_r] -> reader
 * ---------------- */

typedef struct {
	uv_loop_t loop;
	net_splice_t *s;
	int src_w, src_r, dst_w, dst_r;
	uv_poll_t wpoll, rpoll;
	char *data;
	size_t total, written, readn;
	char *got;
	bool reading;       /* the reader reads */
	bool writer_closes; /* close the source after `close_at` bytes */
	size_t close_at;
	bool reset; /* ... with a reset */
	uint64_t progress;
	bool done, closed;
	int err_side, err;
	int stall_side;
} sc_t;

static void on_progress(net_splice_t *s, uint64_t n)
{
	((sc_t *)s->data)->progress += n;
}
static void on_done(net_splice_t *s)
{
	((sc_t *)s->data)->done = true;
}
static void on_error(net_splice_t *s, net_splice_side_t side, int err)
{
	sc_t *t = s->data;
	t->err_side = (int)side;
	t->err = err;
}
static void on_stall(net_splice_t *s, net_splice_side_t side)
{
	((sc_t *)s->data)->stall_side = (int)side;
}
static void on_close(net_splice_t *s)
{
	sc_t *t = s->data;
	t->closed = true;
	free(s);
}
static const net_splice_cbs_t cbs = {on_progress, on_done, on_error, on_stall, on_close};

static void on_close_static(net_splice_t *s)
{
	(void)s; /* not ours to free */
}
static const net_splice_cbs_t static_cbs = {on_progress, on_done, on_error, on_stall,
                                            on_close_static};

static void on_writable(uv_poll_t *p, int status, int events)
{
	sc_t *t = p->data;
	(void)events;
	while (status == 0 && t->written < t->total) {
		size_t lim = t->writer_closes ? t->close_at : t->total;
		ssize_t k;
		if (t->written >= lim) {
			if (t->reset) {
				/* a close with SO_LINGER 0: a reset (the poll handle goes first) */
				struct linger lg = {1, 0};
				setsockopt(t->src_w, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				uv_close((uv_handle_t *)p, NULL);
				close(t->src_w);
				t->src_w = -1;
			} else {
				uv_poll_stop(p);
				shutdown(t->src_w, SHUT_WR);
			}
			return;
		}
		k = write(t->src_w, t->data + t->written, lim - t->written);
		if (k <= 0)
			return;
		t->written += (size_t)k;
	}
	uv_poll_stop(p);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	sc_t *t = p->data;
	(void)events;
	while (status == 0 && t->reading) {
		ssize_t k = read(t->dst_r, t->got + t->readn, t->total + 1 - t->readn);
		if (k <= 0)
			return;
		t->readn += (size_t)k;
	}
}

static void sc_init(sc_t *t, size_t total)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	tcp_pair(&t->src_w, &t->src_r);
	tcp_pair(&t->dst_r, &t->dst_w);
	t->total = total;
	t->data = malloc(total + 1);
	t->got = malloc(total + 1);
	for (size_t i = 0; i < total; i++)
		t->data[i] = (char)(i * 7 + (i >> 13));
	t->reading = true;
	uv_poll_init(&t->loop, &t->wpoll, t->src_w);
	uv_poll_init(&t->loop, &t->rpoll, t->dst_r);
	t->wpoll.data = t->rpoll.data = t;
}

static void sc_start(sc_t *t, uint64_t src_ms, uint64_t dst_ms)
{
	t->s = malloc(sizeof(*t->s));
	assert_int_equal(
	    net_splice_start(&t->loop, t->s, &cbs, t, t->src_r, t->dst_w, t->total, src_ms, dst_ms),
	    0);
	uv_poll_start(&t->wpoll, UV_WRITABLE, on_writable);
	uv_poll_start(&t->rpoll, UV_READABLE, on_readable);
}

static void run_until(sc_t *t, bool (*cond)(sc_t *), uint64_t ms)
{
	uint64_t t0;
	uv_update_time(&t->loop);
	t0 = uv_now(&t->loop);
	while (!cond(t) && uv_now(&t->loop) - t0 < ms)
		uv_run(&t->loop, UV_RUN_ONCE);
	assert_true(cond(t));
}

static bool ended(sc_t *t)
{
	return t->done || t->err_side || t->stall_side;
}
static bool all_read(sc_t *t)
{
	return t->done && t->readn >= t->total;
}

static void sc_end(sc_t *t)
{
	net_splice_close(t->s);
	if (!uv_is_closing((uv_handle_t *)&t->wpoll))
		uv_close((uv_handle_t *)&t->wpoll, NULL);
	uv_close((uv_handle_t *)&t->rpoll, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_true(t->closed);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	if (t->src_w >= 0)
		close(t->src_w);
	close(t->src_r);
	close(t->dst_w);
	close(t->dst_r);
	free(t->data);
	free(t->got);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_exact_bytes(void **state)
{
	static const size_t sizes[] = {1, 4096, 65536, 1048576 + 7, 16777216 + 13};
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sc_t t;
		sc_init(&t, sizes[i]);
		sc_start(&t, 5000, 5000);
		run_until(&t, all_read, 20000);
		assert_int_equal(t.readn, sizes[i]);
		assert_memory_equal(t.got, t.data, sizes[i]);
		assert_int_equal(t.progress, sizes[i]);
		assert_int_equal(t.err_side, 0);
		sc_end(&t);
	}
}

static void test_slow_reader(void **state)
{
	sc_t t;
	uint64_t before;
	(void)state;
	sc_init(&t, 8 << 20);
	t.reading = false;
	sc_start(&t, 5000, 5000);
	/* the reader takes nothing: the pipe and the sockets fill, then nothing moves */
	for (int i = 0; i < 50; i++)
		uv_run(&t.loop, UV_RUN_NOWAIT), usleep(2000);
	before = t.progress;
	assert_true(before < t.total);
	for (int i = 0; i < 20; i++)
		uv_run(&t.loop, UV_RUN_NOWAIT), usleep(2000);
	assert_int_equal(t.progress, before); /* backpressure: it waits, it does not spin ahead */
	t.reading = true;
	on_readable(&t.rpoll, 0, UV_READABLE);
	run_until(&t, all_read, 20000);
	assert_memory_equal(t.got, t.data, t.total);
	sc_end(&t);
}

static void test_source_ends_early(void **state)
{
	sc_t t;
	(void)state;
	sc_init(&t, 1 << 20);
	t.writer_closes = true;
	t.close_at = 300000;
	sc_start(&t, 5000, 5000);
	run_until(&t, ended, 10000);
	assert_false(t.done); /* never a complete move of a short source */
	assert_int_equal(t.err_side, NET_SPLICE_SRC);
	assert_int_equal(t.err, UV_EOF);
	assert_true(t.progress <= 300000);
	sc_end(&t);
}

static void test_source_resets(void **state)
{
	sc_t t;
	(void)state;
	sc_init(&t, 1 << 20);
	t.writer_closes = true;
	t.close_at = 100000;
	t.reset = true;
	t.reading = true;
	sc_start(&t, 5000, 5000);
	run_until(&t, ended, 10000);
	assert_false(t.done);
	assert_int_equal(t.err_side, NET_SPLICE_SRC);
	sc_end(&t);
}

static void test_destination_goes_away(void **state)
{
	sc_t t;
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	sc_init(&t, 4 << 20);
	sc_start(&t, 5000, 5000);
	uv_close((uv_handle_t *)&t.rpoll, NULL);
	uv_run(&t.loop, UV_RUN_NOWAIT);
	close(t.dst_r); /* the reader is gone (its unread bytes make the kernel reset) */
	t.dst_r = socket(AF_INET, SOCK_STREAM, 0);
	uv_poll_init(&t.loop, &t.rpoll, t.dst_r);
	run_until(&t, ended, 10000);
	assert_false(t.done);
	assert_int_equal(t.err_side, NET_SPLICE_DST);
	sc_end(&t);
}

static void test_stalls(void **state)
{
	sc_t t;
	(void)state;
	/* the source sends nothing more: a stall on the source side */
	sc_init(&t, 1 << 20);
	t.writer_closes = true;
	t.close_at = 1000;
	sc_start(&t, 100, 5000);
	uv_poll_stop(&t.wpoll);
	(void)write(t.src_w, t.data, 1000);
	run_until(&t, ended, 5000);
	assert_int_equal(t.stall_side, NET_SPLICE_SRC);
	sc_end(&t);
	/* the destination takes nothing: a stall on the destination side */
	sc_init(&t, 32 << 20);
	t.reading = false;
	sc_start(&t, 5000, 100);
	run_until(&t, ended, 5000);
	assert_int_equal(t.stall_side, NET_SPLICE_DST);
	sc_end(&t);
}

/* Pipes: at most NET_SPLICE_MAX_PIPES at once, reused afterwards, and what is closed is
 * closed. */
static void test_pipe_pool(void **state)
{
	enum { N = NET_SPLICE_MAX_PIPES };
	uv_loop_t loop;
	static net_splice_t ss[N + 1];
	int a, b, fds0;
	(void)state;
	net_splice_pipes_close();
	fds0 = open_fds();
	assert_int_equal(uv_loop_init(&loop), 0);
	tcp_pair(&a, &b);
	for (int i = 0; i < N; i++)
		assert_int_equal(
		    net_splice_start(&loop, &ss[i], &static_cbs, NULL, b, b, 1, 1000, 1000), 0);
	/* one more: no pipe free, nothing started */
	assert_int_equal(net_splice_start(&loop, &ss[N], &static_cbs, NULL, b, b, 1, 1000, 1000),
	                 UV_EAGAIN);
	assert_int_equal(net_splice_pipes_made(), N);
	for (int i = 0; i < N; i++)
		net_splice_close(&ss[i]);
	/* closed while active: their pipes might hold bytes, so they are not reused */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(net_splice_pipes_made(), 0);
	close(a);
	close(b);
	assert_int_equal(open_fds(), fds0); /* every pipe and duplicate closed */
	/* a completed move gives its pipe back for the next one */
	{
		sc_t t;
		sc_init(&t, 100000);
		sc_start(&t, 5000, 5000);
		run_until(&t, all_read, 10000);
		assert_int_equal(net_splice_pipes_free(), 1);
		sc_end(&t);
		sc_init(&t, 100000);
		sc_start(&t, 5000, 5000);
		assert_int_equal(net_splice_pipes_free(), 0); /* taken again, not made anew */
		assert_int_equal(net_splice_pipes_made(), 1);
		run_until(&t, all_read, 10000);
		sc_end(&t);
	}
	net_splice_pipes_close();
	assert_int_equal(net_splice_pipes_made(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_bytes),
	    cmocka_unit_test(test_slow_reader),
	    cmocka_unit_test(test_source_ends_early),
	    cmocka_unit_test(test_source_resets),
	    cmocka_unit_test(test_destination_goes_away),
	    cmocka_unit_test(test_stalls),
	    cmocka_unit_test(test_pipe_pool),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

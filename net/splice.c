/*
 * splice(2) relay between two sockets (see splice.h).
 *
 * The duplicates matter: epoll registers (descriptor, open file) pairs, so a poll handle on a
 * duplicate is a registration of its own. The stream's registration of the original descriptor
 * stays as libuv left it (libuv drops it at the first event nobody wants), and closing our poll
 * handle removes only ours. Sharing the original descriptor between a uv_poll_t and a uv_tcp_t
 * is not supported by libuv; this is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/splice.h"

/* ---- the pipe pool ----------------------------------------------------------------------------
 */

typedef struct {
	int r, w;
	uint64_t cap;
} pipe_t;

#define FREE_MAX 64

static _Thread_local struct {
	pipe_t free[FREE_MAX];
	unsigned nfree;
	unsigned in_use;
	unsigned made;
} pool;

static int pipe_get(pipe_t *p)
{
	int fds[2], sz;
	if (pool.nfree) {
		*p = pool.free[--pool.nfree];
		pool.in_use++;
		return 0;
	}
	if (pool.in_use >= NET_SPLICE_MAX_PIPES)
		return UV_EAGAIN;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	/* a larger pipe: fewer splice calls per byte; the kernel's default (64 KiB) otherwise */
	(void)fcntl(fds[1], F_SETPIPE_SZ, NET_SPLICE_PIPE_SIZE);
	sz = fcntl(fds[1], F_GETPIPE_SZ);
	p->r = fds[0];
	p->w = fds[1];
	p->cap = sz > 0 ? (uint64_t)sz : 65536;
	pool.made++;
	pool.in_use++;
	return 0;
}

/* clean: the pipe holds nothing (every byte put in came out) */
static void pipe_put(pipe_t *p, bool clean)
{
	pool.in_use--;
	if (clean && pool.nfree < FREE_MAX) {
		pool.free[pool.nfree++] = *p;
		return;
	}
	close(p->r);
	close(p->w);
	pool.made--;
}

unsigned net_splice_pipes_free(void)
{
	return pool.nfree;
}

unsigned net_splice_pipes_made(void)
{
	return pool.made;
}

void net_splice_pipes_close(void)
{
	while (pool.nfree) {
		pipe_t *p = &pool.free[--pool.nfree];
		close(p->r);
		close(p->w);
		pool.made--;
	}
}

/* ---- moving -------------------------------------------------------------------------------------
 */

static void on_src(uv_poll_t *h, int status, int events);
static void on_dst(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);

static void want(net_splice_t *s, bool src, bool dst)
{
	int se = src ? UV_READABLE : 0, de = dst ? UV_WRITABLE : 0;
	if (se != s->src_events) {
		s->src_events = se;
		if (se)
			uv_poll_start(&s->src_poll, se, on_src);
		else
			uv_poll_stop(&s->src_poll);
	}
	if (de != s->dst_events) {
		s->dst_events = de;
		if (de)
			uv_poll_start(&s->dst_poll, de, on_dst);
		else
			uv_poll_stop(&s->dst_poll);
	}
}

static void stop_all(net_splice_t *s)
{
	want(s, false, false);
	uv_timer_stop(&s->timer);
}

static void give_back_pipe(net_splice_t *s, bool clean)
{
	pipe_t p = {.r = s->pipe_r, .w = s->pipe_w, .cap = s->pipe_cap};
	if (s->pipe_r < 0)
		return;
	pipe_put(&p, clean);
	s->pipe_r = s->pipe_w = -1;
}

static void fail(net_splice_t *s, net_splice_side_t side, int err)
{
	s->active = false;
	stop_all(s);
	give_back_pipe(s, false);
	s->cb->on_error(s, side, err);
}

/*
 * Moves what can be moved now: into the pipe while it has room and the source has bytes, out of
 * it while the destination takes them; then waits for whichever side held it up.
 */
static void move(net_splice_t *s)
{
	uint64_t cap = s->pipe_cap;
	bool src_blocked = false, dst_blocked = false, progress_any = false;
	if (s->in_move)
		return;
	s->in_move = true;
	for (;;) {
		bool progress = false;
		if (s->in < s->total && s->in - s->out < cap) {
			uint64_t n = s->total - s->in, room = cap - (s->in - s->out);
			ssize_t k = splice(s->src, NULL, s->pipe_w, NULL, n < room ? n : room,
			                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (k > 0) {
				s->in += (uint64_t)k;
				progress = true;
				src_blocked = false;
			} else if (k == 0) {
				s->in_move = false;
				fail(s, NET_SPLICE_SRC, UV_EOF);
				return;
			} else if (errno == EAGAIN) {
				src_blocked = true;
			} else {
				int e = -errno;
				s->in_move = false;
				fail(s, NET_SPLICE_SRC, e);
				return;
			}
		}
		if (s->in > s->out) {
			ssize_t k = splice(s->pipe_r, NULL, s->dst, NULL, s->in - s->out,
			                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (k > 0) {
				s->out += (uint64_t)k;
				progress = true;
				dst_blocked = false;
				s->cb->on_progress(s, (uint64_t)k);
				if (s->closing || !s->active) {
					s->in_move = false;
					return;
				}
			} else if (k < 0 && errno == EAGAIN) {
				dst_blocked = true;
			} else {
				int e = k == 0 ? UV_EPIPE : -errno;
				s->in_move = false;
				fail(s, NET_SPLICE_DST, e);
				return;
			}
		}
		if (s->out == s->total) {
			s->in_move = false;
			s->active = false;
			stop_all(s);
			give_back_pipe(s, true);
			s->cb->on_done(s);
			return;
		}
		progress_any |= progress;
		if (!progress)
			break;
	}
	s->in_move = false;
	/* wait for the side that held us up; the stall timer measures that side */
	want(s, s->in < s->total && s->in - s->out < cap && src_blocked, s->in > s->out);
	if (progress_any || !uv_is_active((uv_handle_t *)&s->timer)) {
		bool on_dst = s->in > s->out && dst_blocked;
		uv_timer_start(&s->timer, on_timer, on_dst ? s->dst_ms : s->src_ms, 0);
		s->timer_side = on_dst ? NET_SPLICE_DST : NET_SPLICE_SRC;
	}
}

static void polled(uv_poll_t *h, int status, bool dst)
{
	net_splice_t *s = h->data;
	if (!s->active)
		return;
	if (status < 0) /* libuv stopped the handle (an error or hang-up on the socket, which it
	                 * reports as UV_EBADF): splice says what it is */
		*(dst ? &s->dst_events : &s->src_events) = 0;
	move(s);
}

static void on_src(uv_poll_t *h, int status, int events)
{
	(void)events;
	polled(h, status, false);
}

static void on_dst(uv_poll_t *h, int status, int events)
{
	(void)events;
	polled(h, status, true);
}

static void on_timer(uv_timer_t *t)
{
	net_splice_t *s = t->data;
	if (!s->active)
		return;
	s->active = false;
	stop_all(s);
	give_back_pipe(s, false);
	s->cb->on_stall(s, s->timer_side);
}

/* ---- start and close
 * ------------------------------------------------------------------------------ */

int net_splice_start(uv_loop_t *loop, net_splice_t *s, const net_splice_cbs_t *cb, void *data,
                     int src_fd, int dst_fd, uint64_t total, uint64_t src_ms, uint64_t dst_ms)
{
	pipe_t p;
	int src, dst, rc;
	if ((rc = pipe_get(&p)) < 0)
		return rc;
	src = fcntl(src_fd, F_DUPFD_CLOEXEC, 0);
	dst = src >= 0 ? fcntl(dst_fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (dst < 0) {
		rc = -errno;
		if (src >= 0)
			close(src);
		pipe_put(&p, true);
		return rc;
	}
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->cb = cb;
	s->loop = loop;
	s->src = src;
	s->dst = dst;
	s->pipe_r = p.r;
	s->pipe_w = p.w;
	s->pipe_cap = p.cap;
	s->total = total;
	s->src_ms = src_ms;
	s->dst_ms = dst_ms;
	uv_poll_init(loop, &s->src_poll, src);
	uv_poll_init(loop, &s->dst_poll, dst);
	uv_timer_init(loop, &s->timer);
	s->src_poll.data = s->dst_poll.data = s->timer.data = s;
	s->handles = 3;
	s->active = true;
	/* the first move comes from the loop: the source may have bytes already (readable) */
	want(s, true, false);
	uv_timer_start(&s->timer, on_timer, src_ms, 0);
	s->timer_side = NET_SPLICE_SRC;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	net_splice_t *s = h->data;
	if (--s->handles == 0)
		s->cb->on_close(s);
}

void net_splice_close(net_splice_t *s)
{
	if (s->closing)
		return;
	s->closing = true;
	s->active = false;
	give_back_pipe(s, false);
	uv_close((uv_handle_t *)&s->src_poll, on_closed);
	uv_close((uv_handle_t *)&s->dst_poll, on_closed);
	uv_close((uv_handle_t *)&s->timer, on_closed);
	/* closing a poll handle removed its registration: the duplicates can go */
	close(s->src);
	close(s->dst);
}

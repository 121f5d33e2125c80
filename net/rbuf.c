#include <stdlib.h>
#include <string.h>

#include "net/rbuf.h"

/* Spare buffers of this thread (each event loop has its own): a dropped buffer goes here and the
 * next allocation takes it back, so a keep-alive client costs no malloc/free (nor a heap trim and
 * its page faults) per request. Bounded: what is above SPARES goes back to malloc. */
#define SPARES 64
static _Thread_local struct {
	size_t cap;
	unsigned n;
	char *buf[SPARES];
} spare;

static char *buf_get(size_t cap)
{
	char *p;
	if (spare.n && spare.cap == cap)
		return spare.buf[--spare.n];
	if (!(p = malloc(cap)))
		abort();
	return p;
}

static void buf_put(char *p, size_t cap)
{
	if (spare.n && spare.cap != cap)
		net_rbuf_spares_free(); /* the buffer size changed (reload): the old spares go */
	if (spare.n == SPARES) {
		free(p);
		return;
	}
	spare.cap = cap;
	spare.buf[spare.n++] = p;
}

void net_rbuf_spares_free(void)
{
	while (spare.n)
		free(spare.buf[--spare.n]);
}

void net_rbuf_reset_if_empty(net_rbuf_t *rb)
{
	if (!rb->writing && rb->start == rb->len)
		rb->start = rb->parsed = rb->len = 0;
}

void net_rbuf_compact(net_rbuf_t *rb)
{
	if (rb->writing || rb->start == 0)
		return;
	memmove(rb->data, rb->data + rb->start, rb->len - rb->start);
	rb->parsed -= rb->start;
	rb->len -= rb->start;
	rb->start = 0;
}

void net_rbuf_space(net_rbuf_t *rb, uv_buf_t *buf)
{
	if (!rb->data)
		rb->data = buf_get(rb->cap);
	if (rb->len == rb->cap)
		net_rbuf_compact(rb);
	buf->base = rb->data + rb->len;
	buf->len = rb->cap - rb->len;
}

bool net_rbuf_take(net_rbuf_t *rb, uv_buf_t *buf)
{
	if (rb->writing || rb->parsed == rb->start)
		return false;
	*buf = uv_buf_init(rb->data + rb->start, (unsigned)(rb->parsed - rb->start));
	rb->wend = rb->parsed;
	rb->writing = true;
	return true;
}

size_t net_rbuf_release(net_rbuf_t *rb)
{
	size_t n = rb->wend - rb->start;
	rb->start = rb->wend;
	rb->writing = false;
	net_rbuf_reset_if_empty(rb);
	return n;
}

void net_rbuf_abandon(net_rbuf_t *rb)
{
	rb->writing = false;
}

void net_rbuf_drop(net_rbuf_t *rb)
{
	if (rb->writing || rb->start != rb->len)
		return;
	if (rb->data)
		buf_put(rb->data, rb->cap);
	rb->data = NULL;
	rb->start = rb->parsed = rb->len = 0;
}

void net_rbuf_free(net_rbuf_t *rb)
{
	if (rb->data)
		buf_put(rb->data, rb->cap);
	rb->data = NULL;
	rb->start = rb->parsed = rb->len = rb->wend = 0;
	rb->writing = false;
}

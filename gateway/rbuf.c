#include <string.h>

#include "gateway/rbuf.h"

void gw_rbuf_reset_if_empty(gw_rbuf_t *rb)
{
	if (!rb->writing && rb->start == rb->len)
		rb->start = rb->parsed = rb->len = 0;
}

void gw_rbuf_compact(gw_rbuf_t *rb)
{
	if (rb->writing || rb->start == 0)
		return;
	memmove(rb->data, rb->data + rb->start, rb->len - rb->start);
	rb->parsed -= rb->start;
	rb->len -= rb->start;
	rb->start = 0;
}

void gw_rbuf_space(gw_rbuf_t *rb, uv_buf_t *buf)
{
	if (rb->len == rb->cap)
		gw_rbuf_compact(rb);
	buf->base = rb->data + rb->len;
	buf->len = rb->cap - rb->len;
}

bool gw_rbuf_take(gw_rbuf_t *rb, uv_buf_t *buf)
{
	if (rb->writing || rb->parsed == rb->start)
		return false;
	*buf = uv_buf_init(rb->data + rb->start, (unsigned)(rb->parsed - rb->start));
	rb->wend = rb->parsed;
	rb->writing = true;
	return true;
}

size_t gw_rbuf_release(gw_rbuf_t *rb)
{
	size_t n = rb->wend - rb->start;
	rb->start = rb->wend;
	rb->writing = false;
	gw_rbuf_reset_if_empty(rb);
	return n;
}

void gw_rbuf_abandon(gw_rbuf_t *rb)
{
	rb->writing = false;
}

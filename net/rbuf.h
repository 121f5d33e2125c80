/*
 * The relay buffer: one fixed buffer per direction per connection. Bytes are read into the free
 * tail, parsed in place, written on from where they lie (no copy) and released when that write
 * completes. Reading stops when the tail is full and nothing can be released or moved: that is
 * the backpressure, and it bounds memory per connection to the buffer size. The memory itself is
 * taken when bytes first arrive and may be given back whenever the buffer is empty (a client's
 * idle keep-alive connection holds no buffer).
 *
 *   0        start          parsed           len            cap
 *   |released|  parsed, to   | received, not |     free     |
 *   |        |  be written   | parsed yet    |              |
 *            [start, wend) is in flight while `writing`
 */
#ifndef S3LB_NET_RBUF_H
#define S3LB_NET_RBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct net_rbuf_s {
	char *data;
	size_t cap, start, parsed, len, wend;
	bool writing;
} net_rbuf_t;

/* The free tail to read into (allocating the buffer when it has none); moves pending bytes to the
 * front first when the tail is full and no write is in flight. A zero length means: stop reading
 * until a write completes. */
void net_rbuf_space(net_rbuf_t *rb, uv_buf_t *buf);
/* Moves [start, len) to the front (never while a write is in flight). */
void net_rbuf_compact(net_rbuf_t *rb);
/* The parsed bytes not yet written: marks them in flight. False when there are none or a write
 * is already in flight. */
bool net_rbuf_take(net_rbuf_t *rb, uv_buf_t *buf);
/* The write of the bytes taken completed: releases them; returns how many. */
size_t net_rbuf_release(net_rbuf_t *rb);
/* The write was abandoned (its peer failed): the bytes stay, for a retry. */
void net_rbuf_abandon(net_rbuf_t *rb);
/* When every byte is released, starts again at offset 0. */
void net_rbuf_reset_if_empty(net_rbuf_t *rb);

/* Frees the memory when the buffer holds nothing and no write is in flight; the next
 * net_rbuf_space allocates it again. */
void net_rbuf_drop(net_rbuf_t *rb);
/* Gives the memory back whatever it holds (the owner is closing). */
void net_rbuf_free(net_rbuf_t *rb);
/* Frees this thread's spare buffers (kept by net_rbuf_drop for reuse); at shutdown. */
void net_rbuf_spares_free(void);

#endif

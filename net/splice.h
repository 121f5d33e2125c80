/*
 * Moving a known number of bytes from one TCP socket to another without copying them through
 * user space: splice(2) from the source into a pipe and from the pipe into the destination,
 * driven by uv_poll on duplicates of the two descriptors (so that the libuv streams that own
 * the sockets keep their own registrations, untouched, and take over again afterwards).
 * Backpressure is the pipe's: nothing more is read while it is full.
 *
 * Pipes come from a per-thread pool, made lazily, sized NET_SPLICE_PIPE_SIZE where the kernel
 * allows, and bounded (NET_SPLICE_MAX_PIPES in use at once per thread): when none is free,
 * net_splice_start says so and the caller relays by copying. A pipe that still holds bytes
 * after a failure is closed, never reused.
 *
 * Runs on the loop given; callbacks never run inside net_splice_start or net_splice_stop.
 */
#ifndef S3LB_NET_SPLICE_H
#define S3LB_NET_SPLICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define NET_SPLICE_PIPE_SIZE (1u << 20)
#define NET_SPLICE_MAX_PIPES 256

typedef struct net_splice_s net_splice_t;

/* Which side a failure or a stall is on. */
typedef enum { NET_SPLICE_SRC = 1, NET_SPLICE_DST = 2 } net_splice_side_t;

typedef struct net_splice_cbs_s {
	/* n more bytes reached the destination (total so far in s->out) */
	void (*on_progress)(net_splice_t *s, uint64_t n);
	/* every byte moved; the sockets are the streams' again */
	void (*on_done)(net_splice_t *s);
	/* the source ended early (err UV_EOF) or a side failed; the bytes in flight are lost */
	void (*on_error)(net_splice_t *s, net_splice_side_t side, int err);
	/* no progress for the timeout given, waiting on `side` */
	void (*on_stall)(net_splice_t *s, net_splice_side_t side);
	/* the handles are closed: the memory may go */
	void (*on_close)(net_splice_t *s);
} net_splice_cbs_t;

struct net_splice_s {
	void *data;
	const net_splice_cbs_t *cb;
	uv_loop_t *loop;
	uv_poll_t src_poll, dst_poll;
	uv_timer_t timer;
	int src, dst; /* duplicates, ours */
	int pipe_r, pipe_w;
	uint64_t pipe_cap;
	int timer_side;          /* the side the stall timer waits on */
	uint64_t total, in, out; /* bytes to move, into the pipe, out of it */
	uint64_t src_ms, dst_ms; /* stall timeouts while waiting on each side */
	int src_events, dst_events;
	unsigned handles;
	bool active;
	bool closing;
	bool in_move;
};

/*
 * Starts moving `total` bytes from src_fd to dst_fd (both non-blocking TCP sockets whose libuv
 * streams neither read nor write meanwhile). Returns 0, or a negative error (UV_EAGAIN: no pipe
 * free; UV_ENOSYS: no splice here) with nothing started and s unchanged.
 */
__attribute__((warn_unused_result)) int net_splice_start(uv_loop_t *loop, net_splice_t *s,
                                                         const net_splice_cbs_t *cb, void *data,
                                                         int src_fd, int dst_fd, uint64_t total,
                                                         uint64_t src_ms, uint64_t dst_ms);
/* Stops and closes (idempotent); on_close follows. */
void net_splice_close(net_splice_t *s);

/* Pipes of this thread: free in the pool, and made in all (for tests). */
unsigned net_splice_pipes_free(void);
unsigned net_splice_pipes_made(void);
/* Closes this thread's free pipes; at shutdown. */
void net_splice_pipes_close(void);

#endif

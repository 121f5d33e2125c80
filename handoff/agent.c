#include "handoff/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "core/log.h"
#include "core/parse.h"
#include "net/http.h"
#include "net/repair.h"
#include "net/splice.h"

#define RELAY_BUF    (64 * 1024)
#define MAX_HEADERS  200
#define MAX_HEAD     (64 * 1024)
#define MAX_INFLIGHT 64 /* requests read and not yet answered (pipelining) */

typedef struct chan_s chan_t;
typedef struct conn_s conn_t;

struct ho_agent_s {
	uv_loop_t *loop;
	ho_agent_conf_t conf;
	uv_tcp_t listener, admin;
	bool has_admin, stopping;
	unsigned handles;
	chan_t *chans;
	conn_t *conns;
	ho_agent_stats_t stats;
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

struct chan_s {
	ho_channel_t ch;
	ho_agent_t *a;
	chan_t *next, **prev;
};

/* One direction of the relay: bytes read from src into buf, parsed in place, written to dst.
 *   0     start        wend               fed           len       cap
 *   |done | being written or writable  | parsed, held | unparsed | free |
 * While a message's head is incomplete its bytes (from msg) stay contiguous and unwritten: the
 * parser reads them back once the head is whole. */
typedef struct half_s {
	uv_stream_t *src, *dst;
	net_http_t http;
	char *buf;
	size_t start, fed, len, msg, wlen;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	bool writing, reading, eof, shut;
	uint64_t msg_bytes;
} half_t;

typedef struct pend_s {
	uint64_t t0; /* uv_hrtime */
	uint64_t in;
	bool head;
} pend_t;

enum { C_CONNECTING, C_READY, C_SERVING, C_CLOSING };

struct conn_s {
	ho_agent_t *a;
	chan_t *chan; /* NULL once its channel ended */
	uint64_t id;
	int state;
	int fd; /* the rebuilt socket, in repair mode until GO; then the client stream's */
	net_repair_state_t st;
	uv_tcp_t cli, s3;
	uv_timer_t timer;
	uv_connect_t creq;
	net_splice_t *sp; /* a response body being spliced */
	half_t up, down;  /* client -> S3, S3 -> client */
	pend_t pend[MAX_INFLIGHT];
	unsigned npend;
	int resp_status;
	uint64_t resp_t0;
	bool want_splice, cli_open;
	bool copy_body; /* this response's body could not be spliced: copied */
	bool hb;        /* HANDBACK sent, in repair mode, waiting for the director's GO */
	bool no_hb;     /* the director refused a hand-back: not again before the next response */
	bool hb_wait;   /* a hand-back waits for the client to acknowledge the response's tail */
	uint64_t hb_wait_t0;
	unsigned handles;
	ho_end_t end;
	ho_report_t *reports;
	uint32_t nreports, reports_cap;
	conn_t *next, **prev;
};

static const char *const refuse_names[HO_REFUSE_NREASONS] = {
    "none", "vip", "restore", "s3", "busy", "dup", "unsupported", "stopping"};
static const char *const end_names[HO_END_NREASONS] = {
    "client", "s3", "client_error", "idle", "protocol", "leave", "stopping", "handback"};

const char *ho_refuse_name(unsigned r)
{
	return r < HO_REFUSE_NREASONS ? refuse_names[r] : "?";
}

const char *ho_end_name(unsigned r)
{
	return r < HO_END_NREASONS ? end_names[r] : "?";
}

static void addr_text(int family, const uint8_t *addr, uint16_t port, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	inet_ntop(family, addr, h, sizeof(h));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", h, port);
}

static void maybe_stopped(ho_agent_t *a);

/* ---- connections: closing ---- */

static void send_closed(conn_t *c)
{
	ho_agent_t *a = c->a;
	a->stats.ended[c->end]++;
	if (!c->chan) {
		a->stats.unreported++;
		return;
	}
	ho_msg_t m = {.type = HO_CLOSED,
	              .conn_id = c->id,
	              .reason = c->end,
	              .reports = c->reports,
	              .nreports = c->nreports};
	if (ho_channel_send(&c->chan->ch, &m) < 0)
		a->stats.unreported++;
}

static void conn_free(conn_t *c)
{
	ho_agent_t *a = c->a;
	if (c->state == C_CLOSING && c->cli_open)
		send_closed(c);
	*c->prev = c->next;
	if (c->next)
		c->next->prev = c->prev;
	net_http_free(&c->up.http);
	net_http_free(&c->down.http);
	free(c->up.buf);
	free(c->down.buf);
	free(c->reports);
	net_repair_state_free(&c->st);
	free(c);
	maybe_stopped(a);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	if (--c->handles == 0)
		conn_free(c);
}

static void on_splice_closed(net_splice_t *s)
{
	conn_t *c = s->data;
	free(s);
	if (--c->handles == 0)
		conn_free(c);
}

/* Ends the connection: before GO the rebuilt socket goes silently (repair mode); after GO
 * the client stream closes normally (FIN) and CLOSED follows once every handle is closed. */
static void conn_close(conn_t *c, ho_end_t why)
{
	if (c->state == C_CLOSING)
		return;
	ho_agent_t *a = c->a;
	bool serving = c->state == C_SERVING;
	c->state = C_CLOSING;
	c->end = why;
	if (serving)
		a->stats.active--;
	else
		a->stats.pending--;
	if (c->chan)
		ho_channel_expect(&c->chan->ch, c->id, 0);
	if (c->fd >= 0 && !c->cli_open) {
		net_repair_abort_close(c->fd);
		c->fd = -1;
	}
	if (c->sp) {
		net_splice_close(c->sp);
		c->sp = NULL;
	}
	/* a connection that did not end cleanly is reset: a short body must not look whole */
	if (c->cli_open && (why == HO_END_CLIENT || why == HO_END_HANDBACK ||
	                    uv_tcp_close_reset(&c->cli, on_conn_handle_closed) < 0))
		uv_close((uv_handle_t *)&c->cli, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->s3, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static conn_t *conn_find(ho_agent_t *a, chan_t *ch, uint64_t id)
{
	for (conn_t *c = a->conns; c; c = c->next)
		if (c->chan == ch && c->id == id && c->state != C_CLOSING)
			return c;
	return NULL;
}

/* ---- the relay ---- */

static void half_flush(conn_t *c, half_t *h);
static void half_read(conn_t *c, half_t *h);
static void maybe_handback(conn_t *c);
static void resume(conn_t *c);
static void maybe_splice(conn_t *c);

static void idle_again(conn_t *c)
{
	uv_timer_again(&c->timer);
}

static void report(conn_t *c, int status, uint64_t out)
{
	ho_agent_t *a = c->a;
	pend_t p = {c->resp_t0 ? c->resp_t0 : uv_hrtime(), c->up.msg_bytes, false};
	if (c->npend) {
		p = c->pend[0];
		memmove(c->pend, c->pend + 1, (c->npend - 1) * sizeof(c->pend[0]));
		c->npend--;
	}
	a->stats.requests++;
	if (c->nreports == HO_REPORTS_MAX) {
		a->stats.reports_dropped++;
		return;
	}
	if (c->nreports == c->reports_cap) {
		uint32_t cap = c->reports_cap ? c->reports_cap * 2 : 4;
		ho_report_t *r = realloc(c->reports, cap * sizeof(*r));
		if (!r)
			abort();
		c->reports = r;
		c->reports_cap = cap;
	}
	c->reports[c->nreports++] =
	    (ho_report_t){(uint16_t)status, p.in, out, (uv_hrtime() - p.t0) / 1000};
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	conn_t *c = req->data;
	if (c->state == C_CLOSING)
		return;
	/* both directions ended: the connection is over */
	if (c->up.shut && c->down.shut)
		conn_close(c, HO_END_CLIENT);
}

/* src ended and every byte is written: pass the end on */
static void half_maybe_shut(conn_t *c, half_t *h)
{
	if (!h->eof || h->shut || h->writing || h->start != h->len)
		return;
	h->shut = true;
	h->sreq.data = c;
	if (uv_shutdown(&h->sreq, h->dst, on_shutdown) < 0)
		conn_close(c, HO_END_CLIENT);
}

static void on_half_written(uv_write_t *req, int status)
{
	half_t *h = req->data;
	conn_t *c = req->handle->data;
	h->writing = false;
	if (c->state == C_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, h == &c->down ? HO_END_CLIENT_ERR : HO_END_S3);
		return;
	}
	h->start += h->wlen;
	if (h->start == h->len)
		h->start = h->fed = h->len = h->msg = 0; /* all written: start over at the front */
	idle_again(c);
	half_flush(c, h);
	if (c->state == C_CLOSING)
		return;
	maybe_handback(c);
	if (!h->reading && !h->eof && !c->sp && !c->want_splice && !c->hb && !c->hb_wait)
		half_read(c, h);
	half_maybe_shut(c, h);
	maybe_splice(c);
}

/* writes what may go: everything parsed, less an incomplete head */
static void half_flush(conn_t *c, half_t *h)
{
	if (h->writing)
		return;
	size_t wend = h->http.head_done ? h->fed : h->msg;
	if (wend <= h->start)
		return;
	h->wlen = wend - h->start;
	h->wreq.data = h;
	uv_buf_t b = uv_buf_init(h->buf + h->start, (unsigned)h->wlen);
	if (uv_write(&h->wreq, h->dst, &b, 1, on_half_written) < 0) {
		conn_close(c, h == &c->down ? HO_END_CLIENT_ERR : HO_END_S3);
		return;
	}
	h->writing = true;
	if (h == &c->down) {
		c->a->stats.bytes_out += h->wlen;
	} else {
		c->a->stats.bytes_in += h->wlen;
	}
}

/* a whole message went through this half */
static void message_done(conn_t *c, half_t *h)
{
	if (h == &c->up) {
		/* the request's bytes belong to the oldest unanswered request being read */
		if (c->npend)
			c->pend[c->npend - 1].in = h->msg_bytes;
	} else if (c->resp_status >= 200 || c->resp_status == 101 || c->resp_status == 0) {
		report(c, c->resp_status, h->msg_bytes);
	}
	if (h == &c->down)
		c->copy_body = c->no_hb = false;
	net_http_next(&h->http);
	h->msg = h->fed;
	h->msg_bytes = 0;
}

static void head_done(conn_t *c, half_t *h)
{
	if (h == &c->up) {
		if (c->npend == MAX_INFLIGHT) {
			conn_close(c, HO_END_PROTOCOL);
			return;
		}
		const char *m = net_http_method(&h->http);
		/* the first request on the connection counts from GO */
		uint64_t t0 = c->resp_t0 ? c->resp_t0 : uv_hrtime();
		c->pend[c->npend] = (pend_t){t0, 0, m && strcmp(m, "HEAD") == 0};
		c->npend++;
		c->resp_t0 = 0;
	} else {
		c->resp_status = net_http_status(&h->http);
	}
}

static void half_parse(conn_t *c, half_t *h)
{
	while (h->fed < h->len && c->state != C_CLOSING) {
		if (h == &c->down && !h->http.head_done)
			h->http.skip_body = c->npend && c->pend[0].head;
		size_t used = 0;
		net_http_result_t r = net_http_execute(&h->http, h->buf + h->fed, h->len - h->fed,
		                                       h->fed - h->msg, &used);
		h->fed += used;
		h->msg_bytes += used;
		if (r == NET_HTTP_ERROR) {
			LB_WARN("handoff agent: connection %llu: invalid HTTP from the %s: %s",
			        (unsigned long long)c->id, h == &c->up ? "client" : "S3 server",
			        h->http.why ? h->http.why : "?");
			conn_close(c, HO_END_PROTOCOL);
			return;
		}
		if (r == NET_HTTP_HEAD) {
			head_done(c, h);
			/* a message without a body ends with its head */
			if (c->state != C_CLOSING && h->http.msg_done)
				message_done(c, h);
		} else if (r == NET_HTTP_DONE)
			message_done(c, h);
		else if (used == 0)
			break;
	}
	if (c->state == C_CLOSING)
		return;
	if (!h->http.head_done && h->len - h->msg >= RELAY_BUF) {
		LB_WARN("handoff agent: connection %llu: a head over %d bytes from the %s",
		        (unsigned long long)c->id, RELAY_BUF, h == &c->up ? "client" : "S3 server");
		conn_close(c, HO_END_PROTOCOL);
		return;
	}
	/* a long Content-Length body from the S3 server, nothing buffered beyond it: splice */
	if (h == &c->down && !c->copy_body && h->http.head_done && !h->http.msg_done &&
	    h->fed == h->len && net_http_body_left(&h->http) >= c->a->conf.splice_min)
		c->want_splice = true;
}

static void on_half_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *out)
{
	conn_t *c = hd->data;
	half_t *h = (uv_tcp_t *)hd == &c->cli ? &c->up : &c->down;
	if (!h->buf && !(h->buf = malloc(RELAY_BUF))) {
		*out = uv_buf_init(NULL, 0);
		return;
	}
	if (h->len == RELAY_BUF && h->start && !h->writing) {
		memmove(h->buf, h->buf + h->start, h->len - h->start);
		h->fed -= h->start;
		h->msg -= h->start < h->msg ? h->start : h->msg;
		h->len -= h->start;
		h->start = 0;
	}
	*out = uv_buf_init(h->buf + h->len, (unsigned)(RELAY_BUF - h->len));
}

static void on_half_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	conn_t *c = s->data;
	half_t *h = (uv_tcp_t *)s == &c->cli ? &c->up : &c->down;
	if (c->state == C_CLOSING)
		return;
	if (n == UV_ENOBUFS || (n == 0 && b->len == 0)) {
		uv_read_stop(s);
		h->reading = false;
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		h->reading = false;
		if (n != UV_EOF) {
			conn_close(c, h == &c->up ? HO_END_CLIENT_ERR : HO_END_S3);
			return;
		}
		h->eof = true;
		if (h == &c->down) {
			/* the server closed: complete only if its response ran until EOF */
			if (h->http.head_done && !h->http.msg_done) {
				if (net_http_finish(&h->http) == NET_HTTP_DONE)
					message_done(c, h);
				else {
					conn_close(c, HO_END_S3);
					return;
				}
			}
		}
		half_flush(c, h);
		half_maybe_shut(c, h);
		return;
	}
	idle_again(c);
	h->len += (size_t)n;
	half_parse(c, h);
	if (c->state == C_CLOSING)
		return;
	half_flush(c, h);
	if (h->len == RELAY_BUF && (h->start == 0 || h->writing)) {
		/* full: stop until a write makes room (backpressure) */
		uv_read_stop(s);
		h->reading = false;
	}
	if (c->want_splice) {
		uv_read_stop(s);
		h->reading = false;
	}
	maybe_splice(c);
}

static void half_read(conn_t *c, half_t *h)
{
	if (c->hb)
		return; /* frozen for the hand-back */
	if (uv_read_start(h->src, on_half_alloc, on_half_read) == 0)
		h->reading = true;
}

static void splice_progress(net_splice_t *s, uint64_t n)
{
	conn_t *c = s->data;
	c->a->stats.bytes_out += n;
	c->a->stats.bytes_spliced += n;
	c->down.msg_bytes += n;
	idle_again(c);
}

/* Reading again, both ways; not while a hand-back waits or is asked (the client's next bytes
 * stay in the kernel's queue, to go back with the connection). */
static void resume(conn_t *c)
{
	if (c->hb || c->hb_wait)
		return;
	if (!c->up.reading && !c->up.eof)
		half_read(c, &c->up);
	if (!c->down.reading && !c->down.eof)
		half_read(c, &c->down);
}

static void splice_done(net_splice_t *s)
{
	conn_t *c = s->data;
	net_splice_close(s); /* on_splice_closed frees it */
	c->sp = NULL;
	net_http_body_skipped(&c->down.http);
	message_done(c, &c->down);
	maybe_handback(c);
	resume(c);
}

static void splice_error(net_splice_t *s, net_splice_side_t side, int err)
{
	conn_t *c = s->data;
	conn_close(c, side == NET_SPLICE_SRC ? HO_END_S3 : HO_END_CLIENT_ERR);
}

static void splice_stall(net_splice_t *s, net_splice_side_t side)
{
	conn_t *c = s->data;
	conn_close(c, HO_END_IDLE);
}

static const net_splice_cbs_t splice_cbs = {splice_progress, splice_done, splice_error,
                                            splice_stall, on_splice_closed};

/* starts the splice of a response body once every buffered byte is written and neither stream
 * has anything in flight */
static void maybe_splice(conn_t *c)
{
	if (!c->want_splice || c->sp || c->state == C_CLOSING)
		return;
	if (c->down.writing || c->down.start != c->down.len || c->up.writing)
		return;
	uv_read_stop((uv_stream_t *)&c->cli);
	uv_read_stop((uv_stream_t *)&c->s3);
	c->up.reading = c->down.reading = false;
	c->want_splice = false;
	uint64_t left = net_http_body_left(&c->down.http);
	uv_os_fd_t sfd, cfd;
	if (uv_fileno((uv_handle_t *)&c->s3, &sfd) < 0 ||
	    uv_fileno((uv_handle_t *)&c->cli, &cfd) < 0)
		goto copy;
	uint64_t ms = c->a->conf.idle_ms;
	net_splice_t *sp = calloc(1, sizeof(*sp));
	if (!sp)
		abort();
	if (net_splice_start(c->a->loop, sp, &splice_cbs, c, sfd, cfd, left, ms, ms) < 0) {
		free(sp);
		goto copy;
	}
	c->sp = sp;
	c->handles++;
	return;
copy:
	/* no pipe free (or no splice here): this body is copied */
	c->copy_body = true;
	resume(c);
}

/* ---- hand-back ---- */

static int cli_fd(conn_t *c)
{
	uv_os_fd_t fd;
	return uv_fileno((uv_handle_t *)&c->cli, &fd) < 0 ? -1 : fd;
}

/* The first HANDBACK only asks: the connection's addresses, no queues (the socket is not
 * frozen yet: its queues still move). -1 when it is not ESTABLISHED (the client is closing). */
static int ask_state(int fd, net_repair_state_t *st)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(st, 0, sizeof(*st));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 ||
	    ti.tcpi_state != TCP_ESTABLISHED || getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&p, &pl) < 0 || l.ss_family != p.ss_family)
		return -1;
	st->family = l.ss_family;
	st->tcp_state = TCP_ESTABLISHED;
	if (l.ss_family == AF_INET) {
		memcpy(st->local_addr, &((struct sockaddr_in *)&l)->sin_addr, 4);
		memcpy(st->peer_addr, &((struct sockaddr_in *)&p)->sin_addr, 4);
		st->local_port = ntohs(((struct sockaddr_in *)&l)->sin_port);
		st->peer_port = ntohs(((struct sockaddr_in *)&p)->sin_port);
	} else {
		memcpy(st->local_addr, &((struct sockaddr_in6 *)&l)->sin6_addr, 16);
		memcpy(st->peer_addr, &((struct sockaddr_in6 *)&p)->sin6_addr, 16);
		st->local_port = ntohs(((struct sockaddr_in6 *)&l)->sin6_port);
		st->peer_port = ntohs(((struct sockaddr_in6 *)&p)->sin6_port);
	}
	return 0;
}

#define HB_POLL_MS 5

static void on_conn_timer(uv_timer_t *t);

/* The wait for the client's acknowledgements is over: the idle timer again, and reading again
 * unless a hand-back follows. */
static void hb_wait_end(conn_t *c, bool read_again)
{
	c->hb_wait = false;
	uv_timer_start(&c->timer, on_conn_timer, c->a->conf.idle_ms, c->a->conf.idle_ms);
	if (read_again)
		resume(c);
}

/* Between responses, with nothing of a next request read into user space: ask the director to
 * take the connection back. Reading stops; whatever the client sends meanwhile stays in the
 * kernel's receive queue and goes with the final state. */
static void maybe_handback(conn_t *c)
{
	ho_agent_t *a = c->a;
	const half_t *u = &c->up, *d = &c->down;
	if (!a->conf.handback || c->hb || c->no_hb || c->state != C_SERVING || !c->chan || c->sp ||
	    c->want_splice || c->npend || u->len || u->writing || u->http.head_done || u->eof ||
	    d->len || d->writing || d->http.head_done || d->eof) {
		if (c->hb_wait)
			hb_wait_end(c, true);
		return;
	}
	int fd = cli_fd(c);
	ho_msg_t m = {.type = HO_HANDBACK, .conn_id = c->id};
	if (fd < 0 || ask_state(fd, &m.st) < 0) {
		if (c->hb_wait) /* the client is closing: its end is served here */
			hb_wait_end(c, true);
		return;
	}
	/* The response's tail not yet acknowledged: handed back now, it would go to the director
	 * in the send queue, and the client's acknowledgements, dropped while the flow is frozen,
	 * would make the director send it all again (measured: up to 5% of the bodies crossed
	 * the director). Reading stops meanwhile, so a next request stays in the kernel's queue
	 * and goes back with the connection; look again every HB_POLL_MS (the idle timeout still
	 * bounds the wait). */
	int outq = 0;
	if (ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0) {
		if (!c->hb_wait) {
			c->hb_wait = true;
			c->hb_wait_t0 = uv_now(a->loop);
			uv_read_stop((uv_stream_t *)&c->cli);
			uv_read_stop((uv_stream_t *)&c->s3);
			c->up.reading = c->down.reading = false;
			uv_timer_start(&c->timer, on_conn_timer, HB_POLL_MS, HB_POLL_MS);
		}
		return;
	}
	if (c->hb_wait)
		hb_wait_end(c, false);
	int rc = ho_channel_send(&c->chan->ch, &m);
	if (rc < 0) {
		LB_WARN("handoff agent: connection %llu: hand-back: %s", (unsigned long long)c->id,
		        ho_strerror(rc));
		c->no_hb = true;
		resume(c);
		return;
	}
	uv_read_stop((uv_stream_t *)&c->cli);
	uv_read_stop((uv_stream_t *)&c->s3);
	c->up.reading = c->down.reading = false;
	c->hb = true;
	ho_channel_expect(&c->chan->ch, c->id, a->conf.go_ms);
}

/* the director refused, did not answer, or its channel ended: serve on */
static void handback_failed(conn_t *c, const char *why)
{
	c->a->stats.handback_failed++;
	LB_INFO("handoff agent: connection %llu: hand-back %s; serving on",
	        (unsigned long long)c->id, why);
	c->hb = false;
	c->no_hb = true;
	resume(c);
}

/* The director froze the flow: dump (the socket enters repair mode and stops sending), send
 * the final state, let go silently. If the connection cannot be dumped (the client closed
 * meanwhile), REFUSE: the director steers the flow back here and this side serves on. */
static void handback_go(conn_t *c)
{
	char msg[256];
	ho_msg_t m = {.type = HO_HANDBACK, .conn_id = c->id};
	int fd = cli_fd(c);
	int rc = fd < 0 ? -EBADF : net_repair_dump(fd, &m.st, msg, sizeof(msg));
	if (rc < 0) {
		LB_INFO("handoff agent: connection %llu: hand-back: %s", (unsigned long long)c->id,
		        fd < 0 ? "no descriptor" : msg);
		ho_msg_t no = {.type = HO_REFUSE, .conn_id = c->id, .reason = HO_REFUSE_RESTORE};
		if (fd < 0 || net_repair_leave(fd, NULL, msg, sizeof(msg)) < 0 ||
		    ho_channel_send(&c->chan->ch, &no) < 0) {
			conn_close(c, HO_END_LEAVE);
			return;
		}
		handback_failed(c, "not possible");
		return;
	}
	rc = ho_channel_send(&c->chan->ch, &m);
	net_repair_state_free(&m.st);
	if (rc < 0) {
		/* the flow is frozen at the director: nothing can reach the client from here */
		LB_WARN("handoff agent: connection %llu: final hand-back state not sent",
		        (unsigned long long)c->id);
		conn_close(c, HO_END_LEAVE);
		return;
	}
	c->a->stats.handbacks++;
	conn_close(c, HO_END_HANDBACK); /* in repair mode: the close sends nothing */
}

/* ---- GO, READY, REFUSE ---- */

static void refuse(ho_agent_t *a, chan_t *ch, uint64_t id, ho_refuse_t why, const char *detail)
{
	a->stats.refused[why]++;
	LB_WARN("handoff agent: refused connection %llu from %s: %s%s%s", (unsigned long long)id,
	        ch->ch.peer, ho_refuse_name(why), detail ? ": " : "", detail ? detail : "");
	ho_msg_t m = {.type = HO_REFUSE, .conn_id = id, .reason = why};
	if (ho_channel_send(&ch->ch, &m) < 0)
		LB_DEBUG("handoff agent: REFUSE not sent: the channel is ending");
}

static void on_conn_timer(uv_timer_t *t)
{
	conn_t *c = t->data;
	if (c->state == C_CONNECTING) {
		chan_t *ch = c->chan;
		uint64_t id = c->id;
		conn_close(c, HO_END_S3);
		if (ch)
			refuse(c->a, ch, id, HO_REFUSE_S3, "connect timed out");
	} else if (c->state == C_SERVING) {
		if (c->hb_wait && uv_now(c->a->loop) - c->hb_wait_t0 < c->a->conf.idle_ms) {
			maybe_handback(c);
			return;
		}
		conn_close(c, HO_END_IDLE);
	}
}

static void on_s3_connected(uv_connect_t *req, int status)
{
	conn_t *c = req->data;
	if (c->state != C_CONNECTING)
		return;
	if (status < 0) {
		chan_t *ch = c->chan;
		uint64_t id = c->id;
		conn_close(c, HO_END_S3);
		if (ch)
			refuse(c->a, ch, id, HO_REFUSE_S3, uv_strerror(status));
		return;
	}
	uv_timer_stop(&c->timer);
	uv_tcp_nodelay(&c->s3, 1);
	c->state = C_READY;
	ho_msg_t m = {.type = HO_READY, .conn_id = c->id};
	if (ho_channel_send(&c->chan->ch, &m) < 0) {
		conn_close(c, HO_END_STOPPING);
		return;
	}
	ho_channel_expect(&c->chan->ch, c->id, c->a->conf.go_ms);
}

static bool is_vip(const ho_agent_conf_t *conf, const net_repair_state_t *st)
{
	for (unsigned i = 0; i < conf->nvips; i++) {
		const struct sockaddr_storage *v = &conf->vips[i];
		if (v->ss_family != st->family)
			continue;
		if (st->family == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)v)->sin_addr, st->local_addr, 4) == 0)
			return true;
		if (st->family == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)v)->sin6_addr, st->local_addr, 16) == 0)
			return true;
	}
	return false;
}

static void on_state(ho_agent_t *a, chan_t *ch, ho_msg_t *m)
{
	char msg[256], who[80];
	addr_text(m->st.family, m->st.peer_addr, m->st.peer_port, who, sizeof(who));
	if (a->stopping) {
		refuse(a, ch, m->conn_id, HO_REFUSE_STOPPING, NULL);
		return;
	}
	if (conn_find(a, ch, m->conn_id)) {
		refuse(a, ch, m->conn_id, HO_REFUSE_DUP, NULL);
		return;
	}
	if (!is_vip(&a->conf, &m->st)) {
		char local[80];
		addr_text(m->st.family, m->st.local_addr, m->st.local_port, local, sizeof(local));
		snprintf(msg, sizeof(msg), "local address %s", local);
		refuse(a, ch, m->conn_id, HO_REFUSE_VIP, msg);
		return;
	}
	if (a->stats.pending + a->stats.active >= a->conf.max_conns) {
		refuse(a, ch, m->conn_id, HO_REFUSE_BUSY, NULL);
		return;
	}
	int fd;
	if (net_repair_restore(&m->st, &fd, msg, sizeof(msg)) < 0) {
		char d[400];
		snprintf(d, sizeof(d), "client %s: %s", who, msg);
		refuse(a, ch, m->conn_id, HO_REFUSE_RESTORE, d);
		return;
	}
	conn_t *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->a = a;
	c->chan = ch;
	c->id = m->conn_id;
	c->fd = fd;
	c->st = m->st; /* its queues: the unsent tail goes out after GO */
	m->st.rcvq = m->st.sndq = NULL;
	c->state = C_CONNECTING;
	c->next = a->conns;
	c->prev = &a->conns;
	if (a->conns)
		a->conns->prev = &c->next;
	a->conns = c;
	a->stats.pending++;
	net_http_init(&c->up.http, HTTP_REQUEST, MAX_HEADERS, MAX_HEAD);
	net_http_init(&c->down.http, HTTP_RESPONSE, MAX_HEADERS, MAX_HEAD);
	c->up.src = c->down.dst = (uv_stream_t *)&c->cli;
	c->up.dst = c->down.src = (uv_stream_t *)&c->s3;
	/* both handles count from here: conn_close closes them whatever the state */
	if (uv_tcp_init(a->loop, &c->s3) < 0 || uv_timer_init(a->loop, &c->timer) < 0)
		abort();
	c->s3.data = c->timer.data = c->cli.data = c;
	c->handles = 2;
	c->creq.data = c;
	int rc =
	    uv_tcp_connect(&c->creq, &c->s3, (const struct sockaddr *)&a->conf.s3, on_s3_connected);
	if (rc < 0) {
		conn_close(c, HO_END_S3);
		refuse(a, ch, m->conn_id, HO_REFUSE_S3, uv_strerror(rc));
		return;
	}
	uv_timer_start(&c->timer, on_conn_timer, a->conf.connect_ms, a->conf.idle_ms);
	LB_DEBUG("handoff agent: connection %llu (client %s) restored", (unsigned long long)c->id,
	         who);
}

static void on_go(ho_agent_t *a, conn_t *c)
{
	char msg[256];
	a->stats.pending--;
	a->stats.active++;
	c->state = C_SERVING;
	a->stats.taken++;
	c->resp_t0 = uv_hrtime();
	if (net_repair_leave(c->fd, &c->st, msg, sizeof(msg)) < 0) {
		LB_WARN("handoff agent: connection %llu: leaving repair mode: %s",
		        (unsigned long long)c->id, msg);
		conn_close(c, HO_END_LEAVE);
		/* the director let go at GO: tell it */
		ho_msg_t m = {.type = HO_CLOSED, .conn_id = c->id, .reason = HO_END_LEAVE};
		if (c->chan && ho_channel_send(&c->chan->ch, &m) < 0)
			a->stats.unreported++;
		return;
	}
	net_repair_state_free(&c->st);
	if (uv_tcp_init(a->loop, &c->cli) < 0)
		abort();
	c->cli.data = c;
	c->handles++;
	c->cli_open = true;
	if (uv_tcp_open(&c->cli, c->fd) < 0) {
		close(c->fd); /* not the handle's: uv_close would leave it open */
		c->fd = -1;
		conn_close(c, HO_END_CLIENT_ERR);
		return;
	}
	uv_tcp_nodelay(&c->cli, 1);
	uv_timer_start(&c->timer, on_conn_timer, a->conf.idle_ms, a->conf.idle_ms);
	half_read(c, &c->up);
	half_read(c, &c->down);
}

/* ---- channels ---- */

static void on_chan_msg(ho_channel_t *hc, ho_msg_t *m)
{
	chan_t *ch = hc->data;
	ho_agent_t *a = ch->a;
	conn_t *c;
	switch (m->type) {
	case HO_STATE:
		on_state(a, ch, m);
		break;
	case HO_GO:
		if ((c = conn_find(a, ch, m->conn_id)) && c->state == C_READY)
			on_go(a, c);
		else if (c && c->hb)
			handback_go(c);
		else
			LB_WARN(
			    "handoff agent: GO from %s for connection %llu, which is not waiting",
			    hc->peer, (unsigned long long)m->conn_id);
		break;
	case HO_REFUSE:
		if ((c = conn_find(a, ch, m->conn_id)) && c->state != C_SERVING) {
			a->stats.aborted++;
			conn_close(c, HO_END_STOPPING);
		} else if (c && c->hb) {
			handback_failed(c, "refused by the director");
		}
		break;
	default:
		refuse(a, ch, m->conn_id, HO_REFUSE_UNSUPP, NULL);
		break;
	}
	ho_msg_free(m);
}

static void on_chan_timeout(ho_channel_t *hc, uint64_t id)
{
	chan_t *ch = hc->data;
	conn_t *c = conn_find(ch->a, ch, id);
	if (c && c->state == C_READY) {
		ch->a->stats.go_timeouts++;
		LB_WARN("handoff agent: connection %llu from %s: no GO in %llu ms; dropped",
		        (unsigned long long)id, hc->peer, (unsigned long long)ch->a->conf.go_ms);
		conn_close(c, HO_END_STOPPING);
	} else if (c && c->hb) {
		handback_failed(c, "not answered in time");
	}
}

static void on_chan_end(ho_channel_t *hc, int err)
{
	chan_t *ch = hc->data;
	ho_agent_t *a = ch->a;
	if (err == UV_EOF)
		LB_DEBUG("handoff agent: channel from %s closed", hc->peer);
	else if (err < HO_EKEYFILE || err > HO_ETRUNC) /* the channel logged its own refusals */
		LB_INFO("handoff agent: channel from %s ended: %s", hc->peer, ho_strerror(err));
	for (conn_t *c = a->conns; c; c = c->next) {
		if (c->chan != ch)
			continue;
		if (c->state == C_CONNECTING || c->state == C_READY) {
			a->stats.aborted++;
			conn_close(c, HO_END_STOPPING);
		}
		c->chan = NULL;
		if (c->hb)
			handback_failed(c, "without a channel");
	}
}

static void on_chan_close(ho_channel_t *hc)
{
	chan_t *ch = hc->data;
	ho_agent_t *a = ch->a;
	for (conn_t *c = a->conns; c; c = c->next)
		if (c->chan == ch)
			c->chan = NULL;
	*ch->prev = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	a->stats.channels--;
	free(ch);
	maybe_stopped(a);
}

static const ho_channel_cbs_t chan_cbs = {on_chan_msg, on_chan_timeout, on_chan_end, on_chan_close};

static void on_channel_conn(uv_stream_t *server, int status)
{
	ho_agent_t *a = server->data;
	if (status < 0) {
		LB_WARN("handoff agent: accept: %s", uv_strerror(status));
		return;
	}
	chan_t *ch = calloc(1, sizeof(*ch));
	if (!ch)
		abort();
	ch->a = a;
	ho_channel_conf_t cc = {.max_skew_ms = a->conf.max_skew_ms};
	if (ho_channel_init(a->loop, &ch->ch, &a->conf.key, &cc, &chan_cbs, &a->stats.ch, ch) < 0) {
		free(ch);
		return;
	}
	ch->next = a->chans;
	ch->prev = &a->chans;
	if (a->chans)
		a->chans->prev = &ch->next;
	a->chans = ch;
	a->stats.channels++;
	a->stats.channels_total++;
	if (uv_accept(server, (uv_stream_t *)&ch->ch.tcp) < 0 || ho_channel_start(&ch->ch) < 0) {
		ho_channel_close(&ch->ch);
		return;
	}
	uv_tcp_nodelay(&ch->ch.tcp, 1);
	LB_DEBUG("handoff agent: channel from %s", ch->ch.peer);
}

/* ---- the counters endpoint: any request gets the JSON, then the connection closes ---- */

typedef struct admin_conn_s {
	uv_tcp_t tcp;
	uv_write_t wreq;
	char in[1024];
	size_t inlen;
	char out[4096];
	ho_agent_t *a;
} admin_conn_t;

int ho_agent_stats_json(const ho_agent_t *a, char *buf, size_t len)
{
	const ho_agent_stats_t *s = &a->stats;
	size_t n = 0;
	int w;
#define OUT(...)                                                                                   \
	do {                                                                                       \
		w = snprintf(buf + n, len - n, __VA_ARGS__);                                       \
		if (w < 0 || (size_t)w >= len - n)                                                 \
			return -1;                                                                 \
		n += (size_t)w;                                                                    \
	} while (0)
#define U(x) (unsigned long long)(x)
	OUT("{\"channels\":%llu,\"channels_total\":%llu,\"pending\":%llu,\"active\":%llu,"
	    "\"taken\":%llu,\"aborted\":%llu,\"go_timeouts\":%llu,\"requests\":%llu,"
	    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"bytes_spliced\":%llu,\"handbacks\":%llu,"
	    "\"handback_failed\":%llu,\"unreported\":%llu,"
	    "\"reports_dropped\":%llu,\"refused\":{",
	    U(s->channels), U(s->channels_total), U(s->pending), U(s->active), U(s->taken),
	    U(s->aborted), U(s->go_timeouts), U(s->requests), U(s->bytes_in), U(s->bytes_out),
	    U(s->bytes_spliced), U(s->handbacks), U(s->handback_failed), U(s->unreported),
	    U(s->reports_dropped));
	for (unsigned i = 1; i < HO_REFUSE_NREASONS; i++)
		OUT("%s\"%s\":%llu", i > 1 ? "," : "", refuse_names[i], U(s->refused[i]));
	OUT("},\"ended\":{");
	for (unsigned i = 0; i < HO_END_NREASONS; i++)
		OUT("%s\"%s\":%llu", i ? "," : "", end_names[i], U(s->ended[i]));
	OUT("},\"channel\":{\"records_in\":%llu,\"records_out\":%llu,\"bad_mac\":%llu,"
	    "\"bad_replay\":%llu,\"bad_version\":%llu,\"bad_record\":%llu,\"timeouts\":%llu}}\n",
	    U(s->ch.records_in), U(s->ch.records_out), U(s->ch.bad_mac), U(s->ch.bad_replay),
	    U(s->ch.bad_version), U(s->ch.bad_record), U(s->ch.timeouts));
#undef OUT
#undef U
	return (int)n;
}

static void on_admin_closed(uv_handle_t *h)
{
	admin_conn_t *ac = h->data;
	ho_agent_t *a = ac->a;
	free(ac);
	a->handles--;
	maybe_stopped(a);
}

static void on_admin_written(uv_write_t *req, int status)
{
	admin_conn_t *ac = req->data;
	uv_close((uv_handle_t *)&ac->tcp, on_admin_closed);
}

static void on_admin_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	admin_conn_t *ac = h->data;
	*b = uv_buf_init(ac->in + ac->inlen, (unsigned)(sizeof(ac->in) - ac->inlen));
}

static void on_admin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	admin_conn_t *ac = s->data;
	if (n > 0)
		ac->inlen += (size_t)n;
	if (n >= 0 && ac->inlen < sizeof(ac->in) && !memmem(ac->in, ac->inlen, "\r\n\r\n", 4))
		return;
	uv_read_stop(s);
	if (n < 0 && n != UV_EOF) {
		uv_close((uv_handle_t *)s, on_admin_closed);
		return;
	}
	char body[3072];
	int bl = ho_agent_stats_json(ac->a, body, sizeof(body));
	if (bl < 0)
		bl = 0;
	int hl = snprintf(ac->out, sizeof(ac->out),
	                  "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
	                  "Content-Length: %d\r\nConnection: close\r\n\r\n%.*s",
	                  bl, bl, body);
	ac->wreq.data = ac;
	uv_buf_t ob = uv_buf_init(ac->out, (unsigned)hl);
	if (uv_write(&ac->wreq, s, &ob, 1, on_admin_written) < 0)
		uv_close((uv_handle_t *)s, on_admin_closed);
}

static void on_admin_conn(uv_stream_t *server, int status)
{
	ho_agent_t *a = server->data;
	if (status < 0)
		return;
	admin_conn_t *ac = calloc(1, sizeof(*ac));
	if (!ac)
		abort();
	ac->a = a;
	if (uv_tcp_init(a->loop, &ac->tcp) < 0) {
		free(ac);
		return;
	}
	ac->tcp.data = ac;
	a->handles++;
	if (uv_accept(server, (uv_stream_t *)&ac->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&ac->tcp, on_admin_alloc, on_admin_read) < 0)
		uv_close((uv_handle_t *)&ac->tcp, on_admin_closed);
}

/* ---- start, stop ---- */

static void maybe_stopped(ho_agent_t *a)
{
	if (!a->stopping || a->handles || a->chans || a->conns)
		return;
	void (*cb)(void *) = a->stop_cb;
	void *arg = a->stop_arg;
	free(a);
	if (cb)
		cb(arg);
}

static void on_listener_closed(uv_handle_t *h)
{
	ho_agent_t *a = h->data;
	a->handles--;
	maybe_stopped(a);
}

static int listen_on(ho_agent_t *a, uv_tcp_t *t, const struct sockaddr_storage *ss,
                     uv_connection_cb cb, const char *what, char *err, size_t errlen)
{
	int rc = uv_tcp_init(a->loop, t);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", what, uv_strerror(rc));
		return rc;
	}
	t->data = a;
	a->handles++;
	if ((rc = uv_tcp_bind(t, (const struct sockaddr *)ss, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)t, 128, cb)) < 0) {
		char h[INET6_ADDRSTRLEN + 8] = "?";
		if (ss->ss_family == AF_INET)
			uv_ip4_name((const struct sockaddr_in *)ss, h, sizeof(h));
		else
			uv_ip6_name((const struct sockaddr_in6 *)ss, h, sizeof(h));
		snprintf(err, errlen, "%s: listen on %s port %u: %s", what, h,
		         ntohs(((const struct sockaddr_in *)ss)->sin_port), uv_strerror(rc));
		return rc;
	}
	return 0;
}

int ho_agent_start(uv_loop_t *loop, const ho_agent_conf_t *conf, ho_agent_t **out, char *err,
                   size_t errlen)
{
	*out = NULL;
	ho_agent_t *a = calloc(1, sizeof(*a));
	if (!a)
		return UV_ENOMEM;
	a->loop = loop;
	a->conf = *conf;
	if (!a->conf.go_ms)
		a->conf.go_ms = 2000;
	if (!a->conf.connect_ms)
		a->conf.connect_ms = 1000;
	if (!a->conf.idle_ms)
		a->conf.idle_ms = 300000;
	if (!a->conf.max_conns)
		a->conf.max_conns = 10000;
	if (!a->conf.splice_min)
		a->conf.splice_min = 64 * 1024;
	int rc = listen_on(a, &a->listener, &conf->listen, on_channel_conn, "channel", err, errlen);
	if (rc == 0 && conf->admin.ss_family) {
		a->has_admin = true;
		rc = listen_on(a, &a->admin, &conf->admin, on_admin_conn, "admin", err, errlen);
	}
	if (rc < 0) {
		a->stopping = true;
		uv_close((uv_handle_t *)&a->listener, on_listener_closed);
		if (a->has_admin)
			uv_close((uv_handle_t *)&a->admin, on_listener_closed);
		return rc;
	}
	*out = a;
	return 0;
}

void ho_agent_stop(ho_agent_t *a, void (*cb)(void *arg), void *arg)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->stop_cb = cb;
	a->stop_arg = arg;
	a->handles++; /* held while closing everything, so nothing frees a under us */
	uv_close((uv_handle_t *)&a->listener, on_listener_closed);
	if (a->has_admin)
		uv_close((uv_handle_t *)&a->admin, on_listener_closed);
	for (conn_t *c = a->conns; c; c = c->next)
		conn_close(c, HO_END_STOPPING);
	for (chan_t *ch = a->chans; ch; ch = ch->next)
		ho_channel_close(&ch->ch);
	a->handles--;
	maybe_stopped(a);
}

const ho_agent_stats_t *ho_agent_stats(const ho_agent_t *a)
{
	return &a->stats;
}

/* ---- s3lb-node agent ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: s3lb-node agent --listen ADDR:PORT --key-file FILE --s3 ADDR:PORT --vip "
	           "ADDR...\n"
	           "                       [--admin ADDR:PORT] [--go-timeout DUR] "
	           "[--connect-timeout DUR]\n"
	           "                       [--idle-timeout DUR] [--max-skew DUR] [--max-conns N]\n"
	           "                       [--handback] [--log-level error|warn|info|debug]\n"
	           "  --listen     the node's own address, where directors connect\n"
	           "  --key-file   the pre-shared key (mode 0600), the same as the director's\n"
	           "  --s3         the node's local S3 server, which serves the connections\n"
	           "  --vip        a VIP this node answers for (repeat for several)\n"
	           "  --admin      serve the counters as JSON here (e.g. 127.0.0.1:9903)\n"
	           "  --go-timeout how long a rebuilt connection waits for GO (default 2s)\n"
	           "  --handback   hand each connection back to the director after each response\n"
	           "  --max-skew   how far the first nonce of a channel may be from this clock\n"
	           "               (default 60s; 0s: not checked)\n"
	           "Needs CAP_NET_ADMIN (TCP_REPAIR).\n");
}

static uv_signal_t sig_term, sig_int;
static ho_agent_t *the_agent;

static void on_stopped(void *arg)
{
	the_agent = NULL;
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	LB_INFO("s3lb-node agent: signal %d: stopping", signum);
	if (the_agent)
		ho_agent_stop(the_agent, on_stopped, NULL);
}

static int parse_addr_opt(const char *opt, const char *v, struct sockaddr_storage *ss, FILE *errout)
{
	lb_addr_t a;
	const char *why;
	if (lb_parse_addr(v, &a, &why) < 0) {
		fprintf(errout, "s3lb-node agent: %s %s: %s\n", opt, v, why);
		return -1;
	}
	*ss = a.ss;
	return 0;
}

static int parse_ms_opt(const char *opt, const char *v, uint64_t *ms, FILE *errout)
{
	const char *why;
	if (lb_parse_duration_ms(v, ms, &why) < 0) {
		fprintf(errout, "s3lb-node agent: %s %s: %s\n", opt, v, why);
		return -1;
	}
	return 0;
}

int ho_agent_main(int argc, char **argv, FILE *out, FILE *errout)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"key-file", required_argument, NULL, 'k'},
	    {"s3", required_argument, NULL, 's'},
	    {"vip", required_argument, NULL, 'v'},
	    {"admin", required_argument, NULL, 'a'},
	    {"go-timeout", required_argument, NULL, 'g'},
	    {"connect-timeout", required_argument, NULL, 'c'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"max-skew", required_argument, NULL, 'x'},
	    {"max-conns", required_argument, NULL, 'm'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"handback", no_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ho_agent_conf_t conf;
	memset(&conf, 0, sizeof(conf));
	conf.max_skew_ms = 60000;
	const char *key_file = NULL;
	bool has_listen = false, has_s3 = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_addr_opt("--listen", optarg, &conf.listen, errout) < 0)
				return 2;
			has_listen = true;
			break;
		case 's':
			if (parse_addr_opt("--s3", optarg, &conf.s3, errout) < 0)
				return 2;
			has_s3 = true;
			break;
		case 'a':
			if (parse_addr_opt("--admin", optarg, &conf.admin, errout) < 0)
				return 2;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'v': {
			if (conf.nvips == HO_AGENT_MAX_VIPS) {
				fprintf(errout, "s3lb-node agent: at most %d --vip\n",
				        HO_AGENT_MAX_VIPS);
				return 2;
			}
			struct sockaddr_storage *v = &conf.vips[conf.nvips];
			memset(v, 0, sizeof(*v));
			if (inet_pton(AF_INET, optarg, &((struct sockaddr_in *)v)->sin_addr) == 1)
				v->ss_family = AF_INET;
			else if (inet_pton(AF_INET6, optarg,
			                   &((struct sockaddr_in6 *)v)->sin6_addr) == 1)
				v->ss_family = AF_INET6;
			else {
				fprintf(errout,
				        "s3lb-node agent: --vip %s: not an IPv4 or IPv6 address\n",
				        optarg);
				return 2;
			}
			conf.nvips++;
			break;
		}
		case 'g':
			if (parse_ms_opt("--go-timeout", optarg, &conf.go_ms, errout) < 0)
				return 2;
			break;
		case 'c':
			if (parse_ms_opt("--connect-timeout", optarg, &conf.connect_ms, errout) < 0)
				return 2;
			break;
		case 'i':
			if (parse_ms_opt("--idle-timeout", optarg, &conf.idle_ms, errout) < 0)
				return 2;
			break;
		case 'x':
			if (parse_ms_opt("--max-skew", optarg, &conf.max_skew_ms, errout) < 0)
				return 2;
			break;
		case 'm': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (!*optarg || *end || n == 0 || n > 1000000) {
				fprintf(errout, "s3lb-node agent: --max-conns %s: 1..1000000\n",
				        optarg);
				return 2;
			}
			conf.max_conns = (unsigned)n;
			break;
		}
		case 'L':
			if (strcmp(optarg, "error") == 0)
				lb_log_level = LB_LOG_ERROR;
			else if (strcmp(optarg, "warn") == 0)
				lb_log_level = LB_LOG_WARN;
			else if (strcmp(optarg, "info") == 0)
				lb_log_level = LB_LOG_INFO;
			else if (strcmp(optarg, "debug") == 0)
				lb_log_level = LB_LOG_DEBUG;
			else {
				fprintf(errout,
				        "s3lb-node agent: --log-level %s: error|warn|info|debug\n",
				        optarg);
				return 2;
			}
			break;
		case 'H':
			conf.handback = true;
			break;
		case 'h':
			usage(out);
			return 0;
		default:
			fprintf(errout, "s3lb-node agent: unknown option or missing value\n");
			usage(errout);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(errout, "s3lb-node agent: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!has_listen || !has_s3 || !key_file || !conf.nvips) {
		fprintf(errout,
		        "s3lb-node agent: --listen, --key-file, --s3 and --vip are required\n");
		usage(errout);
		return 2;
	}
	char err[512];
	if (ho_key_load(key_file, &conf.key, err, sizeof(err)) < 0) {
		fprintf(errout, "s3lb-node agent: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_t loop;
	if (uv_loop_init(&loop) < 0)
		return 1;
	int rc = ho_agent_start(&loop, &conf, &the_agent, err, sizeof(err));
	memset(&conf.key, 0, sizeof(conf.key));
	if (rc < 0) {
		fprintf(errout, "s3lb-node agent: %s\n", err);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	uv_signal_init(&loop, &sig_term);
	uv_signal_init(&loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	LB_INFO("s3lb-node agent: listening for directors (%u VIP%s)", conf.nvips,
	        conf.nvips == 1 ? "" : "s");
	uv_run(&loop, UV_RUN_DEFAULT);
	net_splice_pipes_close();
	rc = uv_loop_close(&loop);
	return rc == 0 ? 0 : 1;
}

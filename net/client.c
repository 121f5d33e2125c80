/*
 * The HTTP/1.1 client connection (see client.h). Runs on the loop of net_client_init.
 *
 *   NEW --connect--> CONNECTING --up--> READY --begin--> EXCHANGE --response done--> READY
 *                        | failed                          | failed          ^          |
 *                        v                                 v                 | begin    | idle
 *                      FAILED <----------------------------+               IDLE <-------+
 *   any --net_client_close--> CLOSING (on_close when the socket and the timer are closed)
 *
 * In EXCHANGE the request and the response go on side by side: req_done/writing describe the
 * request, the parser and final_head/lent/resp_done the response. Every event records what
 * happened and calls advance(), which does whatever can be done next and sets the timer.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/client.h"

enum { T_NONE = 0, T_CONNECT, T_SEND, T_HEAD, T_READ, T_IDLE };

static void advance(net_client_t *cl, bool progress);

const char *net_client_err_name(net_client_err_t e)
{
	switch (e) {
	case NET_CLIENT_E_CONNECT:
		return "connect failed";
	case NET_CLIENT_E_CONNECT_TIMEOUT:
		return "connect timeout";
	case NET_CLIENT_E_SEND_TIMEOUT:
		return "write timeout";
	case NET_CLIENT_E_HEAD_TIMEOUT:
		return "response head timeout";
	case NET_CLIENT_E_READ_TIMEOUT:
		return "read timeout";
	case NET_CLIENT_E_WRITE:
		return "write failed";
	case NET_CLIENT_E_READ:
		return "read failed";
	case NET_CLIENT_E_CLOSED:
		return "closed";
	case NET_CLIENT_E_INVALID:
		return "invalid response";
	}
	return "error";
}

/* ---- timer ---------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void set_timer(net_client_t *cl, int kind, uint64_t ms, bool restart)
{
	if (kind == cl->timer_kind && !restart)
		return;
	cl->timer_kind = kind;
	if (kind == T_NONE)
		uv_timer_stop(&cl->timer);
	else
		uv_timer_start(&cl->timer, on_timer, ms ? ms : 1, 0);
}

/* The timer of an exchange, from what it waits for (client.h). */
static void exchange_timer(net_client_t *cl, bool progress)
{
	if (cl->taken)
		set_timer(cl, T_NONE, 0, false);
	else if (cl->writing)
		set_timer(cl, T_SEND, cl->conf.send_ms, progress);
	else if (!cl->final_head)
		set_timer(cl, cl->req_done ? T_HEAD : T_NONE, cl->conf.head_ms, progress);
	else if (!cl->resp_done && !cl->lent)
		set_timer(cl, T_READ, cl->conf.read_ms, progress);
	else
		set_timer(cl, T_NONE, 0, false);
}

static void fail(net_client_t *cl, net_client_err_t e, int status, const char *why)
{
	if (cl->state != NCL_EXCHANGE && cl->state != NCL_CONNECTING && cl->state != NCL_READY)
		return;
	cl->state = NCL_FAILED;
	set_timer(cl, T_NONE, 0, false);
	net_sock_read_stop(&cl->sock);
	cl->cb->on_error(cl, e, status, why ? why : net_client_err_name(e));
}

static void on_timer(uv_timer_t *t)
{
	net_client_t *cl = t->data;
	int kind = cl->timer_kind;
	cl->timer_kind = T_NONE;
	switch (kind) {
	case T_CONNECT:
		fail(cl, NET_CLIENT_E_CONNECT_TIMEOUT, UV_ETIMEDOUT, NULL);
		return;
	case T_SEND:
		fail(cl, NET_CLIENT_E_SEND_TIMEOUT, UV_ETIMEDOUT, NULL);
		return;
	case T_HEAD:
		fail(cl, NET_CLIENT_E_HEAD_TIMEOUT, UV_ETIMEDOUT, NULL);
		return;
	case T_READ:
		fail(cl, NET_CLIENT_E_READ_TIMEOUT, UV_ETIMEDOUT, NULL);
		return;
	case T_IDLE:
		if (cl->state == NCL_IDLE) {
			cl->state = NCL_FAILED;
			cl->cb->on_idle_end(cl, NET_CLIENT_IDLE_TIMEOUT);
		}
		return;
	}
}

/* ---- reading -------------------------------------------------------------------------------- */

static void on_alloc(net_sock_t *s, uv_buf_t *buf)
{
	net_client_t *cl = s->data;
	net_rbuf_space(&cl->rb, buf);
}

static void idle_end(net_client_t *cl, net_client_idle_t why)
{
	cl->state = NCL_FAILED;
	set_timer(cl, T_NONE, 0, false);
	net_sock_read_stop(&cl->sock);
	cl->cb->on_idle_end(cl, why);
}

static void on_read(net_sock_t *s, ssize_t nread, const uv_buf_t *buf)
{
	net_client_t *cl = s->data;
	(void)buf;
	if (cl->state == NCL_IDLE) {
		/* nobody asked: whatever it is ends the connection */
		idle_end(cl, nread > 0 ? NET_CLIENT_IDLE_STRAY : NET_CLIENT_IDLE_CLOSED);
		return;
	}
	if (cl->state != NCL_EXCHANGE && cl->state != NCL_READY)
		return;
	if (cl->state == NCL_READY) {
		/* between two exchanges: kept, so that net_client_begin refuses the connection */
		if (nread > 0)
			cl->rb.len += (size_t)nread;
		else if (nread == UV_EOF)
			cl->eof = true;
		else
			cl->read_err = (int)nread;
		return;
	}
	if (nread < 0) {
		if (nread == UV_EOF)
			cl->eof = true;
		else
			cl->read_err = (int)nread;
		advance(cl, false);
		return;
	}
	cl->rb.len += (size_t)nread;
	if (cl->cb->on_recv) {
		cl->cb->on_recv(cl, (size_t)nread);
		if (cl->state != NCL_EXCHANGE)
			return;
	}
	advance(cl, true);
}

static void reading(net_client_t *cl)
{
	if (cl->eof || cl->read_err)
		return;
	if (net_sock_read_start(&cl->sock, on_alloc, on_read) < 0)
		cl->read_err = UV_EIO;
}

/* ---- the exchange --------------------------------------------------------------------------- */

static bool is_bodyless(net_client_t *cl)
{
	int st = net_http_status(&cl->resp);
	return cl->resp.skip_body || st == 204 || st == 304;
}

/* keep_alive: the response's (keep-alive and not delimited by the end of the stream) */
static void finish(net_client_t *cl, bool keep_alive)
{
	bool reusable =
	    cl->req_done && !cl->writing && !cl->eof && cl->rb.len == cl->rb.parsed && keep_alive;
	cl->bodyless = is_bodyless(cl);
	cl->state = NCL_READY;
	set_timer(cl, T_NONE, 0, false);
	cl->cb->on_done(cl, reusable);
}

/* Parses and delivers what the buffer holds; false when the exchange ended or is waiting for
 * the caller (lent bytes). */
static bool parse(net_client_t *cl)
{
	net_rbuf_t *rb = &cl->rb;
	while (!cl->resp_done && (rb->parsed < rb->len || cl->resp.head_done)) {
		size_t used;
		net_http_result_t r =
		    net_http_execute(&cl->resp, rb->data + rb->parsed, rb->len - rb->parsed,
		                     rb->parsed - rb->start, &used);
		rb->parsed += used;
		switch (r) {
		case NET_HTTP_MORE:
			if (!cl->resp.head_done && rb->len == rb->cap && rb->start == 0) {
				fail(cl, NET_CLIENT_E_INVALID, 0,
				     "response head over the buffer size");
				return false;
			}
			return true;
		case NET_HTTP_HEAD: {
			int st = net_http_status(&cl->resp);
			bool interim = st >= 100 && st < 200 && st != 101;
			cl->final_head = !interim;
			cl->cb->on_head(cl, &cl->resp, rb->data + rb->start);
			if (cl->state != NCL_EXCHANGE)
				return false;
			rb->start = rb->parsed; /* the head's bytes are the caller's business now */
			if (interim)
				continue;
			/* the body bytes at hand, right after the head (none: a call with len 0) */
			{
				size_t used2;
				uv_buf_t b;
				r = net_http_execute(&cl->resp, rb->data + rb->parsed,
				                     rb->len - rb->parsed, 0, &used2);
				rb->parsed += used2;
				if (r == NET_HTTP_ERROR) {
					fail(cl, NET_CLIENT_E_INVALID, 0, cl->resp.why);
					return false;
				}
				if (r == NET_HTTP_DONE)
					cl->resp_done = true;
				if (net_rbuf_take(rb, &b)) {
					cl->lent = true;
					cl->cb->on_body(cl, b.base, b.len);
				} else {
					cl->cb->on_body(cl, NULL, 0);
				}
				if (cl->state != NCL_EXCHANGE || cl->lent || cl->taken)
					return false;
			}
			continue;
		}
		case NET_HTTP_DONE:
			if (!cl->final_head) {
				/* an interim response ended: the final one follows */
				bool skip = cl->resp.skip_body;
				net_http_next(&cl->resp);
				cl->resp.skip_body = skip;
			} else {
				cl->resp_done = true;
			}
			continue;
		case NET_HTTP_ERROR:
			fail(cl, NET_CLIENT_E_INVALID, 0, cl->resp.why);
			return false;
		}
	}
	return true;
}

/*
 * The one place where the exchange moves on: deliver parsed body bytes, end the response, or
 * report the end of the stream; then the timer and reading follow from the new state.
 * progress: the server made progress (bytes read or a write completed).
 */
static void advance(net_client_t *cl, bool progress)
{
	net_rbuf_t *rb = &cl->rb;
	if (cl->in_advance || cl->taken)
		return; /* a callback consumed at once: the outer call goes on */
	cl->in_advance = true;
	while (cl->state == NCL_EXCHANGE && !cl->taken) {
		uv_buf_t b;
		if (cl->read_err) {
			fail(cl, NET_CLIENT_E_READ, cl->read_err, uv_strerror(cl->read_err));
			break;
		}
		if (cl->lent)
			break;
		if (!parse(cl)) {
			if (cl->state == NCL_EXCHANGE && !cl->lent && !cl->taken)
				continue; /* consumed inside on_body: go on */
			break;
		}
		if (cl->final_head && net_rbuf_take(rb, &b)) {
			cl->lent = true;
			cl->cb->on_body(cl, b.base, b.len);
			continue;
		}
		if (cl->resp_done) {
			if (rb->start == rb->parsed)
				finish(cl, net_http_keep_alive(&cl->resp) &&
				               !net_http_needs_eof(&cl->resp));
			break;
		}
		if (cl->eof && rb->parsed == rb->len) {
			/* everything the server sent is parsed: a body that runs to the end is done
			 */
			if (cl->resp.head_done && net_http_needs_eof(&cl->resp) &&
			    net_http_finish(&cl->resp) == NET_HTTP_DONE) {
				cl->resp_done = true;
				continue;
			}
			fail(cl, NET_CLIENT_E_CLOSED, 0,
			     cl->resp.head_done ? "closed mid-response"
			                        : "closed before a response");
			break;
		}
		break; /* waiting for bytes */
	}
	cl->in_advance = false;
	if (cl->conf.share_buffer && !cl->lent)
		net_rbuf_drop(&cl->rb); /* only when empty */
	if (cl->state == NCL_EXCHANGE && !cl->taken) {
		if (!cl->lent)
			reading(cl);
		exchange_timer(cl, progress);
	}
}

/* ---- connection ----------------------------------------------------------------------------- */

void net_client_init(uv_loop_t *loop, net_client_t *cl, const net_client_cbs_t *cb,
                     const net_client_conf_t *conf, void *data)
{
	memset(cl, 0, sizeof(*cl));
	cl->cb = cb;
	cl->conf = *conf;
	cl->data = data;
	cl->rb.cap = conf->buffer_size;
	net_http_init(&cl->resp, HTTP_RESPONSE, conf->max_headers, conf->buffer_size);
	uv_timer_init(loop, &cl->timer);
	cl->timer.data = cl;
	cl->handles = 1;
}

static void on_connected(net_sock_t *s, int status)
{
	net_client_t *cl = s->data;
	if (cl->state != NCL_CONNECTING)
		return;
	if (status < 0) {
		fail(cl, NET_CLIENT_E_CONNECT, status, uv_strerror(status));
		return;
	}
	cl->state = NCL_READY;
	set_timer(cl, T_NONE, 0, false);
	cl->cb->on_connect(cl, 0);
}

int net_client_connect(net_client_t *cl, const struct sockaddr *addr, net_tls_ctx_t *tls,
                       const char *sni)
{
	int rc = net_sock_connect(cl->timer.loop, &cl->sock, addr, tls, sni, on_connected);
	cl->sock.data = cl;
	if (rc < 0)
		return rc;
	cl->state = NCL_CONNECTING;
	set_timer(cl, T_CONNECT, cl->conf.connect_ms, true);
	return 0;
}

/* True when the server has sent something (or closed) on a connection nobody asked. */
static bool stray_bytes(net_client_t *cl, bool *stray)
{
	uv_os_fd_t fd;
	char b;
	ssize_t n;
	*stray = false;
	if (!cl->bodyless || cl->sock.tls || uv_fileno((uv_handle_t *)&cl->sock.tcp, &fd) != 0)
		return false;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	*stray = n > 0;
	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

int net_client_begin(net_client_t *cl, bool head_request, bool *stray)
{
	bool dummy;
	if (!stray)
		stray = &dummy;
	*stray = false;
	if (cl->state != NCL_READY && cl->state != NCL_IDLE)
		return UV_EINVAL;
	if (cl->rb.len > cl->rb.parsed) {
		*stray = true; /* bytes beyond the last response */
		return UV_ECONNRESET;
	}
	if (cl->eof || cl->read_err)
		return UV_ECONNRESET;
	if (cl->state == NCL_IDLE && stray_bytes(cl, stray))
		return UV_ECONNRESET;
	cl->state = NCL_EXCHANGE;
	cl->rb.start = cl->rb.parsed = cl->rb.len = 0;
	net_http_next(&cl->resp);
	cl->resp.skip_body = head_request;
	cl->req_done = cl->lent = cl->resp_done = cl->final_head = cl->taken = false;
	cl->bodyless = false;
	set_timer(cl, T_NONE, 0, false);
	reading(cl); /* a response may come before the request ends */
	if (cl->read_err)
		return cl->read_err;
	return 0;
}

static void on_written(net_sock_t *s, int status)
{
	net_client_t *cl = s->data;
	cl->writing = false;
	if (cl->state != NCL_EXCHANGE)
		return;
	if (status < 0) {
		fail(cl, NET_CLIENT_E_WRITE, status, uv_strerror(status));
		return;
	}
	cl->cb->on_written(cl);
	if (cl->state == NCL_EXCHANGE)
		advance(cl, true);
}

int net_client_write(net_client_t *cl, const uv_buf_t *bufs, unsigned n)
{
	int rc;
	if (cl->state != NCL_EXCHANGE || cl->writing)
		return UV_EINVAL;
	rc = net_sock_write_now(&cl->sock, bufs, n, on_written);
	if (rc < 0)
		return rc;
	if (rc == 0)
		cl->writing = true;
	exchange_timer(cl, true);
	return rc;
}

void net_client_request_done(net_client_t *cl)
{
	cl->req_done = true;
	if (cl->state != NCL_EXCHANGE)
		return;
	if (cl->resp_done)
		advance(cl, false); /* the server answered before the request ended */
	else
		exchange_timer(cl, false);
}

void net_client_consumed(net_client_t *cl)
{
	if (!cl->lent)
		return;
	net_rbuf_release(&cl->rb);
	cl->lent = false;
	if (cl->state == NCL_EXCHANGE)
		advance(cl, false);
}

bool net_client_body_left(const net_client_t *cl, int *fd, uint64_t *left)
{
	const net_rbuf_t *rb = &cl->rb;
	uint64_t n = net_http_body_left(&cl->resp);
	uv_os_fd_t f;
	if (cl->state != NCL_EXCHANGE || !cl->final_head || cl->resp_done || cl->lent ||
	    cl->taken || cl->eof || cl->read_err || cl->sock.tls || !n)
		return false;
	if (rb->parsed != rb->len || rb->start != rb->parsed)
		return false;
	if (uv_fileno((const uv_handle_t *)&cl->sock.tcp, &f) != 0)
		return false;
	*fd = f;
	*left = n;
	return true;
}

void net_client_body_taken(net_client_t *cl)
{
	cl->taken = true;
	net_sock_read_stop(&cl->sock);
	set_timer(cl, T_NONE, 0, false);
}

void net_client_body_moved(net_client_t *cl)
{
	bool keep_alive = net_http_keep_alive(&cl->resp);
	if (cl->state != NCL_EXCHANGE || !cl->taken)
		return;
	cl->taken = false;
	net_http_body_skipped(&cl->resp); /* the parser is ready for the next message */
	cl->resp_done = true;
	cl->rb.start = cl->rb.parsed = cl->rb.len = 0;
	finish(cl, keep_alive);
}

void net_client_idle(net_client_t *cl, uint64_t idle_ms)
{
	if (cl->state != NCL_READY)
		return;
	cl->state = NCL_IDLE;
	if (cl->rb.len == cl->rb.parsed) {
		cl->rb.start = cl->rb.parsed = cl->rb.len = 0;
		net_rbuf_drop(&cl->rb); /* an idle connection holds no buffer */
	}
	set_timer(cl, T_IDLE, idle_ms, true);
	if (net_sock_read_start(&cl->sock, on_alloc, on_read) < 0)
		idle_end(cl, NET_CLIENT_IDLE_CLOSED);
}

static void on_part_closed(net_client_t *cl)
{
	if (--cl->handles > 0)
		return;
	net_http_free(&cl->resp);
	net_rbuf_free(&cl->rb);
	cl->cb->on_close(cl);
}

static void on_timer_closed(uv_handle_t *h)
{
	on_part_closed(h->data);
}

static void on_sock_closed(net_sock_t *s)
{
	on_part_closed(s->data);
}

void net_client_close(net_client_t *cl, bool abort)
{
	bool sock_open = cl->sock.handles > 0;
	if (cl->state == NCL_CLOSING)
		return;
	cl->state = NCL_CLOSING;
	uv_timer_stop(&cl->timer);
	uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
	if (sock_open) {
		cl->handles++;
		cl->sock.data = cl;
		cl->sock.abort_on_close = abort;
		net_sock_close(&cl->sock, on_sock_closed);
	}
}

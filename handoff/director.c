/*
 * The director's agent channels (handoff/director.h). Per agent:
 *
 *            add / backoff over
 *                  |
 *                  v
 *   +-------> CONNECTING --(refused, failed, connect_timeout_ms)--+
 *   |              | connected                                    |
 *   |              v                                              |
 *   |             UP  --(reset, EOF, refused record, keepalive)---+
 *   |                                                             v
 *   +------------------------------------------------------ BACKOFF  (channel closed; the
 *                                                                      wait doubles each time)
 *
 * The channel's memory is the agent's and is initialised again for each attempt, once the
 * previous one's on_close came. The agent's timer measures the connect timeout while
 * CONNECTING and the wait while in BACKOFF.
 */
#include "handoff/director.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "net/repair.h"

enum { AS_CONNECTING, AS_UP, AS_BACKOFF, AS_CLOSED };

/* A switch: WAIT_READY until READY (or a failure), then OWNED (the node has the connection)
 * until CLOSED, then LINGER until the steering entry goes. */
enum { SW_WAIT_READY, SW_OWNED, SW_LINGER };

struct ho_switch_s {
	ho_agent_t *a;
	uint64_t conn_id;
	int state;
	int fd; /* WAIT_READY: the caller's socket, in repair mode and frozen */
	ho_flow_t flow;
	uint32_t mark;
	ho_switch_cb done;
	void *arg;
	uv_timer_t linger; /* initialised in LINGER only */
	ho_switch_t *next;
};

struct ho_agent_s {
	ho_director_t *d;
	char name[64];
	struct sockaddr_storage addr;
	const ho_key_t *key;
	ho_channel_t ch;
	bool ch_open; /* ch's handles exist (until its on_close) */
	int state;
	bool failing; /* the last attempt failed: further failures are not logged */
	uv_timer_t timer;
	uint64_t backoff_ms;
	uint64_t ready_ms;     /* 0: the director's */
	ho_switch_t *switches; /* under way or owned by the node, on this agent's channel */
	ho_agent_t *next;
};

struct ho_director_s {
	uv_loop_t *loop;
	ho_director_opts_t opts;
	ho_director_stats_t stats;
	ho_agent_t *agents;
	uv_timer_t tick;  /* only so that close always has a handle to wait for */
	unsigned pending; /* closes under way: the memory goes when closing and none is left */
	uint64_t next_id;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static void attempt(ho_agent_t *a);
static void schedule(ho_agent_t *a);

static void maybe_done(ho_director_t *d)
{
	if (!d->closing || d->pending)
		return;
	for (ho_agent_t *a = d->agents, *next; a; a = next) {
		next = a->next;
		free(a);
	}
	void (*done)(void *) = d->done;
	void *arg = d->done_arg;
	free(d);
	if (done)
		done(arg);
}

static void on_tick_closed(uv_handle_t *h)
{
	ho_director_t *d = h->data;
	d->pending--;
	maybe_done(d);
}

static void on_timer_closed(uv_handle_t *h)
{
	ho_director_t *d = ((ho_agent_t *)h->data)->d;
	d->pending--;
	maybe_done(d);
}

/* ---- channel events ---------------------------------------------------------------------- */

/* ---- switches ---------------------------------------------------------------------------- */

static ho_switch_t *find(ho_agent_t *a, uint64_t conn_id)
{
	ho_switch_t *s = a->switches;
	while (s && s->conn_id != conn_id)
		s = s->next;
	return s;
}

static void unlink_switch(ho_switch_t *s)
{
	ho_switch_t **p = &s->a->switches;
	while (*p != s)
		p = &(*p)->next;
	*p = s->next;
}

/* Before the switch: repair mode off, the freeze ended. */
static void undo(ho_director_t *d, int fd, const ho_flow_t *f, const char *name)
{
	char msg[256];
	if (net_repair_leave(fd, NULL, msg, sizeof(msg)) < 0)
		LB_WARN("handoff to %s: leaving repair mode: %s", name, msg);
	if (d->opts.steer && d->opts.steer->thaw(d->opts.steer->ctx, f, msg, sizeof(msg)) < 0)
		LB_WARN("handoff to %s: ending the freeze: %s", name, msg);
}

static void refuse_agent(ho_agent_t *a, uint64_t conn_id)
{
	ho_msg_t m = {.type = HO_REFUSE, .conn_id = conn_id, .reason = 0};
	/* the agent drops what it restored; a channel that is ending drops it too */
	if (a->ch_open && ho_channel_send(&a->ch, &m) < 0)
		LB_DEBUG("handoff to %s: REFUSE not sent (the channel is ending)", a->name);
}

/* A switch under way failed: undone, the caller serves. */
static void fall_back(ho_switch_t *s, const char *why, bool tell_agent)
{
	ho_agent_t *a = s->a;
	ho_switch_cb done = s->done;
	void *arg = s->arg;
	if (tell_agent)
		refuse_agent(a, s->conn_id);
	if (a->ch_open)
		ho_channel_expect(&a->ch, s->conn_id, 0);
	undo(a->d, s->fd, &s->flow, a->name);
	a->d->stats.fallbacks++;
	unlink_switch(s);
	free(s);
	done(arg, UV_ECANCELED, why);
}

static void on_linger_closed(uv_handle_t *h)
{
	ho_switch_t *s = h->data;
	ho_director_t *d = s->a->d;
	free(s);
	d->pending--;
	maybe_done(d);
}

/* The steering entry of a switched connection goes now. */
static void unsteer(ho_switch_t *s)
{
	ho_director_t *d = s->a->d;
	char msg[256];
	if (d->opts.steer &&
	    d->opts.steer->remove(d->opts.steer->ctx, &s->flow, msg, sizeof(msg)) < 0)
		LB_WARN("handoff to %s: removing the steering entry: %s", s->a->name, msg);
}

static void on_linger(uv_timer_t *t)
{
	ho_switch_t *s = t->data;
	unsteer(s);
	unlink_switch(s);
	s->a->d->pending++; /* the director's memory waits for this close too */
	uv_close((uv_handle_t *)&s->linger, on_linger_closed);
}

/* The node's connection ended (CLOSED, m) or its channel did (m NULL). */
static void owned_end(ho_switch_t *s, const ho_msg_t *m)
{
	ho_director_t *d = s->a->d;
	if (m)
		d->stats.closed++;
	if (d->opts.on_closed)
		d->opts.on_closed(d->opts.arg, s->conn_id, s->a->name, m);
	s->state = SW_LINGER;
	if (uv_timer_init(d->loop, &s->linger) < 0)
		abort(); /* uv_timer_init cannot fail on Linux */
	s->linger.data = s;
	uv_timer_start(&s->linger, on_linger, d->opts.linger_ms, 0);
}

static void on_ready(ho_switch_t *s)
{
	ho_agent_t *a = s->a;
	ho_director_t *d = a->d;
	char msg[256];
	ho_msg_t go = {.type = HO_GO, .conn_id = s->conn_id};
	ho_channel_expect(&a->ch, s->conn_id, 0);
	if (d->opts.steer &&
	    d->opts.steer->steer(d->opts.steer->ctx, &s->flow, s->mark, msg, sizeof(msg)) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "steering: %s", msg);
		fall_back(s, why, true);
		return;
	}
	if (ho_channel_send(&a->ch, &go) < 0) {
		/* the channel is ending: the agent drops the restored socket (no GO) */
		if (d->opts.steer &&
		    d->opts.steer->thaw(d->opts.steer->ctx, &s->flow, msg, sizeof(msg)) < 0)
			LB_WARN("handoff to %s: ending the steering: %s", a->name, msg);
		fall_back(s, "channel ended before GO", false);
		return;
	}
	d->stats.switched++;
	s->state = SW_OWNED;
	s->fd = -1;
	s->done(s->arg, 0, NULL); /* the caller closes its handle: repair mode, no FIN */
}

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	ho_agent_t *a = ch->data;
	ho_switch_t *s = find(a, m->conn_id);
	char why[64];

	if (!s) {
		LB_DEBUG("handoff agent %s: record type %d for unknown connection %" PRIu64,
		         a->name, (int)m->type, m->conn_id);
	} else if (s->state == SW_WAIT_READY && m->type == HO_READY) {
		on_ready(s);
	} else if (s->state == SW_WAIT_READY) {
		if (m->type == HO_REFUSE)
			snprintf(why, sizeof(why), "refused by the agent (reason %u)", m->reason);
		else
			snprintf(why, sizeof(why), "unexpected record type %d", (int)m->type);
		fall_back(s, why, m->type != HO_REFUSE);
	} else if (s->state == SW_OWNED && m->type == HO_CLOSED) {
		owned_end(s, m);
	} else if (s->state == SW_OWNED && m->type == HO_HANDBACK) {
		refuse_agent(a, s->conn_id); /* hand-back is not built: the agent serves on */
	} else {
		LB_DEBUG("handoff agent %s: record type %d for connection %" PRIu64 " ignored",
		         a->name, (int)m->type, m->conn_id);
	}
	ho_msg_free(m);
}

static void on_timeout(ho_channel_t *ch, uint64_t conn_id)
{
	ho_agent_t *a = ch->data;
	ho_switch_t *s = find(a, conn_id);
	char why[64];
	if (!s || s->state != SW_WAIT_READY)
		return;
	snprintf(why, sizeof(why), "no READY within %" PRIu64 " ms",
	         a->ready_ms ? a->ready_ms : a->d->opts.ready_ms);
	fall_back(s, why, true);
}

/* The channel ended: switches waiting fall back, owned ones lose their reports. */
static void channel_lost(ho_agent_t *a)
{
	ho_switch_t *s = a->switches, *next;
	for (; s; s = next) {
		next = s->next;
		if (s->state == SW_WAIT_READY)
			fall_back(s, "channel to the agent ended", false);
		else if (s->state == SW_OWNED)
			owned_end(s, NULL);
	}
}

static void on_end(ho_channel_t *ch, int err)
{
	ho_agent_t *a = ch->data;
	channel_lost(a);
	if (a->state != AS_UP)
		return;
	a->d->stats.disconnects++;
	LB_WARN("handoff agent %s (%s): channel ended: %s; its reads are proxied until it is back",
	        a->name, ch->peer,
	        err <= HO_ETRUNC && err >= HO_EFIELD ? ho_strerror(err) : uv_strerror(err));
	a->state = AS_BACKOFF;
}

static void on_ch_close(ho_channel_t *ch)
{
	ho_agent_t *a = ch->data;
	ho_director_t *d = a->d;
	a->ch_open = false;
	if (!d->closing)
		channel_lost(a); /* closed without on_end (a failed attempt): nothing is waiting */
	if (d->closing) {
		d->pending--;
		maybe_done(d);
		return;
	}
	a->state = AS_BACKOFF;
	schedule(a);
}

static const ho_channel_cbs_t cbs = {
    .on_msg = on_msg, .on_timeout = on_timeout, .on_end = on_end, .on_close = on_ch_close};

static void fail(ho_agent_t *a, const char *what, int err)
{
	a->d->stats.connect_failures++;
	if (!a->failing)
		LB_WARN("handoff agent %s: %s: %s; retrying (its reads are proxied meanwhile)",
		        a->name, what, uv_strerror(err));
	a->failing = true;
	a->state = AS_BACKOFF;
	if (a->ch_open)
		ho_channel_close(&a->ch);
}

static void on_connect(ho_channel_t *ch, int status)
{
	ho_agent_t *a = ch->data;
	if (a->d->closing)
		return;
	if (status < 0) {
		fail(a, "connect", status);
		return;
	}
	uv_timer_stop(&a->timer);
	(void)uv_tcp_keepalive(&ch->tcp, 1, 10);
	a->state = AS_UP;
	a->failing = false;
	a->backoff_ms = a->d->opts.backoff_min_ms;
	a->d->stats.connects++;
	LB_INFO("handoff agent %s (%s): channel up", a->name, ch->peer);
}

/* ---- the agent's timer: connect timeout, backoff ------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
	ho_agent_t *a = t->data;
	if (a->d->closing)
		return;
	if (a->state == AS_CONNECTING) {
		fail(a, "connect", UV_ETIMEDOUT);
		return;
	}
	if (a->state == AS_BACKOFF && !a->ch_open)
		attempt(a);
}

static void attempt(ho_agent_t *a)
{
	ho_director_t *d = a->d;
	ho_channel_conf_t conf = {.max_skew_ms = d->opts.max_skew_ms};
	int rc = ho_channel_init(d->loop, &a->ch, a->key, &conf, &cbs, &d->stats.channel, a);
	a->ch_open = a->ch.handles > 0;
	a->state = AS_CONNECTING;
	if (rc == 0)
		rc = ho_channel_connect(&a->ch, (const struct sockaddr *)&a->addr, on_connect);
	if (rc < 0) {
		fail(a, "connect", rc);
		if (!a->ch_open)
			schedule(a); /* no channel to wait for: the backoff starts now */
		return;
	}
	uv_timer_start(&a->timer, on_timer, d->opts.connect_timeout_ms, 0);
}

/* After a channel closed (not while closing the director): wait, then try again. */
static void schedule(ho_agent_t *a)
{
	ho_director_t *d = a->d;
	uv_timer_start(&a->timer, on_timer, a->backoff_ms, 0);
	a->backoff_ms =
	    a->backoff_ms * 2 > d->opts.backoff_max_ms ? d->opts.backoff_max_ms : a->backoff_ms * 2;
}

/* ---- API -------------------------------------------------------------------------------- */

int ho_director_new(uv_loop_t *loop, const ho_director_opts_t *opts, ho_director_t **out)
{
	ho_director_t *d = calloc(1, sizeof(*d));
	int rc;
	if (!d)
		return UV_ENOMEM;
	d->loop = loop;
	if (opts)
		d->opts = *opts;
	if (!d->opts.connect_timeout_ms)
		d->opts.connect_timeout_ms = 1000;
	if (!d->opts.ready_ms)
		d->opts.ready_ms = 20;
	if (!d->opts.linger_ms)
		d->opts.linger_ms = 2000;
	d->next_id = (uint64_t)time(NULL) << 20; /* ids of a restarted director do not repeat */
	if (!d->opts.backoff_min_ms)
		d->opts.backoff_min_ms = 100;
	if (!d->opts.backoff_max_ms)
		d->opts.backoff_max_ms = 5000;
	if (d->opts.backoff_max_ms < d->opts.backoff_min_ms)
		d->opts.backoff_max_ms = d->opts.backoff_min_ms;
	if ((rc = uv_timer_init(loop, &d->tick)) < 0) {
		free(d);
		return rc;
	}
	d->tick.data = d;
	*out = d;
	return 0;
}

int ho_director_add(ho_director_t *d, const char *name, const struct sockaddr *addr,
                    const ho_key_t *key, ho_agent_t **out)
{
	ho_agent_t *a;
	size_t len =
	    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int rc;
	if (d->closing || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return UV_EINVAL;
	if (!(a = calloc(1, sizeof(*a))))
		return UV_ENOMEM;
	if ((rc = uv_timer_init(d->loop, &a->timer)) < 0) {
		free(a);
		return rc;
	}
	a->d = d;
	a->timer.data = a;
	snprintf(a->name, sizeof(a->name), "%s", name);
	memcpy(&a->addr, addr, len);
	a->key = key;
	a->backoff_ms = d->opts.backoff_min_ms;
	a->next = d->agents;
	d->agents = a;
	attempt(a);
	*out = a;
	return 0;
}

static void flow_of(const net_repair_state_t *st, ho_flow_t *f)
{
	memset(f, 0, sizeof(*f));
	f->family = st->family;
	memcpy(f->client_addr, st->peer_addr, sizeof(f->client_addr));
	memcpy(f->vip_addr, st->local_addr, sizeof(f->vip_addr));
	f->client_port = st->peer_port;
	f->vip_port = st->local_port;
}

/* The flow of fd from its addresses (before the dump: the freeze comes first). */
static int flow_of_fd(int fd, ho_flow_t *f)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);
	memset(f, 0, sizeof(*f));
	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&p, &pl) < 0)
		return UV_ENOTCONN;
	if (l.ss_family == AF_INET && p.ss_family == AF_INET) {
		const struct sockaddr_in *a = (void *)&l, *b = (void *)&p;
		f->family = AF_INET;
		memcpy(f->vip_addr, &a->sin_addr, 4);
		memcpy(f->client_addr, &b->sin_addr, 4);
		f->vip_port = ntohs(a->sin_port);
		f->client_port = ntohs(b->sin_port);
		return 0;
	}
	if (l.ss_family == AF_INET6 && p.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (void *)&l, *b = (void *)&p;
		f->family = AF_INET6;
		memcpy(f->vip_addr, &a->sin6_addr, 16);
		memcpy(f->client_addr, &b->sin6_addr, 16);
		f->vip_port = ntohs(a->sin6_port);
		f->client_port = ntohs(b->sin6_port);
		return 0;
	}
	return UV_EAFNOSUPPORT;
}

int ho_director_switch(ho_director_t *d, ho_agent_t *a, int fd, uint32_t mark, const void *unread,
                       size_t n, ho_switch_cb done, void *arg, ho_switch_t **out, uint64_t *conn_id,
                       char *msg, size_t msglen)
{
	ho_msg_t m = {.type = HO_STATE};
	ho_flow_t f;
	ho_switch_t *s;
	char err[256];
	int rc;

	if (d->closing || a->state != AS_UP) {
		snprintf(msg, msglen, "the agent's channel is not up");
		return UV_ENOTCONN;
	}
	if ((rc = flow_of_fd(fd, &f)) < 0) {
		snprintf(msg, msglen, "socket addresses: %s", uv_strerror(rc));
		return rc;
	}
	if (d->opts.steer &&
	    (rc = d->opts.steer->freeze(d->opts.steer->ctx, &f, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "freeze: %s", err);
		return rc;
	}
	if ((rc = net_repair_dump(fd, &m.st, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "dump: %s", err);
		undo(d, fd, &f, a->name);
		return rc;
	}
	flow_of(&m.st, &f); /* the same 4-tuple, as the dump read it */
	if ((rc = net_repair_unread(&m.st, unread, n)) < 0) {
		snprintf(msg, msglen, "unread %zu bytes: %s", n, uv_strerror(rc));
		goto undo;
	}
	m.conn_id = d->next_id++;
	if ((rc = ho_channel_send(&a->ch, &m)) < 0) {
		snprintf(msg, msglen, "STATE: %s", uv_strerror(rc));
		goto undo;
	}
	net_repair_state_free(&m.st);
	if (!(s = calloc(1, sizeof(*s))))
		abort(); /* a few dozen bytes */
	s->a = a;
	s->conn_id = m.conn_id;
	s->state = SW_WAIT_READY;
	s->fd = fd;
	s->flow = f;
	s->mark = mark;
	s->done = done;
	s->arg = arg;
	s->next = a->switches;
	a->switches = s;
	ho_channel_expect(&a->ch, s->conn_id, a->ready_ms ? a->ready_ms : d->opts.ready_ms);
	*out = s;
	*conn_id = s->conn_id;
	return 0;
undo:
	net_repair_state_free(&m.st);
	undo(d, fd, &f, a->name);
	return rc;
}

void ho_director_cancel(ho_switch_t *s)
{
	ho_agent_t *a = s->a;
	if (s->state != SW_WAIT_READY)
		return;
	refuse_agent(a, s->conn_id);
	if (a->ch_open)
		ho_channel_expect(&a->ch, s->conn_id, 0);
	undo(a->d, s->fd, &s->flow, a->name);
	unlink_switch(s);
	free(s);
}

void ho_agent_set_ready_ms(ho_agent_t *a, uint64_t ms)
{
	a->ready_ms = ms;
}

bool ho_agent_up(const ho_agent_t *a)
{
	return a && a->state == AS_UP;
}

const ho_director_stats_t *ho_director_stats(const ho_director_t *d)
{
	return &d->stats;
}

void ho_director_close(ho_director_t *d, void (*done)(void *arg), void *arg)
{
	if (d->closing)
		return;
	d->closing = true;
	d->done = done;
	d->done_arg = arg;
	d->pending++; /* (linger timers being closed are counted already) */
	uv_close((uv_handle_t *)&d->tick, on_tick_closed);
	for (ho_agent_t *a = d->agents; a; a = a->next) {
		for (ho_switch_t *s = a->switches, *next; s; s = next) {
			next = s->next;
			if (s->state == SW_WAIT_READY) {
				fall_back(s, "the director is stopping", true);
			} else if (s->state == SW_LINGER) {
				uv_timer_stop(&s->linger);
				unsteer(s);
				unlink_switch(s);
				d->pending++;
				uv_close((uv_handle_t *)&s->linger, on_linger_closed);
			} else { /* the node serves it: its steering entry stays (its own timeout)
				  */
				unlink_switch(s);
				free(s);
			}
		}
		a->state = AS_CLOSED;
		d->pending++;
		uv_close((uv_handle_t *)&a->timer, on_timer_closed);
		if (a->ch_open) {
			d->pending++;
			ho_channel_close(&a->ch);
		}
	}
}

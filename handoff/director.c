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

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

enum { AS_CONNECTING, AS_UP, AS_BACKOFF, AS_CLOSED };

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
	ho_agent_t *next;
};

struct ho_director_s {
	uv_loop_t *loop;
	ho_director_opts_t opts;
	ho_director_stats_t stats;
	ho_agent_t *agents;
	uv_timer_t tick;  /* only so that close always has a handle to wait for */
	unsigned pending; /* handles and channels still open while closing */
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

static void on_msg(ho_channel_t *ch, ho_msg_t *m)
{
	ho_agent_t *a = ch->data;
	LB_DEBUG("handoff agent %s: record type %d for connection %" PRIu64
	         " (no handoff under way)",
	         a->name, (int)m->type, m->conn_id);
	ho_msg_free(m);
}

static void on_timeout(ho_channel_t *ch, uint64_t conn_id)
{
	(void)ch;
	(void)conn_id;
}

static void on_end(ho_channel_t *ch, int err)
{
	ho_agent_t *a = ch->data;
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
	d->pending = 1;
	uv_close((uv_handle_t *)&d->tick, on_tick_closed);
	for (ho_agent_t *a = d->agents; a; a = a->next) {
		a->state = AS_CLOSED;
		d->pending++;
		uv_close((uv_handle_t *)&a->timer, on_timer_closed);
		if (a->ch_open) {
			d->pending++;
			ho_channel_close(&a->ch);
		}
	}
}

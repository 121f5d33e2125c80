#include "handoff/channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define READ_CHUNK        65536
#define RECORD_MS_DEFAULT 5000

typedef struct wreq_s {
	uv_write_t req;
	ho_channel_t *ch;
	uint8_t *buf;
} wreq_t;

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_handle_closed(uv_handle_t *h)
{
	ho_channel_t *ch = h->data;
	if (--ch->handles == 0) {
		free(ch->buf);
		free(ch->exp);
		ch->buf = NULL;
		ch->exp = NULL;
		if (ch->cb->on_close)
			ch->cb->on_close(ch);
	}
}

void ho_channel_close(ho_channel_t *ch)
{
	if (ch->closing)
		return;
	ch->closing = true;
	uv_close((uv_handle_t *)&ch->timer, on_handle_closed);
	uv_close((uv_handle_t *)&ch->tcp, on_handle_closed);
}

/* ends the channel once: tells the owner why, then closes */
static void end(ho_channel_t *ch, int err)
{
	if (ch->closing || ch->ended)
		return;
	ch->ended = true;
	if (ch->cb->on_end)
		ch->cb->on_end(ch, err);
	ho_channel_close(ch);
}

/* a refused record: counted, logged once (the channel ends with it) */
static void refuse(ho_channel_t *ch, int rc, const char *what)
{
	ho_channel_stats_t *s = ch->stats;
	if (rc == HO_EMAC)
		s->bad_mac++;
	else if (rc == HO_EREPLAY)
		s->bad_replay++;
	else if (rc == HO_EVERSION)
		s->bad_version++;
	else if (rc != -ENOMEM && rc != -EIO)
		s->bad_record++;
	LB_WARN("handoff channel with %s: record refused: %s; closing the channel", ch->peer,
	        what ? what : ho_strerror(rc));
	end(ch, rc);
}

static void arm_timer(ho_channel_t *ch);

static void on_timer(uv_timer_t *t)
{
	ho_channel_t *ch = t->data;
	uint64_t now = uv_now(t->loop);
	if (ch->len && now >= ch->record_deadline) {
		ch->stats->timeouts++;
		LB_WARN("handoff channel with %s: a record stalled for %llu ms after %zu bytes; "
		        "closing the channel",
		        ch->peer, (unsigned long long)ch->conf.record_ms, ch->len);
		end(ch, UV_ETIMEDOUT);
		return;
	}
	/* the callback may change the list: take one expired entry at a time */
	for (;;) {
		size_t i;
		for (i = 0; i < ch->nexp && ch->exp[i].deadline > now; i++)
			;
		if (i == ch->nexp)
			break;
		uint64_t id = ch->exp[i].conn_id;
		ch->exp[i] = ch->exp[--ch->nexp];
		ch->stats->timeouts++;
		if (ch->cb->on_timeout)
			ch->cb->on_timeout(ch, id);
		if (ch->closing)
			return;
	}
	arm_timer(ch);
}

/* the timer follows the earliest deadline */
static void arm_timer(ho_channel_t *ch)
{
	if (ch->closing)
		return;
	uint64_t first = UINT64_MAX;
	if (ch->len)
		first = ch->record_deadline;
	for (size_t i = 0; i < ch->nexp; i++)
		if (ch->exp[i].deadline < first)
			first = ch->exp[i].deadline;
	if (first == UINT64_MAX) {
		uv_timer_stop(&ch->timer);
		return;
	}
	uint64_t now = uv_now(ch->timer.loop);
	uv_timer_start(&ch->timer, on_timer, first > now ? first - now : 0, 0);
}

void ho_channel_expect(ho_channel_t *ch, uint64_t conn_id, uint64_t ms)
{
	size_t i;
	for (i = 0; i < ch->nexp && ch->exp[i].conn_id != conn_id; i++)
		;
	if (ms == 0) {
		if (i < ch->nexp)
			ch->exp[i] = ch->exp[--ch->nexp];
		arm_timer(ch);
		return;
	}
	if (i == ch->nexp) {
		if (ch->nexp == ch->exp_cap) {
			size_t cap = ch->exp_cap ? ch->exp_cap * 2 : 8;
			ho_expect_t *e = realloc(ch->exp, cap * sizeof(*e));
			if (!e)
				abort(); /* a small control allocation */
			ch->exp = e;
			ch->exp_cap = cap;
		}
		ch->nexp++;
	}
	ch->exp[i] = (ho_expect_t){conn_id, uv_now(ch->timer.loop) + ms};
	arm_timer(ch);
}

int ho_channel_init(uv_loop_t *loop, ho_channel_t *ch, const ho_key_t *key,
                    const ho_channel_conf_t *conf, const ho_channel_cbs_t *cb,
                    ho_channel_stats_t *stats, void *data)
{
	memset(ch, 0, sizeof(*ch));
	ch->key = key;
	ch->cb = cb;
	ch->stats = stats;
	ch->data = data;
	if (conf)
		ch->conf = *conf;
	if (!ch->conf.record_ms)
		ch->conf.record_ms = RECORD_MS_DEFAULT;
	ch->tx_nonce = wall_us();
	snprintf(ch->peer, sizeof(ch->peer), "?");
	int rc = uv_tcp_init(loop, &ch->tcp);
	if (rc < 0)
		return rc;
	ch->tcp.data = ch;
	ch->handles++;
	if ((rc = uv_timer_init(loop, &ch->timer)) < 0) {
		/* the tcp handle is open: the owner closes the channel, on_close comes */
		ch->closing = true;
		uv_close((uv_handle_t *)&ch->tcp, on_handle_closed);
		return rc;
	}
	ch->timer.data = ch;
	ch->handles++;
	return 0;
}

static void peer_name(ho_channel_t *ch)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	if (uv_tcp_getpeername(&ch->tcp, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		uv_ip4_name(a, host, sizeof(host));
		snprintf(ch->peer, sizeof(ch->peer), "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, host, sizeof(host));
		snprintf(ch->peer, sizeof(ch->peer), "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

/* The record being read is this long, once its header is here (0: not yet). */
static size_t record_len(const ho_channel_t *ch)
{
	if (ch->len < HO_HEADER_LEN)
		return 0;
	const uint8_t *p = ch->buf + 12;
	uint32_t payload = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (payload > HO_PAYLOAD_MAX)
		return 0; /* decode refuses it at once */
	return HO_HEADER_LEN + (size_t)payload + HO_MAC_LEN;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
	ho_channel_t *ch = h->data;
	/* room for what the record still needs, at most one chunk more than what is here */
	size_t want = ch->len + READ_CHUNK;
	size_t need = record_len(ch);
	if (need > ch->len && need < want)
		want = need;
	if (ch->cap < want) {
		size_t cap = ch->cap ? ch->cap : READ_CHUNK;
		while (cap < want)
			cap *= 2;
		uint8_t *b = realloc(ch->buf, cap);
		if (!b) {
			*out = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
			return;
		}
		ch->buf = b;
		ch->cap = cap;
	}
	*out = uv_buf_init((char *)ch->buf + ch->len, (unsigned)(ch->cap - ch->len));
}

/* Decodes every whole record in the buffer. */
static void drain(ho_channel_t *ch)
{
	while (ch->len && !ch->closing) {
		ho_msg_t m;
		size_t used;
		bool first = !ch->rx.any;
		int rc = ho_record_decode(ch->key, &ch->rx, ch->buf, ch->len, &m, &used);
		if (rc == HO_ETRUNC)
			break;
		if (rc < 0) {
			refuse(ch, rc, NULL);
			return;
		}
		if (first && ch->conf.max_skew_ms) {
			uint64_t now = wall_us(), skew = ch->conf.max_skew_ms * 1000u;
			if (m.nonce + skew < now || m.nonce > now + skew) {
				ho_msg_free(&m);
				ch->stats->bad_replay++;
				LB_WARN(
				    "handoff channel with %s: record refused: first nonce %lld ms "
				    "from this host's clock (max %llu); closing the channel",
				    ch->peer, ((long long)m.nonce - (long long)now) / 1000,
				    (unsigned long long)ch->conf.max_skew_ms);
				end(ch, HO_EREPLAY);
				return;
			}
		}
		memmove(ch->buf, ch->buf + used, ch->len - used);
		ch->len -= used;
		if (ch->len)
			ch->record_deadline = uv_now(ch->timer.loop) + ch->conf.record_ms;
		ch->stats->records_in++;
		/* any record about the connection answers its deadline */
		for (size_t i = 0; i < ch->nexp; i++)
			if (ch->exp[i].conn_id == m.conn_id) {
				ch->exp[i] = ch->exp[--ch->nexp];
				break;
			}
		ch->cb->on_msg(ch, &m);
	}
	if (ch->closing)
		return;
	if (!ch->len && ch->cap > READ_CHUNK) {
		/* a big record went through: do not keep its buffer */
		free(ch->buf);
		ch->buf = NULL;
		ch->cap = 0;
	}
	arm_timer(ch);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	ho_channel_t *ch = s->data;
	if (ch->closing)
		return;
	if (nread < 0) {
		end(ch, (int)nread);
		return;
	}
	if (nread == 0)
		return;
	if (!ch->len)
		ch->record_deadline = uv_now(s->loop) + ch->conf.record_ms;
	ch->len += (size_t)nread;
	drain(ch);
}

int ho_channel_start(ho_channel_t *ch)
{
	peer_name(ch);
	int rc = uv_read_start((uv_stream_t *)&ch->tcp, on_alloc, on_read);
	if (rc == 0) {
		ch->reading = true;
		ch->started = true;
	}
	return rc;
}

static void on_connected(uv_connect_t *req, int status)
{
	ho_channel_t *ch = req->data;
	if (ch->closing)
		return;
	if (status == 0)
		status = ho_channel_start(ch);
	ch->on_connect(ch, status);
}

int ho_channel_connect(ho_channel_t *ch, const struct sockaddr *addr,
                       void (*cb)(ho_channel_t *ch, int status))
{
	ch->on_connect = cb;
	ch->creq.data = ch;
	return uv_tcp_connect(&ch->creq, &ch->tcp, addr, on_connected);
}

static void on_written(uv_write_t *req, int status)
{
	wreq_t *w = (wreq_t *)req;
	ho_channel_t *ch = w->ch;
	free(w->buf);
	free(w);
	if (status < 0 && !ch->closing) {
		LB_WARN("handoff channel with %s: write failed: %s; closing the channel", ch->peer,
		        uv_strerror(status));
		end(ch, status);
	}
}

int ho_channel_send(ho_channel_t *ch, ho_msg_t *m)
{
	if (ch->closing || ch->ended)
		return UV_ECANCELED;
	uint64_t now = wall_us();
	ch->tx_nonce = now > ch->tx_nonce ? now : ch->tx_nonce + 1;
	m->nonce = ch->tx_nonce;
	wreq_t *w = calloc(1, sizeof(*w));
	if (!w)
		return UV_ENOMEM;
	size_t len;
	int rc = ho_record_encode(ch->key, m, &w->buf, &len);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->ch = ch;
	uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)&ch->tcp, &b, 1, on_written)) < 0) {
		free(w->buf);
		free(w);
		return rc;
	}
	ch->stats->records_out++;
	return 0;
}

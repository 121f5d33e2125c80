/*
 * libFuzzer target for the response path: node bytes through the real parser (net/http.c), the
 * gateway's response check and head rebuild (gateway/head.c: gw_head_check_response,
 * gw_head_response), in random segments to up to four interleaved parsers (fuzz_http.h), interim
 * responses followed as net/client.c does. Besides the sanitizers:
 * - the adapter's record of each head equals a strict llhttp parse of the head's bytes;
 * - an accepted head, rebuilt and parsed by the client's strict parser, has the same status code,
 *   reason, version, field lines minus the hop-by-hop ones plus the Connection field s3lb adds,
 *   and the same framing (Content-Length, chunked, delimited by the end of the stream);
 * - the body relayed as consumed ends the client's message on the same byte (or at the end of
 *   the stream) with the same decoded body; a refused head relays nothing.
 * Flags (input byte 0, fuzz_http.h): bit 3 the responses answer HEAD, bits 4-5 the Connection
 * s3lb adds to final responses (0 none, 1 close, 2 keep-alive; close anyway for a body that runs
 * to the end of the stream, as gateway/conn.c does).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/head.h"
#include "tests/fuzz/fuzz_http.h"

static fz_peer_t ref;

static gw_head_conn_t mode(const fz_conn_t *c)
{
	switch ((c->flags >> 4) & 3) {
	case 1:
		return GW_HEAD_CONN_CLOSE;
	case 2:
		return GW_HEAD_CONN_KEEP_ALIVE;
	default:
		return GW_HEAD_CONN_NONE;
	}
}

static void init(fz_conn_t *c)
{
	c->h.skip_body = c->peer->skip_body = (c->flags & 8) != 0;
}

static bool head(fz_conn_t *c, const char *msg)
{
	const net_http_t *h = &c->h;
	const char *why = NULL;
	gw_head_conn_t hc = GW_HEAD_CONN_NONE;
	fz_field_t add;
	size_t nadd = 0, out_len;
	int status;
	char *out;

	fz_peer_init(&ref, HTTP_RESPONSE);
	ref.skip_body = h->skip_body;
	FZ_ASSERT(fz_peer_feed(&ref, msg, h->head_len) == HPE_OK);
	fz_same_as_adapter(&ref, h, msg);
	if (!gw_head_check_response(h, &why)) {
		FZ_ASSERT(why != NULL);
		return false;
	}
	status = net_http_status(h);
	if (status == 101)
		return false; /* the gateway answers 502 */
	if (status >= 200) {
		hc = net_http_needs_eof(h) ? GW_HEAD_CONN_CLOSE : mode(c);
		if (hc == GW_HEAD_CONN_CLOSE)
			add = (fz_field_t){"Connection", "close"}, nadd = 1;
		else if (hc == GW_HEAD_CONN_KEEP_ALIVE)
			add = (fz_field_t){"Connection", "keep-alive"}, nadd = 1;
	}
	gw_head_response(h, msg, hc, &out, &out_len);
	FZ_ASSERT(fz_peer_feed(c->peer, out, out_len) == HPE_OK);
	fz_same_head(&ref, c->peer, NULL, 0, NULL, &add, nadd);
	FZ_ASSERT(c->peer->needs_eof == net_http_needs_eof(h));
	c->until_eof = net_http_needs_eof(h);
	free(out);
	return true;
}

static bool done(fz_conn_t *c)
{
	int status = net_http_status(&c->h);
	bool skip = c->h.skip_body;
	if (status >= 200 && (!net_http_keep_alive(&c->h) || mode(c) == GW_HEAD_CONN_CLOSE))
		return false;
	/* a client that reads the relayed response as the connection's last (an HTTP/1.0 one with
	 * no Connection: keep-alive relayed) sends no other request on it */
	if (status >= 200 && !llhttp_should_keep_alive(&c->peer->p))
		return false;
	net_http_next(&c->h);
	c->h.skip_body = skip;
	return true;
}

/* The node closed: a body delimited by the end of the stream is complete on both sides. */
static void end(fz_conn_t *c)
{
	if (c->in_body && c->until_eof) {
		FZ_ASSERT(net_http_finish(&c->h) == NET_HTTP_DONE);
		FZ_ASSERT(fz_peer_finish(c->peer) == HPE_OK);
		fz_message_done(c);
	} else {
		FZ_ASSERT(c->peer->completed == c->done);
	}
}

static const fz_ops_t ops = {.init = init, .head = head, .done = done, .end = end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size, HTTP_RESPONSE, &ops, NULL);
	return 0;
}

/*
 * libFuzzer target for the request path: client bytes through the real parser (net/http.c), the
 * gateway's checks and the head rebuild (gateway/head.c), fed in random segments to up to four
 * parsers interleaved on one thread (fuzz_http.h), so that state shared between parsers would
 * show. Besides the sanitizers:
 * - the adapter's record of each head equals a strict llhttp parse of the head's bytes in one
 *   piece;
 * - an accepted head, rebuilt and parsed by the node's strict parser, has the same method, target
 *   (the path of an absolute-form one), version, field lines minus the hop-by-hop ones, plus
 *   X-Forwarded-For / X-Real-IP when asked, and the same framing;
 * - body bytes relayed as consumed make the node's parser end the message on the same byte with
 *   the same decoded body; a refused head relays nothing, a body refused later leaves the node's
 *   message incomplete.
 * Flags (input byte 0, fuzz_http.h): bit 3 X-Forwarded-For, bit 4 X-Real-IP.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/head.h"
#include "tests/fuzz/fuzz_http.h"

#define CLIENT_IP "192.0.2.7"

static fz_peer_t ref;

/* The path of an absolute-form target (scheme "://" authority path), which the gateway relays in
 * origin form; NULL when the gateway refuses the target (a scheme other than http and https, no
 * path). Which authorities it serves is routing, not checked here. */
static const char *absolute_path(const char *t, size_t n, size_t *len)
{
	const char *a = memmem(t, n, "://", 3), *slash;
	size_t scheme = a ? (size_t)(a - t) : 0;
	if (!a || !((scheme == 4 && !strncasecmp(t, "http", 4)) ||
	            (scheme == 5 && !strncasecmp(t, "https", 5))))
		return NULL;
	slash = memchr(a + 3, '/', n - scheme - 3);
	if (!slash)
		return NULL;
	*len = n - (size_t)(slash - t);
	return slash;
}

static bool head(fz_conn_t *c, const char *msg)
{
	const net_http_t *h = &c->h;
	gw_head_req_opts_t o = {.client_ip = CLIENT_IP,
	                        .x_forwarded_for = (c->flags & 8) != 0,
	                        .x_real_ip = (c->flags & 16) != 0};
	fz_field_t add[2];
	size_t nadd = 0, out_len, target_off, tlen;
	const char *target, *why = NULL;
	gw_err_t err;
	char *out;

	fz_peer_init(&ref, HTTP_REQUEST);
	FZ_ASSERT(fz_peer_feed(&ref, msg, h->head_len) == HPE_OK);
	fz_same_as_adapter(&ref, h, msg);
	if (!strcmp(net_http_method(h), "CONNECT"))
		return false; /* the gateway refuses it before the checks */
	if (!gw_head_check_request(h, msg, &err, &why)) {
		FZ_ASSERT(why != NULL);
		return false;
	}
	target = msg + h->url_off;
	tlen = h->url_len;
	if (tlen == 0 || target[0] != '/') {
		target = absolute_path(target, tlen, &tlen);
		if (!target)
			return false;
		o.path = target;
		o.path_len = tlen;
	}
	if (o.x_forwarded_for)
		add[nadd++] = (fz_field_t){"X-Forwarded-For", CLIENT_IP};
	if (o.x_real_ip)
		add[nadd++] = (fz_field_t){"X-Real-IP", CLIENT_IP};
	gw_head_request(h, msg, &o, &out, &out_len, &target_off);
	FZ_ASSERT(target_off + tlen <= out_len && !memcmp(out + target_off, target, tlen));
	FZ_ASSERT(fz_peer_feed(c->peer, out, out_len) == HPE_OK);
	fz_same_head(&ref, c->peer, target, tlen, o.x_real_ip ? "x-real-ip" : NULL, add, nadd);
	free(out);
	return true;
}

static bool done(fz_conn_t *c)
{
	if (!net_http_keep_alive(&c->h))
		return false;
	if (net_http_minor(&c->h) == 0) {
		/* the node ends a connection that carried an HTTP/1.0 request (no Connection is
		 * relayed), so the gateway takes a new one for the next request */
		unsigned n = c->peer->completed;
		fz_peer_init(c->peer, HTTP_REQUEST);
		c->peer->completed = n;
	}
	net_http_next(&c->h);
	return true;
}

static const fz_ops_t ops = {.head = head, .done = done};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size, HTTP_REQUEST, &ops, NULL);
	return 0;
}

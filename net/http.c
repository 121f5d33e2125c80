/*
 * llhttp adapter. Callbacks record spans as offsets from the message start: h->cur_data and
 * h->cur_pos hold the bytes and the offset of the execute call in progress. Pauses (HPE_PAUSED
 * from a callback) stop the parser exactly after the head and after the message;
 * llhttp_get_error_pos then tells how far it got.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"

static net_http_t *H(llhttp_t *p)
{
	return (net_http_t *)p;
}

static uint32_t off(const net_http_t *h, const char *at)
{
	return (uint32_t)((size_t)(at - h->cur_data) + h->cur_pos);
}

static int too_large(net_http_t *h, const char *why)
{
	h->err = NET_HTTP_E_TOO_LARGE;
	h->why = why;
	return HPE_USER;
}

static bool ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int on_message_begin(llhttp_t *p)
{
	net_http_t *h = H(p);
	h->nhdrs = 0;
	h->method_len = h->url_len = h->status_len = 0;
	h->head_done = h->msg_done = false;
	h->head_len = 0;
	h->trailer_bytes = 0;
	h->ntrailers = 0;
	h->in_field = false;
	h->ext_len = 0;
	return 0;
}

static int span(net_http_t *h, uint32_t *o, uint32_t *l, const char *at, size_t len)
{
	if (off(h, at) + len > h->max_head)
		return too_large(h, "header block too large");
	if (*l == 0)
		*o = off(h, at);
	*l += (uint32_t)len;
	return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
	return span(H(p), &H(p)->method_off, &H(p)->method_len, at, len);
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	return span(H(p), &H(p)->url_off, &H(p)->url_len, at, len);
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
	return span(H(p), &H(p)->status_off, &H(p)->status_len, at, len);
}

/* Trailer fields (after a chunked body) are counted against limits of their own and not kept:
 * they are relayed as body bytes. */
static int trailer_bytes(net_http_t *h, size_t len)
{
	h->trailer_bytes += len;
	if (h->trailer_bytes > h->max_head)
		return too_large(h, "trailer section too large");
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	net_http_t *h = H(p);
	net_hdr_t *hd;
	if (h->head_done) {
		if (!h->in_field && ++h->ntrailers > h->max_headers)
			return too_large(h, "too many trailer fields");
		h->in_field = true;
		return trailer_bytes(h, len);
	}
	if (!h->in_field) {
		if (h->nhdrs >= h->max_headers)
			return too_large(h, "too many headers");
		if (h->nhdrs == h->hdr_cap) {
			uint32_t cap = h->hdr_cap ? h->hdr_cap * 2 : 16;
			net_hdr_t *n = realloc(h->hdrs, cap * sizeof(*n));
			if (!n)
				abort(); /* small control allocation */
			h->hdrs = n;
			h->hdr_cap = cap;
		}
		hd = &h->hdrs[h->nhdrs++];
		memset(hd, 0, sizeof(*hd));
		h->in_field = true;
	}
	hd = &h->hdrs[h->nhdrs - 1];
	return span(h, &hd->name_off, &hd->name_len, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
	H(p)->in_field = false;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	net_http_t *h = H(p);
	net_hdr_t *hd;
	if (h->head_done)
		return trailer_bytes(h, len);
	hd = &h->hdrs[h->nhdrs - 1];
	if (len == 0)
		return 0; /* llhttp reports an empty value where the next line starts */
	return span(h, &hd->value_off, &hd->value_len, at, len);
}

/*
 * The value as llhttp gave it starts after the leading whitespace and keeps the trailing one;
 * an empty value has no span at all. Trims it and finds the CR that ends the line, from the
 * message's bytes (contiguous from the message start up to here, the caller's contract).
 */
static int on_header_value_complete(llhttp_t *p)
{
	net_http_t *h = H(p);
	const char *msg = h->cur_data - h->cur_pos;
	net_hdr_t *hd;
	uint32_t end;
	if (h->head_done)
		return 0;
	hd = &h->hdrs[h->nhdrs - 1];
	if (hd->value_len == 0)
		hd->value_off = hd->name_off + hd->name_len + 1; /* llhttp: no space before ':' */
	end = hd->value_off + hd->value_len;
	while (hd->value_len && ows(msg[hd->value_off + hd->value_len - 1]))
		hd->value_len--;
	while (ows(msg[end]))
		end++;
	if (msg[end] != '\r') {
		h->err = NET_HTTP_E_INVALID;
		h->why = "malformed header line";
		return HPE_USER;
	}
	hd->line_end = end;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	net_http_t *h = H(p);
	if (h->body_cb)
		h->body_cb(h->body_arg, at, len);
	return 0;
}

/*
 * Chunk extensions are relayed raw, so what llhttp lets through reaches the node: it accepts an
 * empty name or value (";=b", ";a="), which RFC 9112 7.1.1 does not, and a node may read such a
 * chunk line differently. Names and values may come in pieces; the complete callbacks check.
 */
static int on_chunk_ext_part(llhttp_t *p, const char *at, size_t len)
{
	(void)at;
	H(p)->ext_len += len;
	return 0;
}

static int on_chunk_ext_complete(llhttp_t *p)
{
	net_http_t *h = H(p);
	if (h->ext_len == 0) {
		h->err = NET_HTTP_E_INVALID;
		h->why = "empty chunk extension name or value";
		return HPE_USER;
	}
	h->ext_len = 0;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	net_http_t *h = H(p);
	h->head_done = true;
	if (h->skip_body)
		p->flags |= F_SKIPBODY; /* what returning 1 would do; we need the pause too */
	return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
	H(p)->msg_done = true;
	return HPE_PAUSED;
}

/* One settings table for every parser: it holds only callbacks (per-parser state is in
 * net_http_t), and a copy in each parser would cost 240 bytes per connection. */
static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_ext_part,
    .on_chunk_extension_value = on_chunk_ext_part,
    .on_chunk_extension_name_complete = on_chunk_ext_complete,
    .on_chunk_extension_value_complete = on_chunk_ext_complete,
    .on_message_complete = on_message_complete,
};

void net_http_init(net_http_t *h, llhttp_type_t type, uint32_t max_headers, uint64_t max_head)
{
	memset(h, 0, sizeof(*h));
	llhttp_init(&h->p, type, &settings);
	h->max_headers = max_headers;
	h->max_head = max_head;
}

void net_http_free(net_http_t *h)
{
	free(h->hdrs);
	h->hdrs = NULL;
	h->hdr_cap = h->nhdrs = 0;
}

void net_http_next(net_http_t *h)
{
	h->head_done = h->msg_done = h->skip_body = false;
	h->nhdrs = 0;
	h->method_len = h->url_len = h->status_len = 0;
	h->head_len = 0;
	h->trailer_bytes = 0;
	h->ntrailers = 0;
	h->in_field = false;
	h->ext_len = 0;
	h->why = NULL;
}

static net_http_result_t failed(net_http_t *h, llhttp_errno_t e, size_t *used)
{
	*used = 0;
	if (e != HPE_USER) {
		h->err = NET_HTTP_E_INVALID;
		h->why = llhttp_get_error_reason(&h->p);
	}
	return NET_HTTP_ERROR;
}

net_http_result_t net_http_execute(net_http_t *h, const char *data, size_t len, size_t pos,
                                   size_t *used)
{
	llhttp_errno_t e;
	bool head_before = h->head_done;

	if (h->msg_done) {
		/* ended by the framing check right after the head */
		*used = 0;
		return NET_HTTP_DONE;
	}
	h->cur_data = data;
	h->cur_pos = pos;
	e = llhttp_execute(&h->p, data, len);
	if (e == HPE_OK) {
		*used = len;
		if (!h->head_done && pos + len > h->max_head) {
			too_large(h, "header block too large");
			return NET_HTTP_ERROR;
		}
		return NET_HTTP_MORE;
	}
	if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE)
		return failed(h, e, used);
	*used = (size_t)(llhttp_get_error_pos(&h->p) - data);
	if (e == HPE_PAUSED_UPGRADE)
		llhttp_resume_after_upgrade(&h->p);
	else
		llhttp_resume(&h->p);
	if (h->head_done && !head_before) {
		h->head_len = pos + *used;
		/* llhttp checks the head's framing (Transfer-Encoding, Content-Length) only after
		 * on_headers_complete returned: run those checks now, on no bytes, so that the
		 * caller never relays a head that the next call would refuse. It stops at the
		 * first body byte it needs, or pauses at the end of a body-less message. */
		e = llhttp_execute(&h->p, data + *used, 0);
		if (e == HPE_PAUSED)
			llhttp_resume(&h->p);
		else if (e == HPE_PAUSED_UPGRADE)
			llhttp_resume_after_upgrade(&h->p);
		else if (e != HPE_OK)
			return failed(h, e, used);
		return NET_HTTP_HEAD;
	}
	if (h->msg_done)
		return NET_HTTP_DONE;
	return NET_HTTP_MORE;
}

net_http_result_t net_http_finish(net_http_t *h)
{
	llhttp_errno_t e = llhttp_finish(&h->p);
	if (h->msg_done)
		return NET_HTTP_DONE;
	if (e == HPE_OK && !h->head_done)
		h->why = "connection closed before a response";
	else
		h->why =
		    e == HPE_OK ? "connection closed mid-message" : llhttp_get_error_reason(&h->p);
	h->err = NET_HTTP_E_CLOSED;
	return NET_HTTP_ERROR;
}

bool net_http_name_is(const net_http_t *h, const char *msg, uint32_t i, const char *name)
{
	const net_hdr_t *hd = &h->hdrs[i];
	return hd->name_len == strlen(name) &&
	       strncasecmp(msg + hd->name_off, name, hd->name_len) == 0;
}

int net_http_find(const net_http_t *h, const char *msg, const char *name, uint32_t from)
{
	for (uint32_t i = from; i < h->nhdrs; i++)
		if (net_http_name_is(h, msg, i, name))
			return (int)i;
	return -1;
}

bool net_http_chunked(const net_http_t *h)
{
	return (h->p.flags & F_CHUNKED) != 0;
}

bool net_http_has_body(const net_http_t *h)
{
	if (h->p.flags & F_CHUNKED)
		return true;
	return (h->p.flags & F_CONTENT_LENGTH) && h->p.content_length > 0;
}

bool net_http_keep_alive(const net_http_t *h)
{
	return llhttp_should_keep_alive(&h->p) && !h->p.upgrade;
}

bool net_http_needs_eof(const net_http_t *h)
{
	return llhttp_message_needs_eof(&h->p);
}

uint64_t net_http_body_left(const net_http_t *h)
{
	if (!h->head_done || h->msg_done || (h->p.flags & F_CHUNKED) ||
	    !(h->p.flags & F_CONTENT_LENGTH))
		return 0;
	return h->p.content_length;
}

void net_http_body_skipped(net_http_t *h)
{
	llhttp_reset(&h->p);
	h->msg_done = true;
}

int net_http_status(const net_http_t *h)
{
	return h->p.status_code;
}

const char *net_http_method(const net_http_t *h)
{
	return llhttp_method_name((llhttp_method_t)h->p.method);
}

int net_http_major(const net_http_t *h)
{
	return h->p.http_major;
}

int net_http_minor(const net_http_t *h)
{
	return h->p.http_minor;
}

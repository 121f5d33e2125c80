/*
 * llhttp for responses (see http.h). Header names are matched as they stream in: only ETag is
 * kept, so a name is compared against it piece by piece instead of being stored. The parser
 * pauses in on_message_complete, which leaves llhttp_get_error_pos at the byte after the
 * response; feed() reports that as *used and resumes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "bench/http.h"

#define ETAG_CAP 128

struct bench_http_s {
	llhttp_t p; /* first: callbacks cast back from it */
	llhttp_settings_t settings;
	bench_http_body_cb body;
	void *ud;
	bool head_request;
	bool started;
	bool head_done;
	bool done;
	bool name_is_etag; /* the header name so far matches "etag" */
	bool in_etag;      /* receiving the ETag value */
	size_t name_len;
	size_t etag_len;
	int64_t content_length; /* captured with the head: llhttp counts its copy down */
	char etag[ETAG_CAP];
	const char *why;
};

static bench_http_t *H(llhttp_t *p)
{
	return (bench_http_t *)p;
}

static int on_message_begin(llhttp_t *p)
{
	H(p)->started = true;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	bench_http_t *h = H(p);
	static const char etag[] = "etag";
	h->in_etag = false;
	if (h->name_is_etag)
		h->name_is_etag =
		    h->name_len + len <= 4 && strncasecmp(at, etag + h->name_len, len) == 0;
	h->name_len += len;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	bench_http_t *h = H(p);
	h->in_etag = h->name_is_etag && h->name_len == 4;
	if (h->in_etag)
		h->etag_len = 0;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	bench_http_t *h = H(p);
	if (!h->in_etag)
		return 0;
	if (h->etag_len + len >= ETAG_CAP)
		len = ETAG_CAP - 1 - h->etag_len; /* cut: only compared, never trusted */
	memcpy(h->etag + h->etag_len, at, len);
	h->etag_len += len;
	h->etag[h->etag_len] = '\0';
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	bench_http_t *h = H(p);
	h->in_etag = false;
	h->name_is_etag = true; /* the next name starts afresh */
	h->name_len = 0;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	bench_http_t *h = H(p);
	h->head_done = true;
	h->content_length = (p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED)
	                        ? (int64_t)p->content_length
	                        : -1;
	return h->head_request ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	bench_http_t *h = H(p);
	if (h->body)
		h->body(h->ud, at, len);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	H(p)->done = true;
	return HPE_PAUSED;
}

bench_http_t *bench_http_new(void)
{
	bench_http_t *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	llhttp_settings_init(&h->settings);
	h->settings.on_message_begin = on_message_begin;
	h->settings.on_header_field = on_header_field;
	h->settings.on_header_field_complete = on_header_field_complete;
	h->settings.on_header_value = on_header_value;
	h->settings.on_header_value_complete = on_header_value_complete;
	h->settings.on_headers_complete = on_headers_complete;
	h->settings.on_body = on_body;
	h->settings.on_message_complete = on_message_complete;
	llhttp_init(&h->p, HTTP_RESPONSE, &h->settings);
	return h;
}

void bench_http_free(bench_http_t *h)
{
	free(h);
}

void bench_http_reset(bench_http_t *h)
{
	llhttp_init(&h->p, HTTP_RESPONSE, &h->settings);
}

void bench_http_begin(bench_http_t *h, bool head_request, bench_http_body_cb body, void *ud)
{
	h->body = body;
	h->ud = ud;
	h->head_request = head_request;
	h->started = h->head_done = h->done = false;
	h->name_is_etag = true;
	h->in_etag = false;
	h->name_len = h->etag_len = 0;
	h->etag[0] = '\0';
	h->why = NULL;
	if (llhttp_get_errno(&h->p) != HPE_OK) /* after an error: start afresh */
		llhttp_init(&h->p, HTTP_RESPONSE, &h->settings);
}

bench_http_result_t bench_http_feed(bench_http_t *h, const char *data, size_t len, size_t *used)
{
	llhttp_errno_t e = llhttp_execute(&h->p, data, len);

	if (e == HPE_OK) {
		*used = len;
		return BENCH_HTTP_MORE;
	}
	if (e == HPE_PAUSED && h->done) {
		*used = (size_t)(llhttp_get_error_pos(&h->p) - data);
		llhttp_resume(&h->p);
		return BENCH_HTTP_DONE;
	}
	*used = 0;
	h->why = llhttp_get_error_reason(&h->p);
	if (!h->why || !*h->why)
		h->why = llhttp_errno_name(e);
	return BENCH_HTTP_ERROR;
}

bench_http_result_t bench_http_eof(bench_http_t *h)
{
	llhttp_errno_t e;
	if (h->done)
		return BENCH_HTTP_DONE;
	e = llhttp_finish(&h->p);
	if ((e == HPE_OK || e == HPE_PAUSED) && h->done) {
		llhttp_resume(&h->p);
		return BENCH_HTTP_DONE;
	}
	h->why = !h->started   ? "connection closed before a response"
	         : e == HPE_OK ? "connection closed mid-response"
	                       : llhttp_get_error_reason(&h->p);
	return BENCH_HTTP_ERROR;
}

bool bench_http_started(const bench_http_t *h)
{
	return h->started;
}

bool bench_http_head_done(const bench_http_t *h)
{
	return h->head_done;
}

int bench_http_status(const bench_http_t *h)
{
	return h->p.status_code;
}

bool bench_http_keep_alive(const bench_http_t *h)
{
	return llhttp_should_keep_alive(&h->p) != 0;
}

int64_t bench_http_content_length(const bench_http_t *h)
{
	return h->head_done ? h->content_length : -1;
}

const char *bench_http_etag(const bench_http_t *h)
{
	return h->etag;
}

const char *bench_http_error(const bench_http_t *h)
{
	return h->why ? h->why : "";
}

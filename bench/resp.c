/*
 * The response head's few values (see resp.h). llhttp has checked Content-Length already (one
 * value, digits only), so reading its digits cannot fail here.
 */
#include <string.h>

#include "bench/resp.h"

void bench_resp_reset(bench_resp_t *r)
{
	r->status = 0;
	r->clen = -1;
	r->etag[0] = '\0';
}

void bench_resp_head(bench_resp_t *r, const net_http_t *h, const char *msg)
{
	int i;
	bench_resp_reset(r);
	r->status = net_http_status(h);
	if (!net_http_chunked(h) && (i = net_http_find(h, msg, "content-length", 0)) >= 0) {
		const net_hdr_t *v = &h->hdrs[i];
		int64_t n = 0;
		for (uint32_t k = 0; k < v->value_len; k++)
			n = n * 10 + (msg[v->value_off + k] - '0');
		r->clen = n;
	}
	if ((i = net_http_find(h, msg, "etag", 0)) >= 0) {
		const net_hdr_t *v = &h->hdrs[i];
		size_t n = v->value_len < BENCH_ETAG_CAP - 1 ? v->value_len : BENCH_ETAG_CAP - 1;
		memcpy(r->etag, msg + v->value_off, n);
		r->etag[n] = '\0';
	}
}

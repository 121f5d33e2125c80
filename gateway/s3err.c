/*
 * S3 XML errors produced by s3lb itself, and the complete HTTP responses that carry them.
 * The only file of the gateway that uses libxml2.
 *
 * Codes are AWS codes, because S3 SDKs branch on them (SlowDown and ServiceUnavailable are
 * throttling/transient, RequestTimeout is retryable). AWS has no code for "the node behind me
 * misbehaved", so BAD_GATEWAY and GATEWAY_TIMEOUT say ServiceUnavailable, which every SDK treats
 * as transient, while the status (502, 504) keeps the real cause visible to operators and to
 * HTTP-level retry logic (SDKs retry 500/502/503/504 by status anyway).
 */
#include "gateway/s3err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

typedef struct {
	int status;
	const char *reason;
	const char *code;
	const char *message;
} err_def_t;

static const err_def_t errors[GW_ERR__COUNT] = {
    [GW_ERR_NO_SUCH_BUCKET] = {404, "Not Found", "NoSuchBucket",
                               "The specified bucket does not exist."},
    [GW_ERR_SERVICE_UNAVAILABLE] = {503, "Service Unavailable", "ServiceUnavailable",
                                    "Service is unable to handle request."},
    [GW_ERR_SLOW_DOWN] = {503, "Service Unavailable", "SlowDown",
                          "Please reduce your request rate."},
    [GW_ERR_REQUEST_TIMEOUT] = {400, "Bad Request", "RequestTimeout",
                                "Your socket connection to the server was not read from or "
                                "written to within the timeout period."},
    [GW_ERR_INTERNAL] = {500, "Internal Server Error", "InternalError",
                         "We encountered an internal error. Please try again."},
    [GW_ERR_BAD_GATEWAY] = {502, "Bad Gateway", "ServiceUnavailable",
                            "The storage node sent an invalid response. Please try again."},
    [GW_ERR_GATEWAY_TIMEOUT] = {504, "Gateway Timeout", "ServiceUnavailable",
                                "The storage node did not respond in time. Please try again."},
    [GW_ERR_INVALID_REQUEST] = {400, "Bad Request", "InvalidRequest",
                                "The request is not a valid HTTP/1.1 request."},
    [GW_ERR_HEADER_TOO_LARGE] = {431, "Request Header Fields Too Large",
                                 "RequestHeaderSectionTooLarge",
                                 "Your request header section exceeds the maximum allowed size."},
    [GW_ERR_HEADER_TIMEOUT] = {408, "Request Timeout", "RequestTimeout",
                               "Your socket connection to the server was not read from or "
                               "written to within the timeout period."},
    [GW_ERR_METHOD_NOT_ALLOWED] = {405, "Method Not Allowed", "MethodNotAllowed",
                                   "The specified method is not allowed against this resource."},
    [GW_ERR_NOT_IMPLEMENTED] = {501, "Not Implemented", "NotImplemented",
                                "A header you provided implies functionality that is not "
                                "implemented."},
    [GW_ERR_HTTP_VERSION] = {505, "HTTP Version Not Supported", "HttpVersionNotSupported",
                             "The HTTP version of the request is not supported."},
};

/* An out-of-range value is a bug in the caller; answer it as an internal error. */
static const err_def_t *def(gw_err_t e)
{
	return (unsigned)e < GW_ERR__COUNT ? &errors[e] : &errors[GW_ERR_INTERNAL];
}

void gw_err_init(void)
{
	xmlInitParser();
}

int gw_err_status(gw_err_t e)
{
	return def(e)->status;
}

const char *gw_err_reason(gw_err_t e)
{
	return def(e)->reason;
}

const char *gw_err_code(gw_err_t e)
{
	return def(e)->code;
}

const char *gw_err_message(gw_err_t e)
{
	return def(e)->message;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, surrogates), or 0. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t v, min;
	size_t n;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, v = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Characters XML 1.0 allows in a document (section 2.2). */
static bool xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000;
}

/*
 * A copy of s that libxml2 can serialize into well-formed XML: invalid UTF-8 and characters XML
 * cannot hold (most control characters) become U+FFFD. Values such as the resource come from
 * the client's request line, which may hold any bytes. Returns NULL on allocation failure.
 */
static xmlChar *xml_text(const char *s)
{
	size_t len = strlen(s);
	unsigned char *out = malloc(3 * len + 1);
	if (out == NULL)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n > 0 && xml_char_ok(cp)) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += n > 0 ? n : 1;
		}
	}
	out[o] = '\0';
	return out;
}

/* Adds <name>value</name> under parent, escaped by libxml2; a NULL value adds nothing. */
static int add_text_child(xmlNodePtr parent, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	xmlChar *text = xml_text(value);
	if (text == NULL)
		return -1;
	xmlNodePtr child = xmlNewTextChild(parent, NULL, BAD_CAST name, text);
	free(text);
	return child != NULL ? 0 : -1;
}

int gw_err_xml(const char *code, const char *message, const char *resource, const char *request_id,
               char **out, size_t *out_len)
{
	int rc = -1;
	xmlChar *mem = NULL;
	int size = 0;

	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	if (doc == NULL)
		return -1;
	xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "Error");
	if (root == NULL)
		goto out_doc;
	xmlDocSetRootElement(doc, root);
	if (add_text_child(root, "Code", code != NULL ? code : "") != 0 ||
	    add_text_child(root, "Message", message) != 0 ||
	    add_text_child(root, "Resource", resource) != 0 ||
	    add_text_child(root, "RequestId", request_id) != 0)
		goto out_doc;

	xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
	if (mem == NULL || size < 0)
		goto out_doc;
	/* Our own copy, so callers free() it and never need xmlFree. */
	*out = malloc((size_t)size + 1);
	if (*out == NULL)
		goto out_mem;
	memcpy(*out, mem, (size_t)size + 1);
	*out_len = (size_t)size;
	rc = 0;
out_mem:
	xmlFree(mem);
out_doc:
	xmlFreeDoc(doc);
	return rc;
}

/* IMF-fixdate (RFC 7231 7.1.1.1), with fixed English names whatever the locale. */
static void http_date(time_t t, char buf[30])
{
	struct tm tm;
	/* s3lb never calls setlocale: strftime's names are the C locale's, as HTTP wants */
	gmtime_r(&t, &tm);
	if (strftime(buf, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		buf[0] = 0;
}

/* Only visible ASCII of the request id goes into the header: nothing can split the header. */
static void header_token(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; s != NULL && *s != '\0' && o + 1 < cap; s++) {
		if (*s > 0x20 && *s < 0x7f)
			out[o++] = *s;
	}
	out[o] = '\0';
}

int gw_err_response(gw_err_t e, const char *message, const char *resource, const char *request_id,
                    bool keep_alive, bool head, char **out, size_t *out_len)
{
	const err_def_t *d = def(e);
	char *body;
	size_t body_len;
	if (gw_err_xml(d->code, message != NULL ? message : d->message, resource, request_id, &body,
	               &body_len) != 0)
		return -1;

	char id[128];
	char date[30];
	header_token(request_id, id, sizeof(id));
	http_date(time(NULL), date);
	const char *fmt = "HTTP/1.1 %d %s\r\n"
	                  "Content-Type: application/xml\r\n"
	                  "Content-Length: %zu\r\n"
	                  "%s%s%s"
	                  "Server: s3lb\r\n"
	                  "Date: %s\r\n"
	                  "%s"
	                  "\r\n";
	const char *id_pre = id[0] != '\0' ? "x-amz-request-id: " : "";
	const char *id_post = id[0] != '\0' ? "\r\n" : "";
	const char *conn = keep_alive ? "" : "Connection: close\r\n";
	int hlen =
	    snprintf(NULL, 0, fmt, d->status, d->reason, body_len, id_pre, id, id_post, date, conn);
	size_t total = (size_t)hlen + (head ? 0 : body_len);
	char *buf = malloc(total + 1);
	if (hlen < 0 || buf == NULL) {
		free(buf);
		free(body);
		return -1;
	}
	snprintf(buf, (size_t)hlen + 1, fmt, d->status, d->reason, body_len, id_pre, id, id_post,
	         date, conn);
	if (!head)
		memcpy(buf + hlen, body, body_len);
	buf[total] = '\0';
	free(body);
	*out = buf;
	*out_len = total;
	return 0;
}

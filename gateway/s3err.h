/*
 * S3 XML errors that s3lb itself produces (libxml2 renders the body, so every value is escaped):
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <Error><Code>..</Code><Message>..</Message><Resource>..</Resource><RequestId>..</RequestId></Error>
 */
#ifndef S3LB_GATEWAY_S3ERR_H
#define S3LB_GATEWAY_S3ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	GW_ERR_NO_SUCH_BUCKET = 0,  /* 404 NoSuchBucket: no route matched */
	GW_ERR_SERVICE_UNAVAILABLE, /* 503 ServiceUnavailable: no node available / all attempts
	                               failed */
	GW_ERR_SLOW_DOWN,           /* 503 SlowDown: a connection or queue limit was hit */
	GW_ERR_REQUEST_TIMEOUT,     /* 400 RequestTimeout: request body stalled */
	GW_ERR_INTERNAL,            /* 500 InternalError */
	GW_ERR_BAD_GATEWAY,        /* 502 ServiceUnavailable-class: node sent an invalid response */
	GW_ERR_GATEWAY_TIMEOUT,    /* 504 ServiceUnavailable-class: node did not answer in time */
	GW_ERR_INVALID_REQUEST,    /* 400 InvalidRequest: malformed HTTP, smuggling patterns */
	GW_ERR_HEADER_TOO_LARGE,   /* 431 RequestHeaderSectionTooLarge */
	GW_ERR_HEADER_TIMEOUT,     /* 408 RequestTimeout: header block not received in time */
	GW_ERR_METHOD_NOT_ALLOWED, /* 405 MethodNotAllowed: CONNECT */
	GW_ERR_NOT_IMPLEMENTED,    /* 501 NotImplemented: a transfer coding other than chunked */
	GW_ERR_HTTP_VERSION,       /* 505 HttpVersionNotSupported: not HTTP/1.0 or 1.1 */
	GW_ERR__COUNT
} gw_err_t;

/* Before threads render errors: libxml2's global state made on the calling (main) thread, not by
 * whichever worker answers an error first (LeakSanitizer saw that state leak with the thread). */
void gw_err_init(void);
int gw_err_status(gw_err_t e);          /* HTTP status */
const char *gw_err_reason(gw_err_t e);  /* HTTP reason phrase */
const char *gw_err_code(gw_err_t e);    /* S3 Code */
const char *gw_err_message(gw_err_t e); /* default Message */

/*
 * Renders a complete HTTP/1.1 response (status line, Content-Type: application/xml,
 * Content-Length, x-amz-request-id, Connection: close when !keep_alive, then the XML body;
 * for HEAD requests the body is omitted but Content-Length is kept) into a malloc'd buffer.
 * message NULL: the default. Returns 0, or -1 on allocation failure.
 */
int gw_err_response(gw_err_t e, const char *message, const char *resource, const char *request_id,
                    bool keep_alive, bool head, char **out, size_t *out_len);

/*
 * Only the XML body (for tests and for callers that build headers themselves). A NULL message,
 * resource or request_id leaves its element out (gw_err_response then also leaves out the
 * x-amz-request-id header). Bytes XML cannot carry (invalid UTF-8, control characters) become
 * U+FFFD. *out is malloc'd, NUL-terminated, *out_len excludes the NUL.
 */
int gw_err_xml(const char *code, const char *message, const char *resource, const char *request_id,
               char **out, size_t *out_len);

#endif

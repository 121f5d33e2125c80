/*
 * The access log line, fields in a fixed order (docs/operations.md):
 *   {"time":"2024-05-01T12:00:00.123Z","client":"192.0.2.7","method":"GET","bucket":"photos",
 *    "key":"2024/cat.jpg","op":"read","status":200,"bytes_in":312,"bytes_out":1048893,
 *    "duration_ms":12.408,"pool":"ceph-a","node":"rgw1","attempts":1,"request_id":"3F9A..."}
 * written by yyjson. The document lives in a stack buffer (its values are fixed in number and
 * strings are referenced, not copied), so a line costs one allocation: the written text.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include <yyjson.h>

#include "core/log.h"
#include "gateway/access_log.h"

void gw_access_log(const gw_conn_t *c)
{
	const gw_req_t *r = c->r;
	uint64_t dur_ns = uv_hrtime() - r->t_start;
	const char *pool = r->pool ? r->pool->conf->name : "-";
	char stamp[48], pool_mem[4096], *line;
	struct timespec ts;
	struct tm tm;
	yyjson_alc alc;
	yyjson_mut_doc *d;
	yyjson_mut_val *o;
	size_t len;
	int n;

	gw_metrics_request(c->srv->metrics, pool, r->s3.op ? r->s3.op : LB_OP_OTHER, r->status,
	                   r->bytes_in, r->bytes_out, dur_ns / 1000);
	if (!lb_log_access_on())
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (!yyjson_alc_pool_init(&alc, pool_mem, sizeof(pool_mem)) ||
	    !(d = yyjson_mut_doc_new(&alc)))
		abort(); /* the pool holds the fixed set of values below */
	o = yyjson_mut_obj(d);
	yyjson_mut_doc_set_root(d, o);
	yyjson_mut_obj_add_str(d, o, "time", stamp);
	yyjson_mut_obj_add_str(d, o, "client", r->client_ip);
	yyjson_mut_obj_add_str(d, o, "method", r->method ? r->method : "-");
	yyjson_mut_obj_add_strn(d, o, "bucket", r->s3.bucket ? r->s3.bucket : "",
	                        r->s3.bucket ? r->s3.bucket_len : 0);
	yyjson_mut_obj_add_strn(d, o, "key", r->s3.key ? r->s3.key : "",
	                        r->s3.key ? r->s3.key_len : 0);
	yyjson_mut_obj_add_str(d, o, "op", r->s3.op ? lb_op_name(r->s3.op) : "-");
	yyjson_mut_obj_add_int(d, o, "status", r->status);
	yyjson_mut_obj_add_uint(d, o, "bytes_in", r->bytes_in);
	yyjson_mut_obj_add_uint(d, o, "bytes_out", r->bytes_out);
	/* microsecond resolution, as milliseconds with 3 decimals */
	yyjson_mut_obj_add_real(d, o, "duration_ms", round((double)dur_ns / 1e3) / 1e3);
	yyjson_mut_obj_add_str(d, o, "pool", pool);
	yyjson_mut_obj_add_str(d, o, "node", r->node_name ? r->node_name : "-");
	yyjson_mut_obj_add_uint(d, o, "attempts", r->attempts);
	yyjson_mut_obj_add_str(d, o, "request_id", r->reqid);
	/* a key is whatever bytes the client sent: kept as they are rather than losing the line */
	line = yyjson_mut_write(d, YYJSON_WRITE_ALLOW_INVALID_UNICODE | YYJSON_WRITE_NEWLINE_AT_END,
	                        &len);
	if (!line)
		abort(); /* only on allocation failure */
	lb_log_access_line(line, len);
	free(line);
}

/*
 * The access log line, fields in a fixed order (docs/operations.md):
 *   {"time":"2024-05-01T12:00:00.123Z","client":"192.0.2.7","method":"GET","bucket":"photos",
 *    "key":"2024/cat.jpg","op":"read","status":200,"bytes_in":312,"bytes_out":1048893,
 *    "duration_ms":12.408,"pool":"ceph-a","node":"rgw1","attempts":1,"request_id":"3F9A..."}
 * written by yyjson. The document lives in a stack buffer (its values are fixed in number and
 * strings are referenced, not copied), so a line costs one allocation: the written text.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include <yyjson.h>

#include "core/log.h"
#include "gateway/access_log.h"

typedef struct fields_s {
	const char *client, *method, *bucket, *key, *op, *pool, *node, *reqid, *handoff;
	size_t bucket_len, key_len;
	int status;
	uint64_t bytes_in, bytes_out, dur_ns;
	unsigned attempts;
} fields_t;

static void write_line(const fields_t *f);

void gw_access_log(const gw_conn_t *c)
{
	const gw_req_t *r = c->r;
	uint64_t dur_ns = uv_hrtime() - r->t_start;
	const char *pool = r->pool ? r->pool->conf->name : "-";
	gw_metrics_request(c->srv->metrics, pool, r->s3.op ? r->s3.op : LB_OP_OTHER, r->status,
	                   r->bytes_in, r->bytes_out, dur_ns / 1000);
	if (!lb_log_access_on())
		return;
	write_line(&(fields_t){.client = r->client_ip,
	                       .method = r->method ? r->method : "-",
	                       .bucket = r->s3.bucket ? r->s3.bucket : "",
	                       .bucket_len = r->s3.bucket ? r->s3.bucket_len : 0,
	                       .key = r->s3.key ? r->s3.key : "",
	                       .key_len = r->s3.key ? r->s3.key_len : 0,
	                       .op = r->s3.op ? lb_op_name(r->s3.op) : "-",
	                       .status = r->status,
	                       .bytes_in = r->bytes_in,
	                       .bytes_out = r->bytes_out,
	                       .dur_ns = dur_ns,
	                       .pool = pool,
	                       .node = r->node_name ? r->node_name : "-",
	                       .attempts = r->attempts,
	                       .reqid = r->reqid});
}

void gw_access_log_handoff(gw_server_t *srv, const gw_ho_line_t *l, const ho_report_t *rep,
                           uint32_t index)
{
	char reqid[40];
	int status = rep ? rep->status : 0;
	uint64_t in = rep ? rep->bytes_in : 0, out = rep ? rep->bytes_out : 0;
	uint64_t dur_ns = rep ? rep->usec * 1000 : uv_hrtime() - l->t_start;
	gw_metrics_request(srv->metrics, l->pool, LB_OP_READ, status, in, out, dur_ns / 1000);
	if (!lb_log_access_on())
		return;
	if (index)
		snprintf(reqid, sizeof(reqid), "%s-%u", l->reqid, (unsigned)index);
	else
		snprintf(reqid, sizeof(reqid), "%s", l->reqid);
	write_line(&(fields_t){.client = l->client_ip,
	                       .method = index ? "-" : l->method, /* later ones: not parsed here */
	                       .bucket = index ? "" : l->bucket,
	                       .bucket_len = index ? 0 : strlen(l->bucket),
	                       .key = index ? "" : l->key,
	                       .key_len = index ? 0 : strlen(l->key),
	                       .op = index ? "-" : "read",
	                       .status = status,
	                       .bytes_in = in,
	                       .bytes_out = out,
	                       .dur_ns = dur_ns,
	                       .pool = l->pool,
	                       .node = l->node,
	                       .attempts = 1,
	                       .reqid = reqid,
	                       .handoff = l->handoff});
}

static void write_line(const fields_t *f)
{
	char stamp[48], pool_mem[4096], *line;
	struct timespec ts;
	struct tm tm;
	yyjson_alc alc;
	yyjson_mut_doc *d;
	yyjson_mut_val *o;
	size_t len;
	int n;

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
	yyjson_mut_obj_add_str(d, o, "client", f->client);
	yyjson_mut_obj_add_str(d, o, "method", f->method);
	yyjson_mut_obj_add_strn(d, o, "bucket", f->bucket, f->bucket_len);
	yyjson_mut_obj_add_strn(d, o, "key", f->key, f->key_len);
	yyjson_mut_obj_add_str(d, o, "op", f->op);
	yyjson_mut_obj_add_int(d, o, "status", f->status);
	yyjson_mut_obj_add_uint(d, o, "bytes_in", f->bytes_in);
	yyjson_mut_obj_add_uint(d, o, "bytes_out", f->bytes_out);
	/* microsecond resolution, as milliseconds with 3 decimals */
	yyjson_mut_obj_add_real(d, o, "duration_ms", round((double)f->dur_ns / 1e3) / 1e3);
	yyjson_mut_obj_add_str(d, o, "pool", f->pool);
	yyjson_mut_obj_add_str(d, o, "node", f->node);
	yyjson_mut_obj_add_uint(d, o, "attempts", f->attempts);
	yyjson_mut_obj_add_str(d, o, "request_id", f->reqid);
	if (f->handoff) /* only for requests a node served after a handoff */
		yyjson_mut_obj_add_str(d, o, "handoff", f->handoff);
	/* a key is whatever bytes the client sent: kept as they are rather than losing the line */
	line = yyjson_mut_write(d, YYJSON_WRITE_ALLOW_INVALID_UNICODE | YYJSON_WRITE_NEWLINE_AT_END,
	                        &len);
	if (!line)
		abort(); /* only on allocation failure */
	lb_log_access_line(line, len);
	free(line);
}

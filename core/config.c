/*
 * The operator's config: YAML -> libcyaml (schema below) -> raw structs of strings ->
 * validation -> the immutable lb_config_t of config.h.
 *
 * Every scalar is loaded as a string and converted here, so each bad value gets one message in
 * one format ("FILE:LINE: key: message") instead of libcyaml's lenient number and boolean
 * parsing (it reads "010" as 8 and "ture" as false). libcyaml checks the structure: unknown
 * keys, a list where a mapping belongs, and so on; its messages arrive through the log callback
 * with a backtrace, which is turned back into a key path.
 *
 * libcyaml does not keep line numbers, so before it runs, one libyaml event pass over the same
 * bytes records the line of every key and list entry under its path ("pools[0].nodes[1].addr").
 * That pass also rejects what libcyaml would report badly or not at all: syntax errors,
 * duplicate keys, complex keys, unknown aliases and extra documents.
 *
 * The `health:` section is the one place where a value is inherited: each node gets a deep copy
 * of its pool's section with the node's own keys laid over it, and the result is checked as a
 * whole; a broken rule is reported at the key the node (or pool) set. The dump writes a node's
 * section as only the keys that differ from its pool's, so it reloads to the same config.
 *
 * The `dr:` list (IPVS virtual services in direct-routing mode) is converted last, because it
 * is checked against the rest: it names pools whose nodes become its real servers, and a VIP
 * must not be an address s3lb itself listens on.
 *
 * Runs on whatever thread loads the config (the main loop, at start and on SIGHUP); no state
 * outside the call. Allocation failures abort (setup path, small and bounded by the file).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "core/config.h"

#define MAX_FILE_SIZE (16u << 20)
#define MAX_DEPTH     32
#define PATH_LEN      256
#define MAX_NAME_LEN  64
#define MAX_WEIGHT    1000
#define MAX_BUF_SIZE  (1ull << 30)
/* The relay buffer also holds a node's response head, which is parsed whole: S3 allows 2 KB of
 * user metadata (x-amz-meta-*), returned on every GET and HEAD, beside the usual headers. */
#define MIN_BUF_SIZE (4u << 10)

/* ---------------------------------------------------------------------------------------- */
/* Raw form: what libcyaml fills in. Every scalar is a string, NULL when the key is absent.   */

typedef struct raw_admin_s {
	char *listen;
	char *token_file;
	char *token; /* refused with a message: the token belongs in token_file */
	char **allowed_hosts;
	unsigned allowed_hosts_count;
	char **allowed_origins;
	unsigned allowed_origins_count;
} raw_admin_t;

typedef struct raw_log_s {
	char *level;
	char *access;
	char *error;
} raw_log_t;

typedef struct raw_limits_s {
	char *max_connections;
	char *max_header_size;
	char *max_headers;
	char *buffer_size;
	char *min_body_rate;
	char *splice_min;
} raw_limits_t;

typedef struct raw_timeouts_s {
	char *client_header;
	char *client_idle;
	char *client_body;
	char *client_send;
	char *upstream_connect;
	char *upstream_header;
	char *upstream_read;
	char *upstream_idle;
	char *shutdown_grace;
} raw_timeouts_t;

typedef struct raw_health_http_s {
	char *method;
	char *path;
	char *host;
	char **expect;
	unsigned expect_count;
} raw_health_http_t;

typedef struct raw_health_s3_s {
	char *bucket;
	char *key;
	char *access_key;
	char *secret_key;
	char *region;
} raw_health_s3_t;

typedef struct raw_health_passive_s {
	char *failures;
	char *backoff;
	char *max_backoff;
} raw_health_passive_t;

/* The pool's `health:` section, and a node's (the keys it lays over the pool's). */
typedef struct raw_health_s {
	char *kind;
	char *interval;
	char *fast_interval;
	char *timeout;
	char *rise;
	char *fall;
	char *jitter;
	raw_health_http_t http;
	raw_health_s3_t s3;
	raw_health_passive_t passive;
} raw_health_t;

typedef struct raw_node_s {
	char *name;
	char *addr;
	char *weight;
	raw_health_t health;
} raw_node_t;

typedef struct raw_upstream_tls_s {
	char *enabled;
	char *ca;
	char *verify;
	char *server_name;
} raw_upstream_tls_t;

typedef struct raw_pool_s {
	char *name;
	char *balance;
	char *retries;
	char *retry_budget;
	char *max_conns_per_node;
	char *max_idle_per_node;
	raw_upstream_tls_t tls;
	raw_health_t health;
	raw_node_t *nodes;
	unsigned nodes_count;
} raw_pool_t;

typedef struct raw_frontend_tls_s {
	char *cert;
	char *key;
} raw_frontend_tls_t;

typedef struct raw_route_s {
	char *bucket;
	char **op;
	unsigned op_count;
	char *host;
	char *pool;
} raw_route_t;

typedef struct raw_frontend_s {
	char *name;
	char **listen;
	unsigned listen_count;
	raw_frontend_tls_t tls;
	char **domains;
	unsigned domains_count;
	char *x_forwarded_for;
	char *x_real_ip;
	raw_route_t *routes;
	unsigned routes_count;
} raw_frontend_t;

typedef struct raw_dr_s {
	char *vip;
	char *fwmark;
	char *family;
	char *port;
	char *pool;
	char *scheduler;
	char *mh_fallback;
	char *mh_port;
	char *persistence;
	char *upper_threshold;
	char *lower_threshold;
} raw_dr_t;

typedef struct raw_config_s {
	raw_admin_t admin;
	raw_log_t log;
	raw_limits_t limits;
	raw_timeouts_t timeouts;
	raw_pool_t *pools;
	unsigned pools_count;
	raw_frontend_t *frontends;
	unsigned frontends_count;
	char *dr_state;
	raw_dr_t *dr;
	unsigned dr_count;
} raw_config_t;

/* ---------------------------------------------------------------------------------------- */
/* The libcyaml schema. Every key is optional here; what is required is checked on convert, */
/* where the message can say what is missing and where.                                      */

#define STR(type, member)                                                                          \
	CYAML_FIELD_STRING_PTR(#member, CYAML_FLAG_OPTIONAL, type, member, 0, CYAML_UNLIMITED)
#define MAP(type, member, fields)                                                                  \
	CYAML_FIELD_MAPPING(#member, CYAML_FLAG_OPTIONAL, type, member, fields)
#define SEQ(type, member, entry)                                                                   \
	CYAML_FIELD_SEQUENCE(#member, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, type, member,      \
	                     entry, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t string_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t admin_schema[] = {
    STR(raw_admin_t, listen),
    STR(raw_admin_t, token_file),
    STR(raw_admin_t, token),
    SEQ(raw_admin_t, allowed_hosts, &string_entry),
    SEQ(raw_admin_t, allowed_origins, &string_entry),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t log_schema[] = {
    STR(raw_log_t, level),
    STR(raw_log_t, access),
    STR(raw_log_t, error),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t limits_schema[] = {
    STR(raw_limits_t, max_connections),
    STR(raw_limits_t, max_header_size),
    STR(raw_limits_t, max_headers),
    STR(raw_limits_t, buffer_size),
    STR(raw_limits_t, min_body_rate),
    STR(raw_limits_t, splice_min),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t timeouts_schema[] = {
    STR(raw_timeouts_t, client_header),    STR(raw_timeouts_t, client_idle),
    STR(raw_timeouts_t, client_body),      STR(raw_timeouts_t, client_send),
    STR(raw_timeouts_t, upstream_connect), STR(raw_timeouts_t, upstream_header),
    STR(raw_timeouts_t, upstream_read),    STR(raw_timeouts_t, upstream_idle),
    STR(raw_timeouts_t, shutdown_grace),   CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_http_schema[] = {
    STR(raw_health_http_t, method),
    STR(raw_health_http_t, path),
    STR(raw_health_http_t, host),
    SEQ(raw_health_http_t, expect, &string_entry),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_s3_schema[] = {
    STR(raw_health_s3_t, bucket),     STR(raw_health_s3_t, key),
    STR(raw_health_s3_t, access_key), STR(raw_health_s3_t, secret_key),
    STR(raw_health_s3_t, region),     CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_passive_schema[] = {
    STR(raw_health_passive_t, failures),
    STR(raw_health_passive_t, backoff),
    STR(raw_health_passive_t, max_backoff),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_schema[] = {
    STR(raw_health_t, kind),
    STR(raw_health_t, interval),
    STR(raw_health_t, fast_interval),
    STR(raw_health_t, timeout),
    STR(raw_health_t, rise),
    STR(raw_health_t, fall),
    STR(raw_health_t, jitter),
    MAP(raw_health_t, http, health_http_schema),
    MAP(raw_health_t, s3, health_s3_schema),
    MAP(raw_health_t, passive, health_passive_schema),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t node_schema[] = {
    STR(raw_node_t, name),   STR(raw_node_t, addr),
    STR(raw_node_t, weight), MAP(raw_node_t, health, health_schema),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t node_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_node_t, node_schema),
};

static const cyaml_schema_field_t upstream_tls_schema[] = {
    STR(raw_upstream_tls_t, enabled),
    STR(raw_upstream_tls_t, ca),
    STR(raw_upstream_tls_t, verify),
    STR(raw_upstream_tls_t, server_name),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t pool_schema[] = {
    STR(raw_pool_t, name),
    STR(raw_pool_t, balance),
    STR(raw_pool_t, retries),
    STR(raw_pool_t, retry_budget),
    STR(raw_pool_t, max_conns_per_node),
    STR(raw_pool_t, max_idle_per_node),
    MAP(raw_pool_t, tls, upstream_tls_schema),
    MAP(raw_pool_t, health, health_schema),
    SEQ(raw_pool_t, nodes, &node_entry),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t pool_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_pool_t, pool_schema),
};

static const cyaml_schema_field_t frontend_tls_schema[] = {
    STR(raw_frontend_tls_t, cert),
    STR(raw_frontend_tls_t, key),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t route_schema[] = {
    STR(raw_route_t, bucket), SEQ(raw_route_t, op, &string_entry),
    STR(raw_route_t, host),   STR(raw_route_t, pool),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t route_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_route_t, route_schema),
};

static const cyaml_schema_field_t frontend_schema[] = {
    STR(raw_frontend_t, name),
    SEQ(raw_frontend_t, listen, &string_entry),
    MAP(raw_frontend_t, tls, frontend_tls_schema),
    SEQ(raw_frontend_t, domains, &string_entry),
    STR(raw_frontend_t, x_forwarded_for),
    STR(raw_frontend_t, x_real_ip),
    SEQ(raw_frontend_t, routes, &route_entry),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t frontend_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_frontend_t, frontend_schema),
};

static const cyaml_schema_field_t dr_schema[] = {
    STR(raw_dr_t, vip),
    STR(raw_dr_t, fwmark),
    STR(raw_dr_t, family),
    STR(raw_dr_t, port),
    STR(raw_dr_t, pool),
    STR(raw_dr_t, scheduler),
    STR(raw_dr_t, mh_fallback),
    STR(raw_dr_t, mh_port),
    STR(raw_dr_t, persistence),
    STR(raw_dr_t, upper_threshold),
    STR(raw_dr_t, lower_threshold),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t dr_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_dr_t, dr_schema),
};

static const cyaml_schema_field_t top_schema[] = {
    MAP(raw_config_t, admin, admin_schema),
    MAP(raw_config_t, log, log_schema),
    MAP(raw_config_t, limits, limits_schema),
    MAP(raw_config_t, timeouts, timeouts_schema),
    SEQ(raw_config_t, pools, &pool_entry),
    SEQ(raw_config_t, frontends, &frontend_entry),
    STR(raw_config_t, dr_state),
    SEQ(raw_config_t, dr, &dr_entry),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, raw_config_t, top_schema),
};

/* ---------------------------------------------------------------------------------------- */
/* Numeric and boolean keys: one table row each drives conversion, defaults and the dump.    */

typedef enum { V_COUNT, V_PERCENT, V_SIZE, V_DURATION, V_BOOL } value_kind_t;

typedef struct field_s {
	const char *key;
	value_kind_t kind;
	size_t raw_off; /* char * in the raw struct */
	size_t off;     /* uint32_t (count, percent), uint64_t (size, duration) or bool */
	uint64_t def;
	uint64_t min;
	uint64_t max;
} field_t;

/* The key `m` of `raw` stored as `om` of `out`; FIELD when both are named alike. */
#define FIELD_TO(raw, m, out, om, kind, def, min, max)                                             \
	{                                                                                          \
#m, kind, offsetof(raw, m), offsetof(out, om), def, min, max                       \
	}
#define FIELD(raw, out, m, kind, def, min, max) FIELD_TO(raw, m, out, m, kind, def, min, max)

static const field_t limits_fields[] = {
    FIELD(raw_limits_t, lb_limits_t, max_connections, V_COUNT, 10000, 1, UINT32_MAX),
    FIELD(raw_limits_t, lb_limits_t, max_header_size, V_SIZE, 16 << 10, 1, MAX_BUF_SIZE),
    FIELD(raw_limits_t, lb_limits_t, max_headers, V_COUNT, 100, 1, UINT32_MAX),
    FIELD(raw_limits_t, lb_limits_t, buffer_size, V_SIZE, 64 << 10, MIN_BUF_SIZE, MAX_BUF_SIZE),
    FIELD(raw_limits_t, lb_limits_t, min_body_rate, V_SIZE, 4 << 10, 0, MAX_BUF_SIZE),
    FIELD(raw_limits_t, lb_limits_t, splice_min, V_SIZE, 128 << 10, 0, UINT64_MAX),
};

#define TIMEOUT(m, def) FIELD(raw_timeouts_t, lb_timeouts_t, m, V_DURATION, def, 1, UINT64_MAX)
static const field_t timeouts_fields[] = {
    TIMEOUT(client_header, 10000), TIMEOUT(client_idle, 60000),     TIMEOUT(client_body, 60000),
    TIMEOUT(client_send, 60000),   TIMEOUT(upstream_connect, 2000), TIMEOUT(upstream_header, 60000),
    TIMEOUT(upstream_read, 60000), TIMEOUT(upstream_idle, 30000),   TIMEOUT(shutdown_grace, 30000),
};

static const field_t pool_fields[] = {
    FIELD(raw_pool_t, lb_pool_conf_t, retries, V_COUNT, 2, 0, UINT32_MAX),
    FIELD_TO(raw_pool_t, retry_budget, lb_pool_conf_t, retry_budget_pct, V_PERCENT, 20, 0, 100),
    FIELD(raw_pool_t, lb_pool_conf_t, max_conns_per_node, V_COUNT, 512, 1, UINT32_MAX),
    FIELD(raw_pool_t, lb_pool_conf_t, max_idle_per_node, V_COUNT, 64, 0, UINT32_MAX),
};

static const field_t upstream_tls_fields[] = {
    FIELD(raw_upstream_tls_t, lb_upstream_tls_t, enabled, V_BOOL, 0, 0, 1),
    FIELD(raw_upstream_tls_t, lb_upstream_tls_t, verify, V_BOOL, 1, 0, 1),
};

#define MAX_JITTER 50
static const field_t health_fields[] = {
    FIELD(raw_health_t, lb_health_conf_t, interval, V_DURATION, 1000, 1, UINT64_MAX),
    FIELD(raw_health_t, lb_health_conf_t, fast_interval, V_DURATION, 250, 1, UINT64_MAX),
    FIELD(raw_health_t, lb_health_conf_t, timeout, V_DURATION, 500, 1, UINT64_MAX),
    FIELD(raw_health_t, lb_health_conf_t, rise, V_COUNT, 2, 1, UINT32_MAX),
    FIELD(raw_health_t, lb_health_conf_t, fall, V_COUNT, 2, 1, UINT32_MAX),
    FIELD_TO(raw_health_t, jitter, lb_health_conf_t, jitter_pct, V_PERCENT, 10, 0, MAX_JITTER),
};

static const field_t health_passive_fields[] = {
    FIELD_TO(raw_health_passive_t, failures, lb_health_conf_t, passive_failures, V_COUNT, 3, 0,
             UINT32_MAX),
    FIELD_TO(raw_health_passive_t, backoff, lb_health_conf_t, passive_backoff, V_DURATION, 2000, 1,
             UINT64_MAX),
    FIELD_TO(raw_health_passive_t, max_backoff, lb_health_conf_t, passive_max_backoff, V_DURATION,
             30000, 1, UINT64_MAX),
};

/* String keys of the health section: a table drives conversion, copy, free and the dump. */
typedef struct str_field_s {
	const char *key;
	size_t raw_off; /* char * in the raw struct */
	size_t off;     /* char * in lb_health_conf_t */
	const char *def;
} str_field_t;

#define STR_TO(raw, m, om, def)                                                                    \
	{                                                                                          \
#m, offsetof(raw, m), offsetof(lb_health_conf_t, om), def                          \
	}

static const str_field_t health_http_strings[] = {
    STR_TO(raw_health_http_t, method, http_method, "GET"),
    STR_TO(raw_health_http_t, path, http_path, "/"),
    STR_TO(raw_health_http_t, host, http_host, NULL),
};

static const str_field_t health_s3_strings[] = {
    STR_TO(raw_health_s3_t, bucket, s3_bucket, NULL),
    STR_TO(raw_health_s3_t, key, s3_key, NULL),
    STR_TO(raw_health_s3_t, access_key, s3_access_key, NULL),
    STR_TO(raw_health_s3_t, secret_key, s3_secret_key, NULL),
    STR_TO(raw_health_s3_t, region, s3_region, "us-east-1"),
};

static const field_t node_fields[] = {
    FIELD(raw_node_t, lb_node_conf_t, weight, V_COUNT, 1, 1, MAX_WEIGHT),
};

static const field_t frontend_fields[] = {
    FIELD(raw_frontend_t, lb_frontend_conf_t, x_forwarded_for, V_BOOL, 1, 0, 1),
    FIELD(raw_frontend_t, lb_frontend_conf_t, x_real_ip, V_BOOL, 0, 0, 1),
};

/* IPVS keeps the persistence timeout as a 32-bit count of seconds. */
#define MAX_PERSISTENCE (UINT32_MAX * 1000ull)
static const field_t dr_fields[] = {
    FIELD(raw_dr_t, lb_dr_conf_t, mh_fallback, V_BOOL, 1, 0, 1),
    FIELD(raw_dr_t, lb_dr_conf_t, mh_port, V_BOOL, 0, 0, 1),
    FIELD(raw_dr_t, lb_dr_conf_t, persistence, V_DURATION, 0, 0, MAX_PERSISTENCE),
    FIELD(raw_dr_t, lb_dr_conf_t, upper_threshold, V_COUNT, 0, 0, UINT32_MAX),
    FIELD(raw_dr_t, lb_dr_conf_t, lower_threshold, V_COUNT, 0, 0, UINT32_MAX),
};

/* Only for a firewall-mark service, so apart from dr_fields (the dump writes it only then). */
static const field_t dr_fwmark_fields[] = {
    FIELD(raw_dr_t, lb_dr_conf_t, fwmark, V_COUNT, 0, 1, UINT32_MAX),
};

/* Parsed and range-checked with the others, stored by hand (the port is a uint16_t). */
static const field_t dr_port_field = {"port", V_COUNT, offsetof(raw_dr_t, port), 0, 0, 1, 65535};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* Names.                                                                                     */

static const char *const balance_names[] = {"round-robin", "least-requests", "hash-key"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const probe_kind_names[] = {"http", "tcp", "s3", "none"};
static const char *const probe_method_names[] = {"GET", "HEAD"};
static const char *const dr_sched_names[] = {"rr", "wrr", "lc", "wlc", "sh", "mh"};
static const char *const dr_family_names[] = {"ipv4", "ipv6"};
static const int dr_families[] = {AF_INET, AF_INET6};

/* Indexed by bit position. */
static const char *const op_names[] = {
    "read",       "write",    "delete",       "list",      "bucket",
    "mpu-create", "mpu-part", "mpu-complete", "mpu-abort", "other",
};

const char *lb_op_name(lb_op_t op)
{
	for (size_t i = 0; i < NFIELDS(op_names); i++)
		if ((uint32_t)op == 1u << i)
			return op_names[i];
	return "unknown";
}

int lb_op_parse(const char *name, uint32_t *bits)
{
	if (strcmp(name, "multipart") == 0) {
		*bits = LB_OP_MULTIPART;
		return 0;
	}
	for (size_t i = 0; i < NFIELDS(op_names); i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*bits = 1u << i;
			return 0;
		}
	}
	return -1;
}

const char *lb_balance_name(lb_balance_t b)
{
	return (size_t)b < NFIELDS(balance_names) ? balance_names[b] : "unknown";
}

const char *lb_probe_kind_name(lb_probe_kind_t k)
{
	return (size_t)k < NFIELDS(probe_kind_names) ? probe_kind_names[k] : "unknown";
}

/* ---------------------------------------------------------------------------------------- */
/* Load context and error reporting.                                                         */

typedef struct map_entry_s {
	char *path;
	int line;
	unsigned seq; /* document order */
} map_entry_t;

typedef struct load_ctx_s {
	const char *name;
	char *err;
	size_t errlen;
	map_entry_t *map; /* sorted by path once built */
	size_t nmap;
	size_t capmap;
	int root_line;
} load_ctx_t;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = s != NULL ? strdup(s) : NULL;

	if (s != NULL && p == NULL)
		abort();
	return p;
}

static int cmp_entry(const void *a, const void *b)
{
	const map_entry_t *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static const map_entry_t *map_find(const load_ctx_t *c, const char *path)
{
	size_t lo = 0, hi = c->nmap;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(path, c->map[mid].path);

		if (r == 0)
			return &c->map[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The line of `path`, or of its nearest ancestor in the file (for keys that are missing). */
static int map_line(const load_ctx_t *c, const char *path)
{
	char buf[PATH_LEN];

	snprintf(buf, sizeof(buf), "%s", path);
	while (buf[0] != '\0') {
		const map_entry_t *e = map_find(c, buf);
		char *cut;

		if (e != NULL)
			return e->line;
		cut = buf[strlen(buf) - 1] == ']' ? strrchr(buf, '[') : strrchr(buf, '.');
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	return c->root_line;
}

/* Writes the one error line at `line` for `path` (empty: the document) and returns -EINVAL. */
static int fail_at(load_ctx_t *c, int line, const char *path, const char *fmt, va_list ap)
{
	int n;

	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%d: %s: ", c->name, line,
	             path[0] != '\0' ? path : "yaml");
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	for (char *p = c->err; *p != '\0'; p++) /* one line, whatever the file holds */
		if (iscntrl((unsigned char)*p))
			*p = '?';
	return -EINVAL;
}

static int fail_line(load_ctx_t *c, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_line(load_ctx_t *c, int line, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_at(c, line, path, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail(load_ctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(load_ctx_t *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_at(c, map_line(c, path), path, fmt, ap);
	va_end(ap);
	return rc;
}

/* A value quoted in a message: control bytes become '?' (the message is one line), long cut. */
typedef struct shown_s {
	char s[72];
} shown_t;

static shown_t show(const char *v)
{
	shown_t out;
	size_t i = 0;

	for (; v[i] != '\0' && i < sizeof(out.s) - 4; i++)
		out.s[i] = iscntrl((unsigned char)v[i]) ? '?' : v[i];
	if (v[i] != '\0') {
		memcpy(out.s + i, "...", 3);
		i += 3;
	}
	out.s[i] = '\0';
	return out;
}

/* Formats a key path into buf (PATH_LEN bytes); a longer path is cut, blurring only a message. */
static void pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void path_of(char *buf, const char *prefix, const char *key)
{
	pathf(buf, "%s%s%s", prefix, prefix[0] && key[0] ? "." : "", key);
}

/* ---------------------------------------------------------------------------------------- */
/* The libyaml pass: path -> line map, and the checks libcyaml cannot report with a line.    */

typedef struct frame_s {
	bool seq;
	bool want_key;
	size_t base; /* path length of the container itself */
	unsigned index;
} frame_t;

typedef struct walk_s {
	load_ctx_t *c;
	frame_t st[MAX_DEPTH];
	int depth;
	char path[PATH_LEN];
	size_t plen;
	unsigned seq;
	char **anchors;
	size_t nanchors;
} walk_t;

static void map_add(load_ctx_t *c, const char *path, int line, unsigned seq)
{
	if (c->nmap == c->capmap) {
		c->capmap = c->capmap ? c->capmap * 2 : 64;
		c->map = realloc(c->map, c->capmap * sizeof(*c->map));
		if (c->map == NULL)
			abort();
	}
	c->map[c->nmap].path = xstrdup(path);
	c->map[c->nmap].line = line;
	c->map[c->nmap].seq = seq;
	c->nmap++;
}

static int walk_append(walk_t *w, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int walk_append(walk_t *w, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->path + w->plen, sizeof(w->path) - w->plen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(w->path) - w->plen) {
		w->path[w->plen] = '\0';
		return fail_line(w->c, line, w->path, "key path too long");
	}
	w->plen += (size_t)n;
	map_add(w->c, w->path, line, w->seq++);
	return 0;
}

static bool is_key_char(unsigned char ch)
{
	return isalnum(ch) || ch == '_' || ch == '-';
}

/* A mapping key: must be a scalar; every key we know is made of [A-Za-z0-9_-]. */
static int walk_key(walk_t *w, const yaml_event_t *ev, int line)
{
	const char *key;

	if (ev->type != YAML_SCALAR_EVENT)
		return fail_line(w->c, line, w->path, "mapping keys must be plain strings");
	key = (const char *)ev->data.scalar.value;
	for (const char *k = key; *k != '\0'; k++)
		if (!is_key_char((unsigned char)*k)) /* quoted: it may hold blanks, dots, ... */
			return fail_line(w->c, line, w->path, "unknown key '%s'", show(key).s);
	return walk_append(w, line, "%s%s", w->plen ? "." : "", key);
}

static void walk_value_done(walk_t *w)
{
	frame_t *top;

	if (w->depth == 0)
		return;
	top = &w->st[w->depth - 1];
	w->plen = top->base;
	w->path[w->plen] = '\0';
	top->want_key = true;
}

static int walk_anchor(walk_t *w, const yaml_event_t *ev, int line)
{
	const char *anchor = NULL;

	if (ev->type == YAML_ALIAS_EVENT) {
		for (size_t i = 0; i < w->nanchors; i++)
			if (strcmp(w->anchors[i], (const char *)ev->data.alias.anchor) == 0)
				return 0;
		return fail_line(w->c, line, w->path, "unknown alias '%s'",
		                 show((const char *)ev->data.alias.anchor).s);
	}
	if (ev->type == YAML_SCALAR_EVENT)
		anchor = (const char *)ev->data.scalar.anchor;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		anchor = (const char *)ev->data.mapping_start.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		anchor = (const char *)ev->data.sequence_start.anchor;
	if (anchor != NULL) {
		w->anchors = realloc(w->anchors, (w->nanchors + 1) * sizeof(*w->anchors));
		if (w->anchors == NULL)
			abort();
		w->anchors[w->nanchors++] = xstrdup(anchor);
	}
	return 0;
}

/* One node event (scalar, alias, start of a mapping or sequence). */
static int walk_node(walk_t *w, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;
	frame_t *top = w->depth ? &w->st[w->depth - 1] : NULL;

	if (top == NULL) {
		w->c->root_line = line;
	} else if (!top->seq && top->want_key) {
		top->want_key = false;
		return walk_key(w, ev, line);
	} else if (top->seq) {
		if (walk_append(w, line, "[%u]", top->index++) < 0)
			return -EINVAL;
	}
	if (walk_anchor(w, ev, line) < 0)
		return -EINVAL;
	if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) {
		if (w->depth == MAX_DEPTH)
			return fail_line(w->c, line, w->path, "nested too deeply");
		w->st[w->depth++] = (frame_t){
		    .seq = ev->type == YAML_SEQUENCE_START_EVENT,
		    .want_key = true,
		    .base = w->plen,
		};
		return 0;
	}
	walk_value_done(w);
	return 0;
}

/* 0 when the document is done, 1 to go on, <0 on error. */
static int walk_event(walk_t *w, const yaml_event_t *ev, int *docs)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_line(w->c, (int)ev->start_mark.line + 1, "",
			                 "only one YAML document is allowed");
		return 1;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		return walk_node(w, ev) < 0 ? -EINVAL : 1;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		w->depth--;
		walk_value_done(w);
		return 1;
	default:
		return 1;
	}
}

/* Sorted by path, a repeated path is a repeated key; report the one that comes first. */
static int map_check_duplicates(load_ctx_t *c)
{
	const map_entry_t *dup = NULL, *first = NULL;

	if (c->nmap < 2)
		return 0;
	qsort(c->map, c->nmap, sizeof(*c->map), cmp_entry);
	for (size_t i = 1; i < c->nmap; i++) {
		if (strcmp(c->map[i].path, c->map[i - 1].path) != 0)
			continue;
		if (dup == NULL || c->map[i].seq < dup->seq) {
			dup = &c->map[i];
			first = &c->map[i - 1];
		}
	}
	if (dup != NULL)
		return fail_line(c, dup->line, dup->path, "duplicate key (first at line %d)",
		                 first->line);
	return 0;
}

/*
 * libyaml notices most mistakes a line or more after they were made, so the message also names
 * where the construct it was reading began. A key missing its ':' is reported at the key.
 */
static int syntax_error(load_ctx_t *c, const yaml_parser_t *p)
{
	int line = (int)p->problem_mark.line + 1, ctx_line = (int)p->context_mark.line + 1;
	const char *problem = p->problem ? p->problem : "invalid YAML";

	if (p->context == NULL || ctx_line == line)
		return fail_line(c, line, "", "syntax error: %s", problem);
	if (strcmp(p->context, "while scanning a simple key") == 0)
		return fail_line(c, ctx_line, "", "syntax error: %s", problem);
	return fail_line(c, line, "", "syntax error: %s (%s from line %d)", problem, p->context,
	                 ctx_line);
}

static int map_build(load_ctx_t *c, const unsigned char *buf, size_t len)
{
	yaml_parser_t parser;
	walk_t w = {.c = c};
	int rc = 1, docs = 0;

	c->root_line = 1;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, buf, len);
	while (rc > 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(c, &parser);
			break;
		}
		rc = walk_event(&w, &ev, &docs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < w.nanchors; i++)
		free(w.anchors[i]);
	free(w.anchors);
	if (rc < 0)
		return rc;
	return map_check_duplicates(c);
}

static void map_free(load_ctx_t *c)
{
	for (size_t i = 0; i < c->nmap; i++)
		free(c->map[i].path);
	free(c->map);
	c->map = NULL;
	c->nmap = c->capmap = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* libcyaml's messages: the first error line and the backtrace, innermost frame first.       */

#define MAX_TRACE 32

typedef struct trace_frame_s {
	char key[64];   /* mapping field, or "" for a sequence entry */
	unsigned entry; /* 1-based, as libcyaml prints it */
} trace_frame_t;

typedef struct cyaml_report_s {
	char msg[256];
	bool in_trace;
	trace_frame_t frames[MAX_TRACE];
	int nframes;
} cyaml_report_t;

static void on_cyaml_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	cyaml_report_t *r = ctx;
	char line[256];
	trace_frame_t f = {{0}, 0};
	size_t n;

	if (level < CYAML_LOG_ERROR)
		return;
	vsnprintf(line, sizeof(line), fmt, args);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (strncmp(line, "Load: Backtrace:", 16) == 0) {
		r->in_trace = true;
	} else if (!r->in_trace) {
		if (r->msg[0] == '\0' && strncmp(line, "Load: ", 6) == 0)
			snprintf(r->msg, sizeof(r->msg), "%s", line + 6);
	} else if (r->nframes < MAX_TRACE &&
	           (sscanf(line, " in mapping field '%63[^']'", f.key) == 1 ||
	            sscanf(line, " in sequence entry '%u'", &f.entry) == 1)) {
		r->frames[r->nframes++] = f;
	}
}

static const char *event_noun(const char *cyaml_name)
{
	static const char *const names[][2] = {
	    {"MAPPING", "a mapping"},     {"MAPPING_START", "a mapping"},
	    {"SEQUENCE", "a list"},       {"SEQUENCE_START", "a list"},
	    {"STRING", "a single value"}, {"SCALAR", "a single value"},
	    {"ALIAS", "an alias"},
	};

	for (size_t i = 0; i < NFIELDS(names); i++)
		if (strcmp(cyaml_name, names[i][0]) == 0)
			return names[i][1];
	return cyaml_name;
}

static int cyaml_fail(load_ctx_t *c, const cyaml_report_t *r, cyaml_err_t err)
{
	char path[PATH_LEN] = "", want[32], got[32];
	size_t n = 0;
	const char *msg = r->msg[0] ? r->msg : cyaml_strerror(err);

	for (int i = r->nframes - 1; i >= 0; i--) {
		const trace_frame_t *f = &r->frames[i];

		if (f->key[0] != '\0')
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "",
			                      f->key);
		else
			n += (size_t)snprintf(path + n, sizeof(path) - n, "[%u]", f->entry - 1);
		if (n >= sizeof(path))
			break;
	}
	if (strncmp(msg, "Unexpected key: ", 16) == 0) {
		if (n < sizeof(path))
			snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "", msg + 16);
		return fail(c, path, "unknown key");
	}
	if (sscanf(msg, "Expecting %31s got event: %31s", want, got) == 2) {
		want[strcspn(want, ",")] = '\0';
		return fail(c, path, "expected %s, got %s", event_noun(want), event_noun(got));
	}
	return fail(c, path, "%s", msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Conversion of single values.                                                              */

static int parse_count(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, uint64_t *out)
{
	static const char *const names[] = {"false", "no", "off", "true", "yes", "on"};

	for (size_t i = 0; i < NFIELDS(names); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = i >= 3;
			return 0;
		}
	}
	return -1;
}

static void format_value(value_kind_t kind, uint64_t v, char *buf, size_t len)
{
	switch (kind) {
	case V_SIZE:
		lb_format_size(v, buf, len);
		break;
	case V_DURATION:
		lb_format_duration(v, buf, len);
		break;
	case V_PERCENT:
		snprintf(buf, len, "%llu%%", (unsigned long long)v);
		break;
	case V_BOOL:
		snprintf(buf, len, "%s", v ? "true" : "false");
		break;
	default:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		break;
	}
}

static int parse_value(load_ctx_t *c, const char *path, const field_t *f, const char *s,
                       uint64_t *v)
{
	const char *why = NULL;
	char tmp[32];

	switch (f->kind) {
	case V_SIZE:
		if (lb_parse_size(s, v, &why) < 0)
			return fail(c, path, "invalid size '%s' (%s)", show(s).s, why);
		return 0;
	case V_DURATION:
		if (lb_parse_duration_ms(s, v, &why) < 0)
			return fail(c, path, "invalid duration '%s' (%s)", show(s).s, why);
		return 0;
	case V_BOOL:
		if (parse_bool(s, v) < 0)
			return fail(c, path, "invalid boolean '%s' (expected true or false)",
			            show(s).s);
		return 0;
	case V_PERCENT:
		snprintf(tmp, sizeof(tmp), "%s", s);
		if (strlen(s) < sizeof(tmp) && tmp[0] != '\0' && tmp[strlen(tmp) - 1] == '%')
			tmp[strlen(tmp) - 1] = '\0';
		if (strlen(s) >= sizeof(tmp) || parse_count(tmp, v) < 0)
			return fail(c, path, "invalid percentage '%s' (expected 0 to 100, as 20%%)",
			            show(s).s);
		return 0;
	default:
		if (parse_count(s, v) < 0)
			return fail(c, path, "invalid number '%s' (expected a whole number)",
			            show(s).s);
		return 0;
	}
}

static void store_value(const field_t *f, void *out, uint64_t v)
{
	char *p = (char *)out + f->off;

	if (f->kind == V_BOOL)
		*(bool *)p = v != 0;
	else if (f->kind == V_SIZE || f->kind == V_DURATION)
		*(uint64_t *)p = v;
	else
		*(uint32_t *)p = (uint32_t)v;
}

static uint64_t load_value(const field_t *f, const void *obj)
{
	const char *p = (const char *)obj + f->off;

	if (f->kind == V_BOOL)
		return *(const bool *)p;
	if (f->kind == V_SIZE || f->kind == V_DURATION)
		return *(const uint64_t *)p;
	return *(const uint32_t *)p;
}

static void default_fields(const field_t *fields, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++)
		store_value(&fields[i], out, fields[i].def);
}

/* Parses the value s of row f (key `path`) into *v and checks it against the row's range. */
static int convert_value(load_ctx_t *c, const char *path, const field_t *f, const char *s,
                         uint64_t *v)
{
	char lo[32], hi[32];

	if (parse_value(c, path, f, s, v) < 0)
		return -EINVAL;
	if (*v >= f->min && *v <= f->max)
		return 0;
	format_value(f->kind, f->min, lo, sizeof(lo));
	format_value(f->kind, f->max, hi, sizeof(hi));
	if (f->max != UINT32_MAX && f->max != UINT64_MAX)
		return fail(c, path, "must be between %s and %s", lo, hi);
	if (*v < f->min)
		return fail(c, path, "must be at least %s", lo);
	return fail(c, path, "must be at most %s", hi);
}

/* Converts the rows of `fields` whose key `raw` holds into `out`; the others keep their value. */
static int overlay_fields(load_ctx_t *c, const char *prefix, const field_t *fields, size_t n,
                          const void *raw, void *out)
{
	for (size_t i = 0; i < n; i++) {
		const field_t *f = &fields[i];
		const char *s = *(char *const *)((const char *)raw + f->raw_off);
		char path[PATH_LEN];
		uint64_t v;

		if (s == NULL)
			continue;
		path_of(path, prefix, f->key);
		if (convert_value(c, path, f, s, &v) < 0)
			return -EINVAL;
		store_value(f, out, v);
	}
	return 0;
}

/* Converts every row of `fields` from `raw` into `out`, defaults for absent keys. */
static int convert_fields(load_ctx_t *c, const char *prefix, const field_t *fields, size_t n,
                          const void *raw, void *out)
{
	default_fields(fields, n, out);
	return overlay_fields(c, prefix, fields, n, raw, out);
}

/* Names of pools, nodes and frontends appear in logs and metric labels: keep them plain. */
static int convert_name(load_ctx_t *c, const char *prefix, const char *s, char **out)
{
	char path[PATH_LEN];

	path_of(path, prefix, "name");
	if (s == NULL)
		return fail(c, path, "missing");
	if (*s == '\0' || strlen(s) > MAX_NAME_LEN)
		return fail(c, path, "must be 1 to %d characters", MAX_NAME_LEN);
	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return fail(c, path,
			            "invalid name '%s' (letters, digits, '.', '_' and '-' only)",
			            show(s).s);
	*out = xstrdup(s);
	return 0;
}

/* An optional free-form string (path, glob, server name): may be absent, not empty. When
 * present it replaces *out (a default, or the pool's value under a node); absent, *out stays. */
static int convert_string(load_ctx_t *c, const char *prefix, const char *key, const char *s,
                          char **out)
{
	char path[PATH_LEN];

	if (s == NULL)
		return 0;
	path_of(path, prefix, key);
	if (*s == '\0')
		return fail(c, path, "must not be empty");
	free(*out);
	*out = xstrdup(s);
	return 0;
}

static int convert_addr(load_ctx_t *c, const char *path, const char *s, lb_addr_t *out)
{
	const char *why = NULL;

	if (s == NULL)
		return fail(c, path, "missing");
	if (lb_parse_addr(s, out, &why) < 0)
		return fail(c, path, "invalid address '%s' (%s)", show(s).s, why);
	return 0;
}

static int convert_enum(load_ctx_t *c, const char *path, const char *what, const char *s,
                        const char *const *names, size_t n, int *out)
{
	char expected[128] = "";
	size_t len = 0;

	if (s == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
		len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
		                        i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
	}
	return fail(c, path, "invalid %s '%s' (expected %s)", what, show(s).s, expected);
}

/* Index of an earlier element of `base` whose string at `off` equals element i's, or -1. */
static long find_earlier(const void *base, size_t size, size_t off, bool inline_str, size_t i)
{
	const char *const *pp;
	const char *s, *t;

	pp = (const char *const *)((const char *)base + i * size + off);
	s = inline_str ? (const char *)pp : *pp;
	for (size_t j = 0; j < i; j++) {
		pp = (const char *const *)((const char *)base + j * size + off);
		t = inline_str ? (const char *)pp : *pp;
		if (strcmp(s, t) == 0)
			return (long)j;
	}
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Conversion of sections.                                                                   */

static int convert_admin_log(load_ctx_t *c, const raw_config_t *raw, lb_config_t *cfg)
{
	const raw_log_t *log = &raw->log;
	int level = LB_LOG_INFO;

	cfg->admin_enabled = true;
	if (raw->admin.listen != NULL && strcmp(raw->admin.listen, "off") == 0)
		cfg->admin_enabled = false;
	else if (convert_addr(c, "admin.listen",
	                      raw->admin.listen ? raw->admin.listen : "127.0.0.1:9901",
	                      &cfg->admin_listen) < 0)
		return -EINVAL;
	if (convert_enum(c, "log.level", "level", log->level, level_names, NFIELDS(level_names),
	                 &level) < 0)
		return -EINVAL;
	cfg->log.level = (lb_log_level_t)level;
	if (log->access != NULL && log->access[0] == '\0')
		return fail(c, "log.access", "must not be empty");
	if (log->error != NULL && (log->error[0] == '\0' || strcmp(log->error, "stdout") == 0 ||
	                           strcmp(log->error, "off") == 0))
		return fail(c, "log.error", "invalid value '%s' (expected stderr or a file path)",
		            show(log->error).s);
	cfg->log.access = xstrdup(log->access ? log->access : "stdout");
	cfg->log.error = xstrdup(log->error ? log->error : "stderr");
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Health: the pool's section over the defaults, then each node's section over the pool's.  */

/* The sub-sections of `health:` (the top level first, named ""), in dump order. */
typedef struct health_sec_s {
	const char *name;
	size_t raw_off; /* the sub-struct in raw_health_t */
	const field_t *fields;
	size_t nfields;
	const str_field_t *strs;
	size_t nstrs;
	bool expect; /* also holds `expect` */
} health_sec_t;

static const health_sec_t health_secs[] = {
    {"", 0, health_fields, NFIELDS(health_fields), NULL, 0, false},
    {"http", offsetof(raw_health_t, http), NULL, 0, health_http_strings,
     NFIELDS(health_http_strings), true},
    {"s3", offsetof(raw_health_t, s3), NULL, 0, health_s3_strings, NFIELDS(health_s3_strings),
     false},
    {"passive", offsetof(raw_health_t, passive), health_passive_fields,
     NFIELDS(health_passive_fields), NULL, 0, false},
};

#define STR_IN(obj, off)  (*(char *const *)((const char *)(obj) + (off)))
#define STR_OUT(obj, off) ((char **)((char *)(obj) + (off)))

static void health_defaults(lb_health_conf_t *h)
{
	h->kind = LB_PROBE_HTTP;
	for (size_t i = 0; i < NFIELDS(health_secs); i++) {
		const health_sec_t *sec = &health_secs[i];

		default_fields(sec->fields, sec->nfields, h);
		for (size_t k = 0; k < sec->nstrs; k++)
			*STR_OUT(h, sec->strs[k].off) = xstrdup(sec->strs[k].def);
	}
	h->expect = xcalloc(1, sizeof(*h->expect));
	h->expect[0] = (lb_status_range_t){200, 399};
	h->nexpect = 1;
}

/* A deep copy: dst owns its own strings and expect list. */
static void health_copy(lb_health_conf_t *dst, const lb_health_conf_t *src)
{
	*dst = *src;
	for (size_t i = 0; i < NFIELDS(health_secs); i++)
		for (size_t k = 0; k < health_secs[i].nstrs; k++)
			*STR_OUT(dst, health_secs[i].strs[k].off) =
			    xstrdup(STR_IN(src, health_secs[i].strs[k].off));
	dst->expect = xcalloc(src->nexpect, sizeof(*dst->expect));
	memcpy(dst->expect, src->expect, src->nexpect * sizeof(*dst->expect));
}

static void health_free(lb_health_conf_t *h)
{
	for (size_t i = 0; i < NFIELDS(health_secs); i++)
		for (size_t k = 0; k < health_secs[i].nstrs; k++)
			free(STR_IN(h, health_secs[i].strs[k].off));
	free(h->expect);
}

/* Exactly three digits, 100 to 599. */
static int parse_status(const char *s, size_t len, uint16_t *out)
{
	uint16_t v = 0;

	if (len != 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = (uint16_t)(v * 10 + (s[i] - '0'));
	}
	*out = v;
	return v >= 100 && v <= 599 ? 0 : -1;
}

/* "200", "2xx" or "200-204": 0, -1 if it does not parse, -2 for a range that runs backwards. */
static int parse_status_range(const char *s, lb_status_range_t *r)
{
	const char *dash = strchr(s, '-');

	if (s[0] >= '1' && s[0] <= '5' && strcmp(s + 1, "xx") == 0) {
		r->lo = (uint16_t)((s[0] - '0') * 100);
		r->hi = (uint16_t)(r->lo + 99);
		return 0;
	}
	if (parse_status(s, dash ? (size_t)(dash - s) : strlen(s), &r->lo) < 0)
		return -1;
	r->hi = r->lo;
	if (dash != NULL && parse_status(dash + 1, strlen(dash + 1), &r->hi) < 0)
		return -1;
	return r->lo <= r->hi ? 0 : -2;
}

/* `http.expect`, when present, replaces the whole inherited list. */
static int convert_expect(load_ctx_t *c, const char *prefix, const raw_health_http_t *raw,
                          lb_health_conf_t *h)
{
	char path[PATH_LEN];
	lb_status_range_t *list;

	path_of(path, prefix, "expect");
	if (raw->expect_count == 0 && map_find(c, path) != NULL) /* written as expect: [] */
		return fail(c, path, "empty list (at least one status is required)");
	if (raw->expect_count == 0)
		return 0;
	list = xcalloc(raw->expect_count, sizeof(*list));
	for (unsigned k = 0; k < raw->expect_count; k++) {
		const char *e = raw->expect[k];
		int rc = parse_status_range(e, &list[k]);

		if (rc < 0) {
			free(list);
			pathf(path, "%s.expect[%u]", prefix, k);
			return fail(
			    c, path,
			    rc == -1 ? "invalid status '%s' (expected a status from 100 to 599 "
			               "as 200, a class as 2xx, or a range as 200-204)"
			             : "invalid range '%s' (the first status is above the second)",
			    show(e).s);
		}
	}
	free(h->expect);
	h->expect = list;
	h->nexpect = raw->expect_count;
	return 0;
}

/* Lays the keys present in `raw` over h (the defaults, or the pool's section for a node). */
static int overlay_health(load_ctx_t *c, const char *prefix, const raw_health_t *raw,
                          lb_health_conf_t *h)
{
	char path[PATH_LEN];
	int kind = (int)h->kind;

	path_of(path, prefix, "kind");
	if (convert_enum(c, path, "kind", raw->kind, probe_kind_names, NFIELDS(probe_kind_names),
	                 &kind) < 0)
		return -EINVAL;
	h->kind = (lb_probe_kind_t)kind;
	for (size_t i = 0; i < NFIELDS(health_secs); i++) {
		const health_sec_t *sec = &health_secs[i];
		const void *rs = (const char *)raw + sec->raw_off;

		path_of(path, prefix, sec->name);
		if (overlay_fields(c, path, sec->fields, sec->nfields, rs, h) < 0)
			return -EINVAL;
		for (size_t k = 0; k < sec->nstrs; k++)
			if (convert_string(c, path, sec->strs[k].key,
			                   STR_IN(rs, sec->strs[k].raw_off),
			                   STR_OUT(h, sec->strs[k].off)) < 0)
				return -EINVAL;
		if (sec->expect && convert_expect(c, path, rs, h) < 0)
			return -EINVAL;
	}
	/* Like max_idle_per_node: a fast_interval this section does not set gives way to a
	 * smaller interval; one it sets does not (check_health reports it). */
	if (raw->fast_interval == NULL && h->fast_interval > h->interval)
		h->fast_interval = h->interval;
	return 0;
}

/*
 * Values lo (key lo_key) and hi (key hi_key) of one section, of one kind (durations, sizes): lo
 * must be below hi, or equal unless strict. Reported at lo_key when this section sets it, else
 * at hi_key: the section that sets a key is where the mistake is (a node's section is checked
 * with the pool's values under it, and the pool's section already passed).
 */
static int check_order(load_ctx_t *c, const char *prefix, value_kind_t kind, const char *lo_key,
                       const char *lo_raw, uint64_t lo, const char *hi_key, uint64_t hi,
                       bool strict)
{
	char path[PATH_LEN], buf[32];

	if (lo < hi || (!strict && lo == hi))
		return 0;
	if (lo_raw != NULL) {
		path_of(path, prefix, lo_key);
		format_value(kind, hi, buf, sizeof(buf));
		return fail(c, path,
		            strict ? "must be less than %s (%s)" : "must not exceed %s (%s)",
		            hi_key, buf);
	}
	path_of(path, prefix, hi_key);
	format_value(kind, lo, buf, sizeof(buf));
	return fail(c, path, strict ? "must be greater than %s (%s)" : "must be at least %s (%s)",
	            lo_key, buf);
}

/* The effective section h, as its keys in raw made it (paths name this section's keys). */
static int check_health(load_ctx_t *c, const char *prefix, const raw_health_t *raw,
                        const lb_health_conf_t *h)
{
	char path[PATH_LEN];
	int method;

	if (check_order(c, prefix, V_DURATION, "timeout", raw->timeout, h->timeout, "interval",
	                h->interval, true) < 0 ||
	    check_order(c, prefix, V_DURATION, "fast_interval", raw->fast_interval,
	                h->fast_interval, "interval", h->interval, false) < 0)
		return -EINVAL;
	/* Every string ends up in a probe's request line, headers or signature. */
	for (size_t i = 0; i < NFIELDS(health_secs); i++) {
		const health_sec_t *sec = &health_secs[i];

		for (size_t k = 0; k < sec->nstrs; k++) {
			const char *s = STR_IN(h, sec->strs[k].off);

			pathf(path, "%s.%s.%s", prefix, sec->name, sec->strs[k].key);
			for (const char *p = s; p != NULL && *p != '\0'; p++)
				if (iscntrl((unsigned char)*p))
					return fail(c, path, "must not contain control characters");
		}
	}
	/* The s3 keys without a default are required by kind s3, and ignored by the others. */
	for (size_t k = 0; h->kind == LB_PROBE_S3 && k < NFIELDS(health_s3_strings); k++) {
		const str_field_t *f = &health_s3_strings[k];

		pathf(path, "%s.s3.%s", prefix, f->key);
		if (f->def == NULL && STR_IN(h, f->off) == NULL)
			return fail(
			    c, path,
			    "missing (kind s3 needs bucket, key, access_key and secret_key)");
	}
	path_of(path, prefix, "http.method");
	if (convert_enum(c, path, "method", h->http_method, probe_method_names,
	                 NFIELDS(probe_method_names), &method) < 0)
		return -EINVAL;
	path_of(path, prefix, "http.path");
	if (h->http_path[0] != '/' || strchr(h->http_path, ' ') != NULL)
		return fail(c, path,
		            "invalid path '%s' (must start with '/' and contain no spaces)",
		            show(h->http_path).s);
	path_of(path, prefix, "http.host");
	if (h->http_host != NULL && strchr(h->http_host, ' ') != NULL)
		return fail(c, path, "invalid host '%s' (must contain no spaces)",
		            show(h->http_host).s);
	path_of(path, prefix, "passive");
	return check_order(c, path, V_DURATION, "backoff", raw->passive.backoff, h->passive_backoff,
	                   "max_backoff", h->passive_max_backoff, false);
}

/* The `health:` section under `prefix`: over `base` (a node's pool's) or, NULL, the defaults. */
static int convert_health(load_ctx_t *c, const char *prefix, const raw_health_t *raw,
                          const lb_health_conf_t *base, lb_health_conf_t *h)
{
	char path[PATH_LEN];

	if (base != NULL)
		health_copy(h, base);
	else
		health_defaults(h);
	path_of(path, prefix, "health");
	if (overlay_health(c, path, raw, h) < 0 || check_health(c, path, raw, h) < 0)
		return -EINVAL;
	return 0;
}

static int convert_node(load_ctx_t *c, const char *pool_prefix, const raw_node_t *raw,
                        lb_pool_conf_t *p, size_t i)
{
	char prefix[PATH_LEN], path[PATH_LEN];
	lb_node_conf_t *nodes = p->nodes, *n = &nodes[i];
	long j;

	pathf(prefix, "%s.nodes[%zu]", pool_prefix, i);
	n->line = map_line(c, prefix);
	if (convert_name(c, prefix, raw->name, &n->name) < 0)
		return -EINVAL;
	path_of(path, prefix, "name");
	if ((j = find_earlier(nodes, sizeof(*n), offsetof(lb_node_conf_t, name), false, i)) >= 0)
		return fail(c, path, "duplicate node name '%s' (first at line %d)", n->name,
		            nodes[j].line);
	path_of(path, prefix, "addr");
	if (convert_addr(c, path, raw->addr, &n->addr) < 0)
		return -EINVAL;
	if ((j = find_earlier(nodes, sizeof(*n), offsetof(lb_node_conf_t, addr.text), true, i)) >=
	    0)
		return fail(c, path, "duplicate node address %s (also node '%s')", n->addr.text,
		            nodes[j].name);
	if (convert_fields(c, prefix, node_fields, NFIELDS(node_fields), raw, n) < 0)
		return -EINVAL;
	return convert_health(c, prefix, &raw->health, &p->health, &n->health);
}

static int convert_pool(load_ctx_t *c, const raw_pool_t *raw, lb_pool_conf_t *pools, size_t i)
{
	char prefix[PATH_LEN], path[PATH_LEN];
	lb_pool_conf_t *p = &pools[i];
	int balance = LB_BALANCE_ROUND_ROBIN;
	long j;

	pathf(prefix, "pools[%zu]", i);
	p->line = map_line(c, prefix);
	if (convert_name(c, prefix, raw->name, &p->name) < 0)
		return -EINVAL;
	if ((j = find_earlier(pools, sizeof(*p), offsetof(lb_pool_conf_t, name), false, i)) >= 0) {
		path_of(path, prefix, "name");
		return fail(c, path, "duplicate pool name '%s' (first at line %d)", p->name,
		            pools[j].line);
	}
	path_of(path, prefix, "balance");
	if (convert_enum(c, path, "balance", raw->balance, balance_names, NFIELDS(balance_names),
	                 &balance) < 0)
		return -EINVAL;
	p->balance = (lb_balance_t)balance;
	if (convert_fields(c, prefix, pool_fields, NFIELDS(pool_fields), raw, p) < 0)
		return -EINVAL;
	/* The default gives way to a smaller max_conns_per_node; a value written down does not. */
	if (p->max_idle_per_node > p->max_conns_per_node && raw->max_idle_per_node == NULL)
		p->max_idle_per_node = p->max_conns_per_node;
	if (p->max_idle_per_node > p->max_conns_per_node) {
		path_of(path, prefix, "max_idle_per_node");
		return fail(c, path, "must not exceed max_conns_per_node (%u)",
		            p->max_conns_per_node);
	}
	path_of(path, prefix, "tls");
	if (convert_fields(c, path, upstream_tls_fields, NFIELDS(upstream_tls_fields), &raw->tls,
	                   &p->tls) < 0 ||
	    convert_string(c, path, "ca", raw->tls.ca, &p->tls.ca_file) < 0 ||
	    convert_string(c, path, "server_name", raw->tls.server_name, &p->tls.server_name) < 0 ||
	    convert_health(c, prefix, &raw->health, NULL, &p->health) < 0)
		return -EINVAL;
	path_of(path, prefix, "nodes");
	if (raw->nodes_count == 0)
		return fail(c, path, "at least one node is required");
	p->nodes = xcalloc(raw->nodes_count, sizeof(*p->nodes));
	p->nnodes = raw->nodes_count;
	for (size_t k = 0; k < p->nnodes; k++)
		if (convert_node(c, prefix, &raw->nodes[k], p, k) < 0)
			return -EINVAL;
	return 0;
}

/* `pool: NAME` (key `path`) of a route or a DR service: the index of a pool already loaded. */
static int convert_pool_ref(load_ctx_t *c, const char *path, const char *name,
                            const lb_config_t *cfg, size_t *out)
{
	if (name == NULL)
		return fail(c, path, "missing");
	for (size_t k = 0; k < cfg->npools; k++) {
		if (strcmp(cfg->pools[k].name, name) == 0) {
			*out = k;
			return 0;
		}
	}
	return fail(c, path, "unknown pool '%s'", show(name).s);
}

static int convert_route(load_ctx_t *c, const char *fe_prefix, const raw_route_t *raw,
                         const lb_config_t *cfg, lb_route_conf_t *r, size_t i)
{
	char prefix[PATH_LEN], path[PATH_LEN];
	size_t k;

	pathf(prefix, "%s.routes[%zu]", fe_prefix, i);
	r->line = map_line(c, prefix);
	if (convert_string(c, prefix, "bucket", raw->bucket, &r->bucket) < 0 ||
	    convert_string(c, prefix, "host", raw->host, &r->host) < 0)
		return -EINVAL;
	for (const char *h = r->host; h != NULL && *h != '\0'; h++) {
		if (isupper((unsigned char)*h)) { /* the router matches the lowercased Host */
			path_of(path, prefix, "host");
			return fail(c, path, "host glob '%s' must be lowercase", show(r->host).s);
		}
	}
	path_of(path, prefix, "op");
	if (raw->op_count == 0 && map_find(c, path) != NULL) /* written as op: [] */
		return fail(c, path, "empty list (leave op out to match every operation)");
	for (k = 0; k < raw->op_count; k++) {
		uint32_t bits;

		pathf(path, "%s.op[%zu]", prefix, k);
		if (lb_op_parse(raw->op[k], &bits) < 0)
			return fail(c, path,
			            "unknown operation '%s' (expected read, write, delete, list, "
			            "bucket, mpu-create, mpu-part, mpu-complete, mpu-abort, "
			            "multipart or other)",
			            show(raw->op[k]).s);
		r->ops |= bits;
	}
	path_of(path, prefix, "pool");
	return convert_pool_ref(c, path, raw->pool, cfg, &r->pool);
}

static int check_domain(load_ctx_t *c, const char *path, const char *d)
{
	size_t n = strlen(d);

	if (n == 0)
		return fail(c, path, "must not be empty");
	for (const char *p = d; *p != '\0'; p++) {
		if (*p == ':')
			return fail(c, path, "domain '%s' must not contain a port", show(d).s);
		if (isupper((unsigned char)*p))
			return fail(c, path, "domain '%s' must be lowercase", show(d).s);
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '.' &&
		    *p != '-')
			return fail(c, path,
			            "invalid domain '%s' (letters, digits, '.' and '-' only)",
			            show(d).s);
	}
	if (d[0] == '.' || d[n - 1] == '.')
		return fail(c, path, "domain '%s' must not start or end with '.'", show(d).s);
	return 0;
}

static int convert_domains(load_ctx_t *c, const char *prefix, const raw_frontend_t *raw,
                           lb_frontend_conf_t *f)
{
	char path[PATH_LEN];
	long j;

	f->domains = xcalloc(raw->domains_count, sizeof(*f->domains));
	for (size_t k = 0; k < raw->domains_count; k++) {
		pathf(path, "%s.domains[%zu]", prefix, k);
		if (check_domain(c, path, raw->domains[k]) < 0)
			return -EINVAL;
		f->domains[k] = xstrdup(raw->domains[k]);
		f->ndomains = k + 1;
		if ((j = find_earlier(f->domains, sizeof(char *), 0, false, k)) >= 0)
			return fail(c, path, "duplicate domain '%s' (also domains[%ld])",
			            f->domains[k], j);
	}
	return 0;
}

/* The first line of admin.token_file. The file must be a regular file that others can neither
 * read nor write: the token lets its holder drain every node. Read on every load (start, reload,
 * `s3lb check`, the CLI), so a file that went wrong is reported where the key is set. */
static int read_token_file(load_ctx_t *c, const char *file, char **out)
{
	const char *path = "admin.token_file";
	char buf[LB_ADMIN_TOKEN_MAX + 2];
	size_t len = 0;
	struct stat st;
	int fd, rc = 0;

	if (*file == '\0')
		return fail(c, path, "must not be empty");
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(c, path, "cannot open '%s': %s", show(file).s, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = fail(c, path, "'%s' is not a regular file", show(file).s);
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		rc = fail(c, path,
		          "'%s' is readable or writable by others (mode %04o): the token lets "
		          "anyone drain nodes; chmod o-rw it (0600 or 0640)",
		          show(file).s, (unsigned)(st.st_mode & 07777));
	while (rc == 0 && len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fail(c, path, "cannot read '%s': %s", show(file).s, strerror(errno));
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (rc == 0) {
		buf[len] = '\0';
		len = strcspn(buf, "\r\n");
		if (len > LB_ADMIN_TOKEN_MAX)
			rc = fail(c, path, "the token in '%s' is longer than %d bytes",
			          show(file).s, LB_ADMIN_TOKEN_MAX);
		else if (len < LB_ADMIN_TOKEN_MIN)
			rc = fail(
			    c, path,
			    "the first line of '%s' is %zu characters: a token needs at least %d "
			    "(e.g. `openssl rand -hex 32 > FILE`)",
			    show(file).s, len, LB_ADMIN_TOKEN_MIN);
		for (size_t i = 0; rc == 0 && i < len; i++)
			if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
				rc =
				    fail(c, path,
				         "the token in '%s' must be printable ASCII without spaces",
				         show(file).s);
	}
	if (rc == 0)
		*out = strndup(buf, len);
	if (rc == 0 && *out == NULL)
		abort();
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* An allowed Origin as browsers send it: http or https, a lowercase host, an optional port, no
 * path. */
static int check_origin(load_ctx_t *c, const char *path, const char *o)
{
	const char *h = !strncmp(o, "http://", 7)    ? o + 7
	                : !strncmp(o, "https://", 8) ? o + 8
	                                             : NULL;

	if (h == NULL || *h == '\0')
		return fail(c, path, "origin '%s' must be http://HOST or https://HOST[:PORT]",
		            show(o).s);
	for (const char *p = h; *p != '\0'; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    !strchr(".-:[]", *p))
			return fail(
			    c, path,
			    "origin '%s': lowercase host and port only, no path or trailing '/'",
			    show(o).s);
	return 0;
}

/* A list of names under admin: each checked, no duplicates. */
static int convert_admin_list(load_ctx_t *c, const char *key, char *const *raw, unsigned n,
                              int (*check)(load_ctx_t *, const char *, const char *), char ***out,
                              size_t *nout)
{
	char path[PATH_LEN];
	long j;

	*out = xcalloc(n, sizeof(**out));
	for (size_t k = 0; k < n; k++) {
		pathf(path, "admin.%s[%zu]", key, k);
		if (check(c, path, raw[k]) < 0)
			return -EINVAL;
		(*out)[k] = xstrdup(raw[k]);
		*nout = k + 1;
		if ((j = find_earlier(*out, sizeof(char *), 0, false, k)) >= 0)
			return fail(c, path, "duplicate '%s' (also %s[%ld])", raw[k], key, j);
	}
	return 0;
}

static int convert_admin_auth(load_ctx_t *c, const raw_admin_t *raw, lb_config_t *cfg)
{
	if (raw->token != NULL)
		return fail(
		    c, "admin.token",
		    "not supported: the config file is printed by `s3lb check` and is often "
		    "readable by everyone; put the token in a file only s3lb and its "
		    "operators can read and set admin.token_file");
	if (raw->token_file != NULL) {
		if (read_token_file(c, raw->token_file, &cfg->admin_token) < 0)
			return -EINVAL;
		cfg->admin_token_file = xstrdup(raw->token_file);
	}
	if (convert_admin_list(c, "allowed_hosts", raw->allowed_hosts, raw->allowed_hosts_count,
	                       check_domain, &cfg->admin_hosts, &cfg->nadmin_hosts) < 0)
		return -EINVAL;
	return convert_admin_list(c, "allowed_origins", raw->allowed_origins,
	                          raw->allowed_origins_count, check_origin, &cfg->admin_origins,
	                          &cfg->nadmin_origins);
}

/*
 * Names in who (PATH_LEN bytes) the listener of cfg on address `text` (canonical form), looking
 * at admin.listen and at the frontends' addresses before frontends[fi].listen[li] (fi ==
 * nfrontends: all of them). Returns false when there is none.
 */
static bool find_listener(const lb_config_t *cfg, const char *text, size_t fi, size_t li, char *who)
{
	if (cfg->admin_enabled && strcmp(cfg->admin_listen.text, text) == 0) {
		pathf(who, "admin.listen");
		return true;
	}
	for (size_t g = 0; g < cfg->nfrontends && g <= fi; g++) {
		const lb_frontend_conf_t *o = &cfg->frontends[g];

		for (size_t m = 0; m < (g == fi ? li : o->nlisten); m++) {
			if (strcmp(o->listen[m].text, text) == 0) {
				pathf(who, "frontends[%zu].listen[%zu]", g, m);
				return true;
			}
		}
	}
	return false;
}

/* A listen address must be unique across the admin listener and every frontend. */
static int check_listen_unique(load_ctx_t *c, const lb_config_t *cfg, size_t fi, size_t li,
                               const char *path)
{
	const char *text = cfg->frontends[fi].listen[li].text;
	char who[PATH_LEN];

	if (find_listener(cfg, text, fi, li, who))
		return fail(c, path, "address %s is already used by %s", text, who);
	return 0;
}

static int convert_frontend(load_ctx_t *c, const raw_frontend_t *raw, lb_config_t *cfg, size_t i)
{
	char prefix[PATH_LEN], path[PATH_LEN];
	lb_frontend_conf_t *f = &cfg->frontends[i];
	long j;

	pathf(prefix, "frontends[%zu]", i);
	f->line = map_line(c, prefix);
	if (convert_name(c, prefix, raw->name, &f->name) < 0)
		return -EINVAL;
	if ((j = find_earlier(cfg->frontends, sizeof(*f), offsetof(lb_frontend_conf_t, name), false,
	                      i)) >= 0) {
		path_of(path, prefix, "name");
		return fail(c, path, "duplicate frontend name '%s' (first at line %d)", f->name,
		            cfg->frontends[j].line);
	}
	path_of(path, prefix, "listen");
	if (raw->listen_count == 0)
		return fail(c, path, "at least one address is required");
	f->listen = xcalloc(raw->listen_count, sizeof(*f->listen));
	f->nlisten = raw->listen_count;
	for (size_t k = 0; k < f->nlisten; k++) {
		pathf(path, "%s.listen[%zu]", prefix, k);
		if (convert_addr(c, path, raw->listen[k], &f->listen[k]) < 0 ||
		    check_listen_unique(c, cfg, i, k, path) < 0)
			return -EINVAL;
	}
	path_of(path, prefix, "tls");
	if (convert_string(c, path, "cert", raw->tls.cert, &f->tls_cert) < 0 ||
	    convert_string(c, path, "key", raw->tls.key, &f->tls_key) < 0)
		return -EINVAL;
	if ((f->tls_cert == NULL) != (f->tls_key == NULL)) {
		path_of(path, prefix, f->tls_cert ? "tls.key" : "tls.cert");
		return fail(c, path, "missing (tls needs both cert and key)");
	}
	if (convert_domains(c, prefix, raw, f) < 0 ||
	    convert_fields(c, prefix, frontend_fields, NFIELDS(frontend_fields), raw, f) < 0)
		return -EINVAL;
	path_of(path, prefix, "routes");
	if (raw->routes_count == 0)
		return fail(c, path, "at least one route is required");
	f->routes = xcalloc(raw->routes_count, sizeof(*f->routes));
	f->nroutes = raw->routes_count;
	for (size_t k = 0; k < f->nroutes; k++)
		if (convert_route(c, prefix, &raw->routes[k], cfg, &f->routes[k], k) < 0)
			return -EINVAL;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Direct routing: the `dr:` list, after the pools and frontends it is checked against.      */

static const char *dr_family_name(int family)
{
	return dr_family_names[family == AF_INET6];
}

/* What names the service: `vip`, or `fwmark` with `family` and `port`; exactly one of the two. */
static int convert_dr_key(load_ctx_t *c, const char *prefix, const raw_dr_t *raw, lb_dr_conf_t *d)
{
	char path[PATH_LEN];
	int family = 0;
	uint64_t port;

	if (raw->vip != NULL && raw->fwmark != NULL) {
		path_of(path, prefix, "fwmark");
		return fail(c, path, "not allowed with vip (a service has a vip or a fwmark)");
	}
	path_of(path, prefix, "vip");
	if (raw->vip == NULL && raw->fwmark == NULL)
		return fail(c, path, "missing (a service needs a vip or a fwmark)");
	if (raw->vip != NULL) {
		d->has_vip = true;
		if (convert_addr(c, path, raw->vip, &d->vip) < 0)
			return -EINVAL;
		d->family = d->vip.ss.ss_family;
		d->port = d->vip.port;
		if (raw->family != NULL) {
			path_of(path, prefix, "family");
			return fail(c, path, "only allowed with fwmark (a vip has its own family)");
		}
		if (raw->port != NULL) {
			path_of(path, prefix, "port");
			return fail(c, path,
			            "not allowed with vip (the service's port is the vip's)");
		}
		return 0;
	}
	if (overlay_fields(c, prefix, dr_fwmark_fields, NFIELDS(dr_fwmark_fields), raw, d) < 0)
		return -EINVAL;
	path_of(path, prefix, "family");
	if (convert_enum(c, path, "family", raw->family ? raw->family : "ipv4", dr_family_names,
	                 NFIELDS(dr_family_names), &family) < 0)
		return -EINVAL;
	d->family = dr_families[family];
	path_of(path, prefix, "port");
	if (raw->port == NULL)
		return fail(c, path, "missing (a fwmark service needs the port its nodes get)");
	if (convert_value(c, path, &dr_port_field, raw->port, &port) < 0)
		return -EINVAL;
	d->port = (uint16_t)port;
	return 0;
}

/* A service is named once, and a vip is not an address s3lb listens on itself: IPVS takes the
 * connections to a virtual service before they reach a local socket. */
static int check_dr_unique(load_ctx_t *c, const char *prefix, const lb_config_t *cfg, size_t i)
{
	const lb_dr_conf_t *d = &cfg->dr[i];
	char path[PATH_LEN], who[PATH_LEN];

	path_of(path, prefix, d->has_vip ? "vip" : "fwmark");
	if (d->has_vip && find_listener(cfg, d->vip.text, cfg->nfrontends, 0, who))
		return fail(c, path,
		            "address %s is already used by %s (IPVS would take the connections "
		            "s3lb listens for)",
		            d->vip.text, who);
	for (size_t j = 0; j < i; j++) {
		const lb_dr_conf_t *o = &cfg->dr[j];

		if (d->has_vip && o->has_vip && strcmp(o->vip.text, d->vip.text) == 0)
			return fail(c, path, "duplicate service %s (first at line %d)", d->vip.text,
			            o->line);
		if (!d->has_vip && !o->has_vip && o->fwmark == d->fwmark && o->family == d->family)
			return fail(c, path, "duplicate service fwmark %u %s (first at line %d)",
			            d->fwmark, dr_family_name(d->family), o->line);
	}
	return 0;
}

/*
 * The pool's nodes become the real servers, each at its IP address on the service's port, in
 * the service's family (IPVS refuses a DR destination of another family). So every node must
 * be of that family, and no two nodes may share an IP address (two RGWs on one host, on two
 * ports, would be one real server).
 */
static int check_dr_nodes(load_ctx_t *c, const char *prefix, const lb_config_t *cfg,
                          const lb_dr_conf_t *d)
{
	const lb_pool_conf_t *p = &cfg->pools[d->pool];
	char path[PATH_LEN];

	path_of(path, prefix, "pool");
	for (size_t k = 0; k < p->nnodes; k++) {
		const lb_node_conf_t *n = &p->nodes[k];

		if (n->addr.ss.ss_family != d->family)
			return fail(c, path,
			            "node '%s' (%s) of pool '%s' is not %s like the service (DR "
			            "cannot change the address family)",
			            n->name, n->addr.text, p->name, dr_family_name(d->family));
		for (size_t m = 0; m < k; m++)
			if (strcmp(p->nodes[m].addr.host, n->addr.host) == 0)
				return fail(
				    c, path,
				    "nodes '%s' and '%s' of pool '%s' share the address %s (DR "
				    "sends to each node's address on the service's port)",
				    p->nodes[m].name, n->name, p->name, n->addr.host);
	}
	return 0;
}

static int convert_dr(load_ctx_t *c, const raw_dr_t *raw, lb_config_t *cfg, size_t i)
{
	char prefix[PATH_LEN], path[PATH_LEN];
	lb_dr_conf_t *d = &cfg->dr[i];
	int sched = 0;

	pathf(prefix, "dr[%zu]", i);
	d->line = map_line(c, prefix);
	path_of(path, prefix, "pool");
	if (convert_dr_key(c, prefix, raw, d) < 0 || check_dr_unique(c, prefix, cfg, i) < 0 ||
	    convert_pool_ref(c, path, raw->pool, cfg, &d->pool) < 0 ||
	    check_dr_nodes(c, prefix, cfg, d) < 0)
		return -EINVAL;
	path_of(path, prefix, "scheduler");
	if (convert_enum(c, path, "scheduler", raw->scheduler ? raw->scheduler : "mh",
	                 dr_sched_names, NFIELDS(dr_sched_names), &sched) < 0)
		return -EINVAL;
	d->scheduler = xstrdup(dr_sched_names[sched]);
	if (convert_fields(c, prefix, dr_fields, NFIELDS(dr_fields), raw, d) < 0)
		return -EINVAL;
	if (d->persistence % 1000 != 0) {
		path_of(path, prefix, "persistence");
		return fail(c, path, "must be a whole number of seconds (IPVS counts in seconds)");
	}
	if (d->upper_threshold > 0 && d->lower_threshold > d->upper_threshold) {
		path_of(path, prefix, "lower_threshold");
		return fail(c, path, "must not exceed upper_threshold (%u)", d->upper_threshold);
	}
	return 0;
}

static int convert_dr_section(load_ctx_t *c, const raw_config_t *raw, lb_config_t *cfg)
{
	cfg->dr_state = xstrdup("/run/s3lb/ipvs-owned");
	if (convert_string(c, "", "dr_state", raw->dr_state, &cfg->dr_state) < 0)
		return -EINVAL;
	if (cfg->dr_state[0] != '/')
		return fail(c, "dr_state", "invalid path '%s' (must be absolute)",
		            show(cfg->dr_state).s);
	cfg->dr = xcalloc(raw->dr_count, sizeof(*cfg->dr));
	cfg->ndr = raw->dr_count;
	for (size_t i = 0; i < cfg->ndr; i++)
		if (convert_dr(c, &raw->dr[i], cfg, i) < 0)
			return -EINVAL;
	return 0;
}

static int convert(load_ctx_t *c, const raw_config_t *raw, lb_config_t *cfg)
{
	if (convert_admin_log(c, raw, cfg) < 0 || convert_admin_auth(c, &raw->admin, cfg) < 0 ||
	    convert_fields(c, "limits", limits_fields, NFIELDS(limits_fields), &raw->limits,
	                   &cfg->limits) < 0 ||
	    /* A request head is parsed whole in the client's buffer: one byte more than
	     * max_header_size must fit to see that a head is too large (431), else the read stops
	     * at a full buffer and the head times out (408). */
	    check_order(c, "limits", V_SIZE, "max_header_size", raw->limits.max_header_size,
	                cfg->limits.max_header_size, "buffer_size", cfg->limits.buffer_size,
	                true) < 0 ||
	    convert_fields(c, "timeouts", timeouts_fields, NFIELDS(timeouts_fields), &raw->timeouts,
	                   &cfg->timeouts) < 0)
		return -EINVAL;
	if (raw->pools_count == 0)
		return fail(c, "pools", "at least one pool is required");
	cfg->pools = xcalloc(raw->pools_count, sizeof(*cfg->pools));
	cfg->npools = raw->pools_count;
	for (size_t i = 0; i < cfg->npools; i++)
		if (convert_pool(c, &raw->pools[i], cfg->pools, i) < 0)
			return -EINVAL;
	if (raw->frontends_count == 0)
		return fail(c, "frontends", "at least one frontend is required");
	cfg->frontends = xcalloc(raw->frontends_count, sizeof(*cfg->frontends));
	cfg->nfrontends = raw->frontends_count;
	for (size_t i = 0; i < cfg->nfrontends; i++)
		if (convert_frontend(c, &raw->frontends[i], cfg, i) < 0)
			return -EINVAL;
	return convert_dr_section(c, raw, cfg);
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points.                                                                             */

static void config_free(lb_config_t *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; cfg->pools != NULL && i < cfg->npools; i++) {
		lb_pool_conf_t *p = &cfg->pools[i];

		for (size_t k = 0; p->nodes != NULL && k < p->nnodes; k++) {
			free(p->nodes[k].name);
			health_free(&p->nodes[k].health);
		}
		free(p->nodes);
		health_free(&p->health);
		free(p->name);
		free(p->tls.ca_file);
		free(p->tls.server_name);
	}
	for (size_t i = 0; cfg->frontends != NULL && i < cfg->nfrontends; i++) {
		lb_frontend_conf_t *f = &cfg->frontends[i];

		for (size_t k = 0; f->routes != NULL && k < f->nroutes; k++) {
			free(f->routes[k].bucket);
			free(f->routes[k].host);
		}
		for (size_t k = 0; f->domains != NULL && k < f->ndomains; k++)
			free(f->domains[k]);
		free(f->routes);
		free(f->domains);
		free(f->listen);
		free(f->name);
		free(f->tls_cert);
		free(f->tls_key);
	}
	for (size_t i = 0; cfg->dr != NULL && i < cfg->ndr; i++)
		free(cfg->dr[i].scheduler);
	free(cfg->dr);
	free(cfg->dr_state);
	free(cfg->pools);
	free(cfg->frontends);
	free(cfg->log.access);
	free(cfg->log.error);
	if (cfg->admin_token != NULL)
		explicit_bzero(cfg->admin_token, strlen(cfg->admin_token));
	free(cfg->admin_token);
	free(cfg->admin_token_file);
	for (size_t k = 0; k < cfg->nadmin_hosts; k++)
		free(cfg->admin_hosts[k]);
	free(cfg->admin_hosts);
	for (size_t k = 0; k < cfg->nadmin_origins; k++)
		free(cfg->admin_origins[k]);
	free(cfg->admin_origins);
	free(cfg->path);
	free(cfg);
}

int lb_config_load_string(const char *name, const char *yaml, size_t len, lb_config_t **out,
                          char *err, size_t errlen)
{
	load_ctx_t c = {.name = name, .err = err, .errlen = errlen};
	cyaml_report_t report;
	cyaml_config_t cy = {
	    .log_fn = on_cyaml_log,
	    .log_ctx = &report,
	    .mem_fn = cyaml_mem,
	    .log_level = CYAML_LOG_ERROR,
	    .flags = CYAML_CFG_DEFAULT,
	};
	raw_config_t empty = {0}, *raw = NULL;
	lb_config_t *cfg = NULL;
	cyaml_err_t cerr;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(&report, 0, sizeof(report));
	if (yaml == NULL)
		yaml = "";
	rc = map_build(&c, (const unsigned char *)yaml, len);
	if (rc < 0)
		goto out_map;
	cerr = cyaml_load_data((const uint8_t *)yaml, len, &cy, &top_value, (cyaml_data_t **)&raw,
	                       NULL);
	if (cerr != CYAML_OK) {
		rc = cyaml_fail(&c, &report, cerr);
		goto out_map;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(name);
	cfg->refs = 1;
	rc = convert(&c, raw ? raw : &empty, cfg);
	if (rc < 0) {
		config_free(cfg);
		goto out_raw;
	}
	*out = cfg;
out_raw:
	if (raw != NULL)
		cyaml_free(&cy, &top_value, raw, 0);
out_map:
	map_free(&c);
	return rc;
}

/* Reads all of fp into *buf (caller frees); 0 or a negative errno. */
static int read_all(FILE *fp, char **buf, size_t *len)
{
	size_t cap = 64 << 10;

	*buf = NULL;
	*len = 0;
	for (;;) {
		*buf = realloc(*buf, cap);
		if (*buf == NULL)
			abort();
		*len += fread(*buf + *len, 1, cap - *len, fp);
		if (ferror(fp))
			return -(errno ? errno : EIO);
		if (feof(fp))
			return 0;
		if (cap > MAX_FILE_SIZE)
			return -EFBIG;
		cap *= 2;
	}
}

int lb_config_load(const char *path, lb_config_t **out, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (fp == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = read_all(fp, &buf, &len);
	if (rc == -EFBIG)
		snprintf(err, errlen, "%s: cannot read: larger than %u MiB", path,
		         MAX_FILE_SIZE >> 20);
	else if (rc < 0)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	else
		rc = lb_config_load_string(path, buf, len, out, err, errlen);
	free(buf);
	fclose(fp);
	return rc;
}

lb_config_t *lb_config_ref(lb_config_t *cfg)
{
	cfg->refs++;
	return cfg;
}

void lb_config_unref(lb_config_t *cfg)
{
	if (cfg != NULL && --cfg->refs == 0)
		config_free(cfg);
}

/* ---------------------------------------------------------------------------------------- */
/* Dump: YAML that lb_config_load reads back to the same config.                             */

/* Plain when it cannot be mistaken for YAML syntax, double-quoted otherwise. */
static void put_scalar(FILE *out, const char *s)
{
	bool plain = isalnum((unsigned char)s[0]) || s[0] == '/';

	for (const char *p = s; plain && *p != '\0'; p++)
		plain = isalnum((unsigned char)*p) || strchr("._/:+-", *p) != NULL;
	if (plain && s[strlen(s) - 1] != ':') {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void put_key_scalar(FILE *out, int indent, const char *key, const char *s)
{
	if (s == NULL)
		return;
	fprintf(out, "%*s%s: ", indent, "", key);
	put_scalar(out, s);
	fputc('\n', out);
}

static void put_field(FILE *out, int indent, const field_t *f, const void *obj)
{
	char buf[32];

	format_value(f->kind, load_value(f, obj), buf, sizeof(buf));
	fprintf(out, "%*s%s: %s\n", indent, "", f->key, buf);
}

static void put_fields(FILE *out, int indent, const field_t *fields, size_t n, const void *obj)
{
	for (size_t i = 0; i < n; i++)
		put_field(out, indent, &fields[i], obj);
}

/* Canonical forms: 200, 2xx, 200-204. */
static void put_expect(FILE *out, int indent, const lb_health_conf_t *h)
{
	fprintf(out, "%*sexpect: [", indent, "");
	for (size_t k = 0; k < h->nexpect; k++) {
		const lb_status_range_t *r = &h->expect[k];
		const char *sep = k ? ", " : "";

		if (r->lo == r->hi)
			fprintf(out, "%s%u", sep, r->lo);
		else if (r->lo % 100 == 0 && r->hi == r->lo + 99)
			fprintf(out, "%s%uxx", sep, r->lo / 100);
		else
			fprintf(out, "%s%u-%u", sep, r->lo, r->hi);
	}
	fprintf(out, "]\n");
}

/*
 * The keys of one health sub-section: all of them without `base`, else only those that differ
 * from base's (a node's section, over its pool's). With out NULL, only counts them.
 */
static size_t put_health_sec(FILE *out, int indent, const health_sec_t *sec,
                             const lb_health_conf_t *h, const lb_health_conf_t *base)
{
	size_t n = 0;

	for (size_t i = 0; i < sec->nfields; i++) {
		const field_t *f = &sec->fields[i];

		if (base != NULL && load_value(f, h) == load_value(f, base))
			continue;
		n++;
		if (out != NULL)
			put_field(out, indent, f, h);
	}
	for (size_t i = 0; i < sec->nstrs; i++) {
		const char *v = STR_IN(h, sec->strs[i].off);
		const char *b = base != NULL ? STR_IN(base, sec->strs[i].off) : NULL;

		if (v == NULL || (b != NULL && strcmp(v, b) == 0))
			continue;
		n++;
		if (out != NULL)
			put_key_scalar(out, indent, sec->strs[i].key, v);
	}
	if (sec->expect &&
	    (base == NULL || h->nexpect != base->nexpect ||
	     memcmp(h->expect, base->expect, h->nexpect * sizeof(*h->expect)) != 0)) {
		n++;
		if (out != NULL)
			put_expect(out, indent, h);
	}
	return n;
}

/* Writes `health:` (see put_health_sec for `base`); returns how many keys it has (0: nothing
 * written). */
static size_t put_health(FILE *out, int indent, const lb_health_conf_t *h,
                         const lb_health_conf_t *base)
{
	size_t n[NFIELDS(health_secs)], total = 0;
	bool kind = base == NULL || h->kind != base->kind;

	for (size_t i = 0; i < NFIELDS(health_secs); i++)
		total += n[i] = put_health_sec(NULL, 0, &health_secs[i], h, base);
	if (out == NULL || total + kind == 0)
		return total + kind;
	fprintf(out, "%*shealth:\n", indent, "");
	if (kind)
		fprintf(out, "%*skind: %s\n", indent + 2, "", lb_probe_kind_name(h->kind));
	for (size_t i = 0; i < NFIELDS(health_secs); i++) {
		const health_sec_t *sec = &health_secs[i];

		if (n[i] == 0)
			continue;
		if (sec->name[0] != '\0')
			fprintf(out, "%*s%s:\n", indent + 2, "", sec->name);
		put_health_sec(out, indent + (sec->name[0] != '\0' ? 4 : 2), sec, h, base);
	}
	return total + kind;
}

static void dump_pool(FILE *out, const lb_pool_conf_t *p)
{
	put_key_scalar(out, 2, "- name", p->name);
	fprintf(out, "    balance: %s\n", lb_balance_name(p->balance));
	put_fields(out, 4, pool_fields, NFIELDS(pool_fields), p);
	fprintf(out, "    tls:\n");
	put_fields(out, 6, upstream_tls_fields, NFIELDS(upstream_tls_fields), &p->tls);
	put_key_scalar(out, 6, "ca", p->tls.ca_file);
	put_key_scalar(out, 6, "server_name", p->tls.server_name);
	put_health(out, 4, &p->health, NULL);
	fprintf(out, "    nodes:\n");
	for (size_t k = 0; k < p->nnodes; k++) {
		const lb_node_conf_t *n = &p->nodes[k];

		if (put_health(NULL, 0, &n->health, &p->health) == 0) {
			fprintf(out, "      - { name: ");
			put_scalar(out, n->name);
			fprintf(out, ", addr: ");
			put_scalar(out, n->addr.text);
			fprintf(out, ", weight: %u }\n", n->weight);
			continue;
		}
		/* Block style, with only the health keys that differ from the pool's. */
		put_key_scalar(out, 6, "- name", n->name);
		put_key_scalar(out, 8, "addr", n->addr.text);
		put_fields(out, 8, node_fields, NFIELDS(node_fields), n);
		put_health(out, 8, &n->health, &p->health);
	}
}

static void dump_route(FILE *out, const lb_config_t *cfg, const lb_route_conf_t *r)
{
	const char *sep = "";

	fprintf(out, "      - {");
	if (r->bucket != NULL) {
		fprintf(out, " bucket: ");
		put_scalar(out, r->bucket);
		sep = ",";
	}
	if (r->ops != 0) {
		bool group = (r->ops & LB_OP_MULTIPART) == LB_OP_MULTIPART;

		fprintf(out, "%s op: [", sep);
		sep = "";
		for (uint32_t bit = 1; bit <= LB_OP_OTHER; bit <<= 1) {
			if ((r->ops & bit) && !(group && (bit & LB_OP_MULTIPART))) {
				fprintf(out, "%s%s", sep, lb_op_name((lb_op_t)bit));
				sep = ", ";
			}
		}
		if (group)
			fprintf(out, "%smultipart", sep);
		fprintf(out, "]");
		sep = ",";
	}
	if (r->host != NULL) {
		fprintf(out, "%s host: ", sep);
		put_scalar(out, r->host);
		sep = ",";
	}
	fprintf(out, "%s pool: ", sep);
	put_scalar(out, cfg->pools[r->pool].name);
	fprintf(out, " }\n");
}

static void dump_frontend(FILE *out, const lb_config_t *cfg, const lb_frontend_conf_t *f)
{
	put_key_scalar(out, 2, "- name", f->name);
	fprintf(out, "    listen:\n");
	for (size_t k = 0; k < f->nlisten; k++) {
		fprintf(out, "      - ");
		put_scalar(out, f->listen[k].text);
		fputc('\n', out);
	}
	if (f->tls_cert != NULL) {
		fprintf(out, "    tls:\n");
		put_key_scalar(out, 6, "cert", f->tls_cert);
		put_key_scalar(out, 6, "key", f->tls_key);
	}
	fprintf(out, "    domains:%s\n", f->ndomains ? "" : " []");
	for (size_t k = 0; k < f->ndomains; k++) {
		fprintf(out, "      - ");
		put_scalar(out, f->domains[k]);
		fputc('\n', out);
	}
	put_fields(out, 4, frontend_fields, NFIELDS(frontend_fields), f);
	fprintf(out, "    routes:\n");
	for (size_t k = 0; k < f->nroutes; k++)
		dump_route(out, cfg, &f->routes[k]);
}

static void dump_dr(FILE *out, const lb_config_t *cfg, const lb_dr_conf_t *d)
{
	if (d->has_vip)
		put_key_scalar(out, 2, "- vip", d->vip.text);
	else
		fprintf(out, "  - fwmark: %u\n    family: %s\n    port: %u\n", d->fwmark,
		        dr_family_name(d->family), d->port);
	put_key_scalar(out, 4, "pool", cfg->pools[d->pool].name);
	fprintf(out, "    scheduler: %s\n", d->scheduler);
	put_fields(out, 4, dr_fields, NFIELDS(dr_fields), d);
}

void lb_config_dump(const lb_config_t *cfg, FILE *out)
{
	fprintf(out, "admin:\n  listen: ");
	put_scalar(out, cfg->admin_enabled ? cfg->admin_listen.text : "off");
	fputc('\n', out);
	put_key_scalar(out, 2, "token_file", cfg->admin_token_file); /* never the token itself */
	fprintf(out, "  allowed_hosts:%s\n", cfg->nadmin_hosts ? "" : " []");
	for (size_t k = 0; k < cfg->nadmin_hosts; k++) {
		fprintf(out, "    - ");
		put_scalar(out, cfg->admin_hosts[k]);
		fputc('\n', out);
	}
	fprintf(out, "  allowed_origins:%s\n", cfg->nadmin_origins ? "" : " []");
	for (size_t k = 0; k < cfg->nadmin_origins; k++) {
		fprintf(out, "    - ");
		put_scalar(out, cfg->admin_origins[k]);
		fputc('\n', out);
	}
	fprintf(out, "log:\n  level: %s\n", level_names[cfg->log.level]);
	put_key_scalar(out, 2, "access", cfg->log.access);
	put_key_scalar(out, 2, "error", cfg->log.error);
	fprintf(out, "limits:\n");
	put_fields(out, 2, limits_fields, NFIELDS(limits_fields), &cfg->limits);
	fprintf(out, "timeouts:\n");
	put_fields(out, 2, timeouts_fields, NFIELDS(timeouts_fields), &cfg->timeouts);
	fprintf(out, "pools:\n");
	for (size_t i = 0; i < cfg->npools; i++)
		dump_pool(out, &cfg->pools[i]);
	fprintf(out, "frontends:\n");
	for (size_t i = 0; i < cfg->nfrontends; i++)
		dump_frontend(out, cfg, &cfg->frontends[i]);
	put_key_scalar(out, 0, "dr_state", cfg->dr_state);
	fprintf(out, "dr:%s\n", cfg->ndr ? "" : " []");
	for (size_t i = 0; i < cfg->ndr; i++)
		dump_dr(out, cfg, &cfg->dr[i]);
}

/*
 * The operator's config, loaded from one YAML file (libyaml) and validated into this
 * immutable form. A loaded config is never changed: SIGHUP loads a new one and swaps it;
 * the old one is freed when its last user (a connection) lets go (see lb_config_ref/unref).
 *
 * All durations are milliseconds, all sizes bytes. Every string is owned by the config.
 */
#ifndef S3LB_CORE_CONFIG_H
#define S3LB_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/parse.h"

/* Operation classes of an S3 request, as bits so a route can name several. */
typedef enum {
	LB_OP_READ = 1 << 0,   /* GET/HEAD of an object */
	LB_OP_WRITE = 1 << 1,  /* PUT of an object (incl. copy), POST object */
	LB_OP_DELETE = 1 << 2, /* DELETE of an object, multi-object delete (POST ?delete) */
	LB_OP_LIST = 1 << 3,   /* GET of a bucket (ListObjects v1/v2, versions, uploads), GET / */
	LB_OP_BUCKET = 1 << 4, /* bucket create/delete/head and sub-resources (?acl, ?policy...) */
	LB_OP_MPU_CREATE = 1 << 5,   /* POST ?uploads */
	LB_OP_MPU_PART = 1 << 6,     /* PUT ?partNumber&uploadId (also UploadPartCopy) */
	LB_OP_MPU_COMPLETE = 1 << 7, /* POST ?uploadId */
	LB_OP_MPU_ABORT = 1 << 8,    /* DELETE ?uploadId */
	LB_OP_OTHER = 1 << 9,        /* anything else (admin APIs, unknown methods) */
} lb_op_t;
#define LB_OP_MULTIPART (LB_OP_MPU_CREATE | LB_OP_MPU_PART | LB_OP_MPU_COMPLETE | LB_OP_MPU_ABORT)
#define LB_OP_ALL       0x3ff

/* Short lowercase name of one op bit ("read", "mpu-part", ...). */
const char *lb_op_name(lb_op_t op);
/* Parses one name (including the group "multipart") into bits; 0 on success, -1 if unknown. */
int lb_op_parse(const char *name, uint32_t *bits);

typedef enum {
	LB_BALANCE_ROUND_ROBIN = 0, /* smooth weighted round-robin */
	LB_BALANCE_LEAST_REQUESTS,  /* power of two choices on outstanding requests / weight */
	LB_BALANCE_HASH_KEY,        /* weighted rendezvous hashing on bucket/key */
} lb_balance_t;
const char *lb_balance_name(lb_balance_t b);

typedef enum { LB_LOG_ERROR = 0, LB_LOG_WARN, LB_LOG_INFO, LB_LOG_DEBUG } lb_log_level_t;

/* What an active probe checks. */
typedef enum {
	LB_PROBE_HTTP = 0, /* an HTTP request; the status must be one of `expect` */
	LB_PROBE_TCP,      /* a TCP connect */
	LB_PROBE_S3,   /* a SigV4-signed HEAD of a canary object: the node can really serve data */
	LB_PROBE_NONE, /* no active probe: the node is UP unless passive health ejects it */
} lb_probe_kind_t;
const char *lb_probe_kind_name(lb_probe_kind_t k);

/* An expected status range for the http probe: "200" -> {200,200}, "2xx" -> {200,299},
 * "200-204" -> {200,204}. */
typedef struct lb_status_range_s {
	uint16_t lo, hi;
} lb_status_range_t;

/*
 * Health checking of one node: the pool's `health:` section, with the node's own `health:`
 * keys (if any) laid over it. Defaults beat the usual peers: probe every 1s, 500ms timeout,
 * rise 2, fall 2.
 */
typedef struct lb_health_conf_s {
	lb_probe_kind_t kind;      /* `kind`, default http */
	uint64_t interval;         /* default 1s */
	uint64_t fast_interval;    /* while rising or falling, default 250ms (<= interval) */
	uint64_t timeout;          /* default 500ms; must be < interval */
	uint32_t rise;             /* consecutive successes DOWN -> UP, default 2, >= 1 */
	uint32_t fall;             /* consecutive failures UP -> DOWN, default 2, >= 1 */
	uint32_t jitter_pct;       /* each interval is randomised by +-jitter%, default 10, <= 50 */
	char *http_method;         /* `http.method`, default "GET"; HEAD also allowed */
	char *http_path;           /* `http.path`, default "/" (origin-form, starts with '/') */
	char *http_host;           /* `http.host`, Host header; NULL: the node's address */
	lb_status_range_t *expect; /* `http.expect`, default ["200-399"] */
	size_t nexpect;
	char *s3_bucket; /* `s3.bucket` and `s3.key`: the canary object (required for s3) */
	char *s3_key;
	char *s3_access_key; /* `s3.access_key`, `s3.secret_key` (required for s3) */
	char *s3_secret_key;
	char *s3_region;              /* `s3.region`, default "us-east-1" */
	uint32_t passive_failures;    /* `passive.failures`: consecutive request failures (connect
	                               * errors, resets, timeouts, 5xx) that eject a node; 0 = off;
	                               * default 3 */
	uint64_t passive_backoff;     /* `passive.backoff`: an ejected node is probed again only
	                               * after this, doubling per ejection; default 2s */
	uint64_t passive_max_backoff; /* `passive.max_backoff`, default 30s */
} lb_health_conf_t;

/* ---- handoff (issue 12; docs/config.md "handoff", docs/handoff.md) ---- */

/* A route's `handoff.operations`, as bits. */
#define LB_HANDOFF_GET  (1u << 0)
#define LB_HANDOFF_HEAD (1u << 1)

/* `handoff.unknown_size`: what a read whose size is not known does. */
typedef enum { LB_HANDOFF_UNKNOWN_PROXY = 0, LB_HANDOFF_UNKNOWN_HANDOFF } lb_handoff_unknown_t;

/* A route's `handoff:` section: which of its reads move the client connection to the node. */
typedef struct lb_route_handoff_s {
	bool enabled;      /* the route has a `handoff:` section */
	uint32_t ops;      /* `operations`, LB_HANDOFF_* bits; default get and head */
	uint64_t min_size; /* `min_size`: fewer response bytes are proxied; default 1MiB */
	int unknown_size;  /* `unknown_size`, lb_handoff_unknown_t; default proxy */
} lb_route_handoff_t;

/* A pool's `handoff:` section: how the director reaches its nodes' agents. */
typedef struct lb_pool_handoff_s {
	uint32_t agent_port;    /* `agent_port`: a node's agent listens on the node's IP address at
	                         * this port unless the node says `handoff.agent`; default 9902 */
	char *key_file;         /* `key_file`: the pre-shared key (handoff/record.h ho_key_load);
	                         * NULL: none, and a route handing off to the pool is an error */
	int key_file_line;      /* its line, for the message when loading the key fails */
	uint64_t ready_timeout; /* `ready_timeout` (ms): STATE to the agent's READY at most */
} lb_pool_handoff_t;

/* A node's `handoff:` section. */
typedef struct lb_node_handoff_s {
	/* the node's agent: `handoff.agent`, or the node's IP address at the pool's
	 * handoff.agent_port (agent_set tells which, for the dump) */
	lb_addr_t agent;
	bool agent_set;
} lb_node_handoff_t;

typedef struct lb_node_conf_s {
	char *name;
	lb_addr_t addr;
	uint32_t weight;         /* 1..1000, default 1; 0 is rejected (use drain instead) */
	lb_health_conf_t health; /* effective: pool's section with the node's overrides */
	int line;                /* line in the config file, for messages */
	lb_node_handoff_t handoff;
} lb_node_conf_t;

typedef struct lb_upstream_tls_s {
	bool enabled;
	char *ca_file;     /* NULL: system default CA store */
	bool verify;       /* default true */
	char *server_name; /* SNI and name to verify; NULL: node address host part */
} lb_upstream_tls_t;

typedef struct lb_pool_conf_s {
	char *name;
	lb_balance_t balance;
	lb_node_conf_t *nodes;
	size_t nnodes;
	uint32_t retries;            /* extra attempts on another node, default 2 */
	uint32_t retry_budget_pct;   /* retries in flight <= max(3, pct% of requests in flight),
	                                default 20 */
	uint32_t max_conns_per_node; /* upstream connections per node (busy + idle), default 512 */
	uint32_t max_idle_per_node;  /* kept-alive idle connections per node, default 64 */
	lb_upstream_tls_t tls;
	lb_health_conf_t
	    health; /* the pool's `health:` section (nodes hold their effective copy) */
	int line;
	lb_pool_handoff_t handoff;
} lb_pool_conf_t;

typedef struct lb_route_conf_s {
	char *bucket; /* glob (* and ?), NULL = any (also matches requests without a bucket) */
	uint32_t ops; /* lb_op_t bits, 0 = any */
	char *host;   /* glob on the Host header without port, NULL = any */
	size_t pool;  /* index into lb_config_t.pools */
	int line;
	lb_route_handoff_t handoff;
} lb_route_conf_t;

typedef struct lb_frontend_conf_s {
	char *name;
	lb_addr_t *listen;
	size_t nlisten;
	char *tls_cert; /* both NULL: plain HTTP */
	char *tls_key;
	char **domains; /* virtual-hosted style: <bucket>.<domain>; lowercase, no port */
	size_t ndomains;
	bool x_forwarded_for; /* default true: append the client address */
	bool x_real_ip;       /* default false */
	/* `healthz:` a path answered by the gateway itself (200 while a pool it routes to has a
	 * node up and s3lb is not stopping, else 503), for an L4 tier in front; NULL: off */
	char *healthz;
	lb_route_conf_t *routes;
	size_t nroutes;
	int line;
} lb_frontend_conf_t;

typedef struct lb_limits_s {
	uint32_t
	    max_connections; /* client connections; above: 503 SlowDown and close. default 10000 */
	uint64_t max_header_size; /* request header block; above: 431. default 16KiB */
	uint32_t max_headers;     /* header count; above: 431. default 100 */
	uint64_t buffer_size;     /* per direction per connection, default 64KiB */
	/* request body bytes per second a client keeps up on average, after the first
	 * timeouts.client_body; slower: 400 RequestTimeout. 0: off. default 4KiB */
	uint64_t min_body_rate;
	/* a response body with at least this many bytes left after what came with its head goes
	 * socket to socket (splice) when client and node are plain TCP; 0: never. default
	 * 128KiB */
	uint64_t splice_min;
} lb_limits_t;

typedef struct lb_timeouts_s {
	uint64_t client_header; /* first byte to end of header block; 408. default 10s */
	uint64_t client_idle;   /* keep-alive idle between requests. default 60s */
	uint64_t
	    client_body; /* no request body byte for this long; 400 RequestTimeout. default 60s */
	uint64_t
	    client_send; /* client not reading the response for this long: close. default 60s */
	uint64_t upstream_connect; /* default 2s */
	uint64_t upstream_header;  /* request fully sent to response head. default 60s */
	uint64_t upstream_read;    /* stall while reading a response body. default 60s */
	uint64_t upstream_idle;    /* pooled idle connection lifetime. default 30s */
	uint64_t shutdown_grace;   /* SIGTERM: time for in-flight requests. default 30s */
	/* SIGTERM: how long healthz answers 503 while everything else is served as before, so that
	 * an L4 tier moves new connections away before the listeners close. default 0 */
	uint64_t shutdown_delay;
} lb_timeouts_t;

typedef struct lb_log_conf_s {
	lb_log_level_t level; /* default info */
	char *access;         /* "stdout" (default), "stderr", "off" or a file path */
	char *error;          /* "stderr" (default) or a file path */
} lb_log_conf_t;

/*
 * One IPVS virtual service in direct-routing (DR) mode: the read endpoint whose response bytes
 * go from the nodes straight to the clients. Its real servers are the nodes of `pool` (their IP
 * address, on the service's port: DR cannot change ports, so each node must accept connections
 * to the VIP on that port), with the node's weight while the node is up, 0 while down or
 * draining (established connections finish).
 */
/* A `dr:` service's `announce:` (dsr/announce.h): a host route for the VIP in routing table
 * `table` while the service can serve, for a routing daemon to announce (ECMP directors). */
typedef struct lb_dr_announce_s {
	bool enabled;   /* the service has an `announce:` section */
	uint32_t table; /* `table` (required): 1..2^32-1 but 253..255 (default, main, local) */
} lb_dr_announce_t;

typedef struct lb_dr_conf_s {
	bool has_vip; /* `vip: ADDR:PORT` (TCP); else `fwmark` */
	lb_addr_t vip;
	uint32_t fwmark;  /* `fwmark: N` (1..2^32-1) with `family: ipv4|ipv6` (default ipv4) */
	int family;       /* AF_INET or AF_INET6 */
	uint16_t port;    /* with fwmark: `port`, the port nodes get (required); with vip: vip's */
	size_t pool;      /* index into lb_config_t.pools */
	char *scheduler;  /* rr|wrr|lc|wlc|sh|mh (default mh) */
	bool mh_fallback; /* sh/mh: skip a weight-0 node instead of dropping (default true) */
	bool mh_port;     /* sh/mh: hash the client port too (default false) */
	uint64_t persistence;     /* ms, whole seconds (IPVS granularity); 0: off (default) */
	uint32_t upper_threshold; /* per destination connection limits, 0: none (default) */
	uint32_t lower_threshold;
	lb_dr_announce_t announce; /* vip services only */
	int line;
} lb_dr_conf_t;

/* `dr_sync:` the kernel's IPVS connection sync daemon (dsr/sync.h), so that a standby
 * director knows the active one's DR connections. */
typedef enum { LB_SYNC_AUTO = 0, LB_SYNC_MASTER, LB_SYNC_BACKUP } lb_sync_role_t;

typedef struct lb_dr_sync_conf_s {
	bool enabled;        /* the section is present; else s3lb leaves the daemons alone */
	char *interface;     /* the multicast interface (required) */
	uint32_t sync_id;    /* 0..255, default 0 */
	int role;            /* lb_sync_role_t, default auto */
	char *state_file;    /* role auto: keepalived's VRRP state, default /run/s3lb/vrrp-state */
	char *mcast_group;   /* IPv4 or IPv6 multicast address; NULL: the kernel's 224.0.0.81 */
	uint32_t mcast_port; /* 0: the kernel's 8848 */
	uint32_t mcast_ttl;  /* 0: the kernel's 1 */
} lb_dr_sync_conf_t;

#define LB_ADMIN_TOKEN_MIN 16
#define LB_ADMIN_TOKEN_MAX 1024

typedef struct lb_config_s {
	char *path; /* the file it was loaded from */
	bool admin_enabled;
	lb_addr_t admin_listen; /* default 127.0.0.1:9901; `listen: off` disables */
	char *admin_token_file; /* NULL: state-changing admin requests are refused */
	char *admin_token;      /* its first line, LB_ADMIN_TOKEN_MIN..MAX printable bytes */
	char **admin_hosts;     /* Host names the admin listener accepts besides IPs, localhost */
	size_t nadmin_hosts;
	char **admin_origins; /* Origin values accepted on admin requests; others are refused */
	size_t nadmin_origins;
	lb_log_conf_t log;
	lb_limits_t limits;
	lb_timeouts_t timeouts;
	lb_pool_conf_t *pools;
	size_t npools;
	lb_frontend_conf_t *frontends;
	size_t nfrontends;
	lb_dr_conf_t *dr; /* `dr:` list, may be empty */
	size_t ndr;
	lb_dr_sync_conf_t dr_sync;
	unsigned workers; /* `workers:` event loops (threads), 0 = auto: one per CPU s3lb may use */
	char *dr_state;   /* `dr_state:` file recording which IPVS entries s3lb created,
	                   * default /run/s3lb/ipvs-owned */
	char *drain_state; /* `drain_state:` file of the drained nodes, kept across restarts,
	                    * default /var/lib/s3lb/drained */
	unsigned refs;     /* see lb_config_ref; 1 after load */
} lb_config_t;

/*
 * Loads and validates `path`. On success returns 0 and *out. On failure returns a negative
 * error and writes one line "FILE:LINE: key: message" (no trailing newline) into err.
 */
__attribute__((warn_unused_result)) int lb_config_load(const char *path, lb_config_t **out,
                                                       char *err, size_t errlen);

/* Same, from a buffer; `name` stands in for the file name in messages. For tests. */
__attribute__((warn_unused_result)) int lb_config_load_string(const char *name, const char *yaml,
                                                              size_t len, lb_config_t **out,
                                                              char *err, size_t errlen);

/* Prints the effective config (all defaults filled in) as YAML that lb_config_load accepts. */
void lb_config_dump(const lb_config_t *cfg, FILE *out);

lb_config_t *lb_config_ref(lb_config_t *cfg);
void lb_config_unref(lb_config_t *cfg); /* frees on the last unref */

#endif

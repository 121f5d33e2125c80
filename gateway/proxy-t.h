/*
 * Types only (HAProxy's -t.h split: no function here, so any file may include it without
 * pulling in an API). Types shared by the gateway's files: the server (one per process), the
 * runtime built from one loaded config (pools, nodes, balancers, TLS contexts), upstream
 * connections and client connections. Everything here lives on one worker's loop thread
 * (gateway/workers.h), but for a build (made on the main thread, then adopted by each worker) and
 * the metrics (read by the admin on the main thread: gateway/metrics.h).
 *
 * Lifetimes: the server holds the current runtime. Each client connection holds a reference to
 * the runtime that was current when it was accepted, so a reload (SIGHUP) never changes the rules
 * under a request; a retired runtime is freed when its last connection ends.
 */
#ifndef S3LB_GATEWAY_PROXY_T_H
#define S3LB_GATEWAY_PROXY_T_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "gateway/balancer.h"
#include "net/client.h"
#include "net/http.h"
#include "gateway/metrics.h"
#include "net/rbuf.h"
#include "gateway/s3err.h"
#include "gateway/s3req.h"
#include "handoff/decide.h"
#include "handoff/sizecache.h"
#include "net/sock.h"

typedef struct gw_server_s gw_server_t;
typedef struct gw_runtime_s gw_runtime_t;
typedef struct gw_pool_s gw_pool_t;
typedef struct gw_node_s gw_node_t;
typedef struct gw_upstream_s gw_upstream_t;
typedef struct gw_conn_s gw_conn_t;
typedef struct gw_req_s gw_req_t;
typedef struct gw_listener_s gw_listener_t;

typedef enum { GW_NODE_UP = 0, GW_NODE_DOWN, GW_NODE_DRAINING } gw_node_state_t;

struct gw_node_s {
	const lb_node_conf_t *conf;
	struct ho_agent_s *ho_agent; /* handoff: its agent's channel (gateway/handoff.c), or NULL */
	uint32_t ho_mark;            /* ... and the steering mark of the node */
	gw_pool_t *pool;
	size_t index;
	gw_node_state_t state;
	gw_upstream_t *idle; /* LIFO list of idle keep-alive connections */
	uint32_t nidle;
	uint32_t nconns; /* this runtime's connections to the node: connecting, busy or idle */
	uint32_t consecutive_failures;
	bool stray_after_bodyless; /* seen sending bytes after a body-less response (upstream.c) */
	gw_node_stats_t *stats;    /* owned by the server's metrics, survives reloads */
};

struct gw_pool_s {
	const lb_pool_conf_t *conf;
	gw_runtime_t *rt;
	gw_node_t *nodes;
	gw_lb_node_t *lbn; /* what the balancer sees, index-aligned with nodes */
	size_t n;
	gw_balancer_t *bal;
	net_tls_ctx_t *tls;        /* towards nodes, NULL: plain */
	gw_pool_series_t *series;  /* the pool's counters and gauges in the server's metrics */
	uint32_t max_conns;        /* this worker's share of max_conns_per_node (at least 1) */
	uint32_t max_idle;         /* ... and of max_idle_per_node */
	uint32_t inflight;         /* requests in flight through this pool */
	uint32_t retries_inflight; /* retry attempts in flight (retry budget) */
};

typedef struct gw_frontend_rt_s {
	const lb_frontend_conf_t *conf;
	net_tls_ctx_t *tls; /* NULL: plain HTTP */
} gw_frontend_rt_t;

struct gw_runtime_s {
	lb_config_t *cfg;
	gw_server_t *srv;
	gw_pool_t *pools;
	size_t npools;
	gw_frontend_rt_t *fes;
	size_t nfes;
	unsigned refs;
	bool retired;
	/* the object sizes the handoff decision needs (handoff/sizecache.h), shared by every
	 * worker and owned by gateway/workers.c; NULL when no route has `handoff:` */
	ho_sizecache_t *sizes;
	struct gw_ho_s *ho; /* the handoff director and steering (gateway/handoff.c), or NULL */
};

/* What the access log lines of a handed-off request need once its connection is gone: one
 * allocation (text) holding bucket, key, pool and node, NUL-terminated, pointed at below. */
typedef struct gw_ho_line_s {
	char *text;
	const char *bucket, *key, *pool, *node;
	char client_ip[48];
	char method[12];
	char reqid[24];
	const char *handoff; /* the access log's handoff field */
	uint64_t t_start;    /* uv_hrtime() at the request's first byte */
} gw_ho_line_t;

struct gw_listener_s {
	uv_tcp_t tcp;
	uv_timer_t resume; /* a paused listener listens again (see server.c, "at the fd limit") */
	int spare;         /* a second descriptor of the listening socket, or -1 */
	unsigned stuck;    /* NET_ACCEPT_STUCK callbacks in a row */
	unsigned handles;  /* open handles of tcp and resume; freed at 0 */
	unsigned npaused;  /* pauses since the last log line of one */
	uint64_t pause_logged; /* uv_now of that line */
	enum { GW_LISTEN_OPEN, GW_LISTEN_PAUSING, GW_LISTEN_PAUSED } lstate;
	bool closing;
	gw_server_t *srv;
	char addr[64];
	size_t fe_index; /* frontend index in the current runtime (rebound on reload) */
	bool admin;
	bool seen; /* reload bookkeeping */
	gw_listener_t *next;
};

/*
 * What the gateway asks of the rest of the director (health/, admin/), as callbacks so that the
 * gateway does not depend on them. Any may be NULL. All run on the loop.
 */
typedef struct gw_hooks_s {
	void *arg;
	/* one request's outcome on a node (passive health) */
	void (*passive)(void *arg, const char *pool, const char *node, bool ok, const char *why);
	/* a new config is about to become current; non-zero refuses the reload (err says why) */
	int (*reloading)(void *arg, lb_config_t *cfg, char *err, size_t errlen);
	/* the new config is current (after a successful reload) */
	void (*reloaded)(void *arg, lb_config_t *cfg);
	/* a connection waits on the admin listener (bound to addr): admin/ takes it from here */
	void (*admin_accept)(void *arg, uv_stream_t *listener, const char *addr);
	/* the server is stopping: close the admin connections still open */
	void (*admin_stop)(void *arg);
	/* a node's state when the pools are first built, at start (NULL: every node up): health's,
	 * so that a node drained before a restart gets no request in the first milliseconds. Runs
	 * on each worker's thread as it starts, while the main loop's thread waits for it in
	 * gw_workers_start (health does not change meanwhile). */
	gw_node_state_t (*initial_state)(void *arg, const char *pool, const char *node);
} gw_hooks_t;

/* One listening address of a build: a socket per worker (the admin listener: worker 0's). */
typedef struct gw_bind_s {
	char addr[64];
	bool admin;
	int *fds; /* [nworkers]; -1 once a worker took its socket */
} gw_bind_t;

/* What a config needs before a worker can take it (server.c, gw_build_new). */
typedef struct gw_build_s {
	lb_config_t *cfg;
	unsigned nworkers;
	net_tls_ctx_t **pool_tls; /* [cfg->npools], NULL: plain */
	net_tls_ctx_t **fe_tls;   /* [cfg->nfrontends] */
	gw_bind_t *binds;         /* the addresses not open before */
	size_t nbinds;
	const gw_hooks_t *start_hooks; /* at start only: initial_state (gw_workers_start) */
	ho_sizecache_t *sizes; /* borrowed (gateway/workers.c's), NULL: no route has handoff */
} gw_build_t;

struct gw_server_s {
	uv_loop_t *loop;
	unsigned worker;   /* 0: the main loop's */
	unsigned nworkers; /* limits shared by the process are divided by this */
	bool own_signals;  /* a server on its own (gw_server_init): SIGTERM and SIGINT are its */
	gw_runtime_t *rt;  /* current */
	gw_listener_t *listeners;
	gw_metrics_t *metrics;
	uv_signal_t sig_term, sig_int; /* own_signals only */
	uv_timer_t grace_timer;
	net_sockq_t sockq; /* write completions of the client and upstream sockets */
	/* The client connections' timers (conn.c): one libuv timer for all of them, and a min-heap
	 * of the connections whose timer runs, on their deadlines. */
	uv_timer_t conn_timer;
	gw_conn_t **theap;
	uint32_t theap_n, theap_cap;
	uint64_t timer_due; /* uv_now when conn_timer fires; 0: stopped */
	uint32_t nconns;    /* open client connections (not admin) */
	uint64_t next_conn_id;
	bool draining; /* SIGTERM, before stopping (timeouts.shutdown_delay): healthz says 503 */
	bool stopping;
	bool stopped;
	uint64_t started_ms; /* uv_now at start, for uptime */
	gw_conn_t *conns;    /* every open client connection, for shutdown */
	gw_hooks_t hooks;
	void (*on_stop)(void *arg); /* runs once when the server has stopped (health's close) */
	void *on_stop_arg;
	char *config_path;
};

/*
 * What a request that owns a node connection hears of its exchange (conn.c gives these to
 * gw_upstream_get; upstream.c forwards net/client's events while the owner holds it).
 */
typedef struct gw_upstream_ops_s {
	void (*ready)(gw_upstream_t *up); /* a new connection is up and its exchange begun */
	void (*written)(gw_upstream_t *up);
	void (*head)(gw_upstream_t *up, const net_http_t *h, const char *msg);
	void (*body)(gw_upstream_t *up, const char *data, size_t len);
	void (*done)(gw_upstream_t *up, bool reusable);
	void (*error)(gw_upstream_t *up, net_client_err_t e, int status, const char *why);
} gw_upstream_ops_t;

/* One node connection. Busy: owned by exactly one client connection. */
struct gw_upstream_s {
	net_client_t cl;
	gw_node_t *node;
	const gw_upstream_ops_t *ops;
	void *owner; /* while busy; NULL while idle or connecting for nobody */
	gw_upstream_t *next_idle, *prev_idle;
	bool head_request; /* of the exchange a new connection begins */
	bool reused;
	bool closing;
	bool idle;
};

typedef enum {
	GW_UP_REUSE = 0, /* back to the node's idle list if it can carry another exchange */
	GW_UP_CLOSE,
	GW_UP_ABORT, /* close with a reset: the node must never take a partial request as whole */
} gw_release_t;

/*
 * What a client connection holds only while a request is under way: made when its first byte
 * arrives (or when s3lb answers a connection at once), freed when the connection goes idle with
 * nothing buffered, so that an idle keep-alive connection holds no parser, buffer or request
 * state (conn.c, req_new / reset_request). Pipelined bytes stay in rb and start the next
 * request at once.
 */
struct gw_req_s {
	net_http_t req;
	net_rbuf_t rb; /* request bytes from the client */

	/* the current request */
	uint64_t t_start; /* uv_hrtime() at its first byte */
	uint64_t body_t0; /* uv_now() when its body started to be relayed */
	uint64_t body_rx; /* body bytes received from the client (for limits.min_body_rate) */
	char *head;       /* the request head as sent to nodes (kept for retries) */
	size_t head_len;
	gw_s3req_t s3; /* points into head */
	char *host;    /* Host header value, NUL-terminated copy */
	const char *method;
	char reqid[24];
	char client_ip[48]; /* the connection's peer (peer), as text */
	gw_pool_t *pool;
	gw_node_t *node;
	const char *node_name;        /* the last node tried, for the access log */
	const lb_route_conf_t *route; /* the matched route */
	/* handoff (issue 12), only with rt->sizes: what the cache learns from this request
	 * (conn.c's HL_*), the object's size after a PUT (-1: not known), the bytes the request
	 * returns as the cache tells them at the head, the decision's reason (-1: none made) */
	uint8_t ho_learn;
	int64_t ho_put_size;
	ho_size_t ho_size;
	int ho_reason;
	size_t head_raw; /* rb offset where the request's head began, as the client sent it */
	struct ho_switch_s *ho_sw; /* the handoff under way (CS_HANDOFF) */
	uint64_t ho_conn_id;
	gw_upstream_t *up;
	uint8_t *tried;
	unsigned attempts;
	unsigned interims; /* 1xx responses seen for this request */
	bool retrying;     /* the current attempt is a retry that counts against the budget */
	bool
	    failover; /* the last failure was on a node that is not up: not limited by the budget */
	bool req_has_body;
	bool client_keep_alive;
	bool is_head;
	bool inflight;
	bool
	    stalled; /* the attempt timed out on a node that had the request: it may run it later */
	bool local_fault; /* the attempt failed for a reason of s3lb's own: not the node's health */
	bool
	    reporting; /* inside gw_node_report: health's reaction must not re-enter this request */
	int status;
	gw_err_t last_err;
	uint64_t bytes_in, bytes_out;

	/* request side of the attempt */
	bool head_sent;     /* the head was written to the node */
	bool up_writing;    /* a write to the node is in flight */
	bool up_head;       /* ... and it carries the head */
	bool body_released; /* body bytes were released to a node: no retry from here */
	bool req_done;      /* the parser saw the end of the request */
	bool req_sent;      /* every request byte was written to the node */

	/* response side */
	bool resp_started; /* a response byte was given to the client */
	bool resp_done;    /* the node's response is complete (every byte relayed) */
	bool up_reusable;  /* ... and its connection can carry another exchange */
	bool linger;       /* the response is our error: linger before closing (linger_start) */
	char *pend;        /* response head bytes waiting to go to the client */
	size_t pend_len, pend_cap;
	const char *span; /* body bytes lent by the node connection, waiting to go */
	size_t span_len;
	struct net_splice_s *splice;     /* the rest of the body going around user space, or NULL */
	struct net_splice_s *req_splice; /* ... of the request body, client to node, or NULL */
	bool no_req_splice;              /* splicing the request body failed to start: copy */
	uint8_t req_minor;               /* the request's HTTP/1.x minor version */
	bool no_splice;                  /* splicing failed to start for this response: copy */
	bool dechunk;      /* a chunked response to an HTTP/1.0 client: relayed decoded (conn.c) */
	bool writing_down; /* a write to the client is in flight */
	char *down_buf;    /* ... with these head bytes (pend detached) */
	bool down_span;    /* ... and the span */
	bool down_err;     /* ... or our error response */
	char *err_buf;     /* one of our error responses */
	size_t err_len;
	size_t linger_bytes; /* bytes dropped while lingering */
};

/* One client connection; the state machine is in conn.c. Small: most connections are idle. */
struct gw_conn_s {
	net_sock_t sock;
	gw_server_t *srv;
	gw_runtime_t *rt;
	gw_frontend_rt_t *fe;
	gw_conn_t *prev, *next; /* server's list */
	uint64_t id;
	uint64_t deadline; /* of the client's timer (uv_now), while it runs */
	uint32_t theap_i;  /* 1 + its place in the server's timer heap; 0: not running */
	int timer_kind;    /* what the timer measures (conn.c's C_*) */
	int state;         /* conn.c's CS_*; changed by go() only */
	gw_req_t *r;       /* the request under way; NULL while idle */
	net_peer_t peer;
	bool client_eof;
	bool counted;      /* counts against limits.max_connections (gw_client_count) */
	bool in_next;      /* inside proxy_next: events only ask for another round */
	bool again;        /* ... and this says one was asked for */
	bool client_moved; /* the client sent or took bytes since the client timer was set */
	bool close_after;  /* the connection ends after the current request */
};

#endif

/*
 * The plain types of dsr/: IPVS services and destinations as the client, the reconciler and the
 * ownership file see them, with helpers to compare, name and parse their keys. No netlink here
 * (dsr/ipvs.h has the client); usable from any thread.
 */
#ifndef S3LB_DSR_TYPES_H
#define S3LB_DSR_TYPES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Service flags, the kernel's IP_VS_SVC_F_* values (checked against linux/ip_vs.h in ipvs.c). */
#define DSR_SVC_F_PERSISTENT 0x0001u /* set by the client whenever timeout > 0 */
#define DSR_SVC_F_ONEPACKET  0x0004u
#define DSR_SVC_F_SCHED1     0x0008u /* sh/mh: fallback to another server when weight is 0 */
#define DSR_SVC_F_SCHED2     0x0010u /* sh/mh: hash the source port too */
#define DSR_SVC_F_SCHED3     0x0020u
/* The flags a caller sets; the kernel's HASHED bit and anything else a dump shows is masked off. */
#define DSR_SVC_F_MASK                                                                             \
	(DSR_SVC_F_PERSISTENT | DSR_SVC_F_ONEPACKET | DSR_SVC_F_SCHED1 | DSR_SVC_F_SCHED2 |        \
	 DSR_SVC_F_SCHED3)

/* Forwarding methods (IP_VS_CONN_F_*). s3lb only creates DR destinations. */
typedef enum {
	DSR_FWD_NAT = 0, /* masquerading */
	DSR_FWD_LOCAL = 1,
	DSR_FWD_TUNNEL = 2,
	DSR_FWD_DR = 3, /* direct routing: rewrite the MAC only */
} dsr_fwd_t;

/* An IPv4 or IPv6 address. Compare with dsr_ip_cmp (unused bytes are kept zero). */
typedef struct dsr_ip_s {
	uint16_t af; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t raw[16];
	} u;
} dsr_ip_t;

/* What names a virtual service: TCP VIP:port, or a firewall mark (per address family). */
typedef struct dsr_svc_key_s {
	uint16_t af;       /* AF_INET or AF_INET6 */
	uint16_t protocol; /* IPPROTO_TCP (IPPROTO_UDP and others only appear in dumps) */
	uint32_t fwmark;   /* non-zero: firewall-mark service; addr and port are then zero */
	dsr_ip_t addr;
	uint16_t port; /* host byte order */
} dsr_svc_key_t;

/* Counters; dumps fill them from the kernel's 64-bit stats when present. */
typedef struct dsr_stats_s {
	uint64_t conns, inpkts, outpkts, inbytes, outbytes;
	uint64_t cps, inpps, outpps, inbps,
	    outbps; /* rates (per second, estimated by the kernel) */
} dsr_stats_t;

typedef struct dsr_svc_s {
	dsr_svc_key_t key;
	char sched[16];    /* "rr", "wrr", "lc", "wlc", "sh", "mh", ... */
	uint32_t flags;    /* DSR_SVC_F_* */
	uint32_t timeout;  /* persistence timeout in seconds; 0: not persistent */
	uint32_t netmask;  /* persistence granularity as a prefix length; 0 on input: 32 (128) */
	dsr_stats_t stats; /* dumps only */
} dsr_svc_t;

typedef struct dsr_dest_s {
	dsr_ip_t addr;
	uint16_t port;     /* host byte order; DR cannot change ports: equal to the service's */
	dsr_fwd_t fwd;     /* DSR_FWD_DR for everything s3lb creates */
	uint32_t weight;   /* 0: no new connections (down or draining) */
	uint32_t u_thresh; /* 0: no upper connection threshold */
	uint32_t l_thresh;
	uint32_t active, inactive, persist; /* connection counts, dumps only */
	dsr_stats_t stats;                  /* dumps only */
	/* want only: weight is a ceiling, the kernel's weight is kept while lower (0 when the
	 * kernel has no such destination): the node has had no health verdict yet */
	bool keep_weight;
} dsr_dest_t;

/* One service with its destinations; a table is the whole (or wanted) IPVS state. */
typedef struct dsr_tsvc_s {
	dsr_svc_t svc;
	dsr_dest_t *dests;
	size_t ndests;
} dsr_tsvc_t;

typedef struct dsr_table_s {
	dsr_tsvc_t *svcs;
	size_t nsvcs;
} dsr_table_t;

/* A kernel connection sync daemon (dsr/ipvs.h, dsr/sync.h). */
typedef enum { DSR_SYNC_MASTER = 1, DSR_SYNC_BACKUP = 2 } dsr_sync_state_t;

typedef struct dsr_daemon_s {
	uint32_t state;   /* DSR_SYNC_MASTER or DSR_SYNC_BACKUP */
	char ifname[16];  /* the multicast interface (IP_VS_IFNAME_MAXLEN, with its NUL) */
	uint32_t sync_id; /* 0..255: a backup takes only what masters of its id send */
	/* optional, 0 (group: af 0) for the kernel's default, which a dump reports */
	uint16_t max_len; /* UDP payload size (default: from the interface's MTU) */
	dsr_ip_t group;   /* multicast group, IPv4 or IPv6 (default 224.0.0.81) */
	uint16_t port;    /* UDP port (default 8848) */
	uint8_t ttl;      /* multicast TTL (default 1) */
} dsr_daemon_t;

/* "master sync daemon on eth1, sync id 7" (with the group, port, ttl and max_len that are set) */
void dsr_daemon_format(const dsr_daemon_t *d, char *buf, size_t len);

/* Parses "192.0.2.10" or "2001:db8::1" (no port). Returns 0 or -EINVAL. */
int dsr_ip_parse(const char *s, dsr_ip_t *ip);
int dsr_ip_cmp(const dsr_ip_t *a, const dsr_ip_t *b);
/* "192.0.2.10", "2001:db8::1". */
void dsr_ip_format(const dsr_ip_t *ip, char *buf, size_t len);

/* Orders and names keys the same way everywhere (messages, the ownership file, plans). */
int dsr_svc_key_cmp(const dsr_svc_key_t *a, const dsr_svc_key_t *b);
/* "TCP 192.0.2.10:80", "TCP [2001:db8::1]:80", "FWM 7 IPv4", "FWM 7 IPv6". */
void dsr_svc_key_format(const dsr_svc_key_t *key, char *buf, size_t len);
/* Parses what dsr_svc_key_format writes. Returns 0 or -EINVAL. */
int dsr_svc_key_parse(const char *s, dsr_svc_key_t *key);

/* Compares/formats the destination's identity (address and port): "10.0.0.11:80", "[::1]:80". */
int dsr_dest_cmp(const dsr_dest_t *a, const dsr_dest_t *b);
void dsr_dest_format(const dsr_dest_t *d, char *buf, size_t len);
/* Parses what dsr_dest_format writes into d's address and port. Returns 0 or -EINVAL. */
int dsr_dest_parse(const char *s, dsr_dest_t *d);

/* Scheduler names the kernel ships (rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos). */
bool dsr_sched_known(const char *name);

/* A deep copy (free with dsr_table_free); sorting puts services and each service's destinations
 * in key order. */
void dsr_table_copy(const dsr_table_t *in, dsr_table_t *out);
void dsr_table_sort(dsr_table_t *t);
void dsr_table_free(dsr_table_t *t);

#endif

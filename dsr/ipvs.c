/*
 * IPVS over generic netlink, on libnl-3. Requests are built in one place (build_request) and every
 * reply is parsed in one place (parse_reply) with nla policies; errors keep the kernel's errno (a
 * custom error callback, because libnl folds ESRCH and ENOENT into one code) and its extended-ack
 * text when there is one. Synchronous, one handle per thread.
 */
#include "dsr/ipvs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

_Static_assert(DSR_SVC_F_PERSISTENT == IP_VS_SVC_F_PERSISTENT, "flag value");
_Static_assert(DSR_SVC_F_ONEPACKET == IP_VS_SVC_F_ONEPACKET, "flag value");
_Static_assert(DSR_SVC_F_SCHED1 == IP_VS_SVC_F_SCHED1, "flag value");
_Static_assert(DSR_SVC_F_SCHED2 == IP_VS_SVC_F_SCHED2, "flag value");
_Static_assert(DSR_SVC_F_SCHED3 == IP_VS_SVC_F_SCHED3, "flag value");
_Static_assert(DSR_FWD_DR == IP_VS_CONN_F_DROUTE, "fwd value");
_Static_assert(DSR_FWD_TUNNEL == IP_VS_CONN_F_TUNNEL, "fwd value");
_Static_assert(DSR_FWD_NAT == IP_VS_CONN_F_MASQ, "fwd value");

#define RECV_TIMEOUT_S 10 /* a reply never takes this long; it stops a stuck thread */

struct dsr_ipvs_s {
	struct nl_sock *sk;
	struct nl_cb *cb;
	int family;
	uint32_t seq;   /* of the request in flight: replies with another are stale, dropped */
	bool done;      /* its ack, error or end of dump was read */
	int kerr;       /* errno from the last NLMSG_ERROR, negative; 0 for an ack */
	char kmsg[128]; /* extended-ack text from the kernel, if any */
	char last[384]; /* dsr_ipvs_last_error */
};

/* ---- policies: what a reply may contain ---- */

#define ADDR_LEN sizeof(struct in6_addr) /* the kernel sends union nf_inet_addr */

static const struct nla_policy cmd_policy[IPVS_CMD_ATTR_MAX + 1] = {
    [IPVS_CMD_ATTR_SERVICE] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_DEST] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_DAEMON] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_TIMEOUT_TCP] = {.type = NLA_U32},
    [IPVS_CMD_ATTR_TIMEOUT_TCP_FIN] = {.type = NLA_U32},
    [IPVS_CMD_ATTR_TIMEOUT_UDP] = {.type = NLA_U32},
};

static const struct nla_policy svc_policy[IPVS_SVC_ATTR_MAX + 1] = {
    [IPVS_SVC_ATTR_AF] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_PROTOCOL] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_ADDR] = {.type = NLA_UNSPEC, .minlen = ADDR_LEN, .maxlen = ADDR_LEN},
    [IPVS_SVC_ATTR_PORT] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_FWMARK] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_SCHED_NAME] = {.type = NLA_STRING, .maxlen = IP_VS_SCHEDNAME_MAXLEN},
    [IPVS_SVC_ATTR_FLAGS] = {.type = NLA_UNSPEC,
                             .minlen = sizeof(struct ip_vs_flags),
                             .maxlen = sizeof(struct ip_vs_flags)},
    [IPVS_SVC_ATTR_TIMEOUT] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_NETMASK] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_STATS] = {.type = NLA_NESTED},
    [IPVS_SVC_ATTR_PE_NAME] = {.type = NLA_STRING, .maxlen = IP_VS_PENAME_MAXLEN},
    [IPVS_SVC_ATTR_STATS64] = {.type = NLA_NESTED},
};

static const struct nla_policy dest_policy[IPVS_DEST_ATTR_MAX + 1] = {
    [IPVS_DEST_ATTR_ADDR] = {.type = NLA_UNSPEC, .minlen = ADDR_LEN, .maxlen = ADDR_LEN},
    [IPVS_DEST_ATTR_PORT] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_FWD_METHOD] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_WEIGHT] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_U_THRESH] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_L_THRESH] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_ACTIVE_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_INACT_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_PERSIST_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_STATS] = {.type = NLA_NESTED},
    [IPVS_DEST_ATTR_ADDR_FAMILY] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_STATS64] = {.type = NLA_NESTED},
    [IPVS_DEST_ATTR_TUN_TYPE] = {.type = NLA_U8},
    [IPVS_DEST_ATTR_TUN_PORT] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_TUN_FLAGS] = {.type = NLA_U16},
};

/* IPVS_*_ATTR_STATS: packet counts and rates are 32-bit, byte counts 64-bit. */
static const struct nla_policy stats32_policy[IPVS_STATS_ATTR_MAX + 1] = {
    [IPVS_STATS_ATTR_CONNS] = {.type = NLA_U32},    [IPVS_STATS_ATTR_INPKTS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_OUTPKTS] = {.type = NLA_U32},  [IPVS_STATS_ATTR_INBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTBYTES] = {.type = NLA_U64}, [IPVS_STATS_ATTR_CPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INPPS] = {.type = NLA_U32},    [IPVS_STATS_ATTR_OUTPPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INBPS] = {.type = NLA_U32},    [IPVS_STATS_ATTR_OUTBPS] = {.type = NLA_U32},
};

/* IPVS_*_ATTR_STATS64: all 64-bit. */
static const struct nla_policy stats64_policy[IPVS_STATS_ATTR_MAX + 1] = {
    [IPVS_STATS_ATTR_CONNS] = {.type = NLA_U64},    [IPVS_STATS_ATTR_INPKTS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTPKTS] = {.type = NLA_U64},  [IPVS_STATS_ATTR_INBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTBYTES] = {.type = NLA_U64}, [IPVS_STATS_ATTR_CPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INPPS] = {.type = NLA_U64},    [IPVS_STATS_ATTR_OUTPPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INBPS] = {.type = NLA_U64},    [IPVS_STATS_ATTR_OUTBPS] = {.type = NLA_U64},
};

static const struct nla_policy daemon_policy[IPVS_DAEMON_ATTR_MAX + 1] = {
    [IPVS_DAEMON_ATTR_STATE] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_MCAST_IFN] = {.type = NLA_STRING, .maxlen = IP_VS_IFNAME_MAXLEN},
    [IPVS_DAEMON_ATTR_SYNC_ID] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_SYNC_MAXLEN] = {.type = NLA_U16},
    [IPVS_DAEMON_ATTR_MCAST_GROUP] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_MCAST_GROUP6] = {.type = NLA_UNSPEC, .minlen = 16, .maxlen = 16},
    [IPVS_DAEMON_ATTR_MCAST_PORT] = {.type = NLA_U16},
    [IPVS_DAEMON_ATTR_MCAST_TTL] = {.type = NLA_U8},
};

static const struct nla_policy info_policy[IPVS_INFO_ATTR_MAX + 1] = {
    [IPVS_INFO_ATTR_VERSION] = {.type = NLA_U32},
    [IPVS_INFO_ATTR_CONN_TAB_SIZE] = {.type = NLA_U32},
};

/* ---- errno to text ---- */

#define ANY_OP (-1)

static const struct {
	int op; /* dsr_op_t or ANY_OP */
	int err;
	const char *text;
} errtab[] = {
    {DSR_OP_DAEMON_START, EEXIST, "a sync daemon of that state is already running"},
    {DSR_OP_DAEMON_START, ENODEV, "no such interface in this network namespace"},
    {DSR_OP_DAEMON_START, EADDRNOTAVAIL,
     "the interface has no address to send from (the master needs one)"},
    {DSR_OP_DAEMON_START, EINVAL,
     "invalid request (group not multicast, or a service has destinations of another address "
     "family, which the sync protocol cannot carry)"},
    {DSR_OP_DAEMON_STOP, ESRCH, "no sync daemon of that state is running"},
    {DSR_OP_SVC_ADD, EEXIST, "virtual service already exists"},
    {DSR_OP_SVC_ADD, ENOENT, "scheduler not available in this kernel (no ip_vs_<name> module?)"},
    {DSR_OP_SVC_EDIT, ENOENT, "scheduler not available in this kernel (no ip_vs_<name> module?)"},
    {DSR_OP_SVC_EDIT, ESRCH, "no such virtual service"},
    {DSR_OP_SVC_DEL, ESRCH, "no such virtual service"},
    {DSR_OP_SVC_DEL, ENOENT, "no such virtual service"},
    {DSR_OP_DEST_DUMP, ESRCH, "no such virtual service"},
    {DSR_OP_DEST_DUMP, ENOENT, "no such virtual service"},
    {DSR_OP_DEST_ADD, ESRCH, "no such virtual service"},
    {DSR_OP_DEST_ADD, EEXIST, "destination already exists"},
    {DSR_OP_DEST_EDIT, ESRCH, "no such virtual service"},
    {DSR_OP_DEST_EDIT, ENOENT, "no such destination"},
    {DSR_OP_DEST_DEL, ESRCH, "no such virtual service"},
    {DSR_OP_DEST_DEL, ENOENT, "no such destination"},
    {ANY_OP, ERANGE, "weight out of range, or lower threshold above upper threshold"},
    {ANY_OP, EINVAL,
     "invalid request (address not unicast, persistence netmask, scheduler flags or family "
     "mismatch)"},
    {ANY_OP, EPERM, "operation not permitted (needs CAP_NET_ADMIN in this network namespace)"},
    {ANY_OP, ENOPROTOOPT, "the kernel has no IPVS (modprobe ip_vs)"},
    {ANY_OP, EAFNOSUPPORT, "address family not supported by this kernel's IPVS"},
    {ANY_OP, EOPNOTSUPP, "operation not supported by this kernel's IPVS"},
    {ANY_OP, ENOMEM, "out of memory"},
    {ANY_OP, EPROTO, "malformed reply from the kernel"},
    {ANY_OP, EMSGSIZE, "message size mismatch (IPVS version mismatch?)"},
    {ANY_OP, ETIMEDOUT, "no reply from the kernel (close and reopen the handle)"},
};

const char *dsr_ipvs_strerror(dsr_op_t op, int err)
{
	int e = err < 0 ? -err : err;
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++) {
		if (errtab[i].err == e && (errtab[i].op == (int)op || errtab[i].op == ANY_OP))
			return errtab[i].text;
	}
	return strerror(e);
}

/* ---- building requests: the one place ---- */

/* The persistence netmask as the kernel wants it: an IPv4 mask (network order) or an IPv6
 * prefix length. */
static uint32_t wire_netmask(const dsr_svc_t *svc)
{
	uint32_t plen = svc->netmask;
	if (svc->key.af == AF_INET6)
		return plen ? plen : 128;
	if (plen == 0 || plen >= 32)
		return 0xffffffffu;
	return htonl(~0u << (32 - plen));
}

static uint32_t netmask_from_wire(uint16_t af, uint32_t v)
{
	if (af == AF_INET6)
		return v;
	return (uint32_t)__builtin_popcount(v);
}

static int put_svc_key(struct nl_msg *msg, const dsr_svc_key_t *key)
{
	if (nla_put_u16(msg, IPVS_SVC_ATTR_AF, key->af) < 0)
		return -1;
	if (key->fwmark)
		return nla_put_u32(msg, IPVS_SVC_ATTR_FWMARK, key->fwmark);
	uint8_t addr[ADDR_LEN] = {0};
	memcpy(addr, key->addr.u.raw, key->af == AF_INET ? 4 : 16);
	if (nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, key->protocol) < 0 ||
	    nla_put(msg, IPVS_SVC_ATTR_ADDR, sizeof(addr), addr) < 0)
		return -1;
	return nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(key->port));
}

static int put_svc_full(struct nl_msg *msg, const dsr_svc_t *svc)
{
	struct ip_vs_flags fl = {.flags = svc->flags & DSR_SVC_F_MASK, .mask = ~0u};
	if (svc->timeout)
		fl.flags |= IP_VS_SVC_F_PERSISTENT;
	else
		fl.flags &= ~(uint32_t)IP_VS_SVC_F_PERSISTENT;
	if (nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, svc->sched) < 0 ||
	    nla_put(msg, IPVS_SVC_ATTR_FLAGS, sizeof(fl), &fl) < 0 ||
	    nla_put_u32(msg, IPVS_SVC_ATTR_TIMEOUT, svc->timeout) < 0)
		return -1;
	return nla_put_u32(msg, IPVS_SVC_ATTR_NETMASK, wire_netmask(svc));
}

static int put_dest(struct nl_msg *msg, const dsr_dest_t *d, int full)
{
	uint8_t addr[ADDR_LEN] = {0};
	memcpy(addr, d->addr.u.raw, d->addr.af == AF_INET ? 4 : 16);
	if (nla_put(msg, IPVS_DEST_ATTR_ADDR, sizeof(addr), addr) < 0 ||
	    nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(d->port)) < 0 ||
	    nla_put_u16(msg, IPVS_DEST_ATTR_ADDR_FAMILY, d->addr.af) < 0)
		return -1;
	if (!full)
		return 0;
	if (nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, (uint32_t)d->fwd & IP_VS_CONN_F_FWD_MASK) <
	        0 ||
	    nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, d->weight) < 0 ||
	    nla_put_u32(msg, IPVS_DEST_ATTR_U_THRESH, d->u_thresh) < 0)
		return -1;
	return nla_put_u32(msg, IPVS_DEST_ATTR_L_THRESH, d->l_thresh);
}

/* Requests that are not dumps ask for an ack, so every request ends in exactly one ack, error
 * or NLMSG_DONE (auto-ack is off: libnl would also ack dumps). */
static const struct {
	uint8_t cmd;
	int nlflags;
	uint8_t svc;  /* 0: none, 1: key, 2: full entry */
	uint8_t dest; /* 0: none, 1: key, 2: full entry */
} ops[] = {
    [DSR_OP_INFO] = {IPVS_CMD_GET_INFO, NLM_F_ACK, 0, 0},
    [DSR_OP_SVC_DUMP] = {IPVS_CMD_GET_SERVICE, NLM_F_DUMP, 0, 0},
    [DSR_OP_SVC_ADD] = {IPVS_CMD_NEW_SERVICE, NLM_F_ACK, 2, 0},
    [DSR_OP_SVC_EDIT] = {IPVS_CMD_SET_SERVICE, NLM_F_ACK, 2, 0},
    [DSR_OP_SVC_DEL] = {IPVS_CMD_DEL_SERVICE, NLM_F_ACK, 1, 0},
    [DSR_OP_DEST_DUMP] = {IPVS_CMD_GET_DEST, NLM_F_DUMP, 1, 0},
    [DSR_OP_DEST_ADD] = {IPVS_CMD_NEW_DEST, NLM_F_ACK, 1, 2},
    [DSR_OP_DEST_EDIT] = {IPVS_CMD_SET_DEST, NLM_F_ACK, 1, 2},
    [DSR_OP_DEST_DEL] = {IPVS_CMD_DEL_DEST, NLM_F_ACK, 1, 1},
};

/*
 * Builds the request for op into an empty msg. key names the service; svc (add/edit) carries the
 * full entry and then key == &svc->key; dest is used by the destination operations.
 * Returns 0 or -ENOMEM (message too small, which our sizes never reach).
 */
static int build_request(struct nl_msg *msg, int family, dsr_op_t op, const dsr_svc_key_t *key,
                         const dsr_svc_t *svc, const dsr_dest_t *dest)
{
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, ops[op].nlflags, ops[op].cmd,
	                 IPVS_GENL_VERSION))
		return -ENOMEM;
	if (ops[op].svc) {
		struct nlattr *nest = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
		if (!nest || put_svc_key(msg, key) < 0 ||
		    (ops[op].svc == 2 && put_svc_full(msg, svc) < 0))
			return -ENOMEM;
		nla_nest_end(msg, nest);
	}
	if (ops[op].dest) {
		struct nlattr *nest = nla_nest_start(msg, IPVS_CMD_ATTR_DEST);
		if (!nest || put_dest(msg, dest, ops[op].dest == 2) < 0)
			return -ENOMEM;
		nla_nest_end(msg, nest);
	}
	return 0;
}

/*
 * The sync daemon requests (not keyed by a service, so apart from build_request): START sends the
 * state, interface and sync id, and each optional field that is set; STOP only the state; DUMP
 * nothing. The kernel reads the group as an address (network order) and the port as a number
 * (host order, like ipvsadm sends it).
 */
static int build_daemon_request(struct nl_msg *msg, int family, dsr_op_t op, const dsr_daemon_t *d)
{
	static const struct {
		uint8_t cmd;
		int nlflags;
	} dops[] = {
	    [DSR_OP_DAEMON_START - DSR_OP_DAEMON_START] = {IPVS_CMD_NEW_DAEMON, NLM_F_ACK},
	    [DSR_OP_DAEMON_STOP - DSR_OP_DAEMON_START] = {IPVS_CMD_DEL_DAEMON, NLM_F_ACK},
	    [DSR_OP_DAEMON_DUMP - DSR_OP_DAEMON_START] = {IPVS_CMD_GET_DAEMON, NLM_F_DUMP},
	};
	unsigned i = (unsigned)(op - DSR_OP_DAEMON_START);
	struct nlattr *nest;

	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, dops[i].nlflags, dops[i].cmd,
	                 IPVS_GENL_VERSION))
		return -ENOMEM;
	if (op == DSR_OP_DAEMON_DUMP)
		return 0;
	if (!(nest = nla_nest_start(msg, IPVS_CMD_ATTR_DAEMON)) ||
	    nla_put_u32(msg, IPVS_DAEMON_ATTR_STATE, d->state) < 0)
		return -ENOMEM;
	if (op == DSR_OP_DAEMON_START) {
		char ifname[IP_VS_IFNAME_MAXLEN];
		snprintf(ifname, sizeof(ifname), "%s", d->ifname);
		if (nla_put_string(msg, IPVS_DAEMON_ATTR_MCAST_IFN, ifname) < 0 ||
		    nla_put_u32(msg, IPVS_DAEMON_ATTR_SYNC_ID, d->sync_id) < 0 ||
		    (d->max_len &&
		     nla_put_u16(msg, IPVS_DAEMON_ATTR_SYNC_MAXLEN, d->max_len) < 0) ||
		    (d->group.af == AF_INET &&
		     nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP, 4, d->group.u.raw) < 0) ||
		    (d->group.af == AF_INET6 &&
		     nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, d->group.u.raw) < 0) ||
		    (d->port && nla_put_u16(msg, IPVS_DAEMON_ATTR_MCAST_PORT, d->port) < 0) ||
		    (d->ttl && nla_put_u8(msg, IPVS_DAEMON_ATTR_MCAST_TTL, d->ttl) < 0))
			return -ENOMEM;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* ---- parsing replies: the one place ---- */

typedef struct reply_s {
	dsr_op_t op;
	uint16_t svc_af; /* DEST_DUMP: the service's family, for kernels without ADDR_FAMILY */
	int err;         /* first parse error, negative; the dump is still drained */
	dsr_info_t *info;
	dsr_svc_t *svcs;
	dsr_dest_t *dests;
	dsr_daemon_t *daemons; /* DAEMON_DUMP: room for two */
	size_t n, cap;
} reply_t;

static void parse_stats(struct nlattr *s32, struct nlattr *s64, dsr_stats_t *st)
{
	struct nlattr *tb[IPVS_STATS_ATTR_MAX + 1];
	int wide = s64 != NULL;
	memset(st, 0, sizeof(*st));
	if (!s64 && !s32)
		return;
	if (nla_parse_nested(tb, IPVS_STATS_ATTR_MAX, wide ? s64 : s32,
	                     wide ? stats64_policy : stats32_policy) < 0)
		return; /* counters are informative: a bad set reads as zero */
	uint64_t *field[IPVS_STATS_ATTR_MAX + 1] = {
	    [IPVS_STATS_ATTR_CONNS] = &st->conns,       [IPVS_STATS_ATTR_INPKTS] = &st->inpkts,
	    [IPVS_STATS_ATTR_OUTPKTS] = &st->outpkts,   [IPVS_STATS_ATTR_INBYTES] = &st->inbytes,
	    [IPVS_STATS_ATTR_OUTBYTES] = &st->outbytes, [IPVS_STATS_ATTR_CPS] = &st->cps,
	    [IPVS_STATS_ATTR_INPPS] = &st->inpps,       [IPVS_STATS_ATTR_OUTPPS] = &st->outpps,
	    [IPVS_STATS_ATTR_INBPS] = &st->inbps,       [IPVS_STATS_ATTR_OUTBPS] = &st->outbps,
	};
	for (int i = 1; i <= IPVS_STATS_ATTR_MAX; i++) {
		if (!tb[i] || !field[i])
			continue;
		if (wide || i == IPVS_STATS_ATTR_INBYTES || i == IPVS_STATS_ATTR_OUTBYTES)
			*field[i] = nla_get_u64(tb[i]);
		else
			*field[i] = nla_get_u32(tb[i]);
	}
}

static void get_addr(struct nlattr *a, uint16_t af, dsr_ip_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->af = af;
	memcpy(ip->u.raw, nla_data(a), af == AF_INET ? 4 : 16);
}

static int parse_svc(struct nlattr *nest, dsr_svc_t *svc)
{
	struct nlattr *tb[IPVS_SVC_ATTR_MAX + 1];
	memset(svc, 0, sizeof(*svc));
	if (!nest || nla_parse_nested(tb, IPVS_SVC_ATTR_MAX, nest, svc_policy) < 0)
		return -EPROTO;
	if (!tb[IPVS_SVC_ATTR_AF] || !tb[IPVS_SVC_ATTR_SCHED_NAME] || !tb[IPVS_SVC_ATTR_FLAGS])
		return -EPROTO;
	svc->key.af = nla_get_u16(tb[IPVS_SVC_ATTR_AF]);
	if (svc->key.af != AF_INET && svc->key.af != AF_INET6)
		return -EPROTO;
	if (tb[IPVS_SVC_ATTR_FWMARK] && nla_get_u32(tb[IPVS_SVC_ATTR_FWMARK])) {
		svc->key.fwmark = nla_get_u32(tb[IPVS_SVC_ATTR_FWMARK]);
		svc->key.protocol = IPPROTO_TCP;
	} else {
		if (!tb[IPVS_SVC_ATTR_PROTOCOL] || !tb[IPVS_SVC_ATTR_ADDR] ||
		    !tb[IPVS_SVC_ATTR_PORT])
			return -EPROTO;
		svc->key.protocol = nla_get_u16(tb[IPVS_SVC_ATTR_PROTOCOL]);
		get_addr(tb[IPVS_SVC_ATTR_ADDR], svc->key.af, &svc->key.addr);
		svc->key.port = ntohs(nla_get_u16(tb[IPVS_SVC_ATTR_PORT]));
	}
	snprintf(svc->sched, sizeof(svc->sched), "%s",
	         (const char *)nla_data(tb[IPVS_SVC_ATTR_SCHED_NAME]));
	struct ip_vs_flags fl;
	memcpy(&fl, nla_data(tb[IPVS_SVC_ATTR_FLAGS]), sizeof(fl));
	svc->flags = fl.flags & DSR_SVC_F_MASK;
	if (tb[IPVS_SVC_ATTR_TIMEOUT])
		svc->timeout = nla_get_u32(tb[IPVS_SVC_ATTR_TIMEOUT]);
	if (tb[IPVS_SVC_ATTR_NETMASK])
		svc->netmask =
		    netmask_from_wire(svc->key.af, nla_get_u32(tb[IPVS_SVC_ATTR_NETMASK]));
	parse_stats(tb[IPVS_SVC_ATTR_STATS], tb[IPVS_SVC_ATTR_STATS64], &svc->stats);
	return 0;
}

static int parse_dest(struct nlattr *nest, uint16_t svc_af, dsr_dest_t *d)
{
	struct nlattr *tb[IPVS_DEST_ATTR_MAX + 1];
	memset(d, 0, sizeof(*d));
	if (!nest || nla_parse_nested(tb, IPVS_DEST_ATTR_MAX, nest, dest_policy) < 0)
		return -EPROTO;
	if (!tb[IPVS_DEST_ATTR_ADDR] || !tb[IPVS_DEST_ATTR_PORT] ||
	    !tb[IPVS_DEST_ATTR_FWD_METHOD] || !tb[IPVS_DEST_ATTR_WEIGHT])
		return -EPROTO;
	uint16_t af =
	    tb[IPVS_DEST_ATTR_ADDR_FAMILY] ? nla_get_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]) : svc_af;
	if (af != AF_INET && af != AF_INET6)
		return -EPROTO;
	get_addr(tb[IPVS_DEST_ATTR_ADDR], af, &d->addr);
	d->port = ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_PORT]));
	d->fwd = (dsr_fwd_t)(nla_get_u32(tb[IPVS_DEST_ATTR_FWD_METHOD]) & IP_VS_CONN_F_FWD_MASK);
	d->weight = nla_get_u32(tb[IPVS_DEST_ATTR_WEIGHT]);
	if (tb[IPVS_DEST_ATTR_U_THRESH])
		d->u_thresh = nla_get_u32(tb[IPVS_DEST_ATTR_U_THRESH]);
	if (tb[IPVS_DEST_ATTR_L_THRESH])
		d->l_thresh = nla_get_u32(tb[IPVS_DEST_ATTR_L_THRESH]);
	if (tb[IPVS_DEST_ATTR_ACTIVE_CONNS])
		d->active = nla_get_u32(tb[IPVS_DEST_ATTR_ACTIVE_CONNS]);
	if (tb[IPVS_DEST_ATTR_INACT_CONNS])
		d->inactive = nla_get_u32(tb[IPVS_DEST_ATTR_INACT_CONNS]);
	if (tb[IPVS_DEST_ATTR_PERSIST_CONNS])
		d->persist = nla_get_u32(tb[IPVS_DEST_ATTR_PERSIST_CONNS]);
	parse_stats(tb[IPVS_DEST_ATTR_STATS], tb[IPVS_DEST_ATTR_STATS64], &d->stats);
	return 0;
}

static int parse_daemon(struct nlattr *nest, dsr_daemon_t *d)
{
	struct nlattr *tb[IPVS_DAEMON_ATTR_MAX + 1];
	memset(d, 0, sizeof(*d));
	if (!nest || nla_parse_nested(tb, IPVS_DAEMON_ATTR_MAX, nest, daemon_policy) < 0)
		return -EPROTO;
	if (!tb[IPVS_DAEMON_ATTR_STATE] || !tb[IPVS_DAEMON_ATTR_MCAST_IFN] ||
	    !tb[IPVS_DAEMON_ATTR_SYNC_ID])
		return -EPROTO;
	d->state = nla_get_u32(tb[IPVS_DAEMON_ATTR_STATE]);
	if (d->state != DSR_SYNC_MASTER && d->state != DSR_SYNC_BACKUP)
		return -EPROTO;
	/* the policy bounds the length; the string need not end in the attribute */
	snprintf(d->ifname, sizeof(d->ifname), "%.*s", nla_len(tb[IPVS_DAEMON_ATTR_MCAST_IFN]),
	         (const char *)nla_data(tb[IPVS_DAEMON_ATTR_MCAST_IFN]));
	d->sync_id = nla_get_u32(tb[IPVS_DAEMON_ATTR_SYNC_ID]);
	if (tb[IPVS_DAEMON_ATTR_SYNC_MAXLEN])
		d->max_len = nla_get_u16(tb[IPVS_DAEMON_ATTR_SYNC_MAXLEN]);
	if (tb[IPVS_DAEMON_ATTR_MCAST_GROUP6]) {
		d->group.af = AF_INET6;
		memcpy(d->group.u.raw, nla_data(tb[IPVS_DAEMON_ATTR_MCAST_GROUP6]), 16);
	} else if (tb[IPVS_DAEMON_ATTR_MCAST_GROUP]) {
		d->group.af = AF_INET;
		memcpy(d->group.u.raw, nla_data(tb[IPVS_DAEMON_ATTR_MCAST_GROUP]), 4);
	}
	if (tb[IPVS_DAEMON_ATTR_MCAST_PORT])
		d->port = nla_get_u16(tb[IPVS_DAEMON_ATTR_MCAST_PORT]);
	if (tb[IPVS_DAEMON_ATTR_MCAST_TTL])
		d->ttl = nla_get_u8(tb[IPVS_DAEMON_ATTR_MCAST_TTL]);
	return 0;
}

/* Makes room for one more entry of size sz in r's array. */
static void *reply_slot(reply_t *r, void **arr, size_t sz)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *p = realloc(*arr, cap * sz);
		if (!p)
			return NULL;
		*arr = p;
		r->cap = cap;
	}
	return (char *)*arr + r->n * sz;
}

/* One message of a reply: an info, or one entry of a service or destination dump. */
static int parse_reply(struct nlmsghdr *nlh, reply_t *r)
{
	if (r->op == DSR_OP_INFO) {
		struct nlattr *tb[IPVS_INFO_ATTR_MAX + 1];
		if (genlmsg_parse(nlh, 0, tb, IPVS_INFO_ATTR_MAX, info_policy) < 0 ||
		    !tb[IPVS_INFO_ATTR_VERSION])
			return -EPROTO;
		r->info->version = nla_get_u32(tb[IPVS_INFO_ATTR_VERSION]);
		if (tb[IPVS_INFO_ATTR_CONN_TAB_SIZE])
			r->info->conn_tab_size = nla_get_u32(tb[IPVS_INFO_ATTR_CONN_TAB_SIZE]);
		return 0;
	}
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1];
	if (genlmsg_parse(nlh, 0, tb, IPVS_CMD_ATTR_MAX, cmd_policy) < 0)
		return -EPROTO;
	if (r->op == DSR_OP_SVC_DUMP) {
		dsr_svc_t *s = reply_slot(r, (void **)&r->svcs, sizeof(*s));
		if (!s)
			return -ENOMEM;
		int rc = parse_svc(tb[IPVS_CMD_ATTR_SERVICE], s);
		if (rc == 0)
			r->n++;
		return rc;
	}
	if (r->op == DSR_OP_DEST_DUMP) {
		dsr_dest_t *d = reply_slot(r, (void **)&r->dests, sizeof(*d));
		if (!d)
			return -ENOMEM;
		int rc = parse_dest(tb[IPVS_CMD_ATTR_DEST], r->svc_af, d);
		if (rc == 0)
			r->n++;
		return rc;
	}
	if (r->op == DSR_OP_DAEMON_DUMP) {
		int rc;
		if (r->n == 2) /* one master and one backup at most */
			return -EPROTO;
		rc = parse_daemon(tb[IPVS_CMD_ATTR_DAEMON], &r->daemons[r->n]);
		if (rc == 0)
			r->n++;
		return rc;
	}
	return 0;
}

/* ---- the socket ---- */

static int on_valid(struct nl_msg *msg, void *arg)
{
	reply_t *r = arg;
	if (!r)
		return NL_OK;
	int rc = parse_reply(nlmsg_hdr(msg), r);
	if (rc < 0 && r->err == 0)
		r->err = rc;
	return NL_OK; /* keep reading: a dump must be drained whatever we think of one entry */
}

/* Pulls the extended-ack message (NLMSGERR_ATTR_MSG) out of an error reply, if the kernel sent
 * one. libnl hands us the nlmsgerr, which sits right after its nlmsghdr. */
static void extack_text(const struct nlmsgerr *e, char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	buf[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= nlh->nlmsg_len)
		return;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + NLMSG_ALIGN(off)),
	              (int)(nlh->nlmsg_len - NLMSG_ALIGN(off)), NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG] && nla_len(tb[NLMSGERR_ATTR_MSG]) > 0)
		snprintf(buf, len, "%.*s", nla_len(tb[NLMSGERR_ATTR_MSG]),
		         (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
}

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	dsr_ipvs_t *h = arg;
	if (e->msg.nlmsg_seq != h->seq)
		return NL_SKIP;
	h->done = true;
	h->kerr = e->error;
	extack_text(e, h->kmsg, sizeof(h->kmsg));
	return NL_STOP;
}

/* An ack or the end of a dump. */
static int on_done(struct nl_msg *msg, void *arg)
{
	dsr_ipvs_t *h = arg;
	h->done = true;
	return NL_STOP;
}

/* Drops whatever answers an earlier request (one that timed out). */
static int on_seq(struct nl_msg *msg, void *arg)
{
	dsr_ipvs_t *h = arg;
	return nlmsg_hdr(msg)->nlmsg_seq == h->seq ? NL_OK : NL_SKIP;
}

static int nl_to_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -ETIMEDOUT;
	case NLE_PERM:
		return -EPERM;
	default:
		return -EPROTO;
	}
}

int dsr_ipvs_open(dsr_ipvs_t **out, char *err, size_t errlen)
{
	int rc;
	dsr_ipvs_t *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->sk = nl_socket_alloc();
	h->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!h->sk || !h->cb)
		abort();
	if ((rc = genl_connect(h->sk)) < 0) {
		snprintf(err, errlen, "cannot open a generic netlink socket: %s", nl_geterror(rc));
		rc = nl_to_errno(rc);
		goto fail;
	}
	/* Best effort: the kernel's own words for a rejected request, without our request echoed.
	 */
	int one = 1;
	int fd = nl_socket_get_fd(h->sk);
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	h->family = genl_ctrl_resolve(h->sk, IPVS_GENL_NAME);
	if (h->family < 0) {
		snprintf(err, errlen,
		         "generic netlink family " IPVS_GENL_NAME " not found: %s (%s)",
		         dsr_ipvs_strerror(DSR_OP_INFO, -ENOPROTOOPT), nl_geterror(h->family));
		rc = -ENOPROTOOPT;
		goto fail;
	}
	nl_socket_disable_auto_ack(h->sk);
	nl_cb_err(h->cb, NL_CB_CUSTOM, on_error, h);
	nl_cb_set(h->cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, h);
	nl_cb_set(h->cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, h);
	nl_cb_set(h->cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_seq, h);
	*out = h;
	return 0;
fail:
	dsr_ipvs_close(h);
	return rc;
}

void dsr_ipvs_close(dsr_ipvs_t *h)
{
	if (!h)
		return;
	nl_cb_put(h->cb);
	nl_socket_free(h->sk);
	free(h);
}

const char *dsr_ipvs_last_error(const dsr_ipvs_t *h)
{
	return h->last;
}

/* "add destination 10.0.0.11:80 to TCP 192.0.2.10:80" */
static void describe(dsr_op_t op, const dsr_svc_key_t *key, const dsr_dest_t *dest, char *buf,
                     size_t len)
{
	static const char *const verb[] = {
	    [DSR_OP_INFO] = "get IPVS info",
	    [DSR_OP_SVC_DUMP] = "dump IPVS services",
	    [DSR_OP_SVC_ADD] = "add service",
	    [DSR_OP_SVC_EDIT] = "edit service",
	    [DSR_OP_SVC_DEL] = "delete service",
	    [DSR_OP_DEST_DUMP] = "dump destinations of",
	    [DSR_OP_DEST_ADD] = "add destination",
	    [DSR_OP_DEST_EDIT] = "edit destination",
	    [DSR_OP_DEST_DEL] = "delete destination",
	    [DSR_OP_DAEMON_START] = "start",
	    [DSR_OP_DAEMON_STOP] = "stop",
	    [DSR_OP_DAEMON_DUMP] = "dump sync daemons",
	};
	static const char *const prep[] = {
	    [DSR_OP_DEST_ADD] = "to", [DSR_OP_DEST_EDIT] = "of", [DSR_OP_DEST_DEL] = "from"};
	char k[80] = "", d[64] = "";
	if (key)
		dsr_svc_key_format(key, k, sizeof(k));
	if (dest)
		dsr_dest_format(dest, d, sizeof(d));
	if (dest)
		snprintf(buf, len, "%s %s %s %s", verb[op], d, prep[op], k);
	else if (key)
		snprintf(buf, len, "%s %s", verb[op], k);
	else
		snprintf(buf, len, "%s", verb[op]);
}

/* Sends msg (built, taken over) and reads its whole reply into r (may be NULL for plain acks);
 * on failure, h->last says what (the text of describe or describe_daemon) and why. */
static int exchange(dsr_ipvs_t *h, dsr_op_t op, struct nl_msg *msg, int built, reply_t *r,
                    const char *what)
{
	int rc = built;
	if (rc < 0)
		goto out;
	if ((rc = nl_send_auto(h->sk, msg)) < 0) {
		rc = nl_to_errno(rc);
		goto out;
	}
	h->seq = nlmsg_hdr(msg)->nlmsg_seq;
	h->done = false;
	nl_cb_set(h->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, r);
	/* one nl_recvmsgs reads one datagram (or one whole dump): go on until the request's end */
	do
		rc = nl_recvmsgs(h->sk, h->cb);
	while (!h->done && rc >= 0);
	nl_cb_set(h->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, NULL);
	if (h->kerr)
		rc = h->kerr;
	else if (rc < 0)
		rc = nl_to_errno(rc);
	else if (r && r->err)
		rc = r->err;
	else
		rc = 0;
out:
	nlmsg_free(msg);
	if (rc < 0)
		snprintf(h->last, sizeof(h->last), "%s: %s%s%s%s", what, dsr_ipvs_strerror(op, rc),
		         h->kmsg[0] ? " (kernel: " : "", h->kmsg, h->kmsg[0] ? ")" : "");
	return rc;
}

static struct nl_msg *request_start(dsr_ipvs_t *h)
{
	struct nl_msg *msg = nlmsg_alloc();
	if (!msg)
		abort();
	h->kerr = 0;
	h->kmsg[0] = '\0';
	h->last[0] = '\0';
	return msg;
}

/* Sends one request and reads its whole reply into r (may be NULL for plain acks). */
static int run(dsr_ipvs_t *h, dsr_op_t op, const dsr_svc_key_t *key, const dsr_svc_t *svc,
               const dsr_dest_t *dest, reply_t *r)
{
	struct nl_msg *msg = request_start(h);
	char what[200];
	describe(op, key, dest, what, sizeof(what));
	return exchange(h, op, msg, build_request(msg, h->family, op, key, svc, dest), r, what);
}

static const char *daemon_state_name(uint32_t state)
{
	return state == DSR_SYNC_MASTER ? "master" : state == DSR_SYNC_BACKUP ? "backup" : "?";
}

/* "start master sync daemon on eth1, sync id 7", "stop backup sync daemon" */
static void describe_daemon(dsr_op_t op, const dsr_daemon_t *d, char *buf, size_t len)
{
	char what[160];
	if (op == DSR_OP_DAEMON_DUMP) {
		snprintf(buf, len, "dump sync daemons");
		return;
	}
	if (op == DSR_OP_DAEMON_START)
		dsr_daemon_format(d, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "%s sync daemon", daemon_state_name(d->state));
	snprintf(buf, len, "%s %s", op == DSR_OP_DAEMON_START ? "start" : "stop", what);
}

static int run_daemon(dsr_ipvs_t *h, dsr_op_t op, const dsr_daemon_t *d, reply_t *r)
{
	struct nl_msg *msg = request_start(h);
	char what[200];
	describe_daemon(op, d, what, sizeof(what));
	return exchange(h, op, msg, build_daemon_request(msg, h->family, op, d), r, what);
}

int dsr_ipvs_daemon_start(dsr_ipvs_t *h, const dsr_daemon_t *d)
{
	return run_daemon(h, DSR_OP_DAEMON_START, d, NULL);
}

int dsr_ipvs_daemon_stop(dsr_ipvs_t *h, uint32_t state)
{
	dsr_daemon_t d = {.state = state};
	return run_daemon(h, DSR_OP_DAEMON_STOP, &d, NULL);
}

int dsr_ipvs_daemons(dsr_ipvs_t *h, dsr_daemon_t out[2], size_t *n)
{
	reply_t r = {.op = DSR_OP_DAEMON_DUMP, .daemons = out};
	int rc;
	memset(out, 0, 2 * sizeof(*out));
	*n = 0;
	rc = run_daemon(h, DSR_OP_DAEMON_DUMP, NULL, &r);
	if (rc == 0)
		*n = r.n;
	return rc;
}

int dsr_ipvs_info(dsr_ipvs_t *h, dsr_info_t *info)
{
	memset(info, 0, sizeof(*info));
	reply_t r = {.op = DSR_OP_INFO, .info = info};
	return run(h, DSR_OP_INFO, NULL, NULL, NULL, &r);
}

int dsr_ipvs_services(dsr_ipvs_t *h, dsr_svc_t **svcs, size_t *n)
{
	reply_t r = {.op = DSR_OP_SVC_DUMP};
	int rc = run(h, DSR_OP_SVC_DUMP, NULL, NULL, NULL, &r);
	if (rc < 0) {
		free(r.svcs);
		return rc;
	}
	*svcs = r.svcs;
	*n = r.n;
	return 0;
}

int dsr_ipvs_dests(dsr_ipvs_t *h, const dsr_svc_key_t *key, dsr_dest_t **dests, size_t *n)
{
	reply_t r = {.op = DSR_OP_DEST_DUMP, .svc_af = key->af};
	int rc = run(h, DSR_OP_DEST_DUMP, key, NULL, NULL, &r);
	if (rc < 0) {
		free(r.dests);
		return rc;
	}
	*dests = r.dests;
	*n = r.n;
	return 0;
}

int dsr_ipvs_dump(dsr_ipvs_t *h, dsr_table_t *out)
{
	dsr_svc_t *svcs = NULL;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	int rc = dsr_ipvs_services(h, &svcs, &n);
	if (rc < 0)
		return rc;
	out->svcs = calloc(n ? n : 1, sizeof(*out->svcs));
	if (!out->svcs)
		abort();
	for (size_t i = 0; i < n; i++) {
		dsr_tsvc_t *t = &out->svcs[out->nsvcs];
		t->svc = svcs[i];
		rc = dsr_ipvs_dests(h, &svcs[i].key, &t->dests, &t->ndests);
		if (rc == -ESRCH || rc == -ENOENT)
			continue; /* deleted by someone else between the two dumps */
		if (rc < 0) {
			dsr_table_free(out);
			break;
		}
		out->nsvcs++;
	}
	free(svcs);
	return rc == -ESRCH || rc == -ENOENT ? 0 : rc;
}

int dsr_ipvs_svc_add(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	return run(h, DSR_OP_SVC_ADD, &svc->key, svc, NULL, NULL);
}

int dsr_ipvs_svc_edit(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	return run(h, DSR_OP_SVC_EDIT, &svc->key, svc, NULL, NULL);
}

int dsr_ipvs_svc_del(dsr_ipvs_t *h, const dsr_svc_key_t *key)
{
	return run(h, DSR_OP_SVC_DEL, key, NULL, NULL, NULL);
}

int dsr_ipvs_dest_add(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	return run(h, DSR_OP_DEST_ADD, key, NULL, dest, NULL);
}

int dsr_ipvs_dest_edit(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	return run(h, DSR_OP_DEST_EDIT, key, NULL, dest, NULL);
}

int dsr_ipvs_dest_del(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	return run(h, DSR_OP_DEST_DEL, key, NULL, dest, NULL);
}

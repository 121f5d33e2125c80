/*
 * Steering of handed-off flows with nftables (issue 12, ../shared/HANDOFF.md): after the switch,
 * the client's later packets of a handed-off connection still arrive at the director (they are
 * addressed to the VIP); a firewall mark set from the flow's 4-tuple sends them to the node's
 * IPVS firewall-mark service (one DR service per node: not this module). Before the switch, the
 * flow is frozen (its packets dropped) so that nothing of it reaches the director's own stack
 * while its socket is being dumped.
 *
 * s3lb owns one table (default `inet s3lb_handoff`) and nothing else in the ruleset:
 *
 *   table inet s3lb_handoff {
 *     set frozen4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; flags timeout; }
 *     map steer4  { type ipv4_addr . inet_service . ipv4_addr . inet_service : mark;
 *                   flags timeout; }
 *     (frozen6, steer6: the same with ipv6_addr)
 *     chain prerouting {
 *       type filter hook prerouting priority raw; policy accept;
 *       ip saddr . tcp sport . ip daddr . tcp dport @frozen4 drop
 *       ip6 saddr . tcp sport . ip6 daddr . tcp dport @frozen6 drop
 *       meta mark set ip saddr . tcp sport . ip daddr . tcp dport map @steer4 notrack
 *       meta mark set ip6 saddr . tcp sport . ip6 daddr . tcp dport map @steer6 notrack
 *     }
 *   }
 *
 * Keys are (client address, client port, VIP address, VIP port) as the director sees an
 * incoming packet. The chain runs at priority raw, before conntrack, so `notrack` keeps steered
 * flows out of the conntrack table (IPVS hooks at LOCAL_IN, after conntrack; an ESTABLISHED
 * entry would otherwise linger for days). A packet that matches no element is left alone (a
 * failed map lookup ends the rule).
 *
 * The state lives in the kernel, not in s3lb: a restart keeps every steered flow working, and
 * ho_steer_list rebuilds the view. ho_steer_open creates what is missing and rewrites only the
 * table's own chain, in one transaction, keeping the elements. Every change is one nftables
 * transaction (all or nothing). Each element carries a timeout, the safety net when s3lb misses
 * a flow's end: freezes are short (seconds: a director that dies mid-switch lets the client's
 * packets reach its stack again, which resets them: a prompt failure, not a hang), steering
 * entries long (the longest response a node may serve; ho_steer_add again refreshes).
 *
 * libnftables is not thread-safe: one ho_steer_t is used by one thread at a time. Calls block
 * for one netlink round trip (~70 us measured; the first after start 1-4 ms, cold cache).
 * Needs CAP_NET_ADMIN in the network namespace. Every function returns 0 or a negative errno
 * and, on failure, writes a line into msg (msglen bytes) that names the operation and quotes
 * nftables' error.
 */
#ifndef S3LB_HANDOFF_STEER_H
#define S3LB_HANDOFF_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HO_STEER_TABLE "s3lb_handoff" /* in family inet */

/* One direction of a TCP connection, as the director receives it. */
typedef struct ho_flow_s {
	int family;                            /* AF_INET or AF_INET6 */
	uint8_t client_addr[16], vip_addr[16]; /* network order; 4 bytes used for AF_INET */
	uint16_t client_port, vip_port;        /* host order */
} ho_flow_t;

typedef struct ho_steer_s ho_steer_t;

typedef struct ho_steer_opts_s {
	const char *table;          /* NULL: HO_STEER_TABLE */
	uint64_t steer_timeout_ms;  /* an entry's lifetime; 0: 1 hour. Whole seconds or ms. */
	uint64_t freeze_timeout_ms; /* a freeze's lifetime; 0: 5 seconds */
} ho_steer_opts_t;

/* Creates the table's sets, maps and chain where missing and (re)writes the chain's rules,
 * all in one transaction; existing elements stay. opts NULL: the defaults. */
__attribute__((warn_unused_result)) int ho_steer_open(const ho_steer_opts_t *opts, ho_steer_t **out,
                                                      char *msg, size_t msglen);
/* Frees the handle; the kernel state stays (steered flows keep working). NULL is fine. */
void ho_steer_close(ho_steer_t *s);
/* Deletes s3lb's table and everything in it (tests, or an operator's `teardown`), then frees
 * the handle. A table that is already gone is success. */
__attribute__((warn_unused_result)) int ho_steer_destroy(ho_steer_t *s, char *msg, size_t msglen);

/* Drops the flow's packets from now on (HANDOFF.md step 1). An existing freeze stays. */
__attribute__((warn_unused_result)) int ho_steer_freeze(ho_steer_t *s, const ho_flow_t *f,
                                                        char *msg, size_t msglen);
/* Ends a freeze without steering (the handoff failed before the switch: the director serves
 * the request itself). A flow that is not frozen is success. */
__attribute__((warn_unused_result)) int ho_steer_thaw(ho_steer_t *s, const ho_flow_t *f, char *msg,
                                                      size_t msglen);
/* The switch (HANDOFF.md step 7), in one transaction: the flow's freeze ends and its packets
 * get `mark`. An older steering entry of the same 4-tuple (a client port reused after a missed
 * end) is replaced; a freeze that already expired is no error. */
__attribute__((warn_unused_result)) int ho_steer_switch(ho_steer_t *s, const ho_flow_t *f,
                                                        uint32_t mark, char *msg, size_t msglen);
/* Steers the flow to `mark` without a freeze, replacing an older entry of the 4-tuple and
 * restarting its timeout (also the way to refresh one). */
__attribute__((warn_unused_result)) int ho_steer_add(ho_steer_t *s, const ho_flow_t *f,
                                                     uint32_t mark, char *msg, size_t msglen);
/* Ends the flow's steering (and a freeze, if any). Absent entries are success. */
__attribute__((warn_unused_result)) int ho_steer_remove(ho_steer_t *s, const ho_flow_t *f,
                                                        char *msg, size_t msglen);

typedef struct ho_steer_entry_s {
	ho_flow_t flow;
	bool frozen; /* a freeze (mark unused), else a steering entry */
	uint32_t mark;
	uint64_t expires_s; /* seconds left before the kernel drops it, as nftables reports */
} ho_steer_entry_t;

/* Every freeze and steering entry in the table (at start, to rebuild the view): *out is an
 * array of *n entries (malloc; free it). */
__attribute__((warn_unused_result)) int ho_steer_list(ho_steer_t *s, ho_steer_entry_t **out,
                                                      size_t *n, char *msg, size_t msglen);

#endif

/*
 * Balancers: pick one node of a pool for a request, skipping nodes that are not available and
 * nodes this request already tried. Behind a small const vtable so a pool holds one instance.
 * Runs on the main loop only.
 */
#ifndef S3LB_GATEWAY_BALANCER_H
#define S3LB_GATEWAY_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* What a balancer may look at of a node; owned by the pool, updated by it. */
typedef struct gw_lb_node_s {
	const char *name;     /* stable identity for hashing */
	uint32_t weight;      /* configured weight, >= 1 */
	uint32_t outstanding; /* requests in flight to this node */
	bool available;       /* UP and below its connection limit */
} gw_lb_node_t;

typedef struct gw_balancer_s gw_balancer_t;

/*
 * nodes[] must stay at the same address and count for the life of the balancer. Returns NULL
 * only for an unknown kind (allocation failure aborts).
 */
gw_balancer_t *gw_balancer_new(lb_balance_t kind, const gw_lb_node_t *nodes, size_t n);
void gw_balancer_free(gw_balancer_t *b);

/*
 * Restarts the random sequence of a least-requests balancer (the others do not use it). A new
 * balancer is seeded from the clock, the process id and an instance count, so that no two
 * instances (processes, workers, reloads) move in lockstep; tests seed it to reproduce a run.
 */
void gw_balancer_seed(gw_balancer_t *b, uint64_t seed);

/*
 * Returns the index of the chosen node, or -1 when every node is unavailable or tried.
 * tried: n bytes, non-zero for nodes this request already used (may be NULL).
 * key: bytes to hash for LB_BALANCE_HASH_KEY ("bucket/key"); ignored by the others.
 */
int gw_balancer_pick(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len);

#endif

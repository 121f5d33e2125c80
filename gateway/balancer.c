/*
 * The three balancers of a pool, behind one const vtable:
 *
 *   round-robin     smooth weighted round-robin (as nginx): every pick adds each eligible node's
 *                   weight to its current weight, takes the node with the highest current weight
 *                   and subtracts the eligible total from it. Over a cycle of sum(weights) picks
 *                   each node is chosen exactly weight times, spread out rather than in bursts.
 *   least-requests  power of two choices: two distinct random eligible nodes, the one with fewer
 *                   outstanding requests per unit of weight wins. Avoids the herd that strict
 *                   "least" causes when many picks see the same counters.
 *   hash-key        weighted rendezvous hashing on "bucket/key": each node scores
 *                   -weight / ln(u(node, key)) and the highest score wins. Removing a node moves
 *                   only the keys it owned; a tried or unavailable node passes its keys to each
 *                   key's next-best node, which is the owner the key would have without it.
 *
 * "Eligible" is available and not in tried[]. Runs on the main loop only.
 */
#include "gateway/balancer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct gw_balancer_vt_s {
	int (*pick)(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len);
} gw_balancer_vt_t;

struct gw_balancer_s {
	const gw_balancer_vt_t *vt;
	const gw_lb_node_t *nodes; /* owned by the pool */
	size_t n;
	uint64_t rng; /* splitmix64 state (least-requests) */
	/* Per node: current weight (round-robin) or hash of the name (hash-key). */
	union {
		int64_t current;
		uint64_t name_hash;
	} slot[];
};

/* Instances made by this process: each gets a seed of its own even within one clock tick. */
static _Atomic uint64_t instances;

static bool eligible(const gw_balancer_t *b, const uint8_t *tried, size_t i)
{
	return b->nodes[i].available && (tried == NULL || tried[i] == 0);
}

/* ---- hashing and random numbers ---- */

/* The murmur3 64-bit finalizer: every input bit affects every output bit. */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* FNV-1a over the bytes, then the finalizer to fix FNV's weak high bits. */
static uint64_t hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h ^ len);
}

static uint64_t splitmix64(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

/* Uniform in [0, bound) without modulo bias worth speaking of (Lemire's multiply-shift). */
static size_t rand_below(uint64_t *state, size_t bound)
{
	return (size_t)(((unsigned __int128)splitmix64(state) * bound) >> 64);
}

/*
 * Natural logarithm of a positive normal double, within a few ulp. The gateway does not link
 * libm and this is the one transcendental function it needs. d = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...) with
 * s = (m - 1) / (m + 1), |s| < 0.172, so 14 terms are below double precision.
 */
static double ln_pos(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof(bits));
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	double m;
	memcpy(&m, &bits, sizeof(m));
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	double s = (m - 1.0) / (m + 1.0);
	double s2 = s * s;
	double sum = 0.0;
	for (int k = 27; k >= 1; k -= 2) /* Horner, smallest terms first */
		sum = sum * s2 + 1.0 / k;
	return 2.0 * s * sum + e * 0.69314718055994530942;
}

/* ---- smooth weighted round-robin ---- */

static int rr_pick(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len)
{
	int64_t total = 0;
	int best = -1;
	for (size_t i = 0; i < b->n; i++) {
		if (!eligible(b, tried, i))
			continue;
		b->slot[i].current += b->nodes[i].weight;
		total += b->nodes[i].weight;
		if (best < 0 || b->slot[i].current > b->slot[best].current)
			best = (int)i;
	}
	if (best >= 0)
		b->slot[best].current -= total;
	return best;
}

/* ---- least outstanding requests, power of two choices ---- */

/* Index of the k-th (from 0) eligible node. */
static size_t nth_eligible(const gw_balancer_t *b, const uint8_t *tried, size_t k)
{
	size_t i = 0;
	for (;; i++) {
		if (eligible(b, tried, i) && k-- == 0)
			break;
	}
	return i;
}

static int lr_pick(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len)
{
	size_t m = 0;
	for (size_t i = 0; i < b->n; i++)
		m += eligible(b, tried, i);
	if (m == 0)
		return -1;
	if (m == 1)
		return (int)nth_eligible(b, tried, 0);

	size_t r1 = rand_below(&b->rng, m);
	size_t r2 = rand_below(&b->rng, m - 1);
	if (r2 >= r1)
		r2++;
	size_t x = nth_eligible(b, tried, r1);
	size_t y = nth_eligible(b, tried, r2);
	/* outstanding_x / weight_x vs outstanding_y / weight_y, without division. */
	uint64_t lx = (uint64_t)b->nodes[x].outstanding * b->nodes[y].weight;
	uint64_t ly = (uint64_t)b->nodes[y].outstanding * b->nodes[x].weight;
	return (int)(ly < lx ? y : x);
}

/* ---- weighted rendezvous hashing ---- */

static int hash_pick(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len)
{
	uint64_t hk = hash64(key, key != NULL ? key_len : 0);
	int best = -1;
	double best_score = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (!eligible(b, tried, i))
			continue;
		/* 53 random bits, centred in their interval: u is in (0, 1), never 0 or 1. */
		uint64_t h = mix64(hk ^ b->slot[i].name_hash);
		double u = ((double)(h >> 11) + 0.5) * 0x1.0p-53;
		double score = -(double)b->nodes[i].weight / ln_pos(u);
		if (best < 0 || score > best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	return best;
}

static const gw_balancer_vt_t rr_vt = {.pick = rr_pick};
static const gw_balancer_vt_t lr_vt = {.pick = lr_pick};
static const gw_balancer_vt_t hash_vt = {.pick = hash_pick};

gw_balancer_t *gw_balancer_new(lb_balance_t kind, const gw_lb_node_t *nodes, size_t n)
{
	const gw_balancer_vt_t *vt;
	switch (kind) {
	case LB_BALANCE_ROUND_ROBIN:
		vt = &rr_vt;
		break;
	case LB_BALANCE_LEAST_REQUESTS:
		vt = &lr_vt;
		break;
	case LB_BALANCE_HASH_KEY:
		vt = &hash_vt;
		break;
	default:
		return NULL;
	}
	gw_balancer_t *b = calloc(1, sizeof(*b) + n * sizeof(b->slot[0]));
	if (b == NULL)
		abort(); /* small control allocation (STYLE: may abort) */
	b->vt = vt;
	b->nodes = nodes;
	b->n = n;
	/* Seeded per instance (clock, process, instance count): pools of several s3lb processes,
	 * workers or reloads must not make the same least-requests choices in lockstep. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	gw_balancer_seed(b, mix64(((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
	                          ((uint64_t)getpid() << 40) ^
	                          (atomic_fetch_add(&instances, 1) * 0x9E3779B97F4A7C15ULL)));
	if (kind == LB_BALANCE_HASH_KEY) {
		for (size_t i = 0; i < n; i++)
			b->slot[i].name_hash = hash64(nodes[i].name, strlen(nodes[i].name));
	}
	return b;
}

void gw_balancer_seed(gw_balancer_t *b, uint64_t seed)
{
	b->rng = seed;
}

void gw_balancer_free(gw_balancer_t *b)
{
	free(b);
}

int gw_balancer_pick(gw_balancer_t *b, const uint8_t *tried, const char *key, size_t key_len)
{
	return b->vt->pick(b, tried, key, key_len);
}

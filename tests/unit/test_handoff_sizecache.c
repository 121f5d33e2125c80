/* handoff/sizecache: LRU order, both bounds, update, delete, learning from responses, Range
 * arithmetic. Includes the .c to check the hash and the list against each other. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "handoff/sizecache.c"

#define S(x) x, strlen(x)

static bool has(ho_sizecache_t *c, const char *b, const char *k, uint64_t *size)
{
	uint64_t dummy;

	return ho_sizecache_get(c, S(b), S(k), size != NULL ? size : &dummy);
}

/* Walks table and list: same entries, counts and byte total as recorded. */
static void check_consistent(ho_sizecache_t *c)
{
	size_t n = 0, bytes = 0, in_table = 0;

	for (ent_t *e = c->head.next; e != &c->head; e = e->next) {
		assert_ptr_equal(e->next->prev, e);
		n++;
		bytes += e->blen + e->klen;
	}
	for (size_t i = 0; i <= c->mask; i++)
		for (ent_t *e = c->table[i]; e != NULL; e = e->hnext) {
			assert_ptr_equal(*e->hpprev, e);
			assert_int_equal(e->hash & c->mask, i);
			in_table++;
		}
	assert_int_equal(n, c->entries);
	assert_int_equal(in_table, c->entries);
	assert_int_equal(bytes, c->bytes);
	assert_true(c->entries <= c->max_entries);
	assert_true(c->bytes <= c->max_bytes);
}

static void test_bad_args(void **state)
{
	ho_sizecache_t *c = (ho_sizecache_t *)1;

	(void)state;
	assert_int_equal(ho_sizecache_new(0, 100, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(ho_sizecache_new(10, 0, &c), -EINVAL);
	ho_sizecache_free(NULL);
}

static void test_eviction_order(void **state)
{
	ho_sizecache_t *c;
	char key[16];
	uint64_t size;

	(void)state;
	assert_int_equal(ho_sizecache_new(3, 1 << 20, &c), 0);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k1"), 1), 0);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k2"), 2), 0);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k3"), 3), 0);
	/* a lookup makes k1 the most recently used: k2 is the oldest now */
	assert_true(has(c, "b", "k1", &size));
	assert_int_equal(size, 1);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k4"), 4), 0);
	assert_false(has(c, "b", "k2", NULL));
	assert_true(has(c, "b", "k1", NULL));
	assert_true(has(c, "b", "k3", NULL));
	assert_true(has(c, "b", "k4", NULL));
	check_consistent(c);
	/* newest first: k4 k3 k1 (the lookups above); after a lookup of k1: k1 k4 k3, so k5
	 * evicts k3 */
	assert_true(has(c, "b", "k1", NULL));
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k5"), 5), 0);
	assert_false(has(c, "b", "k3", NULL));
	check_consistent(c);

	/* many more than the bound: only the last three stay */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "x%d", i);
		assert_int_equal(ho_sizecache_put(c, S("b"), S(key), (uint64_t)i), 0);
	}
	check_consistent(c);
	assert_int_equal(c->entries, 3);
	assert_true(has(c, "b", "x999", &size));
	assert_int_equal(size, 999);
	assert_true(has(c, "b", "x997", NULL));
	assert_false(has(c, "b", "x996", NULL));

	ho_sizecache_stats_t st;
	ho_sizecache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 2 + 1000);
	assert_true(st.hits > 0 && st.misses >= 3);
	ho_sizecache_free(c);
}

static void test_bound_by_bytes(void **state)
{
	ho_sizecache_t *c;
	char big[40];

	(void)state;
	/* 20 bytes of names: "bkt" + 7-byte keys are 10 bytes each, two fit */
	assert_int_equal(ho_sizecache_new(100, 20, &c), 0);
	assert_int_equal(ho_sizecache_put(c, S("bkt"), S("key-one"), 1), 0);
	assert_int_equal(ho_sizecache_put(c, S("bkt"), S("key-two"), 2), 0);
	assert_int_equal(c->bytes, 20);
	assert_int_equal(ho_sizecache_put(c, S("bkt"), S("key-3"), 3), 0); /* 8 more: one goes */
	assert_false(has(c, "bkt", "key-one", NULL));
	assert_true(has(c, "bkt", "key-two", NULL));
	assert_true(has(c, "bkt", "key-3", NULL));
	assert_int_equal(c->bytes, 18);
	check_consistent(c);
	/* a name longer than the whole bound is not stored, and evicts nothing */
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ho_sizecache_put(c, S("bkt"), S(big), 9), 0);
	assert_false(has(c, "bkt", big, NULL));
	assert_int_equal(c->entries, 2);
	/* exactly the bound fits (and evicts the rest) */
	big[17] = '\0';
	assert_int_equal(ho_sizecache_put(c, S("bkt"), S(big), 9), 0);
	assert_true(has(c, "bkt", big, NULL));
	assert_int_equal(c->entries, 1);
	assert_int_equal(c->bytes, 20);
	check_consistent(c);
	ho_sizecache_free(c);
}

static void test_update_and_delete(void **state)
{
	ho_sizecache_t *c;
	uint64_t size;

	(void)state;
	assert_int_equal(ho_sizecache_new(2, 1000, &c), 0);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("a"), 10), 0);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("z"), 20), 0);
	/* an update keeps one entry and makes it the newest: z is evicted next */
	assert_int_equal(ho_sizecache_put(c, S("b"), S("a"), 11), 0);
	assert_int_equal(c->entries, 2);
	assert_true(has(c, "b", "a", &size));
	assert_int_equal(size, 11);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("n"), 30), 0);
	assert_false(has(c, "b", "z", NULL));
	/* bucket and key boundary matters */
	assert_int_equal(ho_sizecache_put(c, S("ab"), S("c"), 1), 0);
	assert_false(has(c, "a", "bc", NULL));
	/* delete, twice, and of something never there */
	ho_sizecache_del(c, S("ab"), S("c"));
	ho_sizecache_del(c, S("ab"), S("c"));
	ho_sizecache_del(c, S("nope"), S("c"));
	assert_false(has(c, "ab", "c", NULL));
	check_consistent(c);
	ho_sizecache_free(c);
}

static void test_learn(void **state)
{
	ho_sizecache_t *c;
	uint64_t size;

	(void)state;
	assert_int_equal(ho_sizecache_new(16, 1000, &c), 0);
	ho_sizecache_learn(c, S("b"), S("k"), 200, S("1048576"), NULL, 0);
	assert_true(has(c, "b", "k", &size));
	assert_int_equal(size, 1048576);
	/* 206: the complete length, not the part's */
	ho_sizecache_learn(c, S("b"), S("k"), 206, S("100"), S("bytes 0-99/5000"));
	assert_true(has(c, "b", "k", &size));
	assert_int_equal(size, 5000);
	ho_sizecache_learn(c, S("b"), S("k"), 416, NULL, 0, S("bytes */77"));
	assert_true(has(c, "b", "k", &size));
	assert_int_equal(size, 77);
	/* what teaches nothing leaves the old size */
	static const char *const bad_cl[] = {
	    "", "-1", "+5", "1 2", "0x10", "18446744073709551616", "99999999999999999999", "12a"};
	for (size_t i = 0; i < sizeof(bad_cl) / sizeof(bad_cl[0]); i++) {
		ho_sizecache_learn(c, S("b"), S("k"), 200, S(bad_cl[i]), NULL, 0);
		assert_true(has(c, "b", "k", &size));
		assert_int_equal(size, 77);
	}
	static const char *const bad_cr[] = {"bytes 0-99/*",
	                                     "bytes 9-1/100",
	                                     "items 0-1/100",
	                                     "bytes 0-99",
	                                     "bytes 0-99/100x",
	                                     "bytes -1/100",
	                                     "bytes 0-1/18446744073709551616"};
	for (size_t i = 0; i < sizeof(bad_cr) / sizeof(bad_cr[0]); i++) {
		ho_sizecache_learn(c, S("b"), S("k"), 206, S("2"), S(bad_cr[i]));
		assert_true(has(c, "b", "k", &size));
		assert_int_equal(size, 77);
	}
	ho_sizecache_learn(c, S("b"), S("k"), 200, S(" 18446744073709551615 "), NULL, 0);
	assert_true(has(c, "b", "k", &size));
	assert_int_equal(size, UINT64_MAX);
	ho_sizecache_learn(c, S("b"), S("k"), 304, NULL, 0, NULL, 0); /* nothing */
	assert_true(has(c, "b", "k", NULL));
	ho_sizecache_learn(c, S("b"), S("k"), 200, NULL, 0, NULL, 0); /* chunked: nothing */
	assert_true(has(c, "b", "k", NULL));
	ho_sizecache_learn(c, S("b"), S("k"), 404, NULL, 0, NULL, 0); /* gone */
	assert_false(has(c, "b", "k", NULL));
	ho_sizecache_free(c);
}

typedef struct range_case_s {
	const char *range; /* NULL: no Range header */
	bool known;
	uint64_t size;
	ho_size_kind_t kind;
	uint64_t bytes;
} range_case_t;

static void test_range_arithmetic(void **state)
{
	static const range_case_t cases[] = {
	    {NULL, true, 1000, HO_SIZE_EXACT, 1000},
	    {NULL, false, 0, HO_SIZE_UNKNOWN, 0},
	    {"bytes=0-99", true, 1000, HO_SIZE_EXACT, 100},
	    {"bytes=0-0", true, 1000, HO_SIZE_EXACT, 1},
	    {"bytes=900-1999", true, 1000, HO_SIZE_EXACT, 100}, /* clipped to the object */
	    {"bytes=1000-1999", true, 1000, HO_SIZE_EXACT, 0},  /* 416 */
	    {"bytes=0-99", false, 0, HO_SIZE_AT_MOST, 100},
	    {"bytes=500-", true, 1000, HO_SIZE_EXACT, 500}, /* open */
	    {"bytes=0-", true, 1000, HO_SIZE_EXACT, 1000},
	    {"bytes=1000-", true, 1000, HO_SIZE_EXACT, 0},
	    {"bytes=500-", false, 0, HO_SIZE_UNKNOWN, 0},
	    {"bytes=-100", true, 1000, HO_SIZE_EXACT, 100}, /* suffix */
	    {"bytes=-5000", true, 1000, HO_SIZE_EXACT, 1000},
	    {"bytes=-0", true, 1000, HO_SIZE_EXACT, 0},
	    {"bytes=-100", false, 0, HO_SIZE_AT_MOST, 100},
	    {"bytes=0-9,20-29", true, 1000, HO_SIZE_UNKNOWN, 0}, /* multi-range */
	    {"bytes=-1,0-1", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=9-1", true, 1000, HO_SIZE_UNKNOWN, 0}, /* malformed */
	    {"bytes=", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=-", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=a-b", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=1-2x", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"items=0-1", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=+1-2", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"BYTES=0-9", true, 1000, HO_SIZE_EXACT, 10},
	    {" bytes=0-9 ", true, 1000, HO_SIZE_EXACT, 10},
	    {"bytes=0-9", true, 0, HO_SIZE_EXACT, 0}, /* empty object */
	    {"bytes=-9", true, 0, HO_SIZE_EXACT, 0},
	    /* overflow: every number at and beyond UINT64_MAX */
	    {"bytes=0-18446744073709551615", false, 0, HO_SIZE_AT_MOST, UINT64_MAX},
	    {"bytes=1-18446744073709551615", false, 0, HO_SIZE_AT_MOST, UINT64_MAX},
	    {"bytes=0-18446744073709551615", true, UINT64_MAX, HO_SIZE_EXACT, UINT64_MAX},
	    {"bytes=0-18446744073709551616", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=18446744073709551616-", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=-18446744073709551616", true, 1000, HO_SIZE_UNKNOWN, 0},
	    {"bytes=-18446744073709551615", true, 1000, HO_SIZE_EXACT, 1000},
	    {"bytes=18446744073709551615-", true, UINT64_MAX, HO_SIZE_EXACT, 0},
	    {"bytes=18446744073709551614-", true, UINT64_MAX, HO_SIZE_EXACT, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const range_case_t *t = &cases[i];
		ho_size_t r =
		    ho_range_bytes(t->range, t->range ? strlen(t->range) : 0, t->known, t->size);

		if (r.kind != t->kind || r.bytes != t->bytes)
			fail_msg("range '%s' on %s%llu: got kind %d bytes %llu, want %d %llu",
			         t->range ? t->range : "(none)", t->known ? "" : "unknown ",
			         (unsigned long long)t->size, r.kind, (unsigned long long)r.bytes,
			         t->kind, (unsigned long long)t->bytes);
	}
}

static void test_request(void **state)
{
	ho_sizecache_t *c;
	ho_size_t r;

	(void)state;
	assert_int_equal(ho_sizecache_new(16, 1000, &c), 0);
	r = ho_sizecache_request(c, S("b"), S("k"), NULL, 0);
	assert_int_equal(r.kind, HO_SIZE_UNKNOWN);
	r = ho_sizecache_request(c, S("b"), S("k"), S("bytes=0-9"));
	assert_int_equal(r.kind, HO_SIZE_AT_MOST);
	assert_int_equal(r.bytes, 10);
	assert_int_equal(ho_sizecache_put(c, S("b"), S("k"), 4 << 20), 0);
	r = ho_sizecache_request(c, S("b"), S("k"), NULL, 0);
	assert_int_equal(r.kind, HO_SIZE_EXACT);
	assert_int_equal(r.bytes, 4 << 20);
	r = ho_sizecache_request(c, S("b"), S("k"), S("bytes=-1024"));
	assert_int_equal(r.kind, HO_SIZE_EXACT);
	assert_int_equal(r.bytes, 1024);
	ho_sizecache_free(c);
}

/* Known SipHash-2-4 output (key 00..0f, message 00..0e: 15 bytes), fed whole and in pieces. */
static void test_siphash_vector(void **state)
{
	uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
	uint8_t msg[15];
	sip_t s;

	(void)state;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	sip_init(&s, k);
	sip_update(&s, msg, 15);
	assert_int_equal(sip_final(&s), 0xa129ca6149be45e5ull);
	for (size_t split = 0; split <= 15; split++) {
		sip_init(&s, k);
		sip_update(&s, msg, split);
		sip_update(&s, msg + split, 15 - split);
		assert_int_equal(sip_final(&s), 0xa129ca6149be45e5ull);
	}
	sip_init(&s, k);
	assert_int_equal(sip_final(&s), 0x726fdb47dd0e0e31ull); /* empty message */
}

/* Several threads on one cache: the bounds and the links hold. */
static void *hammer(void *arg)
{
	ho_sizecache_t *c = arg;
	char key[24];
	uint64_t size;

	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%d", (i * 7919) % 500);
		if (i % 3 == 0)
			assert_int_equal(ho_sizecache_put(c, S("b"), S(key), (uint64_t)i), 0);
		else if (i % 3 == 1)
			(void)ho_sizecache_get(c, S("b"), S(key), &size);
		else if (i % 17 == 0)
			ho_sizecache_del(c, S("b"), S(key));
	}
	return NULL;
}

static void test_threads(void **state)
{
	ho_sizecache_t *c;
	pthread_t t[4];

	(void)state;
	assert_int_equal(ho_sizecache_new(64, 300, &c), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	check_consistent(c);
	ho_sizecache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_eviction_order),
	    cmocka_unit_test(test_bound_by_bytes), cmocka_unit_test(test_update_and_delete),
	    cmocka_unit_test(test_learn),          cmocka_unit_test(test_range_arithmetic),
	    cmocka_unit_test(test_request),        cmocka_unit_test(test_siphash_vector),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The object sizes the handoff decision needs (issue 12): a bounded LRU of (bucket, key) ->
 * size, fed by what passes through the gateway, and the byte count of a request (its Range, or
 * the whole object) computed from it.
 *
 * One cache shared by every worker, behind a mutex, rather than one per worker: a client's
 * connections land on any worker, so per-worker caches would each have to see an object
 * before it is handed off there (N misses per object instead of one) and would hold N copies
 * of the same entries under N bounds. The lock is held only for a hash lookup and a list
 * splice, with no allocation or free under it (an entry is allocated before and freed after),
 * so contention at a few hundred thousand requests per second over a few workers is small.
 *
 * Hash table (keyed SipHash-2-4, a random key per cache, so that clients choosing keys cannot
 * build long chains) with intrusive chain and LRU links: lookup, insert, update, delete and
 * eviction are O(1). Bounded by entries and by the bytes of bucket names and keys held
 * (each entry's own overhead, ~64 bytes, comes on top: at most max_entries of it).
 *
 * A size here is only a hint for proxy-or-handoff: a stale one (an object rewritten by another
 * path, such as the DR endpoint or another director) costs at worst a proxied large read or a
 * handed-off small one, never a wrong response.
 */
#ifndef S3LB_HANDOFF_SIZECACHE_H
#define S3LB_HANDOFF_SIZECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ho_sizecache_s ho_sizecache_t;

/* What is known of the bytes a request will return. */
typedef enum {
	HO_SIZE_UNKNOWN = 0, /* nothing: not cached, or a request whose length cannot be told */
	HO_SIZE_EXACT,       /* exactly `bytes` */
	HO_SIZE_AT_MOST,     /* a closed range of an object of unknown size: at most `bytes` */
} ho_size_kind_t;

typedef struct ho_size_s {
	ho_size_kind_t kind;
	uint64_t bytes;
} ho_size_t;

/* A new empty cache: at most max_entries entries (>= 1) and max_bytes bytes of bucket names and
 * keys (>= 1). 0 or -ENOMEM / -EINVAL. Any thread may use it; free it when none does. */
__attribute__((warn_unused_result)) int ho_sizecache_new(size_t max_entries, size_t max_bytes,
                                                         ho_sizecache_t **out);
void ho_sizecache_free(ho_sizecache_t *c);

/* Records that bucket/key has `size` bytes (insert or update; the entry becomes the most
 * recently used). An entry whose names alone exceed max_bytes is not stored. Evicts the least
 * recently used entries while a bound is exceeded. -ENOMEM (nothing changed) or 0. */
__attribute__((warn_unused_result)) int ho_sizecache_put(ho_sizecache_t *c, const char *bucket,
                                                         size_t blen, const char *key, size_t klen,
                                                         uint64_t size);
/* Forgets bucket/key (DELETE through the gateway, or a response that leaves the size unknown). */
void ho_sizecache_del(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                      size_t klen);
/* The object size of bucket/key, if cached (it becomes the most recently used). */
bool ho_sizecache_get(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                      size_t klen, uint64_t *size);

/* Counts, for /metrics. */
typedef struct ho_sizecache_stats_s {
	size_t entries, bytes;
	uint64_t hits, misses, evictions;
} ho_sizecache_stats_t;
void ho_sizecache_stats(ho_sizecache_t *c, ho_sizecache_stats_t *st);

/*
 * Learning from a response that passed through the gateway, for a GET or HEAD of an object
 * (is_get false: HEAD). content_length and content_range are the response's header values
 * (NULL when absent; not NUL-terminated, with their lengths). A 200 gives the size from
 * Content-Length, a 206 or 416 from Content-Range's complete length (`bytes 0-9/1000`,
 * `bytes *\/1000`); a 404 forgets the key; anything else leaves the cache as it is. A value that
 * does not parse (signs, spaces inside, overflow, an unknown complete length) teaches nothing.
 */
void ho_sizecache_learn(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                        size_t klen, int status, const char *content_length, size_t cl_len,
                        const char *content_range, size_t cr_len);

/*
 * What a GET or HEAD of bucket/key with this Range header value (NULL: no Range) returns, in
 * body bytes of the object (for HEAD, the object's, which is what the handoff threshold is
 * compared with): the object size without Range; a range's length clipped to the object; a
 * range the object cannot satisfy is EXACT 0 (416, a small response). Of an object not in the
 * cache, a closed range `a-b` is AT_MOST b-a+1 and a suffix `-n` AT_MOST n. Multiple ranges
 * (multipart/byteranges), a Range that does not parse or names another unit, and an uncached object
 * without a closed range are UNKNOWN.
 */
ho_size_t ho_sizecache_request(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                               size_t klen, const char *range, size_t range_len);

/* The same arithmetic alone: the bytes of Range `range` on an object of `size` bytes (size_known
 * false: unknown). Pure. */
ho_size_t ho_range_bytes(const char *range, size_t range_len, bool size_known, uint64_t size);

#endif

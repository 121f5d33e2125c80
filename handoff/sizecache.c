#include "handoff/sizecache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* ---- keyed hash: SipHash-2-4, fed in pieces ---- */

typedef struct sip_s {
	uint64_t v0, v1, v2, v3;
	uint8_t buf[8];
	size_t nbuf;
	uint64_t len;
} sip_t;

static uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(sip_t *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13) ^ s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16) ^ s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21) ^ s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17) ^ s->v2;
	s->v2 = rotl(s->v2, 32);
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void sip_word(sip_t *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static void sip_init(sip_t *s, const uint64_t k[2])
{
	s->v0 = k[0] ^ 0x736f6d6570736575ull;
	s->v1 = k[1] ^ 0x646f72616e646f6dull;
	s->v2 = k[0] ^ 0x6c7967656e657261ull;
	s->v3 = k[1] ^ 0x7465646279746573ull;
	s->nbuf = 0;
	s->len = 0;
}

static void sip_update(sip_t *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->len += n;
	while (n > 0) {
		if (s->nbuf == 0 && n >= 8) {
			sip_word(s, load_le(p, 8));
			p += 8;
			n -= 8;
			continue;
		}
		s->buf[s->nbuf++] = *p++;
		n--;
		if (s->nbuf == 8) {
			sip_word(s, load_le(s->buf, 8));
			s->nbuf = 0;
		}
	}
}

static uint64_t sip_final(sip_t *s)
{
	sip_word(s, (s->len << 56) | load_le(s->buf, s->nbuf));
	s->v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* ---- the cache ---- */

typedef struct ent_s ent_t;
struct ent_s {
	ent_t *hnext, **hpprev; /* hash chain */
	ent_t *prev, *next;     /* LRU list: head.next is the most recently used */
	uint64_t hash, size;
	size_t blen, klen;
	/* bucket then key, no separator (blen tells), in the same allocation right after the
	 * struct (a pointer, not a flexible array: the list's sentinel is an ent_t inside the
	 * cache, which C does not allow with a flexible array member) */
	char *name;
};

struct ho_sizecache_s {
	pthread_mutex_t mu;
	uint64_t sipkey[2];
	ent_t **table;
	size_t mask;
	ent_t head; /* sentinel of the LRU list */
	size_t entries, bytes, max_entries, max_bytes;
	uint64_t hits, misses, evictions;
};

int ho_sizecache_new(size_t max_entries, size_t max_bytes, ho_sizecache_t **out)
{
	ho_sizecache_t *c;
	size_t n = 1;

	*out = NULL;
	if (max_entries == 0 || max_bytes == 0 || max_entries > ((size_t)1 << 40))
		return -EINVAL;
	while (n < max_entries) /* load factor at most 1 */
		n <<= 1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->table = calloc(n, sizeof(*c->table));
	if (c->table == NULL) {
		free(c);
		return -ENOMEM;
	}
	if (getrandom(c->sipkey, sizeof(c->sipkey), 0) != (ssize_t)sizeof(c->sipkey)) {
		/* no entropy yet (early boot): a fixed key still works, only less robust */
		c->sipkey[0] = (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
		c->sipkey[1] = (uint64_t)(uintptr_t)c->table;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->mask = n - 1;
	c->head.prev = c->head.next = &c->head;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	*out = c;
	return 0;
}

void ho_sizecache_free(ho_sizecache_t *c)
{
	if (c == NULL)
		return;
	for (ent_t *e = c->head.next, *next; e != &c->head; e = next) {
		next = e->next;
		free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->table);
	free(c);
}

static uint64_t hash_of(const ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                        size_t klen)
{
	uint8_t lenb[8];
	sip_t s;

	for (int i = 0; i < 8; i++) /* the bucket's length first: ("ab","c") != ("a","bc") */
		lenb[i] = (uint8_t)((uint64_t)blen >> (8 * i));
	sip_init(&s, c->sipkey);
	sip_update(&s, lenb, sizeof(lenb));
	sip_update(&s, bucket, blen);
	sip_update(&s, key, klen);
	return sip_final(&s);
}

/* The entry of bucket/key, or NULL. Under the lock. */
static ent_t *find(ho_sizecache_t *c, uint64_t h, const char *bucket, size_t blen, const char *key,
                   size_t klen)
{
	for (ent_t *e = c->table[h & c->mask]; e != NULL; e = e->hnext)
		if (e->hash == h && e->blen == blen && e->klen == klen &&
		    memcmp(e->name, bucket, blen) == 0 && memcmp(e->name + blen, key, klen) == 0)
			return e;
	return NULL;
}

static void lru_unlink(ent_t *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push_front(ho_sizecache_t *c, ent_t *e)
{
	e->next = c->head.next;
	e->prev = &c->head;
	c->head.next->prev = e;
	c->head.next = e;
}

/* Takes e out of the table and the list; the caller frees it after unlocking. */
static void unlink_entry(ho_sizecache_t *c, ent_t *e)
{
	*e->hpprev = e->hnext;
	if (e->hnext != NULL)
		e->hnext->hpprev = e->hpprev;
	lru_unlink(e);
	c->entries--;
	c->bytes -= e->blen + e->klen;
}

int ho_sizecache_put(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                     size_t klen, uint64_t size)
{
	uint64_t h = hash_of(c, bucket, blen, key, klen);
	ent_t *fresh, *e, *evicted = NULL;

	if (blen > c->max_bytes || klen > c->max_bytes - blen)
		return 0; /* never stored, so there is no older size to drop either */
	fresh = malloc(sizeof(*fresh) + blen + klen);
	if (fresh == NULL)
		return -ENOMEM;
	fresh->name = (char *)(fresh + 1);
	fresh->hash = h;
	fresh->size = size;
	fresh->blen = blen;
	fresh->klen = klen;
	memcpy(fresh->name, bucket, blen);
	memcpy(fresh->name + blen, key, klen);

	pthread_mutex_lock(&c->mu);
	e = find(c, h, bucket, blen, key, klen);
	if (e != NULL) {
		e->size = size;
		lru_unlink(e);
		lru_push_front(c, e);
	} else {
		ent_t **slot = &c->table[h & c->mask];

		fresh->hnext = *slot;
		fresh->hpprev = slot;
		if (*slot != NULL)
			(*slot)->hpprev = &fresh->hnext;
		*slot = fresh;
		lru_push_front(c, fresh);
		c->entries++;
		c->bytes += blen + klen;
		fresh = NULL;
		/* the victims are chained through hnext (no longer in the table) and freed
		 * after the lock */
		while (c->entries > c->max_entries || c->bytes > c->max_bytes) {
			ent_t *v = c->head.prev;

			unlink_entry(c, v);
			v->hnext = evicted;
			evicted = v;
			c->evictions++;
		}
	}
	pthread_mutex_unlock(&c->mu);
	free(fresh);
	while (evicted != NULL) {
		ent_t *next = evicted->hnext;

		free(evicted);
		evicted = next;
	}
	return 0;
}

void ho_sizecache_del(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                      size_t klen)
{
	uint64_t h = hash_of(c, bucket, blen, key, klen);
	ent_t *e;

	pthread_mutex_lock(&c->mu);
	e = find(c, h, bucket, blen, key, klen);
	if (e != NULL)
		unlink_entry(c, e);
	pthread_mutex_unlock(&c->mu);
	free(e);
}

bool ho_sizecache_get(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                      size_t klen, uint64_t *size)
{
	uint64_t h = hash_of(c, bucket, blen, key, klen);
	ent_t *e;

	pthread_mutex_lock(&c->mu);
	e = find(c, h, bucket, blen, key, klen);
	if (e != NULL) {
		*size = e->size;
		lru_unlink(e);
		lru_push_front(c, e);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return e != NULL;
}

void ho_sizecache_stats(ho_sizecache_t *c, ho_sizecache_stats_t *st)
{
	pthread_mutex_lock(&c->mu);
	st->entries = c->entries;
	st->bytes = c->bytes;
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
	pthread_mutex_unlock(&c->mu);
}

/* ---- header values ---- */

/* A run of decimal digits at s[*i..n) into *v; false when empty or above UINT64_MAX. */
static bool digits(const char *s, size_t n, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		unsigned d = (unsigned)(s[*i] - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
		(*i)++;
	}
	return *i > start;
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Content-Length: digits only (surrounding blanks allowed). */
static bool parse_length(const char *s, size_t n, uint64_t *v)
{
	size_t i = 0;

	trim(&s, &n);
	return digits(s, n, &i, v) && i == n;
}

/* Content-Range's complete length: `bytes FIRST-LAST/TOTAL` or `bytes *\/TOTAL`. */
static bool parse_content_range(const char *s, size_t n, uint64_t *total)
{
	uint64_t first, last;
	size_t i = 6;

	trim(&s, &n);
	if (n < 6 || strncasecmp(s, "bytes ", 6) != 0)
		return false;
	while (i < n && s[i] == ' ')
		i++;
	if (i < n && s[i] == '*') {
		i++;
	} else {
		if (!digits(s, n, &i, &first) || i >= n || s[i++] != '-' ||
		    !digits(s, n, &i, &last) || last < first)
			return false;
	}
	if (i >= n || s[i++] != '/' || !digits(s, n, &i, total) || i != n)
		return false;
	return true;
}

void ho_sizecache_learn(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                        size_t klen, int status, const char *content_length, size_t cl_len,
                        const char *content_range, size_t cr_len)
{
	uint64_t size;
	bool known = false;

	if (status == 200 && content_length != NULL)
		known = parse_length(content_length, cl_len, &size);
	else if ((status == 206 || status == 416) && content_range != NULL)
		known = parse_content_range(content_range, cr_len, &size);
	else if (status == 404)
		ho_sizecache_del(c, bucket, blen, key, klen);
	if (known)
		(void)!ho_sizecache_put(c, bucket, blen, key, klen, size); /* a hint: -ENOMEM is
		                                                            * a miss later */
}

/* ---- Range arithmetic ---- */

ho_size_t ho_range_bytes(const char *range, size_t n, bool size_known, uint64_t size)
{
	const ho_size_t unknown = {HO_SIZE_UNKNOWN, 0};
	uint64_t first, last;
	size_t i = 6;

	if (range == NULL)
		return size_known ? (ho_size_t){HO_SIZE_EXACT, size} : unknown;
	trim(&range, &n);
	if (n < 6 || strncasecmp(range, "bytes=", 6) != 0)
		return unknown;
	while (i < n && range[i] == ' ')
		i++;
	if (memchr(range + i, ',', n - i) != NULL) /* several ranges: multipart/byteranges */
		return unknown;
	if (i < n && range[i] == '-') { /* suffix: the last N bytes */
		i++;
		if (!digits(range, n, &i, &last) || i != n)
			return unknown;
		if (!size_known)
			return (ho_size_t){HO_SIZE_AT_MOST, last};
		return (ho_size_t){HO_SIZE_EXACT, last < size ? last : size};
	}
	if (!digits(range, n, &i, &first) || i >= n || range[i++] != '-')
		return unknown;
	if (i == n) /* open: FIRST to the end */
		return size_known ? (ho_size_t){HO_SIZE_EXACT, first < size ? size - first : 0}
		                  : unknown;
	if (!digits(range, n, &i, &last) || i != n || last < first)
		return unknown;
	if (!size_known) /* last - first + 1 overflows only for 0-UINT64_MAX */
		return (ho_size_t){HO_SIZE_AT_MOST,
		                   last - first == UINT64_MAX ? UINT64_MAX : last - first + 1};
	if (first >= size) /* 416 */
		return (ho_size_t){HO_SIZE_EXACT, 0};
	if (last >= size)
		last = size - 1;
	return (ho_size_t){HO_SIZE_EXACT, last - first + 1};
}

ho_size_t ho_sizecache_request(ho_sizecache_t *c, const char *bucket, size_t blen, const char *key,
                               size_t klen, const char *range, size_t range_len)
{
	uint64_t size = 0;
	bool known = ho_sizecache_get(c, bucket, blen, key, klen, &size);

	return ho_range_bytes(range, range_len, known, size);
}

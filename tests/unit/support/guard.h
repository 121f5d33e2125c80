/*
 * Test input at the end of a page followed by an inaccessible page: a read past its last byte
 * crashes the test at once (with or without ASan). Header only; include after cmocka.h.
 */
#ifndef S3LB_TESTS_SUPPORT_GUARD_H
#define S3LB_TESTS_SUPPORT_GUARD_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct test_guard_s {
	char *map;
	size_t map_len;
	char *data; /* the copy: its last byte is the last one before the guard page */
} test_guard_t;

/* Copies len bytes of in (len may be 0) in front of a PROT_NONE page; returns the copy. */
static inline char *test_guard(test_guard_t *g, const void *in, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page + 1;
	g->map_len = pages * page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect(g->map + g->map_len - page, page, PROT_NONE), 0);
	g->data = g->map + g->map_len - page - len;
	if (len)
		memcpy(g->data, in, len);
	return g->data;
}

static inline void test_unguard(test_guard_t *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	g->map = g->data = NULL;
}

#endif

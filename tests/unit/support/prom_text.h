/*
 * Checks on Prometheus text (the /metrics renderers' tests): whole lines present, and the shape
 * of every line. Header only; include after cmocka.h.
 */
#ifndef S3LB_TESTS_SUPPORT_PROM_TEXT_H
#define S3LB_TESTS_SUPPORT_PROM_TEXT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails naming the first of lines[0..n) that is not a whole line of t. */
static inline void prom_assert_lines(const char *t, const char *const *lines, size_t n)
{
	char *nl = malloc(strlen(t) + 2);
	assert_non_null(nl);
	nl[0] = '\n';
	strcpy(nl + 1, t);
	for (size_t i = 0; i < n; i++) {
		char line[512];
		snprintf(line, sizeof(line), "\n%s\n", lines[i]);
		if (!strstr(nl, line))
			fail_msg("missing line: %s\n--- got:\n%s", lines[i], t);
	}
	free(nl);
}

/* Every line is a comment or ends in a number, none is empty. */
static inline void prom_assert_shape(const char *t)
{
	for (const char *p = t; *p;) {
		const char *e = strchr(p, '\n');
		assert_non_null(e);
		assert_true(e > p);
		if (*p != '#')
			assert_true(e[-1] >= '0' && e[-1] <= '9');
		p = e + 1;
	}
}

#endif

/*
 * Glob matching for route patterns ("logs-*", "*.s3.example.com", "tmp-??").
 *
 * Iterative, with one backtrack point: only the most recent '*' can need to absorb more bytes,
 * because anything an earlier '*' could take instead, the later one can take as well. So the
 * worst case is O(len(pattern) * len(s)) with no recursion and no allocation, whatever the
 * pattern (a config author cannot make routing exponential with "*a*a*a*a*b").
 */
#include "core/parse.h"

int lb_glob_match(const char *pattern, const char *s, size_t len)
{
	const char *p = pattern;
	const char *star_p = NULL; /* pattern position just after the last '*' seen */
	size_t star_i = 0;         /* bytes of s that last '*' has absorbed up to */
	size_t i = 0;

	while (i < len) {
		if (*p == '*') {
			star_p = ++p;
			star_i = i;
		} else if (*p != '\0' && (*p == '?' || *p == s[i])) {
			p++;
			i++;
		} else if (star_p != NULL) {
			/* Let the last '*' take one more byte and retry the rest from there. */
			p = star_p;
			i = ++star_i;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

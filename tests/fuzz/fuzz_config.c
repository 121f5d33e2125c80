/*
 * libFuzzer target for the config loader (core/config.c, lb_config_load_string: the same code
 * lb_config_load runs on a file's bytes). Besides the sanitizers:
 * - a refused config leaves no config and one error line "fuzz.yaml:LINE: ..." (LINE >= 1);
 * - an accepted one dumps (lb_config_dump) to YAML that loads again and dumps to the same bytes.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define NAME "fuzz.yaml"

static void check(int ok, const char *what, const char *err)
{
	if (!ok) {
		fprintf(stderr, "property failed: %s (error: %s)\n", what, err);
		abort();
	}
}

/* The config dumped into a malloc'd string (*len bytes). */
static char *dump(const lb_config_t *cfg, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	if (!f)
		abort();
	lb_config_dump(cfg, f);
	if (fclose(f) != 0)
		abort();
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], err2[512] = "";
	lb_config_t *cfg = NULL, *again = NULL;
	char *d1, *d2;
	size_t n1, n2;
	const char *p;
	int rc = lb_config_load_string(NAME, (const char *)data, size, &cfg, err, sizeof(err));

	if (rc < 0) {
		check(cfg == NULL, "no config after an error", err);
		check(strncmp(err, NAME ":", sizeof(NAME)) == 0, "error starts with FILE:", err);
		p = err + sizeof(NAME);
		check(p[0] >= '1' && p[0] <= '9', "a line number after FILE:", err);
		while (isdigit((unsigned char)*p))
			p++;
		check(*p == ':', "FILE:LINE:", err);
		check(strchr(err, '\n') == NULL, "one line", err);
		return 0;
	}
	check(rc == 0 && cfg != NULL, "0 and a config", "");
	d1 = dump(cfg, &n1);
	rc = lb_config_load_string(NAME, d1, n1, &again, err2, sizeof(err2));
	if (rc != 0)
		fprintf(stderr, "the dump:\n%.*s\n", (int)n1, d1);
	check(rc == 0, "the dump loads again", err2);
	d2 = dump(again, &n2);
	if (n1 != n2 || memcmp(d1, d2, n1) != 0)
		fprintf(stderr, "first dump:\n%.*s\nsecond:\n%.*s\n", (int)n1, d1, (int)n2, d2);
	check(n1 == n2 && memcmp(d1, d2, n1) == 0, "load(dump) dumps the same", "");
	free(d1);
	free(d2);
	lb_config_unref(again);
	lb_config_unref(cfg);
	return 0;
}

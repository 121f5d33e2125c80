#include <inttypes.h>

#include "admin/prom.h"

void adm_prom_family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void series(FILE *out, const char *name, const char *const *labels)
{
	fputs(name, out);
	if (!labels || !labels[0])
		return;
	fputc('{', out);
	for (const char *const *l = labels; l[0] && l[1]; l += 2) {
		fprintf(out, "%s%s=\"", l == labels ? "" : ",", l[0]);
		label_value(out, l[1]);
		fputc('"', out);
	}
	fputc('}', out);
}

void adm_prom_u64(FILE *out, const char *name, const char *const *labels, uint64_t v)
{
	series(out, name, labels);
	fprintf(out, " %" PRIu64 "\n", v);
}

void adm_prom_f64(FILE *out, const char *name, const char *const *labels, double v)
{
	series(out, name, labels);
	fprintf(out, " %.6f\n", v);
}

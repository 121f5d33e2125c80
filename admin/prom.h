/*
 * The Prometheus text exposition format (0.0.4): the one place that writes it. Families get
 * `# HELP` and `# TYPE`; label values are escaped (backslash, double quote, newline), names are
 * the caller's constants.
 */
#ifndef S3LB_ADMIN_PROM_H
#define S3LB_ADMIN_PROM_H

#include <stdint.h>
#include <stdio.h>

void adm_prom_family(FILE *out, const char *name, const char *type, const char *help);

/* One sample `name{k="v",...} value`. labels: key, value, key, value, ..., NULL (or NULL alone:
 * no braces). */
void adm_prom_u64(FILE *out, const char *name, const char *const *labels, uint64_t v);
/* The same with a float value, printed with 6 decimals. */
void adm_prom_f64(FILE *out, const char *name, const char *const *labels, double v);

#endif

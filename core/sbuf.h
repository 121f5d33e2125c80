/*
 * Appending into a fixed buffer: writes stop at the capacity and `over` records that something
 * did not fit, so a builder makes all its calls and checks once at the end. The text stays
 * NUL-terminated while it fits.
 */
#ifndef S3LB_CORE_SBUF_H
#define S3LB_CORE_SBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct lb_sbuf_s {
	char *p;
	size_t len, cap;
	bool over;
} lb_sbuf_t;

static inline void lb_sbuf_init(lb_sbuf_t *b, char *p, size_t cap)
{
	b->p = p;
	b->len = 0;
	b->cap = cap;
	b->over = cap == 0;
	if (cap)
		p[0] = '\0';
}

static inline void lb_sbuf_add(lb_sbuf_t *b, const char *s, size_t n)
{
	if (b->over || b->len + n >= b->cap) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void lb_sbuf_puts(lb_sbuf_t *b, const char *s)
{
	lb_sbuf_add(b, s, strlen(s));
}

static inline void lb_sbuf_putc(lb_sbuf_t *b, char c)
{
	lb_sbuf_add(b, &c, 1);
}

/* Decimal digits of v (no printf: this runs for every request). */
static inline void lb_sbuf_putu(lb_sbuf_t *b, unsigned long long v)
{
	char d[24];
	int n = 0;
	do {
		d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	lb_sbuf_add(b, d + sizeof(d) - n, (size_t)n);
}

__attribute__((format(printf, 2, 3))) static inline void lb_sbuf_printf(lb_sbuf_t *b,
                                                                        const char *fmt, ...)
{
	va_list ap;
	int n;
	if (b->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->over = true;
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

#endif

/*
 * The value syntax shared by the config and the command line (see parse.h). Parsers are strict:
 * no surrounding blanks, no signs, units spelled exactly, and a value that cannot be represented
 * exactly (1.5ms, 0.5B) is rejected rather than rounded, so what an operator writes is what runs.
 * Pure functions, callable from any thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/parse.h"

typedef struct unit_s {
	const char *name;
	uint64_t mult;
} unit_t;

/* The formatters take the first unit that divides the value exactly: largest first. */
static const unit_t duration_units[] = {
    {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}, {NULL, 0},
};

/* Binary before decimal (1048576 prints 1MiB, 1000000 1MB); "" before "B" (512 prints bare). */
static const unit_t size_units[] = {
    {"TiB", 1ull << 40},
    {"GiB", 1ull << 30},
    {"MiB", 1ull << 20},
    {"KiB", 1ull << 10},
    {"TB", 1000000000000ull},
    {"GB", 1000000000ull},
    {"MB", 1000000ull},
    {"kB", 1000ull},
    {"", 1},
    {"B", 1},
    {NULL, 0},
};

/* A unit table and the reasons given when a value does not fit it. */
typedef struct syntax_s {
	const unit_t *units;
	const char *missing_unit;
	const char *unknown_unit;
	const char *fraction;
} syntax_t;

static const syntax_t duration_syntax = {
    duration_units,
    "missing unit: use ms, s, m or h",
    "unknown unit: use ms, s, m or h",
    "not a whole number of milliseconds",
};

static const syntax_t size_syntax = {
    size_units,
    NULL, /* a bare number is bytes */
    "unknown unit: use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB",
    "not a whole number of bytes",
};

#define MAX_FRACTION_DIGITS 9

/*
 * "<digits>[.<digits>]<unit>" with <unit> from the syntax's table (an empty name makes the unit
 * optional). The result must be a whole number of base units and fit in 64 bits.
 */
static int parse_scaled(const char *s, const syntax_t *syn, uint64_t *out, const char **why)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;

	if (s == NULL || *s == '\0') {
		*why = "empty value";
		return -1;
	}
	if (*p < '0' || *p > '9') {
		*why = "expected a number followed by a unit";
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (whole > (UINT64_MAX - d) / 10) {
			*why = "too large";
			return -1;
		}
		whole = whole * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9') {
			*why = "expected digits after '.'";
			return -1;
		}
		for (int n = 0; *p >= '0' && *p <= '9'; p++, n++) {
			if (n == MAX_FRACTION_DIGITS) {
				*why = "too many digits after '.'";
				return -1;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	for (const unit_t *u = syn->units; u->name != NULL; u++) {
		unsigned __int128 total, part;

		if (strcmp(p, u->name) != 0)
			continue;
		part = (unsigned __int128)frac * u->mult;
		if (part % scale != 0) {
			*why = syn->fraction;
			return -1;
		}
		total = (unsigned __int128)whole * u->mult + part / scale;
		if (total > UINT64_MAX) {
			*why = "too large";
			return -1;
		}
		*out = (uint64_t)total;
		return 0;
	}
	*why = *p == '\0' ? syn->missing_unit : syn->unknown_unit;
	return -1;
}

int lb_parse_duration_ms(const char *s, uint64_t *ms, const char **why)
{
	return parse_scaled(s, &duration_syntax, ms, why);
}

int lb_parse_size(const char *s, uint64_t *bytes, const char **why)
{
	return parse_scaled(s, &size_syntax, bytes, why);
}

static void format_scaled(uint64_t v, const unit_t *units, const char *zero, char *buf, size_t len)
{
	if (v == 0) {
		snprintf(buf, len, "%s", zero);
		return;
	}
	for (const unit_t *u = units; u->name != NULL; u++) {
		if (v % u->mult == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / u->mult), u->name);
			return;
		}
	}
}

void lb_format_duration(uint64_t ms, char *buf, size_t len)
{
	format_scaled(ms, duration_units, "0s", buf, len);
}

void lb_format_size(uint64_t bytes, char *buf, size_t len)
{
	format_scaled(bytes, size_units, "0", buf, len);
}

static int parse_port(const char *s, uint16_t *port, const char **why)
{
	unsigned long v = 0;
	size_t n = 0;

	if (*s == '\0') {
		*why = "missing port";
		return -1;
	}
	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9') {
			*why = "invalid port";
			return -1;
		}
		if (n == 5) {
			*why = "port out of range: 1 to 65535";
			return -1;
		}
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (v < 1 || v > 65535) {
		*why = "port out of range: 1 to 65535";
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Copies the host part [s, s+n) into addr->host, NUL-terminated; -1 if it cannot fit. */
static int copy_host(lb_addr_t *addr, const char *s, size_t n)
{
	if (n >= sizeof(addr->host))
		return -1;
	memcpy(addr->host, s, n);
	addr->host[n] = '\0';
	return 0;
}

static int split_v6(const char *s, lb_addr_t *addr, const char **port, const char **why)
{
	const char *end = strchr(s, ']');

	if (end == NULL) {
		*why = "missing ']' after IPv6 address";
		return -1;
	}
	if (copy_host(addr, s + 1, (size_t)(end - s - 1)) < 0) {
		*why = "invalid IPv6 address";
		return -1;
	}
	if (end[1] == '\0') {
		*why = "missing port";
		return -1;
	}
	if (end[1] != ':') {
		*why = "expected ':' and a port after ']'";
		return -1;
	}
	*port = end + 2;
	return 0;
}

static int split_v4(const char *s, lb_addr_t *addr, const char **port, const char **why)
{
	const char *colon = strrchr(s, ':');

	if (colon == NULL) {
		*why = "missing port";
		return -1;
	}
	if (colon != strchr(s, ':')) {
		*why = "an IPv6 address needs brackets, as in [::1]:80";
		return -1;
	}
	if (colon == s) {
		*why = "missing host: use 0.0.0.0 for every address";
		return -1;
	}
	if (copy_host(addr, s, (size_t)(colon - s)) < 0) {
		*why = "invalid IPv4 address";
		return -1;
	}
	*port = colon + 1;
	return 0;
}

static int is_numeric_v4_shape(const char *host)
{
	return strspn(host, "0123456789.") == strlen(host);
}

int lb_parse_addr(const char *s, lb_addr_t *addr, const char **why)
{
	const char *port_s = NULL;
	char canon[INET6_ADDRSTRLEN];
	int v6;

	memset(addr, 0, sizeof(*addr));
	if (s == NULL || *s == '\0') {
		*why = "empty value";
		return -1;
	}
	v6 = s[0] == '[';
	if ((v6 ? split_v6 : split_v4)(s, addr, &port_s, why) < 0)
		goto fail;
	if (parse_port(port_s, &addr->port, why) < 0)
		goto fail;
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->ss;

		if (inet_pton(AF_INET6, addr->host, &sin6->sin6_addr) != 1) {
			*why = "invalid IPv6 address";
			goto fail;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(addr->port);
		addr->len = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, canon, sizeof(canon));
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;

		if (inet_pton(AF_INET, addr->host, &sin->sin_addr) != 1) {
			*why = is_numeric_v4_shape(addr->host)
			           ? "invalid IPv4 address"
			           : "the host must be a numeric IP address: no DNS at load time";
			goto fail;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(addr->port);
		addr->len = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, canon, sizeof(canon));
	}
	snprintf(addr->host, sizeof(addr->host), "%s", canon);
	snprintf(addr->text, sizeof(addr->text), v6 ? "[%s]:%u" : "%s:%u", canon,
	         (unsigned)addr->port);
	return 0;

fail:
	memset(addr, 0, sizeof(*addr));
	return -1;
}

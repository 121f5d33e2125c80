/* Keys of IPVS services and destinations: compare, format, parse (dsr/types.h). */
#include "dsr/types.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dsr_ip_parse(const char *s, dsr_ip_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, &ip->u.v4) == 1) {
		ip->af = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &ip->u.v6) == 1) {
		ip->af = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int dsr_ip_cmp(const dsr_ip_t *a, const dsr_ip_t *b)
{
	if (a->af != b->af)
		return a->af < b->af ? -1 : 1;
	return memcmp(a->u.raw, b->u.raw, a->af == AF_INET ? 4 : 16);
}

void dsr_ip_format(const dsr_ip_t *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->af, ip->u.raw, buf, len))
		snprintf(buf, len, "?af%u", ip->af);
}

static void format_ip_port(const dsr_ip_t *ip, uint16_t port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	dsr_ip_format(ip, a, sizeof(a));
	if (ip->af == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
}

/* "10.0.0.1:80" or "[::1]:80". */
static int parse_ip_port(const char *s, dsr_ip_t *ip, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = s;
	size_t hlen;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p > 65535)
		return -EINVAL;
	if (dsr_ip_parse(host, ip) < 0 || (*s == '[') != (ip->af == AF_INET6))
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

static const struct {
	uint16_t proto;
	const char *name;
} protos[] = {{IPPROTO_TCP, "TCP"}, {IPPROTO_UDP, "UDP"}, {IPPROTO_SCTP, "SCTP"}};

int dsr_svc_key_cmp(const dsr_svc_key_t *a, const dsr_svc_key_t *b)
{
	if (a->fwmark != b->fwmark)
		return a->fwmark < b->fwmark ? -1 : 1;
	if (a->af != b->af)
		return a->af < b->af ? -1 : 1;
	if (a->fwmark)
		return 0;
	if (a->protocol != b->protocol)
		return a->protocol < b->protocol ? -1 : 1;
	int c = dsr_ip_cmp(&a->addr, &b->addr);
	if (c)
		return c;
	return a->port == b->port ? 0 : a->port < b->port ? -1 : 1;
}

void dsr_svc_key_format(const dsr_svc_key_t *key, char *buf, size_t len)
{
	if (key->fwmark) {
		snprintf(buf, len, "FWM %u %s", key->fwmark, key->af == AF_INET6 ? "IPv6" : "IPv4");
		return;
	}
	char addr[INET6_ADDRSTRLEN + 8];
	format_ip_port(&key->addr, key->port, addr, sizeof(addr));
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (protos[i].proto == key->protocol) {
			snprintf(buf, len, "%s %s", protos[i].name, addr);
			return;
		}
	}
	snprintf(buf, len, "PROTO%u %s", key->protocol, addr);
}

int dsr_svc_key_parse(const char *s, dsr_svc_key_t *key)
{
	memset(key, 0, sizeof(*key));
	if (strncmp(s, "FWM ", 4) == 0) {
		char fam[8];
		unsigned mark;
		int used = 0;
		if (sscanf(s + 4, "%u %7s%n", &mark, fam, &used) != 2 || s[4 + used] || mark == 0)
			return -EINVAL;
		if (strcmp(fam, "IPv4") == 0)
			key->af = AF_INET;
		else if (strcmp(fam, "IPv6") == 0)
			key->af = AF_INET6;
		else
			return -EINVAL;
		key->fwmark = mark;
		key->protocol = IPPROTO_TCP;
		return 0;
	}
	const char *sp = strchr(s, ' ');
	if (!sp)
		return -EINVAL;
	size_t n = (size_t)(sp - s);
	key->protocol = 0;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (strlen(protos[i].name) == n && memcmp(protos[i].name, s, n) == 0)
			key->protocol = protos[i].proto;
	}
	if (!key->protocol && !(n > 5 && strncmp(s, "PROTO", 5) == 0 &&
	                        sscanf(s + 5, "%hu", &key->protocol) == 1 && key->protocol))
		return -EINVAL;
	if (parse_ip_port(sp + 1, &key->addr, &key->port) < 0)
		return -EINVAL;
	key->af = key->addr.af;
	return 0;
}

int dsr_dest_cmp(const dsr_dest_t *a, const dsr_dest_t *b)
{
	int c = dsr_ip_cmp(&a->addr, &b->addr);
	if (c)
		return c;
	return a->port == b->port ? 0 : a->port < b->port ? -1 : 1;
}

void dsr_dest_format(const dsr_dest_t *d, char *buf, size_t len)
{
	format_ip_port(&d->addr, d->port, buf, len);
}

int dsr_dest_parse(const char *s, dsr_dest_t *d)
{
	return parse_ip_port(s, &d->addr, &d->port);
}

bool dsr_sched_known(const char *name)
{
	static const char *const names[] = {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
	                                    "sh", "sed", "nq", "fo",  "ovf",  "mh",    "twos"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i], name) == 0)
			return true;
	}
	return false;
}

void dsr_table_copy(const dsr_table_t *in, dsr_table_t *out)
{
	out->nsvcs = in->nsvcs;
	out->svcs = calloc(in->nsvcs ? in->nsvcs : 1, sizeof(*out->svcs));
	if (!out->svcs)
		abort();
	for (size_t i = 0; i < in->nsvcs; i++) {
		dsr_tsvc_t *t = &out->svcs[i];
		*t = in->svcs[i];
		t->dests = malloc((t->ndests ? t->ndests : 1) * sizeof(*t->dests));
		if (!t->dests)
			abort();
		if (t->ndests)
			memcpy(t->dests, in->svcs[i].dests, t->ndests * sizeof(*t->dests));
	}
}

static int cmp_tsvc(const void *a, const void *b)
{
	return dsr_svc_key_cmp(&((const dsr_tsvc_t *)a)->svc.key,
	                       &((const dsr_tsvc_t *)b)->svc.key);
}

static int cmp_dest(const void *a, const void *b)
{
	return dsr_dest_cmp(a, b);
}

void dsr_table_sort(dsr_table_t *t)
{
	for (size_t i = 0; i < t->nsvcs; i++)
		qsort(t->svcs[i].dests, t->svcs[i].ndests, sizeof(dsr_dest_t), cmp_dest);
	qsort(t->svcs, t->nsvcs, sizeof(*t->svcs), cmp_tsvc);
}

void dsr_table_free(dsr_table_t *t)
{
	for (size_t i = 0; i < t->nsvcs; i++)
		free(t->svcs[i].dests);
	free(t->svcs);
	t->svcs = NULL;
	t->nsvcs = 0;
}

static const char *daemon_state_name(uint32_t state)
{
	return state == DSR_SYNC_MASTER ? "master" : state == DSR_SYNC_BACKUP ? "backup" : "?";
}

void dsr_daemon_format(const dsr_daemon_t *d, char *buf, size_t len)
{
	char group[INET6_ADDRSTRLEN] = "";
	int n = snprintf(buf, len, "%s sync daemon on %s, sync id %u", daemon_state_name(d->state),
	                 d->ifname, d->sync_id);
	if (d->group.af)
		dsr_ip_format(&d->group, group, sizeof(group));
	if (n >= 0 && (size_t)n < len && d->group.af)
		n += snprintf(buf + n, len - (size_t)n, ", group %s", group);
	if (n >= 0 && (size_t)n < len && d->port)
		n += snprintf(buf + n, len - (size_t)n, ", port %u", d->port);
	if (n >= 0 && (size_t)n < len && d->ttl)
		n += snprintf(buf + n, len - (size_t)n, ", ttl %u", d->ttl);
	if (n >= 0 && (size_t)n < len && d->max_len)
		snprintf(buf + n, len - (size_t)n, ", max_len %u", d->max_len);
}

/* ipvsadm's rule format <-> dsr_table_t (see rules.h). */
#include "dsr/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 40

/* One rule line, options gathered before the entry is built (-6 may follow -f). */
typedef struct rule_s {
	char cmd;         /* 'A' or 'a' */
	char kind;        /* 't', 'u' or 'f' */
	const char *addr; /* -t/-u ADDR:PORT */
	unsigned long fwmark;
	bool v6;
	const char *sched, *mask, *flags, *raddr;
	bool persistent, onepacket;
	long timeout, weight, u, l;
	int fwd;
} rule_t;

static int bad(char *err, size_t errlen, int line, const char *what, const char *tok)
{
	snprintf(err, errlen, "line %d: %s%s%s", line, what, tok ? ": " : "", tok ? tok : "");
	return -EINVAL;
}

static bool number(const char *s, unsigned long max, long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return false;
	*out = (long)v;
	return true;
}

/* Splits one line at white space, in place. */
static int tokenize(char *line, char **tok)
{
	int n = 0;
	for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (n == MAX_TOKENS)
			return -1;
		tok[n++] = t;
	}
	return n;
}

static int parse_options(char **tok, int n, int line, rule_t *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->timeout = -1;
	r->weight = 1;
	r->fwd = -1;
	if (strcmp(tok[0], "-A") == 0 || strcmp(tok[0], "-a") == 0)
		r->cmd = tok[0][1];
	else
		return bad(err, errlen, line, "expected -A or -a", tok[0]);
	for (int i = 1; i < n; i++) {
		const char *o = tok[i];
		const char *arg = i + 1 < n ? tok[i + 1] : NULL;
		long v;
		if (strcmp(o, "-6") == 0) {
			r->v6 = true;
			continue;
		}
		if (strcmp(o, "-g") == 0 || strcmp(o, "-m") == 0 || strcmp(o, "-i") == 0) {
			r->fwd = o[1] == 'g'   ? DSR_FWD_DR
			         : o[1] == 'm' ? DSR_FWD_NAT
			                       : DSR_FWD_TUNNEL;
			continue;
		}
		if (strcmp(o, "-o") == 0) {
			r->onepacket = true;
			continue;
		}
		if (strcmp(o, "-p") == 0) { /* the timeout is optional */
			r->persistent = true;
			if (arg && arg[0] != '-') {
				if (!number(arg, 0xffffffffu, &r->timeout) || r->timeout == 0)
					return bad(err, errlen, line, "bad persistence timeout",
					           arg);
				i++;
			}
			continue;
		}
		if (strlen(o) != 2 || o[0] != '-' || !strchr("tufsMbrwxy", o[1]))
			return bad(err, errlen, line, "unknown option", o);
		if (!arg)
			return bad(err, errlen, line, "option needs a value", o);
		i++;
		if (strcmp(o, "-t") == 0 || strcmp(o, "-u") == 0) {
			r->kind = o[1];
			r->addr = arg;
		} else if (strcmp(o, "-f") == 0) {
			r->kind = 'f';
			if (!number(arg, 0xffffffffu, &v) || v == 0)
				return bad(err, errlen, line, "bad firewall mark", arg);
			r->fwmark = (unsigned long)v;
		} else if (strcmp(o, "-s") == 0) {
			r->sched = arg;
		} else if (strcmp(o, "-M") == 0) {
			r->mask = arg;
		} else if (strcmp(o, "-b") == 0) {
			r->flags = arg;
		} else if (strcmp(o, "-r") == 0) {
			r->raddr = arg;
		} else if (strcmp(o, "-w") == 0 || strcmp(o, "-x") == 0 || strcmp(o, "-y") == 0) {
			if (!number(arg, o[1] == 'w' ? 65535 : 0xffffffffu, &v))
				return bad(err, errlen, line, "bad number", arg);
			*(o[1] == 'w' ? &r->weight : o[1] == 'x' ? &r->u : &r->l) = v;
		}
	}
	if (!r->kind)
		return bad(err, errlen, line, "no service (-t, -u or -f)", NULL);
	return 0;
}

static int rule_key(const rule_t *r, int line, dsr_svc_key_t *key, char *err, size_t errlen)
{
	char text[96];
	if (r->kind == 'f')
		snprintf(text, sizeof(text), "FWM %lu %s", r->fwmark, r->v6 ? "IPv6" : "IPv4");
	else
		snprintf(text, sizeof(text), "%s %s", r->kind == 't' ? "TCP" : "UDP", r->addr);
	if (dsr_svc_key_parse(text, key) < 0)
		return bad(err, errlen, line, "bad service address", r->addr);
	return 0;
}

/* "-M 255.255.255.0" or "-M 24" -> a prefix length. */
static int parse_mask(const char *s, uint16_t af, uint32_t *plen)
{
	long v;
	struct in_addr a;
	if (number(s, af == AF_INET6 ? 128 : 32, &v)) {
		*plen = (uint32_t)v;
		return 0;
	}
	if (af != AF_INET || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	uint32_t m = ntohl(a.s_addr);
	if (m & (~m >> 1)) /* not contiguous */
		return -EINVAL;
	*plen = (uint32_t)__builtin_popcount(m);
	return 0;
}

static int parse_flags(const char *s, uint32_t *flags)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (!strcmp(f, "sh-fallback") || !strcmp(f, "mh-fallback") || !strcmp(f, "flag-1"))
			*flags |= DSR_SVC_F_SCHED1;
		else if (!strcmp(f, "sh-port") || !strcmp(f, "mh-port") || !strcmp(f, "flag-2"))
			*flags |= DSR_SVC_F_SCHED2;
		else if (!strcmp(f, "flag-3"))
			*flags |= DSR_SVC_F_SCHED3;
		else
			return -EINVAL;
	}
	return 0;
}

static int add_service(dsr_table_t *t, const rule_t *r, const dsr_svc_key_t *key, int line,
                       char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nsvcs; i++) {
		if (dsr_svc_key_cmp(&t->svcs[i].svc.key, key) == 0)
			return bad(err, errlen, line, "service defined twice", r->addr);
	}
	t->svcs = realloc(t->svcs, (t->nsvcs + 1) * sizeof(*t->svcs));
	if (!t->svcs)
		abort();
	dsr_tsvc_t *s = &t->svcs[t->nsvcs++];
	memset(s, 0, sizeof(*s));
	s->svc.key = *key;
	const char *sched = r->sched ? r->sched : "wlc";
	if (strlen(sched) >= sizeof(s->svc.sched))
		return bad(err, errlen, line, "scheduler name too long", sched);
	snprintf(s->svc.sched, sizeof(s->svc.sched), "%s", sched);
	if (r->persistent) {
		s->svc.flags |= DSR_SVC_F_PERSISTENT;
		s->svc.timeout = r->timeout > 0 ? (uint32_t)r->timeout : 300;
	}
	if (r->onepacket)
		s->svc.flags |= DSR_SVC_F_ONEPACKET;
	if (r->flags && parse_flags(r->flags, &s->svc.flags) < 0)
		return bad(err, errlen, line, "bad scheduler flags", r->flags);
	if (r->mask && parse_mask(r->mask, key->af, &s->svc.netmask) < 0)
		return bad(err, errlen, line, "bad persistence netmask", r->mask);
	return 0;
}

static int add_dest(dsr_table_t *t, const rule_t *r, const dsr_svc_key_t *key, int line, char *err,
                    size_t errlen)
{
	dsr_tsvc_t *s = NULL;
	for (size_t i = 0; i < t->nsvcs && !s; i++) {
		if (dsr_svc_key_cmp(&t->svcs[i].svc.key, key) == 0)
			s = &t->svcs[i];
	}
	if (!s)
		return bad(err, errlen, line, "destination of a service not defined above",
		           r->addr);
	if (!r->raddr)
		return bad(err, errlen, line, "destination needs -r", NULL);
	dsr_dest_t d = {.fwd = r->fwd < 0 ? DSR_FWD_DR : (dsr_fwd_t)r->fwd};
	if (dsr_dest_parse(r->raddr, &d) < 0) { /* no port: the service's */
		char host[64];
		size_t len = strlen(r->raddr);
		if (r->raddr[0] == '[' && len > 2 && r->raddr[len - 1] == ']')
			snprintf(host, sizeof(host), "%.*s", (int)(len - 2), r->raddr + 1);
		else
			snprintf(host, sizeof(host), "%s", r->raddr);
		if (dsr_ip_parse(host, &d.addr) < 0)
			return bad(err, errlen, line, "bad destination address", r->raddr);
		d.port = key->port;
	}
	d.weight = (uint32_t)r->weight;
	d.u_thresh = (uint32_t)r->u;
	d.l_thresh = (uint32_t)r->l;
	for (size_t i = 0; i < s->ndests; i++) {
		if (dsr_dest_cmp(&s->dests[i], &d) == 0)
			return bad(err, errlen, line, "destination defined twice", r->raddr);
	}
	s->dests = realloc(s->dests, (s->ndests + 1) * sizeof(*s->dests));
	if (!s->dests)
		abort();
	s->dests[s->ndests++] = d;
	return 0;
}

int dsr_rules_parse(const char *text, dsr_table_t *out, char *err, size_t errlen)
{
	char *copy = strdup(text);
	int rc = 0, lineno = 0;
	if (!copy)
		abort();
	memset(out, 0, sizeof(*out));
	for (char *line = copy, *next; line; line = next) {
		char *tok[MAX_TOKENS];
		rule_t r;
		dsr_svc_key_t key;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		int n = tokenize(line, tok);
		if (n < 0) {
			rc = bad(err, errlen, lineno, "too many words", NULL);
			break;
		}
		if (n == 0 || tok[0][0] == '#')
			continue;
		if ((rc = parse_options(tok, n, lineno, &r, err, errlen)) < 0 ||
		    (rc = rule_key(&r, lineno, &key, err, errlen)) < 0)
			break;
		rc = r.cmd == 'A' ? add_service(out, &r, &key, lineno, err, errlen)
		                  : add_dest(out, &r, &key, lineno, err, errlen);
		if (rc < 0)
			break;
	}
	free(copy);
	if (rc < 0)
		dsr_table_free(out);
	return rc;
}

static void write_key(const dsr_svc_key_t *k, FILE *out)
{
	char a[64];
	if (k->fwmark) {
		fprintf(out, "-f %u%s", k->fwmark, k->af == AF_INET6 ? " -6" : "");
		return;
	}
	dsr_dest_t tmp = {.addr = k->addr, .port = k->port};
	dsr_dest_format(&tmp, a, sizeof(a));
	fprintf(out, "%s %s",
	        k->protocol == IPPROTO_UDP    ? "-u"
	        : k->protocol == IPPROTO_SCTP ? "--sctp-service"
	                                      : "-t",
	        a);
}

static void write_service(const dsr_svc_t *s, FILE *out)
{
	fprintf(out, "-A ");
	write_key(&s->key, out);
	fprintf(out, " -s %s", s->sched);
	if (s->flags & DSR_SVC_F_PERSISTENT) {
		fprintf(out, " -p %u", s->timeout);
		uint32_t full = s->key.af == AF_INET6 ? 128 : 32;
		if (s->netmask && s->netmask < full && s->key.af == AF_INET6) {
			fprintf(out, " -M %u", s->netmask);
		} else if (s->netmask && s->netmask < full) {
			struct in_addr m = {.s_addr = htonl(~0u << (32 - s->netmask))};
			char buf[INET_ADDRSTRLEN];
			fprintf(out, " -M %s", inet_ntop(AF_INET, &m, buf, sizeof(buf)));
		}
	}
	static const struct {
		uint32_t bit;
		const char *suffix;
	} fl[] = {
	    {DSR_SVC_F_SCHED1, "fallback"}, {DSR_SVC_F_SCHED2, "port"}, {DSR_SVC_F_SCHED3, ""}};
	bool named = strcmp(s->sched, "sh") == 0 || strcmp(s->sched, "mh") == 0;
	const char *sep = " -b ";
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		if (!(s->flags & fl[i].bit))
			continue;
		if (named && fl[i].suffix[0])
			fprintf(out, "%s%s-%s", sep, s->sched, fl[i].suffix);
		else
			fprintf(out, "%sflag-%zu", sep, i + 1);
		sep = ",";
	}
	if (s->flags & DSR_SVC_F_ONEPACKET)
		fprintf(out, " -o");
	fputc('\n', out);
}

void dsr_rules_write(const dsr_table_t *t, FILE *out)
{
	dsr_table_t s;
	dsr_table_copy(t, &s);
	dsr_table_sort(&s);
	for (size_t i = 0; i < s.nsvcs; i++) {
		write_service(&s.svcs[i].svc, out);
		for (size_t j = 0; j < s.svcs[i].ndests; j++) {
			const dsr_dest_t *d = &s.svcs[i].dests[j];
			char a[64];
			dsr_dest_format(d, a, sizeof(a));
			fprintf(out, "-a ");
			write_key(&s.svcs[i].svc.key, out);
			fprintf(out, " -r %s %s -w %u", a,
			        d->fwd == DSR_FWD_DR       ? "-g"
			        : d->fwd == DSR_FWD_TUNNEL ? "-i"
			                                   : "-m",
			        d->weight);
			if (d->u_thresh)
				fprintf(out, " -x %u", d->u_thresh);
			if (d->l_thresh)
				fprintf(out, " -y %u", d->l_thresh);
			fputc('\n', out);
		}
	}
	dsr_table_free(&s);
}

/*
 * Unit tests for dsr/reconcile.c. The diff is a table: want, have and owned written as text,
 * the expected plan as the lines dsr_step_format prints. Apply runs against a fake kernel defined
 * here in place of dsr/ipvs.c (this program does not link it), with the kernel's answers (EEXIST,
 * ESRCH, ENOENT) and hooks to race it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Included to reach the statics; dsr/ipvs.c's functions come from the fake below. */
#include "dsr/reconcile.c"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tables from text ----
 * services separated by ';', each "KEY | sched[/flags[/timeout]] | dest dest ..." where a dest is
 * "ADDR:PORT/weight[/upper/lower]" with an optional "@nat" (forwarding method, kernel side).
 */

static char *trim(char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

static void parse_dest_text(char *tok, dsr_dest_t *d)
{
	memset(d, 0, sizeof(*d));
	d->fwd = DSR_FWD_DR;
	char *at = strchr(tok, '@');
	if (at) {
		*at = '\0';
		assert_string_equal(at + 1, "nat");
		d->fwd = DSR_FWD_NAT;
	}
	char *slash = strchr(tok, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(dsr_dest_parse(tok, d), 0);
	unsigned w, u = 0, l = 0;
	int n = sscanf(slash + 1, "%u/%u/%u", &w, &u, &l);
	assert_true(n == 1 || n == 3);
	d->weight = w;
	d->u_thresh = u;
	d->l_thresh = l;
}

static dsr_table_t table(const char *text)
{
	dsr_table_t t = {0};
	char *copy = strdup(text), *save = NULL;
	t.svcs = calloc(16, sizeof(*t.svcs));
	for (char *svc = strtok_r(copy, ";", &save); svc; svc = strtok_r(NULL, ";", &save)) {
		if (!*trim(svc))
			continue;
		dsr_tsvc_t *s = &t.svcs[t.nsvcs++];
		assert_true(t.nsvcs <= 16);
		char *f1 = strchr(svc, '|');
		assert_non_null(f1);
		*f1++ = '\0';
		char *f2 = strchr(f1, '|');
		if (f2)
			*f2++ = '\0';
		assert_int_equal(dsr_svc_key_parse(trim(svc), &s->svc.key), 0);
		char sched[16] = "";
		unsigned flags = 0, timeout = 0;
		f1 = trim(f1);
		assert_true(!*f1 || sscanf(f1, "%15[^/]/%x/%u", sched, &flags, &timeout) >= 1);
		snprintf(s->svc.sched, sizeof(s->svc.sched), "%s", sched);
		s->svc.flags = flags;
		s->svc.timeout = timeout;
		s->dests = calloc(2048, sizeof(*s->dests));
		if (!f2)
			continue;
		char *save2 = NULL;
		for (char *tok = strtok_r(f2, " ", &save2); tok; tok = strtok_r(NULL, " ", &save2))
			parse_dest_text(tok, &s->dests[s->ndests++]);
	}
	free(copy);
	return t;
}

/* As the kernel reports a table: persistence flag and full netmasks filled in. */
static dsr_table_t kernel_table(const char *text)
{
	dsr_table_t t = table(text);
	for (size_t i = 0; i < t.nsvcs; i++) {
		dsr_svc_t *s = &t.svcs[i].svc;
		if (s->timeout)
			s->flags |= DSR_SVC_F_PERSISTENT;
		s->netmask = s->key.af == AF_INET6 ? 128 : 32;
	}
	return t;
}

static dsr_owned_t *owned_of(const char *text)
{
	dsr_owned_t *o = dsr_owned_new(NULL);
	char *copy = strdup(text), *save = NULL;
	for (char *line = strtok_r(copy, ";", &save); line; line = strtok_r(NULL, ";", &save)) {
		line = trim(line);
		if (strncmp(line, "service ", 8) == 0) {
			dsr_svc_key_t k;
			assert_int_equal(dsr_svc_key_parse(line + 8, &k), 0);
			dsr_owned_set_svc(o, &k, true);
		} else {
			assert_int_equal(strncmp(line, "dest ", 5), 0);
			char *sp = strrchr(line, ' ');
			*sp = '\0';
			dsr_svc_key_t k;
			dsr_dest_t d = {0};
			assert_int_equal(dsr_svc_key_parse(line + 5, &k), 0);
			assert_int_equal(dsr_dest_parse(sp + 1, &d), 0);
			dsr_owned_set_dest(o, &k, &d, true);
		}
	}
	free(copy);
	return o;
}

static void plan_lines(const dsr_plan_t *plan, char lines[][160], size_t max)
{
	assert_true(plan->n <= max);
	for (size_t i = 0; i < plan->n; i++)
		dsr_step_format(&plan->steps[i], lines[i], 160);
}

/* ---- the diff, as a table ---- */

#define V4 "TCP 192.0.2.10:80"
#define V6 "TCP [2001:db8::10]:443"
#define FW "FWM 7 IPv4"

static const struct {
	const char *name;
	const char *want, *have, *owned;
	const char *steps[12]; /* NULL-terminated */
} plan_rows[] = {
    {"empty kernel -> N services",
     V4 " | mh/0x8 | 10.0.0.11:80/1 10.0.0.12:80/2;" V6 " | wrr/0/300 | [2001:db8::11]:443/1;" FW
        " | rr | 10.0.0.11:0/1",
     "",
     "",
     {"add service TCP 192.0.2.10:80 sched mh flags 0x8 timeout 0",
      "add service TCP [2001:db8::10]:443 sched wrr flags 0x1 timeout 300",
      "add service FWM 7 IPv4 sched rr flags 0x0 timeout 0",
      "add dest 10.0.0.11:80 to TCP 192.0.2.10:80 weight 1",
      "add dest 10.0.0.12:80 to TCP 192.0.2.10:80 weight 2",
      "add dest [2001:db8::11]:443 to TCP [2001:db8::10]:443 weight 1",
      "add dest 10.0.0.11:0 to FWM 7 IPv4 weight 1", NULL}},
    {"in sync: nothing to do",
     V4 " | mh/0x8 | 10.0.0.11:80/1 10.0.0.12:80/2",
     V4 " | mh/0x8 | 10.0.0.12:80/2 10.0.0.11:80/1",
     "service " V4,
     {NULL}},
    {"weight change only",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/5",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/2",
     "",
     {"edit dest 10.0.0.12:80 of TCP 192.0.2.10:80 weight 5", NULL}},
    {"dest added",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.13:80/1",
     V4 " | wlc | 10.0.0.11:80/1",
     "",
     {"add dest 10.0.0.13:80 to TCP 192.0.2.10:80 weight 1", NULL}},
    {"dest removed by the config (ours)",
     V4 " | wlc | 10.0.0.11:80/1",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/1",
     "dest " V4 " 10.0.0.12:80",
     {"delete dest 10.0.0.12:80 from TCP 192.0.2.10:80", NULL}},
    {"dest not in the config and not ours: left alone",
     V4 " | wlc | 10.0.0.11:80/1",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.99:80/1",
     "service " V4 ";dest " V4 " 10.0.0.11:80",
     {NULL}},
    {"dest down -> weight 0, not deleted",
     V4 " | mh/0x8 | 10.0.0.11:80/0 10.0.0.12:80/1",
     V4 " | mh/0x8 | 10.0.0.11:80/1 10.0.0.12:80/1",
     "dest " V4 " 10.0.0.11:80",
     {"edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 0", NULL}},
    {"scheduler change",
     V4 " | wrr | 10.0.0.11:80/1",
     V4 " | mh/0x8 | 10.0.0.11:80/1",
     "",
     {"edit service TCP 192.0.2.10:80 sched wrr flags 0x0 timeout 0", NULL}},
    {"mh-port flag added",
     V4 " | mh/0x18",
     V4 " | mh/0x8",
     "",
     {"edit service TCP 192.0.2.10:80 sched mh flags 0x18 timeout 0", NULL}},
    {"persistence switched on",
     V4 " | wlc/0/300",
     V4 " | wlc",
     "",
     {"edit service TCP 192.0.2.10:80 sched wlc flags 0x1 timeout 300", NULL}},
    {"thresholds change",
     V4 " | wlc | 10.0.0.11:80/1/100/10",
     V4 " | wlc | 10.0.0.11:80/1",
     "",
     {"edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 1 thresholds 100/10", NULL}},
    {"forwarding method put back to DR",
     V4 " | wlc | 10.0.0.11:80/1",
     V4 " | wlc | 10.0.0.11:80/1@nat",
     "",
     {"edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 1", NULL}},
    {"port 0 in want is the service's port",
     V4 " | wlc | 10.0.0.11:0/1",
     V4 " | wlc | 10.0.0.11:80/1",
     "",
     {NULL}},
    {"foreign service untouched",
     V4 " | wlc | 10.0.0.11:80/1",
     V4 " | wlc | 10.0.0.11:80/1; TCP 198.51.100.1:80 | rr | 10.9.0.1:80/1 10.9.0.2:80/1",
     "service " V4,
     {NULL}},
    {"our stale service deleted, with no step for its destinations",
     "",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/1; " FW " | rr | 10.0.0.11:0/1",
     "service " V4 ";dest " V4 " 10.0.0.11:80;dest " V4 " 10.0.0.12:80; service " FW,
     {"delete service TCP 192.0.2.10:80", "delete service FWM 7 IPv4", NULL}},
    {"a foreign service keeps its own destinations, loses ours",
     "",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/1",
     "dest " V4 " 10.0.0.12:80",
     {"delete dest 10.0.0.12:80 from TCP 192.0.2.10:80", NULL}},
    {"every phase, in order",
     "TCP 192.0.2.20:80 | rr | 10.0.0.21:80/1;" V4 " | wrr | 10.0.0.11:80/3 10.0.0.13:80/1",
     V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/1; TCP 192.0.2.30:80 | rr | 10.0.0.31:80/1",
     "dest " V4 " 10.0.0.12:80; service TCP 192.0.2.30:80",
     {"add service TCP 192.0.2.20:80 sched rr flags 0x0 timeout 0",
      "edit service TCP 192.0.2.10:80 sched wrr flags 0x0 timeout 0",
      "add dest 10.0.0.13:80 to TCP 192.0.2.10:80 weight 1",
      "add dest 10.0.0.21:80 to TCP 192.0.2.20:80 weight 1",
      "edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 3",
      "delete dest 10.0.0.12:80 from TCP 192.0.2.10:80", "delete service TCP 192.0.2.30:80", NULL}},
    {"IPv6 and IPv4 services with the same port are different services",
     V6 " | wlc | [2001:db8::11]:443/1; TCP 192.0.2.10:443 | wlc | 10.0.0.11:443/1",
     V6 " | wlc | [2001:db8::11]:443/1",
     "",
     {"add service TCP 192.0.2.10:443 sched wlc flags 0x0 timeout 0",
      "add dest 10.0.0.11:443 to TCP 192.0.2.10:443 weight 1", NULL}},
    {"empty scheduler means wlc", V4 " | ", V4 " | wlc", "", {NULL}},
};

static void test_plan_table(void **state)
{
	for (size_t r = 0; r < NELEM(plan_rows); r++) {
		dsr_table_t want = table(plan_rows[r].want);
		dsr_table_t have = kernel_table(plan_rows[r].have);
		dsr_owned_t *owned = owned_of(plan_rows[r].owned);
		dsr_plan_t plan;
		char err[256] = "", lines[32][160];
		int rc = dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err));
		if (rc != 0)
			fail_msg("%s: plan failed: %s", plan_rows[r].name, err);
		plan_lines(&plan, lines, 32);
		size_t n = 0;
		while (plan_rows[r].steps[n])
			n++;
		for (size_t i = 0; i < plan.n || i < n; i++) {
			const char *got = i < plan.n ? lines[i] : "(none)";
			const char *exp = i < n ? plan_rows[r].steps[i] : "(none)";
			if (strcmp(got, exp) != 0)
				fail_msg("%s: step %zu:\n   got: %s\n  want: %s", plan_rows[r].name,
				         i, got, exp);
		}
		dsr_plan_free(&plan);
		dsr_owned_free(owned);
		dsr_table_free(&want);
		dsr_table_free(&have);
	}
}

/* Wanted tables that are refused, with what the message must say. */
static void test_plan_rejects(void **state)
{
	static const struct {
		const char *want, *msg;
	} rows[] = {
	    {V4 " | wlc | 10.0.0.11:8080/1",
	     "service TCP 192.0.2.10:80: destination 10.0.0.11:8080: DR cannot change ports"},
	    {V4 " | wlc; " V4 " | rr", "service TCP 192.0.2.10:80 listed twice"},
	    {V4 " | wlc | 10.0.0.11:80/1 10.0.0.11:0/2", "destination 10.0.0.11:80 listed twice"},
	    {V4 " | wlc | [2001:db8::11]:80/1", "DR needs the service's address family"},
	    {"UDP 192.0.2.10:53 | wlc", "only TCP virtual services"},
	    {V4 " | wlc | 10.0.0.11:80/1/10/20", "lower threshold 20 above upper 10"},
	};
	for (size_t r = 0; r < NELEM(rows); r++) {
		dsr_table_t want = table(rows[r].want), have = {0};
		dsr_owned_t *owned = dsr_owned_new(NULL);
		dsr_plan_t plan;
		char err[256] = "";
		assert_int_equal(dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err)),
		                 -EINVAL);
		if (!strstr(err, rows[r].msg))
			fail_msg("row %zu: message \"%s\" lacks \"%s\"", r, err, rows[r].msg);
		assert_int_equal(plan.n, 0);
		dsr_plan_free(&plan);
		dsr_owned_free(owned);
		dsr_table_free(&want);
	}
}

/* The diff ignores what only the kernel reports: counters, connection counts. */
static void test_plan_ignores_counters(void **state)
{
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:80/1");
	dsr_table_t have = kernel_table(V4 " | wlc | 10.0.0.11:80/1");
	have.svcs[0].svc.stats.conns = 1000;
	have.svcs[0].dests[0].active = 12;
	have.svcs[0].dests[0].inactive = 3;
	have.svcs[0].dests[0].stats.outbytes = 1u << 30;
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_plan_t plan;
	char err[256];
	assert_int_equal(dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.n, 0);
	dsr_plan_free(&plan);
	dsr_owned_free(owned);
	dsr_table_free(&want);
	dsr_table_free(&have);
}

/* Nodes without a health verdict yet (keep_weight): the wanted weight is a ceiling over the
 * kernel's, never a raise, and a destination the kernel lacks comes in at 0 (issue 13: a
 * restart gave a down node its weight for the first milliseconds). */
static void test_plan_keep_weight(void **state)
{
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:80/5 10.0.0.12:80/5 10.0.0.13:80/5 "
	                            "10.0.0.14:80/5;" V6 " | wlc | [2001:db8::11]:443/3");
	dsr_table_t have = kernel_table(V4 " | wlc | 10.0.0.11:80/0 10.0.0.12:80/2 10.0.0.13:80/9");
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_plan_t plan;
	char err[256], lines[8][160];
	(void)state;
	for (size_t i = 0; i < want.nsvcs; i++)
		for (size_t j = 0; j < want.svcs[i].ndests; j++)
			want.svcs[i].dests[j].keep_weight = true;
	assert_int_equal(dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err)), 0);
	plan_lines(&plan, lines, 8);
	/* .11 stays at 0 (down before the restart), .12 stays at 2, .13 comes down to the ceiling
	 * 5, .14 and the new service's dest start at 0 */
	assert_int_equal(plan.n, 4);
	assert_string_equal(lines[0],
	                    "add service TCP [2001:db8::10]:443 sched wlc flags 0x0 timeout 0");
	assert_string_equal(lines[1], "add dest 10.0.0.14:80 to TCP 192.0.2.10:80 weight 0");
	assert_string_equal(lines[2],
	                    "add dest [2001:db8::11]:443 to TCP [2001:db8::10]:443 weight 0");
	assert_string_equal(lines[3], "edit dest 10.0.0.13:80 of TCP 192.0.2.10:80 weight 5");
	dsr_plan_free(&plan);
	/* once every node has a verdict, the same want raises the weights */
	for (size_t i = 0; i < want.nsvcs; i++)
		for (size_t j = 0; j < want.svcs[i].ndests; j++)
			want.svcs[i].dests[j].keep_weight = false;
	assert_int_equal(dsr_plan_make(&want, &have, owned, &plan, err, sizeof(err)), 0);
	plan_lines(&plan, lines, 8);
	assert_int_equal(plan.n, 6);
	assert_string_equal(lines[3], "edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 5");
	assert_string_equal(lines[4], "edit dest 10.0.0.12:80 of TCP 192.0.2.10:80 weight 5");
	dsr_plan_free(&plan);
	dsr_owned_free(owned);
	dsr_table_free(&want);
	dsr_table_free(&have);
}

/* ---- a fake kernel in place of dsr/ipvs.c ---- */

struct dsr_ipvs_s {
	dsr_table_t t; /* what the "kernel" holds (each service's dests: room for 2048) */
	int calls;     /* netlink requests made */
	int dumps;
	int fail_dump; /* dsr_ipvs_dump returns this when non-zero */
	/* called before each change, to race the reconciler */
	void (*before)(dsr_ipvs_t *h, dsr_op_t op, const dsr_svc_key_t *key);
	const char *owned_path; /* checked for write-ahead before each add */
	char last[256];
};

static dsr_tsvc_t *k_find(dsr_ipvs_t *h, const dsr_svc_key_t *key)
{
	for (size_t i = 0; i < h->t.nsvcs; i++) {
		if (dsr_svc_key_cmp(&h->t.svcs[i].svc.key, key) == 0)
			return &h->t.svcs[i];
	}
	return NULL;
}

static dsr_dest_t *k_dest(dsr_tsvc_t *s, const dsr_dest_t *d)
{
	for (size_t i = 0; i < s->ndests; i++) {
		if (dsr_dest_cmp(&s->dests[i], d) == 0)
			return &s->dests[i];
	}
	return NULL;
}

static int k_fail(dsr_ipvs_t *h, const char *what, const dsr_svc_key_t *key, int rc)
{
	char k[96];
	dsr_svc_key_format(key, k, sizeof(k));
	snprintf(h->last, sizeof(h->last), "%s %s: errno %d", what, k, -rc);
	return rc;
}

static void k_enter(dsr_ipvs_t *h, dsr_op_t op, const dsr_svc_key_t *key)
{
	h->calls++;
	h->last[0] = '\0';
	if (h->before)
		h->before(h, op, key);
}

/* Is the entry already in the saved ownership file? (write-ahead) */
static bool in_owned_file(dsr_ipvs_t *h, const char *line)
{
	if (!h->owned_path)
		return true;
	FILE *f = fopen(h->owned_path, "r");
	if (!f)
		return false;
	char buf[256];
	bool found = false;
	while (!found && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		found = strcmp(buf, line) == 0;
	}
	fclose(f);
	return found;
}

static bool sched_ok(const char *s)
{
	return strcmp(s, "nosuch") != 0;
}

int dsr_ipvs_svc_add(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	char k[96], line[128];
	k_enter(h, DSR_OP_SVC_ADD, &svc->key);
	dsr_svc_key_format(&svc->key, k, sizeof(k));
	snprintf(line, sizeof(line), "service %s", k);
	assert_true(in_owned_file(h, line));
	if (k_find(h, &svc->key))
		return k_fail(h, "add service", &svc->key, -EEXIST);
	if (!sched_ok(svc->sched))
		return k_fail(h, "add service", &svc->key, -ENOENT);
	dsr_tsvc_t *s = &h->t.svcs[h->t.nsvcs++];
	memset(s, 0, sizeof(*s));
	s->svc = *svc;
	s->dests = calloc(2048, sizeof(*s->dests));
	return 0;
}

int dsr_ipvs_svc_edit(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	k_enter(h, DSR_OP_SVC_EDIT, &svc->key);
	dsr_tsvc_t *s = k_find(h, &svc->key);
	if (!s)
		return k_fail(h, "edit service", &svc->key, -ESRCH);
	s->svc = *svc;
	return 0;
}

int dsr_ipvs_svc_del(dsr_ipvs_t *h, const dsr_svc_key_t *key)
{
	k_enter(h, DSR_OP_SVC_DEL, key);
	dsr_tsvc_t *s = k_find(h, key);
	if (!s)
		return k_fail(h, "delete service", key, -ESRCH);
	free(s->dests);
	*s = h->t.svcs[--h->t.nsvcs];
	return 0;
}

int dsr_ipvs_dest_add(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	char k[96], a[64], line[192];
	k_enter(h, DSR_OP_DEST_ADD, key);
	dsr_svc_key_format(key, k, sizeof(k));
	dsr_dest_format(dest, a, sizeof(a));
	snprintf(line, sizeof(line), "dest %s %s", k, a);
	assert_true(in_owned_file(h, line));
	dsr_tsvc_t *s = k_find(h, key);
	if (!s)
		return k_fail(h, "add dest to", key, -ESRCH);
	if (k_dest(s, dest))
		return k_fail(h, "add dest to", key, -EEXIST);
	assert_int_equal(dest->fwd, DSR_FWD_DR);
	assert_true(s->ndests < 2048);
	s->dests[s->ndests++] = *dest;
	return 0;
}

int dsr_ipvs_dest_edit(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	k_enter(h, DSR_OP_DEST_EDIT, key);
	dsr_tsvc_t *s = k_find(h, key);
	if (!s)
		return k_fail(h, "edit dest of", key, -ESRCH);
	dsr_dest_t *d = k_dest(s, dest);
	if (!d)
		return k_fail(h, "edit dest of", key, -ENOENT);
	*d = *dest;
	return 0;
}

int dsr_ipvs_dest_del(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	k_enter(h, DSR_OP_DEST_DEL, key);
	dsr_tsvc_t *s = k_find(h, key);
	if (!s)
		return k_fail(h, "delete dest from", key, -ESRCH);
	dsr_dest_t *d = k_dest(s, dest);
	if (!d)
		return k_fail(h, "delete dest from", key, -ENOENT);
	*d = s->dests[--s->ndests];
	return 0;
}

/* What a dump returns: copies, with the kernel's view of flags and netmask. */
int dsr_ipvs_dump(dsr_ipvs_t *h, dsr_table_t *out)
{
	h->dumps++;
	if (h->fail_dump) {
		snprintf(h->last, sizeof(h->last), "dump IPVS services: errno %d", -h->fail_dump);
		return h->fail_dump;
	}
	out->nsvcs = h->t.nsvcs;
	out->svcs = calloc(h->t.nsvcs + 1, sizeof(*out->svcs));
	for (size_t i = 0; i < h->t.nsvcs; i++) {
		dsr_tsvc_t *s = &out->svcs[i];
		*s = h->t.svcs[i];
		s->dests = calloc(s->ndests + 1, sizeof(*s->dests));
		memcpy(s->dests, h->t.svcs[i].dests, s->ndests * sizeof(*s->dests));
		if (s->svc.netmask == 0)
			s->svc.netmask = s->svc.key.af == AF_INET6 ? 128 : 32;
	}
	return 0;
}

const char *dsr_ipvs_last_error(const dsr_ipvs_t *h)
{
	return h->last;
}

static dsr_ipvs_t *fake_new(const char *have)
{
	dsr_ipvs_t *h = calloc(1, sizeof(*h));
	dsr_table_t t = kernel_table(have);
	h->t.svcs = calloc(64, sizeof(*h->t.svcs));
	memcpy(h->t.svcs, t.svcs, t.nsvcs * sizeof(*t.svcs));
	h->t.nsvcs = t.nsvcs;
	free(t.svcs);
	return h;
}

static void fake_free(dsr_ipvs_t *h)
{
	dsr_table_free(&h->t);
	free(h);
}

/* The kernel table as sorted text lines, to compare with what was wanted. */
static void fake_text(dsr_ipvs_t *h, char *buf, size_t len)
{
	dsr_table_t t;
	dsr_table_t copy;
	assert_int_equal(dsr_ipvs_dump(h, &t), 0);
	h->dumps--;
	copy_sorted(&t, &copy);
	size_t pos = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < copy.nsvcs; i++) {
		char k[96];
		dsr_svc_key_format(&copy.svcs[i].svc.key, k, sizeof(k));
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s %s", i ? "; " : "", k,
		                        copy.svcs[i].svc.sched);
		for (size_t j = 0; j < copy.svcs[i].ndests; j++) {
			char a[64];
			dsr_dest_format(&copy.svcs[i].dests[j], a, sizeof(a));
			pos += (size_t)snprintf(buf + pos, len - pos, " %s/%u", a,
			                        copy.svcs[i].dests[j].weight);
		}
	}
	dsr_table_free(&t);
	dsr_table_free(&copy);
}

typedef struct seen_s {
	int calls;
	int failures;
	char last_msg[256];
} seen_t;

static void on_step(void *ud, const dsr_step_t *st, int rc, const char *msg)
{
	seen_t *s = ud;
	s->calls++;
	if (rc) {
		s->failures++;
		assert_non_null(msg);
		snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg);
	} else {
		assert_null(msg);
	}
}

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/s3lb-reconcile-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

/* ---- apply and the whole cycle ---- */

static void test_reconcile_converges(void **state)
{
	char path[128], err[256], text[4096];
	snprintf(path, sizeof(path), "%s/run/ipvs-owned", tmpdir);
	dsr_ipvs_t *h = fake_new("TCP 198.51.100.1:80 | rr | 10.9.0.1:80/1");
	h->owned_path = path;
	dsr_owned_t *owned;
	assert_int_equal(dsr_owned_load(path, &owned, err, sizeof(err)), 0);
	dsr_apply_result_t res;
	seen_t seen = {0};

	dsr_table_t want = table(V4 " | mh/0x8 | 10.0.0.11:80/1 10.0.0.12:80/2;" V6
	                            " | wrr | [2001:db8::11]:443/1");
	assert_int_equal(dsr_reconcile(h, &want, owned, on_step, &seen, &res), 0);
	assert_int_equal(res.planned, 5);
	assert_int_equal(res.done, 5);
	assert_int_equal(res.failed, 0);
	assert_int_equal(seen.calls, 5);
	fake_text(h, text, sizeof(text));
	assert_string_equal(text, "TCP 192.0.2.10:80 mh 10.0.0.11:80/1 10.0.0.12:80/2; "
	                          "TCP 198.51.100.1:80 rr 10.9.0.1:80/1; "
	                          "TCP [2001:db8::10]:443 wrr [2001:db8::11]:443/1");
	assert_int_equal(dsr_owned_count(owned), 5);

	/* again: nothing to do, no request sent */
	h->calls = 0;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.planned, 0);
	assert_int_equal(h->calls, 0);

	/* restart: ownership comes back from the file */
	dsr_owned_free(owned);
	assert_int_equal(dsr_owned_load(path, &owned, err, sizeof(err)), 0);
	assert_int_equal(dsr_owned_count(owned), 5);

	/* the config drops the IPv6 service and a node; another node goes down */
	dsr_table_free(&want);
	want = table(V4 " | mh/0x8 | 10.0.0.11:80/0");
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.planned, 3);
	assert_int_equal(res.done, 3);
	fake_text(h, text, sizeof(text));
	assert_string_equal(text, "TCP 192.0.2.10:80 mh 10.0.0.11:80/0; "
	                          "TCP 198.51.100.1:80 rr 10.9.0.1:80/1");
	assert_int_equal(dsr_owned_count(owned), 2);
	dsr_owned_free(owned);
	assert_int_equal(dsr_owned_load(path, &owned, err, sizeof(err)), 0);
	dsr_svc_key_t k;
	assert_int_equal(dsr_svc_key_parse(V6, &k), 0);
	assert_false(dsr_owned_svc(owned, &k));

	/* an empty config removes what is ours and nothing else */
	dsr_table_free(&want);
	want = table("");
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	fake_text(h, text, sizeof(text));
	assert_string_equal(text, "TCP 198.51.100.1:80 rr 10.9.0.1:80/1");
	assert_int_equal(dsr_owned_count(owned), 0);

	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

/* Someone adds the service between our dump and our add: EEXIST is done, and it is not ours. */
static void race_add_service(dsr_ipvs_t *h, dsr_op_t op, const dsr_svc_key_t *key)
{
	if (op != DSR_OP_SVC_ADD)
		return;
	h->before = NULL;
	dsr_svc_t s = {.key = *key};
	snprintf(s.sched, sizeof(s.sched), "rr");
	const char *saved = h->owned_path;
	h->owned_path = NULL;
	assert_int_equal(dsr_ipvs_svc_add(h, &s), 0);
	h->owned_path = saved;
	h->calls--;
}

static void test_apply_add_eexist_is_done_not_ours(void **state)
{
	dsr_ipvs_t *h = fake_new("");
	h->before = race_add_service;
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:80/1");
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.already, 1);
	assert_int_equal(res.done, 1);
	dsr_svc_key_t k;
	assert_int_equal(dsr_svc_key_parse(V4, &k), 0);
	assert_false(dsr_owned_svc(owned, &k));
	dsr_dest_t d = {0};
	assert_int_equal(dsr_dest_parse("10.0.0.11:80", &d), 0);
	assert_true(dsr_owned_dest(owned, &k, &d)); /* the destination we did add */
	/* the next cycle edits the racer's service to the config (it is named there) */
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.planned, 1);
	assert_string_equal(h->t.svcs[0].svc.sched, "wlc");
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

/* A plan made from a stale dump: deleting what is already gone is done. */
static void test_apply_delete_gone_is_done(void **state)
{
	dsr_ipvs_t *h = fake_new(V4 " | wlc | 10.0.0.11:80/1");
	dsr_owned_t *owned = owned_of("service TCP 192.0.2.99:80; dest " V4
	                              " 10.0.0.12:80; dest " V4 " 10.0.0.11:80");
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:80/1");
	dsr_table_t stale = kernel_table(V4 " | wlc | 10.0.0.11:80/1 10.0.0.12:80/1;"
	                                    "TCP 192.0.2.99:80 | wlc");
	dsr_plan_t plan;
	char err[256];
	assert_int_equal(dsr_plan_make(&want, &stale, owned, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.n, 2);
	dsr_apply_result_t res;
	seen_t seen = {0};
	assert_int_equal(dsr_plan_apply(h, &plan, owned, on_step, &seen, &res), 0);
	assert_int_equal(res.already, 2);
	assert_int_equal(res.failed, 0);
	assert_int_equal(seen.failures, 0);
	assert_int_equal(dsr_owned_count(owned), 1); /* only 10.0.0.11 is left */
	dsr_plan_free(&plan);
	dsr_table_free(&want);
	dsr_table_free(&stale);
	dsr_owned_free(owned);
	fake_free(h);
}

/* A service the kernel refuses: its destinations are skipped, the rest goes on. */
static void test_apply_failed_service_skips_its_dests(void **state)
{
	dsr_ipvs_t *h = fake_new("");
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_table_t want = table(V4 " | nosuch | 10.0.0.11:80/1 10.0.0.12:80/1;"
	                            "TCP 192.0.2.20:80 | rr | 10.0.0.21:80/1");
	dsr_apply_result_t res;
	seen_t seen = {0};
	assert_int_equal(dsr_reconcile(h, &want, owned, on_step, &seen, &res), -ENOENT);
	assert_int_equal(res.planned, 5);
	assert_int_equal(res.done, 2);
	assert_int_equal(res.failed, 3);
	assert_int_equal(h->calls, 3); /* two service adds and one destination add */
	assert_int_equal(res.first_rc, -ENOENT);
	assert_string_equal(res.first, "add service TCP 192.0.2.10:80: errno 2");
	assert_string_equal(seen.last_msg, "skipped: service TCP 192.0.2.10:80 could not be added");
	/* nothing recorded for what was not created */
	assert_int_equal(dsr_owned_count(owned), 2);
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

/* If ownership cannot be recorded, nothing is created. */
static void test_apply_stops_when_owned_cannot_be_saved(void **state)
{
	char blocker[128], path[160];
	snprintf(blocker, sizeof(blocker), "%s/blocker", tmpdir);
	FILE *f = fopen(blocker, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ipvs-owned", blocker);
	dsr_ipvs_t *h = fake_new("");
	dsr_owned_t *owned = dsr_owned_new(path);
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:80/1");
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), -ENOTDIR);
	assert_int_equal(h->calls, 0);
	assert_non_null(strstr(res.first, "cannot save"));
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

static void test_reconcile_dump_failure(void **state)
{
	dsr_ipvs_t *h = fake_new("");
	h->fail_dump = -EPERM;
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_table_t want = table(V4 " | wlc");
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), -EPERM);
	assert_int_equal(res.failed, 1);
	assert_string_equal(res.first, "dump IPVS services: errno 1");
	assert_int_equal(h->calls, 0);
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

static void test_reconcile_bad_want_changes_nothing(void **state)
{
	dsr_ipvs_t *h = fake_new(V4 " | wlc | 10.0.0.11:80/1");
	dsr_owned_t *owned = owned_of("service " V4);
	dsr_table_t want = table(V4 " | wlc | 10.0.0.11:8080/1");
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), -EINVAL);
	assert_non_null(strstr(res.first, "DR cannot change ports"));
	assert_int_equal(h->calls, 0);
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

/* An owned entry whose service is gone (deleted by hand) is forgotten, not resurrected, and a
 * service of that name created later by someone else is not ours. */
static void test_reconcile_prunes_vanished(void **state)
{
	dsr_ipvs_t *h = fake_new("");
	dsr_owned_t *owned = owned_of("service " V4 "; dest " V4 " 10.0.0.11:80");
	dsr_table_t want = table("");
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(dsr_owned_count(owned), 0);
	dsr_table_free(&h->t);
	dsr_table_t t = kernel_table(V4 " | rr | 10.0.0.11:80/1");
	h->t.svcs = calloc(64, sizeof(*h->t.svcs));
	memcpy(h->t.svcs, t.svcs, sizeof(*t.svcs));
	h->t.nsvcs = 1;
	free(t.svcs);
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.planned, 0);
	assert_int_equal(h->t.nsvcs, 1);
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

/* 1000 destinations: the plan is made once, each step one request. */
static void test_reconcile_thousand(void **state)
{
	dsr_ipvs_t *h = fake_new("");
	dsr_owned_t *owned = dsr_owned_new(NULL);
	dsr_table_t want = table(V4 " | wlc");
	for (int i = 0; i < 1000; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.1.%d.%d:80", i / 250, i % 250 + 1);
		dsr_dest_t *d = &want.svcs[0].dests[want.svcs[0].ndests++];
		assert_int_equal(dsr_dest_parse(a, d), 0);
		d->weight = 1;
	}
	dsr_apply_result_t res;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.done, 1001);
	for (size_t i = 0; i < 1000; i += 2)
		want.svcs[0].dests[i].weight = 0;
	want.svcs[0].ndests = 900;
	h->calls = 0;
	assert_int_equal(dsr_reconcile(h, &want, owned, NULL, NULL, &res), 0);
	assert_int_equal(res.planned, 450 + 100);
	assert_int_equal(h->calls, 550);
	assert_int_equal(h->t.svcs[0].ndests, 900);
	dsr_table_free(&want);
	dsr_owned_free(owned);
	fake_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plan_table),
	    cmocka_unit_test(test_plan_rejects),
	    cmocka_unit_test(test_plan_ignores_counters),
	    cmocka_unit_test(test_plan_keep_weight),
	    cmocka_unit_test(test_reconcile_converges),
	    cmocka_unit_test(test_apply_add_eexist_is_done_not_ours),
	    cmocka_unit_test(test_apply_delete_gone_is_done),
	    cmocka_unit_test(test_apply_failed_service_skips_its_dests),
	    cmocka_unit_test(test_apply_stops_when_owned_cannot_be_saved),
	    cmocka_unit_test(test_reconcile_dump_failure),
	    cmocka_unit_test(test_reconcile_bad_want_changes_nothing),
	    cmocka_unit_test(test_reconcile_prunes_vanished),
	    cmocka_unit_test(test_reconcile_thousand),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests for the director thread (dsr/director.c) on a real uv loop: wants built from a
 * config and health, the thread reconciling them, the status snapshot coming back through the
 * uv_async, and stop.
 *
 * The seam is the link: this program defines, below, every dsr/ipvs.h function that the director
 * and the reconciler call, so the linker never takes dsr/ipvs.o out of libs3lb_dsr.a and the
 * thread runs the real director, reconciler (dsr/reconcile.c) and ownership file (dsr/owner.c)
 * against an in-memory kernel (tests/unit/test_dsr_reconcile.c does the same for the reconciler
 * alone). Should the director come to call a dsr/ipvs.h function missing here, dsr/ipvs.o is
 * pulled in and the link fails on a duplicate definition: it cannot fall back to netlink quietly.
 *
 * Threads: the fake kernel is called on the director's thread and inspected on the test's,
 * always under fk.lock. It never calls cmocka (a failed assertion longjmps on the thread that
 * made it): what it sees is recorded and asserted on the test's thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/config.h"
#include "core/log.h"
#include "dsr/director.h"
#include "dsr/ipvs.h"

#define NOPS     (DSR_OP_DEST_DEL + 1)
#define WAIT_MS  5000 /* for anything the thread does on a want */
#define NWRITTEN 256

/* ---- the fake kernel, in place of dsr/ipvs.c ---- */

static struct {
	uv_mutex_t lock;
	uv_cond_t cond;
	dsr_table_t t;    /* the kernel's table */
	int open_rc;      /* dsr_ipvs_open fails with it when non-zero */
	int open_tries;   /* calls of dsr_ipvs_open */
	int opens;        /* handles opened */
	int handles;      /* handles open now */
	int calls[NOPS];  /* requests per operation (dumps count as DSR_OP_SVC_DUMP) */
	dsr_op_t fail_op; /* the next fail_times requests of fail_op fail with fail_rc */
	int fail_rc;
	int fail_times;
	char failed[256]; /* the message of the last failure made */
	bool hold;        /* requests of hold_op wait while hold is set */
	dsr_op_t hold_op;
	bool holding;               /* a request is waiting in hold */
	uint32_t written[NWRITTEN]; /* weights sent by destination adds and edits, in order */
	size_t nwritten;
	int bad; /* non-DR destinations sent, or more writes than written[] holds */
} fk;

struct dsr_ipvs_s {
	char last[256];
};

static dsr_tsvc_t *k_svc(const dsr_svc_key_t *key)
{
	for (size_t i = 0; i < fk.t.nsvcs; i++) {
		if (dsr_svc_key_cmp(&fk.t.svcs[i].svc.key, key) == 0)
			return &fk.t.svcs[i];
	}
	return NULL;
}

static dsr_dest_t *k_dest(dsr_tsvc_t *s, const dsr_dest_t *d)
{
	for (size_t i = 0; s && i < s->ndests; i++) {
		if (dsr_dest_cmp(&s->dests[i], d) == 0)
			return &s->dests[i];
	}
	return NULL;
}

/* A message like dsr/ipvs.c's: "edit destination 10.0.0.12:80 of TCP 192.0.2.10:80: ...". */
static int k_fail(dsr_ipvs_t *h, const char *verb, const dsr_svc_key_t *key, const dsr_dest_t *dest,
                  const char *prep, int rc)
{
	char k[96] = "", d[64] = "";
	if (key)
		dsr_svc_key_format(key, k, sizeof(k));
	if (dest) {
		dsr_dest_format(dest, d, sizeof(d));
		snprintf(h->last, sizeof(h->last), "%s %s %s %s: %s", verb, d, prep, k,
		         strerror(-rc));
	} else {
		snprintf(h->last, sizeof(h->last), "%s%s%s: %s", verb, key ? " " : "", k,
		         strerror(-rc));
	}
	return rc;
}

/* Every request starts here, under fk.lock: counts it, waits while held, fails on demand. */
static int k_enter(dsr_ipvs_t *h, dsr_op_t op, const char *verb, const dsr_svc_key_t *key,
                   const dsr_dest_t *dest, const char *prep)
{
	uv_mutex_lock(&fk.lock);
	fk.calls[op]++;
	h->last[0] = '\0';
	while (fk.hold && fk.hold_op == op) {
		fk.holding = true;
		uv_cond_broadcast(&fk.cond);
		uv_cond_wait(&fk.cond, &fk.lock);
	}
	fk.holding = false;
	if (fk.fail_times > 0 && fk.fail_op == op) {
		fk.fail_times--;
		k_fail(h, verb, key, dest, prep, fk.fail_rc);
		snprintf(fk.failed, sizeof(fk.failed), "%s", h->last);
		return fk.fail_rc;
	}
	return 0;
}

static int k_leave(int rc)
{
	uv_mutex_unlock(&fk.lock);
	return rc;
}

int dsr_ipvs_open(dsr_ipvs_t **out, char *err, size_t errlen)
{
	int rc;
	uv_mutex_lock(&fk.lock);
	fk.open_tries++;
	rc = fk.open_rc;
	if (rc < 0) {
		snprintf(err, errlen, "the kernel has no IPVS (modprobe ip_vs?)");
	} else {
		*out = calloc(1, sizeof(**out));
		if (!*out)
			abort();
		fk.opens++;
		fk.handles++;
	}
	uv_mutex_unlock(&fk.lock);
	return rc;
}

void dsr_ipvs_close(dsr_ipvs_t *h)
{
	uv_mutex_lock(&fk.lock);
	fk.handles--;
	uv_mutex_unlock(&fk.lock);
	free(h);
}

const char *dsr_ipvs_last_error(const dsr_ipvs_t *h)
{
	return h->last;
}

/* The table as the kernel reports it: copies, with the full netmask filled in. */
int dsr_ipvs_dump(dsr_ipvs_t *h, dsr_table_t *out)
{
	int rc = k_enter(h, DSR_OP_SVC_DUMP, "dump IPVS services", NULL, NULL, NULL);
	if (rc < 0)
		return k_leave(rc);
	dsr_table_copy(&fk.t, out);
	for (size_t i = 0; i < out->nsvcs; i++) {
		dsr_svc_t *s = &out->svcs[i].svc;
		if (s->netmask == 0)
			s->netmask = s->key.af == AF_INET6 ? 128 : 32;
	}
	return k_leave(0);
}

int dsr_ipvs_svc_add(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	int rc = k_enter(h, DSR_OP_SVC_ADD, "add service", &svc->key, NULL, NULL);
	if (rc < 0)
		return k_leave(rc);
	if (k_svc(&svc->key))
		return k_leave(k_fail(h, "add service", &svc->key, NULL, NULL, -EEXIST));
	fk.t.svcs = realloc(fk.t.svcs, (fk.t.nsvcs + 1) * sizeof(*fk.t.svcs));
	if (!fk.t.svcs)
		abort();
	memset(&fk.t.svcs[fk.t.nsvcs], 0, sizeof(*fk.t.svcs));
	fk.t.svcs[fk.t.nsvcs++].svc = *svc;
	return k_leave(0);
}

int dsr_ipvs_svc_edit(dsr_ipvs_t *h, const dsr_svc_t *svc)
{
	int rc = k_enter(h, DSR_OP_SVC_EDIT, "edit service", &svc->key, NULL, NULL);
	dsr_tsvc_t *s;
	if (rc < 0)
		return k_leave(rc);
	if (!(s = k_svc(&svc->key)))
		return k_leave(k_fail(h, "edit service", &svc->key, NULL, NULL, -ESRCH));
	s->svc = *svc;
	return k_leave(0);
}

int dsr_ipvs_svc_del(dsr_ipvs_t *h, const dsr_svc_key_t *key)
{
	int rc = k_enter(h, DSR_OP_SVC_DEL, "delete service", key, NULL, NULL);
	dsr_tsvc_t *s;
	if (rc < 0)
		return k_leave(rc);
	if (!(s = k_svc(key)))
		return k_leave(k_fail(h, "delete service", key, NULL, NULL, -ESRCH));
	free(s->dests);
	*s = fk.t.svcs[--fk.t.nsvcs];
	return k_leave(0);
}

static void note_written(const dsr_dest_t *dest)
{
	if (fk.nwritten < NWRITTEN)
		fk.written[fk.nwritten++] = dest->weight;
	else
		fk.bad++;
	if (dest->fwd != DSR_FWD_DR)
		fk.bad++;
}

int dsr_ipvs_dest_add(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	int rc = k_enter(h, DSR_OP_DEST_ADD, "add destination", key, dest, "to");
	dsr_tsvc_t *s;
	if (rc < 0)
		return k_leave(rc);
	if (!(s = k_svc(key)))
		return k_leave(k_fail(h, "add destination", key, dest, "to", -ESRCH));
	if (k_dest(s, dest))
		return k_leave(k_fail(h, "add destination", key, dest, "to", -EEXIST));
	note_written(dest);
	s->dests = realloc(s->dests, (s->ndests + 1) * sizeof(*s->dests));
	if (!s->dests)
		abort();
	s->dests[s->ndests++] = *dest;
	return k_leave(0);
}

int dsr_ipvs_dest_edit(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	int rc = k_enter(h, DSR_OP_DEST_EDIT, "edit destination", key, dest, "of");
	dsr_dest_t *d;
	if (rc < 0)
		return k_leave(rc);
	if (!(d = k_dest(k_svc(key), dest)))
		return k_leave(k_fail(h, "edit destination", key, dest, "of", -ENOENT));
	note_written(dest);
	*d = *dest;
	return k_leave(0);
}

int dsr_ipvs_dest_del(dsr_ipvs_t *h, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	int rc = k_enter(h, DSR_OP_DEST_DEL, "delete destination", key, dest, "from");
	dsr_tsvc_t *s = NULL;
	dsr_dest_t *d;
	if (rc < 0)
		return k_leave(rc);
	if (!(d = k_dest(s = k_svc(key), dest)))
		return k_leave(k_fail(h, "delete destination", key, dest, "from", -ENOENT));
	*d = s->dests[--s->ndests];
	return k_leave(0);
}

/* ---- the sync daemons: a master and a backup slot, as the kernel has ---- */

static struct {
	dsr_daemon_t run[2]; /* [0] master, [1] backup; state 0: not running */
	char log[512];       /* "start master eth1 7; stop backup; ..." */
	int dumps;
	int fail_start; /* the next start fails with it when non-zero */
} fd;

static void fd_log(const char *what, const dsr_daemon_t *d)
{
	size_t len = strlen(fd.log);
	snprintf(fd.log + len, sizeof(fd.log) - len, "%s%s %s", len ? "; " : "", what,
	         d->state == DSR_SYNC_MASTER ? "master" : "backup");
	len = strlen(fd.log);
	if (!strcmp(what, "start"))
		snprintf(fd.log + len, sizeof(fd.log) - len, " %s %u", d->ifname, d->sync_id);
}

int dsr_ipvs_daemon_start(dsr_ipvs_t *h, const dsr_daemon_t *d)
{
	dsr_daemon_t *slot;
	uv_mutex_lock(&fk.lock);
	slot = &fd.run[d->state == DSR_SYNC_BACKUP];
	if (fd.fail_start) {
		int rc = fd.fail_start;
		fd.fail_start = 0;
		snprintf(h->last, sizeof(h->last), "start sync daemon on %s: %s", d->ifname,
		         strerror(-rc));
		return k_leave(rc);
	}
	if (slot->state)
		return k_leave(-EEXIST);
	*slot = *d;
	slot->port = d->port ? d->port : 8848; /* what the kernel reports */
	slot->ttl = d->ttl ? d->ttl : 1;
	if (!slot->group.af && dsr_ip_parse("224.0.0.81", &slot->group) < 0)
		fk.bad++;
	fd_log("start", d);
	return k_leave(0);
}

int dsr_ipvs_daemon_stop(dsr_ipvs_t *h, uint32_t state)
{
	dsr_daemon_t *slot;
	(void)h;
	uv_mutex_lock(&fk.lock);
	slot = &fd.run[state == DSR_SYNC_BACKUP];
	if (!slot->state)
		return k_leave(-ESRCH);
	fd_log("stop", slot);
	memset(slot, 0, sizeof(*slot));
	return k_leave(0);
}

int dsr_ipvs_daemons(dsr_ipvs_t *h, dsr_daemon_t out[2], size_t *n)
{
	(void)h;
	uv_mutex_lock(&fk.lock);
	fd.dumps++;
	*n = 0;
	for (int i = 0; i < 2; i++)
		if (fd.run[i].state)
			out[(*n)++] = fd.run[i];
	return k_leave(0);
}

/* ---- the fake, from the test's thread ---- */

/* One of the fake's counters, read under its lock. */
static int counter(const int *c)
{
	int n;
	uv_mutex_lock(&fk.lock);
	n = *c;
	uv_mutex_unlock(&fk.lock);
	return n;
}

static int calls(dsr_op_t op)
{
	return counter(&fk.calls[op]);
}

static void fail_next(dsr_op_t op, int rc, int times)
{
	uv_mutex_lock(&fk.lock);
	fk.fail_op = op;
	fk.fail_rc = rc;
	fk.fail_times = times;
	uv_mutex_unlock(&fk.lock);
}

static void hold(dsr_op_t op)
{
	uv_mutex_lock(&fk.lock);
	fk.hold_op = op;
	fk.hold = true;
	uv_mutex_unlock(&fk.lock);
}

static void release(void)
{
	uv_mutex_lock(&fk.lock);
	fk.hold = false;
	uv_cond_broadcast(&fk.cond);
	uv_mutex_unlock(&fk.lock);
}

/* Waits (blocking this thread, not running the loop) until a request waits in hold. */
static bool wait_holding(void)
{
	uint64_t until = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
	bool held;
	uv_mutex_lock(&fk.lock);
	while (!fk.holding && uv_hrtime() < until)
		(void)uv_cond_timedwait(&fk.cond, &fk.lock, 10 * 1000000);
	held = fk.holding;
	uv_mutex_unlock(&fk.lock);
	return held;
}

/* ---- tables as text: "KEY sched 0xFLAGS [timeout T]: dest wW ...; KEY ...", sorted ---- */

static void table_text(const dsr_table_t *in, char *buf, size_t len)
{
	dsr_table_t t;
	size_t pos = 0;
	dsr_table_copy(in, &t);
	dsr_table_sort(&t);
	buf[0] = '\0';
	for (size_t i = 0; i < t.nsvcs && pos < len; i++) {
		const dsr_svc_t *s = &t.svcs[i].svc;
		char k[96];
		dsr_svc_key_format(&s->key, k, sizeof(k));
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s %s 0x%x", i ? "; " : "", k,
		                        s->sched, s->flags);
		if (s->timeout && pos < len)
			pos += (size_t)snprintf(buf + pos, len - pos, " timeout %u", s->timeout);
		if (pos < len)
			pos += (size_t)snprintf(buf + pos, len - pos, ":");
		for (size_t j = 0; j < t.svcs[i].ndests && pos < len; j++) {
			const dsr_dest_t *d = &t.svcs[i].dests[j];
			char a[64];
			dsr_dest_format(d, a, sizeof(a));
			pos += (size_t)snprintf(buf + pos, len - pos, " %s w%u%s", a, d->weight,
			                        d->fwd == DSR_FWD_DR ? "" : " not-dr");
		}
	}
	dsr_table_free(&t);
}

static void kernel_text(char *buf, size_t len)
{
	uv_mutex_lock(&fk.lock);
	table_text(&fk.t, buf, len);
	uv_mutex_unlock(&fk.lock);
}

/* ---- the fixture: a loop, a config, a director ---- */

/* The config, in pieces, so that what a reload removes shows. */
#define POOL_CEPH                                                                                  \
	"pools:\n"                                                                                 \
	"  - name: ceph\n"                                                                         \
	"    nodes:\n"                                                                             \
	"      - { name: rgw1, addr: 10.0.0.11:8000, weight: 3 }\n"
#define NODE_RGW2 "      - { name: rgw2, addr: 10.0.0.12:8000 }\n"
#define POOL_V6_AND_FRONTEND                                                                       \
	"  - name: v6\n"                                                                           \
	"    nodes:\n"                                                                             \
	"      - { name: a, addr: \"[2001:db8::11]:80\" }\n"                                       \
	"frontends:\n"                                                                             \
	"  - name: s3\n"                                                                           \
	"    listen: [127.0.0.1:8080]\n"                                                           \
	"    routes:\n"                                                                            \
	"      - { pool: ceph }\n"                                                                 \
	"dr:\n"                                                                                    \
	"  - { vip: 192.0.2.10:80, pool: ceph }\n"                                                 \
	"  - { vip: \"[2001:db8::10]:80\", pool: v6, scheduler: sh, mh_port: true }\n"
#define DR_FWMARK "  - { fwmark: 7, port: 8000, pool: ceph, scheduler: wlc, persistence: 300s }\n"

static const char CFG[] = POOL_CEPH NODE_RGW2 POOL_V6_AND_FRONTEND DR_FWMARK;
/* CFG after a reload that removed rgw2 from the pool and the fwmark service from dr:. */
static const char CFG_LESS[] = POOL_CEPH POOL_V6_AND_FRONTEND;

/* The kernel's table for CFG (in key order: VIP services by family, then firewall marks), with
 * every node up, and with rgw2 down. */
#define VIP4_UP   "TCP 192.0.2.10:80 mh 0x8: 10.0.0.11:80 w3 10.0.0.12:80 w1"
#define VIP4_DOWN "TCP 192.0.2.10:80 mh 0x8: 10.0.0.11:80 w3 10.0.0.12:80 w0"
#define VIP6      "TCP [2001:db8::10]:80 sh 0x18: [2001:db8::11]:80 w1"
#define FWM_UP    "FWM 7 IPv4 wlc 0x1 timeout 300: 10.0.0.11:8000 w3 10.0.0.12:8000 w1"
#define FWM_DOWN  "FWM 7 IPv4 wlc 0x1 timeout 300: 10.0.0.11:8000 w3 10.0.0.12:8000 w0"
#define FOREIGN   "TCP 198.51.100.1:80 rr 0x0: 10.9.0.1:80 w1"
#define ALL_UP    VIP4_UP "; " VIP6 "; " FWM_UP
#define RGW2_DOWN VIP4_DOWN "; " VIP6 "; " FWM_DOWN

typedef struct fx_s {
	uv_loop_t loop;
	dsr_director_t *d;
	lb_config_t *cfg;
	const char *down;   /* the node health says is down, or NULL */
	uint64_t seen;      /* reconciles counted in the last status waited for */
	const char *expect; /* what run_until's predicates compare with */
	char dir[64];
	char state[96];
} fx_t;

static lb_config_t *load(const char *text)
{
	lb_config_t *cfg = NULL;
	char err[256];
	if (lb_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	return cfg;
}

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	memset(&fk, 0, sizeof(fk));
	memset(&fd, 0, sizeof(fd));
	uv_mutex_init(&fk.lock);
	uv_cond_init(&fk.cond);
	snprintf(f->dir, sizeof(f->dir), "/tmp/s3lb-director-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/run/ipvs-owned", f->dir);
	if (uv_loop_init(&f->loop) < 0)
		return -1;
	f->cfg = load(CFG);
	*state = f;
	return 0;
}

/* After a failed test the director may still run: stop it before freeing what it uses. */
static int teardown(void **state)
{
	fx_t *f = *state;
	char cmd[128];
	if (f->d) {
		release();
		dsr_director_stop(f->d);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&f->loop);
	}
	lb_config_unref(f->cfg);
	dsr_table_free(&fk.t);
	uv_mutex_destroy(&fk.lock);
	uv_cond_destroy(&fk.cond);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd);
}

static void start(fx_t *f)
{
	char err[256] = "";
	int rc = dsr_director_start(&f->loop, f->state, &f->d, err, sizeof(err));
	if (rc < 0)
		fail_msg("dsr_director_start: %s", err);
}

/* Stops the director; the thread is joined when stop returns (its handle is closed by then);
 * the loop then closes the async handle and frees the director. */
static void stop(fx_t *f)
{
	dsr_director_stop(f->d);
	f->d = NULL;
	assert_int_equal(counter(&fk.handles), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static dsr_node_t up(void *arg, const char *pool, const char *node)
{
	fx_t *f = arg;
	(void)pool;
	return !f->down || strcmp(node, f->down) != 0 ? DSR_NODE_UP : DSR_NODE_DOWN;
}

/* The want for cfg and f->down, as main.c builds it; its text goes into text. */
static dsr_table_t want_of(fx_t *f, const lb_config_t *cfg, char *text, size_t len)
{
	dsr_table_t t;
	char err[256] = "";
	if (dsr_want_build(cfg, up, f, &t, err, sizeof(err)) < 0)
		fail_msg("dsr_want_build: %s", err);
	table_text(&t, text, len);
	return t;
}

/* Builds the want for cfg and f->down and hands it to the director; its text goes into text. */
static void give(fx_t *f, const lb_config_t *cfg, char *text, size_t len)
{
	dsr_table_t t = want_of(f, cfg, text, len);
	dsr_director_want(f->d, &t);
	assert_null(t.svcs); /* taken over */
}

static void on_deadline(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Runs the loop until pred holds for the director's status, at most WAIT_MS. */
static bool run_until(fx_t *f, bool (*pred)(fx_t *f, const dsr_status_t *st))
{
	uv_timer_t timer;
	bool late = false, ok;
	assert_int_equal(uv_timer_init(&f->loop, &timer), 0);
	timer.data = &late;
	assert_int_equal(uv_timer_start(&timer, on_deadline, WAIT_MS, 0), 0);
	while (!(ok = pred(f, dsr_director_status(f->d))) && !late)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return ok;
}

/* A reconcile since the last wait left the kernel as f->expect, without error. */
static bool applied(fx_t *f, const dsr_status_t *st)
{
	char text[1024];
	table_text(&st->table, text, sizeof(text));
	return st->reconciles > f->seen && st->available && st->error[0] == '\0' &&
	       strcmp(text, f->expect) == 0;
}

/* A reconcile since the last wait ended in an error. */
static bool failed(fx_t *f, const dsr_status_t *st)
{
	return st->reconciles > f->seen && st->error[0] != '\0';
}

static bool opened(fx_t *f, const dsr_status_t *st)
{
	(void)f;
	return st->available && st->error[0] == '\0';
}

static bool unavailable(fx_t *f, const dsr_status_t *st)
{
	(void)f;
	return !st->available && strstr(st->error, "no IPVS") != NULL;
}

/* Waits until the status shows expect applied, then checks the fake kernel holds it too. */
static void wait_applied(fx_t *f, const char *expect)
{
	char text[1024];
	const dsr_status_t *st;
	f->expect = expect;
	if (!run_until(f, applied)) {
		st = dsr_director_status(f->d);
		table_text(&st->table, text, sizeof(text));
		fail_msg("not applied: reconciles %llu (was %llu), error \"%s\", table \"%s\"",
		         (unsigned long long)st->reconciles, (unsigned long long)f->seen, st->error,
		         text);
	}
	f->seen = dsr_director_status(f->d)->reconciles;
	kernel_text(text, sizeof(text));
	assert_string_equal(text, expect);
}

/* ---- tests ---- */

static void test_applies_the_want(void **state)
{
	fx_t *f = *state;
	const dsr_status_t *st;
	char want[1024];
	uint64_t steps;

	/* before any want: "not reconciled yet" until the thread's first dump (held here) */
	hold(DSR_OP_SVC_DUMP);
	start(f);
	assert_true(wait_holding());
	st = dsr_director_status(f->d);
	assert_string_equal(st->error, "not reconciled yet");
	assert_false(st->available);
	release();
	assert_true(run_until(f, opened));
	st = dsr_director_status(f->d);
	assert_int_equal(st->reconciles, 0);
	assert_int_equal(st->table.nsvcs, 0);
	assert_int_equal(calls(DSR_OP_SVC_ADD), 0);

	give(f, f->cfg, want, sizeof(want));
	assert_string_equal(want, ALL_UP);
	wait_applied(f, ALL_UP);
	st = dsr_director_status(f->d);
	assert_int_equal(st->steps_done, 3 + 5); /* services, then destinations */
	assert_int_equal(calls(DSR_OP_SVC_ADD), 3);
	assert_int_equal(calls(DSR_OP_DEST_ADD), 5);
	assert_int_equal(calls(DSR_OP_SVC_EDIT) + calls(DSR_OP_DEST_EDIT), 0);
	assert_int_equal(counter(&fk.bad), 0);

	/* the same want again: a reconcile, and no change */
	steps = st->steps_done;
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);
	assert_int_equal(dsr_director_status(f->d)->steps_done, steps);
	assert_int_equal(calls(DSR_OP_SVC_ADD) + calls(DSR_OP_DEST_ADD), 3 + 5);
	assert_int_equal(calls(DSR_OP_SVC_EDIT) + calls(DSR_OP_DEST_EDIT), 0);
	assert_int_equal(calls(DSR_OP_SVC_DEL) + calls(DSR_OP_DEST_DEL), 0);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_node_down_is_weight_zero(void **state)
{
	fx_t *f = *state;
	char want[1024];

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);

	f->down = "rgw2";
	give(f, f->cfg, want, sizeof(want));
	assert_string_equal(want, RGW2_DOWN);
	wait_applied(f, RGW2_DOWN); /* still there, weight 0 */
	assert_int_equal(calls(DSR_OP_DEST_EDIT), 2);
	assert_int_equal(calls(DSR_OP_DEST_DEL), 0);

	f->down = NULL; /* up again: its weight back */
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);
	assert_int_equal(calls(DSR_OP_DEST_EDIT), 4);
	assert_int_equal(calls(DSR_OP_DEST_ADD), 5);
	assert_int_equal(calls(DSR_OP_DEST_DEL) + calls(DSR_OP_SVC_DEL), 0);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_config_removal_deletes_only_ours(void **state)
{
	fx_t *f = *state;
	lb_config_t *less = load(CFG_LESS);
	char want[1024];
	dsr_tsvc_t *foreign;

	/* an operator's service, there before s3lb: never touched */
	fk.t.svcs = calloc(1, sizeof(*fk.t.svcs));
	fk.t.nsvcs = 1;
	foreign = &fk.t.svcs[0];
	assert_int_equal(dsr_svc_key_parse("TCP 198.51.100.1:80", &foreign->svc.key), 0);
	snprintf(foreign->svc.sched, sizeof(foreign->svc.sched), "rr");
	foreign->dests = calloc(1, sizeof(*foreign->dests));
	foreign->ndests = 1;
	assert_int_equal(dsr_dest_parse("10.9.0.1:80", &foreign->dests[0]), 0);
	foreign->dests[0].weight = 1;
	foreign->dests[0].fwd = DSR_FWD_DR;

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, VIP4_UP "; " FOREIGN "; " VIP6 "; " FWM_UP);

	/* a reload without rgw2 and without the fwmark service */
	give(f, less, want, sizeof(want));
	assert_string_equal(want, "TCP 192.0.2.10:80 mh 0x8: 10.0.0.11:80 w3; " VIP6);
	wait_applied(f, "TCP 192.0.2.10:80 mh 0x8: 10.0.0.11:80 w3; " FOREIGN "; " VIP6);
	/* rgw2 of the VIP service; the fwmark service with its destinations in one step */
	assert_int_equal(calls(DSR_OP_DEST_DEL), 1);
	assert_int_equal(calls(DSR_OP_SVC_DEL), 1);
	assert_int_equal(dsr_director_status(f->d)->steps_done, 3 + 5 + 2);

	stop(f);
	lb_config_unref(less);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_failure_shows_then_next_want_retries(void **state)
{
	fx_t *f = *state;
	const dsr_status_t *st;
	char want[1024], text[1024], failed_msg[256];
	int n;

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);

	/* the first of the two edits fails: the status says which and why */
	fail_next(DSR_OP_DEST_EDIT, -EPERM, 1);
	f->down = "rgw2";
	give(f, f->cfg, want, sizeof(want));
	assert_true(run_until(f, failed));
	st = dsr_director_status(f->d);
	f->seen = st->reconciles;
	uv_mutex_lock(&fk.lock);
	snprintf(failed_msg, sizeof(failed_msg), "%s", fk.failed);
	uv_mutex_unlock(&fk.lock);
	assert_string_equal(
	    failed_msg,
	    "edit destination 10.0.0.12:80 of TCP 192.0.2.10:80: Operation not permitted");
	assert_string_equal(st->error, failed_msg);
	assert_true(st->available); /* the kernel is there; one request failed */
	/* the other edit went through: one of the two destinations is at 0 */
	kernel_text(text, sizeof(text));
	n = 0;
	for (const char *p = text; (p = strstr(p, "10.0.0.12:")) != NULL; p++)
		n += strncmp(strchr(p, ' '), " w0", 3) == 0;
	assert_int_equal(n, 1);
	table_text(&st->table, want, sizeof(want));
	assert_string_equal(want, text); /* the status shows the kernel as it is */

	/* the next want retries and succeeds */
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, RGW2_DOWN);
	assert_int_equal(calls(DSR_OP_DEST_EDIT), 3);

	/* IPVS gone during a reconcile: the handle is dropped, the next want reopens it */
	fail_next(DSR_OP_SVC_DUMP, -ENOPROTOOPT, 1);
	f->down = NULL;
	give(f, f->cfg, want, sizeof(want));
	assert_true(run_until(f, failed));
	st = dsr_director_status(f->d);
	f->seen = st->reconciles;
	assert_false(st->available);
	assert_non_null(strstr(st->error, "dump IPVS services: Protocol not available"));
	assert_int_equal(counter(&fk.handles), 0);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);
	assert_int_equal(counter(&fk.handles), 1);
	assert_int_equal(counter(&fk.opens), 2);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static double now_unix(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What /metrics shows of the cycles: failures counted, the last success's wall-clock time. */
static void test_failures_and_last_success(void **state)
{
	fx_t *f = *state;
	const dsr_status_t *st;
	char want[1024];
	double t0 = now_unix(), ok1;

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);
	st = dsr_director_status(f->d);
	assert_int_equal(st->reconcile_failures, 0);
	ok1 = st->last_ok_unix;
	assert_true(ok1 >= t0 - 1 && ok1 <= now_unix() + 1);

	/* a refused change: one failure, the last success stays where it was */
	fail_next(DSR_OP_DEST_EDIT, -EPERM, 1);
	f->down = "rgw2";
	give(f, f->cfg, want, sizeof(want));
	assert_true(run_until(f, failed));
	st = dsr_director_status(f->d);
	f->seen = st->reconciles;
	assert_int_equal(st->reconcile_failures, 1);
	assert_true(st->last_ok_unix == ok1);

	/* the next want succeeds: the time moves on, the count stays */
	usleep(20000);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, RGW2_DOWN);
	st = dsr_director_status(f->d);
	assert_int_equal(st->reconcile_failures, 1);
	assert_true(st->last_ok_unix > ok1);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static bool tried_twice(fx_t *f, const dsr_status_t *st)
{
	return counter(&fk.open_tries) >= 2 && unavailable(f, st);
}

/* No IPVS at start: the status says so; the want taken meanwhile is applied by the refresh once
 * IPVS is there, with no new want. */
static void test_unavailable_then_available(void **state)
{
	fx_t *f = *state;
	const dsr_status_t *st;
	char want[1024];

	fk.open_rc = -ENOPROTOOPT; /* the thread is not started yet */
	start(f);
	assert_true(run_until(f, unavailable));
	give(f, f->cfg, want, sizeof(want));
	assert_true(run_until(f, tried_twice)); /* the want made it try again */
	st = dsr_director_status(f->d);
	assert_int_equal(st->reconciles, 0);
	assert_int_equal(st->table.nsvcs, 0);
	assert_int_equal(calls(DSR_OP_SVC_DUMP) + calls(DSR_OP_SVC_ADD), 0);
	/* with a want waiting, an IPVS that cannot be opened is a failed cycle; before, not */
	assert_true(st->reconcile_failures >= 1 &&
	            st->reconcile_failures < (uint64_t)counter(&fk.open_tries));
	assert_true(st->last_ok_unix == 0);

	uv_mutex_lock(&fk.lock);
	fk.open_rc = 0;
	uv_mutex_unlock(&fk.lock);
	wait_applied(f, ALL_UP);
	assert_int_equal(counter(&fk.handles), 1);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A want per weight: every destination at w. */
static void give_weight(fx_t *f, uint32_t w, char *text, size_t len)
{
	dsr_table_t t = want_of(f, f->cfg, text, len);
	for (size_t i = 0; i < t.nsvcs; i++) {
		for (size_t j = 0; j < t.svcs[i].ndests; j++)
			t.svcs[i].dests[j].weight = w;
	}
	table_text(&t, text, len);
	dsr_director_want(f->d, &t);
}

static void test_latest_want_wins(void **state)
{
	fx_t *f = *state;
	char want[1024];
	uint32_t written[NWRITTEN];
	size_t from, nwritten, n19 = 0;

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);
	uv_mutex_lock(&fk.lock);
	from = fk.nwritten;
	uv_mutex_unlock(&fk.lock);
	assert_int_equal(from, 5);

	/* the thread takes want 11 and waits in its dump; 12 to 19 come meanwhile */
	hold(DSR_OP_SVC_DUMP);
	give_weight(f, 11, want, sizeof(want));
	assert_true(wait_holding());
	for (uint32_t w = 12; w <= 19; w++)
		give_weight(f, w, want, sizeof(want));
	release();
	wait_applied(f, want); /* the last one's text */
	assert_non_null(strstr(want, "10.0.0.12:80 w19"));

	/* the kernel saw want 11 (or nothing of it, had a refresh taken the held dump), then
	 * want 19: nothing in between, and every destination at 19 in the end */
	uv_mutex_lock(&fk.lock);
	nwritten = fk.nwritten;
	memcpy(written, fk.written, sizeof(written));
	uv_mutex_unlock(&fk.lock);
	for (size_t i = from; i < nwritten; i++) {
		assert_true(written[i] == 11 || written[i] == 19);
		if (written[i] == 19)
			n19++;
		else
			assert_int_equal(n19, 0); /* no 11 after a 19 */
	}
	assert_int_equal(n19, 5);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void release_later(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	release();
}

static void test_stop_waits_for_the_cycle(void **state)
{
	fx_t *f = *state;
	uv_thread_t helper;
	char want[1024], text[1024];

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);

	/* stop while the thread is inside a reconcile: it finishes it, then exits */
	hold(DSR_OP_DEST_EDIT);
	f->down = "rgw2";
	give(f, f->cfg, want, sizeof(want));
	assert_true(wait_holding());
	assert_int_equal(uv_thread_create(&helper, release_later, NULL), 0);
	stop(f); /* asserts the thread's handle closed: it was joined */
	assert_int_equal(uv_thread_join(&helper), 0);
	assert_int_equal(calls(DSR_OP_DEST_EDIT), 2);
	kernel_text(text, sizeof(text));
	assert_string_equal(text, RGW2_DOWN);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* Every 2 s the thread reconciles again: an entry removed by hand comes back. */
static void test_refresh_restores_a_removed_entry(void **state)
{
	fx_t *f = *state;
	char want[1024], text[1024], key[96];
	size_t ndests;

	start(f);
	give(f, f->cfg, want, sizeof(want));
	wait_applied(f, ALL_UP);

	/* `ipvsadm -d` of the VIP service's second destination (the thread is idle) */
	uv_mutex_lock(&fk.lock);
	dsr_svc_key_format(&fk.t.svcs[0].svc.key, key, sizeof(key));
	ndests = fk.t.svcs[0].ndests;
	if (ndests == 2)
		fk.t.svcs[0].ndests--;
	table_text(&fk.t, text, sizeof(text));
	uv_mutex_unlock(&fk.lock);
	assert_string_equal(key, "TCP 192.0.2.10:80");
	assert_int_equal(ndests, 2);
	assert_string_not_equal(text, ALL_UP);
	wait_applied(f, ALL_UP);
	assert_int_equal(calls(DSR_OP_DEST_ADD), 6);

	stop(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- dr_sync: the daemons follow keepalived's state file ---- */

static void put_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *fp;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_non_null(fp = fopen(tmp, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0); /* as the notify script does */
}

/* The fake's daemon log is f->expect, and the status shows one daemon: the one the log started
 * last (the status is published after the steps). */
static bool synced(fx_t *f, const dsr_status_t *st)
{
	bool same;
	const char *last = strrchr(f->expect, ';');
	uint32_t want =
	    strstr(last ? last : f->expect, "start master") ? DSR_SYNC_MASTER : DSR_SYNC_BACKUP;
	uv_mutex_lock(&fk.lock);
	same = strcmp(fd.log, f->expect) == 0;
	uv_mutex_unlock(&fk.lock);
	return same && st->sync_enabled && st->ndaemons == 1 && st->daemons[0].state == want &&
	       st->sync_error[0] == '\0';
}

static bool sync_failed(fx_t *f, const dsr_status_t *st)
{
	(void)f;
	return st->sync_error[0] != '\0';
}

static bool sync_off(fx_t *f, const dsr_status_t *st)
{
	(void)f;
	return !st->sync_enabled && st->ndaemons == 0;
}

static void wait_synced(fx_t *f, const char *expect)
{
	f->expect = expect;
	if (!run_until(f, synced)) {
		uv_mutex_lock(&fk.lock);
		fail_msg("daemons: \"%s\", want \"%s\" (status error \"%s\")", fd.log, expect,
		         dsr_director_status(f->d)->sync_error);
		uv_mutex_unlock(&fk.lock);
	}
}

/* Starts the director on CFG plus `dr_sync: { SYNC }` (a flow mapping's inside; "%s" in it is
 * state_file's path), handing it the want and the sync conf as main.c does. Returns the config
 * (the caller unrefs it). */
static lb_config_t *start_with_sync(fx_t *f, const char *sync, const char *state_file)
{
	char yaml[4096], line[512], want[1024];
	lb_config_t *cfg;
	snprintf(line, sizeof(line), sync, state_file);
	snprintf(yaml, sizeof(yaml), "%sdr_sync: { %s }\n", CFG, line);
	cfg = load(yaml);
	start(f);
	give(f, cfg, want, sizeof(want));
	dsr_director_sync(f->d, cfg);
	return cfg;
}

static void test_sync_follows_vrrp(void **state)
{
	fx_t *f = *state;
	char vrrp[128], want[1024];
	const dsr_status_t *st;
	lb_config_t *cfg;

	snprintf(vrrp, sizeof(vrrp), "%s/vrrp-state", f->dir);
	cfg = start_with_sync(f, "interface: eth1, sync_id: 7, state_file: %s", vrrp);
	/* no state file yet (keepalived has not told): backup */
	wait_synced(f, "start backup eth1 7");
	st = dsr_director_status(f->d);
	assert_string_equal(st->vrrp, "none");
	assert_int_equal(st->daemons[0].state, DSR_SYNC_BACKUP);
	assert_int_equal(st->daemons[0].port, 8848);

	/* keepalived's notify line: master, the backup stopped first */
	put_file(vrrp, "INSTANCE \"VI_1\" MASTER 100\n");
	wait_synced(f, "start backup eth1 7; stop backup; start master eth1 7");
	st = dsr_director_status(f->d);
	assert_string_equal(st->vrrp, "MASTER");
	assert_int_equal(st->daemons[0].state, DSR_SYNC_MASTER);

	/* the same config again (every health change hands it over): nothing to do */
	dsr_director_sync(f->d, cfg);

	/* fault: backup again */
	put_file(vrrp, "FAULT\n");
	wait_synced(f, "start backup eth1 7; stop backup; start master eth1 7; stop master; "
	               "start backup eth1 7");
	assert_string_equal(dsr_director_status(f->d)->vrrp, "FAULT");

	/* stopped by hand (ipvsadm --stop-daemon backup): back at the next refresh */
	uv_mutex_lock(&fk.lock);
	memset(&fd.run[1], 0, sizeof(fd.run[1]));
	uv_mutex_unlock(&fk.lock);
	wait_synced(f, "start backup eth1 7; stop backup; start master eth1 7; stop master; "
	               "start backup eth1 7; start backup eth1 7");

	/* a reload without dr_sync: the daemons are left as they are */
	give(f, f->cfg, want, sizeof(want));
	dsr_director_sync(f->d, f->cfg);
	assert_true(run_until(f, sync_off));
	uv_mutex_lock(&fk.lock);
	assert_int_equal(fd.run[1].state, DSR_SYNC_BACKUP);
	assert_int_equal(fd.run[0].state, 0);
	uv_mutex_unlock(&fk.lock);

	stop(f);
	lb_config_unref(cfg);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static bool backup_with_error(fx_t *f, const dsr_status_t *st)
{
	bool started;
	(void)f;
	uv_mutex_lock(&fk.lock);
	started = strcmp(fd.log, "start backup eth1 7") == 0;
	uv_mutex_unlock(&fk.lock);
	return started && st->ndaemons == 1 && strstr(st->sync_error, "(taken as BACKUP)");
}

/* A state file that cannot be read counts as no state (backup), and the status says why. */
static void test_sync_unreadable_state(void **state)
{
	fx_t *f = *state;
	char vrrp[128];
	lb_config_t *cfg;

	snprintf(vrrp, sizeof(vrrp), "%s/vrrp-dir", f->dir);
	assert_int_equal(mkdir(vrrp, 0700), 0); /* read(2) on it fails: EISDIR */
	cfg = start_with_sync(f, "interface: eth1, sync_id: 7, state_file: %s", vrrp);
	assert_true(run_until(f, backup_with_error));
	assert_non_null(strstr(dsr_director_status(f->d)->sync_error, vrrp));
	stop(f);
	lb_config_unref(cfg);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A start that fails shows in the status, is logged once, and is tried again at the refresh. */
static void test_sync_failure_retried(void **state)
{
	fx_t *f = *state;
	lb_config_t *cfg;

	uv_mutex_lock(&fk.lock);
	fd.fail_start = -ENODEV;
	uv_mutex_unlock(&fk.lock);
	cfg = start_with_sync(f, "interface: eth9, role: master%s", "");
	assert_true(run_until(f, sync_failed));
	assert_non_null(strstr(dsr_director_status(f->d)->sync_error, "No such device"));
	wait_synced(f, "start master eth9 0");
	assert_string_equal(dsr_director_status(f->d)->vrrp, ""); /* role master: no VRRP */

	stop(f);
	lb_config_unref(cfg);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_applies_the_want, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_down_is_weight_zero, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_removal_deletes_only_ours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_shows_then_next_want_retries, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_failures_and_last_success, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unavailable_then_available, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_latest_want_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_waits_for_the_cycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_restores_a_removed_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_follows_vrrp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_failure_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_unreadable_state, setup, teardown),
	};
	__atomic_store_n(&lb_log_level, LB_LOG_WARN, __ATOMIC_RELAXED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

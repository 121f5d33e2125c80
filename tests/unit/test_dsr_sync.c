/*
 * Unit tests for dsr/sync.c: the VRRP state file's text (keepalived's words, its notify line,
 * garbage), the role x VRRP table, the plan from the kernel's daemons to the wanted ones (every
 * transition, settings that differ, the kernel's defaults), the conf from a loaded config, and
 * apply's handling of EEXIST/ESRCH through a fake dsr/ipvs.h (defined here, so dsr/ipvs.o is
 * never linked in: a call this file does not fake fails the link).
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

#include "tests/unit/support/guard.h"

#include "core/config.h"
#include "dsr/sync.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a fake kernel for dsr_sync_apply ---- */

struct dsr_ipvs_s {
	char last[128];
};

static struct {
	int start_rc[2], stop_rc[2]; /* per state (master, backup) */
	char log[256];
} fk;

const char *dsr_ipvs_last_error(const dsr_ipvs_t *h)
{
	return h->last;
}

int dsr_ipvs_daemon_start(dsr_ipvs_t *h, const dsr_daemon_t *d)
{
	int rc = fk.start_rc[d->state == DSR_SYNC_BACKUP];
	size_t len = strlen(fk.log);
	snprintf(fk.log + len, sizeof(fk.log) - len, "+%c%s ",
	         d->state == DSR_SYNC_MASTER ? 'm' : 'b', d->ifname);
	snprintf(h->last, sizeof(h->last), "start: %s", strerror(-rc));
	return rc;
}

int dsr_ipvs_daemon_stop(dsr_ipvs_t *h, uint32_t state)
{
	int rc = fk.stop_rc[state == DSR_SYNC_BACKUP];
	size_t len = strlen(fk.log);
	snprintf(fk.log + len, sizeof(fk.log) - len, "-%c ", state == DSR_SYNC_MASTER ? 'm' : 'b');
	snprintf(h->last, sizeof(h->last), "stop: %s", strerror(-rc));
	return rc;
}

/* ---- the state file's text ---- */

static void test_vrrp_parse(void **state)
{
	static const struct {
		const char *text;
		dsr_vrrp_t want;
	} rows[] = {
	    {"MASTER", DSR_VRRP_MASTER},
	    {"MASTER\n", DSR_VRRP_MASTER},
	    {"backup\r\n", DSR_VRRP_BACKUP},
	    {"  Fault  \n", DSR_VRRP_FAULT},
	    {"STOP\n", DSR_VRRP_STOP},
	    /* keepalived's notify line (notify_fifo writes the same) */
	    {"INSTANCE \"VI_1\" MASTER 100\n", DSR_VRRP_MASTER},
	    {"GROUP \"G1\" BACKUP\n", DSR_VRRP_BACKUP},
	    /* the last line naming a state counts; lines without one do not */
	    {"MASTER\nBACKUP\n", DSR_VRRP_BACKUP},
	    {"BACKUP\nMASTER", DSR_VRRP_MASTER},
	    {"MASTER\n\n# written by notify\n", DSR_VRRP_MASTER},
	    /* a state must be a whole word */
	    {"MASTERS\n", DSR_VRRP_NONE},
	    {"XMASTER\n", DSR_VRRP_NONE},
	    {"MAST", DSR_VRRP_NONE},
	    {"", DSR_VRRP_NONE},
	    {"\n\n", DSR_VRRP_NONE},
	    {"none\n", DSR_VRRP_NONE},
	    {"\xff\xfe garbage \x01\n", DSR_VRRP_NONE},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		/* against a guard page: never reads past the text */
		size_t len = strlen(rows[i].text);
		test_guard_t g;
		const char *p = test_guard(&g, rows[i].text, len);
		dsr_vrrp_t got = dsr_vrrp_parse(p, len);
		if (got != rows[i].want)
			fail_msg("'%s': %s, want %s", rows[i].text, dsr_vrrp_name(got),
			         dsr_vrrp_name(rows[i].want));
		test_unguard(&g);
	}
	/* a NUL inside is a separator, not the end */
	assert_int_equal(dsr_vrrp_parse("x\0MASTER", 8), DSR_VRRP_MASTER);
	assert_string_equal(dsr_vrrp_name(DSR_VRRP_NONE), "none");
	assert_string_equal(dsr_vrrp_name((dsr_vrrp_t)42), "none");
}

static void test_vrrp_read(void **state)
{
	char dir[] = "/tmp/s3lb-sync-XXXXXX", path[128], err[256] = "", big[8192];
	dsr_vrrp_t v = DSR_VRRP_MASTER;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	/* missing: none, no error */
	assert_int_equal(dsr_vrrp_read(path, &v, err, sizeof(err)), 0);
	assert_int_equal(v, DSR_VRRP_NONE);
	assert_non_null(fp = fopen(path, "w"));
	fputs("INSTANCE \"VI_1\" FAULT 100\n", fp);
	fclose(fp);
	assert_int_equal(dsr_vrrp_read(path, &v, err, sizeof(err)), 0);
	assert_int_equal(v, DSR_VRRP_FAULT);
	/* only the first 4 KiB count: a state after them is not seen (and nothing overflows) */
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 8] = '\n';
	memcpy(big + sizeof(big) - 7, "MASTER\n", 7);
	assert_non_null(fp = fopen(path, "w"));
	fwrite(big, 1, sizeof(big), fp);
	fclose(fp);
	assert_int_equal(dsr_vrrp_read(path, &v, err, sizeof(err)), 0);
	assert_int_equal(v, DSR_VRRP_NONE);
	/* a directory: an error with the path */
	v = DSR_VRRP_MASTER;
	assert_int_equal(dsr_vrrp_read(dir, &v, err, sizeof(err)), -EISDIR);
	assert_int_equal(v, DSR_VRRP_NONE);
	assert_non_null(strstr(err, dir));
	unlink(path);
	rmdir(dir);
}

/* ---- role x VRRP ---- */

static void test_wanted_table(void **state)
{
	static const struct {
		lb_sync_role_t role;
		dsr_vrrp_t vrrp;
		unsigned want;
	} rows[] = {
	    {LB_SYNC_MASTER, DSR_VRRP_NONE, DSR_SYNC_MASTER},
	    {LB_SYNC_MASTER, DSR_VRRP_BACKUP, DSR_SYNC_MASTER}, /* the file does not count */
	    {LB_SYNC_BACKUP, DSR_VRRP_MASTER, DSR_SYNC_BACKUP},
	    {LB_SYNC_AUTO, DSR_VRRP_MASTER, DSR_SYNC_MASTER},
	    {LB_SYNC_AUTO, DSR_VRRP_BACKUP, DSR_SYNC_BACKUP},
	    {LB_SYNC_AUTO, DSR_VRRP_FAULT, DSR_SYNC_BACKUP},
	    {LB_SYNC_AUTO, DSR_VRRP_STOP, DSR_SYNC_BACKUP},
	    {LB_SYNC_AUTO, DSR_VRRP_NONE, DSR_SYNC_BACKUP},
	};
	for (size_t i = 0; i < NELEM(rows); i++)
		assert_int_equal(dsr_sync_wanted(rows[i].role, rows[i].vrrp), rows[i].want);
}

/* ---- plans ---- */

static dsr_daemon_t running(uint32_t st, const char *ifn, uint32_t id)
{
	/* as the kernel reports a daemon started with the defaults */
	dsr_daemon_t d = {.state = st, .sync_id = id, .max_len = 1472, .port = 8848, .ttl = 1};
	snprintf(d.ifname, sizeof(d.ifname), "%s", ifn);
	assert_int_equal(dsr_ip_parse("224.0.0.81", &d.group), 0);
	return d;
}

/* The plan as text: "stop master; start backup sync daemon on eth1, sync id 7; ..." */
static void plan_text(const dsr_daemon_t *conf, unsigned wanted, const dsr_daemon_t *have,
                      size_t nhave, char *buf, size_t len)
{
	dsr_sync_step_t steps[DSR_SYNC_MAX_STEPS];
	size_t n = dsr_sync_plan(conf, wanted, have, nhave, steps), pos = 0;
	buf[0] = '\0';
	assert_true(n <= DSR_SYNC_MAX_STEPS);
	for (size_t i = 0; i < n && pos < len; i++) {
		char line[200];
		dsr_sync_step_format(&steps[i], line, sizeof(line));
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? "; " : "", line);
	}
}

static void test_plan_transitions(void **state)
{
	dsr_daemon_t conf = {.ifname = "eth1", .sync_id = 7};
	dsr_daemon_t m = running(DSR_SYNC_MASTER, "eth1", 7),
	             b = running(DSR_SYNC_BACKUP, "eth1", 7);
	dsr_daemon_t both[2] = {m, b};
	char text[512];

	/* nothing runs */
	plan_text(&conf, DSR_SYNC_MASTER, NULL, 0, text, sizeof(text));
	assert_string_equal(text, "start master sync daemon on eth1, sync id 7");
	plan_text(&conf, DSR_SYNC_BACKUP, NULL, 0, text, sizeof(text));
	assert_string_equal(text, "start backup sync daemon on eth1, sync id 7");
	/* already as wanted */
	plan_text(&conf, DSR_SYNC_MASTER, &m, 1, text, sizeof(text));
	assert_string_equal(text, "");
	plan_text(&conf, DSR_SYNC_BACKUP, &b, 1, text, sizeof(text));
	assert_string_equal(text, "");
	/* backup -> master: stop first */
	plan_text(&conf, DSR_SYNC_MASTER, &b, 1, text, sizeof(text));
	assert_string_equal(text, "stop backup sync daemon; start master sync daemon on eth1, sync "
	                          "id 7");
	/* master -> backup */
	plan_text(&conf, DSR_SYNC_BACKUP, &m, 1, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; start backup sync daemon on eth1, sync "
	                          "id 7");
	/* both run (an operator started them): the unwanted one stops, in either dump order */
	plan_text(&conf, DSR_SYNC_MASTER, both, 2, text, sizeof(text));
	assert_string_equal(text, "stop backup sync daemon");
	dsr_daemon_t rev[2] = {b, m};
	plan_text(&conf, DSR_SYNC_BACKUP, rev, 2, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon");
	/* both wanted (no role does this today, the plan allows it) */
	plan_text(&conf, DSR_SYNC_MASTER | DSR_SYNC_BACKUP, &m, 1, text, sizeof(text));
	assert_string_equal(text, "start backup sync daemon on eth1, sync id 7");
	/* none wanted: both stop, master first */
	plan_text(&conf, 0, rev, 2, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; stop backup sync daemon");
}

/* A daemon with other settings is restarted; the kernel's defaults match unset settings. */
static void test_plan_settings(void **state)
{
	dsr_daemon_t conf = {.ifname = "eth1", .sync_id = 7};
	dsr_daemon_t have;
	char text[512];

	have = running(DSR_SYNC_MASTER, "eth2", 7); /* another interface */
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; start master sync daemon on eth1, sync "
	                          "id 7");
	have = running(DSR_SYNC_MASTER, "eth1", 8); /* another id */
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; start master sync daemon on eth1, sync "
	                          "id 7");
	have = running(DSR_SYNC_MASTER, "eth1", 7);
	have.port = 9000; /* the config no longer sets a port: back to the kernel's */
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; start master sync daemon on eth1, sync "
	                          "id 7");
	/* the config's settings, running */
	conf.port = 9000;
	conf.ttl = 2;
	assert_int_equal(dsr_ip_parse("239.0.0.9", &conf.group), 0);
	have.ttl = 2;
	assert_int_equal(dsr_ip_parse("239.0.0.9", &have.group), 0);
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_equal(text, "");
	have.ttl = 1;
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_equal(text, "stop master sync daemon; start master sync daemon on eth1, sync "
	                          "id 7, group 239.0.0.9, port 9000, ttl 2");
	have.ttl = 2;
	assert_int_equal(dsr_ip_parse("ff02::81", &have.group), 0);
	plan_text(&conf, DSR_SYNC_MASTER, &have, 1, text, sizeof(text));
	assert_string_not_equal(text, "");
	/* max_len: compared only when the config sets it (the kernel's depends on the MTU) */
	conf = (dsr_daemon_t){.ifname = "eth1", .sync_id = 7};
	have = running(DSR_SYNC_BACKUP, "eth1", 7);
	plan_text(&conf, DSR_SYNC_BACKUP, &have, 1, text, sizeof(text));
	assert_string_equal(text, "");
	conf.max_len = 1000;
	plan_text(&conf, DSR_SYNC_BACKUP, &have, 1, text, sizeof(text));
	assert_string_not_equal(text, "");
	/* a kernel that reports no group, port or ttl runs with its defaults */
	conf.max_len = 0;
	have = (dsr_daemon_t){.state = DSR_SYNC_BACKUP, .ifname = "eth1", .sync_id = 7};
	plan_text(&conf, DSR_SYNC_BACKUP, &have, 1, text, sizeof(text));
	assert_string_equal(text, "");
	assert_int_equal(dsr_ip_parse("224.0.0.81", &conf.group), 0);
	plan_text(&conf, DSR_SYNC_BACKUP, &have, 1, text, sizeof(text));
	assert_string_equal(text, "");
}

/* ---- apply ---- */

static void test_apply(void **state)
{
	dsr_ipvs_t h = {""};
	dsr_daemon_t conf = {.ifname = "eth1", .sync_id = 7};
	dsr_daemon_t b = running(DSR_SYNC_BACKUP, "eth1", 7);
	dsr_sync_step_t steps[DSR_SYNC_MAX_STEPS];
	size_t n = dsr_sync_plan(&conf, DSR_SYNC_MASTER, &b, 1, steps);

	memset(&fk, 0, sizeof(fk));
	assert_int_equal(n, 2);
	assert_int_equal(dsr_sync_apply(&h, steps, n, NULL, NULL), 0);
	assert_string_equal(fk.log, "-b +meth1 ");
	/* someone else stopped the backup, or started a master, first: done all the same */
	memset(&fk, 0, sizeof(fk));
	fk.stop_rc[1] = -ESRCH;
	fk.start_rc[0] = -EEXIST;
	assert_int_equal(dsr_sync_apply(&h, steps, n, NULL, NULL), 0);
	/* a real failure: the others are still tried, the first failure is returned */
	memset(&fk, 0, sizeof(fk));
	fk.stop_rc[1] = -EPERM;
	fk.start_rc[0] = -ENODEV;
	assert_int_equal(dsr_sync_apply(&h, steps, n, NULL, NULL), -EPERM);
	assert_string_equal(fk.log, "-b +meth1 ");
	/* a start's EEXIST is success, a stop's is not */
	memset(&fk, 0, sizeof(fk));
	fk.stop_rc[1] = -EEXIST;
	assert_int_equal(dsr_sync_apply(&h, steps, 1, NULL, NULL), -EEXIST);
}

/* ---- the conf from a config ---- */

#define BASE                                                                                       \
	"pools:\n  - name: p\n    nodes: [{ name: a, addr: 10.0.0.1:80 }]\n"                       \
	"frontends:\n  - name: f\n    listen: [127.0.0.1:8080]\n    routes: [{ pool: p }]\n"

static void test_conf_from(void **state)
{
	static const char with[] =
	    BASE "dr_sync: { interface: eth1, sync_id: 9, role: backup, mcast_group: \"ff02::81\", "
	         "mcast_port: 9000, mcast_ttl: 2 }\n";
	lb_config_t *cfg;
	dsr_sync_conf_t c;
	char err[256], text[200];

	assert_int_equal(
	    lb_config_load_string("t.yaml", BASE, strlen(BASE), &cfg, err, sizeof(err)), 0);
	assert_int_equal(dsr_sync_conf_from(cfg, &c, err, sizeof(err)), 0);
	assert_false(c.enabled);
	lb_config_unref(cfg);

	if (lb_config_load_string("t.yaml", with, strlen(with), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(dsr_sync_conf_from(cfg, &c, err, sizeof(err)), 0);
	assert_true(c.enabled);
	assert_int_equal(c.role, LB_SYNC_BACKUP);
	assert_string_equal(c.state_file, "/run/s3lb/vrrp-state");
	c.daemon.state = DSR_SYNC_BACKUP;
	dsr_daemon_format(&c.daemon, text, sizeof(text));
	assert_string_equal(text,
	                    "backup sync daemon on eth1, sync id 9, group ff02::81, port 9000, "
	                    "ttl 2");
	lb_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vrrp_parse),    cmocka_unit_test(test_vrrp_read),
	    cmocka_unit_test(test_wanted_table),  cmocka_unit_test(test_plan_transitions),
	    cmocka_unit_test(test_plan_settings), cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_conf_from),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

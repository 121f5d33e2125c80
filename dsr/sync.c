/*
 * The sync daemons' wanted state, the VRRP state file, and the steps between (dsr/sync.h).
 */
#include "dsr/sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The kernel's values for what a start leaves out (net/netfilter/ipvs/ip_vs_sync.c), which a
 * dump of the daemons reports: a daemon started without them matches a config without them. */
#define KERNEL_PORT  8848
#define KERNEL_TTL   1
#define KERNEL_GROUP "224.0.0.81"

static const char *const vrrp_names[] = {
    [DSR_VRRP_NONE] = "none",   [DSR_VRRP_MASTER] = "MASTER", [DSR_VRRP_BACKUP] = "BACKUP",
    [DSR_VRRP_FAULT] = "FAULT", [DSR_VRRP_STOP] = "STOP",
};

const char *dsr_vrrp_name(dsr_vrrp_t v)
{
	return (unsigned)v < sizeof(vrrp_names) / sizeof(vrrp_names[0]) ? vrrp_names[v] : "none";
}

/* The state a word names, or NONE. */
static dsr_vrrp_t vrrp_word(const char *w, size_t n)
{
	for (int v = DSR_VRRP_MASTER; v <= DSR_VRRP_STOP; v++)
		if (strlen(vrrp_names[v]) == n && strncasecmp(w, vrrp_names[v], n) == 0)
			return (dsr_vrrp_t)v;
	return DSR_VRRP_NONE;
}

dsr_vrrp_t dsr_vrrp_parse(const char *text, size_t len)
{
	dsr_vrrp_t found = DSR_VRRP_NONE, line_state = DSR_VRRP_NONE;
	size_t i = 0;

	while (i < len) {
		char ch = text[i];
		if (ch == '\n') {
			if (line_state != DSR_VRRP_NONE)
				found = line_state;
			line_state = DSR_VRRP_NONE;
			i++;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '"' || ch == '\0') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
		       text[i] != '\n' && text[i] != '"' && text[i] != '\0')
			i++;
		if (line_state == DSR_VRRP_NONE)
			line_state = vrrp_word(text + start, i - start);
	}
	return line_state != DSR_VRRP_NONE ? line_state : found;
}

int dsr_vrrp_read(const char *path, dsr_vrrp_t *out, char *err, size_t errlen)
{
	char buf[4096];
	ssize_t n;
	size_t len = 0;
	int fd, e;

	*out = DSR_VRRP_NONE;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		e = -errno;
		snprintf(err, errlen, "VRRP state file %s: %s", path, strerror(errno));
		return e;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			snprintf(err, errlen, "VRRP state file %s: %s", path, strerror(errno));
			close(fd);
			return e;
		}
		len += (size_t)n;
	}
	close(fd);
	*out = dsr_vrrp_parse(buf, len);
	return 0;
}

int dsr_sync_conf_from(const lb_config_t *cfg, dsr_sync_conf_t *out, char *err, size_t errlen)
{
	const lb_dr_sync_conf_t *s = &cfg->dr_sync;

	memset(out, 0, sizeof(*out));
	out->enabled = s->enabled;
	if (!s->enabled)
		return 0;
	out->role = (lb_sync_role_t)s->role;
	snprintf(out->daemon.ifname, sizeof(out->daemon.ifname), "%s",
	         s->interface ? s->interface : "");
	out->daemon.sync_id = s->sync_id;
	out->daemon.port = (uint16_t)s->mcast_port;
	out->daemon.ttl = (uint8_t)s->mcast_ttl;
	if (s->mcast_group && dsr_ip_parse(s->mcast_group, &out->daemon.group) < 0) {
		snprintf(err, errlen, "dr_sync.mcast_group: invalid address '%s'", s->mcast_group);
		out->enabled = false;
		return -EINVAL;
	}
	snprintf(out->state_file, sizeof(out->state_file), "%s",
	         s->state_file ? s->state_file : "");
	return 0;
}

unsigned dsr_sync_wanted(lb_sync_role_t role, dsr_vrrp_t vrrp)
{
	switch (role) {
	case LB_SYNC_MASTER:
		return DSR_SYNC_MASTER;
	case LB_SYNC_BACKUP:
		return DSR_SYNC_BACKUP;
	case LB_SYNC_AUTO:
	default:
		return vrrp == DSR_VRRP_MASTER ? DSR_SYNC_MASTER : DSR_SYNC_BACKUP;
	}
}

/* have runs with conf's settings (an unset optional setting is the kernel's default). */
static bool same_settings(const dsr_daemon_t *conf, const dsr_daemon_t *have)
{
	dsr_ip_t group = conf->group;

	if (strcmp(conf->ifname, have->ifname) != 0 || conf->sync_id != have->sync_id)
		return false;
	/* a kernel that does not report a setting (0) runs with its default */
	if ((conf->port ? conf->port : KERNEL_PORT) != (have->port ? have->port : KERNEL_PORT))
		return false;
	if ((conf->ttl ? conf->ttl : KERNEL_TTL) != (have->ttl ? have->ttl : KERNEL_TTL))
		return false;
	if (conf->max_len && conf->max_len != have->max_len)
		return false;
	if (!group.af)
		(void)dsr_ip_parse(KERNEL_GROUP, &group);
	if (!have->group.af)
		return group.af == AF_INET &&
		       group.u.v4.s_addr == htonl(0xe0000051); /* 224.0.0.81 */
	return dsr_ip_cmp(&group, &have->group) == 0;
}

size_t dsr_sync_plan(const dsr_daemon_t *conf, unsigned wanted, const dsr_daemon_t *have,
                     size_t nhave, dsr_sync_step_t out[DSR_SYNC_MAX_STEPS])
{
	static const uint32_t states[] = {DSR_SYNC_MASTER, DSR_SYNC_BACKUP};
	bool keep[2] = {false, false};
	size_t n = 0;

	/* stops: a daemon not wanted, or wanted with other settings */
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < nhave; i++) {
			if (have[i].state != states[s])
				continue;
			if ((wanted & states[s]) && same_settings(conf, &have[i])) {
				keep[s] = true;
				continue;
			}
			memset(&out[n], 0, sizeof(out[n]));
			out[n].d.state = states[s];
			n++;
			break;
		}
	}
	/* starts: a wanted daemon that is not running as wanted */
	for (size_t s = 0; s < 2; s++) {
		if (!(wanted & states[s]) || keep[s])
			continue;
		out[n].start = true;
		out[n].d = *conf;
		out[n].d.state = states[s];
		n++;
	}
	return n;
}

void dsr_sync_step_format(const dsr_sync_step_t *s, char *buf, size_t len)
{
	char d[160];
	if (s->start) {
		dsr_daemon_format(&s->d, d, sizeof(d));
		snprintf(buf, len, "start %s", d);
	} else {
		snprintf(buf, len, "stop %s sync daemon",
		         s->d.state == DSR_SYNC_MASTER ? "master" : "backup");
	}
}

int dsr_sync_apply(dsr_ipvs_t *h, const dsr_sync_step_t *steps, size_t n,
                   void (*cb)(void *ud, const dsr_sync_step_t *s, int rc, const char *msg),
                   void *ud)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		const dsr_sync_step_t *s = &steps[i];
		int rc = s->start ? dsr_ipvs_daemon_start(h, &s->d)
		                  : dsr_ipvs_daemon_stop(h, s->d.state);

		if ((s->start && rc == -EEXIST) || (!s->start && rc == -ESRCH))
			rc = 0;
		if (cb)
			cb(ud, s, rc, rc < 0 ? dsr_ipvs_last_error(h) : NULL);
		if (rc < 0 && first == 0)
			first = rc;
	}
	return first;
}
